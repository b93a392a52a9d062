"""The PE import renamer (issue 13) on real PE files built here with zig, and on real wheels.

Oracles, none of them ours: pefile and LIEF read every output (no import left by its old name,
the new names where the old ones were, no pefile warning), pefile's ``generate_checksum``
judges our checksum, and where Debian's wine is installed a CPython-like loader loads the
renamed and moved set of DLLs.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import subprocess
import zipfile
from pathlib import Path

import lief
import pefile
import pytest

from tests import pe_fixtures
from tests.pe_fixtures import PeFixtures
from wheelaudit.binary.pe import parse_pe
from wheelaudit.errors import RepairError
from wheelaudit.repairing.windows import pe_edit
from wheelaudit.repairing.windows.pe_edit import (
    NEW_SECTION_NAME,
    mangled_name,
    mangled_names,
    pe_checksum,
    rename_imports,
)

ARCHES = list(pe_fixtures.TARGETS)
LONG = {  # names no section padding of the fixtures holds (about 450 bytes at most): a new section
    "foo.dll": "f" * 240 + ".dll",
    "bar.dll": "b" * 240 + ".dll",
    "kernel32.dll": "k" * 240 + ".dll",
    "api-ms-win-crt-runtime-l1-1-0.dll": "r" * 240 + ".dll",
}


@functools.lru_cache(maxsize=8)
def parsed(data: bytes) -> pefile.PE:
    """pefile's full parse, once per image: the oracles read the same bytes several times, and a
    real wheel's extension takes pefile a second or more. Callers only read the result."""
    return pefile.PE(data=data)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PeFixtures]:
    pe_fixtures.require_zig()
    root = tmp_path_factory.mktemp("pe-fixtures")
    return {arch: pe_fixtures.build(arch, root / arch) for arch in ARCHES}


def imports(data: bytes, before: bytes | None = None) -> tuple[list[str], list[str]]:
    """(regular, delay-load) DLL names as pefile reads them; pefile must not warn (where it
    did not warn about ``before``, the input: it misreads some real ARM64/x64 unwind data)."""
    pe = parsed(data)
    known = set(parsed(before).get_warnings()) if before is not None else set()
    assert set(pe.get_warnings()) <= known
    regular = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
    delayed = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
    return regular, delayed


def lief_imports(data: bytes) -> tuple[list[str], list[str]]:
    binary = lief.PE.parse(list(data))
    assert binary is not None
    return [i.name for i in binary.imports], [i.name for i in binary.delay_imports]


def renamed(names: list[str], mapping: dict[str, str]) -> list[str]:
    lower = {k.lower(): v for k, v in mapping.items()}
    return [lower.get(n.lower(), n) for n in names]


def check_output(before: bytes, after: bytes, mapping: dict[str, str]) -> None:
    """Both oracles read exactly the old imports with the mapped names replaced, and no old name."""
    old_regular, old_delayed = imports(before, before)
    regular, delayed = imports(after, before)
    assert (regular, delayed) == (renamed(old_regular, mapping), renamed(old_delayed, mapping))
    assert lief_imports(after) == (regular, delayed)
    gone = {k.lower() for k, v in mapping.items() if k.lower() != v.lower()}
    assert not gone & {n.lower() for n in regular + delayed}

    # symbols per DLL survive (pefile's view)
    def symbols(data: bytes) -> list[tuple[str, list[bytes | None]]]:
        pe = parsed(data)
        entries = getattr(pe, "DIRECTORY_ENTRY_IMPORT", []) + getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])
        return [(renamed([e.dll.decode()], mapping)[0], [i.name for i in e.imports]) for e in entries]

    assert symbols(after) == [(name, names) for name, names in symbols(before)]


