"""PE import renaming: our editor vs pefile (delvewheel's writer) vs LIEF's builder, on real wheel binaries.

Issue 13 asks for the editing library to be chosen by measurement. The repair-shaped edit: a
binary from a pinned delvewheel-repaired Windows wheel, its mangled imports first renamed back
to the plain names (``geos_c-6dd9....dll`` -> ``geos_c.dll``, untimed: that is the un-repaired
input), is given mangled names again (``geos_c-<32 hex>.dll``: longer, so padding or a new
section) by:

* ``wheelaudit``: :func:`~wheelaudit.repairing.windows.pe_edit.rename_imports`, file read + write;
* ``pefile``: delvewheel 1.13.2's ``_dll_utils.replace_needed`` (pefile plus its own padding
  and new-section logic, what delvewheel runs), on a copy of the file;
* ``lief``: ``lief.PE.parse``, ``Import.name = ...``, ``Builder`` with ``imports=True``, write.

Timings are in-process, the minimum and the median of ``-n`` runs (imports excluded; each
library's import time is printed once). Correctness per output: our parser, pefile and LIEF must
all read the new names where the old ones were, pefile must not warn more than on the input,
the CheckSum must verify where the input had one, and the size change is shown.
Run: ``python benchmarks/bench_pe_edit.py [-n 5]``.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import fetch

CASES = [  # (wheel file name, member)
    ("shapely-2.2.0-cp312-cp312-win_amd64.whl", "shapely/lib.cp312-win_amd64.pyd"),
    ("shapely-2.2.0-cp312-cp312-win_amd64.whl", "shapely.libs/geos_c-6dd9fd915eef8a7928285416bef1e666.dll"),
    ("shapely-2.2.0-cp312-cp312-win32.whl", "shapely/lib.cp312-win32.pyd"),
    ("numpy-2.5.5-cp312-cp312-win_amd64.whl", "numpy/_core/_multiarray_umath.cp312-win_amd64.pyd"),
    ("numpy-2.5.5-cp312-cp312-win_amd64.whl", "numpy/linalg/_umath_linalg.cp312-win_amd64.pyd"),
]
_MANGLED = re.compile(r"^(.+)-[0-9a-f]{32}(\.dll)$", re.IGNORECASE)


def dll_names(pe: Any) -> list[str]:
    entries = getattr(pe, "DIRECTORY_ENTRY_IMPORT", []) + getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])
    return [e.dll.decode() for e in entries]


def timed(function: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="runs per tool and file (default 5)")
    args = parser.parse_args()

    start = time.perf_counter()
    from wheelaudit.binary.pe import parse_pe
    from wheelaudit.repairing.windows.pe_edit import mangled_name, rename_imports

    print(f"import wheelaudit.repairing.windows.pe_edit: {1000 * (time.perf_counter() - start):.0f} ms")
    start = time.perf_counter()
    import pefile
    from delvewheel import _dll_utils

    print(f"import pefile + delvewheel._dll_utils: {1000 * (time.perf_counter() - start):.0f} ms")
    start = time.perf_counter()
    import lief

    print(f"import lief: {1000 * (time.perf_counter() - start):.0f} ms\n")
    lief.logging.disable()

    wheels = fetch(sorted({w for w, _ in CASES}))
    work = Path(tempfile.mkdtemp(prefix="bench-pe-edit-"))
    totals: dict[str, float] = {"wheelaudit": 0.0, "pefile": 0.0, "lief": 0.0}
    try:
        for wheel, member in CASES:
            with zipfile.ZipFile(wheels[wheel]) as archive:
                repaired = archive.read(member)
            old = pefile.PE(data=repaired, fast_load=False)
            names = [
                e.dll.decode() for e in old.DIRECTORY_ENTRY_IMPORT + getattr(old, "DIRECTORY_ENTRY_DELAY_IMPORT", [])
            ]
            plain = {n: m.group(1) + m.group(2) for n in names if (m := _MANGLED.match(n))}
            source = rename_imports(repaired, plain, path=member).data  # the un-repaired input
            mapping = {p: mangled_name(p, p.encode() + b"bench") for p in plain.values()}
            known_warnings = set(pefile.PE(data=source, fast_load=False).get_warnings())
            had_checksum = pefile.PE(data=source, fast_load=False).OPTIONAL_HEADER.CheckSum != 0
            src = work / "in.bin"
            src.write_bytes(source)
            print(f"{wheel} {member} ({len(source) // 1024} KiB, checksum {'set' if had_checksum else '0'})")

            def ours(out: Path = work / "ours.bin", src: Path = src, mapping: dict[str, str] = mapping) -> Path:
                out.write_bytes(rename_imports(src.read_bytes(), mapping, path=out.name).data)
                return out

            def with_pefile(
                out: Path = work / "pefile.bin", src: Path = src, mapping: dict[str, str] = mapping
            ) -> Path:
                shutil.copyfile(src, out)
                _dll_utils.replace_needed(str(out), list(mapping), mapping, False, False)
                return out

            def with_lief(out: Path = work / "lief.bin", src: Path = src, mapping: dict[str, str] = mapping) -> Path:
                binary = lief.PE.parse(str(src))
                for entry in list(binary.imports) + list(binary.delay_imports):
                    if entry.name in mapping:
                        entry.name = mapping[entry.name]
                config = lief.PE.Builder.config_t()
                config.imports = True
                binary.write(str(out), config)
                return out

            placement = rename_imports(source, mapping).placement
            print(f"  (our editor places the names: {placement})")
            for label, function in (("wheelaudit", ours), ("pefile", with_pefile), ("lief", with_lief)):
                try:
                    best, median = timed(function, args.n)
                    output = function().read_bytes()
                except Exception as exc:  # a tool failing on real input is a result, not a crash
                    print(f"  {label:10} FAILED: {type(exc).__name__}: {str(exc)[:150]}")
                    continue
                totals[label] += best
                problems = []
                expected = [mapping.get(n, n) for n in (plain.get(n, n) for n in names)]
                try:
                    pe = pefile.PE(data=output, fast_load=False)
                    got = [
                        e.dll.decode()
                        for e in pe.DIRECTORY_ENTRY_IMPORT + getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])
                    ]
                    if got != expected:
                        problems.append(f"pefile reads {got}")
                    if set(pe.get_warnings()) - known_warnings:
                        problems.append(f"pefile warns {sorted(set(pe.get_warnings()) - known_warnings)[:2]}")
                    if had_checksum and not pe.verify_checksum():
                        problems.append("checksum does not verify")
                except pefile.PEFormatError as exc:
                    problems.append(f"pefile: {exc}")
                ours_read = parse_pe(io.BytesIO(output), member, len(output))
                if list(ours_read.needed + ours_read.weak_needed) != expected:
                    problems.append("our parser reads other imports")
                binary = lief.PE.parse(list(output))
                if binary is None or [i.name for i in list(binary.imports) + list(binary.delay_imports)] != expected:
                    problems.append("LIEF reads other imports")
                verdict = "ok" if not problems else "; ".join(problems)
                print(
                    f"  {label:10} min {1000 * best:8.2f} ms  median {1000 * median:8.2f} ms  "
                    f"size {len(output) - len(source):+7d} B  {verdict}"
                )
        print("\nsum of minima: " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in totals.items()))
        if totals["wheelaudit"]:
            print(
                f"pefile/wheelaudit {totals['pefile'] / totals['wheelaudit']:.1f}x, "
                f"lief/wheelaudit {totals['lief'] / totals['wheelaudit']:.1f}x"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
