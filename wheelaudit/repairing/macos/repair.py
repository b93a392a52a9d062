"""Repairing a macOS wheel on any host: graft dylibs, rewrite load commands, re-sign, retag.

What delocate does on a Mac, without Apple's tools (the facts it follows are in
``docs/repair-macos.md``):

* **Find** what every Mach-O slice loads from outside the wheel, transitively and per
  architecture, as dyld would (:func:`wheelaudit.resolve.macho.resolve_closure`): by leaf name
  in ``--lib-path`` directories, or at the absolute path on this host. ``/usr/lib/`` and
  ``/System/Library/`` are never grafted, nor libpython / Python.framework.
* **Graft** each library into a top-level ``<dist>.dylibs/`` under a hashed name
  (``libzmq.5.dylib`` -> ``libzmq-1a2b3c4d.5.dylib``, as on Linux, so two different libraries
  of one name never clash), with the install id ``/DLC/<dist>.dylibs/<name>``.
* **Rewrite** every load command that led outside to ``@loader_path/<relative path>`` (or, where
  a binary's header padding is too small for those, ``@rpath/<name>`` plus one run path), and drop
  the LC_RPATHs that point outside the wheel (absolute non-system paths; a graft's
  ``@loader_path`` paths that no longer lead into the wheel).
* **Re-sign** every changed Mach-O ad hoc, slice by slice (:mod:`.codesign`).
* **Retag** from the highest minimum macOS per architecture, with ``--macos-target`` /
  ``MACOSX_DEPLOYMENT_TARGET`` as the ceiling.

The plan (:class:`MacPlanner`) is pure; :class:`MacRepair` carries it out on copies in the
scratch directory and hands the result to :func:`.output.write_wheel`.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...binary.model import Binary, BinaryFormat
from ...checks.context import AuditContext, installed_path
from ...checks.macos import allowed_tags, required_versions, slice_version
from ...errors import OptionError, RepairError, UnsafeWheel
from ...platforms.loader import Version, format_version, parse_version
from ...platforms.macos import MacPolicy
from ...platforms.policyset import PolicySet
from ...platforms.tags import parse_platform_tag
from ...record import field, record, replace
from ...resolve.macho import HOST, IN_WHEEL, DylibClosure, DylibFinder, HostDylib, Link, resolve_closure
from ...threads import run_in_threads
from ...wheel.archive import WheelArchive
from ..naming import file_sha256, hashed_name
from ..options import RepairOptions
from ..output import Prepared, source_bytes, write_scratch
from ..sbom import GraftedFile, sbom_member
from .codesign import adhoc_sign
from .edit import HeaderPaddingError, MachOEdit, edit_macho

DLC_PREFIX = "/DLC/"  # a path that exists on no Mac: a load command left unpatched fails loudly
_VERSION = re.compile(r"^\d+(\.\d+)?$")

#: Files named in an error line before the rest are counted.
SHOWN_FILES = 5


@record(frozen=True)
class MacGraft:
    """One library from outside the wheel, copied into ``<dist>.dylibs/``."""

    source: str  # the file copied (symlinks resolved)
    found_as: str  # the path dyld would load it from on a Mac
    member: str  # "<dist>.dylibs/<new name>"
    new_name: str
    sha256: str
    arches: tuple[str, ...]  # the architectures the wheel loads from it
    edit: MachOEdit = field(default_factory=MachOEdit)
    min_os: Mapping[str, str] = field(default_factory=dict)  # arch -> minimum macOS of that slice


@record(frozen=True)
class MacPatch:
    """One Mach-O of the wheel whose load commands or rpaths change."""

    member: str
    edit: MachOEdit


@record(frozen=True)
class MacRepairPlan:
    """Everything a macOS repair will do, decided before any file is written."""

    platform_tags: tuple[str, ...]
    libs_dir: str
    grafts: tuple[MacGraft, ...]
    patches: tuple[MacPatch, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    min_os: Mapping[str, str] = field(default_factory=dict)  # tag arch -> the version the tag states

    @property
    def changes_binaries(self) -> bool:
        return bool(self.grafts or self.patches)


def parse_arch_list(text: str, policy: MacPolicy) -> frozenset[str]:
    """``--require-archs``: ``intel``, ``universal2``, a single arch or a comma-separated list."""
    arches: set[str] = set()
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word in policy.multi_arch:
            arches |= policy.multi_arch[word]
        elif word in policy.arch_floor or word in policy.arch_aliases:
            arches.add(policy.tag_arch(word))
        else:
            known = ", ".join(sorted({*policy.multi_arch, *policy.arch_floor}))
            raise OptionError(
                f"require-archs {text}: unknown architecture {word!r}; known: {known}", option="require_archs"
            )
    if not arches:
        raise OptionError(f"require-archs {text!r}: names no architecture", option="require_archs")
    return frozenset(arches)


def parse_target(text: str, source: str) -> Version:
    """A deployment target such as ``10.15`` or ``11``."""
    if not _VERSION.match(text.strip()):
        raise OptionError(f"{source} {text!r}: expected a macOS version such as 10.15 or 11.0", option="macos_target")
    return parse_version(text.strip() if "." in text else text.strip() + ".0")


class MacPlanner:
    """Builds a :class:`MacRepairPlan` for one macOS wheel."""

    def __init__(
        self, archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
    ) -> None:
        self.archive = archive
        self.name = archive.path.name
        self.options = options
        self.policy = policies.macos
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self._host_slices: dict[str, tuple[Binary, ...]] = {}
        if options.strip != "none":
            raise OptionError(
                f"strip {options.strip}: stripping Mach-O files is not supported (it rewrites __LINKEDIT, "
                "which wheelaudit does not do); strip when building (`-C strip=symbols`, `-Wl,-S -Wl,-x`)",
                option="strip",
            )
        if options.no_mangle:
            raise OptionError("no-mangle applies to Windows wheels only", option="no_mangle")
        self.ctx = AuditContext.build(archive.info, archive.members, archive.record, tuple(binaries))
        self.machos = self.ctx.loadable(BinaryFormat.MACHO)
        if not self.machos:
            raise RepairError(f"{self.name} holds no Mach-O binary: nothing to repair")
        claims = [c for c in self.ctx.claims("macosx") if c.version is not None]
        self.claimed: dict[str, Version] = {}
        for claim in claims:
            assert claim.version is not None
            for arch in self.policy.expand(claim.arch):
                self.claimed[arch] = min(self.claimed.get(arch, claim.version), claim.version)
        self.arches = frozenset(self.claimed) or frozenset(self.policy.tag_arch(b.arch) for b in self.machos)
        self.target = self._target()
        self.required_archs = (
            parse_arch_list(options.require_archs, self.policy) if options.require_archs else frozenset()
        )
        dist = self.name.split("-", 1)[0]
        self.libs_dir = f"{dist}.dylibs"

    # -- options ---------------------------------------------------------------------------

    def _target(self) -> tuple[Version, str] | None:
        """The deployment-target ceiling and where it came from, or None."""
        plat = self.options.plat
        if plat != "auto":
            tag = parse_platform_tag(plat)
            if tag.family != "macosx" or tag.version is None:
                raise OptionError(
                    f"target tag {plat}: not a macOS tag (macosx_X_Y_ARCH) for a macOS wheel", option="plat"
                )
            if self.policy.expand(tag.arch) != self.arches:
                have = ", ".join(sorted(self.arches))
                raise RepairError(f"target tag {plat} is for {tag.arch}, but the wheel is tagged for {have}")
            if self.options.macos_target is None:
                return tag.version, f"the target tag {plat}"
        if self.options.macos_target is not None:
            return parse_target(self.options.macos_target, "macos-target"), "the requested target"
        env = os.environ.get("MACOSX_DEPLOYMENT_TARGET", "").strip()
        if env:
            return parse_target(env, "MACOSX_DEPLOYMENT_TARGET"), "MACOSX_DEPLOYMENT_TARGET"
        return None

    def _excluded(self, name: str, found: HostDylib | None) -> bool:
        names = [name, posixpath.basename(name)]
        if found is not None:
            names += [found.install_path, found.file, os.path.basename(found.file)]
        return any(fnmatch.fnmatch(n, pattern) for n in names for pattern in self.options.exclude)

    # -- the plan ----------------------------------------------------------------------------

    def plan(self) -> MacRepairPlan:
        finder = DylibFinder(self.options.lib_paths, use_host=True, root=self.options.sysroot)
        closure = resolve_closure(
            self.machos,
            self.ctx.installed_members,
            self.ctx.installed_paths,
            self.policy.is_system,
            finder,
            self._excluded,
        )
        self._check_found(closure)
        self._host_slices = {file: host.slices for file, host in closure.libraries.items()}
        found = self._grafts(closure)
        self._check_arches(closure, found)
        patches, grafts = self._edits(closure, found)
        tags, min_os = self._retag(grafts)
        for link in closure.excluded:
            self.warnings.append(f"{link.install_name} (needed by {link.requester}) excluded: left outside the wheel")
        self._signature_warnings(patches, grafts)
        return MacRepairPlan(
            platform_tags=tags,
            libs_dir=self.libs_dir,
            grafts=grafts,
            patches=patches,
            warnings=tuple(dict.fromkeys(self.warnings)),
            notes=tuple(self.notes),
            excluded=tuple(sorted({link.install_name for link in closure.excluded})),
            min_os=min_os,
        )

    def _check_found(self, closure: DylibClosure) -> None:
        missing: dict[tuple[str, str], Link] = {}
        for link in closure.missing():
            missing.setdefault((link.requester, link.install_name), link)
        hard = [link for link in missing.values() if not link.weak]
        for link in missing.values():
            if link.weak:
                self.warnings.append(
                    f"{link.requester} weakly links {link.install_name}, which is not found: left as it is "
                    "(it loads without it)"
                )
        if not hard:
            return
        parts = []
        for link in hard:
            text = f"{link.install_name} (needed by {link.requester}"
            if link.resolution.searched:
                text += f"; searched {', '.join(link.resolution.searched)}"
            text += ")"
            if link.install_name.startswith("@executable_path/") and link.from_wheel:
                text += " [@executable_path in a Python extension is the interpreter's folder, outside the wheel]"
            parts.append(text)
        host = f"under {self.options.sysroot}" if self.options.sysroot else "on this host"
        if self.options.lib_paths:
            where = f"looked for by name in {', '.join(self.options.lib_paths)}, then at its path {host}"
        else:
            where = f"no library folder was given; looked at its path {host}"
        raise RepairError(
            f"cannot repair {self.name}: required librar{'y' if len(parts) == 1 else 'ies'} "
            f"{'; '.join(parts)} not found ({where}); add the folder that holds it to the library search path",
            option="lib_paths",
        )

    def _grafts(self, closure: DylibClosure) -> dict[str, MacGraft]:
        """file -> graft, for every library found outside the wheel (hashed names; one copy per content)."""
        if closure.libraries and any(
            n == self.libs_dir or n.startswith(self.libs_dir + "/") for n in self.archive.members
        ):
            raise UnsafeWheel(
                f"{self.name}: the wheel already has {self.libs_dir}, where the grafted libraries would go; "
                "rename it before repairing"
            )
        out: dict[str, MacGraft] = {}
        by_member: dict[str, str] = {}
        for file, host in closure.libraries.items():
            digest = file_sha256(file)
            new_name = hashed_name(os.path.basename(file), digest)
            member = f"{self.libs_dir}/{new_name}"
            other = by_member.get(member)
            if other is not None and out[other].sha256 != digest:  # pragma: no cover - needs a sha256 collision
                raise RepairError(f"cannot graft {file}: {member} is already taken by {other}")
            by_member.setdefault(member, file)
            arches = tuple(sorted(closure.arches.get(file, ())))
            min_os = {b.arch: b.min_os for b in host.slices if b.min_os and b.arch in arches}
            out[file] = MacGraft(file, host.install_path, member, new_name, digest, arches, MachOEdit(), min_os)
        return out

    def _check_arches(self, closure: DylibClosure, grafts: Mapping[str, MacGraft]) -> None:
        lacking: dict[str, set[str]] = {}
        for link in closure.arch_missing():
            assert link.resolution.host is not None
            lacking.setdefault(link.resolution.host.file, set()).add(f"{link.arch} (needed by {link.requester})")
        for file in grafts:  # every architecture the tag claims, in every grafted library
            have = {self.policy.tag_arch(b.arch) for b in closure.libraries[file].slices}
            named = {what.split(" ", 1)[0] for what in lacking.get(file, ())}
            for arch in sorted(self.arches - have - named):
                lacking.setdefault(file, set()).add(f"{arch} (the wheel's tag claims it)")
        if self.required_archs:
            have_by_member: dict[str, set[str]] = {}
            for b in self.machos:
                have_by_member.setdefault(b.path, set()).add(self.policy.tag_arch(b.arch))
            for member, have in have_by_member.items():
                for arch in sorted(self.required_archs - have):
                    lacking.setdefault(member, set()).add(f"{arch} (required)")
            for file in grafts:
                have = {self.policy.tag_arch(b.arch) for b in closure.libraries[file].slices}
                for arch in sorted(self.required_archs - have):
                    lacking.setdefault(file, set()).add(f"{arch} (required)")
        if lacking:
            shown = list(lacking.items())[:SHOWN_FILES]  # one line, even for scipy's ~125 files
            text = "; ".join(f"{where} has no slice for {', '.join(sorted(what))}" for where, what in shown)
            if len(lacking) > SHOWN_FILES:
                text += f"; and {len(lacking) - SHOWN_FILES} more files"
            raise RepairError(f"cannot repair {self.name}: {text}; use libraries built for every architecture")

    def _edits(
        self, closure: DylibClosure, grafts: dict[str, MacGraft]
    ) -> tuple[tuple[MacPatch, ...], tuple[MacGraft, ...]]:
        """The load-command renames, rpath deletions and ids of every Mach-O that changes."""
        installed_of = self.ctx.installed_paths
        renames: dict[str, dict[str, str]] = {}  # requester -> old name -> new name
        for link in closure.links:
            res = link.resolution
            if link.from_wheel:
                if res.kind != HOST:
                    continue
                assert res.host is not None
                loader = installed_path(link.requester, self.archive.info.data_dir)
                if loader is None:
                    raise RepairError(
                        f"{link.requester} needs {link.install_name}, which is grafted, but it is installed "
                        "outside site-packages, where @loader_path cannot reach the grafted libraries"
                    )
                target = grafts[res.host.file].member
            else:
                loader = grafts[link.requester].member
                if res.kind == HOST:
                    assert res.host is not None
                    target = grafts[res.host.file].member
                elif res.kind == IN_WHEEL and res.member is not None:
                    target = installed_of.get(res.member, res.member)
                else:
                    continue
            rel = posixpath.relpath(target, posixpath.dirname(loader) or ".")
            new = f"@loader_path/{rel}"
            mapping = renames.setdefault(link.requester, {})
            if mapping.get(link.install_name, new) != new:
                raise RepairError(
                    f"{link.requester}: {link.install_name} leads to different libraries in different "
                    f"architectures ({mapping[link.install_name]} and {new}); give each one a fat library"
                )
            if link.install_name != new:
                mapping[link.install_name] = new

        patches: list[MacPatch] = []
        slices_by_member: dict[str, list[Binary]] = {}
        for b in self.machos:
            slices_by_member.setdefault(b.path, []).append(b)
        for member, slices in slices_by_member.items():
            drop = frozenset(r for b in slices for r in b.rpath if self._outside_rpath(r, None))
            names = renames.get(member, {})
            if names or drop:
                patches.append(MacPatch(member, MachOEdit(change_names=dict(names), delete_rpaths=drop)))
        final: list[MacGraft] = []
        written: set[str] = set()
        for file, graft in grafts.items():
            if graft.member in written:
                continue  # a second copy of the same bytes reached by another path: one member serves both
            written.add(graft.member)
            host = closure.libraries[file]
            has_id = any(b.own_name is not None for b in host.slices)
            drop = frozenset(r for b in host.slices for r in b.rpath if self._outside_rpath(r, graft.member))
            edit = MachOEdit(
                install_id=DLC_PREFIX + graft.member if has_id else None,
                change_names=dict(renames.get(file, {})),
                delete_rpaths=drop,
            )
            final.append(replace(graft, edit=edit))
        return tuple(patches), tuple(final)

    def _outside_rpath(self, rpath: str, graft_member: str | None) -> bool:
        """Whether an LC_RPATH points outside the wheel (it is dropped).

        Absolute paths outside the system always do. In a wheel's own binary a ``@loader_path``
        path is kept (it may lead to another installed package, as torch extensions do); in a
        grafted library it was relative to the folder the library came from, so it is kept only
        when it still leads into the wheel from ``<dist>.dylibs/``.
        """
        if rpath.startswith("@executable_path"):
            return False
        if rpath.startswith("/"):
            return not self.policy.is_system(rpath.rstrip("/") + "/")
        if graft_member is None or not rpath.startswith("@loader_path"):
            return False
        rest = rpath[len("@loader_path") :].lstrip("/")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(graft_member), rest))
        if target.startswith("..") or target == ".":
            return True
        return not any(path.startswith(target + "/") for path in self.ctx.installed_members)

    # -- tags --------------------------------------------------------------------------------

    def _retag(self, grafts: tuple[MacGraft, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
        policy = self.policy
        graft_slices: list[tuple[str, str, Version]] = []  # (where, arch, version)
        for graft in grafts:
            for arch, text in graft.min_os.items():
                graft_slices.append((f"the grafted {graft.found_as}", policy.tag_arch(arch), parse_version(text)))
        wheel_slices = [
            (b.path, policy.tag_arch(b.arch), version) for b in self.machos if (version := slice_version(b)) is not None
        ]
        everything = [s for s in wheel_slices + graft_slices if s[1] in self.arches]
        required: dict[str, Version] = required_versions(
            [b for b in self.machos if policy.tag_arch(b.arch) in self.arches], policy
        )
        for _, arch, version in graft_slices:
            if arch in self.arches:
                required[arch] = max(required.get(arch, policy.floor(arch)), version, policy.floor(arch))
        if self.target is not None:
            target, source = self.target
            too_new = []
            for where, arch, version in everything:
                ceiling = max(target, policy.floor(arch))
                if version > ceiling:
                    too_new.append(f"{where} ({arch}) needs macOS {format_version(version)}")
            if too_new:
                newest = max(v for _, a, v in everything if v > max(target, policy.floor(a)))
                raise RepairError(
                    f"cannot repair {self.name} for macOS {format_version(target)} ({source}): "
                    + "; ".join(dict.fromkeys(too_new))
                    + f"; use libraries built for macOS {format_version(target)}, or raise the target to "
                    f"{format_version(newest)}",
                    option="macos_target",
                )
            required = {arch: max(target, policy.floor(arch)) for arch in self.arches}
        else:
            self._rise_notes(required, everything)
        tags = allowed_tags(self.arches, required, policy)
        multi = [t for t in tags if policy.expand(parse_platform_tag(t).arch) == self.arches]
        chosen = multi[:1] if multi else [t for t in tags if parse_platform_tag(t).arch in self.arches]
        min_os = {arch: format_version(policy.tag_version(v)) for arch, v in sorted(required.items())}
        return tuple(chosen), min_os

    def _rise_notes(self, required: Mapping[str, Version], everything: list[tuple[str, str, Version]]) -> None:
        """One line when the tag rises above the input's claim; one when it cannot say the minor version."""
        policy = self.policy
        for arch in sorted(self.arches):
            need = required.get(arch)
            if need is None:
                continue
            old = self.claimed.get(arch)
            culprits = [w for w, a, v in everything if a == arch and v == need]
            culprits.sort(key=lambda w: not w.startswith("the grafted"))
            who = culprits[0] if culprits else "a binary"
            if old is not None and policy.tag_version(need) > max(old, policy.floor(arch)):
                self.notes.append(
                    f"the tag rises from macOS {format_version(max(old, policy.floor(arch)))} to "
                    f"{format_version(policy.tag_version(need))} for {arch}: {who} needs macOS "
                    f"{format_version(need)}; set a deployment target (MACOSX_DEPLOYMENT_TARGET) to refuse instead"
                )
            if need[0] >= policy.major_only_from and need[1] != 0:
                self.warnings.append(
                    f"{who} ({arch}) needs macOS {format_version(need)}, but tags can only say {need[0]}.0: "
                    f"the wheel installs on macOS {need[0]}.0 and fails to load there"
                )

    def _signature_warnings(self, patches: tuple[MacPatch, ...], grafts: tuple[MacGraft, ...]) -> None:
        """A Developer ID signature cannot survive an edit: say so before replacing it."""
        changed = {p.member for p in patches}
        signed = sorted(
            {b.path for b in self.machos if b.path in changed and b.extra.get("signature") == "certificate"}
        )
        signed += [
            f"{g.member} (from {g.source})"
            for g in grafts
            if any(b.extra.get("signature") == "certificate" for b in self._host_slices.get(g.source, ()))
        ]
        for what in signed:
            self.warnings.append(
                f"{what} carried a Developer ID signature; it is replaced by an ad-hoc one: sign the "
                "wheel's binaries again (codesign --sign 'Developer ID ...') before distributing it"
            )


