"""The manylinux/musllinux decision, from real binaries: which level is best, and what blocks the stricter ones.

Each row is a committed sample wheel or a pinned real wheel from PyPI (``real_wheels``), audited through
the public API. Where auditwheel's verdict is recorded in ``real-wheels.json`` it is the oracle for the
best tag; the rows then pin what auditwheel does not say: the blocker that names the symbol or library
responsible, the libc family, and the tags of a second family a static program also satisfies.
A policy file changed in one rule (an allowed library, a symbol version, a blacklisted symbol) must move
the verdict by exactly that rule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import wheelaudit
from wheelaudit.report.model import PolicyVerdict, Severity, WheelReport

from .conftest import ROOT, real_linux_wheels, sample_wheel

MANIFEST = {w["filename"]: w for w in real_linux_wheels()}


def verdict(report: WheelReport, level: str) -> PolicyVerdict:
    [found] = [v for v in report.policies if v.name == level]
    return found


def blockers(report: WheelReport, level: str) -> set[tuple[str, str | None, tuple[str, ...]]]:
    return {(b.code, b.library, b.symbols) for b in verdict(report, level).blockers}


# -- samples: built here, every fact in sample-wheels/SAMPLES.md ------------------------------------


@pytest.mark.parametrize(
    ("prefix", "best", "stricter", "blocked_by"),
    [
        # the newest symbol version decides; the level just below names the symbol that needs it
        (
            "wa_sample_abi3-",
            "manylinux_2_17",
            "manylinux_2_12",
            {("elf-symbol-version-too-new", "libc.so.6", ("memcpy",))},
        ),
        (
            "wa_sample_bin-",
            "manylinux_2_17",
            "manylinux_2_12",
            {
                ("elf-symbol-version-too-new", "libc.so.6", ("memcpy",)),
                ("elf-symbol-version-too-new", "libc.so.6", ("getauxval",)),
            },
        ),
        (
            "wa_sample_newglibc-",
            "manylinux_2_36",
            "manylinux_2_35",
            {("elf-symbol-version-too-new", "libc.so.6", ("arc4random",))},
        ),
        # a library no level allows blocks every level, the newest too
        ("wa_sample_syslib-", None, "manylinux_2_42", {("external-library", "libsqlite3.so.0", ())}),
        ("wa_sample_libpython-", None, "manylinux_2_42", {("libpython-linked", "libpython3.11.so.1.0", ())}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_sample_best_level_and_its_blocker(
    prefix: str, best: str | None, stricter: str, blocked_by: set[tuple[str, str | None, tuple[str, ...]]]
) -> None:
    report = wheelaudit.audit(sample_wheel(prefix))
    assert report.platform_tag == (f"{best}_x86_64" if best else "linux_x86_64")
    assert not verdict(report, stricter).satisfied
    assert blockers(report, stricter) == blocked_by
    if best:
        assert verdict(report, best).satisfied and verdict(report, best).blockers == ()
    else:
        assert not any(v.satisfied for v in report.policies)


def test_every_level_is_judged_once_in_order_and_satisfied_from_the_best_up() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_abi3-"))
    names = [v.name for v in report.policies]
    assert names[:4] == ["manylinux_2_5", "manylinux_2_12", "manylinux_2_17", "manylinux_2_24"]
    assert len(names) == len(set(names)) and all(n.startswith("manylinux_") for n in names)
    assert [v.satisfied for v in report.policies] == [False, False] + [True] * (len(names) - 2)
    assert verdict(report, "manylinux_2_17").tags == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")


def test_an_external_library_is_named_only_by_the_levels_it_blocks() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"))
    assert report.external_libraries == ("libsqlite3.so.0",)
    assert all(("external-library", "libsqlite3.so.0", ()) in blockers(report, v.name) for v in report.policies)
    [hint] = [p for p in report.problems if p.code == "not-portable"]
    assert hint.severity is Severity.WARNING and report.ok, "a linux_x86_64 wheel may stay one"


# -- a policy file changed in one rule moves the verdict by that rule ------------------------------


def _with_changed_level(tmp_path: Path, level: str, change: Any) -> Path:
    doc = json.loads((ROOT / "policies" / "manylinux.json").read_text())
    [policy] = [copy.deepcopy(p) for p in doc["policies"] if p["name"] == level]
    change(policy)
    doc["policies"] = [policy]
    path = tmp_path / "site.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("rule", "change", "blocked_by"),
    [
        (
            "allowed library",
            lambda p: p["allowed_libraries"].remove("libdl.so.2"),
            ("external-library", "libdl.so.2", ()),
        ),
        (
            "symbol version",
            lambda p: p["architectures"]["x86_64"]["symbol_versions"]["GLIBC"].remove("2.14"),
            ("elf-symbol-version-too-new", "libc.so.6", ("memcpy",)),
        ),
        (
            "blacklisted symbol",
            lambda p: p["blacklist"].setdefault("libc.so.6", []).append("memcpy"),
            ("blacklisted-symbol", "libc.so.6", ("memcpy",)),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_one_changed_rule_blocks_the_level_with_that_rule(
    rule: str, change: Any, blocked_by: tuple[str, str | None, tuple[str, ...]], tmp_path: Path
) -> None:
    wheel = sample_wheel("wa_sample_abi3-")
    assert wheelaudit.audit(wheel).platform_tag == "manylinux_2_17_x86_64"
    report = wheelaudit.audit(wheel, policy_files=[_with_changed_level(tmp_path, "manylinux_2_17", change)])
    assert blockers(report, "manylinux_2_17") == {blocked_by}
    assert report.platform_tag == "manylinux_2_24_x86_64", "the next level, unchanged, still fits"
    assert not report.ok, "the wheel's own manylinux2014 tag is now a promise it breaks"
    assert {p.code for p in report.problems} == {blocked_by[0]}


# -- real wheels from PyPI --------------------------------------------------------------------------


def _real(real_wheels: dict[str, Path], filename: str) -> WheelReport:
    return wheelaudit.audit(real_wheels[filename])


@pytest.mark.real
@pytest.mark.parametrize(
    ("filename", "tags"),
    [
        # tagged manylinux2014, but nothing newer than glibc 2.5's symbols: both tools say manylinux_2_5
        (
            "orjson-3.13.0-cp312-cp312-manylinux2014_i686.manylinux_2_17_i686.whl",
            ("manylinux_2_5_i686", "manylinux1_i686", "manylinux_2_12_i686", "manylinux2010_i686"),
        ),
        (
            "h5py-3.7.0-cp310-cp310-manylinux_2_12_x86_64.manylinux2010_x86_64.whl",
            ("manylinux_2_5_x86_64", "manylinux1_x86_64", "manylinux_2_12_x86_64"),
        ),
        # armv7l has no level below 2_17
        (
            "orjson-3.13.0-cp312-cp312-manylinux2014_armv7l.manylinux_2_17_armv7l.whl",
            ("manylinux_2_17_armv7l", "manylinux2014_armv7l", "manylinux_2_24_armv7l"),
        ),
        ("bcrypt-5.0.0-cp38-abi3-manylinux_2_34_aarch64.whl", ("manylinux_2_34_aarch64", "manylinux_2_35_aarch64")),
    ],
    ids=lambda v: v.split("-")[0] + "-" + v.split("-")[-1][:-4] if isinstance(v, str) else None,
)
def test_real_glibc_wheel_best_tags(filename: str, tags: tuple[str, ...], real_wheels: dict[str, Path]) -> None:
    report = _real(real_wheels, filename)
    assert report.platform_tag == MANIFEST[filename]["auditwheel_tag"], "auditwheel's verdict is the oracle"
    assert report.tags[: len(tags)] == tags
    assert not any(t.startswith("musllinux") for t in report.tags), "dynamically linked to glibc: one family"


@pytest.mark.real
def test_real_wheel_blockers_name_the_symbols(real_wheels: dict[str, Path]) -> None:
    bcrypt = _real(real_wheels, "bcrypt-5.0.0-cp38-abi3-manylinux_2_34_aarch64.whl")
    assert blockers(bcrypt, "manylinux_2_31") == {
        ("elf-symbol-version-too-new", "libc.so.6", ("fstat64", "stat64")),  # GLIBC_2.33
        (
            "elf-symbol-version-too-new",
            "libc.so.6",
            ("dlsym", "pthread_key_create", "pthread_key_delete", "pthread_setspecific"),
        ),  # GLIBC_2.34
    }
    assert bcrypt.ok and bcrypt.problems == ()
    pillow = _real(real_wheels, "Pillow-9.0.1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    # libpng needs inflateValidate@ZLIB_1.2.9 from the libz the wheel carries, which defines it: not a
    # need on the system's libz.so.1 (auditwheel pools it with those and says manylinux_2_27)
    assert blockers(pillow, "manylinux_2_17") == set()
    assert pillow.platform_tag == "manylinux_2_17_x86_64" and pillow.ok
    assert {library for _code, library, _symbols in blockers(pillow, "manylinux_2_12")} == {"libc.so.6"}


@pytest.mark.real
@pytest.mark.parametrize(
    ("filename", "tags", "unverifiable"),
    [
        # musl binaries carry no symbol versions: the wheel's own level is kept, stricter ones are not proven
        ("orjson-3.13.0-cp312-cp312-musllinux_1_2_x86_64.whl", ("musllinux_1_2_x86_64", "linux_x86_64"), True),
        ("ruff-0.17.6-py3-none-musllinux_1_2_aarch64.whl", ("musllinux_1_2_aarch64", "linux_aarch64"), True),
        (
            "jiter-0.19.0-cp312-cp312-musllinux_1_1_x86_64.whl",
            ("musllinux_1_1_x86_64", "musllinux_1_2_x86_64", "linux_x86_64"),
            False,
        ),
    ],
    ids=lambda v: v.split("-")[0] + "-" + v.split("-")[-1][:-4] if isinstance(v, str) else None,
)
def test_real_musl_wheel_keeps_its_level(
    filename: str, tags: tuple[str, ...], unverifiable: bool, real_wheels: dict[str, Path]
) -> None:
    report = _real(real_wheels, filename)
    assert report.tags == tags and report.ok
    assert all(v.name.startswith("musllinux_") for v in report.policies)
    if unverifiable:
        assert blockers(report, "musllinux_1_1") == {("libc-version-unverifiable", None, ())}
        assert all(b.severity is Severity.INFO for b in verdict(report, "musllinux_1_1").blockers)


@pytest.mark.real
@pytest.mark.parametrize(
    ("filename", "best", "arch"),
    [
        (
            "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
            "manylinux_2_17",
            "aarch64",
        ),
        (
            "maturin-1.16.0-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.musllinux_1_1_x86_64.whl",
            "manylinux_2_5",
            "x86_64",
        ),
    ],
    ids=["uv", "maturin"],
)
def test_a_static_program_satisfies_both_libc_families(
    filename: str, best: str, arch: str, real_wheels: dict[str, Path]
) -> None:
    report = _real(real_wheels, filename)
    assert all(b.needed == () for b in report.binaries), "static: needs no library at all"
    assert report.platform_tag == f"{best}_{arch}"
    assert report.tags[-3:] == (f"musllinux_1_1_{arch}", f"musllinux_1_2_{arch}", f"linux_{arch}")
    assert report.ok and report.problems == ()
