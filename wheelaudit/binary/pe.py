"""PE/COFF reader (Windows ``.pyd``/``.dll``/``.exe``): one neutral :class:`Binary`.

pefile (``fast_load``) reads the headers, the section table and the debug directory. The
import, delay-import and export tables are walked here with ``struct``: pefile builds a few
objects per imported or exported symbol (about 30 us each — 200 ms for OpenBLAS's export
list, 20 ms for numpy's core module), while the audit needs only names. Layouts follow the
Microsoft PE/COFF specification ("The .idata Section", "Delay-Load Import Tables",
"The .edata Section").
"""

from __future__ import annotations

import re
import struct
from typing import Any, BinaryIO

import pefile

from ..errors import MalformedBinary
from .model import Binary, BinaryFormat, BinaryKind, ImportedSymbol

_MACHINES = {
    0x14C: "x86",
    0x8664: "amd64",
    0xAA64: "arm64",
    0xA641: "arm64ec",
    0x1C4: "arm",
    0x200: "ia64",
}
_IMAGE_FILE_DLL = 0x2000
_PE32_PLUS = 0x20B
_IMAGE_DEBUG_TYPE_CODEVIEW = 2
_DIR = pefile.DIRECTORY_ENTRY
_EXPORT = _DIR["IMAGE_DIRECTORY_ENTRY_EXPORT"]
_IMPORT = _DIR["IMAGE_DIRECTORY_ENTRY_IMPORT"]
_SECURITY = _DIR["IMAGE_DIRECTORY_ENTRY_SECURITY"]
_DEBUG = _DIR["IMAGE_DIRECTORY_ENTRY_DEBUG"]
_DELAY_IMPORT = _DIR["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"]
_MAX_DLLS = 4096  # a bound against looping over garbage; real images import a few dozen
_DLA_RVA_BASED = 0x1  # delay-load attributes: 0 means the old VC6 layout with VAs

_INIT_PREFIXES = ("PyInit_", "PyInitU_", "PyModExport_", "PyModExportU_")
_PY_PREFIXES = (b"Py", b"_Py")
_VC_RUNTIME = re.compile(r"^(vcruntime|msvcp|msvcr\d)", re.IGNORECASE)

# pefile raises its own error for most damage, but plain struct/index/type errors escape from
# deeper code; at this library boundary every one of them means "malformed file".
_ERRORS = (
    pefile.PEFormatError,
    struct.error,
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
    RecursionError,
)


def is_pe(head: bytes) -> bool:
    """True for an MZ header whose ``e_lfanew`` points at ``PE\\0\\0`` inside ``head``.

    A PE header beyond ``head`` (normally the first 4 KiB) is not looked for: linkers put it
    within the first few hundred bytes, and a bare MZ is too weak a signal on its own.
    """
    if len(head) < 0x40 or head[:2] != b"MZ":
        return False
    (lfanew,) = struct.unpack_from("<I", head, 0x3C)
    return head[lfanew : lfanew + 4] == b"PE\0\0"


def parse_pe(fp: BinaryIO, path: str, size: int) -> Binary:
    """Read the PE image at the current position of ``fp`` (``size`` bytes)."""
    data = fp.read(size)
    if len(data) < size:
        raise MalformedBinary(f"{path}: truncated PE ({len(data)} of {size} bytes)", path=path)
    try:
        pe = pefile.PE(data=data, fast_load=True)
        _check_layout(pe, len(data), path)
        pe.parse_data_directories(directories=[_DEBUG])
        return _Image(pe, data, path).binary()
    except MalformedBinary:
        raise
    except _ERRORS as exc:
        raise MalformedBinary(f"{path}: malformed PE ({exc})", path=path) from exc
    # No pe.close(): for in-memory data it only runs gc.collect(), 10+ ms in a busy process.


