"""Windows wheels: machine type and DLL imports; real wheels and a differential test against delvewheel."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.binary.model import BinaryKind
from wheelaudit.report.model import Severity
from wheelaudit.resolve import pe

from .builders import repack_wheel, windows_decision
from .conftest import SAMPLES

MANIFEST = {w["filename"]: w for w in json.loads((SAMPLES / "real-wheels.json").read_text())["wheels"]}
WINDOWS = sorted(n for n, w in MANIFEST.items() if w["platform"] == "windows")
HAS_DELVEWHEEL = importlib.util.find_spec("delvewheel") is not None


# -- real wheels --------------------------------------------------------------------------------


@pytest.mark.real
@pytest.mark.parametrize("filename", WINDOWS)
def test_real_windows_wheel(filename: str, all_real_wheels: dict[str, Path]) -> None:
    entry = MANIFEST[filename]
    report = wheelaudit.audit(all_real_wheels[filename])
    assert report.platform_tag in entry["platform_tags"]
    assert not report.errors, [p.message for p in report.errors]
    assert [v.satisfied for v in report.policies] == [True]
    # delvewheel's verdict as recorded in the manifest (`show`, and `show --ignore-existing` where it differs)
    expected = entry.get("delvewheel_ignore_existing_external", entry.get("delvewheel_external", []))
    extension_externals = {
        d.dll.lower()
        for d in windows_decision(all_real_wheels[filename]).dependencies
        if d.kind in (pe.EXTERNAL, pe.NOT_GUARANTEED) and d.binary.kind is not BinaryKind.EXECUTABLE
    }
    assert extension_externals == set(expected)
    bundled = {d.hit.installed for d in windows_decision(all_real_wheels[filename]).dependencies if d.hit}
    for member in entry.get("bundled_dlls", []):
        assert member in bundled or not member.endswith(".dll")


@pytest.mark.real
def test_vcruntime_for_cp38_on_arm64_is_a_warning(all_real_wheels: dict[str, Path]) -> None:
    """bcrypt cp38-abi3 win_arm64: CPython ships vcruntime140 on arm64 only from 3.9 (delvewheel agrees)."""
    report = wheelaudit.audit(all_real_wheels["bcrypt-5.0.0-cp38-abi3-win_arm64.whl"])
    assert report.ok
    assert report.external_libraries == ("vcruntime140.dll",)
    [warning] = [p for p in report.problems if p.code == "vc-runtime-not-guaranteed"]
    assert warning.severity is Severity.WARNING and "cp38-abi3" in warning.message


@pytest.mark.real
def test_executable_does_not_get_pythons_vcruntime(all_real_wheels: dict[str, Path]) -> None:
    report = wheelaudit.audit(all_real_wheels["rust_just-1.59.0-py3-none-win32.whl"])
    [warning] = [p for p in report.problems if p.code == "vc-runtime-not-guaranteed"]
    assert warning.path == "rust_just-1.59.0.data/scripts/just.exe"
    assert "outside the Python process" in warning.message


@pytest.mark.real
def test_delvewheel_layout_is_internal(all_real_wheels: dict[str, Path]) -> None:
    deps = windows_decision(all_real_wheels["numpy-2.5.5-cp312-cp312-win_amd64.whl"]).dependencies
    msvcp = [d for d in deps if d.dll.lower().startswith("msvcp140-")]
    assert msvcp and all(d.kind == pe.IN_WHEEL and d.hit and "numpy.libs/" in d.hit.how for d in msvcp)
    h5 = windows_decision(all_real_wheels["h5py-3.16.0-cp312-cp312-win_amd64.whl"]).dependencies
    assert all(d.hit and d.hit.beside for d in h5 if d.dll.lower() == "hdf5.dll")


# -- differential: delvewheel show --ignore-existing, run live ----------------------------------


def _delvewheel_show(wheel: Path) -> dict[str, set[str]] | None:
    result = subprocess.run(
        [sys.executable, "-m", "delvewheel", "show", "--ignore-existing", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "has already repaired this wheel" in result.stdout + result.stderr:
        return None
    assert result.returncode == 0, result.stderr
    sections: dict[str, set[str]] = {"copied": set(), "in_wheel": set(), "present": set()}
    current: str | None = None
    for line in result.stdout.splitlines():
        if "will be copied into the wheel" in line:
            current = "copied"
        elif "already in the wheel" in line:
            current = "in_wheel"
        elif "assumed to be present" in line:
            current = "present"
        elif line.startswith("    ") and current and line.strip() != "None":
            sections[current].add(line.split()[0].lower())
    return sections


def _without_repair_mark(wheel: Path, directory: Path) -> Path:
    """A copy of a wheel without ``*.dist-info/DELVEWHEEL``, the mark that makes ``delvewheel show``
    refuse a wheel it has repaired (numpy, shapely); every other member is copied unchanged."""
    out = directory / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        marks = [i for i in src.infolist() if i.filename.endswith(".dist-info/DELVEWHEEL")]
        assert marks, "delvewheel refused a wheel without its mark"
        for info in src.infolist():
            if info not in marks:
                dst.writestr(info, src.read(info))
    return out


@pytest.mark.real
@pytest.mark.skipif(not HAS_DELVEWHEEL, reason="delvewheel is not installed")
@pytest.mark.parametrize("filename", WINDOWS)
def test_matches_delvewheel_show(filename: str, all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    theirs = _delvewheel_show(all_real_wheels[filename])
    if theirs is None:  # a wheel delvewheel repaired: ask about the same members without its mark
        theirs = _delvewheel_show(_without_repair_mark(all_real_wheels[filename], tmp_path))
        assert theirs is not None
    found = windows_decision(all_real_wheels[filename]).dependencies
    deps = [d for d in found if d.binary.kind is not BinaryKind.EXECUTABLE]
    print(filename, "system:", sorted({d.dll.lower() for d in deps if d.kind == pe.SYSTEM}))
    external = {d.dll.lower() for d in deps if d.kind in (pe.EXTERNAL, pe.NOT_GUARANTEED)}
    in_wheel = {d.dll.lower() for d in deps if d.kind == pe.IN_WHEEL}
    present = {d.dll.lower() for d in deps} - external - in_wheel
    assert external == theirs["copied"]
    assert in_wheel == theirs["in_wheel"]
    assert present == theirs["present"]  # agreeing on the system DLLs too, though not required


# -- synthetic: a real .pyd with patched import names ------------------------------------------


@pytest.mark.real
def test_external_and_crt_dlls(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    src = all_real_wheels["rpds_py-2026.9.1-cp312-cp312-win_amd64.whl"]
    wheel = repack_wheel(
        src,
        tmp_path,
        "rpds_py-2026.9.1-cp312-cp312-win_amd64.whl",
        {b"bcryptprimitives.dll": b"bcryptprimitivez.dll", b"VCRUNTIME140.dll": b"msvcp140_abc.dll"},
    )
    report = wheelaudit.audit(wheel)
    assert report.external_libraries == ("bcryptprimitivez.dll", "msvcp140_abc.dll")
    assert {p.code for p in report.errors} == {"external-library"}
    crt = next(p for p in report.errors if p.library == "msvcp140_abc.dll")
    assert "crt-static" in (crt.fix or "")
    assert [v.satisfied for v in report.policies] == [False]


@pytest.mark.real
def test_machine_must_match_tag(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    src = all_real_wheels["orjson-3.13.0-cp312-cp312-win_arm64.whl"]
    wheel = repack_wheel(src, tmp_path, "orjson-3.13.0-cp312-cp312-win_amd64.whl", {})
    report = wheelaudit.audit(wheel)
    assert report.platform_tag == "win_arm64"
    [error] = [p for p in report.errors if p.code == "binary-arch-mismatch"]
    assert re.search(r"built for arm64, the wheel is tagged win_amd64", error.message)


@pytest.mark.parametrize("name", ["windows", "macos", "android"])
def test_platform_fact_files_match_their_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    policies = Path(__file__).resolve().parent.parent / "policies"
    document = json.loads((policies / f"{name}.json").read_text())
    jsonschema.validate(document, json.loads((policies / f"{name}.schema.json").read_text()))
