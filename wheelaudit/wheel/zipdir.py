"""Reading a zip file's central directory (PKWARE APPNOTE.TXT 4.3.12-4.3.16, with ZIP64; layouts in :mod:`.zipformat`).

The audit needs only the directory: names, sizes, methods, CRCs and where each
member's local header is. ``zipfile`` would do, but importing it (it pulls in
``shutil``, ``pathlib``, ``bz2``/``lzma`` hooks) costs more than reading a small
wheel's directory, so the few fixed-size records are decoded here. Nothing is
trusted: every size and offset is checked against the file before use.
"""

from __future__ import annotations

import stat
from array import array
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from itertools import islice

from .._typing import TYPE_CHECKING, NamedTuple, TypeVar, overload
from ..record import record
from .inflate import crc32
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

if TYPE_CHECKING:
    from typing import BinaryIO

_T = TypeVar("_T")


class BadZip(ValueError):
    """The file is not a zip archive, or its directory is damaged."""


@record(frozen=True)
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

    A named tuple rather than a record: a wheel may hold hundreds of thousands of
    members, and a tuple takes half the memory and a fraction of the time to create.
    """

    name: str
    size: int
    compressed_size: int
    compress_type: int
    header_offset: int
    crc: int
    mode: int  # unix mode bits from external_attr, 0 when the zip has none

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def basename(self) -> str:
        return self.name.rstrip("/").rsplit("/", 1)[-1]


#: The fields of one central-directory entry as the reader produces them, before any check:
#: name, flags, method, CRC-32, compressed size, size, local header offset, external attributes.
RawEntry = tuple[str, int, int, int, int, int, int, int]


class MemberTable(Mapping[str, Member]):
    """A wheel's members by name, in archive order, kept as columns; a :class:`Member` is made on access.

    A wheel may hold 500,000 members. As one named tuple each (with its integers) they
    took ~330 bytes apiece; here a member costs its name, a dict slot with its position,
    and 32 bytes of fixed fields in arrays (~190 bytes), and reading the whole table
    (``values()``) builds each tuple in C.
    """

    __slots__ = ("_crc", "_csize", "_method", "_mode", "_offset", "_position", "_size", "directory")

    def __init__(self) -> None:
        #: CRC-32 and size of the central directory the table was read from (0, 0 when not read whole), so
        #: that a writer can recognise the directory it wrote.
        self.directory = (0, 0)
        self._position: dict[str, int] = {}  # name -> index into the columns; its key order is archive order
        self._size = array("Q")
        self._csize = array("Q")
        self._method = array("H")
        self._offset = array("Q")
        self._crc = array("I")
        self._mode = array("H")

    def append(self, name: str, size: int, csize: int, method: int, offset: int, crc: int, mode: int) -> None:
        """Add a member after the others (the caller has refused repeated names)."""
        self._position[name] = len(self._size)
        self._size.append(size)
        self._csize.append(csize)
        self._method.append(method)
        self._offset.append(offset)
        self._crc.append(crc)
        self._mode.append(mode)

    def columns(
        self,
    ) -> tuple[dict[str, int], array[int], array[int], array[int], array[int], array[int], array[int]]:
        """The storage itself, for a reader filling it in a tight loop (as :meth:`append` would):
        name -> position, then size, compressed size, method, offset, CRC-32 and mode by position."""
        return self._position, self._size, self._csize, self._method, self._offset, self._crc, self._mode

    def _columns(self) -> Iterator[tuple[str, int, int, int, int, int, int]]:
        return zip(self._position, self._size, self._csize, self._method, self._offset, self._crc, self._mode)

    def __getitem__(self, name: str) -> Member:
        i = self._position[name]
        return Member(
            name, self._size[i], self._csize[i], self._method[i], self._offset[i], self._crc[i], self._mode[i]
        )

    def __contains__(self, name: object) -> bool:
        return name in self._position

    def __iter__(self) -> Iterator[str]:
        return iter(self._position)

    def __len__(self) -> int:
        return len(self._position)

    @overload
    def get(self, name: str, /) -> Member | None: ...
    @overload
    def get(self, name: str, /, default: Member | _T) -> Member | _T: ...
    def get(self, name: str, default: object = None) -> object:
        return self[name] if name in self._position else default

    def values(self) -> ValuesView[Member]:
        return _Values(self)

    def items(self) -> ItemsView[str, Member]:
        return _Items(self)

    def position(self, name: str) -> int:
        """Where the member lies in archive order (0 for the first); KeyError when there is none."""
        return self._position[name]

    def size_of(self, name: str) -> int:
        """The member's declared (uncompressed) size, without making a :class:`Member`."""
        return self._size[self._position[name]]

    def find(self, name: str) -> int:
        """:meth:`position`, or -1 when there is no such member."""
        return self._position.get(name, -1)

    def total_size(self) -> int:
        """The sum of the members' declared (uncompressed) sizes."""
        return sum(self._size)

    def in_offset_order(self) -> Iterator[tuple[str, int, int]]:
        """(name, local header offset, compressed size) of every member by offset (archive order among equals)."""
        offsets = self._offset
        if all(a <= b for a, b in zip(offsets, islice(offsets, 1, None))):  # the usual case: no sort, no index list
            return zip(self._position, offsets, self._csize)
        names = list(self._position)
        order = sorted(range(len(offsets)), key=offsets.__getitem__)
        return ((names[i], offsets[i], self._csize[i]) for i in order)


