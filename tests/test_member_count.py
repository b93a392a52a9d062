"""Huge member counts stay bounded (issue 10): a repair's memory grows gently with the members.

A wheel of 40,000 small members (the abi3 sample retagged linux_x86_64, so that repair
has a retag to do and copies every member; 20 bytes each, so that the scan sniffs
every one) is repaired under tracemalloc: reading the member table and RECORD,
sniffing every member, writing every member, then auditing the result (what ``show``
does). Its peak takes ~3.5 MB whatever the members, plus ~360 bytes a member today;
the bound allows about twice that. The object-per-member layout it replaced took
~1,250 bytes a member (measured on it) and fails it. ``benchmarks/bench_members.py``
measures time and peak RSS at 500,000 members.
"""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from wheelaudit.auditing import CopiedMembers, audit
from wheelaudit.repairing import RepairOptions, RepairResult, repair_wheel
from wheelaudit.wheel.archive import WheelArchive

from .conftest import sample_wheel

MEMBERS = 40_000
#: Peak traced bytes allowed: what any repair takes, and per member (see the module docstring).
FIXED_BYTES = 6 << 20
BYTES_PER_MEMBER = 650


def _row(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


@pytest.fixture(scope="module")
def many_members(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The abi3 sample tagged linux_x86_64 with MEMBERS more small members, and a RECORD that lists them all."""
    out = tmp_path_factory.mktemp("many") / "wa_sample_abi3-0.1.0-cp38-abi3-linux_x86_64.whl"
    rows: list[str] = []
    record = ""
    with zipfile.ZipFile(sample_wheel("wa_sample_abi3-")) as src, zipfile.ZipFile(out, "w") as zf:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/RECORD"):
                record = info.filename
                continue
            if info.filename.endswith("/WHEEL"):
                lines = data.decode().replace("manylinux2014_x86_64", "linux_x86_64").splitlines()
                data = "".join(line + "\n" for line in lines if "manylinux_2_17" not in line).encode()
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
            rows.append(_row(info.filename, data))
        for i in range(MEMBERS):  # stored: the test is about the member count, not about inflating
            name = f"wa_sample_abi3/data/d{i // 1000:03d}/f{i:06d}.txt"
            data = (b"%d\n" % i).rjust(20, b"#")  # 16 bytes or more: the scan sniffs each one
            zf.writestr(name, data)
            rows.append(_row(name, data))
        rows.append(f"{record},,")
        zf.writestr(record, "\n".join(rows) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    return out


@pytest.fixture(scope="module")
def repaired(many_members: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[RepairResult, int]:
    """The repair of ``many_members``, and the peak of traced memory it took."""
    results: list[RepairResult] = []
    tracemalloc.start()
    try:
        results.append(repair_wheel(many_members, RepairOptions(), tmp_path_factory.mktemp("wheelhouse")))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return results[0], peak


def test_repair_of_many_members_stays_bounded(repaired: tuple[RepairResult, int]) -> None:
    result, peak = repaired
    with zipfile.ZipFile(result.path) as zf:  # every member copied, and listed in the new RECORD
        names = zf.namelist()
        record = zf.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
    assert len(names) >= MEMBERS and record.count("\n") == len(names)
    assert "manylinux" in result.path.name
    assert result.report.platform_tag and not [p for p in result.report.problems if p.code.startswith("record-")]
    per_member = (peak - FIXED_BYTES) / MEMBERS
    assert per_member < BYTES_PER_MEMBER, f"repair: {peak} bytes at peak, {per_member:.0f} a member"


def test_the_audit_of_a_repair_reads_again_only_what_changed(repaired: tuple[RepairResult, int]) -> None:
    """The members copied raw are known from the input's scan, by their place in the directory written."""
    result = repaired[0]
    assert result.report.stats["members_sniffed"] < 10  # WHEEL, RECORD and the like: not the copies
    fresh = audit(result.path)
    assert fresh.stats["members_sniffed"] > MEMBERS
    report = result.report
    assert (fresh.binaries, fresh.problems, fresh.tags) == (report.binaries, report.problems, report.tags)
    members = WheelArchive(result.path).members
    # The flags count only on the directory they were written with.
    other = (members.directory[0] ^ 1, members.directory[1])
    assert audit(result.path, copied=CopiedMembers(b"\1" * len(members), other)).stats["members_sniffed"] > MEMBERS
    assert (
        audit(result.path, copied=CopiedMembers(b"\1" * len(members), members.directory)).stats["members_sniffed"] == 0
    )
