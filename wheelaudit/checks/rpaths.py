"""Library search-path entries that lead outside the installed wheel.

DT_RPATH / DT_RUNPATH (ELF) and LC_RPATH (Mach-O) entries are searched before the
system's directories. An absolute entry names a directory of the build machine
(``/tmp/zmq/lib``, ``/Users/runner/work/...``): on a user's machine it rarely exists, but
whoever can create it there decides what the extension loads, and ``/tmp`` is everyone's.
A relative entry without ``$ORIGIN`` (``@loader_path`` on macOS) is relative to the
process's working directory: whatever directory Python runs in. Old auditwheel versions
wrote such entries (``Pillow.libs``) into the libraries they grafted. Neither changes the
tag the wheel may carry, so these are warnings.
"""

from __future__ import annotations

from ..binary.model import Binary, BinaryFormat
from ..report.model import Problem, Severity
from .context import AuditContext

#: How an ELF entry relative to its own file starts (``repair`` keeps those and drops the others).
ORIGIN_TOKENS = ("$ORIGIN", "${ORIGIN}")
#: How an entry that is relative to its own file starts, per format.
_ANCHORS = {
    BinaryFormat.ELF: ORIGIN_TOKENS,
    BinaryFormat.MACHO: ("@loader_path", "@executable_path"),
}

FIX = {
    BinaryFormat.ELF: (
        "drop the entry: build without it (an `-Wl,-rpath,...` or `LDFLAGS` of the build machine, a Cargo "
        "`rustflags` link arg); `wheelaudit repair` drops it, keeping the `$ORIGIN` entries"
    ),
    BinaryFormat.MACHO: (
        "drop the entry: build without it (an `-Wl,-rpath,...` or `LDFLAGS` of the build machine), or edit it "
        "out with `install_name_tool -delete_rpath` (then re-sign), keeping only `@loader_path` entries"
    ),
}


def check(ctx: AuditContext) -> list[Problem]:
    """One warning per binary and search-path entry outside the wheel (a universal file's slices once)."""
    problems: list[Problem] = []
    seen: set[tuple[str, str, str]] = set()
    for binary in ctx.binaries:
        anchors = _ANCHORS.get(binary.format)
        if anchors is None:
            continue
        for kind, entries in _entries(binary):
            for entry in entries:
                if not entry or entry.startswith(anchors) or (binary.path, kind, entry) in seen:
                    continue
                seen.add((binary.path, kind, entry))
                problems.append(_problem(binary, kind, entry))
    return problems


def _entries(binary: Binary) -> list[tuple[str, tuple[str, ...]]]:
    if binary.format is BinaryFormat.MACHO:
        return [("LC_RPATH", binary.rpath)]
    return [("DT_RPATH", binary.rpath), ("DT_RUNPATH", binary.runpath)]


def _problem(binary: Binary, kind: str, entry: str) -> Problem:
    searched = (
        "dyld looks there for the file's @rpath libraries"
        if binary.format is BinaryFormat.MACHO
        else "the loader searches it before the system's directories"
    )
    if entry.startswith("/"):
        where = (
            f"a directory of the build machine: {searched} on every user's machine, so whoever can "
            "create it there chooses what loads"
        )
    else:
        where = f"relative to the working directory: {searched}, resolved against whatever directory Python runs in"
    return Problem(
        "rpath-outside-wheel",
        Severity.WARNING,
        f"{binary.path} has the {kind} entry {entry!r}, {where}",
        path=binary.path,
        fix=FIX[binary.format],
    )
