"""Telling binaries apart by their first bytes, without loading the format parsers.

Every member of a wheel is sniffed; the parsers (``elf``, ``macho``, ``pe``) are only
imported for the formats a wheel actually holds.
"""

from __future__ import annotations

import struct

from .model import BinaryFormat

ELF_MAGIC = b"\x7fELF"
MH_MAGIC = b"\xfe\xed\xfa\xce"  # 32-bit, big-endian on disk
MH_CIGAM = b"\xce\xfa\xed\xfe"  # 32-bit, little-endian
MH_MAGIC_64 = b"\xfe\xed\xfa\xcf"
MH_CIGAM_64 = b"\xcf\xfa\xed\xfe"
FAT_MAGIC = b"\xca\xfe\xba\xbe"  # fat headers are always big-endian
FAT_MAGIC_64 = b"\xca\xfe\xba\xbf"
MACHO_MAGICS: tuple[bytes, ...] = (MH_MAGIC, MH_CIGAM, MH_MAGIC_64, MH_CIGAM_64, FAT_MAGIC, FAT_MAGIC_64)
#: A fat header with more slices than this is a Java class file (same magic; there it is the version).
MAX_FAT_ARCHS = 0x20


def sniff(head: bytes) -> BinaryFormat | None:
    """The binary format a member's first bytes announce, or None for anything else."""
    if head[:4] == ELF_MAGIC:
        return BinaryFormat.ELF
    if is_macho(head):
        return BinaryFormat.MACHO
    if is_pe(head):
        return BinaryFormat.PE
    return None


def is_macho(head: bytes) -> bool:
    """True when ``head`` starts a thin or fat Mach-O (not a Java class file)."""
    magic = head[:4]
    if magic not in MACHO_MAGICS:
        return False
    if magic in (FAT_MAGIC, FAT_MAGIC_64):
        if len(head) < 8:
            return False
        return 0 < int.from_bytes(head[4:8], "big") < MAX_FAT_ARCHS
    return True


def is_pe(head: bytes) -> bool:
    """True for an MZ header whose ``e_lfanew`` points at ``PE\\0\\0`` inside ``head``.

    A PE header beyond ``head`` (normally the first 4 KiB) is not looked for: linkers put it
    within the first few hundred bytes, and a bare MZ is too weak a signal on its own.
    """
    if len(head) < 0x40 or head[:2] != b"MZ":
        return False
    (lfanew,) = struct.unpack_from("<I", head, 0x3C)
    return head[lfanew : lfanew + 4] == b"PE\0\0"
