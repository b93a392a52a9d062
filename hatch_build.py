"""Build hook: compile the ISA scan's C walk (``wheelaudit/binary/_x86walk.c``) when a C compiler is there.

The extension is optional. Without a compiler (or with ``WHEELAUDIT_NO_EXTENSION=1``) the wheel is
pure Python and ``wheelaudit.binary.x86decode`` walks the same windows in Python, with the same
results, ~10x slower. setuptools' ``build_ext`` does the compiling, so the compiler and flags are
the ones the interpreter was built with, on every platform setuptools knows.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "wheelaudit.binary._x86walk"
SOURCE = "wheelaudit/binary/_x86walk.c"


def compile_extension(root: Path, work: Path) -> Path | None:
    """The built extension module under ``work``, or None (with the reason on stderr) if it could not be built."""
    try:
        from setuptools import Distribution, Extension
    except ImportError as exc:
        print(f"wheelaudit: not building the C walk: {exc}", file=sys.stderr)
        return None
    extension = Extension(MODULE, [str(root / SOURCE)])
    distribution = Distribution({"name": "wheelaudit", "ext_modules": [extension]})
    command = distribution.get_command_obj("build_ext")
    command.build_lib = str(work / "lib")
    command.build_temp = str(work / "temp")
    try:
        command.ensure_finalized()
        command.run()
    except (Exception, SystemExit) as exc:  # distutils reports a missing compiler in several ways
        print(f"wheelaudit: not building the C walk, the scan runs in Python: {exc}", file=sys.stderr)
        return None
    built = Path(command.get_ext_fullpath(MODULE))
    return built if built.is_file() else None


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled walk to the wheel (an editable install gets it next to its source)."""

    _work: Path | None = None  # the compiler's output, removed once the wheel is written (finalize)

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("WHEELAUDIT_NO_EXTENSION", "") not in ("", "0"):
            return
        root = Path(self.root)
        self._work = Path(tempfile.mkdtemp(prefix="wheelaudit-build-"))
        built = compile_extension(root, self._work)
        if built is None:
            return
        if version == "editable":  # the editable wheel points at the source tree
            shutil.copyfile(built, root / "wheelaudit" / "binary" / built.name)
        else:
            build_data["force_include"][str(built)] = f"wheelaudit/binary/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
