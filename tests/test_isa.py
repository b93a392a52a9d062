"""The x86-64 level of machine code without a GNU property note (issue 15).

Fixtures are built here: C at each -march level, and Rust crates built for haswell and
with runtime dispatch. Each label is checked against ground truth where qemu-user is
installed: the fixture dies with SIGILL on an older CPU model and runs on the newer one.
Real wheels of both kinds (polars' v3 runtime and its compat runtime, orjson) are the
pinned ones from sample-wheels/real-wheels.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import jsonschema
import pytest

import wheelaudit
from wheelaudit.binary import isascan, isaworker
from wheelaudit.binary.isascan import SAMPLE_SPAN, scan_code, window_offsets
from wheelaudit.binary.model import Binary
from wheelaudit.binary.x86decode import INVALID, Family, decode, walk
from wheelaudit.report.model import Severity
from wheelaudit.wheel.splitinflate import MIN_DISTANCE

from .builders import make_wheel
from .conftest import ROOT

SOURCES = Path(__file__).parent / "isa_sources"
X86_64 = platform.machine() in ("x86_64", "AMD64")
QEMU = shutil.which("qemu-x86_64")
ISA_CODES = ("isa-level-required", "isa-runtime-dispatch")

#: qemu CPU models: a level's code dies on the first and runs on the second (None: nothing to try).
GROUND_TRUTH = {1: (None, "Conroe"), 2: ("Conroe", "Westmere"), 3: ("Westmere", "Haswell"), 4: ("Haswell", None)}


# --- the decoder -------------------------------------------------------------------------------------

DECODED = [
    ("48 89 e5", 3, Family.OTHER),  # mov rbp, rsp
    ("48 b8 01 02 03 04 05 06 07 08", 10, Family.OTHER),  # movabs rax, imm64
    ("66 2e 0f 1f 84 00 00 00 00 00", 10, Family.OTHER),  # cs nopw [rax+rax]
    ("f7 c1 ff 00 00 00", 6, Family.OTHER),  # test ecx, imm32 (group 3 takes an immediate)
    ("f7 d9", 2, Family.OTHER),  # neg ecx (group 3 without one)
    ("e8 00 00 00 00", 5, Family.OTHER),  # call rel32
    ("0f 10 04 24", 4, Family.SSE),  # movups xmm0, [rsp]
    ("f2 0f 7c c1", 4, Family.SSE3),  # haddps
    ("66 0f 38 00 c1", 5, Family.SSSE3),  # pshufb
    ("66 0f 3a 0b c1 01", 6, Family.SSE4),  # roundsd xmm0, xmm1, 1
    ("f2 48 0f 38 f1 c1", 6, Family.SSE4),  # crc32 rax, rcx (SSE4.2)
    ("f3 48 0f b8 c1", 5, Family.POPCNT),
    ("48 0f c7 0f", 4, Family.CX16),  # cmpxchg16b [rdi]
    ("9f", 1, Family.LAHF),
    ("c5 fc 10 04 24", 5, Family.AVX),  # vmovups ymm0, [rsp]
    ("c5 f8 77", 3, Family.AVX),  # vzeroupper
    ("c4 e2 7d 58 c1", 5, Family.AVX2),  # vpbroadcastd ymm0, xmm1
    ("c5 fd fe c1", 4, Family.AVX2),  # vpaddd ymm0, ymm0, ymm1: integer op on ymm
    ("c5 f9 fe c1", 4, Family.AVX),  # vpaddd xmm0, xmm0, xmm1: the xmm form is AVX
    ("c5 fd ef c0", 4, Family.AVX2),  # vpxor ymm0, ymm0, ymm0
    ("c5 fc 57 c0", 4, Family.AVX),  # vxorps ymm0, ymm0, ymm0: floating point on ymm is AVX
    ("c5 fd 6f 04 24", 5, Family.AVX),  # vmovdqa ymm0, [rsp]: AVX moves ymm integers too
    ("c4 e2 7d 18 c1", 5, Family.AVX2),  # vbroadcastss ymm0, xmm1: from a register, AVX2
    ("c4 e2 7d 18 04 24", 6, Family.AVX),  # vbroadcastss ymm0, [rsp]: from memory, AVX
    ("c4 e3 7d 38 c1 01", 6, Family.AVX2),  # vinserti128 ymm0, ymm0, xmm1, 1
    ("c4 e3 7d 06 c1 01", 6, Family.AVX),  # vperm2f128 ymm0, ymm0, ymm1, 1
    ("c4 e3 fd 00 c1 4e", 6, Family.AVX2),  # vpermq ymm0, ymm1, 0x4e
    ("c4 e2 79 47 c1", 5, Family.AVX2),  # vpsllvd xmm0, xmm0, xmm1: new in AVX2 at either length
    ("c4 e2 7d 00 c1", 5, Family.AVX2),  # vpshufb ymm0, ymm0, ymm1
    ("c4 e2 f1 a9 c2", 5, Family.FMA),  # vfmadd213sd
    ("c4 e2 f9 f7 c1", 5, Family.BMI),  # shlx rax, rcx, rax
    ("c4 e3 fb f0 c1 05", 6, Family.BMI),  # rorx rax, rcx, 5
    ("f3 48 0f bd c1", 5, Family.LZCNT),
    ("f3 48 0f bc c1", 5, Family.TZCNT),
    ("0f 38 f0 07", 4, Family.MOVBE),  # movbe eax, [rdi]
    ("62 f1 7c 48 10 44 24 01", 8, Family.AVX512),  # vmovups zmm0, [rsp+0x40]
    ("c5 f8 93 c1", 4, Family.AVX512),  # kmovw eax, k1
]


@pytest.mark.parametrize(("hex_bytes", "length", "family"), DECODED, ids=[d[0] for d in DECODED])
def test_decode_length_and_family(hex_bytes: str, length: int, family: Family) -> None:
    code = bytes.fromhex(hex_bytes) + b"\xcc" * 16
    result = decode(code, 0)
    assert (result & 0xFF, Family(result >> 8)) == (length, family)


@pytest.mark.parametrize("hex_bytes", ["06", "0f 0b 0f ff c0", "66 c5 f8 77", "62 f1 78 48 10 00"])
def test_decode_rejects_what_no_compiler_emits(hex_bytes: str) -> None:
    code = bytes.fromhex(hex_bytes) + b"\x00" * 16
    offset = 2 if hex_bytes.startswith("0f 0b") else 0  # ud2 is fine (after noreturn calls); ud0 is not
    assert decode(code, offset) == INVALID


def test_windows_are_ascending_and_bounded() -> None:
    big = window_offsets([(4096, 100 << 20)], 200 << 20)
    assert big == sorted(big) and len(big) == 64 and big[0] >= 4096 and big[-1] < 4096 + (100 << 20)
    assert window_offsets([(0, 5000)], 5000) == [0, 2048, 4096]  # a small segment is read whole
    forged = window_offsets([(i * 1024, 1024) for i in range(4000)], 4000 * 1024)
    assert 64 <= len(forged) <= 128


def test_windows_of_a_big_file_keep_far_reads_split() -> None:
    """In polars' layout the windows stay in the first SAMPLE_SPAN of code, far before .dynamic."""
    reads: list[tuple[int, int]] = []

    def read_at(offset: int, size: int) -> bytes:
        reads.append((offset, size))
        return b"\x90" * size

    text, dynamic = (0x165B508, 0x6A23578), 0x83293B8  # polars-runtime-32 2.1.0
    found = scan_code(read_at, [text], 0x8500000, dynamic)
    assert found is not None and found.windows == 64
    offsets = [offset for offset, _ in reads]
    assert offsets == sorted(offsets) and offsets[0] >= text[0] and offsets[-1] < text[0] + SAMPLE_SPAN
    assert dynamic - offsets[-1] >= 2 * MIN_DISTANCE


