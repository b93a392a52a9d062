"""Finding a needed library on the build host (or in a sysroot) the way the dynamic loader would.

glibc's ld.so searches, for each DT_NEEDED name of an object: the object's
DT_RPATH and then its loaders' DT_RPATH (only when the object has no DT_RUNPATH),
``LD_LIBRARY_PATH``, the object's DT_RUNPATH, the ld.so cache (built from
``/etc/ld.so.conf`` and its includes), then the trusted default directories.
musl reads ``/etc/ld-musl-<arch>.path`` instead of ld.so.conf. A candidate counts
only when its ELF class, byte order, machine and OS ABI match the binary asking.

Repair needs this (``show`` never does). Every library file is parsed at most once
per :class:`HostResolver`, however many binaries need it.
"""

from __future__ import annotations

import glob
import mmap
import os
import posixpath
import struct
from collections import deque
from collections.abc import Iterable, Sequence

from ..binary.elf import ELF_MAGIC, parse_elf
from ..binary.model import Binary
from ..errors import MalformedBinary
from ..record import field, record

#: Debian/Ubuntu multiarch triplets per wheel arch (glibc); the loader's default dirs include them.
MULTIARCH = {
    "x86_64": "x86_64-linux-gnu",
    "i686": "i386-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
    "armv7l": "arm-linux-gnueabihf",
    "ppc64le": "powerpc64le-linux-gnu",
    "ppc64": "powerpc64-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "riscv64": "riscv64-linux-gnu",
    "loongarch64": "loongarch64-linux-gnu",
}
#: The arch part of musl's loader name (ld-musl-<arch>.so.1) and path file.
MUSL_ARCH = {
    "x86_64": "x86_64",
    "i686": "i386",
    "aarch64": "aarch64",
    "armv7l": "armhf",
    "ppc64le": "powerpc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}
_COMPATIBLE_OSABI = {0, 3}  # SYSV, GNU/Linux
MAX_SYMLINKS = 40


@record(frozen=True)
class ElfIdentity:
    """What must match between a binary and a library for the loader to accept it."""

    elf_class: int
    data: int
    machine: int
    osabi: int

    @classmethod
    def read(cls, head: bytes) -> ElfIdentity | None:
        if len(head) < 20 or head[:4] != ELF_MAGIC or head[5] not in (1, 2):
            return None
        machine = struct.unpack_from("<H" if head[5] == 1 else ">H", head, 18)[0]
        return cls(head[4], head[5], machine, head[7])

    def accepts(self, other: ElfIdentity) -> bool:
        osabi_ok = other.osabi == self.osabi or (other.osabi in _COMPATIBLE_OSABI and self.osabi in _COMPATIBLE_OSABI)
        return (self.elf_class, self.data, self.machine) == (other.elf_class, other.data, other.machine) and osabi_ok


@record(frozen=True)
class HostLibrary:
    """A library file found on the host: where, what it is, and the parsed record."""

    soname: str  # the DT_NEEDED name it was found for
    path: str  # the path the loader would open, loader view (without the sysroot)
    realpath: str  # the file on this machine with symlinks resolved: what gets copied
    binary: Binary

    @property
    def origin(self) -> str:
        """What ``$ORIGIN`` stands for in this library: the directory it was opened from."""
        return posixpath.dirname(self.path)


@record
class HostResolver:
    """The loader's search on this host (or under ``sysroot``) for binaries of one ELF identity."""

    identity: ElfIdentity
    arch: str
    libc: str = "glibc"  # "glibc" or "musl"
    sysroot: str | None = None
    lib_paths: Sequence[str] = ()  # --lib-path, searched before everything but the binary's own RPATH
    environ_paths: Sequence[str] | None = None  # LD_LIBRARY_PATH; None reads the environment
    _parsed: dict[str, Binary | None] = field(default_factory=dict, repr=False)
    _found: dict[tuple[str, tuple[str, ...]], HostLibrary | None] = field(default_factory=dict, repr=False)
    _default: tuple[str, ...] | None = field(default=None, repr=False)
    parse_count: int = 0

    # -- search paths ---------------------------------------------------------------

    def env_paths(self) -> list[str]:
        if self.environ_paths is not None:
            return list(self.environ_paths)
        if self.sysroot:  # the host's LD_LIBRARY_PATH says nothing about a sysroot
            return []
        return [p for p in os.environ.get("LD_LIBRARY_PATH", "").replace(";", ":").split(":") if p]

    def default_paths(self) -> tuple[str, ...]:
        """ld.so.conf (glibc) or ld-musl-<arch>.path (musl), then the built-in directories."""
        if self._default is None:
            dirs: list[str] = []
            if self.libc == "musl":
                musl = MUSL_ARCH.get(self.arch, self.arch)
                path_file = self._host(f"/etc/ld-musl-{musl}.path")
                try:
                    with open(path_file, encoding="utf-8", errors="replace") as fh:
                        dirs += [d for line in fh for d in line.replace(":", "\n").split() if d]
                except OSError:
                    dirs += ["/lib", "/usr/local/lib", "/usr/lib"]
            else:
                dirs += self._ld_so_conf("/etc/ld.so.conf", depth=0)
                triplet = MULTIARCH.get(self.arch)
                if triplet:
                    dirs += [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
                if self.identity.elf_class == 2:
                    dirs += ["/lib64", "/usr/lib64"]
                dirs += ["/lib", "/usr/lib"]
            self._default = tuple(dict.fromkeys(posixpath.normpath(d) for d in dirs if d.startswith("/")))
        return self._default

    def _ld_so_conf(self, conf: str, depth: int) -> list[str]:
        """Directories listed in an ld.so.conf file, following ``include`` globs (relative to the file)."""
        if depth > 8:
            return []
        try:
            with open(self._host(conf), encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return []
        dirs: list[str] = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include") and line[7:8].isspace():
                for pattern in line[7:].split():
                    if not pattern.startswith("/"):
                        pattern = posixpath.join(posixpath.dirname(conf), pattern)
                    for match in sorted(glob.glob(self._host(pattern))):
                        dirs += self._ld_so_conf(self._unhost(match), depth + 1)
            elif line.startswith("hwcap"):
                continue
            else:
                dirs += [d for d in line.replace(":", " ").replace(",", " ").split() if d]
        return dirs

    def _host(self, path: str) -> str:
        """A loader-view absolute path as a path on this machine (under the sysroot if one is set)."""
        if not self.sysroot:
            return path
        return os.path.join(self.sysroot, path.lstrip("/"))

    def _unhost(self, path: str) -> str:
        if not self.sysroot:
            return path
        rel = os.path.relpath(path, self.sysroot)
        return "/" + rel.replace(os.sep, "/")

    # -- lookup ----------------------------------------------------------------------

    def search_dirs(self, binary: Binary, origin_dir: str | None, loader_rpaths: Sequence[str] = ()) -> list[str]:
        """Directories (loader view) searched for ``binary``'s DT_NEEDED entries, in order.

        ``origin_dir`` is the binary's own directory in loader view, or None for a wheel
        member (its ``$ORIGIN`` entries point inside the wheel, which the wheel resolver
        handles). ``loader_rpaths`` are the already-expanded DT_RPATH entries of the
        objects that loaded this one (glibc applies them when the object has no RUNPATH).
        """
        dirs: list[str] = []
        if not binary.runpath:
            dirs += self._expand(binary.rpath, origin_dir)
            dirs += loader_rpaths
        dirs += self.lib_paths
        dirs += self.env_paths()
        dirs += self._expand(binary.runpath, origin_dir)
        dirs += self.default_paths()
        return list(dict.fromkeys(d for d in dirs if d))

    def expanded_rpath(self, binary: Binary, origin_dir: str | None) -> list[str]:
        """The binary's DT_RPATH as its dependents inherit it (empty when it has DT_RUNPATH)."""
        return [] if binary.runpath else self._expand(binary.rpath, origin_dir)

    def _expand(self, entries: Iterable[str], origin_dir: str | None) -> list[str]:
        lib = "lib64" if self.identity.elf_class == 2 else "lib"
        out = []
        for entry in entries:
            if "$ORIGIN" in entry or "${ORIGIN}" in entry:
                if origin_dir is None:
                    continue
                entry = entry.replace("${ORIGIN}", origin_dir).replace("$ORIGIN", origin_dir)
            entry = entry.replace("${LIB}", lib).replace("$LIB", lib)
            if "$" in entry or not entry.startswith("/"):
                continue  # $PLATFORM or a relative entry: depends on the machine or the working directory
            out.append(posixpath.normpath(entry))
        return out

    def find(self, soname: str, dirs: Sequence[str]) -> HostLibrary | None:
        """The first library named ``soname`` in ``dirs`` that this identity can load."""
        key = (soname, tuple(dirs))
        if key in self._found:
            return self._found[key]
        found = None
        if "/" not in soname:
            for directory in dirs:
                candidate = posixpath.join(directory, soname)
                real = self.realpath(candidate)
                if real is None:
                    continue
                binary = self.parse(real)
                if binary is not None:
                    found = HostLibrary(soname, candidate, real, binary)
                    break
        self._found[key] = found
        return found

    def realpath(self, path: str) -> str | None:
        """The regular file a loader-view path leads to (as a host path), symlinks resolved inside the sysroot."""
        if not self.sysroot:
            return os.path.realpath(path) if os.path.isfile(path) else None
        parts = deque(path.split("/"))
        resolved = "/"
        links = 0
        while parts:
            part = parts.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = posixpath.join(resolved, part)
            host = self._host(candidate)
            if os.path.islink(host):
                links += 1
                if links > MAX_SYMLINKS:
                    return None
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = "/"
                parts.extendleft(reversed(target.split("/")))
                continue
            resolved = candidate
        host = self._host(resolved)
        return host if os.path.isfile(host) else None

    def parse(self, real: str) -> Binary | None:
        """The parsed library at host path ``real`` if it is a loadable ELF of our identity (cached)."""
        if real in self._parsed:
            return self._parsed[real]
        binary = None
        try:
            with open(real, "rb") as fh:
                head = fh.read(64)
                ident = ElfIdentity.read(head)
                if ident is not None and self.identity.accepts(ident):
                    size = os.fstat(fh.fileno()).st_size
                    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                        self.parse_count += 1
                        binary = parse_elf(lambda off, n: mm[off : off + n], real, size, sample_code=False)
        except (OSError, ValueError, EOFError, MalformedBinary):
            binary = None
        self._parsed[real] = binary
        return binary
