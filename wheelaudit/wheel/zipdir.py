"""Reading a zip file's central directory (PKWARE APPNOTE.TXT 4.3.12-4.3.16, with ZIP64).

The audit needs only the directory: names, sizes, methods, CRCs and where each
member's local header is. ``zipfile`` would do, but importing it (it pulls in
``shutil``, ``pathlib``, ``bz2``/``lzma`` hooks) costs more than reading a small
wheel's directory, so the few fixed-size records are decoded here. Nothing is
trusted: every size and offset is checked against the file before use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

STORED, DEFLATED = 0, 8

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (22 bytes + comment)
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # 56 bytes + extensible data
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # central directory file header (46 bytes + name/extra/comment)
_MAX_COMMENT = 0xFFFF
_ZIP64_EXTRA = 0x0001
_UTF8_FLAG = 0x800


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


def read_central_directory(fh: BinaryIO, file_size: int, *, max_entries: int) -> list[ZipEntry]:
    """Every entry of the central directory, in directory order."""
    return list(iter_central_directory(fh, file_size, max_entries=max_entries))


def iter_central_directory(fh: BinaryIO, file_size: int, *, max_entries: int) -> Iterator[ZipEntry]:
    """The entries of the central directory one by one, in directory order.

    A generator, so that a reader building its own records never holds two records
    per member at once (a wheel may hold 500,000). The end records are checked before
    the first entry is produced; a damaged entry raises when it is reached.
    """
    tail_size = min(file_size, _EOCD.size + _MAX_COMMENT)
    fh.seek(file_size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0 and at + _EOCD.size > len(tail):
        at = tail.rfind(b"PK\x05\x06", 0, at)
    if at < 0:
        raise BadZip("no end of central directory record")
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    eocd_offset = file_size - tail_size + at
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
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
    locator_at = eocd_offset - _EOCD64_LOCATOR.size
    if locator_at < 0:
        raise BadZip("ZIP64 end record locator missing")
    fh.seek(locator_at)
    sig, _, eocd64_offset, _ = _EOCD64_LOCATOR.unpack(fh.read(_EOCD64_LOCATOR.size))
    if sig != b"PK\x06\x07" or eocd64_offset + _EOCD64.size > locator_at:
        raise BadZip("ZIP64 end record locator damaged")
    fh.seek(eocd64_offset)
    record = fh.read(_EOCD64.size)
    sig, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset = _EOCD64.unpack(record)
    if sig != b"PK\x06\x06":
        raise BadZip("ZIP64 end record damaged")
    if disk != 0 or cd_disk != 0:
        raise BadZip("multi-disk archives are not supported")
    return count, cd_size, cd_offset


def _entries(directory: bytes, count: int) -> Iterator[ZipEntry]:
    pos = 0
    for _ in range(count):
        if pos + _CENTRAL.size > len(directory):
            raise BadZip("the central directory ends early")
        (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, _, _, attr, offset) = (
            _CENTRAL.unpack_from(directory, pos)
        )
        if sig != b"PK\x01\x02":
            raise BadZip("bad central directory entry signature")
        name_at = pos + _CENTRAL.size
        extra_at = name_at + name_len
        end = extra_at + extra_len + comment_len
        if end > len(directory):
            raise BadZip("a central directory entry runs past the directory")
        raw_name = directory[name_at:extra_at]
        try:
            name = raw_name.decode("utf-8") if flags & _UTF8_FLAG else raw_name.decode("cp437")
        except UnicodeDecodeError:
            raise BadZip(f"member name {raw_name!r} is not valid UTF-8") from None
        if 0xFFFFFFFF in (usize, csize, offset):
            usize, csize, offset = _zip64_fields(directory[extra_at : extra_at + extra_len], usize, csize, offset)
        yield ZipEntry(name, flags, method, crc, csize, usize, offset, attr)
        pos = end


def _zip64_fields(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the ZIP64 extended information field, for those marked 0xFFFFFFFF."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + size > len(extra):
            raise BadZip("an extra field runs past its central directory entry")
        if tag == _ZIP64_EXTRA:
            values = list(struct.unpack_from(f"<{size // 8}Q", extra, pos + 4))
            if usize == 0xFFFFFFFF:
                usize = values.pop(0) if values else _bad("ZIP64 size missing")
            if csize == 0xFFFFFFFF:
                csize = values.pop(0) if values else _bad("ZIP64 compressed size missing")
            if offset == 0xFFFFFFFF:
                offset = values.pop(0) if values else _bad("ZIP64 offset missing")
            return usize, csize, offset
        pos += 4 + size
    raise BadZip("an entry needs ZIP64 sizes but has no ZIP64 field")


def _bad(why: str) -> int:
    raise BadZip(why)
