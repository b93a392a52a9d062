#!/usr/bin/env python3
"""Rebuild the wa-sample-* test wheels from the tiny crates in ``crates/``.

Why: wheelaudit's tests need real maturin/PyO3 wheels that show specific
problems (lying tags, libpython links, system libraries, abi3 violations).
The wheels are committed, so CI never runs this; it is for regenerating them.

Usage::

    python3 sample-wheels/build.py            # build all, write wheels here
    python3 sample-wheels/build.py abi3 bin   # build only some samples
    python3 sample-wheels/build.py --verify   # also install+import each in a fresh venv
    python3 sample-wheels/build.py --facts    # (re)write samples.json from the wheels

Prerequisites (the script checks them and stops with a clear message):

* Rust toolchain (cargo) with the x86_64-unknown-linux-gnu target.
* maturin >= 1.16 on PATH (``pip install maturin``).
* ziglang for the Python running this script (``pip install ziglang``), used
  by ``maturin --zig`` for the manylinux2014 samples.
* cffi for that Python too (``pip install cffi``): the cffi sample needs it.
* CPython 3.11 built with a shared libpython (``python3.11`` on PATH, or
  ``--python311``); Debian's python3.11 or pyenv's with --enable-shared.
* libsqlite3 development files (Debian: ``apt-get install libsqlite3-dev``).
* binutils (readelf/objdump) and auditwheel for ``--facts``.

Cargo build output goes to ``$WA_SAMPLE_TARGET`` (default
``~/.cache/wa-sample-target``), never inside the repository; crates are
copied to ``$WA_SAMPLE_STAGE`` (default /tmp/wa-sample-src) and built there. SOURCE_DATE_EPOCH
is fixed and source paths are remapped so rebuilds are as reproducible as the
toolchain allows (same Rust/maturin/zig versions needed for identical bytes).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CRATES = HERE / "crates"
SOURCE_DATE_EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
# Crates are copied here before building: maturin's SBOM records the crate's
# absolute path, so a fixed path keeps wheels identical across checkouts.
STAGE = Path(os.environ.get("WA_SAMPLE_STAGE", "/tmp/wa-sample-src"))


@dataclass(frozen=True)
class Sample:
    """One crate and how to build and smoke-test its wheel."""

    name: str
    purpose: str
    zig: bool = True
    compatibility: str = "manylinux2014"
    python311: bool = False  # build for (and test with) CPython 3.11 only
    smoke: str = ""  # Python code run after import in a fresh venv
    notes: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return "wa_sample_" + self.name


SAMPLES: list[Sample] = [
    Sample(
        "abi3",
        "Clean baseline: pyo3 abi3-py38 module, manylinux2014 via zig.",
        smoke="assert m.add(2, 3) == 5 and m.KIND == 'abi3'",
    ),
    Sample(
        "versioned",
        "Version-specific (cp311-cp311, not abi3) pyo3 module, manylinux2014 via zig.",
        python311=True,
        smoke="assert m.mul(6, 7) == 42",
    ),
    Sample(
        "libpython",
        "pyo3 module with DT_NEEDED libpython3.11.so.1.0, as when extension-module "
        "linking is off; manylinux2014 via zig. Must be flagged: extensions must not "
        "link libpython.",
        python311=True,
        smoke="import sys; assert m.version().startswith(sys.version.split()[0])",
        notes="maturin sets PYO3_BUILD_EXTENSION_MODULE so pyo3 would not link "
        "libpython; build.rs adds -lpython3.11 to reproduce the mistake. Imports "
        "fine under a CPython 3.11 that has libpython3.11.so.1.0 loaded or findable.",
    ),
    Sample(
        "syslib",
        "Links the system libsqlite3.so.0 (rusqlite without 'bundled'), not allowed "
        "by any manylinux policy; native build so tagged linux_x86_64 and needs the "
        "build host's glibc (Rust std => GLIBC_2.34).",
        zig=False,
        compatibility="linux",
        smoke="assert m.sum_to(10) == 55; assert m.sqlite_version().startswith('3.')",
        notes="Works only where libsqlite3.so.0 is installed (Debian: libsqlite3-0).",
    ),
    Sample(
        "newglibc",
        "Native build that calls statx (GLIBC_2.28) and arc4random (GLIBC_2.36) but "
        "is TAGGED manylinux2014 (glibc 2.17): the lying-tag mistake.",
        zig=False,
        compatibility="manylinux2014",
        smoke="import os; assert m.statx_size(os.__file__) == os.path.getsize(os.__file__); m.random_u32()",
        notes="Built with --compatibility manylinux2014 --auditwheel skip on a glibc 2.36 host, so the tag is wrong.",
    ),
    Sample(
        "bin",
        "maturin bindings='bin': a small Rust executable in .data/scripts/, manylinux2014 via zig.",
        smoke="",
    ),
    Sample(
        "cffi",
        "maturin bindings='cffi': C-ABI cdylib plus generated cffi wrapper, manylinux2014 via zig.",
        smoke="assert m.lib.wa_add(2, 40) == 42 and m.lib.wa_isqrt(99) == 9",
        notes="Installing needs the cffi package at run time.",
    ),
    Sample(
        "abi3bad",
        "Tagged cp38-abi3 but imports PyUnicode_AsUTF8AndSize, in the limited API "
        "only since 3.10; manylinux2014 via zig.",
        smoke="assert m.utf8_len('h\\u00e9') == 3",
        notes="Imports and works on 3.8 (the symbol exists in the full API) but violates the abi3 promise for 3.8/3.9.",
    ),
    Sample(
        "debuginfo",
        "Like abi3 but unstripped with full DWARF (debug = true, strip = false), "
        "so size / debug-info hints have something to find.",
        smoke="assert m.add(1, 1) == 2 and m.KIND == 'debuginfo'",
    ),
]


class Missing(SystemExit):
    """A prerequisite is absent: stop with a message, not a traceback."""


def fail(msg: str) -> Missing:
    return Missing(f"build.py: missing prerequisite: {msg}")


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command, echo it, and return stdout; raise on failure."""
    print("+", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, env=env, cwd=cwd, text=True, capture_output=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-8000:])
        raise SystemExit(f"build.py: command failed ({res.returncode}): {' '.join(cmd)}")
    return res.stdout


