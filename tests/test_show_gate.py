"""`wheelaudit show` as a CI gate: --require, --fail-on, --format text|json|github|sarif, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import sample_wheel

ABI3, SYSLIB, NEWGLIBC = (sample_wheel(p) for p in ("wa_sample_abi3-", "wa_sample_syslib-", "wa_sample_newglibc-"))


def show(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    return subprocess.run(
        [sys.executable, "-m", "wheelaudit", "show", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**full, **(env or {})},
        cwd="/",  # the package as installed (or on PYTHONPATH), never a folder named wheelaudit in the cwd
    )


@pytest.mark.parametrize(
    ("args", "status"),
    [
        ((SYSLIB,), 0),  # show alone: the binaries can carry linux_x86_64
        (("--require", "manylinux_2_17", SYSLIB), 1),  # ... but no index takes it
        (("--fail-on", "warning", SYSLIB), 1),  # not-portable is a warning
        (("--require", "manylinux_2_17", "--fail-on", "warning", ABI3), 0),
        (("--require", "manylinux_2_12", ABI3), 1),  # manylinux_2_17 reaches fewer systems
        (("--require", "musllinux_1_2", "--require", "manylinux_2_17", ABI3), 0),  # one per OS is enough
        (("--require", "macosx_11_0", ABI3), 0),  # governs macOS wheels only
        ((NEWGLIBC,), 1),
        (("--require", "manylinux_9", ABI3), 2),  # a typo is a usage error, never a pass
        (("--fail-on", "info", ABI3), 2),
    ],
)
def test_exit_status(args: tuple[str | Path, ...], status: int) -> None:
    proc = show(*args)
    assert proc.returncode == status, proc.stdout + proc.stderr


def test_text_names_the_gate_failure() -> None:
    proc = show("--require", "manylinux_2_17", SYSLIB)
    assert "  gate: FAIL: tagged linux_x86_64; required: manylinux_2_17 or more compatible" in proc.stdout


def test_format_json_is_json() -> None:
    assert show("--format", "json", ABI3).stdout == show("--json", ABI3).stdout


def test_format_github_prints_commands_and_the_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    proc = show(
        "--format", "github", "--require", "manylinux_2_17", SYSLIB, ABI3, env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert [line.split("::")[1].split(" ")[0] for line in lines] == ["warning", "error"]
    assert "title=not-portable" in lines[0] and "title=gate" in lines[1]
    table = summary.read_text()
    assert f"| {SYSLIB.name} | OK | `linux_x86_64` | 0 | 1 | :x: fail |" in table
    assert f"| {ABI3.name} | OK | `manylinux_2_17_x86_64` | 0 | 0 | :white_check_mark: pass |" in table


def test_format_github_unusable_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    proc = show("--format", "github", broken)
    assert proc.returncode == 2
    assert proc.stdout.startswith(f"::error file={broken},title=unusable-wheel::")


def test_format_sarif() -> None:
    proc = show("--format", "sarif", NEWGLIBC)
    assert proc.returncode == 1
    log = json.loads(proc.stdout)
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {"elf-symbol-version-too-new"}
