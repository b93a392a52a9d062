"""Where Windows would find a DLL a PE file imports, as far as the wheel itself can tell.

Python 3.8+ loads extension modules with ``LOAD_LIBRARY_SEARCH_DEFAULT_DIRS |
LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR``: the importer's own directory, the application
directory, System32 and every directory added with ``os.add_dll_directory``. PATH is not
searched. A wheel therefore ships DLLs next to the modules that import them, or in a
directory its ``__init__.py`` adds (delvewheel's ``<dist>.libs/``). DLL names are
case-insensitive. Any DLL found in the wheel counts as internal; how the loader reaches
it is recorded, so the report can say when that relies on the package's own code.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

BESIDE = "beside the importer"
LIBS_DIR = "in a {dir} directory, which the package adds with os.add_dll_directory (delvewheel layout)"
ELSEWHERE = "elsewhere in the wheel ({dir}); found only if the package adds that directory itself"


@dataclass(frozen=True)
class DllHit:
    """A wheel member that provides an imported DLL, and how the loader would reach it."""

    installed: str  # installed path (relative to site-packages)
    how: str
    beside: bool


def dll_index(installed: Mapping[str, str]) -> dict[str, list[str]]:
    """Lower-case basename -> installed paths of every ``.dll``/``.pyd`` in the wheel."""
    out: dict[str, list[str]] = {}
    for path in installed:
        lower = path.lower()
        if lower.endswith((".dll", ".pyd")):
            out.setdefault(posixpath.basename(lower), []).append(path)
    return out


def find_in_wheel(dll: str, importer: str, index: Mapping[str, list[str]], libs_suffix: str = ".libs") -> DllHit | None:
    """The copy of ``dll`` the importer (installed path) would load, best placed first."""
    paths = index.get(dll.lower())
    if not paths:
        return None
    here = posixpath.dirname(importer)
    for path in paths:
        if posixpath.dirname(path) == here:
            return DllHit(path, BESIDE, True)
    for path in paths:
        directory = posixpath.dirname(path)
        if directory.endswith(libs_suffix) and "/" not in directory:
            return DllHit(path, LIBS_DIR.format(dir=directory + "/"), False)
    path = sorted(paths)[0]
    return DllHit(path, ELSEWHERE.format(dir=posixpath.dirname(path) + "/" if "/" in path else "top level"), False)
