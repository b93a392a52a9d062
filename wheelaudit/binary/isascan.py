"""Which x86-64 level a binary's machine code needs, judged from a sample of its executable segment.

Binaries built with ``-march=x86-64-v3`` or ``-C target-cpu=haswell`` usually carry no GNU
property note, yet die with SIGILL on older CPUs. Reading the code tells: a build for a
level uses that level's instructions *throughout* (every SIMD move becomes VEX, every
variable shift ``shlx``), while runtime dispatch (memchr, orjson, numpy, glibc's string
functions) keeps them in a few functions. So the scan counts, per family, how many
sampled instructions use it (share) and in how many sampled windows it occurs (spread).

Sampling keeps ``show`` fast: :data:`WINDOWS` windows of :data:`WINDOW_BYTES` spread evenly
over the executable ``PT_LOAD`` segments (in a file big enough for two decoders, over their first
:data:`SAMPLE_SPAN`), read in ascending file order before the dynamic segment, so a deflated
member is still inflated once, forwards, and its far read still splits. The hand-written decoder
(``x86decode``) took 0.25-0.4 us per instruction in CPython 3.11, measured on libc.so.6 against
capstone 5's ``disasm_lite`` at 0.84 us (which would also need its mnemonics classified, and a
native dependency); its table walk takes ~0.1 us, and the same walk in C (``_x86walk.c``, built
where a C compiler is) ~0.011 us (scipy's 4,600 windows: 24 ms against 250 ms, sync included).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from itertools import compress, islice

from ..wheel.splitinflate import MIN_DISTANCE
from .model import CodeIsa, IsaFamilyUse, ReadAt, ReadSpans
from .x86decode import LEVEL, Family, count_window, native_count_window, native_count_windows, native_tally_windows

#: Windows per binary and bytes per window: 64 x 2 KB is ~35,000 instructions, ~4 ms of CPython 3.11
#: (a wheel of many libraries pays it for each: ~0.15 s for pyarrow's 38, 0.3 s for scipy's 111), ~0.4 ms in C.
#: Fewer windows were tried: at 32, numpy 1.21's _simd test module passes for a v2 build and the Rust
#: dispatch fixture's AVX2 kernel is missed; at 16 the Rust v4 crate passes for baseline code.
WINDOWS = 64
WINDOW_BYTES = 2048
#: In files big enough for two decoders, the windows come from the first this many bytes of code.
SAMPLE_SPAN = 8 * 1024 * 1024
FAR_MARGIN = 8 * 1024 * 1024
#: A window with more ``add [rax], al`` (00 00) than this share of instructions is padding or data.
ZERO_SHARE = 0.2
#: Fewer decoded instructions than this say nothing (a stub library, a window of data).
MIN_INSTRUCTIONS = 200

#: Thresholds, measured on the fixtures of tests/test_isa.py and on the x86_64 binaries of the pinned real
#: Linux wheels (~170 files). Spread = share of sampled code windows; share = of instructions.
#: v3, first way: VEX in >= V3_SPREAD of the windows and >= V3_SHARE of the instructions (polars-runtime-32:
#: 89%, 9.6%), with legacy-encoded SSE in no more than V3_LEGACY_SIMD of them: a v3 compiler never emits
#: legacy SSE, so such windows are code built for an older level (polars: 0%; numpy's _simd test module,
#: VEX in 73% but all dispatched kernels, 27%). Runtime dispatch otherwise stays under 45% (numpy 36%,
#: openblas 42%, glibc 9%, orjson 6%).
V3_SPREAD, V3_SHARE, V3_LEGACY_SIMD = 0.5, 0.02, 0.1
#: v3, second way: a small crate built for v3 is mostly Rust's std (precompiled for the baseline), so its
#: VEX spread looks like dispatch (31%); what tells it is BMI/LZCNT/MOVBE in ordinary code, which the
#: compiler uses everywhere (Rust haswell crate 16%, polars 24-31%) and dispatched kernels hardly (OpenSSL's
#: assembly 7%, glibc 3%, orjson 3%).
V3_GPR_SPREAD = 0.12
#: v4: given v3, AVX-512 in this share of the windows that hold v3 code (Rust v4 crate 41%, polars 0-2%).
V4_OF_V3 = 0.2
#: v2: SSE4/POPCNT outside VEX/EVEX code in this share of the windows (polars-runtime-compat 25%,
#: pyarrow 14-70%; liblzma's dispatched CRC 5%, numpy 3%, glibc 2%). A small Rust crate built for v2 shows
#: only 5% (std, precompiled for the baseline, dominates it) and passes for baseline code with a note.
V2_SPREAD = 0.08

#: Families that a v3 compiler uses in general-purpose code, not only in SIMD kernels.
_GPR_V3 = (Family.BMI, Family.LZCNT, Family.MOVBE)
#: The v2 families that tell a v2 build. SSSE3 (pshufb, palignr) is what byte-shuffling kernels are
#: compiled for and dispatched to (libsodium: 19% of windows, libwebp), SSE3 alone is numpy's baseline,
#: LAHF and CMPXCHG16B are rare: none of them counts here, though all are reported.
V2_EVIDENCE = (Family.SSE4, Family.POPCNT)
#: Families that make a binary worth a note when they occur only in a few places.
_DISPATCH_EVIDENCE = (Family.SSSE3, *V2_EVIDENCE)


_INDICES = tuple(range(len(Family)))
_LEVEL_OF = tuple(LEVEL.get(Family(i), 1) for i in _INDICES)
_V2_EVIDENCE = tuple(map(int, V2_EVIDENCE))
_GPR_V3_INDICES = tuple(map(int, _GPR_V3))
_SSE = int(Family.SSE)


class _Tally:
    """Instruction counts per family, over all windows and per window."""

    def __init__(self) -> None:
        self.counts = [0] * len(Family)
        self.windows = [0] * len(Family)
        self.instructions = 0
        self.code_windows = 0
        self.data_windows = 0
        self.v2_windows = self.v3_windows = self.v4_windows = self.gpr_v3_windows = 0
        self.legacy_simd_windows = 0  # legacy-encoded SSE and no VEX/EVEX: code not built for v3

    @classmethod
    def of_windows_in_c(cls, windows: list[bytes]) -> _Tally:
        """The tally of every window, walked and added up in C (``_x86walk.tally_windows``): what
        :meth:`add_window` of each window's counts gives, with the GIL released throughout."""
        assert _tally_in_c is not None
        tally = cls()
        (
            tally.counts,
            tally.windows,
            tally.instructions,
            tally.code_windows,
            tally.data_windows,
            tally.v2_windows,
            tally.v3_windows,
            tally.v4_windows,
            tally.gpr_v3_windows,
            tally.legacy_simd_windows,
        ) = _tally_in_c(windows, _LEVEL_BYTES, _V2_MASK, _GPR_V3_MASK, ZERO_SHARE)
        return tally

    def add_window(self, counts: list[int] | None) -> None:
        """Add one window's counts (None: it is not code)."""
        if counts is None:
            self.data_windows += 1
            return
        total = sum(counts) - counts[-1]
        if total == 0 or counts[-1] > ZERO_SHARE * total:
            self.data_windows += 1
            return
        self.code_windows += 1
        self.instructions += total
        # Plain ints and C-level iteration (compress, map): iterating the enum cost 15 us a window.
        present = list(compress(_INDICES, counts))
        mine, windows = self.counts, self.windows
        for i in present:
            mine[i] += counts[i]
            windows[i] += 1
        levels = set(map(_LEVEL_OF.__getitem__, present))
        if 3 in levels or 4 in levels:
            self.v3_windows += 1
            self.v4_windows += 4 in levels
        else:
            self.v2_windows += any(map(counts.__getitem__, _V2_EVIDENCE))  # v2 code outside VEX/EVEX kernels
            self.legacy_simd_windows += counts[_SSE] > 0
        self.gpr_v3_windows += any(map(counts.__getitem__, _GPR_V3_INDICES))


