"""Search-path entries that lead outside the installed wheel are warned about (``rpath-outside-wheel``).

Libraries built here with gcc carry DT_RPATH or DT_RUNPATH entries of each kind: an absolute
directory of the build machine, one relative to the working directory, and ``$ORIGIN`` ones
(inside the wheel, never warned about). Real wheels show the two kinds found in the wild:
pyzmq 27.3.0's macOS libsodium keeps ``LC_RPATH /tmp/zmq/lib``, and Pillow 9.0.1's libraries
grafted by an old auditwheel keep the relative ``DT_RPATH Pillow.libs``.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.repairing import RepairOptions, repair_wheel
from wheelaudit.report.model import Severity

from .builders import make_wheel

needs_gcc = pytest.mark.skipif(
    shutil.which("gcc") is None or platform.machine() != "x86_64", reason="needs gcc on x86_64 Linux"
)

SOURCE = "void *PyInit_ext(void) { return 0; }\n"


def _wheel(tmp_path: Path, rpaths: list[str], *, new_dtags: bool) -> Path:
    (tmp_path / "ext.c").write_text(SOURCE)
    lib = tmp_path / "ext.so"
    flags = [f"-Wl,-rpath,{entry}" for entry in rpaths]
    flags.append("-Wl,--enable-new-dtags" if new_dtags else "-Wl,--disable-new-dtags")
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "ext.c"), *flags], check=True, timeout=120
    )
    members = {"pkg/ext.cpython-311-x86_64-linux-gnu.so": lib.read_bytes(), "pkg/__init__.py": b""}
    return make_wheel(tmp_path, "pkg-0.1-cp311-cp311-manylinux_2_17_x86_64.whl", members)


def _warnings(report: wheelaudit.WheelReport) -> list[str]:
    found = [p for p in report.problems if p.code == "rpath-outside-wheel"]
    assert all(p.severity is Severity.WARNING and p.fix for p in found)
    return [p.message for p in found]


@needs_gcc
@pytest.mark.parametrize(("new_dtags", "kind"), [(False, "DT_RPATH"), (True, "DT_RUNPATH")])
def test_entries_outside_the_wheel_are_warned_about_and_origin_ones_are_not(
    tmp_path: Path, new_dtags: bool, kind: str
) -> None:
    entries = ["$ORIGIN/../pkg.libs", "/tmp/build/lib", "build.libs", "${ORIGIN}"]
    report = wheelaudit.audit(_wheel(tmp_path, entries, new_dtags=new_dtags))
    (binary,) = report.binaries
    assert (binary.runpath if new_dtags else binary.rpath) == tuple(entries)
    messages = _warnings(report)
    assert len(messages) == 2, messages
    assert f"{kind} entry '/tmp/build/lib', a directory of the build machine" in messages[0]
    assert f"{kind} entry 'build.libs', relative to the working directory" in messages[1]
    assert report.ok and report.platform_tag == "manylinux_2_5_x86_64"  # a warning: the tag stands


@needs_gcc
def test_a_library_with_only_origin_entries_gets_no_warning(tmp_path: Path) -> None:
    report = wheelaudit.audit(_wheel(tmp_path, ["$ORIGIN", "$ORIGIN/../pkg.libs"], new_dtags=True))
    assert report.binaries[0].runpath and _warnings(report) == []


@pytest.mark.real
def test_real_wheels_with_entries_left_by_their_builds(all_real_wheels: dict[str, Path]) -> None:
    pyzmq = wheelaudit.audit(all_real_wheels["pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl"])
    messages = _warnings(pyzmq)
    assert len(messages) == 1  # the universal file's two slices, one warning
    assert "zmq/.dylibs/libsodium.26.dylib has the LC_RPATH entry '/tmp/zmq/lib'" in messages[0]
    pillow = wheelaudit.audit(all_real_wheels["Pillow-9.0.1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"])
    assert any(
        "has the DT_RPATH entry 'Pillow.libs', relative to the working directory" in m for m in _warnings(pillow)
    )
    assert pillow.ok  # the tag stands
    orjson = wheelaudit.audit(
        all_real_wheels["orjson-3.13.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"]
    )
    assert _warnings(orjson) == []


def _dynamic_entries(path: Path) -> dict[str, str]:
    """RPATH / RUNPATH as binutils' readelf reads them: the oracle, independent of wheelaudit's parser."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        for kind in ("RPATH", "RUNPATH"):
            if f"({kind})" in line:
                found[kind] = line.split("[", 1)[1].rsplit("]", 1)[0]
    return found


@needs_gcc
@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils' readelf")
@pytest.mark.parametrize(("new_dtags", "kind"), [(False, "RPATH"), (True, "RUNPATH")])
@pytest.mark.parametrize(
    ("entries", "left"),
    [
        (["$ORIGIN/../pkg.libs", "/tmp/build/lib", "build.libs", "${ORIGIN}"], "$ORIGIN/../pkg.libs:${ORIGIN}"),
        (["/tmp/build/lib"], None),
    ],
)
def test_repair_drops_the_entries_outside_and_keeps_the_rest_and_their_kind(
    tmp_path: Path, new_dtags: bool, kind: str, entries: list[str], left: str | None
) -> None:
    """A wheel that needs no graft still loses the entries ``show`` warns about; auditwheel keeps them."""
    result = repair_wheel(_wheel(tmp_path, entries, new_dtags=new_dtags), RepairOptions(), tmp_path / "wh")
    assert not result.plan.grafts
    assert _warnings(result.report) == []
    assert any("entries outside the wheel dropped ('/tmp/build/lib'" in w for w in result.warnings)
    with zipfile.ZipFile(result.path) as zf:
        extracted = Path(zf.extract("pkg/ext.cpython-311-x86_64-linux-gnu.so", tmp_path / "out"))
    assert _dynamic_entries(extracted) == ({kind: left} if left else {})
    (binary,) = result.report.binaries
    assert (binary.runpath if new_dtags else binary.rpath) == (tuple(left.split(":")) if left else ())


@needs_gcc
def test_repair_leaves_a_library_with_only_origin_entries_alone(tmp_path: Path) -> None:
    result = repair_wheel(_wheel(tmp_path, ["$ORIGIN"], new_dtags=True), RepairOptions(), tmp_path / "wh")
    assert not result.plan.patches and not result.warnings
