"""SARIF 2.1.0 output: the problems of a run as one static-analysis log.

Code-scanning dashboards (GitHub's among them) read SARIF; a problem becomes a result whose
``ruleId`` is the stable problem code, located in the wheel file with the member named as a
logical location. Only the fields those readers need are written.
"""

from __future__ import annotations

from collections.abc import Iterable

from .._typing import TYPE_CHECKING
from .github import SummaryRow
from .model import Severity

if TYPE_CHECKING:
    from typing import Any

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _result(rule: str, level: str, text: str, wheel: str, member: str | None) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": wheel}}}
    if member:
        location["logicalLocations"] = [{"fullyQualifiedName": member, "kind": "member"}]
    return {"ruleId": rule, "level": level, "message": {"text": text}, "locations": [location]}


def sarif_log(rows: Iterable[SummaryRow], version: str) -> dict[str, Any]:
    """One run of ``wheelaudit`` with a result per problem, per failed gate reason and per unusable input."""
    results: list[dict[str, Any]] = []
    for row in rows:
        if row.report is None:
            results.append(_result("unusable-wheel", "error", row.error or "could not be audited", row.wheel, None))
            continue
        for problem in row.report.problems:
            text = problem.message if problem.fix is None else f"{problem.message}\nfix: {problem.fix}"
            results.append(_result(problem.code, _LEVEL[problem.severity], text, row.wheel, problem.path))
        for reason in row.gate.reasons if row.gate else ():
            if not reason.startswith("["):  # the problems are results already
                results.append(_result("gate", "error", reason, row.wheel, None))
    rules = sorted({r["ruleId"] for r in results})
    driver = {
        "name": "wheelaudit",
        "version": version,
        "rules": [{"id": rule, "shortDescription": {"text": rule}} for rule in rules],
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
