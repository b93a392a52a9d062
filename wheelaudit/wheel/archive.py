"""Reading a wheel without extracting it (PEP 427, PEP 491).

The zip central directory says where every member lies, so members are read in
place: metadata files whole (with a size cap), binaries through
:class:`MemberStream`, which inflates only as far as the analysis asks. Names and
sizes are checked up front so a hostile archive is refused before any member is
inflated.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from ..errors import InvalidWheel, UnsafeWheel
from ..platforms.tags import InvalidWheelFilename, canonical_name, parse_wheel_filename
from .inflate import INFLATE_ERRORS, crc32, crc32_combine, new_raw_decompressor
from .splitinflate import (
    END_FRACTION,
    LONG_READ,
    MIN_COMPRESSED_DISTANCE,
    MIN_DISTANCE,
    SPLIT_FRACTION,
    VERIFY_BYTES,
    WINDOW,
    AheadDecoder,
    is_block_start,
    last_window,
    long_read,
    release_helper,
    reserve_helper,
    split_enabled,
)
from .zipdir import DEFLATED, STORED, BadZip, ZipEntry, iter_central_directory

#: Metadata files (WHEEL, METADATA, RECORD) larger than this are refused.
METADATA_SIZE_LIMIT = 64 * 1024 * 1024
#: Deflate cannot expand data by more than ~1032:1; anything claiming more is forged.
MAX_DEFLATE_RATIO = 1100
#: The sum of declared member sizes above which a wheel is refused as a zip bomb.
TOTAL_SIZE_LIMIT = 64 * 1024**3
MAX_MEMBERS = 500_000

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_DATA_DESCRIPTOR = 0x8  # general purpose flag: CRC and sizes follow the data
_ZIP64_EXTRA = 0x0001
_DRIVE = re.compile(r"^[A-Za-z]:")


class Member(NamedTuple):
    """One zip entry, as the central directory describes it.

    A named tuple rather than a dataclass: a wheel may hold hundreds of thousands of
    members, and a tuple takes half the memory and a fraction of the time to create.
    """

    name: str
    size: int
    compressed_size: int
    compress_type: int
    header_offset: int
    crc: int
    mode: int  # unix mode bits from external_attr, 0 when the zip has none

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)

    @property
    def basename(self) -> str:
        return self.name.rstrip("/").rsplit("/", 1)[-1]


class RecordRow(NamedTuple):
    """One line of RECORD, as written (hash and size may be empty); a named tuple, like :class:`Member`."""

    path: str
    hash: str  # "sha256=<urlsafe b64>" or ""
    size: str  # decimal string or ""


@dataclass(frozen=True)
class WheelInfo:
    """What WHEEL, METADATA and the file name say about the wheel."""

    filename: str
    name: str  # canonical distribution name from the file name
    version: str
    build: str
    file_tags: tuple[str, ...]  # "py3-none-manylinux_2_17_x86_64", expanded from the file name
    wheel_tags: tuple[str, ...]  # Tag: lines of WHEEL, in order
    root_is_purelib: bool
    wheel_version: str
    generator: str
    metadata_name: str
    metadata_version: str
    dist_info: str  # "name-1.0.dist-info"
    data_dir: str  # "name-1.0.data"

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """Platform tags from the file name, in file-name order, without repeats."""
        seen: dict[str, None] = {}
        for tag in self.file_tags:
            seen.setdefault(tag.split("-")[2], None)
        return tuple(seen)


def parse_headers(text: str) -> dict[str, list[str]]:
    """The header block of WHEEL or METADATA (RFC 822 style): field name -> values, in order.

    Only the header block matters here (METADATA's body is the long description), so
    this reads up to the first blank line; folded lines continue the previous value.
    Field names compare case-insensitively, as the core metadata spec says.
    """
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and last:
            last[-1] = f"{last[-1]} {line.strip()}"
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = fields.setdefault(_FIELD_CASE.get(name.strip().lower(), name.strip()), [])
        last.append(value.strip())
    return fields


_FIELD_CASE = {
    name.lower(): name for name in ("Wheel-Version", "Root-Is-Purelib", "Tag", "Build", "Generator", "Name", "Version")
}


def _first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (as code points)


#: Anything that may make a name unsafe; names without a match (nearly all) skip the detailed checks.
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


def _shown_name(name: str, limit: int = 120) -> str:
    """A member name for a one-line message: quoted, and cut short when it is very long (up to 64 KiB)."""
    return repr(name) if len(name) <= limit else f"{name[:limit]!r} (+{len(name) - limit} characters)"


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes when a file is rewritten or replaced: device, inode, size, mtime and ctime (ns)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _encodings(name: str) -> tuple[bytes, ...]:
    """How a member name may be spelled in a local header: UTF-8, or CP437 without the UTF-8 flag."""
    if name.isascii():
        return (name.encode("ascii"),)
    spellings = [name.encode("utf-8")]
    with contextlib.suppress(UnicodeEncodeError):
        spellings.append(name.encode("cp437"))
    return tuple(spellings)


def _extra_ids(extra: bytes) -> dict[int, bytes]:
    """The fields of a local extra block, by header id (a malformed tail is ignored)."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        fields.setdefault(tag, extra[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return fields


def _local_sizes(extra: bytes, csize: int, usize: int) -> tuple[int, int]:
    """(compressed, uncompressed) size from a local header, taking ZIP64 values where marked 0xFFFFFFFF."""
    if 0xFFFFFFFF not in (csize, usize):
        return csize, usize
    field = _extra_ids(extra).get(_ZIP64_EXTRA, b"")
    values = list(struct.unpack_from(f"<{len(field) // 8}Q", field))
    if usize == 0xFFFFFFFF and values:  # local ZIP64 fields come in this order: size, then compressed size
        usize = values.pop(0)
    if csize == 0xFFFFFFFF and values:
        csize = values.pop(0)
    return csize, usize


class WheelArchive:
    """An open wheel: validated member list, parsed WHEEL/METADATA/RECORD, lazy member I/O.

    The archive file is never written to. Each :class:`MemberStream` opens its own
    file handle, so members can be read from several threads at once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.file_size = self._check_file()
        self.members: dict[str, Member] = self._read_directory()
        self.info = self._read_info()
        self.record: dict[str, RecordRow] = self._read_record()

    # -- structure -----------------------------------------------------------------

    def _check_file(self) -> int:
        try:
            st = self.path.stat()
        except OSError as exc:
            raise InvalidWheel(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidWheel(f"{self.path} is not a regular file")
        if not self.path.name.endswith(".whl"):
            raise InvalidWheel(f"{self.path.name} is not a wheel: the name does not end in .whl")
        self._identity = _identity(st)
        return st.st_size

    def check_unchanged(self) -> None:
        """Raise if the file is no longer the one opened (rewritten, replaced, grown or cut since).

        A repair reads the input for seconds; a build writing the same path meanwhile
        would otherwise give a wheel made of two different inputs.
        """
        try:
            now = _identity(self.path.stat())
        except OSError as exc:
            raise InvalidWheel(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if now != self._identity:
            raise InvalidWheel(f"{self.path} changed while it was being read; run again once it is written")

    def _read_directory(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        total = 0
        try:
            with open(self.path, "rb") as fh:
                for info in iter_central_directory(fh, self.file_size, max_entries=MAX_MEMBERS):
                    total += info.size
                    members[info.name] = self._member(info, members)
        except BadZip as exc:
            raise InvalidWheel(f"{self.path.name} is not a valid zip archive ({exc})") from None
        except (OSError, EOFError, struct.error) as exc:
            raise InvalidWheel(f"{self.path.name} is not a readable zip archive ({exc})") from None
        if total > TOTAL_SIZE_LIMIT:
            raise UnsafeWheel(f"{self.path.name}: members add up to {total} bytes uncompressed (a zip bomb)")
        self._check_overlaps(members)
        self._check_file_directory_clashes(members)
        return members

    def _check_file_directory_clashes(self, members: dict[str, Member]) -> None:
        """Refuse a file whose name is also a directory of other members: no installer can unpack both."""
        parents = {name.rstrip("/").rpartition("/")[0] for name in members}  # few distinct ones
        directories: set[str] = set()
        for parent in parents:
            while parent and parent not in directories:
                directories.add(parent)
                parent = parent.rpartition("/")[0]
        for directory in sorted(directories):
            if directory in members:
                raise UnsafeWheel(
                    f"{self.path.name}: {_shown_name(directory)} is both a file and a directory of other members"
                )

    def _member(self, info: ZipEntry, members: dict[str, Member]) -> Member:
        """One central-directory entry as a :class:`Member`, once it passes every check."""
        problem = check_member_name(info.name)
        if problem:
            raise UnsafeWheel(f"{self.path.name}: {problem}")
        if info.name in members:
            raise UnsafeWheel(f"{self.path.name}: member {info.name!r} appears twice")
        if info.flags & 0x1:
            raise InvalidWheel(f"{self.path.name}: member {info.name!r} is encrypted")
        if info.method not in (STORED, DEFLATED):
            raise InvalidWheel(
                f"{self.path.name}: member {info.name!r} uses compression method "
                f"{info.method}; wheels use stored or deflate"
            )
        if info.method == STORED and info.compressed_size != info.size:
            raise InvalidWheel(f"{self.path.name}: stored member {info.name!r} has inconsistent sizes")
        if info.size > max(info.compressed_size, 1) * MAX_DEFLATE_RATIO and info.size > 1 << 20:
            raise UnsafeWheel(
                f"{self.path.name}: member {info.name!r} claims {info.size} bytes from "
                f"{info.compressed_size} compressed (a zip bomb)"
            )
        return Member(
            name=info.name,
            size=info.size,
            compressed_size=info.compressed_size,
            compress_type=info.method,
            header_offset=info.header_offset,
            crc=info.crc,
            mode=(info.external_attr >> 16) & 0xFFFF,
        )

    def _check_overlaps(self, members: dict[str, Member]) -> None:
        """Refuse members whose data overlap (the trick behind non-recursive zip bombs)."""
        previous: Member | None = None
        end = 0
        for member in sorted(members.values(), key=lambda m: m.header_offset):  # references only
            if previous is not None and end > member.header_offset:
                raise UnsafeWheel(
                    f"{self.path.name}: members {previous.name!r} and {member.name!r} overlap (a zip bomb)"
                )
            previous = member
            end = member.header_offset + _LOCAL_HEADER.size + len(member.name.encode()) + member.compressed_size
        if previous is not None and end > self.file_size:
            raise InvalidWheel(f"{self.path.name} is truncated: member {previous.name!r} runs past the end of the file")

    def _read_info(self) -> WheelInfo:
        try:
            parsed = parse_wheel_filename(self.path.name)
        except InvalidWheelFilename as exc:
            raise InvalidWheel(f"{self.path.name}: invalid wheel file name ({exc})") from None
        dist_info = self._find_dist_info(parsed.name)
        wheel_text = self._read_text(f"{dist_info}/WHEEL", required=True)
        headers = parse_headers(wheel_text)
        wheel_version = _first(headers, "Wheel-Version")
        if not wheel_version:
            raise InvalidWheel(f"{self.path.name}: {dist_info}/WHEEL has no Wheel-Version")
        if wheel_version.split(".")[0] != "1":
            raise InvalidWheel(f"{self.path.name}: unsupported Wheel-Version {wheel_version}")
        metadata = parse_headers(self._read_text(f"{dist_info}/METADATA", required=False))
        return WheelInfo(
            filename=self.path.name,
            name=parsed.name,
            version=parsed.version,
            build=parsed.build,
            file_tags=parsed.tags,
            wheel_tags=tuple(headers.get("Tag", ())),
            root_is_purelib=_first(headers, "Root-Is-Purelib").lower() == "true",
            wheel_version=wheel_version,
            generator=_first(headers, "Generator"),
            metadata_name=_first(metadata, "Name"),
            metadata_version=_first(metadata, "Version"),
            dist_info=dist_info,
            data_dir=dist_info[: -len(".dist-info")] + ".data",
        )

    def _find_dist_info(self, name: str) -> str:
        candidates = sorted(
            {m.split("/", 1)[0] for m in self.members if m.split("/", 1)[0].endswith(".dist-info") and "/" in m}
        )
        if not candidates:
            raise InvalidWheel(f"{self.path.name} has no .dist-info directory")
        matching = [c for c in candidates if canonical_name(c[: -len(".dist-info")].rsplit("-", 1)[0]) == name]
        if len(matching) == 1:
            return matching[0]
        if len(candidates) == 1:
            return candidates[0]
        raise InvalidWheel(f"{self.path.name} has several .dist-info directories: {', '.join(candidates)}")

    def _read_text(self, name: str, *, required: bool) -> str:
        member = self.members.get(name)
        if member is None:
            if required:
                raise InvalidWheel(f"{self.path.name} has no {name}")
            return ""
        data = self.read_member(member, limit=METADATA_SIZE_LIMIT)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWheel(f"{self.path.name}: {name} is not UTF-8") from None

    def _read_record(self) -> dict[str, RecordRow]:
        record_name = f"{self.info.dist_info}/RECORD"
        text = self._read_text(record_name, required=True)
        rows: dict[str, RecordRow] = {}
        try:
            # Lines, not io.StringIO: its buffer takes four bytes a character (RECORD of 500,000 rows: 200 MB).
            for row in csv.reader(text.splitlines(keepends=True)):
                if not row:
                    continue
                if len(row) != 3:
                    raise InvalidWheel(f"{self.path.name}: {record_name} has a row with {len(row)} fields: {row[:3]!r}")
                rows[row[0]] = RecordRow(row[0], row[1], row[2])
        except csv.Error as exc:
            raise InvalidWheel(f"{self.path.name}: {record_name} is not valid CSV ({exc})") from None
        return rows

    # -- member access -------------------------------------------------------------

    @property
    def record_name(self) -> str:
        return f"{self.info.dist_info}/RECORD"

    def files(self) -> Iterator[Member]:
        """Members that are files (not directory entries), in archive order."""
        return (m for m in self.members.values() if not m.is_dir)

    def read_member(self, member: Member, *, limit: int) -> bytes:
        """Read a whole (small) member; refuse members larger than ``limit``."""
        if member.size > limit:
            raise UnsafeWheel(f"{self.path.name}: {member.name} is {member.size} bytes (limit {limit})")
        with self.open(member) as stream:
            data = stream.read_at(0, member.size)
            stream.check_integrity()
            return data

    def open(
        self,
        member: Member,
        *,
        retain: int = 0,
        split: bool = True,
        to_end: bool = False,
        fh: BinaryIO | None = None,
    ) -> MemberStream:
        """A random-access stream over ``member``; ``split=False`` never uses a second decoder.

        ``to_end``: the caller will read the member to its end (``check_integrity``), so a
        second decoder runs on to the end after a far read instead of leaving that to the first.
        ``fh``: an open handle on the archive to use (and leave open) instead of a new one,
        for one thread copying many members in a row.
        """
        return MemberStream(self.path, member, retain=retain, split=split, to_end=to_end, fh=fh)


class MemberStream:
    """Random-access reads of one member's bytes, inflating no further than asked.

    Stored members are read with a seek. Deflated members are inflated forwards
    only as far as the furthest byte requested; the first ``retain`` bytes are kept
    so that later reads of early tables (where ELF keeps its symbol tables) cost
    nothing. A read behind both the kept prefix and the current position starts
    the inflation over, which is correct for any layout and cheap for the usual
    one. Memory held: the kept prefix plus the requested window.
    """

    CHUNK = 1 << 20  # compressed bytes read at a time
    OUTPUT_CHUNK = 8 << 20  # most inflated bytes produced per call: bounds memory, keeps calls few

    def __init__(
        self,
        archive_path: Path,
        member: Member,
        *,
        retain: int = 0,
        split: bool = True,
        to_end: bool = False,
        fh: BinaryIO | None = None,
    ) -> None:
        self.member = member
        self.size = member.size
        self._where = f"{archive_path.name}: member {_shown_name(member.name)}"
        self.restarts = 0
        self.inflated = 0  # uncompressed bytes produced, over all passes
        self.split_reads = 0  # far reads served with a second decoder (see splitinflate)
        self._split = split
        self._to_end = to_end
        self._archive_path = archive_path
        self._retain = retain
        self._own_fh = fh is None
        self._fh = open(archive_path, "rb") if fh is None else fh  # noqa: SIM115 - closed in close()
        try:
            self._data_offset = self._locate_data()
        except BaseException:
            self.close()
            raise
        self._prefix = bytearray()
        self._verified = False  # the whole member was read and its CRC-32 matched
        self._start_inflation()

    def __enter__(self) -> MemberStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_fh:
            self._fh.close()

    def _locate_data(self) -> int:
        """Where the member's data starts, once its local header agrees with the central directory.

        A zip describes each member twice; extractors that trust the local header and
        this tool (which trusts the central one) must not see two different wheels.
        """
        m = self.member
        self._fh.seek(m.header_offset)
        header = self._fh.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size:
            raise InvalidWheel(f"{self._where}: local header is truncated")
        sig, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = _LOCAL_HEADER.unpack(header)
        if sig != b"PK\x03\x04":
            raise InvalidWheel(f"{self._where}: bad local header signature")
        name_extra = self._fh.read(name_len + extra_len)
        if len(name_extra) != name_len + extra_len:
            raise InvalidWheel(f"{self._where}: local header is truncated")
        data_offset: int = m.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if name_extra[:name_len] not in _encodings(m.name):
            local = name_extra[:name_len]
            shown = repr(local[:80]) + (f" (+{len(local) - 80} bytes)" if len(local) > 80 else "")
            raise InvalidWheel(f"{self._where}: the local header names {shown}")
        if method != m.compress_type:
            raise InvalidWheel(f"{self._where}: the local header says compression method {method}")
        extra = name_extra[name_len:]
        if flags & _DATA_DESCRIPTOR:
            if (crc, csize, usize) != (0, 0, 0):
                self._compare_local("local header", crc, *_local_sizes(extra, csize, usize))
            self._check_data_descriptor(data_offset, zip64=_ZIP64_EXTRA in _extra_ids(extra))
        else:
            self._compare_local("local header", crc, *_local_sizes(extra, csize, usize))
        return data_offset

    def _compare_local(self, where: str, crc: int, csize: int, usize: int) -> None:
        m = self.member
        if (crc, csize, usize) != (m.crc, m.compressed_size, m.size):
            raise InvalidWheel(
                f"{self._where}: the {where} says CRC {crc:08x}, {csize} compressed, {usize} bytes; "
                f"the central directory CRC {m.crc:08x}, {m.compressed_size} compressed, {m.size} bytes"
            )

    def _check_data_descriptor(self, data_offset: int, *, zip64: bool) -> None:
        """With flag bit 3 the CRC and sizes follow the data (APPNOTE 4.3.9), signature optional."""
        self._fh.seek(data_offset + self.member.compressed_size)
        raw = self._fh.read(24)
        if raw[:4] == b"PK\x07\x08":
            raw = raw[4:]
        layouts = ("<IQQ", "<III") if zip64 else ("<III", "<IQQ")  # the likelier first; either may match
        readings = [struct.unpack_from(form, raw) for form in layouts if len(raw) >= struct.calcsize(form)]
        if (self.member.crc, self.member.compressed_size, self.member.size) in readings:
            return
        if not readings:
            raise InvalidWheel(f"{self._where}: the data descriptor is truncated")
        self._compare_local("data descriptor", *readings[0])

    def _start_inflation(self) -> None:
        self._pos = 0  # uncompressed offset of the end of what was produced
        self._crc = 0  # CRC-32 of the bytes [0, _pos), accumulated as they stream past
        self._window = bytearray()  # produced bytes [self._window_start, self._pos)
        self._window_start = 0
        if self.member.compress_type == DEFLATED:
            self._fh.seek(self._data_offset)
            self._compressed_left = self.member.compressed_size
            self._inflater = new_raw_decompressor()
            self._tail = b""
            self._read_size = 16 * 1024

    @property
    def _consumed(self) -> int:
        """Compressed bytes read from the member so far (fed to the inflater, perhaps not yet used)."""
        return self.member.compressed_size - self._compressed_left

    def _produce(self, stop_at: int | None = None, most: int | None = None) -> bytes:
        """The next piece of inflated output, at most ``most`` bytes; b'' at the end of the member.

        With ``stop_at``, no compressed byte at or past that offset is read: b'' then
        also means everything before it has been inflated.
        """
        while True:
            if self._tail:
                data = self._inflate(self._tail, most)
            elif self._compressed_left > 0:
                # Start small so sniffing a member's magic costs little; grow to CHUNK.
                size = min(self._read_size, self._compressed_left)
                if stop_at is not None:
                    size = min(size, stop_at - self._consumed)
                    if size <= 0:
                        return b""
                raw = self._fh.read(size)
                self._read_size = min(self._read_size * 4, self.CHUNK)
                if not raw:
                    raise InvalidWheel(f"{self._where} is truncated")
                self._compressed_left -= len(raw)
                data = self._inflate(raw, most)
            else:
                return b""
            if data:
                self.inflated += len(data)
                return data
            if self._inflater.eof:
                return b""

    def _inflate(self, raw: bytes, most: int | None = None) -> bytes:
        """Feed ``raw`` to the inflater; at most ``most`` (OUTPUT_CHUNK) bytes come out, the rest waits in ``_tail``."""
        try:
            data: bytes = self._inflater.decompress(raw, most or self.OUTPUT_CHUNK)
        except INFLATE_ERRORS as exc:
            raise InvalidWheel(f"{self._where}: damaged deflate data ({exc})") from None
        self._tail = self._inflater.unconsumed_tail
        return data

    def _take(self, chunk: bytes, offset: int) -> None:
        """Account for freshly inflated ``chunk``: checksum it, fill the kept prefix, keep what lies past ``offset``."""
        self._crc = crc32(chunk, self._crc)
        if len(self._prefix) < self._retain and self._pos == len(self._prefix):
            self._prefix += chunk[: self._retain - len(self._prefix)]
        chunk_start = self._pos
        self._pos += len(chunk)
        if self._pos <= offset:
            self._window.clear()
            self._window_start = self._pos
            return
        if chunk_start < offset:
            chunk = chunk[offset - chunk_start :]
            chunk_start = offset
        if not self._window:
            self._window_start = chunk_start
        self._window += chunk

    def read_at(self, offset: int, size: int) -> bytes:
        """Bytes ``[offset, offset + size)`` of the member; errors if they lie past its end."""
        end = offset + size
        if offset < 0 or size < 0 or end > self.size:
            raise EOFError(f"{self.member.name}: bytes {offset}..{end} lie outside the member ({self.size} bytes)")
        if self.member.compress_type == STORED:
            self._fh.seek(self._data_offset + offset)
            data = self._fh.read(size)
            if len(data) != size:
                raise InvalidWheel(f"{self._where} is truncated")
            return data
        if end <= len(self._prefix):
            return bytes(self._prefix[offset:end])
        window_end = self._window_start + len(self._window)
        # Behind the window, or past it where a second decoder ran on without keeping: start over.
        if offset < self._window_start or (end > window_end and self._pos > window_end):
            self.restarts += 1
            self._start_inflation()
        if offset > self._window_start:
            del self._window[: offset - self._window_start]
            self._window_start = min(offset, self._pos)
        if end - self._pos >= LONG_READ:
            with long_read():
                self._inflate_to(offset, end)
        else:
            self._inflate_to(offset, end)
        return bytes(self._window[offset - self._window_start : end - self._window_start])

    def _inflate_to(self, offset: int, end: int) -> None:
        if offset - self._pos >= MIN_DISTANCE and self._split and split_enabled() and reserve_helper():
            try:
                self._reach_with_helper(offset, end)
            finally:
                release_helper()
        while self._pos < end:
            chunk = self._produce()
            if not chunk:
                raise InvalidWheel(f"{self._where} inflates to fewer bytes than its declared size")
            self._take(chunk, offset)

    def _reach_with_helper(self, offset: int, end: int) -> None:
        """Inflate towards ``offset`` with a second decoder starting mid-way (see :mod:`.splitinflate`).

        Leaves a consistent state either way: on success the window holds
        ``[offset, end)``; otherwise the caller simply goes on inflating.
        """
        done = self._consumed
        estimate = int(self.member.compressed_size * offset / self.size)  # compressed offset of the target
        if estimate - done < MIN_COMPRESSED_DISTANCE:
            return
        start = done + int((estimate - done) * SPLIT_FRACTION)
        if self._to_end:  # the helper also decodes on to the end: half the compressed rest each, but before the target
            start = done + int(min((self.member.compressed_size - done) * END_FRACTION, (estimate - done) * 0.8))
        helper = AheadDecoder(
            str(self._archive_path),
            self._data_offset,
            self.member.compressed_size,
            search_from=start,
            goal=end,
        )
        helper.start()
        try:
            self._meet_helper(helper, offset, end)
        finally:
            helper.cancel()
            helper.join()
            self.inflated += helper.inflated

    def _meet_helper(self, helper: AheadDecoder, offset: int, end: int) -> None:
        window = b""
        block = None
        while self._pos < end:
            if helper.gave_up:
                return
            if block is None and helper.block is not None:
                block = helper.block
                if self._consumed > block.feed_from:
                    return  # found too late: the front decoder is already past it
            chunk = self._produce(stop_at=None if block is None else block.feed_from)
            if not chunk:
                if block is None:
                    raise InvalidWheel(f"{self._where} inflates to fewer bytes than its declared size")
                break  # everything before the block start is inflated
            self._take(chunk, offset)
            window = last_window(window, chunk)
            helper.front = (self._pos, self._consumed)
        if self._pos >= end or block is None or len(window) < WINDOW:
            return
        block_start = self._pos
        # Confirm the guess before trusting the helper's bytes.
        raw = self._fh.read(min(VERIFY_BYTES, self._compressed_left))
        self._compressed_left -= len(raw)
        ours = self._inflate(raw)
        self.inflated += len(ours)
        self._take(ours, offset)
        if not is_block_start(block, window, raw, ours) or self._pos >= end or not helper.wait_clean():
            return
        clean_at = block_start + helper.clean_from
        if offset < clean_at:
            return
        helper.aim(end - block_start, self.size - block_start if self._to_end else None)
        # The helper checksummed [clean_at, ...); the bytes before that it made with a stand-in
        # window, so this decoder checksums them itself, while the helper goes on towards the target.
        overlap = ours[clean_at - block_start :] if self._pos > clean_at else b""
        self._inflate_exactly_to(clean_at, offset)
        helper.join()
        kept_from, kept_to = helper.kept_range()
        if helper.gave_up or offset - block_start < kept_from or end - block_start > kept_to:
            return
        # Adopt the helper's decoder: it is exactly where a sequential one would be (at the member's
        # end if it ran on; the window then ends before the position, and reads past it start over).
        helper_crc, helper_len = helper.crc, helper.produced - helper.clean_from
        if overlap:  # drop the bytes both checksummed: crc(B) = combine(crc(A), crc(A + B), len(B))
            helper_len -= len(overlap)
            helper_crc = crc32_combine(crc32(overlap, 0), helper_crc, helper_len)
        self._crc = crc32_combine(self._crc, helper_crc, helper_len)
        self._inflater, self._tail = helper.decoder, helper.tail
        self._fh.seek(self._data_offset + helper.consumed)
        self._compressed_left = self.member.compressed_size - helper.consumed
        self._pos = block_start + helper.produced
        self._window = helper.kept()
        self._window_start = block_start + kept_from
        self.split_reads += 1

    def _inflate_exactly_to(self, target: int, offset: int) -> None:
        """Inflate on to ``target`` and not a byte further (the decoder stays usable either way).

        Only for checksumming bytes before the read: small pieces keep the memory down.
        """
        while self._pos < target:
            chunk = self._produce(most=min(target - self._pos, 1 << 20))
            if not chunk:
                raise InvalidWheel(f"{self._where} inflates to fewer bytes than its declared size")
            self._take(chunk, offset)

    def check_integrity(self) -> None:
        """Read the member to its end and compare its CRC-32 with the zip directory's.

        Damaged data usually still inflates, to wrong bytes, and one flipped byte in a
        library changed a verdict; so every member read is checked whole. The CRC has
        accumulated as bytes streamed past (both decoders' parts, combined), so this
        only inflates what the analysis did not reach, with a second decoder when that
        is far, and never starts over.
        """
        if self._verified:
            return
        if self.member.compress_type == STORED:
            crc = 0
            for piece in self._raw(self.size):
                crc = crc32(piece, crc)
        else:
            if self.size - self._pos >= LONG_READ:
                with long_read():
                    self._inflate_to(self.size, self.size)
            else:
                self._inflate_to(self.size, self.size)
            if self._produce():
                raise UnsafeWheel(f"{self._where} inflates past its declared size")
            self._window.clear()
            self._window_start = self._pos
            crc = self._crc
            if crc != self.member.crc and self.split_reads:
                crc = self._serial_crc()  # a wrong block-start guess must never pass for damage
        if crc != self.member.crc:
            raise self._damaged()
        self._verified = True

    def _serial_crc(self) -> int:
        self._split = False
        self.restarts += 1
        self._start_inflation()
        self._inflate_to(self.size, self.size)
        self._window.clear()
        self._window_start = self._pos
        return self._crc

    def _damaged(self) -> InvalidWheel:
        return InvalidWheel(
            f"{self._archive_path.name}: damaged data in {self.member.name} (CRC-32 mismatch)", path=self.member.name
        )

    def _raw(self, length: int) -> Iterator[bytes]:
        """``length`` bytes of the member's data as stored in the archive, in pieces."""
        self._fh.seek(self._data_offset)
        left = length
        while left:
            data = self._fh.read(min(self.CHUNK, left))
            if not data:
                raise InvalidWheel(f"{self._where} is truncated")
            left -= len(data)
            yield data

    def iter_compressed(self) -> Iterator[bytes]:
        """The member's stored bytes exactly as in the archive (deflated or not), for raw copying.

        Checked as they pass: deflated pieces are inflated on the side, and the CRC-32 is
        compared after the last piece, so copying damaged data ends in an error (the
        writer then drops its partial output) instead of a wheel that passes on the damage.
        """
        decoder = new_raw_decompressor() if self.member.compress_type == DEFLATED else None
        crc = produced = 0
        for piece in self._raw(self.member.compressed_size):
            if decoder is None:
                crc = crc32(piece, crc)
                produced += len(piece)
            data = piece
            while decoder is not None and data:
                try:
                    out = decoder.decompress(data, self.OUTPUT_CHUNK)
                except INFLATE_ERRORS as exc:
                    raise InvalidWheel(f"{self._where}: damaged deflate data ({exc})") from None
                crc = crc32(out, crc)
                produced += len(out)
                if produced > self.size:
                    raise UnsafeWheel(f"{self._where} inflates past its declared size")
                data = decoder.unconsumed_tail
            yield piece
        if produced != self.size:
            raise InvalidWheel(f"{self._where} inflates to {produced} bytes, not {self.size}")
        if crc != self.member.crc:
            raise self._damaged()
        self._start_inflation()

    def iter_chunks(self) -> Iterator[bytes]:
        """The whole member from the start, in pieces (for hashing and copying); its CRC-32 is checked at the end."""
        crc = 0
        if self.member.compress_type == STORED:
            for piece in self._raw(self.size):
                crc = crc32(piece, crc)
                yield piece
        else:
            self._start_inflation()
            produced = 0
            while True:
                chunk = self._produce()
                if not chunk:
                    break
                produced += len(chunk)
                if produced > self.size:
                    raise UnsafeWheel(f"{self._where} inflates past its declared size")
                crc = crc32(chunk, crc)
                yield chunk
            if produced != self.size:
                raise InvalidWheel(f"{self._where} inflates to {produced} bytes, not {self.size}")
            self._start_inflation()
        if crc != self.member.crc:
            raise self._damaged()
        self._verified = True
