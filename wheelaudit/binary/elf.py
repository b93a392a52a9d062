"""ELF analysis from the program headers alone (System V gABI, LSB symbol versioning).

Everything the audit needs is reachable from the ELF header: the program headers
give the dynamic segment, whose entries give the virtual addresses of ``.dynsym``,
``.dynstr``, ``.gnu.version`` and ``.gnu.version_r``; ``PT_LOAD`` maps those to
file offsets. The section header table (at the very end of the file) is never
read, so a deflated member is only inflated up to the dynamic segment.

The parser works on any architecture and either byte order; it reads through a
``read_at(offset, size)`` callable so the caller decides how bytes are fetched.
"""

from __future__ import annotations

import array
import struct
from collections.abc import Callable

from .._typing import NamedTuple, Protocol
from ..errors import MalformedBinary
from ..record import record, replace
from .elfsymbols import CountMismatch, Layout, Symbols, read_symbols
from .magic import ELF_MAGIC as ELF_MAGIC
from .model import Binary, BinaryFormat, BinaryKind, CodeIsa, ImportedSymbol, ReadAt, ReadSpans, VersionNeed

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
PT_GNU_STACK = 0x6474E551
PF_X = 1

DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 1, 4, 5, 6, 10, 11
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_FLAGS_1 = 0x6FFFFFFB
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF
DF_1_PIE = 0x08000000

ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
STT_FUNC = 2
NT_GNU_PROPERTY_TYPE_0 = 5
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
EF_ARM_ABI_FLOAT_HARD = 0x400

#: Module initialisation hooks the import system looks up (PEP 489, PEP 793).
INIT_PREFIXES = ("PyInit_", "PyInitU_", "PyModExport_", "PyModExportU_")

# The limits below only guard against forged headers making us loop or allocate for ever.
MAX_PHDRS = 4096
MAX_DYN_ENTRIES = 1 << 16
MAX_SYMBOLS = 1 << 24
MAX_TABLE_BYTES = 512 * 1024 * 1024


class _Unpacker(Protocol):
    def __call__(self, fmt: str, buffer: bytes, offset: int = ...) -> tuple[int, ...]: ...


def machine_name(e_machine: int, bits: int, little: bool, e_flags: int) -> str:
    """The architecture as wheel platform tags spell it."""
    if e_machine == 62:
        return "x86_64"
    if e_machine == 3:
        return "i686"
    if e_machine == 183:
        return "aarch64"
    if e_machine == 40:
        return "armv7l"
    if e_machine == 21:
        return "ppc64le" if little else "ppc64"
    if e_machine == 20:
        return "ppc"
    if e_machine == 22:
        return "s390x" if bits == 64 else "s390"
    if e_machine == 243:
        return "riscv64" if bits == 64 else "riscv32"
    if e_machine == 258:
        return "loongarch64"
    if e_machine == 8:
        return ("mips64" if bits == 64 else "mips") + ("el" if little else "")
    if e_machine == 2:
        return "sparc"
    if e_machine == 43:
        return "sparcv9"
    return f"elf-machine-{e_machine}"


@record(frozen=True)
class _Segment:
    """One program header: where a segment lies in the file and in memory."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


class _ElfReader:
    def __init__(self, read_at: ReadAt, path: str, size: int, read_spans: ReadSpans | None = None) -> None:
        self.path = path
        self.size = size
        self._read_at = read_at
        self._read_spans = read_spans

    def fail(self, why: str) -> MalformedBinary:
        return MalformedBinary(f"{self.path}: malformed ELF: {why}", path=self.path)

    def check(self, offset: int, size: int) -> None:
        """Raise unless ``size`` bytes at ``offset`` lie in the file and make a plausible table."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise self.fail(f"bytes {offset}..{offset + size} lie outside the file ({self.size} bytes)")
        if size > MAX_TABLE_BYTES:
            raise self.fail(f"a table of {size} bytes")

    def read(self, offset: int, size: int) -> bytes:
        self.check(offset, size)
        try:
            return self._read_at(offset, size)
        except EOFError as exc:
            raise self.fail(str(exc)) from None

    def read_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        """:meth:`read` of each span, through the caller's ``read_spans`` when it gave one."""
        if self._read_spans is None:
            return [self.read(offset, size) for offset, size in spans]
        for offset, size in spans:
            self.check(offset, size)
        try:
            return self._read_spans(spans)
        except EOFError as exc:
            raise self.fail(str(exc)) from None


