"""`repair` writes a whole, verified wheel or nothing: no corrupt output, no leftovers.

Raw-copied members are checked as they are copied; the local headers must agree with
the central directory; an input that changes while it is read is noticed; a full disk,
or a run killed outright, leaves no hidden file that the next run does not clean up;
and errors about the output name the wheelhouse, not the input.
"""

from __future__ import annotations

import errno
import io
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelaudit.errors import InvalidWheel
from wheelaudit.repairing import RepairOptions, repair_wheel
from wheelaudit.wheel import scratch
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.writer import OutputError, WheelWriter

from .builders import LIBRARY, METADATA, POLARS, build_wheel, data_offset, flip_byte, padded_library, run_cli
from .hostile import run_cli_expecting_unusable


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- raw copies are checked as they are copied ----------------------------------------------------


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_raw_copy_of_damaged_data_fails_and_leaves_nothing(tmp_path: Path, method: int) -> None:
    noise = random.Random(5).randbytes(1 << 20)  # stored verbatim even inside a deflate stream
    wheel = build_wheel(tmp_path, {LIBRARY: (padded_library(2 << 20) + noise, method)})
    at = wheel.read_bytes().find(noise[500_000:500_064])
    assert at > data_offset(wheel, LIBRARY)
    flip_byte(wheel, at + 3)
    archive = WheelArchive(wheel)  # the directory and metadata are intact; the library's data is not
    out = tmp_path / "out"
    out.mkdir()
    member = archive.members[LIBRARY]
    damaged = pytest.raises(InvalidWheel, match=f"damaged data in {LIBRARY}")
    with damaged, WheelWriter(out / "copy.whl") as writer, archive.open(member) as stream:
        writer.copy_raw(member, stream.iter_compressed(), "")
    assert _leftovers(out) == []


def test_raw_copy_of_sound_data_is_byte_identical(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {})
    archive = WheelArchive(wheel)
    out = tmp_path / "out.whl"
    with WheelWriter(out) as writer:
        for member in archive.files():
            if member.name != archive.record_name:
                with archive.open(member) as stream:
                    writer.copy_raw(member, stream.iter_compressed(), "")
        writer.finish(archive.record_name)
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None


# -- local headers ---------------------------------------------------------------------------------


def _patch_local(path: Path, member: str, offset: int, value: bytes) -> None:
    with zipfile.ZipFile(path) as z:
        at = z.getinfo(member).header_offset + offset
    data = bytearray(path.read_bytes())
    data[at : at + len(value)] = value
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("field", "offset", "value"),
    [("crc", 14, b"\x00\x00\x00\x01"), ("size", 22, b"\x01\x00\x00\x00"), ("name", 30, b"X")],
)
def test_local_header_must_agree_with_the_central_directory(
    tmp_path: Path, field: str, offset: int, value: bytes
) -> None:
    wheel = build_wheel(tmp_path, {})
    _patch_local(wheel, METADATA, offset, value)
    proc = run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert METADATA in proc.stderr and "local header" in proc.stderr
    wheelhouse = tmp_path / "wheelhouse"
    run_cli_expecting_unusable(["repair", str(wheel), "-w", str(wheelhouse)], tmp_path)
    assert _leftovers(wheelhouse) == []


class _Unseekable(io.RawIOBase):
    """A write-only stream without seek: zipfile then writes data descriptors (flag bit 3)."""

    def __init__(self, sink: io.BufferedWriter) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.sink.write(data)


