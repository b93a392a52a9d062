"""Real Mach-O files for the macOS repair tests, built here with zig (``ziglang`` from PyPI).

Three files per architecture, the shape of a wheel that needs grafting:

* ``libbar.dylib``: install id ``/opt/homebrew/opt/bar/lib/libbar.1.dylib``;
* ``libfoo.dylib``: install id ``/opt/homebrew/opt/foo/lib/libfoo.1.dylib``, links libbar by that
  absolute path and carries an LC_RPATH ``/opt/homebrew/lib``;
* ``ext.so``: a ``PyInit_ext`` extension (``-shared``; zig's linker takes no ``-bundle``) linking
  libfoo by its absolute path;
* ``libweak.dylib``: libfoo's code linking libbar weakly (LC_LOAD_WEAK_DYLIB). zig's linker has
  no ``-reexport-l`` or ``-upward-l``; tests make those commands by retyping a load (same layout).

zig's linker signs arm64 output ad hoc ("linker-signed", 16 KiB pages) and leaves x86_64 output
unsigned, so the two architectures give the signer both kinds of input. :func:`fat` writes a
universal2 file with our own few lines of fat header (``llvm-lipo`` is not on CI).
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TARGETS = {"arm64": "aarch64-macos.11.0", "x86_64": "x86_64-macos.10.12"}
BAR_ID = "/opt/homebrew/opt/bar/lib/libbar.1.dylib"
FOO_ID = "/opt/homebrew/opt/foo/lib/libfoo.1.dylib"
FOO_RPATH = "/opt/homebrew/lib"

_SOURCES = {
    "bar.c": "int bar(int x) { return x + 1; }\n",
    "foo.c": "int bar(int);\nint foo(int x) { return bar(x) * 2; }\n",
    "ext.c": "int foo(int);\nvoid *PyInit_ext(void) { return (void *)(long)foo(3); }\n",
}
# (cputype, cpusubtype, log2 alignment) as lipo writes them for the two macOS architectures
_FAT_ARCH = {"x86_64": (0x01000007, 3, 12), "arm64": (0x0100000C, 0, 14)}


@dataclass(frozen=True)
class Fixtures:
    """Paths of the three files for one architecture (or the fat versions)."""

    bar: Path
    foo: Path
    ext: Path
    weak: Path


def have_zig() -> bool:
    return importlib.util.find_spec("ziglang") is not None


def require_zig() -> None:
    if not have_zig():
        pytest.skip("ziglang is not installed (pip install ziglang; it is in the test extra)")


def _cc(target: str, out: Path, source: Path, *args: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        target,
        "-O2",
        "-shared",
        "-o",
        str(out),
        str(source),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed: {' '.join(cmd)}\n{proc.stderr}")


def build(directory: Path, arch: str) -> Fixtures:
    """Build libbar, libfoo and ext.so for ``arch`` ("arm64" or "x86_64") in ``directory``."""
    require_zig()
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in _SOURCES.items():
        (directory / name).write_text(text)
    target = TARGETS[arch]
    out = Fixtures(
        directory / "libbar.dylib", directory / "libfoo.dylib", directory / "ext.so", directory / "libweak.dylib"
    )
    _cc(target, out.bar, directory / "bar.c", f"-Wl,-install_name,{BAR_ID}")
    _cc(
        target,
        out.foo,
        directory / "foo.c",
        f"-L{directory}",
        "-lbar",
        f"-Wl,-install_name,{FOO_ID}",
        f"-Wl,-rpath,{FOO_RPATH}",
    )
    _cc(target, out.ext, directory / "ext.c", f"-L{directory}", "-lfoo", "-Wl,-install_name,ext.so")
    _cc(
        target,
        out.weak,
        directory / "foo.c",
        f"-L{directory}",
        "-Wl,-weak-lbar",
        "-Wl,-install_name,@rpath/libweak.dylib",
    )
    return out


def fat_bytes(slices: dict[str, bytes], *, fat64: bool = False) -> bytes:
    """A fat (universal) file holding ``slices`` (arch -> thin Mach-O) in the given order;
    ``fat64`` writes the 64-bit ``fat_arch_64`` records (magic 0xcafebabf) instead."""
    header = struct.pack(">II", 0xCAFEBABF if fat64 else 0xCAFEBABE, len(slices))
    offset = 8 + (32 if fat64 else 20) * len(slices)
    entries = b""
    body = b""
    for arch, data in slices.items():
        cputype, subtype, align = _FAT_ARCH[arch]
        start = -(-offset // (1 << align)) * (1 << align)
        body += b"\0" * (start - offset) + data
        if fat64:
            entries += struct.pack(">iiQQII", cputype, subtype, start, len(data), align, 0)
        else:
            entries += struct.pack(">iiIII", cputype, subtype, start, len(data), align)
        offset = start + len(data)
    return header + entries + body


def fat(directory: Path, x86: Fixtures, arm: Fixtures) -> Fixtures:
    """universal2 versions (x86_64 first, as lipo orders them) of each of the three files."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("bar", "foo", "ext", "weak"):
        a: Path = getattr(x86, name)
        b: Path = getattr(arm, name)
        target = directory / a.name
        target.write_bytes(fat_bytes({"x86_64": a.read_bytes(), "arm64": b.read_bytes()}))
        paths.append(target)
    return Fixtures(*paths)


