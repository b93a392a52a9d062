"""Where the dynamic loader would find a needed library, as far as the wheel itself can tell.

``show`` needs no host libraries: a DT_NEEDED name is *in the wheel* when the loader,
loading the wheel's binaries as an installed package, would map a member of the wheel
for it. Anything else is *outside* and judged by policy (allowed system library or
external). To get that right the loading is simulated, one process per root (an
extension module or program, loaded by path), breadth first as both loaders do.

Search order for a DT_NEEDED name without a slash, requested by object R
(the steps that depend on the host — LD_LIBRARY_PATH, ld.so.cache, default
directories, the interpreter's own rpath — can never point into the wheel and are
left out):

glibc (``elf/dl-load.c: _dl_map_object``, ``elf/get-dynamic-info.h``)
  0. an object already loaded whose name list holds the name: the names it was
     requested by, and its DT_SONAME (``_dl_name_match_p`` / the SONAME comparison
     before any search);
  1. if R has no DT_RUNPATH: the DT_RPATH of R, then of the object that loaded R,
     and so on up the chain of loaders (DT_RPATH is inherited);
  2. the DT_RUNPATH of R alone (never inherited).
  An object that has DT_RUNPATH has no DT_RPATH at all ("If both RUNPATH and RPATH
  are given, the latter is ignored"), so it adds nothing to the inherited chain.

musl (``ldso/dynlink.c: load_library``, ``decode_dyn``)
  0. an object already loaded whose *short name* (the file name it was found under
     by a search) equals the name; musl never compares DT_SONAME;
  1. for R, then the object that first needed R, and on up: that object's DT_RUNPATH
     if it has one, else its DT_RPATH (musl keeps one of the two and inherits it
     either way).

``$ORIGIN`` in an entry is the directory of the object that carries the entry, not
of R. Relative entries (no ``$ORIGIN``) depend on the working directory and are never
taken as pointing into the wheel; ``$LIB`` and ``$PLATFORM`` depend on the host.
A member found by a search that is an ELF of another architecture is skipped, as
the loaders skip files of the wrong class or machine.

A needed name counts as in the wheel only when it is found in *every* process that
loads the requester: the import order of a package's modules is not known, so a
library that works only when another module happened to be imported first is not
portable.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from .._typing import TYPE_CHECKING
from ..binary.model import Binary, BinaryKind
from ..record import field, record

if TYPE_CHECKING:
    from typing import Literal

    #: Which loader's rules to apply.
    Loader = Literal["glibc", "musl"]

LOADER_PREFIXES = ("ld-linux", "ld64.so", "ld-musl-", "ld.so")

#: libpython in any spelling: versioned, debug/pymalloc/free-threaded flags, the stable-ABI libpython3.so.
#: A need for it comes from the interpreter (or not at all): the Python-ABI rules judge it, not a policy.
LIBPYTHON = re.compile(r"^libpython3(\.\d+)?[dmut]*\.so(\.\d+)*$")


def loader_of(family: str | None) -> Loader:
    """The loader whose search rules apply: musl's for musllinux binaries, glibc's otherwise."""
    return "musl" if family == "musllinux" else "glibc"


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


def origin_entry(binary_path: str, folder: str) -> str:
    """The rpath entry by which a binary installed at ``binary_path`` finds libraries in ``folder``
    (both inside the wheel): the inverse of :func:`expand_origin`."""
    relative = posixpath.relpath(folder or ".", posixpath.dirname(binary_path) or ".")
    return "$ORIGIN" if relative == "." else f"$ORIGIN/{relative}"


def _wheel_dirs(entries: Iterable[str], installed_path: str) -> list[str]:
    return list(dict.fromkeys(d for d, _ in _wheel_entries(entries, installed_path)))


def _wheel_entries(entries: Iterable[str], installed_path: str) -> list[tuple[str, str]]:
    """(directory inside the wheel, the entry that names it) for each entry that points into the wheel."""
    out = []
    for entry in entries:
        expanded = expand_origin(entry, installed_path)
        if expanded is not None:
            out.append((expanded, entry))
    return out


def search_dirs(binary: Binary, installed_path: str) -> list[str]:
    """The wheel directories the binary's own DT_RUNPATH, or else DT_RPATH, names (no inheritance)."""
    return _wheel_dirs(binary.runpath if binary.runpath else binary.rpath, installed_path)


