"""Python-ABI rules for extension modules: libpython linkage, abi3 limited API, tags, module init. (issue 5)

The rules that bite PyO3 / maturin / setuptools-rust users are ABI mistakes rather
than libc versions. This module runs them for every platform; the ELF libpython
rule for manylinux/musllinux stays in :mod:`.linux` (every policy level forbids
it), so nothing here reports libpython for ELF on Linux.
"""

from __future__ import annotations

import re

from .._typing import TYPE_CHECKING
from ..binary.model import Binary, BinaryFormat, BinaryKind
from ..platforms.policyset import PolicySet, load_policies
from ..report.model import Problem, Severity, unique_problems
from . import debuginfo, extensions
from .context import AuditContext
from .extensions import WheelAbi, python_api_sources

if TYPE_CHECKING:
    from ..platforms.windows import WindowsPolicy

#: libpython as a Mach-O load command: the framework binary or a libpython dylib.
MACHO_LIBPYTHON = re.compile(r"(^|/)(Python\.framework/(Versions/[^/]+/)?Python|libpython3(\.\d+)?[dmt]*\.dylib)$")
ELF_LIBPYTHON = re.compile(r"^libpython3(\.\d+)?[dmut]*\.so(\.\d+)*$")

FIX_MACOS_LIBPYTHON = (
    "do not link libpython on macOS: enable PyO3's `extension-module` feature (maturin enables it when declared) "
    "or call `pyo3_build_config::add_extension_module_link_args()` in build.rs, so the linker uses "
    "`-undefined dynamic_lookup`"
)
FIX_WINDOWS_DLL = (
    "build abi3 wheels against python3.dll: PyO3 features `abi3-py3X` (+ `generate-import-lib` when cross-compiling, "
    "or `maturin build --zig`); for version-specific wheels build once per interpreter (`maturin build -i python3.X`)"
)


def check(ctx: AuditContext, policies: PolicySet | None = None) -> list[Problem]:
    """Problems with how the wheel's extensions meet the Python ABI its tags promise, and size hints."""
    abi = extensions.wheel_abi(ctx.info.file_tags)
    problems: list[Problem] = []
    problems += _wheel_level(abi)
    problems += _linkage(ctx, abi, policies)
    for binary in _first_slices(ctx.binaries):
        suffix = extensions.extension_suffix(binary, ctx)
        if suffix is None:
            continue
        problems += extensions.check_init(binary, suffix)
        problems += extensions.check_suffix(binary, suffix, abi, ctx.platform_tag_facts)
    if abi.is_abi3 or abi.is_abi3t:  # the stable-ABI audit and its data only where they apply
        from . import abi3
        from .stable_abi import load as load_stable_abi

        problems += abi3.check(ctx, abi, load_stable_abi())
    problems += debuginfo.check(ctx.binaries)
    return list(unique_problems(problems))


def _first_slices(binaries: tuple[Binary, ...]) -> list[Binary]:
    """One record per file: per-file rules (name, suffix) would repeat for every fat Mach-O slice."""
    seen: set[str] = set()
    out = []
    for b in binaries:
        if b.path not in seen:
            seen.add(b.path)
            out.append(b)
    return out


def _wheel_level(abi: WheelAbi) -> list[Problem]:
    problems: list[Problem] = []
    if abi.is_abi3 and abi.free_threaded_python:
        problems.append(
            Problem(
                "abi3-free-threaded",
                Severity.ERROR,
                f"the wheel claims abi3 for a free-threaded build ({', '.join(sorted(abi.abis))}); free-threaded "
                "CPython cannot load abi3 extensions (PEP 803's `abi3t` is the stable ABI there, from 3.15)",
                fix="build free-threaded wheels version-specific (cp313-cp313t), or use `abi3t` on 3.15+",
            )
        )
    if abi.is_abi3t and abi.abi3t_floor is not None and abi.abi3t_floor < (3, 15):
        floor = abi.abi3t_floor
        problems.append(
            Problem(
                "abi3t-too-old",
                Severity.ERROR,
                f"the wheel is tagged cp{floor[0]}{floor[1]}-abi3t, but abi3t (PEP 803) exists only from CPython 3.15",
                fix="tag abi3t wheels cp315 or later (PyO3 `abi3-py315`)",
            )
        )
    return problems


# -- libpython / Python DLL linkage ------------------------------------------------------------


