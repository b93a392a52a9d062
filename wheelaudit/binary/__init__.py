"""Binary formats: sniffing by magic bytes and turning members into neutral :class:`Binary` records."""

from __future__ import annotations

import functools
import mmap
import os
import struct

from .._typing import TYPE_CHECKING, cast
from ..errors import MalformedBinary
from ..record import record, replace
from ..wheel.archive import MemberStream, WheelArchive
from ..wheel.inflate import crc32
from ..wheel.zipdir import Member
from ..wheel.zipformat import STORED
from .elf import LEAD_BYTES, parse_elf, tables_continue, tables_segment
from .elfsections import elf_debug_sizes, worth_reading_tail
from .magic import sniff
from .model import Binary, BinaryFormat, BinaryKind, ImportedSymbol, VersionNeed

if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "Binary",
    "BinaryFormat",
    "BinaryKind",
    "ImportedSymbol",
    "MemberAnalysis",
    "VersionNeed",
    "analyze_file",
    "analyze_member",
    "sniff",
]

#: Keep this much of the start of a deflated member: ELF symbol and version tables live there.
RETAIN_PREFIX = 4 * 1024 * 1024
SNIFF_BYTES = 4096
#: ... and when the segment holding those tables is larger, keep up to this much more of it in a temporary
#: file as inflation passes it: ``.dynamic``, which locates the tables, often lies hundreds of MB further
#: on (tensorflow-cpu: an 82 MB .dynstr at 15 MB, .dynamic at 580 MB), and reading the tables behind it
#: otherwise inflated the member again from its start. Beyond this, that is still what happens.
SPILL_LIMIT = 128 * 1024 * 1024


@record(frozen=True)
class MemberAnalysis:
    """The binaries one member holds, and the bytes inflated to find them."""

    binaries: list[Binary]  # several for a fat Mach-O, none for a member that is not a binary
    inflated: int  # uncompressed bytes produced to get there (0 for stored members)


def analyze_member(
    archive: WheelArchive, member: Member, *, split: bool = True, fh: BinaryIO | None = None
) -> MemberAnalysis:
    """The binaries in one member, found by magic bytes; then the member is read to its end for its CRC-32.

    The analysis reads only what it needs; the check goes on from there (never starting
    over). ``split`` allows a far read to use a second decoder (see :mod:`wheelaudit.wheel.splitinflate`).
    ``fh``: an open handle on the archive to read through (one thread sniffing many members).
    """
    if member.size < 16 or member.is_symlink:
        return MemberAnalysis([], 0)
    with archive.open(member, retain=RETAIN_PREFIX, split=split, to_end=True, fh=fh) as stream:
        stream.inflate_whole()  # a member kept whole anyway (up to RETAIN_PREFIX): at once
        head = stream.read_at(0, min(SNIFF_BYTES, member.size))
        fmt = sniff(head)
        try:
            binaries = _binaries(fmt, stream, head, member.name, stored=member.compress_type == STORED)
        except EOFError as exc:
            stream.check_integrity()  # damaged data explains a broken binary better than the parser can
            raise MalformedBinary(
                f"{member.name}: truncated {fmt.value if fmt else ''} file ({exc})", path=member.name
            ) from None
        except MalformedBinary:
            stream.check_integrity()
            raise
        stream.check_integrity()  # every member read is read whole: damage must not decide a verdict
        return MemberAnalysis(binaries, stream.inflated)


