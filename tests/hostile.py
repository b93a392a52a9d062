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
    assert not has_control_characters(proc.stderr.rstrip("\n")), f"raw control character in {proc.stderr!r}"
    return proc


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 (newlines included), DEL or C1 character: output must escape them."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def retagged(src: Path, dst_dir: Path, platform: str) -> Path:
    """``src`` with its platform tag replaced in the file name and in WHEEL (e.g. a linux_x86_64 build)."""
    with zipfile.ZipFile(src) as z:
        dist_info = next(n.split("/")[0] for n in z.namelist() if n.endswith(".dist-info/WHEEL"))
        wheel = z.read(f"{dist_info}/WHEEL").decode()
    tags = dict.fromkeys(
        "-".join(line[4:].strip().split("-")[:2]) for line in wheel.splitlines() if line.startswith("Tag:")
    )
    kept = [line for line in wheel.splitlines() if line.strip() and not line.startswith("Tag:")]
    text = "\n".join(kept + [f"Tag: {pair}-{platform}" for pair in tags]) + "\n\n"
    stem = src.name[: -len(".whl")].split("-")
    name = "-".join([*stem[:-1], platform]) + ".whl"
    return rewrite(src, dst_dir / name, replace={f"{dist_info}/WHEEL": text.encode()})
