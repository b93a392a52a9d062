"""Hostile inputs to ``repair``: exit 2, one line, no traceback, nothing written, no temp files, input unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from .hostile import BUILDERS, build_in, run_cli_expecting_unusable, snapshot


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_hostile_input_repair(build: Callable[[Path], Path], tmp_path: Path) -> None:
    wheel, before = build_in(build, tmp_path)
    wheelhouse = tmp_path / "wheelhouse"
    run_cli_expecting_unusable(["repair", "-w", str(wheelhouse), str(wheel)], tmp_path)
    # Nothing outside the wheelhouse changed, and nothing (not even a temp file) is left inside it.
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("wheelhouse")}
    assert after == before
    assert not wheelhouse.exists() or not any(wheelhouse.rglob("*"))


def test_a_file_where_the_grafted_libraries_go_is_refused(tmp_path: Path) -> None:
    """A valid wheel holding a file named ``<dist>.libs``: grafting beside it would give a wheel no
    installer can unpack, so repair refuses (exit 2) and writes nothing."""
    import zipfile

    from .builders import SQLITE, make_wheel
    from .conftest import sample_wheel

    if SQLITE is None:
        pytest.skip("libsqlite3.so.0 is not on this host: nothing would be grafted")
    src = sample_wheel("wa_sample_syslib-")
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}
    members["wa_sample_syslib.libs"] = b"a file, not a directory\n"
    wheel = make_wheel(tmp_path, src.name, members)
    wheelhouse = tmp_path / "wheelhouse"
    proc = run_cli_expecting_unusable(["repair", "-w", str(wheelhouse), str(wheel)], tmp_path)
    assert "file named wa_sample_syslib.libs" in proc.stderr
    assert not wheelhouse.exists() or not any(wheelhouse.rglob("*"))
