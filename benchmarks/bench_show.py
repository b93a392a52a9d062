#!/usr/bin/env python3
"""`wheelaudit show` against `auditwheel show`, side by side on the same wheels.

Each tool runs as a fresh process (what a user or CI pays), alternating between the
tools so machine noise hits both alike. Prints the median wall time of N runs, the
ratio auditwheel/wheelaudit, and each tool's peak RSS (GNU time, per process).

    python benchmarks/bench_show.py                 # polars-runtime-32 and pyarrow, 5 runs
    python benchmarks/bench_show.py --runs 9 --all  # every pinned Linux wheel
    python benchmarks/bench_show.py --serial        # also wheelaudit with one decoder per member
"""

from __future__ import annotations

import argparse
import statistics

from _common import fetch, run_once, tool

DEFAULT = (
    "polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "pyarrow-26.0.1-cp312-cp312-manylinux_2_28_x86_64.whl",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--all", action="store_true", help="every pinned Linux wheel, not just the two big ones")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="also time wheelaudit with WHEELAUDIT_SERIAL_INFLATE=1 (no second decoder for far reads)",
    )
    args = parser.parse_args()
    wheels = fetch(None if args.all else list(DEFAULT), platforms=["linux"])
    commands = {
        "wheelaudit": [tool("wheelaudit"), "show", "--json"],
        "auditwheel": [tool("auditwheel"), "show", "--json"],
    }
    envs = {"serial": {"WHEELAUDIT_SERIAL_INFLATE": "1"}}
    if args.serial:
        commands["serial"] = commands["wheelaudit"]
    header = f"{'wheel':58} {'wheelaudit s':>12} {'auditwheel s':>12} {'ratio':>7} {'wa MiB':>7} {'aw MiB':>7}"
    header += f" {'1-decoder s':>11} {'ratio':>7}" if args.serial else ""
    print(header)
    print("-" * len(header))
    ratios = []
    for name, path in wheels.items():
        times: dict[str, list[float]] = {k: [] for k in commands}
        peaks: dict[str, float] = {k: 0.0 for k in commands}
        for _ in range(args.runs):
            for label, cmd in commands.items():
                elapsed, peak, _status = run_once([*cmd, str(path)], envs.get(label))
                times[label].append(elapsed)
                peaks[label] = max(peaks[label], peak)
        ours, theirs = statistics.median(times["wheelaudit"]), statistics.median(times["auditwheel"])
        ratios.append(theirs / ours)
        line = (
            f"{name[:58]:58} {ours:12.3f} {theirs:12.3f} {theirs / ours:6.1f}x "
            f"{peaks['wheelaudit']:7.0f} {peaks['auditwheel']:7.0f}"
        )
        if args.serial:
            serial = statistics.median(times["serial"])
            line += f" {serial:11.3f} {theirs / serial:6.1f}x"
        print(line)
    if len(ratios) > 1:
        print(
            f"median ratio over {len(ratios)} wheels: {statistics.median(ratios):.1f}x ({args.runs} runs each, medians)"
        )


if __name__ == "__main__":
    main()
