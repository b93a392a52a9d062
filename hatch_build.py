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

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("WHEELAUDIT_NO_EXTENSION", "") not in ("", "0"):
            return
        root = Path(self.root)
        work = Path(tempfile.mkdtemp(prefix="wheelaudit-build-"))
        try:
            built = compile_extension(root, work)
            if built is None:
                return
            target = root / "wheelaudit" / "binary" / built.name
            if version == "editable":
                shutil.copyfile(built, target)  # the editable wheel points at the source tree
            else:
                kept = root / "build" / "native" / built.name  # outlives this hook until the wheel is written
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(built, kept)
                build_data["force_include"][str(kept)] = f"wheelaudit/binary/{built.name}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
        finally:
            shutil.rmtree(work, ignore_errors=True)
