#!/usr/bin/env python3
"""The physical floor of auditing a wheel: ISA-L inflation of every binary member, nothing else.

An audit that verifies every byte (CRC-32 of each member it reads) must at least inflate every
binary member once; interpreter start-up (``python -c pass``, timed by the caller) comes on
top. This script times only that inflation, in-process after its own start-up, with members in
``--jobs`` threads (default 1; wheelaudit's default is one per core, at most 8):

    python benchmarks/floor.py [--jobs N] [--every-member] WHEEL [WHEEL ...]
    -> one JSON object per wheel: seconds (wall), cpu_seconds, members (inflated), member_bytes,
       inflated_bytes, compressed_bytes

``--every-member`` inflates (and checks the CRC-32 of) every member, binary or not: what
wheelaudit's rule that every member's CRC-32 is checked costs at the least. scipy's 1,444
Python and data members are 29 MB of its 106, outside the binary-only floor.

A member is binary when its first bytes are ELF, Mach-O or PE magic (every member is sniffed:
its first 64 bytes are inflated, not counted). Stdlib plus ``isal``; independent of
wheelaudit's own reader, so a slow reader cannot lower the floor.
"""

from __future__ import annotations

import json
import struct
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib

MAGICS = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"\xca\xfe\xba\xbf",
)
CHUNK = 1 << 20


def _is_binary(head: bytes) -> bool:
    return head[:4] in MAGICS or head[:2] == b"MZ"


def _data_offset(fh: BinaryIO, info: zipfile.ZipInfo) -> int:
    fh.seek(info.header_offset)
    local = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len


def sniff_member(fh: BinaryIO, info: zipfile.ZipInfo) -> bytes:
    """A member's first 64 bytes, inflating no more than that."""
    fh.seek(_data_offset(fh, info))
    raw = fh.read(min(info.compress_size, 4096))
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return raw[:64]
    return isal_zlib.decompressobj(-15).decompress(raw, 64)


def inflate_member(fh: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Inflate one member to its end, checking its CRC-32; the bytes produced."""
    fh.seek(_data_offset(fh, info))
    left = info.compress_size
    produced = crc = 0
    decoder = isal_zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while left > 0:
        raw = fh.read(min(CHUNK, left))
        left -= len(raw)
        out = decoder.decompress(raw) if decoder else raw
        crc = isal_zlib.crc32(out, crc)
        produced += len(out)
    if decoder:
        tail = decoder.flush()
        crc = isal_zlib.crc32(tail, crc)
        produced += len(tail)
    if crc != info.CRC:
        sys.exit(f"floor.py: CRC-32 mismatch in {info.filename}")
    return produced


def floor(path: Path, jobs: int = 1, every_member: bool = False) -> dict[str, float]:
    """Inflate every binary member of one wheel (``every_member``: every member), in ``jobs`` threads
    (ISA-L releases the GIL; largest member first, as wheelaudit does); what it cost and how much it was."""
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and (every_member or i.file_size >= 16)]
    started, cpu_started = time.perf_counter(), time.process_time()
    with path.open("rb") as fh:
        chosen = infos if every_member else [i for i in infos if _is_binary(sniff_member(fh, i))]
        binaries = sorted(chosen, key=lambda i: -i.file_size)
    pending = iter(binaries)
    lock = threading.Lock()
    inflated = [0]

    def work() -> None:
        with path.open("rb") as fh:
            while True:
                with lock:
                    info = next(pending, None)
                if info is None:
                    return
                produced = inflate_member(fh, info)
                with lock:
                    inflated[0] += produced

    threads = [threading.Thread(target=work) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    members = len(binaries)
    member_bytes = sum(i.file_size for i in binaries)
    compressed = sum(i.compress_size for i in binaries)
    return {
        "wheel": path.name,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "members": members,
        "member_bytes": member_bytes,
        "inflated_bytes": inflated[0],
        "compressed_bytes": compressed,
    }


def main() -> None:
    args = sys.argv[1:]
    jobs = 1
    if args[:1] == ["--jobs"] and len(args) > 1:
        jobs, args = int(args[1]), args[2:]
    every_member = "--every-member" in args
    args = [a for a in args if a != "--every-member"]
    if not args:
        sys.exit(__doc__)
    for name in args:
        print(json.dumps(floor(Path(name), jobs, every_member)))


if __name__ == "__main__":
    main()
