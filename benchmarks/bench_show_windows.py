#!/usr/bin/env python3
"""``wheelaudit show`` against ``delvewheel show`` on the pinned real Windows wheels.

Both run as fresh processes (``python -m ...``), the way CI calls them, so interpreter start-up
and imports count for both. delvewheel gets ``--ignore-existing`` (what wheelaudit's verdict
matches); it refuses wheels it has already repaired, which are timed for wheelaudit only.
Prints one row per wheel: medians of N runs and the ratio delvewheel / wheelaudit (>1: wheelaudit faster).
``--in-process`` times the analysis alone (``wheelaudit.audit()`` against delvewheel's
``WheelRepair(...).show()``), without interpreter start-up and imports.

    python benchmarks/bench_show_windows.py [-n 5] [--in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import fetch


def _time(cmd: list[str], runs: int) -> tuple[float, bool]:
    """Median wall time of ``runs`` runs, and whether the tool produced a verdict (not a refusal)."""
    times = []
    ok = True
    for _ in range(runs):
        start = time.perf_counter()
        # Run outside the checkout: `python -m wheelaudit` must time the installed package
        # (with its compiled bytecode), not the source tree in the working directory.
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - start)
        if "has already repaired this wheel" in result.stdout + result.stderr or result.returncode not in (0, 1):
            ok = False
    return statistics.median(times), ok


def _time_call(call, runs: int) -> tuple[float, bool]:  # type: ignore[no-untyped-def]
    times = []
    ok = True
    for _ in range(runs):
        sink = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(sink):
            call()
        times.append(time.perf_counter() - start)
        ok = ok and "has already repaired this wheel" not in sink.getvalue()
    return statistics.median(times), ok


def _in_process(path: Path, runs: int) -> tuple[float, float, bool]:
    from delvewheel._wheel_repair import WheelRepair

    import wheelaudit

    ours, _ = _time_call(lambda: wheelaudit.audit(path), runs)
    theirs, ok = _time_call(lambda: WheelRepair(str(path), None, None, None, True, False, False).show(), runs)
    return ours, theirs, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="time the analysis only, no process start-up")
    args = parser.parse_args()
    wheels = fetch(platforms=["windows"])
    py = sys.executable
    rows = []
    for name, path in sorted(wheels.items()):
        if args.in_process:
            ours, theirs, ok = _in_process(path, args.runs)
        else:
            ours, _ = _time([py, "-m", "wheelaudit", "show", str(path)], args.runs)
            theirs, ok = _time([py, "-m", "delvewheel", "show", "--ignore-existing", str(path)], args.runs)
        rows.append((name, path.stat().st_size, ours, theirs if ok else None))
    width = max(len(r[0]) for r in rows)
    print(f"{'wheel':<{width}}  {'MB':>5}  {'wheelaudit s':>12}  {'delvewheel s':>12}  {'ratio':>6}")
    ratios = []
    for name, size, ours, theirs in rows:
        if theirs is None:
            print(f"{name:<{width}}  {size / 1e6:5.1f}  {ours:12.3f}  {'refuses':>12}  {'-':>6}")
            continue
        ratios.append(theirs / ours)
        print(f"{name:<{width}}  {size / 1e6:5.1f}  {ours:12.3f}  {theirs:12.3f}  {theirs / ours:6.2f}")
    if ratios:
        print(
            f"median ratio (delvewheel / wheelaudit) over {len(ratios)} wheels: {statistics.median(ratios):.2f}; "
            f"min {min(ratios):.2f}, max {max(ratios):.2f}; {args.runs} runs each"
            + ("; in process" if args.in_process else "; fresh processes")
        )
    if not args.in_process:
        # One invocation for all the wheels both tools accept: what `show dist/*.whl` costs.
        both = [wheels[name] for name, _, _, theirs in rows if theirs is not None]
        ours, _ = _time([py, "-m", "wheelaudit", "show", *map(str, both)], args.runs)
        theirs, _ = _time([py, "-m", "delvewheel", "show", "--ignore-existing", *map(str, both)], args.runs)
        print(
            f"all {len(both)} wheels in one invocation: wheelaudit {ours:.3f} s, delvewheel {theirs:.3f} s, "
            f"ratio {theirs / ours:.2f} (medians of {args.runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
