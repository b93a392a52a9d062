"""What start-up costs are kept out of every run: typing, dataclasses, compiled ``__init__``\\ s.

``wheelaudit show`` on a small wheel is start-up bound (issue 16): importing typing was ~2.5 ms
and compiling every record class's ``__init__`` ~2.7 ms of ~45. These tests pin what replaced
them: :mod:`wheelaudit._typing` (typing's run-time names without typing) and records whose
``__init__`` is compiled only for classes that make many instances; and that the commands never import typing again.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from wheelaudit import _typing
from wheelaudit import record as record_module
from wheelaudit.record import FrozenRecordError, asdict, field, record, replace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample-wheels"

#: Runs one command in a fresh interpreter and prints the modules it imported, as JSON.
PROBE = """
import json, sys
from wheelaudit.cli.main import main
status = main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write(json.dumps({"status": status, "modules": sorted(sys.modules)}) + "\\n")
"""


def _run_code(code: str, *argv: str, cwd: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """``python -c code argv...`` in a fresh interpreter that imports wheelaudit from this checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([python, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, env=env, check=False)


def _modules_of(*argv: str, cwd: Path) -> tuple[int, set[str]]:
    result = _run_code(PROBE, *argv, cwd=cwd)
    last = result.stderr.strip().splitlines()[-1]
    probe = json.loads(last)
    return probe["status"], set(probe["modules"])


@pytest.mark.parametrize(
    "argv",
    [
        ("show", "--json", "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
        ("show", "wa_sample_newglibc-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
        ("show", "-q", "wa_sample_libpython-0.1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
        ("repair", "-w", "{out}", "wa_sample_syslib-0.1.0-cp38-abi3-linux_x86_64.whl"),
    ],
    ids=["show-json-abi3", "show-text-problems", "show-quiet", "repair"],
)
def test_commands_never_import_typing_or_dataclasses(argv: tuple[str, ...], tmp_path: Path) -> None:
    args = [
        a.replace("{out}", str(tmp_path)) if a == "{out}" else str(SAMPLES / a) if a.endswith(".whl") else a
        for a in argv
    ]
    status, modules = _modules_of(*args, cwd=tmp_path)
    assert status in (0, 1)  # ran to its verdict
    assert "wheelaudit.auditing" in modules  # the probe saw the real run
    assert "typing" not in modules
    assert "dataclasses" not in modules and "inspect" not in modules


def test_show_json_leaves_the_other_formats_unloaded(tmp_path: Path) -> None:
    wheel = SAMPLES / "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    _, modules = _modules_of("show", "--json", str(wheel), cwd=tmp_path)
    assert not {"wheelaudit.report.text", "wheelaudit.report.github", "wheelaudit.report.colour"} & modules
    _, modules = _modules_of("show", str(wheel), cwd=tmp_path)
    assert "wheelaudit.report.text" in modules


def test_stable_abi_audit_loads_only_for_stable_abi_wheels(tmp_path: Path) -> None:
    abi3 = SAMPLES / "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    cp311 = SAMPLES / "wa_sample_versioned-0.1.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    _, modules = _modules_of("show", "--json", str(abi3), cwd=tmp_path)
    assert "wheelaudit.checks.abi3" in modules
    _, modules = _modules_of("show", "--json", str(cp311), cwd=tmp_path)
    assert "wheelaudit.checks.abi3" not in modules and "wheelaudit.checks.stable_abi" not in modules


# -- wheelaudit._typing: run-time stand-ins that behave as typing's ---------------------------------


def _sample_on(base: Any) -> Any:
    """The same named tuple class made on ``base``: the stand-in or typing's."""

    class Sample(base):  # type: ignore[misc,valid-type]
        """A named tuple made by the stand-in."""

        name: str
        size: int = 0
        tags: tuple[str, ...] = ()

        @property
        def big(self) -> bool:
            return self.size > 10

        def label(self) -> str:
            return f"{self.name}:{self.size}"

    return Sample


def test_named_tuple_stand_in_matches_typing() -> None:
    ours, theirs = _sample_on(_typing.NamedTuple), _sample_on(typing.NamedTuple)
    for cls in (ours, theirs):
        made = cls("a", 12)
        assert made == ("a", 12, ()) and isinstance(made, tuple)
        assert cls._fields == ("name", "size", "tags")
        assert cls._field_defaults == {"size": 0, "tags": ()}
        assert made.big and made.label() == "a:12"
        assert made._replace(size=1).big is False
        assert cls.__doc__ == "A named tuple made by the stand-in."
        assert cls.__module__ == __name__
        assert cls.__qualname__ == "_sample_on.<locals>.Sample"
        assert repr(made) == f"{cls.__name__}(name='a', size=12, tags=())"
        with pytest.raises(TypeError):
            cls()  # name has no default
        with pytest.raises(AttributeError):
            made.name = "b"  # type: ignore[misc]
    assert ours.__mro__[1] is tuple  # a plain namedtuple: nothing of the stand-in left in it


def test_named_tuple_stand_in_refuses_super() -> None:
    with pytest.raises(TypeError, match="super"):

        class _Bad(_typing.NamedTuple):
            x: int

            def twice(self) -> tuple[int, ...]:
                return super().__add__(self)


def test_other_stand_ins_do_nothing_at_run_time() -> None:
    value = object()
    assert _typing.cast("int", value) is value

    def function() -> int:
        return 1

    assert _typing.overload(function) is function

    class Shape(_typing.Protocol):
        def area(self) -> float: ...

    class Square(Shape):
        def area(self) -> float:
            return 4.0

    assert Square().area() == 4.0


# -- records: ``__init__`` compiled on first use, and everything else as before ----------------------


def _point_class() -> type[Any]:
    @record(frozen=True)
    class Point:
        x: int
        y: int = 0
        tags: list[str] = field(default_factory=list, compare=False)

    return Point


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}),
    ((2, 3, ["a"]), {}),
    ((), {"x": 4, "tags": ["b"]}),
    ((5,), {"tags": ["c"], "y": 6}),
    ((), {}),  # missing x
    ((1, 2, [], 4), {}),  # too many
    ((1,), {"x": 2}),  # x twice
    ((1,), {"z": 2}),  # no such field
    ((), {"y": 1}),  # missing x, with a keyword
]


def _outcome(cls: type[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    try:
        made = cls(*args, **dict(kwargs))
    except TypeError:
        return TypeError
    return (made.x, made.y, made.tags)


def test_record_init_binds_as_the_compiled_one_then_compiles() -> None:
    generic, compiled = _point_class(), _point_class()
    for _ in range(record_module.COMPILE_AFTER):
        compiled(0)
    assert compiled.__init__.__code__.co_varnames[:4] == ("self", "x", "y", "tags")  # its own, compiled
    assert generic.__init__.__code__.co_varnames[:3] == ("self", "args", "kwargs")  # not yet
    for args, kwargs in CALLS:
        assert _outcome(generic, args, kwargs) == _outcome(compiled, args, kwargs), (args, kwargs)
    assert generic.__init__.__code__.co_varnames[:3] == ("self", "args", "kwargs")
    assert [_outcome(compiled, a, k) for a, k in CALLS].count(TypeError) == 5  # every bad call fails


def test_record_behaves_alike_before_and_after_compiling() -> None:
    point = _point_class()
    for round_ in range(2):
        first, second = point(1), point(2, 3, ["a"])
        assert (first.x, first.y, first.tags) == (1, 0, [])
        assert first.tags is not point(1).tags  # a fresh default per instance
        assert first == point(1) and hash(first) == hash(point(1)) and first != second
        assert repr(second).endswith("Point(x=2, y=3, tags=['a'])")
        with pytest.raises(FrozenRecordError):
            first.x = 5
        assert replace(second, y=9) == point(2, 9, ["a"])
        assert asdict(second) == {"x": 2, "y": 3, "tags": ["a"]}
        if round_ == 0:
            for _ in range(record_module.COMPILE_AFTER):
                point(0)


def test_record_subclass_of_an_uncompiled_record() -> None:
    @record
    class Base:
        a: int
        b: str = "b"

    class Plain(Base):
        def both(self) -> str:
            return f"{self.a}{self.b}"

    @record
    class Derived(Base):
        c: float = 1.0

    assert Plain(1).both() == "1b"  # the inherited generic __init__ binds Base's fields
    made = Derived(2, "x", 3.0)
    assert (made.a, made.b, made.c) == (2, "x", 3.0)
    assert Base(1) != Plain(1)  # classes differ: as dataclasses
    mutable = Base(1)
    mutable.a = 2
    assert mutable.a == 2


def test_record_field_order_is_checked_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="non-default field 'y' follows a field with a default"):

        @record
        class _Bad:
            x: int = 0
            y: int


# -- the oldest Pythons: annotations evaluated at run time must be valid there -----------------------

IMPORT_ALL = """
import importlib, pkgutil, sys, wheelaudit
bad = []
for module in pkgutil.walk_packages(wheelaudit.__path__, "wheelaudit."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        bad.append(f"{module.name}: {exc!r}")
print("\\n".join(bad))
"""


def _older_interpreters() -> list[str]:
    """CPython 3.9 and 3.10 where this machine has them (pyenv or PATH), as requires-python admits them."""
    found = []
    for minor in (9, 10):
        candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3")))
        candidates += [p for p in [shutil.which(f"python3.{minor}")] if p]
        for candidate in candidates:  # a pyenv shim may name a version it cannot run
            if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
                found.append(candidate)
                break
    return found


@pytest.mark.parametrize("python", _older_interpreters() or [pytest.param(None, marks=pytest.mark.skip("no 3.9/3.10"))])
def test_every_module_imports_on_the_oldest_supported_pythons(python: str, tmp_path: Path) -> None:
    """``X | Y`` or ``list[int]`` outside an annotation runs on 3.11 and fails on 3.9: a macOS repair
    module did (``Buffer = bytes | bytearray | memoryview``), and no test ran there."""
    result = _run_code(IMPORT_ALL, cwd=tmp_path, python=python)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", result.stdout


@pytest.mark.parametrize("shape", ["macosx_10_12_universal2", "win_amd64"])
def test_show_of_macos_and_windows_wheels_imports_no_typing(
    all_real_wheels: dict[str, Path], shape: str, tmp_path: Path
) -> None:
    """The Mach-O and PE readers (and their paged reading) keep to the rule too."""
    wheel = next(path for name, path in sorted(all_real_wheels.items()) if name.endswith(f"-{shape}.whl"))
    status, modules = _modules_of("show", "--json", str(wheel), cwd=tmp_path)
    assert status in (0, 1)
    assert {"wheelaudit.binary.macho", "wheelaudit.binary.pe"} & modules
    assert "typing" not in modules


#: Runs the console-script entry point; as it exits (``os._exit``) writes ``{line}`` (a Python expression) to stderr.
EXIT_PROBE = """
import os, sys
real_exit = os._exit

def report(code):
    sys.stdout.flush()
    sys.stderr.write({line} + "\\n")
    sys.stderr.flush()
    real_exit(code)

os._exit = report
sys.argv = ["wheelaudit", *sys.argv[1:]]
from wheelaudit.cli.main import run
run()
"""

GC_PROBE = """
import gc
before = gc.get_stats()[0]["collections"]
""" + EXIT_PROBE.format(line="f\"gc {gc.get_threshold()[0]} {gc.get_stats()[0]['collections'] - before}\"")


def test_the_command_runs_the_cyclic_collector_rarely(tmp_path: Path) -> None:
    """``run`` raises the collector's threshold: at CPython's 700 it ran every few hundred
    allocations of objects that refcounting frees anyway (a few % of a run on big wheels)."""
    from wheelaudit.cli.main import GC_THRESHOLD

    wheel = SAMPLES / "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    result = _run_code(GC_PROBE, "show", "--json", str(wheel), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, threshold, collections = result.stderr.strip().splitlines()[-1].split()
    assert int(threshold) == GC_THRESHOLD
    assert int(collections) <= 8, collections  # at the default threshold: ~25 in this run


#: Allocates and frees pieces of the sizes a run inflates, twice, and prints the page faults of the second round.
CHURN = """
import resource

def churn():
    keep = []
    for _ in range(20):
        for size in (3 << 20, 1 << 20, 2 << 20):
            keep.append(b"x" * size)  # written: every page is touched
            if len(keep) > 2:
                keep.pop(0)

def second_round_faults():
    churn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    churn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
"""

ALLOCATOR_PROBE = (
    CHURN
    + """
import sys
from wheelaudit.cli.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None
print(applied, second_round_faults())
"""
)

RUN_ALLOCATOR_PROBE = CHURN + EXIT_PROBE.format(line='f"faults {second_round_faults()}"')

needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc's malloc"
)


@needs_glibc
def test_keep_freed_memory_has_glibc_reuse_freed_pages(tmp_path: Path) -> None:
    """Without it glibc hands each freed MiB-sized piece back to the kernel, and the next one is
    written into fresh pages (a page fault per 4 KiB: 30,000 in a show of opencv-python-headless)."""
    untuned = _run_code(ALLOCATOR_PROBE, "default", cwd=tmp_path)
    tuned = _run_code(ALLOCATOR_PROBE, "tuned", cwd=tmp_path)
    assert untuned.returncode == 0 and tuned.returncode == 0, untuned.stderr + tuned.stderr
    assert untuned.stdout.split()[0] == "None" and int(untuned.stdout.split()[1]) > 1000  # the control: ~1,500
    applied, faults = tuned.stdout.split()
    assert applied == "True"
    assert int(faults) < 100  # ~0: the same pages again


@needs_glibc
def test_the_command_keeps_freed_memory_for_big_inputs_only(tmp_path: Path) -> None:
    """The ~2 ms of importing ctypes are paid back from inputs of a couple of MiB on (pydantic-core's 2.2 MB)."""
    from wheelaudit.cli.main import BIG_INPUT

    wheel = SAMPLES / "wa_sample_debuginfo-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    copies = -(-BIG_INPUT // wheel.stat().st_size)  # the same wheel named again until the inputs are big
    outcomes = {}
    for count in (1, copies):
        result = _run_code(RUN_ALLOCATOR_PROBE, "show", "--json", *[str(wheel)] * count, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outcomes[count] = int(result.stderr.strip().splitlines()[-1].split()[1])
    assert outcomes[1] > 1000  # a small input: glibc as it comes
    assert outcomes[copies] < 100


WORKER_PROBE = (
    CHURN
    + """
import gc, json, sys
from wheelaudit.cli.main import _worker_start
_worker_start(json.loads(sys.argv[1]))
print(gc.get_threshold()[0], second_round_faults())
"""
)


@needs_glibc
def test_a_worker_tunes_itself_as_the_parent_was_tuned(tmp_path: Path) -> None:
    """-j workers that a fork server or spawn starts (Python 3.14's default on Linux) inherit neither
    the collector's threshold nor the allocator's: the parent hands them what it set."""
    from wheelaudit.cli.main import GC_THRESHOLD

    outcomes = {}
    for tuned in ({}, {"gc": True, "malloc": True}):
        result = _run_code(WORKER_PROBE, json.dumps(tuned), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        threshold, faults = map(int, result.stdout.split())
        outcomes[bool(tuned)] = (threshold, faults)
    assert outcomes[False][0] != GC_THRESHOLD and outcomes[False][1] > 1000  # as Python and glibc come
    assert outcomes[True][0] == GC_THRESHOLD and outcomes[True][1] < 100
