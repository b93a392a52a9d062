"""Huge member counts: `show` and `repair` on a wheel of N tiny members, against auditwheel.

A real extension (the abi3 sample) plus N small text files under one package, tagged
linux_x86_64 so that repair has a retag to do. Time and peak RSS grow with N; the goal
(issue 10, item 7) is under 20 s and 300 MB for repair at 500,000 members. Printed: the
median wall and CPU seconds (user + system) and the largest peak RSS of the runs, and
the load average after them (the machine is shared: CPU and RSS are the stable figures).

    python benchmarks/bench_members.py                 # 100,000 and 499,990 members, 3 runs each
    python benchmarks/bench_members.py --members 50000 --runs 5 --no-anchor
    python benchmarks/bench_members.py --member-bytes 24 --no-anchor   # every member sniffed

The default members are ~8 bytes, under the 16 below which the scan does not open a
member; ``--member-bytes 16`` or more makes show and repair sniff (inflate, check) each one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

from _common import ROOT, load, run, tool

SAMPLE = "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"


def build(directory: Path, members: int, member_bytes: int = 0) -> Path:
    """The abi3 sample retagged linux_x86_64, with ``members`` more tiny members (cached by count and size).

    ``member_bytes``: the size of each (padded with '#'); 0 for ~8 bytes each.
    """
    folder = f"n{members}" + (f"-b{member_bytes}" if member_bytes else "")
    out = directory / folder / "wa_sample_abi3-0.1.0-cp38-abi3-linux_x86_64.whl"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    tmp = out.with_suffix(".part")
    with zipfile.ZipFile(ROOT / "sample-wheels" / SAMPLE) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:

        def put(name: str, data: bytes) -> None:
            zf.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={digest},{len(data)}")

        record = ""
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/RECORD"):
                record = info.filename
                continue
            if info.filename.endswith("/WHEEL"):
                text = data.decode().replace("manylinux2014_x86_64", "linux_x86_64")
                data = "".join(ln + "\n" for ln in text.splitlines() if "manylinux_2_17" not in ln).encode()
            put(info.filename, data)
        for i in range(members):
            data = (b"%d\n" % i).rjust(member_bytes, b"#") if member_bytes else b"x%d\n" % i
            put(f"wa_sample_abi3/data/d{i // 1000:03d}/f{i:06d}.txt", data)
        rows.append(f"{record},,")
        zf.writestr(record, "\n".join(rows) + "\n")
    tmp.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, action="append", help="member counts (default 100000 and 499990)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--member-bytes", type=int, default=0, help="size of each added member (default ~8)")
    parser.add_argument("--no-anchor", action="store_true", help="skip auditwheel (it takes minutes at 500,000)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "wheelaudit-bench-members")
    args = parser.parse_args()
    counts = args.members or [100_000, 499_990]  # the reader refuses more than 500,000 entries
    ours = [sys.executable, "-m", "wheelaudit"]
    auditwheel = None if args.no_anchor else tool("auditwheel")
    print(f"{'members':>8}  {'command':<18} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9}")
    for count in counts:
        wheel = build(args.cache, count, args.member_bytes)
        cases: list[tuple[str, list[str]]] = [("wheelaudit show", [*ours, "show", "-q", str(wheel)])]
        if auditwheel:
            cases.append(("auditwheel show", [auditwheel, "show", str(wheel)]))
        out = args.cache / "out"
        cases.append(("wheelaudit repair", [*ours, "repair", "-w", str(out), str(wheel)]))
        if auditwheel:
            cases.append(("auditwheel repair", [auditwheel, "repair", "--plat", "auto", "-w", str(out), str(wheel)]))
        for label, cmd in cases:
            runs = []
            for _ in range(args.runs):
                shutil.rmtree(out, ignore_errors=True)
                result = run(cmd)
                if result.status not in (0, 1):
                    sys.exit(f"{label} failed with status {result.status}")
                runs.append(result)
            wall = statistics.median(r.wall for r in runs)
            cpu = statistics.median(r.cpu for r in runs)
            peak = max(r.rss for r in runs)
            print(f"{count:>8}  {label:<18} {wall:>7.2f} {cpu:>7.2f} {peak:>9.0f}  ({load()})")


if __name__ == "__main__":
    main()
