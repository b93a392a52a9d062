"""The ``os.add_dll_directory`` patch of a Windows repair (issue 13): where it goes in ``__init__.py``,
that it runs and adds the right folder, that a second repair does not add it again.

The oracle for "the right place" is Python itself: the patched file's docstring, ``from __future__``
imports and first statement are read back with :mod:`ast` and must be the original ones; the
patch is run with ``os.add_dll_directory`` recorded.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from wheelaudit.errors import RepairError
from wheelaudit.repairing.windows.dllpath import END, START, patch_text, patched

SOURCES = {
    "docstring": b'"""The package."""\nimport os\n',
    "docstring-only": b'"""The package."""\n',
    "future": (
        b'"""Doc\n\nmore."""\n\nfrom __future__ import annotations\nfrom __future__ import (\n    division,\n)\nX = 1\n'
    ),
    "future-no-docstring": b"from __future__ import annotations\nX = 1\n",
    "header": b"#!/usr/bin/env python\n# -*- coding: latin-1 -*-\n# Copyright\n\nX = '\xe9'\n",
    "plain": b"X = 1\n",
    "empty": b"",
    "crlf": b'"""Doc."""\r\nX = 1\r\n',
    "concatenated-docstring": b'"a" "b"\nX = 1\n',
    "newer-syntax": b'"""Doc."""\ntype Alias = int\n',
}


def first_statements(source: bytes) -> tuple[str | None, list[str], str | None]:
    """(docstring, __future__ names, the first other statement's source) as Python reads them."""
    tree = ast.parse(source)
    future = [a.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__" for a in n.names]
    rest = [
        n
        for n in tree.body
        if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
        and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and n is tree.body[0])
        and not (isinstance(n, ast.FunctionDef) and n.name == "_wheelaudit_add_dll_directory")
        and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call))
        and not isinstance(n, ast.Delete)
    ]
    return ast.get_docstring(tree, clean=False), future, ast.unparse(rest[0]) if rest else None


@pytest.mark.parametrize("kind", list(SOURCES))
def test_patch_goes_after_docstring_and_future_imports(kind: str) -> None:
    source = SOURCES[kind]
    result = patched(source, 1, "pkg.libs", path="pkg/__init__.py")
    assert result is not None and result.count(START.encode()) == 1
    if kind == "newer-syntax":
        try:
            ast.parse(source)
        except SyntaxError:
            pytest.skip("this Python does not read PEP 695 syntax (the patch was placed by tokens)")
    assert first_statements(result) == first_statements(source)
    if kind == "crlf":
        assert b"\n" not in result.replace(b"\r\n", b"")
    if kind == "header":  # the shebang and the encoding line stay the first two lines
        assert result.splitlines()[:3] == source.splitlines()[:3]
        assert "'\xe9'".encode("latin-1") in result
    assert patched(result, 1, "pkg.libs", path="pkg/__init__.py") is None  # idempotent


def run_patch(source: bytes, init: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    added: list[str] = []
    monkeypatch.setattr(os, "add_dll_directory", added.append, raising=False)
    exec(compile(source, str(init), "exec"), {"__file__": str(init), "__name__": "pkg"})
    return added


@pytest.mark.parametrize(("depth", "libs_dir"), [(1, "pkg.libs"), (2, "pkg.libs"), (1, "."), (3, ".")])
def test_the_patch_adds_the_folder(depth: int, libs_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    package = site.joinpath(*[f"p{i}" for i in range(depth)])
    package.mkdir(parents=True)
    target = site / libs_dir if libs_dir != "." else site
    target.mkdir(exist_ok=True)
    result = patched(b"X = 1\n", depth, libs_dir, path="x")
    assert result is not None
    assert run_patch(result, package / "__init__.py", monkeypatch) == [str(target)]
    target_missing = patched(b"", depth, "other.libs", path="x")
    assert target_missing is not None
    assert run_patch(target_missing, package / "__init__.py", monkeypatch) == []  # no folder: nothing added


def test_without_add_dll_directory_it_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "add_dll_directory", raising=False)
    (tmp_path / "pkg.libs").mkdir()
    (tmp_path / "pkg").mkdir()
    exec(patch_text(1, "pkg.libs"), {"__file__": str(tmp_path / "pkg" / "__init__.py")})


def test_created_file_is_only_the_patch_and_says_who_and_why() -> None:
    result = patched(None, 1, "pkg.libs", path="pkg/__init__.py")
    assert result is not None
    text = result.decode()
    assert text.startswith(START) and text.rstrip().endswith(END)
    assert "wheelaudit repair" in text and "pkg.libs/" in text and "PATH" in text


def test_a_changed_folder_replaces_the_earlier_patch() -> None:
    first = patched(SOURCES["future"], 1, "pkg.libs", path="x")
    assert first is not None
    second = patched(first, 1, ".", path="x")
    assert second is not None and second.count(START.encode()) == 1 and b"pkg.libs" not in second
    assert first_statements(second) == first_statements(SOURCES["future"])


def test_unreadable_or_odd_files_are_one_line() -> None:
    with pytest.raises(RepairError, match="docstring shares its line"):
        patched(b'"""Doc."""; X = 1\n', 1, "pkg.libs", path="pkg/__init__.py")
    with pytest.raises(RepairError, match="cannot read it as Python"):
        patched(b'"""never closed\n', 1, "pkg.libs", path="pkg/__init__.py")
    with pytest.raises(RepairError, match="no end line"):
        patched(START.encode() + b"\nX = 1\n", 1, "pkg.libs", path="pkg/__init__.py")
