"""PE/COFF reader (Windows ``.pyd``/``.dll``/``.exe``): one neutral :class:`Binary`.

Everything is read here with ``struct``, following the Microsoft PE/COFF specification
("MS-DOS Stub", "COFF File Header", "Optional Header", "Section Table", "The .idata Section",
"Delay-Load Import Tables", "The .edata Section", "The .debug Section"). pefile is not
imported: its import alone costs 30-40 ms, more than auditing a small Windows wheel, and its
per-symbol objects cost about 30 us each (200 ms for OpenBLAS's export list). Where the
specification leaves room (RVA-to-offset mapping of odd section tables, damaged headers), the
rules match pefile's, so both readers see the same image; the tests check that on real wheels.
"""

from __future__ import annotations

import re
import struct

from .._typing import TYPE_CHECKING, NamedTuple
from ..errors import MalformedBinary
from .magic import is_pe as is_pe
from .model import Binary, BinaryFormat, BinaryKind, ImportedSymbol, ReadAt
from .pages import Pages, as_reader, in_file_order

if TYPE_CHECKING:
    from typing import BinaryIO

_MACHINES = {
    0x14C: "x86",
    0x8664: "amd64",
    0xAA64: "arm64",
    0xA641: "arm64ec",
    0x1C4: "arm",
    0x200: "ia64",
}
# Spelled as pefile's SUBSYSTEM_TYPE (and winnt.h) name them: reports and JSON carry these.
_SUBSYSTEMS = {
    0: "IMAGE_SUBSYSTEM_UNKNOWN",
    1: "IMAGE_SUBSYSTEM_NATIVE",
    2: "IMAGE_SUBSYSTEM_WINDOWS_GUI",
    3: "IMAGE_SUBSYSTEM_WINDOWS_CUI",
    5: "IMAGE_SUBSYSTEM_OS2_CUI",
    7: "IMAGE_SUBSYSTEM_POSIX_CUI",
    8: "IMAGE_SUBSYSTEM_NATIVE_WINDOWS",
    9: "IMAGE_SUBSYSTEM_WINDOWS_CE_GUI",
    10: "IMAGE_SUBSYSTEM_EFI_APPLICATION",
    11: "IMAGE_SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER",
    12: "IMAGE_SUBSYSTEM_EFI_RUNTIME_DRIVER",
    13: "IMAGE_SUBSYSTEM_EFI_ROM",
    14: "IMAGE_SUBSYSTEM_XBOX",
    16: "IMAGE_SUBSYSTEM_WINDOWS_BOOT_APPLICATION",
}
_IMAGE_FILE_DLL = 0x2000
_PE32 = 0x10B
_PE32_PLUS = 0x20B
_IMAGE_DEBUG_TYPE_CODEVIEW = 2
# Data directory indexes.
_EXPORT, _IMPORT, _SECURITY, _DEBUG, _DELAY_IMPORT = 0, 1, 4, 6, 13
_MAX_DIRECTORIES = 16  # the specification defines 16; more is garbage
_MAX_SECTIONS = 0x800
_SUSPICIOUS = 0x10000000  # a section this large or this high is damage, not data
_MAX_DLLS = 4096  # a bound against looping over garbage; real images import a few dozen
_DLA_RVA_BASED = 0x1  # delay-load attributes: 0 means the old VC6 layout with VAs
_THUNKS_PIECE = 4096  # bytes of an import lookup table read at a time
_NAMES_PIECE = 16384  # export name pointers read at a time

# COFF file header: Machine, NumberOfSections, TimeDateStamp, PointerToSymbolTable,
# NumberOfSymbols, SizeOfOptionalHeader, Characteristics.
_FILE_HEADER = struct.Struct("<HHIIIHH")
# Optional header, the fields used: Magic, AddressOfEntryPoint, ImageBase, SectionAlignment,
# FileAlignment, Major/MinorOperatingSystemVersion, Major/MinorSubsystemVersion, CheckSum,
# Subsystem, NumberOfRvaAndSizes. PE32+ drops BaseOfData and widens ImageBase and the
# stack/heap sizes to 64 bits.
_OPTIONAL_PE32 = struct.Struct("<H14xI8xIIIHH4xHH12xIH22xI")
_OPTIONAL_PE32_PLUS = struct.Struct("<H14xI4xQIIHH4xHH12xIH38xI")
# Shortest optional header accepted (zero-filled beyond): the loader needs fields only up to
# Subsystem, and pefile draws the line at the same place.
_MIN_OPTIONAL = {_PE32: 69, _PE32_PLUS: 73}
_SECTION = struct.Struct("<8sIIII16x")  # Name, VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData
_DEBUG_ENTRY = struct.Struct("<12xII4xI")  # Type, SizeOfData, PointerToRawData
_CODEVIEW_HEADERS = {b"RSDS": 24, b"NB10": 16}  # PDB 7.0 / 2.0: header bytes before the file name

