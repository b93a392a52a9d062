"""The ad-hoc signer, checked by an independent verifier: rcodesign's, through ``apple-platform-py``.

``verify_macho`` recomputes every page digest and the special-slot digests; it reports one
advisory line for every ad-hoc signature, its own included ("CMS error: missing further
values", the empty CMS wrapper that marks ad hoc), so that exact line is allowed and nothing
else. The tests also show the verifier catches what it should: a stale signature after an
edit is a "code digest mismatch".
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from wheelaudit.repairing.macos import commands as macho_commands
from wheelaudit.repairing.macos import fat as macho_fat
from wheelaudit.repairing.macos.codesign import SigningError, adhoc_sign
from wheelaudit.repairing.macos.edit import HeaderPaddingError, MachOEdit, edit_macho, parse_macho_bytes

from .macho_fixtures import BAR_ID, FOO_ID, FOO_RPATH, Fixtures, built, fat_bytes, require_zig

apple_platform = pytest.importorskip("apple_platform", reason="apple-platform-py (test extra) is not installed")

KINDS = ("arm64", "x86_64", "universal2")
# rcodesign's verifier says this of every ad-hoc signature, its own too (test_rcodesign_says_the_same_of_its_own)
ADHOC_NOTE = "CMS error: missing further values (at position 0)"
EDITS = {
    "foo": MachOEdit(
        install_id="/DLC/pkg/.dylibs/libfoo.1.dylib",
        change_names={BAR_ID: "@loader_path/libbar.1.dylib"},
        delete_rpaths=frozenset({FOO_RPATH}),
        add_rpaths=("@loader_path",),
    ),
    "bar": MachOEdit(install_id="/DLC/pkg/.dylibs/libbar.1.dylib"),
    "ext": MachOEdit(change_names={FOO_ID: "@loader_path/.dylibs/libfoo.1.dylib"}),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixtures]:
    require_zig()
    return built(tmp_path_factory.getbasetemp())


def _problems(path: Path) -> list[str]:
    """The verifier's findings; for a fat file each is prefixed "@<slice index>: ", dropped here."""
    return [re.sub(r"^@\d+: ", "", p["description"]) for p in apple_platform.verify_macho(str(path))]


def _code_directories(path: Path) -> list[dict[str, Any]]:
    entities = apple_platform.read_signature(str(path))
    found = []
    for entity in entities:
        macho = entity.get("entity", {}).get("mach_o") if isinstance(entity.get("entity"), dict) else None
        if macho and macho.get("signature"):
            found.append(macho["signature"]["code_directory"])
    return found


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    out = tmp_path / name
    out.write_bytes(data)
    return out


def _archs(kind: str) -> list[str]:
    return ["x86_64", "arm64"] if kind == "universal2" else [kind]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("member", ["foo", "bar", "ext"])
def test_edited_then_signed_verifies(files: dict[str, Fixtures], kind: str, member: str, tmp_path: Path) -> None:
    source: Path = getattr(files[kind], member)
    edited = edit_macho(source.read_bytes(), EDITS[member], path=source.name)
    assert edited.changed
    stale = _write(tmp_path, "stale-" + source.name, edited.data)
    if "arm64" in _archs(kind):  # the linker's signature no longer matches the edited header page
        assert any("code digest mismatch" in p for p in _problems(stale)), _problems(stale)

    signed = adhoc_sign(edited.data, path=source.name)
    out = _write(tmp_path, source.name, signed.data)
    assert [p for p in _problems(out) if p != ADHOC_NOTE] == []
    assert [s.arch for s in signed.slices] == _archs(kind)
    assert not signed.replaced_certificate
    for binary in parse_macho_bytes(signed.data, source.name):
        assert binary.extra["signature"] == "adhoc"
    # the edit survives signing
    after = parse_macho_bytes(signed.data, source.name)
    before = parse_macho_bytes(edited.data, source.name)
    assert [(b.own_name, b.needed, b.rpath) for b in after] == [(b.own_name, b.needed, b.rpath) for b in before]


