"""Have glibc keep freed memory for reuse instead of handing it back to the kernel at once.

A run inflates members in pieces of up to 2 MiB, and keeps windows and prefixes of a few MiB,
each freed soon after. glibc serves blocks that large with fresh ``mmap``\\ s, or trims them off
the heap when freed, so nearly every piece was written into new pages: 30,000 page faults in a
``show`` of opencv-python-headless. With the thresholds raised the pages are reused: 9,300 page
faults, 257 -> 221 ms (pyarrow 301 -> 272 ms, scipy 319 -> 297 ms), peak RSS 1-6 MiB higher.
Only the command line does this: the process is then ours, the library API leaves it alone.
"""

from __future__ import annotations

import sys

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap (glibc's default starts at 128 KiB and adapts, up to 32 MiB).
MMAP_THRESHOLD = 16 << 20
#: Free memory at the heap's top is returned to the kernel only beyond this.
TRIM_THRESHOLD = 32 << 20


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where that does not apply.

    Costs the import of :mod:`ctypes` (~2 ms): worth it only for inputs of a few MiB or more.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc's: musl's mallopt does nothing, other libcs differ
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the trim threshold only after the mmap one, which fixes it in place.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
