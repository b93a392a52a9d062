"""The ISA scan's C walk (``wheelaudit/binary/_x86walk.c``) against the Python walk it speeds up.

``x86decode.count_window`` is the reference: the thresholds were measured with it. The C walk
must give the same counts on every window, including those that end mid-instruction or hold
no code, so the verdicts cannot depend on whether the extension was built.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from wheelaudit.binary import isascan
from wheelaudit.binary.isascan import WINDOW_BYTES, window_offsets
from wheelaudit.binary.x86decode import Family, count_window, native_count_window

from .conftest import ROOT

EM_X86_64 = 62
#: A sample of the pinned wheels: Rust (with dispatch and built for v2), C, C++ and Fortran, old and new.
WHEELS = (
    "polars_runtime_compat-",
    "polars_runtime_32-",
    "pyarrow-",
    "orjson-3.13.0-cp312-cp312-manylinux",
    "numpy-1.21.6-",
    "numpy-1.26.4-cp311-cp311-manylinux",
    "h5py-3.10.0-",
    "cryptography-50.0.2-cp311-abi3-manylinux",
    "pillow-10.2.0-",
    "rapidfuzz-",
    "wasmtime-",
)

needs_native = pytest.mark.skipif(native_count_window is None, reason="the C walk was not built (no C compiler)")


def test_the_c_walk_is_built_where_a_compiler_is() -> None:
    """The test install (`pip install '.[test]'`) compiles it whenever a C compiler is on PATH."""
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler: the wheel is pure Python and the scan runs in Python")
    assert native_count_window is not None, "hatch_build.py did not build wheelaudit/binary/_x86walk.c"
    assert isascan._walk_in_c is native_count_window or os.environ.get(isascan.NATIVE_ENV) == "0"


def _x86_code_segments(data: bytes) -> list[tuple[int, int]]:
    """Executable PT_LOAD segments ``(offset, filesz)`` of a 64-bit little-endian x86-64 ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1 or struct.unpack_from("<H", data, 18)[0] != EM_X86_64:
        return []
    phoff, (phentsize, phnum) = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<HH", data, 54)
    segments = []
    for i in range(phnum):
        p_type, p_flags, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and p_flags & 1:
            segments.append((p_offset, p_filesz))
    return segments


def _sampled_windows(wheel: Path) -> list[bytes]:
    """The windows the scan reads in every x86-64 ELF file of ``wheel``, and the same shifted by 1-3 bytes."""
    windows = []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                if member.read(4) != b"\x7fELF":
                    continue
            data = archive.read(info)
            for offset in window_offsets(_x86_code_segments(data), len(data)):
                for shift in (0, 1, 2, 3):
                    window = data[offset + shift : offset + shift + WINDOW_BYTES]
                    if window:
                        windows.append(window)
    return windows


@needs_native
@pytest.mark.real
def test_the_c_walk_counts_every_sampled_window_of_real_wheels_as_python_does(real_wheels: dict[str, Path]) -> None:
    chosen = [path for name, path in sorted(real_wheels.items()) if name.startswith(WHEELS) and "x86_64" in name]
    assert len(chosen) == len(WHEELS), sorted(real_wheels)
    assert native_count_window is not None
    checked = 0
    families_seen: set[int] = set()
    for wheel in chosen:
        windows = _sampled_windows(wheel)
        assert windows, wheel.name
        for window in windows:
            expected = count_window(window)
            assert native_count_window(window) == expected, (wheel.name, window[:32].hex())
            if expected is not None:
                families_seen.update(f for f, n in enumerate(expected[:-1]) if n)
        checked += len(windows)
    assert checked > 20_000
    missing = {f.name for f in Family if f not in families_seen}
    assert missing <= {"CX16", "LAHF", "F16C", "LZCNT"}, missing  # rare in these wheels: see the next test


