"""The names grafted libraries get: their own name with the first 8 hex digits of their SHA-256.

Shared by the Linux and macOS repairs (auditwheel's and delocate's scheme), and kept apart from
the Linux planner so that a macOS repair does not load patchelf's module and subprocess.
"""

from __future__ import annotations

import hashlib
import re

_HASHED = re.compile(r"-[0-9a-f]{8}$")


def hashed_name(filename: str, sha256: str) -> str:
    """``libfoo.so.1.2`` -> ``libfoo-<sha256[:8]>.so.1.2``; a name already carrying a hash is kept."""
    base, dot, rest = filename.partition(".")
    if _HASHED.search(base):
        return filename
    return f"{base}-{sha256[:8]}{dot}{rest}"


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
