"""wheelaudit.backend end to end: real builders (maturin, setuptools-rust, hatchling), real frontends.

Each project in tests/projects/ is switched to ``wheelaudit.backend`` and built once per
session with ``pip wheel --no-build-isolation`` and ``python -m build --no-isolation``. The
Rust projects reuse the syslib sample crate (copied in, never duplicated in the tree) and
share one cargo target directory in the pytest cache, built without LTO and optimisation:
the tests are about what happens after the compiler, so a cold build stays near 30 s.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit import backend
from wheelaudit.report.gate import GateOptions, evaluate, parse_requirement

from .builders import SQLITE, build_env, only, stage
from .conftest import sample_wheel

REAL_BACKEND = {"maturin-syslib": "maturin", "setuptools-rust": "setuptools.build_meta", "hatchling": "hatchling.build"}
DIST = {"maturin-syslib": "wa_sample_syslib", "setuptools-rust": "wa_strust", "hatchling": "wa_hatch"}


_MISSING = [m for m in ("maturin", "setuptools_rust", "hatchling", "build") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.skipif(SQLITE is None, reason="libsqlite3.so.0 (x86_64) is not on this host"),
    pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed"),
    pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {_MISSING} (the test extras)"),
]


@dataclass
class Built:
    """One project built through the wrapper by both frontends, and its sdists."""

    name: str
    source: Path
    wheels: dict[str, Path]  # frontend -> the only wheel in its output directory
    sdist: Path  # through wheelaudit.backend
    real_sdist: Path  # the real backend's, from the same tree
    seconds: dict[str, float] = field(default_factory=dict)


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def pip_wheel(source: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", str(out)]
    return run([*cmd, *extra, str(source)], source, env)


def pyproject_build(source: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out)]
    return run([*cmd, *extra, str(source)], source, env)


def real_sdist(name: str, source: Path, out: Path, env: dict[str, str]) -> Path:
    """The sdist the real backend makes of the same tree, called directly as a frontend would."""
    code = "import importlib, sys; print(importlib.import_module(sys.argv[1]).build_sdist(sys.argv[2]))"
    proc = run([sys.executable, "-c", code, REAL_BACKEND[name], str(out)], source, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session", params=sorted(REAL_BACKEND))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cargo_target: Path) -> Built:
    name = request.param
    where = tmp_path_factory.mktemp(name)
    source = stage(name, where)
    env = build_env(cargo_target)
    seconds = {}
    wheels = {}
    for frontend, make in (("pip", pip_wheel), ("build", pyproject_build)):
        out = where / f"out-{frontend}"
        started = time.perf_counter()
        proc = make(source, out, env, *(["--wheel"] if frontend == "build" else []))
        seconds[frontend] = time.perf_counter() - started
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wheels[frontend] = only(out, "*.whl")
    proc = pyproject_build(source, where / "sdist", env, "--sdist")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sdist = only(where / "sdist", "*.tar.gz")
    return Built(name, source, wheels, sdist, real_sdist(name, source, where / "real-sdist", env), seconds)


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backend-venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    return root


# -- the wheel left behind ------------------------------------------------------------------


@pytest.mark.parametrize("frontend", ["pip", "build"])
def test_one_repaired_wheel(built: Built, frontend: str) -> None:
    wheel = built.wheels[frontend]
    assert "linux_x86_64" not in wheel.name and "-manylinux_" in wheel.name, wheel.name
    report = wheelaudit.audit(wheel)
    assert report.ok, [p.message for p in report.errors]
    assert report.filename == wheel.name
    assert evaluate(report, GateOptions(portable=True)).passed
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert any(n.startswith(f"{DIST[built.name]}.libs/libsqlite3-") for n in names), names


def test_both_frontends_give_the_same_wheel(built: Built) -> None:
    pip, build = built.wheels["pip"], built.wheels["build"]
    assert pip.name == build.name
    with zipfile.ZipFile(pip) as a, zipfile.ZipFile(build) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


def _tar_contents(sdist: Path) -> dict[str, tuple[int, bytes]]:
    with tarfile.open(sdist) as tar:
        out = {}
        for member in tar.getmembers():
            data = tar.extractfile(member) if member.isfile() else None
            out[member.name] = (member.mode, data.read() if data else b"")
        return out


def test_sdist_is_the_real_backends(built: Built) -> None:
    assert built.sdist.name == built.real_sdist.name
    assert _tar_contents(built.sdist) == _tar_contents(built.real_sdist)


HIDE = ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"']


def _can_hide() -> bool:
    """Whether this machine lets us replace the host's libsqlite3 by an empty file in a private
    mount namespace (root, or unprivileged namespaces), so that loading it would fail."""
    if SQLITE is None or shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*HIDE, SQLITE, "true"], capture_output=True, timeout=60)
    return probe.returncode == 0


def _hidden_run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with the host's libsqlite3 hidden where possible (see :func:`_can_hide`);
    /proc/self/maps then tells which copy was loaded either way."""
    prefix = [*HIDE, str(SQLITE)] if _can_hide() else []
    return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120, cwd="/", env=env)


