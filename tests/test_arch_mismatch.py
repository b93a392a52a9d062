"""A wheel tagged for one architecture whose binaries are built for another (issue: trust the verdict).

The binaries decide: a wheel whose only binaries are x86_64 gets x86_64 tags (never the claimed
aarch64 ones) and a binary-arch-mismatch error; binaries of two architectures get no tag at all;
``repair`` refuses both with one line.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import wheelaudit

from .builders import make_wheel
from .conftest import sample_wheel

EM_AARCH64 = 183
ABI3_SO = "wa_sample_abi3/wa_sample_abi3.abi3.so"


def _members() -> dict[str, bytes]:
    with zipfile.ZipFile(sample_wheel("wa_sample_abi3-")) as zf:
        return {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}


def _as_aarch64(elf: bytes) -> bytes:
    """The same ELF with e_machine set to AArch64 (the structure stays valid; only the machine changes)."""
    return elf[:18] + struct.pack("<H", EM_AARCH64) + elf[20:]


def test_x86_64_binaries_in_an_aarch64_wheel_get_x86_64_tags_only(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "wa_sample_abi3-0.1.0-cp38-abi3-manylinux_2_17_aarch64.whl", _members())
    report = wheelaudit.audit(wheel)
    assert not report.ok
    assert report.platform_tag == "manylinux_2_17_x86_64"
    assert report.tags and not any("aarch64" in t for t in report.tags)
    mismatch = [p for p in report.errors if p.code == "binary-arch-mismatch"]
    assert [p.path for p in mismatch] == [ABI3_SO]
    assert "built for x86_64, the wheel for aarch64" in mismatch[0].message


def test_binaries_of_two_architectures_get_no_tag(tmp_path: Path) -> None:
    members = _members()
    members["wa_sample_abi3/other.abi3.so"] = _as_aarch64(members[ABI3_SO])
    wheel = make_wheel(tmp_path, "wa_sample_abi3-0.1.0-cp38-abi3-manylinux_2_17_x86_64.whl", members)
    report = wheelaudit.audit(wheel)
    assert {b.arch for b in report.binaries} == {"x86_64", "aarch64"}
    assert report.platform_tag is None
    assert report.tags == ()
    assert [p.path for p in report.errors if p.code == "binary-arch-mismatch"] == ["wa_sample_abi3/other.abi3.so"]


def test_repair_refuses_a_wheel_of_the_wrong_architecture(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "wa_sample_abi3-0.1.0-cp38-abi3-linux_aarch64.whl", _members())
    out = tmp_path / "wheelhouse"
    proc = subprocess.run(
        [sys.executable, "-m", "wheelaudit", "repair", "-w", str(out), str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "built for x86_64, the wheel for aarch64" in lines[0], proc.stderr
    assert not out.exists() or not any(out.iterdir())
