"""The table walk of x86decode.walk_end against the walk it replaced (issues 9 and 16).

The ISA verdicts come from instruction counts, so the fast walk must count exactly what the
one-instruction-at-a-time walk counted, window by window, and stop where it stopped (at an
invalid opcode, or at an instruction cut off by the end of the window). The reference below is
that walk as it was, kept here unchanged but for reporting where it stopped. It is run against
the new one on windows of the x86-64 libraries of the pinned real wheels and of gcc-built
fixtures (from their sync points, as the scan walks them, and from arbitrary offsets, which
decode garbage), on every first two bytes and every prefix/opcode/ModRM form the tables
handle, and on random bytes.
"""

from __future__ import annotations

import platform
import random
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from wheelaudit.binary.isascan import WINDOW_BYTES
from wheelaudit.binary.x86decode import (
    _FAST_IMM,
    _FAST_MODRM,
    _M,
    _ONE,
    INVALID,
    SYNC_STARTS,
    SYNC_STEPS,
    Family,
    _two_byte,
    advance,
    decode,
    walk,
    walk_end,
)
from wheelaudit.binary.x86decode import sync_point as _sync_point

SLOTS = len(Family) + 1
SOURCES = Path(__file__).parent / "isa_sources"
#: Bytes read from the start of each library member (its ELF headers and the code after them).
MEMBER_PREFIX = 3 * 1024 * 1024
WINDOWS_PER_LIBRARY = 16


def reference_walk(code: bytes, p: int, counts: list[int]) -> int:
    """x86decode.walk before the tables, returning where it stopped as walk_end does."""
    end = len(code)
    one, fast_modrm, fast_imm = _ONE, _FAST_MODRM, _FAST_IMM
    zeros = len(Family)
    start = p
    try:
        while p < end:
            start = p
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
                    if r == INVALID:
                        return -1 - start
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
            if r == INVALID:
                return -1 - start
            counts[r >> 8] += 1
            p = start + (r & 0xFF)
    except IndexError:  # the last instruction runs past the end
        return start
    return p


def reference_sync_point(code: bytes) -> int:
    """x86decode.sync_point before x86decode.advance(): decode() one instruction at a time."""
    walkers = list(range(min(SYNC_STARTS, len(code))))
    for _ in range(SYNC_STEPS):
        lead = max(walkers)
        if all(w == lead for w in walkers):
            return lead
        for i, w in enumerate(walkers):
            while w < lead:
                try:
                    r = decode(code, w)
                except IndexError:
                    return len(code)
                w = w + 1 if r == INVALID else w + (r & 0xFF)
            walkers[i] = w
    return walkers[0]


def reference_advance(code: bytes, p: int, target: int) -> int | None:
    """Where decode() stepping from ``p`` gets at or past ``target``; None where it raises IndexError."""
    while p < target:
        try:
            r = decode(code, p)
        except IndexError:
            return None
        p += 1 if r == INVALID else r & 0xFF
    return p


def _same_advance(code: bytes, p: int, what: str) -> None:
    for target in (p + 1, p + 16, len(code) - 30, len(code)):
        expected = reference_advance(code, p, target)
        positions = [p]
        try:
            advance(code, positions, target)
            got: int | None = positions[0]
        except IndexError:
            got = None
        assert got == expected, f"{what}: advance from {p} to {target}: {code[p : p + 24].hex(' ')}"


def _same(code: bytes, p: int, what: str) -> None:
    expected = [0] * SLOTS
    stop = reference_walk(code, p, expected)
    counts = [0] * SLOTS
    assert (walk_end(code, p, counts), counts) == (stop, expected), f"{what} from {p}: {code[p : p + 24].hex(' ')}"
    again = [0] * SLOTS
    assert walk(code, p, again) == (stop >= 0) and again == expected


# --- real code -----------------------------------------------------------------------------------


