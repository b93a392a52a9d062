"""The ISA scan's helper process: the same counts as walking here, and nothing lost when it fails.

The helper (``wheelaudit.binary.isaworker``) walks sampled x86-64 code in a second process so that
two walks run at once; its answers must be exactly those of the walk in this process, since the
counts decide the verdicts, and a helper that dies or cannot start must only cost speed.
"""

from __future__ import annotations

import json
import os
import random
import zipfile
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.binary import isascan, isaworker
from wheelaudit.binary.x86decode import count_window

#: Real wheels with many x86-64 libraries: numpy 1.21's dispatch test module, Pillow's codecs.
WHEELS = (
    "numpy-1.21.6-cp39-cp39-manylinux_2_12_x86_64.manylinux2010_x86_64.whl",
    "Pillow-9.0.1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
)


def _windows(wheel: Path, limit: int = 400) -> list[bytes]:
    """2 KB windows cut from the wheel's libraries (code, data and padding alike)."""
    out: list[bytes] = []
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(n for n in zf.namelist() if ".so" in n):
            data = zf.read(name)
            out += [data[i : i + 2048] for i in range(0, len(data), max(2048, len(data) // 24))]
    return out[:limit]


@pytest.fixture()
def helper() -> isaworker.Helper:
    started = isaworker.Helper()
    started.start()
    yield started
    started.close()


def test_the_helper_counts_as_this_process_does(real_wheels: dict[str, Path], helper: isaworker.Helper) -> None:
    rng = random.Random(1234)
    windows = _windows(real_wheels[WHEELS[0]]) + [rng.randbytes(rng.randrange(1, 2048)) for _ in range(100)]
    there = helper.counts(windows, lambda w: pytest.fail("walked here although the helper was free"))
    assert helper.windows_walked == len(windows)
    assert there == [count_window(w) for w in windows]
    assert any(c is None for c in there) and sum(c is not None for c in there) > 100  # both kinds were asked


def test_a_dead_helper_is_walked_around(real_wheels: dict[str, Path], helper: isaworker.Helper) -> None:
    windows = _windows(real_wheels[WHEELS[1]], limit=50)
    assert helper.counts(windows[:5], count_window) == [count_window(w) for w in windows[:5]]
    process = helper._process
    assert process is not None
    process.kill()
    process.wait()
    assert helper.counts(windows, count_window) == [count_window(w) for w in windows]
    assert helper.windows_walked == 5  # the rest was walked here, and the helper stays off
    helper.start()
    assert helper._process is process


def test_a_helper_that_cannot_start_costs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isaworker.sys, "executable", "/nonexistent/python")
    broken = isaworker.Helper()
    broken.start()
    windows = [bytes.fromhex("4889c7e8000000004883c408c3") * 100]
    assert broken.counts(windows, count_window) == [count_window(windows[0])]
    assert broken.windows_walked == 0


@pytest.mark.parametrize("filename", WHEELS)
def test_verdicts_do_not_depend_on_the_helper(
    real_wheels: dict[str, Path], filename: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = {}
    walked = {}
    monkeypatch.setattr(isascan, "_walk_in_c", None)  # the helper serves the walk in Python
    for setting in ("0", "1"):
        monkeypatch.setenv(isaworker.ENV, setting)
        fresh = isaworker.Helper()
        monkeypatch.setattr(isaworker, "_SHARED", fresh)
        isascan._MEMO.clear()
        try:
            reports[setting] = json.dumps(wheelaudit.audit(real_wheels[filename]).to_json(), sort_keys=True)
        finally:
            fresh.close()
        walked[setting] = fresh.windows_walked
    assert walked["0"] == 0 and walked["1"] > 0
    assert reports["0"] == reports["1"]
    assert '"code_isa"' in reports["0"]  # the scan ran and is in the report


def test_the_c_walk_needs_no_helper(real_wheels: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the C walk built, a window takes microseconds: none is sent to another process."""
    if isascan._walk_in_c is None:
        pytest.skip("the C walk was not built")
    monkeypatch.setenv(isaworker.ENV, "1")
    fresh = isaworker.Helper()
    monkeypatch.setattr(isaworker, "_SHARED", fresh)
    isascan._MEMO.clear()
    try:
        report = wheelaudit.audit(real_wheels[WHEELS[0]]).to_json()
    finally:
        fresh.close()
    assert fresh.windows_walked == 0 and fresh._process is None
    assert '"code_isa"' in json.dumps(report)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_helper(helper: isaworker.Helper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isaworker, "_SHARED", helper)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's pipes must not be shared
        os.write(write, b"1" if isaworker.shared() is not helper else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert isaworker.shared() is helper


def test_a_library_users_interpreter_ends_its_helper_cleanly(real_wheels: dict[str, Path]) -> None:
    """wheelaudit.audit() in a user's process: at exit the helper is ended and waited for, its pipes closed
    (no ResourceWarning under -X dev -W error, no process left behind)."""
    import subprocess
    import sys

    code = (
        "import sys, wheelaudit; from wheelaudit.binary import isaworker; wheelaudit.audit(sys.argv[1]); "
        "print(isaworker.shared().windows_walked, isaworker.shared()._process.pid)"
    )
    env = {**os.environ, isaworker.ENV: "1", isascan.NATIVE_ENV: "0"}  # the helper serves the walk in Python
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", code, str(real_wheels[WHEELS[0]])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    walked, pid = map(int, proc.stdout.split())
    assert walked > 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone, and reaped: not even a zombie is left to signal
