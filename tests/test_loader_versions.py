"""Version needs on the dynamic loader count against the level like those on libc.so.6.

ld.so is part of glibc: a need for GLIBC_2.35 from ld-linux-x86-64.so.2 (``__rseq_offset``, new in
glibc 2.35) fails to load on an older glibc ("version `GLIBC_2.35' not found") exactly as the same
need on libc.so.6 does. Such needs were skipped (auditwheel 6.8.2 skips them too), so an extension
that needs glibc 2.35 through the loader alone was granted manylinux_2_5. The loader's old versions
(``__tls_get_addr@GLIBC_2.3`` of every shared library with dynamic TLS) must still pass every level.
Binaries built here with gcc against the host's glibc (2.35 or newer for the first one).
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pytest

import wheelaudit

from .builders import make_wheel

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or platform.machine() != "x86_64", reason="needs gcc on x86_64 Linux"
)

LOADER = "ld-linux-x86-64.so.2"
RSEQ = """
#include <stddef.h>
#include <sys/rseq.h>
ptrdiff_t rseq_area_offset(void) { return __rseq_offset; }
void *PyInit_ext(void) { return (void *)rseq_area_offset(); }
"""
TLS = """
__thread int counter;
void *PyInit_ext(void) { return (void *)&counter; }
"""


def _extension_wheel(tmp_path: Path, source: str) -> Path:
    (tmp_path / "ext.c").write_text(source)
    lib = tmp_path / "ext.so"
    proc = subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "ext.c")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.skip(f"gcc could not build the fixture (glibc 2.35+ headers needed): {proc.stderr.strip()[:200]}")
    members = {"pkg/ext.cpython-311-x86_64-linux-gnu.so": lib.read_bytes(), "pkg/__init__.py": b""}
    return make_wheel(tmp_path, "pkg-0.1-cp311-cp311-manylinux_2_17_x86_64.whl", members)


def test_a_new_glibc_version_needed_from_the_loader_raises_the_level(tmp_path: Path) -> None:
    report = wheelaudit.audit(_extension_wheel(tmp_path, RSEQ))
    (binary,) = report.binaries
    assert LOADER in binary.needed
    assert {(n.library, n.version) for n in binary.version_needs} >= {(LOADER, "GLIBC_2.35")}
    assert report.platform_tag == "manylinux_2_35_x86_64"
    assert not report.ok
    (error,) = [p for p in report.errors if p.code == "elf-symbol-version-too-new"]
    assert error.library == LOADER and error.symbols == ("__rseq_offset",)
    assert "needs GLIBC_2.35 from ld-linux-x86-64.so.2 (manylinux_2_17 allows up to GLIBC_2.17)" in error.message


def test_the_loaders_old_versions_pass_every_level(tmp_path: Path) -> None:
    report = wheelaudit.audit(_extension_wheel(tmp_path, TLS))
    (binary,) = report.binaries
    assert (LOADER, "GLIBC_2.3") in {(n.library, n.version) for n in binary.version_needs}
    assert report.platform_tag == "manylinux_2_5_x86_64"
    assert report.ok, [p.message for p in report.errors]
