"""ELF tables located only by a far ``.dynamic`` are kept on disk as inflation passes them (issue 16).

tensorflow-cpu's 788 MB library has an 82 MB ``.dynstr`` at 15 MB and ``.dynamic`` at 580 MB:
the tables were read behind ``.dynamic``, inflating the member again from its start (1.12
times its size). Its first loaded segment, where every linker puts those tables, is now
kept in an unnamed temporary file while the forward pass goes by, and read back from there.

The libraries are the ones ``test_show_memory`` builds (GNU ld and lld through zig, a 20 MB
``.dynstr``, ``.dynamic`` after it): the member must be inflated once, in one pass, and what
is found must equal what pyelftools finds in the file and what the old way (inflating again)
finds. A temporary file that cannot be made, or that gives back other bytes or fewer, must
make no difference but the time: the member is then inflated again, as before.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from wheelaudit import binary as binary_module
from wheelaudit.binary import RETAIN_PREFIX, analyze_member
from wheelaudit.binary.elf import LEAD_BYTES, parse_elf, tables_continue, tables_segment
from wheelaudit.binary.model import Binary
from wheelaudit.wheel.archive import MemberStream, WheelArchive

from .builders import make_wheel
from .pe_fixtures import have_zig
from .test_show_memory import _GLUE, _assembly, _reference, build_in_wheel

#: The issue's bound: every member inflated at most once (the rest is the few pieces read past the end).
ONCE = 1.05


@pytest.fixture(scope="module", params=["gnu-ld", "lld"])
def library(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(library, wheel holding it deflated), for one linker."""
    return build_in_wheel(str(request.param), tmp_path_factory, "ondisk")


def _analyse(wheel: Path) -> tuple[Binary, int]:
    archive = WheelArchive(wheel)
    member = next(m for m in archive.files() if m.name.endswith("libbig.so.1"))
    analysis = analyze_member(archive, member, split=False)
    (found,) = analysis.binaries
    return found, analysis.inflated


def _the_old_way(wheel: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Binary, int]:
    with monkeypatch.context() as patch:
        patch.setattr(binary_module, "SPILL_LIMIT", 0)
        return _analyse(wheel)


def test_the_fixture_has_its_tables_before_a_far_dynamic(library: tuple[Path, Path]) -> None:
    """What the rest relies on: the tables' segment is larger than the kept prefix, .dynamic past it."""
    built, _ = library
    span = tables_segment(built.read_bytes()[:4096])
    assert span is not None
    assert span[0] == 0 and span[1] > 4 * RETAIN_PREFIX


def test_the_member_is_inflated_once_with_the_same_result(
    library: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    built, wheel = library
    size = built.stat().st_size
    found, inflated = _analyse(wheel)
    assert inflated <= ONCE * size, f"inflated {inflated / size:.2f} x the member"

    old, old_inflated = _the_old_way(wheel, monkeypatch)
    assert old_inflated > 1.5 * size  # the tables read again behind .dynamic (what this change removes)
    assert found == old
    reference = _reference(built)
    assert list(found.imported_symbols) == reference["imported"]
    assert list(found.exported_symbols) == reference["exported"]
    assert found.needed == reference["needed"]
    assert found.init_functions == ("PyInit_bigdynstr",)


def test_reads_back_from_disk_are_the_files_bytes(library: tuple[Path, Path]) -> None:
    """After the far read, any read in the kept segment gives the library's own bytes, without inflating."""
    built, wheel = library
    data = built.read_bytes()
    archive = WheelArchive(wheel)
    member = next(m for m in archive.files() if m.name.endswith("libbig.so.1"))
    span = tables_segment(data[:4096])
    assert span is not None
    with archive.open(member, retain=RETAIN_PREFIX, split=False) as stream:
        stream.keep_on_disk(RETAIN_PREFIX, span[1])
        stream.read_at(len(data) - 100, 100)  # the far read: everything before it has gone by
        inflated = stream.inflated
        rng = random.Random(16)
        reads = [(0, span[1]), (RETAIN_PREFIX - 10, 20), (span[1] - 1, 1), (RETAIN_PREFIX, 1 << 20)]
        reads += [(at, rng.randrange(1, 3 << 20)) for at in (rng.randrange(0, span[1] - (3 << 20)) for _ in range(40))]
        for at, length in reads:
            assert stream.read_at(at, length) == data[at : at + length], (at, length)
        assert stream.inflated == inflated
        assert stream.restarts == 0
        stream.check_integrity()


_PREAD = os.pread  # the real one, for the unreliable reads to wrap


def _unreliable(how: str, calls: list[int]) -> Callable[[int, int, int], bytes]:
    """``os.pread`` giving back damaged or missing bytes (the CRC-32 of each piece must catch it)."""

    def pread(fd: int, length: int, offset: int) -> bytes:
        data = _PREAD(fd, length, offset)
        calls.append(offset)
        if how == "short":
            return data[:-1]
        if how == "raises":
            raise OSError(errno.EIO, "Input/output error")
        at = len(data) // 2
        return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]  # one bit, as a bad disk would

    return pread


