"""Turning a :class:`WheelReport` into text for people."""

from __future__ import annotations

from .binary.model import BinaryFormat
from .report import Severity, WheelReport
from .terminal import printable

_MARK = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "info"}


def render_text(report: WheelReport, *, verbose: bool = False) -> str:
    """The report as lines for a person; names from the wheel are escaped (see :mod:`.terminal`)."""
    lines = [f"{report.filename}"]
    status = "OK" if report.ok else "NOT OK"
    lines.append(f"  verdict: {status}; best platform tag: {report.platform_tag or 'unknown'}")
    own = sorted({t.split("-")[2] for t in report.wheel_tags})
    lines.append(f"  tagged: {', '.join(own)}")
    if report.tags and report.tags != (report.platform_tag,):
        carry = list(report.tags[:4]) + (["..."] if len(report.tags) > 4 else [])
        lines.append(f"  may carry: {', '.join(carry)}")
    lines.append(f"  binaries: {len({b.path for b in report.binaries})}")
    for binary in report.binaries:
        detail = [binary.format.value, binary.arch, binary.kind.value]
        if binary.format is BinaryFormat.ELF and binary.version_needs:
            glibc = [n.version for n in binary.version_needs if n.version.startswith("GLIBC_2")]
            if glibc:
                detail.append(
                    "needs " + max(glibc, key=lambda v: tuple(int(x) for x in v[6:].split(".") if x.isdigit()))
                )
        if binary.min_os:
            detail.append(f"min OS {binary.min_os}")
        lines.append(f"    {binary.path} ({', '.join(detail)})")
        if verbose and binary.needed:
            lines.append(f"      needed: {', '.join(binary.needed)}")
    if report.external_libraries:
        lines.append(f"  external libraries: {', '.join(report.external_libraries)}")
    if report.problems:
        lines.append("  problems:")
        for problem in report.problems:
            lines.append(f"    [{_MARK[problem.severity]}] {problem.code}: {problem.message}")
            if problem.fix:
                lines.append(f"        fix: {problem.fix}")
    blocked = [v for v in report.policies if not v.satisfied]
    if blocked:
        # By default only the levels just stricter than the best one: that is what the next fix buys.
        shown = blocked if verbose else blocked[-(1 if report.ok else 3) :]
        lines.append(
            "  stricter levels and what blocks them:" if verbose or len(shown) > 1 else "  next stricter level:"
        )
        for verdict in shown:
            lines.append(f"    {verdict.tags[0]}:")
            for blocker in verdict.blockers[: None if verbose else 5]:
                lines.append(f"      - {blocker.message}")
            if not verbose and len(verdict.blockers) > 5:
                lines.append(f"      ... {len(verdict.blockers) - 5} more (use -v)")
        if len(blocked) > len(shown):
            lines.append(f"    ... {len(blocked) - len(shown)} more levels (use -v)")
    # Every line is built here, so escaping each one catches a control character from any field.
    return "\n".join(printable(line) for line in lines)
