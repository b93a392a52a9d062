"""Where Windows would find a DLL a PE file imports, as far as the wheel itself can tell.

Python 3.8+ loads extension modules with ``LOAD_LIBRARY_SEARCH_DEFAULT_DIRS |
LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR``: the importer's own directory, the application
directory, System32 and every directory added with ``os.add_dll_directory``. PATH is not
searched. A wheel therefore ships DLLs next to the modules that import them, or in a
directory its ``__init__.py`` adds (delvewheel's ``<dist>.libs/``). DLL names are
case-insensitive. Any DLL found in the wheel counts as internal; how the loader reaches
it is recorded, so the report can say when that relies on the package's own code.

Modelled: the importer's directory, a ``<dist>.libs`` directory (delvewheel's layout, added
by the package; not for a program, which runs in a process of its own), System32 (the
policy's system DLLs per architecture), API sets, the DLLs the interpreter has loaded before
any extension (pythonXY.dll, vcruntime140.dll per interpreter version). Not modelled: PATH,
the current directory, KnownDLLs beyond the policy list, side-by-side manifests: none of them
is something a wheel can count on.

For repair, :func:`resolve_graft_closure` walks the same classification transitively and looks
for each external DLL by name in the library folders (:class:`DllFinder`); what it finds is
grafted (:mod:`wheelaudit.repairing.windows.repair`).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence

from ..binary.magic import is_pe
from ..binary.model import Binary, BinaryKind
from ..binary.pe import parse_pe
from ..errors import MalformedBinary
from ..platforms.loader import Version
from ..platforms.windows import WindowsPolicy
from ..record import field, record, replace

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
PROGRAM = (
    "in {dir}, a folder a program does not search: it runs in a process of its own, where the package's "
    "os.add_dll_directory does not apply; found only if that directory is on PATH"
)


@record(frozen=True)
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


@record(frozen=True)
class DllDependency:
    """One DLL a binary imports and where the Windows loader would find it."""

    binary: Binary
    dll: str  # as imported
    kind: str  # IGNORED / API_SET / PYTHON / IN_WHEEL / SYSTEM / INTERPRETER / NOT_GUARANTEED / EXTERNAL
    delayed: bool = False
    hit: DllHit | None = None
    why: str = ""  # for NOT_GUARANTEED: why the interpreter's copy cannot be relied on


@record(frozen=True)
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
        out.extend(classify_imports(b, installed_paths.get(b.path, b.path), index, policy, arch, interps))
    return out


def classify_imports(
    b: Binary,
    importer: str,
    index: Mapping[str, list[str]],
    policy: WindowsPolicy,
    arch: str,
    interps: list[Interpreter],
) -> list[DllDependency]:
    """Where each DLL one PE imports comes from (:func:`resolve_dlls`'s order), ``importer`` its installed path."""
    own = (b.own_name or "").lower()
    base = b.path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    ignored = policy.ignored_dependencies.get(own, frozenset()) | policy.ignored_dependencies.get(base, frozenset())
    out: list[DllDependency] = []
    for dll, delayed in [(n, False) for n in b.needed] + [(n, True) for n in b.weak_needed]:
        lower = dll.lower()
        if lower in ignored:
            out.append(DllDependency(b, dll, IGNORED, delayed))
        elif policy.is_api_set(lower):
            out.append(DllDependency(b, dll, API_SET, delayed))
        elif policy.is_python(lower):
            out.append(DllDependency(b, dll, PYTHON, delayed))
        elif (hit := find_in_wheel(lower, importer, index, policy.library_dir_suffix)) is not None:
            if b.kind is BinaryKind.EXECUTABLE and not hit.beside:
                where = posixpath.dirname(hit.installed)
                hit = replace(hit, how=PROGRAM.format(dir=f"{where}/" if where else "site-packages"))
            out.append(DllDependency(b, dll, IN_WHEEL, delayed, hit))
        elif policy.is_system(arch, lower):
            out.append(DllDependency(b, dll, SYSTEM, delayed))
        elif policy.interpreter_rules(lower):
            why = interpreter_verdict(lower, b, interps, policy, arch)
            out.append(DllDependency(b, dll, NOT_GUARANTEED if why else INTERPRETER, delayed, why=why or ""))
        else:
            out.append(DllDependency(b, dll, EXTERNAL, delayed))
    return out


# -- repair: the DLLs to graft, found outside the wheel ----------------------------------------

GRAFT = "graft"  # repair only: not in the wheel nor the system, found in a library folder (copied in)


@record(frozen=True)
class FoundDll:
    """A DLL from outside the wheel, found in a library folder, of the wheel's machine."""

    name: str  # the file name as it is on disk (the name it is grafted under, before mangling)
    file: str  # its real path
    binary: Binary  # parsed; ``path`` is ``file``


class DllFinder:
    """Finds DLLs by name in library folders (``--lib-path``), as the Windows loader matches names.

    Names match case-insensitively; a file counts only when it is a PE of the wheel's machine
    (``arch``, the policy's spelling: x86, amd64, arm64); others of the name are remembered for
    the error message and the search goes on, as delvewheel's does. Each folder is listed once
    and each file parsed once per run. The host's PATH is never searched: off Windows it holds
    no DLLs, and on Windows what it holds is an accident of the build machine.
    """

    def __init__(self, lib_paths: Sequence[str], arch: str) -> None:
        self.lib_paths = tuple(lib_paths)
        self.arch = arch
        self._listing: dict[str, dict[str, str]] = {}
        self._read: dict[str, Binary | str] = {}  # real path -> binary, or why it does not count

    def _names(self, directory: str) -> dict[str, str]:
        if directory not in self._listing:
            try:
                entries = sorted(os.listdir(directory))
            except OSError:
                entries = []
            self._listing[directory] = {}
            for entry in entries:  # sorted: of two spellings of one name, the same one every run
                self._listing[directory].setdefault(entry.lower(), entry)
        return self._listing[directory]

    def find(self, dll: str) -> tuple[FoundDll | None, tuple[str, ...]]:
        """The first file named ``dll`` (any case) of the wheel's machine, and the files passed over (why)."""
        passed: list[str] = []
        for directory in self.lib_paths:
            entry = self._names(directory).get(dll.lower())
            if entry is None:
                continue
            path = os.path.join(directory, entry)
            read = self._parse(path)
            if isinstance(read, str):
                passed.append(f"{path} ({read})")
                continue
            return FoundDll(entry, os.path.realpath(path), read), tuple(passed)
        return None, tuple(passed)

    def _parse(self, path: str) -> Binary | str:
        real = os.path.realpath(path)
        if real not in self._read:
            self._read[real] = _read_host_pe(real, self.arch)
        return self._read[real]


def _read_host_pe(path: str, arch: str) -> Binary | str:
    try:
        with open(path, "rb") as fh:
            if not is_pe(fh.read(4096)):
                return "not a PE file"
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            binary = parse_pe(fh, path, size)
    except IsADirectoryError:
        return "a directory"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    except MalformedBinary:
        return "a damaged PE file"
    if binary.arch != arch:
        return f"{binary.arch}, not {arch}"
    return binary


@record(frozen=True)
class DllLink:
    """One DLL one PE imports (regular or delay-load) and where it leads."""

    requester: str  # a wheel member, or the file of a DLL from outside
    dependency: DllDependency  # kind GRAFT when it is found in a library folder
    found: FoundDll | None = None
    passed: tuple[str, ...] = ()  # files of the name that did not count (another machine, not a PE)

    @property
    def from_wheel(self) -> bool:
        return self.dependency.binary.path == self.requester and not os.path.isabs(self.requester)


@record
class DllClosure:
    """Everything the wheel's PE files import from outside the wheel, transitively."""

    libraries: dict[str, FoundDll] = field(default_factory=dict)  # lower-case name -> DLL, in discovery order
    links: list[DllLink] = field(default_factory=list)
    excluded: list[DllLink] = field(default_factory=list)  # left outside on request (not walked)

    def missing(self) -> list[DllLink]:
        """Imports nothing satisfies: not in the wheel, not the system, not in a library folder."""
        return [link for link in self.links if link.dependency.kind == EXTERNAL]

    def unshipped(self) -> list[DllLink]:
        """DLLs the interpreter ships but not surely (``NOT_GUARANTEED``), not found in a library folder."""
        return [link for link in self.links if link.dependency.kind == NOT_GUARANTEED]


def resolve_graft_closure(
    binaries: Sequence[Binary],
    installed: Mapping[str, str],
    installed_paths: Mapping[str, str],
    policy: WindowsPolicy,
    arch: str,
    wheel_tags: Sequence[str],
    finder: DllFinder,
    libs_dir: str,
    excluded: Callable[[str], bool] = lambda name: False,
) -> DllClosure:
    """Walk the imports of the wheel's PE files (one ``arch``) and of the DLLs they bring in.

    Each import is classified as :func:`resolve_dlls` does; one that is external, or one the
    interpreter ships but not surely (``NOT_GUARANTEED``), is looked for with ``finder`` and,
    when found, becomes a :data:`GRAFT` link whose DLL is walked in turn, as if it were already
    in ``libs_dir`` (the installed folder it is grafted into; ``"."`` for site-packages itself).
    ``excluded(name)`` keeps an external DLL out (recorded, not walked; its own dependencies
    come in only if something else needs them); names in the wheel, the system, API sets, the
    Python DLL and DLLs every admitted interpreter ships are never asked about nor grafted.
    """
    index = dll_index(installed)
    interps = interpreters_of(wheel_tags, policy, arch)
    out = DllClosure()
    queue = [(b.path, b, installed_paths.get(b.path, b.path)) for b in binaries]
    while queue:
        requester, image, importer = queue.pop(0)
        for dep in classify_imports(image, importer, index, policy, arch, interps):
            if dep.kind not in (EXTERNAL, NOT_GUARANTEED):
                out.links.append(DllLink(requester, dep))
                continue
            lower = dep.dll.lower()
            if excluded(dep.dll):
                out.excluded.append(DllLink(requester, dep))
                continue
            known = out.libraries.get(lower)
            if known is not None:
                out.links.append(DllLink(requester, replace(dep, kind=GRAFT), known))
                continue
            found, passed = finder.find(dep.dll)
            if found is None:
                out.links.append(DllLink(requester, dep, None, passed))
                continue
            out.libraries[lower] = found
            out.links.append(DllLink(requester, replace(dep, kind=GRAFT), found, passed))
            where = found.name if libs_dir in ("", ".") else f"{libs_dir}/{found.name}"
            queue.append((found.file, found.binary, where))
    return out