_INIT_PREFIXES = ("PyInit_", "PyInitU_", "PyModExport_", "PyModExportU_")
_PY_PREFIXES = (b"Py", b"_Py")
_VC_RUNTIME = re.compile(r"^(vcruntime|msvcp|msvcr\d)", re.IGNORECASE)

# Checks below raise MalformedBinary themselves; these are what garbage can still provoke in
# the table walkers (an unpack past a bound, an absurd count).
_ERRORS = (struct.error, IndexError, ValueError, OverflowError)


def parse_pe(source: ReadAt | BinaryIO, path: str, size: int) -> Binary:
    """Read the PE image of ``size`` bytes through ``read_at(offset, size)``, or at the position of a file.

    Through ``read_at`` only the headers, the section table and the directories used are read,
    never the whole file (a deflated member is a stream: a big image would be held whole).
    """
    data = Pages(as_reader(source, path, size, "PE"), size)
    try:
        return _Image(data, path).binary()
    except _ERRORS as exc:
        raise MalformedBinary(f"{path}: malformed PE ({exc})", path=path) from exc


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class _Section(NamedTuple):
    """A section-table entry and the RVA range it answers for."""

    name: bytes
    virtual_address: int
    raw_size: int
    raw_pointer: int
    start: int  # VirtualAddress rounded down to the section alignment
    end: int  # first RVA past the section (trimmed where the next section begins)
    file_start: int  # PointerToRawData rounded down to a 512-byte sector


