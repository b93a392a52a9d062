"""Where dyld would find a Mach-O dependency, as far as the wheel itself can tell.

dyld expands ``@loader_path`` to the directory of the binary holding the load command,
``@executable_path`` to the main program's directory, and ``@rpath`` to each LC_RPATH of
the binary and of every image that loaded it, in turn. A wheel is audited without a Mac,
so a dependency is classified against the installed wheel (site-packages layout) and the
system prefixes of the platform policy: inside the wheel, system, libpython (judged by the
Python ABI rules) or external.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Callable

#: A Python framework or libpython dylib: linking it is a Python-ABI question, not a missing library.
LIBPYTHON_MACHO = re.compile(r"(^|/)Python\.framework/|(^|/)libpython3[\d.]*[dmt]*\.dylib$")

IN_WHEEL, SYSTEM, PYTHON, EXTERNAL = "wheel", "system", "python", "external"


@dataclass(frozen=True)
class RpathEntry:
    """One LC_RPATH and the installed path of the binary that declared it (its @loader_path)."""

    entry: str
    declared_by: str


@dataclass(frozen=True)
class DylibResolution:
    """Where dyld would find one install name, seen from one binary."""

    install_name: str
    kind: str  # IN_WHEEL / SYSTEM / PYTHON / EXTERNAL
    member: str | None = None  # the wheel member dyld would load
    searched: tuple[str, ...] = ()  # candidate paths tried for @rpath, for the message

    @property
    def found(self) -> bool:
        return self.kind != EXTERNAL


def expand(path: str, loader: str, executable: str | None) -> str | None:
    """``path`` with @loader_path/@executable_path replaced and normalised; None when unknowable.

    The result is a path relative to site-packages (inside the wheel) or an absolute path.
    """
    for token, base in (("@loader_path", loader), ("@executable_path", executable)):
        if path == token or path.startswith(token + "/"):
            if base is None:
                return None
            rest = path[len(token) :].lstrip("/")
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), rest))
            return joined
    if path.startswith("@"):
        return None
    return path


def _member(candidate: str | None, installed: Mapping[str, str]) -> str | None:
    if candidate is None or candidate.startswith(("/", "..")):
        return None
    return installed.get(candidate)


def resolve(
    install_name: str,
    *,
    loader: str,
    executable: str | None,
    rpaths: Iterable[RpathEntry],
    installed: Mapping[str, str],
    is_system: Callable[[str], bool],
) -> DylibResolution:
    """Classify one LC_LOAD_DYLIB (or weak/re-export) name of the binary installed at ``loader``."""
    if LIBPYTHON_MACHO.search(install_name):
        return DylibResolution(install_name, PYTHON)
    if install_name.startswith("@rpath/"):
        rest = install_name[len("@rpath/") :]
        tried: list[str] = []
        for rpath in rpaths:
            base = expand(rpath.entry, rpath.declared_by, executable)
            if base is None:
                continue
            candidate = posixpath.normpath(posixpath.join(base, rest))
            tried.append(candidate)
            if candidate.startswith("/"):
                if is_system(candidate):
                    return DylibResolution(install_name, SYSTEM, searched=tuple(tried))
                continue
            member = _member(candidate, installed)
            if member is not None:
                return DylibResolution(install_name, IN_WHEEL, member, tuple(tried))
        return DylibResolution(install_name, EXTERNAL, searched=tuple(tried))
    target = expand(install_name, loader, executable)
    if target is None:
        return DylibResolution(install_name, EXTERNAL)
    if target.startswith("/"):
        return DylibResolution(install_name, SYSTEM if is_system(target) else EXTERNAL)
    member = _member(target, installed)
    if member is not None and install_name.startswith("@"):
        return DylibResolution(install_name, IN_WHEEL, member, (target,))
    return DylibResolution(install_name, EXTERNAL, searched=(target,))
