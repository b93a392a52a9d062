"""A length decoder for x86-64 machine code that also names each instruction's ISA family.

Only what sampling needs: how long each instruction is (legacy prefixes, REX, VEX
C4/C5, EVEX 62, XOP 8F, opcode maps 0F/0F38/0F3A, ModRM/SIB/displacement/immediate
sizes) and which extension it belongs to, by the x86-64 psABI micro-architecture
levels. Hand-written rather than a disassembler library: it only has to walk, not
print, and it measured faster (see ``isascan``) with no native dependency.
Opcode facts from the Intel SDM volume 2 opcode maps. :func:`decode` reads one instruction;
:func:`walk` counts a window's, through tables derived from the same maps (one lookup for most).
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False  # not typing's: the isaworker child imports nothing but enum
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Family(enum.IntEnum):
    """An instruction-set extension, ordered by the level that brings it."""

    OTHER = 0  # baseline integer and x87 code, and extensions outside the levels (AES, SHA, XOP...)
    SSE = 1  # legacy-encoded SSE/SSE2 (baseline)
    SSE3 = 2
    SSSE3 = 3
    SSE4 = 4  # SSE4.1 and SSE4.2
    POPCNT = 5
    CX16 = 6  # CMPXCHG16B
    LAHF = 7  # LAHF/SAHF in 64-bit mode
    AVX = 8  # VEX-encoded SIMD of AVX (and VEX forms of no family below)
    FMA = 9
    F16C = 10
    BMI = 11  # BMI1 and BMI2 (andn, bextr, blsr, bzhi, pdep, pext, mulx, shlx, sarx, shrx, rorx)
    LZCNT = 12
    MOVBE = 13
    AVX512 = 14  # EVEX-encoded
    TZCNT = 15  # F3 0F BC: runs as BSF on older CPUs, so compilers emit it for the baseline too
    AVX2 = 16  # VEX-encoded SIMD that AVX2 brings: integer ops on ymm, broadcasts, permutes, gathers


#: The x86-64 psABI level each family first appears in (families absent here are baseline).
LEVEL = {
    Family.SSE3: 2,
    Family.SSSE3: 2,
    Family.SSE4: 2,
    Family.POPCNT: 2,
    Family.CX16: 2,
    Family.LAHF: 2,
    Family.AVX: 3,
    Family.AVX2: 3,
    Family.FMA: 3,
    Family.F16C: 3,
    Family.BMI: 3,
    Family.LZCNT: 3,
    Family.MOVBE: 3,
    Family.AVX512: 4,
}

INVALID = -1

# One-byte map: bit 0 = ModRM follows; bits 1.. = immediate kind.
_M = 1
_I8, _I16, _I24, _IZ, _IV, _MOFFS, _GRP3 = (k << 1 for k in range(1, 8))
_BAD = -1


def _one_byte_map() -> list[int]:
    t = [0] * 256
    for row in range(0, 0x40, 8):  # ALU rows: r/m forms, AL/imm8, eAX/imm32
        t[row] = t[row + 1] = t[row + 2] = t[row + 3] = _M
        t[row + 4] = _I8
        t[row + 5] = _IZ
    for b in (0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F, 0x60, 0x61, 0x82, 0x9A):
        t[b] = _BAD
    for b in (0xCE, 0xD4, 0xD5, 0xD6, 0xEA):
        t[b] = _BAD
    t[0x63] = _M
    t[0x68], t[0x69], t[0x6A], t[0x6B] = _IZ, _M | _IZ, _I8, _M | _I8
    for b in range(0x70, 0x80):
        t[b] = _I8
    t[0x80], t[0x81], t[0x83] = _M | _I8, _M | _IZ, _M | _I8
    for b in range(0x84, 0x90):
        t[b] = _M
    for b in range(0xA0, 0xA4):
        t[b] = _MOFFS
    t[0xA8], t[0xA9] = _I8, _IZ
    for b in range(0xB0, 0xB8):
        t[b] = _I8
    for b in range(0xB8, 0xC0):
        t[b] = _IV
    t[0xC0], t[0xC1], t[0xC2], t[0xC6], t[0xC7] = _M | _I8, _M | _I8, _I16, _M | _I8, _M | _IZ
    t[0xC8], t[0xCA], t[0xCD] = _I24, _I16, _I8
    for b in (0xD0, 0xD1, 0xD2, 0xD3, *range(0xD8, 0xE0), 0xFE, 0xFF):
        t[b] = _M
    for b in range(0xE0, 0xE8):
        t[b] = _I8
    t[0xE8], t[0xE9], t[0xEB] = _IZ, _IZ, _I8
    t[0xF6], t[0xF7] = _M | _GRP3, _M | _GRP3
    return t


def _two_byte_map() -> list[int]:
    """0F xx: 1 = ModRM, 3 = ModRM + imm8, 8 = rel32, 0 = none, -1 = invalid."""
    t = [1] * 256
    for b in (0x04, 0x0A, 0x0C, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x7A, 0x7B):
        t[b] = -1
    t[0xA6] = t[0xA7] = t[0xFF] = -1
    for b in (0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77):
        t[b] = 0
    for b in (0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA, *range(0xC8, 0xD0)):
        t[b] = 0
    for b in (0x70, 0x71, 0x72, 0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4, 0xC5, 0xC6, 0x0F):
        t[b] = 3
    for b in range(0x80, 0x90):
        t[b] = 8
    return t


def _legacy_simd() -> bytes:
    t = bytearray(256)
    for b in (*range(0x10, 0x18), *range(0x28, 0x30), *range(0x50, 0x80), 0xC2, 0xC4, 0xC5, 0xC6, *range(0xD0, 0xFF)):
        t[b] = 1
    t[0x77] = 0
    return bytes(t)


def _map38_legacy() -> list[int]:
    t = [0] * 256
    for b in (*range(0x00, 0x0C), 0x1C, 0x1D, 0x1E):
        t[b] = Family.SSSE3
    for b in (0x10, 0x14, 0x15, 0x17, *range(0x20, 0x26), *range(0x28, 0x2C), *range(0x30, 0x36), *range(0x38, 0x42)):
        t[b] = Family.SSE4
    t[0x37] = Family.SSE4
    return t


def _map3a_legacy() -> list[int]:
    t = [0] * 256
    for b in (*range(0x08, 0x0F), *range(0x14, 0x18), 0x20, 0x21, 0x22, 0x40, 0x41, 0x42, 0x60, 0x61, 0x62, 0x63):
        t[b] = Family.SSE4
    t[0x0F] = Family.SSSE3
    return t


def _vex_map2() -> list[int]:
    t = [int(Family.AVX)] * 256
    for b in (*range(0x96, 0xA0), *range(0xA6, 0xB0), *range(0xB6, 0xC0)):
        t[b] = Family.FMA
    t[0x13] = Family.F16C
    for b in (0xF2, 0xF3, 0xF5, 0xF6, 0xF7):
        t[b] = Family.BMI
    return t


#: VEX forms that are AVX2 rather than AVX, per opcode map (0F, 0F38, 0F3A): bit 0 at either vector
#: length, bit 1 with VEX.L = 1 (the ymm form of an integer op AVX has only on xmm), bit 2 in register
#: form (vbroadcastss/sd from an xmm register; from memory they are AVX).
_AVX2_ANY, _AVX2_YMM, _AVX2_REG = 1, 2, 4


def _avx2_tables() -> tuple[bytes, bytes, bytes]:
    m1, m2, m3 = bytearray(256), bytearray(256), bytearray(256)
    ymm_int = (*range(0x60, 0x6E), *range(0x70, 0x77), *range(0xD1, 0xD6), *range(0xD7, 0xE6))
    for b in (*ymm_int, *range(0xE8, 0xF0), *range(0xF1, 0xF7), *range(0xF8, 0xFF)):
        m1[b] = _AVX2_YMM  # punpck/pack/pcmp/padd/psub/pmul/pand/por/pxor/shifts/pshufd/pmovmskb...
    for b in (0x16, 0x36, 0x45, 0x46, 0x47, 0x58, 0x59, 0x5A, 0x78, 0x79, 0x8C, 0x8E, 0x90, 0x91, 0x92, 0x93):
        m2[b] = _AVX2_ANY  # vpermps/d, vpsllv/srav/srlv, vpbroadcast*, vbroadcasti128, vpmaskmov, gathers
    for b in (*range(0x00, 0x0C), *range(0x1C, 0x1F), *range(0x20, 0x26), *range(0x28, 0x2C)):
        m2[b] = _AVX2_YMM  # pshufb, phadd, pmaddubsw, psign, pabs, pmovsx, pmuldq, pcmpeqq, packusdw
    for b in (*range(0x30, 0x36), *range(0x37, 0x41)):
        m2[b] = _AVX2_YMM  # pmovzx, pcmpgtq, pmin/pmax, pmulld
    m2[0x18] = m2[0x19] = _AVX2_REG
    for b in (0x00, 0x01, 0x02, 0x38, 0x39, 0x46):
        m3[b] = _AVX2_ANY  # vpermq/pd, vpblendd, vinserti128, vextracti128, vperm2i128
    for b in (0x0E, 0x0F, 0x42, 0x4C):
        m3[b] = _AVX2_YMM  # pblendw, palignr, mpsadbw, pblendvb
    return bytes(m1), bytes(m2), bytes(m3)


_AVX2_M1, _AVX2_M2, _AVX2_M3 = _avx2_tables()


def _is_avx2(flags: int, ymm: int, modrm: int) -> bool:
    """Whether a VEX form an AVX2 table marks with ``flags`` is AVX2, given VEX.L and its ModRM byte."""
    return bool(flags & _AVX2_ANY or (flags & _AVX2_YMM and ymm) or (flags & _AVX2_REG and modrm >= 0xC0))


_ONE = _one_byte_map()
_TWO = _two_byte_map()
_SIMD = _legacy_simd()
_M38 = _map38_legacy()
_M3A = _map3a_legacy()
_V2 = _vex_map2()
#: Legacy prefixes: 1 = segment/lock, 2 = 66, 3 = 67, 4 = F2, 5 = F3.
_PREFIX = bytes(
    {0x26: 1, 0x2E: 1, 0x36: 1, 0x3E: 1, 0x64: 1, 0x65: 1, 0xF0: 1, 0x66: 2, 0x67: 3, 0xF2: 4, 0xF3: 5}.get(b, 0)
    for b in range(256)
)
#: Bytes a ModRM byte adds (itself, SIB, displacement) when no SIB is present, by ModRM value.
_MODRM_LEN = bytes((1 if m >= 0xC0 else (1 + (m >> 6 == 1) + 4 * (m >> 6 == 2))) for m in range(256))


def _modrm_len(code: bytes, p: int) -> int:
    """Length of the ModRM byte at ``p`` with its SIB and displacement (64-bit addressing)."""
    m = code[p]
    mod, rm = m >> 6, m & 7
    if mod == 3:
        return 1
    if rm == 4:
        base = code[p + 1] & 7
        return 2 + (4 if mod == 2 or (mod == 0 and base == 5) else mod)
    if mod == 0:
        return 5 if rm == 5 else 1
    return _MODRM_LEN[m]


def decode(code: bytes, p: int) -> int:
    """One instruction at ``p``: ``length | family << 8``, or :data:`INVALID`.

    Raises IndexError when the instruction runs past the end of ``code``.
    """
    start = p
    opsize = addr32 = False
    rep = 0
    b = code[p]
    k = _PREFIX[b]
    while k:
        if k == 2:
            opsize = True
        elif k == 3:
            addr32 = True
        elif k >= 4:
            rep = k
        p += 1
        if p - start > 14:
            return INVALID
        b = code[p]
        k = _PREFIX[b]
    rexw = False
    if 0x40 <= b <= 0x4F:
        rexw = bool(b & 8)
        p += 1
        b = code[p]
    if b == 0x0F:
        return _two_byte(code, p + 1, start, opsize, rep, rexw)
    if b == 0xC5 or b == 0xC4 or b == 0x62:
        return _vex(code, p) if p == start else INVALID
    if b == 0x8F and code[p + 1] & 0x38:
        return _xop(code, p) if p == start else INVALID
    entry = _ONE[b]
    if entry < 0:
        return INVALID
    p += 1
    m = 0
    if entry & _M:
        m = code[p]
        p += _modrm_len(code, p)
    imm = entry & ~_M
    if not imm:
        return (p - start) | (Family.LAHF << 8 if b == 0x9E or b == 0x9F else 0)
    if imm == _I8:
        p += 1
    elif imm == _IZ:
        p += 2 if opsize and b != 0xE8 and b != 0xE9 else 4
    elif imm == _GRP3:
        if (m >> 3) & 7 < 2:
            p += 1 if b == 0xF6 else (2 if opsize else 4)
    elif imm == _IV:
        p += 8 if rexw else (2 if opsize else 4)
    elif imm == _I16:
        p += 2
    elif imm == _I24:
        p += 3
    else:  # _MOFFS
        p += 4 if addr32 else 8
    return p - start


def _two_byte(code: bytes, p: int, start: int, opsize: bool, rep: int, rexw: bool) -> int:
    b = code[p]
    if b == 0x38:
        op = code[p + 1]
        p += 2 + _modrm_len(code, p + 2)
        family: int
        if op == 0xF0 or op == 0xF1:
            family = Family.SSE4 if rep == 4 else Family.MOVBE
        elif op >= 0xC8:
            family = Family.OTHER  # SHA, AES, GFNI...
        else:
            family = _M38[op]
        return (p - start) | family << 8
    if b == 0x3A:
        op = code[p + 1]
        p += 3 + _modrm_len(code, p + 2)
        family = _M3A[op] if op < 0x44 or 0x60 <= op <= 0x63 else 0
        return (p - start) | family << 8
    entry = _TWO[b]
    if entry < 0:
        return INVALID
    p += 1
    family = 0
    if entry == 8:
        return (p + 4 - start) | 0
    if entry & 1:
        m = code[p]
        p += _modrm_len(code, p)
        if entry == 3:
            p += 1
        if b == 0x78 and (opsize or rep == 4):  # SSE4a extrq/insertq: two imm8
            p += 2
        if b == 0xC7 and rexw and (m >> 3) & 7 == 1:
            family = Family.CX16
        elif rep == 5 and b in (0xB8, 0xBC, 0xBD):
            family = Family.POPCNT if b == 0xB8 else (Family.TZCNT if b == 0xBC else Family.LZCNT)
        elif _SIMD[b]:
            family = Family.SSE3 if _is_sse3(b, opsize, rep) else Family.SSE
        elif b == 0x12 or b == 0x16:
            family = Family.SSE3 if rep else Family.SSE
    return (p - start) | family << 8


def _is_sse3(b: int, opsize: bool, rep: int) -> bool:
    if b == 0x7C or b == 0x7D or b == 0xD0:
        return opsize or rep == 4
    return b == 0xF0 and rep == 4


def _vex(code: bytes, p: int) -> int:
    """VEX (C4/C5) and EVEX (62) instructions; they take no legacy prefix."""
    start = p
    b = code[p]
    if b == 0xC5:
        mmap, pp, ymm = 1, code[p + 1] & 3, code[p + 1] & 4
        p += 2
    elif b == 0xC4:
        mmap, pp, ymm = code[p + 1] & 0x1F, code[p + 2] & 3, code[p + 2] & 4
        p += 3
    else:
        p0, p1 = code[p + 1], code[p + 2]
        if p0 & 0x08 or not p1 & 0x04:
            return INVALID
        mmap, pp = p0 & 7, p1 & 3
        if mmap not in (1, 2, 3, 5, 6):
            return INVALID
        op = code[p + 4]
        p += 5 + _modrm_len(code, p + 5)
        if mmap == 3 or (mmap == 1 and op in _VEX_MAP1_IMM):
            p += 1
        return (p - start) | Family.AVX512 << 8
    op = code[p]
    p += 1
    if mmap == 1:
        if op == 0x77:
            return (p - start) | Family.AVX << 8
        modrm = code[p]
        p += _modrm_len(code, p)
        if op in _VEX_MAP1_IMM:
            p += 1
        if op in _MASK_OPS:
            return (p - start) | Family.AVX512 << 8
        return (p - start) | (Family.AVX2 if _is_avx2(_AVX2_M1[op], ymm, modrm) else Family.AVX) << 8
    if mmap == 2:
        modrm = code[p]
        p += _modrm_len(code, p)
        family = _V2[op]
        if op == 0xF7 and pp == 0:
            family = Family.BMI
        elif family == Family.AVX and _is_avx2(_AVX2_M2[op], ymm, modrm):
            family = Family.AVX2
        return (p - start) | family << 8
    if mmap == 3:
        p += 1 + _modrm_len(code, p)
        family = Family.BMI if op == 0xF0 else (Family.F16C if op == 0x1D else Family.AVX)
        if 0x30 <= op <= 0x33:
            family = Family.AVX512  # kshift on mask registers
        elif family == Family.AVX and _is_avx2(_AVX2_M3[op], ymm, 0):
            family = Family.AVX2
        return (p - start) | family << 8
    return INVALID


_VEX_MAP1_IMM = frozenset((0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6))
#: VEX-encoded AVX-512 mask-register instructions (kmov, kand, kor, kortest, ktest...).
_MASK_OPS = frozenset((*range(0x41, 0x48), 0x4A, 0x4B, 0x90, 0x91, 0x92, 0x93, 0x98, 0x99))


def _xop(code: bytes, p: int) -> int:
    """AMD XOP (8F with ModRM.reg != 0): map 8 takes an imm8, map A an imm32."""
    start = p
    mmap = code[p + 1] & 0x1F
    if mmap not in (8, 9, 10):
        return INVALID
    p += 4
    p += _modrm_len(code, p)
    p += 1 if mmap == 8 else (4 if mmap == 10 else 0)
    return p - start


def _fast_tables() -> tuple[bytes, bytes]:
    """For the fast path of :func:`walk`: ModRM lengths (0 = a SIB byte follows) and immediate sizes.

    Immediate codes: 0-4 bytes as given, 5 = imm32 or imm64 (REX.W), 9 = slow path (group 3, moffs,
    LAHF/SAHF, prefixes, VEX/EVEX/XOP, invalid).
    """
    modrm = bytes(
        (1 if m >= 0xC0 else 0 if m & 7 == 4 else _MODRM_LEN[m] if m >> 6 else 5 if m & 7 == 5 else 1)
        for m in range(256)
    )
    imm = bytearray(256)
    sizes = {_I8: 1, _I16: 2, _I24: 3, _IZ: 4, _IV: 5}
    for b, entry in enumerate(_ONE):
        if entry < 0 or b in (0x9E, 0x9F) or b == 0x8F or _PREFIX[b] or b in (0xC4, 0xC5, 0x62) or 0x40 <= b <= 0x4F:
            imm[b] = 9
        else:
            imm[b] = sizes.get(entry & ~_M, 9 if entry & ~_M else 0)
    return modrm, bytes(imm)


_FAST_MODRM, _FAST_IMM = _fast_tables()


def walk(code: bytes, p: int, counts: list[int]) -> bool:
    """Decode from ``p`` to the end of ``code``, adding each instruction to ``counts[family]``.

    ``counts[len(Family)]`` counts ``00 00`` (``add [rax], al``: zero padding or data). Returns
    False at an invalid opcode.
    """
    return walk_end(code, p, counts) >= 0


def walk_end(code: bytes, p: int, counts: list[int]) -> int:
    """:func:`walk`, telling where it stopped: past the last instruction (the start of one cut off
    by the end of ``code``), or ``-1 - offset`` of an invalid opcode.

    The counts are those of :func:`_walk_exact`, one instruction at a time, which this leaves the
    last :data:`_MARGIN` bytes to (there an instruction may be cut off, and what counts then
    depends on which bytes that walk reads). Before them, instructions are looked up by their
    first three bytes in :func:`_load_tables`'s: the inner loop is one lookup per instruction, and
    entries it cannot finish (SIMD families, a prefix before 0F, rare forms) are numbers so large
    that adding one leaves it; the loop below reads them back. The scan was 0.2-0.25 us per
    instruction one instruction at a time, 0.09-0.11 with the tables (CPython 3.11, scipy's and
    pyarrow's windows).
    """
    end = len(code)
    safe = end - _MARGIN
    if p >= safe or end >= _SPECIAL:
        return _walk_exact(code, p, counts)
    first_three, prefix_rex_0f = _TABLES or _load_tables()
    modrm_len, sib_disp = _ML1, _SIB_DISP
    c, c1, c2 = code, code[1:], code[2:]  # c1[p] is code[p + 1]: one operation less per instruction
    found = [0] * (len(Family) + 1)  # families other than OTHER, and 00 00; OTHER is the rest of n
    n = 0
    while True:
        while p < safe:
            p += first_three[c[p]][c1[p]][c2[p]]
            n += 1
        if p < _SPECIAL:
            break
        info = p >> _SHIFT
        p &= _SPECIAL - 1  # the offset of the instruction
        kind = info >> 12
        if kind == _MODRM_AT:
            at = p + (info >> 10 & 3)
            m = modrm_len[c[at]]
            p += (info & 31) + (m or 2 + sib_disp[c[at + 1]])
            found[info >> 5 & 31] += 1
            continue
        if kind == _FAMILY_LEN:
            p += info & 31
            found[info >> 5 & 31] += 1
            continue
        if kind == _PREFIX_REX_0F:  # 66/F2/F3, REX, 0F: the opcode decides, with the ModRM byte 4 in
            e = prefix_rex_0f[info >> 10 & 3][c[p + 3]]
            if e < _SPECIAL:
                p += 2 + e
                continue
            info = e >> _SHIFT
            if info >> 12 == _MODRM_AT:
                at = p + 2 + (info >> 10 & 3)
                m = modrm_len[c[at]]
                p += 2 + (info & 31) + (m or 2 + sib_disp[c[at + 1]])
                found[info >> 5 & 31] += 1
                continue
        if kind == _PREFIX_RUN:  # prefixes as decode() reads them, then 0F: the opcode decides
            q = p
            opsize, rep, k = False, 0, _PREFIX[c[q]]
            while k and q - p < 14:
                if k == 2:
                    opsize = True
                elif k >= 4:
                    rep = k
                q += 1
                k = _PREFIX[c[q]]
            state = _STATE_ROWS.get((opsize, rep))
            if not k and c[q] == 0x0F and state is not None:
                e = prefix_rex_0f[state][c[q + 1]]
                if e < _SPECIAL:
                    p = q + e
                    continue
                info = e >> _SHIFT
                if info >> 12 == _MODRM_AT:
                    at = q + (info >> 10 & 3)
                    m = modrm_len[c[at]]
                    p = q + (info & 31) + (m or 2 + sib_disp[c[at + 1]])
                    found[info >> 5 & 31] += 1
                    continue
        r = decode(code, p)  # _SLOW: anything else, as the reference walk decodes it in the body
        if r == INVALID:
            _add_counts(counts, found, n - 1)
            return -1 - p
        found[r >> 8] += 1
        p += r & 0xFF
    _add_counts(counts, found, n)
    return _walk_exact(code, p, counts)


def advance(code: bytes, positions: list[int], target: int) -> None:
    """Step each of ``positions`` one instruction at a time, as :func:`decode` measures them (an
    invalid opcode is one byte), until at or past ``target``. Raises IndexError at an instruction
    cut off by the end of ``code``, as decode() does (``positions`` are then partly stepped)."""
    safe = len(code) - _MARGIN
    first_three, prefix_rex_0f = _TABLES or _load_tables()
    for i, p in enumerate(positions):
        while p < target:
            if p < safe:  # the table lengths are decode()'s where it reads nothing past the end
                e = first_three[code[p]][code[p + 1]][code[p + 2]]
                if e < _SPECIAL:
                    p += e
                    continue
                info = e >> _SHIFT
                kind = info >> 12
                if kind == _FAMILY_LEN:
                    p += info & 31
                    continue
                base = p
                if kind == _PREFIX_REX_0F:
                    e = prefix_rex_0f[info >> 10 & 3][code[p + 3]]
                    if e < _SPECIAL:
                        p += 2 + e
                        continue
                    base = p + 2
                    info = e >> _SHIFT
                    kind = info >> 12
                if kind == _MODRM_AT:
                    at = base + (info >> 10 & 3)
                    p = base + (info & 31) + (_ML1[code[at]] or 2 + _SIB_DISP[code[at + 1]])
                    continue
            r = decode(code, p)
            p += 1 if r == INVALID else r & 0xFF
        positions[i] = p


def _add_counts(counts: list[int], found: list[int], instructions: int) -> None:
    """Add a table walk's counts: ``found`` has the other families and ``00 00``, OTHER is the rest."""
    families = len(Family)
    counts[0] += instructions - sum(found[1:families])
    for f in range(1, families + 1):
        counts[f] += found[f]


def _walk_exact(code: bytes, p: int, counts: list[int]) -> int:
    """The reference walk, one instruction at a time (the thresholds were measured with it).

    Common instructions (optional REX, a one-byte or 0F opcode, no other prefix) take an inlined
    path; it reads no immediate, nor a SIB byte after a ModRM with a displacement, so an
    instruction cut off there still counts. Returns as :func:`walk_end`.
    """
    end = len(code)
    one, fast_modrm, fast_imm = _ONE, _FAST_MODRM, _FAST_IMM
    zeros = len(Family)
    while p < end:
        start = p
        try:
            b = code[p]
            rexw = False
            if 0x40 <= b <= 0x4F:
                rexw = b >= 0x48
                p += 1
                b = code[p]
            if b == 0x0F:
                r = _two_byte(code, p + 1, start, False, 0, rexw)
            else:
                imm = fast_imm[b]
                if imm == 9:
                    r = decode(code, start)
                else:
                    p += 1
                    if one[b] & _M:
                        m = code[p]
                        n = fast_modrm[m]
                        if not n:
                            mod = m >> 6
                            n = 2 + (4 if mod == 2 or (mod == 0 and code[p + 1] & 7 == 5) else mod)
                        p += n
                        if b == 0 and not rexw and m == 0:
                            counts[zeros] += 1
                    p += imm if imm != 5 else (8 if rexw else 4)
                    counts[0] += 1
                    continue
        except IndexError:  # the instruction runs past the end
            return start
        if r == INVALID:
            return -1 - start
        counts[r >> 8] += 1
        p = start + (r & 0xFF)
    return p


# --- the tables of walk_end -----------------------------------------------------------------------

#: The table walk leaves this many last bytes to the reference walk: more than any instruction
#: :func:`decode` reads (14 prefixes, REX, 0F 38, ModRM, SIB), so nothing before them is cut off.
_MARGIN = 24
#: An entry below _SPECIAL is a finished instruction of that many bytes (family OTHER); otherwise it
#: is ``info << _SHIFT``, ``info = kind << 12 | at << 10 | family << 5 | length``. Offsets and entries
#: stay below 2**30, one digit of a CPython int, whose operations the interpreter specialises (with
#: _SHIFT 32, scipy's windows walked 6% slower); code of _SPECIAL bytes or more takes _walk_exact.
_SHIFT = 15
_SPECIAL = 1 << _SHIFT
#: Kinds: _FAMILY_LEN, ``length`` bytes of ``family``; _MODRM_AT, the ModRM byte is ``at`` bytes
#: in and ``length`` counts the bytes but it (and its SIB and displacement); _PREFIX_REX_0F, a
#: prefix (``at``: 0 = 66, 1 = F2, 2 = F3), REX and 0F; _SLOW, ask :func:`decode`; _PREFIX_RUN, more
#: than one legacy prefix or another than 66/F2/F3 (multi-byte NOPs: 66 66 2E 0F 1F 84 ...).
_FAMILY_LEN, _MODRM_AT, _PREFIX_REX_0F, _SLOW, _PREFIX_RUN = 1, 2, 3, 4, 5
#: ModRM length with its displacement, or 0 when a SIB byte decides it (mod 0, r/m 4).
_ML1 = [0 if m < 0xC0 and m & 0xC7 == 0x04 else _modrm_len(bytes((m, 0)), 0) for m in range(256)]
#: What a SIB byte adds after mod 0: a disp32 when its base is 5.
_SIB_DISP = [4 if s & 7 == 5 else 0 for s in range(256)]
#: The legacy prefixes the tables follow into 0F: (operand size, repeat prefix as in decode()).
_STATES = {0x66: (True, 0), 0xF2: (False, 4), 0xF3: (False, 5)}
#: Rows of 0F opcodes after prefixes, by (operand size, repeat prefix): the three above, and none.
_STATE_ROWS = {**{state: i for i, state in enumerate(_STATES.values())}, (False, 0): len(_STATES)}
_ZERO_SLOT = len(Family)  # the slot of ``00 00`` in counts
#: One-byte opcodes the tables leave to decode() after a prefix or REX: VEX/EVEX/XOP, LAHF/SAHF,
#: group 3 (its immediate depends on ModRM.reg), and 0F (tabled separately).
_LEAVE = frozenset((0x0F, 0x62, 0x8F, 0x9E, 0x9F, 0xC4, 0xC5, 0xF6, 0xF7))

Row = list[int]
_TABLES: tuple[list[list[Row]], list[Row]] | None = None


def _special(kind: int, at: int = 0, family: int = 0, length: int = 0) -> int:
    return (kind << 12 | at << 10 | family << 5 | length) << _SHIFT


def _imm_size(entry: int, b: int, opsize: bool, rexw: bool) -> int:
    """Immediate bytes of one-byte opcode ``b`` (not group 3), as :func:`decode` counts them."""
    imm = entry & ~_M
    if imm == _IZ:
        return 2 if opsize and b != 0xE8 and b != 0xE9 else 4
    if imm == _IV:
        return 8 if rexw else (2 if opsize else 4)
    if imm == _MOFFS:
        return 8
    return {0: 0, _I8: 1, _I16: 2, _I24: 3}[imm]


def _two_family(b: int, opsize: bool, rep: int) -> int:
    """The family :func:`_two_byte` gives 0F ``b`` (a ModRM opcode other than C7)."""
    if rep == 5 and b in (0xB8, 0xBC, 0xBD):
        return Family.POPCNT if b == 0xB8 else (Family.TZCNT if b == 0xBC else Family.LZCNT)
    if _SIMD[b]:
        return Family.SSE3 if _is_sse3(b, opsize, rep) else Family.SSE
    if b == 0x12 or b == 0x16:
        return Family.SSE3 if rep else Family.SSE
    return Family.OTHER


def _two_entry(b: int, opsize: bool, rep: int, at: int) -> int:
    """0F ``b`` with the opcode ``at - 1`` bytes in; 0F 38/3A, C7 (CMPXCHG16B) and invalid ones are slow."""
    t = _TWO[b]
    if t < 0 or b in (0x38, 0x3A, 0xC7):
        return _special(_SLOW)
    if t == 8:
        return at + 4  # jcc rel32
    if t == 0:
        return at
    imm = (t == 3) + (2 if b == 0x78 and (opsize or rep == 4) else 0)
    return _special(_MODRM_AT, at, _two_family(b, opsize, rep), at + imm)


def _load_tables() -> tuple[list[list[Row]], list[Row]]:
    """Build the tables once, on the first walk (~5 ms): rows of 256 entries, shared where equal."""
    global _TABLES
    rows: dict[tuple[object, ...], Row] = {}

    def const(v: int) -> Row:
        row = rows.get(("const", v))
        if row is None:
            row = rows[("const", v)] = [v] * 256
        return row

    slow = const(_special(_SLOW))

    def modrm(at: int, imm: int, family: int = 0) -> Row:
        """Indexed by a ModRM byte ``at`` bytes into an instruction with ``imm`` bytes after it."""
        key = ("modrm", at, imm, family)
        if key not in rows:
            row = []
            for ml in _ML1:
                if not ml:
                    row.append(_special(_MODRM_AT, at, family, at + imm))
                elif family:
                    row.append(_special(_FAMILY_LEN, 0, family, at + ml + imm))
                else:
                    row.append(at + ml + imm)
            rows[key] = row
        return rows[key]

    def sib(length: int) -> Row:
        """Indexed by a SIB byte after mod 0: ``length`` and its disp32."""
        row = rows.get(("sib", length))
        if row is None:
            row = rows[("sib", length)] = [length + d for d in _SIB_DISP]
        return row

    def two(opsize: bool, rep: int, at: int) -> Row:
        row = rows.get(("two", opsize, rep, at))
        if row is None:
            row = rows[("two", opsize, rep, at)] = [_two_entry(b, opsize, rep, at) for b in range(256)]
        return row

    def after(b: int, opsize: bool, rexw: bool) -> Row:
        """One-byte opcode ``b`` after one byte of prefix or REX, indexed by the byte after it."""
        entry = _ONE[b]
        if entry < 0 or b in _LEAVE or _PREFIX[b] or 0x40 <= b <= 0x4F:
            return slow
        imm = _imm_size(entry, b, opsize, rexw)
        return modrm(2, imm) if entry & _M else const(2 + imm)

    plains: dict[tuple[int, int], list[Row]] = {}

    def plain(b: int) -> list[Row]:
        """One-byte opcode ``b`` first, indexed by the next two bytes."""
        entry = _ONE[b]
        if entry < 0 or b in (0x62, 0x8F, 0x9E, 0x9F, 0xC4, 0xC5):
            return [slow] * 256
        if not entry & _M:
            return [const(1 + _imm_size(entry, b, False, False))] * 256
        grp3 = entry & ~_M == _GRP3
        imm = (1 if b == 0xF6 else 4) if grp3 else _imm_size(entry, b, False, False)
        out = plains.get((imm, grp3))
        if out is None:
            out = []
            for m, ml in enumerate(_ML1):
                n = 0 if grp3 and (m >> 3) & 7 >= 2 else imm  # group 3: only TEST has an immediate
                out.append(sib(3 + n) if not ml else const(1 + ml + n))
            plains[imm, grp3] = out
        if b == 0:
            out = list(out)
            out[0] = const(_special(_FAMILY_LEN, 0, _ZERO_SLOT, 2))
        return out

    def rex(rexw: bool) -> list[Row]:
        out = [after(b, False, rexw) for b in range(256)]
        for b in range(256):
            if 0x40 <= b <= 0x4F or _PREFIX[b]:
                out[b] = const(2)  # decode() ends the instruction there
        out[0x0F] = two(False, 0, 3)
        if not rexw:
            zero = list(modrm(2, 0))
            zero[0] = _special(_FAMILY_LEN, 0, _ZERO_SLOT, 3)
            out[0] = zero
        return out

    def prefixed(b: int) -> list[Row]:
        opsize, rep = _STATES[b]
        out = [const(_special(_PREFIX_RUN)) if _PREFIX[b1] else after(b1, opsize, False) for b1 in range(256)]
        out[0x0F] = two(opsize, rep, 3)
        to_0f = [_special(_PREFIX_REX_0F, list(_STATES).index(b)) if b2 == 0x0F else slow[0] for b2 in range(256)]
        for r in range(0x40, 0x50):
            out[r] = to_0f
        return out

    rex_rows = (rex(False), rex(True))
    two_rows: list[Row] = []
    for b1 in range(256):
        entry = _two_entry(b1, False, 0, 2)
        info = entry >> _SHIFT
        if entry < _SPECIAL:
            two_rows.append(const(entry))
        elif info >> 12 == _MODRM_AT:
            two_rows.append(modrm(2, (info & 31) - 2, info >> 5 & 31))
        else:
            two_rows.append(slow)
    first: list[list[Row]] = []
    for b0 in range(256):
        if b0 in _STATES:
            first.append(prefixed(b0))
        elif _PREFIX[b0]:
            first.append([const(_special(_PREFIX_RUN))] * 256)
        elif 0x40 <= b0 <= 0x4F:
            first.append(rex_rows[b0 >= 0x48])
        elif b0 == 0x0F:
            first.append(two_rows)
        else:
            first.append(plain(b0))
    _TABLES = first, [two(opsize, rep, 2) for opsize, rep in _STATE_ROWS]
    return _TABLES


# -- one sampled window ------------------------------------------------------------------------

#: Starting offsets tried at each window start; the walk is kept from the first boundary they share.
SYNC_STARTS = 4
SYNC_STEPS = 64


def sync_point(code: bytes) -> int:
    """The first instruction boundary on which walks from several nearby starts agree.

    x86 code resynchronises within a few instructions; starting at a boundary all the
    walks share makes the rest of the window decode as the CPU would run it.
    """
    walkers = list(range(min(SYNC_STARTS, len(code))))
    for _ in range(SYNC_STEPS):
        lead = max(walkers)
        if walkers.count(lead) == len(walkers):
            return lead
        try:
            advance(code, walkers, lead)
        except IndexError:
            return len(code)
    return walkers[0]


def count_window(code: bytes) -> list[int] | None:
    """Instructions per family in one window of sampled code (the last slot: ``00 00``), or None
    if it is not code. Pure, and needing nothing but this module: the ISA helper process
    (``isaworker``) runs it too."""
    counts = [0] * (len(Family) + 1)
    return counts if walk(code, sync_point(code), counts) else None


# -- the same walk in C ----------------------------------------------------------------------------


def _load_native() -> Any:
    """The ``_x86walk`` module, configured with this module's tables; None where it was not built.

    The C walk (``_x86walk.c``, compiled by the build hook when a C compiler is there) takes
    ~10 ns per instruction against this module's ~100; its ``count_windows`` walks a list of
    windows with the GIL released. Its results are this module's :func:`count_window`'s
    (``tests/test_isa_native.py`` compares them on every sampled window of the pinned real wheels).
    """
    try:
        from . import _x86walk  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # not built, or this file run as the isaworker script (no package)
        return None
    _x86walk.configure(
        {
            "one": bytes(e & 0xFF for e in _ONE),
            "two": bytes(e & 0xFF for e in _TWO),
            "simd": _SIMD,
            "m38": bytes(_M38),
            "m3a": bytes(_M3A),
            "v2": bytes(_V2),
            "prefix": _PREFIX,
            "modrm_len": _MODRM_LEN,
            "fast_modrm": _FAST_MODRM,
            "fast_imm": _FAST_IMM,
            "vex_map1_imm": bytes(b in _VEX_MAP1_IMM for b in range(256)),
            "mask_ops": bytes(b in _MASK_OPS for b in range(256)),
            "avx2_m1": _AVX2_M1,
            "avx2_m2": _AVX2_M2,
            "avx2_m3": _AVX2_M3,
            **{family.name: int(family) for family in Family},
            "families": len(Family),
            "I8": _I8,
            "I16": _I16,
            "I24": _I24,
            "IZ": _IZ,
            "IV": _IV,
            "GRP3": _GRP3,
            "margin": _MARGIN,
            "sync_starts": SYNC_STARTS,
            "sync_steps": SYNC_STEPS,
            "special": _SPECIAL,
        }
    )
    return _x86walk


_native = _load_native()
#: :func:`count_window` in C, or None where the extension was not built (see :func:`_load_native`).
native_count_window: Callable[[bytes], list[int] | None] | None = _native.count_window if _native else None
#: :func:`count_window` of each window of a list, in C without the GIL; None where not built.
native_count_windows: Callable[[list[bytes]], list[list[int] | None]] | None = getattr(
    _native,
    "count_windows",
    None,  # (a build older than the source has none: one window at a time then)
)
#: ``tally_windows(windows, level_of, v2_mask, gpr_mask, zero_share)``: isascan's tally of the windows'
#: counts, walked and added up in C without the GIL; None where not built (or built before it existed).
native_tally_windows: Callable[..., tuple[Any, ...]] | None = getattr(_native, "tally_windows", None)
