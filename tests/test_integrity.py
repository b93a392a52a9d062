"""Damaged member data never gets a verdict and never reaches a repaired wheel.

Every member `show` reads is read to its end and its CRC-32 compared with the zip
directory's; `repair` checks every member it copies raw as it copies it. The wheels
here carry real damage: a flipped byte in the stored data, a flipped byte inside a
deflated member that still inflates, a wrong CRC.
"""

from __future__ import annotations

import os
import random
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from wheelaudit.errors import InvalidWheel
from wheelaudit.wheel import inflate as _inflate
from wheelaudit.wheel import splitinflate
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.crccombine import crc32_combine
from wheelaudit.wheel.splitinflate import split_enabled

from .builders import LIBRARY, METADATA, RECORD, SAMPLE, build_wheel, data_offset, flip_byte, padded_library, run_cli
from .conftest import sample_wheel
from .hostile import run_cli_expecting_unusable

BIG = 12 * 1024 * 1024


#: Tries for a far read to be served by two decoders. Whether the second one wins its race with
#: the front decoder depends on free CPU (another pytest worker, zig building its C runtime); a
#: lost race is correct behaviour (the front decoder goes on alone), so one win in a few is asked,
#: with a pause between tries for the other worker's burst to pass.
SPLIT_TRIES = 5
SPLIT_PAUSE = 2.0


@pytest.fixture(autouse=True)
def _helpers_on_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper starts only on measured idle CPU, which the other pytest worker takes: these tests ask for one."""
    monkeypatch.setenv("WHEELAUDIT_SPLIT_INFLATE", "always")


# -- building wheels ---------------------------------------------------------------------------


def _set_field(path: Path, name: str, local: int, central: int, value: int) -> None:
    """Write the 32-bit ``value`` at offset ``local`` of ``name``'s local header and ``central`` of its
    central directory entry."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, info.header_offset + local, value)
    encoded = name.encode()
    at = data.find(b"PK\x01\x02", data.rfind(b"PK\x05\x06") - 200_000 if len(data) > 200_000 else 0)
    while data[at + 46 : at + 46 + len(encoded)] != encoded:
        at = data.find(b"PK\x01\x02", at + 4)
        assert at >= 0
    struct.pack_into("<I", data, at + central, value)
    path.write_bytes(bytes(data))


def set_crc(path: Path, name: str, crc: int) -> None:
    """Write ``crc`` into both the local header and the central directory entry of ``name``."""
    _set_field(path, name, 14, 16, crc)


def expect_damage(wheel: Path, member: str, tmp_path: Path) -> None:
    """`show` and `repair` both refuse with one line naming the member; the wheelhouse stays empty."""
    proc = run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert f"damaged data in {member}" in proc.stderr or "damaged deflate data" in proc.stderr, proc.stderr
    assert member in proc.stderr
    wheelhouse = tmp_path / "wheelhouse"
    proc = run_cli_expecting_unusable(["repair", str(wheel), "-w", str(wheelhouse)], tmp_path)
    assert member in proc.stderr
    assert not wheelhouse.exists() or list(wheelhouse.iterdir()) == []


# -- crc32_combine -------------------------------------------------------------------------------


@pytest.mark.parametrize("combine", [crc32_combine, _inflate.crc32_combine], ids=["ours", "picked"])
def test_crc32_combine_equals_the_crc_of_the_concatenation(combine: object) -> None:
    rng = random.Random(1)
    for size in (0, 1, 2, 7, 1000, 65_537, 300_000):
        data = rng.randbytes(size)
        for _ in range(6):
            cut = rng.randint(0, size)
            a, b = data[:cut], data[cut:]
            assert combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(data)  # type: ignore[operator]
    # lengths far past any test data: the zero-byte operator's high powers
    a, b = rng.randbytes(100), bytes(5_000_000)
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_removing_a_prefix_from_a_crc() -> None:
    """crc(B) = combine(crc(A), crc(A + B), len(B)): how the two decoders' overlap is dropped."""
    a, b = os.urandom(1234), os.urandom(4321)
    assert crc32_combine(zlib.crc32(a), zlib.crc32(a + b), len(b)) == zlib.crc32(b)


# -- show and repair refuse damaged data -----------------------------------------------------------


