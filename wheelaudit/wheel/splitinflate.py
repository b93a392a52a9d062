"""Reach far into a deflated member on two cores: one decoder from the front, one from the middle.

Deflate decodes strictly forwards, so reading byte 137 MB of a library (where
``.dynamic`` sits in polars' 177 MB one) normally costs inflating everything
before it on one core. But a deflate stream is a chain of blocks, and a block
decodes from its first bit given only the 32 KiB window before it. So while the
caller's decoder works from the front, an :class:`AheadDecoder` thread:

1. finds a block start part of the way to the target by trial decoding
   (:func:`find_block_start`; cheap rejections first);
2. decodes from there twice, with two stand-in windows that differ in every byte.
   A byte that differs between the two depends on the unknown window; once the
   last 32 KiB agree, nothing later can depend on it, and one decoder goes on
   alone, exact. Meanwhile it notes a :class:`Checkpoint` every CHECK_EVERY bytes:
   the zero-window decoder's last 32 KiB there, and the CRC-32 so far;
3. keeps its recent output until the front decoder tells it where the target lies.

When the front decoder reaches the block start it knows the start's absolute
offset and the true window; it checks the guess by decoding the next compressed
bytes both ways (they must agree exactly), then decodes on to the checkpoints and
takes over at the first one where its own last 32 KiB equal the helper's: from
there the helper's decoder is in the true decoder's exact state (the same bits
read, the same window). That is usually long before the two stand-ins agree (the
bytes still unknown are mostly copies of zeros), so less is decoded twice; and
the second stand-in is dropped as soon as the front decoder has arrived.
Every failure (no block found, never clean, a wrong guess, target dropped from the
kept output) falls back to plain sequential inflation, so results never depend on
this module; only the time does. This is the idea behind pugz and rapidgzip, done
with the stock decoders: they only start at byte boundaries, so a block starting
at bit ``k`` gets a prefix of empty blocks ``k`` bits long (mod 8) that shares its
last byte with the block's first.

A helper whose output never stops depending on the window (jaxlib's library) costs
2 x MAX_DIRTY_OUTPUT: after one, a member gets another only within WASTE_SHARE.

The hand-over (:func:`reach`) is written against :class:`FrontDecoder`, the few
operations it needs of the caller's sequential decoder
(:class:`wheelaudit.wheel.archive.MemberStream`), so the whole protocol lives here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator

from .._typing import TYPE_CHECKING, Protocol
from ..cpus import MIN_SPAN, idle_cpus, read_ticks, usable
from ..cpus import running as running_now
from ..record import record
from .inflate import INFLATE_ERRORS, crc32, crc32_combine, new_raw_decompressor

if TYPE_CHECKING:
    from typing import Any, BinaryIO

WINDOW = 32 * 1024
#: Only reads at least this far past the front decoder are split.
MIN_DISTANCE = 32 * 1024 * 1024
#: Where the helper starts when it also decodes on to the member's end: inflation time follows the compressed
#: bytes more than the output, so each decoder gets about half of what is left (the helper's few MB decoded
#: twice are about what the front decoder spends checking them again).
END_FRACTION = 0.5
#: ... and at least this many compressed bytes: a helper needs several MB of input to get clean and pay off.
MIN_COMPRESSED_DISTANCE = 8 * 1024 * 1024
#: Where, between the front decoder and the target's estimated compressed offset, the helper starts.
SPLIT_FRACTION = 0.62
#: Compressed bytes searched for a block start (blocks are rarely longer than ~64 KiB).
SEARCH_BYTES = 256 * 1024
#: Reads that inflate at least this much count as keeping a core busy (see reserve_helper).
LONG_READ = 4 * 1024 * 1024
#: The helper keeps this much of its latest output; the target must still be in it when located. Until
#: then it pauses just past the target's estimated end (PAUSE_PAST), so an estimate too high by up to
#: KEEP_BYTES - PAUSE_PAST still leaves the target in reach (one too low only makes it wait). The estimate
#: (from the front decoder's ratio) is worse when the front is starved: in full-suite runs on 2 cores a
#: read 0.9 MB behind a far target started inflation over with 4 MiB kept (so an error over 2.6 MB), not
#: with 8 MiB kept and a pause half the span past the estimate (3.1 MB). 6 MiB tolerates 4.6 MB, and
#: costs tensorflow-cpu ~5 MiB of peak RSS with the helper on against 4 MiB (8 MiB: ~12).
KEEP_BYTES = 6 * 1024 * 1024
PAUSE_PAST = 512 * 1024
#: When running on to the member's end, the kept output extends this far past the target (for nearby reads).
AFTER_TARGET = 1024 * 1024
#: A helper started early (:func:`start_early`) passes the target before the front decoder can say where
#: it is: it keeps EARLY_KEEP_BYTES up to this far past the estimated end, and decodes on, checksumming only.
#: The estimate was off by up to 3.6 MB (cuBLAS's libcublasLt, 150 MB past the block start); a miss costs
#: the front decoder the way to the target (cuBLAS: 0.96 s against 0.69). 4 MiB more than KEEP_BYTES.
EARLY_KEEP_BYTES = 10 * 1024 * 1024
EARLY_PAST = EARLY_KEEP_BYTES // 2
#: ... once the front decoder has read this share of the compressed bytes before the block start (until then
#: it pauses as a late helper does): its ratio so far is what places the target.
EARLY_SEEN = 0.5
#: ... and is estimated to be at most this far (uncompressed) from the block start: the error grows with the
#: stretch extrapolated (cuBLAS's libcublasLt, half-way there: 14 MB; polars' library, 15 MB away: 1 MB).
EARLY_TRUST_AHEAD = 32 * 1024 * 1024
#: An early helper extrapolates with the front decoder's ratio over about this many compressed bytes
#: before where it stands (the whole way from the member's start put cuBLAS's target 7 MB off).
RECENT_BYTES = 8 * 1024 * 1024
#: ... starts END_FRACTION of the compressed rest on, as a late helper running on to the end does (0.45, 0.55
#: and 0.6 were tried: polars 5-10 ms slower), and only for a target at least this many compressed bytes on:
#: nearer, the MB decoded twice cost more than the split saves (duckdb 1.2.2's library, .dynamic 16 MB
#: compressed in: 0.22 s with an early helper, 0.18 s without; datafusion's at 39 MB, polars' at 40 MB gain 15-20%).
MIN_EARLY_COMPRESSED_DISTANCE = 20 * 1024 * 1024
#: Give up if the stand-in window still shows through after this much output. Until then the helper decodes
#: every byte twice (two stand-ins), and the front decoder decodes them a third time up to where it takes
#: over; the helpers that pay get clean within a few MB (polars 4.7 MB, tensorflow-cpu 2.9 MB), jaxlib's in
#: 6 to 37 MB: each of its helpers that gave up cost 2x this much (3.7% of the wheel at 6 MB).
MAX_DIRTY_OUTPUT = 6 * 1024 * 1024
#: ... for a helper started early (the front decoder is far behind: it has time). In polars' library half of
#: the block starts between 20 and 40 MB (compressed) need more than 6 MB to get clean, all but one less than 10.
MAX_EARLY_DIRTY_OUTPUT = 12 * 1024 * 1024
#: ... if by MAX_DIRTY_OUTPUT its stand-ins differ in at most this many of their last 32 KiB: those of polars
#: that got clean by 12 MB differed in 0 to 1,800 there, the never-clean ones of tensorflow-cpu and jaxlib in
#: 3,200 and more (a wrong guess costs time only: 12 MB decoded twice for nothing, or a helper less).
NEARLY_CLEAN = 2048
#: While its output may depend on the stand-in window, the helper notes its last 32 KiB every this many
#: bytes; the front decoder takes over at the first such point where its own bytes are the same. The
#: zero-window decode usually agrees with the truth long before the two stand-ins agree with each other
#: (the bytes still unknown are mostly copies of zeros): polars 1.9 MB instead of 4.6.
CHECK_EVERY = 256 * 1024
#: Compressed bytes fed at a time while the output may depend on the stand-in window.
_DIRTY_READ = 64 * 1024
#: A member's next far read gets a helper only if what its helpers wasted so far, plus what the next one
#: may waste (2 x MAX_DIRTY_OUTPUT), stays within this share of the member (the first one always may):
#: jaxlib's library, where no helper ever gets clean, pays for one of them, not three.
WASTE_SHARE = 0.05
#: Compressed bytes the front decoder decodes both ways to confirm a block start.
VERIFY_BYTES = 64 * 1024
_READ = 1 << 20
_OUT = 2 << 20  # output per call before the target: 8 MiB pieces kept tensorflow-cpu at 114 MiB of RSS, 2 at 89
_CHECK_OUT = 1 << 20
_TRIAL_OUT = 16 * 1024
_ZEROS = bytes(WINDOW)
_ONES = b"\xff" * WINDOW


def split_enabled() -> bool:
    """Splitting needs a second core; ``WHEELAUDIT_SERIAL_INFLATE=1`` turns it off."""
    if os.environ.get("WHEELAUDIT_SERIAL_INFLATE", "") not in ("", "0"):
        return False
    return usable() >= 2


# -- whether a core is idle: measured, not counted -------------------------------------------

#: A helper starts only if at least this much of a core was idle lately, over the whole machine
#: (/proc/stat): a helper that shares its core with other work only slows the front decoder down
#: (polars-runtime-32 show at load 2.8 on 2 cores: 0.39 s with a helper, 0.31 s without); the split
#: pays from about 3/4 of a core. ``WHEELAUDIT_SPLIT_INFLATE=always`` skips the measurement.
MIN_IDLE_CPUS = 0.75
_samples: list[tuple[float, tuple[int, int]]] = []  # (monotonic time, (idle, total) ticks), newest last


def note_cpu() -> None:
    """Take a reading of the CPU counters (at most one per MIN_SPAN), for :func:`idle_enough` to measure from."""
    now = time.monotonic()
    with _lock:
        if _samples and now - _samples[-1][0] < MIN_SPAN:
            return
    ticks = read_ticks()
    if ticks is not None:
        with _lock:
            _samples.append((now, ticks))
            del _samples[:-4]


def idle_enough() -> bool:
    """Whether MIN_IDLE_CPUS were idle since the latest reading at least MIN_SPAN old (True if unknown).

    With no reading that old yet (a far read right after start-up), the tasks running at this
    instant are counted instead.
    """
    if os.environ.get("WHEELAUDIT_SPLIT_INFLATE", "") == "always":
        return True
    now, ticks = time.monotonic(), read_ticks()
    with _lock:
        base = next((sample for sample in reversed(_samples) if now - sample[0] >= MIN_SPAN), None)
    note_cpu()
    cpus = os.cpu_count() or 1
    idle = None if ticks is None or base is None else idle_cpus(base[1], ticks, cpus)
    if idle is None:  # too soon to measure: count what runs right now (this thread included)
        running = running_now()
        idle = None if running is None else cpus - running + _own_others_running()
    return idle is None or idle >= MIN_IDLE_CPUS


def _own_others_running() -> int:
    """This process's threads other than the calling one that are running right now (Linux; else 0).

    Not counted as busy in the instant count: right after start-up another worker is usually
    sniffing a small member, for a millisecond (it kept polars' early helper from starting in 4
    runs of 5); this process's own long reads are counted by :func:`reserve_helper` instead.
    """
    me = threading.get_native_id()
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for task in tasks:
        if task == str(me):
            continue
        try:
            with open(f"/proc/self/task/{task}/stat", "rb") as fh:
                stat = fh.read(512)
        except OSError:
            continue
        # pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ')'
        if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"R":
            count += 1
    return count


# -- aligning a decoder to a block that starts mid-byte ------------------------------------


class _Bits:
    """Deflate's bit order: fields fill each byte from its least significant bit."""

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def put(self, value: int, width: int) -> None:
        self.value |= value << self.length
        self.length += width

    def huffman(self, code: int, width: int) -> None:
        """Huffman codes are packed starting from their most significant bit."""
        self.put(int(format(code, f"0{width}b")[::-1], 2), width)


