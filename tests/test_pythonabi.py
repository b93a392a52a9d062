"""Python-ABI rules (issue 5): suffixes, module init, libpython / Python DLL linkage, abi3 symbols, size hints."""

from __future__ import annotations

from typing import Any

import pytest

import wheelaudit
from wheelaudit.auditing import analyze_binaries
from wheelaudit.binary.elfsections import elf_debug_sizes
from wheelaudit.binary.model import Binary, BinaryFormat, BinaryKind, ImportedSymbol
from wheelaudit.checks import abi3, debuginfo, extensions, pythonabi
from wheelaudit.checks.context import AuditContext
from wheelaudit.checks.stable_abi import StableAbi, format_version, load
from wheelaudit.report.model import Problem, Severity
from wheelaudit.wheel.archive import WheelArchive
from wheelaudit.wheel.metadata import WheelInfo

from .conftest import sample_wheel

# -- helpers -------------------------------------------------------------------------------------


def make_ctx(filename: str, *binaries: Binary) -> AuditContext:
    """An AuditContext for a wheel file name and some binaries (members are not needed by these rules)."""
    stem = filename[: -len(".whl")].split("-")
    name, version = stem[0], stem[1]
    py, abi, plat = stem[-3:]
    tags = tuple(f"{p}-{a}-{t}" for p in py.split(".") for a in abi.split(".") for t in plat.split("."))
    info = WheelInfo(
        filename=filename,
        name=name,
        version=version,
        build="",
        file_tags=tags,
        wheel_tags=tags,
        root_is_purelib=False,
        wheel_version="1.0",
        generator="test",
        metadata_name=name,
        metadata_version=version,
        dist_info=f"{name}-{version}.dist-info",
        data_dir=f"{name}-{version}.data",
    )
    return AuditContext.build(info, {}, {}, binaries)


def ext(
    path: str,
    *,
    fmt: BinaryFormat = BinaryFormat.ELF,
    arch: str = "x86_64",
    init: tuple[str, ...] | None = None,
    imports: tuple[str, ...] = ("PyModuleDef_Init", "Py_IncRef"),
    library: str | None = None,
    needed: tuple[str, ...] = (),
    defined: tuple[str, ...] = (),
    kind: BinaryKind | None = None,
    **more: Any,
) -> Binary:
    module = path.rsplit("/", 1)[-1].split(".", 1)[0]
    init_functions = (f"PyInit_{module}",) if init is None else init
    return Binary(
        path=path,
        format=fmt,
        arch=arch,
        kind=kind or (BinaryKind.EXTENSION if init_functions else BinaryKind.LIBRARY),
        needed=needed,
        imported_symbols=tuple(ImportedSymbol(s, library=library) for s in imports),
        init_functions=init_functions,
        exported_symbols=init_functions + defined,
        defined_python_symbols=init_functions + defined,
        **more,
    )


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def run(filename: str, *binaries: Binary) -> list[Problem]:
    return pythonabi.check(make_ctx(filename, *binaries))


# -- suffix parsing and the tag fit, table-driven ---------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "kind", "ext", "version", "flags", "platform"),
    [
        ("pkg/_rust.abi3.so", "abi3", "so", None, "", None),
        ("pkg/_rust.abi3t.so", "abi3t", "so", None, "", None),
        ("m.cpython-312-x86_64-linux-gnu.so", "versioned", "so", (3, 12), "", "x86_64-linux-gnu"),
        ("m.cpython-313t-aarch64-linux-musl.so", "versioned", "so", (3, 13), "t", "aarch64-linux-musl"),
        ("m.cpython-37m-x86_64-linux-gnu.so", "versioned", "so", (3, 7), "m", "x86_64-linux-gnu"),
        ("m.cpython-312-darwin.so", "versioned", "so", (3, 12), "", "darwin"),
        ("m.cpython-313-iphoneos.so", "versioned", "so", (3, 13), "", "iphoneos"),
        ("m.cpython-313-aarch64-linux-android.so", "versioned", "so", (3, 13), "", "aarch64-linux-android"),
        ("m.cp312-win_amd64.pyd", "versioned", "pyd", (3, 12), "", "win_amd64"),
        ("m.cp313t-win_arm64.pyd", "versioned", "pyd", (3, 13), "t", "win_arm64"),
        ("m.pyd", "bare", "pyd", None, "", None),
        ("m.so", "bare", "so", None, "", None),
    ],
)
def test_parse_suffix(
    filename: str, kind: str, ext: str, version: tuple[int, int] | None, flags: str, platform: str | None
) -> None:
    suffix = extensions.parse_suffix(filename)
    assert suffix is not None
    assert (suffix.kind, suffix.ext, suffix.version, suffix.flags, suffix.platform) == (
        kind,
        ext,
        version,
        flags,
        platform,
    )


@pytest.mark.parametrize("filename", ["libfoo.so.1", "libfoo.dylib", "foo.dll", "foo.exe", "foo", "foo.so.abi3"])
def test_not_an_extension_suffix(filename: str) -> None:
    assert extensions.parse_suffix(filename) is None


MISMATCH = {"extension-suffix-mismatch"}
# (wheel tags, extension file name, binary arch, expected codes); wheels are p-1-<tags>.whl, files p/<name>
SUFFIX_CASES = [
    ("cp38-abi3-manylinux_2_17_x86_64", "m.abi3.so", "x86_64", set()),
    ("cp38-abi3-manylinux_2_17_x86_64", "m.so", "x86_64", set()),
    ("cp38-abi3-manylinux_2_17_x86_64", "m.cpython-38-x86_64-linux-gnu.so", "x86_64", {"abi3-version-specific-suffix"}),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.cpython-312-x86_64-linux-gnu.so", "x86_64", set()),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.abi3.so", "x86_64", set()),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.cpython-311-x86_64-linux-gnu.so", "x86_64", MISMATCH),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.cpython-312-aarch64-linux-gnu.so", "x86_64", MISMATCH),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.cpython-312-x86_64-linux-musl.so", "x86_64", MISMATCH),
    ("cp312-cp312-musllinux_1_2_x86_64", "m.cpython-312-x86_64-linux-musl.so", "x86_64", set()),
    ("cp312-cp312-musllinux_1_2_x86_64", "m.cpython-312-x86_64-linux-gnu.so", "x86_64", MISMATCH),
    ("cp312-cp312-manylinux_2_17_aarch64", "m.cpython-312-aarch64-linux-gnu.so", "aarch64", set()),
    ("cp312-cp312-manylinux_2_17_armv7l", "m.cpython-312-arm-linux-gnueabihf.so", "armv7l", set()),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.pyd", "x86_64", MISMATCH),
    ("cp313-cp313t-manylinux_2_17_x86_64", "m.cpython-313t-x86_64-linux-gnu.so", "x86_64", set()),
    ("cp313-cp313t-manylinux_2_17_x86_64", "m.cpython-313-x86_64-linux-gnu.so", "x86_64", MISMATCH),
    ("cp313-cp313t-manylinux_2_17_x86_64", "m.abi3.so", "x86_64", {"abi3-free-threaded"}),
    ("cp312-cp312-manylinux_2_17_x86_64", "m.abi3t.so", "x86_64", MISMATCH),
    ("cp315-abi3.abi3t-manylinux_2_28_x86_64", "m.abi3t.so", "x86_64", set()),
    ("cp312-cp312-macosx_11_0_arm64", "m.cpython-312-darwin.so", "arm64", set()),
    ("cp312-cp312-macosx_11_0_arm64", "m.cpython-312-x86_64-linux-gnu.so", "arm64", MISMATCH),
    ("cp39-abi3-macosx_10_12_universal2", "m.abi3.so", "arm64", set()),
    ("cp313-cp313-ios_13_0_arm64_iphoneos", "m.cpython-313-iphoneos.so", "arm64", set()),
    ("cp313-cp313-ios_13_0_arm64_iphoneos", "m.cpython-313-iphonesimulator.so", "arm64", MISMATCH),
    ("cp313-cp313-android_24_arm64_v8a", "m.cpython-313-aarch64-linux-android.so", "aarch64", set()),
    ("cp313-cp313-android_24_arm64_v8a", "m.cpython-313-aarch64-linux-gnu.so", "aarch64", MISMATCH),
    ("cp312-cp312-win_amd64", "m.cp312-win_amd64.pyd", "amd64", set()),
    ("cp312-cp312-win_amd64", "m.pyd", "amd64", set()),
    ("cp312-cp312-win_amd64", "m.cp312-win32.pyd", "amd64", MISMATCH),
    ("cp312-cp312-win_amd64", "m.cp311-win_amd64.pyd", "amd64", MISMATCH),
    ("cp312-cp312-win_amd64", "m.abi3.so", "amd64", MISMATCH),
    ("cp39-abi3-win_amd64", "m.pyd", "amd64", set()),
    ("cp39-abi3-win_amd64", "m.cp39-win_amd64.pyd", "amd64", {"abi3-version-specific-suffix"}),
]