def test_hiding_the_host_library_works() -> None:
    if not _can_hide():
        pytest.skip("no private mount namespace here: the import tests rely on /proc/self/maps alone")
    proc = _hidden_run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({SQLITE!r})"])
    assert proc.returncode != 0 and "too short" in proc.stderr, proc.stderr


SUM = "assert m.sum_to(10) == 55; print(m.sqlite_version())"
IMPORT_CHECK = {
    "maturin-syslib": f"import wa_sample_syslib as m; {SUM}",
    "setuptools-rust": f"from wa_strust import wa_sample_syslib as m; {SUM}",
    "hatchling": "import wa_hatch as m; print(m.sqlite_version())",
}
MAPS = "print('\\n'.join(l.split()[-1] for l in open('/proc/self/maps') if 'libsqlite3' in l))"


def test_installed_wheel_uses_the_grafted_library(built: Built, fresh_venv: Path) -> None:
    python = fresh_venv / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--force-reinstall"]
    proc = subprocess.run([*install, str(built.wheels["pip"])], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code = f"import sysconfig; {IMPORT_CHECK[built.name]}; print(sysconfig.get_path('platlib')); {MAPS}"
    proc = _hidden_run([str(python), "-c", code])
    assert proc.returncode == 0, proc.stderr
    version, site, *loaded = proc.stdout.splitlines()
    assert version.startswith("3.")
    assert loaded, "libsqlite3 is not mapped at all"
    for path in loaded:
        assert path.startswith(os.path.join(site, f"{DIST[built.name]}.libs", "libsqlite3-")), loaded
    if built.name == "setuptools-rust":  # the Binding.Exec program, run through its console entry
        env = {**os.environ, "LD_DEBUG": "libs"}
        proc = _hidden_run([str(fresh_venv / "bin" / "wa-strust-sqlite")], env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip() == version
        inits = [line.split("calling init:")[1].strip() for line in proc.stderr.splitlines() if "calling init:" in line]
        sqlite = [path for path in inits if "sqlite" in path]
        assert sqlite and all(f"{DIST[built.name]}.libs/libsqlite3-" in path for path in sqlite), sqlite


# -- the gate fails the build --------------------------------------------------------------


@pytest.fixture(scope="session")
def hatchling_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hatchling project alone: the gate runs after the real backend, whichever it is, and this
    one builds in a second."""
    return stage("hatchling", tmp_path_factory.mktemp("hatchling-gate"))


def test_a_wheel_that_fails_the_gate_fails_the_build(
    hatchling_source: Path, cargo_target: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # --config-settings, not -C: pip before 23.1 (Debian 12 venvs have 23.0) knows only the long form.
    proc = pip_wheel(
        hatchling_source, out, build_env(cargo_target), "--config-settings", "wheelaudit.require=manylinux_2_5"
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "does not pass the gate" in output and "required: manylinux_2_5" in output, output
    assert "Traceback" not in output, "one message, not a traceback"
    assert not list(out.glob("*.whl")), "a rejected wheel is not left behind"


def test_skip_returns_the_wheel_as_built(hatchling_source: Path, cargo_target: Path, tmp_path: Path) -> None:
    env = {**build_env(cargo_target), "WHEELAUDIT_SKIP": "1"}
    proc = pip_wheel(hatchling_source, tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert only(tmp_path, "*.whl").name.endswith("-linux_x86_64.whl")


def test_editable_build_is_passed_through(hatchling_source: Path, cargo_target: Path, tmp_path: Path) -> None:
    """An editable wheel runs where it was built and is never published: the real backend's, as it is."""
    code = "import importlib, sys; print(importlib.import_module(sys.argv[1]).build_editable(sys.argv[2]))"
    names = {}
    for module in ("wheelaudit.backend", "hatchling.build"):
        out = tmp_path / module
        proc = run([sys.executable, "-c", code, module, str(out)], hatchling_source, build_env(cargo_target))
        assert proc.returncode == 0, proc.stderr
        assert "wheelaudit:" not in proc.stderr
        with zipfile.ZipFile(out / proc.stdout.strip().splitlines()[-1]) as z:
            names[module] = (Path(z.filename or "").name, sorted(z.namelist()))
    assert names["wheelaudit.backend"] == names["hatchling.build"]


# -- configuration, without building ---------------------------------------------------------


def write_project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text)
    return tmp_path


BASE = """
[build-system]
requires = ["wheelaudit", "hatchling"]
build-backend = "wheelaudit.backend"
[tool.wheelaudit]
build-backend = "hatchling.build"
"""


def test_precedence_settings_over_environment_over_pyproject(tmp_path: Path) -> None:
    project = write_project(tmp_path, BASE + '[tool.wheelaudit.repair]\nplat = "manylinux_2_28"\nexclude = ["a"]\n')
    config = backend.load_config(None, {}, project)
    assert config.get("plat") == "manylinux_2_28" and config.get("exclude") == ("a",)
    config = backend.load_config(None, {"WHEELAUDIT_PLAT": "manylinux_2_17", "WHEELAUDIT_EXCLUDE": "b:c"}, project)
    assert config.get("plat") == "manylinux_2_17" and config.get("exclude") == ("b", "c")
    settings = {"wheelaudit.plat": "manylinux_2_34", "wheelaudit.exclude": ["d", "e"], "other": "x"}
    config = backend.load_config(settings, {"WHEELAUDIT_PLAT": "manylinux_2_17"}, project)
    assert config.get("plat") == "manylinux_2_34" and config.get("exclude") == ("d", "e")
    assert config.settings == {"other": "x"}, "the real backend never sees our settings"


@pytest.mark.parametrize(
    ("text", "settings", "message"),
    [
        ("[build-system]\n", None, "needs [tool.wheelaudit] build-backend"),
        (BASE + "[tool.wheelaudit.repair]\nplatt = 'x'\n", None, "unknown keys ['platt']"),
        (BASE + "[tool.wheelaudit.gate]\nallow-linux-tag = 'maybe'\n", None, "is not a bool"),
        (BASE, {"wheelaudit.nope": "1"}, "config setting wheelaudit.nope: unknown"),
    ],
)
def test_bad_configuration_is_one_message(
    tmp_path: Path, text: str, settings: dict[str, str] | None, message: str
) -> None:
    project = write_project(tmp_path, text)
    with pytest.raises(backend.BuildFailed) as caught:
        backend.load_config(settings, {}, project)
    assert message in caught.value.message


def test_gate_options_in_the_hook(tmp_path: Path) -> None:
    gate = '[tool.wheelaudit.gate]\nrequire = ["manylinux_2_17"]\nfail-on = "warning"\n'
    project = write_project(tmp_path, BASE + gate)
    options = backend.gate_options(backend.load_config(None, {}, project))
    assert options.portable and options.require == (parse_requirement("manylinux_2_17"),)
    assert options.fail_on is wheelaudit.Severity.WARNING
    options = backend.gate_options(backend.load_config({"wheelaudit.allow-linux-tag": "true"}, {}, project))
    assert not options.portable
    with pytest.raises(backend.BuildFailed, match="--require manylinux_9"):
        backend.gate_options(backend.load_config({"wheelaudit.require": "manylinux_9"}, {}, project))


def test_optional_hooks_follow_the_real_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain_backend.py").write_text(
        "def build_wheel(d, c=None, m=None): return 'x.whl'\n"
        "def build_sdist(d, c=None): return repr(c)\n"
        "def get_requires_for_build_wheel(c=None): return ['dep', repr(c)]\n"
    )
    write_project(tmp_path, BASE.replace("hatchling.build", "plain_backend") + 'backend-path = ["."]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "plain_backend", raising=False)
    assert backend.get_requires_for_build_wheel({"wheelaudit.skip": "1", "k": "v"}) == ["dep", "{'k': 'v'}"]
    assert backend.build_sdist(str(tmp_path), {"wheelaudit.plat": "auto"}) == "{}"
    assert not hasattr(backend, "build_editable"), "a hook the real backend lacks is missing here too"
    assert not hasattr(backend, "prepare_metadata_for_build_wheel")


def test_skip_via_setting_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain_backend2.py").write_text("def build_wheel(d, c=None, m=None): return 'built.whl'\n")
    write_project(tmp_path, BASE.replace("hatchling.build", "plain_backend2") + 'backend-path = ["."]\n')
    monkeypatch.chdir(tmp_path)
    assert backend.build_wheel(str(tmp_path), {"wheelaudit.skip": "yes"}) == "built.whl"


# -- what the hook does with each kind of wheel (a stand-in backend that "builds" a given wheel) ----


@pytest.fixture
def copying_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose backend's build_wheel copies $WA_TEST_WHEEL into the wheel directory."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "copy_backend.py").write_text(
        "import os, shutil\n"
        "def build_wheel(d, c=None, m=None):\n"
        "    return os.path.basename(shutil.copy(os.environ['WA_TEST_WHEEL'], d))\n"
        "def build_sdist(d, c=None): raise NotImplementedError\n"
    )
    write_project(project, BASE.replace("hatchling.build", "copy_backend") + 'backend-path = ["."]\n')
    monkeypatch.chdir(project)
    monkeypatch.delitem(sys.modules, "copy_backend", raising=False)
    for key in [k for k in os.environ if k.startswith("WHEELAUDIT_") and k != "WHEELAUDIT_WHEEL_CACHE"]:
        monkeypatch.delenv(key)
    out = tmp_path / "out"
    out.mkdir()
    return out


