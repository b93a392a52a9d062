"""Deflating a repair's new members on every usable core, in the order the writer writes them.

A repair's time is mostly deflating the grafted and patched binaries, while the unchanged
members are only copied. Here the new members are deflated on a thread pool (libdeflate,
zlib, ISA-L, crc32 and sha256 let go of the GIL) ahead of the writer, which meanwhile copies
raw members and then writes each result in its turn, so the order and the bytes never depend
on the threads.

At a zlib level (4-9, default 6) a member up to :data:`LIBDEFLATE_UP_TO` is deflated whole
by libdeflate (the ``deflate`` package) at that level: on the benchmarks' grafted libraries
(OpenBLAS 21 MB, pillow's 18 dylibs, GEOS, libzmq) its output came out 0.4-1.6% smaller than
zlib's at the same level, in a third of the CPU time (97-105 MB/s against 30-37 MB/s). It
needs the member whole in memory, so a larger one (or every one, without libdeflate or with
``WHEELAUDIT_LIBDEFLATE=0``) goes to zlib: above :data:`SPLIT_ABOVE` pigz-style, in fixed
:data:`PIECE`-sized pieces, each primed with the 32 KiB before it as dictionary and ended
with a sync flush, so the pieces concatenate into one valid deflate stream; the member's
CRC-32 is combined from the pieces' (:mod:`.crccombine`). Which way a member goes depends on
its size and the level alone, so the bytes are the same on one thread or sixty-four.
Measured on real libraries (OpenBLAS 20 MB, GEOS 3 MB, libavif, libsqlite3): zlib's pieces
come out 0.01-0.1% larger than one zlib stream, in the same CPU time. ISA-L levels (1-3) are
fast enough whole and grow up to 0.65% when split, so their members are never split.

Memory: at most :data:`WINDOW_PER_WORKER` bytes per worker of input are handed out ahead of
the writer (one member at a time beyond that), and each result holds at most :data:`SPILL_AT`
bytes in memory; beyond that it goes to an unnamed scratch file in the wheelhouse (gone with
the process, whatever ends it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from .._typing import TYPE_CHECKING, Protocol, cast
from ..cpus import usable
from ..record import record
from ..threads import Task, TaskPool
from .crccombine import crc32_combine
from .inflate import crc32 as inflated_crc32
from .inflate import new_raw_decompressor

if TYPE_CHECKING:
    from typing import IO

#: Size of the pieces a big member is split into; fixed, so the output never depends on the cores.
PIECE = 1 << 20
#: Members up to this size are deflated as one stream (the same bytes as zipfile's, auditwheel's).
SPLIT_ABOVE = 2 * PIECE
#: Deflate's window: each piece is primed with this much of the data before it.
DICTIONARY = 32 << 10
#: Below this, a member is deflated by the writer itself when it gets there: a hand-off costs more.
SMALL = 64 << 10
#: Input handed to the workers ahead of the writer, per worker (bounds the results waiting).
WINDOW_PER_WORKER = 4 << 20
#: A result keeps this much in memory, the rest in a scratch file.
SPILL_AT = 4 << 20
READ = 1 << 20
#: Members up to this size at levels 4-9 are deflated whole by libdeflate (input and output in memory).
LIBDEFLATE_UP_TO = 32 << 20
#: ``0`` turns libdeflate off: zlib deflates every member at levels 4-9 (zipfile's and auditwheel's bytes).
LIBDEFLATE_ENV = "WHEELAUDIT_LIBDEFLATE"
#: Turns the pool off (``1``) or sets its size; otherwise every core this process may use.
THREADS_ENV = "WHEELAUDIT_DEFLATE_THREADS"

Emit = Callable[[bytes], object]
Progress = Callable[[int], None]


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self, mode: int = ..., /) -> bytes: ...


def new_compressor(level: int, dictionary: bytes | None = None) -> _Compressor:
    """A streaming raw-deflate compressor for ``-z level`` (members libdeflate does not take whole).

    4-9 (and the default, 6) are zlib's levels: the same compressor and level as
    auditwheel and ``zipfile`` (ISA-L's best level came out 8.7% larger on the grafted
    libsqlite3 of the syslib sample).
    1-3 are ISA-L's levels 1-3 when it is installed: about ten times faster than zlib 6
    (350-530 MB/s against 33 MB/s on polars' library here) for output 10-15% larger,
    worth it when large members change (``--strip`` on a big library). 0 stores.
    zlib's bytes depend only on the input and the zlib build (a distribution that ships
    zlib-ng as its zlib gives other bytes), so repeated runs are byte-identical. ISA-L's
    also depend on the CPU: its level 3 picks its matcher by CPU features (the 18 dylibs
    of the pillow benchmark deflate to other bytes under ``qemu-x86_64 -cpu Westmere``
    than on an AVX-512 host; levels 1 and 2 came out the same). ``dictionary`` primes a
    zlib compressor (a piece).
    """
    if 1 <= level <= 3:
        try:
            from isal import isal_zlib
        except ImportError:  # pragma: no cover - isal is a dependency on CPython
            pass
        else:
            return cast(_Compressor, isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15))
    if dictionary:
        return zlib.compressobj(level, zlib.DEFLATED, -15, zlib.DEF_MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, dictionary)
    return zlib.compressobj(level, zlib.DEFLATED, -15)


def _libdeflate() -> Callable[[bytes, int], bytearray] | None:
    if os.environ.get(LIBDEFLATE_ENV, "").strip() == "0":
        return None
    return _import_libdeflate()


@functools.cache
def _import_libdeflate() -> Callable[[bytes, int], bytearray] | None:
    try:
        from deflate import deflate_compress
    except ImportError:  # pragma: no cover - deflate is a dependency on CPython
        return None
    return deflate_compress


def _whole_compressor(size: int, level: int) -> Callable[[bytes, int], bytearray] | None:
    """libdeflate's compress function when a member of ``size`` bytes at ``-z level`` is deflated whole by it."""
    return _libdeflate() if 4 <= level <= 9 and size <= LIBDEFLATE_UP_TO else None


