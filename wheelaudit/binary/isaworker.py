"""A second process that length-decodes sampled x86-64 code, so that two walks run at once.

Only where the C walk (``_x86walk``) was not built: the ISA scan's decoder (:mod:`.x86decode`) is
then pure Python, the threads of one process take turns on the GIL, and a wheel of many libraries
walks them one after the other (scipy's 111 libraries: ~0.75 s of its ~1 s ``show``; the C walk
takes ~25 ms for them). One helper process, started only for such wheels,
walks the windows of one library while the threads of this process walk another's and
inflate. Its counts come from the same function over the same bytes, so the verdicts do not
depend on where a window was walked.

The child is this file run as a script, ``python -S -E -s isaworker.py``: no site, nothing of
wheelaudit but :mod:`.x86decode` (which imports only :mod:`enum`), ~10 ms to start. It reads
requests on stdin and answers on stdout:

    request   u32 windows, then per window: u32 length, the bytes
    answer    per window: u8 1 and u32 counts (one per family and ``00 00``), or u8 0 (not code)

It ends at end of input, so it never outlives this process. Any failure (it could not start,
it died, a short answer) turns it off for the rest of the run and the windows are walked
here: a slower scan, never a different one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import sys
import threading
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # run as a script the child has no package: it imports nothing of wheelaudit
if TYPE_CHECKING:
    import subprocess
    from typing import IO

    from ..cpus import Reading

#: ``0`` turns the helper process off; ``1`` starts it at the first scan whatever the cores.
ENV = "WHEELAUDIT_ISA_PROCESS"
#: The helper starts at this x86-64 scan of a run at the earliest: a wheel of one or two libraries walks them
#: itself (starting a process costs ~10 ms of a core).
START_AT_SCAN = 3
#: ... and only while other processes leave this many cores to this one and its helper: on 2 cores with one
#: busy elsewhere, scipy's show took 0.73 s with the helper and 0.70 s without; on an idle machine the
#: helper saves a quarter.
SPARE_CORES = 1.5

Counts = list[int]
_U32 = struct.Struct("<I")


class Helper:
    """The helper process, shared by the threads of one run; a thread finding it busy walks itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._broken = False
        self._scans = 0
        self._since: Reading | None = None  # the machine's counters at the first scan
        self.windows_walked = 0  # by the helper process: what it took off this one

    def counts_for_scan(
        self, windows: Sequence[bytes], walk_here: Callable[[bytes], Counts | None]
    ) -> list[Counts | None]:
        """:meth:`counts` for one library's scan, starting the helper at the scan where it pays."""
        self._scans += 1
        if self._process is None and not self._broken and self._wanted():
            self.start()
        return self.counts(windows, walk_here)

    def _wanted(self) -> bool:
        """From the START_AT_SCAN-th scan on, whether a core is spare for the helper: other processes
        busy less than SPARE_CORES short of every core, over the time since the first scan."""
        from .. import cpus  # here: the child, run as a script, has no package to import from

        setting = os.environ.get(ENV, "")
        if setting in ("0", "1"):
            return setting == "1"
        if self._since is None:
            self._since = cpus.reading()
        if self._scans < START_AT_SCAN or getattr(sys, "frozen", False) or cpus.usable() < 2:
            return False
        others = cpus.others_busy(self._since)
        if others is None:
            return False  # too soon to tell: ask again at the next scan
        return (os.cpu_count() or 1) - others >= SPARE_CORES

    def start(self) -> None:
        """Start the process (returns at once: it loads while this one reads)."""
        with self._lock:
            if self._process is not None or self._broken:
                return
            import subprocess  # here: 3 ms of imports (selectors, ...) that most runs never need

            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-S", "-E", "-s", __file__],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    close_fds=True,
                )
            except OSError:
                self._broken = True

    def counts(self, windows: Sequence[bytes], walk_here: Callable[[bytes], Counts | None]) -> list[Counts | None]:
        """Every window's counts: from the helper while this thread waits if it is free, else walked here.

        Handing over a library whole measured better than splitting each between the helper and this
        thread (scipy: 0.70 s against 0.84 s): a thread that waits lets the other walk.
        """
        if not windows or not self._lock.acquire(blocking=False):
            return [walk_here(w) for w in windows]
        try:
            process = self._process
            if process is None or self._broken or process.stdin is None or process.stdout is None:
                return [walk_here(w) for w in windows]
            try:
                _send(process.stdin, windows)
                answer = _receive(process.stdout, len(windows))
            except (OSError, ValueError, struct.error):
                return self._give_up(process, windows, walk_here)
            self.windows_walked += len(windows)
            return answer
        finally:
            self._lock.release()

    def _give_up(
        self, process: subprocess.Popen[bytes], windows: Sequence[bytes], walk_here: Callable[[bytes], Counts | None]
    ) -> list[Counts | None]:
        self._broken = True
        process.kill()
        return [walk_here(w) for w in windows]

    def close(self) -> None:
        """End the helper process and wait for it (a few seconds at most, then it is killed)."""
        if not self._lock.acquire(timeout=5):  # a thread still talking to it at interpreter exit
            return
        try:
            process, self._process = self._process, None
        finally:
            self._lock.release()
        if process is None:
            return
        import subprocess

        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # the child ends at end of input
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _send(out: IO[bytes], windows: Sequence[bytes]) -> None:
    parts = [_U32.pack(len(windows))]
    for window in windows:
        parts += (_U32.pack(len(window)), window)
    out.write(b"".join(parts))
    out.flush()


def _receive(answers: IO[bytes], windows: int) -> list[Counts | None]:
    (slots,) = _U32.unpack(_read_exact(answers, 4))
    if not 0 < slots <= 64:
        raise ValueError("bad answer from the ISA helper")
    row = struct.Struct(f"<{slots}I")
    results: list[Counts | None] = []
    for _ in range(windows):
        if _read_exact(answers, 1) == b"\x00":
            results.append(None)
        else:
            results.append(list(row.unpack(_read_exact(answers, row.size))))
    return results


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("the ISA helper stopped")
    return data


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The child's loop: answer each request with the windows' counts, until end of input."""
    from x86decode import count_window  # type: ignore[import-not-found]  # run as a script, see above

    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        (windows,) = _U32.unpack(head)
        answer: list[bytes] = []
        width = 0
        for _ in range(windows):
            (size,) = _U32.unpack(_read_exact(stdin, 4))
            counts = count_window(_read_exact(stdin, size))
            if counts is None:
                answer.append(b"\x00")
            else:
                width = len(counts)
                answer.append(b"\x01" + struct.pack(f"<{width}I", *counts))
        stdout.write(_U32.pack(width or 1) + b"".join(answer))
        stdout.flush()


_SHARED = Helper()


def shared() -> Helper:
    """The helper of this process (a forked child gets a fresh one: the pipes are its parent's)."""
    return _SHARED


def _forked() -> None:
    global _SHARED
    _SHARED = Helper()


def _at_exit() -> None:
    """A library user's interpreter ends: the helper ends with it, waited for (the CLI leaves by os._exit, and
    the helper then ends at end of input)."""
    _SHARED.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
atexit.register(_at_exit)


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
