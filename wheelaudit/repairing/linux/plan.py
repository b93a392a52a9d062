"""Deciding a Linux repair before touching any file: what to graft, rename, patch, move and retag.

For every level of the wheel's libc family the plan works out which libraries
would have to be grafted (every needed library from outside the wheel that the
level does not allow, and their own dependencies, found on the host as the
loader would find them), then judges the wheel *as it would be after grafting*
with the same level rules ``show`` uses. ``auto`` takes the most compatible level
that passes; an explicit level that does not pass is refused with the blockers
named. Nothing here writes a file.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence

from ..._typing import TYPE_CHECKING
from ...binary.model import Binary, BinaryFormat, BinaryKind
from ...checks import linux
from ...checks.context import AuditContext, installed_path
from ...checks.rpaths import ORIGIN_TOKENS
from ...errors import OptionError, RepairError, UnsafeWheel
from ...platforms.linux import Policy
from ...platforms.policyset import PolicySet
from ...platforms.tags import parse_platform_tag
from ...record import field, record, replace
from ...report.model import Problem
from ...resolve.elf import LIBPYTHON, expand_origin, is_dynamic_loader, loader_of, origin_entry
from ...resolve.host import ElfIdentity, HostLibrary, HostResolver
from ...wheel.archive import WheelArchive
from ..naming import file_sha256, hashed_name
from ..options import RepairOptions
from .patchelf import ElfEdit

if TYPE_CHECKING:
    from typing import NoReturn


@record(frozen=True)
class Graft:
    """One host library copied into ``<dist>.libs/``."""

    source: str  # the file copied (symlinks resolved)
    found_as: str  # the path the loader would open
    member: str  # "<dist>.libs/<new name>"
    new_name: str
    sha256: str
    binary: Binary = field(repr=False)
    edit: ElfEdit = field(default_factory=ElfEdit)


@record(frozen=True)
class Patch:
    """One wheel binary that changes: where it comes from, where it goes, what patchelf does."""

    member: str  # name in the input wheel
    target: str  # name in the output wheel (differs for a script moved next to its libraries)
    edit: ElfEdit
    arch: str


@record(frozen=True)
class RepairPlan:
    """Everything a repair will do, decided before any file is written."""

    family: str
    arch: str
    policy: Policy = field(repr=False)
    platform_tags: tuple[str, ...]  # for the file name and WHEEL, best first
    libs_dir: str
    grafts: tuple[Graft, ...]
    patches: tuple[Patch, ...]
    shims: dict[str, str]  # .data/scripts member -> the platlib member it runs
    other_family_tags: tuple[str, ...]  # tags of the other libc family the wheel keeps (nothing grafted)
    strip_members: tuple[str, ...]
    strip: str
    warnings: tuple[str, ...]
    excluded: tuple[str, ...] = ()  # needed libraries left outside the wheel because an --exclude matched

    @property
    def changes_binaries(self) -> bool:
        return bool(self.grafts or self.patches or self.strip_members)


@record
class _Node:
    """A library on the host in the closure being grafted."""

    lib: HostLibrary
    chain: tuple[str, ...]  # DT_RPATH of the objects that loaded it (glibc passes these down)
    resolved: dict[str, str] = field(default_factory=dict)  # its DT_NEEDED -> realpath of the graft


@record
class _Closure:
    """The grafts one level needs, and what could not be found or was excluded."""

    nodes: dict[str, _Node] = field(default_factory=dict)  # realpath -> node, in discovery order
    wheel_resolved: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> DT_NEEDED -> realpath
    removed: dict[str, list[str]] = field(default_factory=dict)  # member -> libpython names dropped
    missing: list[tuple[str, str]] = field(default_factory=list)  # (needed by, soname)
    # member -> DT_NEEDED -> the wheel's member that answers it, out of the loader's way until an rpath entry
    reached: dict[str, dict[str, str]] = field(default_factory=dict)
    excluded: list[tuple[str, str]] = field(default_factory=list)


class Planner:
    """Builds a :class:`RepairPlan` for one wheel."""

    def __init__(
        self, archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
    ) -> None:
        self.archive = archive
        self.options = options
        self.policies = policies
        self.ctx = AuditContext.build(archive.info, archive.members, archive.record, tuple(binaries))
        self.warnings: list[str] = []
        decision = linux.decide(self.ctx, policies)
        if decision is None:
            raise RepairError(f"{archive.path.name} holds no ELF binary: nothing to repair")
        self.family, self.arch = decision.family, decision.arch
        wrong_arch = [p for p in decision.problems if p.code == "binary-arch-mismatch"]
        if wrong_arch:
            raise RepairError(
                f"{archive.path.name}: {wrong_arch[0].message}"
                + (f" (and {len(wrong_arch) - 1} more)" if len(wrong_arch) > 1 else "")
                + "; repair does not change a wheel's architecture: rebuild for the tagged one, or fix the tag"
            )
        # Tags of the other libc family the binaries honestly carry (a static program may run on both).
        other = {"manylinux": "musllinux", "musllinux": "manylinux"}[self.family]
        self.other_family_tags = tuple(t for t in decision.tags if parse_platform_tag(t).family == other)
        self.elves = [
            b
            for b in binaries
            if b.format is BinaryFormat.ELF and b.kind is not BinaryKind.OTHER and b.arch == self.arch
        ]
        linkage = linux.wheel_linkage(self.ctx, self.arch, loader_of(self.family))
        self.outside = {b.path: linkage.outside_of(b) for b in self.elves}
        self.in_wheel = self._wheel_libraries()
        self.resolver = HostResolver(
            identity=self._identity(),
            arch=self.arch,
            libc="musl" if self.family == "musllinux" else "glibc",
            sysroot=options.sysroot,
            lib_paths=tuple(options.lib_paths),
        )
        self.levels = [p for p in policies.levels(self.family) if p.supports(self.arch)]
        if not self.levels:
            raise RepairError(f"no {self.family} policy covers {self.arch}")

    def _wheel_libraries(self) -> dict[str, str]:
        """Library name -> the one member of the wheel an rpath entry could reach it by: its file name
        or SONAME, a single member of this architecture installed into site-packages (a name two
        members answer is left to the host search and its error)."""
        found: dict[str, set[str]] = {}
        for binary in self.elves:
            if binary.kind is BinaryKind.EXECUTABLE or installed_path(binary.path, self.archive.info.data_dir) is None:
                continue
            for name in {posixpath.basename(binary.path), binary.own_name}:
                if name:
                    found.setdefault(name, set()).add(binary.path)
        return {name: next(iter(paths)) for name, paths in found.items() if len(paths) == 1}

    def _identity(self) -> ElfIdentity:
        member = self.archive.members[self.elves[0].path]
        with self.archive.open(member) as stream:
            ident = ElfIdentity.read(stream.read_at(0, min(64, member.size)))
        assert ident is not None  # it parsed as ELF already
        return ident

    # -- exclusions -----------------------------------------------------------------

    def _excluded(self, *names: str) -> bool:
        return any(fnmatch.fnmatch(n, pattern) for n in names for pattern in self.options.exclude)

    # -- closure per level ------------------------------------------------------------

    def closure(self, policy: Policy) -> _Closure:
        out = _Closure()
        queue: list[tuple[str, str, Binary, list[str], tuple[str, ...], dict[str, str]]] = []
        for binary in self.elves:
            resolved = out.wheel_resolved.setdefault(binary.path, {})
            chain = tuple(self.resolver.expanded_rpath(binary, None))
            dirs = self.resolver.search_dirs(binary, None)
            for soname in self.outside[binary.path]:
                if LIBPYTHON.match(soname):
                    if binary.kind is not BinaryKind.EXECUTABLE:
                        out.removed.setdefault(binary.path, []).append(soname)
                    continue
                queue.append((binary.path, soname, binary, dirs, chain, resolved))
        while queue:
            requester, soname, _, dirs, chain, resolved = queue.pop(0)
            if is_dynamic_loader(soname) or policy.allows_library(self.arch, soname) or LIBPYTHON.match(soname):
                continue
            if self._excluded(soname):
                out.excluded.append((requester, soname))
                continue
            answer = self.in_wheel.get(soname) if requester in self.outside else None
            if answer is not None and answer != requester:
                # The wheel has it, only the loader does not look there: an rpath entry, no graft.
                out.reached.setdefault(requester, {})[soname] = answer
                continue
            lib = self.resolver.find(soname, dirs)
            if lib is None:
                out.missing.append((requester, soname))
                continue
            if self._excluded(lib.path, lib.realpath):
                out.excluded.append((requester, soname))
                continue
            resolved[soname] = lib.realpath
            if lib.realpath in out.nodes:
                continue
            node = _Node(lib, chain)
            out.nodes[lib.realpath] = node
            child_chain = tuple(self.resolver.expanded_rpath(lib.binary, lib.origin)) + chain
            child_dirs = self.resolver.search_dirs(lib.binary, lib.origin, chain)
            for need in lib.binary.needed:
                queue.append((lib.path, need, lib.binary, child_dirs, child_chain, node.resolved))
        return out

    def blockers(self, policy: Policy, closure: _Closure) -> list[Problem]:
        """What stops the wheel, once the closure is grafted, from satisfying ``policy``."""
        excluded: dict[str, set[str]] = {}
        for requester, soname in closure.excluded:
            excluded.setdefault(requester, set()).add(soname)
        facts = []
        for binary in self.elves:
            gone = set(closure.wheel_resolved.get(binary.path, {})) | set(closure.removed.get(binary.path, ()))
            gone |= set(closure.reached.get(binary.path, {}))
            gone |= excluded.get(binary.path, set())
            outside = self.outside[binary.path]
            # in the wheel once repaired: what it had, what is grafted, what an rpath entry reaches
            bundled = {n for n in binary.needed if n not in outside}
            bundled |= set(closure.wheel_resolved.get(binary.path, {})) | set(closure.reached.get(binary.path, {}))
            still = tuple(n for n in outside if n not in gone)
            facts.append(linux.elf_facts(binary, still, bundled=frozenset(bundled)))
        for node in closure.nodes.values():
            gone = set(node.resolved) | excluded.get(node.lib.path, set())
            still = tuple(n for n in node.lib.binary.needed if not is_dynamic_loader(n) and n not in gone)
            facts.append(linux.elf_facts(node.lib.binary, still, bundled=frozenset(node.resolved)))
        return linux.level_blockers(policy, self.arch, facts)

    # -- the plan --------------------------------------------------------------------

    def plan(self) -> RepairPlan:
        verdicts: list[tuple[Policy, _Closure, list[Problem]]] = []
        for policy in self.levels:
            closure = self.closure(policy)
            verdicts.append((policy, closure, self.blockers(policy, closure)))
        passing = [v for v in verdicts if not v[1].missing and not v[2] and self._provable(v[0])]
        best = passing[0] if passing else None
        requested = self._requested_level()
        if requested is None:
            if best is None:
                raise RepairError(self._failure(verdicts[-1]))
            chosen, tags = best, list(best[0].tags(self.arch))
        else:
            target = next(v for v in verdicts if v[0].name == requested.name)
            if target[1].missing or target[2]:
                raise RepairError(self._failure(target))
            chosen, tags = target, list(target[0].tags(self.arch))
            if best is not None and best[0].version < target[0].version and not self.options.only_plat:
                chosen, tags = best, list(best[0].tags(self.arch)) + tags
                self.warnings.append(f"the wheel also satisfies {best[0].tags(self.arch)[0]}; tagging it too")
        policy, closure, _ = chosen
        for requester, soname in closure.excluded:
            self.warnings.append(f"{soname} (needed by {requester}) excluded: left outside the wheel")
        for member, names in closure.removed.items():
            for name in names:
                self.warnings.append(f"{member} links {name}, which is forbidden; the dependency is removed")
        return self._build(policy, closure, tuple(dict.fromkeys(tags)))

    def _provable(self, policy: Policy) -> bool:
        """Whether a level may be chosen: musl binaries carry no symbol versions, so a level older than the
        wheel's own musllinux claim (or, without one, than the newest level) cannot be shown to hold."""
        if policy.architectures[self.arch].symbol_versions:
            return True
        claims = [
            t.version
            for t in map(parse_platform_tag, self.archive.info.platform_tags)
            if t.family == policy.family and t.version
        ]
        reference = min(claims) if claims else self.levels[-1].version
        return policy.version >= reference

    def _requested_level(self) -> Policy | None:
        """The level asked for (None for auto). The errors name no command-line flag: front ends
        add their own (``option="plat"``); an unknown tag or level is an :class:`OptionError`."""
        plat = self.options.plat
        if plat == "auto":
            return None
        known = ", ".join(p.name for levels in self.policies.families.values() for p in levels)
        tag = parse_platform_tag(plat)
        if tag.family not in ("manylinux", "musllinux") or tag.version is None:
            # "manylinux_2_17" or "manylinux2014" without the arch
            tag = parse_platform_tag(f"{plat}_{self.arch}")
            if tag.family not in ("manylinux", "musllinux") or tag.version is None:
                raise OptionError(
                    f"target tag {plat}: not a manylinux or musllinux tag; known levels: {known}", option="plat"
                )
        if tag.arch != self.arch:
            raise RepairError(f"target tag {plat} is for {tag.arch}, but the wheel's binaries are {self.arch}")
        if tag.family != self.family:
            raise RepairError(f"target tag {plat} is {tag.family}, but the wheel's binaries are {self.family}")
        for policy in self.levels:
            if policy.version == tag.version:
                return policy
        raise OptionError(
            f"target tag {plat}: no policy describes {tag.family} {tag.version[0]}.{tag.version[1]}; "
            f"known levels: {known}",
            option="plat",
        )

    def _failure(self, verdict: tuple[Policy, _Closure, list[Problem]]) -> NoReturn:
        """Raise the error for a level the wheel cannot reach: what blocks it, the most compatible
        tag within reach instead, and the fix.

        It raises rather than returns the text so that the error carries ``option`` and
        ``suggestion`` (the reachable tag): the message names no flag, the CLI adds ``--plat``.
        """
        policy, closure, blockers = verdict
        level = policy.tags(self.arch)[0]
        if closure.missing:
            needed_by: dict[str, list[str]] = {}
            for requester, soname in closure.missing:
                needed_by.setdefault(soname, []).append(requester)
            names = ", ".join(
                f"{soname} (needed by {by[0]}" + (f" and {len(by) - 1} more)" if len(by) > 1 else ")")
                for soname, by in sorted(needed_by.items())
            )
            target = "" if self.options.plat == "auto" else f" to {level}"
            raise RepairError(
                f"cannot repair{target}: required library {names} not found on this host; "
                "add the folder that holds it to the library search path",
                option="lib_paths",
            )
        # One blocker of every binary first (so a grafted library in the way is always named), then the rest.
        firsts: dict[str | None, Problem] = {}
        for blocker in blockers:
            firsts.setdefault(blocker.path, blocker)
        ordered = list(firsts.values()) + [b for b in blockers if b not in firsts.values()]
        shown = ordered[: max(3, len(firsts))]
        more = f" (and {len(ordered) - len(shown)} more)" if len(ordered) > len(shown) else ""
        message = f"cannot repair to {level}: " + "; ".join(b.message for b in shown) + more
        # Newer levels allow more: the first newer one that passes is the most compatible tag within reach.
        reachable = None
        for candidate in self.levels:
            if candidate.version > policy.version and self._provable(candidate):
                candidate_closure = self.closure(candidate)
                if not candidate_closure.missing and not self.blockers(candidate, candidate_closure):
                    reachable = candidate.tags(self.arch)[0]
                    break
        if reachable:
            message += f"; the most compatible tag within reach is {reachable}"
        fix = next((b.fix for b in shown if b.fix), None)
        if fix:
            message += f"; to reach {level}: {fix}"
        raise RepairError(message, option="plat" if reachable else None, suggestion=reachable)

    def _build(self, policy: Policy, closure: _Closure, tags: tuple[str, ...]) -> RepairPlan:
        info = self.archive.info
        dist = self.archive.path.name.split("-", 1)[0]
        libs_dir = f"{dist}.libs"
        if closure.nodes and libs_dir in self.archive.members:
            # Grafting into <dist>.libs/ beside a file of that name gives a wheel no installer can unpack.
            raise UnsafeWheel(
                f"{self.archive.path.name}: the wheel has a file named {libs_dir}, where the grafted "
                "libraries would go; rename it before repairing"
            )
        names: dict[str, str] = {}
        grafts: list[Graft] = []
        taken = set(self.archive.members)
        for real, node in closure.nodes.items():
            digest = file_sha256(real)
            new_name = hashed_name(posixpath.basename(real), digest)
            member = f"{libs_dir}/{new_name}"
            if member in taken:
                raise RepairError(f"cannot graft {node.lib.path}: the wheel already has a different {member}")
            taken.add(member)
            names[real] = new_name
            grafts.append(Graft(real, node.lib.path, member, new_name, digest, node.lib.binary, ElfEdit()))
        final_grafts = []
        for graft in grafts:
            node = closure.nodes[graft.source]
            renames = {soname: names[real] for soname, real in node.resolved.items()}
            edit = ElfEdit(soname=graft.new_name, replace_needed=renames)
            if renames:
                edit.rpath = "$ORIGIN"
            else:
                edit.remove_rpath = True
            renamed = replace(graft.binary, path=graft.member)
            final_grafts.append(replace(graft, edit=edit, binary=renamed))

        patches: list[Patch] = []
        shims: dict[str, str] = {}
        scripts_prefix = f"{info.data_dir}/scripts/"
        reaching: dict[str, list[str]] = {}  # a library of the wheel -> binaries given an rpath entry to it
        for binary in self.elves:
            resolved = closure.wheel_resolved.get(binary.path, {})
            removed = closure.removed.get(binary.path, [])
            reached = closure.reached.get(binary.path, {})
            if not resolved and not removed and not reached:
                inside = self._entries_inside(binary)
                if inside is not None:
                    patches.append(Patch(binary.path, binary.path, inside, self.arch))
                continue
            edit = ElfEdit(remove_needed=list(removed), replace_needed={s: names[r] for s, r in resolved.items()})
            target = binary.path
            if resolved or reached:
                installed = installed_path(binary.path, info.data_dir)
                if installed is None:
                    if not binary.path.startswith(scripts_prefix) or "/" in binary.path[len(scripts_prefix) :]:
                        raise RepairError(
                            f"{binary.path} needs libraries of the wheel but is installed outside site-packages"
                        )
                    installed = target = f"{dist}.scripts/{binary.path[len(scripts_prefix) :]}"
                    shims[binary.path] = target
                folders = [libs_dir] if resolved else []
                for member in sorted(set(reached.values())):
                    folders.append(posixpath.dirname(installed_path(member, info.data_dir) or member))
                    reaching.setdefault(member, []).append(binary.path)
                edit.rpath = self._rpath(binary, installed, folders)
            patches.append(Patch(binary.path, target, edit, self.arch))

        for member, by in reaching.items():
            self.warnings.append(
                f"{member} is in the wheel but out of the loader's way for {by[0]}"
                + (f" and {len(by) - 1} more" if len(by) > 1 else "")
                + ": an rpath entry to its folder added"
            )
        strip_members: tuple[str, ...] = ()
        if self.options.strip != "none":
            strip_members = tuple(b.path for b in self.elves)
        return RepairPlan(
            family=self.family,
            arch=self.arch,
            policy=policy,
            platform_tags=tags,
            libs_dir=libs_dir,
            grafts=tuple(final_grafts),
            patches=tuple(patches),
            shims=shims,
            other_family_tags=() if final_grafts else self.other_family_tags,
            strip_members=strip_members,
            strip=self.options.strip,
            warnings=tuple(self.warnings),
            excluded=tuple(sorted({soname for _, soname in closure.excluded})),
        )

    def _entries_inside(self, binary: Binary) -> ElfEdit | None:
        """An edit that drops the search-path entries leading outside the wheel (an absolute directory of
        the build machine, one relative to the working directory: ``rpath-outside-wheel``), keeping the
        others (every ``$ORIGIN`` one: it may lead to another package, as nvidia-* libraries' do) and their
        kind; None when there are none. Binaries the repair patches anyway get this
        from :meth:`_rpath`."""
        entries = binary.runpath or binary.rpath
        dropped = [e for e in entries if e and not e.startswith(ORIGIN_TOKENS)]  # what the warning names
        keep = list(dict.fromkeys(e for e in entries if e not in dropped))
        if not dropped:
            return None
        kind = "DT_RUNPATH" if binary.runpath else "DT_RPATH"
        self.warnings.append(
            f"{binary.path}: {kind} entries outside the wheel dropped ({', '.join(map(repr, dropped))})"
        )
        if not keep:
            return ElfEdit(remove_rpath=True)
        return ElfEdit(rpath=":".join(keep), as_runpath=bool(binary.runpath))

    def _rpath(self, binary: Binary, installed: str, folders: Sequence[str]) -> str:
        """Existing entries that stay inside the wheel, then ``$ORIGIN/<path to each folder>``."""
        keep: list[str] = []
        for entry in binary.runpath or binary.rpath:
            if expand_origin(entry, installed) is not None:
                keep.append(entry)
        keep += (origin_entry(installed, folder) for folder in folders)
        return ":".join(dict.fromkeys(keep))


def retag(plan: RepairPlan, old: Sequence[str]) -> list[str]:
    """The file name's platform tags, sorted like auditwheel: the new level's, tags of non-Linux families,
    and the other libc family's tags the binaries satisfy when nothing was grafted."""
    kept = [t for t in old if parse_platform_tag(t).family not in ("linux", "manylinux", "musllinux")]
    kept += [t for t in old if t in plan.other_family_tags]
    return sorted(dict.fromkeys([*kept, *plan.platform_tags]))
