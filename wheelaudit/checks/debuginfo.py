"""Size hints: how much of each binary is debug information that ``--strip debug`` would drop.

The sizes come with the binaries: Mach-O and PE parsers see their section tables for
free, and the ELF scan reads the section table when the part of the file outside the
loaded image is big enough to matter (``binary/elfsections.py``).
"""

from __future__ import annotations

from ..binary.model import Binary, BinaryFormat
from ..report.model import Problem, Severity

#: Large deflated ELF members are only estimated; below this share of unloaded bytes say nothing.
LARGE_GAP_SHARE = 0.40
#: Report debug info from this size on.
REPORT_BYTES = 64 * 1024

FIX = (
    'strip debug info from release wheels: Cargo `[profile.release] strip = "debuginfo"` (or `debug = false`), '
    "`maturin build --strip`, setuptools-rust `RustExtension(..., debug=False)` / `strip=Strip.Debug`; "
    "or `wheelaudit repair --strip debug`. Ship DWARF separately (split-debuginfo) if you need it"
)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.0f} KB"


def check(binaries: tuple[Binary, ...]) -> list[Problem]:
    """One ``debug-info-present`` info per binary carrying a notable amount of debug information."""
    problems: list[Problem] = []
    done: set[str] = set()
    for binary in binaries:
        if binary.path in done:
            continue
        done.add(binary.path)
        slices = [b for b in binaries if b.path == binary.path]
        if binary.format is BinaryFormat.ELF and not binary.debug_sizes_exact:
            problem = _estimate(binary)
        else:
            extra = ""
            if binary.symbol_table_bytes >= REPORT_BYTES:
                extra = f"; a full strip also drops {_mb(binary.symbol_table_bytes)} of symbol tables"
            debug = sum(b.debug_info_bytes for b in slices)
            problem = _problem(binary, debug, sum(b.file_size for b in slices), extra, exact=True)
        if problem is not None:
            problems.append(problem)
    return problems


def _estimate(binary: Binary) -> Problem | None:
    if binary.unloaded_bytes < LARGE_GAP_SHARE * binary.file_size:
        return None  # stripped, or most likely just a symbol table: not worth inflating the member to tell
    return _problem(
        binary,
        binary.unloaded_bytes,
        binary.file_size,
        " (estimate: bytes outside the loaded image)",
        exact=False,
    )


def _problem(binary: Binary, debug: int, size: int, extra: str, *, exact: bool) -> Problem | None:
    if debug < REPORT_BYTES or not size:
        return None
    share = 100.0 * debug / size
    what = "debug info" if exact else "debug info and symbols"
    return Problem(
        "debug-info-present",
        Severity.INFO,
        f"{binary.path} carries {_mb(debug)} of {what} ({share:.0f}% of {_mb(size)}); "
        f"`--strip debug` would save about {_mb(debug)}{extra}",
        path=binary.path,
        fix=FIX,
    )
