"""The Mach-O and PE readers on synthetic files, real files cross-checked against pefile, and damaged files.

``build_macho`` / ``build_fat`` / ``make_wheel`` / ``repack_wheel`` are also used by the macOS, Windows and
mobile tests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
import zipfile
from pathlib import Path

import pefile
import pytest

from wheelaudit.binary.macho import MACHO_MAGICS, is_macho, parse_macho
from wheelaudit.binary.model import BinaryKind
from wheelaudit.binary.pe import is_pe, parse_pe
from wheelaudit.errors import MalformedBinary

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


# -- Mach-O reader ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endian", "is64", "cputype", "arch"),
    [
        (">", False, CPU_PPC, "ppc"),
        ("<", False, CPU_I386, "i386"),
        ("<", True, CPU_ARM64, "arm64"),
        (">", True, CPU_PPC64, "ppc64"),
        ("<", True, CPU_X86_64, "x86_64"),
    ],
)
@pytest.mark.parametrize("with_symdef", [True, False])
def test_synthetic_thin_macho(endian: str, is64: bool, cputype: int, arch: str, with_symdef: bool) -> None:
    data = build_macho(endian=endian, is64=is64, cputype=cputype, with_symdef=with_symdef)
    assert is_macho(data[:8])
    [b] = parse_macho(io.BytesIO(data), "foo.so", len(data))
    assert (b.arch, b.bits) == (arch, 64 if is64 else 32)
    assert b.kind is BinaryKind.EXTENSION  # the export trie alone names PyInit_foo
    assert (b.min_os, b.sdk, b.os_platform) == ("10.9.5", "10.15", "macos")
    assert b.needed == ("/usr/lib/libSystem.B.dylib",)
    assert b.weak_needed == ("@rpath/libweak.dylib",)
    assert b.rpath == ("@loader_path/../lib",)
    assert b.own_name == "@rpath/foo.so"
    assert b.init_functions == ("PyInit_foo",)
    imported = {(s.name, s.library, s.weak) for s in b.imported_symbols}
    assert imported == {("PyList_New", None, False), ("malloc", "/usr/lib/libSystem.B.dylib", True)}


def test_build_version_platform_and_fat() -> None:
    x86 = build_macho(cputype=CPU_X86_64, minos="10.13")
    arm = build_macho(cputype=CPU_ARM64, minos="11.0", platform=PLATFORM_MACOS)
    ios = build_macho(cputype=CPU_ARM64, minos="13.0", platform=PLATFORM_IOS)
    fat = build_fat((CPU_X86_64, x86), (CPU_ARM64, arm))
    slices = parse_macho(io.BytesIO(fat), "f.so", len(fat))
    assert [(b.arch, b.min_os, b.os_platform, b.extra["slice_offset"]) for b in slices] == [
        ("x86_64", "10.13", "macos", "4096"),
        ("arm64", "11.0", "macos", "8192"),
    ]
    [b] = parse_macho(io.BytesIO(ios), "i.so", len(ios))
    assert (b.os_platform, b.min_os) == ("ios", "13.0")


def test_java_class_is_not_macho() -> None:
    assert not is_macho(bytes.fromhex("cafebabe00000034"))
    assert is_macho(build_fat((CPU_X86_64, build_macho()))[:8])


# -- PE reader against pefile -------------------------------------------------------------------


def _pe_members(wheels: dict[str, Path], limit: int = 6_000_000) -> list[tuple[str, bytes]]:
    out = []
    for name, path in sorted(wheels.items()):
        if "win" not in name:
            continue
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.lower().endswith((".pyd", ".dll", ".exe")) and info.file_size <= limit:
                    out.append((f"{name}!{info.filename}", zf.read(info)))
    return out


@pytest.mark.real
def test_pe_reader_matches_pefile(all_real_wheels: dict[str, Path]) -> None:
    members = _pe_members(all_real_wheels)
    assert len(members) >= 20
    pdb_count = 0
    for where, data in members:
        assert is_pe(data[:4096]), where
        b = parse_pe(io.BytesIO(data), where, len(data))
        pe = pefile.PE(data=data)
        imports, dlls, delayed = [], [], []
        for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
            dlls.append(entry.dll.decode())
            for imp in entry.imports:
                name = f"#{imp.ordinal}" if imp.import_by_ordinal or not imp.name else imp.name.decode()
                imports.append((name, entry.dll.decode(), False))
        for entry in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", []):
            delayed.append(entry.dll.decode())
            for imp in entry.imports:
                name = f"#{imp.ordinal}" if imp.import_by_ordinal or not imp.name else imp.name.decode()
                imports.append((name, entry.dll.decode(), True))
        export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        py_exports = sorted(
            s.name.decode() for s in (export.symbols if export else []) if s.name and s.name.startswith((b"Py", b"_Py"))
        )
        assert b.needed == tuple(dlls), where
        assert b.weak_needed == tuple(delayed), where
        assert [(s.name, s.library, s.weak) for s in b.imported_symbols] == imports, where
        assert b.own_name == (export.name.decode() if export and export.name else None), where
        assert sorted(b.exported_symbols) == py_exports, where
        opt = pe.OPTIONAL_HEADER
        assert b.bits == (64 if opt.Magic == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 32), where
        assert b.extra["checksum"] == f"{opt.CheckSum:#010x}", where
        assert b.extra["subsystem"] == pefile.SUBSYSTEM_TYPE.get(opt.Subsystem, str(opt.Subsystem)), where
        assert b.extra["os_version"] == f"{opt.MajorOperatingSystemVersion}.{opt.MinorOperatingSystemVersion}", where
        assert b.extra["subsystem_version"] == f"{opt.MajorSubsystemVersion}.{opt.MinorSubsystemVersion}", where
        security = opt.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
        assert b.signed == bool(security.VirtualAddress and security.Size), where
        pdbs = [
            bytes(entry.entry.PdbFileName).rstrip(b"\0").decode()
            for entry in getattr(pe, "DIRECTORY_ENTRY_DEBUG", [])
            if entry.struct.Type == 2 and entry.entry is not None and getattr(entry.entry, "PdbFileName", None)
        ]
        assert b.extra.get("pdb") == (pdbs[0] or None if pdbs else None), where
        pdb_count += bool(pdbs)
    assert pdb_count >= 5


# -- damaged files: only MalformedBinary may escape ---------------------------------------------


def _damaged(rng: random.Random, data: bytes) -> list[bytes]:
    cut = rng.choice([rng.randrange(0, min(len(data), 8192)), rng.randrange(0, len(data))])
    flipped = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        pos = rng.randrange(0, min(len(flipped), 8192)) if rng.random() < 0.6 else rng.randrange(len(flipped))
        flipped[pos] = rng.randrange(256)
    smashed = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        pos = rng.randrange(0, min(len(smashed) - 4, 4096)) & ~3
        smashed[pos : pos + 4] = rng.choice(
            [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", rng.randbytes(4)]
        )
    return [data[:cut], bytes(flipped), bytes(smashed)]


def _parse_any(kind: str, data: bytes) -> None:
    try:
        if kind == "pe":
            parse_pe(io.BytesIO(data), "fuzz", len(data))
        else:
            parse_macho(io.BytesIO(data), "fuzz", len(data))
    except MalformedBinary:
        pass


def test_fuzz_synthetic_macho_only_malformed_escapes() -> None:
    rng = random.Random(4)
    samples = [
        build_macho(),
        build_macho(cputype=CPU_ARM64, platform=PLATFORM_MACOS, minos="11.0"),
        build_macho(endian=">", is64=False, cputype=CPU_PPC),
        build_fat((CPU_X86_64, build_macho()), (CPU_ARM64, build_macho(cputype=CPU_ARM64))),
    ]
    for _ in range(150):
        for damaged in _damaged(rng, rng.choice(samples)):
            _parse_any("macho", damaged)
    for magic in MACHO_MAGICS:
        for _ in range(10):
            _parse_any("macho", magic + rng.randbytes(rng.randrange(0, 3000)))


@pytest.mark.real
def test_pe_header_damage_is_malformed(all_real_wheels: dict[str, Path]) -> None:
    """A bad optional-header magic, a cut-off section and a certificate table past the end."""
    _, data = min(_pe_members(all_real_wheels, limit=400_000), key=lambda m: len(m[1]))
    parse_pe(io.BytesIO(data), "ok", len(data))
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    magic = struct.unpack_from("<H", data, lfanew + 24)[0]
    bad_magic = bytearray(data)
    struct.pack_into("<H", bad_magic, lfanew + 24, 0x107)
    security_at = lfanew + 24 + (112 if magic == 0x20B else 96) + 8 * 4
    bad_cert = bytearray(data)
    struct.pack_into("<II", bad_cert, security_at, len(data) - 8, 64)
    nsections, optional_size = struct.unpack_from("<H12xH", data, lfanew + 6)
    last_section = lfanew + 24 + optional_size + 40 * (nsections - 1)
    raw_size, pointer = struct.unpack_from("<II", data, last_section + 16)
    cut = data[: pointer + raw_size // 2]
    for damaged in (bytes(bad_magic), bytes(bad_cert), cut, data[:100]):
        with pytest.raises(MalformedBinary):
            parse_pe(io.BytesIO(damaged), "bad", len(damaged))


@pytest.mark.real
def test_fuzz_real_pe_only_malformed_escapes(all_real_wheels: dict[str, Path]) -> None:
    rng = random.Random(7)
    samples = [data for _, data in _pe_members(all_real_wheels, limit=400_000)]
    assert samples
    for _ in range(100):
        for damaged in _damaged(rng, rng.choice(samples)):
            _parse_any("pe", damaged)
    for _ in range(30):
        _parse_any("pe", b"MZ" + rng.randbytes(rng.randrange(0, 3000)))
