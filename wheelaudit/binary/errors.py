"""Errors raised by the binary format modules.

Every parser turns truncation, bad offsets and garbage into :class:`MalformedBinary`, so callers
catch one type and report the member instead of crashing on a library's internal exception.
"""

from __future__ import annotations


class MalformedBinary(ValueError):
    """A file has a binary magic but its structure cannot be read; the message names the path."""
