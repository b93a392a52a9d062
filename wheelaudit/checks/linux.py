"""The manylinux / musllinux rules (PEP 600, PEP 656) applied to a wheel's ELF binaries.

For every level of the wheel's libc family, from the most compatible down, each
binary is checked against the level's policy: every needed library is inside the
wheel, allowed by the level, or the dynamic loader; every required symbol version
with a prefix the level constrains is allowed; no blacklisted symbol of an allowed
library is used. The best tag is the most compatible level with no blocker.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Collection, Mapping

from .._typing import TYPE_CHECKING
from ..binary.model import Binary, BinaryFormat, BinaryKind, VersionNeed
from ..platforms.linux import Policy
from ..platforms.policyset import PolicySet
from ..platforms.tags import PlatformTag
from ..record import field, record
from ..report.model import PolicyVerdict, Problem, Severity, unique_problems
from ..resolve.elf import LIBPYTHON, Linkage, is_dynamic_loader, link_wheel, loader_of, origin_entry
from . import consistency
from .context import AuditContext

if TYPE_CHECKING:
    from ..resolve.elf import Loader

FIX_OLD_GLIBC = (
    "build against an older glibc: `maturin build --compatibility {level}` inside the {level} container, "
    "or `maturin build --zig --compatibility {level}` "
    "(setuptools-rust: build in the manylinux container via cibuildwheel)"
)
FIX_EXTERNAL = (
    "graft it into the wheel with `wheelaudit repair`, or link it statically "
    "(for Rust -sys crates usually a `bundled`/`vendored`/`static` feature)"
)
FIX_LIBPYTHON = (
    "do not link libpython into extension modules: enable PyO3's `extension-module` feature "
    "(maturin does this for you when it is declared in pyproject/Cargo.toml)"
)


@record(frozen=True)
class LinuxDecision:
    """The verdict for one libc family and architecture, with each level's reasons."""

    family: str
    arch: str
    best: Policy | None
    verdicts: tuple[PolicyVerdict, ...]
    external_libraries: tuple[str, ...]
    problems: tuple[Problem, ...]
    extra_tags: tuple[str, ...] = ()  # tags of a second libc family the binaries also satisfy
    arch_conflict: bool = False  # binaries of several architectures: no platform tag fits them all

    @property
    def platform_tag(self) -> str | None:
        if self.arch_conflict:
            return None
        return self.best.tag(self.arch) if self.best else f"linux_{self.arch}"

    @property
    def tags(self) -> tuple[str, ...]:
        """Every platform tag the binaries allow: the best level, every newer level, then linux_<arch>."""
        if self.arch_conflict:
            return ()
        out: list[str] = []
        if self.best is not None:
            for verdict in self.verdicts:
                if verdict.satisfied and verdict.name.startswith(self.family):
                    out.extend(verdict.tags)
        out.extend(self.extra_tags)
        out.append(f"linux_{self.arch}")
        return tuple(dict.fromkeys(out))


def _split_version(version: str) -> tuple[str, str]:
    prefix, _, rest = version.partition("_")
    return prefix, rest


@functools.cache
def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[._]", _split_version(version)[1]))


@record(frozen=True)
class _ElfFacts:
    """What the level checks need from one binary, worked out once rather than once per level."""

    binary: Binary
    outside: tuple[str, ...]  # needed libraries the loader does not find in the wheel
    strong_imports: frozenset[str]
    #: (prefix, number, need) of each version need a level may refuse: split once, not once per level
    checked_needs: tuple[tuple[str, str, VersionNeed], ...]
    #: needed name -> (the member of that name the search never reaches, the search-path entry that would)
    unreached: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: needed names the loader finds inside the wheel: their version needs are the wheel's own business
    bundled: frozenset[str] = frozenset()


def wheel_linkage(ctx: AuditContext, arch: str, loader: Loader) -> Linkage:
    """:func:`~wheelaudit.resolve.elf.link_wheel` for the wheel of ``ctx`` (repairing.plan and report.tree call it)."""
    return link_wheel(ctx.loadable(BinaryFormat.ELF), arch, ctx.installed_members, ctx.installed_paths, loader)


