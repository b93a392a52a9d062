"""Exceptions that end the audit of one wheel with a one-line reason.

Everything a user can cause with a bad input file is a :class:`WheelError`; the CLI
prints its message on one line and exits with status 2. Anything else escaping is
a bug in wheelaudit.
"""

from __future__ import annotations


class WheelError(Exception):
    """The input cannot be used; the message is one line meant for a person."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(" ".join(message.split()))  # always one line


class InvalidWheel(WheelError):
    """Not a readable wheel: not a zip, truncated, missing WHEEL or RECORD, bad file name."""


class UnsafeWheel(WheelError):
    """A member name or structure that could write outside the target or exhaust resources."""


class MalformedBinary(WheelError):
    """A member has a binary magic but its structure is broken."""


class PolicyError(WheelError):
    """A policy file is missing, not JSON, or does not follow the documented format."""


class RepairError(WheelError):
    """A repair cannot be carried out as asked (library not found, tag not reachable, ...).

    The message names no command-line flag: the library has callers other than the CLI.
    ``option`` names the :class:`~wheelaudit.repairing.RepairOptions` field the fix is about
    (``"plat"``, ``"lib_paths"``) and ``suggestion`` a value for it, so that each front end
    can word the hint its own way (the CLI says ``--plat manylinux_2_28_x86_64``).
    """

    def __init__(
        self, message: str, *, path: str | None = None, option: str | None = None, suggestion: str | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.option = option
        self.suggestion = suggestion


class OptionError(RepairError):
    """An option's value is not one wheelaudit knows (an unknown target tag): the caller's mistake,
    not the wheel's, so the CLI treats it as a usage error (exit 2) rather than an unreachable tag."""
