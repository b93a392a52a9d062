"""Repairing a Linux wheel: graft the libraries its tag does not allow, patch, strip, retag, write.

The order is plan (pure, :mod:`.plan`), then edit copies of only the members that
change in a scratch directory inside the wheelhouse (:mod:`.elf`), then write the
new wheel with every other member copied as its compressed bytes
(:mod:`wheelaudit.wheel.writer`). The input is only ever read; the output appears by
an atomic rename, and a failure leaves nothing behind.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..auditing import MemberKey, analyze_binaries, audit, member_key
from ..binary.model import Binary
from ..errors import InvalidWheel, RepairError
from ..platforms.linux import PolicySet, load_policies
from ..platforms.tags import parse_platform_tag
from ..report.model import Problem, WheelReport
from ..wheel import scratch
from ..wheel.archive import Member, WheelArchive
from ..wheel.writer import OutputError, WheelWriter, record_hash
from .elf import ElfEdit, apply_edit, strip
from .plan import Planner, RepairOptions, RepairPlan, retag
from .sbom import SBOM_NAME, GraftedFile, build_sbom, find_provider

__all__ = ["RepairOptions", "RepairPlan", "RepairResult", "repair", "repair_wheel"]

SHIM = '''#!python
"""Runs {exe}: wheelaudit moved the program next to the libraries grafted for it."""
import os
import sys
from importlib.metadata import distribution

if __name__ == "__main__":
    _exe = str(distribution({dist!r}).locate_file({target!r}))
    os.execv(_exe, [_exe, *sys.argv[1:]])
'''


@dataclass(frozen=True)
class RepairResult:
    """What a repair produced: the wheel written, the plan it followed, and the audit of the result.

    ``report`` is the audit of the written wheel: repair only grafts, patches and
    retags, so errors it cannot fix (abi3 symbols, a module-init mismatch, the wrong
    libc, ...) are still there. ``notes`` say what the new tags mean for the users of
    the wheel (a narrower tag, another libc family).
    """

    path: Path  # the repaired wheel
    plan: RepairPlan
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


class _Progress:
    """A one-line byte counter on stderr, for terminals only."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._last = now
            pct = min(100, self.done * 100 // self.total)
            sys.stderr.write(f"\rwheelaudit: writing {self.label} {pct:3d}% ({self.done >> 20}/{self.total >> 20} MB)")
            sys.stderr.flush()

    def close(self) -> None:
        if self._last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


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
    """Repair one Linux wheel into ``wheel_dir`` and return the path of the result.

    Raises :class:`wheelaudit.errors.RepairError` when the wheel cannot be brought to
    ``plat`` (the message names the libraries and symbols in the way), and other
    :class:`wheelaudit.errors.WheelError` subclasses when the input is unusable.
    """
    options = RepairOptions(plat, tuple(lib_paths), sysroot, tuple(exclude), strip, only_plat)
    return repair_wheel(
        wheel,
        options,
        wheel_dir,
        compresslevel=compresslevel,
        verify_record=verify_record,
        policies=policies or load_policies(policy_files),
    ).path


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
    families = {parse_platform_tag(t).family for t in archive.info.platform_tags}
    if families & {"macosx", "ios", "win", "android"}:
        raise RepairError(f"{archive.path.name}: only Linux wheels can be repaired so far")
    policies = policies or load_policies()
    scan = analyze_binaries(archive)
    plan = Planner(archive, scan.binaries, policies, options).plan()

    stem_parts = archive.path.name[: -len(".whl")].split("-")
    plats = retag(plan, archive.info.platform_tags)
    out_name = "-".join(stem_parts[:-1]) + "-" + ".".join(plats) + ".whl"
    wheel_text = _rewrite_wheel_file(archive, plats)

    out_dir = Path(wheel_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the wheelhouse {out_dir}: {exc.strerror or exc}") from None
    scratch.clean_stale(out_dir)  # what killed runs left behind
    out_path = out_dir / out_name
    if out_path.exists() and out_path.resolve() == archive.path.resolve():
        if not plan.changes_binaries and wheel_text is None:
            report = audit(out_path, policies=policies, known=_analysed(archive, scan.binaries, set()))
            notes = _tag_notes(archive.info.platform_tags, plats)
            return RepairResult(out_path, plan, plan.warnings, False, time.perf_counter() - started, report, notes)
        raise RepairError(f"the repaired wheel would replace its input {out_path}; choose another wheel directory")

    try:
        work = scratch.new_dir(out_dir)
    except OSError as exc:
        raise OutputError(f"cannot write into the wheelhouse {out_dir}: {exc.strerror or exc}") from None
    lookups = ThreadPoolExecutor(max_workers=1)
    if options.sysroot is None:  # ask the package manager about the grafted files while patchelf runs
        for graft in plan.grafts:
            lookups.submit(find_provider, graft.source)
    try:
        files = _prepare_files(archive, plan, work)
        lookups.shutdown(wait=True)
        use_host = options.sysroot is None
        _write(archive, plan, files, wheel_text, out_path, compresslevel, verify_record, progress, use_host)
    finally:
        lookups.shutdown(wait=True)
        shutil.rmtree(work, ignore_errors=True)
    # The whole truth about the result: audit the written wheel. Members copied unchanged keep
    # their analysis (their bytes were verified as they were copied); the rest is read again.
    changed = set(files) | set(plan.shims)
    known = _analysed(archive, scan.binaries, changed)
    notes = _tag_notes(archive.info.platform_tags, plats)
    del archive, files  # the input's member table is not needed while the output's is read
    report = audit(out_path, policies=policies, known=known)
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


def _tag_notes(before: Iterable[str], after: Iterable[str]) -> tuple[str, ...]:
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


def _rewrite_wheel_file(archive: WheelArchive, plats: list[str]) -> str | None:
    """WHEEL with its Tag lines for the new platforms, or None when they do not change."""
    info = archive.info
    old_tags = list(info.wheel_tags) or list(info.file_tags)
    pairs = list(dict.fromkeys(tuple(t.split("-")[:2]) for t in old_tags if t.count("-") == 2))
    new_tags = [f"{py}-{abi}-{plat}" for py, abi in pairs for plat in plats]
    purelib_fix = "any" in info.platform_tags and info.root_is_purelib
    if set(new_tags) == set(info.wheel_tags) and not purelib_fix:
        return None
    text = archive.read_member(archive.members[f"{info.dist_info}/WHEEL"], limit=1 << 20).decode("utf-8")
    lines: list[str] = []
    placed = False
    for line in text.splitlines():
        key = line.split(":", 1)[0].strip().lower()
        if key == "tag":
            if not placed:
                lines += [f"Tag: {t}" for t in new_tags]
                placed = True
            continue
        if key == "root-is-purelib" and purelib_fix:
            line = "Root-Is-Purelib: false"
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    if not placed:
        lines += [f"Tag: {t}" for t in new_tags]
    return "\n".join(lines) + "\n\n"


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
        _extract(archive, archive.members[name], scratch_file)
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
            if exc.errno in _OUTPUT_ERRNOS:
                raise _scratch_failed(work, exc) from None
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

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(run, edits))
    return files


#: Errors that say the output side (the wheelhouse's file system) is at fault, not the file being read.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def _scratch_failed(work: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write into the wheelhouse {work.parent}: {exc.strerror or exc}", path=str(work))


def _extract(archive: WheelArchive, member: Member, path: Path) -> None:
    """Inflate one member into the scratch directory (its CRC-32 is checked on the way)."""
    with archive.open(member) as stream:
        chunks = stream.iter_chunks()
        try:
            with open(path, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except OSError as exc:
            raise _scratch_failed(path.parent, exc) from None


def _member_hash(archive: WheelArchive, member: Member, verify: bool) -> str:
    """The RECORD hash of an unchanged member: the input's, or computed (and compared) while inflating."""
    row = archive.record.get(member.name)
    if row is not None and row.hash and not verify:
        return row.hash
    algorithm = "sha256"
    if row is not None and row.hash:
        algorithm = row.hash.split("=", 1)[0]
        if algorithm not in ("sha256", "sha384", "sha512"):
            raise InvalidWheel(f"{archive.path.name}: RECORD uses hash {algorithm!r} for {member.name}")
    digest = hashlib.new(algorithm)
    with archive.open(member) as stream:
        for chunk in stream.iter_chunks():
            digest.update(chunk)
    if row is not None and row.hash:
        expected = row.hash.split("=", 1)[1] if "=" in row.hash else ""
        actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if expected.rstrip("=") != actual:
            raise InvalidWheel(f"{archive.path.name}: {member.name} does not match its RECORD hash")
        return row.hash
    return record_hash(digest.digest())


def _sort_key(name: str, dist_info: str) -> tuple[int, str]:
    """Members in name order with .dist-info last (RECORD is appended after all of them)."""
    return (1 if name.startswith(dist_info + "/") else 0, name)


def _write(
    archive: WheelArchive,
    plan: RepairPlan,
    files: dict[str, tuple[Path, int]],
    wheel_text: str | None,
    out_path: Path,
    compresslevel: int,
    verify_record: bool,
    progress: bool,
    use_host: bool,
) -> None:
    info = archive.info
    dist_info = info.dist_info
    skip = {f"{dist_info}/RECORD", f"{dist_info}/RECORD.jws", f"{dist_info}/RECORD.p7s"}
    dist = dist_info[: -len(".dist-info")].rsplit("-", 1)[0]
    # What is written instead of a raw copy, by name (edited files, and new bytes); every
    # other member of the input is copied raw. Only the exceptions are stored: a wheel
    # may hold 500,000 members.
    new_bytes: dict[str, tuple[bytes, int]] = {}
    for member_name, target in plan.shims.items():
        shim = SHIM.format(exe=archive.members[member_name].basename, dist=dist, target=target)
        new_bytes[member_name] = (shim.encode(), 0o755)
    if wheel_text is not None:
        new_bytes[f"{dist_info}/WHEEL"] = (wheel_text.encode("utf-8"), 0o644)
    if plan.grafts:
        grafted = [GraftedFile(g.member, g.source, g.sha256) for g in plan.grafts]
        sbom = build_sbom(dist, info.version, out_path.name, grafted, use_host=use_host)
        new_bytes[f"{dist_info}/sboms/{SBOM_NAME}"] = (sbom, 0o644)
    replaced = files.keys() | new_bytes.keys()
    names = [n for n in archive.members if n not in skip and n not in replaced] + list(replaced)
    names.sort(key=lambda n: _sort_key(n, dist_info))
    total = sum(archive.members[n].compressed_size for n in names if n not in replaced)
    total += sum(p.stat().st_size for p, _ in files.values())

    shared: list[BinaryIO] = []  # one handle on the input for every raw copy (500,000 members: 500,000 opens)

    def write_one(writer: WheelWriter, name: str) -> None:
        if name in new_bytes:
            data, mode = new_bytes[name]
            writer.add_bytes(name, data, mode=mode)
        elif name in files:
            path, mode = files[name]
            writer.add_file(name, path, mode=mode)
        else:
            member = archive.members[name]
            digest = _member_hash(archive, member, verify_record) if not member.is_dir else ""
            if not shared:
                shared.append(open(archive.path, "rb"))  # noqa: SIM115 - closed after writing
            with archive.open(member, fh=shared[0]) as stream:
                writer.copy_raw(member, stream.iter_compressed(), digest)

    bar = _Progress(out_path.name, total) if progress else None
    try:
        with WheelWriter(out_path, compresslevel=compresslevel, progress=bar) as writer:
            for name in names:
                write_one(writer, name)
            # Renamed into place only if the input is still the file that was read throughout.
            writer.finish(f"{dist_info}/RECORD", before_rename=archive.check_unchanged)
    finally:
        for fh in shared:
            fh.close()
        if bar:
            bar.close()
