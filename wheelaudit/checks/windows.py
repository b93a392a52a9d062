"""Windows platform rules: machine type, DLL dependencies against policies/windows.json. (issue 4)"""

from __future__ import annotations

from .context import AuditContext, PlatformDecision


def decide(ctx: AuditContext) -> PlatformDecision | None:
    """The Windows verdict, or None when the wheel holds no PE binary."""
    return None