def analyze_file(path: str | os.PathLike[str], name: str, *, stored: bool) -> tuple[int, int, list[Binary]]:
    """The CRC-32, size and binaries of a file that is to become member ``name`` of a wheel.

    A repair analyses the files it edited or grafted this way while it deflates them, so that
    the audit of the wheel it wrote need not inflate them again. ``stored`` says whether the
    member will be stored rather than deflated: that decides whether the ELF section table is
    read (:func:`wheelaudit.binary.elfsections.worth_reading_tail`), so the analysis is the one
    :func:`analyze_member` makes of the written member. Raises MalformedBinary like it.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 16:
            return crc32(fh.read(), 0), size, []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            crc = crc32(cast(bytes, mm), 0)  # any buffer will do
            source = _FileBytes(mm, size, name)
            head = source.read_at(0, min(SNIFF_BYTES, size))
            try:
                return crc, size, _binaries(sniff(head), source, head, name, stored=stored)
            except EOFError as exc:
                raise MalformedBinary(f"{name}: truncated file ({exc})", path=name) from None


class _FileBytes:
    """A whole file in memory (mmap) behind the reader interface of :class:`MemberStream`."""

    HISTORY = MemberStream.HISTORY

    def __init__(self, data: mmap.mmap, size: int, name: str) -> None:
        self._data = data
        self.size = size
        self._name = name

    def read_at(self, offset: int, size: int) -> bytes:
        end = offset + size
        if offset < 0 or size < 0 or end > self.size:
            raise EOFError(f"{self._name}: bytes {offset}..{end} lie outside the file ({self.size} bytes)")
        return self._data[offset:end]

    def read_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        return [self.read_at(offset, size) for offset, size in spans]

    def prefetch(self, offset: int, end: int) -> None:
        """Nothing to prepare: every byte is at hand."""

    def for_forward_reader(self) -> None:
        """Nothing to prepare: every byte is at hand."""

    def keep_on_disk(self, start: int, end: int, **_hints: object) -> None:
        """Nothing to keep: every byte is at hand."""


def _binaries(
    fmt: BinaryFormat | None, stream: MemberStream | _FileBytes, head: bytes, name: str, *, stored: bool
) -> list[Binary]:
    """The binaries in one member or file whose first bytes are ``head``."""
    if fmt is None:
        return []
    if fmt is BinaryFormat.ELF:
        _keep_tables(stream, head, stored=stored)
        binary = parse_elf(stream.read_at, name, stream.size, will_read=stream.prefetch, read_spans=stream.read_spans)
        return [_with_debug_sizes(binary, stream, stored=stored)]
    stream.for_forward_reader()
    if fmt is BinaryFormat.MACHO:
        from .macho import parse_macho

        return parse_macho(stream.read_at, name, stream.size)
    from .pe import parse_pe

    return [parse_pe(stream.read_at, name, stream.size)]


def _keep_tables(stream: MemberStream | _FileBytes, head: bytes, *, stored: bool) -> None:
    """Have the stream keep the ELF tables' segment past the kept prefix on disk (see SPILL_LIMIT)."""
    span = tables_segment(head)
    if span is None or span[1] <= RETAIN_PREFIX or stored:
        return
    start = max(span[0], RETAIN_PREFIX)
    # Only if the tables seem to run on past the prefix: else writing the segment out is wasted (jaxlib: 52 MB).
    worth = functools.partial(tables_continue, head)
    stream.keep_on_disk(start, min(span[1], start + SPILL_LIMIT), worth=worth, lead=LEAD_BYTES)


def _with_debug_sizes(binary: Binary, stream: MemberStream | _FileBytes, *, stored: bool) -> Binary:
    """Add the size hints, reading on in the same stream (the section table lies past .dynamic)."""

    def read_tail(unloaded: int) -> bool:
        worth = worth_reading_tail(unloaded, stream.size, stored=stored)
        if worth and not stored:
            _keep_gap(stream, unloaded)
        return worth

    sizes = elf_debug_sizes(stream.read_at, stream.size, read_tail=read_tail)
    if sizes is None:
        return binary
    return replace(
        binary,
        debug_info_bytes=sizes.debug,
        symbol_table_bytes=sizes.symtab,
        unloaded_bytes=sizes.unloaded,
        debug_sizes_exact=sizes.exact,
    )


def _keep_gap(stream: MemberStream | _FileBytes, unloaded: int) -> None:
    """Keep on disk what lies between the loaded image and the section table, about to be passed.

    The section names (``.shstrtab``) are read after the table, from there: lld writes them
    before ``.strtab``, and behind the table by more than the stream keeps they were read by
    inflating the member again (tensorflow-cpu's stablehlo_extension.so: 1.67 times its size).
    Not when they are the last section (GNU ld's order: just before the table, in reach),
    where writing the gap out (debug info, perhaps) would be wasted.
    """
    ident = stream.read_at(0, 64)  # in the kept prefix
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        return
    e = "<" if ident[5] == 1 else ">"
    if ident[4] == 2:
        (shoff,), (shnum, shstrndx) = struct.unpack_from(e + "Q", ident, 40), struct.unpack_from(e + "HH", ident, 60)
    else:
        (shoff,), (shnum, shstrndx) = struct.unpack_from(e + "I", ident, 32), struct.unpack_from(e + "HH", ident, 48)
    if shstrndx == shnum - 1:
        return
    if stream.HISTORY < unloaded <= SPILL_LIMIT and unloaded <= shoff <= stream.size:
        stream.keep_on_disk(shoff - unloaded, shoff)