@pytest.mark.parametrize(("wheel", "path", "arch", "expected"), SUFFIX_CASES)
def test_suffix_fits_tags(wheel: str, path: str, arch: str, expected: set[str]) -> None:
    wheel, path = f"p-1-{wheel}.whl", f"p/{path}"
    binary = ext(path, arch=arch)
    suffix = extensions.parse_suffix(path)
    assert suffix is not None
    ctx = make_ctx(wheel, binary)
    abi = extensions.wheel_abi(ctx.info.file_tags)
    assert codes(extensions.check_suffix(binary, suffix, abi, ctx.platform_tag_facts)) == expected


def test_wheel_abi_floor_is_the_lowest_abi3_python() -> None:
    abi = extensions.wheel_abi(("cp39-abi3-win_amd64", "cp38-abi3-win_amd64", "cp312-cp312-win_amd64"))
    assert abi.abi3_floor == (3, 8)
    assert abi.versioned == (((3, 12), ""),)


# -- module init -------------------------------------------------------------------------------------


def test_init_matching_name_is_fine_with_submodule_hooks() -> None:
    binary = ext("pkg/_rust.abi3.so", init=("PyInit__openssl", "PyInit__rust", "PyInit_x509"))
    assert run("pkg-1-cp39-abi3-manylinux_2_17_x86_64.whl", binary) == []


def test_init_mismatch_after_module_name_change() -> None:
    binary = ext("pkg/newname.abi3.so", init=("PyInit_oldname",))
    (problem,) = run("pkg-1-cp39-abi3-manylinux_2_17_x86_64.whl", binary)
    assert problem.code == "module-init-mismatch" and problem.severity is Severity.ERROR
    assert "PyInit_newname" in problem.message and problem.symbols == ("PyInit_oldname",)
    assert problem.fix and "module-name" in problem.fix


def test_init_missing_on_a_file_named_like_an_extension() -> None:
    binary = ext("pkg/evtx.cpython-312-x86_64-linux-gnu.so", init=(), kind=BinaryKind.LIBRARY)
    (problem,) = run("pkg-1-cp312-cp312-manylinux_2_17_x86_64.whl", binary)
    assert problem.code == "module-init-missing"
    assert problem.symbols == ("PyInit_evtx",)


def test_pep793_and_non_ascii_hooks() -> None:
    assert run("p-1-cp315-cp315-manylinux_2_28_x86_64.whl", ext("p/m.abi3.so", init=("PyModExport_m",))) == []
    assert extensions.expected_hooks("m") == ("PyModExport_m", "PyInit_m")
    assert extensions.expected_hooks("café")[-1] == "PyInitU_caf_dma"


def test_non_extensions_get_no_extension_rules() -> None:
    bin_script = ext("p-1.data/scripts/tool", init=(), kind=BinaryKind.EXECUTABLE, imports=("PyUnicode_AsUTF8AndSize",))
    cffi_lib = ext("p/libp.so", init=(), kind=BinaryKind.LIBRARY, imports=("malloc",))
    pypy_cffi = ext("p/_p.pypy310-pp73-x86_64-linux-gnu.so", init=(), defined=("_cffi_pypyinit__p",))
    bundled = ext("p.libs/libfoo-12345678.so.1", init=(), kind=BinaryKind.LIBRARY, imports=("malloc",))
    assert run("p-1-cp38-abi3-manylinux_2_17_x86_64.whl", bin_script, cffi_lib, pypy_cffi, bundled) == []


# -- linkage -----------------------------------------------------------------------------------------


def test_macos_libpython_is_an_error() -> None:
    binary = ext(
        "p/m.cpython-312-darwin.so",
        fmt=BinaryFormat.MACHO,
        arch="arm64",
        needed=("/Library/Frameworks/Python.framework/Versions/3.12/Python", "/usr/lib/libSystem.B.dylib"),
    )
    (problem,) = run("p-1-cp312-cp312-macosx_11_0_arm64.whl", binary)
    assert problem.code == "libpython-linked" and problem.library and "Python.framework" in problem.library
    assert problem.fix and "extension-module" in problem.fix


def test_macos_libpython_dylib_once_per_fat_file() -> None:
    slices = [
        ext("p/m.abi3.so", fmt=BinaryFormat.MACHO, arch=a, needed=("@rpath/libpython3.11.dylib",))
        for a in ("x86_64", "arm64")
    ]
    found = run("p-1-cp311-abi3-macosx_10_12_universal2.whl", *slices)
    assert [p.code for p in found] == ["libpython-linked"]


def test_linux_libpython_is_left_to_the_linux_module() -> None:
    binary = ext("p/m.cpython-311-x86_64-linux-gnu.so", needed=("libpython3.11.so.1.0", "libc.so.6"))
    assert run("p-1-cp311-cp311-manylinux_2_17_x86_64.whl", binary) == []


def test_ios_and_android_require_libpython() -> None:
    ios_ok = ext(
        "p/m.cpython-313-iphoneos.so", fmt=BinaryFormat.MACHO, arch="arm64", needed=("@rpath/Python.framework/Python",)
    )
    assert run("p-1-cp313-cp313-ios_13_0_arm64_iphoneos.whl", ios_ok) == []
    ios_bad = ext("p/m.cpython-313-iphoneos.so", fmt=BinaryFormat.MACHO, arch="arm64")
    assert codes(run("p-1-cp313-cp313-ios_13_0_arm64_iphoneos.whl", ios_bad)) == {"libpython-not-linked"}
    android_ok = ext("p/m.cpython-313-aarch64-linux-android.so", arch="aarch64", needed=("libpython3.13.so", "libc.so"))
    assert run("p-1-cp313-cp313-android_24_arm64_v8a.whl", android_ok) == []
    android_bad = ext("p/m.cpython-313-aarch64-linux-android.so", arch="aarch64", needed=("libc.so",))
    (problem,) = run("p-1-cp313-cp313-android_24_arm64_v8a.whl", android_bad)
    assert problem.code == "libpython-not-linked" and problem.severity is Severity.WARNING


WINDOWS_CASES = [
    ("p-1-cp39-abi3-win_amd64.whl", "p/m.pyd", "python3.dll", set()),
    ("p-1-cp39-abi3-win_amd64.whl", "p/m.pyd", "python39.dll", {"python-dll-mismatch"}),
    ("p-1-cp312-cp312-win_amd64.whl", "p/m.cp312-win_amd64.pyd", "python312.dll", set()),
    ("p-1-cp312-cp312-win_amd64.whl", "p/m.cp312-win_amd64.pyd", "python3.dll", set()),
    ("p-1-cp312-cp312-win_amd64.whl", "p/m.cp312-win_amd64.pyd", "python311.dll", {"python-dll-mismatch"}),
    ("p-1-cp313-cp313t-win_amd64.whl", "p/m.cp313t-win_amd64.pyd", "python313t.dll", set()),
    ("p-1-cp313-cp313t-win_amd64.whl", "p/m.cp313t-win_amd64.pyd", "python313.dll", {"python-dll-mismatch"}),
    ("p-1-cp315-abi3t-win_amd64.whl", "p/m.pyd", "python3t.dll", set()),
    ("p-1-cp315-abi3t-win_amd64.whl", "p/m.pyd", "python3.dll", {"python-dll-mismatch"}),
    # The C API from a DLL not known as an interpreter's: a warning. No C API at all: a plain DLL with a
    # dummy PyInit_ (pycryptodome's _raw_*.pyd, opened with ctypes), nothing to say.
    ("p-1-cp39-abi3-win_amd64.whl", "p/m.pyd", "pythonish.dll", {"python-dll-missing"}),
    ("p-1-cp39-abi3-win_amd64.whl", "p/m.pyd", None, set()),
]


@pytest.mark.parametrize(("wheel", "path", "dll", "expected"), WINDOWS_CASES)
def test_windows_python_dll(wheel: str, path: str, dll: str | None, expected: set[str]) -> None:
    binary = ext(
        path,
        fmt=BinaryFormat.PE,
        arch="amd64",
        needed=("KERNEL32.dll",) + ((dll,) if dll else ()),
        imports=("PyModule_Create2",) if dll else ("memcpy",),
        library=dll,
    )
    problems = run(wheel, binary)
    assert codes(problems) == expected
    if "python-dll-missing" in expected:
        assert "calls the Python C API from pythonish.dll" in problems[0].message


# -- abi3 symbols --------------------------------------------------------------------------------------

needs_data = pytest.mark.skipif(load() is None, reason="abi3info is not installed")


@needs_data
def test_stable_abi_data_from_abi3info() -> None:
    table = load()
    assert table is not None and table.source.startswith("abi3info")
    assert table.since("PyUnicode_AsUTF8AndSize") == (3, 10)
    assert table.since("PyType_FromSpec") == (3, 2)
    assert table.since("PyObject_Vectorcall") == (3, 12)
    assert table.since("_PyObject_GetDictPtr") is None
    assert "_Py_Dealloc" in table.abi_only
    assert len(table.added) > 900
    assert format_version(None) == "never" and format_version((3, 10)) == "3.10"


TABLE = StableAbi(
    "test", {"Py_IncRef": (3, 2), "PyUnicode_AsUTF8AndSize": (3, 10), "PyModuleDef_Init": (3, 5)}, frozenset()
)


def abi3_problems(wheel: str, *binaries: Binary) -> list[Problem]:
    ctx = make_ctx(wheel, *binaries)
    return abi3.check(ctx, extensions.wheel_abi(ctx.info.file_tags), TABLE)


def test_symbol_newer_than_the_floor() -> None:
    binary = ext("p/m.abi3.so", imports=("Py_IncRef", "PyUnicode_AsUTF8AndSize", "malloc"))
    (problem,) = abi3_problems("p-1-cp38-abi3-manylinux_2_17_x86_64.whl", binary)
    assert problem.code == "abi3-symbol-too-new" and problem.symbols == ("PyUnicode_AsUTF8AndSize",)
    assert "3.10" in problem.message and problem.fix and "abi3-py310" in problem.fix
    assert abi3_problems("p-1-cp310-abi3-manylinux_2_17_x86_64.whl", binary) == []


