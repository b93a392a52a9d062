"""Ad-hoc code signing of a Mach-O (thin or fat), bytes in, bytes out, on any host.

arm64 macOS kills code whose pages do not match their signature, so every Mach-O a repair
edits is signed again. The signature is the shape ``codesign --force --sign -`` writes (what
delocate gets on a Mac): an embedded-signature SuperBlob holding

* a CodeDirectory, version 0x20400, SHA-256, one hash per page of the slice up to the
  signature, the page size the linker chose (kept from the old signature, else 16 KiB on
  arm64 and 4 KiB elsewhere), execSeg base/limit = ``__TEXT``'s file range and the
  main-binary flag for executables as ld64 sets them;
* special slots: an empty requirements set (slot 2), the old entitlements and DER
  entitlements when there were some (slots 5 and 7), no Info.plist (slot 1 is zero);
* an empty CMS wrapper (slot 0x10000), the marker of an ad-hoc signature.

The flags are ``CS_ADHOC`` plus the runtime-policy bits of the old signature (hardened
runtime and the like, which go with kept entitlements). ``CS_LINKER_SIGNED`` is dropped on
purpose: it marks a signature that only the linker wrote (one CodeDirectory, no special
slots), and codesign itself clears it when it re-signs; a re-signed file is not that any more.

Layouts follow Apple's ``cs_blobs.h`` (all big-endian) and ``<mach-o/loader.h>``. The
signature sits at the end of ``__LINKEDIT``; LC_CODE_SIGNATURE and ``__LINKEDIT``'s sizes are
set to fit it, and an LC_CODE_SIGNATURE is added when the header padding has room.
"""

from __future__ import annotations

import hashlib
import os
import struct

from ...errors import RepairError
from ...record import record
from . import commands as mc
from . import fat as macho_fat
from .edit import parse_macho_bytes

__all__ = ["SignResult", "SignedSlice", "SigningError", "adhoc_sign"]

_CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
_CSMAGIC_CODEDIRECTORY = 0xFADE0C02
_CSMAGIC_REQUIREMENTS = 0xFADE0C01
_CSMAGIC_EMBEDDED_ENTITLEMENTS = 0xFADE7171
_CSMAGIC_EMBEDDED_DER_ENTITLEMENTS = 0xFADE7172
_CSMAGIC_BLOBWRAPPER = 0xFADE0B01
_CSSLOT_CODEDIRECTORY = 0
_CSSLOT_REQUIREMENTS = 2
_CSSLOT_ENTITLEMENTS = 5
_CSSLOT_DER_ENTITLEMENTS = 7
_CSSLOT_ALTERNATE_CODEDIRECTORIES = 0x1000
_CSSLOT_SIGNATURESLOT = 0x10000
_CS_HASHTYPE_SHA256 = 2
_SHA256_SIZE = 32
_CD_VERSION = 0x20400
_CD_HEADER_SIZE = 88  # CS_CodeDirectory up to and including execSegFlags (version 0x20400)
_CS_ADHOC = 0x2
_CS_LINKER_SIGNED = 0x20000
# runtime-policy flags a re-sign keeps: CS_HARD, CS_KILL, CS_RESTRICT, CS_ENFORCEMENT,
# CS_REQUIRE_LV, CS_RUNTIME (hardened runtime)
_KEPT_FLAGS = 0x100 | 0x200 | 0x800 | 0x1000 | 0x2000 | 0x10000
_CS_EXECSEG_MAIN_BINARY = 0x1
_MH_EXECUTE = 2
_SIGNATURE_ALIGN = 16  # ld64 and codesign_allocate start the signature on a 16-byte boundary
_LINKEDIT = b"__LINKEDIT"
_TEXT = b"__TEXT"
_ARM64 = ("arm64", "arm64e", "arm64_32")
_EMPTY_REQUIREMENTS = struct.pack(">III", _CSMAGIC_REQUIREMENTS, 12, 0)
_EMPTY_CMS = struct.pack(">II", _CSMAGIC_BLOBWRAPPER, 8)


class SigningError(RepairError):
    """A slice cannot be signed in place (no ``__LINKEDIT``, data after the signature, ...)."""


@record(frozen=True)
class SignedSlice:
    """What the signer did to one slice."""

    arch: str
    previous: str | None  # old signature: None (unsigned), "linker-signed", "adhoc", "certificate", ...
    page_size: int
    identifier: str
    entitlements_kept: bool  # the old signature had entitlements and they were carried over
    added_load_command: bool  # there was no LC_CODE_SIGNATURE; one was added in the header padding

    @property
    def replaced_certificate(self) -> bool:
        """A Developer ID (CMS) signature was replaced: the file must be signed again by its owner."""
        return self.previous == "certificate"


