"""Builders for hostile wheel files, made from a real sample wheel at test time.

:data:`BUILDERS` lists every kind of unusable input; ``show`` and ``repair`` are run on each of them.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from .conftest import sample_wheel

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


# -- every kind of unusable input ---------------------------------------------------------------

SO = "wa_sample_abi3/wa_sample_abi3.abi3.so"
DIST = "wa_sample_abi3-0.1.0.dist-info"


def base_wheel() -> Path:
    return sample_wheel("wa_sample_abi3-")


def base_name_in(tmp: Path) -> Path:
    """The sample's file name in ``tmp``."""
    return tmp / base_wheel().name


def not_a_zip(tmp: Path) -> Path:
    p = base_name_in(tmp)
    p.write_text("this is not a zip file\n" * 20)
    return p


def empty_file(tmp: Path) -> Path:
    p = base_name_in(tmp)
    p.write_bytes(b"")
    return p


def truncated(tmp: Path) -> Path:
    p = base_name_in(tmp)
    p.write_bytes(base_wheel().read_bytes()[: base_wheel().stat().st_size // 2])
    return p


def truncated_tail_kept(tmp: Path) -> Path:
    """Central directory intact but the data before it cut short: members run past their neighbours."""
    data = base_wheel().read_bytes()
    cut = data.find(b"PK\x01\x02")
    p = base_name_in(tmp)
    p.write_bytes(data[: cut // 3] + data[cut:])
    return p


def _member_named(name: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        return rewrite(base_wheel(), base_name_in(tmp), add={name: b"x"})

    build.__name__ = f"member_{name!r}"
    return build


def duplicate_member(tmp: Path) -> Path:
    p = base_name_in(tmp)
    rewrite(base_wheel(), p)
    with pytest.warns(UserWarning), zipfile.ZipFile(p, "a") as z:
        z.writestr(SO, b"again")
    return p


def overlapping_members(tmp: Path) -> Path:
    p = rewrite(base_wheel(), base_name_in(tmp))
    patch_central_directory(p, f"{DIST}/METADATA", header_offset_of=SO)
    return p


def forged_size_bomb(tmp: Path) -> Path:
    p = rewrite(base_wheel(), base_name_in(tmp))
    patch_central_directory(p, f"{DIST}/METADATA", file_size=0xFFFFFFF0)
    return p


def real_ratio_bomb(tmp: Path) -> Path:
    """A member that really inflates 2000:1 would need many GB to exceed; use many members instead."""
    p = rewrite(base_wheel(), base_name_in(tmp))
    with zipfile.ZipFile(p, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("bomb/ones.bin"), b"\0" * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)
    patch_central_directory(p, "bomb/ones.bin", file_size=0xFFFFFFFF)
    return p


def encrypted_member(tmp: Path) -> Path:
    p = rewrite(base_wheel(), base_name_in(tmp))
    patch_central_directory(p, SO, flag_bits=0x1)
    return p


def missing_wheel_file(tmp: Path) -> Path:
    return rewrite(base_wheel(), base_name_in(tmp), drop=(f"{DIST}/WHEEL",))


def missing_record(tmp: Path) -> Path:
    return rewrite(base_wheel(), base_name_in(tmp), drop=(f"{DIST}/RECORD",))


def missing_dist_info(tmp: Path) -> Path:
    return rewrite(base_wheel(), base_name_in(tmp), drop=(f"{DIST}/WHEEL", f"{DIST}/RECORD", f"{DIST}/METADATA"))


def bad_record_csv(tmp: Path) -> Path:
    return rewrite(base_wheel(), base_name_in(tmp), replace={f"{DIST}/RECORD": b"only,two\n"})


def bad_wheel_version(tmp: Path) -> Path:
    wheel = b"Wheel-Version: 9.0\nRoot-Is-Purelib: false\n"
    return rewrite(base_wheel(), base_name_in(tmp), replace={f"{DIST}/WHEEL": wheel})


def bad_file_name(tmp: Path) -> Path:
    p = tmp / "not-a-wheel-name.whl"
    p.write_bytes(base_wheel().read_bytes())
    return p


def elf_garbage(tmp: Path) -> Path:
    return rewrite(base_wheel(), base_name_in(tmp), replace={SO: b"\x7fELF" + b"\xff" * 200})


def elf_truncated(tmp: Path) -> Path:
    with zipfile.ZipFile(base_wheel()) as z:
        data = z.read(SO)
    return rewrite(base_wheel(), base_name_in(tmp), replace={SO: data[:3000]})


def elf_phdrs_past_end(tmp: Path) -> Path:
    with zipfile.ZipFile(base_wheel()) as z:
        data = bytearray(z.read(SO))
    data[32:40] = (len(data) + 4096).to_bytes(8, "little")  # e_phoff
    return rewrite(base_wheel(), base_name_in(tmp), replace={SO: bytes(data)})


def elf_dynamic_past_end(tmp: Path) -> Path:
    with zipfile.ZipFile(base_wheel()) as z:
        data = bytearray(z.read(SO))
    phoff = int.from_bytes(data[32:40], "little")
    phnum = int.from_bytes(data[56:58], "little")
    for i in range(phnum):
        at = phoff + 56 * i
        if int.from_bytes(data[at : at + 4], "little") == 2:  # PT_DYNAMIC
            data[at + 8 : at + 16] = (len(data) - 8).to_bytes(8, "little")
            data[at + 32 : at + 40] = (4096).to_bytes(8, "little")
    return rewrite(base_wheel(), base_name_in(tmp), replace={SO: bytes(data)})


def damaged_deflate_data(tmp: Path) -> Path:
    """Sizes and directory intact, but the library's compressed bytes overwritten part way in."""
    p = rewrite(base_wheel(), base_name_in(tmp))
    with zipfile.ZipFile(p) as z:
        info = z.getinfo(SO)
    data = bytearray(p.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len + 200
    data[start : start + 512] = b"\xff" * 512
    p.write_bytes(bytes(data))
    return p


def directory_input(tmp: Path) -> Path:
    p = tmp / "adir.whl"
    p.mkdir()
    return p


def missing_input(tmp: Path) -> Path:
    return tmp / "does-not-exist-1.0-py3-none-any.whl"


BUILDERS: list[Callable[[Path], Path]] = [
    not_a_zip,
    damaged_deflate_data,
    empty_file,
    truncated,
    truncated_tail_kept,
    _member_named("../evil.py"),
    _member_named("pkg/../../evil.py"),
    _member_named("/etc/evil"),
    _member_named("C:/evil.py"),
    _member_named("pkg\\..\\..\\evil.py"),
    _member_named("pkg//evil.py"),
    # Names are data, never terminal control: a newline could forge a line of output, ESC drive the terminal.
    _member_named("pkg/evil\nwheelaudit: verdict OK.py"),
    _member_named("pkg/\x1b[2J\x1b]0;owned\x07.py"),
    _member_named("pkg/carriage\rreturn.py"),
    _member_named("pkg/tab\there.py"),
    _member_named("pkg/del\x7f.py"),
    _member_named("pkg/c1\x85next-line.py"),
    _member_named("pkg/csi\x9b2J.py"),
    # A file named like a directory of other members: no installer can unpack both.
    _member_named(SO.split("/")[0]),
    duplicate_member,
    overlapping_members,
    forged_size_bomb,
    real_ratio_bomb,
    encrypted_member,
    missing_wheel_file,
    missing_record,
    missing_dist_info,
    bad_record_csv,
    bad_wheel_version,
    bad_file_name,
    elf_garbage,
    elf_truncated,
    elf_phdrs_past_end,
    elf_dynamic_past_end,
    directory_input,
    missing_input,
]


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def snapshot(directory: Path) -> dict[str, str | None]:
    """Every path under ``directory`` with the sha256 of its content (None for a directory)."""
    return {str(p.relative_to(directory)): _digest(p) for p in sorted(directory.rglob("*"))}


def build_in(build: Callable[[Path], Path], tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    """The hostile wheel, built in ``tmp_path/in``, and a snapshot of ``tmp_path`` to compare with after."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    wheel = build(inputs)
    return wheel, snapshot(tmp_path)