#: One instruction of each family, as the Intel SDM encodes it.
ONE_OF_EACH = {
    Family.CX16: "48 0f c7 0e",  # cmpxchg16b [rsi]
    Family.LAHF: "9f",  # lahf
    Family.F16C: "c4 e2 79 13 c1",  # vcvtph2ps xmm0, xmm1
    Family.LZCNT: "f3 48 0f bd c1",  # lzcnt rax, rcx
    Family.TZCNT: "f3 0f bc c1",  # tzcnt eax, ecx
    Family.POPCNT: "f3 0f b8 c1",  # popcnt eax, ecx
    Family.MOVBE: "0f 38 f0 06",  # movbe eax, [rsi]
    Family.BMI: "c4 e2 f8 f2 c1",  # andn rax, rax, rcx
    Family.FMA: "c4 e2 f1 a8 c2",  # vfmadd213pd xmm0, xmm1, xmm2
    Family.AVX512: "62 f1 fd 48 6f 06",  # vmovdqa64 zmm0, [rsi]
    Family.SSE4: "66 0f 38 17 c1",  # ptest xmm0, xmm1
    Family.SSSE3: "66 0f 38 00 c1",  # pshufb xmm0, xmm1
    Family.SSE3: "f2 0f 7c c1",  # haddps xmm0, xmm1
}


@needs_native
@pytest.mark.parametrize("family", list(ONE_OF_EACH), ids=[f.name for f in ONE_OF_EACH])
def test_the_c_walk_names_each_family(family: Family) -> None:
    """Each family's instruction between plain ones, far from the window's end and at its very end."""
    assert native_count_window is not None
    instruction = bytes.fromhex(ONE_OF_EACH[family])
    filler = bytes.fromhex("48 89 c8") * 20  # mov rax, rcx
    for window in (filler + instruction + filler, filler + instruction):
        counts = native_count_window(window)
        assert counts == count_window(window)
        assert counts is not None and counts[family] == 1, (family.name, counts)


@needs_native
def test_the_c_walk_agrees_on_cut_off_invalid_and_random_bytes() -> None:
    """Windows that end inside an instruction (every prefix of real code), invalid opcodes,
    runs of prefixes, and random bytes of every small length."""
    assert native_count_window is not None
    places = (Path("/lib/x86_64-linux-gnu/libc.so.6"), Path("/usr/lib64/libc.so.6"))
    libc = next((p for p in places if p.is_file()), None)
    samples: list[bytes] = [
        bytes.fromhex(h)
        for h in ("0f", "66", "c4", "c5f8", "62f1", "62f17848", "8f", "8fe8", "f3", "f30f", "f30fb8", "48", "4800")
    ]
    samples += [b"\x66" * n + b"\x90" for n in (13, 14, 15, 16)]
    samples += [b"\xf2\x48\x0f\x10" + b"\x04" * k for k in range(6)]
    if libc is not None:
        data = libc.read_bytes()
        for offset, size in _x86_code_segments(data)[:1]:
            code = data[offset : offset + min(size, 64 * 1024)]
            samples += [code[i : i + n] for i in range(0, 4096, 37) for n in (1, 2, 3, 5, 8, 13, 24, 25, 40, 2048)]
    rng = random.Random(20261130)
    samples += [rng.randbytes(rng.choice((1, 2, 3, 4, 7, 15, 24, 25, 33, 100, 2048))) for _ in range(4000)]
    differing = [s.hex() for s in samples if native_count_window(s) != count_window(s)]
    assert not differing, differing[:5]
    with pytest.raises(ValueError):
        native_count_window(b"")


