"""macOS wheels: tag from the Mach-O slices, claim checks, dependency resolution; real wheels and delocate."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import wheelaudit
from wheelaudit.report.model import Severity, WheelReport

from .builders import (
    CPU_ARM64,
    CPU_X86_64,
    PLATFORM_IOS,
    PLATFORM_MACOS,
    build_fat,
    build_macho,
    make_wheel,
)
from .conftest import SAMPLES

MANIFEST = {w["filename"]: w for w in json.loads((SAMPLES / "real-wheels.json").read_text())["wheels"]}
MACOS = sorted(n for n, w in MANIFEST.items() if w["platform"] == "macos")
MISTAGGED = "cryptography-48.0.1-cp39-abi3-macosx_10_9_universal2.whl"


def codes(report: WheelReport, severity: Severity) -> set[str]:
    return {p.code for p in report.problems if p.severity is severity}


# -- real wheels --------------------------------------------------------------------------------


@pytest.mark.real
@pytest.mark.parametrize("filename", MACOS)
def test_real_macos_wheel(filename: str, all_real_wheels: dict[str, Path]) -> None:
    report = wheelaudit.audit(all_real_wheels[filename])
    entry = MANIFEST[filename]
    assert report.external_libraries == ()
    assert report.platform_tag == entry["delocate_min_tag"]
    if filename == MISTAGGED:
        # The real case from issue 4: the name says 10.9, but the x86_64 slice of the Rust
        # extension was linked with a 10.13 deployment target (LC_VERSION_MIN_MACOSX 10.13), so
        # pip would install it on 10.9-10.12 Macs where it cannot load. delocate retags it the same.
        assert report.platform_tag == "macosx_10_13_universal2"
        [error] = report.errors
        assert error.code == "macos-min-version-too-new"
        assert error.path == "cryptography/hazmat/bindings/_rust.abi3.so"
        assert "x86_64" in error.message and "10.13" in error.message
        return
    assert report.platform_tag in entry["platform_tags"]
    assert not report.errors, [p.message for p in report.errors]
    assert all(v.satisfied for v in report.policies)
    assert {v.name for v in report.policies} == set(entry["platform_tags"])


@pytest.mark.real
@pytest.mark.parametrize("filename", MACOS)
def test_real_macos_min_os_per_arch(filename: str, all_real_wheels: dict[str, Path]) -> None:
    from wheelaudit.auditing import analyze_binaries
    from wheelaudit.checks import macos
    from wheelaudit.checks.context import AuditContext
    from wheelaudit.wheel.archive import WheelArchive

    archive = WheelArchive(all_real_wheels[filename])
    scan: Any = analyze_binaries(archive)
    binaries = getattr(scan, "binaries", scan)
    ctx = AuditContext.build(archive.info, archive.members, archive.record, binaries)
    decision = macos.decide(ctx)
    assert decision is not None
    assert decision.min_os == MANIFEST[filename]["macos_min_by_arch"]
    internal = sorted(
        {d.resolution.member for d in decision.dependencies if d.resolution.kind == "wheel" and d.resolution.member}
    )
    assert internal == sorted(MANIFEST[filename]["delocate_deps"])  # what delocate-listdeps found in the wheel
    system = {d.resolution.install_name for d in decision.dependencies if d.resolution.kind == "system"}
    assert system == {d for d in MANIFEST[filename]["delocate_deps_all"] if d.startswith("/")}


def _delocate_tag(wheel: Path, tmp_path: Path) -> str:
    delocating = pytest.importorskip("delocate.delocating")
    unpacked = tmp_path / wheel.stem
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    name, _ = delocating._calculate_minimum_wheel_name(wheel.name, unpacked, None)
    return str(name)[: -len(".whl")].split("-")[-1]


@pytest.mark.real
@pytest.mark.parametrize("filename", MACOS)
def test_real_tag_matches_delocate(filename: str, all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """delocate's tag computation is pure Python (macholib), so it runs here on the unpacked wheel."""
    expected = _delocate_tag(all_real_wheels[filename], tmp_path)
    report = wheelaudit.audit(all_real_wheels[filename])
    assert report.platform_tag == expected.split(".")[0]


# -- synthetic wheels: the tag rules as a table -------------------------------------------------

X86 = CPU_X86_64
ARM = CPU_ARM64

