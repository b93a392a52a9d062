"""Builders and small helpers shared by several test modules: one place, so test modules never import each other.

Wheels from scratch (:func:`make_wheel`, :func:`repack_wheel`), synthetic Mach-O files (:func:`build_macho`,
:func:`build_fat`), the abi3 sample with members replaced or damaged (:func:`build_wheel`, :func:`flip_byte`),
the host's libsqlite3 for the repair tests, the backend projects, and the command line in a subprocess.
Hostile inputs have their own helper module, :mod:`tests.hostile`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from wheelaudit.auditing import analyze_binaries
from wheelaudit.checks import windows
from wheelaudit.checks.context import AuditContext
from wheelaudit.resolve.host import ElfIdentity, HostResolver
from wheelaudit.wheel.archive import WheelArchive

from .conftest import ROOT, sample_wheel

#: The biggest pinned real wheel (a 177 MB library whose dynamic section lies 137 MB in).
POLARS = "polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


# -- the command line in a subprocess ------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m wheelaudit ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "wheelaudit", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def repair_cli(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m wheelaudit repair ARGS``, with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "wheelaudit", "repair", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def only_wheel(directory: Path) -> Path:
    """The one wheel in ``directory``."""
    return only(directory, "*.whl")


def only(directory: Path, pattern: str) -> Path:
    """The one file in ``directory`` matching ``pattern``."""
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, found
    return found[0]


# -- the host's libsqlite3, which the syslib sample links ------------------------------------------


def _host_sqlite() -> str | None:
    if platform.machine() != "x86_64":
        return None
    resolver = HostResolver(identity=ElfIdentity(2, 1, 62, 0), arch="x86_64")
    found = resolver.find("libsqlite3.so.0", resolver.default_paths())
    return found.realpath if found else None


SQLITE = _host_sqlite()
needs_sqlite = pytest.mark.skipif(
    SQLITE is None, reason="libsqlite3.so.0 (x86_64) is not on this host; not installing it"
)


# -- wheels from scratch, and synthetic Mach-O files ------------------------------------------------


CPU_X86_64 = 0x01000007
CPU_ARM64 = 0x0100000C
CPU_I386 = 7
CPU_PPC = 18
CPU_PPC64 = 0x01000012
PLATFORM_MACOS, PLATFORM_IOS, PLATFORM_IOS_SIMULATOR = 1, 2, 7


# -- synthetic Mach-O ---------------------------------------------------------------------------


def _uleb(n: int) -> bytes:
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _pad8(raw: bytes) -> bytes:
    return raw + b"\0" * (-len(raw) % 8)


def _version(text: str) -> int:
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return (parts[0] << 16) | (parts[1] << 8) | parts[2]


def build_macho(
    *,
    cputype: int = CPU_X86_64,
    endian: str = "<",
    is64: bool = True,
    minos: str = "10.9.5",
    platform: int | None = None,
    needed: tuple[str, ...] = ("/usr/lib/libSystem.B.dylib",),
    weak: tuple[str, ...] = ("@rpath/libweak.dylib",),
    rpaths: tuple[str, ...] = ("@loader_path/../lib",),
    own_name: str | None = "@rpath/foo.so",
    init: str = "foo",
    filetype: int = 6,
    with_symdef: bool = True,
) -> bytes:
    """A small thin Mach-O: dylib loads, rpath, a version command, a symbol table and an export trie.

    ``platform`` None writes LC_VERSION_MIN_MACOSX, else LC_BUILD_VERSION with that platform.
    """
    e = endian

    def lc_dylib(cmd: int, name: str) -> bytes:
        raw = _pad8(name.encode() + b"\0")
        return struct.pack(e + "IIIIII", cmd, 24 + len(raw), 24, 0, 0x10000, 0x10000) + raw

    cmds = [lc_dylib(0xC, n) for n in needed] + [lc_dylib(0x80000018, n) for n in weak]
    if own_name is not None:
        cmds.append(lc_dylib(0xD, own_name))
    if platform is None:
        cmds.append(struct.pack(e + "IIII", 0x24, 16, _version(minos), _version("10.15")))
    else:
        cmds.append(struct.pack(e + "IIIIII", 0x32, 24, platform, _version(minos), _version("14.0"), 0))
    for rpath in rpaths:
        raw = _pad8(rpath.encode() + b"\0")
        cmds.append(struct.pack(e + "III", 0x8000001C, 12 + len(raw), 12) + raw)
    init_sym = f"_PyInit_{init}".encode()
    edge = init_sym + b"\0"
    root_len = 1 + 1 + len(edge) + 1
    trie = _pad8(b"\x00\x01" + edge + _uleb(root_len) + bytes([2, 0, 0, 0]))
    strtab = _pad8(b"\0\0" + init_sym + b"\0_PyList_New\0_malloc\0")
    name_at = {b"init": 2, b"list": 3 + len(init_sym), b"malloc": 3 + len(init_sym) + len(b"_PyList_New\0")}
    nlist = e + ("IBBHQ" if is64 else "IBBHI")
    syms = []
    if with_symdef:
        syms.append(struct.pack(nlist, name_at[b"init"], 0x0F, 1, 0, 0x1000))
    syms.append(struct.pack(nlist, name_at[b"list"], 0x01, 0, 0xFE00, 0))  # dynamic lookup
    syms.append(struct.pack(nlist, name_at[b"malloc"], 0x01, 0, 0x0140, 0))  # ordinal 1, weak ref
    header_size = 32 if is64 else 28
    sizeofcmds = sum(map(len, cmds)) + 24 + 16 + 80
    trie_off = header_size + sizeofcmds
    sym_off = trie_off + len(trie)
    str_off = sym_off + len(b"".join(syms))
    cmds.append(struct.pack(e + "IIIIII", 2, 24, sym_off, len(syms), str_off, len(strtab)))
    cmds.append(struct.pack(e + "IIII", 0x80000033, 16, trie_off, len(trie)))
    dysym = [0] * 18
    dysym[2:6] = [0, 1 if with_symdef else 0, 1 if with_symdef else 0, 2]
    cmds.append(struct.pack(e + "II18I", 0xB, 80, *dysym))
    body = b"".join(cmds)
    magic = 0xFEEDFACF if is64 else 0xFEEDFACE
    header = struct.pack(e + "IiiIIII", magic, cputype, 0, filetype, len(cmds), len(body), 0x85)
    if is64:
        header += b"\0\0\0\0"
    return header + body + trie + b"".join(syms) + strtab


def build_fat(*slices: tuple[int, bytes]) -> bytes:
    """A fat (universal) file from (cputype, thin Mach-O) pairs, slices 4 KiB aligned."""
    offsets = []
    pos = 4096
    for _, data in slices:
        offsets.append(pos)
        pos += (len(data) + 4095) // 4096 * 4096
    head = struct.pack(">II", 0xCAFEBABE, len(slices))
    for (cpu, data), off in zip(slices, offsets):
        head += struct.pack(">iiIII", cpu, 3, off, len(data), 12)
    out = head
    for (_, data), off in zip(slices, offsets):
        out = out.ljust(off, b"\0") + data
    return out


def make_wheel(directory: Path, filename: str, members: dict[str, bytes], *, root_is_purelib: bool = False) -> Path:
    """A valid wheel (WHEEL, METADATA, RECORD) holding ``members``; tags from the file name."""
    name, version, *_rest = filename[: -len(".whl")].split("-")
    interp, abi, plats = filename[: -len(".whl")].split("-")[-3:]
    dist_info = f"{name}-{version}.dist-info"
    tags = [f"{i}-{a}-{p}" for i in interp.split(".") for a in abi.split(".") for p in plats.split(".")]
    files = dict(members)
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: wheelaudit-tests\n"
        f"Root-Is-Purelib: {'true' if root_is_purelib else 'false'}\n" + "".join(f"Tag: {t}\n" for t in tags)
    ).encode()
    rows = []
    for member, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{member},sha256={digest},{len(data)}")
    rows.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    path = directory / filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            zf.writestr(member, data)
    return path


def repack_wheel(src: Path, directory: Path, filename: str, patch: dict[bytes, bytes]) -> Path:
    """The members of a real wheel under a new file name (fresh WHEEL/METADATA/RECORD), each
    byte string in ``patch`` replaced by one of the same length (so offsets stay valid)."""
    members = {}
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            if info.filename.endswith(("RECORD", "WHEEL", "METADATA")):
                continue
            data = zf.read(info)
            for old, new in patch.items():
                assert len(old) == len(new)
                data = data.replace(old, new)
            members[info.filename] = data
    return make_wheel(directory, filename, members)


# -- the abi3 sample with members replaced, and damage ---------------------------------------------

SAMPLE = "wa_sample_abi3-"
LIBRARY = "wa_sample_abi3/wa_sample_abi3.abi3.so"
METADATA = "wa_sample_abi3-0.1.0.dist-info/METADATA"
RECORD = "wa_sample_abi3-0.1.0.dist-info/RECORD"


def _record_row(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(dst: Path, replace: dict[str, tuple[bytes, int]]) -> Path:
    """The sample wheel with some members replaced (data, compression method); RECORD stays true."""
    src = sample_wheel(SAMPLE)
    path = dst / src.name
    with zipfile.ZipFile(src) as zin:
        members = {i.filename: (zin.read(i), zipfile.ZIP_DEFLATED) for i in zin.infolist()}
    members.update(replace)
    rows = [_record_row(n, d) for n, (d, _) in members.items() if n != RECORD] + [f"{RECORD},,"]
    members[RECORD] = ("\n".join(rows) + "\n").encode(), zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as zout:
        for name, (data, method) in members.items():
            zout.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return path


def padded_library(size: int) -> bytes:
    """The sample's real ELF library, padded with text to ``size`` bytes (still a valid ELF file)."""
    with zipfile.ZipFile(sample_wheel(SAMPLE)) as z:
        lib = z.read(LIBRARY)
    rng = random.Random(7)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(5000)]
    filler = b" ".join(rng.choice(words) for _ in range((size - len(lib)) // 4))
    return (lib + filler + bytes(size))[:size]


def data_offset(path: Path, name: str) -> int:
    """Where ``name``'s data starts in the archive (after its local header)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
    return int(info.header_offset + 30 + name_len + extra_len)


def flip_byte(path: Path, at: int) -> None:
    """Flip one bit of the byte at ``at``, in place."""
    with open(path, "r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)[0]
        fh.seek(at)
        fh.write(bytes([byte ^ 0x20]))


# -- the projects the PEP 517 backend builds --------------------------------------------------------

PROJECTS = Path(__file__).resolve().parent / "projects"
SYSLIB_CRATE = ROOT / "sample-wheels" / "crates" / "syslib"
RUST_PROJECTS = {"maturin-syslib": ".", "setuptools-rust": "syslib"}  # where the syslib crate goes


def build_env(cache: Path) -> dict[str, str]:
    """The environment of every build: one cargo target dir, no LTO, no optimisation, our venv first."""
    env = dict(os.environ)
    env.update(
        CARGO_TARGET_DIR=str(cache),
        CARGO_PROFILE_RELEASE_LTO="false",
        CARGO_PROFILE_RELEASE_OPT_LEVEL="0",
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS="16",
        CARGO_INCREMENTAL="0",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    for key in [k for k in env if k.startswith("WHEELAUDIT_") and k != "WHEELAUDIT_WHEEL_CACHE"]:
        del env[key]  # the backend reads WHEELAUDIT_* options
    return env


def stage(name: str, where: Path) -> Path:
    """A copy of tests/projects/NAME, with the syslib crate copied in for the Rust projects."""
    source = where / name
    shutil.copytree(PROJECTS / name, source)
    if name in RUST_PROJECTS:
        crate = source / RUST_PROJECTS[name]
        crate.mkdir(exist_ok=True)
        for item in ("Cargo.toml", "Cargo.lock", "src"):
            copy = shutil.copytree if (SYSLIB_CRATE / item).is_dir() else shutil.copy2
            copy(SYSLIB_CRATE / item, crate / item)
    return source


# -- Windows -----------------------------------------------------------------------------------------


def windows_decision(wheel: Path) -> windows.WindowsDecision:
    """The Windows decision for a wheel, from the archive and its analysed binaries."""
    archive = WheelArchive(wheel)
    scan: Any = analyze_binaries(archive)
    binaries = getattr(scan, "binaries", scan)
    found = windows.decide(AuditContext.build(archive.info, archive.members, archive.record, binaries))
    assert found is not None
    return found