def parse_elf(
    read_at: ReadAt,
    path: str,
    size: int,
    *,
    will_read: Callable[[int, int], None] | None = None,
    read_spans: ReadSpans | None = None,
    sample_code: bool = True,
) -> Binary:
    """Analyse one ELF file. Raises :class:`MalformedBinary` for broken structure.

    ``will_read(offset, end)``, if given, is told of the dynamic segment's read as soon as the
    program headers are parsed, before the code is sampled: a deflated member can start a
    second decoder towards it then (:meth:`wheelaudit.wheel.archive.MemberStream.prefetch`).
    ``read_spans``, if given, reads the code samples all at once (``MemberStream.read_spans``).
    ``sample_code=False`` leaves ``code_isa`` unset: a repair planning grafts from the host, or
    checking patchelf's edit, needs the dynamic tables only.
    """
    r = _ElfReader(read_at, path, size, read_spans)
    try:
        return _parse(r, will_read, sample_code)
    except struct.error as exc:  # a table shorter than its header promised
        raise r.fail(str(exc)) from None


class _Header(NamedTuple):
    """The ELF header fields the parse needs."""

    bits: int
    e: str  # struct byte order
    osabi: int
    e_type: int
    e_machine: int
    e_flags: int


def _read_header(r: _ElfReader) -> tuple[_Header, list[_Segment]]:
    """The ELF header and the program headers: all that lies at the file's start."""
    ident = r.read(0, 16)
    if ident[:4] != ELF_MAGIC:
        raise r.fail("bad magic")
    ei_class, ei_data, ei_osabi = ident[4], ident[5], ident[7]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise r.fail(f"unknown class {ei_class} or byte order {ei_data}")
    bits = 64 if ei_class == 2 else 32
    e = "<" if ei_data == 1 else ">"
    if bits == 64:
        hdr = r.read(16, 48)
        e_type, e_machine, _, _, e_phoff, _, e_flags, _, e_phentsize, e_phnum = struct.unpack(
            e + "HHIQQQIHHH", hdr[:42]
        )
    else:
        hdr = r.read(16, 36)
        e_type, e_machine, _, _, e_phoff, _, e_flags, _, e_phentsize, e_phnum = struct.unpack(
            e + "HHIIIIIHHH", hdr[:30]
        )
    segments = _read_segments(r, e, bits, e_phoff, e_phentsize, e_phnum)
    return _Header(bits, e, ei_osabi, e_type, e_machine, e_flags), segments


