"""Which binaries are extension modules, what their file suffix promises, and whether that fits the tags.

Why: the import system finds an extension only by ``<name><suffix>`` with a suffix
from ``importlib.machinery.EXTENSION_SUFFIXES`` of the running interpreter, and
then only through the init hook named after ``<name>``. A suffix that does not
fit the wheel's tags, or a hook that does not fit the name, installs fine and
fails at ``import`` time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..binary.model import Binary, BinaryKind
from ..platforms.tags import PlatformTag
from ..record import record
from ..report.model import Problem, Severity
from .context import AuditContext, installed_path

#: Module initialisation hooks (PEP 489 PyInit_, PEP 793 PyModExport_; the U forms for non-ASCII names).
INIT_PREFIXES = ("PyInit_", "PyInitU_", "PyModExport_", "PyModExportU_")

_VERSIONED_SO = re.compile(r"^cpython-(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)(?:-(?P<platform>.+))?\.so$")
_VERSIONED_PYD = re.compile(r"^cp(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)-(?P<platform>[a-z0-9_]+)\.pyd$")
_CPYTHON_ABI = re.compile(r"^cp(?P<major>\d)(?P<minor>\d+)(?P<flags>[a-z]*)$")

#: Debian multiarch CPU names in Linux/Android suffixes -> the wheel-tag architecture.
_MULTIARCH_CPU = {
    "x86_64": "x86_64",
    "i386": "i686",
    "i686": "i686",
    "aarch64": "aarch64",
    "arm": "armv7l",
    "armv7l": "armv7l",
    "powerpc64le": "ppc64le",
    "powerpc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}
#: Android ABI names in wheel tags -> the ELF architecture.
_ANDROID_ABI = {"arm64_v8a": "aarch64", "armeabi_v7a": "armv7l", "x86": "i686", "x86_64": "x86_64"}

FIX_SUFFIX = (
    "let the build tool name the file: maturin and setuptools-rust pick the suffix from the target interpreter "
    "(`maturin build -i python3.X`, or PyO3 `abi3-pyXY` for `.abi3.so`); do not rename extensions by hand"
)
FIX_INIT = (
    "the `#[pymodule]` function name (or `#[pyo3(name = ...)]`) must equal the file's module name; with maturin "
    'set `[tool.maturin] module-name = "pkg.<name>"` to match, with setuptools-rust '
    '`RustExtension("pkg.<name>", ...)`'
)


@record(frozen=True)
class Suffix:
    """What an extension's file name says about the interpreters that will load it."""

    text: str  # ".cpython-312-x86_64-linux-gnu.so", ".abi3.so", ".pyd" ...
    kind: str  # "abi3", "abi3t", "versioned", "bare"
    ext: str  # "so" or "pyd"
    version: tuple[int, int] | None = None
    flags: str = ""  # ABI flags of a versioned suffix: "t" free-threaded, "d" debug, "m" pymalloc (<= 3.7)
    platform: str | None = None  # "x86_64-linux-gnu", "darwin", "iphoneos", "win_amd64" ...

    @property
    def free_threaded(self) -> bool:
        return "t" in self.flags


def split_name(filename: str) -> tuple[str, str]:
    """(module name, rest after the first dot) of a file name; the loader uses the text before the first dot."""
    base = filename.rsplit("/", 1)[-1]
    name, dot, rest = base.partition(".")
    return name, rest if dot else ""


def parse_suffix(filename: str) -> Suffix | None:
    """The extension suffix of a file name, or None when no CPython would import it as an extension."""
    _, rest = split_name(filename)
    if rest in ("abi3.so", "abi3t.so"):
        return Suffix("." + rest, rest[:-3], "so")
    if rest in ("so", "pyd"):
        return Suffix("." + rest, "bare", rest)
    m = _VERSIONED_SO.match(rest)
    if m:
        version = (int(m["major"]), int(m["minor"]))
        return Suffix("." + rest, "versioned", "so", version, m["flags"], m["platform"])
    m = _VERSIONED_PYD.match(rest)
    if m:
        version = (int(m["major"]), int(m["minor"]))
        return Suffix("." + rest, "versioned", "pyd", version, m["flags"], m["platform"])
    return None


@record(frozen=True)
class WheelAbi:
    """The interpreter/ABI half of a wheel's tags, sorted out once."""

    abis: frozenset[str]  # every ABI tag: "abi3", "cp312", "cp313t", "none" ...
    abi3_floor: tuple[int, int] | None  # lowest cpXY paired with abi3 (the oldest Python it installs on)
    abi3t_floor: tuple[int, int] | None
    versioned: tuple[tuple[tuple[int, int], str], ...]  # ((3, 12), "t") per cpXY[flags] ABI tag
    free_threaded_python: bool  # some interpreter or ABI tag carries the free-threaded "t"

    @property
    def is_abi3(self) -> bool:
        return "abi3" in self.abis

    @property
    def is_abi3t(self) -> bool:
        return "abi3t" in self.abis


