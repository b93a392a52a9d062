"""Repairing a Windows wheel on any host: graft DLLs under mangled names, rename imports, patch ``__init__.py``.

What delvewheel does, without Windows (the facts it follows are in ``docs/repair-windows.md``):

* **Find** what every PE file of the wheel imports or delay-loads from outside the wheel,
  transitively (:func:`wheelaudit.resolve.pe.resolve_graft_closure`): by name in the
  ``--lib-path`` folders, of the wheel's machine. System DLLs (the policy), API sets, the
  Python DLL and the DLLs every interpreter the tags admit ships (vcruntime140) are never grafted.
* **Graft** each DLL into ``<dist>.libs/`` as ``<stem>-<hash>.dll`` (the hash covers its bytes
  and the new names of the grafted DLLs it imports: two different DLLs of one name never meet
  in one process); into site-packages itself when the wheel has a top-level extension module
  (no ``__init__.py`` runs before it: the DLLs must sit beside it). ``--no-mangle`` keeps names.
* **Rename** the imports of every PE that imports a grafted DLL (regular and delay-load;
  :func:`.pe_edit.rename_imports`), warning when an Authenticode signature goes.
* **Patch** the top-level packages of those PE files: an ``os.add_dll_directory`` block at the
  top of ``__init__.py`` (:mod:`.dllpath`). A folder without ``__init__.py`` that holds Python
  modules or folders is a namespace package (PEP 420): it gets no ``__init__.py``; the regular
  packages below it are patched, and a PE file directly in a namespace folder gets the DLLs
  beside it (delvewheel's ``--namespace-pkg`` strategy, chosen here by looking).

The plan (:class:`WinPlanner`) is pure; :class:`WinRepair` carries it out in the scratch directory.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...binary.model import Binary, BinaryFormat, BinaryKind
from ...checks.context import AuditContext
from ...errors import OptionError, RepairError
from ...platforms.policyset import PolicySet
from ...platforms.tags import parse_platform_tag
from ...record import field, record, replace
from ...resolve.pe import GRAFT, DllClosure, DllFinder, DllLink, resolve_graft_closure
from ...threads import run_in_threads
from ...wheel.archive import WheelArchive
from ..options import RepairOptions
from ..output import Prepared, source_bytes, write_scratch
from ..sbom import GraftedFile, sbom_member
from . import dllpath
from .pe_edit import mangled_names, rename_imports

SITE_PACKAGES = "."  # libs_dir when the DLLs go into site-packages itself
_NAMESPACE_LINES = (  # pkgutil / pkg_resources namespace declarations (delvewheel looks for the same)
    "__path__=__import__('pkgutil').extend_path(__path__,__name__)",
    '__path__=__import__("pkgutil").extend_path(__path__,__name__)',
    "__import__('pkg_resources').declare_namespace(__name__)",
    '__import__("pkg_resources").declare_namespace(__name__)',
)


@record(frozen=True)
class WinGraft:
    """One DLL from outside the wheel, copied in."""

    source: str  # the file copied
    found_as: str  # its name in the library folder
    member: str  # "<dist>.libs/<new name>" (or "<new name>" at the top)
    new_name: str
    sha256: str  # of the source file
    mangled: bool
    renames: Mapping[str, str] = field(default_factory=dict)  # its own imports to rename (old -> new)
    copies: tuple[str, ...] = ()  # more members with the same bytes (beside namespace-level modules)
    present: bool = False  # an earlier repair grafted these very bytes under this name: only importers change


@record(frozen=True)
class WinPatch:
    """One PE file of the wheel whose imports are renamed."""

    member: str
    renames: Mapping[str, str]


@record(frozen=True)
class InitPatch:
    """One ``__init__.py`` that gets the DLL-path block (created when ``created``)."""

    member: str
    content: bytes
    created: bool


@record(frozen=True)
class WinRepairPlan:
    """Everything a Windows repair will do, decided before any file is written."""

    platform_tags: tuple[str, ...]
    libs_dir: str
    grafts: tuple[WinGraft, ...]
    patches: tuple[WinPatch, ...]
    inits: tuple[InitPatch, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    @property
    def changes_binaries(self) -> bool:
        return bool(self.grafts or self.patches or self.inits)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, p.lower()) for p in patterns)


class WinPlanner:
    """Builds a :class:`WinRepairPlan` for one Windows wheel."""

    def __init__(
        self, archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
    ) -> None:
        self.archive = archive
        self.name = archive.path.name
        self.options = options
        self.policy = policies.windows
        self.warnings: list[str] = []
        self.notes: list[str] = []
        if options.strip != "none":
            raise OptionError(
                f"strip {options.strip}: stripping PE files is not supported; build without debug "
                "information instead (`/DEBUG:NONE`, `-C strip=symbols`, `-s`)",
                option="strip",
            )
        for value, what in ((options.sysroot, "sysroot"), (options.require_archs, "require-archs")):
            if value is not None:
                raise OptionError(f"{what} does not apply to Windows wheels", option=what.replace("-", "_"))
        if options.macos_target is not None:
            raise OptionError("macos-target applies to macOS wheels only", option="macos_target")
        self.ctx = AuditContext.build(archive.info, archive.members, archive.record, tuple(binaries))
        pes = self.ctx.loadable(BinaryFormat.PE)
        if not pes:
            raise RepairError(f"{self.name} holds no PE binary: nothing to repair")
        arches = sorted({b.arch for b in pes})
        if len(arches) > 1:
            where = "; ".join(f"{a}: {', '.join(sorted(b.path for b in pes if b.arch == a)[:3])}" for a in arches)
            raise RepairError(f"cannot repair {self.name}: its PE files are of several machines ({where})")
        self.arch = arches[0]
        self.pes = pes
        self.tags = self._tags()
        dist = self.name.split("-", 1)[0]
        top_level = sorted(
            b.path for b in pes if b.kind is BinaryKind.EXTENSION and "/" not in self.ctx.installed_paths[b.path]
        )
        self.top_level_modules = top_level
        self.libs_dir = SITE_PACKAGES if top_level else dist + self.policy.library_dir_suffix
        # beside the first top-level module: at the wheel's root, or in <name>.data/platlib/ with it
        self.top_prefix = (
            top_level[0][: len(top_level[0]) - len(self.ctx.installed_paths[top_level[0]])] if top_level else ""
        )

    # -- tags ------------------------------------------------------------------------------

    def _tags(self) -> tuple[str, ...]:
        """The wheel's Windows tags for its machine; the others are dropped (with a note)."""
        own = [t for t in self.archive.info.platform_tags if parse_platform_tag(t).family == "win"]
        mine = [t for t in own if self.policy.tags.get(t) == self.arch]
        expected = self.policy.tag_for(self.arch)
        plat = self.options.plat
        if plat != "auto":
            if plat not in self.policy.tags:
                known = ", ".join(self.policy.tags)
                raise OptionError(f"target tag {plat}: not a Windows tag ({known}) for a Windows wheel", option="plat")
            if self.policy.tags[plat] != self.arch:
                machine = self.policy.tags[plat]
                raise RepairError(f"target tag {plat} is for {machine}, but the PE files are {self.arch}")
        if not mine and plat != "auto":  # asked for the tag of the PE files' machine: retag to it
            self.notes.append(
                f"the tag changes from {', '.join(own) or 'none'} to {plat}: the PE files are {self.arch}"
            )
            return (plat,)
        if not mine:
            raise RepairError(
                f"cannot repair {self.name}: tagged {', '.join(own) or 'for no Windows machine'}, but its PE files "
                f"are {self.arch} ({expected or 'no Windows tag'}); rebuild for the tag, or rename the wheel"
            )
        for tag in own:
            if tag not in mine:
                self.notes.append(f"the tag {tag} is dropped: the PE files are {self.arch}, which {tag} is not")
        return tuple(mine)

    # -- the plan ----------------------------------------------------------------------------

    def plan(self) -> WinRepairPlan:
        finder = DllFinder(self.options.lib_paths, self.arch)
        closure = resolve_graft_closure(
            self.pes,
            self.ctx.installed_members,
            self.ctx.installed_paths,
            self.policy,
            self.arch,
            self.ctx.info.file_tags,
            finder,
            self.libs_dir,
            lambda name: _matches(name, self.options.exclude),
        )
        self._check_found(closure)
        for dll, (why, requesters) in _by_dll(closure.unshipped()).items():
            self.warnings.append(
                f"{dll} (imported by {requesters}) is left outside: not found in a library folder, "
                f"and Python ships it but {why}"
            )
        grafts = self._grafts(closure)
        renames = {g.found_as.lower(): g.new_name for g in grafts.values() if g.mangled}
        patches = self._patches(closure, renames)
        final = tuple(replace(g, renames=self._renames_of(closure, g.source, renames)) for g in grafts.values())
        inits, beside = self._loader_patches(closure, final)
        final = tuple(_with_copies(g, beside) for g in final)
        self._signature_warnings(patches, final, closure)
        for dll, (_, requesters) in _by_dll(closure.excluded).items():
            self.warnings.append(f"{dll} (imported by {requesters}) excluded: left outside the wheel")
        for tail in ("RECORD.jws", "RECORD.p7s"):
            member = f"{self.archive.info.dist_info}/{tail}"
            if member in self.archive.members and (final or patches or inits):
                self.warnings.append(f"{member} (a signature of RECORD) is removed: RECORD changes; sign again")
        excluded = tuple(sorted({link.dependency.dll for link in closure.excluded}))  # as imported, as the report
        return WinRepairPlan(
            platform_tags=self.tags,
            libs_dir=self.libs_dir,
            grafts=final,
            patches=patches,
            inits=inits,
            warnings=tuple(dict.fromkeys(self.warnings)),
            notes=tuple(self.notes),
            excluded=excluded,
        )

    def _check_found(self, closure: DllClosure) -> None:
        missing: dict[str, list[str]] = {}  # lower name -> requesters, and what was passed over
        passed: dict[str, set[str]] = {}
        spelled: dict[str, str] = {}
        for link in closure.missing():
            lower = link.dependency.dll.lower()
            spelled.setdefault(lower, link.dependency.dll)
            missing.setdefault(lower, [])
            if link.requester not in missing[lower]:
                missing[lower].append(link.requester)
            passed.setdefault(lower, set()).update(link.passed)
        if not missing:
            return
        parts = []
        for lower, requesters in missing.items():
            text = f"{spelled[lower]} (imported by {', '.join(requesters[:3])}{' ...' if len(requesters) > 3 else ''}"
            if passed[lower]:
                text += f"; passed over {', '.join(sorted(passed[lower]))}"
            parts.append(text + ")")
        if self.options.lib_paths:
            where = f"looked for by name in {', '.join(self.options.lib_paths)}"
        else:
            where = "no library folder was given; DLLs are looked for only there"
        raise RepairError(
            f"cannot repair {self.name}: DLL{'s' if len(parts) > 1 else ''} {'; '.join(parts)} not found ({where}); "
            "add the folder that holds it to the library search path, or exclude it to leave it outside",
            option="lib_paths",
        )

    def _grafts(self, closure: DllClosure) -> dict[str, WinGraft]:
        """lower name -> graft (renames filled in later), mangled in dependency order."""
        found = closure.libraries
        if not found:
            return {}
        contents: dict[str, bytes] = {}
        digests: dict[str, str] = {}
        for lower, dll in found.items():
            with open(dll.file, "rb") as fh:
                data = fh.read()
            digests[lower] = hashlib.sha256(data).hexdigest()
            if not _matches(dll.name, self.options.no_mangle):
                contents[dll.name] = data
        deps: dict[str, list[str]] = {}
        by_file = {d.file: d for d in found.values()}
        for link in closure.links:
            requester = by_file.get(link.requester)
            if link.dependency.kind == GRAFT and link.found is not None and requester is not None:
                deps.setdefault(requester.name, []).append(link.found.name)
        new_names = mangled_names(contents, deps)
        out: dict[str, WinGraft] = {}
        existing = {n.lower() for n in self.archive.members}
        for lower, dll in found.items():
            new_name = new_names.get(dll.name, dll.name)
            member = self.top_prefix + new_name if self.libs_dir == SITE_PACKAGES else f"{self.libs_dir}/{new_name}"
            mangled = dll.name in new_names
            # A mangled name is a hash of the bytes and of the dependencies' names: the member an
            # earlier repair grafted under it is this DLL (a module added since imports it by its
            # own name). A plain name in the wheel would have been found there: never reached.
            present = member.lower() in existing
            if present and not mangled:  # pragma: no cover - find_in_wheel finds it first
                raise RepairError(f"cannot graft {dll.file}: the wheel already has a member {member}")
            out[lower] = WinGraft(dll.file, dll.name, member, new_name, digests[lower], mangled, present=present)
        return out

    def _renames_of(self, closure: DllClosure, requester: str, renames: Mapping[str, str]) -> dict[str, str]:
        """The imports of ``requester`` (a member or a grafted file) that name a mangled graft."""
        out: dict[str, str] = {}
        for link in closure.links:
            if link.requester == requester and link.dependency.kind == GRAFT:
                new = renames.get(link.dependency.dll.lower())
                if new is not None:
                    out[link.dependency.dll] = new
        return out

    def _patches(self, closure: DllClosure, renames: Mapping[str, str]) -> tuple[WinPatch, ...]:
        out = []
        for b in self.pes:
            names = self._renames_of(closure, b.path, renames)
            if names:
                out.append(WinPatch(b.path, names))
        return tuple(out)

    # -- making the loader find them ----------------------------------------------------------

    def _importers(self, closure: DllClosure) -> list[str]:
        """The wheel's PE files (members) that import a grafted DLL, in wheel order."""
        wanted = {link.requester for link in closure.links if link.dependency.kind == GRAFT}
        return [b.path for b in self.pes if b.path in wanted]

    def _loader_patches(
        self, closure: DllClosure, grafts: tuple[WinGraft, ...]
    ) -> tuple[tuple[InitPatch, ...], dict[str, str]]:
        """The ``__init__.py`` patches, and the folders (installed -> member prefix) that get the DLLs beside."""
        if not grafts:
            return (), {}
        inits: dict[str, InitPatch] = {}
        beside: dict[str, str] = {}
        programs: list[str] = []
        kinds = {b.path: b.kind for b in self.pes}
        libs_folder = "" if self.libs_dir == SITE_PACKAGES else self.libs_dir
        for member in self._importers(closure):
            where = self.ctx.installed_paths[member]
            if where == member and member.startswith(self.archive.info.data_dir + "/"):
                self.warnings.append(
                    f"{member} imports grafted DLLs but is installed outside site-packages, where it will not "
                    "find them; ship it inside the package"
                )
                continue
            if kinds.get(member) is BinaryKind.EXECUTABLE:
                # A program runs in a process of its own: no __init__.py runs there first, and the
                # os.add_dll_directory of the Python process that starts it does not carry over.
                if posixpath.dirname(where) != libs_folder:
                    programs.append(member)
                continue
            parts = where.split("/")[:-1]
            if not parts:
                continue  # a top-level module: the DLLs sit beside it in site-packages
            prefix = member[: len(member) - len(where)]  # "" or "<name>.data/platlib/"
            for depth in range(1, len(parts) + 1):
                package = "/".join(parts[:depth])
                init = self._init_of(package)
                if init is not None and not self._declares_namespace(init):
                    self._patch_init(inits, self.ctx.installed_members[init], depth, created=False)
                    break
                if init is None and not self._namespace(package):
                    self._patch_init(inits, f"{prefix}{package}/__init__.py", depth, created=True)
                    self.warnings.append(
                        f"{package}/ has no __init__.py; one is created for the DLL-path patch (a folder that "
                        "holds Python modules or folders would be taken for a namespace package instead)"
                    )
                    break
                if depth == len(parts) and package not in beside:  # in a namespace folder: nothing runs first
                    beside[package] = posixpath.dirname(member)
                    self.warnings.append(
                        f"{member} is in the namespace package {package.replace('/', '.')}, which has no "
                        "__init__.py to patch: the grafted DLLs are copied beside it too (move extension "
                        "modules into a regular package to avoid the copies)"
                    )
        if programs:
            listed = ", ".join(programs[:3]) + (f" and {len(programs) - 3} more" if len(programs) > 3 else "")
            where = "site-packages" if not libs_folder else f"{libs_folder}/"
            self.warnings.append(
                f"{listed} {'is a program' if len(programs) == 1 else 'are programs'}: a program runs in a "
                f"process of its own, which the package's os.add_dll_directory does not reach, so it finds the "
                f"DLLs grafted into {where} only when that folder is on PATH (the code that starts it must put "
                "it there) or the DLLs are beside it"
            )
        if inits:
            minimum = self._min_python()
            if minimum is None or minimum < (3, 8):
                self.warnings.append(
                    "the wheel's tags admit Python before 3.8, which has no os.add_dll_directory: there the "
                    "grafted DLLs are found only if their folder is on PATH"
                )
        return tuple(inits[k] for k in sorted(inits)), beside

    def _init_of(self, package: str) -> str | None:
        """The installed path of ``package``'s ``__init__.py`` (any case, as Windows finds it), if any."""
        for name in ("__init__.py", "__init__.PY", "__INIT__.py"):
            if f"{package}/{name}" in self.ctx.installed_members:
                return f"{package}/{name}"
        return None

    def _read_installed(self, installed_path: str) -> bytes:
        member = self.archive.members[self.ctx.installed_members[installed_path]]
        return self.archive.read_member(member, limit=member.size)

    def _declares_namespace(self, init: str) -> bool:
        text = self._read_installed(init).decode("utf-8", "replace")
        return any(line.replace(" ", "").strip() in _NAMESPACE_LINES for line in text.splitlines())

    def _namespace(self, package: str) -> bool:
        """A folder without ``__init__.py`` is a PEP 420 namespace package when it holds Python modules or folders."""
        prefix = package + "/"
        for path in self.ctx.installed_members:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                if "/" in rest or rest.lower().endswith(".py"):
                    return True
        return False

    def _patch_init(self, inits: dict[str, InitPatch], member: str, depth: int, *, created: bool) -> None:
        if member in inits:
            return
        source = None
        if not created:
            entry = self.archive.members[member]
            source = self.archive.read_member(entry, limit=entry.size)
        content = dllpath.patched(source, depth, self.libs_dir, path=member)
        if content is not None:
            inits[member] = InitPatch(member, content, created)

    def _min_python(self) -> tuple[int, int] | None:
        """The oldest CPython the wheel's interpreter tags admit (None: any Python 3)."""
        versions = []
        for tag in self.ctx.info.file_tags:
            interp = tag.split("-")[0]
            if interp[:2] in ("cp", "pp") and interp[2:3] == "3" and interp[3:].isdigit():
                versions.append((3, int(interp[3:])))
            else:
                return None
        return min(versions) if versions else None

    def _signature_warnings(
        self, patches: tuple[WinPatch, ...], grafts: tuple[WinGraft, ...], closure: DllClosure
    ) -> None:
        """An Authenticode signature cannot survive an edit of the file: say so before removing it."""
        changed = {p.member for p in patches}
        for b in self.pes:
            if b.path in changed and b.signed:
                self.warnings.append(
                    f"{b.path} carried an Authenticode signature; it is removed (the import table changed): "
                    "sign the file again before distributing the wheel"
                )
        by_file = {d.file: d for d in closure.libraries.values()}
        for g in grafts:
            dll = by_file.get(g.source)
            if g.renames and dll is not None and dll.binary.signed:
                self.warnings.append(
                    f"{g.member} (from {g.source}) carried an Authenticode signature; it is removed (the import "
                    "table changed): sign the file again, or graft it with --no-mangle for what it imports"
                )