def _parse(r: _ElfReader, will_read: Callable[[int, int], None] | None, sample_code: bool) -> Binary:
    header, segments = _read_header(r)
    bits, e, ei_osabi, e_type, e_machine, e_flags = header
    word = "Q" if bits == 64 else "I"
    span = _dynamic_span(e, word, segments)
    if will_read is not None and span is not None and span[1] > span[0]:
        will_read(*span)
    arch = machine_name(e_machine, bits, e == "<", e_flags)

    interp = None
    executable_stack = False
    has_gnu_stack = False
    for seg in segments:
        if seg.type == PT_INTERP:
            interp = r.read(seg.offset, min(seg.filesz, 4096)).split(b"\0", 1)[0].decode("utf-8", "replace")
        elif seg.type == PT_GNU_STACK:
            has_gnu_stack = True
            executable_stack = bool(seg.flags & PF_X)
    code_isa = _code_isa(r, segments) if sample_code and e_machine == 62 and bits == 64 else None

    dyn = _read_dynamic(r, e, word, segments)
    loads = [s for s in segments if s.type == PT_LOAD]

    def file_offset(vaddr: int, what: str) -> int:
        for seg in loads:
            if seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return seg.offset + (vaddr - seg.vaddr)
        raise r.fail(f"{what} address {vaddr:#x} is not in any loaded segment")

    # The string, symbol and version tables, read once in file order and in pieces (see elfsymbols).
    strtab_at = file_offset(dyn[DT_STRTAB][0], "DT_STRTAB") if DT_STRTAB in dyn else None
    verneed_at = None
    verneed_error: MalformedBinary | None = None
    if DT_VERNEED in dyn:
        try:
            verneed_at = file_offset(dyn[DT_VERNEED][0], "DT_VERNEED")
        except MalformedBinary as exc:  # reported where the version needs are, after the dynamic strings
            verneed_error = exc
    dynamic_strings = [*dyn.get(DT_NEEDED, ()), *dyn.get(DT_SONAME, ())[:1], *dyn.get(DT_RPATH, ())]
    dynamic_strings += dyn.get(DT_RUNPATH, ())
    layout = Layout(
        e=e,
        bits=bits,
        strtab=strtab_at,
        strsz=dyn.get(DT_STRSZ, [0])[0],
        symtab=None,
        count=0,
        syment=0,
        versym=None,
        verneed=verneed_at,
        verneednum=dyn.get(DT_VERNEEDNUM, [0])[0],
    )
    symbols = None
    if DT_SYMTAB in dyn:
        syment = dyn.get(DT_SYMENT, [24 if bits == 64 else 16])[0]
        if syment not in (16, 24):
            raise r.fail(f"symbol entry size {syment}")
        symbols = _symbols_before_hash(r, bits, dyn, file_offset, replace(layout, syment=syment), dynamic_strings)
        if symbols is None:
            count = _symbol_count(r, e, bits, dyn, file_offset, syment)
            symtab_at = file_offset(dyn[DT_SYMTAB][0], "DT_SYMTAB")
            versym_at = file_offset(dyn[DT_VERSYM][0], "DT_VERSYM") if DT_VERSYM in dyn and count else None
            layout = replace(layout, symtab=symtab_at, count=count, syment=syment, versym=versym_at)
    if symbols is None:
        symbols = read_symbols(r, layout, dynamic_strings)
    string = symbols.names.__getitem__

    needed = tuple(string(v) for v in dyn.get(DT_NEEDED, ()))
    soname = string(dyn[DT_SONAME][0]) if DT_SONAME in dyn else None
    rpath = _split_paths(string(v) for v in dyn.get(DT_RPATH, ()))
    runpath = _split_paths(string(v) for v in dyn.get(DT_RUNPATH, ()))
    flags_1 = dyn.get(DT_FLAGS_1, [0])[0]

    # Version requirements: version index -> (library, version name, weak flag).
    if verneed_error is not None:
        raise verneed_error
    version_index = {idx: (string(lib), string(ver), weak) for idx, (lib, ver, weak) in symbols.verneed.items()}
    if symbols.bad_import is not None:
        raise r.fail(f"string offset {symbols.bad_import} past the string table")

    need_of = {idx: (ver, lib) for idx, (lib, ver, _) in version_index.items()}
    names = list(map(string, symbols.imports_name))
    imported, version_symbols = _imports(names, symbols.imports_weak, symbols.imports_version, need_of)
    exported: list[str] = []
    init_functions: list[str] = []
    defined_python: list[str] = []
    exports = symbols.exports
    for st_name in symbols.defined if exports else ():  # most libraries export no Python hook: skip the loop
        export = exports.get(st_name)
        if export is None:
            continue
        if export.startswith(("Py", "_Py")):
            defined_python.append(export)
            if export.startswith(INIT_PREFIXES):
                init_functions.append(export)
        exported.append(export)

    version_needs = tuple(
        VersionNeed(library=lib, version=ver, weak=weak, symbols=tuple(sorted(set(version_symbols.get(idx, ())))))
        for idx, (lib, ver, weak) in sorted(version_index.items())
    )

    if e_type == ET_EXEC or (e_type == ET_DYN and flags_1 & DF_1_PIE):
        # First: a frozen program's built-in modules give it PyInit_* exports (cx_Freeze's bases).
        kind = BinaryKind.EXECUTABLE
    elif init_functions:
        kind = BinaryKind.EXTENSION
    elif e_type == ET_DYN and interp and soname is None:
        kind = BinaryKind.EXECUTABLE
    elif e_type == ET_DYN:
        kind = BinaryKind.LIBRARY
    else:
        kind = BinaryKind.OTHER

    extra: dict[str, str] = {"osabi": str(ei_osabi), "elf_type": str(e_type)}
    if not has_gnu_stack and kind is not BinaryKind.OTHER:
        extra["gnu_stack"] = "absent"
    abi = _libc_of(interp, needed, version_needs)
    # The notes last: usually they lie in the kept prefix, but patchelf moves them to the end of the
    # file, and read before the code and the tables they made a deflated member inflate twice.
    isa_level = _isa_level(r, e, bits, segments) if e_machine == 62 else None
    if e_machine == 40:
        extra["arm_float_abi"] = "hard" if e_flags & EF_ARM_ABI_FLOAT_HARD else "soft"
        extra["arm_eabi"] = str(e_flags >> 24)
    return Binary(
        path=r.path,
        format=BinaryFormat.ELF,
        arch=arch,
        kind=kind,
        bits=bits,
        needed=needed,
        rpath=rpath,
        runpath=runpath,
        own_name=soname,
        interpreter=interp,
        abi=abi,
        version_needs=version_needs,
        imported_symbols=tuple(imported),
        exported_symbols=tuple(exported),
        init_functions=tuple(init_functions),
        defined_python_symbols=tuple(defined_python),
        isa_level=isa_level,
        code_isa=code_isa,
        executable_stack=executable_stack,
        misaligned_segments=misaligned_loads(segments),
        file_size=r.size,
        extra=extra,
    )