def wheel_abi(file_tags: tuple[str, ...]) -> WheelAbi:
    abis: set[str] = set()
    floors: dict[str, list[tuple[int, int]]] = {"abi3": [], "abi3t": []}
    versioned: dict[tuple[tuple[int, int], str], None] = {}
    free_threaded = False
    for tag in file_tags:
        parts = tag.split("-")
        if len(parts) != 3:
            continue
        python, abi, _ = parts
        abis.add(abi)
        py = _CPYTHON_ABI.match(python)
        if py and "t" in py["flags"]:
            free_threaded = True
        if abi in floors and py:
            floors[abi].append((int(py["major"]), int(py["minor"])))
        m = _CPYTHON_ABI.match(abi)
        if m:
            versioned[((int(m["major"]), int(m["minor"])), m["flags"])] = None
            if "t" in m["flags"]:
                free_threaded = True
    return WheelAbi(
        frozenset(abis),
        min(floors["abi3"], default=None),
        min(floors["abi3t"], default=None),
        tuple(versioned),
        free_threaded,
    )


def python_api_sources(binary: Binary) -> list[str]:
    """Where the binary takes C-API names (``Py*``, ``_Py*``) from: the libraries its imports of them name
    ("?" where the format does not say); empty if it calls nothing of the interpreter."""
    return sorted({s.library or "?" for s in binary.imported_symbols if s.name.startswith(("Py", "_Py"))})


def uses_python_api(binary: Binary) -> bool:
    """Whether the binary calls into the interpreter: it imports a C-API name (``Py*``, ``_Py*``)."""
    return bool(python_api_sources(binary))


def is_cffi_only(binary: Binary) -> bool:
    """A cffi module built for PyPy only: it has cffi's hook and no CPython one."""
    return not binary.init_functions and any(s.startswith("_cffi_pypyinit_") for s in binary.exported_symbols)


def extension_suffix(binary: Binary, ctx: AuditContext) -> Suffix | None:
    """The suffix of a binary the interpreter imports as an extension module, else None.

    Binaries outside site-packages (``.data/scripts``, data, headers), executables and
    cffi-for-PyPy libraries are never extensions; a bare ``.so`` counts only when it
    exports an init hook (``libfoo.so`` next to a cffi wrapper is a library). Nor is a
    file with a module-like name that neither exports an init hook nor calls the Python
    C API: a plain library opened by path (pycryptodome's ctypes-loaded ``_raw_aes.abi3.so``).
    """
    if binary.kind is BinaryKind.EXECUTABLE or installed_path(binary.path, ctx.info.data_dir) is None:
        return None
    if is_cffi_only(binary) or not (binary.init_functions or uses_python_api(binary)):
        return None
    suffix = parse_suffix(binary.path)
    if suffix is None:
        return None
    if suffix.kind == "bare" and suffix.ext == "so" and binary.kind is not BinaryKind.EXTENSION:
        return None
    return suffix


# -- module init -------------------------------------------------------------------------------


def _punycode_name(name: str) -> str:
    return name.encode("punycode").decode("ascii").replace("-", "_")


def expected_hooks(module: str) -> tuple[str, ...]:
    """The init hook names the loader tries for a module name (PEP 489 / PEP 793)."""
    if module.isascii():
        return (f"PyModExport_{module}", f"PyInit_{module}")
    encoded = _punycode_name(module)
    return (f"PyModExportU_{encoded}", f"PyInitU_{encoded}")


def check_init(binary: Binary, suffix: Suffix) -> list[Problem]:
    """The extension must export the hook named after its file name (maturin#124 failure otherwise)."""
    module, _ = split_name(binary.path)
    hooks = expected_hooks(module)
    if suffix.ext == "pyd" and module.endswith("_d"):  # Windows debug builds: foo_d.pyd holds PyInit_foo
        hooks += expected_hooks(module[:-2])
    found = set(binary.init_functions)
    if found & set(hooks):
        return []
    if not found:
        return [
            Problem(
                "module-init-missing",
                Severity.ERROR,
                f"{binary.path} has an extension-module name but exports no init function "
                f"(expected {hooks[-1]}); `import {module}` fails with "
                "'dynamic module does not define module export function'",
                path=binary.path,
                symbols=(hooks[-1],),
                fix="build it as a Python module: PyO3 `#[pymodule]` plus crate-type `cdylib`; " + FIX_INIT,
            )
        ]
    shown = sorted(found)
    return [
        Problem(
            "module-init-mismatch",
            Severity.ERROR,
            f"{binary.path} is imported as {module!r} and needs {hooks[-1]}, but exports "
            f"{', '.join(shown[:5])}{' ...' if len(shown) > 5 else ''}",
            path=binary.path,
            symbols=tuple(shown[:5]),
            fix=FIX_INIT,
        )
    ]


# -- suffix against tags ------------------------------------------------------------------------


def _mismatch(binary: Binary, why: str, code: str = "extension-suffix-mismatch") -> Problem:
    return Problem(code, Severity.ERROR, f"{binary.path}: {why}", path=binary.path, fix=FIX_SUFFIX)


