"""abi3 audit: every Python C-API symbol an extension imports must be stable at the wheel's floor version.

Why only imports: a wheel tagged ``cp38-abi3`` promises to load on 3.8 and every
later CPython; what can break that is a symbol the binary needs from the
interpreter. Symbols a binary (or another binary of the same wheel) defines
itself are its own business, whatever their prefix — the false positive that
made abi3audit flag psutil and astropy. Versions are "stable since", as in
CPython's ``stable_abi.toml``.
"""

from __future__ import annotations

import re

from ..binary.model import Binary, BinaryFormat, BinaryKind, ImportedSymbol
from ..record import record
from ..report.model import Problem, Severity
from .context import AuditContext, installed_path
from .extensions import INIT_PREFIXES, WheelAbi
from .stable_abi import StableAbi, Version, format_version

#: Import libraries/DLLs that provide the C API (all platforms).
PYTHON_LIBRARY = re.compile(
    r"(^|/)(python3\d*t?(_d)?\.dll|libpython3(\.\d+)?[dmut]*\.(so(\.[\d.]+)?|dylib)|Python(\.framework/.*)?)$",
    re.IGNORECASE,
)


@record(frozen=True)
class Violation:
    """A Python symbol an abi3 binary may not use, with the version it joined the stable ABI."""

    symbol: str
    since: Version | None  # None: never part of the stable ABI


def python_imports(binary: Binary, defined_in_wheel: frozenset[str]) -> list[ImportedSymbol]:
    """The imported symbols that come from the Python interpreter.

    PE names the DLL of every import, so only imports from a Python DLL count. ELF and
    Mach-O (flat or dynamic-lookup binding) usually do not say, so a ``Py``/``_Py``
    name that is not defined anywhere in the wheel is taken to be the interpreter's;
    a symbol bound to some other named library is not.
    """
    out: list[ImportedSymbol] = []
    for sym in binary.imported_symbols:
        name = sym.name
        if name.startswith(INIT_PREFIXES) or name in defined_in_wheel:
            continue
        if binary.format is BinaryFormat.PE:
            if sym.library and PYTHON_LIBRARY.search(sym.library):
                out.append(sym)
            continue
        if not name.startswith(("Py", "_Py")):
            continue
        if sym.library and not PYTHON_LIBRARY.search(sym.library):
            continue
        out.append(sym)
    return out


def violations(imports: list[ImportedSymbol], floor: Version | None, table: StableAbi) -> list[Violation]:
    """Imported symbols outside the stable ABI of ``floor`` (any stable version when the floor is unknown)."""
    found: dict[str, Violation] = {}
    for sym in imports:
        since = table.since(sym.name)
        if since is None or (floor is not None and since > floor):
            found.setdefault(sym.name, Violation(sym.name, since))
    return sorted(found.values(), key=lambda v: (v.since is not None, v.since or (0, 0), v.symbol))


def audited_binaries(ctx: AuditContext) -> list[Binary]:
    """Binaries the interpreter loads: extensions and libraries in site-packages, not programs or scripts."""
    loaded = (BinaryKind.EXTENSION, BinaryKind.LIBRARY)
    return [b for b in ctx.binaries if b.kind in loaded and installed_path(b.path, ctx.info.data_dir) is not None]


def fix_for(floor: Version | None, needed: Version | None) -> str:
    if needed is None:
        return (
            "these functions are outside the limited API: use a limited-API alternative, or build version-specific "
            "wheels (drop PyO3's `abi3` features / setuptools-rust `py_limited_api`)"
        )
    minor = needed[1]
    return (
        f"raise the floor to what the code needs: PyO3 feature `abi3-py3{minor}` (wheel tag cp3{minor}-abi3; maturin "
        f"picks it up), setuptools-rust `RustExtension(..., py_limited_api=True)` with `py_limited_api = cp3{minor}` "
        f"in setup.cfg's [bdist_wheel]; or avoid the symbol(s) below 3.{minor}"
    )


def check(ctx: AuditContext, abi: WheelAbi, table: StableAbi | None) -> list[Problem]:
    """abi3/abi3t symbol problems for every loaded binary of a stable-ABI wheel."""
    if not (abi.is_abi3 or abi.is_abi3t):
        return []
    targets = audited_binaries(ctx)
    if table is None:
        if not targets:
            return []
        return [
            Problem(
                "abi3-audit-unavailable",
                Severity.INFO,
                "the wheel is tagged abi3 but the stable-ABI data (the `abi3info` package, Python 3.10+) is not "
                "installed; its symbols were not checked",
                fix="install wheelaudit on Python 3.10 or newer (it then depends on abi3info)",
            )
        ]
    floor = abi.abi3_floor if abi.is_abi3 else abi.abi3t_floor
    defined = frozenset(name for b in ctx.binaries for name in b.defined_python_symbols)
    problems: list[Problem] = []
    seen: set[str] = set()
    for binary in targets:
        if binary.path in seen:
            continue  # fat Mach-O: one report per file; slices share their symbols in practice
        bad = violations(python_imports(binary, defined), floor, table)
        for other in ctx.binaries:
            if other.path == binary.path and other is not binary:
                bad = _merge(bad, violations(python_imports(other, defined), floor, table))
        seen.add(binary.path)
        problems += _problems_for(binary, bad, floor)
    return problems


def _merge(a: list[Violation], b: list[Violation]) -> list[Violation]:
    names = {v.symbol for v in a}
    return a + [v for v in b if v.symbol not in names]


def _problems_for(binary: Binary, bad: list[Violation], floor: Version | None) -> list[Problem]:
    problems: list[Problem] = []
    never = [v.symbol for v in bad if v.since is None]
    if never:
        problems.append(
            Problem(
                "abi3-symbol-not-stable",
                Severity.ERROR,
                f"{binary.path} is tagged abi3 but imports {len(never)} symbol(s) that were never in the stable ABI: "
                f"{', '.join(never[:8])}{' ...' if len(never) > 8 else ''}",
                path=binary.path,
                symbols=tuple(never),
                fix=fix_for(floor, None),
            )
        )
    newer = [v for v in bad if v.since is not None]
    if newer and floor is not None:
        needed = max(v.since for v in newer if v.since is not None)
        listed = ", ".join(f"{v.symbol} (stable since {format_version(v.since)})" for v in newer[:8])
        problems.append(
            Problem(
                "abi3-symbol-too-new",
                Severity.ERROR,
                f"{binary.path} is tagged for the Python {format_version(floor)} stable ABI but imports "
                f"{len(newer)} symbol(s) stable only from a later version: {listed}"
                f"{' ...' if len(newer) > 8 else ''}; it needs Python {format_version(needed)}",
                path=binary.path,
                symbols=tuple(v.symbol for v in newer),
                fix=fix_for(floor, needed),
            )
        )
    return problems
