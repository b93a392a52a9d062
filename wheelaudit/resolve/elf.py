"""Where the dynamic loader would find a needed library, as far as the wheel itself can tell.

``show`` needs no host libraries: a DT_NEEDED name is internal when the loader
would find it inside the installed wheel through the binary's DT_RPATH or
DT_RUNPATH (``$ORIGIN``-relative entries; ld.so ignores DT_RPATH when DT_RUNPATH
is present).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from ..binary.model import Binary

LOADER_PREFIXES = ("ld-linux", "ld64.so", "ld-musl-", "ld.so")


def is_dynamic_loader(soname: str) -> bool:
    return soname.startswith(LOADER_PREFIXES)


def expand_origin(entry: str, binary_path: str) -> str | None:
    """An rpath entry as a path inside the wheel, or None when it points outside (absolute, $LIB, ...)."""
    origin = posixpath.dirname(binary_path)
    for token in ("${ORIGIN}", "$ORIGIN"):
        if entry.startswith(token):
            rest = entry[len(token) :].lstrip("/")
            joined = posixpath.normpath(posixpath.join(origin, rest)) if rest else (origin or ".")
            return None if joined.startswith("..") else ("" if joined == "." else joined)
    return None


def search_dirs(binary: Binary, installed_path: str) -> list[str]:
    """The wheel directories searched for the binary's own DT_NEEDED entries, in loader order."""
    entries = binary.runpath if binary.runpath else binary.rpath
    dirs = []
    for entry in entries:
        expanded = expand_origin(entry, installed_path)
        if expanded is not None and expanded not in dirs:
            dirs.append(expanded)
    return dirs


def find_in_wheel(binary: Binary, soname: str, installed: Mapping[str, str], origin: str) -> str | None:
    """The member the loader would load for ``soname``, or None when the wheel does not provide it.

    ``installed`` maps each member's path after installation (``.data/platlib/`` and
    ``.data/purelib/`` folded into the top level) to the member name; ``origin`` is the
    binary's own installed path, which ``$ORIGIN`` stands for.
    """
    if "/" in soname:  # a DT_NEEDED with a slash is a path, relative to the working directory: never portable
        return None
    for directory in search_dirs(binary, origin):
        candidate = f"{directory}/{soname}" if directory else soname
        if candidate in installed:
            return installed[candidate]
    return None
