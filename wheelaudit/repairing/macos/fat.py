"""Split a Mach-O file into its thin slices and join edited slices back into one file.

The editor and the signer both work on one thin slice at a time; this module is the only
place that knows the fat (universal) header of ``<mach-o/fat.h>``: ``fat_header`` then
``fat_arch`` (20 bytes, 32-bit offsets) or ``fat_arch_64`` (32 bytes), all big-endian,
each slice aligned to ``2**align`` bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..._typing import TYPE_CHECKING
from ...errors import MalformedBinary
from ...record import record

if TYPE_CHECKING:  # `bytes | bytearray` is no run-time expression before Python 3.10
    # a slice in memory: the input's slices are views into it (no copy); edited ones are new buffers
    Buffer = bytes | bytearray | memoryview

FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
_THIN_MAGICS = (b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf")
_MAX_ALIGN = 15  # lipo never aligns beyond 32 KiB; a larger value is a corrupt header


@record(frozen=True)
class FatEntry:
    """One ``fat_arch`` record: where a slice lives in the fat file."""

    cputype: int
    cpusubtype: int
    offset: int
    size: int
    align: int  # log2 of the slice alignment
    reserved: int = 0  # fat_arch_64 only


@record(frozen=True)
class Layout:
    """A file cut into slices: ``entries`` is empty for a thin file (one slice at offset 0)."""

    is_fat: bool
    is_fat64: bool
    entries: tuple[FatEntry, ...]
    slices: tuple[Buffer, ...]  # views into the input for a fat file
    offsets: tuple[int, ...]  # each slice's offset in the input file


def split(data: bytes, path: str) -> Layout:
    """Cut ``data`` into thin slices, or fail with one line when it is not a Mach-O."""
    if data[:4] in _THIN_MAGICS:
        return Layout(False, False, (), (data,), (0,))
    if len(data) < 8:
        raise MalformedBinary(f"{path}: not a Mach-O file", path=path)
    magic, count = struct.unpack_from(">II", data, 0)
    if magic not in (FAT_MAGIC, FAT_MAGIC_64):
        raise MalformedBinary(f"{path}: not a Mach-O file", path=path)
    is64 = magic == FAT_MAGIC_64
    fmt, size = (">iiQQII", 32) if is64 else (">iiIII", 20)
    if not 0 < count <= 64 or 8 + count * size > len(data):
        raise MalformedBinary(f"{path}: implausible fat header ({count} slices)", path=path)
    entries = []
    for index in range(count):
        fields = struct.unpack_from(fmt, data, 8 + index * size)
        entry = FatEntry(
            fields[0], fields[1], int(fields[2]), int(fields[3]), int(fields[4]), int(fields[5]) if is64 else 0
        )
        if entry.offset < 8 + count * size or entry.offset + entry.size > len(data) or entry.align > _MAX_ALIGN:
            raise MalformedBinary(f"{path}: fat slice {index} lies outside the file", path=path)
        if data[entry.offset : entry.offset + 4] not in _THIN_MAGICS:
            raise MalformedBinary(f"{path}: fat slice {index} is not a thin Mach-O", path=path)
        entries.append(entry)
    view = memoryview(data)
    return Layout(
        True,
        is64,
        tuple(entries),
        tuple(view[e.offset : e.offset + e.size] for e in entries),
        tuple(e.offset for e in entries),
    )


def join(layout: Layout, slices: Sequence[Buffer]) -> bytes:
    """The file again with ``slices`` in place of the old ones.

    Slices whose size did not change stay where they were, so an edit that keeps sizes gives
    back a file of the same length; otherwise every slice is laid out again, in the same order,
    each at the next multiple of its alignment (as lipo does), and the fat records follow.
    """
    if not layout.is_fat:
        return slices[0] if isinstance(slices[0], bytes) else bytes(slices[0])
    if all(len(new) == len(old) for new, old in zip(slices, layout.slices, strict=True)):
        entries = list(layout.entries)
    else:
        entries = []
        offset = 8 + len(slices) * (32 if layout.is_fat64 else 20)
        for entry, new in zip(layout.entries, slices, strict=True):
            step = 1 << entry.align
            start = -(-offset // step) * step
            entries.append(FatEntry(entry.cputype, entry.cpusubtype, start, len(new), entry.align, entry.reserved))
            offset = start + len(new)
        if not layout.is_fat64 and offset > 0xFFFFFFFF:
            raise MalformedBinary("fat file would exceed the 4 GiB a 32-bit fat header can address")
    parts: list[Buffer] = [_fat_header(layout, entries)]
    end = len(parts[0])
    for entry, new in sorted(zip(entries, slices, strict=True), key=lambda pair: pair[0].offset):
        parts += [bytes(entry.offset - end), new]
        end = entry.offset + len(new)
    return b"".join(parts)  # one copy


def _fat_header(layout: Layout, entries: list[FatEntry]) -> bytes:
    magic = FAT_MAGIC_64 if layout.is_fat64 else FAT_MAGIC
    out = struct.pack(">II", magic, len(entries))
    for e in entries:
        if layout.is_fat64:
            out += struct.pack(">iiQQII", e.cputype, e.cpusubtype, e.offset, e.size, e.align, e.reserved)
        else:
            out += struct.pack(">iiIII", e.cputype, e.cpusubtype, e.offset, e.size, e.align)
    return out
