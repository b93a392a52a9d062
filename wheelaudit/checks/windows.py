"""Windows platform rules: machine type, and DLL imports against ``policies/windows.json``.

Each imported or delay-loaded DLL of each PE file is, in this order: a dependency the
policy says to ignore, an API set, the Python DLL (which one is the Python-ABI check's
business), in the wheel (case-insensitive, anywhere), a system DLL of the architecture,
a DLL the interpreter ships (vcruntime140 and friends: only for code loaded into Python,
and only when every interpreter the wheel's tags admit ships it), or external. This
mirrors ``delvewheel show --ignore-existing`` (see docs/macos-windows.md for the few
deliberate differences).

Verdicts: one per Windows tag the wheel carries; satisfied when every binary has the tag's
machine type and no DLL is external.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..binary.model import Binary, BinaryFormat, BinaryKind
from ..platforms.policies import Version, WindowsPolicy, windows_policy
from ..platforms.tags import parse_platform_tag
from ..report.model import PolicyVerdict, Problem, Severity
from ..resolve.pe import DllHit, dll_index, find_in_wheel
from .context import AuditContext, Decision, installed_path

IGNORED, API_SET, PYTHON, IN_WHEEL, SYSTEM, INTERPRETER, NOT_GUARANTEED, EXTERNAL = (
    "ignored",
    "api-set",
    "python",
    "wheel",
    "system",
    "interpreter",
    "not-guaranteed",
    "external",
)

FIX_EXTERNAL = (
    "graft it into the wheel with `wheelaudit repair` or `delvewheel repair --add-path <dir>`, "
    "or link it statically (for Rust -sys crates usually a `bundled`/`vendored`/`static` feature)"
)
FIX_CRT = (
    "link the C runtime statically (`-C target-feature=+crt-static` in RUSTFLAGS or .cargo/config.toml), "
    "or graft the DLL with `delvewheel repair`"
)
_INTERP = re.compile(r"^(cp|pp)(\d)(\d+)$")


@dataclass(frozen=True)
class DllDependency:
    """One DLL a binary imports and where the Windows loader would find it."""

    binary: Binary
    dll: str  # as imported
    kind: str  # IGNORED / API_SET / PYTHON / IN_WHEEL / SYSTEM / INTERPRETER / NOT_GUARANTEED / EXTERNAL
    delayed: bool = False
    hit: DllHit | None = None
    why: str = ""  # for NOT_GUARANTEED: why the interpreter's copy cannot be relied on


@dataclass(frozen=True)
class WindowsDecision(Decision):
    """The Windows verdict, with the architecture and where the loader finds each DLL."""

    arch: str | None = None
    dependencies: tuple[DllDependency, ...] = ()


@dataclass(frozen=True)
class _Interpreter:
    """The Python a Windows wheel's tags name, to match its pythonXY.dll imports."""

    implementation: str | None  # "cp" / "pp"; None when the tag names no specific one (py3)
    version: Version | None
    debug: bool
    spelled: str  # "cp38-abi3"


def _interpreters(ctx: AuditContext, policy: WindowsPolicy, arch: str) -> list[_Interpreter]:
    out = []
    tags = [t.split("-") for t in ctx.info.file_tags]
    mine = [t for t in tags if policy.tags.get(t[2]) == arch]
    # A wheel tagged for another machine still names its interpreters; the arch is reported apart.
    for interp, abi, _ in mine or [t for t in tags if t[2] in policy.tags]:
        m = _INTERP.match(interp)
        debug = abi.endswith("d") and abi.startswith("cp")
        if m:
            out.append(_Interpreter(m.group(1), (int(m.group(2)), int(m.group(3))), debug, f"{interp}-{abi}"))
        else:
            out.append(_Interpreter(None, None, debug, f"{interp}-{abi}"))
    return out


def _interpreter_verdict(
    dll: str, binary: Binary, interps: list[_Interpreter], policy: WindowsPolicy, arch: str
) -> str | None:
    """None when every interpreter the wheel admits ships ``dll``; else why not."""
    rules = policy.interpreter_rules(dll)
    if binary.kind is BinaryKind.EXECUTABLE:
        return "programs run outside the Python process and do not get the interpreter's copy"
    if not interps:
        return f"the wheel's tags name no interpreter for {arch}"
    for interp in interps:
        ok = False
        for rule in rules:
            since = rule.since.get(arch)
            if (
                since is not None
                and rule.implementation == interp.implementation
                and rule.debug == interp.debug
                and interp.version is not None
                and interp.version >= since
            ):
                ok = True
        if not ok:
            shipped = sorted(
                f"{r.implementation}{r.since[arch][0]}.{r.since[arch][1]}+" for r in rules if arch in r.since
            )
            return (
                f"the wheel's tag {interp.spelled} admits interpreters that do not ship it "
                f"(shipped on {arch} by {', '.join(shipped) or 'no interpreter'})"
            )
    return None


def classify(ctx: AuditContext, pes: list[Binary], policy: WindowsPolicy, arch: str) -> list[DllDependency]:
    index = dll_index(ctx.installed_members)
    interps = _interpreters(ctx, policy, arch)
    out: list[DllDependency] = []
    for b in pes:
        importer = installed_path(b.path, ctx.info.data_dir) or b.path
        own = (b.own_name or "").lower()
        base = b.path.rsplit("/", 1)[-1].lower()
        ignored = policy.ignored_dependencies.get(own, frozenset()) | policy.ignored_dependencies.get(base, frozenset())
        for dll, delayed in [(n, False) for n in b.needed] + [(n, True) for n in b.weak_needed]:
            lower = dll.lower()
            if lower in ignored:
                out.append(DllDependency(b, dll, IGNORED, delayed))
            elif policy.is_api_set(lower):
                out.append(DllDependency(b, dll, API_SET, delayed))
            elif policy.is_python(lower):
                out.append(DllDependency(b, dll, PYTHON, delayed))
            elif (hit := find_in_wheel(lower, importer, index, policy.library_dir_suffix)) is not None:
                out.append(DllDependency(b, dll, IN_WHEEL, delayed, hit))
            elif policy.is_system(arch, lower):
                out.append(DllDependency(b, dll, SYSTEM, delayed))
            elif policy.interpreter_rules(lower):
                why = _interpreter_verdict(lower, b, interps, policy, arch)
                out.append(DllDependency(b, dll, NOT_GUARANTEED if why else INTERPRETER, delayed, why=why or ""))
            else:
                out.append(DllDependency(b, dll, EXTERNAL, delayed))
    return out


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


def decide(ctx: AuditContext) -> WindowsDecision | None:
    """The Windows verdict, or None when the wheel holds no PE binary."""
    pes = [b for b in ctx.binaries if b.format is BinaryFormat.PE and b.kind is not BinaryKind.OTHER]
    if not pes:
        return None
    policy = windows_policy()
    claims = [c for c in (parse_platform_tag(t) for t in ctx.info.platform_tags) if c.family == "win"]
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

    deps = classify(ctx, [b for b in pes if b.arch == arch], policy, arch)
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
