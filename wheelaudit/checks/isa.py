"""x86-64 level of the machine code itself, for binaries that carry no GNU property note.

A Rust build with ``-C target-cpu=haswell`` (or C with ``-march=x86-64-v3``) declares
nothing, imports nothing unusual, and dies with SIGILL at import on a CPU without AVX2.
``binary.isascan`` samples the code; this turns its verdict into findings: a warning
for code compiled for a level above the baseline (a deliberate choice is legitimate,
so not an error), and a note for code that only dispatches to newer instructions.
"""

from __future__ import annotations

import posixpath
import re

from ..binary.model import Binary, BinaryFormat, CodeIsa
from ..report.model import Problem, Severity
from .context import AuditContext

#: Older CPUs the level leaves out, for the message.
_LEFT_OUT = {
    2: "x86-64 CPUs without SSE4.2/POPCNT (before Intel Nehalem, AMD Bulldozer)",
    3: "x86-64 CPUs without AVX2/BMI2 (before Intel Haswell, AMD Excavator; Atom/Celeron/Pentium to 2020)",
    4: "x86-64 CPUs without AVX-512 (most desktop CPUs, every AMD before Zen 4)",
}
#: For code whose only x86-64-v3 instructions are AVX ones (``-mavx``, as TensorFlow and JAX build):
#: it runs on the CPUs between AVX and AVX2 that the level's own list leaves out.
_LEFT_OUT_AVX = "x86-64 CPUs without AVX (before Intel Sandy Bridge, AMD Bulldozer; Atom/Celeron/Pentium to 2020)"

FIX = (
    "if it is meant to run everywhere, build for the baseline (no `-C target-cpu=` / `-march=` above x86-64; "
    "at most `-C target-cpu=x86-64-v2` for post-2009 CPUs) and select faster code at run time "
    "(`is_x86_feature_detected!` with `#[target_feature]`, or GCC/Clang `target_clones`); "
    "if it is deliberate, publish a separate baseline (compat) wheel for older CPUs"
)

#: Families shown by name, most telling first.
_NAMES = {
    "avx512": "AVX-512",
    "avx2": "AVX2",
    "avx": "AVX",
    "fma": "FMA",
    "f16c": "F16C",
    "bmi": "BMI1/BMI2",
    "lzcnt": "LZCNT",
    "movbe": "MOVBE",
    "sse4": "SSE4.1/4.2",
    "ssse3": "SSSE3",
    "sse3": "SSE3",
    "popcnt": "POPCNT",
    "cx16": "CMPXCHG16B",
    "lahf": "LAHF/SAHF",
}


#: A module built for one instruction set beside its baseline twin: ``fuzz_cpp_avx2`` next to ``fuzz_cpp``
#: (rapidfuzz), ``_swigfaiss_avx512`` next to ``_swigfaiss`` (faiss). The package imports the variant
#: the CPU can run, so the whole module is code chosen at run time.
_VARIANT = re.compile(r"^(?P<base>.+)_(?:avx\w*|sse\w*|ssse3|fma\w*|haswell|skylake\w*|x86_64_v[234]|v[234])$")


def check(ctx: AuditContext) -> list[Problem]:
    """One finding per x86-64 ELF binary whose code goes beyond the baseline, and says nothing of it."""
    problems: list[Problem] = []
    baseline = _baseline_modules(ctx.binaries)
    for binary in ctx.binaries:
        isa = binary.code_isa
        if binary.format is not BinaryFormat.ELF or binary.arch != "x86_64" or isa is None:
            continue
        declared = binary.isa_level or 1  # the GNU property note, which linux.py reports
        if isa.level > declared:
            twin = _baseline_twin(binary, baseline)
            problems.append(_compiled_for(binary, isa) if twin is None else _variant_of(binary, isa, twin))
        elif isa.level == 1 and isa.dispatched_level and declared == 1:
            problems.append(_dispatched(binary, isa))
    return problems


def evidence(isa: CodeIsa, min_level: int) -> str:
    """The families of at least ``min_level``: share of instructions and of sampled windows."""
    uses = sorted((u for u in isa.families if u.level >= min_level), key=lambda u: (-u.level, -u.windows))
    return ", ".join(
        f"{_NAMES.get(u.family, u.family)} in {isa.spread(u):.0%} of the code sampled "
        f"({isa.share(u):.2%} of instructions)"
        for u in uses
    )


def _compiled_for(binary: Binary, isa: CodeIsa) -> Problem:
    avx_only = isa.level == 3 and {u.family for u in isa.families if u.level >= 3} == {"avx"}
    target = "with AVX, an x86-64-v3 extension," if avx_only else f"for x86-64-v{isa.level}"
    left_out = _LEFT_OUT_AVX if avx_only else _LEFT_OUT[isa.level]
    return Problem(
        "isa-level-required",
        Severity.WARNING,
        f"{binary.path} is compiled {target} without declaring it: "
        f"{evidence(isa, isa.level)} (sampled {isa.windows} places, {isa.instructions} instructions); "
        f"it dies with SIGILL on {left_out}, while an x86_64 platform tag promises the baseline",
        path=binary.path,
        fix=FIX,
    )


def _dispatched(binary: Binary, isa: CodeIsa) -> Problem:
    level = isa.dispatched_level or 1
    return Problem(
        "isa-runtime-dispatch",
        Severity.INFO,
        f"{binary.path} runs on the x86-64 baseline and uses x86-64-v{level} instructions only in a few "
        f"places, as code chosen at run time does: {evidence(isa, level)}",
        path=binary.path,
    )


def _module_key(path: str) -> tuple[str, str]:
    """(directory, module name) of an extension-like file: ``a/fuzz_cpp.cpython-311-x86_64-linux-gnu.so``
    gives ``("a", "fuzz_cpp")``."""
    directory, name = posixpath.split(path)
    return directory, name.split(".", 1)[0]


def _baseline_modules(binaries: tuple[Binary, ...]) -> dict[tuple[str, str], str]:
    """(directory, module name) -> path, for the x86-64 ELF files whose code needs only the baseline."""
    out: dict[tuple[str, str], str] = {}
    for b in binaries:
        isa = b.code_isa
        if b.format is BinaryFormat.ELF and b.arch == "x86_64" and isa is not None and isa.level == 1:
            out.setdefault(_module_key(b.path), b.path)
    return out


def _baseline_twin(binary: Binary, baseline: dict[tuple[str, str], str]) -> str | None:
    """The baseline module this one is an instruction-set variant of, if the wheel has one beside it."""
    directory, module = _module_key(binary.path)
    match = _VARIANT.match(module)
    return baseline.get((directory, match["base"])) if match else None


def _variant_of(binary: Binary, isa: CodeIsa, twin: str) -> Problem:
    return Problem(
        "isa-runtime-dispatch",
        Severity.INFO,
        f"{binary.path} is compiled for x86-64-v{isa.level} ({evidence(isa, isa.level)}), a variant of "
        f"{twin} beside it, which runs on the baseline: the package imports the one the CPU can run",
        path=binary.path,
    )
