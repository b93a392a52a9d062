#!/usr/bin/env python3
"""`wheelaudit repair` against `auditwheel repair`, side by side on the same wheels.

Each tool runs as a fresh process (what a user or CI pays), alternating between the
tools so machine noise hits both alike, each into its own empty wheelhouse. Prints
the median wall time of N runs, the ratio auditwheel/wheelaudit and each tool's
peak RSS (GNU time: the process and the children it waited for, e.g. patchelf).

Cases:
  * polars-runtime-32 (51 MB wheel, 177 MB library): nothing to graft, only retagging;
  * the syslib sample: grafts the host's libsqlite3 (skipped when the host has none);
  * polars-runtime-32 plus the syslib sample's extension: a big wheel that grafts;
  * with --big: the syslib sample plus 400 MB of incompressible data (grafts too).
  Variants are built once into the cache, next to the real wheels.

    python benchmarks/bench_repair.py            # 5 runs each
    python benchmarks/bench_repair.py --runs 3 --big
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from _common import ROOT, fetch, run_once, tool

POLARS = "polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
CUBLAS = "nvidia_cublas_cu12-12.6.4.1-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
SYSLIB = "wa_sample_syslib-0.1.0-cp38-abi3-linux_x86_64.whl"
BIG_BLOBS = 4
BIG_BLOB_MB = 100


def cache_dir() -> Path:
    base = Path(os.environ.get("WHEELAUDIT_WHEEL_CACHE", Path.home() / ".cache" / "wheelaudit" / "real-wheels"))
    path = base.parent / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_wheel(target: Path, base: Path, *, extra_from: Path | None = None, blobs: int = 0) -> Path:
    """A variant of ``base``: plus the extension of the syslib sample (so it grafts) and random blobs.

    RECORD is rewritten to match; the file is built once into the cache.
    """
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    partial = target.with_suffix(".part")
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zout:
        record_name = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        package = zin.namelist()[0].split("/", 1)[0]
        members = [(i, zin.read(i)) for i in zin.infolist() if i.filename != record_name]
        if extra_from is not None:
            with zipfile.ZipFile(extra_from) as zextra:
                data = zextra.read("wa_sample_syslib/wa_sample_syslib.abi3.so")
            members.append((zipfile.ZipInfo(f"{package}/wa_sample_syslib.abi3.so"), data))
        for i in range(blobs):
            data = hashlib.shake_256(f"wheelaudit big wheel {i}".encode()).digest(BIG_BLOB_MB << 20)
            members.append((zipfile.ZipInfo(f"{package}/data/blob{i}.bin"), data))
        for info, data in members:
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data, compresslevel=1 if info.filename.endswith(".bin") else 6)
            rows.append(f"{info.filename},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}")
        rows.append(f"{record_name},,")
        zout.writestr(record_name, "\n".join(rows) + "\n")
    partial.replace(target)
    return target


def polars_with_graft(polars: Path) -> Path:
    name = polars.name.split("-", 2)
    target = cache_dir() / "graft" / f"{name[0]}-{name[1]}-cp311-abi3-linux_x86_64.whl"
    return build_wheel(target, polars, extra_from=ROOT / "sample-wheels" / SYSLIB)


def big_wheel() -> Path:
    """The syslib sample plus incompressible members: several hundred MB that a repair must carry over."""
    return build_wheel(cache_dir() / "big" / SYSLIB, ROOT / "sample-wheels" / SYSLIB, blobs=BIG_BLOBS)


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--big",
        action="store_true",
        help="also a synthetic ~400 MB wheel (built once, cached) and the real 393 MB nvidia-cublas-cu12 wheel",
    )
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        polars_with_graft(fetch([POLARS], platforms=["linux"])[POLARS])
        if args.big:
            big_wheel()
        return
    polars = fetch([POLARS], platforms=["linux"])[POLARS]
    # Variants are built in a child process: a fork of a big parent would report the parent's RSS as each
    # child's peak.
    subprocess.run([sys.executable, __file__, "--build", *(["--big"] if args.big else [])], check=True)
    cases = {"polars-runtime-32 (no graft)": polars}
    cases["syslib sample (grafts libsqlite3)"] = ROOT / "sample-wheels" / SYSLIB
    cases["polars + syslib ext (grafts libsqlite3)"] = polars_with_graft(polars)
    if args.big:
        cases[f"syslib + {BIG_BLOBS * BIG_BLOB_MB} MB data (grafts)"] = big_wheel()
        cases["nvidia-cublas-cu12 (393 MB wheel, real)"] = fetch([CUBLAS], platforms=["linux"], benchmark=True)[CUBLAS]
    commands = {
        "wheelaudit": [tool("wheelaudit"), "repair"],
        "auditwheel": [tool("auditwheel"), "repair", "--plat", "auto"],
    }
    header = f"{'case':40} {'wheelaudit s':>12} {'auditwheel s':>12} {'ratio':>7} {'wa MiB':>7} {'aw MiB':>7}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench-repair-", dir=cache_dir()) as scratch:
        for label, wheel in cases.items():
            times: dict[str, list[float]] = {k: [] for k in commands}
            peaks: dict[str, float] = {k: 0.0 for k in commands}
            failed: set[str] = set()
            for run in range(args.runs):
                for name, cmd in commands.items():
                    out = Path(scratch) / f"{name}-{run}"
                    elapsed, peak, status = run_once([*cmd, "-w", str(out), str(wheel)])
                    shutil.rmtree(out, ignore_errors=True)
                    if status != 0:
                        failed.add(name)
                    times[name].append(elapsed)
                    peaks[name] = max(peaks[name], peak)
            ours, theirs = statistics.median(times["wheelaudit"]), statistics.median(times["auditwheel"])
            note = f"  FAILED: {', '.join(sorted(failed))}" if failed else ""
            print(
                f"{label[:40]:40} {ours:12.3f} {theirs:12.3f} {theirs / ours:6.1f}x "
                f"{peaks['wheelaudit']:7.0f} {peaks['auditwheel']:7.0f}{note}"
            )
    print(f"({args.runs} runs each, medians; peak RSS over all runs)")


if __name__ == "__main__":
    main()
