"""Differential test: wheelaudit's abi3 audit against abi3audit on real abi3 wheels (Linux, macOS, Windows).

Agreement rules, and the one documented disagreement:

* on every wheel both tools must agree whether the wheel passes;
* for every symbol abi3audit reports as newer than the baseline, wheelaudit reports the same
  symbol (with the same "stable since" version), and vice versa;
* abi3audit's ``non_abi3_symbols`` also lists Py-prefixed symbols a binary DEFINES itself (a known
  false positive, pypa/abi3audit#111); wheelaudit only audits imports, so such symbols are expected
  to be missing from its report when the binary defines them, and a wheel abi3audit fails for
  those alone (psutil 5.9.8) passes ours.

abi3audit results are cached next to the wheel cache (keyed by abi3audit's version) because it
needs ~15 s on the largest wheel. Retagged copies (``cp37-abi3``) give both tools something to find.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest

from wheelaudit.auditing import analyze_binaries
from wheelaudit.checks import pythonabi
from wheelaudit.checks.context import AuditContext
from wheelaudit.checks.stable_abi import load
from wheelaudit.report.model import Problem
from wheelaudit.wheel.archive import WheelArchive

from .conftest import real_manifest, sample_wheel

pytestmark = [
    pytest.mark.skipif(shutil.which("abi3audit") is None, reason="abi3audit is not installed"),
    pytest.mark.skipif(load() is None, reason="abi3info is not installed"),
]

ABI3_CODES = {"abi3-symbol-too-new", "abi3-symbol-not-stable"}


def abi3audit_version() -> str:
    try:
        return version("abi3audit")
    except PackageNotFoundError:
        return "unknown"


def run_abi3audit(wheel: Path, cache: Path) -> dict[str, Any]:
    """abi3audit's per-object results for one wheel: {object name: result} (cached)."""
    cached = cache / f"{wheel.name}.{abi3audit_version()}.json"
    if cached.is_file():
        return dict(json.loads(cached.read_text()))
    proc = subprocess.run(
        [shutil.which("abi3audit") or "abi3audit", "--strict", "--report", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    (spec,) = report["specs"].values()
    results = {entry["name"]: entry["result"] for entry in spec["wheel"]}
    out = {"exit": proc.returncode, "objects": results}
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(out))
    return out


def ours(wheel: Path) -> tuple[list[Problem], dict[str, frozenset[str]]]:
    """wheelaudit's abi3 problems and, per object file name, the Py* symbols its binaries define."""
    archive = WheelArchive(wheel)
    binaries = analyze_binaries(archive).binaries
    ctx = AuditContext.build(archive.info, archive.members, archive.record, binaries)
    problems = [p for p in pythonabi.check(ctx) if p.code in ABI3_CODES]
    defined: dict[str, set[str]] = {}
    for b in binaries:
        defined.setdefault(b.path.rsplit("/", 1)[-1], set()).update(b.defined_python_symbols)
    return problems, {k: frozenset(v) for k, v in defined.items()}


def compare(wheel: Path, theirs: dict[str, Any]) -> list[str]:
    """Disagreements between the two tools on one wheel (empty when they agree)."""
    problems, defined = ours(wheel)
    too_new = {(p.path or "").rsplit("/", 1)[-1]: set(p.symbols) for p in problems if p.code == "abi3-symbol-too-new"}
    never = {(p.path or "").rsplit("/", 1)[-1]: set(p.symbols) for p in problems if p.code == "abi3-symbol-not-stable"}
    diffs: list[str] = []
    for name, result in theirs["objects"].items():
        future = set(result.get("future_abi3_objects", {}))
        table = load()
        assert table is not None
        for symbol, since in result.get("future_abi3_objects", {}).items():
            ours_since = table.since(symbol)
            if ours_since is None or f"{ours_since[0]}.{ours_since[1]}" != since:
                diffs.append(f"{wheel.name}:{name}: {symbol} stable since {since} (abi3audit) vs {ours_since} (ours)")
        if future != too_new.get(name, set()):
            diffs.append(
                f"{wheel.name}:{name}: abi3audit too-new {sorted(future)} vs ours {sorted(too_new.get(name, ()))}"
            )
        # abi3audit also flags symbols the binary defines itself; those are the documented difference.
        non_abi3 = set(result.get("non_abi3_symbols", [])) - defined.get(name, frozenset())
        if non_abi3 != never.get(name, set()):
            diffs.append(
                f"{wheel.name}:{name}: abi3audit non-abi3 {sorted(non_abi3)} vs ours {sorted(never.get(name, ()))}"
            )
    # abi3audit's verdict less the documented false positive: it fails psutil 5.9.8 only for
    # PyErr_SetFromOSErrnoWithSyscall, a function psutil defines itself.
    only_own = all(
        not result.get("future_abi3_objects")
        and set(result.get("non_abi3_symbols", [])) <= defined.get(name, frozenset())
        for name, result in theirs["objects"].items()
    )
    passes_theirs = theirs["exit"] == 0 or only_own
    if passes_theirs != (not problems):
        diffs.append(
            f"{wheel.name}: abi3audit {'passes' if passes_theirs else 'fails'}, wheelaudit {len(problems)} errors"
        )
    return diffs


def abi3_entries() -> list[dict[str, Any]]:
    return [w for w in real_manifest() if w.get("abi3")]


@pytest.fixture(scope="session")
def abi3audit_cache(all_real_wheels: dict[str, Path]) -> Path:
    first = next(iter(all_real_wheels.values()))
    return first.parent / "abi3audit-results"


@pytest.mark.real
@pytest.mark.slow
def test_no_abi3_error_where_abi3audit_finds_none(all_real_wheels: dict[str, Path]) -> None:
    clean = [all_real_wheels[w["filename"]] for w in abi3_entries() if w.get("abi3audit_ok")]
    platforms = {w["platform"] for w in abi3_entries() if w.get("abi3audit_ok")}
    assert len(clean) >= 10 and platforms == {"linux", "macos", "windows"}
    flagged = {}
    for wheel in clean:
        problems, _ = ours(wheel)
        if problems:
            flagged[wheel.name] = [p.message for p in problems]
    assert flagged == {}


@pytest.mark.real
@pytest.mark.slow
def test_agrees_with_abi3audit_on_real_abi3_wheels(all_real_wheels: dict[str, Path], abi3audit_cache: Path) -> None:
    wheels = [all_real_wheels[w["filename"]] for w in abi3_entries()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = list(pool.map(lambda w: run_abi3audit(w, abi3audit_cache), wheels))
    diffs = [d for wheel, result in zip(wheels, theirs) for d in compare(wheel, result)]
    assert diffs == [], "\n".join(diffs)
    # The manifest's recorded verdicts still hold for the installed abi3audit.
    recorded = {w["filename"]: bool(w["abi3audit_ok"]) for w in abi3_entries()}
    assert {w.name: r["exit"] == 0 for w, r in zip(wheels, theirs)} == recorded


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize("platform", ["linux", "macos", "windows"])
def test_agrees_on_retagged_wheels(
    platform: str, all_real_wheels: dict[str, Path], tmp_path: Path, abi3audit_cache: Path
) -> None:
    """A cp311/cp39 abi3 wheel renamed cp37-abi3: both tools must list the same too-new symbols."""
    source = next(
        all_real_wheels[w["filename"]]
        for w in abi3_entries()
        if w["platform"] == platform and w["project"] == "cryptography"
    )
    parts = source.name.split("-")
    parts[2] = "cp37"
    retagged = tmp_path / "-".join(parts)
    shutil.copyfile(source, retagged)
    theirs = run_abi3audit(retagged, abi3audit_cache)
    assert theirs["exit"] == 1  # the renamed wheel really is wrong
    assert compare(retagged, theirs) == []
    problems, _ = ours(retagged)
    assert {p.code for p in problems} == {"abi3-symbol-too-new"}


def test_agrees_on_the_abi3bad_sample(tmp_path: Path) -> None:
    wheel = sample_wheel("wa_sample_abi3bad-")
    theirs = run_abi3audit(wheel, tmp_path)
    assert theirs["objects"]["wa_sample_abi3bad.abi3.so"]["future_abi3_objects"] == {"PyUnicode_AsUTF8AndSize": "3.10"}
    assert compare(wheel, theirs) == []


if __name__ == "__main__":  # pragma: no cover - manual table of both tools' verdicts
    sys.exit(pytest.main([__file__, "-q"]))
