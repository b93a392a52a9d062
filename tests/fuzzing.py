"""A small structure-aware mutator for the fuzz test: where the fields are, and how to damage them.

Random bytes rarely get past a magic number; what breaks parsers is a plausible file with
one offset, count or size wrong. So each format has a field finder that lists the
(offset, width) of the numbers a reader trusts — ELF program headers and dynamic entries,
Mach-O load commands and fat arches, PE data directories and import descriptors, ZIP
end records, central directory entries and their ZIP64 extras — and the mutator mostly
overwrites those with boundary values, besides generic flips, inserts, deletes,
duplications and truncations. Everything is driven by one ``random.Random``.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable
from typing import NamedTuple


class Field(NamedTuple):
    """A number some reader trusts: ``width`` bytes at ``offset`` in ``endian`` order."""

    offset: int
    width: int
    endian: str = "<"


FieldFinder = Callable[[bytes], list[Field]]


def _u(data: bytes, fmt: str, offset: int) -> int:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        return 0
    return int(struct.unpack_from(fmt, data, offset)[0])


# -- ELF -----------------------------------------------------------------------------------------


def elf_fields(data: bytes) -> list[Field]:
    """ELF header, program headers, dynamic entries, section headers, version-need records."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        return []
    is64, e = data[4] == 2, "<" if data[5] == 1 else ">"
    w = 8 if is64 else 4
    q = "Q" if is64 else "I"
    out: list[Field] = [Field(0x10, 2, e), Field(0x12, 2, e)]
    if is64:
        header = {"phoff": (0x20, 8), "shoff": (0x28, 8), "phentsize": (0x36, 2), "phnum": (0x38, 2)}
        header |= {"shentsize": (0x3A, 2), "shnum": (0x3C, 2), "shstrndx": (0x3E, 2)}
        ph = {"type": (0, 4), "offset": (8, 8), "vaddr": (16, 8), "filesz": (32, 8), "memsz": (40, 8)}
        sh = {"type": (4, 4), "offset": (24, 8), "size": (32, 8), "link": (40, 4)}
    else:
        header = {"phoff": (0x1C, 4), "shoff": (0x20, 4), "phentsize": (0x2A, 2), "phnum": (0x2C, 2)}
        header |= {"shentsize": (0x2E, 2), "shnum": (0x30, 2), "shstrndx": (0x32, 2)}
        ph = {"type": (0, 4), "offset": (4, 4), "vaddr": (8, 4), "filesz": (16, 4), "memsz": (20, 4)}
        sh = {"type": (4, 4), "offset": (16, 4), "size": (20, 4), "link": (24, 4)}
    out += [Field(o, n, e) for o, n in header.values()]
    phoff, phnum = _u(data, e + q, header["phoff"][0]), _u(data, e + "H", header["phnum"][0])
    phentsize = _u(data, e + "H", header["phentsize"][0]) or (56 if is64 else 32)
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    for i in range(min(phnum, 64)):
        base = phoff + i * phentsize
        out += [Field(base + o, n, e) for o, n in ph.values()]
        p_type = _u(data, e + "I", base)
        offset, vaddr, filesz = (_u(data, e + q, base + ph[k][0]) for k in ("offset", "vaddr", "filesz"))
        if p_type == 1:
            loads.append((vaddr, offset, filesz))
        elif p_type == 2:
            dynamic = (offset, filesz)
        elif p_type == 4:  # notes: namesz, descsz, type, and the first property's pr_type, pr_datasz
            at = offset
            while at + 12 <= min(offset + filesz, len(data)):
                out += [Field(at + o, 4, e) for o in (0, 4, 8, 16 + 4 * (_u(data, e + "I", at) > 4), 20)]
                at += 12 + (_u(data, e + "I", at) + 3) // 4 * 4 + (_u(data, e + "I", at + 4) + 3) // 4 * 4

    def file_offset(vaddr: int) -> int:
        for start, offset, size in loads:
            if start <= vaddr < start + size:
                return offset + vaddr - start
        return -1

    tables: dict[int, int] = {}  # d_tag -> file offset of the table it points at
    if dynamic:
        for at in range(dynamic[0], min(dynamic[0] + dynamic[1], len(data)) - 2 * w + 1, 2 * w):
            tag, value = _u(data, e + q, at), _u(data, e + q, at + w)
            out += [Field(at, w, e), Field(at + w, w, e)]
            tables.setdefault(tag, file_offset(value))
            if tag == 0:
                break
    at = tables.get(0x6FFFFEF5, -1)  # DT_GNU_HASH: nbuckets, symoffset, bloom size and shift, first buckets
    if at >= 0:
        out += [Field(at + 4 * i, 4, e) for i in range(4)]
        bloom = _u(data, e + "I", at + 8)
        out += [Field(at + 16 + bloom * w + 4 * i, 4, e) for i in range(4)]
    at = tables.get(4, -1)  # DT_HASH: nbucket, nchain
    if at >= 0:
        out += [Field(at, 4, e), Field(at + 4, 4, e)]
    at = tables.get(6, -1)  # DT_SYMTAB: st_name, st_info, st_shndx of the first symbols
    for i in range(1, 24 if at >= 0 else 0):
        sym = at + i * (24 if is64 else 16)
        out += [Field(sym, 4, e), Field(sym + (4 if is64 else 12), 1, e), Field(sym + (6 if is64 else 14), 2, e)]
    at = tables.get(0x6FFFFFF0, -1)  # DT_VERSYM: one version index per symbol
    out += [Field(at + 2 * i, 2, e) for i in range(1, 24 if at >= 0 else 0)]
    verneed = tables.get(0x6FFFFFFE, -1)
    at = verneed
    for _ in range(16):  # Elf_Verneed: vn_cnt, vn_file, vn_aux, vn_next; one Elf_Vernaux
        if at < 0 or at + 16 > len(data):
            break
        out += [Field(at + 2, 2, e), Field(at + 4, 4, e), Field(at + 8, 4, e), Field(at + 12, 4, e)]
        aux = at + _u(data, e + "I", at + 8)
        out += [Field(aux + 8, 4, e), Field(aux + 12, 4, e)]
        step = _u(data, e + "I", at + 12)
        at = at + step if step else -1
    shoff, shnum = _u(data, e + q, header["shoff"][0]), _u(data, e + "H", header["shnum"][0])
    shentsize = _u(data, e + "H", header["shentsize"][0]) or (64 if is64 else 40)
    for i in range(min(shnum, 64)):
        out += [Field(shoff + i * shentsize + o, n, e) for o, n in sh.values()]
    return [f for f in out if f.offset >= 0 and f.offset + f.width <= len(data)]


