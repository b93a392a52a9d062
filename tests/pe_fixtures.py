"""Real PE files for the Windows repair tests, built here with zig (``ziglang`` from PyPI).

Per architecture (x86, x86_64, arm64; zig's ``*-windows-gnu`` targets, mingw-w64 CRT):

* ``bar.dll`` exports ``bar_value`` (42);
* ``foo.dll`` imports ``bar.dll`` and exports ``foo_value`` (bar + 1);
* ``ext.pyd`` imports ``foo.dll`` (regular import) and exports ``PyInit_ext`` and ``ext_value``
  (foo * 2 = 86);
* ``ext_delay.pyd``: the same with ``foo.dll`` delay-loaded. ``zig cc`` passes no
  ``/delayload`` to its linker, so the link line zig would run (``--verbose-link``) is run
  again through ``zig lld-link`` with ``-DELAYLOAD:foo.dll`` added; mingw-w64's
  ``__delayLoadHelper2`` comes with zig's CRT.
* ``loader.exe`` (x86_64 only): what CPython does for an extension module —
  ``SetDefaultDllDirectories(LOAD_LIBRARY_SEARCH_DEFAULT_DIRS)``, ``AddDllDirectory(argv[1])``,
  ``LoadLibraryExW(argv[2], NULL, LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | ..._DLL_LOAD_DIR)`` — then
  calls ``ext_value`` and prints it.

Builds are cached per session under a temporary folder; zig's own cache (``~/.cache/zig``)
keeps the CRT between runs (the first build of a target compiles mingw-w64: about a minute).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

TARGETS = {"x86_64": "x86_64-windows-gnu", "x86": "x86-windows-gnu", "arm64": "aarch64-windows-gnu"}
MACHINES = {"x86_64": 0x8664, "x86": 0x14C, "arm64": 0xAA64}
EXT_VALUE = 86

_SOURCES = {
    "bar.c": "__declspec(dllexport) int bar_value(void) { return 42; }\n",
    "foo.c": (
        "__declspec(dllimport) int bar_value(void);\n"
        "__declspec(dllexport) int foo_value(void) { return bar_value() + 1; }\n"
    ),
    "ext.c": (
        "__declspec(dllimport) int foo_value(void);\n"
        "__declspec(dllexport) void *PyInit_ext(void) { return 0; }\n"
        "__declspec(dllexport) int ext_value(void) { return foo_value() * 2; }\n"
    ),
    "loader.c": r"""
#include <windows.h>
#include <stdio.h>
int wmain(int argc, wchar_t **argv) {
    if (argc != 3) { fprintf(stderr, "usage: loader LIBDIR MODULE\n"); return 2; }
    if (!SetDefaultDllDirectories(LOAD_LIBRARY_SEARCH_DEFAULT_DIRS)) {
        printf("SetDefaultDllDirectories %lu\n", GetLastError()); return 3;
    }
    if (!AddDllDirectory(argv[1])) { printf("AddDllDirectory %lu\n", GetLastError()); return 4; }
    HMODULE module = LoadLibraryExW(argv[2], NULL,
        LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR);
    if (!module) { printf("LoadLibraryExW failed %lu\n", GetLastError()); return 5; }
    int (*value)(void) = (int (*)(void))GetProcAddress(module, "ext_value");
    if (!value) { printf("GetProcAddress failed %lu\n", GetLastError()); return 6; }
    printf("ext_value=%d\n", value());
    return 0;
}
""",
}


@dataclass(frozen=True)
class PeFixtures:
    """Paths of the files built for one architecture."""

    arch: str
    bar: Path
    foo: Path
    ext: Path
    ext_delay: Path
    loader: Path | None


def have_zig() -> bool:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return False
    return True


def require_zig() -> None:
    if not have_zig():
        pytest.skip("ziglang is not installed (pip install ziglang; it is in the test extra)")


def _zig(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ziglang", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode:
        raise RuntimeError(f"zig {' '.join(args)} failed:\n{result.stderr}")
    return result.stderr


def _cc(target: str, out: str, *inputs: str, cwd: Path) -> None:
    # -O2 -s: small files, no DWARF sections, so tests copy little; the CRT stays linked as in real DLLs.
    _zig("cc", "-target", target, "-O2", "-s", "-shared", "-o", out, *inputs, f"-Wl,--out-implib,{out}.lib", cwd=cwd)


def _delay_linked(target: str, out: str, source: str, implib: str, dll: str, cwd: Path) -> None:
    """Link ``source`` against ``implib`` with ``dll`` delay-loaded, via zig's own lld-link line."""
    obj = source.replace(".c", ".obj")
    _zig("cc", "-target", target, "-O2", "-c", "-o", obj, source, cwd=cwd)
    log = _zig(
        "build-lib", "-dynamic", "-target", target, "-lc", "-O", "ReleaseSmall", "-fstrip",
        obj, implib, "--verbose-link", f"-femit-bin=probe-{out}", cwd=cwd,
    )  # fmt: skip
    line = next((entry for entry in log.splitlines() if entry.startswith("lld-link ")), None)
    if line is None:
        raise RuntimeError(f"zig printed no lld-link line:\n{log}")
    args = shlex.split(line)[1:]
    args = [a for a in args if not a.upper().startswith(("-OUT:", "-PDB:", "-PDBALTPATH:", "-IMPLIB:", "-DEBUG"))]
    _zig("lld-link", *args, f"-OUT:{out}", f"-DELAYLOAD:{dll}", "-DEBUG:NONE", cwd=cwd)


