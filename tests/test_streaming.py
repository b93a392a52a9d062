"""Reading only what the analysis needs: partial inflation, bounded memory, stored members."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.wheel.archive import MemberStream, WheelArchive

from .builders import POLARS
from .conftest import sample_wheel
from .hostile import rewrite


@pytest.mark.real
def test_polars_is_inflated_once_to_the_end(real_wheels: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # One decoder, so the count is of distinct bytes (a second decoder decodes a few MB twice).
    monkeypatch.setenv("WHEELAUDIT_SERIAL_INFLATE", "1")
    report = wheelaudit.audit(real_wheels[POLARS])
    assert report.platform_tag == "manylinux_2_17_x86_64"
    stats = report.stats
    # .dynamic sits ~137 MB into the 177 MB library; the CRC-32 check goes on from there to the end
    # without starting over: every byte of every member exactly once.
    assert stats["bytes_inflated"] == stats["bytes_uncompressed"]


@pytest.mark.real
def test_peak_memory_is_bounded(real_wheels: dict[str, Path]) -> None:
    """A 177 MB library is audited in well under 100 MB of resident memory."""
    # VmHWM belongs to the process's own address space; ru_maxrss would include the
    # pytest parent's size, which a forked child inherits until exec.
    code = (
        "import sys, wheelaudit\n"
        "wheelaudit.audit(sys.argv[1])\n"
        "status = open('/proc/self/status').read()\n"
        "print(next(l.split()[1] for l in status.splitlines() if l.startswith('VmHWM:')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(real_wheels[POLARS])], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    peak_mib = int(proc.stdout.strip()) / 1024
    assert peak_mib < 100, f"peak RSS {peak_mib:.0f} MiB"


def test_stored_members_are_read_by_seeking(tmp_path: Path) -> None:
    src = sample_wheel("wa_sample_abi3-")
    stored = tmp_path / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    a, b = wheelaudit.audit(src), wheelaudit.audit(stored)
    assert a.platform_tag == b.platform_tag and a.binaries == b.binaries
    assert b.stats["bytes_inflated"] == 0


def test_member_stream_random_access_matches_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = sample_wheel("wa_sample_debuginfo-")
    archive = WheelArchive(src)
    member = max(archive.files(), key=lambda m: m.size)
    with zipfile.ZipFile(src) as z:
        data = z.read(member.name)
    monkeypatch.setattr(MemberStream, "HISTORY", 16 * 1024)
    with archive.open(member, retain=4096) as stream:
        # forwards, backwards into the kept prefix, backwards past it and the history (restart), a little
        # behind the last read (kept history: no restart), and the very end
        spans = [(100000, 5000), (10, 100), (200000, 70000), (150000, 10), (140000, 20), (len(data) - 16, 16)]
        restarts = []
        for offset, size in spans:
            assert stream.read_at(offset, size) == data[offset : offset + size]
            restarts.append(stream.restarts)
        assert restarts == [0, 0, 0, 1, 1, 1]
        assert b"".join(stream.iter_chunks()) == data
    with pytest.raises(EOFError):
        archive.open(member).read_at(len(data) - 1, 2)


def test_a_read_behind_does_not_inflate_the_member_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a restart, the decoder that had got furthest takes over again: the member is inflated
    to its end once, plus the depth of the read behind, and its CRC-32 still checks."""
    src = sample_wheel("wa_sample_debuginfo-")
    archive = WheelArchive(src)
    member = max(archive.files(), key=lambda m: m.size)
    with zipfile.ZipFile(src) as z:
        data = z.read(member.name)
    size = len(data)
    monkeypatch.setattr(MemberStream, "HISTORY", 16 * 1024)
    with archive.open(member, retain=4096, split=False) as stream:
        assert stream.read_at(size - 64, 64) == data[-64:]  # the section headers: inflated to the end
        assert stream.read_at(200000, 100) == data[200000:200100]  # far behind: a second decoder
        assert stream.restarts == 1
        depth = stream.inflated - size
        assert 200100 <= depth < size // 2
        assert stream.read_at(size - 1000, 100) == data[size - 1000 : size - 900]  # the parked one again
        stream.check_integrity()
        assert stream.restarts == 1
        assert stream.inflated == size + depth  # nothing inflated a second time past the read behind


def test_many_wheels_in_parallel_match_serial() -> None:
    wheels = [str(sample_wheel(p)) for p in ("wa_sample_abi3-", "wa_sample_newglibc-", "wa_sample_syslib-")]

    def run(*extra: str) -> list[dict[str, object]]:
        proc = subprocess.run(
            [sys.executable, "-m", "wheelaudit", "show", "--json", *extra, *wheels], capture_output=True, text=True
        )
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    assert run("--jobs", "3") == run("--jobs", "1")


def test_binaries_found_by_magic_not_suffix(tmp_path: Path) -> None:
    src = sample_wheel("wa_sample_abi3-")
    with zipfile.ZipFile(src) as z:
        so = z.read("wa_sample_abi3/wa_sample_abi3.abi3.so")
    wheel = rewrite(src, tmp_path / src.name, add={"wa_sample_abi3/data/helper.bin": so})
    report = wheelaudit.audit(wheel)
    assert "wa_sample_abi3/data/helper.bin" in {b.path for b in report.binaries}


@pytest.mark.real
@pytest.mark.parametrize("seed", [1, 2])
def test_many_reads_at_once_give_what_one_read_each_gives(real_wheels: dict[str, Path], seed: int) -> None:
    """``MemberStream.read_spans`` (the ISA scan's code windows, cut from the output as it streams past)
    against zipfile's bytes: spans of every size, straddling output pieces, overlapping, repeated,
    behind the decoder, far ahead of it; reads behind and ahead afterwards, and the CRC-32 check."""
    import random

    wheel = next(path for name, path in real_wheels.items() if name.startswith("pyarrow-26.0.1-"))
    rng = random.Random(seed)
    archive = WheelArchive(wheel)
    libraries = sorted((m for m in archive.members.values() if ".so" in m.name and m.size > 4 << 20), key=str)
    assert len(libraries) >= 3
    with zipfile.ZipFile(wheel) as reference:
        for member in libraries[:3]:
            data = reference.read(member.name)
            n = len(data)
            for trial in range(4):
                sizes = (0, 1, 100, 2048, 4096, 3 << 20)
                spans = sorted((rng.randrange(0, n - 4096), rng.choice(sizes)) for _ in range(rng.choice((1, 64, 300))))
                if trial == 3:
                    spans = sorted([*spans, *((o + 10, s) for o, s in spans[:3]), *spans[:2], (n - 100, 100)])
                spans = [(o, min(s, n - o)) for o, s in spans]
                with archive.open(member, retain=4096, to_end=True) as stream:
                    if trial == 2:
                        stream.read_at(n // 3, 10)  # spans behind the decoder too
                    assert stream.read_spans(spans) == [data[o : o + s] for o, s in spans], (member.name, trial)
                    for offset in (spans[-1][0], max(0, spans[-1][0] - 500_000), n // 2, 0):
                        assert stream.read_at(offset, 100) == data[offset : offset + 100]
                    stream.check_integrity()
                    assert stream.read_spans([]) == []
                    with pytest.raises(EOFError):
                        stream.read_spans([(0, 10), (n - 5, 10)])
