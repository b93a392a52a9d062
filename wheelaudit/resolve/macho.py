"""Where dyld would find a Mach-O dependency, as far as the wheel itself can tell.

dyld expands ``@loader_path`` to the directory of the binary holding the load command,
``@executable_path`` to the main program's directory, and ``@rpath`` to each LC_RPATH of
the binary and of every image that loaded it, in turn. A wheel is audited without a Mac,
so a dependency is classified against the installed wheel (site-packages layout) and the
system prefixes of the platform policy: inside the wheel, system, libpython (judged by the
Python ABI rules) or external.

Modelled: ``@loader_path``, ``@executable_path`` (programs only; a Python extension's main
program is the interpreter, outside the wheel), ``@rpath`` through the LC_RPATH entries of
the binary and of every in-wheel image that loads it (dyld's inherited run paths), absolute
install names against the policy's system prefixes. Not modelled: DYLD_* environment
variables, the dyld shared cache beyond "system prefix", fallback paths (~/lib, /usr/local/lib):
a wheel cannot rely on any of them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

from ..binary.model import Binary, BinaryKind

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


@dataclass(frozen=True)
class DylibDependency:
    """One dylib a slice loads (LC_LOAD_DYLIB, or LC_LOAD_WEAK_DYLIB when ``weak``) and where dyld finds it."""

    binary: Binary
    resolution: DylibResolution
    weak: bool


#: How many passes the inherited-rpath fixpoint may take; a wheel's loader chain is short, and
#: the bound keeps a cycle of images loading each other harmless.
_MAX_PASSES = 9


def resolve_wheel(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    is_system: Callable[[str], bool],
) -> list[DylibDependency]:
    """Where dyld finds every dependency of every Mach-O slice in ``binaries``, in binary then load order.

    ``installed`` maps installed path (relative to site-packages) -> member; ``installed_paths``
    maps member -> installed path (the base of ``@loader_path``); ``is_system`` says whether an
    absolute path is part of the OS (``MacPolicy.is_system`` / ``IosPolicy.is_system``).
    ``@rpath`` is searched through the slice's own LC_RPATHs, then those of the in-wheel images
    that load it, of the same architecture (inherited, as dyld does, until nothing changes).
    """
    origin = {id(b): installed_paths.get(b.path, b.path) for b in binaries}
    by_member: dict[tuple[str, str], list[Binary]] = {}
    for b in binaries:
        by_member.setdefault((b.path, b.arch), []).append(b)
    inherited: dict[int, list[RpathEntry]] = {id(b): [] for b in binaries}

    def one_pass() -> tuple[list[DylibDependency], bool]:
        out: list[DylibDependency] = []
        changed = False
        for b in binaries:
            rpaths = [RpathEntry(r, origin[id(b)]) for r in b.rpath] + inherited[id(b)]
            executable = origin[id(b)] if b.kind is BinaryKind.EXECUTABLE else None
            for name, weak in [(n, False) for n in b.needed] + [(n, True) for n in b.weak_needed]:
                loader = origin[id(b)]
                res = resolve(
                    name, loader=loader, executable=executable, rpaths=rpaths, installed=installed, is_system=is_system
                )
                out.append(DylibDependency(b, res, weak))
                if res.member is None:
                    continue
                for child in by_member.get((res.member, b.arch), []):
                    known = inherited[id(child)]
                    for entry in rpaths:
                        if entry not in known:
                            known.append(entry)
                            changed = True
        return out, changed

    for _ in range(_MAX_PASSES):
        deps, changed = one_pass()
        if not changed:
            break
    return deps