@pytest.fixture(scope="module")
def big_stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid wheel whose library is a 12 MiB ELF file, stored (not deflated)."""
    return build_wheel(tmp_path_factory.mktemp("stored"), {LIBRARY: (padded_library(BIG), zipfile.ZIP_STORED)})


def test_the_undamaged_wheels_are_fine(big_stored: Path, tmp_path: Path) -> None:
    """The control: the same wheels without the damage audit and repair normally."""
    assert run_cli("show", str(big_stored), cwd=tmp_path).returncode == 0
    proc = run_cli("repair", str(big_stored), "-w", str(tmp_path / "wheelhouse"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p.suffix for p in (tmp_path / "wheelhouse").iterdir()] == [".whl"]


def test_flipped_byte_in_a_big_stored_library(big_stored: Path, tmp_path: Path) -> None:
    wheel = tmp_path / "in" / big_stored.name
    wheel.parent.mkdir()
    wheel.write_bytes(big_stored.read_bytes())
    flip_byte(wheel, data_offset(wheel, LIBRARY) + 10 * 1024 * 1024)  # past anything the analysis needs
    expect_damage(wheel, LIBRARY, tmp_path)


def test_damage_that_breaks_the_parser_is_reported_as_damage(big_stored: Path, tmp_path: Path) -> None:
    """A flipped byte in the ELF header makes the binary malformed; the CRC-32 says why."""
    wheel = tmp_path / "in" / big_stored.name
    wheel.parent.mkdir()
    wheel.write_bytes(big_stored.read_bytes())
    flip_byte(wheel, data_offset(wheel, LIBRARY) + 4)  # EI_CLASS: the parser refuses the file
    proc = run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert f"damaged data in {LIBRARY}" in proc.stderr


def test_wrong_crc_on_a_small_text_member(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {})
    with zipfile.ZipFile(wheel) as z:
        crc = z.getinfo(METADATA).CRC
    set_crc(wheel, METADATA, crc ^ 1)  # both headers agree; the data does not
    expect_damage(wheel, METADATA, tmp_path)


def test_flipped_byte_in_a_big_deflated_member_that_still_inflates(tmp_path: Path) -> None:
    """Damage inside a stored deflate block: inflation succeeds, only the CRC-32 can tell."""
    noise = random.Random(3).randbytes(2 * 1024 * 1024)  # incompressible: deflate stores it verbatim
    library = padded_library(BIG)
    library = library[: 6 * 1024 * 1024] + noise + library[6 * 1024 * 1024 + len(noise) :]
    wheel = build_wheel(tmp_path, {LIBRARY: (library, zipfile.ZIP_DEFLATED)})
    with open(wheel, "rb") as fh:
        blob = fh.read()
    at = blob.find(noise[1_000_000:1_000_064])
    assert at > data_offset(wheel, LIBRARY), "the noise is stored verbatim inside the deflate stream"
    flip_byte(wheel, at + 10)
    # it inflates; only the CRC-32 differs
    with zipfile.ZipFile(wheel) as z, z.open(LIBRARY) as fh, pytest.raises(zipfile.BadZipFile, match="CRC"):
        while fh.read(1 << 20):
            pass
    expect_damage(wheel, LIBRARY, tmp_path)


# -- the two-decoder split checksums its parts ------------------------------------------------------

BIG_MEMBER = "wa_sample_abi3/big.bin"
FAR_SIZE = 48 * 1024 * 1024


@pytest.fixture(scope="module")
def far_member() -> bytes:
    """48 MB of real machine code (the sample library, repeated): the split finds block starts in it."""
    with zipfile.ZipFile(sample_wheel(SAMPLE)) as z:
        lib = z.read(LIBRARY)
    return (lib * (FAR_SIZE // len(lib) + 1))[:FAR_SIZE]


def _far_read_then_check(path: Path) -> int:
    archive = WheelArchive(path)
    member = archive.members[BIG_MEMBER]
    with archive.open(member, retain=1 << 20) as stream:
        assert stream.read_at(40_000_000, 4096)
        stream.check_integrity()
        return stream.split_reads


@pytest.mark.skipif(not split_enabled(), reason="splitting needs two CPUs")
@pytest.mark.parametrize(
    ("verify_bytes", "combines"), [(splitinflate.VERIFY_BYTES, 1), (4 << 20, 2)], ids=["usual", "overlapping"]
)
def test_two_decoders_check_the_whole_member(
    far_member: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify_bytes: int, combines: int
) -> None:
    """With a long hand-over check, the front decoder's bytes overlap the helper's checksummed ones."""
    monkeypatch.setattr(splitinflate, "VERIFY_BYTES", verify_bytes)
    combined: list[int] = []

    def counted(crc1: int, crc2: int, length2: int) -> int:
        combined.append(length2)
        return _inflate.crc32_combine(crc1, crc2, length2)

    monkeypatch.setattr(splitinflate, "crc32_combine", counted)
    clean = build_wheel(tmp_path, {BIG_MEMBER: (far_member, zipfile.ZIP_DEFLATED)})
    assert _far_read_then_check(clean) == 1, "the far read used the second decoder and the CRC matched"
    assert len(combined) == combines  # overlapping: the bytes both decoders checksummed are dropped first
    # The same member with one byte changed in the middle (the helper's part), under the true CRC.
    damaged_data = bytearray(far_member)
    damaged_data[30_000_000] ^= 0x01
    (tmp_path / "d").mkdir()
    damaged = build_wheel(tmp_path / "d", {BIG_MEMBER: (bytes(damaged_data), zipfile.ZIP_DEFLATED)})
    set_crc(damaged, BIG_MEMBER, zlib.crc32(far_member))
    with pytest.raises(InvalidWheel, match=f"damaged data in {BIG_MEMBER}"):
        _far_read_then_check(damaged)


@pytest.mark.skipif(not split_enabled(), reason="splitting needs two CPUs")
def test_helper_running_on_to_the_end_leaves_a_gap_that_reads_restart_from(far_member: bytes, tmp_path: Path) -> None:
    """With ``to_end`` the helper decodes on past the target without keeping: a read there starts over."""
    archive = WheelArchive(build_wheel(tmp_path, {BIG_MEMBER: (far_member, zipfile.ZIP_DEFLATED)}))
    for _ in range(SPLIT_TRIES):  # the second decoder may lose its race on a starved machine: try again
        with archive.open(archive.members[BIG_MEMBER], retain=1 << 20, to_end=True) as stream:
            assert stream.read_at(40_000_000, 4096) == far_member[40_000_000:40_004_096]
            assert stream.restarts == 0
            if stream.split_reads != 1:
                time.sleep(SPLIT_PAUSE)
                continue
            assert stream.read_at(40_100_000, 100) == far_member[40_100_000:40_100_100]  # kept around the target
            assert stream.restarts == 0
            assert stream.read_at(47_000_000, 100) == far_member[47_000_000:47_000_100]  # run past, not kept
            assert stream.restarts == 1
            stream.check_integrity()
            return
    pytest.fail(f"no far read was split in {SPLIT_TRIES} tries")


@pytest.mark.skipif(not split_enabled(), reason="splitting needs two CPUs")
@pytest.mark.parametrize("to_end", [False, True])
def test_the_check_alone_reads_far_with_two_decoders(far_member: bytes, tmp_path: Path, to_end: bool) -> None:
    """A member sniffed and found not to be a binary is still read whole: the rest is split too."""
    archive = WheelArchive(build_wheel(tmp_path, {BIG_MEMBER: (far_member, zipfile.ZIP_DEFLATED)}))
    split = []
    for _ in range(SPLIT_TRIES):  # the second decoder may lose its race on a starved machine: try again
        with archive.open(archive.members[BIG_MEMBER], to_end=to_end) as stream:
            assert stream.read_at(0, 4096) == far_member[:4096]
            stream.check_integrity()
            assert stream.restarts == 0
            split.append(stream.split_reads)
        if split[-1] == 1:
            break
        time.sleep(SPLIT_PAUSE)
    assert split[-1] == 1, split


@pytest.mark.real
@pytest.mark.skipif(not split_enabled(), reason="splitting needs two CPUs")
def test_polars_is_checked_whole_without_starting_over(real_wheels: dict[str, Path]) -> None:
    """The far read of the 177 MB library (its .dynamic, 137 MB in), then the CRC-32 check to the end.

    Whether the second decoder wins its race depends on the machine: starved of CPU (the other
    pytest worker compiling fixtures), it finds its block after the front decoder has passed it
    and the front decoder rightly goes on alone. So the two-decoder path is asked of one of
    SPLIT_TRIES tries, and of that try that little is decoded twice; never starting over of every one.
    """
    from .builders import POLARS

    archive = WheelArchive(real_wheels[POLARS])
    member = max(archive.files(), key=lambda m: m.size)
    split = []
    for _ in range(SPLIT_TRIES):
        with archive.open(member, retain=4 << 20, to_end=True) as stream:
            assert stream.read_at(0, 4) == b"\x7fELF"
            stream.read_at(137_000_000, 8192)
            stream.check_integrity()
            assert stream.restarts == 0
            split.append(stream.split_reads)
            if split[-1] == 1:  # a lost race may waste the helper's work; a won one may not
                assert member.size <= stream.inflated < member.size + (32 << 20)  # a few MB decoded twice
                break
        time.sleep(SPLIT_PAUSE)
    assert split[-1] == 1, split


def test_metadata_reads_are_checked(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {})
    with zipfile.ZipFile(wheel) as z:
        crc = z.getinfo(RECORD).CRC
    set_crc(wheel, RECORD, crc ^ 0x80000000)
    with pytest.raises(InvalidWheel, match=r"damaged data in .*RECORD"):
        WheelArchive(wheel)


def test_a_long_local_header_name_is_shown_short(tmp_path: Path) -> None:
    """A local header whose 3,000-byte name differs from the central directory's in the last byte:
    the one-line error shows a short prefix of it, not kilobytes of raw bytes."""
    long_name = "wa_sample_abi3/" + "x" * 3000 + ".py"
    wheel = build_wheel(tmp_path, {long_name: (b"pass\n" * 10, zipfile.ZIP_DEFLATED)})  # read: over 16 bytes
    data = bytearray(wheel.read_bytes())
    at = data.rindex(long_name.encode())  # the central directory's copy comes after the local one
    data[at + len(long_name) - 2] = ord("q")  # ".py" -> ".qy": the two names now differ
    wheel.write_bytes(bytes(data))
    proc = run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert "the local header names" in proc.stderr
    assert len(proc.stderr) < 600 and "(+" in proc.stderr


def _set_size(path: Path, name: str, size: int) -> None:
    """Write ``size`` as the uncompressed size into both headers of ``name`` (CRC and data unchanged)."""
    _set_field(path, name, 22, 24, size)


@pytest.mark.parametrize("member", [LIBRARY, METADATA])
@pytest.mark.parametrize(("delta", "why"), [(1, "fewer bytes than its declared size"), (-1, "past its declared size")])
def test_a_member_that_inflates_to_another_size_than_declared(
    tmp_path: Path, member: str, delta: int, why: str
) -> None:
    """Refused either way. One byte more than declared, in the last piece of output, once passed: an
    installer reads the declared size only, and zipfile (the oracle here) then finds the CRC-32 wrong
    (one byte less it returns as it is: no oracle for that case).
    Members up to the kept prefix are inflated in one call (MemberStream.inflate_whole); one whose data
    does not match its declared size falls back to the piecewise reading, which names the fault."""
    wheel = build_wheel(tmp_path, {})
    with zipfile.ZipFile(wheel) as z:
        size = z.getinfo(member).file_size
    assert size < 4 << 20
    _set_size(wheel, member, size + delta)
    if delta < 0:
        with zipfile.ZipFile(wheel) as z, pytest.raises(zipfile.BadZipFile):
            z.read(member)
    proc = run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert member in proc.stderr and why in proc.stderr, proc.stderr


def test_a_small_member_with_trailing_bytes_after_its_deflate_data_still_reads(tmp_path: Path) -> None:
    """The one-call inflation reads exactly the compressed size; what follows the deflate stream's end
    in it is ignored, as the piecewise reading does."""
    wheel = build_wheel(tmp_path, {})
    archive = WheelArchive(wheel)
    member = archive.members[LIBRARY]
    with archive.open(member, retain=4 << 20) as stream:
        stream.inflate_whole()
        whole = stream.read_at(0, member.size)
        stream.check_integrity()
    assert stream.inflated == member.size == len(whole)
    with zipfile.ZipFile(wheel) as z:
        assert whole == z.read(LIBRARY)
