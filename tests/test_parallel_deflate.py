"""New members deflated on a thread pool: the same bytes as one thread, valid zips, nothing left behind on failure.

Oracles: ``zipfile`` (reads back every member with its CRC-32 checked, ``testzip()`` as pip
relies on), zlib and libdeflate themselves (a member up to ``LIBDEFLATE_UP_TO`` must be exactly
libdeflate's stream at the level; with libdeflate off, a member up to ``SPLIT_ABOVE`` must be
exactly one zlib stream, and a split one must inflate as one stream and stay within 0.5% of
it), and the writer run with one thread (no pool at all).

The pool's mechanics (pieces, spills, failures in a worker) are tested with libdeflate off
(``WHEELAUDIT_LIBDEFLATE=0``), where members of a few MiB are split; the tests named for
libdeflate turn it on.
"""

from __future__ import annotations

import errno
import io
import os
import random
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import deflate
import pytest

from wheelaudit.repairing import RepairOptions, repair_wheel
from wheelaudit.wheel import deflating
from wheelaudit.wheel.deflating import (
    LIBDEFLATE_ENV,
    LIBDEFLATE_UP_TO,
    PIECE,
    SPLIT_ABOVE,
    DeflateQueue,
    Source,
    pieces_of,
    uses_libdeflate,
)
from wheelaudit.wheel.writer import OutputError, WheelWriter

from .builders import needs_sqlite
from .conftest import sample_wheel

RECORD = "pkg-1.0.dist-info/RECORD"
#: Sizes around the thresholds: empty, inline (< SMALL), one stream, exactly SPLIT_ABOVE, split with a short last piece.
SIZES = [0, 100, 70_000, SPLIT_ABOVE, SPLIT_ABOVE + 1, 5 * PIECE + 12_345]


@pytest.fixture(autouse=True)
def zlib_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """libdeflate off unless a test turns it on (``libdeflate_on``): zlib splits members of a few MiB."""
    monkeypatch.setenv(LIBDEFLATE_ENV, "0")


@pytest.fixture
def libdeflate_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIBDEFLATE_ENV)


