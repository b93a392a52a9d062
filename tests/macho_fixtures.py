"""Real Mach-O files for the macOS repair tests, built here with zig (``ziglang`` from PyPI).

Three files per architecture, the shape of a wheel that needs grafting:

* ``libbar.dylib``: install id ``/opt/homebrew/opt/bar/lib/libbar.1.dylib``;
* ``libfoo.dylib``: install id ``/opt/homebrew/opt/foo/lib/libfoo.1.dylib``, links libbar by that
  absolute path and carries an LC_RPATH ``/opt/homebrew/lib``;
* ``ext.so``: a ``PyInit_ext`` extension (``-shared``; zig's linker takes no ``-bundle``) linking
  libfoo by its absolute path.

zig's linker signs arm64 output ad hoc ("linker-signed", 16 KiB pages) and leaves x86_64 output
unsigned, so the two architectures give the signer both kinds of input. :func:`fat` writes a
universal2 file with our own few lines of fat header (``llvm-lipo`` is not on CI).
"""

from __future__ import annotations

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


def have_zig() -> bool:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return False
    return True


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
    out = Fixtures(directory / "libbar.dylib", directory / "libfoo.dylib", directory / "ext.so")
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
    return out


def fat_bytes(slices: dict[str, bytes]) -> bytes:
    """A 32-bit fat (universal) file holding ``slices`` (arch -> thin Mach-O) in the given order."""
    header = struct.pack(">II", 0xCAFEBABE, len(slices))
    offset = 8 + 20 * len(slices)
    entries = b""
    body = b""
    for arch, data in slices.items():
        cputype, subtype, align = _FAT_ARCH[arch]
        start = -(-offset // (1 << align)) * (1 << align)
        body += b"\0" * (start - offset) + data
        entries += struct.pack(">iiIII", cputype, subtype, start, len(data), align)
        offset = start + len(data)
    return header + entries + body


def fat(directory: Path, x86: Fixtures, arm: Fixtures) -> Fixtures:
    """universal2 versions (x86_64 first, as lipo orders them) of each of the three files."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("bar", "foo", "ext"):
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


def otool() -> str | None:
    """``llvm-otool`` (Debian's llvm package) when installed: an independent reader of load commands."""
    for name in ("llvm-otool", "llvm-otool-19", "llvm-otool-16", "llvm-otool-15", "llvm-otool-14"):
        found = shutil.which(name)
        if found:
            return found
    return None
