"""A binary of another platform's format inside a wheel: one warning per file, not per slice.

Real shape: cmake 3.18.4.post1 (manylinux1_x86_64) ships CPack.OSXScriptLauncher.in, a universal
Mach-O (ppc + i386). Each slice is a binary of its own in the report, and the warnings about the
file were written once per slice: the same line twice. Here the file is a universal2 Mach-O built
with zig (x86_64 + arm64), in a manylinux wheel beside the ELF extension of the abi3 sample.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import wheelaudit

from .builders import make_wheel
from .conftest import sample_wheel
from .macho_fixtures import Fixtures, built, require_zig

LAUNCHER = "wa_sample_abi3/data/launcher.in"
PURELIB_LAUNCHER = "wa_sample_abi3-0.1.0.data/purelib/wa_sample_abi3/launcher.in"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixtures]:
    require_zig()
    return built(tmp_path_factory.getbasetemp())


def test_a_universal_macho_in_a_manylinux_wheel_is_reported_once_per_file(
    files: dict[str, Fixtures], tmp_path: Path
) -> None:
    with zipfile.ZipFile(sample_wheel("wa_sample_abi3-")) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}
    fat = files["universal2"].ext.read_bytes()
    members[LAUNCHER] = fat
    members[PURELIB_LAUNCHER] = fat
    wheel = make_wheel(tmp_path, "wa_sample_abi3-0.1.0-cp38-abi3-manylinux_2_17_x86_64.whl", members)
    report = wheelaudit.audit(wheel)
    slices = sorted((b.path, b.arch) for b in report.binaries if b.path in (LAUNCHER, PURELIB_LAUNCHER))
    assert slices == [(p, a) for p in sorted((LAUNCHER, PURELIB_LAUNCHER)) for a in ("arm64", "x86_64")]
    foreign = [p.path for p in report.problems if p.code == "foreign-binary"]
    assert sorted(foreign) == sorted((LAUNCHER, PURELIB_LAUNCHER))
    purelib = [p.path for p in report.problems if p.code == "binary-in-purelib"]
    assert purelib == [PURELIB_LAUNCHER]
    # the ELF extension is still judged as before
    assert report.platform_tag == "manylinux_2_17_x86_64"
