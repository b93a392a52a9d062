"""Windows platform rules: machine type, and DLL imports against ``policies/windows.json``.

Where each imported or delay-loaded DLL comes from is :func:`~wheelaudit.resolve.pe.resolve_dlls`'s
business: a dependency the policy says to ignore, an API set, the Python DLL (which one is
the Python-ABI check's business), in the wheel, a system DLL of the architecture, a DLL the
interpreter ships (only for code loaded into Python, and only when every interpreter the
wheel's tags admit ships it), or external. This module judges: external DLLs block the tag,
and so on. It mirrors ``delvewheel show --ignore-existing`` (see docs/macos-windows.md for
the few deliberate differences).

Verdicts: one per Windows tag the wheel carries; satisfied when every binary has the tag's
machine type and no DLL is external.
"""

from __future__ import annotations

from ..binary.model import BinaryFormat
from ..platforms.policyset import PolicySet, load_policies
from ..platforms.windows import WindowsPolicy
from ..record import record
from ..report.model import PolicyVerdict, Problem, Severity
from ..resolve.pe import EXTERNAL, IN_WHEEL, NOT_GUARANTEED, DllDependency, resolve_dlls
from .context import AuditContext, Decision

FIX_EXTERNAL = (
    "graft it into the wheel with `wheelaudit repair` or `delvewheel repair --add-path <dir>`, "
    "or link it statically (for Rust -sys crates usually a `bundled`/`vendored`/`static` feature)"
)
FIX_CRT = (
    "link the C runtime statically (`-C target-feature=+crt-static` in RUSTFLAGS or .cargo/config.toml), "
    "or graft the DLL with `delvewheel repair`"
)


@record(frozen=True)
class WindowsDecision(Decision):
    """The Windows verdict, with the architecture and where the loader finds each DLL."""

    arch: str | None = None
    dependencies: tuple[DllDependency, ...] = ()


def _dependency_problems(
    deps: list[DllDependency], policy: WindowsPolicy, arch: str
) -> tuple[list[Problem], list[Problem]]:
    """(errors that block the tag, other findings)."""
    blockers: list[Problem] = []
    notes: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for dep in deps:
        key = (dep.binary.path, dep.dll.lower())
        if key in seen:
            continue
        seen.add(key)
        path = dep.binary.path
        loaded = "delay-loads" if dep.delayed else "imports"
        if dep.kind == EXTERNAL:
            crt = bool(policy.vc_redist.match(dep.dll.lower()))
            blockers.append(
                Problem(
                    "external-library",
                    Severity.ERROR,
                    f"{path} {loaded} {dep.dll}, which is neither in the wheel nor a Windows system DLL on {arch}"
                    + (" (a Visual C++ runtime DLL that Python does not ship)" if crt else ""),
                    path=path,
                    library=dep.dll,
                    fix=FIX_CRT if crt else FIX_EXTERNAL,
                )
            )
        elif dep.kind == NOT_GUARANTEED:
            notes.append(
                Problem(
                    "vc-runtime-not-guaranteed",
                    Severity.WARNING,
                    f"{path} {loaded} {dep.dll}, which Python ships, but {dep.why}; it loads only where the "
                    "Visual C++ Redistributable is installed",
                    path=path,
                    library=dep.dll,
                    fix=FIX_CRT + (", or raise the wheel's minimum Python" if "admits" in dep.why else ""),
                )
            )
        elif dep.kind == IN_WHEEL and dep.hit is not None and not dep.hit.beside and "delvewheel" not in dep.hit.how:
            notes.append(
                Problem(
                    "dll-outside-search-path",
                    Severity.INFO,
                    f"{path} {loaded} {dep.dll}, which the wheel has {dep.hit.how}",
                    path=path,
                    library=dep.dll,
                    fix="ship the DLL next to the module that imports it, or call os.add_dll_directory in __init__.py",
                )
            )
    return blockers, notes


def decide(ctx: AuditContext, policies: PolicySet | None = None) -> WindowsDecision | None:
    """The Windows verdict, or None when the wheel holds no PE binary."""
    pes = ctx.loadable(BinaryFormat.PE)
    if not pes:
        return None
    policy = (policies or load_policies()).windows
    claims = ctx.claims("win")
    counts: dict[str, int] = {}
    for b in pes:
        counts[b.arch] = counts.get(b.arch, 0) + 1
    claimed_arches = [policy.tags[c.tag] for c in claims if c.tag in policy.tags]
    if len(counts) == 1:
        arch = next(iter(counts))
    elif claimed_arches and claimed_arches[0] in counts:
        arch = claimed_arches[0]
    else:
        arch = max(counts, key=lambda a: counts[a])
    best = policy.tag_for(arch)

    ours = [b for b in pes if b.arch == arch]
    deps = resolve_dlls(ours, ctx.installed_members, ctx.installed_paths, policy, arch, ctx.info.file_tags)
    dep_blockers, notes = _dependency_problems(deps, policy, arch)
    external = sorted({d.dll.lower() for d in deps if d.kind in (EXTERNAL, NOT_GUARANTEED)})

    problems: list[Problem] = []
    verdicts: list[PolicyVerdict] = []
    for claim in claims:
        claim_arch = policy.tags.get(claim.tag)
        blockers: list[Problem] = []
        for b in pes:
            if b.arch != claim_arch:
                blockers.append(
                    Problem(
                        "binary-arch-mismatch",
                        Severity.ERROR,
                        f"{b.path} is built for {b.arch}, the wheel is tagged {claim.tag}"
                        + (f" ({claim_arch})" if claim_arch else ""),
                        path=b.path,
                        fix="build every binary for the wheel's architecture (check --target), or retag the wheel"
                        + (f" as {best}" if best and len(counts) == 1 else ""),
                    )
                )
        blockers += dep_blockers
        verdicts.append(PolicyVerdict(claim.tag, (claim.tag,), not blockers, tuple(blockers)))
    if not claims:
        problems += dep_blockers
    for verdict in verdicts:
        for blocker in verdict.blockers:
            if blocker not in problems:
                problems.append(blocker)
    problems += notes
    return WindowsDecision(
        platform_tag=best,
        tags=(best,) if best else (),
        verdicts=tuple(verdicts),
        external_libraries=tuple(external),
        problems=tuple(problems),
        arch=arch,
        dependencies=tuple(deps),
    )
