"""Mach-O editing and ad-hoc signing: our editor+signer vs LIEF and macholib, on real wheel binaries.

Issue 12 asks for the editing library to be chosen by measurement. The same repair-shaped edit
(set the install id of a dylib, point the first non-system load at ``@loader_path/...``, add an
rpath) is made in every slice of real Mach-O files from pinned PyPI macOS wheels by:

* ``wheelaudit``: :func:`~wheelaudit.repairing.macos.edit.edit_macho` then
  :func:`~wheelaudit.repairing.macos.codesign.adhoc_sign`, bytes in memory, one file write;
* ``lief``: ``lief.MachO.parse``, the same edits, ``write`` (LIEF does not sign: the output keeps
  a stale signature);
* ``macholib``: repairwheel 0.8.0's macholib-based ``machotools`` without signing, and
  ``repairwheel`` = the same plus its pure-Python ad-hoc signer (what repairwheel does).

Timings are in-process, the minimum and the median of ``-n`` runs (imports excluded; the import
time of each library is printed once; the ratio uses minima, the least noisy on a shared machine).
Correctness per output: our parser and ``llvm-objdump`` (when installed) read every slice
back, segments must not move, and rcodesign's verifier (``apple-platform-py``) judges the
signature. Run: ``python benchmarks/bench_macho_edit.py [-n 5]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import fetch

from wheelaudit.repairing.macos import commands as macho_commands
from wheelaudit.repairing.macos import fat as macho_fat
from wheelaudit.repairing.macos.codesign import adhoc_sign
from wheelaudit.repairing.macos.edit import MachOEdit, edit_macho, parse_macho_bytes

CASES = [  # (wheel file name, member)
    ("cryptography-48.0.1-cp39-abi3-macosx_10_9_universal2.whl", "cryptography/hazmat/bindings/_rust.abi3.so"),
    ("pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl", "zmq/backend/cython/_zmq.abi3.so"),
    ("pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl", "zmq/.dylibs/libzmq.5.dylib"),
    ("bcrypt-5.0.0-cp38-abi3-macosx_10_12_universal2.whl", "bcrypt/_bcrypt.abi3.so"),
    ("pillow-13.0.0-cp312-cp312-macosx_11_0_arm64.whl", "PIL/_imaging.cpython-312-darwin.so"),
]
NEW_RPATH = "@loader_path/../.dylibs"
ADHOC_NOTE = "CMS error: missing further values (at position 0)"


def plan(data: bytes, name: str) -> tuple[MachOEdit, str | None, str]:
    """The edit for this file: (edit, old load renamed or None, its new name)."""
    first = parse_macho_bytes(data, name)[0]
    old = next((n for n in first.needed if not n.startswith(("/usr/lib/", "/System/"))), None)
    if old is None:  # only system loads: rename libSystem's path, an edit of the same size class
        old = first.needed[0]
    new = "@loader_path/../.dylibs/" + os.path.basename(old)
    install_id = "/DLC/pkg/.dylibs/" + os.path.basename(first.own_name) if first.own_name else None
    return MachOEdit(install_id=install_id, change_names={old: new}, add_rpaths=(NEW_RPATH,)), old, new


def run_ours(src: Path, out: Path, edit: MachOEdit) -> None:
    data = src.read_bytes()
    edited = edit_macho(data, edit, path=src.name)
    out.write_bytes(adhoc_sign(edited.data, path=src.name).data)


def run_lief(src: Path, out: Path, edit: MachOEdit) -> None:
    import lief

    fat = lief.MachO.parse(str(src))
    assert fat is not None
    for index in range(fat.size):
        binary = fat.at(index)
        assert binary is not None
        for library in binary.libraries:
            if library.command == lief.MachO.LoadCommand.TYPE.ID_DYLIB and edit.install_id:
                library.name = edit.install_id
            elif library.name in edit.change_names:
                library.name = edit.change_names[library.name]
        for rpath in edit.add_rpaths:
            binary.add(lief.MachO.RPathCommand.create(rpath))
    fat.write(str(out))


def _macholib_edit(src: Path, out: Path, edit: MachOEdit, sign: bool) -> None:
    from repairwheel.macos import machotools

    shutil.copyfile(src, out)
    if edit.install_id:
        machotools.set_install_id(out, edit.install_id, ad_hoc_sign=False)
    for old, new in edit.change_names.items():
        machotools.set_install_name(out, old, new, ad_hoc_sign=False)
    for rpath in edit.add_rpaths:
        machotools.add_rpath(out, rpath, ad_hoc_sign=sign)


def run_macholib(src: Path, out: Path, edit: MachOEdit) -> None:
    _macholib_edit(src, out, edit, sign=False)


def run_repairwheel(src: Path, out: Path, edit: MachOEdit) -> None:
    _macholib_edit(src, out, edit, sign=True)


TOOLS: dict[str, Callable[[Path, Path, MachOEdit], None]] = {
    "wheelaudit": run_ours,
    "lief": run_lief,
    "macholib": run_macholib,
    "repairwheel": run_repairwheel,
}


def _linkedit_offset(data: bytes) -> int:
    header = macho_commands.read(data, "x")
    for command in header.commands:
        if header.cmd(command) == macho_commands.LC_SEGMENT_64 and command[8:18] == b"__LINKEDIT":
            return int.from_bytes(command[40:48], "little")
    return len(data)


def _signature_offset(data: bytes) -> int:
    header = macho_commands.read(data, "x")
    for command in header.commands:
        if header.cmd(command) == macho_commands.LC_CODE_SIGNATURE:
            return int.from_bytes(command[8:12], "little")
    return len(data)


def check(src: Path, out: Path, edit: MachOEdit, old: str | None, new: str) -> str:
    """One line: does the output say what was asked, did segments move, is the signature valid."""
    notes = []
    data, before = out.read_bytes(), src.read_bytes()
    try:
        binaries = parse_macho_bytes(data, out.name)
    except Exception as exc:  # a tool's output our parser cannot read is the finding
        return f"unreadable: {exc}"
    for binary in binaries:
        if edit.install_id and binary.own_name != edit.install_id:
            notes.append(f"{binary.arch}: id {binary.own_name}")
        if new not in binary.needed or old in binary.needed:
            notes.append(f"{binary.arch}: load not renamed")
        if binary.rpath.count(NEW_RPATH) != 1:
            notes.append(f"{binary.arch}: rpath x{binary.rpath.count(NEW_RPATH)}")
    old_layout, new_layout = macho_fat.split(before, "a"), macho_fat.split(data, "b")
    for a, b in zip(old_layout.slices, new_layout.slices, strict=True):
        start_a, start_b = macho_commands.read(a, "a").data_start, macho_commands.read(b, "b").data_start
        if start_a != start_b:
            notes.append("segments shifted")
        end = _linkedit_offset(a)
        if a[start_a:end] != b[start_b : start_b + end - start_a]:
            notes.append("segment content changed")
        elif a[end : _signature_offset(a)] != b[end : _signature_offset(a)]:
            notes.append("__LINKEDIT rewritten")
    objdump = next((t for t in ("llvm-objdump", "llvm-objdump-14") if shutil.which(t)), None)
    if objdump:
        for binary in binaries:
            text = subprocess.run(
                [objdump, "--macho", "--private-headers", f"--arch={binary.arch}", str(out)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if new not in text or (edit.install_id and edit.install_id not in text):
                notes.append(f"llvm-objdump({binary.arch}) disagrees")
    try:
        import apple_platform

        problems = [re.sub(r"^@\d+: ", "", p["description"]) for p in apple_platform.verify_macho(str(out))]
        bad = sorted({p.split(";")[0] for p in problems if p != ADHOC_NOTE})
        notes.append("signature OK" if not bad else "signature: " + "; ".join(bad)[:90])
    except ImportError:
        notes.append("(apple-platform-py absent)")
    return f"{len(data) - len(before):+d} B; " + ", ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="runs per tool and file (median)")
    args = parser.parse_args()
    for module in ("lief", "macholib", "repairwheel.macos.machotools", "wheelaudit.repairing.macos.codesign"):
        start = time.perf_counter()
        __import__(module)
        print(f"import {module}: {time.perf_counter() - start:.3f} s (after what was already imported)")
    import lief

    lief.logging.disable()
    wheels = fetch(names=sorted({w for w, _ in CASES}), platforms=["macos"])
    with tempfile.TemporaryDirectory() as tmp:
        for wheel_name, member in CASES:
            wheel = wheels.get(wheel_name)
            if wheel is None:
                print(f"{wheel_name}: not fetched")
                continue
            src = Path(tmp) / os.path.basename(member)
            with zipfile.ZipFile(wheel) as archive:
                src.write_bytes(archive.read(member))
            edit, old, new = plan(src.read_bytes(), src.name)
            slices = [b.arch for b in parse_macho_bytes(src.read_bytes(), src.name)]
            print(f"\n{member} ({wheel_name.split('-')[0]}, {src.stat().st_size / 1e6:.1f} MB, {'+'.join(slices)})")
            times: dict[str, list[float]] = {name: [] for name in TOOLS}
            results: dict[str, str] = {}
            for _ in range(args.n):
                for name, run in TOOLS.items():  # alternate tools so that noise hits all alike
                    out = Path(tmp) / f"{name}-{src.name}"
                    start = time.perf_counter()
                    try:
                        run(src, out, edit)
                    except Exception as exc:
                        results[name] = f"FAILED: {type(exc).__name__}: {str(exc)[:100]}"
                        continue
                    times[name].append(time.perf_counter() - start)
                    if name not in results:
                        results[name] = check(src, out, edit, old, new)
            base = min(times["wheelaudit"]) if times["wheelaudit"] else float("nan")
            for name in TOOLS:
                best = min(times[name]) if times[name] else float("nan")
                median = statistics.median(times[name]) if times[name] else float("nan")
                print(
                    f"  {name:12s} min {best * 1000:7.1f} ms (median {median * 1000:7.1f})  x{best / base:5.1f}  "
                    f"{results.get(name, '')}"
                )


if __name__ == "__main__":
    main()
