"""Verdicts on every sample wheel built here from real Rust crates (sample-wheels/SAMPLES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.report.model import Severity

from .conftest import SAMPLES, sample_wheel

# prefix -> (best platform tag, error codes expected, warning codes expected)
EXPECTED = {
    "wa_sample_abi3-": ("manylinux_2_17_x86_64", set(), set()),
    "wa_sample_versioned-": ("manylinux_2_17_x86_64", set(), set()),
    "wa_sample_bin-": ("manylinux_2_17_x86_64", set(), set()),
    "wa_sample_cffi-": ("manylinux_2_17_x86_64", set(), set()),
    "wa_sample_debuginfo-": ("manylinux_2_17_x86_64", set(), set()),
    "wa_sample_abi3bad-": ("manylinux_2_17_x86_64", {"abi3-symbol-too-new"}, set()),
    "wa_sample_libpython-": ("linux_x86_64", {"libpython-linked"}, set()),
    "wa_sample_newglibc-": ("manylinux_2_36_x86_64", {"elf-symbol-version-too-new"}, set()),
    "wa_sample_syslib-": ("linux_x86_64", set(), {"not-portable"}),
}


def test_every_sample_has_an_expectation() -> None:
    names = {p.name for p in SAMPLES.glob("*.whl")}
    covered = {n for n in names for prefix in EXPECTED if n.startswith(prefix)}
    assert covered == names, f"sample wheels without an expected verdict: {sorted(names - covered)}"


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_sample_verdict(prefix: str) -> None:
    tag, errors, warnings = EXPECTED[prefix]
    report = wheelaudit.audit(sample_wheel(prefix))
    assert report.platform_tag == tag
    if errors is not None:
        assert {p.code for p in report.problems if p.severity is Severity.ERROR} == errors
        assert report.ok is (not errors)
    assert {p.code for p in report.problems if p.severity is Severity.WARNING} == warnings
    assert report.binaries, "every sample wheel holds a binary"


def test_newglibc_names_each_symbol_and_version() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_newglibc-"))
    found = {(p.symbols, p.library) for p in report.problems if p.code == "elf-symbol-version-too-new"}
    by_symbol = {s: lib for symbols, lib in found for s in symbols}
    # statx is GLIBC_2.28, arc4random GLIBC_2.36 (SAMPLES.md); both come from libc.so.6.
    assert by_symbol.get("statx") == "libc.so.6"
    assert by_symbol.get("arc4random") == "libc.so.6"
    messages = " ".join(p.message for p in report.problems)
    assert "GLIBC_2.28" in messages and "GLIBC_2.36" in messages
    assert all(p.path and p.path.endswith(".abi3.so") for p in report.problems if p.severity is Severity.ERROR)
    # The level just below the best one is blocked by arc4random alone.
    below = {v.name: v for v in report.policies}["manylinux_2_35"]
    assert not below.satisfied
    assert [b.symbols for b in below.blockers] == [("arc4random",)]


def test_syslib_external_library_and_repair_hint() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"))
    assert report.external_libraries == ("libsqlite3.so.0",)
    newest = report.policies[-1]
    assert {b.code for b in newest.blockers} == {"external-library"}
    assert "linux_x86_64" in report.tags


def test_libpython_points_at_extension_module_feature() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_libpython-"))
    (problem,) = [p for p in report.problems if p.code == "libpython-linked"]
    assert problem.library and problem.library.startswith("libpython3")
    assert problem.fix and "extension-module" in problem.fix


def test_bin_wheel_executable_is_found_in_data_scripts() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_bin-"))
    (binary,) = report.binaries
    assert ".data/scripts/" in binary.path
    assert binary.kind is wheelaudit.BinaryKind.EXECUTABLE


def test_clean_wheels_carry_their_own_tag_and_newer_ones() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_abi3-"))
    assert report.tags[:2] == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert "manylinux_2_28_x86_64" in report.tags and report.tags[-1] == "linux_x86_64"
    assert "manylinux_2_12_x86_64" not in report.tags
    (binary,) = report.binaries
    assert binary.init_functions == ("PyInit_wa_sample_abi3",)


def test_abi3bad_names_the_symbol_and_its_version() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_abi3bad-"))
    (problem,) = [p for p in report.problems if p.code == "abi3-symbol-too-new"]
    assert problem.symbols == ("PyUnicode_AsUTF8AndSize",)
    assert "stable since 3.10" in problem.message and problem.path and problem.path.endswith(".abi3.so")
    assert problem.fix and "abi3-py310" in problem.fix


@pytest.mark.real
def test_armv7l_must_be_hard_float(tmp_path: Path, real_wheels: dict[str, Path]) -> None:
    """A real armhf wheel passes; the same library with its float-ABI flag cleared is flagged."""
    import zipfile

    from .hostile import rewrite

    src = real_wheels["orjson-3.13.0-cp312-cp312-manylinux2014_armv7l.manylinux_2_17_armv7l.whl"]
    ok = wheelaudit.audit(src)
    assert ok.ok and ok.binaries[0].arch == "armv7l" and ok.binaries[0].extra["arm_float_abi"] == "hard"
    (so,) = [n for n in zipfile.ZipFile(src).namelist() if n.endswith(".so")]
    data = bytearray(zipfile.ZipFile(src).read(so))
    flags = int.from_bytes(data[36:40], "little") & ~0x400  # EF_ARM_ABI_FLOAT_HARD
    data[36:40] = flags.to_bytes(4, "little")
    soft = wheelaudit.audit(rewrite(src, tmp_path / src.name, replace={so: bytes(data)}))
    assert [p.code for p in soft.errors] == ["binary-arch-mismatch"]
    assert "soft-float" in soft.errors[0].message