def elf_facts(
    binary: Binary,
    outside: tuple[str, ...],
    unreached: Mapping[str, tuple[str, str]] | None = None,
    bundled: frozenset[str] = frozenset(),
) -> _ElfFacts:
    """Facts for :func:`level_blockers` once the libraries outside the wheel are known.

    ``bundled``: the needed names the loader finds inside the wheel (an empty set checks every need).
    """
    strong = frozenset(s.name for s in binary.imported_symbols if not s.weak)
    return _ElfFacts(binary, outside, strong, _checked_needs(binary.version_needs), unreached or {}, bundled)


def _checked_needs(needs: tuple[VersionNeed, ...]) -> tuple[tuple[str, str, VersionNeed], ...]:
    """The version needs a level may refuse, split into prefix and number (GLIBC, 2.17).

    Needs on the dynamic loader are kept: ld.so is part of glibc, and a binary that needs
    GLIBC_2.35 from it (``__rseq_offset``) does not load on glibc 2.34 either.
    """
    return tuple((*_split_version(need.version), need) for need in needs)


def _loader_version_within(need: VersionNeed, allowed: Collection[str]) -> bool:
    """Whether a version need on the loader is no newer than the level's glibc.

    glibc names its versions after the release that added them, so a loader version that the
    level's list lacks but that is no newer than the list's newest entry is on every glibc of the
    level all the same. GLIBC_PRIVATE is on none.
    """
    if not is_dynamic_loader(need.library) or need.version.endswith("_PRIVATE"):
        return False
    prefix = _split_version(need.version)[0]
    newest = _newest(prefix, allowed)
    return newest is not None and _version_key(need.version) <= _version_key(f"{prefix}_{newest}")


def _newest(prefix: str, allowed: Collection[str]) -> str | None:
    """The newest version in a level's list for ``prefix`` (GLIBC's ``2.17``), None for an empty list."""
    return max(allowed, key=lambda v: _version_key(f"{prefix}_{v}"), default=None)


def unreached_members(
    binary: Binary, outside: tuple[str, ...], by_name: Mapping[str, str], installed_paths: Mapping[str, str]
) -> dict[str, tuple[str, str]]:
    """The needed names of ``binary`` that the loader does not find although the wheel has a library
    of that name (``by_name``: file name or DT_SONAME -> member), each with the DT_RUNPATH entry that
    would reach it.

    Such a library loads only when the package opens it by path first (torchaudio's
    ``_torchaudio.so`` needs ``libtorchaudio.so`` from its own directory and has no RUNPATH):
    the loader never searches the requester's directory by itself.
    """
    out: dict[str, tuple[str, str]] = {}
    here = installed_paths.get(binary.path, binary.path)
    for name in outside:
        member = by_name.get(name)
        if member is None or member == binary.path:
            continue
        out[name] = (member, origin_entry(here, posixpath.dirname(installed_paths.get(member, member))))
    return out


def _libraries_by_name(binaries: list[Binary]) -> dict[str, str]:
    """File name and DT_SONAME -> member, for the wheel's ELF libraries of one architecture."""
    out: dict[str, str] = {}
    for b in sorted(binaries, key=lambda b: b.path):
        for name in (posixpath.basename(b.path), b.own_name):
            if name:
                out.setdefault(name, b.path)
    return out


