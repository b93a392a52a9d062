"""The recipes in docs/hooks.md, run as written: cibuildwheel's commands, maturin and build then
repair, the GitHub Actions steps, and the backend snippets (which must be the test projects')."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import wheelaudit
from wheelaudit.platforms.tags import parse_platform_tag

from .builders import SQLITE, build_env, only, stage
from .conftest import ROOT, sample_wheel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tomli is a dependency there
    import tomli as tomllib

DOC = (ROOT / "docs" / "hooks.md").read_text()
needs_sqlite = pytest.mark.skipif(SQLITE is None, reason="libsqlite3.so.0 (x86_64) is not on this host")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC, flags=re.M | re.S)


def sh(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a recipe's command line in a shell, as cibuildwheel and Actions do, with our venv first."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    full = {**os.environ, "PATH": path, **(env or {})}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


def placeholders(command: str, **values: Path) -> str:
    for key, value in values.items():
        command = command.replace("{" + key + "}", shlex.quote(str(value)))
    return command


# -- the backend snippets are the test projects' own ------------------------------------------


def _contained(snippet: Any, full: Any, where: str) -> None:
    if isinstance(snippet, dict):
        for key, value in snippet.items():
            assert isinstance(full, dict) and key in full, f"{where}.{key} is not in the project"
            _contained(value, full[key], f"{where}.{key}")
    else:
        assert snippet == full, where


def test_backend_snippets_are_the_tested_projects() -> None:
    found = 0
    for block in blocks("toml"):
        first = block.splitlines()[0]
        if first.startswith("# tests/projects/"):
            project = tomllib.loads((ROOT / first[2:]).read_text())
            _contained(tomllib.loads(block), project, first[2:])
            found += 1
    assert found == 3


# -- cibuildwheel -----------------------------------------------------------------------------


def cibuildwheel_config() -> dict[str, Any]:
    (block,) = [b for b in blocks("toml") if "[tool.cibuildwheel]" in b]
    return dict(tomllib.loads(block)["tool"]["cibuildwheel"])


@needs_sqlite
def test_cibuildwheel_linux_repair_leaves_one_wheel(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()  # cibuildwheel makes it, empty
    command = placeholders(
        cibuildwheel_config()["linux"]["repair-wheel-command"], wheel=sample_wheel("wa_sample_syslib-"), dest_dir=dest
    )
    proc = sh(command, tmp_path)
    assert proc.returncode == 0, proc.stderr
    wheel = only(dest, "*")
    assert wheel.suffix == ".whl" and "-manylinux_" in wheel.name
    assert wheelaudit.audit(wheel).ok


@pytest.mark.real
def test_cibuildwheel_macos_and_windows_commands_pass_the_wheel_on(
    all_real_wheels: dict[str, Path], tmp_path: Path
) -> None:
    config = cibuildwheel_config()
    for os_name, prefix in (("macos", "nh3-0.3.8-cp39-abi3-macosx"), ("windows", "nh3-0.3.8-cp39-abi3-win32")):
        (wheel,) = [p for name, p in all_real_wheels.items() if Path(name).name.startswith(prefix)]
        dest = tmp_path / os_name
        dest.mkdir()
        proc = sh(placeholders(config[os_name]["repair-wheel-command"], wheel=wheel, dest_dir=dest), tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert only(dest, "*").read_bytes() == wheel.read_bytes()


@pytest.mark.parametrize(
    ("prefix", "status"), [("wa_sample_abi3-", 0), ("wa_sample_newglibc-", 1), ("wa_sample_syslib-", 1)]
)
def test_cibuildwheel_audit_command(prefix: str, status: int, tmp_path: Path) -> None:
    command = placeholders(cibuildwheel_config()["audit-command"], wheel=sample_wheel(prefix))
    proc = sh(command, tmp_path)
    assert proc.returncode == status, proc.stdout + proc.stderr


# -- build, then repair -----------------------------------------------------------------------


def sh_lines(language: str, marker: str) -> list[str]:
    (block,) = [b for b in blocks(language) if marker in b]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


@needs_sqlite
def test_maturin_cli_then_repair(cargo_target: Path, tmp_path: Path) -> None:
    source = stage("maturin-syslib", tmp_path)
    env = build_env(cargo_target)
    for line in sh_lines("sh", "maturin build"):
        proc = sh(line, source, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert only(source / "dist", "*.whl").name.endswith("-linux_x86_64.whl")
    assert "-manylinux_" in only(source / "wheelhouse", "*.whl").name


@needs_sqlite
def test_build_then_repair(tmp_path: Path) -> None:
    source = stage("hatchling", tmp_path)
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"wheelaudit.backend"', '"hatchling.build"', 1))
    for line in sh_lines("sh", "python -m build"):
        proc = sh(line.replace("python -m build", "python -m build --no-isolation"), source)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    repaired = only(source / "wheelhouse", "*.whl")
    with zipfile.ZipFile(repaired) as z:
        assert any(n.startswith("wa_hatch.libs/libsqlite3-") for n in z.namelist())


# -- the GitHub Actions job -------------------------------------------------------------------


def job_commands() -> list[str]:
    (block,) = blocks("yaml")
    return [m.group(1) for m in re.finditer(r"^\s*- run: (wheelaudit .*)$", block, flags=re.M)]


@needs_sqlite
def test_github_job_steps(tmp_path: Path) -> None:
    repair, show = job_commands()
    dist = tmp_path / "dist"
    dist.mkdir()
    summary = tmp_path / "summary.md"
    (dist / sample_wheel("wa_sample_syslib-").name).write_bytes(sample_wheel("wa_sample_syslib-").read_bytes())
    assert sh(repair, tmp_path).returncode == 0
    proc = sh(show, tmp_path, {"GITHUB_STEP_SUMMARY": str(summary)})
    # Built on this host, the grafted libsqlite3 needs a newer glibc than the job's manylinux_2_28.
    level = parse_platform_tag(wheelaudit.audit(only(tmp_path / "wheelhouse", "*.whl")).platform_tag or "")
    expected = 0 if level.version and level.version <= (2, 28) else 1
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert all(line.startswith("::") for line in proc.stdout.splitlines()), proc.stdout
    assert "| wheel | verdict | best tag | errors | warnings | gate |" in summary.read_text()


def test_readme_shows_the_backend_and_the_documented_cibuildwheel_recipe() -> None:
    readme = (ROOT / "README.md").read_text()
    toml_blocks = re.findall(r"^```toml\n(.*?)^```", readme, flags=re.M | re.S)
    (backend_block,) = [b for b in toml_blocks if "wheelaudit.backend" in b]
    assert tomllib.loads(backend_block)["build-system"]["build-backend"] == "wheelaudit.backend"
    (ci_block,) = [b for b in toml_blocks if "[tool.cibuildwheel]" in b]
    _contained(tomllib.loads(ci_block)["tool"]["cibuildwheel"], cibuildwheel_config(), "README cibuildwheel")
