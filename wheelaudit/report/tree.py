"""``wheelaudit tree``: what each binary of a wheel loads, inside the wheel and outside it.

What people run auditwheel's ``lddtree`` for, but read from the wheel alone: for ELF the
tree comes from the same loader simulation ``show`` judges by (:mod:`.resolve.elf`), so
it shows what ld.so or musl would load once the wheel is installed, not what the build
host happens to have. Each library appears once per extension's tree, at the shallowest
place something needs it (as ``lddtree`` does). Mach-O and PE binaries get a flat list of
what each needs and where the loader finds it (:mod:`.checks.macos`, :mod:`.checks.windows`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .._typing import TYPE_CHECKING
from ..binary.model import Binary, BinaryFormat, BinaryKind
from ..checks.context import AuditContext
from ..platforms.linux import Policy
from ..platforms.policyset import PolicySet
from ..record import asdict, field, record
from ..resolve.elf import loader_of
from .colour import PLAIN, Style
from .terminal import Segment, format_line

if TYPE_CHECKING:
    from typing import Any

IN_WHEEL, LOADER, ALLOWED, EXTERNAL = "wheel", "loader", "allowed", "external"
#: The colour each kind of dependency is shown in: what blocks a tag stands out.
_ROLES = {EXTERNAL: "error", "not-guaranteed": "warning"}


@record(frozen=True)
class Dependency:
    """One needed library, where it is found and, for a library of the wheel, what it needs in turn."""

    name: str  # as the binary names it (DT_NEEDED, install name, DLL name)
    kind: str  # wheel / loader / allowed / external (ELF); dyld's and Windows' kinds otherwise
    member: str | None = None  # the wheel member the loader maps for it
    via: str | None = None  # the search path entry (or rule) that found it
    needs: tuple[Dependency, ...] = ()


@record(frozen=True)
class BinaryTree:
    """One root binary (an extension, a program, a library nothing in the wheel needs) and its needs."""

    path: str
    format: str
    arch: str
    needs: tuple[Dependency, ...]


@record(frozen=True)
class WheelTree:
    filename: str
    level: str | None  # the level that says which libraries outside the wheel are allowed (ELF)
    binaries: tuple[BinaryTree, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        return data


def wheel_tree(path: str | os.PathLike[str], policies: PolicySet | None = None) -> WheelTree:
    """Read ``path`` (no extraction, no host library) and build the tree of every binary."""
    from ..auditing import analyze_binaries
    from ..platforms.policyset import load_policies
    from ..wheel.archive import WheelArchive

    archive = WheelArchive(path)
    binaries = analyze_binaries(archive).binaries
    ctx = AuditContext.build(archive.info, archive.members, archive.record, binaries)
    policies = policies or load_policies()
    level, trees = _elf_trees(ctx, policies)
    trees += _macho_lists(ctx, policies) + _pe_lists(ctx, policies)
    order = {b.path: i for i, b in enumerate(binaries)}
    return WheelTree(archive.info.filename, level, tuple(sorted(trees, key=lambda t: order.get(t.path, 0))))


def _elf_trees(ctx: AuditContext, policies: PolicySet) -> tuple[str | None, list[BinaryTree]]:
    from ..checks import linux
    from ..resolve.elf import is_dynamic_loader

    decision = linux.decide(ctx, policies)
    if decision is None:
        return None, []
    arch = decision.arch
    levels = [p for p in policies.levels(decision.family) if p.supports(arch)]
    level: Policy | None = decision.best or (levels[-1] if levels else None)  # newest: the most it could allow
    linkage = linux.wheel_linkage(ctx, arch, loader_of(decision.family))
    elves = {
        b.path: b
        for b in ctx.binaries
        if b.format is BinaryFormat.ELF and b.kind is not BinaryKind.OTHER and b.arch == arch
    }

    def needs_of(binary: Binary, chain: list[str], seen: set[str]) -> tuple[Dependency, ...]:
        found = linkage.found.get(binary.path, {})
        claimed = []
        for name in binary.needed:
            key = found.get(name, name)
            if key in seen:
                continue  # shown already, at a shallower place of this tree
            seen.add(key)
            claimed.append(name)
        out = []
        for name in claimed:
            member = found.get(name)
            if member is not None:
                child = elves.get(member)
                below = needs_of(child, [*chain, member], seen) if child is not None and member not in chain else ()
                how = linkage.via.get(chain[0], {}).get(binary.path, {}).get(name)  # in this root's process
                out.append(Dependency(name, IN_WHEEL, member, how, below))
            elif is_dynamic_loader(name):
                out.append(Dependency(name, LOADER))
            elif level is not None and level.allows_library(arch, name):
                out.append(Dependency(name, ALLOWED))
            else:
                out.append(Dependency(name, EXTERNAL))
        return tuple(out)

    needed_inside = {m for names in linkage.found.values() for m in names.values()}
    roots = [b for b in elves.values() if b.kind in (BinaryKind.EXTENSION, BinaryKind.EXECUTABLE)]
    roots += [b for b in elves.values() if b.kind is BinaryKind.LIBRARY and b.path not in needed_inside]
    trees = [BinaryTree(b.path, b.format.value, b.arch, needs_of(b, [b.path], {b.path})) for b in roots]
    return (level.name if level else None), trees


def _macho_lists(ctx: AuditContext, policies: PolicySet) -> list[BinaryTree]:
    machos = [b for b in ctx.binaries if b.format is BinaryFormat.MACHO]
    if not machos:
        return []
    from ..resolve.macho import resolve_wheel

    mac, ios = policies.macos, policies.ios
    deps = resolve_wheel(
        machos, ctx.installed_members, ctx.installed_paths, lambda p: mac.is_system(p) or ios.is_system(p)
    )
    out = []
    for binary in machos:
        mine = [d for d in deps if d.binary is binary]
        needs = tuple(
            Dependency(d.resolution.install_name, d.resolution.kind + (", weak" if d.weak else ""), d.resolution.member)
            for d in mine
        )
        out.append(BinaryTree(binary.path, binary.format.value, binary.arch, needs))
    return out


def _pe_lists(ctx: AuditContext, policies: PolicySet) -> list[BinaryTree]:
    pes = [b for b in ctx.binaries if b.format is BinaryFormat.PE]
    if not pes:
        return []
    from ..resolve.pe import resolve_dlls

    policy = policies.windows
    out = []
    for arch in dict.fromkeys(b.arch for b in pes):
        ours = [b for b in pes if b.arch == arch]
        deps = resolve_dlls(ours, ctx.installed_members, ctx.installed_paths, policy, arch, ctx.info.file_tags)
        for binary in ours:
            needs = tuple(
                Dependency(
                    d.dll,
                    d.kind + (", delay-loaded" if d.delayed else ""),
                    d.hit.installed if d.hit else None,
                    d.hit.how if d.hit else (d.why or None),
                )
                for d in deps
                if d.binary is binary
            )
            out.append(BinaryTree(binary.path, binary.format.value, binary.arch, needs))
    return out


def render(tree: WheelTree, style: Style = PLAIN) -> str:
    """The tree as indented lines: each level of loading four spaces deeper."""
    lines = [format_line([(tree.filename, "heading")], style, 2)]
    if tree.level:
        lines.append(format_line([(f"  (libraries outside the wheel judged by {tree.level})", None)], style, 4))
    if not tree.binaries:
        lines.append(format_line([("  no binaries", None)], style))
    for binary in tree.binaries:
        lines.append(format_line([(f"  {binary.path} ({binary.format}, {binary.arch})", None)], style, 6))
        if not binary.needs:
            lines.append("    (needs no shared library: statically linked)")
        _render_needs(binary.needs, 2, lines, style)
    return "\n".join(lines)


def _render_needs(needs: Sequence[Dependency], depth: int, lines: list[str], style: Style) -> None:
    for dep in needs:
        indent = "  " * depth
        parts: list[Segment] = [(f"{indent}{dep.name}", None)]
        if dep.member is not None:
            parts.append((f" => {dep.member}", None))
            if dep.via:
                parts.append((f" ({dep.via})", None))
        else:
            parts.append((" ", None))
            parts.append((_describe(dep), _ROLES.get(dep.kind.split(",")[0])))
            if dep.via:
                parts.append((f": {dep.via}", None))
        lines.append(format_line(parts, style, len(indent) + 4))
        _render_needs(dep.needs, depth + 1, lines, style)


def _describe(dep: Dependency) -> str:
    if dep.kind == LOADER:
        return "[dynamic loader]"
    if dep.kind == ALLOWED:
        return "[system, allowed]"
    if dep.kind == EXTERNAL:
        return "[external: not in the wheel, not allowed]"
    return f"[{dep.kind}]"
