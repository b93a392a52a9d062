"""What every platform's repair plan tells its callers, whatever the platform.

The command line and the build backend print the grafted names, the new tags, the
warnings and what was left outside; they read a plan only through these two protocols,
so the Linux, macOS and Windows plans (each a plain record of its own) all fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._typing import Protocol


class GraftSummary(Protocol):
    """One library copied into the wheel."""

    @property
    def source(self) -> str: ...  # the file it was copied from

    @property
    def member(self) -> str: ...  # where it is in the repaired wheel

    @property
    def new_name(self) -> str: ...  # its file name there


class PlanSummary(Protocol):
    """A repair plan as callers see it."""

    @property
    def grafts(self) -> Sequence[GraftSummary]: ...

    @property
    def platform_tags(self) -> Sequence[str]: ...  # best first

    @property
    def warnings(self) -> tuple[str, ...]: ...

    @property
    def excluded(self) -> tuple[str, ...]: ...  # libraries left outside because an --exclude matched
