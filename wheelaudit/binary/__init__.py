"""Binary formats: sniffing by magic bytes and turning members into neutral :class:`Binary` records."""

from __future__ import annotations

from ..archive import Member, WheelArchive
from ..errors import MalformedBinary
from .elf import ELF_MAGIC, parse_elf
from .model import Binary, BinaryFormat, BinaryKind, ImportedSymbol, VersionNeed

__all__ = ["Binary", "BinaryFormat", "BinaryKind", "ImportedSymbol", "VersionNeed", "analyze_member", "sniff"]

#: Keep this much of the start of a deflated member: ELF symbol and version tables live there.
RETAIN_PREFIX = 4 * 1024 * 1024
SNIFF_BYTES = 4096


def sniff(head: bytes) -> BinaryFormat | None:
    """The binary format a member's first bytes announce, or None for anything else."""
    if head[:4] == ELF_MAGIC:
        return BinaryFormat.ELF
    try:
        from .macho import is_macho
        from .pe import is_pe
    except ImportError:  # pragma: no cover - during bring-up only
        return None
    if is_macho(head):
        return BinaryFormat.MACHO
    if is_pe(head):
        return BinaryFormat.PE
    return None


def analyze_member(archive: WheelArchive, member: Member) -> list[Binary]:
    """The binaries in one member (several for a fat Mach-O), or [] when it is not a binary."""
    if member.size < 16 or member.is_symlink:
        return []
    with archive.open(member, retain=RETAIN_PREFIX) as stream:
        head = stream.read_at(0, min(SNIFF_BYTES, member.size))
        fmt = sniff(head)
        if fmt is None:
            return []
        try:
            if fmt is BinaryFormat.ELF:
                return [parse_elf(stream.read_at, member.name, member.size)]
            if fmt is BinaryFormat.MACHO:
                from .macho import parse_macho

                return parse_macho(_StreamFile(stream), member.name, member.size)
            from .pe import parse_pe

            return [parse_pe(_StreamFile(stream), member.name, member.size)]
        except EOFError as exc:
            raise MalformedBinary(f"{member.name}: truncated {fmt.value} file ({exc})", path=member.name) from None


class _StreamFile:
    """A minimal read/seek/tell file object over a member stream, for parsers that want one."""

    def __init__(self, stream: object) -> None:
        from ..archive import MemberStream

        assert isinstance(stream, MemberStream)
        self._stream = stream
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._stream.size - self._pos
        size = max(0, min(size, self._stream.size - self._pos))
        data = self._stream.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._stream.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True