#: The smallest page of any Linux target: a loadable segment's file offset and address must agree modulo it.
MIN_PAGE = 4096


def misaligned_loads(segments: list[_Segment]) -> tuple[str, ...]:
    """The PT_LOAD segments whose file offset and address disagree modulo their alignment, described.

    The loader maps each segment from a page-aligned file offset to a page-aligned address,
    so ``p_vaddr - p_offset`` must be a multiple of the page size; glibc before 2.35 asked
    for a multiple of ``p_align`` too ("ELF load command address/offset not properly
    aligned", later "... not page-aligned"). A linker never writes such a file; a strip
    or patch tool that moved a segment may (llvm-strip 14 on files patchelf edited before).
    """
    out = []
    for index, seg in enumerate(segments):
        if seg.type != PT_LOAD:
            continue
        align = seg.align if seg.align > 1 and not seg.align & (seg.align - 1) else 1
        if (seg.vaddr - seg.offset) % max(align, MIN_PAGE):
            out.append(f"segment {index}: offset {seg.offset:#x}, address {seg.vaddr:#x}, alignment {seg.align:#x}")
    return tuple(out)


def tables_segment(head: bytes) -> tuple[int, int] | None:
    """File range of the first loaded segment, if ``.dynamic`` lies past it; ``head`` is the file's start.

    That segment holds the symbol, string and version tables (every linker puts them
    first), and they are found only through ``.dynamic``: a reader going forwards passes
    them before it knows it needs them. None when the headers are not in ``head`` or say otherwise.
    """
    r = _ElfReader(lambda offset, size: head[offset : offset + size], "", len(head))
    try:
        _, segments = _read_header(r)
    except (MalformedBinary, struct.error):
        return None
    loads = [(s.offset, s.offset + s.filesz) for s in segments if s.type == PT_LOAD]
    dynamic = next((s.offset for s in segments if s.type == PT_DYNAMIC), None)
    if not loads or dynamic is None:
        return None
    first = min(loads)
    return first if dynamic >= first[1] else None


#: Bytes before the kept prefix's end that :func:`tables_continue` looks at.
LEAD_BYTES = 16 * 1024
_TEXT = bytes(range(32, 127))
_SYMBOL_BINDS = frozenset((0, 1, 2, 10))  # local, global, weak, GNU unique
_SYMBOL_TYPES = frozenset((0, 1, 2, 3, 4, 5, 6, 10))  # notype .. TLS, GNU ifunc