def check_suffix(binary: Binary, suffix: Suffix, abi: WheelAbi, platforms: Sequence[PlatformTag]) -> list[Problem]:
    """Problems with one extension's suffix against the wheel's ABI and (parsed) platform tags."""
    problems: list[Problem] = []
    families = {p.family for p in platforms}
    if "win" in families and suffix.ext != "pyd":
        problems.append(_mismatch(binary, f"Windows imports extensions only as .pyd, not {suffix.text}"))
    unix = families & {"manylinux", "musllinux", "linux", "macosx", "ios", "android"}
    if unix and suffix.ext == "pyd":
        problems.append(_mismatch(binary, f"{'/'.join(sorted(unix))} imports extensions only as .so, not .pyd"))
    problems += _check_abi_fit(binary, suffix, abi)
    if suffix.kind == "versioned" and suffix.platform:
        why = _platform_misfit(binary, suffix, platforms)
        if why:
            problems.append(_mismatch(binary, why))
    return problems


def _check_abi_fit(binary: Binary, suffix: Suffix, abi: WheelAbi) -> list[Problem]:
    problems: list[Problem] = []
    stable_only = abi.abis and abi.abis <= {"abi3", "abi3t", "none"} and (abi.is_abi3 or abi.is_abi3t)
    if stable_only and suffix.kind == "versioned":
        assert suffix.version is not None
        version = f"{suffix.version[0]}.{suffix.version[1]}{suffix.flags}"
        problems.append(
            _mismatch(
                binary,
                f"the wheel is tagged {'/'.join(sorted(abi.abis & {'abi3', 'abi3t'}))} but the suffix "
                f"{suffix.text} is loaded only by CPython {version}",
                "abi3-version-specific-suffix",
            )
        )
    if suffix.kind == "abi3t" and not abi.is_abi3t and (abi.is_abi3 or abi.versioned):
        problems.append(_mismatch(binary, f"{suffix.text} (PEP 803) is loaded only by free-threaded CPython 3.15+"))
    only_free_threaded = bool(abi.versioned) and all("t" in flags for _, flags in abi.versioned)
    if suffix.kind == "abi3" and only_free_threaded and not abi.is_abi3 and not abi.is_abi3t:
        problems.append(
            _mismatch(
                binary,
                f"{suffix.text} in a free-threaded wheel ({', '.join(sorted(abi.abis))}): abi3 extensions are not "
                "valid on free-threaded CPython",
                "abi3-free-threaded",
            )
        )
    if suffix.kind == "versioned" and abi.versioned:
        assert suffix.version is not None
        fits = any(v == suffix.version and ("t" in f) == suffix.free_threaded for v, f in abi.versioned)
        if not fits:
            wanted = ", ".join(f"cp{v[0]}{v[1]}{f}" for v, f in abi.versioned)
            problems.append(
                _mismatch(
                    binary,
                    f"the suffix {suffix.text} is for CPython {suffix.version[0]}.{suffix.version[1]}{suffix.flags}, "
                    f"the wheel's ABI tag is {wanted}",
                )
            )
    return problems


def _platform_misfit(binary: Binary, suffix: Suffix, parsed: Sequence[PlatformTag]) -> str | None:
    """Why a versioned suffix's platform part does not fit the tags (None when it fits or cannot be told)."""
    plat = suffix.platform or ""
    families = {p.family for p in parsed}
    if suffix.ext == "pyd":
        win = {p.tag for p in parsed if p.family == "win"}
        if win and plat not in win:
            return f"the suffix {suffix.text} is for {plat}, the wheel for {', '.join(sorted(win))}"
        return None
    if families & {"macosx"}:
        return None if plat == "darwin" else f"the suffix {suffix.text} is not a macOS one (expected -darwin)"
    if "ios" in families:
        sdks = {p.arch.rsplit("_", 1)[-1] for p in parsed if p.family == "ios"}
        if plat in sdks:
            return None
        return f"the suffix {suffix.text} does not name the tagged SDK ({', '.join(sorted(sdks))})"
    linux = families & {"manylinux", "musllinux", "linux", "android"}
    if not linux:
        return None
    cpu, _, system = plat.partition("-")
    arch = _MULTIARCH_CPU.get(cpu)
    if arch is None or not system.startswith("linux-"):
        return f"the suffix {suffix.text} is not a Linux one (expected <cpu>-linux-<libc>)"
    env = system[len("linux-") :]
    tagged_archs = {_ANDROID_ABI.get(p.arch, p.arch) if p.family == "android" else p.arch for p in parsed}
    if arch != binary.arch or (tagged_archs and arch not in tagged_archs):
        return f"the suffix {suffix.text} is for {arch}; the binary is {binary.arch}"
    if "android" in families:
        return None if env.startswith("android") else f"the suffix {suffix.text} is not an Android one"
    if "musllinux" in families and not env.startswith("musl"):
        return f"the suffix {suffix.text} is for glibc; musllinux interpreters look for -linux-musl"
    if "manylinux" in families and not env.startswith("gnu"):
        return f"the suffix {suffix.text} is not for glibc; manylinux interpreters look for -linux-gnu"
    return None
