"""macOS platform rules: minimum OS per architecture, universal2, dependencies.

The tag a macOS wheel may carry follows from its Mach-O slices: for each architecture
the highest minimum OS (LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX) over all binaries,
and the architectures every binary carries. Installers match macOS 11+ only as ``X_0``
and arm64 never below 11.0, so the tag is spelled the way pip can match it. The facts
(floors, multi-arch names, system prefixes) live in ``policies/macos.json``.

Verdicts: one per macosx tag the wheel carries, satisfied when every binary has the
tag's architectures and needs no newer macOS than the tag promises.
"""

from __future__ import annotations

from ..binary.model import Binary, BinaryFormat
from ..platforms.loader import Version, format_version, parse_version
from ..platforms.macos import MacPolicy
from ..platforms.policyset import PolicySet, load_policies
from ..platforms.tags import PlatformTag
from ..record import record
from ..report.model import PolicyVerdict, Problem, Severity
from ..resolve.macho import EXTERNAL, DylibDependency, resolve_wheel
from .context import AuditContext, Decision

FIX_EXTERNAL = (
    "graft it into the wheel with `wheelaudit repair` (or delocate-wheel on a Mac), "
    "or link it statically (for Rust -sys crates usually a `bundled`/`vendored`/`static` feature)"
)


@record(frozen=True)
class MacDecision(Decision):
    """The macOS verdict, with each slice's minimum macOS and where dyld finds each library."""

    min_os: dict[str, str]  # tag arch -> highest minimum macOS over all binaries
    dependencies: tuple[DylibDependency, ...] = ()


def slice_version(binary: Binary) -> Version | None:
    return parse_version(binary.min_os) if binary.min_os else None


# -- dependencies (shared with iOS) -------------------------------------------------------------


def dependency_problems(deps: list[DylibDependency], platform_name: str) -> tuple[list[Problem], tuple[str, ...]]:
    problems: list[Problem] = []
    external: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for dep in deps:
        res = dep.resolution
        if res.kind != EXTERNAL or (dep.binary.path, res.install_name) in seen:
            continue
        seen.add((dep.binary.path, res.install_name))
        external.add(res.install_name)
        where = f" (searched {', '.join(res.searched)})" if res.searched else ""
        consequence = "; it loads without it, but the feature that needs it will not work" if dep.weak else ""
        problems.append(
            Problem(
                "external-library",
                Severity.WARNING if dep.weak else Severity.ERROR,
                f"{dep.binary.path} {'weakly links' if dep.weak else 'needs'} {res.install_name}, which is "
                f"neither in the wheel nor part of {platform_name}{where}{consequence}",
                path=dep.binary.path,
                library=res.install_name,
                fix=FIX_EXTERNAL,
            )
        )
    return problems, tuple(sorted(external))


# -- tags ---------------------------------------------------------------------------------------


def required_versions(machos: list[Binary], policy: MacPolicy) -> dict[str, Version]:
    """Per tag arch: the highest minimum OS over all slices, never below the arch's floor."""
    out: dict[str, Version] = {}
    for b in machos:
        arch = policy.tag_arch(b.arch)
        version = max(slice_version(b) or policy.floor(arch), policy.floor(arch))
        out[arch] = max(out.get(arch, version), version)
    return out


def multi_version(arches: frozenset[str], required: dict[str, Version], policy: MacPolicy) -> Version:
    """The lowest version V such that max(V, floor(a)) covers every arch's requirement."""
    version = min(policy.floor(a) for a in arches)
    for arch in arches:
        need = required.get(arch, policy.floor(arch))
        if need > policy.floor(arch):
            version = max(version, need)
    return version


def tag_name(version: Version, arch: str, policy: MacPolicy) -> str:
    major, minor = policy.tag_version(version)
    return f"macosx_{major}_{minor}_{arch}"


def allowed_tags(arches: frozenset[str], required: dict[str, Version], policy: MacPolicy) -> list[str]:
    """Best first: the widest multi-arch name that fits, then each architecture on its own.

    A multi-arch name is offered only when its one version costs no architecture anything
    (as delocate packs them): x86_64 10.12 with arm64 14.0 stays two tags, since
    ``macosx_14_0_universal2`` would drop every Intel Mac before 14.
    """
    tags: list[str] = []
    singles = {a: policy.tag_version(multi_version(frozenset({a}), required, policy)) for a in arches}
    multis = sorted(
        ((name, members) for name, members in policy.multi_arch.items() if len(members) > 1 and members <= arches),
        key=lambda item: -len(item[1]),
    )
    for name, members in multis:
        version = multi_version(members, required, policy)
        if all(policy.tag_version(max(version, policy.floor(a))) == singles[a] for a in members):
            tags.append(tag_name(version, name, policy))
    for arch in sorted(arches, key=lambda a: (singles[a], a)):
        tags.append(tag_name(singles[arch], arch, policy))
    return list(dict.fromkeys(tags))


