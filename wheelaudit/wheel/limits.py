"""What a wheel may be before anything is inflated: safe member names, sizes, and the zip-bomb rules.

Each check works on the central directory alone, so a hostile archive is refused
from its directory (a few reads) before any member data is touched. Unsafe input
raises :class:`UnsafeWheel`; input that is only broken raises :class:`InvalidWheel`.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping

from .._typing import TYPE_CHECKING
from ..errors import InvalidWheel, UnsafeWheel
from .zipdir import Member, MemberTable, iter_raw_entries
from .zipformat import DEFLATED, FLAG_ENCRYPTED, LOCAL_HEADER, STORED

if TYPE_CHECKING:
    from typing import BinaryIO

#: Metadata files (WHEEL, METADATA, RECORD) larger than this are refused.
METADATA_SIZE_LIMIT = 64 * 1024 * 1024
#: Deflate cannot expand data by more than ~1032:1; anything claiming more is forged.
MAX_DEFLATE_RATIO = 1100
#: The sum of declared member sizes above which a wheel is refused as a zip bomb.
TOTAL_SIZE_LIMIT = 64 * 1024**3
MAX_MEMBERS = 500_000

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (as code points)
#: Anything that may make a name unsafe; names without a match (nearly all) skip the detailed checks.
_ODD_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f\\]|^/|^[A-Za-z]:|(?:^|/)\.\.(?:/|$)|//|^$")


def check_member_name(name: str) -> str | None:
    """Why a member name is unsafe to extract, or None when it is fine."""
    if _SUSPECT.search(name) is None:
        return None
    if not name:
        return "empty member name"
    if "\x00" in name:
        return f"member name {name!r} contains a NUL byte"
    if _CONTROL.search(name):  # a name is data: it must not be able to drive a terminal or forge a line
        return f"member name {name!r} contains a control character"
    if "\\" in name:
        return f"member name {name!r} contains a backslash"
    if name.startswith("/"):
        return f"member name {name!r} is absolute"
    if _DRIVE.match(name):
        return f"member name {name!r} starts with a drive letter"
    parts = name.rstrip("/").split("/")
    if any(part == ".." for part in parts):
        return f"member name {name!r} escapes the install directory with '..'"
    if any(part == "" for part in parts):
        return f"member name {name!r} has an empty path component"
    return None


def shown_name(name: str, limit: int = 120) -> str:
    """A member name for a one-line message: quoted, and cut short when it is very long (up to 64 KiB)."""
    return repr(name) if len(name) <= limit else f"{name[:limit]!r} (+{len(name) - limit} characters)"


def check_fields(name: str, flags: int, method: int, csize: int, size: int, seen: Container[str], wheel: str) -> None:
    """Refuse one central-directory entry: unsafe or repeated name, encryption, a method or sizes no wheel has."""
    problem = check_member_name(name)
    if problem:
        raise UnsafeWheel(f"{wheel}: {problem}")
    if name in seen:
        raise UnsafeWheel(f"{wheel}: member {name!r} appears twice")
    if flags & FLAG_ENCRYPTED:
        raise InvalidWheel(f"{wheel}: member {name!r} is encrypted")
    if method not in (STORED, DEFLATED):
        raise InvalidWheel(f"{wheel}: member {name!r} uses compression method {method}; wheels use stored or deflate")
    if method == STORED and csize != size:
        raise InvalidWheel(f"{wheel}: stored member {name!r} has inconsistent sizes")
    if size > max(csize, 1) * MAX_DEFLATE_RATIO and size > 1 << 20:
        raise UnsafeWheel(f"{wheel}: member {name!r} claims {size} bytes from {csize} compressed (a zip bomb)")


def read_members(fh: BinaryIO, file_size: int, wheel: str) -> MemberTable:
    """The central directory as a :class:`MemberTable`, every entry checked as it is read, then the total size.

    Raises :class:`.zipdir.BadZip` for a damaged directory (the caller words it).
    """
    table = MemberTable()
    position, sizes, csizes, methods, offsets, crcs, modes = table.columns()
    add_size, add_csize, add_method = sizes.append, csizes.append, methods.append
    add_offset, add_crc, add_mode = offsets.append, crcs.append, modes.append
    odd_character = _ODD_CHARACTER.search
    checksum = [0, 0, 0]
    entries = iter_raw_entries(fh, file_size, max_entries=MAX_MEMBERS, checksum=checksum)
    for name, flags, method, crc, csize, size, offset, attr in entries:
        # The usual member is checked inline (a wheel may hold 500,000); anything else gets the full check.
        # A name with none of the characters or sequences _SUSPECT looks for (one character class and a
        # few substring tests take a quarter of the time of that regex); ".." and ":" anywhere are sent on.
        usual = (
            name
            and odd_character(name) is None
            and "//" not in name
            and ".." not in name
            and name[0] != "/"
            and name[1:2] != ":"
            and name not in position
            and not flags & FLAG_ENCRYPTED
        )
        if not (
            usual
            and (
                (method == DEFLATED and (size <= 1 << 20 or size <= max(csize, 1) * MAX_DEFLATE_RATIO))
                or (method == STORED and csize == size)
            )
        ):
            check_fields(name, flags, method, csize, size, position, wheel)
        position[name] = len(position)
        add_size(size)
        add_csize(csize)
        add_method(method)
        add_offset(offset)
        add_crc(crc)
        add_mode((attr >> 16) & 0xFFFF)
    check_total_size(table.total_size(), wheel)
    crc, directory_size, read = checksum
    if read == directory_size:
        table.directory = (crc, directory_size)
    return table


def check_total_size(total: int, wheel: str) -> None:
    if total > TOTAL_SIZE_LIMIT:
        raise UnsafeWheel(f"{wheel}: members add up to {total} bytes uncompressed (a zip bomb)")


def check_overlaps(members: MemberTable, file_size: int, wheel: str) -> None:
    """Refuse members whose data overlap (the trick behind non-recursive zip bombs)."""
    previous = ""
    end = -1
    for name, offset, csize in members.in_offset_order():
        if end > offset:
            raise UnsafeWheel(f"{wheel}: members {previous!r} and {name!r} overlap (a zip bomb)")
        previous = name
        end = offset + LOCAL_HEADER.size + len(name.encode()) + csize
    if end > file_size:
        raise InvalidWheel(f"{wheel} is truncated: member {previous!r} runs past the end of the file")


def check_file_directory_clashes(members: Mapping[str, Member], wheel: str) -> None:
    """Refuse a file whose name is also a directory of other members: no installer can unpack both."""
    parents = {name.rstrip("/").rpartition("/")[0] for name in members}  # few distinct ones
    directories: set[str] = set()
    for parent in parents:
        while parent and parent not in directories:
            directories.add(parent)
            parent = parent.rpartition("/")[0]
    for directory in sorted(directories):
        if directory in members:
            raise UnsafeWheel(f"{wheel}: {shown_name(directory)} is both a file and a directory of other members")
