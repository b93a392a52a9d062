"""Writing a repaired wheel: the step every platform's repair ends with.

A platform's repair hands over what changes — edited or grafted files in the scratch
directory, and new bytes (WHEEL, shims, the SBOM, a patched ``__init__.py``) — and
everything else is copied from the input as its compressed bytes, each one verified
on the way (:mod:`wheelaudit.wheel.writer`). RECORD is written last; the file is
renamed into the wheelhouse only if the input is still the file that was read.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidWheel
from ..wheel.archive import Member, WheelArchive
from ..wheel.writer import OutputError, WheelWriter, record_hash


@dataclass
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


def rewrite_wheel_file(archive: WheelArchive, plats: list[str]) -> str | None:
    """WHEEL with its Tag lines for the new platforms, or None when they do not change."""
    info = archive.info
    old_tags = list(info.wheel_tags) or list(info.file_tags)
    pairs = list(dict.fromkeys(tuple(t.split("-")[:2]) for t in old_tags if t.count("-") == 2))
    new_tags = [f"{py}-{abi}-{plat}" for py, abi in pairs for plat in plats]
    purelib_fix = "any" in info.platform_tags and info.root_is_purelib
    if set(new_tags) == set(info.wheel_tags) and not purelib_fix:
        return None
    text = archive.read_member(archive.members[f"{info.dist_info}/WHEEL"], limit=1 << 20).decode("utf-8")
    lines: list[str] = []
    placed = False
    for line in text.splitlines():
        key = line.split(":", 1)[0].strip().lower()
        if key == "tag":
            if not placed:
                lines += [f"Tag: {t}" for t in new_tags]
                placed = True
            continue
        if key == "root-is-purelib" and purelib_fix:
            line = "Root-Is-Purelib: false"
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    if not placed:
        lines += [f"Tag: {t}" for t in new_tags]
    return "\n".join(lines) + "\n\n"


def _member_hash(archive: WheelArchive, member: Member, verify: bool) -> str:
    """The RECORD hash of an unchanged member: the input's, or computed (and compared) while inflating."""
    row = archive.record.get(member.name)
    if row is not None and row.hash and not verify:
        return row.hash
    algorithm = "sha256"
    if row is not None and row.hash:
        algorithm = row.hash.split("=", 1)[0]
        if algorithm not in ("sha256", "sha384", "sha512"):
            raise InvalidWheel(f"{archive.path.name}: RECORD uses hash {algorithm!r} for {member.name}")
    digest = hashlib.new(algorithm)
    with archive.open(member) as stream:
        for chunk in stream.iter_chunks():
            digest.update(chunk)
    if row is not None and row.hash:
        expected = row.hash.split("=", 1)[1] if "=" in row.hash else ""
        actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if expected.rstrip("=") != actual:
            raise InvalidWheel(f"{archive.path.name}: {member.name} does not match its RECORD hash")
        return row.hash
    return record_hash(digest.digest())


def _sort_key(name: str, dist_info: str) -> tuple[int, str]:
    """Members in name order with .dist-info last (RECORD is appended after all of them)."""
    return (1 if name.startswith(dist_info + "/") else 0, name)


def write_wheel(
    archive: WheelArchive,
    prepared: Prepared,
    out_path: Path,
    *,
    compresslevel: int,
    verify_record: bool,
    progress: bool,
    skip: Collection[str] = (),
) -> None:
    """Write ``out_path``: the prepared changes plus a raw copy of every other member, then RECORD."""
    dist_info = archive.info.dist_info
    skip = {*skip, *prepared.dropped, f"{dist_info}/RECORD", f"{dist_info}/RECORD.jws", f"{dist_info}/RECORD.p7s"}
    files, new_bytes = prepared.files, prepared.new_bytes
    # Only the exceptions are stored by name: a wheel may hold 500,000 members.
    replaced = files.keys() | new_bytes.keys()
    names = [n for n in archive.members if n not in skip and n not in replaced] + list(replaced)
    names.sort(key=lambda n: _sort_key(n, dist_info))
    total = sum(archive.members[n].compressed_size for n in names if n not in replaced)
    total += sum(p.stat().st_size for p, _ in files.values())

    shared: list[BinaryIO] = []  # one handle on the input for every raw copy (500,000 members: 500,000 opens)

    def write_one(writer: WheelWriter, name: str) -> None:
        if name in new_bytes:
            data, mode = new_bytes[name]
            writer.add_bytes(name, data, mode=mode)
        elif name in files:
            path, mode = files[name]
            writer.add_file(name, path, mode=mode)
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
            for name in names:
                write_one(writer, name)
            # Renamed into place only if the input is still the file that was read throughout.
            writer.finish(f"{dist_info}/RECORD", before_rename=archive.check_unchanged)
    finally:
        for fh in shared:
            fh.close()
        if bar:
            bar.close()
