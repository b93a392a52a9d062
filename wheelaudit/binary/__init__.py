"""Binary formats: sniffing by magic bytes and turning members into neutral :class:`Binary` records."""

from __future__ import annotations

import functools
import struct

from .._typing import TYPE_CHECKING
from ..errors import MalformedBinary
from ..record import record, replace
from ..wheel.archive import MemberStream, WheelArchive
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
        head = stream.read_at(0, min(SNIFF_BYTES, member.size))
        fmt = sniff(head)
        try:
            if fmt is None:
                binaries: list[Binary] = []
            elif fmt is BinaryFormat.ELF:
                _keep_tables(stream, head)
                binary = parse_elf(
                    stream.read_at, member.name, member.size, will_read=stream.prefetch, read_spans=stream.read_spans
                )
                binaries = [_with_debug_sizes(binary, stream)]
            elif fmt is BinaryFormat.MACHO:
                from .macho import parse_macho

                stream.for_forward_reader()
                binaries = parse_macho(stream.read_at, member.name, member.size)
            else:
                from .pe import parse_pe

                stream.for_forward_reader()
                binaries = [parse_pe(stream.read_at, member.name, member.size)]
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


def _keep_tables(stream: MemberStream, head: bytes) -> None:
    """Have the stream keep the ELF tables' segment past the kept prefix on disk (see SPILL_LIMIT)."""
    span = tables_segment(head)
    if span is None or span[1] <= RETAIN_PREFIX or stream.member.compress_type == STORED:
        return
    start = max(span[0], RETAIN_PREFIX)
    # Only if the tables seem to run on past the prefix: else writing the segment out is wasted (jaxlib: 52 MB).
    worth = functools.partial(tables_continue, head)
    stream.keep_on_disk(start, min(span[1], start + SPILL_LIMIT), worth=worth, lead=LEAD_BYTES)


def _with_debug_sizes(binary: Binary, stream: MemberStream) -> Binary:
    """Add the size hints, reading on in the same stream (the section table lies past .dynamic)."""
    stored = stream.member.compress_type == STORED

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


def _keep_gap(stream: MemberStream, unloaded: int) -> None:
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