def build_all(directory: Path) -> dict[str, Fixtures]:
    """{"arm64", "x86_64", "universal2"} -> the three fixture files."""
    arm = build(directory / "arm64", "arm64")
    x86 = build(directory / "x86_64", "x86_64")
    return {"arm64": arm, "x86_64": x86, "universal2": fat(directory / "universal2", x86, arm)}


@dataclass(frozen=True)
class View:
    """What an independent reader says about one slice: install id, dylib loads in order, rpaths."""

    arch: str
    install_id: str | None
    loads: tuple[str, ...]
    rpaths: tuple[str, ...]
    cmdsizes: tuple[int, ...] = ()


def llvm_objdump() -> str | None:
    """``llvm-objdump`` from Debian's llvm package, when installed (``llvm-otool`` is a wrapper of it
    that ignores ``-arch`` on fat files, so the objdump spelling is used)."""
    for name in ("llvm-objdump", "llvm-objdump-19", "llvm-objdump-16", "llvm-objdump-15", "llvm-objdump-14"):
        found = shutil.which(name)
        if found:
            return found
    return None


_DYLIB_CMDS = {"LC_LOAD_DYLIB", "LC_LOAD_WEAK_DYLIB", "LC_REEXPORT_DYLIB", "LC_LOAD_UPWARD_DYLIB", "LC_LAZY_LOAD_DYLIB"}


def read_objdump(tool: str, path: Path, arch: str) -> View:
    out = subprocess.run(
        [tool, "--macho", "--private-headers", f"--arch={arch}", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    install_id: str | None = None
    loads: list[str] = []
    rpaths: list[str] = []
    sizes: list[int] = []
    cmd = ""
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "cmd":
            cmd = words[1]
        elif len(words) >= 2 and words[0] == "cmdsize":
            sizes.append(int(words[1]))
        elif len(words) >= 2 and words[0] in ("name", "path") and "(offset" in line:
            value = line.split(None, 1)[1].rsplit(" (offset", 1)[0]
            if cmd == "LC_ID_DYLIB":
                install_id = value
            elif cmd in _DYLIB_CMDS:
                loads.append(value)
            elif cmd == "LC_RPATH":
                rpaths.append(value)
    return View(arch, install_id, tuple(loads), tuple(rpaths), tuple(sizes))


def read_lief(path: Path) -> list[View]:
    import lief

    lief.logging.disable()
    fat = lief.MachO.parse(str(path))
    assert fat is not None
    views = []
    for index in range(fat.size):
        binary = fat.at(index)
        assert binary is not None
        install_id = None
        loads = []
        for library in binary.libraries:
            if library.command == lief.MachO.LoadCommand.TYPE.ID_DYLIB:
                install_id = library.name
            else:
                loads.append(library.name)
        arch = {"X86_64": "x86_64", "ARM64": "arm64"}[str(binary.header.cpu_type).rsplit(".", 1)[-1]]
        rpaths = tuple(r.path for r in binary.rpaths)
        views.append(View(arch, install_id, tuple(loads), rpaths, tuple(c.size for c in binary.commands)))
    return views


def read_macholib(path: Path) -> list[View]:
    from macholib import mach_o
    from macholib.MachO import MachO

    loads_cmds = {
        mach_o.LC_LOAD_DYLIB,
        mach_o.LC_LOAD_WEAK_DYLIB,
        mach_o.LC_REEXPORT_DYLIB,
        mach_o.LC_LOAD_UPWARD_DYLIB,
        mach_o.LC_LAZY_LOAD_DYLIB,
    }
    views = []
    for header in MachO(str(path)).headers:
        install_id = None
        loads = []
        rpaths = []
        for lc, _cmd, data in header.commands:
            text = data.rstrip(b"\0").decode() if isinstance(data, bytes) else None
            if lc.cmd == mach_o.LC_ID_DYLIB:
                install_id = text
            elif lc.cmd in loads_cmds and text is not None:
                loads.append(text)
            elif lc.cmd == mach_o.LC_RPATH and text is not None:
                rpaths.append(text)
        arch = {0x01000007: "x86_64", 0x0100000C: "arm64"}[header.header.cputype & 0xFFFFFFFF]
        sizes = tuple(lc.cmdsize for lc, _c, _d in header.commands)
        views.append(View(arch, install_id, tuple(loads), tuple(rpaths), sizes))
    return views


_BUILT: dict[str, Fixtures] = {}


def built(tmp_root: Path) -> dict[str, Fixtures]:
    """:func:`build_all` once per test process (both test modules share it), under ``tmp_root``."""
    if not _BUILT:
        _BUILT.update(build_all(tmp_root / "macho-fixtures"))
    return _BUILT
