"""Rewrite the dylib names, install id and rpaths of a Mach-O (thin or fat), bytes in, bytes out.

What install_name_tool does, without a Mac: every slice's load commands are rebuilt in the
order they were (two-level namespace ordinals count the dylib commands, so none is moved),
written in place inside the header padding, and the result is read back with our own parser
and compared with what was asked. Segments never move, so a name that does not fit raises
:class:`~wheelaudit.repairing.macos.commands.HeaderPaddingError` for the whole file.

An edited slice that was signed now carries a stale signature; :class:`SliceEdit` says so and
:func:`wheelaudit.repairing.macos.codesign.adhoc_sign` re-signs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from ...binary.macho import parse_macho
from ...binary.model import Binary
from ...errors import RepairError
from ...record import field, record
from . import commands as mc
from . import fat as macho_fat

__all__ = ["EditResult", "HeaderPaddingError", "MachOEdit", "MachOEditError", "SliceEdit", "edit_macho"]

HeaderPaddingError = mc.HeaderPaddingError
_CODE_SIGNATURE_COMMAND_SIZE = 16


class MachOEditError(RepairError):
    """An edit cannot apply (no install id to set) or did not read back as asked (a bug)."""


@record(frozen=True)
class MachOEdit:
    """What to change in every slice; names a slice does not have are left alone there.

    ``change_names`` maps an old dylib name to its new one in LC_LOAD_DYLIB,
    LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LOAD_UPWARD_DYLIB and LC_LAZY_LOAD_DYLIB.
    ``delete_rpaths`` removes every LC_RPATH with one of these paths; ``add_rpaths`` appends
    an LC_RPATH for each path the slice does not already have (dyld rejects duplicates).
    """

    install_id: str | None = None
    change_names: Mapping[str, str] = field(default_factory=dict)
    delete_rpaths: frozenset[str] = frozenset()
    add_rpaths: tuple[str, ...] = ()


@record(frozen=True)
class SliceEdit:
    """What happened to one slice."""

    arch: str
    changed: bool
    signature: str | None  # the slice's signature kind before the edit: "linker-signed", "adhoc", ...
    header_pad: int  # bytes of header padding left after the edit

    @property
    def signature_invalidated(self) -> bool:
        """The slice was signed and its bytes changed: it must be re-signed before it can load."""
        return self.changed and self.signature is not None


@record(frozen=True)
class EditResult:
    data: bytes
    slices: tuple[SliceEdit, ...]

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.slices)

    @property
    def needs_signing(self) -> bool:
        """True when some slice changed: re-sign the whole file (unsigned arm64 code is killed too)."""
        return self.changed


def edit_macho(data: bytes, edit: MachOEdit, *, path: str, reserve_signature: bool = True) -> EditResult:
    """Apply ``edit`` to every slice of ``data``; ``path`` names the file in errors.

    With ``reserve_signature`` (the default) a slice without LC_CODE_SIGNATURE must keep 16
    bytes of padding free for the one the signer adds, so that failure shows up here.
    Raises HeaderPaddingError, MachOEditError, or MalformedBinary for input that is not Mach-O.
    """
    layout = macho_fat.split(data, path)
    before = parse_macho_bytes(data, path)
    new_slices: list[macho_fat.Buffer] = []
    results: list[SliceEdit] = []
    for raw, old in zip(layout.slices, before, strict=True):
        new = _edit_slice(raw, edit, path, reserve_signature)
        header = mc.read(new, path)
        used = header.header_size + sum(len(c) for c in header.commands)
        results.append(SliceEdit(old.arch, new is not raw, old.extra.get("signature"), header.data_start - used))
        new_slices.append(new)
    if not any(r.changed for r in results):
        return EditResult(data, tuple(results))
    out = macho_fat.join(layout, new_slices)
    _verify(before, parse_macho_bytes(out, path), edit, path)
    return EditResult(out, tuple(results))


def parse_macho_bytes(data: bytes, path: str) -> list[Binary]:
    """Our parser over bytes already in memory."""
    return parse_macho(io.BytesIO(data), path, len(data))


def _edit_slice(raw: macho_fat.Buffer, edit: MachOEdit, path: str, reserve_signature: bool) -> macho_fat.Buffer:
    """The slice with its commands rewritten, or ``raw`` itself when nothing changes."""
    header = mc.read(raw, path)
    commands: list[bytes] = []
    rpaths: set[str] = set()
    has_id = has_signature = False
    for command in header.commands:
        cmd = header.cmd(command)
        if cmd == mc.LC_ID_DYLIB:
            has_id = True
            if edit.install_id is not None:
                command = header.string_command(command, edit.install_id)
        elif cmd in mc.DYLIB_LOADS:
            new_name = edit.change_names.get(header.string(command))
            if new_name is not None:
                command = header.string_command(command, new_name)
        elif cmd == mc.LC_RPATH:
            rpath = header.string(command)
            if rpath in edit.delete_rpaths:
                continue
            rpaths.add(rpath)
        elif cmd == mc.LC_CODE_SIGNATURE:
            has_signature = True
        commands.append(command)
    if edit.install_id is not None and not has_id:
        raise MachOEditError(f"{path} ({header.arch}): has no LC_ID_DYLIB to set (not a dylib)", path=path)
    for rpath in edit.add_rpaths:
        if rpath not in rpaths:
            rpaths.add(rpath)
            commands.append(header.rpath_command(rpath))
    if commands == header.commands:
        return raw
    reserve = 0 if has_signature or not reserve_signature else _CODE_SIGNATURE_COMMAND_SIZE
    return mc.write(raw, header, commands, path, reserve=reserve)


def _expected(old: Binary, edit: MachOEdit) -> tuple[object, ...]:
    rename = edit.change_names
    rpath = [r for r in old.rpath if r not in edit.delete_rpaths]
    rpath += [r for r in dict.fromkeys(edit.add_rpaths) if r not in rpath]
    lazy = old.extra.get("lazy_dylibs")
    return (
        edit.install_id if edit.install_id is not None else old.own_name,
        tuple(rename.get(n, n) for n in old.needed),
        tuple(rename.get(n, n) for n in old.weak_needed),
        tuple(rpath),
        ",".join(rename.get(n, n) for n in lazy.split(",")) if lazy else None,
    )


def _actual(new: Binary) -> tuple[object, ...]:
    return (new.own_name, new.needed, new.weak_needed, new.rpath, new.extra.get("lazy_dylibs"))


def _verify(before: list[Binary], after: list[Binary], edit: MachOEdit, path: str) -> None:
    """Re-read the output and check every slice says exactly what was asked (project rule)."""
    if len(before) != len(after):
        raise MachOEditError(f"{path}: the edited file has {len(after)} slices instead of {len(before)}", path=path)
    for old, new in zip(before, after, strict=True):
        want, got = _expected(old, edit), _actual(new)
        if want != got or (old.arch, old.min_os, old.file_size) != (new.arch, new.min_os, new.file_size):
            raise MachOEditError(
                f"{path} ({old.arch}): the edited load commands read back as {got!r}, expected {want!r}", path=path
            )
