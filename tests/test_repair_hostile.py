"""Hostile inputs to ``repair``: exit 2, one line, no traceback, nothing written, no temp files, input unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from .hostile import run_cli_expecting_unusable
from .test_hostile_inputs import BUILDERS, _snapshot, build_in


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_hostile_input_repair(build: Callable[[Path], Path], tmp_path: Path) -> None:
    wheel, before = build_in(build, tmp_path)
    wheelhouse = tmp_path / "wheelhouse"
    run_cli_expecting_unusable(["repair", "-w", str(wheelhouse), str(wheel)], tmp_path)
    # Nothing outside the wheelhouse changed, and nothing (not even a temp file) is left inside it.
    after = {k: v for k, v in _snapshot(tmp_path).items() if not k.startswith("wheelhouse")}
    assert after == before
    assert not wheelhouse.exists() or not any(wheelhouse.rglob("*"))
