"""Writing a repaired wheel: the step every platform's repair ends with.

A platform's repair hands over what changes — edited or grafted files in the scratch
directory, and new bytes (WHEEL, shims, the SBOM, a patched ``__init__.py``) — and
everything else is copied from the input as its compressed bytes, each one verified
on the way (:mod:`wheelaudit.wheel.writer`). RECORD is written last; the file is
renamed into the wheelhouse only if the input is still the file that was read.
"""

from __future__ import annotations

import errno
import hashlib
import sys
import time
from collections.abc import Collection
from pathlib import Path

from .._typing import TYPE_CHECKING
from ..auditing import CopiedMembers
from ..errors import InvalidWheel
from ..record import field, record
from ..wheel.archive import WheelArchive
from ..wheel.deflating import DeflateQueue, Source, usable_cores
from ..wheel.metadata import rewrite_wheel_tags
from ..wheel.records import HASH_ALGORITHMS, hash_algorithm, hash_matches, record_hash
from ..wheel.writer import OutputError, WheelWriter
from ..wheel.zipdir import Member

if TYPE_CHECKING:
    from typing import BinaryIO


@record
class Prepared:
    """What a platform's repair changes, by output member name; every other member is copied raw."""

    files: dict[str, tuple[Path, int]] = field(default_factory=dict)  # edited/grafted file, unix mode
    new_bytes: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # content, unix mode
    dropped: frozenset[str] = frozenset()  # input members not written (moved or replaced under another name)

    @property
    def changed(self) -> set[str]:
        """Output names whose bytes are not the input's (their analysis must be redone)."""
        return set(self.files) | set(self.new_bytes)


class Progress:
    """A one-line byte counter on stderr, for terminals only."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, max(total, 1), 0
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._last = now
            pct = min(100, self.done * 100 // self.total)
            sys.stderr.write(f"\rwheelaudit: writing {self.label} {pct:3d}% ({self.done >> 20}/{self.total >> 20} MB)")
            sys.stderr.flush()

    def close(self) -> None:
        if self._last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


#: Errors that say the output side (the wheelhouse's file system) is at fault, not the file being read.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


def scratch_failed(work: Path, exc: OSError) -> OutputError:
    """The one-line error for a scratch write that failed: it names the wheelhouse, not the input."""
    return OutputError(f"cannot write into the wheelhouse {work.parent}: {exc.strerror or exc}", path=str(work))


def extract_member(archive: WheelArchive, member: Member, path: Path) -> None:
    """Inflate one member into the scratch directory (its CRC-32 is checked on the way)."""
    with archive.open(member) as stream:
        chunks = stream.iter_chunks()
        try:
            with open(path, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except OSError as exc:
            raise scratch_failed(path.parent, exc) from None


def source_bytes(archive: WheelArchive, member: str, source: str) -> bytes:
    """The bytes a patcher edits: the library file ``source`` being grafted, or else the wheel's ``member``."""
    if source:
        with open(source, "rb") as fh:
            return fh.read()
    found = archive.members[member]
    return archive.read_member(found, limit=found.size)


def write_scratch(path: Path, data: bytes) -> None:
    """Write an edited file into the scratch directory; a full disk names the wheelhouse."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        if exc.errno in OUTPUT_ERRNOS:
            raise scratch_failed(path.parent, exc) from None
        raise


def rewrite_wheel_file(archive: WheelArchive, plats: list[str]) -> str | None:
    """WHEEL with its Tag lines for the new platforms, or None when they do not change."""

    def read_wheel() -> str:
        return archive.read_member(archive.members[f"{archive.info.dist_info}/WHEEL"], limit=1 << 20).decode("utf-8")

    return rewrite_wheel_tags(archive.info, plats, read_wheel)


def _member_hash(archive: WheelArchive, member: Member, verify: bool) -> str:
    """The RECORD hash of an unchanged member: the input's, or computed (and compared) while inflating."""
    row = archive.record.get(member.name)
    given = row.hash if row is not None else ""
    if given and not verify:
        return given
    algorithm = hash_algorithm(given)
    if algorithm not in HASH_ALGORITHMS:
        raise InvalidWheel(f"{archive.path.name}: RECORD uses hash {algorithm!r} for {member.name}")
    digest = hashlib.new(algorithm)
    with archive.open(member) as stream:
        for chunk in stream.iter_chunks():
            digest.update(chunk)
    if not given:
        return record_hash(digest.digest())
    if not hash_matches(given, digest.digest()):
        raise InvalidWheel(f"{archive.path.name}: {member.name} does not match its RECORD hash")
    return given


def write_wheel(
    archive: WheelArchive,
    prepared: Prepared,
    out_path: Path,
    *,
    compresslevel: int,
    verify_record: bool,
    progress: bool,
    skip: Collection[str] = (),
) -> CopiedMembers:
    """Write ``out_path``: the prepared changes plus a raw copy of every other member, then RECORD.

    Members go in name order with .dist-info last (RECORD is appended after all of them).
    Returns which members are raw copies, for the audit of the result.
    """
    dist_info = archive.info.dist_info
    skip = {*skip, *prepared.dropped, f"{dist_info}/RECORD", f"{dist_info}/RECORD.jws", f"{dist_info}/RECORD.p7s"}
    files, new_bytes = prepared.files, prepared.new_bytes
    # Only the exceptions are stored by name: a wheel may hold 500,000 members.
    replaced = files.keys() | new_bytes.keys()
    names = [n for n in archive.members if n not in skip and n not in replaced] + list(replaced)
    names.sort()  # then .dist-info last: no sort key (a tuple a member) to build
    last = dist_info + "/"
    names = [n for n in names if not n.startswith(last)] + [n for n in names if n.startswith(last)]
    # The new members, in the order they are written: deflated ahead on every core (.deflating).
    sources: list[tuple[str, Source]] = []
    modes: dict[str, int] = {}
    for name in names:
        if name in new_bytes:
            data, modes[name] = new_bytes[name]
            sources.append((name, Source.of_bytes(data)))
        elif name in files:
            path, modes[name] = files[name]
            sources.append((name, Source.of_file(path)))
    total = sum(archive.members[n].compressed_size for n in names if n not in replaced)
    total += sum(source.size for name, source in sources if name in files)

    shared: list[BinaryIO] = []  # one handle on the input for every raw copy (500,000 members: 500,000 opens)

    def write_one(writer: WheelWriter, queue: DeflateQueue, name: str) -> None:
        if name in modes:
            writer.add_deflating(name, queue.take(name), mode=modes[name])
        else:
            member = archive.members[name]
            digest = _member_hash(archive, member, verify_record) if not member.is_dir else ""
            if not shared:
                shared.append(open(archive.path, "rb"))  # noqa: SIM115 - closed after writing
            with archive.open(member, fh=shared[0]) as stream:
                writer.copy_raw(member, stream.iter_compressed(), digest)

    bar = Progress(out_path.name, total) if progress else None
    try:
        with WheelWriter(out_path, compresslevel=compresslevel, progress=bar) as writer:
            # Leaving this block (done, failed or interrupted) stops the workers before the writer cleans up.
            with DeflateQueue(compresslevel, sources, workers=usable_cores(), scratch_dir=out_path.parent) as queue:
                for name in names:
                    write_one(writer, queue, name)
            # Renamed into place only if the input is still the file that was read throughout.
            writer.finish(f"{dist_info}/RECORD", before_rename=archive.check_unchanged)
            return CopiedMembers(writer.copied, writer.directory)
    finally:
        for fh in shared:
            fh.close()
        if bar:
            bar.close()