def level_blockers(policy: Policy, arch: str, elves: list[_ElfFacts]) -> list[Problem]:
    """Why the binaries do not satisfy ``policy`` on ``arch``; empty when they do."""
    blockers: list[Problem] = []
    rules = policy.architectures[arch]
    symbol_versions, blacklist = rules.symbol_versions, policy.blacklist
    level = policy.name
    caps: dict[str, str | None] = {}  # newest allowed version per prefix, e.g. GLIBC -> 2.17
    for facts in elves:
        binary, strong_imports = facts.binary, facts.strong_imports
        for soname in facts.outside:
            if LIBPYTHON.match(soname):
                if binary.kind is not BinaryKind.EXECUTABLE:
                    blockers.append(
                        Problem(
                            "libpython-linked",
                            Severity.ERROR,
                            f"{binary.path} links {soname}; {level} forbids linking libpython",
                            path=binary.path,
                            library=soname,
                            fix=FIX_LIBPYTHON,
                        )
                    )
                continue
            if not policy.allows_library(arch, soname):
                unreached = facts.unreached.get(soname)
                if unreached is None:
                    message = f"{binary.path} needs {soname}, which is neither in the wheel nor allowed by {level}"
                    fix = FIX_EXTERNAL
                else:
                    member, entry = unreached
                    message = (
                        f"{binary.path} needs {soname}; the wheel has it as {member}, but no DT_RPATH/DT_RUNPATH "
                        "of its own leads there, so the loader finds it only after something else loaded it (the "
                        f"package opening that file first, or a DT_RPATH inherited in some processes only); {level} "
                        "does not allow it from the system"
                    )
                    fix = (
                        f"give {binary.path} a DT_RUNPATH of `{entry}` (patchelf --set-rpath '{entry}'); "
                        "`wheelaudit repair` adds it"
                    )
                blockers.append(
                    Problem("external-library", Severity.ERROR, message, path=binary.path, library=soname, fix=fix)
                )
                continue
            banned_set = strong_imports.intersection(blacklist.get(soname, ()))  # usually empty: sort only then
            if banned_set:
                banned = sorted(banned_set)
                blockers.append(
                    Problem(
                        "blacklisted-symbol",
                        Severity.ERROR,
                        f"{binary.path} uses {', '.join(banned)} from {soname}, which {level} does not allow",
                        path=binary.path,
                        symbols=tuple(banned),
                        library=soname,
                        fix="avoid these symbols or build against the glibc of this level",
                    )
                )
        too_new: dict[tuple[str, str], list[str]] = {}
        for prefix, number, need in facts.checked_needs:
            allowed = symbol_versions.get(prefix)
            if allowed is None or number in allowed or _loader_version_within(need, allowed):
                continue
            if need.library in facts.bundled and not policy.allows_library(arch, need.library):
                # Pillow 9.0.1: libpng needs ZLIB_1.2.9 from its own libz-dd453c56.so.1.2.11, which
                # defines it; the level's ZLIB list is what the system's libz.so.1 has. A bundled
                # library under a name the level allows from the system (libz.so.1) may lose to the
                # system's copy already loaded in the process, so its needs stay checked.
                continue
            too_new.setdefault((need.library, need.version), []).extend(need.symbols)
        for (library, version), symbols in sorted(too_new.items(), key=lambda kv: (kv[0][0], _version_key(kv[0][1]))):
            shown = sorted(set(symbols))
            prefix = _split_version(version)[0]
            if prefix not in caps:
                caps[prefix] = _newest(prefix, symbol_versions.get(prefix, ()))
            cap = caps[prefix]
            limit = f"{prefix}_{cap}" if cap else f"no {prefix} version"
            private = version.endswith("_PRIVATE")
            blockers.append(
                Problem(
                    "elf-private-symbol-version" if private else "elf-symbol-version-too-new",
                    Severity.ERROR,
                    f"{binary.path} needs {version} from {library} ({level} allows up to {limit})"
                    + (
                        f" for {', '.join(shown)}"
                        if shown
                        else " (no dynamic symbol names it; the linker added the need)"
                    ),
                    path=binary.path,
                    symbols=tuple(shown),
                    library=library,
                    fix="internal glibc symbols are never portable; stop using them"
                    if private
                    else FIX_OLD_GLIBC.format(level=level)
                    + (f"; or avoid {', '.join(shown[:5])}" if shown and len(shown) <= 5 else ""),
                )
            )
        if binary.isa_level and binary.isa_level > 1 and arch == "x86_64":
            blockers.append(
                Problem(
                    "isa-level-too-high",
                    Severity.ERROR,
                    f"{binary.path} declares it needs x86-64-v{binary.isa_level}; manylinux promises only the baseline",
                    path=binary.path,
                    fix="build for the baseline (no `-C target-cpu=...` / `-march=` above x86-64) "
                    "and dispatch at run time",
                )
            )
    return blockers


