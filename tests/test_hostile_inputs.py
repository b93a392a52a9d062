"""Bad input gets one line on stderr and exit status 2: never a traceback, never a write, input unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import pytest

import wheelaudit

from .hostile import (
    BUILDERS,
    base_name_in,
    base_wheel,
    build_in,
    elf_garbage,
    overlapping_members,
    rewrite,
    run_cli_expecting_unusable,
    snapshot,
    truncated,
)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_hostile_input_cli(build: Callable[[Path], Path], tmp_path: Path) -> None:
    wheel, before = build_in(build, tmp_path)
    run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert snapshot(tmp_path) == before, "the input changed or something was written"


@pytest.mark.parametrize("build", [truncated, elf_garbage, overlapping_members], ids=lambda b: b.__name__)
def test_hostile_input_json_and_api(build: Callable[[Path], Path], tmp_path: Path) -> None:
    wheel = build(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "wheelaudit", "show", "--json", str(wheel), str(base_wheel())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    bad, good = json.loads(proc.stdout)
    assert set(bad) == {"schema_version", "wheel", "error"} and bad["wheel"] == str(wheel)
    assert good["platform_tag"] == "manylinux_2_17_x86_64", "a bad wheel does not stop the others"
    with pytest.raises(wheelaudit.WheelError):
        wheelaudit.audit(wheel)


def test_symlink_member_is_reported_not_followed(tmp_path: Path) -> None:
    wheel = rewrite(base_wheel(), base_name_in(tmp_path))
    with zipfile.ZipFile(wheel, "a") as z:
        info = zipfile.ZipInfo("wa_sample_abi3/link.so")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    report = wheelaudit.audit(wheel)
    codes = {p.code for p in report.problems}
    assert "symlink-member" in codes and "record-missing-entry" in codes
    assert report.ok, "warnings do not make the wheel fail"
