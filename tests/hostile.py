"""Builders for hostile wheel files, made from a real sample wheel at test time."""

from __future__ import annotations

import struct
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