@pytest.mark.parametrize("kind", KINDS)
def test_code_directory_fields(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    """What the verifier's reader sees: v0x20400, SHA-256, ad hoc, the linker's page size, every page."""
    data = edit_macho(files[kind].foo.read_bytes(), EDITS["foo"], path="libfoo.dylib").data
    signed = adhoc_sign(data, path="pkg/.dylibs/libfoo.1.dylib")
    out = _write(tmp_path, "libfoo.dylib", signed.data)
    directories = _code_directories(out)
    assert len(directories) == len(_archs(kind))
    layout = macho_fat.split(signed.data, "x")
    for cd, slice_, info in zip(directories, layout.slices, signed.slices, strict=True):
        assert cd["version"] == "0x20400"
        assert cd["digest_type"] == "sha256"
        assert cd["flags"] == "CodeSignatureFlags(ADHOC)"  # no LINKER_SIGNED: see codesign's docstring
        # zig's arm64 signature used 16 KiB pages; x86_64 was unsigned: 4 KiB
        assert info.page_size == (16384 if info.arch == "arm64" else 4096)
        header = macho_commands.read(slice_, "x")
        sig = next(c for c in header.commands if header.cmd(c) == macho_commands.LC_CODE_SIGNATURE)
        dataoff, datasize = struct.unpack_from("<II", sig, 8)
        assert cd["signed_entity_size"] == dataoff
        assert cd["code_digests_count"] == -(-dataoff // info.page_size)
        assert dataoff + datasize == len(slice_)
        assert any(s.startswith("RequirementSet (2): ") for s in cd["slot_digests"])
        # the identifier: the linker's (zig's is the output file name) is kept, else the basename
        assert cd["identifier"] == info.identifier
        assert info.identifier == ("libfoo.dylib" if info.arch == "arm64" else "libfoo.1.dylib")


def test_identifier_from_basename_without_old_signature(files: dict[str, Fixtures]) -> None:
    signed = adhoc_sign(files["x86_64"].bar.read_bytes(), path="pkg/.dylibs/libbar.1.dylib")
    assert [s.identifier for s in signed.slices] == ["libbar.1.dylib"]
    assert signed.slices[0].added_load_command
    assert signed.slices[0].previous is None


def test_same_code_directory_header_as_rcodesign(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """rcodesign's own ad-hoc signer, given the same identifier, writes the same CodeDirectory
    header (flags, slots, codeLimit, execSeg fields) on the unsigned x86_64 input (4 KiB pages)."""
    data = files["x86_64"].foo.read_bytes()
    theirs = apple_platform.sign_macho_bytes(data, binary_identifier="libfoo")
    ours = adhoc_sign(data, path="libfoo.dylib", identifier="libfoo").data

    def header(blob: bytes) -> tuple[int, ...]:
        start = blob.rfind(b"\xfa\xde\x0c\xc0")
        (cd_offset,) = struct.unpack_from(">I", blob, start + 16)
        return struct.unpack_from(">9I4B4I4Q", blob, start + cd_offset)

    assert header(ours) == header(theirs)
    assert header(ours)[18] == 0 and header(ours)[19] > 0  # execSegBase 0, execSegLimit = __TEXT size


def test_rcodesign_says_the_same_of_its_own(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """ADHOC_NOTE is the verifier's remark on any ad-hoc signature, not a fault of ours."""
    theirs = apple_platform.sign_macho_bytes(files["x86_64"].bar.read_bytes(), binary_identifier="libbar")
    assert _problems(_write(tmp_path, "libbar.dylib", theirs)) == [ADHOC_NOTE]


@pytest.mark.parametrize("kind", KINDS)
def test_signing_is_deterministic_and_idempotent(files: dict[str, Fixtures], kind: str) -> None:
    data = files[kind].ext.read_bytes()
    once = adhoc_sign(data, path="ext.so")
    assert adhoc_sign(data, path="ext.so").data == once.data
    twice = adhoc_sign(once.data, path="ext.so")
    assert twice.data == once.data
    assert {s.previous for s in twice.slices} == {"adhoc"}


def test_fat_offsets_rewritten(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """The x86_64 slice grows (a signature is added), so the arm64 slice moves; offsets stay aligned."""
    data = files["universal2"].foo.read_bytes()
    signed = adhoc_sign(data, path="libfoo.dylib")
    before, after = macho_fat.split(data, "a"), macho_fat.split(signed.data, "b")
    assert after.entries[0].size > before.entries[0].size
    for entry, slice_ in zip(after.entries, after.slices, strict=True):
        assert entry.offset % (1 << entry.align) == 0
        assert parse_macho_bytes(bytes(slice_), "x")[0].extra["signature"] == "adhoc"
    assert after.entries[-1].offset + after.entries[-1].size == len(signed.data)
    assert [p for p in _problems(_write(tmp_path, "libfoo.dylib", signed.data)) if p != ADHOC_NOTE] == []


def test_unsigned_arm64_gets_16k_pages(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """An arm64 file without a signature (LIEF removes zig's) is signed with 16 KiB pages."""
    import lief

    lief.logging.disable()
    fat = lief.MachO.parse(str(files["arm64"].bar))
    assert fat is not None
    binary = fat.at(0)
    assert binary is not None
    binary.remove_signature()
    stripped = tmp_path / "unsigned.dylib"
    binary.write(str(stripped))
    data = stripped.read_bytes()
    assert parse_macho_bytes(data, "x")[0].signed is False
    signed = adhoc_sign(data, path="libbar.dylib")
    assert signed.slices[0].page_size == 16384
    assert signed.slices[0].added_load_command
    out = _write(tmp_path, "libbar.dylib", signed.data)
    assert [p for p in _problems(out) if p != ADHOC_NOTE] == []


def _developer_id_signed(tmp_path: Path, data: bytes) -> bytes:
    """A real CMS signature by a self-signed "Developer ID"-named certificate, with entitlements
    and the hardened runtime, written by rcodesign."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subject = "/CN=Developer ID Application: Test (ABCDE12345)/OU=ABCDE12345"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
    subprocess.run([*command, "-days", "2", "-subj", subject], check=True, capture_output=True)
    entitlements = tmp_path / "entitlements.plist"
    entitlements.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0"><dict><key>com.apple.security.cs.disable-library-validation</key><true/></dict></plist>\n'
    )
    signer = apple_platform.Signer(pem=apple_platform.PemKey(files=[str(cert), str(key)]))
    signed: bytes = apple_platform.sign_macho_bytes(
        data,
        signer=signer,
        binary_identifier="com.example.foo",
        timestamp_url="none",
        code_signature_flags=["runtime"],
        entitlements_xml_file=str(entitlements),
    )
    return signed


@pytest.mark.parametrize("kind", ["arm64", "x86_64"])
def test_developer_id_signature_is_replaced_and_reported(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    data = _developer_id_signed(tmp_path, files[kind].foo.read_bytes())
    assert parse_macho_bytes(data, "x")[0].extra["signature"] == "certificate"
    edited = edit_macho(data, EDITS["foo"], path="libfoo.dylib")
    assert edited.slices[0].signature_invalidated
    signed = adhoc_sign(edited.data, path="libfoo.dylib")
    assert signed.replaced_certificate
    info = signed.slices[0]
    assert info.previous == "certificate"
    assert info.identifier == "com.example.foo"
    assert info.entitlements_kept
    out = _write(tmp_path, "libfoo.dylib", signed.data)
    assert [p for p in _problems(out) if p != ADHOC_NOTE] == []
    (cd,) = _code_directories(out)
    assert cd["flags"] == "CodeSignatureFlags(ADHOC | RUNTIME)"
    slots = {s.split(" (")[0] for s in cd["slot_digests"]}
    assert {"RequirementSet", "Entitlements"} <= slots
    assert parse_macho_bytes(signed.data, "x")[0].extra["signature"] == "adhoc"


def test_data_after_linkedit_is_refused(files: dict[str, Fixtures]) -> None:
    data = files["x86_64"].bar.read_bytes() + b"trailing junk"
    with pytest.raises(SigningError, match="data follows __LINKEDIT"):
        adhoc_sign(data, path="libbar.dylib")


def test_no_room_for_the_signature_command(files: dict[str, Fixtures]) -> None:
    """An unsigned slice whose padding is full cannot take an LC_CODE_SIGNATURE: the padding error."""
    data = files["x86_64"].bar.read_bytes()
    header = macho_commands.read(data, "x")
    used = header.header_size + sum(len(c) for c in header.commands)
    pad = header.data_start - used
    rpath = "/" + "r" * (pad - 12 - 1 - 1 - 7)  # an rpath command of pad - 7 .. pad bytes
    full = edit_macho(data, MachOEdit(add_rpaths=(rpath,)), path="libbar.dylib", reserve_signature=False)
    assert full.slices[0].header_pad < 16
    with pytest.raises(HeaderPaddingError):
        adhoc_sign(full.data, path="libbar.dylib")


def test_verifier_notices_a_changed_byte_in_our_output(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """The oracle can fail on what we write: one byte of code changed after signing is a digest mismatch."""
    signed = bytearray(adhoc_sign(files["arm64"].foo.read_bytes(), path="libfoo.dylib").data)
    header = macho_commands.read(bytes(signed), "x")
    signed[header.data_start] ^= 0xFF
    problems = _problems(_write(tmp_path, "libfoo.dylib", bytes(signed)))
    assert any("code digest mismatch" in p for p in problems), problems


def test_fat64_slices_signed(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """64-bit fat records are rewritten as such when a slice grows."""
    data = fat_bytes({"x86_64": files["x86_64"].foo.read_bytes(), "arm64": files["arm64"].foo.read_bytes()}, fat64=True)
    signed = adhoc_sign(data, path="libfoo.dylib")
    layout = macho_fat.split(signed.data, "x")
    assert layout.is_fat64
    assert layout.entries[0].size > len(files["x86_64"].foo.read_bytes())
    for entry, slice_ in zip(layout.entries, layout.slices, strict=True):
        assert entry.offset % (1 << entry.align) == 0
        thin = _write(tmp_path, f"{entry.cputype}.dylib", bytes(slice_))
        assert [p for p in _problems(thin) if p != ADHOC_NOTE] == []


REAL_WHEELS = [
    "pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl",  # delocated: libzmq, libsodium in .dylibs
    "pillow-13.0.0-cp312-cp312-macosx_11_0_arm64.whl",  # delocated, arm64, many dylibs
    "bcrypt-5.0.0-cp38-abi3-macosx_10_12_universal2.whl",  # PyO3 universal2, x86_64 slice unsigned
    "pydantic_core-2.50.4-cp312-cp312-macosx_10_12_x86_64.whl",
]


@pytest.mark.parametrize("filename", REAL_WHEELS)
def test_real_wheel_binaries_edited_and_signed(filename: str, all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """Every Mach-O of a real PyPI wheel: an rpath added (and a dylib's id set), signed, verified."""
    import zipfile

    with zipfile.ZipFile(all_real_wheels[filename]) as archive:
        members = [n for n in archive.namelist() if n.endswith((".so", ".dylib"))]
        assert members
        for member in members:
            data = archive.read(member)
            name = Path(member).name
            first = parse_macho_bytes(data, member)[0]
            install_id = f"/DLC/{name}" if first.own_name and first.own_name != name else None
            edit = MachOEdit(install_id=install_id, add_rpaths=("@loader_path/../wheelaudit.dylibs",))
            edited = edit_macho(data, edit, path=member)
            signed = adhoc_sign(edited.data, path=member)
            out = _write(tmp_path, name, signed.data)
            assert [p for p in _problems(out) if p != ADHOC_NOTE] == [], member
            for binary in parse_macho_bytes(signed.data, member):
                assert binary.rpath[-1] == "@loader_path/../wheelaudit.dylibs"
                assert install_id is None or binary.own_name == install_id
                assert binary.extra["signature"] == "adhoc"
