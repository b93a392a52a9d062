"""The load-command list of one thin Mach-O slice, read for rewriting and written back in place.

Rewriting never moves a segment: the new list must fit between the mach header and the
first byte of segment content (the "header padding" ``ld -headerpad`` reserves). When it does
not, :class:`HeaderPaddingError` says by how many bytes, which is what install_name_tool and
macholib refuse on too; LIEF instead shifts the content, which we do not want to trust.
Layouts follow ``<mach-o/loader.h>``.
"""

from __future__ import annotations

import struct

from ..._typing import TYPE_CHECKING
from ...errors import MalformedBinary, RepairError
from ...record import record

if TYPE_CHECKING:
    from .fat import Buffer

LC_REQ_DYLD = 0x80000000
LC_SEGMENT = 0x1
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_SEGMENT_64 = 0x19
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_CODE_SIGNATURE = 0x1D
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LAZY_LOAD_DYLIB = 0x20
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD

DYLIB_LOADS = (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB)

_THIN = {
    b"\xce\xfa\xed\xfe": ("<", False),
    b"\xcf\xfa\xed\xfe": ("<", True),
    b"\xfe\xed\xfa\xce": (">", False),
    b"\xfe\xed\xfa\xcf": (">", True),
}
_ZEROFILL_TYPES = (0x1, 0xC, 0x12)
_CPU_NAMES = {0x01000007: "x86_64", 7: "i386", 0x0100000C: "arm64", 0x0200000C: "arm64_32", 12: "arm"}


class HeaderPaddingError(RepairError):
    """The new load commands do not fit in the header padding; segments are never shifted.

    ``missing`` is how many more bytes of padding the slice would need (a relink with
    ``-headerpad_max_install_names`` or ``-Wl,-headerpad,0x...`` makes room).
    """

    def __init__(self, path: str, arch: str, missing: int) -> None:
        super().__init__(
            f"{path} ({arch}): the new load commands need {missing} more bytes than the header padding holds; "
            "relink it with -headerpad_max_install_names or choose shorter names",
            path=path,
        )
        self.arch = arch
        self.missing = missing