#: Decoded windows by content, shared by every binary of a run: wheels often ship the same library
#: twice (pyarrow's ``libarrow.so`` and ``libarrow.so.2600``: a tenth of its windows), and a window's
#: counts depend on its bytes alone. At MEMO_ENTRIES (2 KB each) the older half goes; libraries are
#: analysed largest first, so copies of one come one after the other. The tally in C
#: (``_Tally.of_windows_in_c``) keeps none: walking a window again there (~6 us) costs less than
#: looking it up, and its adding up in Python (scipy: ~15 ms of 4,856 windows under the GIL) is gone.
_MEMO: dict[bytes, list[int] | None] = {}
MEMO_ENTRIES = 1024

#: ``0`` walks the windows in Python even where the C walk (``_x86walk``) was built: the same counts, slower.
NATIVE_ENV = "WHEELAUDIT_NATIVE_ISA"
_walk_in_c = native_count_window if os.environ.get(NATIVE_ENV, "") != "0" else None
_walk_many_in_c = native_count_windows if _walk_in_c is not None else None
_tally_in_c = native_tally_windows if _walk_in_c is not None else None
#: What the C tally needs of the families: each one's level, and which are v2 and general-purpose v3 evidence.
_LEVEL_BYTES = bytes(_LEVEL_OF)
_V2_MASK = bytes(i in _V2_EVIDENCE for i in _INDICES)
_GPR_V3_MASK = bytes(i in _GPR_V3_INDICES for i in _INDICES)


