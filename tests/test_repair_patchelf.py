"""patchelf and strip are checked, not trusted: real repairs driven through fake tools that misbehave.

Each fake is a small shell script the test writes: one that does nothing, one that runs the
real patchelf and then cuts the file short, one that drops the RPATH it was asked to set,
one that never finishes. ``WHEELAUDIT_PATCHELF`` selects it; fake strips go first on PATH.
Every misbehaviour must end the repair with exit status 1, one line on stderr naming the
member, and an empty wheelhouse.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import zipfile
from pathlib import Path

import pytest

from wheelaudit.errors import RepairError
from wheelaudit.repairing.linux.patchelf import DynamicFacts, ElfEdit, find_patchelf, read_facts, tool_timeout

from .builders import needs_sqlite, only_wheel, repair_cli
from .conftest import sample_wheel

SYSLIB_SO = "wa_sample_syslib/wa_sample_syslib.abi3.so"

VERSION = 'if [ "$1" = --version ]; then echo "patchelf 0.18.0"; exit 0; fi\n'
LAST_ARG = 'for last in "$@"; do :; done\n'

FAKES = {
    "does-nothing": VERSION + "exit 0\n",
    "truncates": VERSION
    + LAST_ARG
    + '"$REAL" "$@" || exit $?\n'
    + 'size=$(wc -c < "$last")\n'
    + 'head -c $((size - 100)) "$last" > "$last.cut" && mv "$last.cut" "$last"\n',
    "drops-rpath": VERSION + LAST_ARG + '"$REAL" "$@" || exit $?\nexec "$REAL" --remove-rpath "$last"\n',
    "hangs": VERSION + "sleep 1000\n",  # a child of the shell: the whole process group must go
}

EXPECTED = {
    "does-nothing": "patchelf did not apply its edit to ",
    "truncates": "the edited file ",  # no longer parses, or is cut short
    "drops-rpath": "RPATH is none, expected [$ORIGIN",
    "hangs": "patchelf did not finish on ",
}


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _assert_refused(tmp_path: Path, env: dict[str, str], *extra: str, expected: str) -> float:
    wheelhouse = tmp_path / "wh"
    started = time.monotonic()
    proc = repair_cli(sample_wheel("wa_sample_syslib-"), "-w", wheelhouse, *extra, cwd=tmp_path, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wheelaudit: error: "), proc.stderr
    assert expected in lines[0], lines[0]
    assert "wa_sample_syslib" in lines[0], "the message names the member"
    assert proc.stdout == ""
    assert not wheelhouse.exists() or not any(wheelhouse.iterdir()), "nothing is left behind"
    return elapsed


@needs_sqlite
@pytest.mark.parametrize("fake", sorted(FAKES))
def test_misbehaving_patchelf_is_caught(tmp_path: Path, fake: str) -> None:
    real, _ = find_patchelf()
    exe = _script(tmp_path, f"patchelf-{fake}", FAKES[fake])
    env = {"WHEELAUDIT_PATCHELF": str(exe), "REAL": real, "WHEELAUDIT_PATCHELF_TIMEOUT": "1.5"}
    elapsed = _assert_refused(tmp_path, env, expected=EXPECTED[fake])
    if fake == "hangs":
        assert elapsed < 30, f"the hung patchelf was not stopped in time ({elapsed:.1f}s)"


@needs_sqlite
def test_real_patchelf_passes_the_check(tmp_path: Path) -> None:
    real, _ = find_patchelf()
    proc = repair_cli(sample_wheel("wa_sample_syslib-"), "-w", tmp_path / "wh", env={"WHEELAUDIT_PATCHELF": real})
    assert proc.returncode == 0, proc.stderr
    assert only_wheel(tmp_path / "wh").name.startswith("wa_sample_syslib-0.1.0-cp38-abi3-manylinux_")


@needs_sqlite
@pytest.mark.skipif(shutil.which("sh") is None, reason="needs /bin/sh")
@pytest.mark.parametrize("fake", ["hangs", "truncates"])
def test_misbehaving_strip_is_caught(tmp_path: Path, fake: str) -> None:
    """Fake strips under every name strip_tools looks for, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    body = (
        "sleep 1000\n"
        if fake == "hangs"
        else LAST_ARG + 'head -c 4096 "$last" > "$last.cut" && mv "$last.cut" "$last"\n'
    )
    for name in ("llvm-strip", "x86_64-linux-gnu-strip", "strip"):
        _script(bin_dir, name, body)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "WHEELAUDIT_PATCHELF_TIMEOUT": "1.5"}
    expected = "strip did not finish on " if fake == "hangs" else "the edited file"
    _assert_refused(tmp_path, env, "--strip", "debug", expected=expected)


def test_expected_facts_follow_patchelf_semantics() -> None:
    """Removals first, replacements in place, order kept; --force-rpath leaves no RUNPATH."""
    before = DynamicFacts(("liba.so.1", "libb.so.2", "libc.so.6"), None, (), ("/opt/lib",))
    edit = ElfEdit(soname="x.so", remove_needed=["libb.so.2"], replace_needed={"liba.so.1": "liba-1234.so.1"})
    edit.rpath = "$ORIGIN:$ORIGIN/../x.libs"
    after = before.expected_after(edit)
    assert after == DynamicFacts(("liba-1234.so.1", "libc.so.6"), "x.so", ("$ORIGIN", "$ORIGIN/../x.libs"), ())
    assert before.differences(before) == []
    assert after.differences(before) == [
        "DT_NEEDED is [liba.so.1, libb.so.2, libc.so.6], expected [liba-1234.so.1, libc.so.6]",
        "SONAME is none, expected x.so",
        "RPATH is none, expected [$ORIGIN, $ORIGIN/../x.libs]",
        "RUNPATH is [/opt/lib], expected none",
    ]
    assert before.expected_after(ElfEdit(remove_rpath=True)).runpath == ()


def test_cut_section_table_is_caught(tmp_path: Path) -> None:
    """Parsing alone never reaches the section table at the end; the size check does."""
    with zipfile.ZipFile(sample_wheel("wa_sample_syslib-")) as z:
        data = z.read(SYSLIB_SO)
    whole, cut = tmp_path / "whole.so", tmp_path / "cut.so"
    whole.write_bytes(data)
    cut.write_bytes(data[:-10])
    facts = read_facts(whole, SYSLIB_SO)
    assert "libsqlite3.so.0" in facts.needed
    with pytest.raises(RepairError, match="the edited file is cut short"):
        read_facts(cut, SYSLIB_SO)
    cut.write_bytes(data[:40])
    with pytest.raises(RepairError, match="too short"):
        read_facts(cut, SYSLIB_SO)


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_timeout_variable_is_validated(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WHEELAUDIT_PATCHELF_TIMEOUT", value)
    with pytest.raises(RepairError, match="WHEELAUDIT_PATCHELF_TIMEOUT"):
        tool_timeout()


def test_timeout_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHEELAUDIT_PATCHELF_TIMEOUT", raising=False)
    assert tool_timeout() == 120
    monkeypatch.setenv("WHEELAUDIT_PATCHELF_TIMEOUT", "2.5")
    assert tool_timeout() == 2.5
