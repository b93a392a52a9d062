"""Renaming the DLLs a PE image imports (Windows repair), bytes in, bytes out.

The Windows loader finds a DLL's dependencies by the names in its import directory and its
delay-load import directory (PE/COFF specification, "The .idata Section", "Delay-Load Import
Tables"); a grafted DLL gets a new, mangled name, so every PE importing it must name it so.
The loader matches those names case-insensitively, and so does the mapping here.

Each renamed descriptor's Name RVA is pointed at the new name, placed (in this order of
preference) where it changes least:

1. over the old string, when the new name is no longer and no other string ends in the old one
   (the byte before it is a NUL: a linker may merge ``bar.dll`` into the tail of ``foobar.dll``);
2. in a section's file padding: the zero bytes between ``VirtualSize`` and ``SizeOfRawData`` of
   a read-only, initialised, non-executable, non-discardable section (``.rdata``, typically),
   whose ``VirtualSize`` grows to cover them (below the next section's address);
3. in a new read-only section appended to the image. Its header needs 40 zero bytes after the
   section table, inside ``SizeOfHeaders`` and before the first section's data: headers are
   never grown or moved. An overlay (bytes after the last section) is moved behind the new
   section only when it is the COFF symbol table GNU and LLVM linkers leave there (its pointer
   is updated); any other overlay is refused, as delvewheel refuses it.

Other consequences of the edit:

* An Authenticode signature (the security directory) no longer matches, so it is removed and
  :attr:`PeEdit.removed_signature` says so; the caller warns.
* Bound imports (prebound IAT addresses with the bound DLL's time stamp) naming a renamed DLL:
  the BOUND_IMPORT directory is cleared and every bound descriptor unbound (IAT restored from
  its lookup table, time stamp 0), so the loader resolves the imports as usual. Renamed
  delay-load descriptors get a zero time stamp (their bound IAT is then ignored).
* ``DependentLoadFlags`` in the load configuration (linker ``/DEPENDENTLOADFLAG``) can forbid the
  search of the directories ``os.add_dll_directory`` adds, so it is cleared, as delvewheel and
  maturin do.
* The optional header's CheckSum is recomputed when it was non-zero (ImageHlp's algorithm: the
  16-bit one's-complement sum of the file with the field taken as zero, plus the file length).
  Windows verifies it only for kernel drivers, DLLs loaded at boot and DLLs loaded into
  critical system processes, never for an extension module; a stale one still looks like
  tampering to tools that check it, so it is kept right rather than dropped.

The result is read again with :func:`wheelaudit.binary.pe.parse_pe`: the imports must be the
old ones with exactly the asked names replaced, or the edit fails (the project's rule for every
edited binary).
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from ...binary.pe import parse_pe
from ...errors import MalformedBinary, RepairError
from ...record import field, record

NEW_SECTION_NAME = b".dllname"
MANGLE_HASH_LENGTH = 32  # hex digits of sha256, as delvewheel's names carry

_PE32, _PE32_PLUS = 0x10B, 0x20B
_MACHINES = {0x14C: "x86", 0x8664: "x86_64", 0xAA64: "arm64"}
_IMPORT, _SECURITY, _DEBUG, _LOAD_CONFIG, _BOUND_IMPORT, _DELAY_IMPORT = 1, 4, 6, 10, 11, 13
_MAX_DLLS = 4096

# Section characteristics.
_CNT_CODE = 0x20
_CNT_INITIALIZED = 0x40
_MEM_DISCARDABLE = 0x02000000
_MEM_EXECUTE = 0x20000000
_MEM_READ = 0x40000000
_MEM_WRITE = 0x80000000
_NEW_SECTION_FLAGS = _CNT_INITIALIZED | _MEM_READ

# Optional-header field offsets (from its start) that an edit changes; same in PE32 and PE32+.
_OPT_SIZE_OF_INIT_DATA = 8
_OPT_SECTION_ALIGNMENT = 32
_OPT_FILE_ALIGNMENT = 36
_OPT_SIZE_OF_IMAGE = 56
_OPT_SIZE_OF_HEADERS = 60
_OPT_CHECKSUM = 64
_DIRECTORIES_AT = {_PE32: 96, _PE32_PLUS: 112}
_DEPENDENT_LOAD_FLAGS_AT = {_PE32: 54, _PE32_PLUS: 78}  # in IMAGE_LOAD_CONFIG_DIRECTORY
_DLA_RVA_BASED = 0x1

_VALID_NAME = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


@record(frozen=True)
class PeEdit:
    """The edited image and what was done to it (for the caller's report and warnings)."""

    data: bytes = field(repr=False)
    renamed: tuple[tuple[str, str], ...]  # (old name as the file spelled it, new name), per distinct name
    delay_renamed: tuple[tuple[str, str], ...]  # the same for the delay-load directory
    placement: str  # "unchanged", "in place", "padding" (section file padding) or "new section"
    removed_signature: bool  # an Authenticode certificate table was removed: the caller warns
    cleared_bound_imports: bool
    cleared_dependent_load_flags: bool
    checksum: int | None  # the new CheckSum, when the original had one

    @property
    def changed(self) -> bool:
        return bool(self.renamed or self.delay_renamed)


@record
class _Section:
    header_at: int  # file offset of its 40-byte header
    name: bytes
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_pointer: int
    characteristics: int


@record(frozen=True)
class _NameRef:
    """One descriptor whose Name field is to point at a new string."""

    field_at: int  # file offset of the 4-byte Name (RVA, or VA in a VC6 delay table)
    va_based: bool
    string_rva: int
    old: str
    new: str
    delayed: bool


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment if alignment else value


class _Pe:
    """Header facts of one image and writes into a mutable copy of it."""

    machine: int
    symbol_table: int
    nsymbols: int
    file_header_at: int
    opt_at: int
    magic: int

    def __init__(self, data: bytes, path: str) -> None:
        self.path = path
        self.buf = bytearray(data)
        size = len(data)
        if size < 64 or data[:2] != b"MZ":
            raise self.bad("no MZ header")
        (lfanew,) = struct.unpack_from("<I", data, 0x3C)
        if lfanew + 24 > size or data[lfanew : lfanew + 4] != b"PE\0\0":
            raise self.bad("no PE signature at e_lfanew")
        self.file_header_at = lfanew + 4
        self.machine, nsections, _, self.symbol_table, self.nsymbols, optional_size, _ = struct.unpack_from(
            "<HHIIIHH", data, self.file_header_at
        )
        if self.machine not in _MACHINES:
            raise RepairError(
                f"{path}: machine type {self.machine:#06x} is not one wheelaudit edits (x86, x86_64, arm64)", path=path
            )
        self.opt_at = lfanew + 24
        if self.opt_at + 2 > size:
            raise self.bad("optional header runs past end of file")
        (self.magic,) = struct.unpack_from("<H", data, self.opt_at)
        if self.magic not in _DIRECTORIES_AT:
            raise self.bad(f"optional header magic {self.magic:#06x} is neither PE32 nor PE32+")
        directories_at = self.opt_at + _DIRECTORIES_AT[self.magic]
        if directories_at > self.opt_at + optional_size or directories_at > size:
            raise self.bad("optional header too short for its data directories")
        self.section_alignment = self.u32(self.opt_at + _OPT_SECTION_ALIGNMENT)
        self.file_alignment = self.u32(self.opt_at + _OPT_FILE_ALIGNMENT)
        self.size_of_headers = self.u32(self.opt_at + _OPT_SIZE_OF_HEADERS)
        if self.image_base_at + 8 > size:
            raise self.bad("optional header runs past end of file")
        self.image_base = (
            struct.unpack_from("<Q", data, self.image_base_at)[0]
            if self.magic == _PE32_PLUS
            else self.u32(self.image_base_at)
        )
        ndirectories = min(self.u32(directories_at - 4), 16)
        self.directories_at = directories_at
        self.ndirectories = min(ndirectories, (self.opt_at + optional_size - directories_at) // 8)
        self.section_table_at = self.opt_at + optional_size
        self.sections: list[_Section] = []
        for index in range(nsections):
            at = self.section_table_at + 40 * index
            if at + 40 > size:
                raise self.bad("section table runs past end of file")
            name, vsize, vaddr, rsize, rptr = struct.unpack_from("<8sIIII", data, at)
            (flags,) = struct.unpack_from("<I", data, at + 36)
            if rsize and rptr + rsize > size:
                raise MalformedBinary(f"{path}: truncated PE (section data past end of file)", path=path)
            self.sections.append(_Section(at, name, vsize, vaddr, rsize, rptr, flags))
        if not self.file_alignment or not self.section_alignment:
            raise self.bad("zero file or section alignment")
        if any(s.raw_size and s.raw_pointer % self.file_alignment for s in self.sections):
            raise RepairError(f"{path}: a section's file offset is not aligned to FileAlignment; not edited", path=path)

    @property
    def image_base_at(self) -> int:
        return self.opt_at + (24 if self.magic == _PE32_PLUS else 28)

    def bad(self, what: str) -> MalformedBinary:
        return MalformedBinary(f"{self.path}: malformed PE: {what}", path=self.path)

    def u32(self, at: int) -> int:
        if at + 4 > len(self.buf):
            raise self.bad(f"field at file offset {at:#x} past end of file")
        return int(struct.unpack_from("<I", self.buf, at)[0])

    def put32(self, at: int, value: int) -> None:
        struct.pack_into("<I", self.buf, at, value)

    def directory(self, index: int) -> tuple[int, int]:
        if index >= self.ndirectories:
            return 0, 0
        at = self.directories_at + 8 * index
        return self.u32(at), self.u32(at + 4)

    def clear_directory(self, index: int) -> None:
        struct.pack_into("<II", self.buf, self.directories_at + 8 * index, 0, 0)

    def section_of(self, rva: int) -> _Section | None:
        for section in self.sections:
            if section.virtual_address <= rva < section.virtual_address + max(section.virtual_size, section.raw_size):
                return section
        return None

    def offset(self, rva: int) -> int:
        """File offset of ``rva``; it must lie in a section's file data (or in the headers)."""
        section = self.section_of(rva)
        if section is None:
            if 0 <= rva < self.size_of_headers:
                return rva
            raise self.bad(f"RVA {rva:#x} is in no section")
        delta = rva - section.virtual_address
        if delta >= section.raw_size:
            raise self.bad(f"RVA {rva:#x} lies in a section's zero-filled tail")
        return section.raw_pointer + delta

    def cstring(self, rva: int) -> bytes:
        start = self.offset(rva)
        end = self.buf.find(b"\0", start)
        if end < 0:
            raise self.bad(f"unterminated string at RVA {rva:#x}")
        return bytes(self.buf[start:end])

    def raw_end(self) -> int:
        """First file offset past the headers and every section's data."""
        return max([self.size_of_headers] + [s.raw_pointer + s.raw_size for s in self.sections if s.raw_size])

    def image_end(self) -> int:
        """First RVA past every section (aligned), as SizeOfImage should be."""
        ends = [s.virtual_address + max(s.virtual_size, s.raw_size) for s in self.sections]
        return _align(max([*ends, self.size_of_headers]), self.section_alignment)


def _descriptors(pe: _Pe, delayed: bool) -> list[tuple[int, int, bool]]:
    """(file offset of the descriptor, Name RVA, VA-based) of each import or delay-load descriptor."""
    rva, size = pe.directory(_DELAY_IMPORT if delayed else _IMPORT)
    if not rva or not size:
        return []
    base = pe.offset(rva)
    step = 32 if delayed else 20
    found: list[tuple[int, int, bool]] = []
    for index in range(_MAX_DLLS):
        at = base + index * step
        if at + step > len(pe.buf):
            raise pe.bad("import directory runs past end of file")
        if delayed:
            attrs, name, _, iat, names = struct.unpack_from("<5I", pe.buf, at)
            if not (name or iat or names):
                return found
            va_based = not attrs & _DLA_RVA_BASED
            found.append((at, name - pe.image_base if va_based else name, va_based))
        else:
            names, _, _, name, iat = struct.unpack_from("<5I", pe.buf, at)
            if not (names or name or iat):
                return found
            found.append((at, name, False))
    raise pe.bad("import directory has no terminating entry")


def _check_name(name: str, path: str) -> str:
    if not _VALID_NAME.fullmatch(name) or "/" in name or "\\" in name or len(name) > 255:
        raise RepairError(f"{path}: {name!r} cannot be a DLL name in an import table", path=path)
    return name


def _name_refs(pe: _Pe, wanted: Mapping[str, str]) -> list[_NameRef]:
    refs = []
    for delayed in (False, True):
        for at, string_rva, va_based in _descriptors(pe, delayed):
            old = pe.cstring(string_rva).decode("latin-1")
            new = wanted.get(old.lower())
            if new is not None and new != old:
                field_at = at + (4 if delayed else 12)
                refs.append(_NameRef(field_at, va_based, string_rva, old, new, delayed))
    return refs


def _remove_signature(pe: _Pe) -> bool:
    where, size = pe.directory(_SECURITY)
    if not where or not size:
        return False
    if where + size > len(pe.buf):
        raise MalformedBinary(f"{pe.path}: truncated PE (certificate table runs past end of file)", path=pe.path)
    if where >= pe.raw_end() and not any(pe.buf[where + size :]):
        del pe.buf[where:]  # the usual layout: the certificates close the file
    else:
        pe.buf[where : where + size] = bytes(size)
    pe.clear_directory(_SECURITY)
    return True


def _unbind(pe: _Pe, renamed: set[str]) -> bool:
    """Clear the bound imports when one names a renamed DLL (or a renamed descriptor is bound)."""
    bound_rva, bound_size = pe.directory(_BOUND_IMPORT)
    stale = False
    if bound_rva and bound_size:
        # IMAGE_BOUND_IMPORT_DESCRIPTOR: TimeDateStamp, OffsetModuleName (from the directory's
        # start), NumberOfModuleForwarderRefs; forwarder refs (8 bytes each) follow. The
        # directory's address is a file offset in practice (it lives in the headers).
        at = bound_rva
        end = min(bound_rva + bound_size, len(pe.buf))
        while at + 8 <= end:
            stamp, name_offset, forwarders = struct.unpack_from("<IHH", pe.buf, at)
            if not stamp and not name_offset:
                break
            for ref in range(forwarders + 1):
                ref_at = at + 8 * ref
                if ref_at + 8 > end:
                    break
                (ref_name,) = struct.unpack_from("<H", pe.buf, ref_at + 4)
                name_at = bound_rva + ref_name
                name_end = pe.buf.find(b"\0", name_at)
                if name_end > 0 and pe.buf[name_at:name_end].decode("latin-1").lower() in renamed:
                    stale = True
            at += 8 * (forwarders + 1)
    bound_descriptors = []
    for at, string_rva, _ in _descriptors(pe, delayed=False):
        (stamp,) = struct.unpack_from("<I", pe.buf, at + 4)
        if stamp:
            bound_descriptors.append(at)
            if pe.cstring(string_rva).decode("latin-1").lower() in renamed:
                stale = True
    if not stale:
        return False
    thunk = 8 if pe.magic == _PE32_PLUS else 4
    for at in bound_descriptors:
        lookup_rva, _, _, _, iat_rva = struct.unpack_from("<5I", pe.buf, at)
        if not lookup_rva:
            raise RepairError(
                f"{pe.path}: a bound import has no lookup table, so it cannot be unbound for the rename", path=pe.path
            )
        src, dst = pe.offset(lookup_rva), pe.offset(iat_rva)
        length = 0
        while any(pe.buf[src + length : src + length + thunk]):
            length += thunk
            if src + length + thunk > len(pe.buf):
                raise pe.bad("import lookup table runs past end of file")
        pe.buf[dst : dst + length] = pe.buf[src : src + length]
        struct.pack_into("<II", pe.buf, at + 4, 0, 0)  # TimeDateStamp, ForwarderChain
    if bound_rva and bound_size:
        if bound_rva + bound_size <= len(pe.buf):
            pe.buf[bound_rva : bound_rva + bound_size] = bytes(bound_size)
        pe.clear_directory(_BOUND_IMPORT)
    return True


def _clear_dependent_load_flags(pe: _Pe) -> bool:
    rva, size = pe.directory(_LOAD_CONFIG)
    if not rva or not size:
        return False
    at = pe.offset(rva)
    declared = pe.u32(at)  # the structure's own Size field: older linkers write shorter ones
    field_at = _DEPENDENT_LOAD_FLAGS_AT[pe.magic]
    if declared < field_at + 2 or at + field_at + 2 > len(pe.buf):
        return False
    (flags,) = struct.unpack_from("<H", pe.buf, at + field_at)
    if not flags:
        return False
    struct.pack_into("<H", pe.buf, at + field_at, 0)
    return True


def _in_place(pe: _Pe, ref: _NameRef) -> bool:
    encoded = ref.new.encode("ascii")
    if len(encoded) > len(ref.old.encode("latin-1")):
        return False
    at = pe.offset(ref.string_rva)
    section = pe.section_of(ref.string_rva)
    first = section.raw_pointer if section else 0
    return at == first or pe.buf[at - 1] == 0


def _padding_slot(pe: _Pe, length: int) -> _Section | None:
    """A section whose zero file padding past VirtualSize holds ``length`` bytes (2-aligned start)."""
    ordered = sorted(pe.sections, key=lambda s: s.virtual_address)
    for index, section in enumerate(ordered):
        flags = section.characteristics
        if not (flags & _MEM_READ and flags & _CNT_INITIALIZED):
            continue
        if flags & (_MEM_EXECUTE | _MEM_WRITE | _MEM_DISCARDABLE | _CNT_CODE):
            continue
        if not section.virtual_size or section.virtual_size >= section.raw_size:
            continue
        start = _align(section.virtual_size, 2)
        end = start + length
        limit = ordered[index + 1].virtual_address if index + 1 < len(ordered) else None
        if end > section.raw_size or (limit is not None and section.virtual_address + end > limit):
            continue
        if any(pe.buf[section.raw_pointer + section.virtual_size : section.raw_pointer + section.raw_size]):
            continue  # not plain padding: something lives there
        return section
    return None


def _overlay_start(pe: _Pe) -> int:
    return pe.raw_end()


def _shift_debug_data(pe: _Pe, overlay_at: int, shift: int) -> None:
    """Debug directory entries whose data lives in the moved overlay follow it (PointerToRawData)."""
    rva, size = pe.directory(_DEBUG)
    if not rva or not size:
        return
    base = pe.offset(rva)
    for index in range(size // 28):
        pointer_at = base + 28 * index + 24
        pointer = pe.u32(pointer_at)
        if pointer >= overlay_at:
            pe.put32(pointer_at, pointer + shift)


def _append_section(pe: _Pe, blob: bytes) -> int:
    """Add a section holding ``blob``; returns its RVA."""
    table_end = pe.section_table_at + 40 * len(pe.sections)
    first_data = min((s.raw_pointer for s in pe.sections if s.raw_size), default=pe.size_of_headers)
    room = min(pe.size_of_headers, first_data)
    if table_end + 40 > room or any(pe.buf[table_end : table_end + 40]):
        raise RepairError(
            f"{pe.path}: the section table has no room for one more section and the new DLL names do not fit "
            "in the file; keep this DLL's name (no mangling)",
            path=pe.path,
        )
    overlay_at = _overlay_start(pe)
    overlay = bytes(pe.buf[overlay_at:])
    symbols_moved = False
    if any(overlay):
        if not (pe.symbol_table and overlay_at <= pe.symbol_table < len(pe.buf)):
            raise RepairError(
                f"{pe.path}: {len(overlay)} bytes of unknown data follow the last section (an overlay), so no "
                "section can be added for the new DLL names; strip it (strip -s) or keep the DLL's name",
                path=pe.path,
            )
        symbols_moved = True
    elif overlay:
        overlay = b""  # zero padding (left by a removed signature, say): dropped
    size_of_image = _align(pe.u32(pe.opt_at + _OPT_SIZE_OF_IMAGE), pe.section_alignment)
    rva = max(pe.image_end(), size_of_image)
    raw_pointer = _align(overlay_at, pe.file_alignment)
    if pe.section_alignment < 0x1000:  # below a page the loader maps the file as is: offset == RVA
        rva = raw_pointer = max(rva, raw_pointer)
    raw_size = _align(len(blob), pe.file_alignment)
    header = struct.pack(
        "<8sIIIIIIHHI", NEW_SECTION_NAME, len(blob), rva, raw_size, raw_pointer, 0, 0, 0, 0, _NEW_SECTION_FLAGS
    )
    pe.buf[table_end : table_end + 40] = header
    del pe.buf[overlay_at:]
    pe.buf += bytes(raw_pointer - overlay_at) + blob + bytes(raw_size - len(blob))
    if symbols_moved:
        shift = len(pe.buf) - overlay_at
        pe.put32(pe.file_header_at + 8, pe.symbol_table + shift)
        _shift_debug_data(pe, overlay_at, shift)
        pe.buf += overlay
    nsections_at = pe.file_header_at + 2
    struct.pack_into("<H", pe.buf, nsections_at, len(pe.sections) + 1)
    pe.sections.append(_Section(table_end, NEW_SECTION_NAME, len(blob), rva, raw_size, raw_pointer, _NEW_SECTION_FLAGS))
    pe.put32(pe.opt_at + _OPT_SIZE_OF_IMAGE, _align(rva + len(blob), pe.section_alignment))
    init_at = pe.opt_at + _OPT_SIZE_OF_INIT_DATA
    pe.put32(init_at, (pe.u32(init_at) + raw_size) & 0xFFFFFFFF)
    return rva


def pe_checksum(data: bytes | bytearray, checksum_at: int) -> int:
    """ImageHlp's CheckSumMappedFile over ``data``, the 4 bytes at ``checksum_at`` taken as zero.

    The 16-bit one's-complement sum with end-around carry equals the plain sum of the words
    modulo 0xFFFF (0xFFFF for a non-zero multiple), and 65536 = 1 (mod 0xFFFF) makes that the
    whole file read as one little-endian integer, modulo 0xFFFF: one C-speed operation, no copy.
    The CheckSum field's own bytes are taken out of that residue (byte ``i`` weighs 256**i).
    """
    field = int.from_bytes(data[checksum_at : checksum_at + 4], "little")
    folded = (int.from_bytes(data, "little") - field * pow(256, checksum_at, 0xFFFF)) % 0xFFFF
    if not folded:
        rest = len(data) - 4
        all_zero = data.count(0) - data[checksum_at : checksum_at + 4].count(0) == rest
        folded = 0 if all_zero else 0xFFFF
    return (folded + len(data)) & 0xFFFFFFFF


def rename_imports(data: bytes, mapping: Mapping[str, str], *, path: str = "<PE>", use_padding: bool = True) -> PeEdit:
    """Point every import and delay-load descriptor naming a key of ``mapping`` (any case) at its value.

    ``use_padding=False`` skips the section padding (names that do not fit in place go to a new
    section): for the tests of that path, and for callers who would rather not grow a section.

    ``data`` is a whole PE32/PE32+ image (x86, x86_64 or arm64). Keys not imported are ignored
    (compare :attr:`PeEdit.renamed`). Nothing to rename returns ``data`` untouched, signature
    included. Raises :class:`RepairError` when the names cannot be placed (no room in the section
    table and an overlay or full headers) or a new name is not a plain ASCII file name, and
    :class:`MalformedBinary` for a damaged image.
    """
    wanted = {old.lower(): _check_name(new, path) for old, new in mapping.items()}
    pe = _Pe(data, path)
    refs = _name_refs(pe, wanted)
    if not refs:
        return PeEdit(bytes(data), (), (), "unchanged", False, False, False, None)
    had_checksum = pe.u32(pe.opt_at + _OPT_CHECKSUM) != 0

    removed_signature = _remove_signature(pe)
    renamed_lower = {ref.old.lower() for ref in refs}
    cleared_bound = _unbind(pe, renamed_lower)
    cleared_flags = _clear_dependent_load_flags(pe)
    for ref in refs:
        if ref.delayed:  # a renamed delay-load entry is no longer bound to the DLL's time stamp
            struct.pack_into("<I", pe.buf, ref.field_at - 4 + 28, 0)

    # Distinct strings first: one string can serve several descriptors (import and delay-load).
    placed: dict[int, int] = {}  # old string RVA -> RVA of the new name
    pending: dict[str, list[_NameRef]] = {}
    placements = set()
    for ref in refs:
        if ref.string_rva in placed:
            continue
        if _in_place(pe, ref):
            at = pe.offset(ref.string_rva)
            old_length = len(ref.old.encode("latin-1"))
            pe.buf[at : at + old_length + 1] = ref.new.encode("ascii").ljust(old_length + 1, b"\0")
            placed[ref.string_rva] = ref.string_rva
            placements.add("in place")
        else:
            pending.setdefault(ref.new, []).append(ref)
    if pending:
        blob = bytearray()
        offsets = {}
        for new in pending:
            offsets[new] = len(blob)
            blob += new.encode("ascii") + b"\0"
            if len(blob) % 2:
                blob += b"\0"
        section = _padding_slot(pe, len(blob)) if use_padding else None
        if section is not None:
            start = _align(section.virtual_size, 2)
            at = section.raw_pointer + start
            pe.buf[at : at + len(blob)] = blob
            base = section.virtual_address + start
            section.virtual_size = start + len(blob)
            pe.put32(section.header_at + 8, section.virtual_size)
            if section.virtual_address + section.virtual_size > pe.u32(pe.opt_at + _OPT_SIZE_OF_IMAGE):
                pe.put32(pe.opt_at + _OPT_SIZE_OF_IMAGE, pe.image_end())
            placements.add("padding")
        else:
            base = _append_section(pe, bytes(blob))
            placements.add("new section")
        for new, group in pending.items():
            for ref in group:
                placed[ref.string_rva] = base + offsets[new]
    for ref in refs:
        target = placed[ref.string_rva]
        if ref.va_based and target + pe.image_base > 0xFFFFFFFF:
            raise RepairError(f"{path}: a VC6-style delay-load entry cannot address its new name", path=path)
        pe.put32(ref.field_at, target + pe.image_base if ref.va_based else target)

    checksum = None
    if had_checksum:
        checksum = pe_checksum(pe.buf, pe.opt_at + _OPT_CHECKSUM)
        pe.put32(pe.opt_at + _OPT_CHECKSUM, checksum)
    result = bytes(pe.buf)
    renamed = tuple(dict.fromkeys((r.old, r.new) for r in refs if not r.delayed))
    delay_renamed = tuple(dict.fromkeys((r.old, r.new) for r in refs if r.delayed))
    _verify(data, result, wanted, path)
    order = ("new section", "padding", "in place")
    placement = next(p for p in order if p in placements)
    return PeEdit(result, renamed, delay_renamed, placement, removed_signature, cleared_bound, cleared_flags, checksum)


def _verify(before: bytes, after: bytes, wanted: Mapping[str, str], path: str) -> None:
    """Read both images with our parser: the imports must differ by exactly the asked renames."""
    old = parse_pe(io.BytesIO(before), path, len(before))
    new = parse_pe(io.BytesIO(after), path, len(after))

    def expected(names: Iterable[str]) -> tuple[str, ...]:
        return tuple(wanted.get(name.lower(), name) for name in names)

    if (new.needed, new.weak_needed) != (expected(old.needed), expected(old.weak_needed)):
        raise RepairError(
            f"{path}: the rewritten import table reads back as {list(new.needed + new.weak_needed)}, "
            f"not the asked names (a wheelaudit bug)",
            path=path,
        )
    moved = [
        s._replace(library=wanted.get(s.library.lower(), s.library)) if s.library else s for s in old.imported_symbols
    ]
    if Counter(new.imported_symbols) != Counter(moved):  # a multiset: no ordering of None fields
        raise RepairError(
            f"{path}: the rewritten image imports other symbols than before (a wheelaudit bug)", path=path
        )


def mangled_name(name: str, content: bytes, dependencies: Iterable[str] = ()) -> str:
    """``foo.dll`` -> ``foo-<32 hex>.dll``: sha256 over the DLL's bytes and its dependencies' new names.

    ``dependencies`` are the mangled names of the DLLs this one imports that are mangled too
    (sorted, so import order does not matter); since those names carry their own hashes, two
    DLLs of one name get one new name only when they and everything they pull in are the same
    bytes: they can then share a process, and different ones never collide (delvewheel's idea;
    its hashes differ). The extension is kept (``.dll`` when there is none: the loader adds it).
    """
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, "dll"
    digest = hashlib.sha256(content)
    for dependency in sorted({d.lower() for d in dependencies}):
        digest.update(b"\0" + dependency.encode("utf-8"))
    return f"{stem}-{digest.hexdigest()[:MANGLE_HASH_LENGTH]}.{extension}"


def mangled_names(contents: Mapping[str, bytes], dependencies: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """New names for a set of DLLs to graft, dependencies first (their names feed the hashes).

    ``contents`` maps each DLL's file name to its bytes; ``dependencies`` maps a name to the
    names it imports (any case; names outside ``contents`` are not mangled and do not count).
    Returns old name -> new name. An import cycle among them cannot be ordered: RepairError.
    """
    by_lower = {name.lower(): name for name in contents}
    graph = {
        name.lower(): {
            d.lower() for d in dependencies.get(name, ()) if d.lower() in by_lower and d.lower() != name.lower()
        }
        for name in contents
    }
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = " -> ".join(by_lower[n] for n in exc.args[1])
        raise RepairError(f"DLLs import each other in a cycle ({cycle}); keep their names (no mangling)") from exc
    new: dict[str, str] = {}
    for lower in order:
        name = by_lower[lower]
        new[lower] = mangled_name(name, contents[name], (new[d] for d in graph[lower]))
    return {by_lower[lower]: new[lower] for lower in order}