@needs_native
@pytest.mark.real
def test_show_is_the_same_with_the_scan_in_python(real_wheels: dict[str, Path]) -> None:
    """``WHEELAUDIT_NATIVE_ISA=0`` walks the windows in Python: the report is byte for byte the same."""
    wheel = next(p for name, p in real_wheels.items() if name.startswith("polars_runtime_compat-") and "x86_64" in name)
    outputs = []
    for setting in ("1", "0"):
        env = {**os.environ, isascan.NATIVE_ENV: setting}
        proc = subprocess.run(
            [sys.executable, "-m", "wheelaudit", "show", "--json", str(wheel)],
            capture_output=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
        outputs.append((proc.returncode, proc.stdout))
    assert outputs[0] == outputs[1]
    report = json.load(io.BytesIO(outputs[0][1]))
    assert "isa" in json.dumps(report)  # the report says which level the code needs: the scan ran


@needs_native
@pytest.mark.real
def test_the_batch_walk_gives_each_window_the_single_walks_counts(real_wheels: dict[str, Path]) -> None:
    """``count_windows`` (one call for a binary's windows, the GIL released) against ``count_window``."""
    from wheelaudit.binary.x86decode import native_count_windows

    assert native_count_window is not None and native_count_windows is not None
    wheel = next(path for name, path in sorted(real_wheels.items()) if name.startswith(WHEELS) and "x86_64" in name)
    windows = _sampled_windows(wheel)
    windows += [b"\x00" * 64, b"\xff" * 64, bytearray(windows[0]), memoryview(windows[1])]  # data, junk, buffers
    assert native_count_windows(windows) == [native_count_window(w) for w in windows]
    assert native_count_windows([]) == []
    with pytest.raises(ValueError, match="empty window"):
        native_count_windows([windows[0], b""])
    with pytest.raises(TypeError):
        native_count_windows([windows[0], 7])  # type: ignore[list-item]


@needs_native
@pytest.mark.real
def test_the_batch_walk_lets_other_threads_run(real_wheels: dict[str, Path]) -> None:
    """While one thread walks a long list of windows, another runs Python: with the GIL held it
    would get no turn for the whole walk (measured: 0-3% of the walk's time in CPU, against 90-100%
    released, and 40% beside the rest of the suite). An audit's other threads parse ELF tables meanwhile."""
    import threading
    import time

    from wheelaudit.binary.x86decode import native_count_windows

    assert native_count_windows is not None
    wheel = next(path for name, path in sorted(real_wheels.items()) if name.startswith(WHEELS) and "x86_64" in name)
    windows = _sampled_windows(wheel)
    windows = windows * (-(-20_000 // len(windows)))  # ~0.1 s of walking
    walked: list[float] = []
    walker_cpu: list[float] = []

    def walk() -> None:
        walked.append(time.perf_counter())
        walker_cpu.append(time.thread_time())
        native_count_windows(windows)
        walker_cpu.append(time.thread_time())
        walked.append(time.perf_counter())

    walker = threading.Thread(target=walk)
    samples: list[tuple[float, float]] = []  # (wall clock, this thread's CPU time)
    walker.start()
    while walker.is_alive():
        samples.append((time.perf_counter(), time.thread_time()))
    walker.join()
    start, end = walked
    inside = [cpu for wall, cpu in samples if start < wall < end]
    ran = inside[-1] - inside[0] if len(inside) > 1 else 0.0
    # CPU this thread spent running Python during the walk, against the walker's own CPU: ~1% with the
    # GIL held (it waits on it, using no CPU: 0.004 s against 0.32 measured with a GIL-holding walker);
    # released, 90-100% on a quiet machine and 24% at the least seen, in a fresh clone's suite with every
    # core busy (this thread, the walker and the other test worker sharing two cores).
    walking = walker_cpu[1] - walker_cpu[0]
    assert ran > 0.1 * walking, (ran, walking, end - start)


@needs_native
@pytest.mark.real
def test_the_tally_in_c_is_the_tally_in_python(real_wheels: dict[str, Path]) -> None:
    """``tally_windows`` (walk and add up in C) against add_window() of each window's counts, per binary's
    worth of windows of the pinned wheels, plus windows of data, junk and zeros."""
    from wheelaudit.binary import isascan

    assert isascan._tally_in_c is not None
    chosen = [path for name, path in sorted(real_wheels.items()) if name.startswith(WHEELS) and "x86_64" in name]
    compared = 0
    for wheel in chosen:
        windows = _sampled_windows(wheel)
        for first in range(0, len(windows), 256):
            batch = windows[first : first + 256]
            if first == 0:
                batch += [b"\x00" * 2048, b"\xff" * 64, bytes(range(256)) * 8]
            expected = isascan._Tally()
            for window in batch:
                expected.add_window(count_window(window))
            assert vars(isascan._Tally.of_windows_in_c(batch)) == vars(expected), wheel.name
            compared += 1
    assert compared > 50
    empty = isascan._Tally.of_windows_in_c([])
    assert vars(empty) == vars(isascan._Tally())
