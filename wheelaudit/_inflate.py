"""Pick the fastest raw-deflate decompressor that is installed.

ISA-L (``isal``) and zlib-ng inflate 2-3x faster than zlib; both are optional so a
plain install still works everywhere zlib does.
"""

from __future__ import annotations

from typing import Any, Callable

DecompressorFactory = Callable[[], Any]


def _pick() -> tuple[str, DecompressorFactory]:
    try:
        from isal import isal_zlib

        return "isal", lambda: isal_zlib.decompressobj(-15)
    except ImportError:  # pragma: no cover - depends on the platform's wheels
        pass
    try:
        from zlib_ng import zlib_ng

        return "zlib-ng", lambda: zlib_ng.decompressobj(-15)
    except ImportError:  # pragma: no cover
        pass
    import zlib

    return "zlib", lambda: zlib.decompressobj(-15)


BACKEND, new_raw_decompressor = _pick()