def section_layout_ok(data: bytes) -> pefile.PE:
    """SizeOfImage covers every section (aligned), raw data inside the file, sections in order."""
    pe = parsed(data)
    opt = pe.OPTIONAL_HEADER
    end = max(s.VirtualAddress + max(s.Misc_VirtualSize, s.SizeOfRawData) for s in pe.sections)
    assert opt.SizeOfImage == -(-end // opt.SectionAlignment) * opt.SectionAlignment
    for before, after in zip(pe.sections, pe.sections[1:]):
        assert before.VirtualAddress + before.Misc_VirtualSize <= after.VirtualAddress
    for section in pe.sections:
        assert section.PointerToRawData % opt.FileAlignment == 0
        assert section.PointerToRawData + section.SizeOfRawData <= len(data)
    assert pe.FILE_HEADER.NumberOfSections == len(pe.sections)
    return pe


# -- the three placements, each architecture --------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_shorter_names_are_written_in_place(built: dict[str, PeFixtures], arch: str) -> None:
    fx = built[arch]
    for path, mapping in ((fx.ext, {"FOO.DLL": "f.dll"}), (fx.foo, {"bar.dll": "b.dll"})):
        data = path.read_bytes()
        edit = rename_imports(data, mapping, path=path.name)
        assert edit.placement == "in place" and len(edit.data) == len(data)
        assert edit.renamed == ((next(iter(mapping)).lower(), next(iter(mapping.values()))),)
        check_output(data, edit.data, mapping)
        # only the name bytes changed
        assert sum(a != b for a, b in zip(data, edit.data)) <= len("foo.dll")


@pytest.mark.parametrize("arch", ARCHES)
def test_mangled_names_go_into_section_padding(built: dict[str, PeFixtures], arch: str) -> None:
    fx = built[arch]
    names = mangled_names({"foo.dll": fx.foo.read_bytes(), "bar.dll": fx.bar.read_bytes()}, {"foo.dll": ["bar.dll"]})
    for path in (fx.ext, fx.ext_delay, fx.foo):
        data = path.read_bytes()
        edit = rename_imports(data, names, path=path.name)
        assert edit.placement == "padding"
        assert len(edit.data) == len(data)
        check_output(data, edit.data, names)
        section_layout_ok(edit.data)


@pytest.mark.parametrize("arch", ARCHES)
def test_names_too_long_for_padding_get_a_new_section(built: dict[str, PeFixtures], arch: str) -> None:
    fx = built[arch]
    for path in (fx.ext, fx.ext_delay, fx.foo):
        data = path.read_bytes()
        edit = rename_imports(data, LONG, path=path.name)
        assert edit.placement == "new section"
        check_output(data, edit.data, LONG)
        before, after = pefile.PE(data=data), section_layout_ok(edit.data)
        assert after.FILE_HEADER.NumberOfSections == before.FILE_HEADER.NumberOfSections + 1
        added = after.sections[-1]
        assert added.Name.rstrip(b"\0") == NEW_SECTION_NAME
        assert added.Characteristics == 0x40000040  # initialised data, read-only
        assert after.OPTIONAL_HEADER.SizeOfHeaders == before.OPTIONAL_HEADER.SizeOfHeaders
        assert (
            after.OPTIONAL_HEADER.SizeOfInitializedData
            == before.OPTIONAL_HEADER.SizeOfInitializedData + added.SizeOfRawData
        )
        # the old sections keep their bytes but for the descriptors' Name (and delay TimeStamp) fields
        changed = sum(
            a != b for old, new in zip(before.sections, after.sections) for a, b in zip(old.get_data(), new.get_data())
        )
        assert 0 < changed <= 8 * len(edit.renamed + edit.delay_renamed)


@pytest.mark.parametrize("arch", ARCHES)
def test_delay_load_import_is_renamed(built: dict[str, PeFixtures], arch: str) -> None:
    data = built[arch].ext_delay.read_bytes()
    assert imports(data)[1] == ["foo.dll"]
    edit = rename_imports(data, {"Foo.Dll": "foo-1234.dll"})
    assert edit.delay_renamed == (("foo.dll", "foo-1234.dll"),) and not edit.renamed
    assert imports(edit.data)[1] == ["foo-1234.dll"]
    # the renamed delay descriptor is no longer bound to a time stamp
    pe = pefile.PE(data=edit.data)
    assert pe.DIRECTORY_ENTRY_DELAY_IMPORT[0].struct.dwTimeStamp == 0
    binary = parse_pe(io.BytesIO(edit.data), "ext_delay.pyd", len(edit.data))
    assert binary.weak_needed == ("foo-1234.dll",)


def test_a_name_that_may_be_the_tail_of_another_string_is_not_overwritten(built: dict[str, PeFixtures]) -> None:
    """Linkers may merge ``foo.dll`` into the tail of ``xfoo.dll``: writing over it would rename both."""
    data = bytearray(built["x86_64"].ext.read_bytes())
    pe = pefile.PE(data=bytes(data))
    entry = next(e for e in pe.DIRECTORY_ENTRY_IMPORT if e.dll == b"foo.dll")
    at = pe.get_offset_from_rva(entry.struct.Name)
    assert data[at - 1] == 0
    data[at - 1] = ord("x")  # now the bytes read "xfoo.dll" too
    edit = rename_imports(bytes(data), {"foo.dll": "f.dll"})
    assert edit.placement == "padding" and edit.data[at - 1 : at + 8] == b"xfoo.dll\0"
    check_output(bytes(data), edit.data, {"foo.dll": "f.dll"})


def test_the_read_back_check_catches_a_wrong_result(built: dict[str, PeFixtures]) -> None:
    """The safety net every edit passes through: a result that is not what was asked is refused."""
    data = built["x86_64"].ext.read_bytes()
    edit = rename_imports(data, {"foo.dll": "f.dll"})
    with pytest.raises(RepairError, match="reads back as"):
        pe_edit._verify(data, edit.data, {"foo.dll": "g.dll"}, "ext.pyd")
    with pytest.raises(RepairError, match="reads back as"):
        pe_edit._verify(data, data, {"foo.dll": "f.dll"}, "ext.pyd")


def test_nothing_to_rename_returns_the_input(built: dict[str, PeFixtures]) -> None:
    data = built["x86_64"].ext.read_bytes()
    edit = rename_imports(data, {"bar.dll": "bar-1.dll", "foo.dll": "foo.dll"})
    assert edit.data == data and not edit.changed and edit.placement == "unchanged"


def test_bad_new_name_is_refused(built: dict[str, PeFixtures]) -> None:
    data = built["x86_64"].ext.read_bytes()
    for bad in ("", "a/b.dll", "a\\b.dll", "f\0.dll", "ü.dll", " x.dll", "x" * 300):
        with pytest.raises(RepairError, match="cannot be a DLL name"):
            rename_imports(data, {"foo.dll": bad})


# -- the image around the names ------------------------------------------------------------


def with_checksum(data: bytes) -> bytes:
    pe = pefile.PE(data=data)
    pe.OPTIONAL_HEADER.CheckSum = pe.generate_checksum()
    return bytes(pe.write())


def with_signature(data: bytes) -> bytes:
    """``data`` with a fake WIN_CERTIFICATE appended (8-aligned) and the security directory set."""
    padded = data + bytes(-len(data) % 8)
    blob = b"\x30\x82" + bytes(range(256)) * 4  # not a real PKCS#7, but where and how signtool puts one
    certificate = struct.pack("<IHH", 8 + len(blob), 0x0200, 0x0002) + blob
    certificate += bytes(-len(certificate) % 8)
    pe = pefile.PE(data=padded + certificate)
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4]
    security.VirtualAddress, security.Size = len(padded), len(certificate)
    return bytes(pe.write())


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("mapping", [{"foo.dll": "f.dll"}, {"foo.dll": "foo-1234.dll"}, LONG], ids=len)
def test_signature_removed_and_checksum_recomputed(
    built: dict[str, PeFixtures], arch: str, mapping: dict[str, str]
) -> None:
    original = built[arch].ext.read_bytes()
    signed = with_checksum(with_signature(original))
    assert pefile.PE(data=signed).verify_checksum()
    edit = rename_imports(signed, mapping)
    assert edit.removed_signature
    pe = pefile.PE(data=edit.data)
    assert pe.OPTIONAL_HEADER.DATA_DIRECTORY[4].Size == 0 and pe.OPTIONAL_HEADER.DATA_DIRECTORY[4].VirtualAddress == 0
    assert b"\x30\x82\x00\x01\x02\x03" not in edit.data  # the certificate bytes are gone
    assert edit.checksum is not None and edit.checksum == pe.generate_checksum() == pe.OPTIONAL_HEADER.CheckSum
    assert pe.verify_checksum()
    check_output(original, edit.data, mapping)
    if edit.placement != "new section":
        assert len(edit.data) == len(original)  # the file ends where the sections end again