# (name, wheel platform tag, [(cputype, minos)] slices of one binary, expected platform_tag, errors, warnings)
RULES: list[tuple[str, str, list[tuple[int, str]], str, set[str], set[str]]] = [
    ("x86_64 as tagged", "macosx_10_9_x86_64", [(X86, "10.9")], "macosx_10_9_x86_64", set(), set()),
    ("arm64 as tagged", "macosx_11_0_arm64", [(ARM, "11.0")], "macosx_11_0_arm64", set(), set()),
    ("arm64 never below 11", "macosx_11_0_arm64", [(ARM, "10.9")], "macosx_11_0_arm64", set(), set()),
    (
        "11+ spelled X_0",
        "macosx_12_0_arm64",
        [(ARM, "12.3")],
        "macosx_12_0_arm64",
        set(),
        {"macos-min-version-unexpressible"},
    ),
    ("major too new", "macosx_11_0_arm64", [(ARM, "13.0")], "macosx_13_0_arm64", {"macos-min-version-too-new"}, set()),
    (
        "universal2 version is x86_64's",
        "macosx_10_9_universal2",
        [(X86, "10.9"), (ARM, "11.0")],
        "macosx_10_9_universal2",
        set(),
        set(),
    ),
    (
        "universal2 slice too new (cryptography 48)",
        "macosx_10_9_universal2",
        [(X86, "10.13"), (ARM, "11.0")],
        "macosx_10_13_universal2",
        {"macos-min-version-too-new"},
        set(),
    ),
    (
        "universal2 not packed when arm64 needs more",
        "macosx_10_12_universal2",
        [(X86, "10.12"), (ARM, "14.0")],
        "macosx_10_12_x86_64",
        {"macos-min-version-too-new"},
        set(),
    ),
    (
        "universal2 tag, thin binary",
        "macosx_10_9_universal2",
        [(X86, "10.9")],
        "macosx_10_9_x86_64",
        {"macos-arch-missing"},
        set(),
    ),
    (
        "x86_64 tag, fat binary",
        "macosx_10_12_x86_64",
        [(X86, "10.12"), (ARM, "11.0")],
        "macosx_10_12_x86_64",
        set(),
        set(),
    ),
    ("10.16 is not 11", "macosx_10_16_x86_64", [(X86, "10.16")], "macosx_10_16_x86_64", set(), set()),
    (
        "minor tag for 11+",
        "macosx_12_3_arm64",
        [(ARM, "12.0")],
        "macosx_12_0_arm64",
        set(),
        {"macos-tag-never-matches"},
    ),
    (
        "arm64 tag below 11",
        "macosx_10_9_arm64",
        [(ARM, "11.0")],
        "macosx_11_0_arm64",
        set(),
        {"macos-tag-never-matches"},
    ),
]


def _binary(slices: list[tuple[int, str]], **kwargs: Any) -> bytes:
    thin = [(cpu, build_macho(cputype=cpu, minos=minos, **kwargs)) for cpu, minos in slices]
    return thin[0][1] if len(thin) == 1 else build_fat(*thin)


@pytest.mark.parametrize("case", RULES, ids=[r[0] for r in RULES])
def test_tag_rules(case: tuple[str, str, list[tuple[int, str]], str, set[str], set[str]], tmp_path: Path) -> None:
    _, plat, slices, expected, errors, warnings = case
    wheel = make_wheel(tmp_path, f"demo-1.0-cp312-cp312-{plat}.whl", {"demo/foo.so": _binary(slices, weak=())})
    report = wheelaudit.audit(wheel)
    assert report.platform_tag == expected
    assert codes(report, Severity.ERROR) == errors
    assert codes(report, Severity.WARNING) == warnings
    assert [v.satisfied for v in report.policies] == [not errors]


DELOCATE_CASES = [r for r in RULES if "never-matches" not in str(r[5])]
#: Where delocate 0.13.0 deliberately differs: it keeps an arm64 minimum below 11.0 in the tag
#: (macosx_10_9_arm64), which no installer ever generates; linkers never emit such arm64 files.
DELOCATE_DIFFERS = {"arm64 never below 11": "macosx_10_9_arm64"}


