"""What lies outside an ELF file's loaded image: debug info and symbol tables (for size hints).

The main parser (``elf.py``) never needs the section header table, which sits at the
end of the file. Size hints do, so this reads it, but only when the caller decides the
gap between the loaded image and the section table is worth a look: the ELF and
program headers (the first few KB) already give that gap.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..record import record
from .model import ReadAt

#: Below this many non-loaded bytes (and share of the file) a binary counts as stripped; no tail read.
GAP_BYTES = 256 * 1024
GAP_SHARE = 0.10
#: Deflated members up to this size are inflated to their end whenever the gap is notable (cheap: < 0.1 s).
SMALL_MEMBER = 8 * 1024 * 1024
#: Larger deflated members only when the gap is this big a share: a symbol table alone is 10-35% of a Rust
#: cdylib (measured on 30 real wheels), DWARF makes it most of the file. Avoids inflating 100+ MB for nothing.
LARGE_GAP_SHARE = 0.40
#: Deflated members larger than this are never inflated to their end; the gap is reported as an estimate.
EXACT_LIMIT = 256 * 1024 * 1024

PT_LOAD = 1
SHT_NOBITS = 8
SHT_SYMTAB = 2


@record(frozen=True)
class DebugSizes:
    """What the end of an ELF file holds besides the loaded image."""

    file_size: int
    debug: int  # .debug_* / .zdebug_* bytes (what strip --strip-debug removes)
    symtab: int  # .symtab + .strtab (what a full strip removes on top)
    unloaded: int  # bytes between the loaded image and the section header table
    exact: bool  # False: only ``unloaded`` is known (section table not read)


def elf_debug_sizes(read_at: ReadAt, size: int, *, read_tail: Callable[[int], bool]) -> DebugSizes | None:
    """Debug/symbol sizes of one ELF file; ``read_tail(unloaded)`` says whether to read the section table.

    Returns None for files too broken to tell (the main parser reports those).
    """
    try:
        ident = read_at(0, 16)
        if ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            return None
        is64 = ident[4] == 2
        e = "<" if ident[5] == 1 else ">"
        if is64:
            (phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack(
                e + "QQIHHHHHH", read_at(32, 32)
            )
        else:
            (phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack(
                e + "IIIHHHHHH", read_at(28, 24)
            )
        loaded_end = _loaded_end(read_at, e, is64, phoff, phentsize, phnum, size, shoff)
        if not shoff or shoff > size or loaded_end is None:
            return None
        unloaded = max(0, shoff - loaded_end)
        if not shnum or not read_tail(unloaded):
            return DebugSizes(size, 0, 0, unloaded, False)
        return _from_sections(read_at, e, is64, shoff, shentsize, shnum, shstrndx, size, unloaded)
    except (struct.error, EOFError, ValueError):
        return None


def _loaded_end(
    read_at: ReadAt, e: str, is64: bool, phoff: int, phentsize: int, phnum: int, size: int, shoff: int
) -> int | None:
    """Where the loaded image before the section table ends.

    Segments at or past the table do not count: patchelf appends its new PT_LOAD at the end of
    the file, where the table was, and counting it made every patchelf-edited file (every library
    an auditwheel-repaired wheel grafts) look stripped, its debug info unreported.
    """
    entry = 56 if is64 else 32
    if not phnum or phentsize < entry or phnum > 4096 or phoff + phnum * phentsize > size:
        return None
    table = read_at(phoff, phnum * phentsize)
    end = 0
    for i in range(phnum):
        if is64:
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(e + "IIQQQQ", table, i * phentsize)
        else:
            p_type, p_offset, _, _, p_filesz = struct.unpack_from(e + "IIIII", table, i * phentsize)
        if p_type == PT_LOAD and (not shoff or p_offset < shoff):
            end = max(end, p_offset + p_filesz)
    return end


def _from_sections(
    read_at: ReadAt, e: str, is64: bool, shoff: int, shentsize: int, shnum: int, shstrndx: int, size: int, unloaded: int
) -> DebugSizes | None:
    entry = 64 if is64 else 40
    if shentsize < entry or shnum > 65535 or shoff + shnum * shentsize > size or shstrndx >= shnum:
        return None
    table = read_at(shoff, shnum * shentsize)
    sections = []
    for i in range(shnum):
        if is64:
            name, sh_type, _, _, offset, sh_size = struct.unpack_from(e + "IIQQQQ", table, i * shentsize)
        else:
            name, sh_type, _, _, offset, sh_size = struct.unpack_from(e + "IIIIII", table, i * shentsize)
        sections.append((name, sh_type, offset, sh_size))
    _, _, str_off, str_size = sections[shstrndx]
    if str_off + str_size > size or str_size > 1 << 24:
        return None
    names = read_at(str_off, str_size)
    debug = symtab = 0
    for name_off, sh_type, offset, sh_size in sections:
        if sh_type == SHT_NOBITS or offset + sh_size > size:
            continue
        end = names.find(b"\0", name_off)
        name = names[name_off : end if end >= 0 else len(names)]
        if name.startswith((b".debug", b".zdebug")):
            debug += sh_size
        elif sh_type == SHT_SYMTAB or name == b".strtab":
            symtab += sh_size
    return DebugSizes(size, debug, symtab, unloaded, True)


def worth_reading_tail(unloaded: int, size: int, *, stored: bool) -> bool:
    """Whether the section table is worth reading, given the gap and what reading to the end costs."""
    if unloaded < GAP_BYTES and unloaded < GAP_SHARE * size:
        return False
    if stored or size <= SMALL_MEMBER:
        return True
    return unloaded >= LARGE_GAP_SHARE * size and size <= EXACT_LIMIT
