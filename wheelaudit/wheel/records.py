"""RECORD (PEP 376, PEP 427): its rows, reading, hashing and writing, for the reader and the writer alike.

A RECORD hash field is ``<algorithm>=<digest>``, the digest urlsafe base64 without
padding. Reading keeps every field as written (hash and size may be empty, as they
are for RECORD itself); what a field means is decided by the functions below.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable
from typing import NamedTuple

from ..errors import InvalidWheel

#: The hash algorithms a RECORD may use (PEP 427: sha256 or stronger, from hashlib's guaranteed set).
HASH_ALGORITHMS = ("sha256", "sha384", "sha512")


class RecordRow(NamedTuple):
    """One line of RECORD, as written (hash and size may be empty); a named tuple, like a member."""

    path: str
    hash: str  # "sha256=<urlsafe b64>" or ""
    size: str  # decimal string or ""


def parse_record(text: str, where: str) -> dict[str, RecordRow]:
    """RECORD's rows by path; ``where`` ("x.whl: x-1.0.dist-info/RECORD") starts the error messages."""
    rows: dict[str, RecordRow] = {}
    try:
        # Lines, not io.StringIO: its buffer takes four bytes a character (RECORD of 500,000 rows: 200 MB).
        for row in csv.reader(text.splitlines(keepends=True)):
            if not row:
                continue
            if len(row) != 3:
                raise InvalidWheel(f"{where} has a row with {len(row)} fields: {row[:3]!r}")
            rows[row[0]] = RecordRow(row[0], row[1], row[2])
    except csv.Error as exc:
        raise InvalidWheel(f"{where} is not valid CSV ({exc})") from None
    return rows


def serialise_record(rows: Iterable[RecordRow], record_name: str) -> bytes:
    """RECORD's bytes: ``rows`` in order, then RECORD's own row with neither hash nor size."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row.path, row.hash, row.size])
    writer.writerow([record_name, "", ""])
    return out.getvalue().encode("utf-8")


def _b64(digest: bytes) -> str:
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