def uses_libdeflate(size: int, level: int) -> bool:
    """Whether a member of ``size`` bytes at ``-z level`` is deflated whole by libdeflate."""
    return _whole_compressor(size, level) is not None


def usable_cores() -> int:
    """Worker threads for deflating: ``WHEELAUDIT_DEFLATE_THREADS``, else the cores this process may run on."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return min(int(raw), 256)
    return usable()


def pieces_of(size: int, level: int) -> list[tuple[int, int]]:
    """(offset, length) of the pieces a member of ``size`` bytes is deflated in at ``level``."""
    if size <= SPLIT_ABOVE or not 4 <= level <= 9 or uses_libdeflate(size, level):
        return [(0, size)]
    return [(start, min(PIECE, size - start)) for start in range(0, size, PIECE)]


class SpillFailed(OSError):
    """A scratch file for a waiting result could not be written (the wheelhouse is full)."""


class Cancelled(Exception):
    """The writer gave up; a worker stops at its next read."""


@record(frozen=True)
class Source:
    """A new member's content: a file (edited or grafted, in the scratch directory) or bytes."""

    size: int
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of_file(cls, path: str | os.PathLike[str]) -> Source:
        return cls(os.stat(path).st_size, path=Path(path))

    @classmethod
    def of_bytes(cls, data: bytes) -> Source:
        return cls(len(data), data=data)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer only if the file shrank)."""
        if self.data is not None:
            return self.data[offset : offset + length]
        assert self.path is not None
        with open(self.path, "rb") as fh:
            return os.pread(fh.fileno(), length, offset) if hasattr(os, "pread") else _seek_read(fh, offset, length)

    def whole(self, stop: threading.Event | None = None) -> bytes:
        """The content as one ``bytes``, read in one call (joining pieces held it twice at the peak)."""
        if self.data is not None:
            return self.data
        if stop is not None and stop.is_set():
            raise Cancelled
        assert self.path is not None
        with open(self.path, "rb") as fh:
            return fh.read()

    def stream(self, stop: threading.Event | None = None) -> Iterator[bytes]:
        """The content in pieces of at most :data:`READ` bytes."""
        if self.data is not None:
            yield self.data  # whole, as one call to the compressor: ISA-L's blocks follow the calls
            return
        assert self.path is not None
        with open(self.path, "rb") as fh:
            while chunk := fh.read(READ):
                if stop is not None and stop.is_set():
                    raise Cancelled
                yield chunk


def _seek_read(fh: IO[bytes], offset: int, length: int) -> bytes:  # pragma: no cover - no pread
    fh.seek(offset)
    return fh.read(length)


def _check_size(total: int, size: int) -> None:
    if total != size:
        raise OSError(f"read {total} bytes of a new member, expected {size}")


# -- the work itself: the same functions inline and on the pool ----------------------------------------


def deflate_whole(
    source: Source, level: int, emit: Emit, progress: Progress | None, stop: threading.Event | None = None
) -> tuple[int, bytes]:
    """Deflate (or store, at level 0) a member as one stream into ``emit``; returns (CRC-32, sha256)."""
    if uses_libdeflate(source.size, level):
        return deflate_chunks([source.whole(stop)], source.size, level, emit, progress)
    return deflate_chunks(source.stream(stop), source.size, level, emit, progress)


def deflate_chunks(
    chunks: Iterable[bytes], size: int, level: int, emit: Emit, progress: Progress | None
) -> tuple[int, bytes]:
    """Deflate (or store) content given in pieces totalling ``size`` bytes as one stream; (CRC-32, sha256).

    libdeflate takes the content whole (one piece is not copied again), zlib and ISA-L as it comes.
    """
    compress = _whole_compressor(size, level)
    if compress is not None:
        pieces = list(chunks)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        _check_size(len(data), size)
        deflated = bytes(compress(data, level))
        crc = zlib.crc32(data)
        Inflating().check(deflated, crc, size)
        emit(deflated)
        if progress:
            progress(len(data))
        return crc, hashlib.sha256(data).digest()
    sha = hashlib.sha256()
    crc = total = 0
    compressor = new_compressor(level) if level > 0 else None
    check = Inflating()  # (stored: nothing to check)
    for chunk in chunks:
        sha.update(chunk)
        crc = zlib.crc32(chunk, crc)
        total += len(chunk)
        out = compressor.compress(chunk) if compressor else chunk
        if compressor:
            check.feed(out)
        emit(out)
        if progress:
            progress(len(chunk))
    if compressor:
        out = compressor.flush()
        check.feed(out)
        check.expect(crc, total)
        emit(out)
    _check_size(total, size)
    return crc, sha.digest()


def deflate_piece(data: bytes, dictionary: bytes, level: int, last: bool) -> tuple[bytes, int]:
    """One piece of a split member: primed with the data before it, ended on a byte boundary unless ``last``;
    with the CRC-32 of ``data``, which checking the piece needs and the caller keeps."""
    compressor = new_compressor(level, dictionary)
    out = compressor.compress(data)
    out += compressor.flush() if last else compressor.flush(zlib.Z_SYNC_FLUSH)
    crc = zlib.crc32(data)
    Inflating(dictionary).check(out, crc, len(data))
    return out, crc


class DeflateMismatch(Exception):
    """Deflated output that does not inflate back to its input: a compressor's fault, never shipped."""