def find_python(minor: int) -> str | None:
    """Find a working python3.<minor>: PATH first, then pyenv's versions dir."""
    cands = [shutil.which(f"python3.{minor}")]
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    cands += [str(p) for p in sorted(root.glob(f"3.{minor}.*/bin/python3.{minor}"))]
    for c in cands:
        if c and subprocess.run([c, "-c", ""], capture_output=True).returncode == 0:
            return c
    return None


def python311(arg: str | None) -> str:
    """Locate a CPython 3.11 that has a shared libpython."""
    exe = arg or find_python(11)
    if not exe:
        raise fail("python3.11 not found (pass --python311 PATH)")
    out = run(
        [
            exe,
            "-c",
            "import sys,sysconfig;print(sys.version_info[:2]==(3,11),"
            "sysconfig.get_config_var('Py_ENABLE_SHARED'),sysconfig.get_config_var('LIBDIR'))",
        ]
    ).split()
    if out[0] != "True":
        raise fail(f"{exe} is not CPython 3.11")
    if out[1] != "1":
        raise fail(f"{exe} has no shared libpython (needs --enable-shared or Debian's python3.11)")
    return exe


def check_prereqs(samples: list[Sample], py311: str | None) -> str | None:
    """Fail early and clearly if a tool the chosen samples need is missing."""
    for tool in ("cargo", "maturin"):
        if not shutil.which(tool):
            raise fail(f"{tool} not on PATH")
    ver = run(["maturin", "--version"]).split()[-1]
    if tuple(int(x) for x in ver.split(".")[:2]) < (1, 16):
        raise fail(f"maturin >= 1.16 needed, found {ver}")
    if any(s.zig for s in samples) and importlib.util.find_spec("ziglang") is None:
        raise fail("ziglang (pip install ziglang)")
    if any(s.name == "cffi" for s in samples) and importlib.util.find_spec("cffi") is None:
        raise fail("cffi (pip install cffi)")
    if any(s.name == "syslib" for s in samples):
        libdir = Path("/usr/lib") / f"{sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'}"
        if not (libdir / "libsqlite3.so").exists() and not Path("/usr/lib/libsqlite3.so").exists():
            raise fail("libsqlite3 development files (apt-get install libsqlite3-dev)")
    if any(s.python311 for s in samples):
        return python311(py311)
    return None


def rustflags() -> str:
    """Remap build paths so wheels do not embed this machine's directories."""
    cargo_home = os.environ.get("CARGO_HOME", str(Path.home() / ".cargo"))
    flags = [
        f"--remap-path-prefix={STAGE}=/wa-sample",
        f"--remap-path-prefix={cargo_home}=/cargo",
    ]
    return "\x1f".join(flags)


