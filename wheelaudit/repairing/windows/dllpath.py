"""The ``os.add_dll_directory`` patch a Windows repair puts at the top of a package's ``__init__.py``.

Python 3.8+ loads an extension module with the search flags that leave PATH out: its own
folder, System32 and the folders added with ``os.add_dll_directory``. DLLs grafted into
``<dist>.libs/`` are therefore found only after the package has added that folder, which is
what the patch does, first thing in ``__init__.py`` (after the docstring and any
``from __future__`` import, which must stay first), so before any extension module of the
package is imported. delvewheel does the same; the patch here says in a comment who added it
and why, and is fenced by two marker lines, so a second repair finds it and adds nothing
(or replaces it when the folder changed).

Pure functions over bytes: the file's encoding and line endings are kept as they are.
"""

from __future__ import annotations

import ast
import io
import tokenize

from ...errors import RepairError

START = "# start wheelaudit DLL-path patch"
END = "# end wheelaudit DLL-path patch"
FUNCTION = "_wheelaudit_add_dll_directory"

_TEMPLATE = """\
{start} (added by `wheelaudit repair`)
# wheelaudit grafted DLLs that this package's extension modules import into {where}.
# Python 3.8+ does not search PATH for them, so that folder is added to the DLL search
# path here, before any extension module of the package loads (os.add_dll_directory
# exists on Windows only: elsewhere this does nothing).
def {function}():
    import os

    libs_dir = os.path.abspath(os.path.join(os.path.dirname(__file__), {parts}))
    if hasattr(os, "add_dll_directory") and os.path.isdir(libs_dir):
        os.add_dll_directory(libs_dir)


{function}()
del {function}
{end}
"""


def patch_text(depth: int, libs_dir: str) -> str:
    """The patch for an ``__init__.py`` ``depth`` folders below site-packages, for ``libs_dir``
    (a folder at the top of site-packages, or ``"."`` for site-packages itself)."""
    parts = ["os.pardir"] * depth
    if libs_dir not in ("", "."):
        parts.append(repr(libs_dir))
    where = "site-packages itself" if libs_dir in ("", ".") else f"{libs_dir}/ (in site-packages)"
    return _TEMPLATE.format(start=START, end=END, function=FUNCTION, parts=", ".join(parts), where=where)


def _newline(source: bytes) -> bytes:
    first = source.split(b"\n", 1)[0]
    return b"\r\n" if first.endswith(b"\r") else b"\n"


def _insertion_line(source: bytes, path: str) -> int:
    """How many lines of ``source`` stay above the patch: a shebang, header comments, the
    docstring and every ``from __future__`` import (found by tokens, so any Python's syntax does)."""
    significant: list[tokenize.TokenInfo] = []
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type in (tokenize.ENCODING, tokenize.COMMENT, tokenize.NL):
                continue
            significant.append(token)
            if len(significant) > 4096:  # enough for any docstring plus a run of __future__ imports
                break
    except (tokenize.TokenError, SyntaxError) as exc:
        raise RepairError(f"{path}: cannot read it as Python ({exc}); fix the file to patch it", path=path) from None
    after = 0  # the last line of the statements to keep above the patch
    i = 0

    def statement_end(start: int) -> int:
        j = start
        while j < len(significant) and significant[j].type not in (tokenize.NEWLINE, tokenize.ENDMARKER):
            j += 1
        return j

    # the docstring: a statement that is one string (several literals may be concatenated)
    j = i
    while j < len(significant) and significant[j].type == tokenize.STRING:
        j += 1
    if j > i and j < len(significant) and significant[j].type in (tokenize.NEWLINE, tokenize.ENDMARKER):
        after = significant[j - 1].end[0]
        i = j + 1
    elif j > i and significant[j].start[0] == significant[j - 1].end[0]:
        raise RepairError(
            f"{path}: the docstring shares its line with other code; move that code to a line of its own", path=path
        )
    while i + 1 < len(significant) and significant[i].string == "from" and significant[i + 1].string == "__future__":
        j = statement_end(i)
        after = significant[j - 1].end[0]
        i = j + 1
    if after == 0:  # no docstring: a shebang, an encoding line and header comments stay above
        lines = source.splitlines()
        while after < len(lines) and lines[after].startswith(b"#"):
            after += 1
    return after


def patched(source: bytes | None, depth: int, libs_dir: str, *, path: str) -> bytes | None:
    """``source`` (None: the file is missing) with the patch, or None when it already has this very patch.

    A patch from an earlier repair (between the marker lines) is replaced, not added again.
    Raises :class:`RepairError` when the file cannot be read as Python or would no longer parse.
    """
    text = patch_text(depth, libs_dir)
    if source is None:
        return text.encode("ascii")
    newline = _newline(source)
    block = text.replace("\n", newline.decode()).encode("ascii")
    start = source.find(START.encode())
    if start >= 0:
        end = source.find(END.encode(), start)
        if end < 0:
            raise RepairError(f"{path}: an earlier wheelaudit patch has no end line; remove it to patch again")
        end = source.find(b"\n", end)
        end = len(source) if end < 0 else end + 1
        if source[start:end] == block:
            return None
        result = source[:start] + block + source[end:]
    else:
        keep = _insertion_line(source, path)
        lines = source.splitlines(keepends=True)
        head = b"".join(lines[:keep])
        rest = b"".join(lines[keep:]).lstrip(b"\r\n")
        if head and not head.endswith((b"\n", b"\r")):
            head += newline
        result = head + (newline * 2 if head else b"") + block + (newline + rest if rest else b"")
    _check_parses(source, result, path)
    return result


def _check_parses(before: bytes, after: bytes, path: str) -> None:
    """The patched file must parse wherever the original did (with the Python running the repair)."""
    try:
        ast.parse(before)
    except (SyntaxError, ValueError):
        return  # newer syntax than this Python reads: the token scan placed the patch
    try:
        ast.parse(after)
    except (SyntaxError, ValueError) as exc:
        raise RepairError(f"{path}: the patched file does not parse ({exc}); a wheelaudit bug", path=path) from None


__all__ = ["END", "FUNCTION", "START", "patch_text", "patched"]
