"""Output for CI: GitHub Actions workflow commands and the step summary table.

A workflow command is one stdout line, ``::error file=F,title=T::message``, that the
runner turns into an annotation on the run. What a wheel says (member names, sonames)
ends up in those lines, so everything is escaped as the runner's rules require: in
the message ``%``, CR and LF; in a property value also ``:`` and ``,``. Without that a
member named ``a\\n::error::forged`` would write a command of its own. Other control
characters are shown as ``\\xNN``, as the text report does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence

from .._typing import TYPE_CHECKING
from ..record import record
from .gate import GateResult
from .model import Severity, WheelReport

if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

#: Severity -> workflow command. ``info`` findings become notices, shown but never failing.
_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}

_DATA_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY_ESCAPES = {**_DATA_ESCAPES, ":": "%3A", ",": "%2C"}


def _escape(text: str, table: Mapping[str, str]) -> str:
    out = []
    for ch in text:
        if ch in table:
            out.append(table[ch])
        elif (ord(ch) < 0x20 and ch != "\t") or 0x7F <= ord(ch) < 0xA0:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped."""
    return _escape(text, _DATA_ESCAPES)


def escape_property(text: str) -> str:
    """A workflow command's property value: the message escapes plus ``:`` and ``,``."""
    return _escape(text, _PROPERTY_ESCAPES)


def workflow_command(command: str, message: str, **properties: str | None) -> str:
    """``::command key=value,...::message`` with every part escaped; None properties are left out."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value is not None)
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def problem_commands(report: WheelReport, gate: GateResult | None = None) -> list[str]:
    """One workflow command per problem, then one per gate reason that is not a problem.

    ``file`` is the wheel as given on the command line: the annotation is about that
    file, and the member at fault is named in the message.
    """
    lines = []
    for problem in report.problems:
        message = problem.message if problem.fix is None else f"{problem.message}\nfix: {problem.fix}"
        lines.append(workflow_command(_COMMAND[problem.severity], message, file=report.wheel, title=problem.code))
    for reason in gate.reasons if gate else ():
        if not reason.startswith("["):  # problems are reported above, with their own titles
            lines.append(workflow_command("error", f"{report.filename}: {reason}", file=report.wheel, title="gate"))
    return lines


def unusable(wheel: str, message: str) -> str:
    """The workflow command for an input that could not be audited at all."""
    return workflow_command("error", message, file=wheel, title="unusable-wheel")


@record(frozen=True)
class SummaryRow:
    """One wheel's line in the step summary: its report (None when unusable) and its gate verdict."""

    wheel: str
    report: WheelReport | None
    gate: GateResult | None = None
    error: str | None = None  # why the wheel could not be audited


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell and shows literally."""
    text = " ".join(text.split())
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`")):
        text = text.replace(raw, escaped)
    return text


def summary_markdown(rows: Sequence[SummaryRow]) -> str:
    """The Markdown table of verdicts for ``$GITHUB_STEP_SUMMARY``, and each failed gate's reasons."""
    out = [
        "### wheelaudit",
        "",
        "| wheel | verdict | best tag | errors | warnings | gate |",
        "|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for row in rows:
        name = _cell(os.path.basename(row.wheel))
        if row.report is None:
            out.append(f"| {name} | unusable | | | | :x: fail |")
            details.append(f"- **{name}**: {_cell(row.error or 'could not be audited')}")
            continue
        report = row.report
        warnings = sum(p.severity is Severity.WARNING for p in report.problems)
        gate = "" if row.gate is None else (":white_check_mark: pass" if row.gate.passed else ":x: fail")
        verdict = "OK" if report.ok else "NOT OK"
        best = _cell(report.platform_tag or "none")
        out.append(f"| {name} | {verdict} | `{best}` | {len(report.errors)} | {warnings} | {gate} |")
        for reason in row.gate.reasons if row.gate else ():
            details.append(f"- **{name}**: {_cell(reason)}")
    if details:
        out += ["", *details]
    return "\n".join(out) + "\n"


def append_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to the file ``$GITHUB_STEP_SUMMARY`` names; None (and nothing written) outside Actions."""
    target = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    from pathlib import Path

    path = Path(target)
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown)
    return path


def github_lines(rows: Iterable[SummaryRow]) -> list[str]:
    """Every workflow command for a run of ``show --format github``, wheel by wheel."""
    lines: list[str] = []
    for row in rows:
        if row.report is None:
            lines.append(unusable(row.wheel, row.error or "could not be audited"))
        else:
            lines.extend(problem_commands(row.report, row.gate))
    return lines


def emit(
    fmt: str,
    rows: Sequence[SummaryRow],
    version: str,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Write the ``github`` (workflow commands + step summary) or ``sarif`` output of a ``show`` run."""
    out = sys.stdout if out is None else out
    if fmt == "github":
        for line in github_lines(rows):
            out.write(line + "\n")
        append_step_summary(summary_markdown(rows), environ)
    elif fmt == "sarif":
        from .sarif import sarif_log  # it builds on this module's rows

        out.write(json.dumps(sarif_log(rows, version), indent=2) + "\n")  # one write, not one per token
    else:
        raise ValueError(f"format {fmt!r}: expected github or sarif")
