"""Two-decoder inflation (wheelaudit.wheel.splitinflate): it may only change how long a far read takes.

Every test compares against plain sequential inflation of the same bytes. The data are
real machine code (lief's 10 MB shared library, which every install has), deflated by
zlib the way wheel builders do.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import lief
import pytest
from isal import isal_zlib

import wheelaudit
from wheelaudit.wheel import splitinflate
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.splitinflate import BlockStart, find_block_start, is_block_start, lead_bytes, split_enabled

from .builders import POLARS
from .conftest import sample_wheel
from .hostile import rewrite

LIEF_SO = next(Path(lief.__file__).parent.glob("_lief*.so"))
BIG_MEMBER = "wa_sample_abi3/big.bin"


def _machine_code(total: int) -> bytes:
    """``total`` bytes of real machine code: lief's library, repeated (deflate only looks back 32 KiB)."""
    chunk = LIEF_SO.read_bytes()
    return (chunk * (total // len(chunk) + 1))[:total]


def _raw_deflate(data: bytes, level: int = 6) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@pytest.fixture(scope="module")
def code() -> bytes:
    return _machine_code(6 * 1024 * 1024)


@pytest.fixture(scope="module")
def big_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A valid wheel whose extra member is 72 MB of deflated machine code."""
    data = _machine_code(72 * 1024 * 1024)
    path = tmp_path_factory.mktemp("split") / sample_wheel("wa_sample_abi3-").name
    rewrite(sample_wheel("wa_sample_abi3-"), path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr(BIG_MEMBER, data)
    return path, data


@pytest.mark.parametrize("bit", range(8))
@pytest.mark.parametrize("backend", [zlib, isal_zlib], ids=["zlib", "isal"])
def test_a_stream_starting_mid_byte_decodes_after_the_alignment_prefix(bit: int, backend: object, code: bytes) -> None:
    data = code[:300_000]
    stream = _raw_deflate(data)
    # Move the whole stream ``bit`` bits up, filling the bits below it with ones (junk).
    shifted = ((int.from_bytes(stream, "little") << bit) | ((1 << bit) - 1)).to_bytes(len(stream) + 1, "little")
    feed = (lead_bytes(shifted[0], bit) + shifted[1:]) if bit else shifted
    inflater = backend.decompressobj(-15)  # type: ignore[attr-defined]
    assert inflater.decompress(feed) == data


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_found_block_starts_are_true_block_starts(code: bytes, level: int, where: float) -> None:
    """Decoded from the found start with the true window, the rest of the data comes out exactly."""
    stream = _raw_deflate(code, level)
    search_from = int(len(stream) * where)
    found = find_block_start(stream[search_from:], splitinflate.SEARCH_BYTES)
    assert found is not None
    i, bit = found
    block = BlockStart.at(search_from + i, bit, stream[search_from + i])
    before = zlib.decompressobj(-15)
    block_start = len(before.decompress(stream[: block.feed_from]))  # everything up to the block's first bit
    assert 0 < block_start < len(code)
    after = zlib.decompressobj(-15, zdict=code[block_start - splitinflate.WINDOW : block_start])
    assert after.decompress(block.lead + stream[block.feed_from :]) == code[block_start:]


def _block(stream: bytes, offset: int, bit: int) -> BlockStart:
    return BlockStart.at(offset, bit, stream[offset])


def test_the_front_decoders_check_accepts_a_true_start_and_refuses_wrong_ones(code: bytes) -> None:
    """The check that guards the hand-over: true window and start pass; a wrong window or start fails."""
    stream = _raw_deflate(code)
    search_from = len(stream) // 2
    found = find_block_start(stream[search_from:], splitinflate.SEARCH_BYTES)
    assert found is not None
    i, bit = found
    block = _block(stream, search_from + i, bit)
    front = zlib.decompressobj(-15)
    block_start = len(front.decompress(stream[: block.feed_from]))
    raw = stream[block.feed_from : block.feed_from + splitinflate.VERIFY_BYTES]
    truth = front.decompress(raw)
    window = code[block_start - splitinflate.WINDOW : block_start]
    assert truth == code[block_start : block_start + len(truth)]
    assert is_block_start(block, window, raw, truth)
    assert not is_block_start(block, bytes(splitinflate.WINDOW), raw, truth)  # machine code looks back
    one_bit_on = _block(stream, block.offset + (bit + 1) // 8, (bit + 1) % 8)
    later_raw = stream[one_bit_on.feed_from : one_bit_on.feed_from + splitinflate.VERIFY_BYTES]
    assert not is_block_start(one_bit_on, window, later_raw, truth)
    assert not is_block_start(block, window, raw, truth[: splitinflate.WINDOW - 1])  # too little to tell


def test_no_block_start_is_found_in_random_bytes() -> None:
    noise = os.urandom(splitinflate.SEARCH_BYTES // 4 + 16 * 1024)
    assert find_block_start(noise, splitinflate.SEARCH_BYTES // 4) is None


needs_two_cores = pytest.mark.skipif(not split_enabled(), reason="splitting needs two CPUs")


#: Near, far, on from there, back into the kept prefix, then past the helper's hand-over.
SPANS = [(0, 64), (1000, 4000), (61_000_000, 3000), (61_500_000, 100), (20, 20), (70_000_000, 1000)]


def _far_reads(path: Path, *, split: bool) -> tuple[list[bytes], int, int]:
    archive = WheelArchive(path)
    member = archive.members[BIG_MEMBER]
    with archive.open(member, retain=1 << 20, split=split) as stream:
        got = [stream.read_at(offset, size) for offset, size in SPANS]
        return got, stream.split_reads, stream.restarts


@needs_two_cores
def test_far_read_with_two_decoders_matches_one(big_wheel: tuple[Path, bytes]) -> None:
    path, data = big_wheel
    for _ in range(3):  # a second decoder starved of CPU loses its race, rightly: one win in three is asked
        split, split_reads, _ = _far_reads(path, split=True)
        assert split == [data[o : o + n] for o, n in SPANS]
        if split_reads == 1:
            break
    serial, serial_reads, _ = _far_reads(path, split=False)
    assert split == serial == [data[o : o + n] for o, n in SPANS]
    assert split_reads == 1 and serial_reads == 0


@needs_two_cores
def test_a_wrong_block_start_is_caught_and_the_read_falls_back(
    big_wheel: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inject a false guess (one bit off a true block start): the check must refuse it."""
    path, data = big_wheel
    true_finder = splitinflate.find_block_start

    def one_bit_off(buffer: bytes, limit: int, **kwargs: object) -> tuple[int, int] | None:
        found = true_finder(buffer, limit)
        assert found is not None
        i, bit = found
        return (i, bit + 1) if bit < 7 else (i + 1, 0)

    monkeypatch.setattr(splitinflate, "find_block_start", one_bit_off)
    got, split_reads, _ = _far_reads(path, split=True)
    assert got[2] == data[61_000_000:61_003_000] and got[5] == data[70_000_000:70_001_000]
    assert split_reads == 0


@needs_two_cores
def test_incompressible_member_has_no_block_to_start_from_and_reads_on(tmp_path: Path) -> None:
    """Random bytes deflate to stored blocks only: the helper finds nothing, the front reads on alone."""
    data = os.urandom(40 * 1024 * 1024)
    path = tmp_path / sample_wheel("wa_sample_abi3-").name
    rewrite(sample_wheel("wa_sample_abi3-"), path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(BIG_MEMBER, data)
    archive = WheelArchive(path)
    with archive.open(archive.members[BIG_MEMBER], split=True) as stream:
        assert stream.read_at(38_000_000, 5000) == data[38_000_000:38_005_000]
        assert stream.split_reads == 0


def test_serial_switch_turns_splitting_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELAUDIT_SERIAL_INFLATE", "1")
    assert not split_enabled()


@pytest.mark.real
@needs_two_cores
def test_polars_audit_is_the_same_with_one_decoder_or_two(
    real_wheels: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    two = wheelaudit.audit(real_wheels[POLARS])
    monkeypatch.setenv("WHEELAUDIT_SERIAL_INFLATE", "1")
    one = wheelaudit.audit(real_wheels[POLARS])
    assert two.binaries == one.binaries and two.problems == one.problems
    assert two.platform_tag == one.platform_tag == "manylinux_2_17_x86_64"
    # every member is read to its end for its CRC-32; the helper decoded a few MB of its part twice
    files = WheelArchive(real_wheels[POLARS]).files()
    not_inflated = sum(m.size for m in files if m.compress_type == 0 or m.size < 16 or m.is_symlink)
    assert one.stats["bytes_inflated"] >= one.stats["bytes_uncompressed"] - not_inflated
    assert one.stats["bytes_inflated"] < two.stats["bytes_inflated"] < one.stats["bytes_inflated"] + (32 << 20)
