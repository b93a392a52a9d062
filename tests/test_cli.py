"""The command line: JSON schema, exit codes, several wheels, parallel audits, text output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import wheelaudit

from .conftest import ROOT, SAMPLES, sample_wheel

SCHEMA = json.loads((ROOT / "wheelaudit" / "schemas" / "report.schema.json").read_text())


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelaudit", *args], capture_output=True, text=True, timeout=300)


def test_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_json_for_all_samples_validates_and_matches_the_api() -> None:
    wheels = sorted(str(p) for p in SAMPLES.glob("*.whl"))
    proc = run("show", "--json", "--jobs", "2", *wheels)
    assert proc.returncode == 1, proc.stderr  # some samples are broken on purpose
    docs = json.loads(proc.stdout)
    jsonschema.validate(docs, SCHEMA)
    assert [d["wheel"] for d in docs] == wheels, "results come back in the order given"
    for doc, wheel in zip(docs, wheels):
        report = wheelaudit.audit(wheel)
        assert doc["platform_tag"] == report.platform_tag
        assert doc["ok"] == report.ok
        assert [p["code"] for p in doc["problems"]] == [p.code for p in report.problems]


def test_single_wheel_json_is_an_object_with_the_documented_fields() -> None:
    proc = run("show", "--json", str(sample_wheel("wa_sample_newglibc-")))
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["platform_tag"] == "manylinux_2_36_x86_64"
    assert "manylinux_2_36_x86_64" in doc["tags"] and "linux_x86_64" in doc["tags"]
    (binary,) = doc["binaries"]
    assert binary["format"] == "elf" and binary["arch"] == "x86_64" and "libc.so.6" in binary["needed"]
    versions = {v["version"]: v["symbols"] for v in binary["symbol_versions"]}
    assert "statx" in versions["GLIBC_2.28"]
    errors = [p for p in doc["problems"] if p["severity"] == "error"]
    assert errors and all(p["code"] == "elf-symbol-version-too-new" and p["path"] for p in errors)


@pytest.mark.parametrize(
    ("prefix", "status"),
    [("wa_sample_abi3-", 0), ("wa_sample_syslib-", 0), ("wa_sample_newglibc-", 1), ("wa_sample_libpython-", 1)],
)
def test_exit_status(prefix: str, status: int) -> None:
    assert run("show", str(sample_wheel(prefix))).returncode == status


def test_unusable_input_wins_over_problems(tmp_path: Path) -> None:
    bad = tmp_path / "x-1.0-py3-none-any.whl"
    bad.write_bytes(b"nope")
    proc = run("show", str(sample_wheel("wa_sample_newglibc-")), str(bad))
    assert proc.returncode == 2
    assert "wa_sample_newglibc" in proc.stdout  # the good wheel is still reported


def test_text_output_names_tag_file_symbol_and_fix() -> None:
    proc = run("show", str(sample_wheel("wa_sample_newglibc-")))
    out = proc.stdout
    assert "best platform tag: manylinux_2_36_x86_64" in out
    assert "wa_sample_newglibc/wa_sample_newglibc.abi3.so" in out
    assert "statx" in out and "GLIBC_2.28" in out
    assert "fix:" in out and "--zig" in out


def test_verbose_lists_needed_libraries() -> None:
    proc = run("show", "-v", str(sample_wheel("wa_sample_syslib-")))
    assert "needed: " in proc.stdout and "libsqlite3.so.0" in proc.stdout


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("wheelaudit ")
    assert "show" in run("--help").stdout
    assert run("show").returncode == 2  # argparse: a wheel is required


def test_pure_wheel(tmp_path: Path) -> None:
    from .hostile import rewrite

    # The cffi sample minus its library is a pure-Python wheel with a platform tag.
    src = sample_wheel("wa_sample_cffi-")
    wheel = rewrite(src, tmp_path / src.name, drop=("libwa_sample_cffi.so",))
    report = wheelaudit.audit(wheel)
    assert report.binaries == ()
    assert report.platform_tag == "any"
