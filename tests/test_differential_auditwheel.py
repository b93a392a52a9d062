"""Differential test: our platform tag against `auditwheel show` (6.8.2) on real Linux wheels.

auditwheel resolves libraries on the host; we judge from the wheel alone. Where the two
disagree, KNOWN_DIFFERENCES says why our verdict is the right one, and the test checks
that the difference is exactly the documented one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wheelaudit

from .conftest import _load_fetcher, real_linux_wheels

#: filename -> (auditwheel's verdict or "crash", ours, why ours is right)
KNOWN_DIFFERENCES = {
    "jiter-0.19.0-cp312-cp312-musllinux_1_1_x86_64.whl": (
        "crash",
        "musllinux_1_1_x86_64",
        "the extension needs musl's bare `libc.so`; auditwheel looks it up on the glibc host, opens the linker "
        "script /usr/lib/x86_64-linux-gnu/libc.so as ELF and crashes (ELFError). musl's loader answers `libc.so` "
        "itself, so the wheel is fine as tagged.",
    ),
    "nh3-0.3.8-cp39-abi3-musllinux_1_2_aarch64.whl": (
        "crash",
        "musllinux_1_2_aarch64",
        "same as jiter: a musl `libc.so` need that auditwheel resolves against the glibc host.",
    ),
    "Pillow-9.0.1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": (
        "manylinux_2_27_x86_64",
        "manylinux_2_17_x86_64",
        "libpng16-213e245f.so.16.37.0 needs inflateValidate@ZLIB_1.2.9 from libz-dd453c56.so.1.2.11, the zlib "
        "1.2.11 the wheel carries, which defines it. auditwheel pools every version need by prefix whatever "
        "library it names, so the level's ZLIB list (what the system's libz.so.1 has: up to ZLIB_1.2.5.2 on "
        "manylinux_2_17) refuses it; the loader binds it to the bundled file. Nothing else needs more than "
        "GLIBC_2.17, so the wheel's own manylinux2014 tag holds.",
    ),
    "numpy-1.26.4-cp311-cp311-musllinux_1_1_x86_64.whl": (
        "musllinux_1_2_x86_64",
        "musllinux_1_1_x86_64",
        "auditwheel takes the musl version from the host; on a glibc host it logs \"can't determine musl libc "
        'version, latest known version will be used" and so can never grant musllinux_1_1. musl binaries carry '
        "no symbol versions, so nothing in the wheel contradicts its own musllinux_1_1 tag (which we keep, with "
        "libc-version-unverifiable for older levels). Both tools agree that nothing is external: the grafted "
        "libraries in numpy.libs are found through the inherited DT_RPATH under musl's rules too.",
    ),
}


def _auditwheel() -> list[str]:
    exe = shutil.which("auditwheel", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("auditwheel is not installed (it is in the test extras)")
    return [exe]


def _auditwheel_tag(wheel: Path) -> str:
    proc = subprocess.run([*_auditwheel(), "show", "--json", str(wheel)], capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("{"):
        return "crash"
    doc = json.loads(proc.stdout)
    return str(doc.get("overall_tag") or "crash")


def _auditwheel_tag_of(entry: dict[str, object], wheel: Path) -> str:
    """auditwheel's tag for a pinned wheel, run once per auditwheel version and wheel.

    The verdict is a function of the wheel's bytes (pinned by sha256) and the oracle's version
    (pinned in the test extra), so it is kept beside the wheel cache: auditwheel takes 1-7 s a
    wheel (pyarrow), most of this module's time on a warm run. Another auditwheel version, or
    another sha256, runs it again.
    """
    version = importlib.metadata.version("auditwheel")
    store = _load_fetcher().default_cache().parent / "oracles" / f"auditwheel-{version}.json"
    try:
        known: dict[str, str] = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    key = str(entry["sha256"])
    if key not in known:
        known[key] = _auditwheel_tag(wheel)
        store.parent.mkdir(parents=True, exist_ok=True)
        partial = store.with_suffix(f".{os.getpid()}.part")
        partial.write_text(json.dumps(known, indent=0, sort_keys=True))
        os.replace(partial, store)
    return known[key]


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize("entry", real_linux_wheels(), ids=lambda w: str(w["filename"])[:70])
def test_platform_tag_matches_auditwheel(entry: dict[str, object], real_wheels: dict[str, Path]) -> None:
    filename = str(entry["filename"])
    wheel = real_wheels[filename]
    ours = wheelaudit.audit(wheel)
    theirs = _auditwheel_tag_of(entry, wheel)
    if filename in KNOWN_DIFFERENCES:
        expected_theirs, expected_ours, _why = KNOWN_DIFFERENCES[filename]
        assert theirs == expected_theirs, "auditwheel changed its verdict: re-check the documented difference"
        assert ours.platform_tag == expected_ours
    else:
        assert ours.platform_tag == theirs
    # Every real wheel on PyPI is accepted as tagged, except where the tag is honestly too optimistic
    # (both tools then give the same, less compatible tag, and we name the symbols that need it).
    if entry.get("tag_too_optimistic"):
        assert not ours.ok
        assert {p.code for p in ours.errors} == {"elf-symbol-version-too-new"}
    else:
        assert ours.ok, [p.message for p in ours.errors]


def test_enough_real_linux_wheels() -> None:
    wheels = real_linux_wheels()
    names = [str(w["filename"]) for w in wheels]
    assert len(wheels) >= 15
    assert any(n.endswith("manylinux_2_17_x86_64.whl") or "manylinux_2_17_x86_64." in n for n in names)
    assert any("aarch64" in n and "manylinux" in n for n in names)
    assert any("musllinux" in str(w["filename"]) for w in wheels)


def test_corpus_has_wheels_that_rely_on_dt_rpath_inheritance() -> None:
    """Wheels repaired by older auditwheel releases: grafted libraries find each other only through
    the extension's inherited DT_RPATH (see wheelaudit/resolve/elf.py)."""
    shaped = [w for w in real_linux_wheels() if w.get("loader_shape") == "dt-rpath-inherited"]
    assert len(shaped) >= 5
    assert any("musllinux" in str(w["filename"]) for w in shaped)


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize(
    "entry",
    [w for w in real_linux_wheels() if w.get("loader_shape") == "dt-rpath-inherited" and "manylinux" in w["filename"]],
    ids=lambda w: str(w["project"]),
)
def test_retagged_dt_rpath_wheel_repairs_to_auditwheels_tag_without_host_libraries(
    entry: dict[str, object], real_wheels: dict[str, Path], tmp_path: Path
) -> None:
    """As a plain build names it (linux_x86_64), the wheel repairs to auditwheel's tag (or the documented
    different one), grafting nothing.

    The sysroot is an empty folder, so no library of this host can be found: the repair must
    come from the wheel alone.
    """
    from wheelaudit.repairing import RepairOptions, repair_wheel

    from .builders import repack_wheel

    filename = str(entry["filename"])
    name, version, python, abi = filename.split("-")[:4]
    retagged = repack_wheel(real_wheels[filename], tmp_path, f"{name}-{version}-{python}-{abi}-linux_x86_64.whl", {})
    empty = tmp_path / "empty-sysroot"
    empty.mkdir()
    result = repair_wheel(retagged, RepairOptions(sysroot=str(empty)), tmp_path / "out")
    # auditwheel's tag, or ours where KNOWN_DIFFERENCES says why it differs (the same rule as show)
    expected = KNOWN_DIFFERENCES[filename][1] if filename in KNOWN_DIFFERENCES else entry["auditwheel_tag"]
    assert result.plan.grafts == ()
    assert result.plan.platform_tags[0] == expected
    assert result.unfixed == ()  # the audit of the written wheel
    assert wheelaudit.audit(result.path).platform_tag == expected
