"""Reading a wheel without extracting it (PEP 427, PEP 491).

The zip central directory says where every member lies, so members are read in
place: metadata files whole (with a size cap), binaries through
:class:`MemberStream`, which inflates only as far as the analysis asks. Names and
sizes are checked up front (:mod:`.limits`) so a hostile archive is refused before
any member is inflated; what the metadata says is read by :mod:`.metadata` and
:mod:`.records`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator

from .._typing import TYPE_CHECKING, cast
from ..errors import InvalidWheel, UnsafeWheel
from ..platforms.tags import InvalidWheelFilename, parse_wheel_filename
from .inflate import INFLATE_ERRORS, crc32, new_raw_decompressor
from .limits import METADATA_SIZE_LIMIT, check_file_directory_clashes, check_overlaps, read_members, shown_name
from .metadata import WheelInfo, find_dist_info, parse_headers, parse_wheel, wheel_info
from .records import RecordTable
from .splitinflate import LONG_READ, MIN_DISTANCE, Deflated, Started, long_read, reach, start_early
from .zipdir import BadZip, Member, MemberTable
from .zipformat import (
    CRC_AND_SIZES,
    CRC_AND_SIZES64,
    DATA_DESCRIPTOR_SIG,
    DEFLATED,
    FLAG_DATA_DESCRIPTOR,
    LOCAL_HEADER,
    LOCAL_SIG,
    STORED,
    ZIP64_EXTRA,
    ZIP64_LIMIT,
    iter_extra,
    zip64_values,
)

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, BinaryIO


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
    for tag, _, data in iter_extra(extra):
        fields.setdefault(tag, data)
    return fields


def _local_sizes(extra: bytes, csize: int, usize: int) -> tuple[int, int]:
    """(compressed, uncompressed) size from a local header, taking ZIP64 values where marked 0xFFFFFFFF."""
    if ZIP64_LIMIT not in (csize, usize):
        return csize, usize
    values = zip64_values(_extra_ids(extra).get(ZIP64_EXTRA, b""))
    if usize == ZIP64_LIMIT and values:  # local ZIP64 fields come in this order: size, then compressed size
        usize = values.pop(0)
    if csize == ZIP64_LIMIT and values:
        csize = values.pop(0)
    return csize, usize


class WheelArchive:
    """An open wheel: validated member list, parsed WHEEL/METADATA/RECORD, lazy member I/O.

    The archive file is never written to. Each :class:`MemberStream` opens its own
    file handle, so members can be read from several threads at once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.file: str = os.fspath(path)  # plain strings: pathlib is ~3 ms of start-up (urllib.parse, ipaddress)
        self.name = os.path.basename(self.file)
        self.file_size = self._check_file()
        self.members: MemberTable = self._read_directory()
        self.info = self._read_info()
        self.record: RecordTable = self._read_record()

    @property
    def path(self) -> Path:
        """The archive's path, as given."""
        from pathlib import Path

        return Path(self.file)

    # -- structure -----------------------------------------------------------------

    def _check_file(self) -> int:
        try:
            st = os.stat(self.file)
        except OSError as exc:
            raise InvalidWheel(f"cannot read {self.file}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidWheel(f"{self.file} is not a regular file")
        if not self.name.endswith(".whl"):
            raise InvalidWheel(f"{self.name} is not a wheel: the name does not end in .whl")
        self._identity = _identity(st)
        return st.st_size

    def check_unchanged(self) -> None:
        """Raise if the file is no longer the one opened (rewritten, replaced, grown or cut since).

        A repair reads the input for seconds; a build writing the same path meanwhile
        would otherwise give a wheel made of two different inputs.
        """
        try:
            now = _identity(os.stat(self.file))
        except OSError as exc:
            raise InvalidWheel(f"cannot read {self.file}: {exc.strerror or exc}") from None
        if now != self._identity:
            raise InvalidWheel(f"{self.file} changed while it was being read; run again once it is written")

    def _read_directory(self) -> MemberTable:
        wheel = self.name
        try:
            with open(self.file, "rb") as fh:
                members = read_members(fh, self.file_size, wheel)
        except BadZip as exc:
            raise InvalidWheel(f"{wheel} is not a valid zip archive ({exc})") from None
        except (OSError, EOFError, struct.error) as exc:
            raise InvalidWheel(f"{wheel} is not a readable zip archive ({exc})") from None
        check_overlaps(members, self.file_size, wheel)
        check_file_directory_clashes(members, wheel)
        return members

    def _read_info(self) -> WheelInfo:
        try:
            parsed = parse_wheel_filename(self.name)
        except InvalidWheelFilename as exc:
            raise InvalidWheel(f"{self.name}: invalid wheel file name ({exc})") from None
        dist_info = find_dist_info(self.members, parsed.name, self.name)
        headers = parse_wheel(self._read_text(f"{dist_info}/WHEEL", required=True), self.name, dist_info)
        metadata = parse_headers(self._read_text(f"{dist_info}/METADATA", required=False))
        return wheel_info(parsed, self.name, dist_info, headers, metadata)

    def _read_text(self, name: str, *, required: bool) -> str:
        member = self.members.get(name)
        if member is None:
            if required:
                raise InvalidWheel(f"{self.name} has no {name}")
            return ""
        data = self.read_member(member, limit=METADATA_SIZE_LIMIT)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWheel(f"{self.name}: {name} is not UTF-8") from None

    def _read_record(self) -> RecordTable:
        member = self.members.get(self.record_name)
        if member is None:
            raise InvalidWheel(f"{self.name} has no {self.record_name}")
        if member.size > METADATA_SIZE_LIMIT:
            raise UnsafeWheel(f"{self.name}: {member.name} is {member.size} bytes (limit {METADATA_SIZE_LIMIT})")
        # Read into one buffer a megabyte at a time: read_member would hold the text three times over
        # (the inflated window, its slice, the bytes), 135 MB for the RECORD of 500,000 members.
        data = bytearray(member.size)
        piece = 1 << 20
        with self.open(member) as stream:
            for at in range(0, member.size, piece):
                data[at : at + piece] = stream.read_at(at, min(piece, member.size - at))
            stream.check_integrity()
        return RecordTable(data, f"{self.name}: {self.record_name}", self.members)

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
            raise UnsafeWheel(f"{self.name}: {member.name} is {member.size} bytes (limit {limit})")
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
        return MemberStream(self.file, member, retain=retain, split=split, to_end=to_end, fh=fh)


def _unnamed_file() -> tuple[int, Callable[[], None]]:
    """A descriptor on an unnamed file in the temporary directory, and how to close it (it is gone then).

    Linux makes one with O_TMPFILE, never visible in the directory; elsewhere tempfile does.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        places = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
        for place in [*filter(None, places), "/tmp", "/var/tmp"]:
            with contextlib.suppress(OSError):
                fd = os.open(place, flag | os.O_RDWR, 0o600)
                return fd, functools.partial(os.close, fd)
    import tempfile  # only here: it and its imports cost 6 ms and 0.7 MiB at start-up

    kept = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the spill
    return kept.fileno(), kept.close


def _nothing() -> None:
    pass


class _Spill:
    """Bytes ``[start, end)`` of a member, kept in an unnamed temporary file as the forward pass goes by.

    A read behind the decoder that lands here is answered from the file instead of
    inflating the member again from its start. Each piece written has its CRC-32 noted,
    and a piece read back must match it, whole: anything else (a short read, an I/O
    error, other bytes) ends the spill and the caller inflates again as before.
    """

    PIECE = 1 << 20  # CRC-32 granularity: a read back checks (and reads) whole pieces

    def __init__(self, start: int, limit: int) -> None:
        self.start = self.end = start
        self.limit = limit  # never more than this (end of the region asked for)
        self.fd: int | None = None
        self._close: Callable[[], None] = _nothing
        self.crcs: list[int] = []  # CRC-32 of each complete piece, in order
        self.open_crc = 0  # of the piece being written, [start + PIECE * len(crcs), end)
        self.cached: tuple[int, bytes] | None = None  # the last piece read back: (index, bytes)
        self.worth: Callable[[bytes], bool] | None = None  # see MemberStream.keep_on_disk
        self.lead = self.ahead = 0

    def take(self, chunk: bytes, chunk_start: int) -> bool:
        """Append what of ``chunk`` continues the kept bytes; False if the spill had to end (an error)."""
        if not chunk_start <= self.end < chunk_start + len(chunk) or self.end >= self.limit:
            return True
        data = memoryview(chunk)[self.end - chunk_start : self.limit - chunk_start]
        try:
            if self.fd is None:
                self.fd, self._close = _unnamed_file()
            written = 0
            while written < len(data):
                written += os.pwrite(self.fd, data[written:], self.end - self.start + written)
        except OSError:
            return False
        while data:  # the CRC-32 of each piece, as written
            room = self.PIECE - (self.end - self.start) % self.PIECE
            piece, data = data[:room], data[room:]
            self.open_crc = crc32(cast("bytes", piece), self.open_crc)  # any buffer will do
            self.end += len(piece)
            if (self.end - self.start) % self.PIECE == 0:
                self.crcs.append(self.open_crc)
                self.open_crc = 0
        return True

    def read(self, offset: int, end: int) -> bytes | None:
        """Bytes ``[offset, end)`` (within the kept range) as they were written; None if they cannot be had."""
        parts: list[bytes] = []
        first, last = (offset - self.start) // self.PIECE, (end - 1 - self.start) // self.PIECE
        for index in range(first, last + 1):
            piece = self._piece(index)
            if piece is None:
                return None
            at = self.start + index * self.PIECE
            parts.append(piece[max(offset - at, 0) : end - at])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _piece(self, index: int) -> bytes | None:
        if self.cached is not None and self.cached[0] == index:
            return self.cached[1]
        self.cached = None  # not held twice while the next piece is read
        at = index * self.PIECE
        length = min(self.PIECE, self.end - self.start - at)
        expected = self.crcs[index] if index < len(self.crcs) else self.open_crc
        if self.fd is None:
            return None
        try:
            piece = os.pread(self.fd, length, at)
        except OSError:
            return None
        if len(piece) != length or crc32(piece, 0) != expected:
            return None
        self.cached = (index, piece)
        return piece

    def close(self) -> None:
        self.cached = None
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self._close()
            self.fd, self._close = None, _nothing


class _Parked:
    """A decoder set aside by a restart: where it stood, the CRC-32 up to there, its last output."""

    __slots__ = ("compressed_left", "crc", "inflater", "pos", "tail", "window", "window_end", "window_start")

    def __init__(self, stream: MemberStream, keep: int) -> None:
        self.pos, self.crc = stream._pos, stream._crc
        self.inflater, self.tail, self.compressed_left = stream._inflater, stream._tail, stream._compressed_left
        self.window = stream._window[-keep:] if len(stream._window) > keep else stream._window
        # The window may end before the position: a second decoder handed over at the member's end
        # leaves the bytes around the far read it served (placing them at the position put them
        # 180 MB off in pylance's library, and a later read got them as .dynamic: a wrong verdict).
        self.window_end = stream._window_start + len(stream._window)
        self.window_start = self.window_end - len(self.window)

    def serves(self, offset: int, end: int) -> bool:
        """Whether going on with this decoder gives ``[offset, end)``: from its window, or by decoding on."""
        return offset >= self.window_start and (end <= self.window_end or self.window_end == self.pos)


class MemberStream:
    """Random-access reads of one member's bytes, inflating no further than asked.

    Stored members are read with a seek. Deflated members are inflated forwards
    only as far as the furthest byte requested; the first ``retain`` bytes are kept
    so that later reads of early tables (where ELF keeps its symbol tables) cost
    nothing, and the last HISTORY bytes before each read are kept too. A read behind
    all of that starts the inflation over with a new decoder, while the one that got
    furthest is parked, with its CRC-32, and takes over again once reads go past where
    the new one is: a member is inflated to its furthest read once, plus the depth of each
    read behind (not once more in full). Memory held: the kept prefix, HISTORY and the
    requested window, and a parked decoder's state and last HISTORY bytes. A region too
    large for memory that will be read behind can be kept in a temporary file instead
    (:meth:`keep_on_disk`): the member is then inflated once.
    """

    CHUNK = 1 << 20  # compressed bytes read at a time
    OUTPUT_CHUNK = 2 << 20  # most inflated bytes produced per call: bounds memory (8 MB cost jaxlib 50 MB of RSS)
    #: Output kept behind each read, so that a read a little behind the last one (the section names
    #: just before the section headers, a hash table just before the symbols) does not start over.
    HISTORY = 1 << 20
    #: A read behind everything kept inflates the member again up to it: the bytes before it are kept then,
    #: up to this far, so that the next read behind (ELF reads several tables near the start after
    #: ``.dynamic``, which may lie at the end) costs nothing: tensorflow-cpu's 788 MB library started
    #: over three times for reads below 12 MB.
    RESTART_RETAIN = 16 << 20
    #: A far read announced (:meth:`prefetch`) when no core was idle: how often to look again.
    RETRY_EARLY = 0.005

    def __init__(
        self,
        archive_path: str,
        member: Member,
        *,
        retain: int = 0,
        split: bool = True,
        to_end: bool = False,
        fh: BinaryIO | None = None,
    ) -> None:
        self.member = member
        self.size = member.size
        self._where = f"{os.path.basename(archive_path)}: member {shown_name(member.name)}"
        self.restarts = 0
        self.inflated = 0  # uncompressed bytes produced, over all passes
        self.split_reads = 0  # far reads served with a second decoder (see splitinflate)
        self.split_waste = 0  # bytes the second decoders inflated beyond the progress they brought
        self._split = split
        self._to_end = to_end
        self._archive_path = archive_path
        self._retain = retain
        self._own_fh = fh is None
        self._spill: _Spill | None = None
        self._early: Started | None = None  # a second decoder started for an announced far read (prefetch)
        self._announced: tuple[int, int] | None = None  # that read, while no helper could be started for it
        self._next_try = 0.0  # time.monotonic() from which to try again
        self._fh = open(archive_path, "rb") if fh is None else fh  # noqa: SIM115 - closed in close()
        try:
            self._data_offset = self._locate_data()
        except BaseException:
            self.close()
            raise
        self._prefix: bytes | bytearray = bytearray()
        self._verified = False  # the whole member was read and its CRC-32 matched
        self._start_inflation()

    def __enter__(self) -> MemberStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._drop_early()
        self._drop_spill()
        if self._own_fh:
            self._fh.close()

    def for_forward_reader(self) -> None:
        """Serve a reader that reads forwards (Mach-O, PE: :mod:`wheelaudit.binary.pages`): keep no more
        of the member's start than is kept already, and use no :mod:`.splitinflate` helper.

        Copying the first MiBs aside is work and memory for nothing there: 10% of ``show`` on a wheel
        of 3-5 MB DLLs. The two-decoder split was tuned on ELF, whose one far read (``.dynamic``) is
        known from the headers; these readers read several tables near the member's end: on the macOS
        and Windows wheels measured, a helper never made ``show`` faster, and on numpy 1.19.5's macOS
        libopenblas (61 MiB) it gave up after 6 MiB and cost 48 ms (173 ms against 125).
        """
        self._retain = len(self._prefix)
        self._split = False

    def keep_on_disk(
        self,
        start: int,
        end: int,
        *,
        worth: Callable[[bytes], bool] | None = None,
        lead: int = 0,
        ahead: int = 0,
    ) -> None:
        """Keep bytes ``[start, end)`` in a temporary file as inflation passes them, for reads behind later.

        For a region too large for memory that the caller expects to read after a far read
        (ELF's symbol tables, located only by ``.dynamic`` much further on): the member is
        then inflated once instead of again from its start. Only what the decoder produces
        in one unbroken run from ``start`` is kept; a write error just ends the keeping.
        A region the decoder has begun to pass is kept from the start of what it still
        holds; a region asked for earlier is given up. ``worth``, if given, is asked once,
        before anything is written, whether to keep anything at all: it is shown the ``lead``
        bytes before ``start`` (from the kept prefix) and up to ``ahead`` bytes from ``start``.
        """
        usable = hasattr(os, "pread")  # not on Windows: there, reads behind inflate again
        first = max(start, min(self._window_start, self._pos))
        if not usable or self.member.compress_type != DEFLATED or not first < end:
            return
        if worth is not None and first != start:
            return  # what it would look at is gone
        self._drop_spill()
        spill = self._spill = _Spill(first, end)
        spill.worth, spill.lead, spill.ahead = worth, lead, ahead
        if first < self._pos:
            self._keep_spilling(bytes(self._window[first - self._window_start :]), first)

    def _keep_spilling(self, chunk: bytes, chunk_start: int) -> None:
        spill = self._spill
        assert spill is not None
        if spill.worth is not None and chunk_start + len(chunk) > spill.start:  # about to write: worth it?
            worth, spill.worth = spill.worth, None
            if spill.lead and len(self._prefix) < spill.start:
                keep = True  # cannot tell
            else:
                at = max(0, spill.start - chunk_start)
                before = bytes(self._prefix[max(0, spill.start - spill.lead) : spill.start]) if spill.lead else b""
                keep = worth(before + bytes(chunk[at : at + spill.ahead]))
            if not keep:
                self._drop_spill()
                return
        if not spill.take(chunk, chunk_start):
            self._drop_spill()

    def prefetch(self, offset: int, end: int) -> None:
        """A hint: bytes ``[offset, end)`` will be read after nearer ones, then the member to its end.

        When that read is far enough for a second decoder (see :mod:`.splitinflate`), it starts
        now and works through the member's second half while the reads before are served: the
        far read then waits for neither. Only for a stream that will read to the end (``to_end``);
        results never depend on it.
        """
        if (
            self._early is not None
            or not (self._split and self._to_end)
            or self.member.compress_type != DEFLATED
            or not 0 <= offset < end <= self.size
        ):
            return
        self._announced = (offset, end)
        self._try_early()

    def _try_early(self) -> None:
        """Start the helper for the announced read, if a core is idle now; else try again at a later read.

        Right after start-up the idle time cannot be measured yet, only the tasks running at that
        instant counted: a busy instant would otherwise cost the member its early helper.
        """
        now = time.monotonic()
        if self._announced is None or now < self._next_try:
            return
        offset, end = self._announced
        if offset - self._pos < MIN_DISTANCE:
            self._announced = None  # too near now: the read itself may still split
            return
        self._next_try = now + self.RETRY_EARLY
        self._early = start_early(self, self._deflated(), offset, end)
        if self._early is not None:
            self._announced = None

    def _drop_early(self) -> None:
        self._announced = None
        early, self._early = self._early, None
        if early is not None:
            early.finish(self)

    def _drop_spill(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    def _from_spill(self, offset: int, end: int) -> bytes | None:
        """``[offset, end)`` from the kept prefix and the spill file, if they hold it all (and read back right)."""
        spill = self._spill
        kept = len(self._prefix)
        if spill is None or end > spill.end or (offset < spill.start and kept < spill.start):
            return None
        rest = spill.read(max(offset, kept), end) if end > kept else b""
        if rest is None:
            self._drop_spill()  # the file failed us: inflate again, as without it
            return None
        return bytes(self._prefix[offset:kept]) + rest if offset < kept else rest

    def _locate_data(self) -> int:
        """Where the member's data starts, once its local header agrees with the central directory.

        A zip describes each member twice; extractors that trust the local header and
        this tool (which trusts the central one) must not see two different wheels.
        """
        m = self.member
        self._fh.seek(m.header_offset)
        header = self._fh.read(LOCAL_HEADER.size)
        if len(header) != LOCAL_HEADER.size:
            raise InvalidWheel(f"{self._where}: local header is truncated")
        sig, _, flags, method, _, _, crc, csize, usize, name_len, extra_len = LOCAL_HEADER.unpack(header)
        if sig != LOCAL_SIG:
            raise InvalidWheel(f"{self._where}: bad local header signature")
        name_extra = self._fh.read(name_len + extra_len)
        if len(name_extra) != name_len + extra_len:
            raise InvalidWheel(f"{self._where}: local header is truncated")
        data_offset: int = m.header_offset + LOCAL_HEADER.size + name_len + extra_len
        if name_extra[:name_len] not in _encodings(m.name):
            local = name_extra[:name_len]
            shown = repr(local[:80]) + (f" (+{len(local) - 80} bytes)" if len(local) > 80 else "")
            raise InvalidWheel(f"{self._where}: the local header names {shown}")
        if method != m.compress_type:
            raise InvalidWheel(f"{self._where}: the local header says compression method {method}")
        extra = name_extra[name_len:]
        if flags & FLAG_DATA_DESCRIPTOR:
            if (crc, csize, usize) != (0, 0, 0):
                self._compare_local("local header", crc, *_local_sizes(extra, csize, usize))
            self._check_data_descriptor(data_offset, zip64=ZIP64_EXTRA in _extra_ids(extra))
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
        if raw[:4] == DATA_DESCRIPTOR_SIG:
            raw = raw[4:]
        layouts = (CRC_AND_SIZES64, CRC_AND_SIZES) if zip64 else (CRC_AND_SIZES, CRC_AND_SIZES64)  # likelier first
        readings = [layout.unpack_from(raw) for layout in layouts if len(raw) >= layout.size]
        if (self.member.crc, self.member.compressed_size, self.member.size) in readings:
            return
        if not readings:
            raise InvalidWheel(f"{self._where}: the data descriptor is truncated")
        self._compare_local("data descriptor", *readings[0])

    def _start_inflation(self) -> None:
        self._drop_early()  # a helper started early measures its place by the decoder being replaced
        self._parked: _Parked | None = None
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

    def _restart(self) -> None:
        """Inflate again from the start, for a read behind everything kept; park the furthest decoder."""
        parked = self._parked
        if parked is None or self._pos > parked.pos:
            parked = _Parked(self, self.HISTORY)
        self._start_inflation()
        self._parked = parked

    def _resume(self, parked: _Parked) -> None:
        """Go on with the parked decoder, which stands further on than the current one."""
        self._pos, self._crc = parked.pos, parked.crc
        self._inflater, self._tail, self._compressed_left = parked.inflater, parked.tail, parked.compressed_left
        self._window, self._window_start = parked.window, parked.window_start
        self._fh.seek(self._data_offset + self.member.compressed_size - parked.compressed_left)
        self._read_size = self.CHUNK
        self._parked = None

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
                    size = min(size, stop_at - self.consumed)
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
        kept = len(self._prefix)
        if kept < self._retain and self._pos <= kept < self._pos + len(chunk):
            self._prefix += chunk[kept - self._pos : self._retain - self._pos]
        if self._spill is not None:
            self._keep_spilling(chunk, self._pos)
        chunk_start = self._pos
        self._pos += len(chunk)
        if self._early is not None:
            self._early.note(self._pos, self.consumed)
        keep = offset - self.HISTORY
        if self._pos <= keep:
            self._window.clear()
            self._window_start = self._pos
            return
        if chunk_start < keep:
            chunk = chunk[keep - chunk_start :]
            chunk_start = keep
            self._window.clear()
        if not self._window:
            self._window_start = chunk_start
        self._window += chunk

    def _span_end(self, offset: int, size: int) -> int:
        """``offset + size``; EOFError if the span lies outside the member."""
        end = offset + size
        if offset < 0 or size < 0 or end > self.size:
            raise EOFError(f"{self.member.name}: bytes {offset}..{end} lie outside the member ({self.size} bytes)")
        return end

    def inflate_whole(self) -> None:
        """Inflate a deflated member no larger than the kept prefix in one call, and check its CRC-32.

        One read and one call of the inflater (which lets go of the GIL) instead of a loop of small
        pieces, each taking the GIL back to checksum and keep it: a wheel of many small libraries
        (scipy: 111, most under 2 MB) spent much of its time handing the GIL between its threads.
        The member is then served from memory. Anything unexpected (damage, a size other than the
        declared one) falls back to inflating it piece by piece, which reports it as always.
        """
        m = self.member
        if m.compress_type != DEFLATED or self._pos or self.size > self._retain or self._parked is not None:
            return
        if m.compressed_size > self.size + self.size // 1024 * 5 + 1024:
            return  # more than deflate's worst case (stored blocks): not read into memory in one piece
        self._fh.seek(self._data_offset)
        raw = self._fh.read(m.compressed_size)
        inflater = new_raw_decompressor()
        try:
            data: bytes = inflater.decompress(raw, self.size + 1)
        except INFLATE_ERRORS:
            data = b""
        if len(raw) != m.compressed_size or len(data) != self.size or not inflater.eof or crc32(data, 0) != m.crc:
            self._start_inflation()  # the usual way, to the usual error
            return
        self.inflated += len(data)
        self._prefix, self._pos, self._crc = data, self.size, m.crc
        self._window, self._window_start = bytearray(), self.size
        self._inflater, self._tail, self._compressed_left = inflater, b"", 0
        self._verified = True

    def read_at(self, offset: int, size: int) -> bytes:
        """Bytes ``[offset, offset + size)`` of the member; errors if they lie past its end."""
        end = self._span_end(offset, size)
        if self.member.compress_type == STORED:
            self._fh.seek(self._data_offset + offset)
            data = self._fh.read(size)
            if len(data) != size:
                raise InvalidWheel(f"{self._where} is truncated")
            return data
        if end <= len(self._prefix):
            with memoryview(self._prefix) as kept:  # one copy, not two (slice, then bytes)
                return bytes(kept[offset:end])
        if self._spill is not None and (offset < self._window_start or end > self._pos):
            spilled = self._from_spill(offset, end)  # kept on disk as the decoder passed: no need to go back
            if spilled is not None:
                return spilled
        parked = self._parked
        if parked is not None and end > self._pos:
            if parked.pos <= self._pos:
                self._parked = None  # the current decoder has caught up
            elif parked.serves(offset, end):
                self._resume(parked)
        window_end = self._window_start + len(self._window)
        # Behind the window, or past it where a second decoder ran on without keeping: start over.
        if offset < self._window_start or (end > window_end and self._pos > window_end):
            self.restarts += 1
            if self._retain < end <= self.RESTART_RETAIN:
                self._retain = end
            self._restart()
        keep = offset - self.HISTORY
        if keep > self._window_start:
            del self._window[: keep - self._window_start]
            self._window_start = min(keep, self._pos)
        if end - self._pos >= LONG_READ:
            with long_read():
                self._inflate_to(offset, end)
        else:
            self._inflate_to(offset, end)
        with memoryview(self._window) as window:  # one copy: an 82 MB .dynstr was held three times
            return bytes(window[offset - self._window_start : end - self._window_start])

    def read_spans(self, spans: list[tuple[int, int]]) -> list[bytes]:
        """The bytes of each ``(offset, size)`` in ``spans`` (ascending), as :meth:`read_at` gives them.

        For many small reads spread forwards (the ISA scan's code windows): each is cut from the
        inflated output as it streams past, which is kept only for the last of them. Read one by
        one, every piece of output that reached a window was first copied into the kept window with
        the HISTORY before it (pyarrow: ~25 ms of its show for 150 MB of libraries).
        """
        if len(self._prefix) == self.size:  # inflated whole (inflate_whole): cut from memory
            with memoryview(self._prefix) as kept:
                return [bytes(kept[offset : self._span_end(offset, size)]) for offset, size in spans]
        out: list[bytes] = []
        batch: list[tuple[int, int]] = []
        for offset, size in spans:
            end = self._span_end(offset, size)
            if batch and offset >= batch[-1][0] and offset - self._pos < MIN_DISTANCE:
                batch.append((offset, end))
                continue
            out += self._read_batch(batch)
            batch = []
            if (
                self.member.compress_type == DEFLATED
                and self._parked is None  # (read_at may resume it)
                and self._spill is None
                and 0 <= offset - self._pos < MIN_DISTANCE
            ):
                batch.append((offset, end))  # near and not yet inflated: cut from the stream
            else:
                out.append(self.read_at(offset, size))  # kept already, behind, far (a second decoder), stored
        return out + self._read_batch(batch)

    def _read_batch(self, batch: list[tuple[int, int]]) -> list[bytes]:
        """:meth:`read_spans` for ascending ``[offset, end)`` spans, the first at or past what was inflated."""
        if not batch:
            return []
        last = batch[-1][0]
        found: list[bytes] = []
        parts: list[bytes] = []  # of the span being cut, when it straddles pieces of output
        piece, start = b"", self._pos  # the latest piece of output, and where it starts
        spans = iter(batch)
        span = next(spans, None)
        if self._announced is not None:
            self._try_early()  # a near read before the announced one, as in _inflate_to
        with long_read() if batch[-1][1] - self._pos >= LONG_READ else contextlib.nullcontext():
            while span is not None:
                offset, end = span
                if offset < self._pos and end > start and (parts or offset >= start):
                    parts.append(piece[max(offset - start, 0) : min(end, self._pos) - start])
                if end > self._pos:
                    start = self._pos
                    piece = self.step(last)  # keeps output only from the last span's HISTORY on
                    continue
                # one not cut whole (it began before the piece: overlapping spans) is read as before
                found.append(b"".join(parts) if parts else self.read_at(offset, end - offset))
                parts = []
                span = next(spans, None)
        return found

    def _inflate_to(self, offset: int, end: int) -> None:
        if self._early is not None and self._early.helper.gave_up:
            self._drop_early()  # it never got clean: far reads may have helpers again, as without it
        early, announced = self._early, self._announced
        if early is not None:
            # Only the announced read (or one past it) meets the helper: one nearer, however far (jaxlib's
            # first code sample lies 50 MB in), leaves it at work; the announced read then finds the front
            # decoder past the helper's start if that read passed it, and goes on alone.
            if end > early.offset:
                self._early = None
                reach(self, self._deflated(), offset, end, to_end=self._to_end, early=early)
        elif announced is not None and end <= announced[0]:
            # A read before the announced one, near or far, starts no helper of its own: one running on to
            # the end from there (pylance's first code sample, 44 MB in) left every later read behind it
            # to start over (0.7 s instead of 0.3). The announced read may still get one, early or not.
            self._try_early()
        elif self._split:
            self._announced = None
            reach(self, self._deflated(), offset, end, to_end=self._to_end)
        while self._pos < end:
            self.step(offset)

    # -- the front decoder, as the two-decoder hand-over sees it (splitinflate.FrontDecoder) --

    def _deflated(self) -> Deflated:
        return Deflated(self._archive_path, self._data_offset, self.member.compressed_size, self.size)

    @property
    def position(self) -> int:
        return self._pos

    @property
    def consumed(self) -> int:
        """Compressed bytes read from the member so far (fed to the inflater, perhaps not yet used)."""
        return self.member.compressed_size - self._compressed_left

    @property
    def crc(self) -> int:
        return self._crc

    def step(self, offset: int, *, stop_at: int | None = None, most: int | None = None) -> bytes:
        """Inflate and keep the next piece; b'' only when stopped at ``stop_at`` (see splitinflate.FrontDecoder)."""
        chunk = self._produce(stop_at=stop_at, most=most)
        if not chunk:
            if stop_at is None:
                raise InvalidWheel(f"{self._where} inflates to fewer bytes than its declared size")
            return chunk
        self._take(chunk, offset)
        return chunk

    def feed(self, size: int, offset: int) -> tuple[bytes, bytes]:
        raw = self._fh.read(min(size, self._compressed_left))
        self._compressed_left -= len(raw)
        out = self._inflate(raw)
        self.inflated += len(out)
        self._take(out, offset)
        return raw, out

    def adopt(
        self,
        decoder: Any,
        tail: bytes,
        *,
        consumed: int,
        position: int,
        crc: int,
        window: bytearray | None,
        window_start: int,
    ) -> None:
        self._inflater, self._tail = decoder, tail
        self._fh.seek(self._data_offset + consumed)
        self._compressed_left = self.member.compressed_size - consumed
        self._pos = position
        self._crc = crc
        if window is not None:  # else this decoder's own stays: it read the target itself
            self._window = window
            self._window_start = window_start
        self.split_reads += 1

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
        self._drop_spill()  # reads are over: free its last piece (and the file) before inflating on
        if self.member.compress_type == STORED:
            crc = 0
            for piece in self._raw(self.size):
                crc = crc32(piece, crc)
        else:
            if self._parked is not None and self._parked.pos > self._pos:
                self._resume(self._parked)
            if self.size - self._pos >= LONG_READ:
                with long_read():
                    self._inflate_to(self.size, self.size)
            else:
                self._inflate_to(self.size, self.size)
            # Past the size in the last piece already, or in more: an installer reads the declared size only.
            if self._pos > self.size or self._produce():
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
            f"{os.path.basename(self._archive_path)}: damaged data in {self.member.name} (CRC-32 mismatch)",
            path=self.member.name,
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
