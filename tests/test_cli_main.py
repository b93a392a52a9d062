"""The ``wheelaudit`` command in-process: ``main([...])`` with captured output, for every command and error path.

Process-level behaviour (Ctrl-C, start-up, a killed worker, the console script's exit) stays with the
subprocess tests in test_cli_errors.py; everything the command prints and returns is tested here, where
a failure shows the line that changed and coverage counts the code that printed it.
Captured stdout is not a terminal: no colour, no wrapping (as in a pipe).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.cli.main import main

from .builders import make_wheel, needs_sqlite
from .conftest import sample_wheel

ABI3 = sample_wheel("wa_sample_abi3-")
ABI3BAD = sample_wheel("wa_sample_abi3bad-")
SYSLIB = sample_wheel("wa_sample_syslib-")
LIBPYTHON = sample_wheel("wa_sample_libpython-")
NEWGLIBC = sample_wheel("wa_sample_newglibc-")


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as a pipe gets it, whatever the environment of the test run says."""
    for name in ("FORCE_COLOR", "NO_COLOR", "GITHUB_STEP_SUMMARY", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """argparse's own refusal: exit 2 and the usage on stderr, nothing on stdout."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and out == ""
    assert err.startswith("usage: wheelaudit")
    return err


def one_error(err: str) -> str:
    """The single ``wheelaudit: error:`` line of ``err``, without the prefix."""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wheelaudit: error: "), err
    return lines[0][len("wheelaudit: error: ") :]


# -- show -------------------------------------------------------------------------------------------


def test_show_one_clean_wheel(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "show", ABI3)
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == [ABI3.name, "  verdict: OK; best platform tag: manylinux_2_17_x86_64"]
    assert "needed:" not in out


def test_show_verbose_lists_needed_libraries(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "show", "-v", SYSLIB)
    assert status == 0
    assert "      needed: libsqlite3.so.0, libgcc_s.so.1, libc.so.6, ld-linux-x86-64.so.2" in out.splitlines()


def test_show_several_wheels_ends_with_a_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "gone-1.0-py3-none-any.whl"
    status, out, err = run(capsys, "show", ABI3, ABI3BAD, missing)
    assert status == 2, "an unusable input wins over a wheel with problems"
    assert out.endswith("\n\n3 wheels: 1 OK, 1 NOT OK, 1 unusable\n")
    assert out.count("  verdict: ") == 2
    assert one_error(err) == f"cannot read {missing}: No such file or directory"


def test_show_quiet_is_one_line_per_wheel_and_no_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "show", "-q", ABI3, NEWGLIBC)
    assert (status, err) == (1, "")
    assert out.splitlines() == [
        f"{ABI3.name}: OK; best platform tag: manylinux_2_17_x86_64",
        f"{NEWGLIBC.name}: NOT OK; best platform tag: manylinux_2_36_x86_64",
    ]


@pytest.mark.parametrize("flag", [["--json"], ["--format", "json"], ["--json", "-q"]])
def test_show_json_is_the_api_report(capsys: pytest.CaptureFixture[str], flag: list[str]) -> None:
    status, out, err = run(capsys, "show", *flag, ABI3)
    assert (status, err) == (0, "")
    assert json.loads(out) == json.loads(json.dumps(wheelaudit.audit(str(ABI3)).to_json()))


def test_show_json_of_several_wheels_is_a_list_with_error_objects(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    status, out, err = run(capsys, "show", "--json", SYSLIB, broken)
    assert status == 2
    good, bad = json.loads(out)
    assert (good["filename"], good["platform_tag"]) == (SYSLIB.name, "linux_x86_64")
    assert set(bad) == {"schema_version", "wheel", "error"} and bad["wheel"] == str(broken)
    assert one_error(err) == bad["error"]


def test_show_format_github_prints_workflow_commands_and_the_step_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    status, out, err = run(capsys, "show", "--format", "github", ABI3, ABI3BAD)
    assert (status, err) == (1, "")
    [line] = out.splitlines()
    assert line.startswith(f"::error file={ABI3BAD},title=abi3-symbol-too-new::wa_sample_abi3bad/")
    table = summary.read_text()
    assert ABI3.name in table and ABI3BAD.name in table and "|" in table


def test_show_format_sarif_is_one_log(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "show", "--format", "sarif", ABI3BAD, ABI3)
    assert (status, err) == (1, "")
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    [sarif_run] = log["runs"]
    assert [r["ruleId"] for r in sarif_run["results"]] == ["abi3-symbol-too-new"]
    assert sarif_run["tool"]["driver"]["name"] == "wheelaudit"


@pytest.mark.parametrize(
    ("args", "status", "gate_line"),
    [
        (["--require", "manylinux_2_28"], 0, None),  # manylinux_2_17 is more compatible than required
        (["--require", "manylinux_2_5"], 1, "  gate: FAIL: "),
        (["--require", "manylinux_2_5", "--require", "musllinux_1_2"], 1, "  gate: FAIL: "),
    ],
)
def test_show_require(capsys: pytest.CaptureFixture[str], args: list[str], status: int, gate_line: str | None) -> None:
    got, out, err = run(capsys, "show", *args, ABI3)
    assert (got, err) == (status, "")
    gates = [line for line in out.splitlines() if line.startswith("  gate:")]
    if gate_line is None:
        assert gates == []
    else:
        assert len(gates) == 1 and gates[0].startswith(gate_line) and "manylinux_2_5" in gates[0]


def test_show_fail_on_warning_fails_a_wheel_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "show", "-q", SYSLIB)[0] == 0
    status, out, _ = run(capsys, "show", "-q", "--fail-on", "warning", SYSLIB)
    assert status == 1
    assert out.splitlines()[1].startswith("  gate: FAIL: [warning] not-portable: ")


def test_show_with_worker_processes_prints_what_a_serial_run_prints(capsys: pytest.CaptureFixture[str]) -> None:
    serial = run(capsys, "show", "--json", ABI3, SYSLIB, NEWGLIBC)
    parallel = run(capsys, "show", "--json", "-j", "2", ABI3, SYSLIB, NEWGLIBC)
    assert parallel == serial and serial[0] == 1
    assert run(capsys, "show", "-q", "-j", "0", ABI3)[0] == 0  # 0: no workers


def test_show_with_a_policy_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from .conftest import ROOT

    doc = json.loads((ROOT / "policies" / "manylinux.json").read_text())
    [level] = [p for p in doc["policies"] if p["name"] == "manylinux_2_34"]
    level["allowed_libraries"].append("libsqlite3.so.0")
    doc["policies"] = [level]
    site = tmp_path / "site.json"
    site.write_text(json.dumps(doc))
    status, out, _ = run(capsys, "show", "-q", "--policy-file", site, SYSLIB)
    assert (status, out) == (0, f"{SYSLIB.name}: OK; best platform tag: manylinux_2_34_x86_64\n")


# -- show: unusable inputs and options ------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "repair", "tree"])
def test_a_missing_wheel_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "nothere-1.0-py3-none-any.whl"
    extra = ["-w", str(tmp_path / "wh")] if command == "repair" else []
    status, out, err = run(capsys, command, *extra, missing)
    assert (status, out) == (2, "")
    assert one_error(err) == f"cannot read {missing}: No such file or directory"
    assert not (tmp_path / "wh").exists()


def test_a_directory_named_like_a_wheel_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "dir-1.0-py3-none-any.whl"
    folder.mkdir()
    status, out, err = run(capsys, "show", folder)
    assert (status, out) == (2, "")
    assert str(folder) in one_error(err)


@pytest.mark.parametrize("command", ["show", "repair", "tree"])
def test_inputs_that_are_not_wheels_are_skipped(capsys: pytest.CaptureFixture[str], command: str) -> None:
    status, out, err = run(capsys, command, "dist/pkg-1.0.tar.gz", "README.md")
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "wheelaudit: skipping dist/pkg-1.0.tar.gz: not a wheel",
        "wheelaudit: skipping README.md: not a wheel",
        "wheelaudit: error: no wheel among the inputs (a wheel's name ends in .whl)",
    ]


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "cannot read policy file"), ("{not json", "not valid JSON"), ('{"format": 99, "policies": []}', "format")],
)
@pytest.mark.parametrize("command", ["show", "repair", "policies"])
def test_an_unusable_policy_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, why: str, command: str
) -> None:
    policy = tmp_path / "site.json"
    if content is not None:
        policy.write_text(content)
    wheels = [] if command == "policies" else [str(ABI3)]
    extra = ["-w", str(tmp_path / "wh")] if command == "repair" else []
    status, out, err = run(capsys, command, *extra, "--policy-file", policy, *wheels)
    assert (status, out) == (2, "")
    message = one_error(err)
    assert why in message and str(policy) in message


def test_metadata_that_is_not_utf8_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from .hostile import DIST, base_wheel, rewrite

    wheel = rewrite(base_wheel(), tmp_path / ABI3.name, replace={f"{DIST}/METADATA": b"Name: \xff\xfe\n"})
    status, out, err = run(capsys, "show", wheel)
    assert (status, out) == (2, "")
    assert one_error(err) == f"{ABI3.name}: {DIST}/METADATA is not UTF-8"


def test_an_unknown_requirement_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "show", "--require", "bogus", ABI3)
    assert (status, out) == (2, "")
    assert one_error(err).startswith("--require bogus: not a platform tag or level; write e.g. manylinux_2_17")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["show"], "the following arguments are required: WHEEL"),
        (["show", "--format", "xml", "a.whl"], "argument --format: invalid choice: 'xml'"),
        (["show", "--fail-on", "info", "a.whl"], "argument --fail-on: invalid choice: 'info'"),
        (["show", "--jobs", "many", "a.whl"], "argument -j/--jobs: invalid int value: 'many'"),
        (["show", "--frobnicate", "a.whl"], "unrecognized arguments: --frobnicate"),
        (["repair", "-z", "12", "a.whl"], "argument -z/--zip-compression-level: invalid choice: 12"),
        (["repair", "--strip", "some", "a.whl"], "argument --strip: invalid choice: 'some'"),
        (["tree"], "the following arguments are required: WHEEL"),
    ],
)
def test_bad_options_are_argparse_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], says: str) -> None:
    assert says in usage_error(capsys, *args)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"wheelaudit {wheelaudit.__version__}\n"


# -- repair -----------------------------------------------------------------------------------------


def test_repair_of_a_wheel_that_needs_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wheelhouse = tmp_path / "new" / "wheelhouse"  # created, parents too
    status, out, err = run(capsys, "repair", "-w", wheelhouse, ABI3)
    assert (status, err) == (0, "")
    written = wheelhouse / ABI3.name
    assert out.startswith(f"{written}  (manylinux_2_17_x86_64; grafted nothing; ") and out.endswith("s)\n")
    assert wheelaudit.audit(written).platform_tag == "manylinux_2_17_x86_64"


@needs_sqlite
def test_repair_grafts_and_retags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "repair", "-w", tmp_path, SYSLIB)
    assert (status, err) == (0, "")
    written = tmp_path / "wa_sample_syslib-0.1.0-cp38-abi3-manylinux_2_34_x86_64.whl"
    assert out.startswith(f"{written}  (manylinux_2_34_x86_64; grafted libsqlite3-")
    report = wheelaudit.audit(written)
    assert (report.platform_tag, report.external_libraries, report.ok) == ("manylinux_2_34_x86_64", (), True)


def test_repair_warns_when_it_removes_a_forbidden_dependency(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "repair", "-w", tmp_path, LIBPYTHON)
    assert status == 0
    assert err.splitlines() == [
        "wheelaudit: warning: wa_sample_libpython/wa_sample_libpython.cpython-311-x86_64-linux-gnu.so links "
        "libpython3.11.so.1.0, which is forbidden; the dependency is removed"
    ]
    assert out.startswith(f"{tmp_path / LIBPYTHON.name}  (manylinux_2_17_x86_64; grafted nothing; ")


def test_repair_of_a_lying_tag_notes_the_narrower_reach(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, err = run(capsys, "repair", "-w", tmp_path, NEWGLIBC)
    assert status == 0
    written = tmp_path / "wa_sample_newglibc-0.1.0-cp38-abi3-manylinux_2_36_x86_64.whl"
    assert out.startswith(f"{written}  (manylinux_2_36_x86_64; grafted nothing; ")
    assert err.splitlines() == [
        "wheelaudit: note: the new tag manylinux_2_36 is narrower than the input's manylinux_2_17: "
        "systems with an older glibc can no longer install the wheel"
    ]


def test_repair_keeps_a_wheel_with_errors_it_cannot_fix_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "repair", "-w", tmp_path, ABI3BAD)
    assert status == 1
    assert out.startswith(f"{tmp_path / ABI3BAD.name}  (")
    lines = err.splitlines()
    assert lines[0] == f"wheelaudit: error: {ABI3BAD.name} still has 1 error(s) repair cannot fix:"
    assert lines[1].startswith("wheelaudit: error:   [abi3-symbol-too-new] wa_sample_abi3bad/") and len(lines) == 2


def test_repair_to_an_unreachable_tag_is_exit_1_naming_the_symbols(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, err = run(capsys, "repair", "-w", tmp_path, "--plat", "manylinux_2_17", NEWGLIBC)
    assert (status, out) == (1, "")
    message = one_error(err)
    assert message.startswith("cannot repair to manylinux_2_17_x86_64: wa_sample_newglibc/")
    assert "for statx;" in message and "for fstat64, stat64 (and 2 more);" in message
    assert "the most compatible tag within reach is manylinux_2_36_x86_64;" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("plat", ["bogus", "manylinux_2_17_sparc", "musllinux_9_9"])
def test_repair_plat_that_names_nothing_lists_the_choices(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plat: str
) -> None:
    status, out, err = run(capsys, "repair", "-w", tmp_path / "wh", "--plat", plat, ABI3)
    assert (status, out) == (2, "")
    message = one_error(err)
    assert message.startswith(
        f"--plat {plat}: not a known tag or level; choose auto, or one of manylinux_2_5 (manylinux1)"
    )
    assert "manylinux_2_17 (manylinux2014)" in message and "musllinux_1_2" in message
    assert "x86_64" in message.rsplit("_ARCH (", 1)[1], "the architectures a level takes are listed"
    assert not (tmp_path / "wh").exists()


@pytest.mark.parametrize(
    ("plat", "status", "said"),
    [
        ("auto", 0, "manylinux2014_x86_64.manylinux_2_17_x86_64.whl  (manylinux_2_17_x86_64;"),
        ("manylinux2014_x86_64", 0, "manylinux2014_x86_64.manylinux_2_17_x86_64.whl  (manylinux_2_17_x86_64;"),
        ("manylinux_2_28", 0, "manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl  (manylinux_2_17_x86_64;"),
        (
            "musllinux_1_2_aarch64",
            1,
            "target tag musllinux_1_2_aarch64 is for aarch64, but the wheel's binaries are x86_64",
        ),
        (
            "musllinux_1_2_x86_64",
            1,
            "target tag musllinux_1_2_x86_64 is musllinux, but the wheel's binaries are manylinux",
        ),
    ],
)
def test_repair_plat_takes_levels_tags_and_aliases(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plat: str, status: int, said: str
) -> None:
    got, out, err = run(capsys, "repair", "-w", tmp_path, "--plat", plat, ABI3)
    assert got == status
    assert said in (out if status == 0 else one_error(err))


def test_repair_into_a_file_names_the_wheelhouse(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    afile = tmp_path / "wheelhouse"
    afile.write_text("")
    status, out, err = run(capsys, "repair", "-w", afile, ABI3)
    assert (status, out) == (2, "")
    assert one_error(err) == f"wheelhouse {afile} is not a directory; pass -w a directory (it is created if missing)"
    status, _, err = run(capsys, "repair", "-w", afile / "sub", ABI3)
    assert status == 2
    assert one_error(err) == (
        f"wheelhouse {afile / 'sub'} cannot be created: {afile} is not a directory; pass -w another directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: no directory is unwritable")
def test_repair_into_an_unwritable_directory_names_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        status, _, err = run(capsys, "repair", "-w", locked / "wh", ABI3)
    finally:
        locked.chmod(0o700)
    assert status == 2
    assert one_error(err) == (
        f"wheelhouse {locked / 'wh'} is not writable ({locked} is not writable); pass -w a directory you can write to"
    )


def test_repair_of_a_pure_wheel_is_refused_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pure = make_wheel(tmp_path, "pure-1.0-py3-none-any.whl", {"pure/__init__.py": b""}, root_is_purelib=True)
    status, out, err = run(capsys, "repair", "-w", tmp_path / "wh", pure)
    assert (status, out) == (1, ""), "a usable wheel that repair has no work for: 1, as for a tag it cannot reach"
    assert one_error(err).startswith(f"{pure.name}: no repair for platform any (repairable: ")
    assert not (tmp_path / "wh").exists()


def test_repair_goes_on_after_a_failed_wheel(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "gone-1.0-py3-none-any.whl"
    status, out, err = run(capsys, "repair", "-w", tmp_path / "wh", missing, ABI3)
    assert status == 2
    assert out.startswith(f"{tmp_path / 'wh' / ABI3.name}  (manylinux_2_17_x86_64; ")
    assert one_error(err) == f"cannot read {missing}: No such file or directory"


# -- policies and tree ------------------------------------------------------------------------------


def test_policies_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "policies")
    assert (status, err) == (0, "")
    assert any(line.split()[:1] == ["manylinux_2_17"] and "manylinux2014" in line for line in out.splitlines())
    status, out, _ = run(capsys, "policies", "--json")
    names = [level["name"] for level in json.loads(out)["linux"]]
    assert status == 0 and names[:3] == ["manylinux_2_5", "manylinux_2_12", "manylinux_2_17"]
    assert "musllinux_1_2" in names


def test_tree_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "tree", SYSLIB)
    assert (status, err) == (0, "")
    assert out.splitlines()[:4] == [
        SYSLIB.name,
        "  (libraries outside the wheel judged by manylinux_2_42)",
        "  wa_sample_syslib/wa_sample_syslib.abi3.so (elf, x86_64)",
        "    libsqlite3.so.0 [external: not in the wheel, not allowed]",
    ]
    status, out, _ = run(capsys, "tree", "--json", SYSLIB, ABI3)
    documents = json.loads(out)
    assert status == 0 and [d["filename"] for d in documents] == [SYSLIB.name, ABI3.name]
