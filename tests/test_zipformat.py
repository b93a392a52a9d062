"""The zip record layouts (wheelaudit.wheel.zipformat) against the standard library's zipfile, field by field.

zipfile spells some pairs of one-byte fields where APPNOTE has one two-byte field
(version made by / needed: version, then host system), so its values are merged
pairwise before the comparison; everything else must agree exactly, on bytes zipfile
wrote and on bytes our writer wrote.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

import pytest

from wheelaudit.wheel import zipformat as zf
from wheelaudit.wheel.writer import WheelWriter

#: (ours, zipfile's format, zipfile's signature)
LAYOUTS = {
    "local": (zf.LOCAL_HEADER, zipfile.structFileHeader, zipfile.stringFileHeader),
    "central": (zf.CENTRAL_HEADER, zipfile.structCentralDir, zipfile.stringCentralDir),
    "eocd": (zf.EOCD, zipfile.structEndArchive, zipfile.stringEndArchive),
    "eocd64": (zf.EOCD64, zipfile.structEndArchive64, zipfile.stringEndArchive64),
    "eocd64-locator": (zf.EOCD64_LOCATOR, zipfile.structEndArchive64Locator, zipfile.stringEndArchive64Locator),
}
SIGNATURES = {
    "local": zf.LOCAL_SIG,
    "central": zf.CENTRAL_SIG,
    "eocd": zf.EOCD_SIG,
    "eocd64": zf.EOCD64_SIG,
    "eocd64-locator": zf.EOCD64_LOCATOR_SIG,
}


def as_zipfile_reads(kind: str, raw: bytes) -> tuple[object, ...]:
    """The record as zipfile's layout reads it, each pair of one-byte fields merged into one little-endian field."""
    _, theirs, _ = LAYOUTS[kind]
    fmt = theirs.decode() if isinstance(theirs, bytes) else theirs
    codes = [
        c
        for count, code in re.findall(r"(\d*)([a-zA-Z])", fmt[1:])
        for c in ([code] if code == "s" else code * int(count or 1))
    ]
    values = list(struct.unpack_from(fmt, raw))
    merged: list[object] = []
    i = 0
    while i < len(values):
        if codes[i] == "B":
            merged.append(int(values[i]) | int(values[i + 1]) << 8)
            i += 2
        else:
            merged.append(values[i])
            i += 1
    return tuple(merged)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_sizes_and_signatures_agree_with_zipfile(kind: str) -> None:
    ours, theirs, signature = LAYOUTS[kind]
    assert ours.size == struct.calcsize(theirs)
    assert SIGNATURES[kind] == signature


def test_data_descriptor_signature_agrees_with_zipfile() -> None:
    assert struct.pack("<I", zipfile._DD_SIGNATURE) == zf.DATA_DESCRIPTOR_SIG


def records(data: bytes) -> dict[str, bytes]:
    """The first local header, the first central header and the end records of a zip, as raw bytes."""
    out = {"local": data[: zf.LOCAL_HEADER.size]}
    eocd_at = data.rindex(zf.EOCD_SIG)
    out["eocd"] = data[eocd_at : eocd_at + zf.EOCD.size]
    central_at = zf.EOCD.unpack_from(data, eocd_at)[6]
    if zf.EOCD64_LOCATOR_SIG in data:
        locator_at = eocd_at - zf.EOCD64_LOCATOR.size
        out["eocd64-locator"] = data[locator_at:eocd_at]
        eocd64_at = zf.EOCD64_LOCATOR.unpack_from(data, locator_at)[2]
        out["eocd64"] = data[eocd64_at : eocd64_at + zf.EOCD64.size]
        central_at = zf.EOCD64.unpack_from(data, eocd64_at)[9]
    out["central"] = data[central_at : central_at + zf.CENTRAL_HEADER.size]
    return out


def zipfile_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pkg/__init__.py", b"x = 1\n" * 100)
        z.writestr("pkg-1.0.dist-info/RECORD", b"")
    return buffer.getvalue()


def writer_archive(tmp_path: Path, members: int) -> bytes:
    """Our writer's output; past 65,534 members it writes the ZIP64 end records."""
    with WheelWriter(tmp_path / "pkg-1.0-py3-none-any.whl", epoch=315532800) as w:
        w.add_bytes("pkg/__init__.py", b"x = 1\n" * 100)
        for i in range(members - 2):
            w.add_bytes(f"pkg/m{i}", b"", mode=0o644)
        out = w.finish("pkg-1.0.dist-info/RECORD")
    return out.read_bytes()


def test_records_zipfile_wrote_read_the_same_both_ways() -> None:
    found = records(zipfile_archive())
    assert set(found) == {"local", "central", "eocd"}
    for kind, raw in found.items():
        assert LAYOUTS[kind][0].unpack(raw) == as_zipfile_reads(kind, raw), kind


def test_records_our_writer_wrote_read_the_same_both_ways(tmp_path: Path) -> None:
    """With ZIP64 end records (65,535 members), so every layout is exercised on real bytes."""
    data = writer_archive(tmp_path, 0xFFFF)
    found = records(data)
    assert set(found) == set(LAYOUTS)
    for kind, raw in found.items():
        assert LAYOUTS[kind][0].unpack(raw) == as_zipfile_reads(kind, raw), kind
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert len(z.infolist()) == 0xFFFF
        assert z.read("pkg/__init__.py") == b"x = 1\n" * 100


def test_zip64_extra_reads_back() -> None:
    extra = zf.zip64_extra(1 << 33, 7) + zf.EXTRA_HEADER.pack(0x5455, 5) + b"\x03" + b"\0" * 4
    fields = list(zf.iter_extra(extra))
    assert [(tag, size) for tag, size, _ in fields] == [(zf.ZIP64_EXTRA, 16), (0x5455, 5)]
    assert zf.zip64_values(fields[0][2]) == [1 << 33, 7]
    cut = list(zf.iter_extra(extra[:-2]))  # the last field runs past the block: its data is cut short
    assert cut[-1][1] == 5 and len(cut[-1][2]) == 3