def _executable_spans(head: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the executable PT_LOAD segments of a 64-bit little-endian x86-64 ELF file."""
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1 or struct.unpack_from("<H", head, 18)[0] != 62:
        return []
    phoff, phentsize, phnum = struct.unpack_from("<Q", head, 32)[0], *struct.unpack_from("<HH", head, 54)
    spans = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + 56 > len(head):
            break
        p_type, p_flags, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", head, at)
        if p_type == 1 and p_flags & 1:
            spans.append((p_offset, p_filesz))
    return spans


def _windows(code: bytes, spans: list[tuple[int, int]], count: int) -> list[bytes]:
    """``count`` windows spread over the executable spans that lie in ``code``."""
    spans = [(o, min(s, len(code) - o)) for o, s in spans if o < len(code)]
    spans = [(o, s) for o, s in spans if s >= WINDOW_BYTES]
    total = sum(s for _, s in spans)
    out = []
    for offset, size in spans:
        k = max(1, count * size // total)
        step = (size - WINDOW_BYTES) // k
        out += [code[offset + i * step : offset + i * step + WINDOW_BYTES] for i in range(k)]
    return out


def _check_windows(windows: list[bytes], what: str) -> int:
    """Walk each window from its sync point and from a few raw offsets; returns the windows walked."""
    for window in windows:
        assert _sync_point(window) == reference_sync_point(window), what
        _same_advance(window, 1, what)
        for p in {_sync_point(window), 0, 1, 3, len(window) - 40}:
            if 0 <= p < len(window):
                _same(window, p, what)
    return len(windows)


@pytest.fixture(scope="session")
def real_x86_64_windows(real_wheels: dict[str, Path]) -> dict[str, list[bytes]]:
    """Windows of every x86-64 library (its first MEMBER_PREFIX bytes) in the pinned Linux wheels."""
    out: dict[str, list[bytes]] = {}
    for name, path in sorted(real_wheels.items()):
        if "x86_64" not in name:
            continue
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.file_size < 64 * 1024 or info.is_dir():
                    continue
                with archive.open(info) as member:
                    if member.read(4) != b"\x7fELF":
                        continue
                    head = b"\x7fELF" + member.read(MEMBER_PREFIX - 4)
                windows = _windows(head, _executable_spans(head), WINDOWS_PER_LIBRARY)
                if windows:
                    out[f"{name}:{info.filename}"] = windows
    return out


def test_real_libraries(real_x86_64_windows: dict[str, list[bytes]]) -> None:
    assert len(real_x86_64_windows) > 100  # ~170 x86-64 libraries in the pinned Linux wheels
    walked = sum(_check_windows(windows, what) for what, windows in real_x86_64_windows.items())
    assert walked > 2000


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or not shutil.which("gcc"), reason="needs gcc on x86_64"
)
def test_gcc_fixtures(tmp_path: Path) -> None:
    """kern.c at every -march level (v3/v4: VEX, EVEX, BMI) and its whole executable segment."""
    for march in ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"):
        lib = tmp_path / f"libkern-{march}.so"
        cmd = ["gcc", "-O3", f"-march={march}", "-shared", "-fPIC", "-o", str(lib), str(SOURCES / "kern.c"), "-lm"]
        subprocess.run(cmd, check=True)
        data = lib.read_bytes()
        spans = _executable_spans(data)
        assert spans, march
        _check_windows(_windows(data, spans, 32), march)
        for offset, size in spans:  # whole segments too: longer than a window
            segment = data[offset : offset + size]
            for p in range(4):
                _same(segment, p, f"{march} segment")


# --- every form the tables handle ----------------------------------------------------------------

#: ModRM bytes of every mod/rm class with various reg fields (group 3 has an immediate for reg 0-1),
#: and SIB bytes with base 5 and not.
MODRMS = [mod << 6 | (mod * 3 + rm) % 8 << 3 | rm for mod in range(4) for rm in range(8)] + [0x0C, 0x34, 0x40, 0xF8]
SIBS = (0x24, 0x25, 0xC5, 0x3C)


def test_every_first_two_bytes() -> None:
    """Every first two bytes, followed by every class of third byte and then random bytes."""
    rng = random.Random(9)
    thirds = [0x00, 0x04, 0x05, 0x0F, 0x25, 0x45, 0x48, 0x66, 0x84, 0x90, 0xC0, 0xFF]
    for b0 in range(256):
        for b1 in range(256):
            for b2 in (thirds[(b0 + b1) % len(thirds)], rng.randrange(256)):
                code = bytes((b0, b1, b2)) + rng.randbytes(45)
                _same(code, 0, "first bytes")


#: Before the opcode: nothing, REX (W or not), each prefix the tables follow, and some they leave to decode().
PREFIXES = ["", "48", "41", "4c", "40", "66", "f2", "f3", "66 48", "f2 4c", "f3 48", "66 41", "f3 40"]
PREFIXES += ["66 66", "f0", "2e", "67"]


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("escape", ["", "0f"])
def test_prefix_opcode_modrm_forms(prefix: str, escape: str) -> None:
    """Each opcode after each prefix/REX combination, with every ModRM class and SIB base."""
    rng = random.Random(16)
    head = bytes.fromhex(prefix + escape)
    for op in range(256):
        for i, modrm in enumerate(MODRMS):
            code = head + bytes((op, modrm, SIBS[i % len(SIBS)])) + rng.randbytes(40)
            _same(code, 0, f"{prefix} {escape}")
            positions = [0, 1]
            advance(code, positions, 2)
            assert positions == [reference_advance(code, 0, 2), reference_advance(code, 1, 2)]


# --- random bytes --------------------------------------------------------------------------------


def test_random_bytes() -> None:
    rng = random.Random(20261130)
    for _ in range(3000):
        code = rng.randbytes(rng.choice((0, 1, 5, 23, 24, 25, 30, 60, 200, 700)))
        p = rng.randrange(max(1, len(code))) if code and rng.random() < 0.3 else 0
        _same(code, p, "random")
        _same_advance(code, p, "random")
        assert not code or _sync_point(code) == reference_sync_point(code)
    for _ in range(300):
        window = rng.randbytes(WINDOW_BYTES)
        _same(window, rng.randrange(8), "random window")
        assert _sync_point(window) == reference_sync_point(window)


def test_random_instruction_like_bytes() -> None:
    """Bytes drawn mostly from prefixes, REX, escapes and common opcodes: long walks through the tables."""
    rng = random.Random(1611)
    common = list(bytes.fromhex("66 f2 f3 f0 2e 48 49 4c 41 40 0f 0f 0f 38 3a 89 8b 8d 83 c7 e8 c3 90 00 10 11 28"))
    common += bytes.fromhex("58 59 6f 7f d4 ef b6 af 1f c4 c5 62 8f f6 f7 9e 0b")
    for _ in range(2000):
        code = bytes(
            rng.choice(common) if rng.random() < 0.6 else rng.randrange(256) for _ in range(rng.randrange(30, 200))
        )
        _same(code, rng.randrange(4), "instruction-like")


#: Instructions that follow up to 15 prefixes below: 0F 38 (decode() reads farthest), REX, an
#: immediate, a NOP, SSE3 after 66 or F2, POPCNT after F3 (the last repeat prefix wins).
BODIES = [bytes.fromhex("0f 38 00 04 25 00 00 00 00"), bytes.fromhex("48 0f af 84 24 00 01 00 00")]
BODIES.append(bytes.fromhex("c7 84 24 00 00 00 00 01 00 00 00"))
BODIES += [bytes.fromhex(h) for h in ("0f 1f 84 00 00 00 00 00", "0f 7c 04 25 00 00 00 00", "0f b8 44 24 08")]
PREFIX_RUNS = [b"\x66", b"\xf3", b"\x2e", b"\x66\x2e", b"\xf2\x66", b"\xf2\xf3\x67", b"\xf3\xf2\x3e"]


def test_prefix_runs() -> None:
    """Runs of 0-16 legacy prefixes before each body, in the middle of the code."""
    for prefixes in range(17):
        for prefix in PREFIX_RUNS:
            for body in BODIES:
                code = (prefix * prefixes)[:prefixes] + body + b"\x90" * 40
                _same(code, 0, "prefix run")


def test_long_instructions_near_the_end() -> None:
    """The same, ending anywhere near the end: the reference decoder reads farthest there, and what
    it does at the end (cut off, invalid) must not change."""
    for prefixes in range(16):
        for prefix in PREFIX_RUNS:
            for body in BODIES:
                insn = (prefix * prefixes)[:prefixes] + body
                for before in range(0, 36, 3):
                    for after in range(len(insn)):
                        code = b"\x90" * before + insn[: len(insn) - after]
                        _same(code, 0, "near the end")
                        _same_advance(code, before, "near the end")


def test_windows_longer_than_the_table_reach() -> None:
    """Zero padding (00 00 counted apart), int3 filler and nop runs: the common filler of code."""
    for filler in (
        b"\x00" * 4096,
        b"\xcc" * 4096,
        b"\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00" * 400,
        b"\x40\x00\x00" * 900,
        b"\x48\x89\xe5\x66\x0f\x28\xc1" * 5000,  # longer than the table walk's offsets: the reference walk
    ):
        for p in range(3):
            _same(filler, p, "filler")