def build_one(s: Sample, py311: str | None, outdir: Path) -> Path:
    """Build one sample's wheel into ``outdir`` and return its path."""
    crate = STAGE / s.name
    if crate.exists():
        shutil.rmtree(crate)
    shutil.copytree(CRATES / s.name, crate)
    env = dict(os.environ)
    env["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
    env["CARGO_TARGET_DIR"] = os.environ.get("WA_SAMPLE_TARGET", str(Path.home() / ".cache" / "wa-sample-target"))
    # zig caches the C parts it compiles (libunwind, glibc stubs) with the
    # compile directory baked into their DWARF; a cache beside the target dir
    # keeps that from leaking paths of unrelated earlier builds.
    env["ZIG_GLOBAL_CACHE_DIR"] = str(Path(env["CARGO_TARGET_DIR"]) / "zig-cache")
    env["CARGO_ENCODED_RUSTFLAGS"] = rustflags()
    env.pop("RUSTFLAGS", None)
    env.update(s.extra_env)
    cmd = ["maturin", "build", "--release", "--auditwheel", "skip", "-o", str(outdir)]
    cmd += ["--compatibility", s.compatibility]
    if s.zig:
        cmd.append("--zig")
    if s.python311:
        assert py311 is not None
        cmd += ["-i", py311]
        libdir = run([py311, "-c", "import sysconfig;print(sysconfig.get_config_var('LIBDIR'))"])
        env["WA_SAMPLE_LIBPYTHON_DIR"] = libdir.strip()
    if (crate / "Cargo.lock").exists():
        cmd.append("--locked")
    if s.name == "cffi":
        env["PYTHON_SYS_EXECUTABLE"] = sys.executable  # maturin runs cffi with it
    before = set(outdir.glob("*.whl"))
    run(cmd, env=env, cwd=crate)
    lock = CRATES / s.name / "Cargo.lock"
    if not lock.exists():  # first build: keep the resolved versions
        shutil.copy2(crate / "Cargo.lock", lock)
    new = sorted(set(outdir.glob("*.whl")) - before)
    if len(new) != 1:
        raise SystemExit(f"build.py: expected one wheel for {s.name}, got {new}")
    return new[0]


def build(samples: list[Sample], py311: str | None) -> None:
    """Build into a temp dir, then replace the committed wheels."""
    with tempfile.TemporaryDirectory(prefix="wa-sample-out-") as tmp:
        for s in samples:
            whl = build_one(s, py311, Path(tmp))
            for old in HERE.glob(f"{s.module}-*.whl"):
                old.unlink()
            dest = HERE / whl.name
            shutil.move(str(whl), dest)
            print(f"==> {dest.name} ({dest.stat().st_size} bytes)", flush=True)


def wheel_for(s: Sample) -> Path:
    found = sorted(HERE.glob(f"{s.module}-*.whl"))
    if len(found) != 1:
        raise SystemExit(f"build.py: expected one wheel for {s.name} in {HERE}, got {found}")
    return found[0]


def pythons_for(s: Sample, py311: str | None) -> list[str]:
    """Interpreters to smoke-test with: 3.11 only, or oldest+current for abi3."""
    if s.python311:
        assert py311 is not None
        return [py311]
    exes = [e for e in (find_python(8), py311 or find_python(11)) if e]
    return exes or [sys.executable]


def verify(samples: list[Sample], py311: str | None) -> None:
    """Install each wheel into a fresh venv and import/call it."""
    for s in samples:
        whl = wheel_for(s)
        for py in pythons_for(s, py311):
            with tempfile.TemporaryDirectory(prefix="wa-sample-venv-") as tmp:
                venv = Path(tmp) / "v"
                run([py, "-m", "venv", str(venv)])
                vpy = str(venv / "bin" / "python")
                deps = ["cffi"] if s.name == "cffi" else []
                run(
                    [vpy, "-m", "pip", "install", "-q", "--no-index", str(whl)]
                    if not deps
                    else [vpy, "-m", "pip", "install", "-q", str(whl), *deps]
                )
                if s.name == "bin":
                    out = run([str(venv / "bin" / "wa-sample-bin"), "hi"])
                    assert out.strip() == "wa-sample-bin: hi", out
                else:
                    code = f"import {s.module} as m\n{s.smoke}\nprint('ok', m.__file__)"
                    run([vpy, "-c", code])
                print(f"verified {whl.name} with {py}", flush=True)


# ---------------------------------------------------------------- facts


def elf_members(whl: Path, into: Path) -> list[Path]:
    """Extract the wheel and return its ELF files."""
    with zipfile.ZipFile(whl) as zf:
        zf.extractall(into)
    return sorted(p for p in into.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF")


def needed(elf: Path) -> list[str]:
    out = run(["readelf", "-dW", str(elf)])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def glibc_symbols(elf: Path) -> dict[str, list[str]]:
    """Map GLIBC_x.y -> imported symbols carrying that version."""
    out = run(["objdump", "-T", str(elf)])
    res: dict[str, list[str]] = {}
    for line in out.splitlines():
        m = re.search(r"\*UND\*\s+\S+\s+\(?(GLIBC_[0-9.]+)\)?\s+(\S+)$", line)
        if m:
            res.setdefault(m.group(1), []).append(m.group(2))
    return res


def vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("_", 1)[1].split("."))


def auditwheel_show(whl: Path) -> dict[str, Any]:
    """Run ``auditwheel show --json`` (sorted output, so reproducible)."""
    res = subprocess.run(["auditwheel", "show", "--json", str(whl)], text=True, capture_output=True)
    try:
        data: dict[str, Any] = json.loads(res.stdout)
    except json.JSONDecodeError:
        return {"error": (res.stdout + res.stderr).strip()[-2000:]}
    return data


def auditwheel_reason(aw: dict[str, Any], claimed: str) -> str:
    """One line saying why auditwheel's tag differs from the file name, if it does."""
    if "error" in aw:
        return f"auditwheel failed: {aw['error']}"
    tag, sym = aw["overall_tag"], aw["sym_tag"]
    libs = sorted(aw["external_libs"])
    if libs and tag.startswith("linux_"):
        why = f"external libs not allowed by any policy: {', '.join(libs)}"
        return why + f"; symbol versions alone would allow {sym}"
    if tag not in claimed:
        return f"symbol versions need {sym}, but the file name claims {claimed}"
    return "consistent with the file name"


def abi3audit(whl: Path) -> list[dict[str, Any]]:
    """abi3audit's per-extension result (empty for non-abi3 wheels)."""
    if not shutil.which("abi3audit") or "-abi3-" not in whl.name:
        return []
    res = subprocess.run(["abi3audit", "-R", str(whl)], text=True, capture_output=True)
    try:
        specs = json.loads(res.stdout)["specs"]
    except (json.JSONDecodeError, KeyError):
        return [{"error": res.stderr.strip()[-500:]}]
    return [
        {
            "name": e["name"],
            **{k: e["result"][k] for k in ("baseline", "computed", "future_abi3_objects", "non_abi3_symbols")},
        }
        for spec in specs.values()
        for e in spec.get("wheel", [])
    ]


def facts(samples: list[Sample]) -> None:
    """Write samples.json from the committed wheels."""
    rows = []
    for s in samples:
        whl = wheel_for(s)
        with tempfile.TemporaryDirectory() as tmp:
            elves = elf_members(whl, Path(tmp))
            need: list[str] = []
            vers: dict[str, list[str]] = {}
            for e in elves:
                need += [n for n in needed(e) if n not in need]
                for v, syms in glibc_symbols(e).items():
                    have = vers.setdefault(v, [])
                    have.extend(x for x in syms if x not in have)
        top = max(vers, key=vkey) if vers else ""
        aw = auditwheel_show(whl)
        claimed = whl.name[:-4].split("-")[-1]
        rows.append(
            {
                "file": whl.name,
                "crate": f"crates/{s.name}",
                "purpose": s.purpose,
                "needed": need,
                "max_glibc": top.replace("GLIBC_", ""),
                "symbols_needing_max_glibc": sorted(vers.get(top, [])),
                "glibc_versions": {v: sorted(vers[v]) for v in sorted(vers, key=vkey)},
                "auditwheel_tag": aw.get("overall_tag"),
                "auditwheel_sym_tag": aw.get("sym_tag"),
                "auditwheel_external_libs": sorted(aw.get("external_libs", {})),
                "auditwheel_reason": auditwheel_reason(aw, claimed),
                "abi3audit": abi3audit(whl),
                "size_bytes": whl.stat().st_size,
                "notes": s.notes,
            }
        )
    (HERE / "samples.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {HERE / 'samples.json'}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("names", nargs="*", help="samples to handle (default: all)")
    ap.add_argument("--python311", help="CPython 3.11 with shared libpython")
    ap.add_argument("--no-build", action="store_true", help="skip building")
    ap.add_argument("--verify", action="store_true", help="install+import in fresh venvs")
    ap.add_argument("--facts", action="store_true", help="write samples.json")
    args = ap.parse_args(argv)
    by_name = {s.name: s for s in SAMPLES}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        ap.error(f"unknown samples {unknown}; choose from {list(by_name)}")
    chosen = [by_name[n] for n in args.names] if args.names else SAMPLES
    py311 = check_prereqs(chosen if not args.no_build else [], args.python311)
    if py311 is None and (args.verify or not args.no_build):
        py311 = args.python311 or find_python(11)
    if not args.no_build:
        build(chosen, py311)
    if args.verify:
        verify(chosen, py311)
    if args.facts:
        facts(SAMPLES)


if __name__ == "__main__":
    main()
