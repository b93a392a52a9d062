"""Text that came from a wheel, made safe to print on a terminal.

A wheel's file name, member names, sonames and symbol names are data: printed raw, a
newline could forge a line of the report (``wheelaudit: verdict OK``) and an escape
sequence could clear the screen or retitle the terminal. Every text line the CLI prints
goes through :func:`printable`; JSON output needs nothing (``json`` escapes them itself).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .colour import PLAIN, Style

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


#: A piece of a line: its text (ours or a wheel's) and the colour role it is shown in (None: plain).
Segment = tuple[str, "str | None"]


def format_line(segments: Sequence[Segment], style: Style = PLAIN, hang: int = 0) -> str:
    """One line of output: every segment escaped, then wrapped to ``style.width``, then coloured.

    In that order, so that a wheel's control characters never reach the terminal, the width
    counts what is seen (escapes included, colour codes not), and colour is only ever ours.
    Continuation lines start with ``hang`` spaces; a word longer than the width (a path) stays whole.
    """
    text = ""
    spans: list[tuple[int, int, str]] = []
    for raw, role in segments:
        piece = printable(raw)
        if role is not None and piece:
            spans.append((len(text), len(text) + len(piece), role))
        text += piece
    pieces = _wrap(text, style.width, hang)
    if not style.colour or not spans:
        return "\n".join(piece for piece, _, _ in pieces)
    return "\n".join(_paint(piece, offset, lead, spans, style) for piece, offset, lead in pieces)


def _wrap(text: str, width: int | None, hang: int) -> list[tuple[str, int, int]]:
    """The lines ``text`` wraps to: each line, the offset such that ``line[i]`` shows
    ``text[offset + i]``, and the length of its added indent (which shows nothing of ``text``)."""
    if width is None or len(text) <= width:
        return [(text, 0, 0)]
    import textwrap  # only when wrapping: a pipe never needs it

    indent = len(text) - len(text.lstrip(" "))
    hang = min(hang, width // 2)
    lines = textwrap.wrap(
        text[indent:],
        width,
        initial_indent=text[:indent],
        subsequent_indent=" " * hang,
        break_long_words=False,
        break_on_hyphens=False,
    )
    out: list[tuple[str, int, int]] = [(lines[0], 0, 0)]
    cursor = len(lines[0])
    for line in lines[1:]:
        start = text.index(line[hang:], cursor)  # textwrap only drops the spaces it breaks at
        out.append((line, start - hang, hang))
        cursor = start + len(line) - hang
    return out


def _paint(line: str, offset: int, lead: int, spans: list[tuple[int, int, str]], style: Style) -> str:
    """``line`` with the parts of ``spans`` (indices into the whole text) it shows coloured."""
    out = []
    position = lead
    for start, end, role in spans:
        start, end = max(start - offset, position), min(end - offset, len(line))
        if start >= end:
            continue
        out += [line[position:start], style.paint(line[start:end], role)]
        position = end
    return line[:lead] + "".join(out) + line[position:]