@record
class Commands:
    """One slice's mach header fields and its load commands as raw bytes, in file order."""

    endian: str  # "<" or ">" for struct
    is64: bool
    cputype: int
    cpusubtype: int
    filetype: int
    header_size: int
    commands: list[bytes]  # each with its cmd/cmdsize header
    data_start: int  # first byte of segment content: the commands must end at or before it

    @property
    def arch(self) -> str:
        name = _CPU_NAMES.get(self.cputype & 0xFFFFFFFF, f"cpu-{self.cputype & 0xFFFFFFFF:#x}")
        if name == "arm64" and self.cpusubtype & 0xFFFFFF == 2:
            return "arm64e"
        return name

    @property
    def align(self) -> int:
        """cmdsize must be a multiple of this (8 on 64-bit, 4 on 32-bit)."""
        return 8 if self.is64 else 4

    def cmd(self, raw: bytes) -> int:
        return int(struct.unpack_from(self.endian + "I", raw, 0)[0])

    def u32(self, raw: bytes, offset: int) -> int:
        return int(struct.unpack_from(self.endian + "I", raw, offset)[0])

    def string(self, raw: bytes) -> str:
        """The lc_str of a dylib or rpath command (its offset is the first field after cmdsize)."""
        start = self.u32(raw, 8)
        if not 8 < start < len(raw):
            raise MalformedBinary(f"load command string offset {start} outside its {len(raw)}-byte command")
        end = raw.find(b"\0", start)
        return raw[start : end if end >= 0 else len(raw)].decode("utf-8", "surrogateescape")

    def padded(self, size: int) -> int:
        return -(-size // self.align) * self.align

    def string_command(self, raw: bytes, name: str) -> bytes:
        """``raw`` (a dylib or rpath command) with its string replaced; fixed fields kept."""
        start = self.u32(raw, 8)
        encoded = name.encode("utf-8", "surrogateescape")
        if b"\0" in encoded:
            raise RepairError(f"a load command name cannot contain a NUL byte: {name!r}")
        size = self.padded(start + len(encoded) + 1)
        body = raw[8:start] + encoded
        return struct.pack(self.endian + "II", self.cmd(raw), size) + body + bytes(size - 8 - len(body))

    def rpath_command(self, path: str) -> bytes:
        encoded = path.encode("utf-8", "surrogateescape")
        size = self.padded(12 + len(encoded) + 1)
        body = struct.pack(self.endian + "III", LC_RPATH, size, 12) + encoded
        return body + bytes(size - len(body))


def read(data: Buffer, path: str) -> Commands:
    """Parse the header and load commands of the thin slice ``data``."""
    magic = bytes(data[:4])
    if magic not in _THIN:
        raise MalformedBinary(f"{path}: not a thin Mach-O slice", path=path)
    endian, is64 = _THIN[magic]
    header_size = 32 if is64 else 28
    if len(data) < header_size:
        raise MalformedBinary(f"{path}: truncated Mach-O header", path=path)
    cputype, cpusubtype, filetype, ncmds, sizeofcmds = struct.unpack_from(endian + "iiIII", data, 4)
    end = header_size + sizeofcmds
    if end > len(data):
        raise MalformedBinary(f"{path}: load commands run past the end of the file", path=path)
    commands: list[bytes] = []
    offset = header_size
    data_start = len(data)
    for _ in range(ncmds):
        if offset + 8 > end:
            raise MalformedBinary(f"{path}: load command list ends early", path=path)
        cmd, size = struct.unpack_from(endian + "II", data, offset)
        if size < 8 or offset + size > end:
            raise MalformedBinary(f"{path}: load command {cmd:#x} has bad size {size}", path=path)
        raw = bytes(data[offset : offset + size])
        if cmd in (LC_SEGMENT, LC_SEGMENT_64):
            data_start = min(data_start, _segment_data_start(raw, endian, cmd == LC_SEGMENT_64, path))
        commands.append(raw)
        offset += size
    if data_start < end:
        raise MalformedBinary(f"{path}: segment content overlaps the load commands", path=path)
    return Commands(endian, is64, cputype, cpusubtype, filetype, header_size, commands, data_start)


def _segment_data_start(raw: bytes, endian: str, is64: bool, path: str) -> int:
    if is64:
        head, sec_size, seg_fmt, sec_fmt = 72, 80, "16sQQQQiiII", "16s16sQQIIIIIIII"
    else:
        head, sec_size, seg_fmt, sec_fmt = 56, 68, "16sIIIIiiII", "16s16sIIIIIIIII"
    if len(raw) < head:
        raise MalformedBinary(f"{path}: segment command too short", path=path)
    _name, _vmaddr, _vmsize, fileoff, filesize, _maxprot, _initprot, nsects, _flags = struct.unpack_from(
        endian + seg_fmt, raw, 8
    )
    if head + nsects * sec_size > len(raw):
        raise MalformedBinary(f"{path}: {nsects} sections do not fit in their segment command", path=path)
    first = fileoff if fileoff and filesize else 1 << 64
    for index in range(nsects):
        fields = struct.unpack_from(endian + sec_fmt, raw, head + index * sec_size)
        size, offset, flags = int(fields[3]), int(fields[4]), int(fields[8])
        if offset and size and (flags & 0xFF) not in _ZEROFILL_TYPES:
            first = min(first, offset)
    return int(first)


def write(data: Buffer, header: Commands, commands: list[bytes], path: str, *, reserve: int = 0) -> bytes:
    """``data`` with its load commands replaced by ``commands``, in place.

    ``reserve`` more bytes must remain free after them (room the signer will need for an
    LC_CODE_SIGNATURE), or :class:`HeaderPaddingError` is raised. Bytes the old list used
    beyond the new end are zeroed, as the linker leaves the padding.
    """
    blob = b"".join(commands)
    old_end = header.header_size + sum(len(c) for c in header.commands)
    new_end = header.header_size + len(blob)
    if new_end + reserve > header.data_start:
        raise HeaderPaddingError(path, header.arch, new_end + reserve - header.data_start)
    head = bytearray(data[: header.header_size])
    struct.pack_into(header.endian + "II", head, 16, len(commands), len(blob))
    rest = memoryview(data)[max(new_end, old_end) :]
    try:  # one copy of a possibly large slice
        return b"".join((head, blob, bytes(max(0, old_end - new_end)), rest))
    finally:
        rest.release()
