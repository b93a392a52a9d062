"""GitHub workflow commands (escaping rules) and the step summary table."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.report.gate import GateOptions, evaluate
from wheelaudit.report.github import (
    SummaryRow,
    append_step_summary,
    emit,
    escape_data,
    escape_property,
    github_lines,
    problem_commands,
    summary_markdown,
    workflow_command,
)
from wheelaudit.report.sarif import sarif_log

from .conftest import sample_wheel


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain text", "plain text", "plain text"),
        ("100%", "100%25", "100%25"),
        ("a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"),
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("%0A", "%250A", "%250A"),  # an escape in the input stays text
        ("esc\x1b[31m", "esc\\x1b[31m", "esc\\x1b[31m"),
        ("tab\tkept", "tab\tkept", "tab\tkept"),
    ],
)
def test_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_workflow_command_shape() -> None:
    line = workflow_command("error", "two\nlines", file="dist/a,b.whl", title="code:x", line=None)
    assert line == "::error file=dist/a%2Cb.whl,title=code%3Ax::two%0Alines"
    assert workflow_command("notice", "m") == "::notice::m"


def test_a_hostile_message_cannot_forge_a_command() -> None:
    line = workflow_command("warning", "x\n::error::forged", file="w.whl\n::error::also")
    assert "\n" not in line and "\r" not in line  # a command starts a line: one line, one command
    assert line == "::warning file=w.whl%0A%3A%3Aerror%3A%3Aalso::x%0A::error::forged"


COMMAND = re.compile(r"^::(error|warning|notice)( [a-z]+=[^,:\n]*(,[a-z]+=[^,:\n]*)*)?::[^\n\r]*$")


def test_one_command_per_problem_with_code_as_title() -> None:
    wheel = sample_wheel("wa_sample_newglibc-")
    report = wheelaudit.audit(wheel)
    lines = problem_commands(report)
    assert len(lines) == len(report.problems)
    for line, problem in zip(lines, report.problems):
        assert COMMAND.match(line), line
        assert line.startswith(f"::{problem.severity.value} file={escape_property(str(wheel))},title={problem.code}::")
        assert "%0Afix%3A" not in line and "%0Afix: " in line  # the fix follows on its own line


def test_gate_reasons_that_are_not_problems_get_their_own_command() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"))
    gate = evaluate(report, GateOptions(portable=True))
    lines = problem_commands(report, gate)
    assert [line.split("::")[1].split(",")[-1] for line in lines] == ["title=not-portable", "title=gate"]
    assert lines[0].startswith("::warning ") and lines[1].startswith("::error ")


def test_summary_table_and_file(tmp_path: Path) -> None:
    good, bad = sample_wheel("wa_sample_abi3-"), sample_wheel("wa_sample_syslib-")
    rows = [
        SummaryRow(str(good), wheelaudit.audit(good), evaluate(wheelaudit.audit(good), GateOptions(portable=True))),
        SummaryRow(str(bad), wheelaudit.audit(bad), evaluate(wheelaudit.audit(bad), GateOptions(portable=True))),
        SummaryRow("dist/x|y<b>.whl", None, error="not a zip file"),
    ]
    text = summary_markdown(rows)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3 and all(len(re.split(r"(?<!\\)\|", line)) == 8 for line in table), table
    assert f"| {good.name} | OK | `manylinux_2_17_x86_64` | 0 | 0 | :white_check_mark: pass |" in table
    assert f"| {bad.name} | OK | `linux_x86_64` | 0 | 1 | :x: fail |" in table
    assert "| x\\|y&lt;b&gt;.whl | unusable |" in text
    assert f"- **{bad.name}**: tagged linux_x86_64" in text
    assert append_step_summary(text, {}) is None
    target = tmp_path / "summary.md"
    target.write_text("before\n")
    assert append_step_summary(text, {"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "before\n" + text
    assert github_lines(rows[2:]) == ["::error file=dist/x|y<b>.whl,title=unusable-wheel::not a zip file"]


def test_sarif_log_has_a_result_per_problem_and_gate_reason() -> None:
    good, bad = sample_wheel("wa_sample_newglibc-"), sample_wheel("wa_sample_syslib-")
    rows = [
        SummaryRow(str(good), wheelaudit.audit(good)),
        SummaryRow(str(bad), wheelaudit.audit(bad), evaluate(wheelaudit.audit(bad), GateOptions(portable=True))),
        SummaryRow("broken.whl", None, error="not a zip file"),
    ]
    log = sarif_log(rows, "0.1.0")
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    results = run["results"]
    errors = rows[0].report.problems if rows[0].report else ()
    assert [r["ruleId"] for r in results] == [
        *(p.code for p in errors),
        "not-portable",
        "gate",
        "unusable-wheel",
    ]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == str(good)
    assert results[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].startswith("wa_sample_newglibc/")
    assert {r["level"] for r in results} == {"error", "warning"}
    assert sorted(rule["id"] for rule in run["tool"]["driver"]["rules"]) == sorted({r["ruleId"] for r in results})


def test_emit_github_and_sarif(tmp_path: Path) -> None:
    wheel = sample_wheel("wa_sample_syslib-")
    rows = [SummaryRow(str(wheel), wheelaudit.audit(wheel), evaluate(wheelaudit.audit(wheel), GateOptions()))]
    out = io.StringIO()
    summary = tmp_path / "summary.md"
    emit("github", rows, "0.1.0", out, {"GITHUB_STEP_SUMMARY": str(summary)})
    assert out.getvalue().splitlines() == github_lines(rows)
    assert summary.read_text() == summary_markdown(rows)
    out = io.StringIO()
    emit("sarif", rows, "0.1.0", out, {})
    assert json.loads(out.getvalue()) == sarif_log(rows, "0.1.0")
    with pytest.raises(ValueError):
        emit("xml", rows, "0.1.0", out, {})
