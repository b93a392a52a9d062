"""Pick the fastest raw-deflate decompressor that is installed.

ISA-L (``isal``) and zlib-ng inflate 2-3x faster than zlib; both are optional so a
plain install still works everywhere zlib does. All three take ``zdict`` (a preset
window), which :mod:`wheelaudit.wheel.splitinflate` needs to decode from a block boundary.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from .._typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from typing import Any

DecompressorFactory = Callable[..., "Any"]


Crc32 = Callable[[bytes, int], int]


def _pick() -> tuple[str, DecompressorFactory, type[Exception], Crc32]:
    try:
        from isal import isal_zlib

        return "isal", isal_zlib.decompressobj, cast("type[Exception]", isal_zlib.error), isal_zlib.crc32
    except ImportError:  # pragma: no cover - depends on the platform's wheels
        pass
    try:
        from zlib_ng import zlib_ng

        return "zlib-ng", zlib_ng.decompressobj, cast("type[Exception]", zlib_ng.error), zlib_ng.crc32
    except ImportError:  # pragma: no cover
        pass
    return "zlib", zlib.decompressobj, zlib.error, zlib.crc32


BACKEND, _decompressobj, _backend_error, crc32 = _pick()
"""CRC-32 as zip computes it; ISA-L's is ~10x faster than zlib's."""


def _pick_combine() -> Callable[[int, int, int], int]:
    """ISA-L's crc32_combine when installed (zlib does not expose one to Python), else ours."""
    try:
        from isal import isal_zlib

        combine: Callable[[int, int, int], int] = isal_zlib.crc32_combine
        return combine
    except (ImportError, AttributeError):  # pragma: no cover - depends on the platform's wheels
        from .crccombine import crc32_combine as ours

        return ours


#: ``crc32_combine(crc(A), crc(B), len(B)) == crc(A + B)``: lets two decoders checksum their own parts.
crc32_combine = _pick_combine()
#: What the decoders raise on damaged data.
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _backend_error)


def new_raw_decompressor(zdict: bytes | None = None) -> Any:
    """A raw (headerless) deflate decoder, optionally primed with the window ``zdict``."""
    if zdict is None:
        return _decompressobj(-15)
    return _decompressobj(-15, zdict=zdict)
