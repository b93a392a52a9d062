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

For repair (:func:`resolve_closure`) a dependency from outside the wheel must also be *found*,
on any host: a :class:`DylibFinder` looks for it by leaf name in each ``--lib-path`` directory
(what ``DYLD_LIBRARY_PATH`` does on a Mac, which delocate relies on), then at the absolute path
dyld would open when this host has that file (a Mac with Homebrew). A found library keeps the
path dyld would load it from as its ``@loader_path``, so its own dependencies resolve as on
the Mac; the walk goes on through them, slice by slice, with the run paths of every image in
the chain that loaded it.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence

from .._typing import TYPE_CHECKING
from ..binary.macho import is_macho, parse_macho
from ..binary.model import Binary, BinaryKind
from ..errors import MalformedBinary
from ..record import field, record

if TYPE_CHECKING:
    from typing import Callable

#: A Python framework or libpython dylib: linking it is a Python-ABI question, not a missing library.
LIBPYTHON_MACHO = re.compile(r"(^|/)Python\.framework/|(^|/)libpython3[\d.]*[dmt]*\.dylib$")

IN_WHEEL, SYSTEM, PYTHON, EXTERNAL = "wheel", "system", "python", "external"
HOST = "host"  # outside the wheel, found on this host (repair only: see resolve_closure)


@record(frozen=True)
class RpathEntry:
    """One LC_RPATH and the installed path of the binary that declared it (its @loader_path)."""

    entry: str
    declared_by: str


@record(frozen=True)
class HostDylib:
    """A library from outside the wheel and the file on this host that stands for it."""

    install_path: str  # where dyld would load it on a Mac: the base of its own @loader_path
    file: str  # the file read here, symlinks resolved
    slices: tuple[Binary, ...] = field(repr=False, compare=False, default=())  # one per architecture

    def slice(self, arch: str) -> Binary | None:
        return next((b for b in self.slices if b.arch == arch), None)


@record(frozen=True)
class DylibResolution:
    """Where dyld would find one install name, seen from one binary."""

    install_name: str
    kind: str  # IN_WHEEL / SYSTEM / PYTHON / EXTERNAL
    member: str | None = None  # the wheel member dyld would load
    searched: tuple[str, ...] = ()  # candidate paths tried for @rpath, for the message
    host: HostDylib | None = None  # kind HOST: the library found on this host

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


@record(frozen=True)
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
    return _wheel_fixpoint(binaries, installed, installed_paths, is_system)[0]


def _wheel_fixpoint(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    is_system: Callable[[str], bool],
) -> tuple[list[DylibDependency], dict[int, list[RpathEntry]]]:
    """:func:`resolve_wheel`, and the run paths each slice searches (its own, then inherited), by ``id``."""
    origin = {id(b): installed_paths.get(b.path, b.path) for b in binaries}
    by_member: dict[tuple[str, str], list[Binary]] = {}
    for b in binaries:
        by_member.setdefault((b.path, b.arch), []).append(b)
    inherited: dict[int, list[RpathEntry]] = {id(b): [] for b in binaries}

    def own_and_inherited(b: Binary) -> list[RpathEntry]:
        return [RpathEntry(r, origin[id(b)]) for r in b.rpath] + inherited[id(b)]

    def one_pass() -> tuple[list[DylibDependency], bool]:
        out: list[DylibDependency] = []
        changed = False
        for b in binaries:
            rpaths = own_and_inherited(b)
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

    deps: list[DylibDependency] = []
    for _ in range(_MAX_PASSES):
        deps, changed = one_pass()
        if not changed:
            break
    return deps, {id(b): own_and_inherited(b) for b in binaries}


# -- repair: libraries from outside the wheel, found on this host ------------------------------


class DylibFinder:
    """Finds a library from outside the wheel on this host, and reads each file once.

    By leaf name in each ``lib_paths`` directory first (dyld's ``DYLD_LIBRARY_PATH`` rule, and the
    only source on a host that is not a Mac), then at each absolute path dyld would try, when
    ``use_host`` and this host has the file. Only Mach-O files count.
    """

    def __init__(self, lib_paths: Sequence[str], *, use_host: bool = True, root: str | None = None) -> None:
        self.lib_paths = tuple(lib_paths)
        self.use_host = use_host
        self.root = root  # absolute paths are looked up under this folder (a macOS SDK or a copied tree)
        self._read: dict[str, tuple[Binary, ...] | None] = {}

    def find(self, leaf: str, candidates: Sequence[str]) -> HostDylib | None:
        """The library named ``leaf`` that dyld would open at the first of ``candidates`` (absolute)."""
        for directory in self.lib_paths:
            path = os.path.join(directory, leaf)
            slices = self._slices(path)
            if slices:
                return HostDylib(candidates[0] if candidates else os.path.abspath(path), os.path.realpath(path), slices)
        if self.use_host:
            for candidate in candidates:
                on_host = os.path.join(self.root, candidate.lstrip("/")) if self.root else candidate
                slices = self._slices(on_host)
                if slices:
                    return HostDylib(candidate, os.path.realpath(on_host), slices)
        return None

    def _slices(self, path: str) -> tuple[Binary, ...]:
        if not os.path.isfile(path):
            return ()
        real = os.path.realpath(path)
        if real not in self._read:
            self._read[real] = _read_host_macho(real)
        return self._read[real] or ()