def _fixed_empty_block(bits: _Bits) -> None:  # 10 bits: BFINAL=0, BTYPE=01, end-of-block (7 zero bits)
    bits.put(0, 1)
    bits.put(1, 2)
    bits.put(0, 7)


def _dynamic_empty_block(bits: _Bits) -> None:
    """95 bits: a dynamic-Huffman block whose only literal/length code is end-of-block."""
    bits.put(0, 1)
    bits.put(2, 2)
    bits.put(0, 5)  # HLIT: 257 literal/length codes
    bits.put(0, 5)  # HDIST: 1 distance code
    bits.put(15, 4)  # HCLEN: all 19 code-length codes (19 * 3 bits makes the block length odd)
    lengths = {18: 1, 0: 2, 1: 2}  # code-length alphabet: 18 -> '0', 0 -> '10', 1 -> '11'
    for symbol in (16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15):
        bits.put(lengths.get(symbol, 0), 3)
    bits.huffman(0b0, 1)
    bits.put(138 - 11, 7)  # 138 zero lengths
    bits.huffman(0b0, 1)
    bits.put(118 - 11, 7)  # 118 more: literals 0..255 unused
    bits.huffman(0b11, 2)  # end-of-block gets length 1
    bits.huffman(0b10, 2)  # the distance code is unused
    bits.huffman(0b0, 1)  # the block's data: end-of-block


