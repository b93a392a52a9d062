"""Compiles csrc/ into a shared library shipped in the wheel (hatchling's build hook interface)."""

import os
import subprocess
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        if self.target_name != "wheel" or version == "editable":
            return
        out = Path(tempfile.mkdtemp(prefix="wa-hatch-")) / "libwa_hatch_sqlite.so"  # not in dist/, not in the sdist
        cc = os.environ.get("CC", "cc")
        source = Path(self.root) / "csrc" / "wa_hatch_sqlite.c"
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(source), "-l:libsqlite3.so.0"], check=True)
        build_data["force_include"][str(out)] = "wa_hatch/libwa_hatch_sqlite.so"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
