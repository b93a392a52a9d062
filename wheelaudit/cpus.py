"""How many cores this process may use, and how busy the machine is: measured, not assumed.

A second decoder for a far read (:mod:`.wheel.splitinflate`) and the ISA scan's helper
process (:mod:`.binary.isaworker`) pay only on a core that would otherwise idle: on a
machine whose cores are taken by other work they only slow this process down. The kernel's
counters say how much of the machine was idle (``/proc/stat``) and what runs right now
(``/proc/loadavg``); elsewhere nothing is known and the cores are only counted.
"""

from __future__ import annotations

import os
import time

from ._typing import NamedTuple

#: Idle time is measured over at least this long (the kernel counts it in 10 ms ticks).
MIN_SPAN = 0.05


def usable() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def cpu_ticks(stat: bytes) -> tuple[int, int] | None:
    """``(idle, total)`` clock ticks of all CPUs from the text of /proc/stat (idle includes iowait)."""
    fields = stat.split(b"\n", 1)[0].split()
    if len(fields) < 6 or fields[0] != b"cpu":
        return None
    try:
        ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except ValueError:
        return None
    return ticks[3] + ticks[4], sum(ticks)


def idle_cpus(before: tuple[int, int], after: tuple[int, int], cpus: int) -> float | None:
    """How many of ``cpus`` were idle on average between two :func:`cpu_ticks` readings (None: no time passed)."""
    total = after[1] - before[1]
    if total <= 0:
        return None
    return cpus * (after[0] - before[0]) / total


def read_ticks() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", "rb") as fh:
            return cpu_ticks(fh.read(4096))
    except OSError:  # not Linux
        return None


def running_tasks(loadavg: bytes) -> int | None:
    """Tasks running or ready to run on the whole machine now, from the text of /proc/loadavg."""
    fields = loadavg.split()
    if len(fields) < 4 or b"/" not in fields[3]:
        return None
    running = fields[3].split(b"/")[0]
    return int(running) if running.isdigit() else None


def running() -> int | None:
    try:
        with open("/proc/loadavg", "rb") as fh:
            return running_tasks(fh.read(256))
    except OSError:
        return None


class Reading(NamedTuple):
    """The machine's CPU counters and this process's CPU time at one moment."""

    at: float  # time.monotonic()
    ticks: tuple[int, int] | None
    own: float  # time.process_time(): every thread of this process


def reading() -> Reading:
    return Reading(time.monotonic(), read_ticks(), time.process_time())


def others_busy(since: Reading, now: Reading | None = None) -> float | None:
    """Cores kept busy by other processes between two readings; None when unknown or too soon to say.

    The machine's busy time minus this process's own: a process that keeps both cores of a
    quiet machine busy itself must not conclude that none is spare.
    """
    now = now or reading()
    span = now.at - since.at
    if span < MIN_SPAN or since.ticks is None or now.ticks is None:
        return None
    cpus = os.cpu_count() or 1
    idle = idle_cpus(since.ticks, now.ticks, cpus)
    if idle is None:
        return None
    own = (now.own - since.own) / span
    return max(0.0, cpus - idle - own)