def find_in_wheel(binary: Binary, soname: str, installed: Mapping[str, str], origin: str) -> str | None:
    """The member found for ``soname`` through the binary's own search path only.

    For loaders that inherit nothing (Android's linker); Linux wheels go through
    :func:`link`. ``installed`` maps each member's path after installation to the
    member name; ``origin`` is the binary's own installed path.
    """
    if "/" in soname:  # a DT_NEEDED with a slash is a path, relative to the working directory: never portable
        return None
    for directory in search_dirs(binary, origin):
        candidate = f"{directory}/{soname}" if directory else soname
        if candidate in installed:
            return installed[candidate]
    return None


@record(frozen=True)
class Linkage:
    """Where the loader finds each binary's needed libraries inside the wheel."""

    found: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> {needed name -> member}
    outside: dict[str, tuple[str, ...]] = field(default_factory=dict)  # member -> needed names not in the wheel
    #: root -> member -> {needed name -> the search-path entry that found it in that root's process,
    #: e.g. "RPATH $ORIGIN/../x.libs of ext.so"}; absent when a library already loaded answered the name
    via: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def outside_of(self, binary: Binary) -> tuple[str, ...]:
        return self.outside.get(binary.path, ())


@record
class _Process:
    """One simulated process: a root loaded by path and everything it pulls in."""

    loaded_by: dict[str, str | None]  # member -> the member that loaded it (None for the root)
    names: dict[str, str]  # a name the loader answers without searching -> member


def link(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    loader: Loader,
    foreign: Iterable[str] = (),
) -> Linkage:
    """Resolve every DT_NEEDED of ``binaries`` (ELF, one architecture) inside the wheel as ``loader`` would.

    ``installed`` maps installed path -> member; ``installed_paths`` maps member ->
    installed path (what ``$ORIGIN`` is relative to); ``foreign`` names the members
    that are ELF files of another class or machine, which a search passes over.
    """
    by_member = {b.path: b for b in binaries}
    skipped = frozenset(foreign)
    found: dict[str, dict[str, str]] = {b.path: {} for b in binaries}
    via: dict[str, dict[str, dict[str, str]]] = {}
    missing: dict[str, dict[str, None]] = {b.path: {} for b in binaries}  # ordered sets
    reached: set[str] = set()

    def run(root: Binary) -> None:
        process = _Process({root.path: None}, {})
        if loader == "glibc" and root.own_name:
            process.names[root.own_name] = root.path
        found_via = via.setdefault(root.path, {})
        queue = deque([root])
        while queue:
            obj = queue.popleft()
            reached.add(obj.path)
            dirs: list[tuple[str, str]] | None = None  # its search path: fixed once it is loaded
            for name in obj.needed:
                if is_dynamic_loader(name):
                    continue
                hit = process.names.get(name)
                if hit is None:
                    if dirs is None:
                        dirs = _chain_dirs(obj, process, by_member, installed_paths, loader)
                    searched = _search(name, dirs, installed, skipped)
                    if searched is not None:
                        hit, how = searched
                        found_via.setdefault(obj.path, {}).setdefault(name, how)
                        process.names[name] = hit
                        if hit not in process.loaded_by:
                            process.loaded_by[hit] = obj.path
                            child = by_member.get(hit)
                            if child is not None:
                                if loader == "glibc" and child.own_name:
                                    process.names.setdefault(child.own_name, hit)
                                queue.append(child)
                if hit is None:
                    missing[obj.path][name] = None
                else:
                    found[obj.path].setdefault(name, hit)

    roots = [b for b in binaries if b.kind in (BinaryKind.EXTENSION, BinaryKind.EXECUTABLE)]
    for root in roots:
        run(root)
    for binary in binaries:  # libraries nothing in the wheel loads: opened by path (ctypes, cffi)
        if binary.path not in reached:
            run(binary)
    outside = {path: tuple(names) for path, names in missing.items() if names}
    for path, names in outside.items():  # found in one process but not in another: not portable
        for name in names:
            found[path].pop(name, None)
            for per_root in via.values():
                per_root.get(path, {}).pop(name, None)
    return Linkage(found, outside, via)


def link_wheel(
    elves: Sequence[Binary],
    arch: str,
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    loader: Loader,
) -> Linkage:
    """Where ``loader`` finds the needs of the wheel's ``arch`` ELF binaries inside the wheel.

    ``elves`` are all the wheel's loadable ELF files; those of another architecture are
    passed over by every search (:func:`link`'s ``foreign``), as the loaders skip them.
    A name left in :attr:`Linkage.outside` comes from the system (the policy judges it),
    the interpreter (:data:`LIBPYTHON`), the dynamic loader itself, or nowhere.
    """
    ours = [b for b in elves if b.arch == arch]
    foreign = [b.path for b in elves if b.arch != arch]
    return link(ours, installed, installed_paths, loader, foreign)


#: Where an Android dependency comes from (see :func:`resolve_android`).
SYSTEM, PYTHON, LOADER, IN_WHEEL, EXTERNAL = "system", "python", "loader", "wheel", "external"


@record(frozen=True)
class SonameDependency:
    """One DT_NEEDED of one binary and where the loader finds it (``member`` when in the wheel)."""

    binary: Binary
    soname: str
    kind: str  # SYSTEM / PYTHON / LOADER / IN_WHEEL / EXTERNAL
    member: str | None = None


def resolve_android(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    system: frozenset[str],
    libpython: re.Pattern[str],
) -> list[SonameDependency]:
    """Where Android's linker finds every DT_NEEDED of ``binaries``, in binary then DT_NEEDED order.

    ``system`` are the libraries the OS guarantees at the wheel's API level, ``libpython`` matches
    the interpreter's library (the app embeds it). Android's linker (bionic ``linker``) searches
    the requester's own DT_RUNPATH (or DT_RPATH) only, nothing inherited (:func:`find_in_wheel`).
    A name that is both a guaranteed system library and a wheel member is labelled SYSTEM;
    either way it is not external.
    """
    out: list[SonameDependency] = []
    for b in binaries:
        origin = installed_paths.get(b.path, b.path)
        for soname in b.needed:
            if soname in system:
                out.append(SonameDependency(b, soname, SYSTEM))
            elif libpython.match(soname):
                out.append(SonameDependency(b, soname, PYTHON))
            elif is_dynamic_loader(soname):
                out.append(SonameDependency(b, soname, LOADER))
            elif (member := find_in_wheel(b, soname, installed, origin)) is not None:
                out.append(SonameDependency(b, soname, IN_WHEEL, member))
            else:
                out.append(SonameDependency(b, soname, EXTERNAL))
    return out


def _search(
    name: str, dirs: list[tuple[str, str]], installed: Mapping[str, str], skipped: frozenset[str]
) -> tuple[str, str] | None:
    """The member the search of ``dirs`` (:func:`_chain_dirs`) finds for ``name``, and the entry that led to it."""
    if "/" in name:  # a path, relative to the working directory: never portable
        return None
    for directory, how in dirs:
        member = installed.get(f"{directory}/{name}" if directory else name)
        if member is not None and member not in skipped:
            return member, how
    return None


def _chain_dirs(
    requester: Binary,
    process: _Process,
    by_member: Mapping[str, Binary],
    installed_paths: Mapping[str, str],
    loader: Loader,
) -> list[tuple[str, str]]:
    """The wheel directories searched for ``requester``'s needs, in the loader's order, each with
    the entry that names it (``"RPATH $ORIGIN/../x.libs"``, ``" of <member>"`` when inherited)."""

    def origin(binary: Binary) -> str:
        return installed_paths.get(binary.path, binary.path)

    def named(obj: Binary, tag: str, entries: Iterable[str]) -> list[tuple[str, str]]:
        by = "" if obj is requester else f" of {obj.path}"
        return [(d, f"{tag} {entry}{by}") for d, entry in _wheel_entries(entries, origin(obj))]

    dirs: list[tuple[str, str]] = []
    if loader == "musl" or not requester.runpath:
        member: str | None = requester.path
        while member is not None:
            obj = by_member[member]
            if loader == "musl":
                dirs += named(obj, "RUNPATH" if obj.runpath else "RPATH", obj.runpath or obj.rpath)
            elif not obj.runpath:
                dirs += named(obj, "RPATH", obj.rpath)
            member = process.loaded_by.get(member)
    if loader == "glibc":
        dirs += named(requester, "RUNPATH", requester.runpath)
    first: dict[str, str] = {}  # a directory searched twice is found by its first entry
    for directory, how in dirs:
        first.setdefault(directory, how)
    return list(first.items())
