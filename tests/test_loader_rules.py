"""The loader's search rules (wheelaudit/resolve/elf.py), each shown on binaries built here with gcc.

Every fixture is a real package: a C extension module in ``pkg/`` and shared libraries
in ``pkg.libs/``, laid out as a repaired wheel is. Each verdict is checked twice: by
``wheelaudit.audit`` from the wheel alone, and by the real glibc loader importing the
extension from an unpacked copy (the truth the audit must match).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.binary.elf import parse_elf
from wheelaudit.repairing.linux.patchelf import find_patchelf
from wheelaudit.resolve.elf import link

from .builders import make_wheel

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or sys.platform != "linux", reason="needs gcc on Linux to build the fixtures"
)

EXT = "pkg/mod.so"
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"

MODULE_C = r"""
#include <Python.h>
int a(void);
static PyObject *call(PyObject *self, PyObject *args) { return PyLong_FromLong(a()); }
static PyMethodDef methods[] = {{"call", call, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "mod", NULL, -1, methods};
PyMODINIT_FUNC PyInit_mod(void) { return PyModule_Create(&def); }
"""


def _gcc(*args: str | Path) -> None:
    subprocess.run(["gcc", *map(str, args)], check=True, capture_output=True, timeout=120)


def _build(
    tmp: Path,
    *,
    ext_dtags: str = "--disable-new-dtags",
    liba_runpath: str | None = None,
    b_file: str = "libb.so",
    b_soname: str = "libb.so",
    ext_needs_b_file: bool = False,
) -> dict[str, bytes]:
    """pkg/mod.so -> pkg.libs/liba.so -> pkg.libs/<b_file>; only the extension has a search path.

    ``ext_dtags`` chooses DT_RPATH (--disable-new-dtags) or DT_RUNPATH (--enable-new-dtags)
    for the extension; ``liba_runpath`` gives liba a DT_RUNPATH of its own; ``b_file``
    and ``b_soname`` let the file name of libb differ from its SONAME (the SONAME rule);
    ``ext_needs_b_file`` makes the extension need libb by its file name, ahead of liba,
    as the extension of a repaired wheel would.
    """
    src = tmp / "src"
    libs = tmp / "build" / "pkg.libs"
    pkg = tmp / "build" / "pkg"
    for d in (src, libs, pkg):
        d.mkdir(parents=True, exist_ok=True)
    (src / "b.c").write_text("int b(void) { return 41; }\n")
    (src / "a.c").write_text("int b(void);\nint a(void) { return b() + 1; }\n")
    (src / "mod.c").write_text(MODULE_C)
    _gcc("-shared", "-fPIC", "-o", libs / b_file, src / "b.c", f"-Wl,-soname,{b_soname}")
    link_b = ["-L", libs, f"-l:{b_file}"]
    liba_extra = [f"-Wl,--enable-new-dtags,-rpath,{liba_runpath}"] if liba_runpath else []
    _gcc("-shared", "-fPIC", "-o", libs / "liba.so", src / "a.c", *link_b, "-Wl,-soname,liba.so", *liba_extra)
    include = sysconfig.get_paths()["include"]
    ext_links = ["-L", libs, "-la"]
    _gcc(
        "-shared", "-fPIC", "-I", include, "-o", pkg / "mod.so", src / "mod.c", *ext_links,
        f"-Wl,{ext_dtags},-rpath,$ORIGIN/../pkg.libs",
    )  # fmt: skip
    if ext_needs_b_file:
        patchelf, _ = find_patchelf()
        subprocess.run([patchelf, "--add-needed", b_file, str(pkg / "mod.so")], check=True)
    (pkg / "__init__.py").write_text("")
    return {
        str(p.relative_to(tmp / "build")).replace(os.sep, "/"): p.read_bytes()
        for p in sorted((tmp / "build").rglob("*"))
        if p.is_file()
    }


def _imports(tmp: Path) -> bool:
    """Whether the real loader can import pkg.mod from the unpacked tree (a fresh interpreter)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import pkg.mod as m; assert m.call() == 42"],
        cwd=tmp / "build",
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"},
    )
    return proc.returncode == 0


def _audit(tmp: Path, members: dict[str, bytes], plat: str = "manylinux_2_17_x86_64") -> wheelaudit.WheelReport:
    wheel = make_wheel(tmp, f"pkg-0.1-{TAG}-{TAG}-{plat}.whl", members)
    return wheelaudit.audit(wheel)


def _elf(name: str, data: bytes) -> wheelaudit.Binary:
    return parse_elf(lambda off, n: data[off : off + n], name, len(data))


@pytest.fixture(autouse=True)
def _x86_64_only() -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the fixtures are tagged x86_64")


def test_dt_rpath_is_inherited(tmp_path: Path) -> None:
    """liba has no search path; libb is found through the extension's DT_RPATH, as ld.so does."""
    members = _build(tmp_path)
    assert _elf(EXT, members[EXT]).rpath == ("$ORIGIN/../pkg.libs",)
    assert _imports(tmp_path)
    report = _audit(tmp_path, members)
    assert report.ok, [p.message for p in report.errors]
    assert report.platform_tag == "manylinux_2_5_x86_64"  # a() and b() need no versioned glibc symbol
    assert report.external_libraries == ()


