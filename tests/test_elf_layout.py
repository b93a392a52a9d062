"""Loadable segments the loader refuses to map: found by ``show``, never written by ``repair --strip``.

Found on real wheels: llvm-strip 14 run over libraries that patchelf had edited (every library an
auditwheel-repaired wheel grafts) leaves a PT_LOAD whose file offset and address disagree modulo
the page size; the wheel installs, and ``import`` fails with "ELF load command address/offset not
page-aligned". The oracle is glibc's own loader (``ctypes.CDLL``), on a real library from PyPI
(pyzmq 25.1.2's libsodium) and on the same library with one segment moved by 0x100 bytes.
"""

from __future__ import annotations

import ctypes
import platform
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.binary.elf import parse_elf

from .builders import make_wheel, only_wheel, repair_cli
from .conftest import sample_wheel

PYZMQ = "pyzmq-25.1.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
SODIUM = "pyzmq.libs/libsodium-a0cd10d3.so.23.3.0"
PT_LOAD, PF_X = 1, 1
GLIBC_HOST = platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc"


def shift_code_segment(data: bytes, by: int = 0x100) -> bytes:
    """The ELF64 file with its executable PT_LOAD's file offset moved by ``by`` (tables stay readable)."""
    phoff, phentsize, phnum = struct.unpack_from("<Q", data, 0x20)[0], *struct.unpack_from("<HH", data, 0x36)
    out = bytearray(data)
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type, p_flags, p_offset = struct.unpack_from("<IIQ", out, at)
        if p_type == PT_LOAD and p_flags & PF_X:
            struct.pack_into("<Q", out, at + 8, p_offset + by)
            return bytes(out)
    raise AssertionError("no executable PT_LOAD")


def misaligned(data: bytes) -> tuple[str, ...]:
    return parse_elf(lambda offset, size: data[offset : offset + size], "lib.so", len(data)).misaligned_segments


def loads(path: Path) -> str | None:
    """None if glibc's loader maps the library, else its complaint."""
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def sodium(real_wheels: dict[str, Path]) -> bytes:
    with zipfile.ZipFile(real_wheels[PYZMQ]) as zf:
        return zf.read(SODIUM)


@pytest.mark.real
def test_the_check_agrees_with_the_loader(sodium: bytes, tmp_path: Path) -> None:
    assert misaligned(sodium) == ()
    moved = shift_code_segment(sodium)
    [finding] = misaligned(moved)
    assert finding.startswith("segment ") and "alignment 0x1000" in finding
    if GLIBC_HOST:
        (tmp_path / "good.so").write_bytes(sodium)
        (tmp_path / "moved.so").write_bytes(moved)
        assert loads(tmp_path / "good.so") is None
        complaint = loads(tmp_path / "moved.so")
        assert complaint is not None and "ELF load command address/offset not" in complaint


@pytest.mark.real
def test_show_reports_a_library_the_loader_refuses(real_wheels: dict[str, Path], sodium: bytes, tmp_path: Path) -> None:
    assert not [p for p in wheelaudit.audit(real_wheels[PYZMQ]).problems if p.code == "elf-load-misaligned"]
    with zipfile.ZipFile(real_wheels[PYZMQ]) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.filename.endswith(("RECORD", "WHEEL"))}
    members[SODIUM] = shift_code_segment(sodium)
    members = {k: v for k, v in members.items() if not k.endswith("METADATA")}
    report = wheelaudit.audit(make_wheel(tmp_path, PYZMQ, members))
    [problem] = [p for p in report.errors if p.code == "elf-load-misaligned"]
    assert problem.path == SODIUM and "not page-aligned" in problem.message and "segment " in problem.message
    assert not report.ok


@pytest.mark.real
@pytest.mark.skipif(shutil.which("llvm-strip") is None, reason="needs llvm-strip (Debian: llvm)")
def test_llvm_strip_output_is_judged_as_the_loader_judges_it(sodium: bytes, tmp_path: Path) -> None:
    """llvm-strip 14 misplaces a segment of this patchelf-edited library; whatever a given llvm-strip
    does, the check and glibc's loader must agree on its output."""
    lib = tmp_path / "libsodium.so"
    lib.write_bytes(sodium)
    subprocess.run(["llvm-strip", "--strip-debug", str(lib)], check=True)
    found = misaligned(lib.read_bytes())
    if GLIBC_HOST:
        assert (loads(lib) is not None) == bool(found), (found, loads(lib))


def _binutils_strip() -> str | None:
    return shutil.which("x86_64-linux-gnu-strip") or shutil.which("strip")


def _fake_strip(directory: Path, name: str, real: str | None) -> None:
    """A strip that runs the real one (if any), then moves a segment: the failure seen from llvm-strip."""
    script = directory / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent.parent)!r})\n"
        "from tests.test_elf_layout import shift_code_segment\n"
        f"real = {real!r}\n"
        "if real:\n"
        "    subprocess.run([real, *sys.argv[1:]], check=True)\n"
        "path = sys.argv[-1]\n"
        "data = open(path, 'rb').read()\n"
        "open(path, 'wb').write(shift_code_segment(data))\n"
    )
    script.chmod(0o755)


@pytest.mark.skipif(not GLIBC_HOST or _binutils_strip() is None, reason="needs binutils strip on an x86_64 glibc host")
def test_repair_strip_passes_the_turn_when_a_strip_breaks_the_layout(tmp_path: Path) -> None:
    real = _binutils_strip()
    fakes = tmp_path / "bin"
    fakes.mkdir()
    _fake_strip(fakes, "strip", real)  # tried first for the host's arch: breaks every file it strips
    env = {"PATH": f"{fakes}:/usr/bin:/bin"}
    proc = repair_cli(sample_wheel("wa_sample_syslib-"), "--strip", "debug", "-w", tmp_path / "wh", env=env)
    assert proc.returncode == 0, proc.stderr
    repaired = only_wheel(tmp_path / "wh")
    assert wheelaudit.audit(repaired).ok
    with zipfile.ZipFile(repaired) as zf:
        [grafted] = [n for n in zf.namelist() if n.startswith("wa_sample_syslib.libs/")]
        (tmp_path / "lib.so").write_bytes(zf.read(grafted))
    assert misaligned((tmp_path / "lib.so").read_bytes()) == ()
    assert loads(tmp_path / "lib.so") is None

    for name in ("strip", "x86_64-linux-gnu-strip", "llvm-strip"):  # nothing but breaking strips
        _fake_strip(fakes, name, real if name == "strip" else None)
    proc = repair_cli(
        sample_wheel("wa_sample_syslib-"), "--strip", "debug", "-w", tmp_path / "wh2", env={"PATH": str(fakes)}
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("wheelaudit: error: no strip program gave a usable ")
    assert "loadable segments the loader refuses to map" in line
    assert not (tmp_path / "wh2").exists() or list((tmp_path / "wh2").iterdir()) == []
