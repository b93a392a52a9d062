"""Audit one wheel: read it, analyse its binaries, run the checks, build the report.

This is the orchestration layer (the only place that knows the order of things);
the reading, the format parsers and the rules each live in their own module.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from ._typing import TYPE_CHECKING
from .binary import MemberAnalysis, analyze_file, analyze_member
from .binary.model import Binary
from .errors import MalformedBinary
from .record import record
from .threads import run_in_threads
from .wheel.archive import WheelArchive
from .wheel.zipdir import Member

if TYPE_CHECKING:
    from typing import BinaryIO

    from .platforms.policyset import PolicySet
    from .report.model import WheelReport


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@record(frozen=True)
class BinaryScan:
    """Every binary of one wheel, and what finding them cost."""

    binaries: tuple[Binary, ...]  # in archive order
    members_sniffed: int
    bytes_inflated: int  # what reading them cost, against the members' total size


#: A member's identity for reusing its analysis: name, CRC-32 and size.
MemberKey = tuple[str, int, int]


def member_key(member: Member) -> MemberKey:
    return (member.name, member.crc, member.size)


@record(frozen=True)
class CopiedMembers:
    """Which members of a wheel just written are raw copies of members already analysed.

    What ``known`` says by member identity, for the members that hold no binary, in
    one byte a member instead of a dict entry (a repair may copy 500,000): ``flags``
    in central-directory order, 1 for a raw copy; ``directory`` the CRC-32 and size of
    the central directory written, so the flags are used only on that very directory.
    """

    flags: bytes | bytearray
    directory: tuple[int, int]


def start_scan(
    archive: WheelArchive,
    jobs: int | None = None,
    known: Mapping[MemberKey, tuple[Binary, ...]] | None = None,
    copied: CopiedMembers | None = None,
) -> Callable[[], BinaryScan]:
    """Start analysing every member in worker threads; the returned function waits for the result.

    Members are found by magic bytes and inflated in parallel (the inflaters release
    the GIL); the largest member usually dominates, so it is started first. When it
    outweighs all the others together, the other threads would soon idle, so it may
    also split its own inflation over two cores. Members found in ``known`` (by name,
    CRC-32 and size: a repair's raw copies, verified as they were copied) are not read
    again; their binaries are taken from it. Nor are the members ``copied`` marks (raw
    copies of members the caller analysed and found no binary in, or found in ``known``).
    """
    members = archive.members
    reused = [(m, known[member_key(m)]) for m in archive.files() if member_key(m) in known] if known else []
    skip = {m.name for m, _ in reused}
    # Names, not members, and a result only for members that hold binaries: a wheel may hold 500,000.
    if copied is not None and copied.directory == members.directory and len(copied.flags) == len(members):
        flags = copied.flags
        candidates = [
            m.name
            for i, m in enumerate(members.values())
            if not flags[i] and not m.is_dir and m.size >= 16 and not m.is_symlink and m.name not in skip
        ]
    else:
        candidates = [m.name for m in archive.files() if m.size >= 16 and not m.is_symlink and m.name not in skip]
    order = members.position  # archive order, without a dict of every member
    size_of = members.size_of
    by_size = sorted(candidates, key=lambda name: -size_of(name))
    total = sum(map(size_of, candidates))
    dominant = by_size[0] if by_size and size_of(by_size[0]) > total - size_of(by_size[0]) else None
    inflated = [0]
    handles = threading.local()  # one open archive per thread, not one per member
    opened: list[BinaryIO] = []
    lock = threading.Lock()

    def work(name: str) -> MemberAnalysis | None:
        fh = getattr(handles, "fh", None)
        if fh is None:
            fh = handles.fh = open(archive.file, "rb")  # noqa: SIM115 - closed in collect()
            with lock:
                opened.append(fh)
        try:
            analysis = analyze_member(archive, members[name], split=name == dominant, fh=fh)
        except MalformedBinary as exc:
            raise MalformedBinary(f"{archive.path.name}: {exc}", path=name) from None
        with lock:
            inflated[0] += analysis.inflated
        return analysis if analysis.binaries else None

    wait = run_in_threads(work, by_size, jobs or default_jobs())

    def collect() -> BinaryScan:
        try:
            results = wait()
        finally:
            for fh in opened:
                fh.close()
        found = [(order(name), b) for name, r in zip(by_size, results) if r is not None for b in r.binaries]
        found += [(order(m.name), b) for m, binaries in reused for b in binaries]
        return BinaryScan(
            binaries=tuple(b for _, b in sorted(found, key=lambda pair: pair[0])),
            members_sniffed=len(candidates),
            bytes_inflated=inflated[0],
        )

    return collect


def start_file_analysis(
    files: Mapping[str, str | os.PathLike[str]], *, stored: bool
) -> Callable[[], dict[MemberKey, tuple[Binary, ...]]]:
    """Analyse files about to become members (member name -> file) in a background thread.

    A repair starts this on the files it edited or grafted while it deflates them; the
    returned function waits and gives their analyses by member identity, for :func:`audit`'s
    ``known``: the audit of the written wheel then need not inflate them again. It can trust
    them because every deflated member is inflated back and checked as it is made
    (:class:`wheelaudit.wheel.deflating.Inflating`), and a member written from other bytes
    than those analysed has another CRC-32, so it is read again. A file that cannot be read
    or parsed is left out: reading it from the wheel reports what is wrong with it.
    """
    found: dict[MemberKey, tuple[Binary, ...]] = {}

    def work() -> None:
        for name, path in files.items():
            try:
                crc, size, binaries = analyze_file(path, name, stored=stored)
            except Exception:  # whatever it is, reading the member from the wheel reports it
                continue
            found[(name, crc, size)] = tuple(binaries)

    thread = threading.Thread(target=work, name="wheelaudit-analyse-new", daemon=True)
    thread.start()

    def wait() -> dict[MemberKey, tuple[Binary, ...]]:
        thread.join()
        return found

    return wait


def analyze_binaries(archive: WheelArchive, jobs: int | None = None) -> BinaryScan:
    """Every binary in the wheel, in archive order (see :func:`start_scan`)."""
    return start_scan(archive, jobs)()


def audit(
    wheel: str | os.PathLike[str],
    *,
    policy_files: Iterable[str | os.PathLike[str]] = (),
    policies: PolicySet | None = None,
    jobs: int | None = None,
    known: Mapping[MemberKey, tuple[Binary, ...]] | None = None,
    copied: CopiedMembers | None = None,
) -> WheelReport:
    """Audit one wheel file and return its :class:`WheelReport`.

    ``known`` carries binaries already analysed and ``copied`` the members copied
    unchanged (see :func:`start_scan`); a repair passes those of the wheel it wrote. Raises
    :class:`wheelaudit.errors.WheelError` when the file cannot be used as a wheel at
    all (not a zip, unsafe member names, broken binaries, ...).
    """
    started = time.perf_counter()
    archive = WheelArchive(wheel)
    wait_for_scan = start_scan(archive, jobs, known, copied)
    # While the members inflate, import what comes after the scan and load the policies:
    # a good part of start-up, and the largest member takes longer.
    from .checks import rules
    from .checks.context import AuditContext
    from .platforms.policyset import load_policies
    from .report.model import WheelReport

    policies = policies or load_policies(policy_files)
    rules.prepare(archive.info.platform_tags, policies)

    scan = wait_for_scan()
    binaries = scan.binaries
    ctx = AuditContext.build(archive.info, archive.members, archive.record, binaries)
    findings = rules.run(ctx, policies)

    return WheelReport(
        wheel=os.fspath(wheel),
        filename=archive.info.filename,
        name=archive.info.name,
        version=archive.info.version,
        wheel_tags=archive.info.file_tags,
        platform_tag=findings.platform_tag,
        tags=findings.tags,
        binaries=binaries,
        problems=findings.problems,
        policies=findings.verdicts,
        external_libraries=findings.external_libraries,
        stats={
            "seconds": time.perf_counter() - started,
            "members_sniffed": scan.members_sniffed,
            "bytes_inflated": scan.bytes_inflated,
            "bytes_uncompressed": sum(m.size for m in archive.files()),
        },
    )