@pytest.mark.parametrize("case", DELOCATE_CASES, ids=[r[0] for r in DELOCATE_CASES])
def test_tag_rules_match_delocate(
    case: tuple[str, str, list[tuple[int, str]], str, set[str], set[str]], tmp_path: Path
) -> None:
    """The same synthetic wheels through delocate's (pure-Python) tag computation."""
    _, plat, slices, expected, _, _ = case
    wheel = make_wheel(tmp_path, f"demo-1.0-cp312-cp312-{plat}.whl", {"demo/foo.so": _binary(slices, weak=())})
    try:
        theirs = _delocate_tag(wheel, tmp_path)
    except Exception as exc:  # delocate raises for a claimed arch no binary has
        assert "macos-arch-missing" in case[4], exc
        return
    assert theirs.split(".")[0] == DELOCATE_DIFFERS.get(case[0], expected)


def test_build_version_platform_must_be_macos(tmp_path: Path) -> None:
    ios = build_macho(cputype=ARM, minos="13.0", platform=PLATFORM_IOS, weak=())
    wheel = make_wheel(tmp_path, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", {"demo/foo.so": ios})
    report = wheelaudit.audit(wheel)
    assert "macho-platform-mismatch" in codes(report, Severity.ERROR)
    macos = build_macho(cputype=ARM, minos="11.0", platform=PLATFORM_MACOS, weak=())
    wheel = make_wheel(tmp_path, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", {"demo/foo.so": macos})
    assert wheelaudit.audit(wheel).ok


# -- dependencies -------------------------------------------------------------------------------


def test_dependency_classes(tmp_path: Path) -> None:
    lib = build_macho(
        cputype=ARM, minos="11.0", own_name="@rpath/libdep.dylib", needed=(), weak=(), rpaths=(), init="x"
    )
    ext = build_macho(
        cputype=ARM,
        minos="11.0",
        needed=(
            "/usr/lib/libSystem.B.dylib",
            "/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation",
            "@loader_path/.dylibs/libz.dylib",
            "@rpath/libdep.dylib",
            "/opt/homebrew/lib/libgmp.10.dylib",
            "@rpath/Python.framework/Versions/3.12/Python",
            "@executable_path/libexe.dylib",
        ),
        weak=("@rpath/libmissing.dylib",),
        rpaths=("@loader_path/../demo.libs", "/Users/runner/build/lib"),
    )
    members = {"demo/foo.so": ext, "demo/.dylibs/libz.dylib": b"z", "demo.libs/libdep.dylib": lib}
    wheel = make_wheel(tmp_path, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", members)
    report = wheelaudit.audit(wheel)
    assert report.external_libraries == (
        "/opt/homebrew/lib/libgmp.10.dylib",
        "@executable_path/libexe.dylib",
        "@rpath/libmissing.dylib",
    )
    errors = {p.library for p in report.problems if p.code == "external-library" and p.severity is Severity.ERROR}
    warnings = {p.library for p in report.problems if p.code == "external-library" and p.severity is Severity.WARNING}
    assert errors == {"/opt/homebrew/lib/libgmp.10.dylib", "@executable_path/libexe.dylib"}
    assert warnings == {"@rpath/libmissing.dylib"}  # weak: loads without it
    missing = next(p for p in report.problems if p.library == "@rpath/libmissing.dylib")
    assert "demo.libs/libmissing.dylib" in missing.message  # the search path is shown


def test_rpath_inherited_from_loader(tmp_path: Path) -> None:
    """dyld resolves @rpath of a library through the rpaths of the image that loaded it too."""
    inner = build_macho(
        cputype=ARM,
        minos="11.0",
        own_name="@rpath/liba.dylib",
        needed=("@rpath/libb.dylib",),
        weak=(),
        rpaths=(),
        init="a",
    )
    leaf = build_macho(cputype=ARM, minos="11.0", own_name="@rpath/libb.dylib", needed=(), weak=(), rpaths=(), init="b")
    ext = build_macho(cputype=ARM, minos="11.0", needed=("@rpath/liba.dylib",), weak=(), rpaths=("@loader_path/libs",))
    members = {"demo/foo.so": ext, "demo/libs/liba.dylib": inner, "demo/libs/libb.dylib": leaf}
    report = wheelaudit.audit(make_wheel(tmp_path, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", members))
    assert report.external_libraries == ()
    assert report.ok