def test_dt_runpath_is_not_inherited(tmp_path: Path) -> None:
    """The same package with DT_RUNPATH: ld.so does not pass it on, so libb is missing for liba."""
    members = _build(tmp_path, ext_dtags="--enable-new-dtags")
    assert _elf(EXT, members[EXT]).runpath == ("$ORIGIN/../pkg.libs",)
    assert not _imports(tmp_path)
    report = _audit(tmp_path, members)
    assert not report.ok
    assert report.external_libraries == ("libb.so",)
    assert any(p.code == "external-library" and p.path == "pkg.libs/liba.so" for p in report.errors)


def test_a_runpath_on_the_requester_stops_inheritance(tmp_path: Path) -> None:
    """liba's own DT_RUNPATH (pointing nowhere useful) switches inherited DT_RPATH off for liba's needs."""
    members = _build(tmp_path, liba_runpath="$ORIGIN/nowhere")
    assert not _imports(tmp_path)
    report = _audit(tmp_path, members)
    assert report.external_libraries == ("libb.so",)


def test_soname_of_a_loaded_library_answers_a_need(tmp_path: Path) -> None:
    """No file is named libb.so.1, but the extension loaded libb-1a2b3c4d.so (SONAME libb.so.1) first.

    The extension needs ``libb-1a2b3c4d.so`` (found through its DT_RPATH) before ``liba.so``, and
    liba needs ``libb.so.1``: glibc answers it with the library already loaded under that SONAME.
    """
    members = _build(tmp_path, b_file="libb-1a2b3c4d.so", b_soname="libb.so.1", ext_needs_b_file=True)
    ext = tmp_path / "build" / EXT
    needed = _elf(EXT, members[EXT]).needed
    assert needed.index("libb-1a2b3c4d.so") < needed.index("liba.so"), needed
    assert _elf("pkg.libs/liba.so", members["pkg.libs/liba.so"]).needed[0] == "libb.so.1"
    assert _imports(tmp_path)
    report = _audit(tmp_path, members)
    assert report.ok, [p.message for p in report.errors]
    assert report.external_libraries == ()
    # Without the extension's early need, nothing answers libb.so.1: the rule is what makes it work.
    subprocess.run([find_patchelf()[0], "--remove-needed", "libb-1a2b3c4d.so", str(ext)], check=True)
    members[EXT] = ext.read_bytes()
    assert not _imports(tmp_path)
    assert _audit(tmp_path, members).external_libraries == ("libb.so.1",)


def test_musl_inherits_runpath_and_ignores_sonames(tmp_path: Path) -> None:
    """musl's loader passes DT_RUNPATH on like DT_RPATH, and answers needs by file name only."""
    runpath = _build(tmp_path / "runpath", ext_dtags="--enable-new-dtags")
    soname = _build(tmp_path / "soname", b_file="libb-1a2b3c4d.so", b_soname="libb.so.1", ext_needs_b_file=True)
    for members, glibc_outside, musl_outside in (
        (runpath, {"pkg.libs/liba.so": ("libb.so",)}, {}),
        (soname, {}, {"pkg.libs/liba.so": ("libb.so.1",)}),
    ):
        binaries = [_elf(name, data) for name, data in members.items() if name.endswith(".so")]
        installed = {name: name for name in members}
        assert link(binaries, installed, installed, "glibc").outside == glibc_outside
        assert link(binaries, installed, installed, "musl").outside == musl_outside


def test_a_need_met_only_after_another_import_is_not_portable(tmp_path: Path) -> None:
    """A library loaded by two extensions, only one of which passes it a DT_RPATH.

    ``pkg/other.so`` (DT_RUNPATH, so nothing inherited) also loads liba.so; importing it
    first fails, so libb counts as outside for liba even though ``pkg/mod.so`` would work.
    """
    members = _build(tmp_path)
    src = tmp_path / "src"
    (src / "other.c").write_text(MODULE_C.replace("mod", "other"))
    other = tmp_path / "build" / "pkg" / "other.so"
    _gcc(
        "-shared", "-fPIC", "-I", sysconfig.get_paths()["include"], "-o", other, src / "other.c",
        "-L", tmp_path / "build" / "pkg.libs", "-la", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../pkg.libs",
    )  # fmt: skip
    members["pkg/other.so"] = other.read_bytes()
    proc = subprocess.run(
        [sys.executable, "-c", "import pkg.other"], cwd=tmp_path / "build", capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "libb.so" in proc.stderr
    assert _imports(tmp_path)  # mod alone is fine
    report = _audit(tmp_path, members)
    assert report.external_libraries == ("libb.so",)


def test_a_foreign_machine_file_is_passed_over(tmp_path: Path) -> None:
    """A member with the right name but the wrong machine is skipped by the search, as ld.so skips it."""
    members = _build(tmp_path)
    binaries = [_elf(n, d) for n, d in members.items() if n.endswith(".so")]
    installed = {n: n for n in members}
    assert link(binaries, installed, installed, "glibc").outside == {}
    mine = [b for b in binaries if b.path != "pkg.libs/libb.so"]
    assert link(mine, installed, installed, "glibc", foreign=["pkg.libs/libb.so"]).outside == {
        "pkg.libs/liba.so": ("libb.so",)
    }
