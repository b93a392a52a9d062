"""Scratch files in the wheelhouse: named so that a later run can tell whose they are.

A repair writes its output to a hidden temporary file next to the target and its
edited members to a hidden directory, and removes both whatever happens, except
when it is killed outright (SIGKILL, power loss). Their names carry the host and the
process id, ``.wheelaudit-<pid>-<host>-<random>.part`` (or ``.work``), so the next
run into the same wheelhouse removes the leftovers of processes that no longer
exist on this host, and never those of a run still going (here or on another
machine sharing the directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = ".wheelaudit-"
FILE_SUFFIX = ".part"
DIR_SUFFIX = ".work"
_NAME = re.compile(r"^\.wheelaudit-(\d+)-([0-9a-f]{8})-[^/]*\.(part|work)$")


def _host_name() -> str:
    """The machine's name, as ``socket.gethostname()`` gives it, without importing socket (start-up)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    return os.environ.get("COMPUTERNAME", "")


def host_tag() -> str:
    """Eight hex digits naming this host (process ids only mean something on one host)."""
    return hashlib.sha256(_host_name().encode("utf-8", "replace")).hexdigest()[:8]


def _prefix() -> str:
    return f"{PREFIX}{os.getpid()}-{host_tag()}-"


def new_file(directory: Path) -> tuple[int, Path]:
    """A new hidden scratch file in ``directory``: (open descriptor, path)."""
    fd, path = tempfile.mkstemp(prefix=_prefix(), suffix=FILE_SUFFIX, dir=directory)
    return fd, Path(path)


def new_dir(directory: Path) -> Path:
    """A new hidden scratch directory in ``directory``."""
    return Path(tempfile.mkdtemp(prefix=_prefix(), suffix=DIR_SUFFIX, dir=directory))


def owner(name: str) -> tuple[int, str] | None:
    """(pid, host tag) of a scratch name, or None for any other name."""
    match = _NAME.match(name)
    return (int(match.group(1)), match.group(2)) if match else None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (signal 0 checks without sending anything)."""
    if pid <= 0:
        return True  # not a process we could have been: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale(directory: Path) -> list[Path]:
    """Remove scratch files and directories left in ``directory`` by dead processes of this host.

    Returns what was removed. Anything else, and anything a live process may still be
    writing, is left alone; a leftover that vanishes meanwhile (another run cleaning) is fine.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    here = host_tag()
    for entry in entries:
        found = owner(entry.name)
        if found is None or found[1] != here or pid_alive(found[0]):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed
