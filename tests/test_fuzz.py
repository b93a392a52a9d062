"""Structure-aware fuzzing of ``wheelaudit show``: the ZIP reader and the ELF, Mach-O and PE parsers.

The contract under test is the CLI's: exit 0, 1 or 2; on 2 exactly one line on stderr; never 3 (an
internal error) and never a traceback. Damaged inputs come from :mod:`tests.fuzzing` (field-aware
mutations of real bytes, seeds from :mod:`tests.fuzz_seeds`), each target with a fixed seed, so a
run is reproducible: the same cases in the same order, only how many depends on the machine. The
time bound is ``WHEELAUDIT_FUZZ_SECONDS`` (all four targets together; default 48) — set it higher to
fuzz longer by hand, and ``WHEELAUDIT_FUZZ_SEED=N`` to walk other fixed sequences. Inputs that once
broke the contract, or are worth keeping, live in ``tests/fuzz-corpus/`` and are replayed first:
``<target>-<what>.<ext>``, raw binaries for elf/macho/pe (wrapped in a wheel here), whole wheels for
zip.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
import threading
import time
import traceback
from functools import cache
from pathlib import Path

import pefile
import pytest

from wheelaudit.binary.pe import parse_pe
from wheelaudit.cli.main import main

from .fuzz_seeds import build_pe, elf_seeds, macho_seeds, pe_seeds, zip_seeds
from .fuzzing import (
    Field,
    FieldFinder,
    elf_fields,
    macho_fields,
    mutate,
    pe_fields,
    wheel_bytes,
    wheel_name,
    zip_fields,
)

CORPUS = Path(__file__).resolve().parent / "fuzz-corpus"
SECONDS = float(os.environ.get("WHEELAUDIT_FUZZ_SECONDS", "48"))
TARGETS = {"zip": 1101, "elf": 2202, "macho": 3303, "pe": 4404}  # target -> fixed RNG seed
SEED_OFFSET = int(os.environ.get("WHEELAUDIT_FUZZ_SEED", "0"))  # another fixed sequence, for runs by hand
FINDERS: dict[str, FieldFinder] = {"zip": zip_fields, "elf": elf_fields, "macho": macho_fields, "pe": pe_fields}
MIN_CASES = 100  # per target, however slow the machine
CASE_TIMEOUT = 20.0  # one show taking longer is a bug (a loop on forged counts)
STRUCT_WORDING = ("unpack_from requires", "out of range for", "buffer of at least")  # a reader's check missing
SUBPROCESS_CASES = 2  # per target: the first unusable inputs, also run as `python -m wheelaudit show`


def show(path: Path, *options: str) -> tuple[int, str, str]:
    """``wheelaudit show`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["show", *options, str(path)])
    return code, out.getvalue(), err.getvalue()


def show_bounded(path: Path, *options: str) -> tuple[int, str, str]:
    """:func:`show` in a daemon thread: a case that loops for ever is reported, not waited for.

    An exception escaping ``main`` becomes exit -1 with its traceback, a hang exit -2.
    """
    box: list[tuple[int, str, str]] = []

    def work() -> None:
        try:
            box.append(show(path, *options))
        except BaseException:  # whatever escapes is the finding
            box.append((-1, "", traceback.format_exc()))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(CASE_TIMEOUT)
    return box[0] if box else (-2, "", f"no answer within {CASE_TIMEOUT:g}s")


def broken_contract(code: int, err: str) -> str | None:
    """What breaks the CLI contract, or None."""
    if code not in (0, 1, 2):
        return f"exit {code}: {err.strip()}"
    if "Traceback" in err:
        return f"traceback on stderr: {err.strip()}"
    if code == 2 and len(err.strip().splitlines()) != 1:
        return f"exit 2 with {len(err.strip().splitlines())} lines on stderr: {err.strip()!r}"
    return None


def as_wheel(target: str, data: bytes) -> bytes:
    return data if target == "zip" else wheel_bytes(target, data)


@cache
def _seeds(target: str, tmp: str) -> tuple[tuple[bytes, list[Field]], ...]:
    raw = {"elf": elf_seeds, "macho": macho_seeds, "pe": pe_seeds}.get(target)
    seeds = raw() if raw else zip_seeds(Path(tmp))
    seeds += [p.read_bytes() for p in corpus_files() if p.name.startswith(target + "-")]  # the corpus seeds too
    return tuple((s, FINDERS[target](s)) for s in seeds)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name.split("-", 1)[0] in TARGETS)


def test_corpus_is_small() -> None:
    files = corpus_files()
    assert 0 < len(files) <= 48
    assert all(p.stat().st_size < 64 * 1024 for p in files), [p.name for p in files if p.stat().st_size >= 65536]
    assert {p.name for p in CORPUS.iterdir()} - {p.name for p in files} <= {"README.md"}


def test_pe_seed_reads_as_built() -> None:
    """The PE seed is what build_pe says it is, for our reader and for pefile."""
    data = build_pe()
    binary = parse_pe(io.BytesIO(data), "_ext.pyd", len(data))
    assert binary.needed == ("python3.dll", "KERNEL32.dll") and binary.weak_needed == ("delayed.dll",)
    assert binary.own_name == "_ext.pyd" and binary.init_functions == ("PyInit__ext",)
    assert binary.extra["pdb"] == "C:\\build\\_ext.pdb"
    assert "#5" in [s.name for s in binary.imported_symbols]
    pe = pefile.PE(data=data)
    assert [e.dll for e in pe.DIRECTORY_ENTRY_IMPORT] == [b"python3.dll", b"KERNEL32.dll"]
    assert [e.dll for e in pe.DIRECTORY_ENTRY_DELAY_IMPORT] == [b"delayed.dll"]


@pytest.mark.parametrize("case", corpus_files(), ids=lambda p: p.name)
def test_corpus_replays(case: Path, tmp_path: Path) -> None:
    target = case.name.split("-", 1)[0]
    path = tmp_path / wheel_name(target)
    path.write_bytes(as_wheel(target, case.read_bytes()))
    for options in ((), ("--json",)):
        code, _, err = show(path, *options)
        assert broken_contract(code, err) is None, (case.name, code, err)
        assert not any(leak in err for leak in STRUCT_WORDING), f"say what is damaged, not struct's words: {err}"
        if "-seed-" in case.name:  # seeds must stay valid, or mutating them only explores the first check
            assert code in (0, 1), (case.name, err)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_show(target: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    seeds = _seeds(target, str(tmp_path_factory.getbasetemp()))
    rng = random.Random(TARGETS[target] + SEED_OFFSET)
    started = time.monotonic()
    deadline = started + SECONDS / len(TARGETS) - 0.4 * SUBPROCESS_CASES  # the subprocess runs are in the bound
    path = tmp_path / wheel_name(target)
    failures: list[str] = []
    unusable: list[bytes] = []
    cases = 0
    exits = [0, 0, 0]
    slowest = 0.0
    while cases < MIN_CASES or time.monotonic() < deadline:
        seed, fields = seeds[rng.randrange(len(seeds))]
        blob = as_wheel(target, mutate(seed, fields, rng))
        path.write_bytes(blob)
        case_started = time.monotonic()
        code, _, err = show_bounded(path, *(("--json",) if rng.random() < 0.1 else ()))
        slowest = max(slowest, time.monotonic() - case_started)
        problem = broken_contract(code, err)
        if problem:
            crash = tmp_path / f"crash-{cases}.whl"
            crash.write_bytes(blob)
            failures.append(f"case {cases} ({crash}): {problem}")
            if len(failures) >= 5 or code == -2:
                break
        else:
            exits[code] += 1
            if code == 2 and len(unusable) < SUBPROCESS_CASES:
                unusable.append(blob)
        cases += 1
    elapsed = time.monotonic() - started
    for i, blob in enumerate(unusable):  # the same contract through the console entry point
        path.write_bytes(blob)
        proc = subprocess.run(
            [sys.executable, "-m", "wheelaudit", "show", str(path)], capture_output=True, text=True, timeout=60
        )
        problem = broken_contract(proc.returncode, proc.stderr)
        if problem or proc.returncode != 2:
            failures.append(f"subprocess case {i}: {problem or proc.returncode}")
    rate = f"{cases} cases in {elapsed:.1f}s ({cases / elapsed:.0f}/s), slowest {slowest * 1000:.0f} ms"
    print(f"\nfuzz {target}: {rate}, {len(seeds)} seeds, exits 0/1/2: {exits}")
    assert not failures, "\n".join(failures)
