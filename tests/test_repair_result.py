"""Repair tells the whole truth about its result: the written wheel is audited again.

Errors repair cannot fix are listed and make the exit status 1 (the wheel is kept);
a retag that narrows the wheel's reach or changes its libc family is said in one line.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wheelaudit.repairing import RepairOptions, repair_wheel

from .builders import make_wheel
from .conftest import sample_wheel


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelaudit", "repair", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_errors_repair_cannot_fix_are_listed_and_exit_1(tmp_path: Path) -> None:
    proc = _cli("-w", tmp_path, sample_wheel("wa_sample_abi3bad-"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "still has 1 error(s) repair cannot fix" in proc.stderr
    assert "[abi3-symbol-too-new]" in proc.stderr and "PyUnicode_AsUTF8AndSize" in proc.stderr
    kept = list(tmp_path.glob("*.whl"))
    assert len(kept) == 1  # documented: the repaired wheel is kept, the status says it is not fit to publish
    result = repair_wheel(sample_wheel("wa_sample_abi3bad-"), RepairOptions(), tmp_path / "api")
    assert [p.code for p in result.unfixed] == ["abi3-symbol-too-new"]
    assert result.report.filename == result.path.name


def test_a_clean_repair_has_nothing_left(tmp_path: Path) -> None:
    result = repair_wheel(sample_wheel("wa_sample_libpython-"), RepairOptions(), tmp_path)
    assert result.unfixed == ()  # the libpython dependency is removed by the repair itself
    assert result.report.ok


def test_a_narrower_tag_is_said(tmp_path: Path) -> None:
    proc = _cli("-w", tmp_path, sample_wheel("wa_sample_newglibc-"))
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("wheelaudit: note:")]
    assert notes == [
        "wheelaudit: note: the new tag manylinux_2_36 is narrower than the input's manylinux_2_17: "
        "systems with an older glibc can no longer install the wheel"
    ]


def test_a_change_of_libc_family_is_said(tmp_path: Path) -> None:
    src = sample_wheel("wa_sample_abi3-")
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}
    wheel = make_wheel(tmp_path, "wa_sample_abi3-0.1.0-cp38-abi3-musllinux_1_2_x86_64.whl", members)
    result = repair_wheel(wheel, RepairOptions(), tmp_path / "out")
    assert result.plan.family == "manylinux"
    assert any("libc family changes from musllinux to manylinux" in note for note in result.notes), result.notes
    assert result.report.ok


@pytest.mark.real
def test_the_audit_of_the_result_reads_only_what_changed(real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """polars' 177 MB library is copied raw: its analysis is reused, not inflated a second time."""
    wheel = real_wheels["polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"]
    result = repair_wheel(wheel, RepairOptions(), tmp_path)
    assert result.report.ok
    assert any(b.file_size > 100_000_000 for b in result.report.binaries)
    assert result.report.stats["bytes_inflated"] < 1_000_000


def test_show_says_which_tag_repair_would_give(tmp_path: Path) -> None:
    """`show` on a linux_* wheel that needs grafting names the tag; `repair` then gives that tag."""
    import wheelaudit

    from .builders import SQLITE

    wheel = sample_wheel("wa_sample_syslib-")
    (warning,) = [p for p in wheelaudit.audit(wheel).problems if p.code == "not-portable"]
    assert "`wheelaudit repair` would graft them and tag the wheel manylinux_2_34_x86_64" in warning.message
    assert warning.fix is not None and "--plat manylinux_2_34_x86_64" in warning.fix
    if SQLITE is None:  # libsqlite3 is not on this host: the repair half cannot run
        return
    assert repair_wheel(wheel, RepairOptions(), tmp_path).plan.platform_tags[0] == "manylinux_2_34_x86_64"
