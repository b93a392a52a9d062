"""What the command line makes of an exception: its exit status and the one line it prints.

One mapping for ``show`` and ``repair``, so that both keep the same contract: 1 a repair
that cannot be done as asked, 2 an unusable input or a wrong option, 3 a bug in
wheelaudit (one line; the traceback only with ``WHEELAUDIT_DEBUG=1``). KeyboardInterrupt
is not an ``Exception`` and is never mapped here: it ends the whole run (exit 130).
"""

from __future__ import annotations

import os

from ..errors import OptionError, RepairError, WheelError
from ..record import record

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# How the CLI spells the fix for a RepairOptions field that a RepairError points at.
_FLAGS = {"plat": "--plat", "lib_paths": "--lib-path", "sysroot": "--sysroot", "exclude": "--exclude"}
_PLACEHOLDER = {"lib_paths": "DIR", "sysroot": "DIR", "exclude": "PATTERN", "plat": "TAG"}


@record(frozen=True)
class Failure:
    """Why one wheel produced no report or repaired wheel: the line to print and the exit status."""

    message: str
    status: int

    @property
    def internal(self) -> bool:
        return self.status == EXIT_INTERNAL


def flag_hint(exc: RepairError) -> str:
    """The command-line wording of the fix a RepairError points at (``use --plat X``), or ''."""
    if exc.option not in _FLAGS:
        return ""
    return f" (use {_FLAGS[exc.option]} {exc.suggestion or _PLACEHOLDER[exc.option]})"


def failure_of(exc: Exception, path: str, doing: str) -> Failure:
    """The exit status and line for an exception raised while ``doing`` (audited/repaired) ``path``."""
    if isinstance(exc, OptionError):
        return Failure(f"{exc}{flag_hint(exc)}", EXIT_UNUSABLE)
    if isinstance(exc, RepairError):
        return Failure(f"{exc}{flag_hint(exc)}", EXIT_PROBLEMS)
    if isinstance(exc, WheelError):
        return Failure(str(exc), EXIT_UNUSABLE)
    if isinstance(exc, OSError):
        # Name the file the system refused (the wheelhouse, a library), not always the input.
        where = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else path
        return Failure(f"{where}: {exc.strerror or exc}", EXIT_UNUSABLE)
    if isinstance(exc, (MemoryError, RecursionError)):  # hostile input exhausting resources
        return Failure(f"{path}: cannot be {doing} ({type(exc).__name__})", EXIT_UNUSABLE)
    if os.environ.get("WHEELAUDIT_DEBUG"):
        import traceback  # only here: its import (linecache, tokenize, textwrap) is start-up time

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    detail = " ".join(str(exc).split())  # one line, whatever the exception says
    return Failure(
        f"{path}: internal error ({type(exc).__name__}: {detail}); please report it "
        "(set WHEELAUDIT_DEBUG=1 for the traceback)",
        EXIT_INTERNAL,
    )
