"""The gate: --require levels, --fail-on, linux_* tags; pure functions over reports."""

from __future__ import annotations

import pytest

import wheelaudit
from wheelaudit.record import replace
from wheelaudit.report.gate import (
    GateOptionError,
    GateOptions,
    Requirement,
    cli_options,
    evaluate,
    fail_on,
    parse_requirement,
)
from wheelaudit.report.model import Problem, Severity, WheelReport

from .conftest import sample_wheel


@pytest.mark.parametrize(
    ("spec", "family", "version", "arch"),
    [
        ("manylinux_2_17", "manylinux", (2, 17), None),
        ("manylinux2014", "manylinux", (2, 17), None),
        ("manylinux1_x86_64", "manylinux", (2, 5), "x86_64"),
        ("manylinux_2_28_aarch64", "manylinux", (2, 28), "aarch64"),
        ("musllinux_1_2", "musllinux", (1, 2), None),
        ("macosx_11_0", "macosx", (11, 0), None),
        ("macosx_10_12_x86_64", "macosx", (10, 12), "x86_64"),
        ("win_amd64", "win", None, "amd64"),
        ("android_24_arm64_v8a", "android", (24, 0), "arm64_v8a"),
    ],
)
def test_parse_requirement(spec: str, family: str, version: tuple[int, int] | None, arch: str | None) -> None:
    assert parse_requirement(spec) == Requirement(spec, family, version, arch)


@pytest.mark.parametrize("spec", ["linux_x86_64", "manylinux", "manylinux_2", "many_2_17", "any", "", "macosx"])
def test_a_requirement_that_names_no_level_is_refused(spec: str) -> None:
    with pytest.raises(GateOptionError, match="--require"):
        parse_requirement(spec)


@pytest.mark.parametrize(
    ("spec", "tag", "met"),
    [
        ("manylinux_2_17", "manylinux_2_17_x86_64", True),
        ("manylinux_2_17", "manylinux2014_x86_64", True),
        ("manylinux_2_17", "manylinux_2_12_x86_64", True),  # older glibc: installs in more places
        ("manylinux_2_17", "manylinux_2_28_x86_64", False),
        ("manylinux_2_17", "musllinux_1_1_x86_64", False),
        ("manylinux_2_17", "linux_x86_64", False),
        ("manylinux_2_17_aarch64", "manylinux_2_17_x86_64", False),
        ("musllinux_1_2", "musllinux_1_1_x86_64", True),
        ("macosx_11_0", "macosx_10_12_universal2", True),
        ("macosx_11_0_arm64", "macosx_10_12_universal2", True),  # a fat binary covers arm64
        ("macosx_10_13", "macosx_11_0_arm64", False),
        ("win_amd64", "win_amd64", True),
        ("win_amd64", "win32", False),
    ],
)
def test_met_by(spec: str, tag: str, met: bool) -> None:
    assert parse_requirement(spec).met_by(tag) is met


def test_fail_on_values() -> None:
    assert fail_on("error") is Severity.ERROR and fail_on("warning") is Severity.WARNING
    with pytest.raises(GateOptionError):
        fail_on("info")


# -- verdicts on real reports -------------------------------------------------------------


def test_a_clean_wheel_passes_every_gate() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_abi3-"))
    strict = GateOptions(require=(parse_requirement("manylinux_2_17"),), fail_on=Severity.WARNING, portable=True)
    assert evaluate(report, strict).passed


def test_linux_tag_passes_show_but_not_a_portable_gate() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"))
    assert report.ok and evaluate(report, GateOptions()).passed  # what `show` alone says
    (reason,) = evaluate(report, GateOptions(portable=True)).reasons
    assert "tagged linux_x86_64, which package indexes refuse" in reason and "wheelaudit repair" in reason
    verdict = evaluate(report, GateOptions(fail_on=Severity.WARNING))
    assert [r.split(":")[0] for r in verdict.reasons] == ["[warning] not-portable"]


def test_require_fails_a_linux_tag_too() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"))
    (reason,) = evaluate(report, GateOptions(require=(parse_requirement("manylinux_2_17"),))).reasons
    assert reason.startswith("tagged linux_x86_64; required: manylinux_2_17 or more compatible")
    assert "its binaries allow" not in reason, "no manylinux level fits as built: nothing to retag to"


def test_errors_fail_and_are_named() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_newglibc-"))
    verdict = evaluate(report, GateOptions())
    assert not verdict.passed
    assert all(r.startswith("[error] elf-symbol-version-too-new (wa_sample_newglibc/") for r in verdict.reasons)


def test_requirements_of_another_os_do_not_apply() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_abi3-"))
    other = GateOptions(require=(parse_requirement("macosx_11_0"), parse_requirement("win_amd64")))
    assert evaluate(report, other).passed
    # Of two Linux requirements, one met is enough (a folder of manylinux and musllinux wheels).
    both = GateOptions(require=(parse_requirement("musllinux_1_2"), parse_requirement("manylinux_2_17")))
    assert evaluate(report, both).passed


def _report(plats: list[str], best: str | None, problems: tuple[Problem, ...] = ()) -> WheelReport:
    base = wheelaudit.audit(sample_wheel("wa_sample_abi3-"))
    return replace(base, wheel_tags=tuple(f"cp38-abi3-{p}" for p in plats), platform_tag=best, problems=problems)


def test_a_tag_narrower_than_the_binaries_allow_says_how_to_retag() -> None:
    report = _report(["manylinux_2_28_x86_64"], "manylinux_2_17_x86_64")
    (reason,) = evaluate(report, GateOptions(require=(parse_requirement("manylinux_2_17"),))).reasons
    assert "its binaries allow manylinux_2_17_x86_64" in reason
    assert "wheelaudit repair --plat manylinux_2_17_x86_64" in reason


def test_info_never_fails() -> None:
    info = Problem("debug-info-present", Severity.INFO, "DWARF")
    report = _report(["manylinux_2_17_x86_64"], "manylinux_2_17_x86_64", (info,))
    assert evaluate(report, GateOptions(fail_on=Severity.WARNING)).passed


def test_cli_options_keep_show_lenient_by_default() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"))
    assert evaluate(report, cli_options([], "error")).passed
    verdict = evaluate(report, cli_options(["manylinux_2_17"], "warning"))
    assert len(verdict.reasons) == 2 and verdict.beyond_errors == verdict.reasons
    errors = evaluate(wheelaudit.audit(sample_wheel("wa_sample_newglibc-")), cli_options([], "error"))
    assert errors.reasons and not errors.beyond_errors