def test_symbol_never_stable_and_self_defined_ones() -> None:
    binary = ext(
        "p/m.abi3.so",
        imports=("Py_IncRef", "_PyObject_GetDictPtr", "PyFoo_Helper"),
        defined=("PyFoo_Helper",),  # abi3audit's false positive: a project's own Py-prefixed symbol
    )
    (problem,) = abi3_problems("p-1-cp38-abi3-manylinux_2_17_x86_64.whl", binary)
    assert problem.code == "abi3-symbol-not-stable" and problem.symbols == ("_PyObject_GetDictPtr",)
    assert "never" in problem.message


def test_symbol_defined_by_another_binary_of_the_wheel_is_not_python() -> None:
    helper = ext("p/libhelper.so", init=(), kind=BinaryKind.LIBRARY, imports=(), defined=("PyHelper_Run",))
    binary = ext("p/m.abi3.so", imports=("Py_IncRef", "PyHelper_Run"))
    assert abi3_problems("p-1-cp38-abi3-manylinux_2_17_x86_64.whl", helper, binary) == []


def test_pe_imports_count_only_from_python_dlls() -> None:
    binary = ext(
        "p/m.pyd",
        fmt=BinaryFormat.PE,
        arch="amd64",
        imports=("PyUnicode_AsUTF8AndSize",),
        library="python3.dll",
        needed=("python3.dll",),
    )
    other = ext(
        "p/n.pyd", fmt=BinaryFormat.PE, arch="amd64", imports=("PyUnicode_AsUTF8AndSize",), library="helper.dll"
    )
    found = abi3_problems("p-1-cp38-abi3-win_amd64.whl", binary, other)
    assert [(p.code, p.path) for p in found] == [("abi3-symbol-too-new", "p/m.pyd")]


def test_version_specific_wheels_are_not_abi3_audited() -> None:
    binary = ext("p/m.cpython-38-x86_64-linux-gnu.so", imports=("_PyObject_GetDictPtr",))
    assert abi3_problems("p-1-cp38-cp38-manylinux_2_17_x86_64.whl", binary) == []


def test_missing_data_is_said_not_guessed() -> None:
    ctx = make_ctx("p-1-cp38-abi3-manylinux_2_17_x86_64.whl", ext("p/m.abi3.so"))
    (problem,) = abi3.check(ctx, extensions.wheel_abi(ctx.info.file_tags), None)
    assert problem.code == "abi3-audit-unavailable" and problem.severity is Severity.INFO


def test_abi3_on_free_threaded_and_abi3t_floor() -> None:
    assert "abi3-free-threaded" in codes(run("p-1-cp313t-abi3-manylinux_2_17_x86_64.whl", ext("p/m.abi3.so")))
    assert "abi3t-too-old" in codes(run("p-1-cp314-abi3t-manylinux_2_17_x86_64.whl", ext("p/m.abi3t.so")))


# -- the sample wheels -----------------------------------------------------------------------------------


def sample_problems(prefix: str) -> list[Problem]:
    archive = WheelArchive(sample_wheel(prefix))
    ctx = AuditContext.build(archive.info, archive.members, archive.record, analyze_binaries(archive).binaries)
    return pythonabi.check(ctx)


@needs_data
def test_sample_abi3bad_names_the_symbol_and_version() -> None:
    (problem,) = sample_problems("wa_sample_abi3bad-")
    assert problem.code == "abi3-symbol-too-new" and problem.severity is Severity.ERROR
    assert problem.symbols == ("PyUnicode_AsUTF8AndSize",)
    assert "3.10" in problem.message and "3.8" in problem.message


@pytest.mark.parametrize(
    "prefix",
    [
        "wa_sample_abi3-",
        "wa_sample_versioned-",
        "wa_sample_bin-",
        "wa_sample_cffi-",
        "wa_sample_libpython-",
        "wa_sample_syslib-",
    ],
)
def test_clean_samples_have_no_python_abi_problem(prefix: str) -> None:
    assert sample_problems(prefix) == []


