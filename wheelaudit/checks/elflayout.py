"""ELF files the dynamic loader refuses to map, whatever the tags say.

A loadable segment must sit at a file offset that agrees with its address modulo the
page size (and, for glibc before 2.35, modulo its ``p_align``): the loader maps whole
pages from the file. Linkers always get this right; tools that move segments around
afterwards sometimes do not (llvm-strip 14 on a library patchelf had edited: scipy's and
pillow's libraries, stripped, failed to import with "ELF load command address/offset not
page-aligned"). Such a wheel installs fine and fails at ``import``.
"""

from __future__ import annotations

from ..binary.model import BinaryFormat
from ..report.model import Problem, Severity
from .context import AuditContext

FIX_MISALIGNED = (
    "rebuild, or strip with GNU binutils' strip instead of llvm-strip (llvm-strip 14 misplaces segments of "
    "files that patchelf edited); `wheelaudit repair --strip` checks the segments of what it writes"
)


def check(ctx: AuditContext) -> list[Problem]:
    """One error per ELF binary with a loadable segment the loader cannot map."""
    return [
        Problem(
            code="elf-load-misaligned",
            severity=Severity.ERROR,
            message=(
                f"{binary.path}: the dynamic loader refuses to map it ('ELF load command address/offset not "
                f"page-aligned' or 'not properly aligned'): {'; '.join(binary.misaligned_segments)}"
            ),
            path=binary.path,
            fix=FIX_MISALIGNED,
        )
        for binary in ctx.binaries
        if binary.format is BinaryFormat.ELF and binary.misaligned_segments
    ]