class Inflating:
    """Inflates deflated output as it is made and checks it against the input's CRC-32 and size.

    Every member a repair deflates is checked so (~1 ms per MB, on the thread that deflated it),
    so the audit of the written wheel can trust the files it analysed before they were deflated
    (:func:`wheelaudit.binary.analyze_file`) instead of inflating them again.
    """

    def __init__(self, dictionary: bytes | None = None) -> None:
        self._inflater = new_raw_decompressor(dictionary or None)
        self.crc = 0
        self.size = 0

    def feed(self, deflated: bytes) -> None:
        inflater = self._inflater
        while True:
            out = inflater.decompress(deflated, READ)
            self.crc = inflated_crc32(out, self.crc)
            self.size += len(out)
            deflated = inflater.unconsumed_tail
            if not deflated and len(out) < READ:
                return

    def expect(self, crc: int, size: int) -> None:
        if (self.crc, self.size) != (crc, size):
            raise DeflateMismatch(
                f"deflated data inflates to {self.size} bytes with CRC-32 {self.crc:08x}, "
                f"not to its {size} bytes with CRC-32 {crc:08x}"
            )

    def check(self, deflated: bytes, crc: int, size: int) -> None:
        self.feed(deflated)
        self.expect(crc, size)


def _read_piece(source: Source, offset: int, length: int) -> tuple[bytes, bytes]:
    """(dictionary, data) of the piece at ``offset``: the 32 KiB before it and the piece."""
    start = max(0, offset - DICTIONARY)
    both = source.read(start, offset + length - start)
    _check_size(len(both), offset + length - start)
    return both[: offset - start], both[offset - start :]