def _by_dll(links: Sequence[DllLink]) -> dict[str, tuple[str, str]]:
    """DLL as first spelled -> (why, its first three requesters): one warning line per DLL."""
    out: dict[str, tuple[str, list[str]]] = {}
    spelled: dict[str, str] = {}
    for link in links:
        dll = spelled.setdefault(link.dependency.dll.lower(), link.dependency.dll)
        _, requesters = out.setdefault(dll, (link.dependency.why, []))
        if link.requester not in requesters:
            requesters.append(link.requester)
    return {dll: (why, ", ".join(r[:3]) + (" ..." if len(r) > 3 else "")) for dll, (why, r) in out.items()}


def _with_copies(graft: WinGraft, beside: Mapping[str, str]) -> WinGraft:
    if not beside:
        return graft
    copies = tuple(f"{prefix}/{graft.new_name}" for prefix in sorted(set(beside.values())))
    return replace(graft, copies=copies)


class WinRepair:
    """A planned Windows repair: the plan, the tags it gives, and the work that carries it out."""

    def __init__(
        self, archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
    ) -> None:
        self.archive = archive
        self.plan: WinRepairPlan = WinPlanner(archive, binaries, policies, options).plan()
        self.platform_tags = list(self.plan.platform_tags)
        self.notes = self.plan.notes

    @property
    def changes_binaries(self) -> bool:
        return self.plan.changes_binaries

    def prepare(self, work: Path, out_name: str) -> Prepared:
        """Rename imports in the wheel's PE files that change, copy and edit the grafts, patch, write the SBOM."""
        archive, plan = self.archive, self.plan
        jobs: list[tuple[str, str, Mapping[str, str], Path]] = []  # (member, source file or "", renames, scratch)
        files: dict[str, tuple[Path, int]] = {}
        for i, patch in enumerate(plan.patches):
            scratch_file = work / f"m{i}"
            jobs.append((patch.member, "", patch.renames, scratch_file))
            files[patch.member] = (scratch_file, archive.members[patch.member].mode or 0o644)
        for i, graft in enumerate(plan.grafts):
            written = [m for m in (graft.member, *graft.copies) if not (graft.present and m in archive.members)]
            if not written:
                continue
            scratch_file = work / f"g{i}"
            jobs.append((graft.member, graft.source, graft.renames, scratch_file))
            for member in written:
                files[member] = (scratch_file, 0o755)

        def run(job: tuple[str, str, Mapping[str, str], Path]) -> None:
            name, source, renames, out = job
            data = source_bytes(archive, name, source)
            if renames:
                data = rename_imports(data, renames, path=name).data
            write_scratch(out, data)

        run_in_threads(run, jobs, max(1, min(4, os.cpu_count() or 1)))()
        new_bytes: dict[str, tuple[bytes, int]] = {}
        for init in plan.inits:
            mode = 0o644 if init.created else (archive.members[init.member].mode or 0o644)
            new_bytes[init.member] = (init.content, mode)
        if plan.grafts:
            grafted = [GraftedFile(member, g.source, g.sha256) for g in plan.grafts for member in (g.member, *g.copies)]
            name, entry = sbom_member(archive.info, out_name, grafted, use_host=False)
            new_bytes[name] = entry
        return Prepared(files, new_bytes)


__all__ = ["InitPatch", "WinGraft", "WinPatch", "WinPlanner", "WinRepair", "WinRepairPlan"]