def test_data_is_not_taken_for_code() -> None:
    """Random bytes hit invalid opcodes (no verdict); text decodes, but as baseline code."""
    noise = bytes((i * 2654435761 >> 13) & 0xFF for i in range(1 << 18))
    assert scan_code(lambda o, s: noise[o : o + s], [(0, len(noise))], len(noise)) is None
    text = b"The quick brown fox jumps over the lazy dog. " * 2000
    found = scan_code(lambda o, s: text[o : o + s], [(0, len(text))], len(text))
    assert found is None or (found.level, found.dispatched_level, found.families) == (1, None, ())


def test_identical_windows_are_decoded_once(gcc_libraries: dict[int, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A library shipped twice (pyarrow's libarrow.so and libarrow.so.2600) is decoded once: the
    second scan takes every window's counts from the first, and the verdict is the same."""
    code, _ = _executable_bytes(gcc_libraries[3])
    monkeypatch.setattr(isascan, "_tally_in_c", None)  # the memo serves the walks window by window
    monkeypatch.setattr(isascan, "_MEMO", {})
    monkeypatch.setattr(isaworker, "_SHARED", isaworker.Helper())  # every window walked here, and counted
    monkeypatch.setenv(isaworker.ENV, "0")
    decoded: list[int] = []
    real_count, real_many = isascan.walk_window, isascan._walk_many_in_c
    monkeypatch.setattr(isascan, "walk_window", lambda c: decoded.append(1) or real_count(c))
    if real_many is not None:  # the C walk takes a scan's windows in one call
        monkeypatch.setattr(isascan, "_walk_many_in_c", lambda cs: decoded.extend([1] * len(cs)) or real_many(cs))
    first = scan_code(lambda o, s: code[o : o + s], [(0, len(code))], len(code))
    windows = len(decoded)
    assert first is not None and windows > 0
    again = scan_code(lambda o, s: bytes(code[o : o + s]), [(0, len(code))], len(code))
    assert again == first and len(decoded) == windows
    monkeypatch.setattr(isascan, "MEMO_ENTRIES", 1)  # a full memo forgets its oldest entries
    monkeypatch.setattr(isascan, "_MEMO", {})
    assert scan_code(lambda o, s: code[o : o + s], [(0, len(code))], len(code)) == first
    assert len(isascan._MEMO) == 1


# --- gcc fixtures: one shared library per -march level -------------------------------------------------

MARCH = {"x86-64": 1, "x86-64-v2": 2, "x86-64-v3": 3, "x86-64-v4": 4}


@pytest.fixture(scope="session")
def loader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not X86_64 or not shutil.which("gcc"):
        pytest.skip("needs gcc on an x86_64 host")
    out = tmp_path_factory.mktemp("isa-loader") / "loader"
    subprocess.run(["gcc", "-O2", "-march=x86-64", "-o", str(out), str(SOURCES / "loader.c"), "-ldl"], check=True)
    return out


@pytest.fixture(scope="session")
def gcc_libraries(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """kern.c built at each level; level -> shared library."""
    if not X86_64 or not shutil.which("gcc"):
        pytest.skip("needs gcc on an x86_64 host")
    directory = tmp_path_factory.mktemp("isa-gcc")
    out = {}
    for march, level in MARCH.items():
        lib = directory / f"libkern-{march}.so"
        cmd = ["gcc", "-O3", f"-march={march}", "-shared", "-fPIC", "-o", str(lib), str(SOURCES / "kern.c"), "-lm"]
        subprocess.run(cmd, check=True)
        out[level] = lib
    return out


def _executable_bytes(lib: Path) -> tuple[bytes, int]:
    """The first executable PT_LOAD segment of a 64-bit little-endian ELF file, and its address."""
    data = lib.read_bytes()
    phoff, phentsize, phnum = struct.unpack_from("<Q", data, 32)[0], *struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_flags & 1:
            return data[p_offset : p_offset + p_filesz], p_vaddr
    raise AssertionError("no executable segment")


def test_walk_agrees_with_decode(gcc_libraries: dict[int, Path]) -> None:
    """The inlined fast path of walk() counts what decode() finds, instruction by instruction."""
    for lib in gcc_libraries.values():
        code, _ = _executable_bytes(lib)
        fast = [0] * (len(Family) + 1)
        walk(code, 0, fast)
        slow = [0] * (len(Family) + 1)
        p = 0
        with contextlib.suppress(IndexError):
            while p < len(code):
                r = decode(code, p)
                if r == INVALID:
                    break
                slow[r >> 8] += 1
                p += r & 0xFF
        # walk() may count one more instruction at the very end, where a SIB byte would be cut off
        assert 0 <= sum(fast[: len(Family)]) - sum(slow) <= 1, lib.name
        assert [f for f, n in enumerate(fast[: len(Family)]) if n] == [f for f, n in enumerate(slow) if n]


def test_decoder_matches_objdump(gcc_libraries: dict[int, Path]) -> None:
    """Every instruction boundary objdump finds in the fixtures' .text, the decoder finds too."""
    if not shutil.which("objdump"):
        pytest.skip("needs objdump (binutils)")
    for lib in gcc_libraries.values():
        code, vaddr = _executable_bytes(lib)
        listing = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", "-j", ".text", str(lib)], capture_output=True, text=True, check=True
        )
        starts = [int(m.group(1), 16) - vaddr for m in re.finditer(r"^\s+([0-9a-f]+):\t", listing.stdout, re.M)]
        assert len(starts) > 300
        p = starts[0]
        for start in starts:
            assert p == start, f"{lib.name}: decoder at {p + vaddr:#x}, objdump at {start + vaddr:#x}"
            p += decode(code, p) & 0xFF


def _audit_library(directory: Path, lib: Path, name: str) -> tuple[Binary, list[str]]:
    wheel = make_wheel(
        directory, f"{name}-0.1-cp38-abi3-manylinux_2_17_x86_64.whl", {f"{name}/_native.abi3.so": lib.read_bytes()}
    )
    report = wheelaudit.audit(wheel)
    (binary,) = report.binaries
    return binary, [f"{p.severity.value}:{p.code}" for p in report.problems if p.code in ISA_CODES]


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_gcc_fixture_level(level: int, gcc_libraries: dict[int, Path], tmp_path: Path) -> None:
    binary, codes = _audit_library(tmp_path, gcc_libraries[level], f"isa_gcc_v{level}")
    assert binary.code_isa is not None
    assert binary.code_isa.level == level, binary.code_isa
    assert codes == ([] if level == 1 else ["warning:isa-level-required"])


def _runs_on(loader: Path, lib: Path, cpu: str, cwd: Path) -> bool:
    """Whether ``run()`` of ``lib`` completes under qemu-user with CPU model ``cpu`` (False: SIGILL)."""
    assert QEMU
    result = subprocess.run(
        [QEMU, "-cpu", cpu, str(loader), str(lib), "run"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)),
    )
    if result.returncode == -signal.SIGILL or "Illegal instruction" in result.stderr:
        return False
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
    return True


def _check_ground_truth(loader: Path, lib: Path, level: int, cwd: Path) -> None:
    if QEMU is None:
        pytest.skip("qemu-user (qemu-x86_64) is not installed: apt-get install qemu-user")
    dies_on, runs_on = GROUND_TRUTH[level]
    if dies_on:
        assert not _runs_on(loader, lib, dies_on, cwd), f"v{level} code ran on {dies_on}"
    if runs_on:
        assert _runs_on(loader, lib, runs_on, cwd), f"v{level} code died on {runs_on}"


@pytest.fixture(scope="session")
def gcc_avx_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kern.c built for the baseline plus AVX (``-mavx``, as TensorFlow and JAX build): no AVX2, BMI or FMA."""
    if not X86_64 or not shutil.which("gcc"):
        pytest.skip("needs gcc on an x86_64 host")
    lib = tmp_path_factory.mktemp("isa-gcc-avx") / "libkern-avx.so"
    cmd = ["gcc", "-O3", "-march=x86-64", "-mavx", "-shared", "-fPIC", "-o", str(lib), str(SOURCES / "kern.c"), "-lm"]
    subprocess.run(cmd, check=True)
    return lib


def test_avx_without_avx2_is_named_avx(gcc_avx_library: Path, gcc_libraries: dict[int, Path], tmp_path: Path) -> None:
    """Code built with AVX alone dies only before Sandy Bridge, and says so; a v3 build's AVX2 is told apart.

    tensorflow-text 2.14 and jax-cuda12-plugin 0.4.30 are built so: their VEX code was counted as
    "AVX/AVX2" and the warning named the CPUs before Haswell, on which they run.
    """
    wheel = make_wheel(
        tmp_path, "isa_gcc_avx-0.1-cp38-abi3-manylinux_2_17_x86_64.whl", {"a/_n.abi3.so": gcc_avx_library.read_bytes()}
    )
    report = wheelaudit.audit(wheel)
    (binary,) = report.binaries
    assert binary.code_isa is not None and binary.code_isa.level == 3
    assert {u.family for u in binary.code_isa.families if u.level >= 3} == {"avx"}
    (problem,) = [p for p in report.problems if p.code in ISA_CODES]
    assert problem.code == "isa-level-required" and "compiled with AVX, an x86-64-v3 extension" in problem.message
    assert "without AVX (before Intel Sandy Bridge" in problem.message and "Haswell" not in problem.message
    v3, _ = _audit_library(tmp_path, gcc_libraries[3], "isa_gcc_v3")
    assert v3.code_isa is not None and {"avx2", "bmi", "fma"} <= {u.family for u in v3.code_isa.families}


def test_avx_fixture_ground_truth(gcc_avx_library: Path, loader: Path, tmp_path: Path) -> None:
    """What the message says: AVX code dies on Westmere (no AVX) and runs on Sandy Bridge (AVX, no AVX2)."""
    if QEMU is None:
        pytest.skip("qemu-user (qemu-x86_64) is not installed: apt-get install qemu-user")
    assert not _runs_on(loader, gcc_avx_library, "Westmere", tmp_path)
    assert _runs_on(loader, gcc_avx_library, "SandyBridge", tmp_path)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_gcc_fixture_ground_truth(level: int, gcc_libraries: dict[int, Path], loader: Path, tmp_path: Path) -> None:
    _check_ground_truth(loader, gcc_libraries[level], level, tmp_path)


# --- Rust fixtures: built for haswell, and baseline with runtime dispatch ------------------------------

RUST_BUILDS = {  # name -> (crate, RUSTFLAGS, level the code needs, dispatched level)
    "baseline": ("plain", "", 1, None),
    "haswell": ("plain", "-C target-cpu=haswell", 3, None),
    "dispatch": ("dispatch", "", 1, 3),
}


@pytest.fixture(scope="session")
def rust_libraries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sample crates as cdylibs (no dependencies: builds offline); name -> library."""
    cargo = shutil.which("cargo")
    if not X86_64 or cargo is None:
        pytest.skip("needs cargo on an x86_64 host")
    root = tmp_path_factory.mktemp("isa-rust")
    out = {}
    for name, (crate, flags, _level, _dispatched) in RUST_BUILDS.items():
        source = root / name
        shutil.copytree(SOURCES / crate, source)
        env = {**os.environ, "RUSTFLAGS": flags, "CARGO_TARGET_DIR": str(root / f"target-{name}")}
        env.pop("CARGO_BUILD_TARGET", None)
        subprocess.run([cargo, "build", "--release", "--offline", "-q"], cwd=source, env=env, check=True)
        out[name] = root / f"target-{name}" / "release" / f"libisa_{crate}.so"
    return out


@pytest.mark.parametrize("name", list(RUST_BUILDS))
def test_rust_fixture_level(name: str, rust_libraries: dict[str, Path], tmp_path: Path) -> None:
    _crate, _flags, level, dispatched = RUST_BUILDS[name]
    binary, codes = _audit_library(tmp_path, rust_libraries[name], f"isa_rust_{name}")
    assert binary.code_isa is not None
    assert (binary.code_isa.level, binary.code_isa.dispatched_level) == (level, dispatched), binary.code_isa
    expected = {1: [], 3: ["warning:isa-level-required"]}[level]
    assert codes == (["info:isa-runtime-dispatch"] if dispatched else expected)


@pytest.mark.parametrize("name", list(RUST_BUILDS))
def test_rust_fixture_ground_truth(name: str, rust_libraries: dict[str, Path], loader: Path, tmp_path: Path) -> None:
    _check_ground_truth(loader, rust_libraries[name], RUST_BUILDS[name][2], tmp_path)


# --- real wheels ------------------------------------------------------------------------------------

REAL = {  # wheel -> (binary, level, dispatched level, ISA problem codes)
    "polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": (
        "_polars_runtime_32/_polars_runtime.abi3.so",
        3,
        4,  # AVX-512 kernels chosen at run time
        ["warning:isa-level-required"],
    ),
    "polars_runtime_compat-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": (
        "_polars_runtime_compat/_polars_runtime.abi3.so",
        2,
        4,  # the same AVX2/AVX-512 kernels chosen at run time
        ["warning:isa-level-required"],
    ),
    "orjson-3.13.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": (
        "orjson/orjson.cpython-312-x86_64-linux-gnu.so",
        1,
        4,
        ["info:isa-runtime-dispatch"],
    ),
}


@pytest.fixture(scope="session")
def isa_real_wheels() -> dict[str, Path]:
    from .conftest import _load_fetcher

    return dict(_load_fetcher().fetch(names=list(REAL), log=lambda line: None))


@pytest.mark.parametrize("filename", list(REAL), ids=lambda f: f.split("-")[0])
def test_real_wheel_level(filename: str, isa_real_wheels: dict[str, Path]) -> None:
    path, level, dispatched, codes = REAL[filename]
    report = wheelaudit.audit(isa_real_wheels[filename])
    (binary,) = [b for b in report.binaries if b.path == path]
    assert binary.code_isa is not None
    assert (binary.code_isa.level, binary.code_isa.dispatched_level) == (level, dispatched), binary.code_isa
    found = [p for p in report.problems if p.code in ISA_CODES]
    assert [f"{p.severity.value}:{p.code}" for p in found] == codes
    if level > 1:
        assert f"x86-64-v{level}" in found[0].message and "target-cpu=x86-64-v2" in (found[0].fix or "")
        assert found[0].severity is Severity.WARNING
    doc = report.to_json()
    jsonschema.validate(doc, json.loads((ROOT / "wheelaudit" / "schemas" / "report.schema.json").read_text()))
    (entry,) = [b for b in doc["binaries"] if b["path"] == path]
    assert entry["code_isa"]["level"] == level


JAX_CUDA = "jax_cuda12_plugin-0.4.30-cp311-cp311-manylinux2014_x86_64.whl"


def test_real_avx_build_names_avx_not_avx2() -> None:
    """jax-cuda12-plugin 0.4.30 is built with -mavx: AVX in 60-72% of the sampled code of six modules, and no
    AVX2, BMI or FMA (objdump: 4,872 VEX instructions in _linalg.so, none of them AVX2). It runs on Sandy
    Bridge; the warning named the CPUs before Haswell."""
    from .conftest import _load_fetcher

    (wheel,) = _load_fetcher().fetch(names=[JAX_CUDA], log=lambda line: None).values()
    report = wheelaudit.audit(wheel)
    required = [p for p in report.problems if p.code == "isa-level-required"]
    assert len(required) == 6
    for problem in required:
        assert "compiled with AVX, an x86-64-v3 extension" in problem.message, problem.message
        assert "without AVX (before Intel Sandy Bridge" in problem.message and "AVX2" not in problem.message
    families = {u.family for b in report.binaries if b.code_isa for u in b.code_isa.families}
    assert "avx" in families and not families & {"avx2", "fma", "bmi"}
    assert report.platform_tag == "manylinux_2_17_x86_64" and report.ok
