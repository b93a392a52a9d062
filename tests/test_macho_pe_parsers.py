"""The Mach-O and PE readers on synthetic files, real files cross-checked against pefile, damaged files, and
how much of a big file they read (in pieces, forwards).

The synthetic Mach-O builders live in :mod:`tests.builders`, shared with the macOS, Windows and mobile tests.
"""

from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pefile
import pytest

from wheelaudit.binary import analyze_member
from wheelaudit.binary.macho import MACHO_MAGICS, is_macho, parse_macho
from wheelaudit.binary.model import Binary, BinaryKind
from wheelaudit.binary.pages import Pages, bytes_reader
from wheelaudit.binary.pe import is_pe, parse_pe
from wheelaudit.errors import MalformedBinary
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.zipformat import DEFLATED

from .builders import (
    CPU_ARM64,
    CPU_I386,
    CPU_PPC,
    CPU_PPC64,
    CPU_X86_64,
    PLATFORM_IOS,
    PLATFORM_MACOS,
    build_fat,
    build_macho,
    make_wheel,
)
from .macho_fixtures import require_zig

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
        pe = pefile.PE(data=data, fast_load=True)  # only the directories compared (relocations take seconds)
        pe.parse_data_directories(
            directories=[
                pefile.DIRECTORY_ENTRY[f"IMAGE_DIRECTORY_ENTRY_{name}"]
                for name in ("IMPORT", "DELAY_IMPORT", "EXPORT", "DEBUG")
            ]
        )
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


# -- reading in pieces: what show holds of a member is bounded, not the member (issue 16) ----------

#: Big members of pinned wheels: a thin and a fat Mach-O, a PE executable, and a DLL whose export
#: table lies before its import table (read in the readers' own order, the imports came first).
BIG_MEMBERS = [
    ("numpy-1.19.5-cp38-cp38-macosx_10_9_x86_64.whl", "numpy/.dylibs/libopenblas.0.dylib"),
    ("cryptography-48.0.1-cp39-abi3-macosx_10_9_universal2.whl", "cryptography/hazmat/bindings/_rust.abi3.so"),
    ("ruff-0.17.6-py3-none-win_amd64.whl", "ruff-0.17.6.data/scripts/ruff.exe"),
    ("numpy-2.5.5-cp312-cp312-win_amd64.whl", "numpy.libs/libscipy_openblas64_-4e39871015dc1470c682dc512497ee22.dll"),
]
#: Traced memory of analysing one of them: holding the member (20-64 MB) is far above it.
PEAK_BOUND = 16 * 1024 * 1024


def _parse_through(read_at: Callable[[int, int], bytes] | io.BytesIO, data: bytes, where: str) -> list[Binary]:
    if is_pe(data[:4096]):
        return [parse_pe(read_at, where, len(data))]
    return parse_macho(read_at, where, len(data))


@pytest.mark.real
@pytest.mark.parametrize(("filename", "member"), BIG_MEMBERS)
def test_big_binary_is_read_in_few_pieces_forwards(
    all_real_wheels: dict[str, Path], filename: str, member: str
) -> None:
    """The reader asks for table-sized pieces, in file order, a small part of the file in all."""
    with zipfile.ZipFile(all_real_wheels[filename]) as zf:
        data = zf.read(member)
    assert len(data) > 20_000_000
    spans: list[tuple[int, int]] = []

    def read_at(offset: int, size: int) -> bytes:
        assert offset >= 0 and size >= 0 and offset + size <= len(data)
        spans.append((offset, size))
        return data[offset : offset + size]

    binaries = _parse_through(read_at, data, member)
    # Read whole (a file object) the result is the same, down to the format-specific extras.
    assert [repr(b) for b in binaries] == [repr(b) for b in _parse_through(io.BytesIO(data), data, member)]
    assert all(b.imported_symbols for b in binaries)
    assert max(size for _, size in spans) <= 1 << 20
    assert sum(size for _, size in spans) < len(data) / 8
    furthest = 0
    for offset, size in spans:
        # Forwards: a stream keeps little behind its last read, and reading further back inflates again.
        assert offset >= furthest - Pages.PAGE, f"read at {offset} after reading up to {furthest}: {spans}"
        furthest = max(furthest, offset + size)


