"""The text a person reads: ``render_text``, ``render_verdict`` (-q) and ``render_summary``, with and without
colour, wrapped to a width or not, and with whatever a wheel's names hold escaped.

Reports are real (the samples, audited here) and changed with ``wheelaudit.record.replace`` where a case needs
a field the samples do not have; the expected text is written out in full where it is short.
"""

from __future__ import annotations

import io
import re

import pytest

import wheelaudit
from wheelaudit.binary.model import VersionNeed
from wheelaudit.record import replace
from wheelaudit.report.colour import PLAIN, RESET, Style, style_for
from wheelaudit.report.model import PolicyVerdict, Problem, Severity, WheelReport
from wheelaudit.report.text import render_summary, render_text, render_verdict

from .conftest import sample_wheel

SGR = re.compile(r"\x1b\[[0-9;]*m")
ABI3_NAME = "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"


@pytest.fixture(scope="module")
def abi3() -> WheelReport:
    return wheelaudit.audit(sample_wheel("wa_sample_abi3-"))


@pytest.fixture(scope="module")
def syslib() -> WheelReport:
    return wheelaudit.audit(sample_wheel("wa_sample_syslib-"))


def test_the_whole_text_of_a_clean_wheel(abi3: WheelReport) -> None:
    assert render_text(abi3).splitlines() == [
        ABI3_NAME,
        "  verdict: OK; best platform tag: manylinux_2_17_x86_64",
        "  tagged: manylinux2014_x86_64, manylinux_2_17_x86_64",
        "  may carry: manylinux_2_17_x86_64, manylinux2014_x86_64, manylinux_2_24_x86_64, manylinux_2_26_x86_64, ...",
        "  binaries: 1",
        "    wa_sample_abi3/wa_sample_abi3.abi3.so (elf, x86_64, extension, needs GLIBC_2.14)",
        "  next stricter level:",
        "    manylinux_2_12_x86_64:",
        "      - wa_sample_abi3/wa_sample_abi3.abi3.so needs GLIBC_2.14 from libc.so.6"
        " (manylinux_2_12 allows up to GLIBC_2.12) for memcpy",
        "    ... 1 more level (use -v)",
    ]


def test_verbose_adds_the_needed_libraries_and_every_blocked_level(abi3: WheelReport) -> None:
    lines = render_text(abi3, verbose=True).splitlines()
    assert "      needed: libc.so.6, ld-linux-x86-64.so.2, libpthread.so.0, libdl.so.2" in lines
    assert lines[lines.index("  stricter levels and what blocks them:") + 1 :: 2] == [
        "    manylinux_2_5_x86_64:",
        "    manylinux_2_12_x86_64:",
    ]
    assert not any("use -v" in line for line in lines)


def test_problems_external_libraries_and_the_fix(syslib: WheelReport) -> None:
    lines = render_text(syslib).splitlines()
    assert lines[lines.index("  external libraries: libsqlite3.so.0") + 1] == "  problems:"
    warning = next(line for line in lines if "[warning]" in line)
    assert warning.startswith("    [warning] not-portable: linux_x86_64 wheels are not accepted by PyPI;")
    assert (
        "        fix: graft the external libraries: `wheelaudit repair --plat manylinux_2_34_x86_64` (or auto)" in lines
    )
    assert "may carry" not in "\n".join(lines), "the one tag it may carry is the best one, said already"


def test_the_newest_glibc_version_is_compared_as_numbers(abi3: WheelReport) -> None:
    needs = tuple(
        VersionNeed(library, version, False)
        for library, version in [
            ("libc.so.6", "GLIBC_2.9"),
            ("libc.so.6", "GLIBC_2.14"),
            ("libc.so.6", "GLIBC_2.2.5"),
            ("libgcc_s.so.1", "GCC_4.2.0"),
            ("libc.so.6", "GLIBC_PRIVATE"),
        ]
    )
    binary = replace(abi3.binaries[0], version_needs=needs)
    text = render_text(replace(abi3, binaries=(binary,)))
    assert "(elf, x86_64, extension, needs GLIBC_2.14)" in text
    plain = replace(abi3.binaries[0], version_needs=(), min_os="11.0")
    assert "(elf, x86_64, extension, min OS 11.0)" in render_text(replace(abi3, binaries=(plain,)))


def test_at_most_five_blockers_and_three_levels_unless_verbose(abi3: WheelReport) -> None:
    blockers = tuple(Problem("elf-symbol-version-too-new", Severity.ERROR, f"blocker {i}") for i in range(8))
    levels = tuple(PolicyVerdict(f"manylinux_2_{n}", (f"manylinux_2_{n}_x86_64",), False, blockers) for n in range(6))
    report = replace(abi3, problems=(Problem("c", Severity.ERROR, "m"),), policies=levels)  # NOT OK
    lines = render_text(report).splitlines()
    start = lines.index("  stricter levels and what blocks them:")
    assert lines[start + 1] == "    manylinux_2_3_x86_64:"  # the three just stricter than the best
    assert lines[start + 2 : start + 8] == [f"      - blocker {i}" for i in range(5)] + ["      ... 3 more (use -v)"]
    assert lines[-1] == "    ... 3 more levels (use -v)"
    verbose = render_text(report, verbose=True)
    assert verbose.count("      - blocker 7") == 6 and "use -v" not in verbose


