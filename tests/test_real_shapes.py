"""Shapes first met when the real corpus was widened beyond the wheels the tests knew.

Each test fails on the code before its fix: a PyPy extension on Windows imports PyPy's DLL, not
``python3*.dll``; a library the wheel has but the loader never reaches is named as such; files
named like extension modules that are plain ctypes libraries are no extensions; a module built
for AVX2 beside its baseline twin is code chosen at run time.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wheelaudit

from .builders import make_wheel, repack_wheel

PYPY_WINDOWS = "pydantic_core-2.14.6-pp310-pypy310_pp73-win_amd64.whl"
PYCRYPTODOME = "pycryptodome-3.20.0-cp35-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
RAPIDFUZZ = "rapidfuzz-3.6.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
PYZMQ = "pyzmq-25.1.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
MONITOREDQUEUE = "zmq/devices/monitoredqueue.cpython-311-x86_64-linux-gnu.so"
LIBZMQ = "pyzmq.libs/libzmq-e8adeef9.so.5.2.4"


@pytest.mark.real
def test_pypy_extension_imports_pypys_dll(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """The .pyd imports libpypy3.10-c.dll, the interpreter's DLL on PyPy: nothing to warn about."""
    report = wheelaudit.audit(all_real_wheels[PYPY_WINDOWS])
    assert report.ok and report.platform_tag == "win_amd64"
    assert [p.message for p in report.problems if p.code.startswith("python-dll")] == []
    # The same .pyd in a wheel tagged for CPython 3.10 cannot load there: PyPy's DLL is no python310.dll.
    retagged_name = "pydantic_core-2.14.6-cp310-cp310-win_amd64.whl"
    retagged = repack_wheel(all_real_wheels[PYPY_WINDOWS], tmp_path, retagged_name, {})
    mismatch = [p for p in wheelaudit.audit(retagged).errors if p.code == "python-dll-mismatch"]
    assert [p.library for p in mismatch] == ["libpypy3.10-c.dll"]


