"""Damaged ELF files: the parser either reads them or raises MalformedBinary, never anything else."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable

import pytest

from wheelaudit.binary.elf import parse_elf
from wheelaudit.binary.elfsections import elf_debug_sizes
from wheelaudit.errors import MalformedBinary

from .conftest import sample_wheel


def _reader(blob: bytes) -> Callable[[int, int], bytes]:
    def read_at(offset: int, size: int) -> bytes:
        if offset < 0 or offset + size > len(blob):
            raise EOFError(f"bytes {offset}..{offset + size} past the end")  # as MemberStream does
        return blob[offset : offset + size]

    return read_at


def _damaged(base: bytes, rng: random.Random, mode: int) -> bytes:
    data = bytearray(base)
    if mode == 0:  # ELF header and program headers
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(0, 64 + 56 * 12)] = rng.randrange(256)
    elif mode == 1:  # a 32-bit field smashed where the dynamic tables usually are
        at = rng.randrange(0, min(len(data) - 4, 65536))
        data[at : at + 4] = rng.randrange(1 << 32).to_bytes(4, "little")
    elif mode == 2:  # truncated
        data = data[: rng.randrange(16, len(data))]
    else:  # garbage after the magic
        data = bytearray(b"\x7fELF" + bytes(rng.randrange(256) for _ in range(rng.randrange(12, 400))))
    return bytes(data)


@pytest.mark.parametrize("mode", range(4), ids=["headers", "tables", "truncated", "garbage"])
def test_only_malformed_binary_escapes(mode: int) -> None:
    wheel = sample_wheel("wa_sample_abi3-")
    with zipfile.ZipFile(wheel) as z:
        base = z.read("wa_sample_abi3/wa_sample_abi3.abi3.so")
    rng = random.Random(1000 + mode)
    malformed = 0
    for _ in range(150):
        blob = _damaged(base, rng, mode)
        try:
            parse_elf(_reader(blob), "x.so", len(blob))
        except MalformedBinary:
            malformed += 1
        elf_debug_sizes(_reader(blob), len(blob), read_tail=lambda unloaded: True)  # None or sizes, never raises
    if mode != 1:  # a smashed word in the tables region often lands in code or unread data
        assert malformed > 0, "the damage must be noticed at least sometimes"