def test_zero_checksum_stays_zero(built: dict[str, PeFixtures]) -> None:
    data = built["x86_64"].ext.read_bytes()
    assert pefile.PE(data=data).OPTIONAL_HEADER.CheckSum == 0
    edit = rename_imports(data, LONG)
    assert edit.checksum is None and pefile.PE(data=edit.data).OPTIONAL_HEADER.CheckSum == 0
    assert not edit.removed_signature


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("tail", [b"", b"\x01", b"\xff" * 3, b"\xff\xff"])
def test_checksum_agrees_with_pefile(built: dict[str, PeFixtures], arch: str, tail: bytes) -> None:
    """Odd lengths and all-ones words included (the 0xFFFF corner of the one's-complement sum)."""
    for path in (built[arch].ext, built[arch].bar):
        data = path.read_bytes() + tail
        pe = pefile.PE(data=data)
        assert pe_checksum(data, pe.OPTIONAL_HEADER.get_file_offset() + 64) == pe.generate_checksum()


def test_checksum_when_the_words_sum_to_a_multiple_of_0xffff(built: dict[str, PeFixtures]) -> None:
    """The one corner where a plain modulo and the one's-complement sum differ (0 vs 0xFFFF)."""
    data = built["x86_64"].ext.read_bytes()
    pe = pefile.PE(data=data)
    checksum_at = pe.OPTIONAL_HEADER.get_file_offset() + 64
    words = sum(struct.unpack_from(f"<{len(data) // 2}H", data)) - sum(struct.unpack_from("<2H", data, checksum_at))
    tail = struct.pack("<H", -words % 0xFFFF)  # the words now sum to a multiple of 0xFFFF
    padded = data + tail
    assert (words + struct.unpack("<H", tail)[0]) % 0xFFFF == 0
    assert pe_checksum(padded, checksum_at) == pefile.PE(data=padded).generate_checksum() == 0xFFFF + len(padded)


