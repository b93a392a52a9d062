"""Seed inputs for the fuzz test: real bytes to damage, for the ZIP reader and each binary parser.

ELF seeds come from the sample wheels (and, when the real-wheel cache is already filled, from
other architectures and byte orders; nothing is downloaded for the fuzz test). Mach-O seeds
are the synthetic ones of test_macho_pe_parsers plus cached real slices; the PE seed is built
here (imports, an ordinal import, delay-load imports, exports, a CodeView debug record), so
the fuzz test needs no Windows toolchain and no network.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

from .builders import CPU_ARM64, CPU_X86_64, PLATFORM_MACOS, build_fat, build_macho
from .conftest import SAMPLES
from .fuzzing import wheel_bytes, zip64ify
from .hostile import patch_central_directory, rewrite

MAX_SEED = 2_000_000  # bigger members cost time per case and add little


def _cache() -> Path:
    return Path(os.environ.get("WHEELAUDIT_WHEEL_CACHE", Path.home() / ".cache" / "wheelaudit" / "real-wheels"))


def _cached_members(platform_word: str, suffixes: tuple[str, ...], magic: tuple[bytes, ...], limit: int) -> list[bytes]:
    """Up to ``limit`` small binaries from already-downloaded real wheels whose name has ``platform_word``."""
    out: list[bytes] = []
    for wheel in sorted(_cache().glob(f"*{platform_word}*.whl")):
        try:
            with zipfile.ZipFile(wheel) as z:
                infos = [i for i in z.infolist() if i.filename.endswith(suffixes) and 0 < i.file_size <= MAX_SEED]
                for info in sorted(infos, key=lambda i: i.file_size)[:1]:
                    data = z.read(info)
                    if data.startswith(magic):
                        out.append(data)
        except (OSError, zipfile.BadZipFile):
            continue
        if len(out) >= limit:
            break
    return out


def elf_seeds() -> list[bytes]:
    out = []
    for prefix, member in (
        ("wa_sample_abi3-", "wa_sample_abi3/wa_sample_abi3.abi3.so"),
        ("wa_sample_versioned-", None),
        ("wa_sample_bin-", None),
    ):
        (wheel,) = SAMPLES.glob(f"{prefix}*.whl")
        with zipfile.ZipFile(wheel) as z:
            names = [member] if member else [n for n in z.namelist() if not n.endswith((".py", "RECORD", "WHEEL"))]
            for name in names:
                data = z.read(name)
                if data.startswith(b"\x7fELF"):
                    out.append(data)
                    break
    # other machines and byte orders (s390x is big-endian), when the cache already has them
    for word in ("s390x", "i686", "armv7l"):
        out += _cached_members(word, (".so",), (b"\x7fELF",), 1)
    return out


def macho_seeds() -> list[bytes]:
    out = [
        build_macho(),
        build_macho(cputype=CPU_ARM64, platform=PLATFORM_MACOS, minos="11.0"),
        build_macho(endian=">", is64=False, cputype=18),
        build_fat((CPU_X86_64, build_macho(minos="10.12")), (CPU_ARM64, build_macho(cputype=CPU_ARM64, minos="11.0"))),
    ]
    return out + _cached_members("macosx", (".so", ".dylib"), (b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"), 2)


def pe_seeds() -> list[bytes]:
    return [build_pe(), *_cached_members("win_amd64", (".pyd", ".dll"), (b"MZ",), 2)]


def zip_seeds(tmp: Path) -> list[bytes]:
    """Whole wheels: built ones for each format (deflated, stored, ZIP64) and hostile variants of a sample."""
    small = wheel_bytes("elf", elf_seeds()[0], zipfile.ZIP_DEFLATED)
    out = [small, zip64ify(small), wheel_bytes("pe", build_pe()), wheel_bytes("macho", macho_seeds()[3])]
    (sample,) = SAMPLES.glob("wa_sample_cffi-*.whl")
    out.append(sample.read_bytes())
    with zipfile.ZipFile(sample) as z:
        names = z.namelist()
    record = next(n for n in names if n.endswith("/RECORD"))
    binary = next(n for n in names if n.endswith(".so"))
    out.append(rewrite(sample, tmp / "renamed.whl", rename={binary: "../" + binary}).read_bytes())
    out.append(rewrite(sample, tmp / "norecord.whl", drop=(record,)).read_bytes())
    forged = rewrite(sample, tmp / "forged.whl")
    patch_central_directory(forged, binary, header_offset_of=record)
    out.append(forged.read_bytes())
    return out


# -- a small PE32+ DLL -------------------------------------------------------------------------


def build_pe() -> bytes:
    """An amd64 ``.pyd``: imports from python3.dll and KERNEL32.dll (one by ordinal), a delay-load
    import, an export directory with ``PyInit__ext``, and a CodeView debug record."""
    rdata_rva, rdata_raw = 0x2000, 0x600
    blob = bytearray()

    def place(data: bytes, align: int = 8) -> int:
        blob.extend(b"\0" * (-len(blob) % align))
        at = len(blob)
        blob.extend(data)
        return rdata_rva + at

    def hint_name(name: str) -> int:
        return place(struct.pack("<H", 0) + name.encode() + b"\0", 2)

    def thunks(entries: list[int]) -> int:
        return place(b"".join(struct.pack("<Q", e) for e in [*entries, 0]))

    imports = {"python3.dll": ["PyList_New", "PyModule_Create2"], "KERNEL32.dll": ["GetLastError", "#5"]}
    descriptors = []
    for dll, names in imports.items():
        entries = [(1 << 63) | int(n[1:]) if n.startswith("#") else hint_name(n) for n in names]
        lookup, address = thunks(entries), thunks(entries)
        descriptors.append(struct.pack("<IIIII", lookup, 0, 0, place(dll.encode() + b"\0", 2), address))
    import_dir = place(b"".join(descriptors) + b"\0" * 20, 4)
    delay_names = thunks([hint_name("DelayedFunction")])
    delay_iat = thunks([0])
    handle = place(b"\0" * 8)
    delay_dir = place(
        struct.pack("<8I", 1, place(b"delayed.dll\0", 2), handle, delay_iat, delay_names, 0, 0, 0) + bytes(32)
    )
    functions = place(struct.pack("<I", 0x1000), 4)
    name_table = place(struct.pack("<I", place(b"PyInit__ext\0", 2)), 4)
    ordinals = place(struct.pack("<H", 0), 2)
    dll_name = place(b"_ext.pyd\0", 2)
    export_dir = place(struct.pack("<IIHHIIIIIII", 0, 0, 0, 0, dll_name, 1, 1, 1, functions, name_table, ordinals), 4)
    codeview = b"RSDS" + bytes(range(16)) + struct.pack("<I", 1) + b"C:\\build\\_ext.pdb\0"
    cv_rva = place(codeview, 4)
    debug_dir = place(struct.pack("<IIHHIIII", 0, 0, 0, 0, 2, len(codeview), cv_rva, rdata_raw + cv_rva - rdata_rva), 4)
    blob.extend(b"\0" * (-len(blob) % 0x200))

    directories = [(0, 0)] * 16
    directories[0] = (export_dir, 40)
    directories[1] = (import_dir, 20 * (len(imports) + 1))
    directories[6] = (debug_dir, 28)
    directories[13] = (delay_dir, 64)
    size_of_image = rdata_rva + (len(blob) + 0xFFF) // 0x1000 * 0x1000
    optional = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B, 14, 0, 0x200, len(blob), 0, 0x1000, 0x1000, 0x180000000, 0x1000, 0x200,
        6, 0, 0, 0, 6, 0, 0, size_of_image, 0x400, 0, 2, 0x160,
        0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    )  # fmt: skip
    optional += b"".join(struct.pack("<II", *d) for d in directories)
    coff = struct.pack("<HHIIIHH", 0x8664, 2, 0, 0, 0, len(optional), 0x2022)
    text = struct.pack("<8sIIIIIIHHI", b".text", 0x200, 0x1000, 0x200, 0x400, 0, 0, 0, 0, 0x60000020)
    rdata = struct.pack("<8sIIIIIIHHI", b".rdata", len(blob), rdata_rva, len(blob), rdata_raw, 0, 0, 0, 0, 0x40000040)
    dos = bytearray(64)
    dos[:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    headers = (bytes(dos) + b"PE\0\0" + coff + optional + text + rdata).ljust(0x400, b"\0")
    code = b"\xc3".ljust(0x200, b"\0")  # ret
    return headers + code + bytes(blob)