def hook_build(out: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str] | None = None) -> str:
    monkeypatch.setenv("WA_TEST_WHEEL", str(wheel))
    return backend.build_wheel(str(out), settings)


def test_a_clean_manylinux_wheel_keeps_its_name(copying_backend: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = sample_wheel("wa_sample_abi3-")
    assert hook_build(copying_backend, wheel, monkeypatch) == wheel.name
    assert [p.name for p in copying_backend.iterdir()] == [wheel.name], "nothing else is left behind"


def test_errors_repair_cannot_fix_fail_the_build(copying_backend: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(backend.BuildFailed) as caught:
        hook_build(copying_backend, sample_wheel("wa_sample_abi3bad-"), monkeypatch)
    assert "does not pass the gate" in caught.value.message
    assert "[error] abi3-symbol-too-new" in caught.value.message
    assert list(copying_backend.iterdir()) == [], "the rejected wheel is removed"


def test_a_lying_tag_is_narrowed_with_a_warning(
    copying_backend: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = hook_build(copying_backend, sample_wheel("wa_sample_newglibc-"), monkeypatch)
    assert name.endswith("-manylinux_2_36_x86_64.whl"), name
    assert [p.name for p in copying_backend.iterdir()] == [name], "the built wheel is replaced"
    assert "is narrower than the input's manylinux_2_17" in capsys.readouterr().err


def test_an_unreachable_plat_fails_the_build(copying_backend: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"wheelaudit.plat": "manylinux_2_5"}
    with pytest.raises(backend.BuildFailed) as caught:
        hook_build(copying_backend, sample_wheel("wa_sample_newglibc-"), monkeypatch, settings)
    assert "manylinux_2_5" in caught.value.message
    assert list(copying_backend.iterdir()) == []


@pytest.mark.real
def test_macos_and_windows_wheels_are_repaired_and_gated(
    copying_backend: Path, monkeypatch: pytest.MonkeyPatch, all_real_wheels: dict[str, Path]
) -> None:
    """The hook repairs every platform that has a repairer: a macOS wheel whose x86_64 slice
    needs 10.13 but is tagged 10.9 comes out tagged for what its binaries need, gate passed."""

    def real(prefix: str) -> Path:
        (path,) = [p for name, p in all_real_wheels.items() if Path(name).name.startswith(prefix)]
        return path

    for prefix in ("nh3-0.3.8-cp39-abi3-macosx", "nh3-0.3.8-cp39-abi3-win32"):
        wheel = real(prefix)
        name = hook_build(copying_backend, wheel, monkeypatch)
        assert name.startswith(prefix), name
        assert wheelaudit.audit(copying_backend / name).errors == ()
        (copying_backend / name).unlink()
    wheel = real("cryptography-48.0.1-cp39-abi3-macosx")
    assert "macos-min-version-too-new" in {p.code for p in wheelaudit.audit(wheel).errors}
    name = hook_build(copying_backend, wheel, monkeypatch)
    assert "macosx_10_13_x86_64" in name or "macosx_10_13_universal2" in name, name
    assert wheelaudit.audit(copying_backend / name).errors == ()