def _read_host_macho(path: str) -> tuple[Binary, ...] | None:
    """Every slice of the Mach-O at ``path`` (named by its path); None for any other file."""
    try:
        with open(path, "rb") as fh:
            if not is_macho(fh.read(8)):
                return None
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            return tuple(parse_macho(fh, path, size))
    except OSError:
        return None
    except MalformedBinary:
        return None


def locate(
    install_name: str,
    *,
    loader: str,
    executable: str | None,
    rpaths: Sequence[RpathEntry],
    installed: Mapping[str, str],
    is_system: Callable[[str], bool],
    finder: DylibFinder,
) -> DylibResolution:
    """:func:`resolve`, then, for a library from outside the wheel, where it is on this host (kind HOST)."""
    res = resolve(
        install_name, loader=loader, executable=executable, rpaths=rpaths, installed=installed, is_system=is_system
    )
    if res.kind != EXTERNAL:
        return res
    if install_name.startswith("@rpath/"):
        candidates = [c for c in res.searched if c.startswith("/")]
    else:
        target = expand(install_name, loader, executable)
        candidates = [target] if target is not None and target.startswith("/") else []
    found = finder.find(posixpath.basename(install_name), candidates)
    if found is None:
        return res
    return DylibResolution(install_name, HOST, None, res.searched, found)


@record(frozen=True)
class Link:
    """One load command of one slice and where it leads."""

    requester: str  # a wheel member, or the file of a library from outside
    arch: str
    install_name: str
    resolution: DylibResolution
    weak: bool

    @property
    def from_wheel(self) -> bool:
        return not os.path.isabs(self.requester)


@record
class DylibClosure:
    """Everything the wheel's Mach-O slices load from outside the wheel, transitively, per architecture."""

    libraries: dict[str, HostDylib] = field(default_factory=dict)  # file -> library, in discovery order
    arches: dict[str, set[str]] = field(default_factory=dict)  # file -> the architectures loaded from it
    links: list[Link] = field(default_factory=list)  # every load command walked
    excluded: list[Link] = field(default_factory=list)  # load commands left alone on request (not walked)

    def missing(self) -> list[Link]:
        """Load commands nothing satisfies: not in the wheel, not the system, not found on this host."""
        return [link for link in self.links if link.resolution.kind == EXTERNAL]

    def arch_missing(self) -> list[Link]:
        """Links to a found library that lacks the slice of the requester's architecture."""
        return [
            link
            for link in self.links
            if link.resolution.host is not None and link.resolution.host.slice(link.arch) is None
        ]


def resolve_closure(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    is_system: Callable[[str], bool],
    finder: DylibFinder,
    excluded: Callable[[str, HostDylib | None], bool] = lambda name, found: False,
) -> DylibClosure:
    """Walk every load command of the wheel's Mach-O slices and of the libraries they bring in.

    A library found on this host is entered with the arch of the slice that loads it; its
    ``@loader_path`` is where dyld would find it (:attr:`HostDylib.install_path`), its ``@rpath``
    search is its own LC_RPATHs then those of the chain that loaded it, and ``@executable_path``
    stays the one of the wheel image at the top of the chain (unknown under an extension).
    ``excluded(name, found)`` keeps a dependency from outside the wheel out (found or not): it is
    recorded, not walked; names in the wheel or the system are never asked about.
    """
    deps, rpaths_of = _wheel_fixpoint(binaries, installed, installed_paths, is_system)
    del deps
    out = DylibClosure()
    queue: list[tuple[str, Binary, str, str | None, list[RpathEntry]]] = []
    for b in binaries:
        loader = installed_paths.get(b.path, b.path)
        executable = loader if b.kind is BinaryKind.EXECUTABLE else None
        queue.append((b.path, b, loader, executable, rpaths_of[id(b)]))
    seen: set[tuple[str, str]] = set()
    while queue:
        requester, image, loader, executable, rpaths = queue.pop(0)
        for name, weak in [(n, False) for n in image.needed] + [(n, True) for n in image.weak_needed]:
            res = locate(
                name,
                loader=loader,
                executable=executable,
                rpaths=rpaths,
                installed=installed,
                is_system=is_system,
                finder=finder,
            )
            link = Link(requester, image.arch, name, res, weak)
            if res.kind in (HOST, EXTERNAL) and excluded(name, res.host):
                out.excluded.append(link)
                continue
            out.links.append(link)
            host = res.host
            if host is None:
                continue
            out.libraries.setdefault(host.file, host)
            child = host.slice(image.arch)
            if child is None or (host.file, image.arch) in seen:
                continue
            seen.add((host.file, image.arch))
            out.arches.setdefault(host.file, set()).add(image.arch)
            own = [RpathEntry(r, host.install_path) for r in child.rpath]
            queue.append((host.file, child, host.install_path, executable, own + [r for r in rpaths if r not in own]))
    return out