def decide(ctx: AuditContext, policies: PolicySet) -> LinuxDecision | None:
    """The Linux verdict for a wheel, or None when it holds no ELF binary to judge.

    Every libc family the wheel claims is judged (a static binary may honestly carry
    both manylinux and musllinux tags); a claim the binaries contradict is an error.
    """
    elves = ctx.loadable(BinaryFormat.ELF)
    if not elves:
        return None
    claimed = list(ctx.platform_tag_facts)
    linux_claims = [t for t in claimed if t.family in ("manylinux", "musllinux", "linux")]
    claimed_arch = linux_claims[0].arch if linux_claims else _majority_arch(elves)
    built_for = {b.arch for b in elves}
    # Judge what was built: binaries of one other architecture get that architecture's tags (the
    # claim is an error of its own below); binaries of several architectures get no tag at all.
    arch = next(iter(built_for)) if len(built_for) == 1 else claimed_arch
    arch_conflict = len(built_for) > 1
    linked = {b.abi for b in elves if b.abi in ("glibc", "musl")}
    binary_family = {"glibc": "manylinux", "musl": "musllinux"}[linked.pop()] if len(linked) == 1 else None
    linkage = wheel_linkage(ctx, arch, loader_of(binary_family))
    ours = [b for b in elves if b.arch == arch]
    by_name = _libraries_by_name(ours)
    facts = [
        elf_facts(
            b,
            outside,
            unreached_members(b, outside, by_name, ctx.installed_paths),
            frozenset(linkage.found.get(b.path, ())),
        )
        for b in ours
        for outside in (linkage.outside_of(b),)
    ]

    claimed_families = list(dict.fromkeys(t.family for t in claimed if t.family in ("manylinux", "musllinux")))
    families = [f for f in claimed_families if binary_family in (None, f)]
    problems: list[Problem] = []
    for family in claimed_families:
        if family not in families:
            problems.append(
                Problem(
                    "libc-mismatch",
                    Severity.ERROR,
                    f"the wheel is tagged {family}_* but its binaries are linked against "
                    f"{'musl' if binary_family == 'musllinux' else 'glibc'}",
                    fix="build on a host of the tagged libc (or with its cross toolchain), or retag the wheel",
                )
            )
    if not families:
        families = [binary_family or "manylinux"]

    decisions = [_decide_family(policies, family, arch, facts, claimed) for family in families]
    primary = decisions[0]
    problems = consistency.check_arch(ctx, claimed_arch) + problems
    for decision in decisions:
        problems += decision.problems
    return LinuxDecision(
        family=primary.family,
        arch=arch,
        best=primary.best,
        verdicts=tuple(v for d in decisions for v in d.verdicts),
        external_libraries=primary.external_libraries,
        problems=unique_problems(problems),
        extra_tags=tuple(t for d in decisions[1:] for t in d.tags if not t.startswith("linux_")),
        arch_conflict=arch_conflict,
    )