@pytest.mark.parametrize("how", ["flipped", "short", "raises"])
def test_bytes_that_do_not_come_back_whole_are_inflated_again(
    library: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    built, wheel = library
    expected, _ = _analyse(wheel)
    calls: list[int] = []
    monkeypatch.setattr(os, "pread", _unreliable(how, calls))
    found, inflated = _analyse(wheel)
    assert calls  # the spill was written and read from
    assert found == expected
    assert inflated > 1.5 * built.stat().st_size  # fell back on inflating again


def test_a_full_disk_is_no_error(library: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes that fail (no space left) only cost the second inflation."""
    built, wheel = library
    expected, _ = _analyse(wheel)
    writes: list[int] = []

    def full(fd: int, data: bytes, offset: int) -> int:
        writes.append(offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    found, inflated = _analyse(wheel)
    assert writes
    assert found == expected
    assert inflated > 1.5 * built.stat().st_size


def test_the_file_is_unnamed_and_closed(
    library: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is left in (or ever shows in) the temporary directory, and no descriptor stays open."""
    _, wheel = library
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    _analyse(wheel)
    assert list(tmp_path.iterdir()) == []
    if before:
        assert set(os.listdir("/proc/self/fd")) <= before


def test_tables_segment_reads_only_the_headers() -> None:
    """Headers cut short give no span: nothing is kept."""
    assert tables_segment(b"") is None
    assert tables_segment(b"\x7fELF\x02\x01" + bytes(58)) is None  # no program headers


def test_parse_elf_reads_the_same_through_the_stream(library: tuple[Path, Path]) -> None:
    """parse_elf over the bytes in memory and over the stream keeping its tables on disk agree."""
    built, wheel = library
    data = built.read_bytes()
    in_memory = parse_elf(lambda at, size: data[at : at + size], "ondisk/libbig.so.1", len(data))
    streamed, _ = _analyse(wheel)
    assert in_memory.imported_symbols == streamed.imported_symbols
    assert in_memory.exported_symbols == streamed.exported_symbols
    assert in_memory.version_needs == streamed.version_needs


def _relocations_library(where: Path) -> Path:
    """A library with small tables and 7 MB of relocations after them in its first segment (jaxlib's layout)."""
    (where / "relocs.s").write_text(
        '.section .data.rel.ro,"aw"\n.p2align 3\n.globl pointer_table\npointer_table:\n'
        ".rept 300000\n.quad anchor\n.endr\n"
        '.data\n.p2align 3\nanchor:\n.quad 0\n.section .note.GNU-stack,"",@progbits\n'
    )
    (where / "glue.c").write_text("void *PyInit_relocs(void) { return 0; }\n")
    out = where / "librelocs.so"
    flags = ["-shared", "-fPIC", "-o", str(out), "relocs.s", "glue.c", "-Wl,-s", "-Wl,-z,norelro"]
    subprocess.run(["gcc", *flags], cwd=where, check=True, capture_output=True)
    return out


def test_relocations_past_the_prefix_are_not_written_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables that end inside the kept prefix: the rest of their segment is not worth a temporary file."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    built = _relocations_library(tmp_path)
    data = built.read_bytes()
    span = tables_segment(data[:4096])
    assert span is not None and span[1] > RETAIN_PREFIX + (1 << 20)  # the relocations run on past the prefix
    assert not tables_continue(data[:4096], data[RETAIN_PREFIX - LEAD_BYTES : RETAIN_PREFIX])
    wheel = make_wheel(tmp_path, "relocs-1.0-cp312-cp312-linux_x86_64.whl", {"relocs/libbig.so.1": data})
    writes: list[int] = []
    real_pwrite = os.pwrite

    def counted(fd: int, chunk: bytes, offset: int) -> int:
        writes.append(len(chunk))
        return real_pwrite(fd, chunk, offset)

    monkeypatch.setattr(os, "pwrite", counted)
    found, inflated = _analyse(wheel)
    assert writes == []
    assert inflated == len(data)
    assert found.init_functions == ("PyInit_relocs",)


def test_big_tables_are_told_from_their_bytes(library: tuple[Path, Path]) -> None:
    """The built libraries' bytes before the prefix's end (in .dynstr) are recognised as tables."""
    built, _ = library
    data = built.read_bytes()
    assert tables_continue(data[:4096], data[RETAIN_PREFIX - LEAD_BYTES : RETAIN_PREFIX])
    assert not tables_continue(data[:4096], bytes(range(256)) * (LEAD_BYTES // 256))


def _unstripped(where: Path, linker: str) -> Path:
    """The big library of test_show_memory with its symbol table (a 20 MB .strtab after the loaded image)."""
    (where / "big.s").write_text(_assembly())
    (where / "glue.c").write_text(_GLUE)
    built = where / "libbig.so"
    zig = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-linux-gnu.2.17"]
    cc = ["gcc"] if linker == "gnu-ld" else zig
    flags = ["-shared", "-fPIC", "-o", str(built), "big.s", "glue.c", "-lm"]
    subprocess.run([*cc, *flags], cwd=where, check=True, capture_output=True)
    return built


def test_section_names_behind_a_big_strtab_are_read_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lld writes .shstrtab before .strtab: the size hints read it 20 MB behind the section table.

    That gap, between the loaded image and the table, is kept on disk as it is passed (the
    member was inflated 1.67 times for tensorflow-cpu's stablehlo_extension.so).
    """
    if not have_zig():
        pytest.skip("ziglang is not installed (pip install ziglang; it is in the test extra)")
    built = _unstripped(tmp_path, "lld")
    with built.open("rb") as fh:
        elf = ELFFile(fh)
        shoff = int(elf.header["e_shoff"])
        shstrtab, strtab = elf.get_section_by_name(".shstrtab"), elf.get_section_by_name(".strtab")
        assert shstrtab is not None and strtab is not None
        assert shoff - int(shstrtab["sh_offset"]) > 8 * MemberStream.HISTORY  # far behind the table
    wheel = make_wheel(tmp_path, "gap-1.0-cp312-cp312-linux_x86_64.whl", {"gap/libbig.so.1": built.read_bytes()})
    size = built.stat().st_size
    found, inflated = _analyse(wheel)
    assert found.debug_sizes_exact
    assert found.symbol_table_bytes >= int(strtab["sh_size"])
    assert inflated <= ONCE * size, f"inflated {inflated / size:.2f} x the member"
    old, old_inflated = _the_old_way(wheel, monkeypatch)
    assert old_inflated > 1.3 * size  # the names read again behind the table
    assert found == old


def test_gnu_ld_section_names_lie_in_reach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GNU ld writes .shstrtab last, just before the table: its gap (here 20 MB of names) is not written out."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    built = _unstripped(tmp_path, "gnu-ld")
    with built.open("rb") as fh:
        elf = ELFFile(fh)
        shstrtab, strtab = elf.get_section_by_name(".shstrtab"), elf.get_section_by_name(".strtab")
        assert shstrtab is not None and strtab is not None
        assert int(shstrtab["sh_offset"]) > int(strtab["sh_offset"]) + (1 << 20)
    wheel = make_wheel(tmp_path, "gap-1.0-cp312-cp312-linux_x86_64.whl", {"gap/libbig.so.1": built.read_bytes()})
    kept: list[int] = []
    real = MemberStream.keep_on_disk

    def recorded(stream: MemberStream, start: int, end: int, **hints: Any) -> None:
        kept.append(start)
        real(stream, start, end, **hints)

    monkeypatch.setattr(MemberStream, "keep_on_disk", recorded)
    found, inflated = _analyse(wheel)
    assert kept == [RETAIN_PREFIX]  # the tables' segment only
    assert found.debug_sizes_exact
    assert inflated <= ONCE * built.stat().st_size
