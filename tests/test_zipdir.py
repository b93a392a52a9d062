"""The zip central directory reader: every field against ``zipfile``, ZIP64, comments, and damaged end records.

Archives come two ways: from ``zipfile`` (the oracle for what a directory says) and by hand, byte by
byte after APPNOTE.TXT 4.3.12-4.3.16, for what ``zipfile`` never writes (ZIP64 fields in the central
directory below 4 GiB, multi-disk markers, broken records).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelaudit.wheel.zipdir import BadZip, ZipEntry, iter_central_directory, read_central_directory

from .conftest import SAMPLES

MAX = 1_000_000
STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED  # APPNOTE 4.4.5: 0 and 8
ZIP64_MARK = 0xFFFFFFFF


def read(data: bytes, max_entries: int = MAX) -> list[ZipEntry]:
    return read_central_directory(io.BytesIO(data), len(data), max_entries=max_entries)


def as_zipfile_sees_it(data: bytes) -> list[ZipEntry]:
    """The oracle: the same fields from ``zipfile``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [
            ZipEntry(
                i.filename,
                i.flag_bits,
                i.compress_type,
                i.CRC,
                i.compress_size,
                i.file_size,
                i.header_offset,
                i.external_attr,
            )
            for i in zf.infolist()
        ]


# -- archives by hand -------------------------------------------------------------------------------


def local_header(name: bytes, data: bytes, *, zip64: bool = False, flags: int = 0) -> bytes:
    size = ZIP64_MARK if zip64 else len(data)
    extra = struct.pack("<HH2Q", 1, 16, len(data), len(data)) if zip64 else b""
    crc = zlib.crc32(data)
    head = struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, flags, STORED, 0, 0x21, crc, size, size, len(name), len(extra))
    return head + name + extra


def central_entry(
    name: bytes,
    *,
    crc: int = 0,
    csize: int = 0,
    usize: int = 0,
    offset: int = 0,
    flags: int = 0,
    method: int = STORED,
    extra: bytes = b"",
    attr: int = 0,
    signature: bytes = b"PK\x01\x02",
) -> bytes:
    return (
        struct.pack(
            "<4s6H3L5H2L",
            signature,
            45,
            45,
            flags,
            method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(name),
            len(extra),
            0,
            0,
            0,
            attr,
            offset,
        )
        + name
        + extra
    )


def end_record(count: int, cd_size: int, cd_offset: int, *, comment: bytes = b"", disk: int = 0) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", disk, disk, count, count, cd_size, cd_offset, len(comment)) + comment


def zip64_end(
    count: int, cd_size: int, cd_offset: int, at: int, *, disk: int = 0, signature: bytes = b"PK\x06\x06"
) -> bytes:
    """The ZIP64 end record (written at ``at``) and its locator."""
    record = struct.pack("<4sQ2H2L4Q", signature, 44, 45, 45, disk, disk, count, count, cd_size, cd_offset)
    return record + struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)


def hand_zip(members: list[tuple[bytes, bytes]], *, zip64: bool = False, comment: bytes = b"") -> bytes:
    """A stored archive; with ``zip64`` every size, offset and count is in the ZIP64 records."""
    body = b""
    entries = b""
    for name, data in members:
        offset = len(body)
        body += local_header(name, data, zip64=zip64) + data
        if zip64:
            extra = struct.pack("<HH3Q", 1, 24, len(data), len(data), offset)
            entries += central_entry(
                name, crc=zlib.crc32(data), csize=ZIP64_MARK, usize=ZIP64_MARK, offset=ZIP64_MARK, extra=extra
            )
        else:
            entries += central_entry(name, crc=zlib.crc32(data), csize=len(data), usize=len(data), offset=offset)
    cd_offset = len(body)
    if not zip64:
        return body + entries + end_record(len(members), len(entries), cd_offset, comment=comment)
    tail = zip64_end(len(members), len(entries), cd_offset, cd_offset + len(entries))
    return body + entries + tail + end_record(0xFFFF, ZIP64_MARK, ZIP64_MARK, comment=comment)


MEMBERS = [(b"pkg/__init__.py", b""), (b"pkg/mod.so", b"\x7fELF" + bytes(300)), (b"pkg-1.0.dist-info/RECORD", b"x,,\n")]


# -- what zipfile writes --------------------------------------------------------------------------


def test_every_field_matches_zipfile_for_a_written_archive() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo("pkg/a.py"), b"print(1)\n" * 50, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo("pkg/b.bin"), bytes(range(256)), compress_type=zipfile.ZIP_STORED)
        script = zipfile.ZipInfo("pkg-1.0.data/scripts/run")
        script.external_attr = 0o100755 << 16
        zf.writestr(script, b"#!/bin/sh\n")
        zf.writestr(zipfile.ZipInfo("pkg/naïve.txt"), b"utf-8 name")  # zipfile sets the UTF-8 flag
        zf.writestr(zipfile.ZipInfo("pkg/"), b"")
    data = buffer.getvalue()
    entries = read(data)
    assert entries == as_zipfile_sees_it(data)
    assert [e.method for e in entries] == [DEFLATED, STORED, STORED, STORED, STORED]
    assert entries[2].external_attr >> 16 == 0o100755
    assert entries[3].name == "pkg/naïve.txt" and entries[3].flags & 0x800