@pytest.mark.real
@pytest.mark.parametrize(("filename", "member"), [BIG_MEMBERS[0], BIG_MEMBERS[2]])
def test_big_binary_is_analysed_in_bounded_memory(all_real_wheels: dict[str, Path], filename: str, member: str) -> None:
    """The whole member is inflated once, forwards (for its CRC-32), and never held."""
    archive = WheelArchive(all_real_wheels[filename])
    found = next(m for m in archive.files() if m.name == member)
    assert found.compress_type == DEFLATED
    tracemalloc.start()
    try:
        analysis = analyze_member(archive, found, split=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert analysis.binaries and all(b.file_size == found.size for b in analysis.binaries)
    assert peak < PEAK_BOUND, f"peak {peak / 2**20:.1f} MiB analysing a {found.size / 1e6:.0f} MB member"
    assert analysis.inflated == found.size  # no read went behind what the stream keeps: it never started over


def test_pages_answer_as_bytes_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices, find, startswith and unpack_from (errors included) over tiny pages, a few kept, against bytes."""
    monkeypatch.setattr(Pages, "PAGE", 16)
    monkeypatch.setattr(Pages, "KEEP", 3)
    monkeypatch.setattr(Pages, "DIRECT", 40)
    rng = random.Random(16)
    for _ in range(40):
        data = bytes(rng.choice(b"\0\0ab_Py") for _ in range(rng.randrange(0, 300)))
        reads: list[int] = []

        def read_at(offset: int, size: int, data: bytes = data, reads: list[int] = reads) -> bytes:
            assert offset >= 0 and offset + size <= len(data)
            reads.append(size)
            return data[offset : offset + size]

        pages = Pages(read_at, len(data))
        assert len(pages) == len(data)
        for _ in range(200):
            a, b = rng.randrange(-20, len(data) + 20), rng.randrange(-20, len(data) + 60)
            assert pages[a:b] == data[a:b]
            assert pages.find(b"\0", a, b) == data.find(b"\0", a, b)
            assert pages.find(b"\0", a) == data.find(b"\0", a)
            if 0 <= a < len(data):
                assert pages[a] == data[a]
                assert pages.startswith((b"_Py", b"Py"), a) == data.startswith((b"_Py", b"Py"), a)
            for fmt in ("<I", ">IIQ", "<H"):
                try:
                    expected: object = struct.unpack_from(fmt, data, a)
                except struct.error as exc:
                    expected = str(exc)
                try:
                    got: object = pages.unpack_from(fmt, a)
                except struct.error as exc:
                    got = str(exc)
                assert got == expected
        assert sum(reads) > 0 or not data
    with pytest.raises(IndexError):
        Pages(bytes_reader(b"abc"), 3)[3]


#: A Mach-O built here whose string table spans several of the stretches it is read in: long names,
#: Python exports spread over it, imports from a dylib of our own (one name longer than a stretch).
_SPREAD = 150
_HUGE_NAME = "huge_" + "z" * 300_000


def _bignames_sources() -> tuple[str, str]:
    pad = "x" * 380
    dep, main = [], []
    for i in range(3000):
        main.append(f"int big_{i:05d}_{pad}(int x) {{ return x + {i}; }}")
        if i % _SPREAD == 0:
            main.append(f"int Py_spread_{i:05d}_{pad}(int x) {{ return x - {i}; }}")
        if i % 97 == 0:
            name = f"ext_{i:05d}_{'y' * 500}"
            dep.append(f"int {name}(int x) {{ return x * {i}; }}")
            main += [f"int {name}(int);", f"int call_{i:05d}(int x) {{ return {name}(x); }}"]
    dep.append(f"int {_HUGE_NAME}(int x) {{ return x; }}")
    main += [f"int {_HUGE_NAME}(int);", f"int call_huge(int x) {{ return {_HUGE_NAME}(x); }}"]
    main.append("void *PyInit_bignames(void) { return (void *)0; }")
    return "\n".join(dep) + "\n", "\n".join(main) + "\n"


@pytest.fixture(scope="module")
def bignames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_zig()
    where = tmp_path_factory.mktemp("bignames")
    dep, main = _bignames_sources()
    (where / "dep.c").write_text(dep)
    (where / "main.c").write_text(main)
    zig = [sys.executable, "-m", "ziglang", "cc", "-target", "aarch64-macos.11.0", "-shared"]
    for args in (
        ["-o", "libdep.dylib", "dep.c", "-Wl,-install_name,@rpath/libdep.dylib"],
        ["-o", "bignames.so", "main.c", "-L.", "-ldep", "-Wl,-install_name,bignames.so"],
    ):
        subprocess.run([*zig, *args], cwd=where, check=True, capture_output=True)
    return where / "bignames.so"


def test_a_long_string_table_is_read_forwards_and_matches_lief(bignames: Path, tmp_path: Path) -> None:
    import lief

    data = bignames.read_bytes()
    spans: list[tuple[int, int]] = []

    def read_at(offset: int, size: int) -> bytes:
        spans.append((offset, size))
        return data[offset : offset + size]

    (binary,) = parse_macho(read_at, "bignames/bignames.so", len(data))
    lief.logging.disable()
    reference = lief.MachO.parse(str(bignames)).at(0)
    loads = [lib.name for lib in reference.libraries if lib.command != lief.MachO.LoadCommand.TYPE.ID_DYLIB]
    assert binary.needed == tuple(loads)
    imported = [
        (s.name.removeprefix("_"), loads[s.library_ordinal - 1], bool(s.description & 0x40))
        for s in reference.imported_symbols
    ]
    assert sorted((s.name, s.library, s.weak) for s in binary.imported_symbols) == sorted(imported)
    assert (_HUGE_NAME, "@rpath/libdep.dylib", False) in imported
    exported = {
        s.name[1:]
        for s in reference.symbols
        if s.category == lief.MachO.Symbol.CATEGORY.EXTERNAL and s.name.startswith(("_Py", "__Py"))
    }
    assert sorted(binary.exported_symbols) == sorted(exported)
    assert len(exported) == len(range(0, 3000, _SPREAD)) + 1  # and PyInit_bignames
    assert binary.init_functions == ("PyInit_bignames",)

    table_end = max(offset + size for offset, size in spans)
    assert table_end > len(data) / 2 and sum(size for _, size in spans) < len(data) / 2
    furthest = 0
    for offset, size in spans:
        assert offset >= furthest - Pages.PAGE, f"read at {offset} after reading up to {furthest}"
        furthest = max(furthest, offset + size)

    # Deflated in a wheel: inflated once (no read went behind the stream), the same record.
    wheel = make_wheel(tmp_path, "bignames-1.0-cp312-abi3-macosx_11_0_arm64.whl", {"bignames/bignames.so": data})
    archive = WheelArchive(wheel)
    member = next(m for m in archive.files() if m.name == "bignames/bignames.so")
    analysis = analyze_member(archive, member, split=False)
    assert analysis.inflated == member.size
    assert [repr(b) for b in analysis.binaries] == [repr(binary)]


@pytest.mark.real
@pytest.mark.parametrize(("filename", "member"), [BIG_MEMBERS[0], BIG_MEMBERS[2]])
def test_big_macho_and_pe_members_get_no_second_decoder(
    all_real_wheels: dict[str, Path], filename: str, member: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even where a helper decoder is forced for far reads, a Mach-O or PE member is inflated once.

    Their tables lie near the end, in several places: on libopenblas a helper started for the first
    of them gave up after 6 MiB, and ``show`` took 173 ms instead of 125 (split=True is what an
    audit passes for a wheel's dominant member).
    """
    monkeypatch.setenv("WHEELAUDIT_SPLIT_INFLATE", "always")
    archive = WheelArchive(all_real_wheels[filename])
    found = next(m for m in archive.files() if m.name == member)
    analysis = analyze_member(archive, found, split=True)
    assert analysis.binaries
    assert analysis.inflated == found.size