def _check_layout(pe: Any, file_size: int, path: str) -> None:
    """Reject truncated files, which pefile only warns about."""
    for section in pe.sections:
        end = section.PointerToRawData + section.SizeOfRawData
        if section.SizeOfRawData and end > file_size:
            name = section.Name.rstrip(b"\0").decode("ascii", "replace")
            raise MalformedBinary(
                f"{path}: truncated PE (section {name} ends at {end}, file has {file_size})", path=path
            )
    directories = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if len(directories) > _SECURITY:
        security = directories[_SECURITY]
        if security.Size and security.VirtualAddress + security.Size > file_size:
            raise MalformedBinary(f"{path}: truncated PE (certificate table runs past end of file)", path=path)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class _Image:
    """One PE image: RVA mapping and bounds-checked reads over ``data``."""

    def __init__(self, pe: Any, data: bytes, path: str) -> None:
        self.pe = pe
        self.data = data
        self.path = path
        opt = pe.OPTIONAL_HEADER
        self.is64 = opt.Magic == _PE32_PLUS
        self.image_base = int(opt.ImageBase)
        self.directories = opt.DATA_DIRECTORY
        self._last_section: Any = None

    def _bad(self, what: str) -> MalformedBinary:
        return MalformedBinary(f"{self.path}: malformed PE: {what}", path=self.path)

    def offset(self, rva: int) -> int:
        """File offset of ``rva``; the last section hit is tried first (tables are contiguous)."""
        section = self._last_section
        if section is None or not section.contains_rva(rva):
            section = self.pe.get_section_by_rva(rva)
            if section is None:
                try:
                    return int(self.pe.get_offset_from_rva(rva))  # inside the headers
                except pefile.PEFormatError as exc:
                    raise self._bad(f"RVA {rva:#x} is in no section") from exc
            self._last_section = section
        found = int(section.get_offset_from_rva(rva))
        if found >= len(self.data):
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
        entry = self.directories[index]
        if not entry.VirtualAddress or not entry.Size:
            return None
        return int(entry.VirtualAddress), int(entry.Size)

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        if offset + struct.calcsize(fmt) > len(self.data):
            raise self._bad(f"table at file offset {offset:#x} runs past end of file")
        return struct.unpack_from(fmt, self.data, offset)

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
        fmt, step, ordinal_flag = ("<Q", 8, 1 << 63) if self.is64 else ("<I", 4, 1 << 31)
        pos = self.offset(rva)
        names: list[str] = []
        while True:
            (thunk,) = self.unpack(fmt, pos)
            if not thunk:
                return names
            if thunk & ordinal_flag:
                names.append(f"#{thunk & 0xFFFF}")
            else:
                hint_rva = (thunk - self.image_base if va_based else thunk) & 0x7FFFFFFF
                names.append(_text(self.cstring(hint_rva + 2)))  # skip the 2-byte hint
            pos += step

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
        for (rva,) in struct.iter_unpack("<I", self.data[table : table + 4 * nnames]):
            start = self.offset(rva)
            if self.data.startswith(_PY_PREFIXES, start):
                end = self.data.find(b"\0", start)
                if end < 0:
                    raise self._bad(f"unterminated export name at RVA {rva:#x}")
                found.append(_text(self.data[start:end]))
        return own_name, found

    def pdb_path(self) -> str | None:
        """The PDB a CodeView debug entry names (MSVC keeps debug info outside the image)."""
        for entry in getattr(self.pe, "DIRECTORY_ENTRY_DEBUG", []):
            if entry.struct.Type == _IMAGE_DEBUG_TYPE_CODEVIEW and entry.entry is not None:
                raw = getattr(entry.entry, "PdbFileName", None)
                if raw:
                    return _text(bytes(raw).rstrip(b"\0")) or None
        return None

    def debug_section_bytes(self) -> int:
        """Raw size of ``.debug*`` sections (DWARF from GNU toolchains); ``/N`` names resolved."""
        header = self.pe.FILE_HEADER
        strtab = header.PointerToSymbolTable + 18 * header.NumberOfSymbols if header.PointerToSymbolTable else 0
        total = 0
        for section in self.pe.sections:
            name = section.Name.rstrip(b"\0")
            if name.startswith(b"/") and strtab and name[1:].isdigit():
                start = strtab + int(name[1:])
                end = self.data.find(b"\0", start, start + 256)
                if end > start:
                    name = self.data[start:end]
            if name.startswith(b".debug"):
                total += int(section.SizeOfRawData)
        return total

    # -- the record --------------------------------------------------------------------------
    def binary(self) -> Binary:
        pe = self.pe
        opt = pe.OPTIONAL_HEADER
        machine = int(pe.FILE_HEADER.Machine)
        needed, imported = self.imports(delayed=False)
        delayed, delay_imported = self.imports(delayed=True)
        own_name, exported = self.exports()
        init_functions = tuple(n for n in exported if n.startswith(_INIT_PREFIXES))
        defined_py = tuple(n for n in exported if not n.startswith(_INIT_PREFIXES))

        if init_functions:
            kind = BinaryKind.EXTENSION
        elif not pe.FILE_HEADER.Characteristics & _IMAGE_FILE_DLL:
            kind = BinaryKind.EXECUTABLE
        else:
            kind = BinaryKind.LIBRARY

        extra = {
            "checksum": f"{opt.CheckSum:#010x}",
            "subsystem": str(pefile.SUBSYSTEM_TYPE.get(opt.Subsystem, opt.Subsystem)),
            "vc_runtime": ",".join(d for d in needed + delayed if _VC_RUNTIME.match(d)),
            "os_version": f"{opt.MajorOperatingSystemVersion}.{opt.MinorOperatingSystemVersion}",
            "subsystem_version": f"{opt.MajorSubsystemVersion}.{opt.MinorSubsystemVersion}",
        }
        pdb = self.pdb_path()
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
