#!/usr/bin/env python3
"""`wheelaudit show` against `auditwheel show` and against the floor, side by side on the same wheels.

Each tool runs as a fresh process (what a user or CI pays), alternating between the tools so
machine noise hits both alike. For each wheel it prints medians of N runs:

  wa s / aw s     wall seconds of `wheelaudit show --json` and `auditwheel show --json`
  ratio           auditwheel / wheelaudit (wall)
  floor s         the physical floor: `python -c pass` plus ISA-L inflation of every binary
                  member, members in one thread per core as wheelaudit's -j (benchmarks/floor.py)
  wa/floor        wheelaudit's wall time over the floor
  wa cpu / cpu/fl wheelaudit's CPU seconds (user + system, all threads), and over the floor's CPU
  infl/mem        bytes wheelaudit inflated / the uncompressed size of all members (1.00: each
                  member inflated once; CRC-32 needs every member read whole)
  wa MiB / aw MiB peak RSS (GNU time, per process)
  fl-all / wa/fa  the floor with every member inflated, not only the binaries (wheelaudit checks the
                  CRC-32 of every member), and wheelaudit's wall time over it

and the load average before each wheel (a shared machine: compare ratios and CPU, not seconds).

    python benchmarks/bench_show.py                      # polars-runtime-32 and pyarrow, 5 runs
    python benchmarks/bench_show.py --broad --runs 5     # the benchmark set (bench-wheels.json)
    python benchmarks/bench_show.py --all                # every pinned Linux wheel of the tests
    python benchmarks/bench_show.py --jobs-case          # a wheelhouse of 40 wheels, -j 1 vs -j 2
    python benchmarks/bench_show.py --serial             # also wheelaudit with one decoder per member

The broad set (orjson, pydantic-core, polars-runtime-32, pyarrow, scipy, opencv-python-headless,
grpcio, onnxruntime, jaxlib, tensorflow-cpu, nvidia-cublas-cu12; ~1 GB) is downloaded on first use
into ~/.cache/wheelaudit/bench-wheels. auditwheel takes minutes on the huge ones: `--runs 3`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import Run, bench_env, compile_package, fetch, fetch_bench, load, run, tool

DEFAULT = (
    "polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "pyarrow-26.0.1-cp312-cp312-manylinux_2_28_x86_64.whl",
)
FLOOR = Path(__file__).resolve().with_name("floor.py")
WHEELHOUSE = 40
#: The floor inflates members in as many threads as wheelaudit's default -j (one per core, at most 8).
FLOOR_JOBS = max(1, min(8, os.cpu_count() or 1))
#: Prints what ``show`` inflated, from the report's statistics (not timed).
STATS = (
    "import json, sys, wheelaudit; r = wheelaudit.audit(sys.argv[1]); "
    "print(json.dumps({k: r.stats[k] for k in ('bytes_inflated', 'bytes_uncompressed')}))"
)


def python_floor(runs: int) -> Run:
    """Median of ``python -c pass``: the interpreter's own start-up."""
    samples = [run([sys.executable, "-c", "pass"]) for _ in range(max(runs, 5))]
    return Run(
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        statistics.median(s.rss for s in samples),
        0,
    )


def inflation_floor(path: Path, runs: int, every_member: bool = False) -> tuple[float, float]:
    """Median wall and CPU seconds of inflating every binary member (or every member) once
    (in-process, FLOOR_JOBS threads)."""
    walls, cpus = [], []
    for _ in range(runs):
        cmd = [sys.executable, str(FLOOR), "--jobs", str(FLOOR_JOBS), str(path)]
        cmd += ["--every-member"] if every_member else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        figures = json.loads(out.stdout)
        walls.append(figures["seconds"])
        cpus.append(figures["cpu_seconds"])
    return statistics.median(walls), statistics.median(cpus)


def inflated_share(path: Path) -> float:
    """Bytes inflated by one audit over the uncompressed size of every member."""
    out = subprocess.run([sys.executable, "-c", STATS, str(path)], capture_output=True, text=True, env=bench_env())
    if out.returncode != 0:
        return float("nan")
    stats = json.loads(out.stdout)
    return float(stats["bytes_inflated"]) / max(1, stats["bytes_uncompressed"])


