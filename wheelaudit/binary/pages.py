"""A binary read in pieces through ``read_at(offset, size)``, for the Mach-O and PE readers.

``show`` inflates a member as a stream (:class:`wheelaudit.wheel.archive.MemberStream`):
reading a whole 64 MB library into memory to look at a few tables made the peak memory of
an audit follow the largest binary in the wheel. :class:`Pages` answers the few operations
the readers use on ``bytes`` (slices, ``find``, ``startswith``, ``struct`` unpacking) with
the same results, reading only the pages they touch and keeping a bounded number of them.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable, Container, Sequence

from .._typing import TYPE_CHECKING, overload
from ..errors import MalformedBinary
from .model import ReadAt

if TYPE_CHECKING:
    from typing import Any, BinaryIO


def bytes_reader(data: bytes) -> ReadAt:
    """``read_at`` over bytes in memory (callers holding the whole file: repair, tests)."""

    def read_at(offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > len(data):
            raise EOFError(f"bytes {offset}..{offset + size} lie outside the {len(data)}-byte file")
        return data[offset : offset + size]

    return read_at


def as_reader(source: ReadAt | BinaryIO, path: str, size: int, kind: str) -> ReadAt:
    """``source`` itself, or for a file the ``size`` bytes at its position, read whole as the readers always did."""
    if callable(source):
        return source
    data = source.read(size)
    if len(data) < size:
        raise MalformedBinary(f"{path}: truncated {kind} ({len(data)} of {size} bytes)", path=path)
    return bytes_reader(data)


def in_file_order(jobs: Sequence[tuple[int, Callable[[], None]]]) -> None:
    """Run ``jobs`` (file offset, job) by offset, so that a stream is read forwards; errors as in list order.

    A reader's tables come in an order of its own (PE: imports, then exports; in the file the exports
    usually come first, 1-3 MB before). The jobs only read, so the error raised is the one running them
    in list order would have raised: the first failing job's in the list, once the jobs before it ran.
    """
    errors: dict[int, Exception] = {}
    for index in sorted(range(len(jobs)), key=lambda i: jobs[i][0]):
        if errors and index > min(errors):
            continue  # its error could not be the one raised, and its result is not wanted
        try:
            jobs[index][1]()
        except Exception as exc:
            errors[index] = exc
    if errors:
        raise errors[min(errors)]


class Pages:
    """``size`` bytes behind ``read_at``, read on demand a page at a time and indexed like ``bytes``.

    The least recently used pages go once KEEP are held; a span longer than DIRECT is read
    as one piece and not kept (a table: read once, in order). Misses that follow each other
    are read in one call, so a stream sees few, mostly forward, reads.
    """

    PAGE = 64 * 1024
    KEEP = 32  # pages: 2 MiB
    DIRECT = 4 * PAGE
    STRINGS = 256 * 1024  # most bytes of a name table read at a time by cstrings()
    NAME = 1024  # what cstrings() reads past the last offset asked for: a name's usual length at most

    def __init__(self, read_at: ReadAt, size: int) -> None:
        self._read_at = read_at
        self._size = size
        self._pages: OrderedDict[int, bytes] = OrderedDict()

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> bytes: ...

    def __getitem__(self, index: int | slice) -> int | bytes:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._size)
            if step != 1:
                raise ValueError("Pages: slices with a step are not supported")
            return self.get(start, stop)
        at = index + self._size if index < 0 else index
        if not 0 <= at < self._size:
            raise IndexError("index out of range")
        return self._page(at // self.PAGE)[at % self.PAGE]

    def get(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)``, ``0 <= start``, clipped to the end like a slice."""
        stop = min(stop, self._size)
        if stop <= start:
            return b""
        if stop - start > self.DIRECT:
            return self._read_at(start, stop - start)
        first, last = start // self.PAGE, (stop - 1) // self.PAGE
        base = first * self.PAGE
        if first == last:
            return self._page(first)[start - base : stop - base]
        self._fetch(first, last)
        joined = b"".join(self._page(index) for index in range(first, last + 1))
        return joined[start - base : stop - base]

    def find(self, byte: bytes, start: int = 0, end: int | None = None) -> int:
        """``bytes.find`` for a single byte: the first ``byte`` in ``[start, end)``, or -1."""
        if len(byte) != 1:
            raise ValueError("Pages.find looks for a single byte")
        start, end, _ = slice(start, end).indices(self._size)
        at = start
        while at < end:
            index = at // self.PAGE
            base = index * self.PAGE
            found = self._page(index).find(byte, at - base, end - base)
            if found >= 0:
                return base + found
            at = base + self.PAGE
        return -1

    def startswith(self, prefixes: tuple[bytes, ...], start: int) -> bool:
        """``bytes.startswith(prefixes, start)``."""
        start = slice(start, None).indices(self._size)[0]
        return self.get(start, start + max(map(len, prefixes))).startswith(prefixes)

    def unpack_from(self, layout: str | struct.Struct, offset: int) -> tuple[Any, ...]:
        """``struct.unpack_from(layout, data, offset)``, with the same error for a span past the end."""
        packer = layout if isinstance(layout, struct.Struct) else struct.Struct(layout)
        need = packer.size
        at = offset
        if offset < 0:  # counted from the end, with CPython's checks in CPython's order
            if offset + need > 0:
                raise struct.error(f"not enough data to unpack {need} bytes at offset {offset}")
            if offset + self._size < 0:
                raise struct.error(f"offset {offset} out of range for {self._size}-byte buffer")
            at = offset + self._size
        if at + need > self._size:
            raise struct.error(
                f"unpack_from requires a buffer of at least {at + need} bytes for unpacking {need} bytes "
                f"at offset {at} (actual buffer size is {self._size})"
            )
        return packer.unpack(self.get(at, at + need))

    def cstrings(
        self, offsets: Sequence[int], end: int, *, whole: Container[int] = (), prefixes: tuple[bytes, ...] = ()
    ) -> dict[int, bytes]:
        """The NUL-terminated strings at ``offsets`` (ascending, each ``< end``), cut at ``end`` if no NUL comes first.

        Those at offsets in ``whole``, and the others only when they start with one of ``prefixes``
        (the export names a reader wants among thousands). The table is read forwards in pieces,
        not a page lookup per name: names are what big binaries have most of.
        """
        found: dict[int, bytes] = {}
        if not offsets:
            return found
        longest = max(map(len, prefixes), default=0)
        reach = min(offsets[-1] + self.NAME, end)
        piece, piece_at = b"", 0  # the part of the table read last, and where it starts
        checked_end = 0  # names starting before this can be checked against the prefixes in the piece
        for at in offsets:
            if not piece_at <= at < checked_end:
                piece, piece_at = self.get(at, min(max(min(at + self.STRINGS, reach), at + longest), end)), at
                piece_end = piece_at + len(piece)
                checked_end = piece_end if piece_end == end else piece_end - longest
            start = at - piece_at
            if at not in whole and not piece.startswith(prefixes, start):
                continue
            stop = piece.find(b"\0", start)
            while stop < 0 and piece_at + len(piece) < end:  # a name running past the piece
                piece_end = piece_at + len(piece)
                piece, piece_at = piece[start:] + self.get(piece_end, min(piece_end + self.STRINGS, end)), at
                start = 0
                stop = piece.find(b"\0")
            found[at] = piece[start : stop if stop >= 0 else len(piece)]
        return found

    def load(self, start: int, stop: int) -> None:
        """Read ``[start, stop)`` now, in one call, if it fits in half the pages kept.

        For a table walked by pointers (an export trie): its reads would otherwise jump back and forth.
        """
        stop = min(stop, self._size)
        if 0 <= start < stop:
            first, last = start // self.PAGE, (stop - 1) // self.PAGE
            if last - first < self.KEEP // 2:
                self._fetch(first, last)

    # -- the pages ---------------------------------------------------------------------------
    def _page(self, index: int) -> bytes:
        page = self._pages.get(index)
        if page is None:
            self._fetch(index, index)
            page = self._pages[index]
        else:
            self._pages.move_to_end(index)
        return page

    def _fetch(self, first: int, last: int) -> None:
        """Read the pages ``first..last`` not held yet, each run of them in one call."""
        index = first
        while index <= last:
            if index in self._pages:
                self._pages.move_to_end(index)
                index += 1
                continue
            run_end = index
            while run_end < last and run_end + 1 not in self._pages:
                run_end += 1
            start = index * self.PAGE
            data = self._read_at(start, min((run_end + 1) * self.PAGE, self._size) - start)
            for page in range(index, run_end + 1):
                self._pages[page] = data[(page - index) * self.PAGE : (page - index + 1) * self.PAGE]
            index = run_end + 1
        while len(self._pages) > max(self.KEEP, last - first + 1):
            self._pages.popitem(last=False)
