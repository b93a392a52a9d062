"""Writing a wheel: raw copies of unchanged members, new RECORD, deterministic bytes, atomic rename.

The zip structures (APPNOTE 6.3.x: local header, central directory, ZIP64 end
records; layouts in :mod:`.zipformat`) are written here directly rather than through :mod:`zipfile`, because a
repair must copy unchanged members as their compressed bytes with their original
CRC-32 — nothing is inflated or recompressed unless it changed — and must decide
every byte of the output itself (timestamps, permissions, order) so that the same
input always gives the same file. The output is written to a temporary file next
to the target and renamed into place (PEP 427 RECORD rules, PEP 376 hash format).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType

from .._typing import TYPE_CHECKING
from ..errors import InvalidWheel, WheelError
from . import scratch
from . import zipformat as zf
from .deflating import DeflateMismatch, Deflating, Source, SpillFailed, deflate_chunks, inline
from .records import record_hash, record_line
from .zipdir import Member

if TYPE_CHECKING:
    from typing import BinaryIO

#: Deflate can grow incompressible data by a few bytes per 16 KiB block; below this a member never needs ZIP64 sizes.
ZIP64_SAFE_SIZE = 0xF0000000
#: Earliest time a zip can express; used when SOURCE_DATE_EPOCH is not set, so output never depends on the clock.
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z
#: Latest time a zip can express (2107-12-31T23:59:58Z): a literal, as calendar (with datetime) is ~1.5 ms of start-up.
LATEST_EPOCH = 4354819198
CHUNK = 1 << 20
#: What the central directory and RECORD, written as the members go, keep in memory before they go to disk.
SPOOL_IN_MEMORY = 1 << 20
SPOOL_BATCH = 64 << 10

ProgressCallback = Callable[[int], None]


class OutputError(WheelError):
    """The output cannot be written (disk full, no permission); the message names the output path."""


class _Output:
    """The temporary output file. An OSError here names the wheel being written, never the input."""

    def __init__(self, file: BinaryIO, target: Path) -> None:
        self.file = file
        self.target = target
        self.pos = 0  # kept here: asking the file costs a system call per member

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot write {self.target}: {exc.strerror or exc}", path=str(self.target))

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise self._failed(exc) from None
        self.pos += len(data)

    def seek(self, offset: int) -> None:
        try:
            self.file.seek(offset)
        except OSError as exc:
            raise self._failed(exc) from None
        self.pos = offset

    def tell(self) -> int:
        return self.pos

    def sync_and_close(self) -> None:
        """Flush, fsync and close: a full disk may only show here (delayed allocation, NFS)."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        except OSError as exc:
            raise self._failed(exc) from None

    def discard(self) -> None:
        """Close without caring: flushing a buffer onto a full disk fails again, and must not stop the cleanup."""
        with contextlib.suppress(OSError):
            self.file.close()


class _Spool:
    """Records made as the members are written (central directory entries, RECORD rows), written out at the end.

    A wheel may hold 500,000 members: kept as objects they took ~400 bytes each; here
    they are their bytes, in memory up to SPOOL_IN_MEMORY, then in an unnamed file in
    the wheelhouse (gone with the process, whatever ends it). A failure names the output.
    """

    def __init__(self, output: _Output, directory: Path) -> None:
        self._output = output
        self._file = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, dir=str(directory))  # noqa: SIM115 - closed by the writer
        self._pending = bytearray()  # gathered here first: one write to the file per SPOOL_BATCH, not per record
        self.size = 0

    def write(self, data: bytes) -> None:
        self._pending += data
        self.size += len(data)
        if len(self._pending) >= SPOOL_BATCH:
            self._flush()

    def _flush(self) -> None:
        try:
            self._file.write(self._pending)
        except OSError as exc:
            raise self._output._failed(exc) from None
        self._pending.clear()

    def chunks(self) -> Iterator[bytes]:
        """Everything written, from the start, in pieces."""
        self._flush()
        try:
            self._file.seek(0)
            while piece := self._file.read(CHUNK):
                yield piece
        except OSError as exc:
            raise self._output._failed(exc) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