def tables_continue(head: bytes, lead: bytes) -> bool:
    """Whether ``lead``, the bytes just before the end of the kept prefix, look like a symbol or string table.

    A hint, never a fact relied on: if so, the tables probably run on past the prefix and are
    worth keeping on disk as inflation passes them (tensorflow-cpu's .dynsym, a .dynstr); if
    not (relocations, read-only data: jaxlib, polars), writing the segment out would be wasted.
    A wrong answer costs time only: the tables are then read again behind ``.dynamic``.
    """
    if len(lead) < 4096 or len(head) < 6:
        return True  # cannot tell: keep
    nul = lead.count(0)
    other = len(lead.translate(None, _TEXT)) - nul
    if other <= 0.01 * len(lead) and 0.001 * len(lead) <= nul <= 0.5 * len(lead):
        return True  # a string table: names separated by NULs
    e = "<" if head[5] == 1 else ">"
    if head[4] == 2:  # Elf64_Sym: name, info, other, shndx, value, size
        layout, fields = struct.Struct(e + "IBBHQQ"), (1, 3, 4, 5)
    else:  # Elf32_Sym: name, value, size, info, other, shndx
        layout, fields = struct.Struct(e + "IIIBBH"), (3, 5, 1, 2)
    for phase in range(0, layout.size, 4 if head[4] == 1 else 8):
        entries = list(layout.iter_unpack(lead[phase : phase + (len(lead) - phase) // layout.size * layout.size]))
        good = 0
        for entry in entries:
            info, shndx, value, size = (entry[k] for k in fields)
            # Undefined symbols have no value in a library; relocations read as symbols do (jaxlib's).
            kind_ok = info >> 4 in _SYMBOL_BINDS and info & 15 in _SYMBOL_TYPES
            if kind_ok and (shndx != 0 or value == 0) and size < 1 << 32:
                good += 1
        if entries and good >= 0.9 * len(entries):
            return True
    return False


def _imports(
    names: list[str], weak: bytearray, versions: array.array[int] | None, need_of: dict[int, tuple[str, str]]
) -> tuple[list[ImportedSymbol], dict[int, list[str]]]:
    """The imported symbols (nameless entries left out), and the names under each needed version index.

    Tens of thousands in a C++ library (29,000 in scipy's 111): each tuple is made directly,
    a third of the time of the named tuple's ``__new__`` with keywords (67 ns against 211).
    """
    new = tuple.__new__
    if versions is None:
        return [new(ImportedSymbol, (name, None, None, w != 0)) for name, w in zip(names, weak) if name], {}
    imported: list[ImportedSymbol] = []
    by_version: dict[int, list[str]] = {}
    for name, w, version in zip(names, weak, versions):
        if not name:
            continue
        index = version & 0x7FFF
        need = need_of.get(index)
        if need is None:
            imported.append(new(ImportedSymbol, (name, None, None, w != 0)))
        else:
            imported.append(new(ImportedSymbol, (name, need[0], need[1], w != 0)))
            by_version.setdefault(index, []).append(name)
    return imported, by_version


def _split_paths(values: object) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:  # type: ignore[attr-defined]
        out.extend(p for p in str(value).split(":"))
    return tuple(out)


def _libc_of(interp: str | None, needed: tuple[str, ...], needs: tuple[VersionNeed, ...]) -> str | None:
    """Which C library the binary was linked against, when the file tells."""
    if interp:
        if "ld-musl" in interp:
            return "musl"
        if interp.startswith("/system/bin/linker"):
            return "android"
        return "glibc"
    if any(n.startswith(("libc.musl-", "ld-musl-")) for n in needed):
        return "musl"
    if any(n in ("libc.so.6", "libc.so.6.1", "libc.so.7") or n.startswith(("ld-linux", "ld64.so")) for n in needed):
        return "glibc"
    if "libc.so" in needed:  # the bare name: musl's loader answers it itself; Android's bionic has that SONAME
        return "android" if any(n in ("liblog.so", "libandroid.so") for n in needed) else "musl"
    # A GLIBC_ version needed from glibc's own libraries (libgcc_s on musl also defines GLIBC_2.0 nodes).
    if any(n.version.startswith("GLIBC_") and n.library.startswith(_GLIBC_LIBS) for n in needs):
        return "glibc"
    return None


_GLIBC_LIBS = ("libc.so.", "libm.so.", "libpthread.so.", "libdl.so.", "librt.so.", "libutil.so.", "ld-linux")


def _read_segments(r: _ElfReader, e: str, bits: int, phoff: int, phentsize: int, phnum: int) -> list[_Segment]:
    if phnum == 0:
        return []
    if phnum > MAX_PHDRS:
        raise r.fail(f"{phnum} program headers")
    expected = 56 if bits == 64 else 32
    if phentsize < expected:
        raise r.fail(f"program header size {phentsize}")
    table = r.read(phoff, phentsize * phnum)
    segments = []
    for i in range(phnum):
        if bits == 64:
            p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = struct.unpack_from(
                e + "IIQQQQQQ", table, i * phentsize
            )
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, p_align = struct.unpack_from(
                e + "IIIIIIII", table, i * phentsize
            )
        segments.append(_Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align))
    return segments


def _dynamic_span(e: str, word: str, segments: list[_Segment]) -> tuple[int, int] | None:
    """``[offset, end)`` of the file that :func:`_read_dynamic` reads; None without a dynamic segment."""
    dynamic = next((s for s in segments if s.type == PT_DYNAMIC), None)
    if dynamic is None:
        return None
    entry = struct.calcsize(e + word * 2)
    count = min(dynamic.filesz // entry, MAX_DYN_ENTRIES)
    return dynamic.offset, dynamic.offset + count * entry


def _read_dynamic(r: _ElfReader, e: str, word: str, segments: list[_Segment]) -> dict[int, list[int]]:
    span = _dynamic_span(e, word, segments)
    if span is None:
        return {}
    data = r.read(span[0], span[1] - span[0])
    out: dict[int, list[int]] = {}
    for tag, value in struct.iter_unpack(e + word * 2, data):
        if tag == DT_NULL:
            break
        out.setdefault(tag, []).append(value)
    return out


def _symbol_count(
    r: _ElfReader, e: str, bits: int, dyn: dict[int, list[int]], file_offset: Callable[[int, str], int], syment: int
) -> int:
    """How many entries ``.dynsym`` has; the dynamic segment only says so through the hash tables."""
    if DT_HASH in dyn:
        _nbucket, nchain = struct.unpack(e + "II", r.read(file_offset(dyn[DT_HASH][0], "DT_HASH"), 8))
        count = int(nchain)
    elif DT_GNU_HASH in dyn:
        base = file_offset(dyn[DT_GNU_HASH][0], "DT_GNU_HASH")
        nbuckets, symoffset, bloom_size, _shift = struct.unpack(e + "IIII", r.read(base, 16))
        if nbuckets > MAX_SYMBOLS or bloom_size > MAX_SYMBOLS:
            raise r.fail("oversized GNU hash table")
        buckets_at = base + 16 + bloom_size * (8 if bits == 64 else 4)
        buckets = struct.unpack(e + f"{nbuckets}I", r.read(buckets_at, 4 * nbuckets))
        last = max(buckets, default=0)
        if last < symoffset:
            # No hashed (exported) symbol: symoffset is then only a lower bound (lld writes 1).
            count = max(symoffset, _count_from_layout(dyn, syment))
        else:
            chains_at = buckets_at + 4 * nbuckets
            index = last
            while True:
                if index - symoffset > MAX_SYMBOLS:
                    raise r.fail("unterminated GNU hash chain")
                (h,) = struct.unpack(e + "I", r.read(chains_at + 4 * (index - symoffset), 4))
                if h & 1:
                    break
                index += 1
            count = index + 1
    else:
        count = _count_from_layout(dyn, syment)
        if not count:
            raise r.fail("cannot tell the number of dynamic symbols")
    if count > MAX_SYMBOLS:
        raise r.fail(f"{count} dynamic symbols")
    return count


def _symbols_before_hash(
    r: _ElfReader,
    bits: int,
    dyn: dict[int, list[int]],
    file_offset: Callable[[int, str], int],
    layout: Layout,
    dynamic_strings: list[int],
) -> Symbols | None:
    """The tables read with the number of symbols guessed, when the hash table giving it lies after ``.dynsym``.

    lld and mold write ``.dynsym`` first and the hash tables after it (and after the version
    tables): read in file order, a ``.dynsym`` larger than the kept prefix was otherwise read
    behind the hash table, inflating the member once more. The guess is where the next table
    starts (these linkers pack them); the hash table, read in its turn, must agree, else (or on
    any error, which the usual order then reports) this returns None and the tables are read again.
    """
    hash_tag = DT_HASH if DT_HASH in dyn else DT_GNU_HASH if DT_GNU_HASH in dyn else None
    guess = _count_from_layout(dyn, layout.syment)
    if hash_tag is None or not guess or guess > MAX_SYMBOLS:
        return None
    try:
        symtab_at = file_offset(dyn[DT_SYMTAB][0], "DT_SYMTAB")
        hash_at = file_offset(dyn[hash_tag][0], "DT_HASH")
        versym_at = file_offset(dyn[DT_VERSYM][0], "DT_VERSYM") if DT_VERSYM in dyn else None
        if hash_at < symtab_at + guess * layout.syment:
            return None  # the usual order reads the hash table first: forwards already

        def count() -> int:
            return _symbol_count(r, layout.e, bits, dyn, file_offset, layout.syment)

        guessed = replace(layout, symtab=symtab_at, count=guess, versym=versym_at)
        return read_symbols(r, guessed, dynamic_strings, (hash_at, count))
    except (MalformedBinary, CountMismatch, struct.error):
        return None


#: Dynamic tags whose tables linkers place after ``.dynsym``; the nearest one bounds its size.
_TABLES_AFTER_DYNSYM = (DT_STRTAB, DT_VERSYM, DT_VERNEED, 0x6FFFFFFC, DT_HASH, DT_GNU_HASH, 7, 17, 23)


def _count_from_layout(dyn: dict[int, list[int]], syment: int) -> int:
    """Symbols in ``.dynsym`` judged by where the next table starts (linkers pack them back to back)."""
    start = dyn[DT_SYMTAB][0]
    after = [dyn[tag][0] for tag in _TABLES_AFTER_DYNSYM if tag in dyn and dyn[tag][0] > start]
    return (min(after) - start) // syment if after else 0


def _isa_level(r: _ElfReader, e: str, bits: int, segments: list[_Segment]) -> int | None:
    """x86-64 micro-architecture level from the GNU property note (1 = baseline), if declared."""
    level: int | None = None
    prop_align = 8 if bits == 64 else 4
    for seg in segments:
        if seg.type != PT_NOTE or seg.filesz > 1 << 16:
            continue
        note_align = 8 if seg.align == 8 else 4
        data = r.read(seg.offset, seg.filesz)
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from(e + "III", data, pos)
            desc_at = pos + 12 + _round_up(namesz, note_align)
            name = data[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"GNU" and ntype == NT_GNU_PROPERTY_TYPE_0:
                desc = data[desc_at : desc_at + descsz]
                p = 0
                while p + 8 <= len(desc):
                    pr_type, pr_datasz = struct.unpack_from(e + "II", desc, p)
                    if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz >= 4:
                        (bitmask,) = struct.unpack_from(e + "I", desc, p + 8)
                        level = max(level or 1, bitmask.bit_length())
                    p += 8 + _round_up(pr_datasz, prop_align)
            pos = desc_at + _round_up(descsz, note_align)
    return level


def _code_isa(r: _ElfReader, segments: list[_Segment]) -> CodeIsa | None:
    """The level the machine code needs, sampled from the executable segments.

    Called before the dynamic segment is read: code lies before it, so a deflated
    member is still inflated once, forwards (the windows are read in file order).
    """
    from .isascan import scan_code

    spans = [(s.offset, s.filesz) for s in segments if s.type == PT_LOAD and s.flags & PF_X]
    dynamic = next((s.offset for s in segments if s.type == PT_DYNAMIC), None)
    return scan_code(r.read, spans, r.size, dynamic, r.read_spans)


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)