def test_full_section_table_is_one_clear_error(built: dict[str, PeFixtures]) -> None:
    original = built["x86_64"].ext.read_bytes()
    data = pe_fixtures.fill_section_table(original)
    assert [s.Name for s in pefile.PE(data=data).sections] == [s.Name for s in pefile.PE(data=original).sections]
    with pytest.raises(RepairError, match="section table has no room") as caught:
        rename_imports(data, LONG, path="ext.pyd")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("ext.pyd:")
    # names that fit need no section: the same file is still editable
    edit = rename_imports(data, {"foo.dll": "foo-1234.dll"})
    check_output(data, edit.data, {"foo.dll": "foo-1234.dll"})


def test_unknown_overlay_blocks_a_new_section(built: dict[str, PeFixtures]) -> None:
    data = built["x86_64"].ext.read_bytes() + b"installer payload" * 10
    with pytest.raises(RepairError, match="overlay"):
        rename_imports(data, LONG)
    edit = rename_imports(data, {"foo.dll": "foo-1234.dll"})  # padding: the overlay stays as it was
    assert edit.data.endswith(b"installer payload" * 10)


def test_coff_symbol_table_overlay_moves_behind_the_new_section(built: dict[str, PeFixtures]) -> None:
    """GNU/LLVM linkers leave COFF symbols after the sections; the pointer must follow them."""
    data = bytearray(built["x86_64"].ext.read_bytes())
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    symbols = struct.pack("<8sIhHBB", b".text\0\0\0", 0, 1, 0, 3, 0)  # one 18-byte symbol record
    strings = struct.pack("<I", 4 + 10) + b"long_name\0"
    struct.pack_into("<II", data, lfanew + 12, len(data), 1)  # PointerToSymbolTable, NumberOfSymbols
    data += symbols + strings
    edit = rename_imports(bytes(data), LONG)
    assert edit.placement == "new section"
    pe = pefile.PE(data=edit.data)
    pointer = pe.FILE_HEADER.PointerToSymbolTable
    assert pointer > len(data) - len(symbols + strings)
    assert edit.data[pointer:] == symbols + strings
    check_output(bytes(data), edit.data, LONG)


def with_bound_import(data: bytes, dll: str) -> bytes:
    """``data`` with its import of ``dll`` bound: a BOUND_IMPORT directory after the section table
    (where BIND.EXE puts it), TimeDateStamp -1 and the IAT holding "prebound" addresses."""
    pe = pefile.PE(data=data)
    table_end = pe.sections[-1].get_file_offset() + 40
    name = dll.encode() + b"\0"
    bound = struct.pack("<IHH", 0x12345678, 16, 0) + bytes(8) + name
    out = bytearray(data)
    out[table_end : table_end + len(bound)] = bound
    directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[11]
    struct.pack_into("<II", out, directory.get_file_offset(), table_end, len(bound))
    for entry in pe.DIRECTORY_ENTRY_IMPORT:
        if entry.dll.decode().lower() == dll:
            struct.pack_into("<I", out, entry.struct.get_file_offset() + 4, 0xFFFFFFFF)
            iat = pe.get_offset_from_rva(entry.struct.FirstThunk)
            step = 8 if pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 4
            for index in range(len(entry.imports)):
                struct.pack_into("<I", out, iat + index * step, 0x7FFE0000 + index * 16)
    return bytes(out)


