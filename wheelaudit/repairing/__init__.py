"""Repairing a wheel: graft what its tag does not allow, patch, retag, write — for the platform it is built for.

Every platform's repair has the same frame (here): read the wheel, plan (pure),
edit copies of only the members that change in a scratch directory inside the
wheelhouse, write the new wheel with every other member copied as its compressed
bytes (:mod:`.output`), then audit the result. The platform's part is a *repairer*
(:class:`Repairer`): :mod:`.linux`, :mod:`.macos`, :mod:`.windows`. The input is only ever read; the output
appears by an atomic rename, and a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._typing import TYPE_CHECKING, Protocol
from ..auditing import MemberKey, audit, member_key, start_file_analysis, start_scan
from ..binary.model import Binary
from ..errors import OptionError, RepairError
from ..platforms.policyset import PolicySet, load_policies
from ..platforms.tags import parse_platform_tag
from ..record import record
from ..report.model import Problem, WheelReport
from ..wheel import scratch
from ..wheel.archive import WheelArchive
from ..wheel.writer import OutputError
from .options import RepairOptions
from .output import Prepared, rewrite_wheel_file, write_wheel
from .summary import PlanSummary

if TYPE_CHECKING:
    from typing import Any

    from .linux.plan import RepairPlan


def __getattr__(name: str) -> Any:
    """``RepairPlan`` (Linux) loads only when asked for: a macOS or Windows repair never needs it."""
    if name == "RepairPlan":
        from .linux.plan import RepairPlan

        return RepairPlan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PlanSummary", "RepairOptions", "RepairPlan", "RepairResult", "Repairer", "repair", "repair_wheel"]


class Repairer(Protocol):
    """One platform's part of a repair, planned on construction (nothing written yet)."""

    @property
    def plan(self) -> PlanSummary: ...  # what is grafted and patched, its warnings, the tags, exclusions

    @property
    def platform_tags(self) -> list[str]: ...  # the output file name's platform tags

    @property
    def notes(self) -> tuple[str, ...]: ...  # what the new tags mean for users of the wheel

    @property
    def changes_binaries(self) -> bool: ...

    def prepare(self, work: Path, out_name: str) -> Prepared:
        """Make the changed and new members in ``work`` (a scratch directory in the wheelhouse)."""
        ...


@record(frozen=True)
class RepairResult:
    """What a repair produced: the wheel written, the plan it followed, and the audit of the result.

    ``report`` is the audit of the written wheel: repair only grafts, patches and
    retags, so errors it cannot fix (abi3 symbols, a module-init mismatch, the wrong
    libc, ...) are still there. ``notes`` say what the new tags mean for the users of
    the wheel (a narrower tag, another libc family).
    """

    path: Path  # the repaired wheel
    plan: PlanSummary  # the platform's plan (linux: RepairPlan; macos: MacRepairPlan; win: WinRepairPlan)
    warnings: tuple[str, ...]
    written: bool  # False when the wheel needed nothing and already sat in the wheelhouse
    seconds: float
    report: WheelReport
    notes: tuple[str, ...] = ()

    @property
    def unfixed(self) -> tuple[Problem, ...]:
        """The errors the repaired wheel still has: repair cannot fix them.

        A library left outside on purpose (``--exclude``) is not one of them.
        """
        return tuple(
            p for p in self.report.errors if not (p.code == "external-library" and p.library in self.plan.excluded)
        )


def repair(
    wheel: str | os.PathLike[str],
    plat: str = "auto",
    wheel_dir: str | os.PathLike[str] = "wheelhouse",
    *,
    lib_paths: Iterable[str] = (),
    sysroot: str | None = None,
    exclude: Iterable[str] = (),
    strip: str = "none",
    only_plat: bool = False,
    compresslevel: int = 6,
    verify_record: bool = False,
    policy_files: Iterable[str | os.PathLike[str]] = (),
    policies: PolicySet | None = None,
) -> Path:
    """Repair one wheel into ``wheel_dir`` and return the path of the result.

    Raises :class:`wheelaudit.errors.RepairError` when the wheel cannot be brought to
    ``plat`` (the message names the libraries and symbols in the way), and other
    :class:`wheelaudit.errors.WheelError` subclasses when the input is unusable.
    """
    if not isinstance(plat, str):  # repair(wheel, "wheelhouse/") reads the folder as the tag
        raise OptionError(
            f"plat must be a tag or level such as 'manylinux_2_17_x86_64', or 'auto', not {plat!r}; "
            "the output folder is wheel_dir=",
            option="plat",
        )
    options = RepairOptions(plat, tuple(lib_paths), sysroot, tuple(exclude), strip, only_plat)
    return repair_wheel(
        wheel,
        options,
        wheel_dir,
        compresslevel=compresslevel,
        verify_record=verify_record,
        policies=policies or load_policies(policy_files),
    ).path


#: Platform family -> the module whose repairer handles it. A wheel is repaired when all its
#: platform tags lead to one module (manylinux and musllinux tags may share a wheel).
REPAIRERS = {"manylinux": "linux", "musllinux": "linux", "linux": "linux", "macosx": "macos", "win": "windows"}