def _window_counts(code: bytes) -> list[int] | None:
    """:func:`count_window`, remembered in :data:`_MEMO`."""
    try:
        return _MEMO[code]
    except KeyError:
        pass
    return _remember(code, walk_window(code))


def walk_window(code: bytes) -> list[int] | None:
    """One window's counts: the C walk where it was built, else :func:`count_window` (the same counts)."""
    return (_walk_in_c or count_window)(code)


def _remember(code: bytes, found: list[int] | None) -> list[int] | None:
    if len(_MEMO) >= MEMO_ENTRIES:
        # The older half at once: finding the oldest entry walks past every slot freed before it
        # (~1 us a window with one at a time). list(islice()) runs without a thread switch; another
        # thread may have taken an entry since: no KeyError.
        for old in list(islice(_MEMO, max(1, MEMO_ENTRIES // 2))):
            _MEMO.pop(old, None)
    _MEMO[code] = found  # read-only from here on
    return found


def _counts(windows: list[bytes]) -> list[list[int] | None]:
    """Every window's counts: remembered ones from :data:`_MEMO`, the rest walked here or by the helper
    process (:mod:`.isaworker`), which runs the same :func:`count_window` on the same bytes. With the
    C walk all are walked here, in one call that lets go of the GIL: a window takes it ~6 us, less than
    sending it to another process, and 64 windows ~0.4 ms, in which the other threads run Python."""
    memo = _MEMO
    found: list[list[int] | None] = [memo.get(code, _UNKNOWN) for code in windows]
    missing = [code for code, counts in zip(windows, found) if counts is _UNKNOWN]
    if not missing:
        return found
    if _walk_in_c is not None:  # (a build older than the source walks one window at a time)
        walked = iter(_walk_many_in_c(missing) if _walk_many_in_c is not None else map(walk_window, missing))
    else:
        from .isaworker import shared  # here: only the walk in Python has a helper process (~1 ms of imports)

        walked = iter(shared().counts_for_scan(missing, _window_counts))
    for i, counts in enumerate(found):
        if counts is _UNKNOWN:
            found[i] = _remember(windows[i], next(walked))
    return found


_UNKNOWN: list[int] = []  # a marker: no window's counts are an empty list


def window_offsets(segments: Iterable[tuple[int, int]], file_size: int, windows: int = WINDOWS) -> list[int]:
    """File offsets of ``windows`` windows spread evenly over executable segments ``(offset, filesz)``."""
    spans = _spans(segments, file_size)
    total = sum(s for _, s in spans)
    if not total:
        return []
    offsets: list[int] = []
    for offset, size in spans:
        count = max(1, round(windows * size / total))
        if size <= count * WINDOW_BYTES:
            offsets += range(offset, offset + size - WINDOW_BYTES // 4, WINDOW_BYTES)
            continue
        step = size / count
        offsets += (offset + int(step * i + (step - WINDOW_BYTES) / 2) for i in range(count))
    offsets = sorted(set(offsets))
    if len(offsets) > 2 * windows:  # many tiny executable segments (a forged file): keep an even subset
        offsets = offsets[:: len(offsets) // windows]
    return offsets


def _spans(segments: Iterable[tuple[int, int]], file_size: int) -> list[tuple[int, int]]:
    return [(o, min(s, file_size - o)) for o, s in segments if 0 <= o < file_size and s > 0]


def _sampled_spans(spans: list[tuple[int, int]], next_read: int) -> list[tuple[int, int]]:
    """The code to sample: all of it, or in a file big enough for two decoders its first SAMPLE_SPAN.

    A deflated member is inflated forwards; a read at least MIN_DISTANCE ahead gets a second
    decoder (``splitinflate``), which halves the wait for polars' far ``.dynamic``. Windows read
    every few MB all the way there would make that one serial inflation (+0.07 s for polars), and
    no placement of far-apart clusters kept the second decoder busy (its hand-over wants one far
    read). So the windows stay in the first SAMPLE_SPAN of code, and the far read still splits;
    FAR_MARGIN allows for the decoder overshooting a read by up to one output chunk.
    """
    if not spans:
        return spans
    start = spans[0][0]
    if next_read - MIN_DISTANCE - FAR_MARGIN - start < SAMPLE_SPAN:
        return spans
    end = start + SAMPLE_SPAN
    return [(o, min(s, end - o)) for o, s in spans if o < end]


def scan_code(
    read_at: ReadAt,
    segments: Iterable[tuple[int, int]],
    file_size: int,
    next_read: int | None = None,
    read_spans: ReadSpans | None = None,
) -> CodeIsa | None:
    """Sample the executable segments; None when too little code was found to judge.

    ``next_read`` is where the caller reads next (ELF: the dynamic segment); see
    :func:`_sampled_spans`. Windows are read in file order (all at once with ``read_spans``,
    e.g. :meth:`wheelaudit.wheel.archive.MemberStream.read_spans`), then counted (see :func:`_counts`).
    """
    spans = _sampled_spans(_spans(segments, file_size), file_size if next_read is None else next_read)
    wanted = [(offset, min(WINDOW_BYTES, file_size - offset)) for offset in window_offsets(spans, file_size)]
    windows = read_spans(wanted) if read_spans is not None else [read_at(offset, size) for offset, size in wanted]
    if _tally_in_c is not None and _walk_in_c is not None:  # (tests turn the C walk off at run time)
        return judge(_Tally.of_windows_in_c(windows))
    tally = _Tally()
    for counts in _counts(windows):
        tally.add_window(counts)
    return judge(tally)


def judge(tally: _Tally) -> CodeIsa | None:
    """The level the sampled code needs, and the highest level found only here and there."""
    if tally.instructions < MIN_INSTRUCTIONS or not tally.code_windows:
        return None
    uses = tuple(
        IsaFamilyUse(
            family=family.name.lower(),
            level=LEVEL[family],
            instructions=tally.counts[family],
            windows=tally.windows[family],
        )
        for family in Family
        if tally.counts[family] and family in LEVEL
    )
    windows = tally.code_windows
    v3_share = sum(u.instructions for u in uses if u.level >= 3) / tally.instructions
    level = 1
    everywhere = tally.v3_windows / windows >= V3_SPREAD and v3_share >= V3_SHARE
    if (everywhere and tally.legacy_simd_windows / windows <= V3_LEGACY_SIMD) or (
        tally.gpr_v3_windows / windows >= V3_GPR_SPREAD
    ):
        level = 4 if tally.v4_windows >= V4_OF_V3 * tally.v3_windows else 3
    elif tally.v2_windows / windows >= V2_SPREAD:
        level = 2
    telling = [u.level for u in uses if u.level > 2 or Family[u.family.upper()] in _DISPATCH_EVIDENCE]
    highest = max(telling, default=1)
    return CodeIsa(
        level=level,
        dispatched_level=highest if highest > level else None,
        instructions=tally.instructions,
        windows=windows,
        families=uses,
    )