def _zlib_stream(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _compressible(size: int, seed: int) -> bytes:
    """Text-like data that deflates to roughly a third, like code and symbol tables."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 12)) for _ in range(3000)]
    out = bytearray()
    while len(out) < size:
        out += b" ".join(rng.choices(words, k=64)) + b"\n"
    return bytes(out[:size])


def _members(directory: Path) -> list[tuple[str, Source]]:
    """Half of them files (as grafted libraries are), half bytes (as shims and WHEEL are), in name order."""
    directory.mkdir(exist_ok=True)
    out = []
    for i, size in enumerate(SIZES):
        data = _compressible(size, i)
        path = directory / f"m{i}.bin"
        path.write_bytes(data)
        out.append((f"pkg/file{i}.bin", Source.of_file(path)))
        out.append((f"pkg/new{i}.bin", Source.of_bytes(data[::-1])))
    return sorted(out)


def _write(target: Path, members: list[tuple[str, Source]], level: int, workers: int) -> tuple[bytes, int]:
    done: list[int] = []
    with WheelWriter(target, compresslevel=level, progress=done.append) as writer:
        with DeflateQueue(level, members, workers=workers, scratch_dir=target.parent) as queue:
            for name, _ in members:
                writer.add_deflating(name, queue.take(name))
        writer.finish(RECORD)
    return target.read_bytes(), sum(done)


def _raw_data(wheel: bytes, info: zipfile.ZipInfo) -> bytes:
    """A member's compressed bytes as stored, found through its local header."""
    name_len, extra_len = struct.unpack_from("<HH", wheel, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    return wheel[start : start + info.compress_size]


@pytest.mark.parametrize("libdeflate", [False, True], ids=["zlib", "libdeflate"])
@pytest.mark.parametrize("level", [6, 9, 3, 0])
def test_pool_writes_the_bytes_one_thread_writes(
    tmp_path: Path, level: int, libdeflate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if libdeflate:
        monkeypatch.delenv(LIBDEFLATE_ENV)
    members = _members(tmp_path / "src")
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    serial, serial_progress = _write(tmp_path / "one" / "x.whl", members, level, workers=1)
    pooled, pooled_progress = _write(tmp_path / "many" / "x.whl", members, level, workers=3)
    assert pooled == serial
    with zipfile.ZipFile(io.BytesIO(pooled)) as z:
        assert z.testzip() is None
        everything = sum(source.size for _, source in members) + z.getinfo(RECORD).file_size
        assert pooled_progress == serial_progress == everything, "the progress bar counts every byte once"
        for name, source in members:
            expected = source.data if source.data is not None else source.path.read_bytes()  # type: ignore[union-attr]
            assert z.read(name) == expected  # CRC-32 checked by zipfile on the way
            info = z.getinfo(name)
            assert zlib.crc32(expected) == info.CRC
            if level == 0:
                assert info.compress_type == zipfile.ZIP_STORED
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["x.whl"], "no scratch file left"


def test_members_up_to_the_split_size_are_one_zlib_stream(tmp_path: Path) -> None:
    """What zipfile and auditwheel write, byte for byte; above it, pieces (still one valid stream)."""
    members = _members(tmp_path / "src")
    wheel, _ = _write(tmp_path / "x.whl", members, 6, workers=3)
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        for name, _ in members:
            info = z.getinfo(name)
            data = z.read(name)
            raw = _raw_data(wheel, info)
            single = _zlib_stream(data, 6)
            if info.file_size <= SPLIT_ABOVE:
                assert raw == single, name
                continue
            assert len(pieces_of(info.file_size, 6)) > 1
            inflater = zlib.decompressobj(-15)
            assert inflater.decompress(raw) == data and inflater.eof and not inflater.unused_data
            assert raw != single and abs(len(raw) - len(single)) <= len(single) * 0.005, (len(raw), len(single))


def test_isal_levels_are_never_split() -> None:
    assert pieces_of(50 * PIECE, 3) == [(0, 50 * PIECE)]
    assert pieces_of(50 * PIECE, 0) == [(0, 50 * PIECE)]
    assert len(pieces_of(50 * PIECE, 6)) == 50


@pytest.mark.usefixtures("libdeflate_on")
def test_members_up_to_the_libdeflate_size_are_one_libdeflate_stream(tmp_path: Path) -> None:
    """libdeflate's bytes at the level, whole, on the pool as inline; a larger member goes to zlib in pieces."""
    assert pieces_of(LIBDEFLATE_UP_TO, 6) == [(0, LIBDEFLATE_UP_TO)]
    assert len(pieces_of(LIBDEFLATE_UP_TO + 1, 6)) == LIBDEFLATE_UP_TO // PIECE + 1
    assert not uses_libdeflate(LIBDEFLATE_UP_TO + 1, 6) and not uses_libdeflate(100, 3)
    members = _members(tmp_path / "src")
    for level in (6, 9):
        wheel, _ = _write(tmp_path / f"x{level}.whl", members, level, workers=3)
        with zipfile.ZipFile(io.BytesIO(wheel)) as z:
            for name, _ in members:
                info = z.getinfo(name)
                data = z.read(name)
                raw = _raw_data(wheel, info)
                assert raw == bytes(deflate.deflate_compress(data, level)), (name, level)
                inflater = zlib.decompressobj(-15)
                assert inflater.decompress(raw) == data and inflater.eof and not inflater.unused_data


def test_results_spilled_to_scratch_files_are_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = _members(tmp_path / "src")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    kept, _ = _write(tmp_path / "a" / "x.whl", members, 3, workers=3)
    monkeypatch.setattr(deflating, "SPILL_AT", 16 << 10)  # every result of more than 16 KiB goes to disk
    spilled, _ = _write(tmp_path / "b" / "x.whl", members, 3, workers=3)
    assert spilled == kept
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["x.whl"]


class _FullDisk(io.FileIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_spilling_names_the_output_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = _members(tmp_path / "src")
    out = tmp_path / "wheelhouse"
    out.mkdir()
    monkeypatch.setattr(deflating, "SPILL_AT", 16 << 10)
    full = lambda dir: _FullDisk(os.path.join(dir, "spill"), "w+")  # noqa: E731
    monkeypatch.setattr("wheelaudit.wheel.deflating.tempfile.TemporaryFile", full)
    with pytest.raises(OutputError) as caught:
        _write(out / "x.whl", members, 3, workers=3)
    assert str(out / "x.whl") in str(caught.value) and "No space left" in str(caught.value)
    assert [p.name for p in out.iterdir()] == ["spill"]  # only what the stand-in left; the writer's file is gone


def test_a_file_that_shrinks_fails_in_a_worker_and_leaves_nothing(tmp_path: Path) -> None:
    members = _members(tmp_path / "src")
    big = next(source for _, source in members if source.path is not None and source.size > SPLIT_ABOVE * 2)
    assert big.path is not None
    with open(big.path, "r+b") as fh:
        fh.truncate(big.size - PIECE)  # after the plan: its last pieces cannot be read
    out = tmp_path / "wheelhouse"
    out.mkdir()
    with pytest.raises(OSError, match="expected"):
        _write(out / "x.whl", members, 6, workers=3)
    assert list(out.iterdir()) == []


def test_work_handed_out_ahead_is_bounded(tmp_path: Path) -> None:
    source = Source.of_bytes(_compressible(PIECE, 1))
    members = [(f"pkg/{i:03}", source) for i in range(60)]
    queue = DeflateQueue(6, members, workers=2, scratch_dir=tmp_path)
    with queue:
        window = deflating.WINDOW_PER_WORKER * 2
        assert 0 < queue._in_flight <= window < 60 * PIECE, "not all 60 MiB at once"
        for name, _ in members[:10]:
            queue.take(name).emit_into(lambda data: None, None)
            assert queue._in_flight <= window
    with pytest.raises(ValueError, match="is next"), DeflateQueue(6, members, workers=1, scratch_dir=tmp_path) as q:
        q.take("pkg/001")


def test_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(deflating.THREADS_ENV, "3")
    assert deflating.usable_cores() == 3
    monkeypatch.setenv(deflating.THREADS_ENV, "nonsense")
    assert deflating.usable_cores() == len(os.sched_getaffinity(0))


# -- whole repairs ----------------------------------------------------------------------------------------


def _repair(wheel: Path, out: Path, threads: int, monkeypatch: pytest.MonkeyPatch, **options: object) -> Path:
    monkeypatch.setenv(deflating.THREADS_ENV, str(threads))
    return repair_wheel(wheel, RepairOptions(**options), out).path  # type: ignore[arg-type]


def _check_new_members(repaired: Path, source: Path) -> int:
    """pip's view (testzip) and the compressors': each new member is libdeflate's or zlib's level-6 stream,
    or zlib's pieces within 0.5% of one stream. Returns how many were split."""
    wheel = repaired.read_bytes()
    with zipfile.ZipFile(repaired) as z, zipfile.ZipFile(source) as before:
        assert z.testzip() is None
        old = {i.filename: i.CRC for i in before.infolist()}
        split = 0
        for info in z.infolist():
            if old.get(info.filename) == info.CRC or info.is_dir():
                continue  # copied raw
            data = z.read(info)
            if uses_libdeflate(info.file_size, 6):
                assert _raw_data(wheel, info) == bytes(deflate.deflate_compress(data, 6)), info.filename
                continue
            single = _zlib_stream(data, 6)
            if info.file_size <= SPLIT_ABOVE:
                assert _raw_data(wheel, info) == single, info.filename
            else:
                split += 1
                assert abs(info.compress_size - len(single)) <= len(single) * 0.005
    return split


@needs_sqlite
@pytest.mark.parametrize("libdeflate", [False, True], ids=["zlib", "libdeflate"])
def test_sample_repair_same_bytes_with_and_without_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libdeflate: bool
) -> None:
    if libdeflate:
        monkeypatch.delenv(LIBDEFLATE_ENV)
    wheel = sample_wheel("wa_sample_syslib-")
    serial = _repair(wheel, tmp_path / "one", 1, monkeypatch)
    pooled = _repair(wheel, tmp_path / "many", 4, monkeypatch)
    assert pooled.read_bytes() == serial.read_bytes()
    _check_new_members(pooled, wheel)
    assert [p.name for p in (tmp_path / "many").iterdir()] == [pooled.name]


@pytest.mark.real
@pytest.mark.parametrize("libdeflate", [False, True], ids=["zlib", "libdeflate"])
def test_real_wheel_repair_same_bytes_with_and_without_the_pool(
    all_real_wheels: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, libdeflate: bool
) -> None:
    """numpy for Windows with its repair undone: OpenBLAS (20 MB) and the core extension (3.9 MB) are
    split by zlib, or each one libdeflate stream; libdeflate's output is the smaller."""
    from .windows_wheels import unrepair

    if libdeflate:
        monkeypatch.delenv(LIBDEFLATE_ENV)

    undone = unrepair(all_real_wheels["numpy-2.5.5-cp312-cp312-win_amd64.whl"], tmp_path / "in")
    lib = (str(undone.lib_dir),)
    serial = _repair(undone.wheel, tmp_path / "one", 1, monkeypatch, lib_paths=lib)
    pooled = _repair(undone.wheel, tmp_path / "many", 2, monkeypatch, lib_paths=lib)
    assert pooled.read_bytes() == serial.read_bytes()
    assert _check_new_members(pooled, undone.wheel) == (0 if libdeflate else 2)
    if libdeflate:
        monkeypatch.setenv(LIBDEFLATE_ENV, "0")
        by_zlib = _repair(undone.wheel, tmp_path / "zlib", 2, monkeypatch, lib_paths=lib)
        assert pooled.stat().st_size < by_zlib.stat().st_size * 0.995, (pooled.stat().st_size, by_zlib.stat().st_size)


@needs_sqlite
def test_failure_in_a_worker_leaves_nothing_in_the_wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = deflating.deflate_whole
    failed: list[str] = []

    def fail_in_worker(*args: object, **kwargs: object) -> tuple[int, bytes]:
        if threading.current_thread().name.startswith("wheelaudit-deflate"):
            failed.append(threading.current_thread().name)
            raise MemoryError("worker failed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deflating, "deflate_whole", fail_in_worker)
    out = tmp_path / "wheelhouse"
    with pytest.raises(MemoryError, match="worker failed"):
        _repair(sample_wheel("wa_sample_syslib-"), out, 3, monkeypatch)
    assert failed, "the failure happened on the pool"
    assert list(out.iterdir()) == []