class _Image:
    """One PE image: headers, RVA mapping and bounds-checked reads over ``data``."""

    machine: int
    characteristics: int
    symbol_table: int  # PointerToSymbolTable: COFF symbols, whose string table holds long section names
    nsymbols: int
    entry_point: int
    image_base: int
    checksum: int
    subsystem: int

    def __init__(self, data: Pages, path: str) -> None:
        self.data = data
        self.size = len(data)
        self.path = path
        self._last_section: _Section | None = None
        self._read_headers()
        self._check_layout()
        # Look the entry point up as pefile does: with overlapping sections (damaged files) the
        # lookup cache decides which section maps an RVA, so this keeps both readers agreeing.
        self.section_of(self.entry_point)
        self.debug_entries = self._debug_entries()

    def _bad(self, what: str) -> MalformedBinary:
        return MalformedBinary(f"{self.path}: malformed PE: {what}", path=self.path)

    # -- headers -----------------------------------------------------------------------------
    def _read_headers(self) -> None:
        data, size = self.data, len(self.data)
        if size < 64 or data[:2] != b"MZ":
            raise self._bad("no MZ header")
        (lfanew,) = data.unpack_from("<I", 0x3C)
        if lfanew > size or data[lfanew : lfanew + 4] != b"PE\0\0":
            raise self._bad("no PE signature at e_lfanew")
        header = data[lfanew + 4 : lfanew + 24]
        if len(header) < 20:
            raise self._bad("COFF file header runs past end of file")
        (self.machine, nsections, _, self.symbol_table, self.nsymbols, optional_size, self.characteristics) = (
            _FILE_HEADER.unpack(header)
        )
        opt_at = lfanew + 24
        optional = data[opt_at : opt_at + 0x200]
        magic = int.from_bytes(optional[:2], "little")
        layout = _OPTIONAL_PE32_PLUS if magic == _PE32_PLUS else _OPTIONAL_PE32
        if magic not in _MIN_OPTIONAL:
            raise self._bad(f"optional header magic {magic:#06x} is neither PE32 nor PE32+")
        if len(optional) < _MIN_OPTIONAL[magic]:
            raise self._bad("optional header runs past end of file")
        optional = optional[: layout.size].ljust(layout.size, b"\0")
        (
            _,
            self.entry_point,
            self.image_base,
            section_alignment,
            file_alignment,
            os_major,
            os_minor,
            subsystem_major,
            subsystem_minor,
            self.checksum,
            self.subsystem,
            ndirectories,
        ) = layout.unpack(optional)
        self.is64 = magic == _PE32_PLUS
        self.os_version = f"{os_major}.{os_minor}"
        self.subsystem_version = f"{subsystem_major}.{subsystem_minor}"
        # Data directories follow the fixed fields whatever SizeOfOptionalHeader says; a short
        # file reads as zeros, i.e. absent entries.
        self.directories: list[tuple[int, int]] = []
        at = opt_at + layout.size
        for _ in range(min(ndirectories & 0x7FFFFFFF, _MAX_DIRECTORIES)):
            if at == size:
                break
            entry = data[at : at + 8].ljust(8, b"\0")
            self.directories.append(struct.unpack("<II", entry))
            at += 8
        table_at = opt_at + optional_size
        self.sections = self._read_sections(table_at, nsections, section_alignment, file_alignment)
        table_end = table_at + 40 * nsections if nsections and self.sections else table_at
        lowest = min((s.raw_pointer & ~0x1FF for s in self.sections if s.raw_pointer), default=0)
        self.header_size = min(table_end if not lowest or lowest < table_end else lowest, size)

    def _read_sections(self, at: int, count: int, section_alignment: int, file_alignment: int) -> list[_Section]:
        """The section table sorted by address, cut short where it turns to zeros or garbage."""
        data, size = self.data, len(self.data)
        page_aligned = section_alignment >= 0x1000
        alignment = section_alignment if page_aligned else file_alignment
        found: list[tuple[bytes, int, int, int, int, int, int]] = []
        for index in range(min(count, _MAX_SECTIONS)):
            raw = data[at + 40 * index : at + 40 * (index + 1)]
            if not raw or raw.count(0) == 40:
                break
            if len(raw) < 40:
                raise self._bad("section table runs past end of file")
            name, virtual_size, address, raw_size, pointer = _SECTION.unpack(raw)
            start = address - address % alignment if alignment else address
            # A section with three kinds of damage ends the table (one or two are tolerated:
            # real linkers emit odd alignments and zero-sized sections).
            damage = (
                (raw_size + pointer > size)
                + ((pointer & ~0x1FF) > size)
                + (virtual_size > _SUSPICIOUS)
                + (start > _SUSPICIOUS)
                + bool(file_alignment and pointer % file_alignment)
            )
            if damage >= 3:
                break
            file_start = address if not page_aligned and pointer == address else pointer & ~0x1FF
            # A raw size running past the end of the file is not believed; the virtual size is.
            extent = virtual_size if size - file_start < raw_size else max(raw_size, virtual_size)
            found.append((name, address, raw_size, pointer, start, extent, file_start))
        found.sort(key=lambda s: s[1])
        sections = []
        for index, (name, address, raw_size, pointer, start, extent, file_start) in enumerate(found):
            if index + 1 < len(found):
                following = found[index + 1][1]
                if following > address and start + extent > following:
                    extent = following - start  # overlapping sections: the next one wins
            sections.append(_Section(name, address, raw_size, pointer, start, start + extent, file_start))
        return sections

    def _check_layout(self) -> None:
        """Reject truncated files: a section or the certificate table past the end."""
        file_size = len(self.data)
        for section in self.sections:
            end = section.raw_pointer + section.raw_size
            if section.raw_size and end > file_size:
                name = section.name.rstrip(b"\0").decode("ascii", "replace")
                raise MalformedBinary(
                    f"{self.path}: truncated PE (section {name} ends at {end}, file has {file_size})", path=self.path
                )
        if len(self.directories) > _SECURITY:
            # The certificate table's "RVA" is a file offset: it is never loaded.
            address, size = self.directories[_SECURITY]
            if size and address + size > file_size:
                raise MalformedBinary(
                    f"{self.path}: truncated PE (certificate table runs past end of file)", path=self.path
                )

    def _debug_entries(self) -> list[tuple[int, int, int]]:
        """(Type, SizeOfData, PointerToRawData) of each debug directory entry; none if any is unreadable."""
        if len(self.directories) <= _DEBUG:
            return []
        rva, size = self.directories[_DEBUG]
        if not rva:
            return []
        entries = []
        for index in range(size // _DEBUG_ENTRY.size):
            raw = self._read_rva(rva + index * _DEBUG_ENTRY.size, _DEBUG_ENTRY.size)
            if len(raw) < _DEBUG_ENTRY.size:
                return []
            entries.append(_DEBUG_ENTRY.unpack(raw))
        return entries

    def _read_rva(self, rva: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``rva``, clipped to the section's raw data (the headers' end)."""
        section = self.section_of(rva)
        if section is None:
            limit = self.header_size if rva < self.header_size else len(self.data)
            return self.data[rva : min(rva + length, limit)]
        at = rva - section.start + section.file_start
        return self.data[at : min(at + length, section.raw_pointer + section.raw_size)]

    # -- RVA mapping -------------------------------------------------------------------------
    def section_of(self, rva: int) -> _Section | None:
        """The section holding ``rva``; the last one hit is tried first (tables are contiguous)."""
        last = self._last_section
        if last is not None and last.start <= rva < last.end:
            return last
        for section in self.sections:
            if section.start <= rva < section.end:
                self._last_section = section
                return section
        return None

    def offset(self, rva: int) -> int:
        """File offset of ``rva``; outside every section it is taken as an offset into the file."""
        section = self.section_of(rva)
        if section is None:
            if 0 <= rva < self.size:
                return rva  # inside the headers (or in data no section claims)
            raise self._bad(f"RVA {rva:#x} is in no section")  # negative: a VC6 VA below ImageBase
        found = rva - section.start + section.file_start
        if found >= self.size:
            raise self._bad(f"RVA {rva:#x} maps past the end of the file")
        return found

    def cstring(self, rva: int) -> bytes:
        start = self.offset(rva)
        end = self.data.find(b"\0", start)
        if end < 0:
            raise self._bad(f"unterminated string at RVA {rva:#x}")
        return self.data[start:end]

    def directory(self, index: int) -> tuple[int, int] | None:
        """(RVA, size) of a data directory, or None when absent or empty."""
        if index >= len(self.directories):
            return None
        address, size = self.directories[index]
        if not address or not size:
            return None
        return address, size

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        if offset + struct.calcsize(fmt) > self.size:
            raise self._bad(f"table at file offset {offset:#x} runs past end of file")
        return self.data.unpack_from(fmt, offset)

    # -- tables ------------------------------------------------------------------------------
    def imports(self, delayed: bool) -> tuple[list[str], list[ImportedSymbol]]:
        """DLL names in table order and the symbols imported from each."""
        where = self.directory(_DELAY_IMPORT if delayed else _IMPORT)
        if where is None:
            return [], []
        base = self.offset(where[0])
        dlls: list[str] = []
        symbols: list[ImportedSymbol] = []
        for index in range(_MAX_DLLS):
            if delayed:
                attrs, name_rva, _, iat, names_rva, *_ = self.unpack("<8I", base + index * 32)
                if not (name_rva or iat or names_rva):
                    break
                if not attrs & _DLA_RVA_BASED:  # VC6 delay tables hold VAs
                    name_rva -= self.image_base
                    names_rva = names_rva - self.image_base if names_rva else 0
                va_based = not attrs & _DLA_RVA_BASED
            else:
                names_rva, stamp, _, name_rva, iat = self.unpack("<5I", base + index * 20)
                if not (names_rva or name_rva or iat):
                    break
                if not names_rva and stamp:  # bound, no lookup table: names are gone
                    names_rva = 0
                elif not names_rva:
                    names_rva = iat
                va_based = False
            dll = _text(self.cstring(name_rva))
            dlls.append(dll)
            if names_rva:
                for name in self._thunk_names(names_rva, va_based):
                    symbols.append(ImportedSymbol(name, library=dll, weak=delayed))
        else:
            raise self._bad("import directory has no terminating entry")
        return dlls, symbols

    def _thunk_names(self, rva: int, va_based: bool) -> list[str]:
        """The names a lookup table gives, in order; the table read in pieces, each piece's names in file order."""
        fmt, step, ordinal_flag = ("<Q", 8, 1 << 63) if self.is64 else ("<I", 4, 1 << 31)
        pos = self.offset(rva)
        names: list[str] = []
        while True:
            piece = self.data[pos : pos + _THUNKS_PIECE]
            thunks = [thunk for (thunk,) in struct.iter_unpack(fmt, piece[: len(piece) - len(piece) % step])]
            ended = 0 in thunks
            if ended:
                thunks = thunks[: thunks.index(0)]
            hints = [(thunk - self.image_base if va_based else thunk) & 0x7FFFFFFF for thunk in thunks]
            found = iter(self._strings([hint + 2 for hint, t in zip(hints, thunks) if not t & ordinal_flag]))
            for thunk in thunks:  # (skipping each name's 2-byte hint)
                names.append(f"#{thunk & 0xFFFF}" if thunk & ordinal_flag else _text(next(found) or b""))
            if ended:
                return names
            pos += len(thunks) * step
            if len(piece) < _THUNKS_PIECE:
                raise self._bad(f"table at file offset {pos:#x} runs past end of file")

    def _strings(self, rvas: list[int], prefixes: tuple[bytes, ...] = ()) -> list[bytes | None]:
        """The NUL-terminated strings at ``rvas``: all, or (None for the others) those starting with ``prefixes``.

        Read forwards (:meth:`Pages.cstrings`), not one by one; the error is still the one reading
        them one by one meets first: a string running to the end of the file, or an RVA mapping nowhere.
        """
        offsets: list[int] = []
        late: MalformedBinary | None = None
        for rva in rvas:
            try:
                offsets.append(self.offset(rva))
            except MalformedBinary as exc:
                late = exc
                break
        whole = () if prefixes else set(offsets)
        found = self.data.cstrings(sorted(set(offsets)), self.size, whole=whole, prefixes=prefixes)
        strings: list[bytes | None] = []
        for rva, at in zip(rvas, offsets):
            raw = found.get(at)
            if raw is not None and at + len(raw) == self.size:
                raise self._bad(f"unterminated {'export name' if prefixes else 'string'} at RVA {rva:#x}")
            strings.append(raw)
        if late is not None:
            raise late
        return strings

    def exports(self) -> tuple[str | None, list[str]]:
        """(export-directory DLL name, exported names starting with ``Py``/``_Py``)."""
        where = self.directory(_EXPORT)
        if where is None:
            return None, []
        base = self.offset(where[0])
        # Name, Base, NumberOfFunctions, NumberOfNames, AddressOfFunctions, AddressOfNames
        name_rva, _, _, nnames, _, names_rva = self.unpack("<6I", base + 12)
        own_name = _text(self.cstring(name_rva)) or None if name_rva else None
        if not nnames:
            return own_name, []
        table = self.offset(names_rva)
        if table + 4 * nnames > len(self.data):
            raise self._bad("export name table runs past end of file")
        found = []
        for first in range(0, nnames, _NAMES_PIECE):  # the name pointer table, a piece at a time
            piece = self.data.get(table + 4 * first, table + 4 * min(first + _NAMES_PIECE, nnames))
            rvas = [rva for (rva,) in struct.iter_unpack("<I", piece)]
            found += [_text(raw) for raw in self._strings(rvas, _PY_PREFIXES) if raw is not None]
        return own_name, found

    def pdb_path(self) -> str | None:
        """The PDB a CodeView debug entry names (MSVC keeps debug info outside the image)."""
        for kind, size, pointer in self.debug_entries:
            if kind != _IMAGE_DEBUG_TYPE_CODEVIEW:
                continue
            header = _CODEVIEW_HEADERS.get(self.data[pointer : pointer + min(size, 4)])
            if header is None or size <= header or pointer + size > len(self.data):
                continue  # another CodeView flavour, no file name, or cut off
            blob = self.data[pointer : pointer + size]
            return _text(blob[header:].rstrip(b"\0")) or None
        return None

    def debug_section_bytes(self) -> int:
        """Raw size of ``.debug*`` sections (DWARF from GNU toolchains); ``/N`` names resolved."""
        strtab = self.symbol_table + 18 * self.nsymbols if self.symbol_table else 0
        total = 0
        for section in self.sections:
            name = section.name.rstrip(b"\0")
            if name.startswith(b"/") and strtab and name[1:].isdigit():
                start = strtab + int(name[1:])
                end = self.data.find(b"\0", start, start + 256)
                if end > start:
                    name = self.data[start:end]
            if name.startswith(b".debug"):
                total += section.raw_size
        return total

    # -- the record --------------------------------------------------------------------------
    def _directory_offset(self, index: int) -> int:
        """Where a data directory lies in the file, for ordering reads; no lookup cache touched, never raises."""
        where = self.directory(index)
        if where is None:
            return 0
        for section in self.sections:
            if section.start <= where[0] < section.end:
                return where[0] - section.start + section.file_start
        return where[0]

    def _sections_overlap(self) -> bool:
        """Whether some RVA lies in two sections: then the order of lookups decides which maps it."""
        reach = 0
        for section in sorted(self.sections, key=lambda s: s.start):
            if section.start < reach:
                return True
            reach = max(reach, section.end)
        return False

    def binary(self) -> Binary:
        machine = self.machine
        needed: list[str] = []
        imported: list[ImportedSymbol] = []
        delayed: list[str] = []
        delay_imported: list[ImportedSymbol] = []
        own_name: str | None = None
        exported: list[str] = []
        pdb: str | None = None

        def read_imports() -> None:
            nonlocal needed, imported
            needed, imported = self.imports(delayed=False)

        def read_delayed() -> None:
            nonlocal delayed, delay_imported
            delayed, delay_imported = self.imports(delayed=True)

        def read_exports() -> None:
            nonlocal own_name, exported
            own_name, exported = self.exports()

        def read_pdb() -> None:
            nonlocal pdb
            pdb = self.pdb_path()

        # Read in file order (a deflated member is a stream), unless sections overlap: then in the
        # order below, as always (the section lookup cache's state follows the order of lookups).
        in_order = self._sections_overlap()
        codeview = next((p for kind, _, p in self.debug_entries if kind == _IMAGE_DEBUG_TYPE_CODEVIEW), 0)
        in_file_order(
            [
                (0 if in_order else self._directory_offset(_IMPORT), read_imports),
                (0 if in_order else self._directory_offset(_DELAY_IMPORT), read_delayed),
                (0 if in_order else self._directory_offset(_EXPORT), read_exports),
                (0 if in_order else codeview, read_pdb),
            ]
        )
        init_functions = tuple(n for n in exported if n.startswith(_INIT_PREFIXES))
        defined_py = tuple(n for n in exported if not n.startswith(_INIT_PREFIXES))

        if not self.characteristics & _IMAGE_FILE_DLL:
            # First: a frozen program's built-in modules give it PyInit_* exports (cx_Freeze's bases).
            kind = BinaryKind.EXECUTABLE
        elif init_functions:
            kind = BinaryKind.EXTENSION
        else:
            kind = BinaryKind.LIBRARY

        extra = {
            "checksum": f"{self.checksum:#010x}",
            "subsystem": _SUBSYSTEMS.get(self.subsystem, str(self.subsystem)),
            "vc_runtime": ",".join(d for d in needed + delayed if _VC_RUNTIME.match(d)),
            "os_version": self.os_version,
            "subsystem_version": self.subsystem_version,
        }
        if pdb:
            extra["pdb"] = pdb

        return Binary(
            path=self.path,
            format=BinaryFormat.PE,
            arch=_MACHINES.get(machine, f"machine-{machine:#06x}"),
            kind=kind,
            bits=64 if self.is64 else 32,
            needed=tuple(needed),
            weak_needed=tuple(delayed),
            own_name=own_name,
            imported_symbols=tuple(imported + delay_imported),
            exported_symbols=init_functions + defined_py,
            init_functions=init_functions,
            defined_python_symbols=defined_py,
            signed=self.directory(_SECURITY) is not None,
            debug_info_bytes=self.debug_section_bytes(),
            file_size=len(self.data),
            extra=extra,
        )