def _with_data_descriptors(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(src) as zin, open(dst, "wb") as sink, zipfile.ZipFile(_Unseekable(sink), "w") as zout:
        for info in zin.infolist():
            zout.writestr(zipfile.ZipInfo(info.filename, info.date_time), zin.read(info), zipfile.ZIP_DEFLATED)
    return dst


def test_data_descriptors_are_read_and_checked(tmp_path: Path) -> None:
    (tmp_path / "dd").mkdir()
    wheel = _with_data_descriptors(build_wheel(tmp_path, {}), tmp_path / "dd" / build_wheel(tmp_path, {}).name)
    with zipfile.ZipFile(wheel) as z:
        info = z.getinfo(METADATA)
        assert info.flag_bits & 0x8, "the local headers defer CRC and sizes to a data descriptor"
    assert run_cli("show", str(wheel), cwd=tmp_path).returncode == 0
    proc = run_cli("repair", str(wheel), "-w", str(tmp_path / "ok"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The descriptor (signature, CRC, sizes) follows the data: damage its CRC.
    descriptor = data_offset(wheel, METADATA) + info.compress_size
    assert wheel.read_bytes()[descriptor : descriptor + 4] == b"PK\x07\x08"
    flip_byte(wheel, descriptor + 4)
    proc = run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert "data descriptor" in proc.stderr and METADATA in proc.stderr
    run_cli_expecting_unusable(["repair", str(wheel), "-w", str(tmp_path / "bad")], tmp_path)
    assert _leftovers(tmp_path / "bad") == []


# -- an input that changes while it is read -------------------------------------------------------


def test_input_changing_during_the_repair_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = build_wheel(tmp_path, {})
    real_copy = WheelWriter.copy_raw

    def copy_then_touch(self: WheelWriter, *args: object, **kwargs: object) -> None:
        real_copy(self, *args, **kwargs)  # type: ignore[arg-type]
        with open(wheel, "ab") as fh:  # another process appends to the input meanwhile
            fh.write(b"\0")

    monkeypatch.setattr(WheelWriter, "copy_raw", copy_then_touch)
    out = tmp_path / "wheelhouse"
    with pytest.raises(InvalidWheel, match="changed while it was being read"):
        repair_wheel(wheel, RepairOptions(), out)
    assert _leftovers(out) == []


def test_check_unchanged_sees_a_replaced_file(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {})
    archive = WheelArchive(wheel)
    archive.check_unchanged()
    data = wheel.read_bytes()
    wheel.unlink()
    wheel.write_bytes(data)  # same bytes, new file
    with pytest.raises(InvalidWheel, match="changed"):
        archive.check_unchanged()


# -- a full disk -----------------------------------------------------------------------------------


class _FullDisk(io.FileIO):
    """A file on a disk with ``room`` bytes left."""

    room = 200_000

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_injected_enospc_names_the_output_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "wheelhouse"
    out.mkdir()
    target = out / "x-1.0-py3-none-any.whl"
    with pytest.raises(OutputError) as caught, WheelWriter(target) as writer:
        writer._fh.file.close()
        writer._fh.file = io.BufferedRandom(_FullDisk(str(writer._tmp), "r+"))
        writer.add_bytes("x/data.bin", random.Random(1).randbytes(500_000))
        writer.finish("x-1.0.dist-info/RECORD")
    assert str(target) in str(caught.value) and "No space left" in str(caught.value)
    assert _leftovers(out) == []


def _mounted_tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A tmpfs at ``mount`` (needs root and a kernel that lets us mount), unmounted afterwards."""
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system: a repair runs out of space on it."""
    yield from _mounted_tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_tmpfs(tmp_path: Path) -> Iterator[Path]:
    yield from _mounted_tmpfs(tmp_path / "ro", "ro,size=1m")


def test_full_disk_leaves_nothing_and_names_the_wheelhouse(tmp_path: Path, tiny_tmpfs: Path) -> None:
    wheel = build_wheel(tmp_path, {LIBRARY: (padded_library(4 << 20), zipfile.ZIP_STORED)})
    wheelhouse = tiny_tmpfs / "wheelhouse"
    proc = run_cli_expecting_unusable(["repair", str(wheel), "-w", str(wheelhouse), "-z", "0"], tmp_path)
    assert str(wheelhouse) in proc.stderr and "No space left" in proc.stderr
    assert str(wheel) not in proc.stderr
    assert _leftovers(wheelhouse) == []


def test_read_only_wheelhouse_is_named(tmp_path: Path, read_only_tmpfs: Path) -> None:
    wheel = build_wheel(tmp_path, {})
    proc = run_cli_expecting_unusable(["repair", str(wheel), "-w", str(read_only_tmpfs)], tmp_path)
    assert str(read_only_tmpfs) in proc.stderr and str(wheel) not in proc.stderr


# -- leftovers of killed runs ----------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_scratch_of_dead_processes_is_cleaned_and_live_ones_kept(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {})
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    host = scratch.host_tag()
    dead = _dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead_file": f".wheelaudit-{dead}-{host}-abc.part",
            "dead_dir": f".wheelaudit-{dead}-{host}-def.work",
            "live": f".wheelaudit-{sleeper.pid}-{host}-ghi.part",
            "other_host": f".wheelaudit-{dead}-{'0' * 8 if host != '0' * 8 else '1' * 8}-jkl.part",
            "not_ours": ".something-else.part",
        }
        for key, name in names.items():
            if key == "dead_dir":
                (wheelhouse / name).mkdir()
                (wheelhouse / name / "m0").write_bytes(b"x")
            else:
                (wheelhouse / name).write_bytes(b"x")
        proc = run_cli("repair", str(wheel), "-w", str(wheelhouse), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        left = set(_leftovers(wheelhouse))
        assert names["dead_file"] not in left and names["dead_dir"] not in left
        assert {names["live"], names["other_host"], names["not_ours"]} <= left
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.real
def test_a_killed_repair_leaves_recognisable_scratch_that_the_next_run_removes(
    real_wheels: dict[str, Path], tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelaudit", "repair", str(real_wheels[POLARS]), "-w", str(wheelhouse)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    part: list[Path] = []
    while not part and proc.poll() is None and time.monotonic() < deadline:
        part = [p for p in wheelhouse.iterdir() if p.name.endswith(".part") and p.stat().st_size > 0]
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not part:
        pytest.skip("the repair finished before it could be killed mid-write")
    left = _leftovers(wheelhouse)
    assert left and all(scratch.owner(name) == (proc.pid, scratch.host_tag()) for name in left), left
    done = run_cli("repair", str(real_wheels[POLARS]), "-w", str(wheelhouse), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.suffix for p in wheelhouse.iterdir()] == [".whl"]
