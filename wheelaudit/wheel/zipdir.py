"""Reading a zip file's central directory (PKWARE APPNOTE.TXT 4.3.12-4.3.16, with ZIP64; layouts in :mod:`.zipformat`).

The audit needs only the directory: names, sizes, methods, CRCs and where each
member's local header is. ``zipfile`` would do, but importing it (it pulls in
``shutil``, ``pathlib``, ``bz2``/``lzma`` hooks) costs more than reading a small
wheel's directory, so the few fixed-size records are decoded here. Nothing is
trusted: every size and offset is checked against the file before use.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from .zipformat import (
    CENTRAL_HEADER,
    CENTRAL_SIG,
    EOCD,
    EOCD64,
    EOCD64_LOCATOR,
    EOCD64_LOCATOR_SIG,
    EOCD64_SIG,
    EOCD_SIG,
    FLAG_UTF8,
    MAX_COMMENT,
    ZIP64_COUNT_LIMIT,
    ZIP64_EXTRA,
    ZIP64_LIMIT,
    iter_extra,
    zip64_values,
)


class BadZip(ValueError):
    """The file is not a zip archive, or its directory is damaged."""


@dataclass(frozen=True)
class ZipEntry:
    """One central-directory record, as stored."""

    name: str
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    external_attr: int


class Member(NamedTuple):
    """One zip entry, as the wheel reader keeps it once the entry passed the checks of :mod:`.limits`.

    A named tuple rather than a dataclass: a wheel may hold hundreds of thousands of
    members, and a tuple takes half the memory and a fraction of the time to create.
    """

    name: str
    size: int
    compressed_size: int
    compress_type: int
    header_offset: int
    crc: int
    mode: int  # unix mode bits from external_attr, 0 when the zip has none

    @classmethod
    def of(cls, entry: ZipEntry) -> Member:
        return cls(
            name=entry.name,
            size=entry.size,
            compressed_size=entry.compressed_size,
            compress_type=entry.method,
            header_offset=entry.header_offset,
            crc=entry.crc,
            mode=(entry.external_attr >> 16) & 0xFFFF,
        )

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def basename(self) -> str:
        return self.name.rstrip("/").rsplit("/", 1)[-1]


def read_central_directory(fh: BinaryIO, file_size: int, *, max_entries: int) -> list[ZipEntry]:
    """Every entry of the central directory, in directory order."""
    return list(iter_central_directory(fh, file_size, max_entries=max_entries))


def iter_central_directory(fh: BinaryIO, file_size: int, *, max_entries: int) -> Iterator[ZipEntry]:
    """The entries of the central directory one by one, in directory order.

    A generator, so that a reader building its own records never holds two records
    per member at once (a wheel may hold 500,000). The end records are checked before
    the first entry is produced; a damaged entry raises when it is reached.
    """
    tail_size = min(file_size, EOCD.size + MAX_COMMENT)
    fh.seek(file_size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(EOCD_SIG)
    while at >= 0 and at + EOCD.size > len(tail):
        at = tail.rfind(EOCD_SIG, 0, at)
    if at < 0:
        raise BadZip("no end of central directory record")
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = EOCD.unpack_from(tail, at)
    eocd_offset = file_size - tail_size + at
    if count == ZIP64_COUNT_LIMIT or cd_size == ZIP64_LIMIT or cd_offset == ZIP64_LIMIT:
        count, cd_size, cd_offset = _zip64_end(fh, eocd_offset, file_size)
    elif disk != 0 or cd_disk != 0:
        raise BadZip("multi-disk archives are not supported")
    if count > max_entries:
        raise BadZip(f"{count} entries (limit {max_entries})")
    if cd_offset + cd_size > eocd_offset:
        raise BadZip("the central directory runs past its end record (truncated file?)")
    fh.seek(cd_offset)
    directory = fh.read(cd_size)
    if len(directory) != cd_size:
        raise BadZip("the central directory is truncated")
    yield from _entries(directory, count)


def _zip64_end(fh: BinaryIO, eocd_offset: int, file_size: int) -> tuple[int, int, int]:
    locator_at = eocd_offset - EOCD64_LOCATOR.size
    if locator_at < 0:
        raise BadZip("ZIP64 end record locator missing")
    fh.seek(locator_at)
    sig, _, eocd64_offset, _ = EOCD64_LOCATOR.unpack(fh.read(EOCD64_LOCATOR.size))
    if sig != EOCD64_LOCATOR_SIG or eocd64_offset + EOCD64.size > locator_at:
        raise BadZip("ZIP64 end record locator damaged")
    fh.seek(eocd64_offset)
    record = fh.read(EOCD64.size)
    sig, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset = EOCD64.unpack(record)
    if sig != EOCD64_SIG:
        raise BadZip("ZIP64 end record damaged")
    if disk != 0 or cd_disk != 0:
        raise BadZip("multi-disk archives are not supported")
    return count, cd_size, cd_offset


def _entries(directory: bytes, count: int) -> Iterator[ZipEntry]:
    pos = 0
    for _ in range(count):
        if pos + CENTRAL_HEADER.size > len(directory):
            raise BadZip("the central directory ends early")
        (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, _, _, attr, offset) = (
            CENTRAL_HEADER.unpack_from(directory, pos)
        )
        if sig != CENTRAL_SIG:
            raise BadZip("bad central directory entry signature")
        name_at = pos + CENTRAL_HEADER.size
        extra_at = name_at + name_len
        end = extra_at + extra_len + comment_len
        if end > len(directory):
            raise BadZip("a central directory entry runs past the directory")
        raw_name = directory[name_at:extra_at]
        try:
            name = raw_name.decode("utf-8") if flags & FLAG_UTF8 else raw_name.decode("cp437")
        except UnicodeDecodeError:
            raise BadZip(f"member name {raw_name!r} is not valid UTF-8") from None
        if ZIP64_LIMIT in (usize, csize, offset):
            usize, csize, offset = _zip64_fields(directory[extra_at : extra_at + extra_len], usize, csize, offset)
        yield ZipEntry(name, flags, method, crc, csize, usize, offset, attr)
        pos = end


def _zip64_fields(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the ZIP64 extended information field, for those marked 0xFFFFFFFF."""
    for tag, size, data in iter_extra(extra):
        if len(data) != size:
            raise BadZip("an extra field runs past its central directory entry")
        if tag == ZIP64_EXTRA:
            values = zip64_values(data)
            if usize == ZIP64_LIMIT:
                usize = values.pop(0) if values else _bad("ZIP64 size missing")
            if csize == ZIP64_LIMIT:
                csize = values.pop(0) if values else _bad("ZIP64 compressed size missing")
            if offset == ZIP64_LIMIT:
                offset = values.pop(0) if values else _bad("ZIP64 offset missing")
            return usize, csize, offset
    raise BadZip("an entry needs ZIP64 sizes but has no ZIP64 field")


def _bad(why: str) -> int:
    raise BadZip(why)
