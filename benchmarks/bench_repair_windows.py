#!/usr/bin/env python3
"""Windows repair: `wheelaudit repair` against `delvewheel repair` 1.13.2, side by side on real wheels (issue 13).

The inputs are delvewheel-repaired wheels from PyPI (pinned in sample-wheels/real-wheels.json)
with their repair undone (:func:`tests.windows_wheels.unrepair`: the DLLs back in a lib folder
under their own names, the imports and the ``__init__.py`` patch undone); both tools graft them
again from that folder (``--lib-path`` / ``--add-path``). Built once into
``~/.cache/wheelaudit/bench/windows-unrepaired``.

Two views, each the median of ``--runs`` runs, tools alternating so machine noise hits both:

* **fresh processes** (what a user or CI pays): wall and CPU seconds (user + system, from
  ``wait4``) of ``python -m wheelaudit repair`` at the default ``-z 6`` and at ``-z 3``
  (ISA-L), and of ``delvewheel repair``;
* **in-process** (interpreter start-up and imports excluded): ``repair_wheel`` against
  delvewheel's own ``WheelRepair(...).repair(...)``.

Both tools deflate the grafted DLLs and the edited modules at level 6 by default: delvewheel with
zlib (numpy: 0.7-0.9 s of CPU for the 20 MB OpenBLAS DLL), wheelaudit with libdeflate (0.22 s, and
0.7% smaller); delvewheel also inflates and
deflates every other member, which wheelaudit copies as its compressed bytes. Every run's result
is checked: the same file name and grafted DLLs (without the hash) from both tools.

    python benchmarks/bench_repair_windows.py              # 5 runs each
    python benchmarks/bench_repair_windows.py --runs 9 --case numpy
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import compile_package, fetch, load, run, tool

CASES = {
    "shapely-win32": "shapely-2.2.0-cp312-cp312-win32.whl",  # 1.6 MB; GEOS + msvcp140 (3.3 MB) grafted
    "shapely-amd64": "shapely-2.2.0-cp312-cp312-win_amd64.whl",  # 1.8 MB; GEOS + msvcp140 (3.7 MB) grafted
    "numpy": "numpy-2.5.5-cp312-cp312-win_amd64.whl",  # 12.6 MB; OpenBLAS + msvcp140 (21 MB) grafted
}
_HASH = re.compile(r"-[0-9a-f]{32}(?=\.dll$)", re.IGNORECASE)


def inputs(names: list[str]) -> dict[str, tuple[Path, Path]]:
    """case -> (un-repaired wheel, lib folder), built once into the cache."""
    from tests.windows_wheels import unrepair

    base = Path(os.environ.get("WHEELAUDIT_WHEEL_CACHE", Path.home() / ".cache" / "wheelaudit" / "real-wheels"))
    cache = base.parent / "bench" / "windows-unrepaired"
    wheels = fetch([CASES[n] for n in names])
    out = {}
    for name in names:
        target = cache / name
        done = target / "done"
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            unrepair(wheels[CASES[name]], target)
            done.touch()
        out[name] = (target / CASES[name], target / "lib")
    return out


def summary(wheel: Path) -> tuple[str, tuple[str, ...]]:
    """(file name, grafted DLLs without the hash) of a repaired wheel."""
    with zipfile.ZipFile(wheel) as zf:
        grafted = sorted(_HASH.sub("", n) for n in zf.namelist() if ".libs/" in n and n.lower().endswith(".dll"))
    return wheel.name, tuple(grafted)


def report(title: str, walls: dict[str, list[float]], cpus: dict[str, list[float]]) -> None:
    print(title)
    theirs_wall, theirs_cpu = statistics.median(walls["delvewheel"]), statistics.median(cpus["delvewheel"])
    for label in walls:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        ratio = (
            ""
            if label == "delvewheel"
            else f"   delvewheel/ours: wall {theirs_wall / wall:.1f}x, cpu {theirs_cpu / cpu:.1f}x"
        )
        print(f"  {label:16} wall {wall:6.3f} s  cpu {cpu:6.3f} s{ratio}")


def fresh(name: str, wheel: Path, lib: Path, runs: int) -> None:
    delvewheel = tool("delvewheel")
    ours = [sys.executable, "-m", "wheelaudit", "repair", "--lib-path", str(lib), str(wheel), "-w"]
    commands: dict[str, Callable[[Path], list[str]]] = {
        "wheelaudit -z 6": lambda out: [*ours, str(out)],
        "wheelaudit -z 3": lambda out: [*ours, str(out), "-z", "3"],
        "delvewheel": lambda out: [delvewheel, "repair", "--add-path", str(lib), "-w", str(out), str(wheel)],
    }
    walls: dict[str, list[float]] = {k: [] for k in commands}
    cpus: dict[str, list[float]] = {k: [] for k in commands}
    results: dict[str, tuple[str, tuple[str, ...]]] = {}
    for _ in range(runs):
        for label, command in commands.items():
            out = Path(tempfile.mkdtemp(prefix="bench-win-"))
            try:
                result = run(command(out))
                if result.status != 0:
                    sys.exit(f"{label} failed on {wheel.name} (status {result.status})")
                (produced,) = out.glob("*.whl")
                results[label] = summary(produced)
                walls[label].append(result.wall)
                cpus[label].append(result.cpu)
            finally:
                shutil.rmtree(out, ignore_errors=True)
    agree = len(set(results.values())) == 1
    report(f"{name}: fresh processes, median of {runs} ({load()}); name and grafted set agree: {agree}", walls, cpus)


def in_process(name: str, wheel: Path, lib: Path, runs: int) -> None:
    from delvewheel._wheel_repair import WheelRepair

    from wheelaudit.repairing import RepairOptions, repair_wheel

    def ours(level: int) -> Callable[[Path], None]:
        def call(out: Path) -> None:
            repair_wheel(wheel, RepairOptions(lib_paths=(str(lib),)), out, compresslevel=level)

        return call

    def delvewheel(out: Path) -> None:
        # what `delvewheel repair --add-path LIB -w OUT WHEEL` does after parsing its arguments
        saved = os.environ["PATH"]
        os.environ["PATH"] = f"{os.path.abspath(lib)}{os.pathsep}{saved}"
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                repairer = WheelRepair(str(wheel), None, set(), set(), False, False, False)
                repairer.repair(str(out), set(), False, False, False, ".libs", True, set(), False, False, False)
        finally:
            os.environ["PATH"] = saved

    tools: dict[str, Callable[[Path], None]] = {
        "wheelaudit -z 6": ours(6),
        "wheelaudit -z 3": ours(3),
        "delvewheel": delvewheel,
    }
    walls: dict[str, list[float]] = {k: [] for k in tools}
    cpus: dict[str, list[float]] = {k: [] for k in tools}
    for call in tools.values():  # one warm-up run each: imports and first-use caches
        out = Path(tempfile.mkdtemp(prefix="bench-win-"))
        call(out)
        shutil.rmtree(out)
    for _ in range(runs):
        for label, call in tools.items():
            out = Path(tempfile.mkdtemp(prefix="bench-win-"))
            try:
                start, cpu_start = time.perf_counter(), time.process_time()
                call(out)
                walls[label].append(time.perf_counter() - start)
                cpus[label].append(time.process_time() - cpu_start)
            finally:
                shutil.rmtree(out, ignore_errors=True)
    report(f"{name}: in-process, imports excluded, median of {runs} ({load()})", walls, cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these wheels (repeatable)")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh-process view")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process view")
    args = parser.parse_args()
    names = args.case or list(CASES)
    compile_package()
    for name, (wheel, lib) in inputs(names).items():
        if not args.no_fresh:
            fresh(name, wheel, lib, args.runs)
        if not args.no_in_process:
            in_process(name, wheel, lib, args.runs)


if __name__ == "__main__":
    main()