def deflate_split(source: Source, level: int, emit: Emit, progress: Progress | None) -> tuple[int, bytes]:
    """The pieces of a big member one after the other in this thread: the same bytes as the pool's."""
    sha = hashlib.sha256()
    crc = 0
    pieces = pieces_of(source.size, level)
    for offset, length in pieces:
        dictionary, data = _read_piece(source, offset, length)
        sha.update(data)
        deflated, piece_crc = deflate_piece(data, dictionary, level, offset + length == source.size)
        crc = crc32_combine(crc, piece_crc, length)
        emit(deflated)
        if progress:
            progress(length)
    return crc, sha.digest()


# -- results waiting for the writer ----------------------------------------------------------------------


class _Result:
    """Compressed bytes made ahead of the writer: in memory up to :data:`SPILL_AT`, then in a scratch file."""

    def __init__(self, scratch_dir: Path) -> None:
        self._dir = scratch_dir
        self._memory: list[bytes] = []
        self._held = 0
        self._file: IO[bytes] | None = None
        self.crc = 0
        self.length = 0  # input bytes this result stands for
        self.digest = b""

    def write(self, data: bytes) -> None:
        if not data:
            return
        try:
            if self._file is None and self._held + len(data) > SPILL_AT:
                self._file = tempfile.TemporaryFile(dir=self._dir)  # noqa: SIM115 - closed by close()
            if self._file is not None:
                self._file.write(data)
                return
        except OSError as exc:
            raise SpillFailed(exc.errno, exc.strerror or str(exc)) from None
        self._memory.append(data)
        self._held += len(data)

    def chunks(self) -> Iterator[bytes]:
        yield from self._memory
        if self._file is not None:
            try:
                self._file.seek(0)
                while piece := self._file.read(READ):
                    yield piece
            except OSError as exc:
                raise SpillFailed(exc.errno, exc.strerror or str(exc)) from None

    def close(self) -> None:
        self._memory.clear()
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()


def _pool_whole(source: Source, level: int, scratch_dir: Path, stop: threading.Event) -> _Result:
    result = _Result(scratch_dir)
    try:
        result.crc, result.digest = deflate_whole(source, level, result.write, None, stop)
    except BaseException:
        result.close()
        raise
    result.length = source.size
    return result


def _pool_piece(
    source: Source, level: int, offset: int, length: int, scratch_dir: Path, stop: threading.Event
) -> _Result:
    if stop.is_set():
        raise Cancelled
    dictionary, data = _read_piece(source, offset, length)
    result = _Result(scratch_dir)
    deflated, result.crc = deflate_piece(data, dictionary, level, offset + length == source.size)
    result.write(deflated)
    result.length = length
    return result


def _pool_hash(source: Source, stop: threading.Event) -> bytes:
    sha = hashlib.sha256()
    for chunk in source.stream(stop):
        sha.update(chunk)
    return sha.digest()


# -- the queue the writer takes from ----------------------------------------------------------------------


@record
class _Task:
    """One unit handed to a worker: a whole member, a piece of one, or a big member's sha256."""

    cost: int  # input bytes it holds the result of, against the window
    run: Callable[[], object]
    future: Task[object] | None = None


@record
class _Planned:
    name: str
    source: Source
    inline: bool
    tasks: list[_Task]  # whole: [deflate]; split: [hash, piece, piece, ...]


