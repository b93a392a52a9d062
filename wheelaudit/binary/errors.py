"""Alias kept for the format modules' original import path.

:class:`MalformedBinary` lives in :mod:`wheelaudit.errors` (a :class:`WheelError`, so the CLI
reports it on one line instead of treating it as a crash); this module only re-exports it.
"""

from __future__ import annotations

from ..errors import MalformedBinary

__all__ = ["MalformedBinary"]