def build(arch: str, directory: Path) -> PeFixtures:
    """Build the fixture set for ``arch`` into ``directory`` (created)."""
    require_zig()
    target = TARGETS[arch]
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in _SOURCES.items():
        (directory / name).write_text(text)
    _cc(target, "bar.dll", "bar.c", cwd=directory)
    _cc(target, "foo.dll", "foo.c", "bar.dll.lib", cwd=directory)
    _cc(target, "ext.pyd", "ext.c", "foo.dll.lib", cwd=directory)
    _delay_linked(target, "ext_delay.pyd", "ext.c", "foo.dll.lib", "foo.dll", cwd=directory)
    loader = None
    if arch == "x86_64":
        _zig("cc", "-target", target, "-O2", "-s", "-municode", "-o", "loader.exe", "loader.c", cwd=directory)
        loader = directory / "loader.exe"
    return PeFixtures(
        arch,
        directory / "bar.dll",
        directory / "foo.dll",
        directory / "ext.pyd",
        directory / "ext_delay.pyd",
        loader,
    )


def fill_section_table(data: bytes) -> bytes:
    """The same image with its section table moved to the end of the headers: no room for another.

    SizeOfOptionalHeader grows (the table starts right after the optional header it declares),
    which loaders and pefile accept; the bytes in between are zeros. A real layout: some linkers
    leave exactly as many header bytes as the table needs.
    """
    lfanew = int.from_bytes(data[0x3C:0x40], "little")
    nsections = int.from_bytes(data[lfanew + 6 : lfanew + 8], "little")
    optional_size = int.from_bytes(data[lfanew + 20 : lfanew + 22], "little")
    table_at = lfanew + 24 + optional_size
    table = data[table_at : table_at + 40 * nsections]
    first_data = min(
        int.from_bytes(table[40 * i + 20 : 40 * i + 24], "little")
        for i in range(nsections)
        if int.from_bytes(table[40 * i + 16 : 40 * i + 20], "little")
    )
    new_at = first_data - 40 * nsections
    out = bytearray(data)
    out[table_at : table_at + len(table)] = bytes(len(table))
    out[new_at:first_data] = table
    out[lfanew + 20 : lfanew + 22] = (new_at - lfanew - 24).to_bytes(2, "little")
    return bytes(out)


def wine() -> str | None:
    """The wine launcher, if Debian's wine64 is installed (``/usr/bin/wine``, or wine64 itself)."""
    found = shutil.which("wine") or shutil.which("wine64")
    if found:
        return found
    fallback = Path("/usr/lib/wine/wine64")
    return str(fallback) if os.access(fallback, os.X_OK) else None


def run_wine(wine: str, args: list[str], prefix: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run a Windows program under wine and return its output.

    The output goes through files, not pipes: the wine server the program starts outlives it by
    seconds and inherits its pipes, so reading a pipe to its end waited 3-4 s a run.
    """
    env = {"WINEDEBUG": "-all", "WINEPREFIX": str(prefix), "HOME": str(home), "PATH": "/usr/bin:/bin"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            [wine, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=300, env=env, check=False
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
