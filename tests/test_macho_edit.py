"""The Mach-O load-command editor on real zig-built files, read back by three other readers.

Oracles: llvm-objdump (Debian's llvm; skipped when absent), LIEF and macholib. Each edit is
the one a repair makes: a Homebrew install id becomes a wheel-local one, a Homebrew load
becomes ``@loader_path/...``, the Homebrew rpath goes and a wheel rpath comes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from wheelaudit.binary.macho import parse_macho
from wheelaudit.errors import MalformedBinary, RepairError
from wheelaudit.repairing.macos import commands as macho_commands
from wheelaudit.repairing.macos import fat as macho_fat
from wheelaudit.repairing.macos.edit import (
    EditResult,
    HeaderPaddingError,
    MachOEdit,
    MachOEditError,
    edit_macho,
    parse_macho_bytes,
)

from .macho_fixtures import (
    BAR_ID,
    FOO_ID,
    FOO_RPATH,
    Fixtures,
    View,
    built,
    fat_bytes,
    llvm_objdump,
    read_lief,
    read_macholib,
    read_objdump,
    require_zig,
)

KINDS = ("arm64", "x86_64", "universal2")
NEW_FOO_ID = "/DLC/pkg/.dylibs/libfoo.1.dylib"
NEW_BAR = "@loader_path/libbar.1.dylib"
NEW_RPATH = "@loader_path/../pkg.dylibs"
REPAIR = MachOEdit(
    install_id=NEW_FOO_ID,
    change_names={BAR_ID: NEW_BAR},
    delete_rpaths=frozenset({FOO_RPATH}),
    add_rpaths=(NEW_RPATH,),
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixtures]:
    require_zig()
    return built(tmp_path_factory.getbasetemp())


def _archs(kind: str) -> list[str]:
    return ["x86_64", "arm64"] if kind == "universal2" else [kind]


def _edited(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> tuple[bytes, EditResult, Path]:
    data = files[kind].foo.read_bytes()
    result = edit_macho(data, REPAIR, path="libfoo.dylib")
    out = tmp_path / "libfoo.dylib"
    out.write_bytes(result.data)
    return data, result, out


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    out = tmp_path / name
    out.write_bytes(data)
    return out


def _expected(arch: str) -> View:
    return View(arch, NEW_FOO_ID, ("/usr/lib/libSystem.B.dylib", NEW_BAR), (NEW_RPATH,))


def _core(view: View) -> View:
    return View(view.arch, view.install_id, view.loads, view.rpaths)


@pytest.mark.parametrize("kind", KINDS)
def test_fixture_is_what_the_tests_assume(files: dict[str, Fixtures], kind: str) -> None:
    """The input says what the edit changes, so an edit that does nothing fails the tests below."""
    for view in read_lief(files[kind].foo):
        assert (view.install_id, view.loads, view.rpaths) == (
            FOO_ID,
            ("/usr/lib/libSystem.B.dylib", BAR_ID),
            (FOO_RPATH,),
        )
    assert [v.loads for v in read_lief(files[kind].ext)] == [("/usr/lib/libSystem.B.dylib", FOO_ID)] * len(_archs(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_edit_reads_back_in_lief_and_macholib(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    _, result, out = _edited(files, kind, tmp_path)
    want = [_expected(arch) for arch in _archs(kind)]
    assert [_core(v) for v in read_lief(out)] == want
    assert [_core(v) for v in read_macholib(out)] == want
    for view in read_macholib(out):
        assert all(size % 8 == 0 for size in view.cmdsizes), view.cmdsizes
    assert [s.arch for s in result.slices] == _archs(kind)
    assert all(s.changed for s in result.slices)


@pytest.mark.parametrize("kind", KINDS)
def test_edit_reads_back_in_llvm_objdump(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    tool = llvm_objdump()
    if tool is None:
        pytest.skip("llvm-objdump not installed (apt-get install llvm)")
    _, _, out = _edited(files, kind, tmp_path)
    for arch in _archs(kind):
        view = read_objdump(tool, out, arch)
        assert _core(view) == _expected(arch)
        assert all(size % 8 == 0 for size in view.cmdsizes), view.cmdsizes


@pytest.mark.parametrize("kind", KINDS)
def test_edit_reads_back_in_our_parser(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    _, _, out = _edited(files, kind, tmp_path)
    with out.open("rb") as fp:
        binaries = parse_macho(fp, "libfoo.dylib", out.stat().st_size)
    assert [(b.arch, b.own_name, b.needed, b.rpath) for b in binaries] == [
        (arch, NEW_FOO_ID, ("/usr/lib/libSystem.B.dylib", NEW_BAR), (NEW_RPATH,)) for arch in _archs(kind)
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_only_the_load_commands_change(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    """Segments never move: same length, same bytes from the first section on, in every slice."""
    data, result, _ = _edited(files, kind, tmp_path)
    assert len(result.data) == len(data)
    before, after = macho_fat.split(data, "a"), macho_fat.split(result.data, "b")
    assert before.offsets == after.offsets
    for old, new in zip(before.slices, after.slices, strict=True):
        start = macho_commands.read(old, "a").data_start
        assert new[start:] == old[start:]
        assert new[:16] == old[:16]  # magic, cpu, filetype unchanged; ncmds/sizeofcmds may differ


@pytest.mark.parametrize("kind", KINDS)
def test_signature_invalidated_only_where_there_was_one(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    """zig signs arm64 output (linker-signed) and leaves x86_64 unsigned; the editor says which went stale."""
    _, result, _ = _edited(files, kind, tmp_path)
    by_arch = {s.arch: s for s in result.slices}
    if "arm64" in by_arch:
        assert by_arch["arm64"].signature == "linker-signed"
        assert by_arch["arm64"].signature_invalidated
    if "x86_64" in by_arch:
        assert by_arch["x86_64"].signature is None
        assert not by_arch["x86_64"].signature_invalidated
    assert result.needs_signing


@pytest.mark.parametrize("kind", KINDS)
def test_extension_load_rewritten(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    new = "@loader_path/.dylibs/" + "x" * 200 + "/libfoo.1.dylib"
    result = edit_macho(files[kind].ext.read_bytes(), MachOEdit(change_names={FOO_ID: new}), path="ext.so")
    out = tmp_path / "ext.so"
    out.write_bytes(result.data)
    assert [v.loads for v in read_macholib(out)] == [("/usr/lib/libSystem.B.dylib", new)] * len(_archs(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_to_do_gives_the_same_bytes(files: dict[str, Fixtures], kind: str) -> None:
    data = files[kind].ext.read_bytes()
    edit = MachOEdit(change_names={"/not/linked.dylib": "@loader_path/x.dylib"}, delete_rpaths=frozenset({"/nope"}))
    result = edit_macho(data, edit, path="ext.so")
    assert result.data == data
    assert not result.changed


def test_existing_rpath_is_not_added_twice(files: dict[str, Fixtures], tmp_path: Path) -> None:
    data = files["universal2"].foo.read_bytes()
    result = edit_macho(data, MachOEdit(add_rpaths=(FOO_RPATH, NEW_RPATH, NEW_RPATH)), path="libfoo.dylib")
    out = tmp_path / "libfoo.dylib"
    out.write_bytes(result.data)
    assert [v.rpaths for v in read_lief(out)] == [(FOO_RPATH, NEW_RPATH)] * 2


def _pad_and_id_size(data: bytes) -> tuple[int, int]:
    header = macho_commands.read(data, "x")
    used = header.header_size + sum(len(c) for c in header.commands)
    id_size = next(len(c) for c in header.commands if header.cmd(c) == macho_commands.LC_ID_DYLIB)
    return header.data_start - used, id_size


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_name_that_just_fits_and_one_that_does_not(files: dict[str, Fixtures], arch: str) -> None:
    """The boundary is exact: the largest id that fits the padding works, 8 bytes more fails by 8.

    x86_64 is unsigned, so 16 bytes stay reserved for the LC_CODE_SIGNATURE the signer adds.
    """
    data = files[arch].foo.read_bytes()
    pad, id_size = _pad_and_id_size(data)
    reserve = 16 if arch == "x86_64" else 0
    room = (pad - reserve) // 8 * 8 + id_size  # the largest 8-aligned cmdsize that fits
    longest = room - 24 - 1  # 24 bytes of dylib_command, then the name and its NUL
    result = edit_macho(data, MachOEdit(install_id="/" + "a" * (longest - 1)), path="libfoo.dylib")
    assert result.slices[0].header_pad == pad - (room - id_size)
    assert result.slices[0].header_pad - reserve < 8
    with pytest.raises(HeaderPaddingError) as caught:
        edit_macho(data, MachOEdit(install_id="/" + "a" * (longest + 7)), path="libfoo.dylib")
    assert caught.value.missing == 8 - (pad - reserve) % 8
    assert isinstance(caught.value, RepairError)


@pytest.mark.parametrize("kind", KINDS)
def test_too_long_name_is_one_clear_error(files: dict[str, Fixtures], kind: str) -> None:
    data = files[kind].ext.read_bytes()
    with pytest.raises(HeaderPaddingError) as caught:
        edit_macho(data, MachOEdit(change_names={FOO_ID: "/" + "n" * 20000}), path="pkg/ext.so")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("pkg/ext.so (")
    assert f"need {caught.value.missing} more bytes" in message
    assert caught.value.missing > 20000 - 8000  # zig leaves a few KiB of padding
    assert caught.value.path == "pkg/ext.so"


def test_install_id_on_a_file_without_one(files: dict[str, Fixtures]) -> None:
    """An LC_ID_DYLIB cannot be set where there is none; build one out of ext.so by renaming the command."""
    data = bytearray(files["arm64"].ext.read_bytes())
    header = macho_commands.read(bytes(data), "x")
    offset = header.header_size
    for command in header.commands:
        if header.cmd(command) == macho_commands.LC_ID_DYLIB:
            struct.pack_into("<I", data, offset, 0x0E)  # LC_LOAD_DYLINKER has the same shape
        offset += len(command)
    with pytest.raises(MachOEditError, match="no LC_ID_DYLIB"):
        edit_macho(bytes(data), MachOEdit(install_id="@rpath/ext.so"), path="ext.so")


def test_not_a_macho_is_malformed() -> None:
    with pytest.raises(MalformedBinary):
        edit_macho(b"\x7fELF" + bytes(100), MachOEdit(install_id="x"), path="x.so")


@pytest.mark.parametrize("kind", KINDS)
def test_weak_load_renamed(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    data = files[kind].weak.read_bytes()
    assert {b.weak_needed for b in parse_macho_bytes(data, "w")} == {(BAR_ID,)}
    result = edit_macho(data, MachOEdit(change_names={BAR_ID: NEW_BAR}), path="libweak.dylib")
    out = _write(tmp_path, "libweak.dylib", result.data)
    assert [(b.needed, b.weak_needed) for b in parse_macho_bytes(result.data, "w")] == [
        (("/usr/lib/libSystem.B.dylib",), (NEW_BAR,))
    ] * len(_archs(kind))
    assert [v.loads for v in read_macholib(out)] == [("/usr/lib/libSystem.B.dylib", NEW_BAR)] * len(_archs(kind))
    tool = llvm_objdump()
    if tool is not None:
        for arch in _archs(kind):
            assert read_objdump(tool, out, arch).loads == ("/usr/lib/libSystem.B.dylib", NEW_BAR)


def _retyped(data: bytes, name: str, new_cmd: int) -> bytes:
    """``data`` (thin) with the dylib command loading ``name`` given another command type of the
    same layout: zig cannot link with -reexport-l or -upward-l."""
    out = bytearray(data)
    header = macho_commands.read(data, "x")
    offset = header.header_size
    for command in header.commands:
        if header.cmd(command) in macho_commands.DYLIB_LOADS and header.string(command) == name:
            struct.pack_into("<I", out, offset, new_cmd)
        offset += len(command)
    return bytes(out)


@pytest.mark.parametrize(
    ("cmd", "macholib_name"),
    [
        (macho_commands.LC_REEXPORT_DYLIB, "LC_REEXPORT_DYLIB"),
        (macho_commands.LC_LOAD_UPWARD_DYLIB, "LC_LOAD_UPWARD_DYLIB"),
    ],
)
@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_reexport_and_upward_loads_renamed(
    files: dict[str, Fixtures], arch: str, cmd: int, macholib_name: str, tmp_path: Path
) -> None:
    from macholib import mach_o
    from macholib.MachO import MachO

    data = _retyped(files[arch].foo.read_bytes(), BAR_ID, cmd)
    result = edit_macho(data, MachOEdit(change_names={BAR_ID: NEW_BAR}), path="libfoo.dylib")
    out = _write(tmp_path, "libfoo.dylib", result.data)
    (header,) = MachO(str(out)).headers
    found = [
        (mach_o.LC_NAMES.get(lc.cmd), bytes(d).rstrip(b"\0").decode()) for lc, _c, d in header.commands if lc.cmd == cmd
    ]
    assert found == [(macholib_name, NEW_BAR)]
    assert parse_macho_bytes(result.data, "x")[0].needed == ("/usr/lib/libSystem.B.dylib", NEW_BAR)


def test_fat64_file(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """A universal file with 64-bit fat records is split, edited and joined as such."""
    data = fat_bytes({"x86_64": files["x86_64"].foo.read_bytes(), "arm64": files["arm64"].foo.read_bytes()}, fat64=True)
    result = edit_macho(data, REPAIR, path="libfoo.dylib")
    assert result.data[:4] == b"\xca\xfe\xba\xbf"
    assert macho_fat.split(result.data, "x").offsets == macho_fat.split(data, "x").offsets
    out = _write(tmp_path, "libfoo.dylib", result.data)
    assert [_core(v) for v in read_macholib(out)] == [_expected("x86_64"), _expected("arm64")]  # LIEF reads no fat64
