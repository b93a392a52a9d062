"""The zip records a wheel is made of (PKWARE APPNOTE.TXT 6.3.x), in one place for the reader and the writer.

Every fixed-size record is a :class:`struct.Struct` whose fields are listed in the
order APPNOTE gives them (section numbers in the comments); all integers are
little-endian. :mod:`.zipdir` and :mod:`.archive` unpack them, :mod:`.writer`
packs them, so a layout cannot drift between reading and writing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

# -- signatures ----------------------------------------------------------------------------

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
DATA_DESCRIPTOR_SIG = b"PK\x07\x08"  # optional before a data descriptor (4.3.9.3)
EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
EOCD64_LOCATOR_SIG = b"PK\x06\x07"

# -- record layouts ------------------------------------------------------------------------

#: 4.3.7 local file header (30 bytes + name + extra): signature, version needed, flags, method,
#: time, date, CRC-32, compressed size, uncompressed size, name length, extra length.
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
#: Where the CRC-32 and the two sizes sit in a local header (a writer fills them in after the data).
LOCAL_CRC_AT = 14
#: 4.3.12 central directory file header (46 bytes + name + extra + comment): signature, version made
#: by, version needed, flags, method, time, date, CRC-32, compressed size, uncompressed size, name
#: length, extra length, comment length, disk number, internal attributes, external attributes,
#: local header offset.
CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
#: 4.3.16 end of central directory record (22 bytes + comment): signature, this disk, the directory's
#: disk, entries on this disk, entries, directory size, directory offset, comment length.
EOCD = struct.Struct("<4sHHHHIIH")
#: 4.3.14 ZIP64 end of central directory record (56 bytes + extensible data): signature, size of the
#: rest, version made by, version needed, this disk, the directory's disk, entries on this disk,
#: entries, directory size, directory offset.
EOCD64 = struct.Struct("<4sQHHIIQQQQ")
#: 4.3.15 ZIP64 end of central directory locator (20 bytes): signature, the ZIP64 record's disk,
#: its offset, number of disks.
EOCD64_LOCATOR = struct.Struct("<4sIQI")
#: 4.3.9 data descriptor after the signature: CRC-32, compressed size, uncompressed size; the same
#: three fields as a local header holds them at LOCAL_CRC_AT.
CRC_AND_SIZES = struct.Struct("<III")
#: ... and with ZIP64 sizes.
CRC_AND_SIZES64 = struct.Struct("<IQQ")
#: 4.5.1 the header of each extra field: header id, data size.
EXTRA_HEADER = struct.Struct("<HH")
#: 4.5.3 the sizes in a local header's ZIP64 extra field: uncompressed, then compressed.
ZIP64_LOCAL_SIZES = struct.Struct("<QQ")

# -- field values --------------------------------------------------------------------------

STORED, DEFLATED = 0, 8  # 4.4.5 compression methods
FLAG_ENCRYPTED = 0x1  # 4.4.4 general purpose bit 0
FLAG_DATA_DESCRIPTOR = 0x8  # bit 3: CRC-32 and sizes follow the data
FLAG_UTF8 = 0x800  # bit 11: name and comment are UTF-8 (else CP437)
ZIP64_EXTRA = 0x0001  # 4.5.3 header id of the ZIP64 extended information field
#: A 32-bit size or offset with this value is in the ZIP64 field instead (4.4.8).
ZIP64_LIMIT = 0xFFFFFFFF
#: A 16-bit entry count with this value is in the ZIP64 end record instead.
ZIP64_COUNT_LIMIT = 0xFFFF
MAX_COMMENT = 0xFFFF
VERSION_NEEDED = 20  # 4.4.3.2: 2.0, deflate and directories
VERSION_NEEDED_ZIP64 = 45  # 4.5: ZIP64 format extensions
MADE_BY_UNIX = (3 << 8) | 20  # 4.4.2: host system UNIX (external attributes hold mode bits), version 2.0
DOS_DIRECTORY = 0x10  # MS-DOS directory attribute, in the low byte of the external attributes


def iter_extra(extra: bytes) -> Iterator[tuple[int, int, bytes]]:
    """The fields of an extra block as (header id, declared size, data); data is cut short where the block ends."""
    pos = 0
    while pos + EXTRA_HEADER.size <= len(extra):
        tag, size = EXTRA_HEADER.unpack_from(extra, pos)
        pos += EXTRA_HEADER.size
        yield tag, size, extra[pos : pos + size]
        pos += size


def zip64_values(data: bytes) -> list[int]:
    """The 64-bit values of a ZIP64 extended information field, in order (only those marked 0xFFFFFFFF are present)."""
    return list(struct.unpack_from(f"<{len(data) // 8}Q", data))


def zip64_extra(*values: int) -> bytes:
    """A ZIP64 extended information field holding ``values`` (each 64 bits), header included."""
    return EXTRA_HEADER.pack(ZIP64_EXTRA, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values)