def test_names_from_the_wheel_are_escaped_and_stay_on_their_line(abi3: WheelReport) -> None:
    hostile = replace(
        abi3,
        filename="evil\nwheelaudit: verdict OK\x1b[2J.whl",
        problems=(Problem("x", Severity.ERROR, "line\rone\u202eflipped", path="a\tb", fix="do\x85this"),),
    )
    text = render_text(hostile)
    assert text.splitlines()[0] == "evil\\nwheelaudit: verdict OK\\x1b[2J.whl"
    assert "    [error] x: line\\rone\\u202eflipped" in text.splitlines()
    assert "        fix: do\\x85this" in text.splitlines()
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", text)
    assert (
        render_verdict(hostile)
        == "evil\\nwheelaudit: verdict OK\\x1b[2J.whl: NOT OK; best platform tag: manylinux_2_17_x86_64"
    )


@pytest.mark.parametrize("width", [40, 60, 100])
def test_wrapping_keeps_every_word_within_the_width_with_a_hanging_indent(syslib: WheelReport, width: int) -> None:
    wrapped = render_text(syslib, style=Style(width=width))
    flat = render_text(syslib)
    assert wrapped.split() == flat.split(), "wrapping moves words, never loses or splits one"
    for line in wrapped.splitlines():
        assert len(line) <= width or " " not in line.strip(), line
    lines = wrapped.splitlines()
    warning = next(i for i, line in enumerate(lines) if line.startswith("    [warning] not-portable:"))
    assert lines[warning + 1].startswith(" " * len("    [warning] ")) and lines[warning + 1][14] != " "
    assert len(wrapped.splitlines()) > len(flat.splitlines())


def test_without_a_width_nothing_is_wrapped(syslib: WheelReport) -> None:
    longest = max(render_text(syslib, style=Style(colour=True)).splitlines(), key=len)
    assert len(SGR.sub("", longest)) > 200


def test_colour_marks_the_verdict_severities_and_heading(syslib: WheelReport, abi3: WheelReport) -> None:
    coloured = render_text(syslib, style=Style(colour=True))
    assert coloured.splitlines()[0] == f"\x1b[1m{syslib.filename}{RESET}"
    assert "  verdict: \x1b[1;32mOK\x1b[0m; best platform tag: linux_x86_64" in coloured
    assert "    \x1b[33m[warning]\x1b[0m not-portable:" in coloured
    assert SGR.sub("", coloured) == render_text(syslib), "colour adds codes and nothing else"
    failing = replace(abi3, problems=(Problem("c", Severity.ERROR, "m"), Problem("d", Severity.INFO, "n")))
    text = render_text(failing, style=Style(colour=True))
    assert "\x1b[1;31mNOT OK\x1b[0m" in text
    assert "    \x1b[31m[error]\x1b[0m c: m" in text and "    \x1b[36m[info]\x1b[0m d: n" in text
    assert "\x1b" not in render_text(failing, style=PLAIN)


def test_colour_and_wrapping_together_colour_only_what_is_ours(syslib: WheelReport) -> None:
    text = render_text(replace(syslib, filename="x\x1b[31m.whl"), style=Style(colour=True, width=50))
    assert text.splitlines()[0] == f"\x1b[1mx\\x1b[31m.whl{RESET}"
    assert all(len(SGR.sub("", line)) <= 50 or " " not in line.strip() for line in text.splitlines())


def test_quiet_is_one_line_per_wheel(abi3: WheelReport) -> None:
    assert render_verdict(abi3) == f"{ABI3_NAME}: OK; best platform tag: manylinux_2_17_x86_64"
    unknown = replace(abi3, problems=(Problem("c", Severity.ERROR, "m"),), platform_tag=None)
    assert render_verdict(unknown) == f"{ABI3_NAME}: NOT OK; best platform tag: unknown"
    assert (
        render_verdict(unknown, Style(colour=True))
        == f"{ABI3_NAME}: \x1b[1;31mNOT OK\x1b[0m; best platform tag: unknown"
    )
    narrow = render_verdict(abi3, Style(width=40)).splitlines()
    assert narrow[0] == f"{ABI3_NAME}:", "a name longer than the width stays whole, on a line of its own"
    assert " ".join(narrow[1:]) == "OK; best platform tag: manylinux_2_17_x86_64"


@pytest.mark.parametrize(
    ("counts", "plain", "coloured"),
    [
        (
            (3, 1, 1),
            "3 wheels: 1 OK, 1 NOT OK, 1 unusable",
            "3 wheels: \x1b[1;32m1 OK\x1b[0m, \x1b[1;31m1 NOT OK\x1b[0m\x1b[31m, 1 unusable\x1b[0m",
        ),
        ((2, 0, 2), "2 wheels: 0 OK, 2 NOT OK", "2 wheels: 0 OK, \x1b[1;31m2 NOT OK\x1b[0m"),
        ((2, 2, 0), "2 wheels: 2 OK, 0 NOT OK", "2 wheels: \x1b[1;32m2 OK\x1b[0m, 0 NOT OK"),
        ((4, 0, 0), "4 wheels: 0 OK, 0 NOT OK, 4 unusable", "4 wheels: 0 OK, 0 NOT OK\x1b[31m, 4 unusable\x1b[0m"),
    ],
)
def test_summary(counts: tuple[int, int, int], plain: str, coloured: str) -> None:
    assert render_summary(*counts) == plain
    assert render_summary(*counts, Style(colour=True)) == coloured


@pytest.mark.parametrize(
    ("environ", "colour"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)],
)
def test_a_stream_that_is_not_a_terminal_is_never_wrapped(environ: dict[str, str], colour: bool) -> None:
    assert style_for(io.StringIO(), environ) == Style(colour=colour, width=None)
    closed = io.StringIO()
    closed.close()
    assert style_for(closed, environ) == Style(colour=colour, width=None)
