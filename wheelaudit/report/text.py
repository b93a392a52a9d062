"""Turning a :class:`WheelReport` into text for people.

Each line is built as segments (:data:`.terminal.Segment`) and handed to
:func:`.terminal.format_line`, which escapes what came from the wheel, wraps to the
terminal and colours the severities and verdicts; with the default :data:`.colour.PLAIN`
style the text is what a pipe gets: no colour, no wrapping.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..binary.model import BinaryFormat
from ..platforms.linux import newest_glibc
from .colour import PLAIN, Style
from .model import Problem, Severity, WheelReport
from .terminal import Segment, format_line

_MARK = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "info"}


class _Lines:
    """The lines of one text, each formatted as it is added."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.out: list[str] = []

    def add(self, *segments: Segment | str, hang: int = 0) -> None:
        parts = [(s, None) if isinstance(s, str) else s for s in segments]
        self.out.append(format_line(parts, self.style, hang))

    def text(self) -> str:
        return "\n".join(self.out)


def _verdict(report: WheelReport) -> Segment:
    return ("OK", "ok") if report.ok else ("NOT OK", "notok")


def render_text(report: WheelReport, *, verbose: bool = False, style: Style = PLAIN) -> str:
    """The report as lines for a person; names from the wheel are escaped (see :mod:`.terminal`)."""
    lines = _Lines(style)
    lines.add((report.filename, "heading"), hang=2)
    lines.add("  verdict: ", _verdict(report), f"; best platform tag: {report.platform_tag or 'unknown'}", hang=4)
    own = sorted({t.split("-")[2] for t in report.wheel_tags})
    lines.add(f"  tagged: {', '.join(own)}", hang=10)
    if report.tags and report.tags != (report.platform_tag,):
        carry = list(report.tags[:4]) + (["..."] if len(report.tags) > 4 else [])
        lines.add(f"  may carry: {', '.join(carry)}", hang=13)
    lines.add(f"  binaries: {len({b.path for b in report.binaries})}")
    for binary in report.binaries:
        detail = [binary.format.value, binary.arch, binary.kind.value]
        glibc = newest_glibc(n.version for n in binary.version_needs) if binary.format is BinaryFormat.ELF else None
        if glibc:
            detail.append(f"needs {glibc}")
        if binary.min_os:
            detail.append(f"min OS {binary.min_os}")
        lines.add(f"    {binary.path} ({', '.join(detail)})", hang=6)
        if verbose and binary.needed:
            lines.add(f"      needed: {', '.join(binary.needed)}", hang=14)
    if report.external_libraries:
        lines.add(f"  external libraries: {', '.join(report.external_libraries)}", hang=22)
    if report.problems:
        lines.add("  problems:")
        for group, fix in group_by_fix(report.problems):
            for problem in group:
                mark = f"[{_MARK[problem.severity]}]"
                lines.add(
                    "    ", (mark, _MARK[problem.severity]), f" {problem.code}: {problem.message}", hang=len(mark) + 5
                )
            if fix:
                lines.add("        fix: " + (f"(all {len(group)} above) " if len(group) > 1 else "") + fix, hang=13)
    _blocked_levels(report, verbose, lines)
    return lines.text()


def _blocked_levels(report: WheelReport, verbose: bool, lines: _Lines) -> None:
    """By default only the levels just stricter than the best one: that is what the next fix buys."""
    blocked = [v for v in report.policies if not v.satisfied]
    if not blocked:
        return
    shown = blocked if verbose else blocked[-(1 if report.ok else 3) :]
    lines.add("  stricter levels and what blocks them:" if verbose or len(shown) > 1 else "  next stricter level:")
    for verdict in shown:
        lines.add(f"    {verdict.tags[0]}:")
        for blocker in verdict.blockers[: None if verbose else 5]:
            lines.add(f"      - {blocker.message}", hang=8)
        if not verbose and len(verdict.blockers) > 5:
            lines.add(f"      ... {len(verdict.blockers) - 5} more (use -v)")
    if len(blocked) > len(shown):
        more = len(blocked) - len(shown)
        lines.add(f"    ... {more} more level{'s' if more > 1 else ''} (use -v)")


def group_by_fix(problems: Sequence[Problem]) -> list[tuple[list[Problem], str | None]]:
    """The problems in groups that share one fix, each group with that fix (said once, after it).

    A fix that names the problem's own symbols ("...; or avoid statx") counts as the same fix
    as another that names other symbols; the group's fix names them all. Groups keep the
    order of their first problem; a problem without a fix is a group of its own.
    """
    groups: dict[object, list[Problem]] = {}
    for index, problem in enumerate(problems):
        groups.setdefault(_fix_key(problem) if problem.fix else index, []).append(problem)
    out: list[tuple[list[Problem], str | None]] = []
    for key, group in groups.items():
        if not isinstance(key, tuple):
            out.append((group, group[0].fix))
            continue
        template = key[2]
        symbols = list(dict.fromkeys(s for p in group for s in _named_symbols(p)))
        named = ", ".join(symbols) if len(symbols) <= 6 else ", ".join(symbols[:5]) + f" and {len(symbols) - 5} more"
        out.append((group, template.replace(_PLACEHOLDER, named)))
    return out


_PLACEHOLDER = "\x00symbols\x00"  # never in a fix: the fix text is ours, with symbol names that have no NUL


def _named_symbols(problem: Problem) -> tuple[str, ...]:
    """The problem's symbols, when its fix names them (as a comma-separated list)."""
    listed = ", ".join(problem.symbols)
    return problem.symbols if listed and problem.fix and listed in problem.fix else ()


def _fix_key(problem: Problem) -> tuple[str, str, str]:
    """What makes two fixes the same: severity, code and the fix with its own symbols taken out."""
    fix = problem.fix or ""
    listed = ", ".join(_named_symbols(problem))
    if listed:
        head, _, tail = fix.rpartition(listed)
        fix = head + _PLACEHOLDER + tail
    return (problem.severity.value, problem.code, fix)


def render_verdict(report: WheelReport, style: Style = PLAIN) -> str:
    """The one line ``-q`` prints for a wheel: its file name, verdict and best platform tag."""
    lines = _Lines(style)
    lines.add(report.filename, ": ", _verdict(report), f"; best platform tag: {report.platform_tag or 'unknown'}")
    return lines.text()


def render_summary(total: int, good: int, bad: int, style: Style = PLAIN) -> str:
    """The last line after several wheels: how many are OK, NOT OK, and unusable."""
    lines = _Lines(style)
    unusable = total - good - bad
    lines.add(
        f"{total} wheels: ",
        (f"{good} OK", "ok" if good else None),
        ", ",
        (f"{bad} NOT OK", "notok" if bad else None),
        (f", {unusable} unusable" if unusable else "", "error"),
    )
    return lines.text()