@pytest.mark.parametrize("arch", ARCHES)
def test_bound_import_of_a_renamed_dll_is_cleared(built: dict[str, PeFixtures], arch: str) -> None:
    data = with_bound_import(built[arch].ext.read_bytes(), "foo.dll")
    assert pefile.PE(data=data).DIRECTORY_ENTRY_BOUND_IMPORT[0].name == b"foo.dll"
    for mapping in ({"foo.dll": "f.dll"}, LONG):  # LONG needs the header bytes the bound directory held
        edit = rename_imports(data, mapping)
        assert edit.cleared_bound_imports
        pe = pefile.PE(data=edit.data)
        assert not hasattr(pe, "DIRECTORY_ENTRY_BOUND_IMPORT")
        assert pe.OPTIONAL_HEADER.DATA_DIRECTORY[11].Size == 0
        entry = pe.DIRECTORY_ENTRY_IMPORT[0]
        assert entry.struct.TimeDateStamp == 0
        step = 8 if pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 4
        lookup = pe.get_data(entry.struct.OriginalFirstThunk, step * len(entry.imports))
        assert pe.get_data(entry.struct.FirstThunk, step * len(entry.imports)) == lookup  # unbound
        check_output(built[arch].ext.read_bytes(), edit.data, mapping)
    # a bound import of another DLL is left alone
    edit = rename_imports(data, {"kernel32.dll": "k.dll"})
    assert not edit.cleared_bound_imports
    assert pefile.PE(data=edit.data).DIRECTORY_ENTRY_BOUND_IMPORT[0].name == b"foo.dll"


# -- mangled names -------------------------------------------------------------------------------


def test_mangled_name_shape_and_determinism() -> None:
    name = mangled_name("Foo.dll", b"content")
    assert re.fullmatch(r"Foo-[0-9a-f]{32}\.dll", name)
    assert name == mangled_name("Foo.dll", b"content")
    assert name != mangled_name("Foo.dll", b"content2")
    assert mangled_name("libbar.1.dll", b"x").startswith("libbar.1-")
    assert mangled_name("noext", b"x").endswith(".dll")
    a = mangled_name("foo.dll", b"x", ["bar-1.dll", "baz-2.dll"])
    assert a == mangled_name("foo.dll", b"x", ["BAZ-2.dll", "bar-1.dll"])  # order and case do not matter
    assert a != mangled_name("foo.dll", b"x", ["bar-1.dll", "baz-3.dll"])
    assert a != mangled_name("foo.dll", b"x")


def test_mangled_names_hash_dependencies_first() -> None:
    contents = {"foo.dll": b"foo", "bar.dll": b"bar", "baz.DLL": b"baz"}
    names = mangled_names(contents, {"foo.dll": ["BAR.dll", "kernel32.dll"], "bar.dll": ["baz.dll"]})
    assert names["baz.DLL"] == mangled_name("baz.DLL", b"baz")
    assert names["bar.dll"] == mangled_name("bar.dll", b"bar", [names["baz.DLL"]])
    assert names["foo.dll"] == mangled_name("foo.dll", b"foo", [names["bar.dll"]])
    # a different baz changes every name that pulls it in
    other = mangled_names({**contents, "baz.DLL": b"baz2"}, {"foo.dll": ["bar.dll"], "bar.dll": ["baz.dll"]})
    assert all(other[n] != names[n] for n in contents)
    with pytest.raises(RepairError, match="cycle"):
        mangled_names({"a.dll": b"a", "b.dll": b"b"}, {"a.dll": ["b.dll"], "b.dll": ["a.dll"]})


# -- real wheels --------------------------------------------------------------------------------

REAL = [  # delvewheel-repaired wheels: their binaries import mangled names
    "shapely-2.2.0-cp312-cp312-win32.whl",
    "shapely-2.2.0-cp312-cp312-win_amd64.whl",
    "numpy-2.5.5-cp312-cp312-win_amd64.whl",
]
_MANGLED = re.compile(r"^(.+)-[0-9a-f]{32}(\.dll)$", re.IGNORECASE)


