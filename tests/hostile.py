"""Builders for hostile wheel files, made from a real sample wheel at test time."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

CENTRAL = b"PK\x01\x02"


def rewrite(
    src: Path,
    dst: Path,
    *,
    drop: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """Copy a wheel member by member, dropping, renaming, replacing or adding members (no validation)."""
    rename = rename or {}
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if any(info.filename.endswith(d) for d in drop):
                continue
            data = replace.get(info.filename, zin.read(info.filename))
            zout.writestr(rename.get(info.filename, info.filename), data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def patch_central_directory(
    path: Path,
    member: str,
    *,
    file_size: int | None = None,
    header_offset_of: str | None = None,
    flag_bits: int | None = None,
) -> None:
    """Forge fields of one central-directory entry in place (the local header is left alone)."""
    data = bytearray(path.read_bytes())
    entries: dict[str, int] = {}
    pos = data.find(CENTRAL)
    while pos >= 0:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        name = bytes(data[pos + 46 : pos + 46 + name_len]).decode()
        entries[name] = pos
        pos = data.find(CENTRAL, pos + 46 + name_len + extra_len + comment_len)
    at = entries[member]
    if file_size is not None:
        struct.pack_into("<I", data, at + 24, file_size)
    if flag_bits is not None:
        struct.pack_into("<H", data, at + 8, flag_bits)
    if header_offset_of is not None:
        other = struct.unpack_from("<I", data, entries[header_offset_of] + 42)[0]
        struct.pack_into("<I", data, at + 42, other)
    path.write_bytes(bytes(data))


def run_cli_expecting_unusable(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wheelaudit ARGS`` and check the contract for unusable input:
    exit status 2, one line on stderr starting ``wheelaudit: error:``, no traceback, nothing on stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "wheelaudit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wheelaudit: error: "), proc.stderr
    assert proc.stdout == ""
    return proc