@record(frozen=True)
class SignResult:
    data: bytes
    slices: tuple[SignedSlice, ...]

    @property
    def replaced_certificate(self) -> bool:
        return any(s.replaced_certificate for s in self.slices)


@record(frozen=True)
class _OldSignature:
    identifier: str | None
    page_size: int | None
    flags: int
    exec_seg_flags: int
    entitlements: bytes | None
    der_entitlements: bytes | None
    kind: str = "unparseable"  # as our parser names it: "linker-signed", "adhoc", "certificate", "unknown"


def adhoc_sign(data: bytes, *, path: str, identifier: str | None = None) -> SignResult:
    """Sign every slice of ``data`` ad hoc; ``path`` names the file in errors and, without an
    old identifier or ``identifier``, gives the identifier (its basename).

    Fat offsets and sizes are laid out again when slices change size. The output is read back
    with our parser; every slice must then carry an ad-hoc signature.
    """
    layout = macho_fat.split(data, path)
    new_slices: list[macho_fat.Buffer] = []
    results: list[SignedSlice] = []
    for raw in layout.slices:
        signed, result = _sign_slice(raw, path, identifier)
        new_slices.append(signed)
        results.append(result)
    out = macho_fat.join(layout, new_slices)
    _verify(out, path)
    return SignResult(out, tuple(results))


def _verify(data: bytes, path: str) -> None:
    """Re-read the output (project rule): our parser must see an ad-hoc signature in every slice,
    and its CodeDirectory must cover the slice up to the signature and hash the final header page
    (the one page the signer itself rewrites). The other pages are hashed once, not twice."""
    layout = macho_fat.split(data, path)
    for binary, raw in zip(parse_macho_bytes(data, path), layout.slices, strict=True):
        problem = None
        if binary.extra.get("signature") != "adhoc":
            problem = f"reads back as {binary.extra.get('signature')}"
        else:
            header = mc.read(raw, path)
            command = next(c for c in header.commands if header.cmd(c) == mc.LC_CODE_SIGNATURE)
            dataoff = header.u32(command, 8)
            (cd_offset,) = struct.unpack_from(">I", raw, dataoff + 16)
            cd = dataoff + cd_offset
            hash_offset, _, _, n_code, code_limit = struct.unpack_from(">5I", raw, cd + 16)
            page_size = 1 << raw[cd + 39]
            first_page = hashlib.sha256(raw[: min(page_size, dataoff)]).digest()
            if code_limit != dataoff or n_code != -(-dataoff // page_size):
                problem = f"covers {code_limit} bytes in {n_code} pages, not the {dataoff} before the signature"
            elif raw[cd + hash_offset : cd + hash_offset + _SHA256_SIZE] != first_page:
                problem = "has a wrong hash for the header page"
        if problem:
            raise SigningError(f"{path} ({binary.arch}): the new signature {problem}", path=path)


def _segment(header: mc.Commands, raw: bytes) -> tuple[bytes, int, int, int, int] | None:
    """(name, vmaddr, vmsize, fileoff, filesize) of a segment command, None for other commands."""
    cmd = header.cmd(raw)
    if cmd == mc.LC_SEGMENT_64:
        name, vmaddr, vmsize, fileoff, filesize = struct.unpack_from(header.endian + "16sQQQQ", raw, 8)
    elif cmd == mc.LC_SEGMENT:
        name, vmaddr, vmsize, fileoff, filesize = struct.unpack_from(header.endian + "16sIIII", raw, 8)
    else:
        return None
    return name.rstrip(b"\0"), vmaddr, vmsize, fileoff, filesize


def _with_segment_sizes(header: mc.Commands, raw: bytes, vmsize: int, filesize: int) -> bytes:
    out = bytearray(raw)
    if header.cmd(raw) == mc.LC_SEGMENT_64:
        struct.pack_into(header.endian + "Q", out, 32, vmsize)
        struct.pack_into(header.endian + "Q", out, 48, filesize)
    else:
        struct.pack_into(header.endian + "I", out, 28, vmsize)
        struct.pack_into(header.endian + "I", out, 36, filesize)
    return bytes(out)


def _sign_slice(raw: macho_fat.Buffer, path: str, identifier: str | None) -> tuple[bytearray, SignedSlice]:
    header = mc.read(raw, path)
    arch = header.arch
    text: tuple[bytes, int, int, int, int] | None = None
    linkedit_index: int | None = None
    signature_index: int | None = None
    for index, command in enumerate(header.commands):
        segment = _segment(header, command)
        if segment is not None and segment[0] == _TEXT:
            text = segment
        elif segment is not None and segment[0] == _LINKEDIT:
            linkedit_index = index
        elif header.cmd(command) == mc.LC_CODE_SIGNATURE:
            signature_index = index
    if text is None or linkedit_index is None:
        raise SigningError(f"{path} ({arch}): no __TEXT or __LINKEDIT segment to sign", path=path)
    linkedit = _segment(header, header.commands[linkedit_index])
    assert linkedit is not None
    _, _, _, link_off, link_size = linkedit

    commands = list(header.commands)
    old = _OldSignature(None, None, 0, 0, None, None)
    if signature_index is not None:
        dataoff, datasize = struct.unpack_from(header.endian + "II", commands[signature_index], 8)
        if dataoff < link_off or dataoff + datasize > len(raw):
            raise SigningError(f"{path} ({arch}): the code signature lies outside __LINKEDIT", path=path)
        if bytes(raw[dataoff + datasize :]).strip(b"\0"):
            raise SigningError(f"{path} ({arch}): data follows the code signature; cannot re-sign in place", path=path)
        old = _read_old(bytes(raw[dataoff : dataoff + datasize]))
    else:
        end = link_off + link_size
        if end > len(raw) or bytes(raw[end:]).strip(b"\0"):
            raise SigningError(f"{path} ({arch}): data follows __LINKEDIT; cannot add a signature", path=path)
        dataoff = -(-end // _SIGNATURE_ALIGN) * _SIGNATURE_ALIGN
        command = struct.pack(header.endian + "IIII", mc.LC_CODE_SIGNATURE, 16, dataoff, 0)
        signature_index = len(commands)
        commands.append(command)

    page_size = old.page_size or (16384 if arch in _ARM64 else 4096)
    name = identifier or old.identifier or os.path.basename(path)
    flags = _CS_ADHOC | (old.flags & _KEPT_FLAGS)
    exec_flags = (old.exec_seg_flags & ~_CS_EXECSEG_MAIN_BINARY) | (
        _CS_EXECSEG_MAIN_BINARY if header.filetype == _MH_EXECUTE else 0
    )
    n_pages = -(-dataoff // page_size)
    special = {_CSSLOT_REQUIREMENTS: _EMPTY_REQUIREMENTS}
    if old.entitlements is not None:
        special[_CSSLOT_ENTITLEMENTS] = old.entitlements
    if old.der_entitlements is not None:
        special[_CSSLOT_DER_ENTITLEMENTS] = old.der_entitlements
    ident = name.encode("utf-8") + b"\0"
    n_special = max(special)
    hash_offset = _CD_HEADER_SIZE + len(ident) + n_special * _SHA256_SIZE
    cd_length = hash_offset + n_pages * _SHA256_SIZE
    blobs_after_cd = [special[slot] for slot in sorted(special)] + [_EMPTY_CMS]
    count = 1 + len(blobs_after_cd)
    total = 12 + 8 * count + cd_length + sum(len(b) for b in blobs_after_cd)
    datasize = -(-total // _SIGNATURE_ALIGN) * _SIGNATURE_ALIGN

    # the load commands first: the header page is hashed with its final sizes
    commands[signature_index] = struct.pack(header.endian + "IIII", mc.LC_CODE_SIGNATURE, 16, dataoff, datasize)
    seg_page = 16384 if arch in _ARM64 else 4096
    new_filesize = dataoff + datasize - link_off
    commands[linkedit_index] = _with_segment_sizes(
        header, commands[linkedit_index], -(-new_filesize // seg_page) * seg_page, new_filesize
    )
    body = bytearray(mc.write(raw[: header.data_start], header, commands, path))
    with memoryview(raw) as source:
        body += source[header.data_start : dataoff]
    body += bytes(dataoff - len(body))  # alignment padding before a new signature

    with memoryview(body) as view:
        code_hashes = b"".join(
            hashlib.sha256(view[offset : offset + page_size]).digest() for offset in range(0, dataoff, page_size)
        )
    special_hashes = b"".join(
        hashlib.sha256(special[slot]).digest() if slot in special else bytes(_SHA256_SIZE)
        for slot in range(n_special, 0, -1)
    )
    code_limit, code_limit64 = (dataoff, 0) if dataoff < 1 << 32 else (0, dataoff)
    cd_header = struct.pack(
        ">9I4B4I4Q",
        _CSMAGIC_CODEDIRECTORY,
        cd_length,
        _CD_VERSION,
        flags,
        hash_offset,
        _CD_HEADER_SIZE,  # identOffset: the identifier follows the fixed fields
        n_special,
        n_pages,
        code_limit,
        _SHA256_SIZE,
        _CS_HASHTYPE_SHA256,
        0,  # platform
        page_size.bit_length() - 1,
        0,  # spare2
        0,  # scatterOffset
        0,  # teamOffset
        0,  # spare3
        code_limit64,
        text[3],  # execSegBase: __TEXT file offset
        text[4],  # execSegLimit: __TEXT file size
        exec_flags,
    )
    code_directory = cd_header + ident + special_hashes + code_hashes
    assert len(code_directory) == cd_length
    slots = [_CSSLOT_CODEDIRECTORY, *sorted(special), _CSSLOT_SIGNATURESLOT]
    blobs = [code_directory, *blobs_after_cd]
    table = b""
    offset = 12 + 8 * count
    for slot, blob in zip(slots, blobs, strict=True):
        table += struct.pack(">II", slot, offset)
        offset += len(blob)
    superblob = struct.pack(">III", _CSMAGIC_EMBEDDED_SIGNATURE, total, count) + table + b"".join(blobs)
    body += superblob + bytes(datasize - total)
    return body, SignedSlice(
        arch,
        old.kind if signature_index < len(header.commands) else None,
        page_size,
        name,
        old.entitlements is not None or old.der_entitlements is not None,
        signature_index == len(header.commands),
    )


def _read_old(blob: bytes) -> _OldSignature:
    """What a re-sign keeps from the old signature; an unreadable one counts as none."""
    if len(blob) < 12:
        return _OldSignature(None, None, 0, 0, None, None)
    magic, length, count = struct.unpack_from(">III", blob, 0)
    if magic != _CSMAGIC_EMBEDDED_SIGNATURE or 12 + 8 * count > min(length, len(blob)):
        return _OldSignature(None, None, 0, 0, None, None)
    blob = blob[:length]
    found: dict[int, bytes] = {}
    for number in range(count):
        slot, offset = struct.unpack_from(">II", blob, 12 + 8 * number)
        if offset + 8 > len(blob):
            continue
        _, size = struct.unpack_from(">II", blob, offset)
        if size >= 8 and offset + size <= len(blob):
            found.setdefault(slot, blob[offset : offset + size])
    code_directory = _best_code_directory(found)
    entitlements = found.get(_CSSLOT_ENTITLEMENTS)
    der = found.get(_CSSLOT_DER_ENTITLEMENTS)
    if entitlements is not None and entitlements[:4] != struct.pack(">I", _CSMAGIC_EMBEDDED_ENTITLEMENTS):
        entitlements = None
    if der is not None and der[:4] != struct.pack(">I", _CSMAGIC_EMBEDDED_DER_ENTITLEMENTS):
        der = None
    cms = found.get(_CSSLOT_SIGNATURESLOT, b"")
    has_cms = cms[:4] == struct.pack(">I", _CSMAGIC_BLOBWRAPPER) and len(cms) > 8
    if code_directory is None or len(code_directory) < 44:
        return _OldSignature(None, None, 0, 0, entitlements, der, "certificate" if has_cms else "unparseable")
    version, flags, _, ident_offset = struct.unpack_from(">IIII", code_directory, 8)
    page_log2 = code_directory[39]
    identifier = None
    if 0 < ident_offset < len(code_directory):
        end = code_directory.find(b"\0", ident_offset)
        if end > ident_offset:
            identifier = code_directory[ident_offset:end].decode("utf-8", "replace")
    exec_flags = 0
    if version >= 0x20400 and len(code_directory) >= _CD_HEADER_SIZE:
        (exec_flags,) = struct.unpack_from(">Q", code_directory, 80)
    page_size = 1 << page_log2 if 12 <= page_log2 <= 16 else None
    if has_cms:
        kind = "certificate"
    elif flags & _CS_LINKER_SIGNED:
        kind = "linker-signed"
    else:
        kind = "adhoc" if flags & _CS_ADHOC else "unknown"
    return _OldSignature(identifier, page_size, flags, exec_flags, entitlements, der, kind)


def _best_code_directory(found: dict[int, bytes]) -> bytes | None:
    """The SHA-256 CodeDirectory when there is one (Developer ID files also carry a SHA-1 one)."""
    slots = [_CSSLOT_CODEDIRECTORY, *range(_CSSLOT_ALTERNATE_CODEDIRECTORIES, _CSSLOT_ALTERNATE_CODEDIRECTORIES + 5)]
    candidates = [found[s] for s in slots if s in found]
    candidates = [c for c in candidates if c[:4] == struct.pack(">I", _CSMAGIC_CODEDIRECTORY)]
    for candidate in candidates:
        if len(candidate) > 37 and candidate[37] == _CS_HASHTYPE_SHA256:
            return candidate
    return candidates[0] if candidates else None
