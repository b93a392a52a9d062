"""iOS (PEP 730) and Android (PEP 738) wheels: recognised, analysed, judged by their own rules.

Neither platform has a portability ladder like manylinux: an app bundles the wheel for the
OS version and architecture its tag names. So the verdict is the wheel's own tag, checked
for what can go wrong: binaries of another architecture or Apple platform (device vs
simulator), a minimum iOS newer than the tag, and libraries that are neither in the wheel
nor provided by the OS (Android: the NDK's stable libraries for the tag's API level, from
``policies/android.json``). An Android wheel holds ELF files but is never judged by
manylinux rules. Linking libpython / Python.framework, which both platforms require, is
the Python-ABI check's business.
"""

from __future__ import annotations

from ..binary.model import Binary, BinaryFormat
from ..platforms.loader import Version, format_version
from ..platforms.policyset import PolicySet, load_policies
from ..platforms.tags import PlatformTag
from ..report.model import PolicyVerdict, Problem, Severity
from ..resolve.elf import EXTERNAL, resolve_android
from ..resolve.macho import resolve_wheel
from .context import AuditContext, Decision
from .macos import dependency_problems, slice_version

FIX_ARCH = "build every binary for the wheel's architecture (check --target), or retag the wheel"


def _arch_problem(b: Binary, claim: PlatformTag, expected: str | None) -> Problem:
    return Problem(
        "binary-arch-mismatch",
        Severity.ERROR,
        f"{b.path} is built for {b.arch}, the wheel is tagged {claim.tag}" + (f" ({expected})" if expected else ""),
        path=b.path,
        fix=FIX_ARCH,
    )


# -- iOS ----------------------------------------------------------------------------------------


def decide_ios(ctx: AuditContext, policies: PolicySet | None = None) -> Decision | None:
    machos = ctx.loadable(BinaryFormat.MACHO)
    if not machos:
        return None
    policy = (policies or load_policies()).ios
    claims = ctx.claims("ios")
    platform_to_sdk = {v: k for k, v in policy.sdks.items()}

    problems: list[Problem] = []
    verdicts: list[PolicyVerdict] = []
    for claim in claims:
        arch, _, sdk = claim.arch.rpartition("_")
        want_platform = policy.sdks.get(sdk)
        promised: Version = claim.version or (0, 0)
        blockers: list[Problem] = []
        if arch not in policy.arches.get(sdk, frozenset({arch})):
            problems.append(
                Problem(
                    "ios-tag-unknown-arch",
                    Severity.WARNING,
                    f"{claim.tag}: {sdk} has no {arch} devices or simulators that installers target",
                )
            )
        for b in machos:
            if b.arch != arch:
                blockers.append(_arch_problem(b, claim, arch))
            if want_platform and b.os_platform is not None and b.os_platform != want_platform:
                blockers.append(
                    Problem(
                        "macho-platform-mismatch",
                        Severity.ERROR,
                        f"the {b.arch} slice of {b.path} is built for {b.os_platform} (LC_BUILD_VERSION), "
                        f"the wheel is tagged {claim.tag} ({want_platform})",
                        path=b.path,
                        fix="build device wheels for the device target and simulator wheels for the simulator target",
                    )
                )
            version = slice_version(b)
            if version is not None and version > promised:
                blockers.append(
                    Problem(
                        "ios-min-version-too-new",
                        Severity.ERROR,
                        f"the wheel is tagged {claim.tag}, but {b.path} ({b.arch}) needs iOS {b.min_os}",
                        path=b.path,
                        fix=f"build with IPHONEOS_DEPLOYMENT_TARGET={format_version(promised)}, or retag the wheel",
                    )
                )
        verdicts.append(PolicyVerdict(claim.tag, (claim.tag,), not blockers, tuple(blockers)))
        problems += blockers

    deps = resolve_wheel(machos, ctx.installed_members, ctx.installed_paths, policy.is_system)
    dep_problems, external = dependency_problems(deps, "iOS (/usr/lib, /System/Library)")
    problems += dep_problems

    arches = sorted({b.arch for b in machos})
    versions = [v for v in (slice_version(b) for b in machos) if v is not None]
    platforms = {b.os_platform for b in machos if b.os_platform}
    built_for = platform_to_sdk.get(next(iter(platforms))) if len(platforms) == 1 else None
    computed: str | None
    if len(arches) == 1 and built_for and versions:
        need = max(versions)
        computed = f"ios_{need[0]}_{need[1]}_{arches[0]}_{built_for}"
    else:
        computed = claims[0].tag if claims else None
    own = [c.tag for c in claims]
    tags = tuple(dict.fromkeys([computed, *own] if computed else own))
    return Decision(computed, tags, tuple(verdicts), external, tuple(problems))


# -- Android ------------------------------------------------------------------------------------


def decide_android(ctx: AuditContext, policies: PolicySet | None = None) -> Decision | None:
    elves = ctx.loadable(BinaryFormat.ELF)
    if not elves:
        return None
    policy = (policies or load_policies()).android
    claims = ctx.claims("android")
    abi_by_arch = {v: k for k, v in policy.abis.items()}
    api = min((c.version[0] for c in claims if c.version), default=None)
    allowed = policy.allowed(api if api is not None else 0)

    problems: list[Problem] = []
    external: set[str] = set()
    dep_problems: list[Problem] = []
    deps = resolve_android(elves, ctx.installed_members, ctx.installed_paths, allowed, policy.libpython)
    for dep in deps:
        if dep.kind != EXTERNAL:
            continue
        external.add(dep.soname)
        dep_problems.append(
            Problem(
                "external-library",
                Severity.ERROR,
                f"{dep.binary.path} needs {dep.soname}, which is neither in the wheel nor an Android system library "
                f"at API level {api if api is not None else 'unknown'}",
                path=dep.binary.path,
                library=dep.soname,
                fix="bundle it in the wheel (with an $ORIGIN rpath) or link it statically",
            )
        )
    verdicts: list[PolicyVerdict] = []
    for claim in claims:
        expected = policy.abis.get(claim.arch)
        blockers = [_arch_problem(b, claim, expected) for b in elves if b.arch != expected]
        blockers += dep_problems
        verdicts.append(PolicyVerdict(claim.tag, (claim.tag,), not blockers, tuple(blockers)))
        problems += [p for p in blockers if p not in problems]
    if not claims:
        problems += dep_problems

    arches = sorted({b.arch for b in elves})
    computed = None
    if len(arches) == 1 and arches[0] in abi_by_arch and api is not None:
        computed = f"android_{api}_{abi_by_arch[arches[0]]}"
    elif claims:
        computed = claims[0].tag
    own = [c.tag for c in claims]
    tags = tuple(dict.fromkeys([computed, *own] if computed else own))
    return Decision(computed, tags, tuple(verdicts), tuple(sorted(external)), tuple(problems))