def repairer_module(platform_tags: Iterable[str]) -> str | None:
    """The repairer module for these platform tags, or None when no single one applies."""
    modules = {REPAIRERS.get(parse_platform_tag(t).family) for t in platform_tags}
    return modules.pop() if len(modules) == 1 else None


def repairer_for(
    archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
) -> Repairer:
    """The repairer of the wheel's platform, planned (raises :class:`RepairError` when none applies)."""
    module = repairer_module(archive.info.platform_tags)
    if module == "macos":
        from .macos.repair import MacRepair

        return MacRepair(archive, binaries, policies, options)
    if module == "windows":
        from .windows.repair import WinRepair

        return WinRepair(archive, binaries, policies, options)
    if module == "linux":
        from .linux.repair import LinuxRepair

        return LinuxRepair(archive, binaries, policies, options)
    families = sorted({parse_platform_tag(t).family for t in archive.info.platform_tags})
    supported = ", ".join(sorted(set(REPAIRERS) - {"linux"}))
    raise RepairError(
        f"{archive.path.name}: no repair for platform {' + '.join(families)} (repairable: {supported}, linux_*)"
    )


def repair_wheel(
    wheel: str | os.PathLike[str],
    options: RepairOptions,
    wheel_dir: str | os.PathLike[str],
    *,
    compresslevel: int = 6,
    verify_record: bool = False,
    policies: PolicySet | None = None,
    progress: bool = False,
) -> RepairResult:
    """:func:`repair` with the plan and warnings returned too (the CLI prints them)."""
    started = time.perf_counter()
    if options.strip not in ("none", "debug", "all"):
        raise RepairError(f"strip {options.strip!r}: expected none, debug or all")
    if not 0 <= compresslevel <= 9:
        raise RepairError(f"compression level {compresslevel}: expected 0-9")
    archive = WheelArchive(wheel)
    if repairer_module(archive.info.platform_tags) == "linux":
        from .linux.patchelf import find_patchelf_soon

        find_patchelf_soon()
    wait_for_scan = start_scan(archive)
    policies = policies or load_policies()  # while the members inflate
    scan = wait_for_scan()
    repairer = repairer_for(archive, scan.binaries, policies, options)
    plan = repairer.plan

    stem_parts = archive.path.name[: -len(".whl")].split("-")
    plats = repairer.platform_tags
    out_name = "-".join(stem_parts[:-1]) + "-" + ".".join(plats) + ".whl"
    wheel_text = rewrite_wheel_file(archive, plats)

    out_dir = Path(wheel_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the wheelhouse {out_dir}: {exc.strerror or exc}") from None
    scratch.clean_stale(out_dir)  # what killed runs left behind
    out_path = out_dir / out_name
    if out_path.exists() and out_path.resolve() == archive.path.resolve():
        if not repairer.changes_binaries and wheel_text is None:
            report = audit(out_path, policies=policies, known=_analysed(archive, scan.binaries, set()))
            return RepairResult(
                out_path, plan, plan.warnings, False, time.perf_counter() - started, report, repairer.notes
            )
        raise RepairError(f"the repaired wheel would replace its input {out_path}; choose another wheel directory")

    try:
        work = scratch.new_dir(out_dir)
    except OSError as exc:
        raise OutputError(f"cannot write into the wheelhouse {out_dir}: {exc.strerror or exc}") from None
    analysed_new = None
    try:
        prepared = repairer.prepare(work, out_name)
        if wheel_text is not None:
            prepared.new_bytes[f"{archive.info.dist_info}/WHEEL"] = (wheel_text.encode("utf-8"), 0o644)
        files = {name: path for name, (path, _) in prepared.files.items()}
        analysed_new = start_file_analysis(files, stored=compresslevel == 0)  # while they are deflated
        copied = write_wheel(
            archive, prepared, out_path, compresslevel=compresslevel, verify_record=verify_record, progress=progress
        )
    finally:
        fresh = analysed_new() if analysed_new is not None else {}  # done with the scratch files before they go
        shutil.rmtree(work, ignore_errors=True)
    # The whole truth about the result: audit the written wheel. Members copied unchanged keep
    # their analysis (their bytes were verified as they were copied), those without a binary
    # by their place in the directory written, and the edited and grafted files theirs, made
    # from the very bytes that were deflated (checked by inflating them back); the rest is read again.
    known = {**_analysed(archive, scan.binaries, prepared.changed | prepared.dropped), **fresh}
    notes = repairer.notes
    del archive, prepared, repairer  # the input's member table is not needed while the output's is read
    report = audit(out_path, policies=policies, known=known, copied=copied)
    return RepairResult(out_path, plan, plan.warnings, True, time.perf_counter() - started, report, notes)


def _analysed(
    archive: WheelArchive, binaries: Iterable[Binary], changed: set[str]
) -> dict[MemberKey, tuple[Binary, ...]]:
    """The input's binaries by member identity, for the members the repair copied unchanged."""
    out: dict[MemberKey, list[Binary]] = {}
    for binary in binaries:
        if binary.path not in changed:
            out.setdefault(member_key(archive.members[binary.path]), []).append(binary)
    return {key: tuple(found) for key, found in out.items()}
