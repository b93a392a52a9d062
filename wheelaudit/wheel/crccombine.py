"""CRC-32 of a concatenation from the CRC-32s of its parts, for when no library offers it.

Two decoders checksum their own parts of one member (:mod:`wheelaudit.wheel.splitinflate`);
the member's CRC is then ``combine(crc(A), crc(B), len(B))``. Appending a zero
bit to the message is a linear map on the 32-bit CRC register over GF(2), so
appending ``n`` zero bytes is that map's 32x32 matrix raised to ``8n``; the
pre- and post-conditioning (all ones) cancels out between the two CRCs, leaving
``combine = shift(crc(A), len(B)) XOR crc(B)``. Matrices are kept as 32 column
words, and the ``2**k``-byte powers are built on first use by repeated squaring.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The reflected CRC-32 polynomial used by zip (IEEE 802.3).
POLY = 0xEDB88320

_powers: list[list[int]] = []  # _powers[k] appends 2**k zero bytes


def _apply(matrix: Sequence[int], vector: int) -> int:
    """``matrix @ vector`` over GF(2): XOR of the columns picked by the set bits of ``vector``."""
    out = 0
    column = 0
    while vector:
        if vector & 1:
            out ^= matrix[column]
        vector >>= 1
        column += 1
    return out


def _square(matrix: Sequence[int]) -> list[int]:
    return [_apply(matrix, col) for col in matrix]


def _power(k: int) -> list[int]:
    """The operator that appends ``2**k`` zero bytes."""
    if not _powers:
        one_bit = [POLY] + [1 << i for i in range(31)]  # bit 0 shifts out and folds in the polynomial
        _powers.append(_square(_square(_square(one_bit))))  # 8 bits: one byte
    while len(_powers) <= k:
        _powers.append(_square(_powers[-1]))
    return _powers[k]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32 of ``A + B`` given ``crc1 = crc32(A)``, ``crc2 = crc32(B)`` and ``length2 = len(B)``."""
    if length2 < 0:
        raise ValueError("length2 must not be negative")
    k = 0
    while length2:
        if length2 & 1:
            crc1 = _apply(_power(k), crc1)
        length2 >>= 1
        k += 1
    return crc1 ^ crc2
