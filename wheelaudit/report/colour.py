"""How text output looks on this stdout: colour or not, wrapped to which width.

Colour and wrapping are for a person at a terminal. Output that goes to a pipe or a file
is read by programs, ``grep`` and CI logs, where escape codes are noise and a line broken
in two no longer matches: it is never wrapped, and has no colour unless ``FORCE_COLOR``
asks for it. ``NO_COLOR`` (https://no-color.org) wins over everything, then
``FORCE_COLOR`` (https://force-color.org), then ``TERM=dumb``, then whether stdout is a
terminal — the order CPython's own ``_colorize`` follows. Colour codes are added after a
wheel's text has been escaped (:mod:`.terminal`), so a wheel can never send its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..record import record

if TYPE_CHECKING:
    from typing import TextIO

#: SGR codes per role; plain ANSI, which every terminal of the last 30 years (and Windows 10+) knows.
CODES = {
    "error": "31",
    "warning": "33",
    "info": "36",
    "ok": "1;32",
    "notok": "1;31",
    "heading": "1",
}
RESET = "\x1b[0m"
MIN_WIDTH = 40  # below this, wrapping makes things worse than long lines


@record(frozen=True)
class Style:
    """What the text renderer may do: colour, and the width to wrap to (None: never wrap)."""

    colour: bool = False
    width: int | None = None

    def paint(self, text: str, role: str | None) -> str:
        """``text`` (already escaped) in the colour of ``role``, when colour is on."""
        if not self.colour or role is None or not text:
            return text
        return f"\x1b[{CODES[role]}m{text}{RESET}"


PLAIN = Style()


def wants_colour(is_terminal: bool, environ: Mapping[str, str]) -> bool:
    """Whether to colour: NO_COLOR, then FORCE_COLOR (either counts when set and not empty), then TERM."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    if environ.get("TERM") == "dumb":
        return False
    if sys.platform == "win32" and not (environ.get("WT_SESSION") or environ.get("TERM")):
        return False  # the classic console shows escape codes as text unless a program turns VT mode on
    return is_terminal


def style_for(stream: TextIO, environ: Mapping[str, str] | None = None) -> Style:
    """The style for text written to ``stream``: colour and wrapping at a terminal, neither on a pipe."""
    environ = os.environ if environ is None else environ
    try:
        is_terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):  # a closed or fake stream
        is_terminal = False
    width = None
    if is_terminal:
        import shutil

        columns = shutil.get_terminal_size().columns  # COLUMNS first, then the terminal itself
        width = max(columns, MIN_WIDTH)
    return Style(colour=wants_colour(is_terminal, environ), width=width)
