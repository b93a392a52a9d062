#!/usr/bin/env python3
"""macOS repair: `wheelaudit repair` against repairwheel 0.8.0, side by side on real wheels (issue 12).

The inputs are delocated wheels from PyPI (pinned in sample-wheels/real-wheels.json) with their
grafting undone (:func:`tests.macos_wheels.ungraft`: the dylibs back in a lib folder as
``/opt/homebrew/lib/<name>``); both tools graft them again from that folder (``--lib-path`` /
``-l``). Built once into ``~/.cache/wheelaudit/bench/macos-ungrafted``.

Two views, each the median of ``--runs`` runs, tools alternating so machine noise hits both:

* **fresh processes** (what a user or CI pays): wall and CPU seconds (user + system, from
  ``wait4``) of ``python -m wheelaudit repair`` at the default ``-z 6`` and at ``-z 3``
  (ISA-L), and of ``repairwheel``;
* **in-process** (interpreter start-up and imports excluded): ``repair_wheel`` against
  repairwheel's own ``macos.repair.repair``.

Both tools deflate the grafted libraries at level 6 by default: repairwheel with zlib (pillow:
0.25 s of CPU for 9.2 MB), wheelaudit with libdeflate (0.09 s, and 1% smaller); ``-z 3`` (ISA-L)
shows the rest. Every run's result is checked: the same
platform tags and grafted libraries from both tools.

    python benchmarks/bench_repair_macos.py              # 5 runs each
    python benchmarks/bench_repair_macos.py --runs 9 --case pillow
"""

from __future__ import annotations

import argparse
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
    "pyzmq": "pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl",  # universal2, 2 dylibs
    "pillow": "pillow-13.0.0-cp312-cp312-macosx_11_0_arm64.whl",  # arm64, 18 dylibs, 10 MB grafted
    "shapely": "shapely-2.2.0-cp312-cp312-macosx_11_0_arm64.whl",  # arm64, GEOS (3.5 MB)
}
_HASH = re.compile(r"-[0-9a-f]{8}(?=\.)")


def inputs(names: list[str]) -> dict[str, tuple[Path, Path]]:
    """case -> (un-grafted wheel, lib folder), built once into the cache."""
    from tests.macos_wheels import ungraft

    base = Path(os.environ.get("WHEELAUDIT_WHEEL_CACHE", Path.home() / ".cache" / "wheelaudit" / "real-wheels"))
    cache = base.parent / "bench" / "macos-ungrafted"
    wheels = fetch([CASES[n] for n in names])
    out = {}
    for name in names:
        target = cache / name
        done = target / "done"
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            ungraft(wheels[CASES[name]], target)
            done.touch()
        out[name] = (target / CASES[name], target / "lib")
    return out


def summary(wheel: Path) -> tuple[str, tuple[str, ...]]:
    """(platform tags, grafted names without hash suffixes) of a repaired wheel."""
    with zipfile.ZipFile(wheel) as zf:
        grafted = sorted(_HASH.sub("", n.rsplit("/", 1)[1]) for n in zf.namelist() if ".dylibs/" in n and n[-1] != "/")
    return wheel.name[: -len(".whl")].split("-")[-1], tuple(grafted)


def fresh(name: str, wheel: Path, lib: Path, runs: int) -> None:
    repairwheel = tool("repairwheel")
    ours = [sys.executable, "-m", "wheelaudit", "repair", "--lib-path", str(lib), str(wheel), "-w"]
    commands: dict[str, Callable[[Path], list[str]]] = {
        "wheelaudit -z 6": lambda out: [*ours, str(out)],
        "wheelaudit -z 3": lambda out: [*ours, str(out), "-z", "3"],
        "repairwheel": lambda out: [repairwheel, "-o", str(out), "-l", str(lib), str(wheel)],
    }
    walls: dict[str, list[float]] = {k: [] for k in commands}
    cpus: dict[str, list[float]] = {k: [] for k in commands}
    results: dict[str, tuple[str, tuple[str, ...]]] = {}
    for _ in range(runs):
        for label, command in commands.items():
            out = Path(tempfile.mkdtemp(prefix="bench-mac-"))
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
    print(f"{name}: fresh processes, median of {runs} ({load()}); tags and grafted set agree: {agree}")
    theirs_wall, theirs_cpu = statistics.median(walls["repairwheel"]), statistics.median(cpus["repairwheel"])
    for label in commands:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        ratio = (
            ""
            if label == "repairwheel"
            else f"   repairwheel/ours: wall {theirs_wall / wall:.1f}x, cpu {theirs_cpu / cpu:.1f}x"
        )
        print(f"  {label:16} wall {wall:6.3f} s  cpu {cpu:6.3f} s{ratio}")


def in_process(name: str, wheel: Path, lib: Path, runs: int) -> None:
    from repairwheel.macos.repair import repair as theirs

    from wheelaudit.repairing import RepairOptions, repair_wheel

    def ours(level: int) -> Callable[[Path], None]:
        def call(out: Path) -> None:
            repair_wheel(wheel, RepairOptions(lib_paths=(str(lib),)), out, compresslevel=level)

        return call

    def repairwheel(out: Path) -> None:
        theirs(wheel, out, [lib], True)

    tools: dict[str, Callable[[Path], None]] = {
        "wheelaudit -z 6": ours(6),
        "wheelaudit -z 3": ours(3),
        "repairwheel": repairwheel,
    }
    walls: dict[str, list[float]] = {k: [] for k in tools}
    cpus: dict[str, list[float]] = {k: [] for k in tools}
    for call in tools.values():  # one warm-up run each: imports and first-use caches
        out = Path(tempfile.mkdtemp(prefix="bench-mac-"))
        call(out)
        shutil.rmtree(out)
    for _ in range(runs):
        for label, call in tools.items():
            out = Path(tempfile.mkdtemp(prefix="bench-mac-"))
            try:
                start, cpu_start = time.perf_counter(), time.process_time()
                call(out)
                walls[label].append(time.perf_counter() - start)
                cpus[label].append(time.process_time() - cpu_start)
            finally:
                shutil.rmtree(out, ignore_errors=True)
    print(f"{name}: in-process, imports excluded, median of {runs} ({load()})")
    theirs_wall, theirs_cpu = statistics.median(walls["repairwheel"]), statistics.median(cpus["repairwheel"])
    for label in tools:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        ratio = (
            ""
            if label == "repairwheel"
            else f"   repairwheel/ours: wall {theirs_wall / wall:.1f}x, cpu {theirs_cpu / cpu:.1f}x"
        )
        print(f"  {label:16} wall {wall:6.3f} s  cpu {cpu:6.3f} s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these wheels (repeatable)")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh-process view")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process view")
    args = parser.parse_args()
    names = args.case or list(CASES)
    os.environ.pop("MACOSX_DEPLOYMENT_TARGET", None)
    compile_package()
    for name, (wheel, lib) in inputs(names).items():
        if not args.no_fresh:
            fresh(name, wheel, lib, args.runs)
        if not args.no_in_process:
            in_process(name, wheel, lib, args.runs)


if __name__ == "__main__":
    main()