def _linkage(ctx: AuditContext, abi: WheelAbi, policies: PolicySet | None) -> list[Problem]:
    families = ctx.tag_families
    problems: list[Problem] = []
    for binary in _first_slices(ctx.binaries):
        if binary.kind in (BinaryKind.EXECUTABLE, BinaryKind.OTHER):
            continue  # programs may embed Python; object files link nothing
        libs = binary.needed + binary.weak_needed
        if binary.format is BinaryFormat.MACHO:
            linked = [lib for lib in libs if MACHO_LIBPYTHON.search(lib)]
            if "ios" in families or binary.os_platform in ("ios", "ios-simulator"):
                problems += _required_missing(binary, linked, "iOS (PEP 730)", "@rpath/Python.framework/Python")
            elif linked:
                problems.append(
                    Problem(
                        "libpython-linked",
                        Severity.ERROR,
                        f"{binary.path} loads {linked[0]}; macOS extensions must not link libpython "
                        "(it loads a second interpreter or fails where that path does not exist)",
                        path=binary.path,
                        library=linked[0],
                        fix=FIX_MACOS_LIBPYTHON,
                    )
                )
        elif binary.format is BinaryFormat.ELF and "android" in families:
            linked = [lib for lib in libs if ELF_LIBPYTHON.match(lib)]
            problems += _required_missing(binary, linked, "Android (PEP 738)", "libpython3.X.so")
        elif binary.format is BinaryFormat.PE:
            problems += _python_dll(binary, abi, (policies or load_policies()).windows)
    return problems


def _required_missing(binary: Binary, linked: list[str], where: str, what: str) -> list[Problem]:
    """On Android and iOS the extension must link libpython itself; flag an extension that does not."""
    if linked or binary.kind is not BinaryKind.EXTENSION:
        return []
    return [
        Problem(
            "libpython-not-linked",
            Severity.WARNING,
            f"{binary.path} does not link {what}; on {where} extension modules must, "
            "because the loader does not make the interpreter's symbols global",
            path=binary.path,
            fix="build with the target's Python (cibuildwheel / crossenv for the platform); PyO3 links libpython "
            "there when the `extension-module` feature is off for mobile targets",
        )
    ]


def expected_dlls(abi: WheelAbi) -> set[str]:
    """Python DLL names an extension of this wheel may import (lower case)."""
    names: set[str] = set()
    if abi.is_abi3:
        names.add("python3.dll")
    if abi.is_abi3t:
        names.add("python3t.dll")
    for (major, minor), flags in abi.versioned:
        t = "t" if "t" in flags else ""
        debug = "_d" if "d" in flags else ""
        names.add(f"python{major}{minor}{t}{debug}.dll")
        # The stable-ABI DLL forwards to the running interpreter, so a version-specific build may use it too.
        names.add(f"python{major}{t}{debug}.dll")
    return names


def _python_dll(binary: Binary, abi: WheelAbi, policy: WindowsPolicy) -> list[Problem]:
    # Every interpreter's DLL counts, as policies/windows.json names them (python3X.dll, PyPy's
    # libpypy3.X-c.dll, GraalPy's python-native.dll): a PyPy extension imports no python3*.dll.
    imported = [lib for lib in binary.needed + binary.weak_needed if policy.is_python(lib)]
    is_extension = binary.kind is BinaryKind.EXTENSION
    if not imported:
        # A .pyd that calls nothing of the interpreter is a plain DLL opened by path, whatever it exports
        # (pycryptodome's carry dummy PyInit_ functions): the warning is for the C API from a DLL not known
        # as the interpreter's.
        api = python_api_sources(binary)
        if not is_extension or not api:
            return []
        return [
            Problem(
                "python-dll-missing",
                Severity.WARNING,
                f"{binary.path} is an extension module that calls the Python C API from {', '.join(api)}, "
                f"which is no Python DLL (expected {' or '.join(sorted(expected_dlls(abi))) or 'python3.dll'})",
                path=binary.path,
                fix=FIX_WINDOWS_DLL,
            )
        ]
    allowed = expected_dlls(abi)
    if not allowed:
        return []  # py3-none or PyPy tags: nothing to compare with
    wrong = [lib for lib in imported if lib.lower() not in allowed]
    if not wrong:
        return []
    tagged = ", ".join(sorted(a for a in abi.abis if a != "none"))
    return [
        Problem(
            "python-dll-mismatch",
            Severity.ERROR,
            f"{binary.path} imports {', '.join(wrong)} but the wheel's ABI tag ({tagged}) needs "
            f"{' or '.join(sorted(allowed))}; it fails to load on "
            + ("any other CPython version" if abi.is_abi3 else "the tagged interpreter"),
            path=binary.path,
            library=wrong[0],
            fix=FIX_WINDOWS_DLL,
        )
    ]
