"""A repair's audit of the wheel it wrote reuses the analysis of the files it edited and grafted.

Those files are analysed from disk while they are deflated (``binary.analyze_file``), and every
deflated member is inflated back and checked as it is made (``deflating.Inflating``), so the
audit of the written wheel need not inflate them again. Checked here:

* ``analyze_file`` gives what ``analyze_member`` gives for the same bytes read from a wheel, on
  real ELF, Mach-O and PE binaries from the pinned wheels, for stored and deflated members alike;
* the report a repair returns is the one a fresh audit of the written wheel gives, while the
  repair inflates none of the edited members again;
* a compressor whose output does not inflate back to its input fails the repair, on each of the
  three ways a member is deflated (libdeflate whole, one zlib stream, zlib pieces), and no wheel
  is left behind.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from wheelaudit import audit
from wheelaudit.binary import analyze_file, analyze_member
from wheelaudit.repairing import RepairOptions, repair_wheel
from wheelaudit.wheel import deflating
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.deflating import DeflateMismatch, Inflating, deflate_chunks, deflate_piece

from .builders import SQLITE, needs_sqlite
from .conftest import sample_wheel

PLATFORMS = ("manylinux", "musllinux", "macosx", "win_amd64", "win32", "win_arm64")


def _some_real_wheels(all_real_wheels: dict[str, Path]) -> list[Path]:
    """One or two wheels of each platform family, the smaller ones first."""
    chosen: list[Path] = []
    for family in PLATFORMS:
        found = sorted((p for name, p in all_real_wheels.items() if family in name), key=lambda p: p.stat().st_size)
        chosen += found[:2]
    return chosen


def test_a_file_analyses_as_the_same_bytes_in_a_wheel(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    compared = {"elf": 0, "macho": 0, "pe": 0}
    for wheel in _some_real_wheels(all_real_wheels):
        archive = WheelArchive(wheel)
        with zipfile.ZipFile(wheel) as zf:
            for member in archive.files():
                if member.size < 16 or member.is_symlink or member.size > 40 << 20:
                    continue
                from_wheel = analyze_member(archive, member, split=False)
                if not from_wheel.binaries:
                    continue
                copy = tmp_path / "member"
                copy.write_bytes(zf.read(member.name))
                crc, size, binaries = analyze_file(copy, member.name, stored=member.compress_type == zipfile.ZIP_STORED)
                assert (crc, size) == (member.crc, member.size), member.name
                assert binaries == from_wheel.binaries, f"{wheel.name}: {member.name}"
                compared[binaries[0].format.value] += 1
    assert all(compared.values()), compared


@needs_sqlite
@pytest.mark.parametrize("level", [6, 0])
def test_the_repair_report_is_a_fresh_audit_of_the_written_wheel(tmp_path: Path, level: int) -> None:
    result = repair_wheel(sample_wheel("wa_sample_syslib-"), RepairOptions(), tmp_path, compresslevel=level)
    assert result.written and result.plan.grafts
    fresh = audit(result.path)
    assert result.report.to_json() == fresh.to_json()
    stats_mine, stats_theirs = result.report.stats, fresh.stats
    # The fresh audit read the grafted library and the patched extension; the repair's did not.
    grafted = max(b.file_size for b in fresh.binaries)
    assert stats_theirs["bytes_inflated"] >= grafted or level == 0
    assert stats_mine["bytes_inflated"] < 64 * 1024 < grafted
    assert stats_mine["members_sniffed"] < stats_theirs["members_sniffed"]


def _faulty(compress: Callable[..., bytes]) -> Callable[..., bytes]:
    """A compressor that deflates the input with one byte changed: valid deflate, wrong content."""

    def wrong(data: bytes, *args: object) -> bytes:
        changed = bytearray(data)
        changed[len(changed) // 2] ^= 0x40
        return compress(bytes(changed), *args)

    return wrong


def _library() -> bytes:
    return Path(SQLITE or "/bin/ls").read_bytes()


def test_inflating_accepts_what_deflates_back_and_refuses_anything_else() -> None:
    data = _library()
    good = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = good.compress(data) + good.flush()
    Inflating().check(stream, zlib.crc32(data), len(data))
    with pytest.raises(DeflateMismatch, match="inflates to"):
        Inflating().check(stream, zlib.crc32(data) ^ 1, len(data))
    with pytest.raises(DeflateMismatch):
        Inflating().check(stream[: len(stream) // 2], zlib.crc32(data), len(data))


def test_a_faulty_whole_compressor_is_caught() -> None:
    data = _library()
    real = deflating._whole_compressor(len(data), 6)
    if real is None:
        pytest.skip("libdeflate is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(deflating, "_whole_compressor", lambda size, level: _faulty(real))
        with pytest.raises(DeflateMismatch):
            deflate_chunks([data], len(data), 6, lambda chunk: None, None)


class _FaultyZlib:
    def __init__(self, level: int, dictionary: bytes | None = None) -> None:
        self._inner = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary) if dictionary else None
        self._inner = self._inner or zlib.compressobj(level, zlib.DEFLATED, -15)
        self._first = True

    def compress(self, data: bytes) -> bytes:
        if self._first and data:
            self._first = False
            data = b"\x00" + data[1:] if data[:1] != b"\x00" else b"\x01" + data[1:]
        return self._inner.compress(data)

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        return self._inner.flush(mode)


def test_a_faulty_zlib_stream_and_a_faulty_piece_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _library()
    monkeypatch.setattr(deflating, "_whole_compressor", lambda size, level: None)
    monkeypatch.setattr(deflating, "new_compressor", _FaultyZlib)
    with pytest.raises(DeflateMismatch):
        deflate_chunks([data[:100_000], data[100_000:]], len(data), 6, lambda chunk: None, None)
    with pytest.raises(DeflateMismatch):
        deflate_piece(data[32768:200_000], data[:32768], 6, last=False)


@needs_sqlite
def test_a_compressor_fault_fails_the_repair_and_leaves_no_wheel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = deflating._whole_compressor(1 << 20, 6)
    if real is None:
        pytest.skip("libdeflate is not installed")
    monkeypatch.setattr(deflating, "_whole_compressor", lambda size, level: _faulty(real))
    wheelhouse = tmp_path / "wh"
    with pytest.raises(DeflateMismatch, match=r"\.so"):
        repair_wheel(sample_wheel("wa_sample_syslib-"), RepairOptions(), wheelhouse)
    assert not list(wheelhouse.glob("*.whl"))
    assert not [p for p in wheelhouse.iterdir() if not p.name.startswith(".")] if wheelhouse.exists() else True