@pytest.mark.real
@pytest.mark.parametrize("filename", REAL)
def test_unrepair_and_repair_real_wheel_binaries(filename: str, all_real_wheels: dict[str, Path]) -> None:
    """Undo delvewheel's names (shorter: in place), then mangle again with ours (longer).
    DependentLoadFlags (MSVC's load configuration holds it) is set first and must be cleared."""
    edited = flags = 0
    with zipfile.ZipFile(all_real_wheels[filename]) as wheel:
        for member in wheel.namelist():
            if not member.lower().endswith((".pyd", ".dll")):
                continue
            data = wheel.read(member)
            regular, delayed = imports(data, data)
            plain = {n: m.group(1) + m.group(2) for n in regular + delayed if (m := _MANGLED.match(n))}
            if not plain:
                continue
            flags_at = dependent_load_flags_at(data)
            if flags_at is not None:  # as linked with /DEPENDENTLOADFLAG:0x800 (System32 only)
                data = data[:flags_at] + struct.pack("<H", 0x800) + data[flags_at + 2 :]
            undone = rename_imports(data, plain, path=member)
            assert undone.cleared_dependent_load_flags == (flags_at is not None)
            if flags_at is not None:
                loaded = parsed(undone.data)
                assert loaded.DIRECTORY_ENTRY_LOAD_CONFIG.struct.DependentLoadFlags == 0
                flags += 1
            assert undone.placement == "in place"
            check_output(data, undone.data, plain)
            ours = {p: mangled_name(p, p.encode()) for p in plain.values()}
            redone = rename_imports(undone.data, ours, path=member)
            check_output(undone.data, redone.data, ours)
            section_layout_ok(redone.data)
            if parsed(data).OPTIONAL_HEADER.CheckSum:
                assert redone.checksum is not None and parsed(redone.data).verify_checksum()
            edited += 1
    assert edited and flags


def dependent_load_flags_at(data: bytes) -> int | None:
    """File offset of DependentLoadFlags, read with pefile (its own structure layout)."""
    pe = parsed(data)
    config = getattr(pe, "DIRECTORY_ENTRY_LOAD_CONFIG", None)
    if config is None or not hasattr(config.struct, "DependentLoadFlags"):
        return None
    return int(config.struct.get_field_absolute_offset("DependentLoadFlags"))


# -- the loader --------------------------------------------------------------------------------


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


@pytest.mark.slow
@pytest.mark.parametrize("use_padding", [True, False], ids=["padding", "new-section"])
@pytest.mark.parametrize("module", ["ext", "ext_delay"])
def test_wine_loads_the_renamed_and_moved_dlls(
    built: dict[str, PeFixtures], module: str, use_padding: bool, tmp_path: Path, wine_prefix: Path
) -> None:
    """The layout a repair makes: ext.pyd in the package, foo/bar renamed in ``pkg.libs``, found
    only through AddDllDirectory; the unedited extension must fail there (the control)."""
    wine = pe_fixtures.wine()
    if wine is None:
        pytest.skip("wine is not installed (Debian: apt-get install wine64)")
    fx = built["x86_64"]
    assert fx.loader is not None
    libs, package, tools = tmp_path / "pkg.libs", tmp_path / "pkg", tmp_path / "bin"
    for folder in (libs, package, tools):
        folder.mkdir()
    (tools / "loader.exe").write_bytes(fx.loader.read_bytes())  # not beside the original DLLs
    contents = {"foo.dll": fx.foo.read_bytes(), "bar.dll": fx.bar.read_bytes()}
    names = mangled_names(contents, {"foo.dll": ["bar.dll"]})
    for name, data in contents.items():
        edit = rename_imports(data, names, path=name, use_padding=use_padding)
        assert edit.placement == (
            "new section" if name == "foo.dll" and not use_padding else "padding" if name == "foo.dll" else "unchanged"
        )
        (libs / names[name]).write_bytes(edit.data)
    source = getattr(fx, module)
    edit = rename_imports(source.read_bytes(), names, path=source.name, use_padding=use_padding)
    assert edit.placement == ("padding" if use_padding else "new section")
    (package / "ext.pyd").write_bytes(edit.data)
    (package / "unedited.pyd").write_bytes(source.read_bytes())

    def load(name: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(tools / "loader.exe"),
            f"Z:{libs}".replace("/", "\\"),
            f"Z:{package / name}".replace("/", "\\"),
        ]
        return pe_fixtures.run_wine(wine, command, wine_prefix, tmp_path)

    result = load("ext.pyd")
    assert result.returncode == 0 and f"ext_value={pe_fixtures.EXT_VALUE}" in result.stdout, (
        result.stdout + result.stderr
    )
    control = load("unedited.pyd")
    if module == "ext":
        assert control.returncode == 5 and "LoadLibraryExW failed 126" in control.stdout
    else:  # delay-loaded: the module loads, the first call fails to find foo.dll
        assert f"ext_value={pe_fixtures.EXT_VALUE}" not in control.stdout
