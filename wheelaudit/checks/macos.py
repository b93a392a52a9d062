"""macOS (and iOS) platform rules: minimum OS per architecture, universal2, dependencies. (issue 4)"""

from __future__ import annotations

from .context import AuditContext, PlatformDecision


def decide(ctx: AuditContext) -> PlatformDecision | None:
    """The macOS verdict, or None when the wheel holds no Mach-O binary."""
    return None