@pytest.mark.parametrize("wheel", sorted(SAMPLES.glob("*.whl")), ids=lambda p: p.name.split("-")[0])
def test_every_sample_wheel_matches_zipfile(wheel: Path) -> None:
    data = wheel.read_bytes()
    entries = read(data)
    assert entries == as_zipfile_sees_it(data)
    assert any(e.name.endswith(".dist-info/RECORD") for e in entries)


@pytest.mark.parametrize("comment", [b"", b"a comment", b"x" * 0xFFFF, b"ends with a false PK\x05\x06 signature"])
def test_an_archive_comment_is_skipped(comment: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.txt", b"a")
        zf.comment = comment
    data = buffer.getvalue()
    assert data.endswith(comment)
    assert [(e.name, e.size) for e in read(data)] == [("a.txt", 1)]


def test_zipfile_writes_a_zip64_end_record_past_65535_entries() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(0x10000):
            zf.writestr(zipfile.ZipInfo(f"m/{i}"), b"")
    data = buffer.getvalue()
    assert b"PK\x06\x06" in data[-200:], "zipfile wrote no ZIP64 end record: the test would prove nothing"
    entries = read(data)
    assert len(entries) == 0x10000 and entries[-1].name == "m/65535"
    assert entries[-1].header_offset == as_zipfile_sees_it(data)[-1].header_offset
    with pytest.raises(BadZip, match=r"^65536 entries \(limit 65535\)$"):
        read(data, max_entries=0xFFFF)


# -- by hand ----------------------------------------------------------------------------------------


def test_a_hand_made_archive_reads_the_same_as_with_zipfile() -> None:
    data = hand_zip(MEMBERS)
    assert read(data) == as_zipfile_sees_it(data)
    assert [(e.name, e.size, e.header_offset) for e in read(data)][:2] == [
        ("pkg/__init__.py", 0, 0),
        ("pkg/mod.so", 304, 30 + len(b"pkg/__init__.py")),
    ]


@pytest.mark.parametrize("comment", [b"", b"PK\x05\x06 in the comment"])
def test_zip64_sizes_offsets_and_counts_come_from_the_zip64_records(comment: bytes) -> None:
    data = hand_zip(MEMBERS, zip64=True, comment=comment)
    entries = read(data)
    # zipfile reads the archive without the comment (a false signature in the last 21 bytes misleads it)
    assert entries == as_zipfile_sees_it(hand_zip(MEMBERS, zip64=True))
    plain = read(hand_zip(MEMBERS))
    assert [(e.name, e.size, e.compressed_size, e.crc) for e in entries] == [
        (e.name, e.size, e.compressed_size, e.crc) for e in plain
    ]
    assert entries[2].header_offset > ZIP64_MARK // 2**24  # from the extra field, not the 0xFFFFFFFF mark
    assert all(e.size != ZIP64_MARK and e.header_offset != ZIP64_MARK for e in entries)


def test_a_zip64_field_holds_only_the_values_marked() -> None:
    """APPNOTE 4.5.3: the field lists only the values whose 32-bit slot is 0xFFFFFFFF, in a fixed order."""
    extra = struct.pack("<HH", 0x5455, 5) + b"\x01abcd" + struct.pack("<HHQ", 1, 8, 7_000_000_000)
    entry = central_entry(b"big.bin", csize=1234, usize=ZIP64_MARK, offset=0, extra=extra)
    data = entry + end_record(1, len(entry), 0)
    [found] = read(data)
    assert (found.size, found.compressed_size, found.header_offset) == (7_000_000_000, 1234, 0)


def test_a_name_without_the_utf8_flag_is_cp437() -> None:
    entry = central_entry(b"caf\x82.txt")
    [found] = read(entry + end_record(1, len(entry), 0))
    assert found.name == "café.txt"


def test_entries_come_one_by_one_and_a_damaged_one_raises_when_reached() -> None:
    good = central_entry(b"first.txt", usize=1, csize=1)
    bad = central_entry(b"second.txt", signature=b"PK\x01\x03")
    data = good + bad + end_record(2, len(good + bad), 0)
    entries: Iterator[ZipEntry] = iter_central_directory(io.BytesIO(data), len(data), max_entries=MAX)
    assert next(entries).name == "first.txt"
    with pytest.raises(BadZip, match=r"^bad central directory entry signature$"):
        next(entries)


# -- damaged end records and entries ---------------------------------------------------------------


def _entry_then_end(entry: bytes, **end: int) -> bytes:
    fields = {"count": 1, "cd_size": len(entry), "cd_offset": 0, **end}
    return entry + end_record(fields["count"], fields["cd_size"], fields["cd_offset"], disk=fields.get("disk", 0))


def _zip64_with(
    *, disk: int = 0, signature: bytes = b"PK\x06\x06", at: int | None = None, damaged_locator: bool = False
) -> bytes:
    """A one-entry ZIP64 archive by hand, with one of its end records changed."""
    entry = central_entry(b"a")
    tail = zip64_end(1, len(entry), 0, len(entry) if at is None else at, disk=disk, signature=signature)
    if damaged_locator:
        tail = tail[:56] + b"PK\x06\x08" + tail[60:]
    return entry + tail + end_record(0xFFFF, ZIP64_MARK, ZIP64_MARK)


BROKEN = [
    ("empty", b"", "^no end of central directory record$"),
    ("not a zip", b"this is not a zip file\n" * 40, "^no end of central directory record$"),
    ("end record cut short", end_record(0, 0, 0)[:21], "^no end of central directory record$"),
    ("multi-disk", _entry_then_end(central_entry(b"a"), disk=1), "^multi-disk archives are not supported$"),
    (
        "directory past its end record",
        _entry_then_end(central_entry(b"a"), cd_size=len(central_entry(b"a")) + 10),
        "runs past its end record",
    ),
    ("directory ends early", _entry_then_end(central_entry(b"a"), count=2), "^the central directory ends early$"),
    ("bad entry signature", _entry_then_end(central_entry(b"a", signature=b"PK\x03\x04")), "^bad central directory"),
    (
        "entry runs past the directory",
        _entry_then_end(central_entry(b"a"), cd_size=len(central_entry(b"a")) - 1),
        "^a central directory entry runs past the directory$",
    ),
    ("name is not UTF-8", _entry_then_end(central_entry(b"\xff\xfe", flags=0x800)), r"is not valid UTF-8$"),
    (
        "ZIP64 marks but no ZIP64 field",
        _entry_then_end(central_entry(b"a", usize=ZIP64_MARK)),
        "^an entry needs ZIP64 sizes but has no ZIP64 field$",
    ),
    (
        "ZIP64 field too short",
        _entry_then_end(central_entry(b"a", usize=ZIP64_MARK, csize=ZIP64_MARK, extra=struct.pack("<HHQ", 1, 8, 5))),
        "^ZIP64 compressed size missing$",
    ),
    (
        "ZIP64 offset missing",
        _entry_then_end(central_entry(b"a", offset=ZIP64_MARK, extra=struct.pack("<HH", 1, 0))),
        "^ZIP64 offset missing$",
    ),
    (
        "extra field past its entry",
        _entry_then_end(central_entry(b"a", usize=ZIP64_MARK, extra=struct.pack("<HHQ", 1, 16, 5))),
        "^an extra field runs past its central directory entry$",
    ),
    ("ZIP64 locator missing", end_record(0xFFFF, ZIP64_MARK, ZIP64_MARK), "^ZIP64 end record locator missing$"),
    ("ZIP64 locator damaged", _zip64_with(damaged_locator=True), "^ZIP64 end record locator damaged$"),
    ("ZIP64 record after its locator", _zip64_with(at=10_000), "^ZIP64 end record locator damaged$"),
    ("ZIP64 record damaged", _zip64_with(signature=b"PK\x06\x05"), "^ZIP64 end record damaged$"),
    ("ZIP64 multi-disk", _zip64_with(disk=2), "^multi-disk archives are not supported$"),
]


@pytest.mark.parametrize(("data", "message"), [row[1:] for row in BROKEN], ids=[row[0] for row in BROKEN])
def test_a_damaged_directory_is_refused_with_its_reason(data: bytes, message: str) -> None:
    with pytest.raises(BadZip, match=message):
        read(data)


def test_the_hand_made_zip64_archive_is_valid_before_it_is_damaged() -> None:
    """The damaged ZIP64 rows above differ from a good archive in the one field they name."""
    [entry] = read(_zip64_with())
    assert entry.name == "a"


def test_a_truncated_directory_is_refused() -> None:
    data = hand_zip(MEMBERS)
    cut = data.rfind(b"PK\x05\x06")
    damaged = data[: cut - 60] + data[cut:]  # the end record still points at the full directory
    with pytest.raises(BadZip, match=r"^the central directory runs past its end record \(truncated file\?\)$"):
        read(damaged)


def test_bad_zip_is_a_value_error_and_the_wheel_reader_reports_it(tmp_path: Path) -> None:
    import wheelaudit

    assert issubclass(BadZip, ValueError)
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(hand_zip(MEMBERS)[:-22])  # no end record
    with pytest.raises(wheelaudit.WheelError, match="end of central directory"):
        wheelaudit.audit(wheel)
