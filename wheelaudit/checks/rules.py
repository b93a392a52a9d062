"""All the rules, in the order a report lists them: one call from the orchestrator.

Kept apart from ``auditing.py`` so that importing the rule modules (a good part of
wheelaudit's start-up time) can happen while the first members inflate.
"""

from __future__ import annotations

import importlib

from ..binary.model import BinaryFormat
from ..platforms.policyset import PolicySet
from ..platforms.tags import parse_platform_tag
from ..record import record
from ..report.model import PolicyVerdict, Problem
from . import consistency, elflayout, isa, pythonabi, rpaths
from .context import AuditContext, PlatformDecision


@record(frozen=True)
class Findings:
    """What all the rules found about one wheel, in report order."""

    problems: tuple[Problem, ...]  # errors first, then warnings, then infos
    platform_tag: str | None
    tags: tuple[str, ...]
    verdicts: tuple[PolicyVerdict, ...]
    external_libraries: tuple[str, ...]


_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def run(ctx: AuditContext, policies: PolicySet) -> Findings:
    problems: list[Problem] = []
    problems += consistency.check_tags(ctx)
    problems += consistency.check_record(ctx)
    problems += consistency.check_members(ctx)
    problems += pythonabi.check(ctx, policies)
    problems += isa.check(ctx)
    problems += elflayout.check(ctx)
    problems += rpaths.check(ctx)
    decision = decide_platform(ctx, policies)
    if decision is not None:
        problems += decision.problems
        platform_tag, tags = decision.platform_tag, decision.tags
        verdicts, external = decision.verdicts, decision.external_libraries
    else:
        platform_tag, tags = _untagged(ctx)
        verdicts, external = (), ()
    return Findings(
        problems=tuple(sorted(problems, key=lambda p: _SEVERITY_ORDER[p.severity.value])),
        platform_tag=platform_tag,
        tags=tags,
        verdicts=verdicts,
        external_libraries=external,
    )


def prepare(platform_tags: tuple[str, ...], policies: PolicySet) -> None:
    """Import the platform module the tags point at and parse its policies, ahead of :func:`run`.

    The orchestrator calls this while the members inflate, so that ~20 ms of imports
    and JSON parsing leave the critical path. Only a warm-up: it never raises.
    """
    try:
        families = {parse_platform_tag(t).family for t in platform_tags}
        if families & _TAGGED:  # untagged wheels are routed by their binaries, unknown yet
            platform = _platform_of(families, set())
            importlib.import_module(f".{platform}", __package__)
            if platform == "linux":
                policies.levels("manylinux")
    except Exception:  # the real call reports whatever went wrong here
        pass


def decide_platform(ctx: AuditContext, policies: PolicySet) -> PlatformDecision | None:
    """Ask the platform module the wheel's tags point at; by binary format when the tags say nothing.

    Each platform module is imported only when a wheel needs it (start-up time).
    """
    families = set(ctx.tag_families)
    platform = _platform_of(families, {b.format for b in ctx.binaries})
    if platform == "macos":
        from . import macos

        return macos.decide(ctx, policies)
    if platform == "windows":
        from . import windows

        return windows.decide(ctx, policies)
    if platform == "mobile":
        from . import mobile

        return mobile.decide_ios(ctx, policies) if "ios" in families else mobile.decide_android(ctx, policies)
    from . import linux

    return linux.decide(ctx, policies)


def _platform_of(families: set[str], formats: set[BinaryFormat]) -> str:
    """Which module under ``checks/`` judges a wheel with these tag families and binary formats."""
    if "macosx" in families or (not families & _TAGGED and BinaryFormat.MACHO in formats):
        return "macos"
    if "win" in families or (not families & _TAGGED and BinaryFormat.PE in formats):
        return "windows"
    if families & {"ios", "android"}:
        return "mobile"
    return "linux"


#: Tag families that name a platform module; wheels with none of them are routed by binary format.
_TAGGED = frozenset({"macosx", "ios", "win", "android", "manylinux", "musllinux", "linux"})


def _untagged(ctx: AuditContext) -> tuple[str | None, tuple[str, ...]]:
    """The tag of a wheel no platform module judged: ``any`` for a pure wheel, else its own tags unchecked."""
    if not ctx.binaries:
        return "any", ("any",)
    own = ctx.platform_tag_facts
    return (own[0].canonical if own else None), tuple(t.tag for t in own)