def test_sample_debuginfo_reports_size_and_share() -> None:
    (problem,) = sample_problems("wa_sample_debuginfo-")
    assert problem.code == "debug-info-present" and problem.severity is Severity.INFO
    assert "2.1 MB" in problem.message and "83%" in problem.message
    assert problem.fix and "Strip.Debug" in problem.fix


def test_debug_sizes_match_the_section_table() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_debuginfo-"))
    (binary,) = report.binaries
    assert binary.debug_sizes_exact
    assert binary.debug_info_bytes == 2_136_773  # sum of .debug_* sh_size, as pyelftools reports
    assert binary.symbol_table_bytes == 92_914


def test_stripped_binary_tail_is_not_read() -> None:
    archive = WheelArchive(sample_wheel("wa_sample_abi3-"))
    (member,) = [m for m in archive.files() if m.name.endswith(".so")]
    asked: list[int] = []

    def never(unloaded: int) -> bool:
        asked.append(unloaded)
        return False

    with archive.open(member) as stream:
        sizes = elf_debug_sizes(stream.read_at, member.size, read_tail=never)
        assert stream.inflated < member.size  # only the head was inflated
    assert sizes is not None and not sizes.exact and asked == [sizes.unloaded]


def test_macho_and_pe_debug_info_from_the_parsers() -> None:
    slices = [
        ext("p/m.abi3.so", fmt=BinaryFormat.MACHO, arch=a, debug_info_bytes=300_000, file_size=1_000_000)
        for a in ("x86_64", "arm64")
    ]
    (problem,) = debuginfo.check(tuple(slices))
    assert problem.code == "debug-info-present" and "600 KB" in problem.message and "(30% of 2.0 MB)" in problem.message
    small = ext("p/m.pyd", fmt=BinaryFormat.PE, arch="amd64", debug_info_bytes=1000, file_size=1_000_000)
    assert debuginfo.check((small,)) == []


def test_stable_abi_cache_round_trip_and_repair(tmp_path: Any, monkeypatch: Any) -> None:
    """The derived stable-ABI table is cached; a cached copy equals a fresh one, a broken one is rebuilt."""
    import wheelaudit.checks.stable_abi as stable_abi

    monkeypatch.setenv("WHEELAUDIT_CACHE_DIR", str(tmp_path))
    stable_abi.load.cache_clear()
    fresh = stable_abi.load()
    (cache,) = tmp_path.glob("stable-abi-*.json")
    stable_abi.load.cache_clear()
    assert stable_abi.load() == fresh
    cache.write_text("{not json")
    stable_abi.load.cache_clear()
    assert stable_abi.load() == fresh
    assert fresh is not None and fresh.since("PyUnicode_AsUTF8AndSize") == (3, 10)
    stable_abi.load.cache_clear()


def test_stable_abi_cache_is_keyed_by_content_not_location(tmp_path: Any) -> None:
    """Two venvs with the same abi3info share one cache file; another abi3info gets its own."""
    import importlib.util
    import shutil
    from pathlib import Path

    import wheelaudit.checks.stable_abi as stable_abi

    spec = importlib.util.find_spec("abi3info")
    if spec is None or not spec.origin:
        pytest.skip("abi3info is not installed (Python < 3.10)")
    installed = Path(spec.origin).parent
    copies = []
    for venv in ("venv-a", "venv-b"):
        copy = tmp_path / venv / "site-packages" / "abi3info"
        shutil.copytree(installed, copy, ignore=shutil.ignore_patterns("__pycache__"))
        copies.append(copy / "__init__.py")
    first, second = (stable_abi._cache_file(origin) for origin in copies)
    assert first is not None and first == second
    with (copies[1].parent / "_internal.py").open("a") as fh:
        fh.write("\n# a newer release\n")
    assert stable_abi._cache_file(copies[1]) not in (None, first)