class Deflating:
    """One new member, handed to the writer: :meth:`emit_into` writes its deflated bytes in order."""

    def __init__(self, queue: DeflateQueue | None, planned: _Planned, level: int) -> None:
        self._queue = queue
        self._planned = planned
        self.level = level
        self.size = planned.source.size

    def emit_into(self, emit: Emit, progress: Progress | None) -> tuple[int, bytes]:
        """Write the compressed bytes through ``emit``; returns (CRC-32, sha256 digest)."""
        planned = self._planned
        if planned.inline or self._queue is None:
            if len(pieces_of(self.size, self.level)) > 1:
                return deflate_split(planned.source, self.level, emit, progress)
            return deflate_whole(planned.source, self.level, emit, progress)
        queue = self._queue
        tasks = planned.tasks
        if len(tasks) == 1:
            result = cast(_Result, queue.wait(tasks[0]))
            try:
                for chunk in result.chunks():
                    emit(chunk)
            finally:
                result.close()
            if progress:
                progress(result.length)
            return result.crc, result.digest
        crc = 0
        for task in tasks[1:]:
            result = cast(_Result, queue.wait(task))
            try:
                for chunk in result.chunks():
                    emit(chunk)
            finally:
                result.close()
            crc = crc32_combine(crc, result.crc, result.length)
            if progress:
                progress(result.length)
        return crc, cast(bytes, queue.wait(tasks[0]))


class DeflateQueue:
    """New members deflated ahead on a thread pool, taken by the writer in the order they were given.

    With one worker nothing is threaded: each member is deflated when the writer takes it.
    Closing (or leaving the ``with``) stops the workers and drops every result not taken.
    """

    def __init__(self, level: int, sources: Sequence[tuple[str, Source]], *, workers: int, scratch_dir: Path) -> None:
        self.level = level
        self._scratch = scratch_dir
        self._stop = threading.Event()
        threaded = workers > 1 and level > 0
        self._pool = TaskPool(workers, "wheelaudit-deflate") if threaded else None
        self._window = WINDOW_PER_WORKER * max(workers, 1)
        self._in_flight = 0
        self._plan: list[_Planned] = [self._planned(name, source, not threaded) for name, source in sources]
        self._order: list[_Task] = [task for planned in self._plan for task in planned.tasks]
        self._next_task = 0  # the first task not yet handed out
        self._next_member = 0
        self._fill()

    def _planned(self, name: str, source: Source, serial: bool) -> _Planned:
        if serial or source.size < SMALL:
            return _Planned(name, source, True, [])
        level, stop, scratch_dir = self.level, self._stop, self._scratch
        pieces = pieces_of(source.size, level)
        if len(pieces) == 1:
            whole = functools.partial(_pool_whole, source, level, scratch_dir, stop)
            return _Planned(name, source, False, [_Task(source.size, whole)])
        tasks = [_Task(0, functools.partial(_pool_hash, source, stop))]
        for offset, length in pieces:
            tasks.append(
                _Task(length, functools.partial(_pool_piece, source, level, offset, length, scratch_dir, stop))
            )
        return _Planned(name, source, False, tasks)

    def _fill(self) -> None:
        """Hand out tasks in order while the window has room (always the next one when nothing is out)."""
        assert self._pool is not None or not self._order
        while self._next_task < len(self._order):
            task = self._order[self._next_task]
            if self._in_flight and self._in_flight + task.cost > self._window:
                return
            assert self._pool is not None
            task.future = self._pool.submit(task.run)
            self._in_flight += task.cost
            self._next_task += 1

    def wait(self, task: _Task) -> object:
        """The task's result (its exception re-raised here); frees its room in the window."""
        future = task.future
        assert future is not None
        result = future.result()
        task.future = None  # taken: the writer owns (and closes) it now
        self._in_flight -= task.cost
        task.cost = 0
        self._fill()
        return result

    def take(self, name: str) -> Deflating:
        """The next member, which must be ``name``."""
        planned = self._plan[self._next_member]
        if planned.name != name:
            raise ValueError(f"deflate queue: {name!r} taken, {planned.name!r} is next")
        self._next_member += 1
        return Deflating(self, planned, self.level)

    def close(self) -> None:
        """Stop the workers and wait for them, then drop what they made."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown()
        for task in self._order:
            future = task.future
            if future is not None and future.succeeded():
                made = future.result()
                if isinstance(made, _Result):
                    made.close()

    def __enter__(self) -> DeflateQueue:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def inline(source: Source, level: int) -> Deflating:
    """A member deflated by the writer itself when it gets there (no queue)."""
    return Deflating(None, _Planned("", source, True, []), level)
