"""Audit one wheel: read it, analyse its binaries, run the checks, build the report.

This is the orchestration layer (the only place that knows the order of things);
the reading, the format parsers and the rules each live in their own module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .archive import Member, WheelArchive
from .binary import MemberAnalysis, analyze_member
from .binary.model import Binary, BinaryFormat
from .checks import consistency, linux, macos, mobile, pythonabi, windows
from .checks.context import AuditContext, PlatformDecision
from .errors import MalformedBinary
from .policy import PolicySet, load_policies
from .report import Problem, WheelReport
from .tags import parse_platform_tag


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True)
class BinaryScan:
    binaries: tuple[Binary, ...]  # in archive order
    members_sniffed: int
    bytes_inflated: int  # what reading them cost, against the members' total size


def analyze_binaries(archive: WheelArchive, jobs: int | None = None) -> BinaryScan:
    """Every binary in the wheel, found by magic bytes, in archive order.

    Members are inflated in parallel threads: the inflaters release the GIL, and the
    largest member usually dominates, so it is started first.
    """
    candidates = [m for m in archive.files() if m.size >= 16 and not m.is_symlink]
    order = {m.name: i for i, m in enumerate(candidates)}
    by_size = sorted(candidates, key=lambda m: -m.size)
    workers = jobs or default_jobs()

    def work(member: Member) -> MemberAnalysis:
        try:
            return analyze_member(archive, member)
        except MalformedBinary as exc:
            raise MalformedBinary(f"{archive.path.name}: {exc}", path=member.name) from None

    if workers == 1 or len(candidates) < 2:
        results = [work(m) for m in by_size]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(work, by_size))
    found = [(order[m.name], b) for m, r in zip(by_size, results) for b in r.binaries]
    return BinaryScan(
        binaries=tuple(b for _, b in sorted(found, key=lambda pair: pair[0])),
        members_sniffed=len(candidates),
        bytes_inflated=sum(r.inflated for r in results),
    )


def audit(
    wheel: str | os.PathLike[str],
    *,
    policy_files: Iterable[str | os.PathLike[str]] = (),
    policies: PolicySet | None = None,
    jobs: int | None = None,
) -> WheelReport:
    """Audit one wheel file and return its :class:`WheelReport`.

    Raises :class:`wheelaudit.errors.WheelError` when the file cannot be used as a
    wheel at all (not a zip, unsafe member names, broken binaries, ...).
    """
    started = time.perf_counter()
    policies = policies or load_policies(policy_files)
    archive = WheelArchive(wheel)
    scan = analyze_binaries(archive, jobs)
    binaries = scan.binaries
    ctx = AuditContext.build(archive.info, archive.members, archive.record, binaries)

    problems: list[Problem] = []
    problems += consistency.check_tags(ctx)
    problems += consistency.check_record(ctx)
    problems += consistency.check_members(ctx)

    problems += pythonabi.check(ctx)

    decision = decide_platform(ctx, policies)
    if decision is not None:
        problems += decision.problems
        platform_tag, tags = decision.platform_tag, decision.tags
        verdicts, external = decision.verdicts, decision.external_libraries
    else:
        platform_tag, tags = _untagged(ctx)
        verdicts, external = (), ()

    return WheelReport(
        wheel=os.fspath(wheel),
        filename=archive.info.filename,
        name=archive.info.name,
        version=archive.info.version,
        wheel_tags=archive.info.file_tags,
        platform_tag=platform_tag,
        tags=tags,
        binaries=binaries,
        problems=tuple(sorted(problems, key=lambda p: (p.severity != "error", p.severity != "warning"))),
        policies=verdicts,
        external_libraries=external,
        stats={
            "seconds": time.perf_counter() - started,
            "members_sniffed": scan.members_sniffed,
            "bytes_inflated": scan.bytes_inflated,
            "bytes_uncompressed": sum(m.size for m in archive.files()),
        },
    )


def decide_platform(ctx: AuditContext, policies: PolicySet) -> PlatformDecision | None:
    """Ask the platform module the wheel's tags point at; by binary format when the tags say nothing."""
    families = {parse_platform_tag(t).family for t in ctx.info.platform_tags}
    if "macosx" in families:
        return macos.decide(ctx)
    if "ios" in families:
        return mobile.decide_ios(ctx)
    if "win" in families:
        return windows.decide(ctx)
    if "android" in families:
        return mobile.decide_android(ctx)
    if families & {"manylinux", "musllinux", "linux"}:
        return linux.decide(ctx, policies)
    formats = {b.format for b in ctx.binaries}
    if BinaryFormat.MACHO in formats:
        return macos.decide(ctx)
    if BinaryFormat.PE in formats:
        return windows.decide(ctx)
    return linux.decide(ctx, policies)


def _untagged(ctx: AuditContext) -> tuple[str | None, tuple[str, ...]]:
    """The tag of a wheel no platform module judged: ``any`` for a pure wheel, else its own tags unchecked."""
    if not ctx.binaries:
        return "any", ("any",)
    own = [parse_platform_tag(t) for t in ctx.info.platform_tags]
    return (own[0].canonical if own else None), tuple(t.tag for t in own)
