"""A version need on a library the wheel carries is not a need on the system.

A level's symbol_versions (GLIBC, GLIBCXX, ZLIB ...) say what the system's libraries of that level
define. Pillow 9.0.1 grafted its own zlib 1.2.11 as ``libz-dd453c56.so.1.2.11``, and its libpng needs
``inflateValidate@ZLIB_1.2.9`` from that file, which defines it: the wheel runs on glibc 2.17 systems
whose libz.so.1 (1.2.7) has no ZLIB_1.2.9. Both tools capped it at manylinux_2_27 (auditwheel 6.8.2
still does: it pools every need by prefix whatever library it names). A bundled library under a name
the level allows from the system (``libz.so.1``) is another matter: the process may already hold the
system's copy under that name, and the loader then uses that one, so such needs stay checked.

Binaries built here with gcc: a stand-in zlib exporting ``inflateValidate`` at ZLIB_1.2.9, and an
extension that calls it with a DT_RUNPATH to the stand-in.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

import wheelaudit

from .builders import make_wheel, only_wheel, repair_cli

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or platform.machine() != "x86_64", reason="needs gcc on x86_64 Linux"
)

LIB = "int inflateValidate(void *strm, int check) { return strm ? check : 0; }\n"
MAP = "ZLIB_1.2.9 { global: inflateValidate; local: *; };\n"
EXT = """
int inflateValidate(void *strm, int check);
void *PyInit_ext(void) { return (void *)(long)inflateValidate((void *)0, 1); }
"""


def _gcc(*args: str | Path) -> None:
    subprocess.run(["gcc", *map(str, args)], check=True, capture_output=True, timeout=120)


def _wheel(tmp_path: Path, soname: str) -> Path:
    for name, text in (("z.c", LIB), ("z.map", MAP), ("ext.c", EXT)):
        (tmp_path / name).write_text(text)
    lib = tmp_path / soname
    _gcc(
        "-O2",
        "-shared",
        "-fPIC",
        f"-Wl,--version-script={tmp_path / 'z.map'}",
        f"-Wl,-soname,{soname}",
        "-o",
        lib,
        tmp_path / "z.c",
    )
    ext = tmp_path / "ext.so"
    _gcc(
        "-O2",
        "-shared",
        "-fPIC",
        "-o",
        ext,
        tmp_path / "ext.c",
        lib,
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../pkg.libs",
    )
    members = {
        "pkg/ext.cpython-311-x86_64-linux-gnu.so": ext.read_bytes(),
        f"pkg.libs/{soname}": lib.read_bytes(),
        "pkg/__init__.py": b"",
    }
    return make_wheel(tmp_path, "pkg-0.1-cp311-cp311-manylinux_2_17_x86_64.whl", members)


def _needs(report: wheelaudit.WheelReport) -> set[tuple[str, str]]:
    (ext,) = [b for b in report.binaries if b.path.startswith("pkg/")]
    return {(n.library, n.version) for n in ext.version_needs}


def test_a_need_on_a_grafted_library_is_not_capped_by_the_system_list(tmp_path: Path) -> None:
    report = wheelaudit.audit(_wheel(tmp_path, "libz-dd453c56.so.1.2.11"))
    assert ("libz-dd453c56.so.1.2.11", "ZLIB_1.2.9") in _needs(report)
    assert report.external_libraries == ()
    assert report.platform_tag == "manylinux_2_5_x86_64"
    assert report.ok, [p.message for p in report.errors]


def test_a_bundled_library_under_a_system_name_stays_checked(tmp_path: Path) -> None:
    report = wheelaudit.audit(_wheel(tmp_path, "libz.so.1"))
    assert ("libz.so.1", "ZLIB_1.2.9") in _needs(report)
    assert report.platform_tag == "manylinux_2_27_x86_64"  # the first level whose ZLIB list has 1.2.9
    (error,) = [p for p in report.errors if p.code == "elf-symbol-version-too-new"]
    assert error.library == "libz.so.1" and error.symbols == ("inflateValidate",)


def test_repair_tags_by_the_same_rule(tmp_path: Path) -> None:
    """The repair plan judges levels with the same facts: nothing to graft, and manylinux_2_5."""
    (tmp_path / "in").mkdir()
    built = _wheel(tmp_path / "in", "libz-dd453c56.so.1.2.11")
    untagged = built.with_name("pkg-0.1-cp311-cp311-linux_x86_64.whl")
    built.rename(untagged)
    proc = repair_cli("-w", tmp_path / "out", untagged)
    assert proc.returncode == 0, proc.stderr
    assert only_wheel(tmp_path / "out").name == "pkg-0.1-cp311-cp311-manylinux1_x86_64.manylinux_2_5_x86_64.whl"