class MacRepair:
    """A planned macOS repair: the plan, the tags it gives, and the work that carries it out."""

    def __init__(
        self, archive: WheelArchive, binaries: Sequence[Binary], policies: PolicySet, options: RepairOptions
    ) -> None:
        self.archive = archive
        self.plan: MacRepairPlan = MacPlanner(archive, binaries, policies, options).plan()
        old = [t for t in archive.info.platform_tags if parse_platform_tag(t).family != "macosx"]
        self.platform_tags = sorted(dict.fromkeys([*old, *self.plan.platform_tags]))
        self.notes = self.plan.notes

    @property
    def changes_binaries(self) -> bool:
        return self.plan.changes_binaries

    def prepare(self, work: Path, out_name: str) -> Prepared:
        """Edit and re-sign the wheel's Mach-O files that change, copy, edit and sign the grafts, write the SBOM."""
        archive, plan = self.archive, self.plan
        jobs: list[tuple[str, str, MachOEdit, Path]] = []  # (name for errors, source, edit, scratch file)
        files: dict[str, tuple[Path, int]] = {}
        for i, patch in enumerate(plan.patches):
            scratch_file = work / f"m{i}"
            jobs.append((patch.member, "", patch.edit, scratch_file))
            files[patch.member] = (scratch_file, archive.members[patch.member].mode or 0o755)
        for i, graft in enumerate(plan.grafts):
            scratch_file = work / f"g{i}"
            jobs.append((graft.member, graft.source, graft.edit, scratch_file))
            files[graft.member] = (scratch_file, 0o755)

        def run(job: tuple[str, str, MachOEdit, Path]) -> None:
            name, source, edit, out = job
            data = source_bytes(archive, name, source)
            try:
                edited = edit_macho(data, edit, path=name)
            except HeaderPaddingError as exc:
                if source:
                    raise RepairError(f"cannot graft {source}: {exc}", path=name) from None
                shorter = rpath_form(edit)
                if shorter is None:
                    raise
                try:
                    edited = edit_macho(data, shorter, path=name)
                except HeaderPaddingError:
                    raise exc from None
            result = adhoc_sign(edited.data, path=name).data if edited.needs_signing else edited.data
            write_scratch(out, result)

        run_in_threads(run, jobs, max(1, min(4, os.cpu_count() or 1)))()
        new_bytes: dict[str, tuple[bytes, int]] = {}
        if plan.grafts:
            grafted = [GraftedFile(g.member, g.source, g.sha256) for g in plan.grafts]
            name, entry = sbom_member(archive.info, out_name, grafted, use_host=False)
            new_bytes[name] = entry
        return Prepared(files, new_bytes)


def rpath_form(edit: MachOEdit) -> MachOEdit | None:
    """``edit`` with its new names as ``@rpath/<name>`` and one LC_RPATH to their folder, or None.

    The fallback for a wheel's own binary whose ``@loader_path/../<dist>.dylibs/...`` names do not
    fit its header padding (psycopg2-binary 2.9.13's ``_psycopg``: three names, 56 free bytes,
    80 needed): the folder is written once instead of once per name. dyld searches the loader's
    own run paths for ``@rpath/`` names, and the hashed names exist nowhere else. None when the
    names do not all lead into one ``@loader_path`` folder.
    """
    folders = {posixpath.dirname(new) for new in edit.change_names.values()}
    if len(folders) != 1:
        return None
    (folder,) = folders
    if not folder.startswith("@loader_path/"):
        return None
    names = {old: "@rpath/" + posixpath.basename(new) for old, new in edit.change_names.items()}
    return replace(edit, change_names=names, add_rpaths=(*edit.add_rpaths, folder))


__all__ = ["DLC_PREFIX", "MacGraft", "MacPatch", "MacPlanner", "MacRepair", "MacRepairPlan", "rpath_form"]