@pytest.mark.real
def test_library_in_the_wheel_the_loader_never_reaches(real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """pyzmq's extensions find libzmq through DT_RPATH ``$ORIGIN/../../pyzmq.libs``; with the entry
    pointing elsewhere (same length) libzmq is still in the wheel, only out of the loader's way, and
    the report says so and how to reach it (torchaudio 2.1.2 ships this shape: ``_torchaudio.so``
    needs ``libtorchaudio.so`` beside it, with no RUNPATH)."""
    assert wheelaudit.audit(real_wheels[PYZMQ]).ok
    wheel = repack_wheel(real_wheels[PYZMQ], tmp_path, PYZMQ, {b"/pyzmq.libs\x00": b"/pyzmq.libz\x00"})
    report = wheelaudit.audit(wheel)
    assert not report.ok
    [zmq] = [p for p in report.errors if p.path == MONITOREDQUEUE and p.code == "external-library"]
    assert zmq.library == "libzmq-e8adeef9.so.5.2.4"
    assert f"the wheel has it as {LIBZMQ}" in zmq.message and "neither in the wheel" not in zmq.message
    assert zmq.fix is not None and "`$ORIGIN/../../pyzmq.libs`" in zmq.fix
    # libzmq found libsodium beside it only through the extension's inherited DT_RPATH: now its own
    # search fails too, and the entry that would reach the neighbour is plain $ORIGIN.
    [sodium] = [p for p in report.errors if p.path == LIBZMQ and p.code == "external-library"]
    assert "the wheel has it as pyzmq.libs/libsodium-a0cd10d3.so.23.3.0" in sodium.message
    assert sodium.fix is not None and "`$ORIGIN`" in sodium.fix
    # Without libsodium in the wheel at all, the plain wording comes back.
    lacking = _with_members(wheel, tmp_path / "lacking", "libsodium")
    [gone] = [p for p in wheelaudit.audit(lacking).errors if p.path == LIBZMQ and p.code == "external-library"]
    assert "libsodium-a0cd10d3.so.23.3.0, which is neither in the wheel nor allowed" in gone.message


@pytest.mark.real
def test_ctypes_libraries_with_module_names_are_no_extensions(real_wheels: dict[str, Path]) -> None:
    """pycryptodome's ``Crypto/Cipher/_raw_aes.abi3.so`` and 38 more: no init hook, no Python API,
    opened with ctypes; ``import`` never sees them, so no module-init-missing."""
    report = wheelaudit.audit(real_wheels[PYCRYPTODOME])
    assert report.ok, [p.message for p in report.errors]
    assert report.platform_tag == "manylinux_2_17_aarch64"
    assert sum(b.path.endswith(".abi3.so") and not b.init_functions for b in report.binaries) == 39


def _with_members(src: Path, directory: Path, drop: str) -> Path:
    """The wheel without the members whose name contains ``drop`` (fresh WHEEL, METADATA, RECORD)."""
    with zipfile.ZipFile(src) as zf:
        names = [n for n in zf.namelist() if not n.endswith(("RECORD", "WHEEL", "METADATA"))]
        kept = {n: zf.read(n) for n in names if drop not in n}
    directory.mkdir()
    return make_wheel(directory, src.name, kept)


@pytest.mark.real
def test_isa_variant_beside_its_baseline_twin(real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """rapidfuzz imports ``fuzz_cpp_avx2`` only on CPUs with AVX2, else ``fuzz_cpp``: a note, not a warning."""
    report = wheelaudit.audit(real_wheels[RAPIDFUZZ])
    assert [p.message for p in report.problems if p.code == "isa-level-required"] == []
    notes = {p.path: p.message for p in report.problems if p.code == "isa-runtime-dispatch"}
    avx2 = "rapidfuzz/fuzz_cpp_avx2.cpython-311-x86_64-linux-gnu.so"
    assert "x86-64-v3" in notes[avx2] and "rapidfuzz/fuzz_cpp.cpython-311-x86_64-linux-gnu.so beside it" in notes[avx2]
    # Without the baseline twin nothing else can be imported on an older CPU: the warning is back.
    alone = wheelaudit.audit(_with_members(real_wheels[RAPIDFUZZ], tmp_path / "alone", "/fuzz_cpp.cpython"))
    [warning] = [p for p in alone.problems if p.code == "isa-level-required"]
    assert warning.path == avx2


ARMV7_COMPRESSED = "pydantic_core-2.14.6-cp311-cp311-manylinux_2_17_armv7l.manylinux2014_armv7l.whl"


@pytest.mark.real
def test_compressed_tag_set_in_wheel_is_named_as_such(real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """maturin 1.4 wrote ``Tag: cp311-cp311-manylinux_2_17_armv7l.manylinux2014_armv7l``: the same tags as
    the file name, compressed where the wheel format wants one per line. That is no disagreement."""
    codes = {p.code: p for p in wheelaudit.audit(real_wheels[ARMV7_COMPRESSED]).problems}
    assert "wheel-tags-mismatch" not in codes
    compressed = codes["wheel-tags-compressed"]
    assert "cp311-cp311-manylinux_2_17_armv7l.manylinux2014_armv7l" in compressed.message
    assert compressed.fix is not None
    assert "Tag: cp311-cp311-manylinux2014_armv7l; Tag: cp311-cp311-manylinux_2_17_armv7l" in compressed.fix
    # Expanded, the same members raise neither; compressed but other tags is a disagreement again.
    expanded = repack_wheel(real_wheels[ARMV7_COMPRESSED], tmp_path, ARMV7_COMPRESSED, {})
    assert not {p.code for p in wheelaudit.audit(expanded).problems} & {"wheel-tags-mismatch", "wheel-tags-compressed"}
    other = tmp_path / "other" / ARMV7_COMPRESSED
    other.parent.mkdir()
    with zipfile.ZipFile(expanded) as src, zipfile.ZipFile(other, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".dist-info/WHEEL"):
                kept = [line for line in data.decode().splitlines() if not line.startswith("Tag:")]
                data = "\n".join([*kept, "Tag: cp311-cp311-manylinux_2_17_armv7l.manylinux_2_28_armv7l", ""]).encode()
            dst.writestr(info, data)
    codes = {p.code: p for p in wheelaudit.audit(other).problems}
    assert "wheel-tags-compressed" not in codes
    mismatch = codes["wheel-tags-mismatch"].message
    assert "only in WHEEL: cp311-cp311-manylinux_2_17_armv7l.manylinux_2_28_armv7l" in mismatch


@pytest.mark.real
def test_repair_reaches_a_library_the_wheel_has_out_of_the_loaders_way(
    real_wheels: dict[str, Path], tmp_path: Path
) -> None:
    """The pyzmq shape above, built as a plain build names it (linux_x86_64): repair does not look for
    libzmq on the host (it is not there) but gives every binary that needs it an rpath entry to the
    folder the wheel keeps it in; the result installs and runs libzmq with its libsodium (CURVE)."""
    plain_name = "pyzmq-25.1.2-cp311-cp311-linux_x86_64.whl"
    broken = repack_wheel(real_wheels[PYZMQ], tmp_path, plain_name, {b"/pyzmq.libs\x00": b"/pyzmq.libz\x00"})
    out = tmp_path / "wheelhouse"
    proc = subprocess.run(
        [sys.executable, "-m", "wheelaudit", "repair", "-w", str(out), str(broken)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "not found on this host" not in proc.stderr
    assert f"{LIBZMQ} is in the wheel but out of the loader's way for {MONITOREDQUEUE} and 9 more" in proc.stderr
    [repaired] = out.glob("*.whl")
    assert repaired.name == "pyzmq-25.1.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    report = wheelaudit.audit(repaired)
    assert report.ok and report.external_libraries == ()
    by_path = {b.path: b for b in report.binaries}
    assert by_path[MONITOREDQUEUE].rpath == ("$ORIGIN/../../pyzmq.libz", "$ORIGIN/../../pyzmq.libs")
    assert by_path[LIBZMQ].rpath == ("$ORIGIN",)  # libsodium beside it, no longer only by inheritance
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the import needs CPython 3.11 (the wheel is cp311)")
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
    python = str(env / "bin" / "python")
    run = ["-c", "import zmq; zmq.Context().socket(zmq.PAIR).close(); print(zmq.has('curve'))"]
    for wheel, works in ((broken, False), (repaired, True)):
        install = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--force-reinstall", str(wheel)]
        subprocess.run(install, check=True, timeout=300)
        proc = subprocess.run([python, *run], capture_output=True, text=True, timeout=60)
        assert (proc.returncode == 0 and proc.stdout.strip() == "True") is works, proc.stderr
        if not works:
            assert "libzmq-e8adeef9.so.5.2.4: cannot open shared object file" in proc.stderr


FROZEN_MAIN = """
#ifdef _WIN32
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif
EXPORT void *PyInit_builtin_module(void) { return 0; }
int main(void) { return PyInit_builtin_module() != 0; }
"""


def test_a_frozen_program_exporting_init_functions_is_a_program(tmp_path: Path) -> None:
    """cx_Freeze's ``bases/console-cpython-3xx-...`` programs export ``PyInit_*`` of their built-in
    modules; they are programs, not extension modules (else one linking libpython would get a false
    libpython-linked error). Built here as a PIE with gcc and as a Windows .exe with zig."""
    from wheelaudit.binary import BinaryKind
    from wheelaudit.binary.elf import parse_elf
    from wheelaudit.binary.pe import parse_pe

    from .pe_fixtures import have_zig

    (tmp_path / "main.c").write_text(FROZEN_MAIN)
    gcc = subprocess.run(
        ["gcc", "-O2", "-pie", "-fPIE", "-rdynamic", "-o", "console", "main.c"], cwd=tmp_path, capture_output=True
    )
    assert gcc.returncode == 0, gcc.stderr
    data = (tmp_path / "console").read_bytes()
    program = parse_elf(lambda offset, size: data[offset : offset + size], "bases/console", len(data))
    assert program.init_functions == ("PyInit_builtin_module",)
    assert program.kind is BinaryKind.EXECUTABLE
    if not have_zig():
        pytest.skip("zig (PyPI ziglang) is not installed")
    zig = [sys.executable, "-m", "ziglang", "cc", "-target", "x86_64-windows-gnu", "-O2", "-s"]
    for args, name, kind in (
        (["-o", "console.exe"], "console.exe", BinaryKind.EXECUTABLE),
        (["-shared", "-o", "module.pyd"], "module.pyd", BinaryKind.EXTENSION),
    ):
        proc = subprocess.run([*zig, *args, "main.c"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        image = (tmp_path / name).read_bytes()
        binary = parse_pe(io.BytesIO(image), name, len(image))
        assert "PyInit_builtin_module" in binary.init_functions
        assert binary.kind is kind, name


PYCRYPTODOME_WINDOWS = "pycryptodome-3.20.0-cp35-abi3-win_amd64.whl"


@pytest.mark.real
def test_pyd_files_that_call_nothing_of_the_interpreter_get_no_python_dll_warning(
    all_real_wheels: dict[str, Path],
) -> None:
    """pycryptodome's 41 .pyd files export a dummy PyInit_ and import nothing of the interpreter
    (ctypes opens them): no python-dll-missing warning for each, as there was."""
    report = wheelaudit.audit(all_real_wheels[PYCRYPTODOME_WINDOWS])
    assert report.ok and report.platform_tag == "win_amd64"
    pyds = [b for b in report.binaries if b.path.endswith(".pyd")]
    assert len(pyds) == 41 and all(b.init_functions for b in pyds)
    assert not any(s.name.startswith("Py") for b in pyds for s in b.imported_symbols)
    assert [p.code for p in report.problems if p.code.startswith("python-dll")] == []


NINJA = "ninja-1.11.1.1-py2.py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl"


@pytest.mark.real
def test_tag_lines_below_the_blank_line_are_replaced_in_the_header(
    real_wheels: dict[str, Path], tmp_path: Path
) -> None:
    """ninja 1.11.1.1 (scikit-build 0.17.6) writes its Tag lines after WHEEL's blank line, where
    installers never read them. A repair's new tags go into the header block, and the stale lines
    below go; the oracle is the stdlib's email parser, which is how installers read WHEEL."""
    import email.parser

    from wheelaudit.repairing import RepairOptions, repair_wheel

    with zipfile.ZipFile(real_wheels[NINJA]) as zf:
        before = zf.read("ninja-1.11.1.1.dist-info/WHEEL").decode()
    assert email.parser.Parser().parsestr(before).get_all("Tag") is None and "\nTag: py3-none-" in before
    assert "wheel-tags-missing" in {p.code for p in wheelaudit.audit(real_wheels[NINJA]).problems}
    result = repair_wheel(real_wheels[NINJA], RepairOptions(plat="manylinux_2_17_x86_64", only_plat=True), tmp_path)
    with zipfile.ZipFile(result.path) as zf:
        after = zf.read("ninja-1.11.1.1.dist-info/WHEEL").decode()
    expected = {
        f"{py}-none-{plat}" for py in ("py2", "py3") for plat in ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    }
    assert sorted(email.parser.Parser().parsestr(after).get_all("Tag") or []) == sorted(expected)
    assert after.count("Tag:") == 4, after
    report = wheelaudit.audit(result.path)
    assert report.ok and "wheel-tags-missing" not in {p.code for p in report.problems}


NH3_MUSL = "nh3-0.3.8-cp39-abi3-musllinux_1_2_aarch64.whl"
NH3_LIBGCC = "nh3.libs/libgcc_s-0bf60adc.so.1"


@pytest.mark.real
def test_debug_info_of_a_library_patchelf_edited_is_found(real_wheels: dict[str, Path]) -> None:
    """patchelf (auditwheel's grafting) appends a PT_LOAD at or past the section table; counted as the end
    of the loaded image, it hid the DWARF of every grafted library. Oracle: pyelftools' own sum of
    the .debug_* sections of nh3's grafted libgcc_s."""
    from elftools.elf.elffile import ELFFile

    with zipfile.ZipFile(real_wheels[NH3_MUSL]) as zf:
        data = zf.read(NH3_LIBGCC)
    elf = ELFFile(io.BytesIO(data))
    shoff = elf.header["e_shoff"]
    assert any(s["p_type"] == "PT_LOAD" and s["p_offset"] >= shoff for s in elf.iter_segments()), "patchelf's shape"
    debug = sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith((".debug", ".zdebug")))
    assert debug > 300_000
    report = wheelaudit.audit(real_wheels[NH3_MUSL])
    [binary] = [b for b in report.binaries if b.path == NH3_LIBGCC]
    assert binary.debug_info_bytes == debug and binary.debug_sizes_exact
    assert NH3_LIBGCC in {p.path for p in report.problems if p.code == "debug-info-present"}