def build_epoch() -> int:
    """The timestamp every member gets: SOURCE_DATE_EPOCH clipped to what a zip can hold, or 1980-01-01."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        value = int(raw) if raw else DEFAULT_EPOCH
    except ValueError:
        value = DEFAULT_EPOCH
    return min(max(value, DEFAULT_EPOCH), LATEST_EPOCH)


def dos_datetime(epoch: int) -> tuple[int, int]:
    t = time.gmtime(epoch)
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


def normalized_mode(mode: int, *, is_dir: bool = False) -> int:
    """Unix mode bits as written: 755 for directories and anything executable, 644 otherwise; links kept."""
    if is_dir:
        return stat.S_IFDIR | 0o755
    if stat.S_ISLNK(mode):
        return stat.S_IFLNK | 0o777
    return stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)


class WheelWriter:
    """Writes one wheel file; use as a context manager so a failure leaves nothing behind.

    Members are written in the order they are added; RECORD is written by :meth:`finish`
    as the last member, listing every member with the hash and size given or computed.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        compresslevel: int = 6,
        epoch: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.target = Path(target)
        self.compresslevel = compresslevel
        self._time, self._date = dos_datetime(build_epoch() if epoch is None else epoch)
        self._progress = progress
        self._names: set[str] = set()  # the callers' strings, not copies
        try:
            fd, self._tmp = scratch.new_file(self.target.parent)
        except OSError as exc:
            raise OutputError(f"cannot write into {self.target.parent}: {exc.strerror or exc}") from None
        self._fh = _Output(os.fdopen(fd, "w+b"), self.target)
        self._done = False
        try:
            self._central = _Spool(self._fh, self.target.parent)  # central directory records, packed
            self._record = _Spool(self._fh, self.target.parent)  # RECORD's rows, as written
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write into {self.target.parent}: {exc.strerror or exc}") from None

        self._count = 0  # members written
        #: One byte a member, in central-directory order: 1 for a raw copy (:meth:`copy_raw`), 0 for new bytes.
        self.copied = bytearray()
        #: CRC-32 and size of the central directory written (see :attr:`.zipdir.MemberTable.directory`).
        self.directory = (0, 0)

    def __enter__(self) -> WheelWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.abort()

    def abort(self) -> None:
        """Drop the partial output (whatever went wrong, the hidden temporary file goes)."""
        self._done = True
        self._fh.discard()
        for spool in ("_central", "_record"):
            if hasattr(self, spool):
                getattr(self, spool).close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    # -- members --------------------------------------------------------------------

    def _claim(self, name: str) -> bytes:
        if name in self._names:
            raise ValueError(f"member {name!r} written twice")
        self._names.add(name)
        return name.encode("utf-8")

    def _flags(self, name: str) -> int:
        return 0 if name.isascii() else zf.FLAG_UTF8

    def _write_local(
        self, encoded: bytes, flags: int, method: int, crc: int, csize: int, size: int, zip64: bool
    ) -> int:
        offset = self._fh.tell()
        extra = b""
        if zip64:
            extra = zf.zip64_extra(size, csize)
            csize_field = size_field = zf.ZIP64_LIMIT
        else:
            csize_field, size_field = csize, size
        needed = zf.VERSION_NEEDED_ZIP64 if zip64 else zf.VERSION_NEEDED
        self._fh.write(
            zf.LOCAL_HEADER.pack(
                zf.LOCAL_SIG,
                needed,
                flags,
                method,
                self._time,
                self._date,
                crc,
                csize_field,
                size_field,
                len(encoded),
                len(extra),
            )
            + encoded
            + extra
        )
        return offset

    def copy_raw(self, member: Member, compressed: Iterable[bytes], hash_: str) -> None:
        """Copy a member as its stored bytes with its original CRC-32; ``hash_`` goes into RECORD."""
        encoded = self._claim(member.name)
        flags = self._flags(member.name)
        zip64 = member.size >= zf.ZIP64_LIMIT or member.compressed_size >= zf.ZIP64_LIMIT
        offset = self._write_local(
            encoded, flags, member.compress_type, member.crc, member.compressed_size, member.size, zip64
        )
        written = 0
        for chunk in compressed:
            self._fh.write(chunk)
            written += len(chunk)
            if self._progress:
                self._progress(len(chunk))
        if written != member.compressed_size:
            raise InvalidWheel(f"{member.name}: copied {written} bytes, expected {member.compressed_size}")
        is_dir = member.is_dir
        self._add_central(
            encoded,
            flags,
            member.compress_type,
            member.crc,
            member.compressed_size,
            member.size,
            offset,
            normalized_mode(member.mode, is_dir=is_dir),
            is_dir,
        )
        self.copied.append(1)
        if not is_dir:
            self._record.write(record_line(member.name, hash_, member.size).encode("utf-8"))

    def add_chunks(self, name: str, chunks: Iterable[bytes], size: int, *, mode: int = 0o644) -> str:
        """Compress and write a new or changed member from pieces totalling ``size`` bytes; returns its hash."""
        digest = self._add_chunks(name, chunks, size, mode)
        self._record.write(record_line(name, digest, size).encode("utf-8"))
        return digest

    def _add_chunks(self, name: str, chunks: Iterable[bytes], size: int, mode: int) -> str:
        encoded = self._claim(name)
        flags = self._flags(name)
        zip64 = size > ZIP64_SAFE_SIZE
        method = zf.DEFLATED if self.compresslevel > 0 else zf.STORED
        offset = self._write_local(encoded, flags, method, 0, 0, 0, zip64)
        data_start = self._fh.tell()
        try:
            crc, digest = deflate_chunks(chunks, size, self.compresslevel, self._fh.write, self._progress)
        except DeflateMismatch as exc:
            raise DeflateMismatch(f"{name}: {exc}") from None
        self._fill_sizes(name, encoded, offset, data_start, crc, size, zip64)
        csize = self._fh.tell() - data_start
        self._add_central(encoded, flags, method, crc, csize, size, offset, normalized_mode(mode), False)
        self.copied.append(0)
        return record_hash(digest)

    def add_bytes(self, name: str, data: bytes, *, mode: int = 0o644) -> str:
        return self.add_deflating(name, inline(Source.of_bytes(data), self.compresslevel), mode=mode)

    def add_file(self, name: str, path: str | os.PathLike[str], *, mode: int | None = None) -> str:
        source = Source.of_file(path)
        if mode is None:
            mode = os.stat(path).st_mode
        return self.add_deflating(name, inline(source, self.compresslevel), mode=mode)

    def add_deflating(self, name: str, made: Deflating, *, mode: int = 0o644) -> str:
        """Write a new member deflated here or ahead on the pool (:class:`.deflating.DeflateQueue`); returns its hash.

        A member is one libdeflate stream, one zlib or ISA-L stream, or zlib's pieces (see
        :mod:`.deflating`): the same bytes however many threads made them.
        """
        if made.level != self.compresslevel:
            raise ValueError(f"{name}: deflated at level {made.level}, the writer writes {self.compresslevel}")
        encoded = self._claim(name)
        flags = self._flags(name)
        size = made.size
        zip64 = size > ZIP64_SAFE_SIZE
        method = zf.DEFLATED if self.compresslevel > 0 else zf.STORED
        offset = self._write_local(encoded, flags, method, 0, 0, 0, zip64)
        data_start = self._fh.tell()
        try:
            crc, sha = made.emit_into(self._fh.write, self._progress)
        except SpillFailed as exc:  # a result waiting in the wheelhouse: the output's disk is at fault
            raise self._fh._failed(exc) from None
        except DeflateMismatch as exc:
            raise DeflateMismatch(f"{name}: {exc}") from None
        self._fill_sizes(name, encoded, offset, data_start, crc, size, zip64)
        self._add_central(
            encoded, flags, method, crc, self._fh.tell() - data_start, size, offset, normalized_mode(mode), False
        )
        self.copied.append(0)
        digest = record_hash(sha)
        self._record.write(record_line(name, digest, size).encode("utf-8"))
        return digest

    def _fill_sizes(
        self, name: str, encoded: bytes, offset: int, data_start: int, crc: int, size: int, zip64: bool
    ) -> None:
        """Fill in the local header what only the data could tell: CRC-32 and the sizes."""
        end = self._fh.tell()
        csize = end - data_start
        if not zip64 and csize >= zf.ZIP64_LIMIT:  # pragma: no cover - excluded by ZIP64_SAFE_SIZE
            raise OSError(f"{name}: compressed size overflows a non-ZIP64 header")
        self._fh.seek(offset + zf.LOCAL_CRC_AT)
        if zip64:
            self._fh.write(zf.CRC_AND_SIZES.pack(crc, zf.ZIP64_LIMIT, zf.ZIP64_LIMIT))
            self._fh.seek(offset + zf.LOCAL_HEADER.size + len(encoded) + 4)  # past the extra field's header
            self._fh.write(zf.ZIP64_LOCAL_SIZES.pack(size, csize))
        else:
            self._fh.write(zf.CRC_AND_SIZES.pack(crc, csize, size))
        self._fh.seek(end)

    # -- end ------------------------------------------------------------------------

    def finish(self, record_name: str, *, before_rename: Callable[[], None] | None = None) -> Path:
        """Write RECORD and the central directory, then rename the file into place.

        ``before_rename`` runs last, once everything is written: a check that raises
        (the input changed while it was read) keeps the file out of the wheelhouse.
        """
        self._record.write(record_line(record_name, "", "").encode("utf-8"))
        self._add_chunks(record_name, self._record.chunks(), self._record.size, 0o644)
        self._write_central_directory()
        self._fh.sync_and_close()
        if before_rename is not None:
            before_rename()
        try:
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.target)
        except OSError as exc:
            raise OutputError(f"cannot write {self.target}: {exc.strerror or exc}", path=str(self.target)) from None
        self._done = True
        return self.target

    def _add_central(
        self,
        name: bytes,
        flags: int,
        method: int,
        crc: int,
        csize: int,
        size: int,
        offset: int,
        mode: int,
        is_dir: bool,
    ) -> None:
        """Pack the member's central-directory record now; the records are written out by :meth:`finish`."""
        extra_fields: list[int] = []
        if size >= zf.ZIP64_LIMIT or csize >= zf.ZIP64_LIMIT:
            extra_fields += [size, csize]
            size = csize = zf.ZIP64_LIMIT
        if offset >= zf.ZIP64_LIMIT:
            extra_fields.append(offset)
            offset = zf.ZIP64_LIMIT
        extra = zf.zip64_extra(*extra_fields) if extra_fields else b""
        needed = zf.VERSION_NEEDED_ZIP64 if extra_fields else zf.VERSION_NEEDED
        external = (mode << 16) | (zf.DOS_DIRECTORY if is_dir else 0)
        self._central.write(
            zf.CENTRAL_HEADER.pack(
                zf.CENTRAL_SIG,
                zf.MADE_BY_UNIX,
                needed,
                flags,
                method,
                self._time,
                self._date,
                crc,
                csize,
                size,
                len(name),
                len(extra),
                0,
                0,
                0,
                external,
                offset,
            )
            + name
            + extra
        )
        self._count += 1

    def _write_central_directory(self) -> None:
        start = self._fh.tell()
        checksum = 0
        for piece in self._central.chunks():
            self._fh.write(piece)
            checksum = zlib.crc32(piece, checksum)
        self._central.close()
        self._record.close()
        end = self._fh.tell()
        count, cd_size = self._count, end - start
        self.directory = (checksum, cd_size)
        if count >= zf.ZIP64_COUNT_LIMIT or cd_size >= zf.ZIP64_LIMIT or start >= zf.ZIP64_LIMIT:
            self._fh.write(
                zf.EOCD64.pack(
                    zf.EOCD64_SIG,
                    zf.EOCD64.size - 12,
                    zf.MADE_BY_UNIX,
                    zf.VERSION_NEEDED_ZIP64,
                    0,
                    0,
                    count,
                    count,
                    cd_size,
                    start,
                )
            )
            self._fh.write(zf.EOCD64_LOCATOR.pack(zf.EOCD64_LOCATOR_SIG, 0, end, 1))
            self._fh.write(
                zf.EOCD.pack(
                    zf.EOCD_SIG,
                    0,
                    0,
                    min(count, zf.ZIP64_COUNT_LIMIT),
                    min(count, zf.ZIP64_COUNT_LIMIT),
                    min(cd_size, zf.ZIP64_LIMIT),
                    min(start, zf.ZIP64_LIMIT),
                    0,
                )
            )
        else:
            self._fh.write(zf.EOCD.pack(zf.EOCD_SIG, 0, 0, count, count, cd_size, start, 0))