def compare(wheels: dict[str, Path], runs: int, serial: bool) -> None:
    commands = {
        "wheelaudit": [tool("wheelaudit"), "show", "--json"],
        "auditwheel": [tool("auditwheel"), "show", "--json"],
    }
    envs = {"serial": {"WHEELAUDIT_SERIAL_INFLATE": "1"}}
    if serial:
        commands["serial"] = commands["wheelaudit"]
    interpreter = python_floor(runs)
    print(f"python -c pass: {interpreter.wall:.3f} s wall, {interpreter.cpu:.3f} s CPU ({load()})")
    header = (
        f"{'wheel':44} {'MB':>5} {'wa s':>7} {'aw s':>7} {'ratio':>6} {'floor s':>7} {'wa/fl':>6} "
        f"{'wa cpu':>7} {'cpu/fl':>6} {'infl/mem':>8} {'wa MiB':>6} {'aw MiB':>6} {'fl-all':>6} {'wa/fa':>6}"
    )
    header += f" {'1-dec s':>7} {'ratio':>6}" if serial else ""
    header += "  load (1 5 15 min)"
    print(header)
    print("-" * len(header))
    ratios, floors = [], []
    for name, path in wheels.items():
        before = load()
        samples: dict[str, list[Run]] = {k: [] for k in commands}
        for _ in range(runs):
            for label, cmd in commands.items():
                samples[label].append(run([*cmd, str(path)], envs.get(label)))
        wall = {k: statistics.median(r.wall for r in v) for k, v in samples.items()}
        peak = {k: max(r.rss for r in v) for k, v in samples.items()}
        ours_cpu = statistics.median(r.cpu for r in samples["wheelaudit"])
        inflate_wall, inflate_cpu = inflation_floor(path, runs)
        floor_wall, floor_cpu = interpreter.wall + inflate_wall, interpreter.cpu + inflate_cpu
        every_wall = interpreter.wall + inflation_floor(path, runs, every_member=True)[0]
        ours, theirs = wall["wheelaudit"], wall["auditwheel"]
        ratios.append(theirs / ours)
        floors.append(ours / floor_wall)
        line = (
            f"{name[:44]:44} {path.stat().st_size / 1e6:5.0f} {ours:7.3f} {theirs:7.3f} {theirs / ours:5.1f}x "
            f"{floor_wall:7.3f} {ours / floor_wall:5.2f}x {ours_cpu:7.3f} {ours_cpu / floor_cpu:5.2f}x "
            f"{inflated_share(path):8.2f} {peak['wheelaudit']:6.0f} {peak['auditwheel']:6.0f} "
            f"{every_wall:6.3f} {ours / every_wall:5.2f}x"
        )
        if serial:
            line += f" {wall['serial']:7.3f} {theirs / wall['serial']:5.1f}x"
        print(f"{line}  {before.removeprefix('load ')}", flush=True)
    if len(ratios) > 1:
        print(
            f"median ratio to auditwheel over {len(ratios)} wheels: {statistics.median(ratios):.1f}x; "
            f"to the floor: {statistics.median(floors):.2f}x ({runs} runs each, medians; {load()})"
        )


def jobs_case(runs: int) -> None:
    """One `show` over a wheelhouse of 40 wheels (the test suite's pinned Linux wheels), -j 1 vs -j 2."""
    wheels = sorted(fetch(platforms=["linux"]).values())[:WHEELHOUSE]
    size = sum(p.stat().st_size for p in wheels) / 1e6
    cmd = [tool("wheelaudit"), "show", "-q"]
    samples: dict[int, list[Run]] = {1: [], 2: []}
    before = load()
    for _ in range(runs):
        for jobs in samples:
            samples[jobs].append(run([*cmd, "-j", str(jobs), *map(str, wheels)]))
    print(f"\nwheelhouse of {len(wheels)} wheels ({size:.0f} MB), one `wheelaudit show -q` ({runs} runs, medians)")
    print(f"{'jobs':>4} {'wall s':>7} {'cpu s':>7} {'MiB':>5}")
    for jobs, runs_of in samples.items():
        wall = statistics.median(r.wall for r in runs_of)
        cpu = statistics.median(r.cpu for r in runs_of)
        print(f"{jobs:4} {wall:7.3f} {cpu:7.3f} {max(r.rss for r in runs_of):5.0f}")
    one = statistics.median(r.wall for r in samples[1])
    two = statistics.median(r.wall for r in samples[2])
    print(f"-j 2 gains {one / two:.2f}x over -j 1 (wall); {before} before, {load()} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--all", action="store_true", help="every pinned Linux wheel of the tests")
    chosen.add_argument("--broad", action="store_true", help="the benchmark set of bench-wheels.json")
    parser.add_argument("--wheel", action="append", metavar="NAME", help="only this project of the chosen set")
    parser.add_argument("--jobs-case", action="store_true", help="also a wheelhouse of 40 wheels, -j 1 vs -j 2")
    parser.add_argument("--no-compare", action="store_true", help="skip the per-wheel table (with --jobs-case)")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="also time wheelaudit with WHEELAUDIT_SERIAL_INFLATE=1 (no second decoder for far reads)",
    )
    args = parser.parse_args()
    compile_package()  # as a pip install would: no module compiled anew on every run
    if not args.no_compare:
        if args.broad:
            wheels = fetch_bench(args.wheel)
        else:
            wheels = fetch(args.wheel or (None if args.all else list(DEFAULT)), platforms=["linux"])
        compare(wheels, args.runs, args.serial)
    if args.jobs_case:
        jobs_case(args.runs)


if __name__ == "__main__":
    main()
