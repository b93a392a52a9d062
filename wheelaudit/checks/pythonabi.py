"""Python-ABI rules for extension modules: libpython linkage, abi3 limited API, tags, module init. (issue 5)"""

from __future__ import annotations

from ..report import Problem
from .context import AuditContext


def check(ctx: AuditContext) -> list[Problem]:
    """Problems with how the wheel's extensions meet the Python ABI its tags promise."""
    return []
