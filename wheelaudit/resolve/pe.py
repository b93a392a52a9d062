"""Where Windows would find a DLL a PE file imports, as far as the wheel itself can tell.

Python 3.8+ loads extension modules with ``LOAD_LIBRARY_SEARCH_DEFAULT_DIRS |
LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR``: the importer's own directory, the application
directory, System32 and every directory added with ``os.add_dll_directory``. PATH is not
searched. A wheel therefore ships DLLs next to the modules that import them, or in a
directory its ``__init__.py`` adds (delvewheel's ``<dist>.libs/``). DLL names are
case-insensitive. Any DLL found in the wheel counts as internal; how the loader reaches
it is recorded, so the report can say when that relies on the package's own code.

Modelled: the importer's directory, a ``<dist>.libs`` directory (delvewheel's layout, added
by the package), System32 (the policy's system DLLs per architecture), API sets, the DLLs
the interpreter has loaded before any extension (pythonXY.dll, vcruntime140.dll per
interpreter version). Not modelled: PATH, the current directory, KnownDLLs beyond the
policy list, side-by-side manifests: none of them is something a wheel can count on.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..binary.model import Binary, BinaryKind
from ..platforms.loader import Version
from ..platforms.windows import WindowsPolicy

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

_INTERP = re.compile(r"^(cp|pp)(\d)(\d+)$")

BESIDE = "beside the importer"
LIBS_DIR = "in a {dir} directory, which the package adds with os.add_dll_directory (delvewheel layout)"
ELSEWHERE = "elsewhere in the wheel ({dir}); found only if the package adds that directory itself"


@dataclass(frozen=True)
class DllHit:
    """A wheel member that provides an imported DLL, and how the loader would reach it."""

    installed: str  # installed path (relative to site-packages)
    how: str
    beside: bool


def dll_index(installed: Mapping[str, str]) -> dict[str, list[str]]:
    """Lower-case basename -> installed paths of every ``.dll``/``.pyd`` in the wheel."""
    out: dict[str, list[str]] = {}
    for path in installed:
        lower = path.lower()
        if lower.endswith((".dll", ".pyd")):
            out.setdefault(posixpath.basename(lower), []).append(path)
    return out


def find_in_wheel(dll: str, importer: str, index: Mapping[str, list[str]], libs_suffix: str = ".libs") -> DllHit | None:
    """The copy of ``dll`` the importer (installed path) would load, best placed first."""
    paths = index.get(dll.lower())
    if not paths:
        return None
    here = posixpath.dirname(importer)
    for path in paths:
        if posixpath.dirname(path) == here:
            return DllHit(path, BESIDE, True)
    for path in paths:
        directory = posixpath.dirname(path)
        if directory.endswith(libs_suffix) and "/" not in directory:
            return DllHit(path, LIBS_DIR.format(dir=directory + "/"), False)
    path = sorted(paths)[0]
    return DllHit(path, ELSEWHERE.format(dir=posixpath.dirname(path) + "/" if "/" in path else "top level"), False)


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
class Interpreter:
    """The Python a Windows wheel's tags name, to match its pythonXY.dll imports."""

    implementation: str | None  # "cp" / "pp"; None when the tag names no specific one (py3)
    version: Version | None
    debug: bool
    spelled: str  # "cp38-abi3"


def interpreters_of(wheel_tags: Sequence[str], policy: WindowsPolicy, arch: str) -> list[Interpreter]:
    out = []
    tags = [t.split("-") for t in wheel_tags]
    mine = [t for t in tags if policy.tags.get(t[2]) == arch]
    # A wheel tagged for another machine still names its interpreters; the arch is reported apart.
    for interp, abi, _ in mine or [t for t in tags if t[2] in policy.tags]:
        m = _INTERP.match(interp)
        debug = abi.endswith("d") and abi.startswith("cp")
        if m:
            out.append(Interpreter(m.group(1), (int(m.group(2)), int(m.group(3))), debug, f"{interp}-{abi}"))
        else:
            out.append(Interpreter(None, None, debug, f"{interp}-{abi}"))
    return out


def interpreter_verdict(
    dll: str, binary: Binary, interps: list[Interpreter], policy: WindowsPolicy, arch: str
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


def resolve_dlls(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    policy: WindowsPolicy,
    arch: str,
    wheel_tags: Sequence[str],
) -> list[DllDependency]:
    """Where every DLL that ``binaries`` (PE files of one ``arch``) import or delay-load comes from.

    ``installed`` maps installed path -> member, ``installed_paths`` member -> installed path
    (the importer's directory); ``wheel_tags`` are the wheel's python-abi-platform tags, which
    say which interpreters load it (for the DLLs only some interpreters ship). In this order, a
    DLL is: ignored (the policy's ``ignored_dependencies``), an API set, the Python DLL, in the
    wheel (case-insensitive; see :func:`find_in_wheel`), a system DLL of ``arch``, a DLL the
    interpreter ships (:data:`INTERPRETER`, or :data:`NOT_GUARANTEED` with the reason), or external.
    The result is in binary order, then import order (delay-loaded DLLs last).
    """
    index = dll_index(installed)
    interps = interpreters_of(wheel_tags, policy, arch)
    out: list[DllDependency] = []
    for b in binaries:
        importer = installed_paths.get(b.path, b.path)
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
                why = interpreter_verdict(lower, b, interps, policy, arch)
                out.append(DllDependency(b, dll, NOT_GUARANTEED if why else INTERPRETER, delayed, why=why or ""))
            else:
                out.append(DllDependency(b, dll, EXTERNAL, delayed))
    return out