def _claim_blockers(
    claim: PlatformTag, machos: list[Binary], arches_by_path: dict[str, set[str]], policy: MacPolicy, best: str | None
) -> list[Problem]:
    blockers: list[Problem] = []
    assert claim.version is not None
    claimed_version: Version = claim.version
    fix_retag = f"retag the wheel as {best}, or " if best else ""
    for arch in sorted(policy.expand(claim.arch)):
        lacking = sorted(p for p, arches in arches_by_path.items() if arch not in arches)
        if lacking:
            blockers.append(
                Problem(
                    "macos-arch-missing",
                    Severity.ERROR,
                    f"the wheel is tagged {claim.tag}, but {', '.join(lacking)} "
                    f"{'has' if len(lacking) == 1 else 'have'} no {arch} slice",
                    path=lacking[0],
                    fix=f"build every binary for {arch} too (e.g. `maturin build --target universal2-apple-darwin`), "
                    f"or retag the wheel without {arch}" + (f" (the binaries allow {best})" if best else ""),
                )
            )
        promised = max(claimed_version, policy.floor(arch))
        for b in machos:
            version = slice_version(b)
            # From macOS 11 a tag can only name X.0: a 12.3 binary under a 12_0 tag is the best
            # the tag can do (reported once as macos-min-version-unexpressible), not a false claim.
            if policy.tag_arch(b.arch) != arch or version is None or policy.tag_version(version) <= promised:
                continue
            blockers.append(
                Problem(
                    "macos-min-version-too-new",
                    Severity.ERROR,
                    f"the wheel is tagged {claim.tag}, but the {b.arch} slice of {b.path} needs macOS "
                    f"{b.min_os} (the tag promises {format_version(promised)} for {arch})",
                    path=b.path,
                    fix=f"{fix_retag}build with MACOSX_DEPLOYMENT_TARGET={format_version(claimed_version)} "
                    "(and dependencies built for it)",
                )
            )
    return blockers


def _unmatchable(claim: PlatformTag, policy: MacPolicy) -> Problem | None:
    assert claim.version is not None
    arches = policy.expand(claim.arch)
    if claim.version != policy.tag_version(claim.version):
        return Problem(
            "macos-tag-never-matches",
            Severity.WARNING,
            f"{claim.tag}: installers only generate macOS {claim.version[0]}+ tags with minor 0 "
            f"({tag_name(claim.version, claim.arch, policy)}); this tag matches no Mac",
            fix=f"retag as {tag_name(claim.version, claim.arch, policy)}",
        )
    if all(claim.version < policy.floor(a) for a in arches):
        floor = max(policy.floor(a) for a in arches)
        return Problem(
            "macos-tag-never-matches",
            Severity.WARNING,
            f"{claim.tag}: installers generate no {claim.arch} tag below macOS {format_version(floor)}; "
            "this tag matches no Mac",
            fix=f"retag as {tag_name(floor, claim.arch, policy)}",
        )
    return None


def decide(ctx: AuditContext, policies: PolicySet | None = None) -> MacDecision | None:
    """The macOS verdict, or None when the wheel holds no Mach-O binary."""
    machos = ctx.loadable(BinaryFormat.MACHO)
    if not machos:
        return None
    policy = (policies or load_policies()).macos
    arches_by_path: dict[str, set[str]] = {}
    for b in machos:
        arches_by_path.setdefault(b.path, set()).add(policy.tag_arch(b.arch))
    supported = frozenset.intersection(*(frozenset(a) for a in arches_by_path.values()))
    required = required_versions(machos, policy)
    claims = [c for c in ctx.claims("macosx") if c.version is not None]
    claimed_arches = frozenset().union(*(policy.expand(c.arch) for c in claims)) if claims else supported
    arches = (supported & claimed_arches) or supported
    tags = allowed_tags(arches, required, policy) if arches else []
    best = tags[0] if tags else None

    problems: list[Problem] = []
    for b in machos:
        if b.os_platform is not None and b.os_platform not in policy.os_platforms:
            problems.append(
                Problem(
                    "macho-platform-mismatch",
                    Severity.ERROR,
                    f"the {b.arch} slice of {b.path} is built for {b.os_platform} (LC_BUILD_VERSION), not macOS",
                    path=b.path,
                    fix="build for the macOS target (e.g. aarch64-apple-darwin), not an iOS/simulator/catalyst one",
                )
            )
    for arch in sorted(arches):
        need = required.get(arch)
        if need is not None and need[0] >= policy.major_only_from and need[1] != 0:
            culprits = sorted({b.path for b in machos if policy.tag_arch(b.arch) == arch and slice_version(b) == need})
            problems.append(
                Problem(
                    "macos-min-version-unexpressible",
                    Severity.WARNING,
                    f"{', '.join(culprits)} ({arch}) needs macOS {format_version(need)}; tags can only say "
                    f"{need[0]}.0, so installers will accept macOS {need[0]}.0-{format_version(need)}, "
                    "where it fails to load",
                    path=culprits[0] if culprits else None,
                    fix=f"build with MACOSX_DEPLOYMENT_TARGET={need[0]}.0",
                )
            )
    verdicts: list[PolicyVerdict] = []
    for claim in claims:
        unmatchable = _unmatchable(claim, policy)
        if unmatchable is not None:
            problems.append(unmatchable)
        blockers = tuple(_claim_blockers(claim, machos, arches_by_path, policy, best))
        verdicts.append(PolicyVerdict(claim.tag, (claim.tag,), not blockers, blockers))
        problems.extend(blockers)

    deps = resolve_wheel(machos, ctx.installed_members, ctx.installed_paths, policy.is_system)
    dep_problems, external = dependency_problems(deps, "macOS (/usr/lib, /System/Library)")
    problems.extend(dep_problems)
    return MacDecision(
        platform_tag=best,
        tags=tuple(tags),
        verdicts=tuple(verdicts),
        external_libraries=external,
        problems=tuple(problems),
        min_os={a: format_version(v) for a, v in sorted(required.items())},
        dependencies=tuple(deps),
    )
