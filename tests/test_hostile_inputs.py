"""Bad input gets one line on stderr and exit status 2: never a traceback, never a write, input unchanged."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

import pytest

import wheelaudit

from .conftest import sample_wheel
from .hostile import patch_central_directory, rewrite, run_cli_expecting_unusable

SO = "wa_sample_abi3/wa_sample_abi3.abi3.so"
DIST = "wa_sample_abi3-0.1.0.dist-info"


def _base() -> Path:
    return sample_wheel("wa_sample_abi3-")


def _name(tmp: Path) -> Path:
    return tmp / _base().name


def not_a_zip(tmp: Path) -> Path:
    p = _name(tmp)
    p.write_text("this is not a zip file\n" * 20)
    return p


def empty_file(tmp: Path) -> Path:
    p = _name(tmp)
    p.write_bytes(b"")
    return p


def truncated(tmp: Path) -> Path:
    p = _name(tmp)
    p.write_bytes(_base().read_bytes()[: _base().stat().st_size // 2])
    return p


def truncated_tail_kept(tmp: Path) -> Path:
    """Central directory intact but the data before it cut short: members run past their neighbours."""
    data = _base().read_bytes()
    cut = data.find(b"PK\x01\x02")
    p = _name(tmp)
    p.write_bytes(data[: cut // 3] + data[cut:])
    return p


def _member_named(name: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        return rewrite(_base(), _name(tmp), add={name: b"x"})

    build.__name__ = f"member_{name!r}"
    return build


def duplicate_member(tmp: Path) -> Path:
    p = _name(tmp)
    rewrite(_base(), p)
    with pytest.warns(UserWarning), zipfile.ZipFile(p, "a") as z:
        z.writestr(SO, b"again")
    return p


def overlapping_members(tmp: Path) -> Path:
    p = rewrite(_base(), _name(tmp))
    patch_central_directory(p, f"{DIST}/METADATA", header_offset_of=SO)
    return p


def forged_size_bomb(tmp: Path) -> Path:
    p = rewrite(_base(), _name(tmp))
    patch_central_directory(p, f"{DIST}/METADATA", file_size=0xFFFFFFF0)
    return p


def real_ratio_bomb(tmp: Path) -> Path:
    """A member that really inflates 2000:1 would need many GB to exceed; use many members instead."""
    p = rewrite(_base(), _name(tmp))
    with zipfile.ZipFile(p, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("bomb/ones.bin"), b"\0" * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)
    patch_central_directory(p, "bomb/ones.bin", file_size=0xFFFFFFFF)
    return p


def encrypted_member(tmp: Path) -> Path:
    p = rewrite(_base(), _name(tmp))
    patch_central_directory(p, SO, flag_bits=0x1)
    return p


def missing_wheel_file(tmp: Path) -> Path:
    return rewrite(_base(), _name(tmp), drop=(f"{DIST}/WHEEL",))


def missing_record(tmp: Path) -> Path:
    return rewrite(_base(), _name(tmp), drop=(f"{DIST}/RECORD",))


def missing_dist_info(tmp: Path) -> Path:
    return rewrite(_base(), _name(tmp), drop=(f"{DIST}/WHEEL", f"{DIST}/RECORD", f"{DIST}/METADATA"))


def bad_record_csv(tmp: Path) -> Path:
    return rewrite(_base(), _name(tmp), replace={f"{DIST}/RECORD": b"only,two\n"})


def bad_wheel_version(tmp: Path) -> Path:
    return rewrite(_base(), _name(tmp), replace={f"{DIST}/WHEEL": b"Wheel-Version: 9.0\nRoot-Is-Purelib: false\n"})


def bad_file_name(tmp: Path) -> Path:
    p = tmp / "not-a-wheel-name.whl"
    p.write_bytes(_base().read_bytes())
    return p


def elf_garbage(tmp: Path) -> Path:
    return rewrite(_base(), _name(tmp), replace={SO: b"\x7fELF" + b"\xff" * 200})


def elf_truncated(tmp: Path) -> Path:
    with zipfile.ZipFile(_base()) as z:
        data = z.read(SO)
    return rewrite(_base(), _name(tmp), replace={SO: data[:3000]})


def elf_phdrs_past_end(tmp: Path) -> Path:
    with zipfile.ZipFile(_base()) as z:
        data = bytearray(z.read(SO))
    data[32:40] = (len(data) + 4096).to_bytes(8, "little")  # e_phoff
    return rewrite(_base(), _name(tmp), replace={SO: bytes(data)})


def elf_dynamic_past_end(tmp: Path) -> Path:
    with zipfile.ZipFile(_base()) as z:
        data = bytearray(z.read(SO))
    phoff = int.from_bytes(data[32:40], "little")
    phnum = int.from_bytes(data[56:58], "little")
    for i in range(phnum):
        at = phoff + 56 * i
        if int.from_bytes(data[at : at + 4], "little") == 2:  # PT_DYNAMIC
            data[at + 8 : at + 16] = (len(data) - 8).to_bytes(8, "little")
            data[at + 32 : at + 40] = (4096).to_bytes(8, "little")
    return rewrite(_base(), _name(tmp), replace={SO: bytes(data)})


def damaged_deflate_data(tmp: Path) -> Path:
    """Sizes and directory intact, but the library's compressed bytes overwritten part way in."""
    p = rewrite(_base(), _name(tmp))
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


def _snapshot(directory: Path) -> dict[str, str | None]:
    return {str(p.relative_to(directory)): _digest(p) for p in sorted(directory.rglob("*"))}


def build_in(build: Callable[[Path], Path], tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    """The hostile wheel, built in ``tmp_path/in``, and a snapshot of ``tmp_path`` to compare with after."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    wheel = build(inputs)
    return wheel, _snapshot(tmp_path)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_hostile_input_cli(build: Callable[[Path], Path], tmp_path: Path) -> None:
    wheel, before = build_in(build, tmp_path)
    run_cli_expecting_unusable(["show", str(wheel)], tmp_path)
    assert _snapshot(tmp_path) == before, "the input changed or something was written"


@pytest.mark.parametrize("build", [truncated, elf_garbage, overlapping_members], ids=lambda b: b.__name__)
def test_hostile_input_json_and_api(build: Callable[[Path], Path], tmp_path: Path) -> None:
    wheel = build(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "wheelaudit", "show", "--json", str(wheel), str(_base())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    bad, good = json.loads(proc.stdout)
    assert set(bad) == {"schema_version", "wheel", "error"} and bad["wheel"] == str(wheel)
    assert good["platform_tag"] == "manylinux_2_17_x86_64", "a bad wheel does not stop the others"
    with pytest.raises(wheelaudit.WheelError):
        wheelaudit.audit(wheel)


def test_symlink_member_is_reported_not_followed(tmp_path: Path) -> None:
    wheel = rewrite(_base(), _name(tmp_path))
    with zipfile.ZipFile(wheel, "a") as z:
        info = zipfile.ZipInfo("wa_sample_abi3/link.so")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    report = wheelaudit.audit(wheel)
    codes = {p.code for p in report.problems}
    assert "symlink-member" in codes and "record-missing-entry" in codes
    assert report.ok, "warnings do not make the wheel fail"