# -- Mach-O --------------------------------------------------------------------------------------


def macho_fields(data: bytes, base: int = 0, depth: int = 0) -> list[Field]:
    """Thin header and every load command's words; fat headers and each slice they point at."""
    magic = data[base : base + 4]
    out: list[Field] = []
    if magic in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf") and depth == 0:
        wide = magic[3] == 0xBF
        count = _u(data, ">I", base + 4)
        out.append(Field(base + 4, 4, ">"))
        for i in range(min(count, 16)):
            at = base + 8 + i * (32 if wide else 20)
            fields = [(0, 4), (8, 8), (16, 8), (24, 4)] if wide else [(0, 4), (8, 4), (12, 4), (16, 4)]
            out += [Field(at + o, n, ">") for o, n in fields]
            offset = _u(data, ">Q" if wide else ">I", at + 8)
            if 0 < offset < len(data):
                out += macho_fields(data, offset, depth + 1)
        return out
    if magic in (b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        e = "<"
    elif magic in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf"):
        e = ">"
    else:
        return out
    is64 = magic in (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf")
    out += [Field(base + o, 4, e) for o in (4, 12, 16, 20, 24)]  # cputype, filetype, ncmds, sizeofcmds, flags
    at = base + (32 if is64 else 28)
    for _ in range(min(_u(data, e + "I", base + 16), 256)):
        cmd, size = _u(data, e + "I", at), _u(data, e + "I", at + 4)
        out += [Field(at + o, 4, e) for o in range(0, min(max(size, 8), 48), 4)]
        trie = {0x80000033: 8, 0x80000022: 40, 0x22: 40}.get(cmd)  # LC_DYLD_EXPORTS_TRIE, LC_DYLD_INFO(_ONLY)
        if trie is not None:  # the export trie's first bytes: terminal sizes, edge counts, ULEB128 offsets
            start = base + _u(data, e + "I", at + trie)
            out += [Field(start + i, 1, e) for i in range(min(_u(data, e + "I", at + trie + 4), 48))]
        if cmd == 0x1D:  # LC_CODE_SIGNATURE: the superblob's count and first index entries (big-endian)
            sig = base + _u(data, e + "I", at + 8)
            out += [Field(sig + 8, 4, ">")] + [Field(sig + 12 + o, 4, ">") for o in range(0, 32, 4)]
        if cmd == 2:  # LC_SYMTAB: n_strx, n_type, n_sect, n_desc of the first symbols
            for i in range(min(_u(data, e + "I", at + 12), 16)):
                sym = base + _u(data, e + "I", at + 8) + i * (16 if is64 else 12)
                out += [Field(sym, 4, e), Field(sym + 4, 1, e), Field(sym + 5, 1, e), Field(sym + 6, 2, e)]
        if size < 8:
            break
        at += size
    return [f for f in out if f.offset >= 0 and f.offset + f.width <= len(data)]


# -- PE ------------------------------------------------------------------------------------------


def pe_fields(data: bytes) -> list[Field]:
    """e_lfanew, COFF and optional header counts, data directories, sections, import/export/debug tables."""
    if data[:2] != b"MZ":
        return []
    out = [Field(0x3C, 4)]
    pe = _u(data, "<I", 0x3C)
    if data[pe : pe + 4] != b"PE\0\0":
        return out
    out += [Field(pe + 4, 2), Field(pe + 6, 2), Field(pe + 20, 2), Field(pe + 22, 2)]
    opt = pe + 24
    plus = _u(data, "<H", opt) == 0x20B
    out += [Field(opt, 2), Field(opt + 56, 4), Field(opt + 60, 4), Field(opt + (108 if plus else 92), 4)]
    dirs = opt + (112 if plus else 96)
    out += [Field(dirs + 4 * i, 4) for i in range(32)]
    nsections = _u(data, "<H", pe + 6)
    first = opt + _u(data, "<H", pe + 20)
    sections = []
    for i in range(min(nsections, 96)):
        at = first + 40 * i
        out += [Field(at + o, 4) for o in (8, 12, 16, 20, 36)]
        sections.append((_u(data, "<I", at + 12), _u(data, "<I", at + 8), _u(data, "<I", at + 20)))

    def offset_of(rva: int) -> int:
        for start, size, raw in sections:
            if start <= rva < start + size:
                return raw + rva - start
        return -1

    def directory(index: int) -> int:
        return offset_of(_u(data, "<I", dirs + 8 * index))

    at = directory(1)  # import descriptors: OriginalFirstThunk, Name, FirstThunk
    for _ in range(32):
        if at < 0 or not any(data[at : at + 20]):
            break
        out += [Field(at, 4), Field(at + 12, 4), Field(at + 16, 4)]
        at += 20
    at = directory(0)  # export directory
    if at >= 0:
        out += [Field(at + o, 4) for o in (12, 16, 20, 24, 28, 32, 36)]
    at = directory(13)  # delay-load descriptors
    for _ in range(16):
        if at < 0 or not any(data[at : at + 32]):
            break
        out += [Field(at + o, 4) for o in (0, 4, 12, 16)]
        at += 32
    at = directory(6)  # debug directory entries
    if at >= 0:
        out += [Field(at + o, 4) for o in (12, 16, 20, 24)]
    return [f for f in out if f.offset >= 0 and f.offset + f.width <= len(data)]


# -- ZIP -----------------------------------------------------------------------------------------


def zip_fields(data: bytes) -> list[Field]:
    """End records (ZIP64 too), central directory entries with their extras, local headers and names."""
    eocd = data.rfind(b"PK\x05\x06")
    if eocd < 0:
        return []
    out = [Field(eocd + o, n) for o, n in ((4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2))]
    cd = _u(data, "<I", eocd + 16)
    locator = data.rfind(b"PK\x06\x07", 0, eocd)
    if locator >= 0:
        out += [Field(locator + 4, 4), Field(locator + 8, 8), Field(locator + 16, 4)]
        record = _u(data, "<Q", locator + 8)
        if data[record : record + 4] == b"PK\x06\x06":
            out += [Field(record + o, n) for o, n in ((4, 8), (16, 4), (20, 4), (24, 8), (32, 8), (40, 8), (48, 8))]
            cd = _u(data, "<Q", record + 48)
    at = cd
    for _ in range(64):
        if data[at : at + 4] != b"PK\x01\x02":
            break
        out += [Field(at + o, n) for o, n in ((8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2))]
        out += [Field(at + o, n) for o, n in ((32, 2), (34, 2), (38, 4), (42, 4))]
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        out += [Field(at + 46 + i, 1) for i in range(min(name_len, 8))]  # name bytes: '/', '.', '\\', NUL
        extra = at + 46 + name_len
        x = extra
        while x + 4 <= extra + extra_len:  # extra blocks: id, size, and for ZIP64 each 8-byte value
            out += [Field(x, 2), Field(x + 2, 2)]
            size = _u(data, "<H", x + 2)
            if _u(data, "<H", x) == 1:
                out += [Field(x + 4 + 8 * i, 8) for i in range(size // 8)]
            x += 4 + size
        local = _u(data, "<I", at + 42)
        if data[local : local + 4] == b"PK\x03\x04":
            out += [Field(local + o, n) for o, n in ((6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2))]
        at = extra + extra_len + comment_len
    return [f for f in out if f.offset >= 0 and f.offset + f.width <= len(data)]


def zip64ify(data: bytes) -> bytes:
    """The same archive with ZIP64 everywhere: 0xFFFFFFFF sizes and offsets in the directory, a ZIP64
    extra block per entry, and a ZIP64 end record and locator (what a writer does for huge wheels)."""
    eocd = data.rfind(b"PK\x05\x06")
    count, _cd_size, cd = struct.unpack_from("<HII", data, eocd + 10)
    entries = b""
    at = cd
    for _ in range(count):
        head = bytearray(data[at : at + 46])
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", head, 28)
        csize, usize = struct.unpack_from("<II", head, 20)
        local = struct.unpack_from("<I", head, 42)[0]
        name = data[at + 46 : at + 46 + name_len]
        extra = struct.pack("<HHQQQ", 1, 24, usize, csize, local)
        struct.pack_into("<II", head, 20, 0xFFFFFFFF, 0xFFFFFFFF)
        struct.pack_into("<HHH", head, 28, name_len, len(extra), 0)
        struct.pack_into("<I", head, 42, 0xFFFFFFFF)
        entries += bytes(head) + name + extra
        at += 46 + name_len + extra_len + comment_len
    body = data[:cd] + entries
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(entries), cd)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, len(body), 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return body + record + locator + end


# -- wheels --------------------------------------------------------------------------------------

TAGS = {"elf": "manylinux_2_17_x86_64", "macho": "macosx_11_0_universal2", "pe": "win_amd64"}
MEMBERS = {"elf": "pkg/_ext.abi3.so", "macho": "pkg/_ext.abi3.so", "pe": "pkg/_ext.pyd"}


def wheel_name(kind: str) -> str:
    return f"pkg-0.1.0-cp38-abi3-{TAGS.get(kind, TAGS['elf'])}.whl"


def wheel_bytes(kind: str, binary: bytes, method: int = zipfile.ZIP_STORED) -> bytes:
    """A minimal wheel holding ``binary`` as its one extension module, tagged for its platform."""
    di = "pkg-0.1.0.dist-info"
    member = MEMBERS[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as z:
        z.writestr(member, binary)
        z.writestr(f"{di}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp38-abi3-{TAGS[kind]}\n")
        z.writestr(f"{di}/METADATA", "Metadata-Version: 2.1\nName: pkg\nVersion: 0.1.0\n")
        z.writestr(f"{di}/RECORD", f"{member},,\n{di}/WHEEL,,\n{di}/METADATA,,\n{di}/RECORD,,\n")
    return buffer.getvalue()


# -- the mutator ---------------------------------------------------------------------------------


def _interesting(rng: random.Random, current: int, width: int, size: int, others: list[int]) -> int:
    top = (1 << (8 * width)) - 1
    choices = [0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, top, top >> 1, (top >> 1) + 1]
    choices += [size, size - 1, size + 1, size // 2, current + 1, current - 1, current + 8, current * 2]
    choices += [current >> 1, current ^ (1 << rng.randrange(8 * width)), rng.randrange(top + 1)]
    if others:
        choices.append(rng.choice(others))
    return rng.choice(choices) & top


def mutate(data: bytes, fields: list[Field], rng: random.Random) -> bytes:
    """One to four damages: mostly field overwrites when fields are known, else byte-level ones."""
    out = bytearray(data)
    values = [_u(data, f.endian + {1: "B", 2: "H", 4: "I", 8: "Q"}[f.width], f.offset) for f in fields[:256]]
    for _ in range(1 + min(3, int(rng.expovariate(1.0)))):
        size = len(out)
        op = rng.random()
        if fields and op < 0.6:
            f = rng.choice(fields)
            if f.offset + f.width > size:
                continue
            code = f.endian + {1: "B", 2: "H", 4: "I", 8: "Q"}[f.width]
            current = struct.unpack_from(code, out, f.offset)[0]
            struct.pack_into(code, out, f.offset, _interesting(rng, current, f.width, size, values))
        elif op < 0.7 and size:
            pos = rng.randrange(min(size, 8192)) if rng.random() < 0.7 else rng.randrange(size)
            out[pos] ^= 1 << rng.randrange(8)
        elif op < 0.78:
            pos = rng.randrange(size + 1)
            out[pos:pos] = rng.randbytes(rng.choice([1, 2, 4, 8, rng.randrange(1, 256)]))
        elif op < 0.86 and size > 1:
            pos = rng.randrange(size)
            del out[pos : pos + rng.choice([1, 2, 4, 8, rng.randrange(1, 4096)])]
        elif op < 0.93 and size > 1:
            start = rng.randrange(size)
            chunk = bytes(out[start : start + rng.randrange(1, 512)])
            pos = rng.randrange(size)
            if rng.random() < 0.5:
                out[pos:pos] = chunk
            else:
                out[pos : pos + len(chunk)] = chunk
        else:
            cut = rng.randrange(min(size, 4096) + 1) if rng.random() < 0.4 else rng.randrange(size + 1)
            del out[cut:]
    return bytes(out)