def _decide_family(
    policies: PolicySet, family: str, arch: str, facts: list[_ElfFacts], claimed: list[PlatformTag]
) -> LinuxDecision:
    levels = [p for p in policies.levels(family) if p.supports(arch)]
    own = [t.version for t in claimed if t.family == family and t.version]
    # A level that constrains no symbol version (musl has none) cannot be verified from the
    # binary: grant it only from the wheel's own claim, never older than that claim.
    reference = min(own) if own else (levels[-1].version if levels else (0, 0))
    verdicts: list[PolicyVerdict] = []
    best: Policy | None = None
    for policy in levels:
        blockers = level_blockers(policy, arch, facts)
        if not _verifiable(policy, arch) and policy.version < reference:
            blockers.append(
                Problem(
                    "libc-version-unverifiable",
                    Severity.INFO,
                    f"{family} binaries carry no symbol versions, so nothing shows they run on the libc of "
                    f"{policy.name}; the wheel's own tag is kept",
                )
            )
        verdicts.append(PolicyVerdict(policy.name, tuple(policy.tags(arch)), not blockers, tuple(blockers)))
        if not blockers and best is None:
            best = policy
    newest_blockers = verdicts[-1].blockers if verdicts else ()
    external = tuple(sorted({b.library for b in newest_blockers if b.code == "external-library" and b.library}))
    decision = LinuxDecision(family, arch, best, tuple(verdicts), external, ())
    problems = _claim_problems(decision, [t for t in claimed if t.family in (family, "linux")])
    # Every level forbids libpython, so say it once whatever the wheel is tagged.
    problems += [b for b in newest_blockers if b.code == "libpython-linked"]
    return LinuxDecision(family, arch, best, decision.verdicts, external, unique_problems(problems))


def _verifiable(policy: Policy, arch: str) -> bool:
    return bool(policy.architectures[arch].symbol_versions)


def _majority_arch(elves: list[Binary]) -> str:
    counts: dict[str, int] = {}
    for b in elves:
        counts[b.arch] = counts.get(b.arch, 0) + 1
    return max(counts, key=lambda a: counts[a])


def _best_after_grafting(decision: LinuxDecision) -> str | None:
    """The most compatible tag whose only blockers are libraries that repair can graft."""
    for verdict in decision.verdicts:
        if verdict.name.startswith(decision.family) and all(b.code == "external-library" for b in verdict.blockers):
            return verdict.tags[0] if verdict.tags else None
    return None


def _claim_problems(decision: LinuxDecision, claimed: list[PlatformTag]) -> list[Problem]:
    """Problems with the tags the wheel carries, judged against the decision."""
    problems: list[Problem] = []
    by_name = {v.name: v for v in decision.verdicts}
    linux_family = [t for t in claimed if t.family in ("manylinux", "musllinux")]
    for tag in linux_family:
        name = f"{tag.family}_{tag.version[0]}_{tag.version[1]}" if tag.version else ""
        verdict = by_name.get(name)
        if verdict is None:
            problems.append(
                Problem(
                    "unknown-platform-level",
                    Severity.WARNING,
                    f"no policy describes {tag.tag}; it cannot be checked (add one with --policy-file)",
                )
            )
            continue
        if not verdict.satisfied:
            for blocker in verdict.blockers:
                problems.append(
                    Problem(
                        blocker.code,
                        Severity.ERROR,
                        f"tagged {tag.tag}, but {blocker.message}",
                        path=blocker.path,
                        symbols=blocker.symbols,
                        library=blocker.library,
                        fix=blocker.fix,
                    )
                )
    if any(t.family == "linux" for t in claimed) and not linux_family:
        best = decision.platform_tag
        if decision.best is not None:
            message = f"linux_{decision.arch} wheels are not accepted by PyPI; the binaries allow {best}"
            fix = f"retag with `wheelaudit repair --plat {best}` (nothing to graft)"
        else:
            libs = ", ".join(decision.external_libraries) or "nothing"
            message = (
                f"linux_{decision.arch} wheels are not accepted by PyPI; "
                f"no manylinux level fits as built (external: {libs})"
            )
            graftable = _best_after_grafting(decision)
            if graftable is not None:
                message += (
                    f"; `wheelaudit repair` would graft them and tag the wheel {graftable} "
                    "(or a newer level, if a grafted library needs a newer libc)"
                )
                fix = f"graft the external libraries: `wheelaudit repair --plat {graftable}` (or auto)"
            else:
                fix = "graft the external libraries with `wheelaudit repair`; see the blockers per level"
        problems.append(Problem("not-portable", Severity.WARNING, message, fix=fix))
    return problems
