"""The neutral description of one binary (or one slice of a fat Mach-O).

Every format module (``elf``, ``macho``, ``pe``) turns bytes into :class:`Binary`
records; the checks only ever look at these records, never at a format library.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from .._typing import NamedTuple
from ..record import field, record

#: How every format reader gets bytes: ``read_at(offset, size)``, and many spans at once (in file order).
ReadAt = Callable[[int, int], bytes]
ReadSpans = Callable[[list[tuple[int, int]]], list[bytes]]


class BinaryFormat(str, enum.Enum):
    ELF = "elf"
    MACHO = "macho"
    PE = "pe"


class BinaryKind(str, enum.Enum):
    """What role a binary plays in a wheel."""

    EXTENSION = "extension"  # a Python extension module (exports PyInit_*/PyModExport_*)
    LIBRARY = "library"  # a shared library that is not an extension module
    EXECUTABLE = "executable"  # a program (ELF ET_EXEC / PIE with PT_INTERP, MH_EXECUTE, PE exe)
    OTHER = "other"  # object files, static archives, anything else with a binary magic


class ImportedSymbol(NamedTuple):
    """An undefined dynamic symbol the binary needs from somewhere else.

    ``library`` is the library the symbol version (ELF) or two-level namespace
    ordinal (Mach-O) or import table (PE) ties it to, when the format says so.
    A named tuple rather than a record: large C++ libraries import tens of
    thousands of symbols, and tuples are several times cheaper to create.
    """

    name: str
    version: str | None = None  # e.g. "GLIBC_2.34" (ELF only)
    library: str | None = None  # e.g. "libc.so.6", "python3.dll"
    weak: bool = False


@record(frozen=True)
class VersionNeed:
    """One version node a binary requires from one library (ELF ``.gnu.version_r``).

    ``symbols`` names the imported symbols that carry this version, so every
    requirement can be traced to the code that causes it; it may be empty when
    a version is required but no symbol references it (the linker still adds the
    need, and the loader still checks it).
    """

    library: str
    version: str  # "GLIBC_2.34"
    weak: bool  # VER_FLG_WEAK on the vernaux entry
    symbols: tuple[str, ...] = ()


class IsaFamilyUse(NamedTuple):
    """How much of the sampled code uses one instruction-set extension."""

    family: str  # "avx", "bmi", "sse4", "avx512" ... (see x86decode.Family)
    level: int  # the x86-64 psABI level that brings it
    instructions: int  # sampled instructions of this family
    windows: int  # sampled windows it occurs in


@record(frozen=True)
class CodeIsa:
    """The x86-64 level a binary's code needs, judged from how widely it uses each level's instructions.

    ``level`` is what the code was compiled for (1 = baseline); ``dispatched_level`` a higher
    level whose instructions occur only in a few places, as runtime dispatch leaves them.
    """

    level: int
    dispatched_level: int | None
    instructions: int  # decoded in the sample
    windows: int  # sampled windows that held code
    families: tuple[IsaFamilyUse, ...] = ()

    def share(self, use: IsaFamilyUse) -> float:
        """The family's share of the sampled instructions."""
        return use.instructions / self.instructions if self.instructions else 0.0

    def spread(self, use: IsaFamilyUse) -> float:
        """The share of sampled code windows the family occurs in."""
        return use.windows / self.windows if self.windows else 0.0


@record(frozen=True)
class Binary:
    """Everything the audit needs to know about one binary.

    For a fat Mach-O there is one record per architecture slice, all with the same
    ``path``.
    """

    path: str  # member name inside the wheel, forward slashes
    format: BinaryFormat
    arch: str  # wheel-tag spelling: x86_64, i686, aarch64, armv7l, ppc64le, s390x, riscv64, arm64, amd64 ...
    kind: BinaryKind
    bits: int = 64
    needed: tuple[str, ...] = ()  # DT_NEEDED / LC_LOAD_DYLIB / PE imports, in load order
    weak_needed: tuple[str, ...] = ()  # LC_LOAD_WEAK_DYLIB, PE delay-load imports
    rpath: tuple[str, ...] = ()  # DT_RPATH / LC_RPATH
    runpath: tuple[str, ...] = ()  # DT_RUNPATH
    own_name: str | None = None  # DT_SONAME / LC_ID_DYLIB / PE export-directory name
    interpreter: str | None = None  # PT_INTERP
    abi: str | None = None  # ELF: "glibc" / "musl" / "android" when it can be told; armv7 "hard-float"
    version_needs: tuple[VersionNeed, ...] = ()
    imported_symbols: tuple[ImportedSymbol, ...] = ()
    exported_symbols: tuple[str, ...] = ()  # only the interesting ones: module init hooks, Py* exports
    init_functions: tuple[str, ...] = ()  # PyInit_* / PyModExport_* / PyInitU_* / PyModExportU_*
    defined_python_symbols: tuple[str, ...] = ()  # Py*/_Py* symbols the binary defines itself
    min_os: str | None = None  # Mach-O minimum OS ("10.12", "11.0")
    sdk: str | None = None  # Mach-O SDK version
    os_platform: str | None = None  # Mach-O LC_BUILD_VERSION platform: "macos", "ios", "ios-simulator" ...
    isa_level: int | None = None  # x86-64 ISA level from the GNU property note (1 = baseline)
    isa_notes: tuple[str, ...] = ()  # other ISA facts worth a line in the report
    code_isa: CodeIsa | None = None  # x86-64 level judged from a sample of the machine code (see isascan)
    executable_stack: bool = False  # PT_GNU_STACK with PF_X, or no PT_GNU_STACK on a loadable ELF
    misaligned_segments: tuple[str, ...] = ()  # ELF PT_LOADs the loader refuses to map (see elf.misaligned_loads)
    signed: bool | None = None  # Mach-O LC_CODE_SIGNATURE / PE Authenticode present
    debug_info_bytes: int = 0  # bytes of .debug_* / DWARF sections, when known
    symbol_table_bytes: int = 0  # ELF .symtab + .strtab: what a full strip removes beyond debug info
    unloaded_bytes: int = 0  # ELF: bytes between the loaded image and the section table
    debug_sizes_exact: bool = True  # False: the ELF section table was not read, only unloaded_bytes is known
    file_size: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # format-specific facts for the report
