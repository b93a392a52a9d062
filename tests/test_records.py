"""RECORD (wheelaudit.wheel.records) against pypa/installer's reader and hash check, the reference for PEP 376/427."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from installer.records import Hash, parse_record_file
from installer.utils import copyfileobj_with_hashing

from wheelaudit.errors import InvalidWheel
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.records import (
    HASH_ALGORITHMS,
    RecordRow,
    hash_algorithm,
    hash_matches,
    parse_record,
    record_hash,
    serialise_record,
)

from .conftest import SAMPLES

DATA = b"#!/usr/bin/env python\nprint('wheelaudit')\n"


def installer_field(algorithm: str, data: bytes = DATA) -> str:
    """A RECORD hash field as pypa/installer writes it."""
    value, _ = copyfileobj_with_hashing(io.BytesIO(data), io.BytesIO(), algorithm)
    return f"{algorithm}={value}"


def installer_rows(text: str) -> dict[str, RecordRow]:
    """RECORD as pypa/installer reads it (it takes lines without blank ones), last row of a path winning."""
    return {p: RecordRow(p, h, s) for p, h, s in parse_record_file(line for line in text.splitlines() if line)}


def record_text(wheel: Path) -> str:
    """A wheel's RECORD read with zipfile, not with the reader under test."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1)
        return zf.read(name).decode("utf-8")


def test_rows_of_every_sample_wheel_match_installer() -> None:
    wheels = sorted(SAMPLES.glob("*.whl"))
    assert len(wheels) >= 9
    for wheel in wheels:
        assert WheelArchive(wheel).record == installer_rows(record_text(wheel)), wheel.name


@pytest.mark.real
def test_rows_of_every_real_wheel_match_installer(all_real_wheels: dict[str, Path]) -> None:
    assert len(all_real_wheels) > 50
    for name, wheel in all_real_wheels.items():
        assert parse_record(record_text(wheel), name) == installer_rows(record_text(wheel)), name


@pytest.mark.parametrize("algorithm", HASH_ALGORITHMS)
def test_a_field_installer_writes_is_one_we_accept_and_match(algorithm: str) -> None:
    field = installer_field(algorithm)
    digest = hashlib.new(algorithm, DATA).digest()
    assert Hash.parse(field).validate(DATA)
    assert hash_algorithm(field) == algorithm
    assert hash_matches(field, digest)
    assert not hash_matches(field, hashlib.new(algorithm, DATA + b"\n").digest())


def test_record_hash_is_the_sha256_field_installer_writes() -> None:
    assert record_hash(hashlib.sha256(DATA).digest()) == installer_field("sha256")


SHA256 = installer_field("sha256")
NO_EQUALS = SHA256.replace("=", "", 1)


@pytest.mark.parametrize(
    ("field", "algorithm", "matches"),
    [
        ("", "sha256", False),  # no hash (RECORD's own row): hashed as sha256 when needed
        (SHA256 + "=", "sha256", True),  # padding, which PEP 376 omits, is tolerated
        (SHA256[:-1], "sha256", False),  # cut short
        (NO_EQUALS, NO_EQUALS, False),  # no '=': the whole field names the algorithm, which the caller refuses
        (installer_field("md5"), "md5", False),  # an algorithm the caller refuses (not in HASH_ALGORITHMS)
        (installer_field("sha384"), "sha384", False),  # another algorithm's digest
    ],
    ids=["empty", "padded", "short", "no-equals", "md5", "other-algorithm"],
)
def test_near_misses_against_the_sha256_digest(field: str, algorithm: str, matches: bool) -> None:
    assert hash_algorithm(field) == algorithm
    assert hash_matches(field, hashlib.sha256(DATA).digest()) is matches


def test_written_record_reads_back_the_same_with_installer() -> None:
    rows = [
        RecordRow("pkg/__init__.py", installer_field("sha256"), str(len(DATA))),
        RecordRow("pkg/a, b.py", installer_field("sha256", b""), "0"),  # a comma: quoted
        RecordRow('pkg/"quoted".txt', installer_field("sha512"), "7"),  # quotes: doubled
        RecordRow("pkg/ünïcode ✓.txt", installer_field("sha384"), "12"),
        RecordRow("pkg-1.0.dist-info/METADATA", "", ""),
    ]
    data = serialise_record(rows, "pkg-1.0.dist-info/RECORD")
    text = data.decode("utf-8")
    assert text.endswith("pkg-1.0.dist-info/RECORD,,\n")
    expected = {r.path: r for r in [*rows, RecordRow("pkg-1.0.dist-info/RECORD", "", "")]}
    assert installer_rows(text) == expected
    assert parse_record(text, "RECORD") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.py,sha256=x\n", "has a row with 2 fields"),
        ("a.py,sha256=x,1,extra\n", "has a row with 4 fields"),
    ],
)
def test_rows_without_three_fields_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidWheel, match=f"x.whl: x-1.dist-info/RECORD {message}"):
        parse_record(text, "x.whl: x-1.dist-info/RECORD")
    with pytest.raises(Exception, match="expected 3 elements"):
        installer_rows(text)


def test_blank_lines_are_skipped() -> None:
    assert parse_record("\na.py,,\n\n", "RECORD") == {"a.py": RecordRow("a.py", "", "")}
