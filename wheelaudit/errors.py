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
    """A repair cannot be carried out as asked (library not found, tag not reachable, ...)."""
