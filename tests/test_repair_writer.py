"""WheelWriter: the zip it writes is what zipfile, pip and `wheel` read, ZIP64 included, byte-stable."""

from __future__ import annotations

import calendar
import zipfile
from pathlib import Path

import pytest

from wheelaudit.repairing.naming import hashed_name
from wheelaudit.wheel import writer as writer_module
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.writer import WheelWriter, build_epoch

from .conftest import sample_wheel


def _write(path: Path, members: dict[str, bytes], epoch: int = 0) -> Path:
    with WheelWriter(path, epoch=epoch or None) as w:
        for name, data in members.items():
            w.add_bytes(name, data, mode=0o755 if name.endswith(".so") else 0o644)
        w.finish("pkg-1.0.dist-info/RECORD")
    return path


def test_roundtrip_and_determinism(tmp_path: Path) -> None:
    members = {"pkg/__init__.py": b"x = 1\n", "pkg/mod.so": b"\x7fELF" + bytes(5000), "pkg/é.txt": b"utf-8 name"}
    a = _write(tmp_path / "a.whl", members)
    b = _write(tmp_path / "b.whl", members)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert z.testzip() is None
        assert {n: z.read(n) for n in members} == members
        assert z.getinfo("pkg/mod.so").external_attr >> 16 == 0o100755
        assert z.getinfo("pkg/__init__.py").external_attr >> 16 == 0o100644
        assert z.getinfo("pkg/__init__.py").date_time == (1980, 1, 1, 0, 0, 0)
        assert z.namelist()[-1] == "pkg-1.0.dist-info/RECORD"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.whl", "b.whl"], "no temporary file left"


def test_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build_epoch() == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "12")  # before 1980: clipped
    assert build_epoch() == writer_module.DEFAULT_EPOCH
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "garbage")
    assert build_epoch() == writer_module.DEFAULT_EPOCH
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99999999999")  # past 2107: clipped to the last DOS time
    assert build_epoch() == writer_module.LATEST_EPOCH == calendar.timegm((2107, 12, 31, 23, 59, 58, 0, 0, 0))
    assert writer_module.dos_datetime(writer_module.LATEST_EPOCH) == (0xBF7D, 0xFF9F)  # 23:59:58, 2107-12-31


def test_zip64_local_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "ZIP64_SAFE_SIZE", 0)  # every new member takes the ZIP64 path
    path = _write(tmp_path / "z.whl", {"pkg/a.bin": bytes(range(256)) * 1000, "pkg/b.txt": b"b"})
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert z.read("pkg/a.bin") == bytes(range(256)) * 1000
    raw = path.read_bytes()
    assert raw[4:6] == (45).to_bytes(2, "little"), "version needed 4.5 for ZIP64"


@pytest.mark.slow
def test_zip64_end_records_for_many_members(tmp_path: Path) -> None:
    count = 0x10000 + 5
    path = tmp_path / "many.whl"
    with WheelWriter(path, compresslevel=0) as w:
        for i in range(count):
            w.add_bytes(f"pkg/{i}", b"")
        w.finish("pkg-1.0.dist-info/RECORD")
    assert b"PK\x06\x06" in path.read_bytes()[-200:]
    with zipfile.ZipFile(path) as z:
        assert len(z.infolist()) == count + 1


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), WheelWriter(tmp_path / "x.whl") as w:
        w.add_bytes("a", b"a")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_raw_copy_keeps_compressed_bytes(tmp_path: Path) -> None:
    src = sample_wheel("wa_sample_abi3-")
    archive = WheelArchive(src)
    out = tmp_path / src.name
    with WheelWriter(out) as w:
        for member in archive.files():
            if member.name == archive.record_name:
                continue
            with archive.open(member) as stream:
                w.copy_raw(member, stream.iter_compressed(), archive.record[member.name].hash)
        w.finish(archive.record_name)
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out) as b:
        for info in a.infolist():
            if info.filename.endswith("RECORD"):
                continue
            other = b.getinfo(info.filename)
            assert (other.CRC, other.compress_size, other.file_size) == (info.CRC, info.compress_size, info.file_size)
            assert b.read(info.filename) == a.read(info.filename)
    assert WheelArchive(out).record.keys() == archive.record.keys()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("libbz2.so.1.0.4", "libbz2-e4f501c8.so.1.0.4"),
        ("libfoo-e4f501c8.so.1", "libfoo-e4f501c8.so.1"),
        ("noext", "noext-e4f501c8"),
    ],
)
def test_hashed_name(name: str, expected: str) -> None:
    assert hashed_name(name, "e4f501c8" + "0" * 56) == expected
