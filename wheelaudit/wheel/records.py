"""RECORD (PEP 376, PEP 427): its rows, reading, hashing and writing, for the reader and the writer alike.

A RECORD hash field is ``<algorithm>=<digest>``, the digest urlsafe base64 without
padding. Reading keeps every field as written (hash and size may be empty, as they
are for RECORD itself); what a field means is decided by the functions below.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping

from .._typing import NamedTuple
from ..errors import InvalidWheel
from .zipdir import MemberTable

#: The hash algorithms a RECORD may use (PEP 427: sha256 or stronger, from hashlib's guaranteed set).
HASH_ALGORITHMS = ("sha256", "sha384", "sha512")


class RecordRow(NamedTuple):
    """One line of RECORD, as written (hash and size may be empty); a named tuple, like a member."""

    path: str
    hash: str  # "sha256=<urlsafe b64>" or ""
    size: str  # decimal string or ""


def parse_record(text: str, where: str) -> dict[str, RecordRow]:
    """RECORD's rows by path; ``where`` ("x.whl: x-1.0.dist-info/RECORD") starts the error messages.

    The rows csv.reader gives fed ``text.splitlines(keepends=True)``, read as
    :class:`RecordTable` reads a wheel's RECORD (one reader for both).
    """
    return dict(RecordTable(text.encode("utf-8"), where, MemberTable()).items())


class RecordTable(Mapping[str, RecordRow]):
    """RECORD's rows by path, as :func:`parse_record` gives them, kept as RECORD's own bytes and an index.

    A wheel may hold 500,000 members: as a dict of rows (three strings and a tuple
    each, the path a second copy of the member name) RECORD took ~350 bytes a row;
    here a row costs its bytes and two 4-byte slots, and is parsed again when asked
    for. Rows are found by the member they describe (its position in the member table);
    the few paths that are not members have a dict of their own. A path listed twice
    has the last row's fields at the first row's place, as in a dict.
    """

    __slots__ = ("_data", "_members", "_order", "_others", "_row_of")

    def __init__(self, data: bytes | bytearray, where: str, members: MemberTable) -> None:
        """Index ``data``; ``where`` ("x.whl: x-1.0.dist-info/RECORD") starts the error messages."""
        _check_utf8(data, where)
        self._data = data
        self._members = members
        self._row_of = array("i", [-1]) * len(members)  # member position -> where its row starts
        self._others: dict[str, int] = {}  # path that is no member -> where its row starts
        self._order = array("i")  # paths in first-row order: member position, or ~row start
        row_of, others, order = self._row_of, self._others, self._order
        find = members.columns()[0].get
        start = 0
        size = len(data)
        limit = csv.field_size_limit()
        try:
            while start < size:
                row, stop = _read_row(data, start, limit)
                if row:
                    if len(row) != 3:
                        raise InvalidWheel(f"{where} has a row with {len(row)} fields: {row[:3]!r}")
                    i = find(row[0], -1)
                    if i >= 0:
                        if row_of[i] < 0:
                            order.append(i)
                        row_of[i] = start
                    else:
                        if row[0] not in others:
                            order.append(~start)
                        others[row[0]] = start
                start = stop
        except csv.Error as exc:
            raise InvalidWheel(f"{where} is not valid CSV ({exc})") from None

    def _row(self, start: int) -> RecordRow:
        row = _read_row(self._data, start, csv.field_size_limit())[0]
        return RecordRow(row[0], row[1], row[2])

    def _start(self, path: object) -> int:
        if not isinstance(path, str):
            return -1
        i = self._members.find(path)
        return self._row_of[i] if i >= 0 else self._others.get(path, -1)

    def __getitem__(self, path: str) -> RecordRow:
        start = self._start(path)
        if start < 0:
            raise KeyError(path)
        return self._row(start)

    def __contains__(self, path: object) -> bool:
        return self._start(path) >= 0

    def __iter__(self) -> Iterator[str]:
        names: list[str] | None = None
        for v in self._order:
            if v >= 0:
                if names is None:
                    names = list(self._members)
                yield names[v]
            else:
                yield self._row(~v).path

    def __len__(self) -> int:
        return len(self._order)


#: What csv treats specially, or what may make a line split otherwise than at its newline: such a
#: line is left to csv. Anything else is ASCII text whose fields are what lies between the commas.
_SPECIAL = re.compile(rb'["\r\x00\x0b\x0c\x1c-\x1e\x80-\xff]')


def _read_row(data: bytes | bytearray, start: int, limit: int) -> tuple[list[str], int]:
    """The row that starts at byte ``start`` (``[]`` for a blank line), and where the next one starts.

    The fields are those csv.reader gives fed the text's ``splitlines(keepends=True)``.
    A plain line (nearly all) is split at its commas here, for speed; any other goes
    to csv, which reads on over the lines a quoted field spans.
    """
    nl = data.find(b"\n", start)
    stop = len(data) if nl < 0 else nl + 1
    body = data[start : stop - 1] if nl >= 0 else data[start:stop]
    if body.endswith(b"\r"):
        body = body[:-1]
    if len(body) <= limit and _SPECIAL.search(body) is None:  # limit: csv's on a field
        return (body.decode("ascii").split(",") if body else []), stop
    end = [start]
    row = next(csv.reader(_lines(data, start, end)))
    return row, end[0]


def _check_utf8(data: bytes | bytearray, where: str) -> None:
    """Refuse RECORD unless it is all UTF-8, a megabyte at a time (never a second copy of it as text)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for at in range(0, len(data), 1 << 20):
            decoder.decode(data[at : at + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidWheel(f"{where} is not UTF-8") from None


def _lines(data: bytes | bytearray, at: int, end: list[int]) -> Iterator[str]:
    """RECORD's lines from byte ``at`` on, split as ``str.splitlines(keepends=True)`` splits the whole text.

    ``end[0]`` is set to the byte offset after each line before it is handed out, so a
    reader knows where the next row starts.
    """
    size = len(data)
    while at < size:
        nl = data.find(b"\n", at)
        stop = size if nl < 0 else nl + 1
        text = data[at:stop].decode("utf-8")
        pieces = text.splitlines(keepends=True)
        if len(pieces) == 1:
            end[0] = stop
            yield text
        else:  # other line boundaries (a lone CR, FF, VT, U+2028, ...) that splitlines honours too
            for piece in pieces:
                at += len(piece.encode("utf-8"))
                end[0] = at
                yield piece
        at = stop


#: A field csv.writer would quote (or refuse): anything else it writes as it is.
_QUOTED = re.compile('[,"\r\n\x00]')


def record_line(path: str, hash_: str, size: int | str) -> str:
    """One RECORD row as csv.writer writes it (``lineterminator="\\n"``), fields quoted only where csv quotes.

    Most rows need no quoting and are joined here: the writer of a repaired wheel
    makes one for each of up to 500,000 members.
    """
    if _QUOTED.search(path) or _QUOTED.search(hash_) or (isinstance(size, str) and _QUOTED.search(size)):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow((path, hash_, size))
        return out.getvalue()
    return f"{path},{hash_},{size}\n"


def serialise_record(rows: Iterable[RecordRow], record_name: str) -> bytes:
    """RECORD's bytes: ``rows`` in order, then RECORD's own row with neither hash nor size."""
    lines = [record_line(row.path, row.hash, row.size) for row in rows]
    lines.append(record_line(record_name, "", ""))
    return "".join(lines).encode("utf-8")


def _b64(digest: bytes) -> str:
    import base64  # here: only writing a RECORD needs it

    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def record_hash(digest: bytes) -> str:
    """A RECORD hash field for a SHA-256 ``digest``: ``sha256=`` and the urlsafe base64 digest without padding."""
    return "sha256=" + _b64(digest)


def hash_algorithm(field: str) -> str:
    """The algorithm a hash field names (check it against HASH_ALGORITHMS); sha256 for an empty field."""
    return field.split("=", 1)[0] if field else "sha256"


def hash_matches(field: str, digest: bytes) -> bool:
    """Whether the hash field ``field`` records ``digest`` (padding, which PEP 376 omits, is tolerated)."""
    expected = field.split("=", 1)[1] if "=" in field else ""
    return expected.rstrip("=") == _b64(digest)
