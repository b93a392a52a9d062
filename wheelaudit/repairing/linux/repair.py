"""Repairing a Linux wheel: graft with :mod:`.plan`, patch with patchelf (:mod:`.elf`), write.

The plan is pure; this module carries it out on copies of only the members that
change, in the scratch directory it is given, and hands the result to
:func:`.output.write_wheel` through :class:`.output.Prepared`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from ...binary.model import Binary
from ...platforms.policyset import PolicySet
from ...platforms.tags import parse_platform_tag
from ...threads import run_in_threads
from ...wheel.archive import WheelArchive
from ..options import RepairOptions
from ..output import OUTPUT_ERRNOS, Prepared, extract_member, scratch_failed
from ..sbom import GraftedFile, find_providers, sbom_member
from .patchelf import ElfEdit, apply_edit, strip
from .plan import Planner, RepairPlan, retag

SHIM = '''#!python
"""Runs {exe}: wheelaudit moved the program next to the libraries grafted for it."""
import os
import sys
from importlib.metadata import distribution

if __name__ == "__main__":
    _exe = str(distribution({dist!r}).locate_file({target!r}))
    os.execv(_exe, [_exe, *sys.argv[1:]])
'''


class LinuxRepair:
    """A planned Linux repair: the plan, the tags it gives, and the work that carries it out."""

    def __init__(
        self, archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
    ) -> None:
        self.archive = archive
        self.plan: RepairPlan = Planner(archive, binaries, policies, options).plan()
        self.platform_tags = retag(self.plan, archive.info.platform_tags)
        self.notes = tag_notes(archive.info.platform_tags, self.platform_tags)
        self._use_host = options.sysroot is None

    @property
    def changes_binaries(self) -> bool:
        return self.plan.changes_binaries

    def prepare(self, work: Path, out_name: str) -> Prepared:
        """Extract, strip and patch the members that change, copy the grafts, and make shims and the SBOM."""
        archive, plan = self.archive, self.plan
        lookups = None
        if self._use_host and plan.grafts:  # ask the package manager about the grafted files while patchelf runs
            lookups = threading.Thread(target=_look_up_providers, args=([graft.source for graft in plan.grafts],))
            lookups.start()
        try:
            files = _prepare_files(archive, plan, work)
        finally:
            if lookups is not None:
                lookups.join()
        new_bytes: dict[str, tuple[bytes, int]] = {}
        for member_name, target in plan.shims.items():
            shim = SHIM.format(exe=archive.members[member_name].basename, dist=archive.info.dist_name, target=target)
            new_bytes[member_name] = (shim.encode(), 0o755)
        if plan.grafts:
            grafted = [GraftedFile(g.member, g.source, g.sha256) for g in plan.grafts]
            name, entry = sbom_member(archive.info, out_name, grafted, use_host=self._use_host)
            new_bytes[name] = entry
        return Prepared(files, new_bytes)


def _look_up_providers(paths: list[str]) -> None:
    """Ask the package manager ahead, in a thread (its answers are cached for the SBOM); an error there
    must not print a thread's traceback: the SBOM asks again and gets what can be known."""
    with contextlib.suppress(Exception):
        find_providers(paths)


def tag_notes(before: Iterable[str], after: Iterable[str]) -> tuple[str, ...]:
    """One line when the new tags narrow the wheel's reach (a newer glibc level) or change its libc."""

    def levels(tags: Iterable[str]) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for tag in map(parse_platform_tag, tags):
            if tag.family in ("manylinux", "musllinux") and tag.version:
                out[tag.family] = min(out.get(tag.family, tag.version), tag.version)
        return out

    old, new = levels(before), levels(after)
    notes = []
    for family, version in old.items():
        if family in new and new[family] > version:
            notes.append(
                f"the new tag {family}_{new[family][0]}_{new[family][1]} is narrower than the input's "
                f"{family}_{version[0]}_{version[1]}: systems with an older "
                f"{'glibc' if family == 'manylinux' else 'musl'} can no longer install the wheel"
            )
    if old and new and not set(old) & set(new):
        notes.append(
            f"the libc family changes from {' and '.join(sorted(old))} to {' and '.join(sorted(new))}: "
            "the binaries were built for the other libc"
        )
    return tuple(notes)


def _prepare_files(archive: WheelArchive, plan: RepairPlan, work: Path) -> dict[str, tuple[Path, int]]:
    """Extract the members that change and copy the grafted libraries, then strip and patch them.

    Returns output member name -> (edited file, unix mode). Scratch files get numbered
    names, never names from the wheel.
    """
    files: dict[str, tuple[Path, int]] = {}
    edits: list[tuple[Path, ElfEdit | None, bool, str]] = []  # scratch file, edit, strip?, name for errors
    changed = dict.fromkeys([*(p.member for p in plan.patches), *plan.strip_members])
    by_member = {p.member: p for p in plan.patches}
    for i, name in enumerate(changed):
        scratch_file = work / f"m{i}"
        extract_member(archive, archive.members[name], scratch_file)
        patch = by_member.get(name)
        mode = archive.members[name].mode or 0o644
        if patch and patch.target != patch.member:
            mode |= 0o755  # a script moved into site-packages must stay executable
        files[patch.target if patch else name] = (scratch_file, mode)
        edits.append((scratch_file, patch.edit if patch else None, name in plan.strip_members, name))
    for i, graft in enumerate(plan.grafts):
        scratch_file = work / f"g{i}"
        try:
            shutil.copyfile(graft.source, scratch_file)
        except OSError as exc:
            if exc.errno in OUTPUT_ERRNOS:
                raise scratch_failed(work, exc) from None
            raise
        os.chmod(scratch_file, (os.stat(graft.source).st_mode & 0o777) | stat.S_IWUSR | stat.S_IRUSR)
        files[graft.member] = (scratch_file, os.stat(scratch_file).st_mode)
        edits.append((scratch_file, graft.edit, plan.strip != "none", graft.member))

    def run(item: tuple[Path, ElfEdit | None, bool, str]) -> None:
        path, edit, do_strip, name = item
        if do_strip:
            strip(path, plan.strip, plan.arch, name)  # before patchelf: stripping after it breaks the layout
        if edit is not None:
            apply_edit(path, edit, name)

    run_in_threads(run, edits, max(1, min(4, os.cpu_count() or 1)))()
    return files