def _alignment_prefix(bit: int) -> tuple[bytes, int]:
    """Empty blocks ``bit`` bits long mod 8: their whole bytes and the bits of their last partial byte."""
    bits = _Bits()
    if bit % 2:
        _dynamic_empty_block(bits)  # 95 = 7 (mod 8); fixed blocks add 2 each
    for _ in range(((bit - bits.length) % 8) // 2):
        _fixed_empty_block(bits)
    assert bits.length % 8 == bit
    whole = bits.length // 8
    return (bits.value & ((1 << (8 * whole)) - 1)).to_bytes(whole, "little"), bits.value >> (8 * whole)


@functools.cache
def _prefixes() -> list[tuple[bytes, int]]:
    return [_alignment_prefix(bit) for bit in range(8)]


def lead_bytes(first_byte: int, bit: int) -> bytes:
    """What to feed a fresh decoder before the bytes after ``first_byte`` to start at its bit ``bit``.

    Nothing for ``bit == 0``: the block then starts with ``first_byte`` itself, fed as is.
    """
    if not bit:
        return b""
    whole, partial = _prefixes()[bit]
    mask = 0xFF & ~((1 << bit) - 1)
    return whole + bytes([(first_byte & mask) | partial])


# -- finding a block start -----------------------------------------------------------------


def _byte_class(values: list[int]) -> bytes:
    """A regex character class for ``values``, as ranges (compiles much faster than single bytes)."""
    ranges: list[list[int]] = []
    for value in values:
        if ranges and ranges[-1][1] == value - 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    return b"[" + b"".join(b"\\x%02x-\\x%02x" % (low, high) for low, high in ranges) + b"]"


#: (first bit, width, largest allowed value, required value or None) of the fields checked up front
_HEADER_FIELDS = ((0, 1, 0, 0), (1, 1, 0, 0), (2, 1, 1, 1), (3, 5, 29, None), (8, 5, 29, None))


def _header_pattern(bit: int) -> re.Pattern[bytes]:
    """Bytes that may begin a non-final dynamic-Huffman block at ``bit``: BFINAL=0, BTYPE=10, HLIT<=29, HDIST<=29.

    Fields that straddle a byte are left unchecked (the later tests catch them).
    """
    classes = []
    for byte in range(3):
        inside = [
            ((bit + first) % 8, (1 << width) - 1, most, exact)
            for first, width, most, exact in _HEADER_FIELDS
            if (bit + first) // 8 == byte == (bit + first + width - 1) // 8
        ]
        allowed = [
            value
            for value in range(256)
            if all(
                ((value >> shift) & mask) <= most and (exact is None or (value >> shift) & mask == exact)
                for shift, mask, most, exact in inside
            )
        ]
        classes.append(_byte_class(allowed))
    return re.compile(b"(?=" + b"".join(classes) + b")", re.DOTALL)


@functools.cache
def _header_patterns() -> list[re.Pattern[bytes]]:
    """Built on first use, in the helper thread (~5 ms that start-up need not pay)."""
    return [_header_pattern(bit) for bit in range(8)]


@functools.cache
def _kraft_table() -> list[int]:
    """Kraft sums (in 1/128ths) of every group of four 3-bit code lengths, packed as deflate packs them."""
    one = [0, 64, 32, 16, 8, 4, 2, 1]  # a code of length n covers 2**(7 - n) of 128
    return [one[v & 7] + one[(v >> 3) & 7] + one[(v >> 6) & 7] + one[v >> 9] for v in range(4096)]


def _code_length_code_is_complete(data: bytes, i: int, bit: int) -> bool:
    """zlib refuses a block whose code-length code is not complete: test that in Python first.

    About 1 in 250 header-shaped positions passes, which makes this cheaper than a trial decode.
    """
    kraft = _kraft_table()
    fields = int.from_bytes(data[i : i + 10], "little") >> bit
    count = ((fields >> 13) & 15) + 4  # HCLEN + 4 lengths of 3 bits, after the 17 header bits
    fields >>= 17
    total = 0
    while count >= 4:
        total += kraft[fields & 0xFFF]
        fields >>= 12
        count -= 4
    if count:
        total += kraft[fields & ((1 << (3 * count)) - 1)]
    return total == 128


def _decodes_from(data: bytes, i: int, bit: int) -> bool:
    """Whether a block starting at bit ``bit`` of ``data[i]`` decodes 16 KiB cleanly; cheapest tests first."""
    if not _code_length_code_is_complete(data, i, bit):
        return False
    block = BlockStart.at(i, bit, data[i])
    lead, start = block.lead, block.feed_from
    try:  # header only, no window: most remaining false starts fail here
        zlib.decompressobj(-15).decompress(lead + data[start : start + 64])
    except zlib.error as exc:
        if "too far back" not in str(exc):
            return False
    try:
        zlib.decompressobj(-15, zdict=_ZEROS).decompress(lead + data[start : start + 600])
        out = zlib.decompressobj(-15, zdict=_ZEROS).decompress(lead + data[start : start + _TRIAL_OUT], _TRIAL_OUT)
    except zlib.error:
        return False
    return len(out) == _TRIAL_OUT


def find_block_start(data: bytes, limit: int, *, cancelled: threading.Event | None = None) -> tuple[int, int] | None:
    """The first ``(byte, bit)`` before ``limit`` where a non-final dynamic-Huffman block decodes.

    ``data`` should extend 16 KiB past ``limit`` for the trials. A hit is a strong
    guess, not proof: the caller must confirm it (see :class:`AheadDecoder`).
    """
    step = 4096
    for base in range(0, limit, step):
        if cancelled is not None and cancelled.is_set():
            return None
        stop = min(base + step, limit)
        hits = sorted(
            (m.start(), bit)
            for bit, pattern in enumerate(_header_patterns())
            for m in pattern.finditer(data, base, stop + 2)
            if m.start() < stop
        )
        for i, bit in hits:
            if _decodes_from(data, i, bit):
                return i, bit
    return None


def last_window(previous: bytes, out: bytes) -> bytes:
    """The last 32 KiB of ``previous + out`` (without copying ``previous`` when ``out`` alone is enough)."""
    return out[-WINDOW:] if len(out) >= WINDOW else (previous + out)[-WINDOW:]


def is_block_start(block: BlockStart, window: bytes, raw: bytes, truth: bytes) -> bool:
    """Whether decoding from ``block`` reproduces the true stream there.

    ``window`` is the true 32 KiB before the block, ``raw`` the compressed bytes from
    ``block.feed_from`` on, ``truth`` what the front decoder made of them. A fresh decoder
    primed with the window must produce the same bytes, at least a window's worth.
    """
    if len(window) < WINDOW or len(truth) < WINDOW:
        return False
    try:
        theirs = new_raw_decompressor(zdict=window).decompress(block.lead + raw, len(truth))
    except INFLATE_ERRORS:
        return False
    return len(theirs) >= WINDOW and theirs == truth[: len(theirs)]


# -- the helper thread ---------------------------------------------------------------------


@record(frozen=True)
class BlockStart:
    """Where a deflate block starts, and what to feed a fresh decoder to start there."""

    offset: int  # compressed offset (from the member's data) of the byte holding the first bit
    bit: int
    lead: bytes  # see lead_bytes (empty when bit == 0)

    @classmethod
    def at(cls, offset: int, bit: int, first_byte: int) -> BlockStart:
        """The block starting at bit ``bit`` of the byte ``first_byte`` found at ``offset``."""
        return cls(offset, bit, lead_bytes(first_byte, bit))

    @property
    def feed_from(self) -> int:
        """Compressed offset of the first byte fed after ``lead``."""
        return self.offset + 1 if self.bit else self.offset


@record(frozen=True)
class Checkpoint:
    """Where the helper stood after ``at`` bytes from the block start (see CHECK_EVERY)."""

    at: int
    window: bytes  # its last 32 KiB there, made with the zero stand-in window
    crc: int  # CRC-32 of all it produced up to there (stand-in bytes included)


class AheadDecoder(threading.Thread):
    """Decode a deflated member from a block start found near ``search_from`` (see the module docstring)."""

    def __init__(
        self, path: str, data_offset: int, compressed_size: int, search_from: int, goal: int, *, early: bool = False
    ) -> None:
        super().__init__(name="wheelaudit-inflate-ahead", daemon=True)
        self.early = early  # started before the far read (see start_early): never waits for the front decoder
        self._path = path
        self._data_offset = data_offset
        self._compressed_size = compressed_size
        self._search_from = search_from
        self._goal = goal  # uncompressed offset (from the member's start) the front will ask for up to
        self._changed = threading.Condition()
        self.cancelled = threading.Event()
        self.block: BlockStart | None = None
        self.gave_up = False
        self.front = (0, 0)  # (uncompressed, compressed) progress of the front decoder, for pacing
        self.target_end: int | None = None  # ``goal`` relative to the block start; set by the front
        self.run_on_to: int | None = None  # then decode on to here (the member's end), checksumming only
        self.arrived = False  # the front decoder stands at the block start: the second stand-in is dropped
        self.taken_at: int | None = None  # the checkpoint the front decoder took over at
        # results, valid once the thread has ended with ``gave_up`` False
        self.produced = 0  # bytes decoded from the block start
        self._kept: list[bytes] = []  # the last KEEP_BYTES or so of them, in pieces
        self._kept_size = 0
        self._kept_end: int | None = None  # set when keeping stopped (running on past the target)
        self.checkpoints: list[Checkpoint] = []  # while the output may depend on the stand-in window
        self.recording = True  # more checkpoints may come
        self.clean_from = 0  # the two stand-ins agreed here: nothing after depends on the window
        self.decoder: Any = None
        self.consumed = 0  # compressed offset of the next byte not yet fed to ``decoder``
        self.tail = b""  # fed but not yet consumed by ``decoder``
        self.inflated = 0  # all bytes produced, both stand-ins
        self.crc = 0  # CRC-32 of outputs [0, produced), the zero stand-in's where they differ
        self.finished = False
        self._dirty_verdict: bool | None = None  # see _nearly_clean
        self._front_history: list[tuple[int, int]] = []  # (out, in) of the front decoder, oldest first

    # called by the front decoder -------------------------------------------------------

    def aim(self, target_end: int, run_on_to: int | None = None) -> None:
        """Tell the helper where the target ends; with ``run_on_to`` it then decodes on to there.

        Running on (to the member's end) checksums the rest while the front decoder is
        busy, so a caller that reads the whole member never inflates it serially after
        the target. The output kept stays the part around the target.
        """
        with self._changed:
            self.run_on_to = run_on_to  # first: _stop reads target_end, then run_on_to, without the lock
            self.target_end = target_end
            self._changed.notify_all()

    def arrive(self) -> None:
        """The front decoder has the true window: from now on it, not a second stand-in, judges the output."""
        with self._changed:
            self.arrived = True
            self._changed.notify_all()

    def take_over(self, at: int) -> None:
        """The front decoder's bytes agree with the helper's at checkpoint ``at``: no more stand-ins needed."""
        with self._changed:
            self.taken_at = at
            self._changed.notify_all()

    def checkpoint(self, index: int, front_at: int) -> Checkpoint | None:
        """Checkpoint ``index``, waiting for it while the helper is ahead of ``front_at``; None if none will come."""
        with self._changed:
            while True:
                if index < len(self.checkpoints):
                    return self.checkpoints[index]
                if not self.recording or self.gave_up or self.finished or self.cancelled.is_set():
                    return None
                if self.produced < front_at:
                    return None  # slower than the front decoder: it would only wait
                self._changed.wait(0.05)

    def cancel(self) -> None:
        self.cancelled.set()
        with self._changed:
            self._changed.notify_all()

    # the thread ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            with open(self._path, "rb") as fh:
                self._run(fh)
        except Exception:  # any failure here only means "go on sequentially"
            self.gave_up = True
        with self._changed:
            self.finished = True
            self.recording = False
            self._changed.notify_all()

    def _read(self, fh: BinaryIO, size: int) -> bytes:
        size = min(size, self._compressed_size - self.consumed)
        data = fh.read(size)
        if len(data) != size:
            raise EOFError("member is truncated")
        self.consumed += size
        return data

    def _run(self, fh: BinaryIO) -> None:
        fh.seek(self._data_offset + self._search_from)
        span = min(SEARCH_BYTES, self._compressed_size - self._search_from - _TRIAL_OUT)
        data = fh.read(span + _TRIAL_OUT)
        found = find_block_start(data, span, cancelled=self.cancelled) if span > 0 else None
        if found is None:
            self.gave_up = True
            return
        i, bit = found
        block = BlockStart.at(self._search_from + i, bit, data[i])
        del data
        with self._changed:
            self.block = block
            self._changed.notify_all()
        fh.seek(self._data_offset + block.feed_from)
        self.consumed = block.feed_from
        if not self._decode_until_clean(fh, block.lead) or not self._decode_on(fh):
            self.gave_up = True

    def _decode_until_clean(self, fh: BinaryIO, lead: bytes) -> bool:
        """Run the two stand-in decoders in step, noting a checkpoint every CHECK_EVERY bytes.

        Ends well when their last 32 KiB agree, or when the front decoder took over at a
        checkpoint; the second stand-in is dropped once the front decoder has arrived.
        """
        first = new_raw_decompressor(zdict=_ZEROS)
        second: Any = new_raw_decompressor(zdict=_ONES)
        pending = lead
        last_first = last_second = b""
        try:
            while not self.cancelled.is_set():
                if self.taken_at is not None:
                    break
                if self.produced >= MAX_DIRTY_OUTPUT and not self._nearly_clean(last_first, last_second):
                    return False
                if self.produced >= MAX_EARLY_DIRTY_OUTPUT or (not pending and self.consumed >= self._compressed_size):
                    return False
                if second is not None and self.arrived:
                    second = None
                data = pending or self._read(fh, _DIRTY_READ)
                want = CHECK_EVERY - self.produced % CHECK_EVERY
                out = first.decompress(data, want)
                pending = first.unconsumed_tail
                if first.eof:
                    return False  # impossible for a true block start; the final block is never a target
                if second is not None:
                    other = second.decompress(data, want)
                    if len(other) != len(out) or len(second.unconsumed_tail) != len(pending):
                        return False
                    last_second = last_window(last_second, other)
                self.produced += len(out)
                self.inflated += len(out) if second is None else 2 * len(out)
                self.crc = crc32(out, self.crc)
                self._keep(out)
                last_first = last_window(last_first, out)
                if self.produced % CHECK_EVERY or self.produced < WINDOW:
                    continue
                clean = second is not None and last_first == last_second
                with self._changed:
                    self.checkpoints.append(Checkpoint(self.produced, last_first, self.crc))
                    if clean:
                        self.clean_from = self.produced
                    self._changed.notify_all()
                if clean:
                    break
            else:
                return False
        finally:
            with self._changed:
                self.recording = False
                self._changed.notify_all()
        with self._changed:
            self.decoder, self.tail = first, pending
            self._changed.notify_all()
        return True

    def _decode_on(self, fh: BinaryIO) -> bool:
        """Go on with the clean decoder until the target's end (or the member's), pausing if it is not yet known."""
        while not self.cancelled.is_set():
            with self._changed:
                while (
                    self.target_end is None
                    and not (self.early and self._estimate_trusted())
                    and not self.cancelled.is_set()
                    and self.produced >= self._pause_at()
                ):
                    self._changed.wait(0.01)
            if self.cancelled.is_set():
                return False
            stop = self._stop()
            if stop is None and self.early and self._kept_end is None:
                # Not told yet where the target is: keep what lies around where it should be, run on past it.
                stop = max(self._pause_at() - PAUSE_PAST + EARLY_PAST, self.produced)
                if self.produced >= stop:
                    self._kept_end = self.produced
                    continue
            if stop is not None and self.produced >= stop:
                if self.run_on_to is None or self.produced >= self.run_on_to:
                    return True
                self._kept_end = self.produced  # keep the target's part; the rest is only checksummed
                continue
            if self.decoder.eof:
                return True  # at the member's end the front decoder checks whether its target was reached
            if not self.tail and self.consumed >= self._compressed_size:
                return False
            # Past the kept part the output is only checksummed: small pieces, little memory.
            most = _OUT if self._kept_end is None else _CHECK_OUT
            want = most if stop is None else max(1, min(most, stop - self.produced))
            out = self.decoder.decompress(self.tail or self._read(fh, _READ), want)
            self.tail = self.decoder.unconsumed_tail
            if not out and self.decoder.eof:
                return True
            self.crc = crc32(out, self.crc)
            self.produced += len(out)
            self.inflated += len(out)
            self._keep(out)
        return False

    def _stop(self) -> int | None:
        """Where the current stretch of decoding ends: the target (and a little after), then the run-on end."""
        if self.target_end is None:
            return None
        if self.run_on_to is None:
            return self.target_end
        if self._kept_end is None:
            return min(self.target_end + AFTER_TARGET, self.run_on_to)
        return self.run_on_to

    def _nearly_clean(self, first: bytes, second: bytes) -> bool:
        """Whether an early helper may go on past MAX_DIRTY_OUTPUT (see NEARLY_CLEAN); decided once."""
        if self._dirty_verdict is None:
            xor = int.from_bytes(first, "big") ^ int.from_bytes(second, "big")
            differing = len(first) - xor.to_bytes(len(first), "big").count(0)
            self._dirty_verdict = self.early and len(first) == len(second) == WINDOW and differing <= NEARLY_CLEAN
        return self._dirty_verdict

    def _estimate_trusted(self) -> bool:
        """Whether the front decoder has seen enough (EARLY_SEEN) and is near enough (EARLY_TRUST_AHEAD) to
        extrapolate where the block start is.

        A member's first bytes (headers, padding) deflate far better than what follows: from them
        alone cuBLAS's helper put the target before its block start and kept nothing of use.
        """
        assert self.block is not None
        front_out, front_in = self.front
        if front_in < EARLY_SEEN * self.block.feed_from:
            return False
        return self._goal - self._pause_at() + PAUSE_PAST - front_out <= EARLY_TRUST_AHEAD

    def _pause_at(self) -> int:
        """How far to decode before the target is known: a little past its estimated end (see KEEP_BYTES).

        The block start's uncompressed offset is extrapolated from the front decoder's
        own ratio so far; the estimate only has to be good to a few MB.
        """
        assert self.block is not None
        front_out, front_in = self.front
        ratio = front_out / front_in if front_in else 3.0
        if self.early:  # the front decoder's ratio over its last RECENT_BYTES: the stretch ahead is more alike
            history = self._front_history
            if not history or history[-1] != (front_out, front_in):
                history.append((front_out, front_in))
                while len(history) > 2 and front_in - history[1][1] >= RECENT_BYTES:
                    history.pop(0)
            old_out, old_in = history[0]
            if front_in - old_in >= RECENT_BYTES // 2:
                ratio = (front_out - old_out) / (front_in - old_in)
        block_start = front_out + (self.block.feed_from - front_in) * ratio
        return int(self._goal - block_start) + PAUSE_PAST

    def _keep(self, out: bytes) -> None:
        if self._kept_end is not None:
            return
        self._kept.append(out)
        self._kept_size += len(out)
        keep = EARLY_KEEP_BYTES if self.early else KEEP_BYTES
        while self._kept_size - len(self._kept[0]) >= keep:
            self._kept_size -= len(self._kept.pop(0))

    def kept_range(self) -> tuple[int, int]:
        """``[start, end)`` of :meth:`kept`, relative to the block start."""
        end = self.produced if self._kept_end is None else self._kept_end
        return end - self._kept_size, end

    def will_miss(self, point: int, offset: int, end: int) -> bool:
        """Whether ``[offset, end)`` (from the block start) will not be among the bytes kept after ``point``:
        what is kept only moves on, and stops where it stopped keeping (past the estimated target)."""
        with self._changed:
            kept_from, kept_to = self.kept_range()
            return offset < max(kept_from, point) or (self._kept_end is not None and end > kept_to)

    def take_kept(self, start: int, stop: int | None = None) -> bytearray:
        """The output kept from ``start`` on, up to ``stop`` (relative to the block start; within
        :meth:`kept_range`), handed over: each piece is let go once copied, so the output is held once."""
        at, _ = self.kept_range()
        data = bytearray()
        pieces, self._kept, self._kept_size = self._kept, [], 0
        self._kept_end = at  # nothing kept any more
        pieces.reverse()
        while pieces:  # one copy (a join first made two: 8 MB of peak RSS)
            piece = pieces.pop()
            if at + len(piece) > start and (stop is None or at < stop):
                data += piece[max(start - at, 0) : len(piece) if stop is None else stop - at]
            at += len(piece)
        return data


# -- the hand-over: the front decoder meets its helper ---------------------------------------


class FrontDecoder(Protocol):
    """What the hand-over needs of the caller's sequential decoder."""

    inflated: int  # uncompressed bytes produced, over all passes (the helper's are added)
    split_waste: int  # bytes its helpers inflated beyond the progress they brought (see WASTE_SHARE)

    @property
    def position(self) -> int:
        """Uncompressed offset of the end of what was produced."""

    @property
    def consumed(self) -> int:
        """Compressed bytes read from the member so far."""

    @property
    def crc(self) -> int:
        """CRC-32 of the bytes before :attr:`position`."""

    def step(self, offset: int, *, stop_at: int | None = None, most: int | None = None) -> bytes:
        """Inflate and keep the next piece (a read from ``offset`` is under way), reading no compressed byte
        at or past ``stop_at``; b'' only when stopped there, an error when the member ends early."""

    def feed(self, size: int, offset: int) -> tuple[bytes, bytes]:
        """Inflate and keep up to ``size`` more compressed bytes; returns them and what they gave."""

    def adopt(
        self,
        decoder: Any,
        tail: bytes,
        *,
        consumed: int,
        position: int,
        crc: int,
        window: bytearray | None,
        window_start: int,
    ) -> None:
        """Go on with the helper's decoder: it stands at ``consumed`` / ``position``, having kept ``window``
        (None: the front decoder keeps its own, and ``window_start`` means nothing)."""


@record(frozen=True)
class Deflated:
    """Where a deflated member's data lies in the archive, and its sizes."""

    path: str
    data_offset: int
    compressed_size: int
    size: int


class Started:
    """A running helper, the far read it serves, and the front decoder's counts when it started (for its waste)."""

    def __init__(self, helper: AheadDecoder, offset: int, end: int, inflated: int, position: int) -> None:
        self.helper = helper
        self.offset = offset  # the read announced
        self.end = end
        self._inflated = inflated
        self._position = position

    def note(self, position: int, consumed: int) -> None:
        """The front decoder's progress, from which the helper estimates where the target is."""
        self.helper.front = (position, consumed)

    def finish(self, front: FrontDecoder) -> None:
        """Stop the helper (if still running), count what it inflated, give its core back."""
        try:
            self.helper.cancel()
            self.helper.join()
            front.inflated += self.helper.inflated
        finally:
            release_helper(early=self.helper.early)
            front.split_waste += (front.inflated - self._inflated) - (front.position - self._position)


def _may_split(front: FrontDecoder, member: Deflated, offset: int, *, early: bool = False) -> bool:
    """Whether a read at ``offset`` is far enough, a core idle, and the member's waste allows: takes the core."""
    if offset - front.position < MIN_DISTANCE or not split_enabled():
        return False
    if front.split_waste and front.split_waste + 2 * MAX_DIRTY_OUTPUT > WASTE_SHARE * member.size:
        return False
    return idle_enough() and reserve_helper(early=early)


def start_early(front: FrontDecoder, member: Deflated, offset: int, end: int) -> Started | None:
    """Start a helper now for a far read ``[offset, end)`` the caller will make after nearer ones, then read
    the member to its end; None when :func:`reach` would not split either. Hand it to :func:`reach`.

    The far read (polars' ``.dynamic`` at 137 MB of 177) is known once the headers are read, but
    made only after reads in the first tens of MB (the code sampled for its ISA level): a helper
    started then instead of at the far read works alongside the front decoder from the start, and
    halves the member's inflation rather than what is left after those reads.
    """
    if not _may_split(front, member, offset, early=True):
        return None
    return _start_helper(front, member, offset, end, to_end=True, early=True)


def _start_helper(
    front: FrontDecoder, member: Deflated, offset: int, end: int, *, to_end: bool, early: bool
) -> Started | None:
    """Start a helper towards ``[offset, end)`` on the core :func:`_may_split` took; None (the core given
    back) when the target is too near for one to pay."""
    try:
        done = front.consumed
        estimate = int(member.compressed_size * offset / member.size)  # compressed offset of the target
        if estimate - done < (MIN_EARLY_COMPRESSED_DISTANCE if early else MIN_COMPRESSED_DISTANCE):
            release_helper(early=early)
            return None
        start = done + int((estimate - done) * SPLIT_FRACTION)
        if to_end:  # the helper also decodes on to the end: half the compressed rest each, but before the target
            start = done + int(min((member.compressed_size - done) * END_FRACTION, (estimate - done) * 0.8))
        helper = AheadDecoder(
            member.path, member.data_offset, member.compressed_size, search_from=start, goal=end, early=early
        )
        started = Started(helper, offset, end, front.inflated, front.position)
        if early:
            helper.front = (front.position, done)
        helper.start()
    except BaseException:
        release_helper(early=early)
        raise
    return started


def reach(
    front: FrontDecoder, member: Deflated, offset: int, end: int, *, to_end: bool, early: Started | None = None
) -> None:
    """Inflate towards ``offset`` with a second decoder, when it is far enough and a core is idle.

    Leaves the front decoder in a consistent state either way: on success its window
    holds ``[offset, end)``; otherwise the caller simply goes on inflating. With
    ``to_end`` the caller will read the member to its end, so the helper runs on there.
    ``early``: a helper already started for this read (:func:`start_early`); it is finished here.
    """
    if early is not None:
        if not early.helper.gave_up:
            try:
                _meet_helper(front, early.helper, member, offset, end, to_end)
            finally:
                early.finish(front)
            return
        early.finish(front)  # it never got clean: a new helper from here may (as without it)
    if not _may_split(front, member, offset):
        return
    started = _start_helper(front, member, offset, end, to_end=to_end, early=False)
    if started is None:
        return
    try:
        _meet_helper(front, started.helper, member, offset, end, to_end)
    finally:
        started.finish(front)


def _meet_helper(
    front: FrontDecoder, helper: AheadDecoder, member: Deflated, offset: int, end: int, to_end: bool
) -> None:
    window = b""
    block = None
    while front.position < end:
        if helper.gave_up:
            return
        if block is None and helper.block is not None:
            block = helper.block
            if front.consumed > block.feed_from:
                return  # found too late: the front decoder is already past it
        chunk = front.step(offset, stop_at=None if block is None else block.feed_from)
        if not chunk:
            break  # everything before the block start is inflated
        window = last_window(window, chunk)
        helper.front = (front.position, front.consumed)
    if front.position >= end or block is None or len(window) < WINDOW:
        return
    block_start = front.position
    # Confirm the guess before trusting the helper's bytes.
    raw, ours = front.feed(VERIFY_BYTES, offset)
    if not is_block_start(block, window, raw, ours) or front.position >= end:
        return
    # The block start's offset is known now: the helper stops exactly at the target (it only guessed where).
    helper.arrive()
    helper.aim(end - block_start, member.size - block_start if to_end else None)
    taken = _take_over_point(front, helper, block_start, offset, last_window(window, ours), ours)
    if taken is None:
        return
    point, crc_at_point = taken
    helper.take_over(point.at)
    missed = helper.early and helper.will_miss(point.at, offset - block_start, end - block_start)
    if missed:  # an early helper kept the wrong bytes: decode to the target here while it runs on
        while front.position < end:
            front.step(offset)
    helper.join()
    kept_from, kept_to = helper.kept_range()
    # the helper's bytes before the take-over point may be stand-ins'
    window_from: int | None = max(kept_from, point.at)
    if helper.gave_up:
        return
    assert window_from is not None
    if end > offset and (offset - block_start < window_from or end - block_start > kept_to):  # (an empty read,
        # the CRC check's, needs none of the kept bytes). Not kept: the front decoder reads the target itself,
        # then takes only the helper's place at the member's end (and its CRC-32), if it got there.
        if not helper.early or helper.produced != member.size - block_start:
            return
        while front.position < end:
            front.step(offset)
        window_from = None
    # Adopt the helper's decoder: it is exactly where a sequential one would be (at the member's
    # end if it ran on; the window then ends before the position, and reads past it start over).
    # crc(front's bytes to the point + helper's after it) from crc(helper's, stand-ins' included):
    # CRC-32 is linear, so xor-ing in crc(stand-ins' part) before combining cancels that part.
    # The window handed over is the target and AFTER_TARGET either side, as a read keeps: an early
    # helper keeps 10 MiB, and copying all of it cost polars 6 ms after its far read.
    stop = None
    if window_from is not None:
        window_from = max(window_from, offset - block_start - AFTER_TARGET)
        stop = min(kept_to, end - block_start + AFTER_TARGET)
    front.adopt(
        helper.decoder,
        helper.tail,
        consumed=helper.consumed,
        position=block_start + helper.produced,
        crc=crc32_combine(crc_at_point ^ point.crc, helper.crc, helper.produced - point.at),
        window=None if window_from is None else helper.take_kept(window_from, stop),
        window_start=block_start + (window_from or 0),
    )


def _take_over_point(
    front: FrontDecoder, helper: AheadDecoder, block_start: int, offset: int, window: bytes, ours: bytes
) -> tuple[Checkpoint, int] | None:
    """The first checkpoint where the front decoder's true bytes equal the helper's, and the CRC-32 of the
    front decoder's bytes up to there; None if there is none before the target (the front goes on alone).

    From a checkpoint where the last 32 KiB agree, the helper's decoder is in the true decoder's
    exact state (the same bits read, the same window), so all it produces after is true.
    ``ours`` is what the front decoded from the block start; ``window`` its last 32 KiB.
    """
    index = 0
    while True:
        point = helper.checkpoint(index, front.position - block_start)
        if point is None:
            return None
        index += 1
        done = front.position - block_start
        if point.at <= done:  # behind the front decoder: compare with what it decoded since the block start
            if len(ours) == done and ours[point.at - WINDOW : point.at] == point.window:
                tail = ours[point.at :]
                # crc(front up to here) is not known, only up to its position: extend the helper's instead
                helper_crc = crc32_combine(point.crc, crc32(tail, 0), len(tail)) if tail else point.crc
                return Checkpoint(done, window, helper_crc), front.crc
            continue
        if block_start + point.at > offset:
            return None  # the front decoder reaches the target first
        while front.position < block_start + point.at:
            chunk = front.step(offset, most=min(block_start + point.at - front.position, 1 << 20))
            window = last_window(window, chunk)
        ours = b""  # no longer what the front decoded since the block start
        if window == point.window:
            return point, front.crc


_lock = threading.Lock()
_long_reads = 0  # front decoders now inflating a long way (in any thread)
_helpers = 0


@contextlib.contextmanager
def long_read() -> Iterator[None]:
    """Mark a front decoder as busy, so helpers are only started for cores nobody else is using."""
    global _long_reads
    note_cpu()
    with _lock:
        _long_reads += 1
    try:
        yield
    finally:
        with _lock:
            _long_reads -= 1


def reserve_helper(*, early: bool = False) -> bool:
    """Take a core for a helper if one is idle (several large members scanned at once use them all).

    ``early``: the front decoder is not inflating far yet, but will: it takes a core too, from now
    until :func:`release_helper` with ``early``.
    """
    global _helpers, _long_reads
    with _lock:
        if _long_reads + early + _helpers >= usable():
            return False
        _helpers += 1
        _long_reads += early
        return True


def release_helper(*, early: bool = False) -> None:
    global _helpers, _long_reads
    with _lock:
        _helpers -= 1
        _long_reads -= early


note_cpu()  # the first reading: a far read early in the process measures from here
