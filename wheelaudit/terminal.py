"""Text that came from a wheel, made safe to print on a terminal.

A wheel's file name, member names, sonames and symbol names are data: printed raw, a
newline could forge a line of the report (``wheelaudit: verdict OK``) and an escape
sequence could clear the screen or retitle the terminal. Every text line the CLI prints
goes through :func:`printable`; JSON output needs nothing (``json`` escapes them itself).
"""

from __future__ import annotations

import re

# C0, DEL and C1 controls, and the Unicode line/paragraph separators and bidirectional
# overrides/isolates, which reorder or break what a person reads without being visible; and lone
# surrogates, which stand for undecodable bytes of a file name and would make printing fail.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the byte code - 0xDC00
        code -= 0xDC00
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``, ``\\n``)."""
    return _UNSAFE.sub(_escape, text)