class _Values(ValuesView[Member]):
    _mapping: MemberTable

    def __iter__(self) -> Iterator[Member]:
        return map(Member._make, self._mapping._columns())


class _Items(ItemsView[str, Member]):
    _mapping: MemberTable

    def __iter__(self) -> Iterator[tuple[str, Member]]:
        return ((m.name, m) for m in map(Member._make, self._mapping._columns()))


def read_central_directory(fh: BinaryIO, file_size: int, *, max_entries: int) -> list[ZipEntry]:
    """Every entry of the central directory, in directory order."""
    return list(iter_central_directory(fh, file_size, max_entries=max_entries))


def iter_central_directory(fh: BinaryIO, file_size: int, *, max_entries: int) -> Iterator[ZipEntry]:
    """The entries of the central directory one by one, in directory order.

    A generator, so that a reader building its own records never holds two records
    per member at once (a wheel may hold 500,000). The end records are checked before
    the first entry is produced; a damaged entry raises when it is reached.
    """
    for raw in iter_raw_entries(fh, file_size, max_entries=max_entries):
        yield ZipEntry(*raw)


def iter_raw_entries(
    fh: BinaryIO, file_size: int, *, max_entries: int, checksum: list[int] | None = None
) -> Iterator[RawEntry]:
    """:func:`iter_central_directory` as plain tuples (:data:`RawEntry`), for a reader that stores columns."""
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
    yield from _entries(fh, cd_size, count, [0, cd_size, 0] if checksum is None else checksum)


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


#: How much of the central directory is read at a time: the directory of 500,000 members is ~40 MB.
DIRECTORY_BLOCK = 1 << 20


def _refill(fh: BinaryIO, buf: bytes, pos: int, unread: int, need: int, checksum: list[int]) -> tuple[bytes, int]:
    """``buf`` from ``pos`` on, followed by the next block of the directory (at least ``need`` bytes in all)."""
    want = min(unread, max(DIRECTORY_BLOCK, need - (len(buf) - pos)))
    data = fh.read(want)
    if len(data) != want:
        raise BadZip("the central directory is truncated")
    checksum[0] = crc32(data, checksum[0])
    checksum[2] += want
    return buf[pos:] + data, unread - want


def _entries(fh: BinaryIO, size: int, count: int, checksum: list[int]) -> Iterator[RawEntry]:
    """The ``count`` entries of the ``size``-byte directory at ``fh``'s position, read a block at a time.

    ``checksum`` is [CRC-32 of the bytes read, ``size``, bytes read], kept up to date (see
    :attr:`MemberTable.directory`).
    """
    checksum[1] = size
    buf = b""
    pos = 0
    unread = size
    header = CENTRAL_HEADER.size
    for _ in range(count):
        if pos + header > len(buf) and unread:
            buf, unread = _refill(fh, buf, pos, unread, header, checksum)
            pos = 0
        if pos + header > len(buf):
            raise BadZip("the central directory ends early")
        (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, _, _, attr, offset) = (
            CENTRAL_HEADER.unpack_from(buf, pos)
        )
        if sig != CENTRAL_SIG:
            raise BadZip("bad central directory entry signature")
        length = header + name_len + extra_len + comment_len
        if pos + length > len(buf) and unread:
            buf, unread = _refill(fh, buf, pos, unread, length, checksum)
            pos = 0
        if pos + length > len(buf):
            raise BadZip("a central directory entry runs past the directory")
        name_at = pos + header
        extra_at = name_at + name_len
        raw_name = buf[name_at:extra_at]
        try:
            if raw_name.isascii():  # nearly every name: the same in UTF-8 and CP437, and quicker to decode
                name = raw_name.decode("ascii")
            else:
                name = raw_name.decode("utf-8") if flags & FLAG_UTF8 else raw_name.decode("cp437")
        except UnicodeDecodeError:
            raise BadZip(f"member name {raw_name!r} is not valid UTF-8") from None
        if ZIP64_LIMIT in (usize, csize, offset):
            usize, csize, offset = _zip64_fields(buf[extra_at : extra_at + extra_len], usize, csize, offset)
        yield (name, flags, method, crc, csize, usize, offset, attr)
        pos += length


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
