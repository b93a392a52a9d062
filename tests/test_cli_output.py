"""The command line as a new user meets it: grouped fixes, -q, colour, wrapping, help, policies, tree.

Output tests run the CLI in-process (captured stdout is a pipe: no colour, no wrapping) and
on a pseudo-terminal of a known width (colour and wrapping on, ``NO_COLOR``/``FORCE_COLOR``).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.cli import main as cli
from wheelaudit.platforms.loader import default_policy_dir
from wheelaudit.platforms.policyset import load_policies
from wheelaudit.record import replace
from wheelaudit.report.colour import CODES, RESET, Style, wants_colour
from wheelaudit.report.model import Problem, Severity
from wheelaudit.report.terminal import format_line
from wheelaudit.report.text import group_by_fix, render_text

from .conftest import ROOT, sample_wheel

NEWGLIBC = sample_wheel("wa_sample_newglibc-")
ABI3 = sample_wheel("wa_sample_abi3-")
SYSLIB = sample_wheel("wa_sample_syslib-")
#: Exactly the escape sequences wheelaudit itself writes; anything else would have come from a wheel.
OURS = re.compile("|".join(re.escape(f"\x1b[{code}m") for code in CODES.values()) + "|" + re.escape(RESET))
ANY_SGR = re.compile(r"\x1b\[[0-9;]*m")


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def run_on_pty(*args: str | Path, columns: int = 80, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``python -m wheelaudit`` with stdout on a pseudo-terminal ``columns`` wide; (status, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.ONLCR  # no \r added before \n: compare the bytes the program wrote
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wheelaudit", *map(str, args)],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env=env if env is not None else clean_env(),
        cwd=ROOT,
    )
    os.close(slave)
    out = read_all(master)  # before waiting: a full terminal buffer would block the child
    return proc.wait(timeout=300), out


def read_all(master: int) -> str:
    """Everything the child writes to the terminal, until it closes its side (then closes ours)."""
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode()


# -- problems that share a fix ------------------------------------------------------------------


def test_a_fix_shared_by_several_problems_is_printed_once_after_them(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "show", NEWGLIBC)
    assert status == 1
    lines = out.splitlines()
    fixes = [i for i, line in enumerate(lines) if line.strip().startswith("fix:")]
    assert len(fixes) == 1, out  # was five times the same fix
    errors = [i for i, line in enumerate(lines) if line.startswith("    [error] elf-symbol-version-too-new")]
    assert len(errors) == 5 and max(errors) < fixes[0]
    fix = lines[fixes[0]]
    assert "(all 5 above)" in fix and "--zig" in fix
    assert "statx" in fix and "arc4random" not in fix and "and 3 more" in fix  # every symbol is named above


def _problem(code: str, fix: str | None, symbols: tuple[str, ...] = (), severity: Severity = Severity.ERROR) -> Problem:
    return Problem(code, severity, f"{code} for {', '.join(symbols)}", symbols=symbols, fix=fix)


def test_grouping_merges_only_the_same_fix() -> None:
    a = _problem("elf-symbol-version-too-new", "rebuild; or avoid statx", ("statx",))
    b = _problem("external-library", "graft it")
    c = _problem("elf-symbol-version-too-new", "rebuild; or avoid gettid, stat", ("gettid", "stat"))
    d = _problem("external-library", "graft it")
    e = _problem("note", None)
    f = _problem("external-library", "graft it", severity=Severity.WARNING)
    groups = group_by_fix([a, b, c, d, e, f])
    assert [(g, fix) for g, fix in groups] == [
        ([a, c], "rebuild; or avoid statx, gettid, stat"),
        ([b, d], "graft it"),
        ([e], None),
        ([f], "graft it"),  # another severity: another group
    ]


def test_a_single_problem_keeps_its_own_fix(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_main(capsys, "show", SYSLIB)
    (fix,) = [line for line in out.splitlines() if line.strip().startswith("fix:")]
    assert "above" not in fix


# -- -q -------------------------------------------------------------------------------------------


def test_quiet_prints_one_verdict_line_per_wheel(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "show", "-q", ABI3, NEWGLIBC, ROOT / "README.md")
    assert status == 1
    assert out.splitlines() == [
        f"{ABI3.name}: OK; best platform tag: manylinux_2_17_x86_64",
        f"{NEWGLIBC.name}: NOT OK; best platform tag: manylinux_2_36_x86_64",
    ]
    assert "skipping" in err  # diagnostics stay on stderr


def test_quiet_does_not_change_json(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_main(capsys, "show", "-q", "--json", NEWGLIBC)
    assert json.loads(out)["platform_tag"] == "manylinux_2_36_x86_64"


# -- colour and width ------------------------------------------------------------------------------


def test_piped_output_is_neither_coloured_nor_wrapped(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_main(capsys, "show", NEWGLIBC)
    assert "\x1b" not in out
    statx = next(line for line in out.splitlines() if line.endswith("for statx"))
    assert statx.startswith("    [error] elf-symbol-version-too-new: tagged") and len(statx) > 150


@pytest.mark.parametrize(
    ("environ", "tty", "colour"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty: not a request (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
    ],
)
def test_when_to_colour(environ: dict[str, str], tty: bool, colour: bool) -> None:
    assert wants_colour(tty, environ) is colour


def test_force_colour_colours_a_pipe(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, out, _ = run_main(capsys, "show", NEWGLIBC)
    assert "\x1b[31m[error]\x1b[0m elf-symbol-version-too-new" in out
    assert "verdict: \x1b[1;31mNOT OK\x1b[0m;" in out
    assert ANY_SGR.sub("", out).splitlines()[-1].startswith("    ... ")  # still not wrapped: a pipe
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = run_main(capsys, "show", "-q", ABI3)
    assert "\x1b" not in out


def test_terminal_output_is_coloured_and_wrapped_to_its_width(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_on_pty("show", NEWGLIBC, columns=72)
    assert status == 1
    assert "\x1b[31m[error]\x1b[0m" in out and "\x1b[1;31mNOT OK\x1b[0m" in out
    plain = ANY_SGR.sub("", out)
    for line in plain.splitlines():
        assert len(line) <= 72 or " " not in line.strip(), line  # only a single overlong word may stick out
    assert "but\n            wa_sample_newglibc/wa_sample_newglibc.abi3.so needs" in plain  # hanging indent
    _, piped, _ = run_main(capsys, "show", NEWGLIBC)
    assert plain.split() == piped.split()  # wrapping moved words to new lines and lost none


def test_no_color_on_a_terminal_still_wraps() -> None:
    _, out = run_on_pty("show", NEWGLIBC, columns=60, env=clean_env(NO_COLOR="1"))
    assert "\x1b" not in out
    assert max(len(line) for line in out.splitlines() if " " in line.strip()) <= 60


def test_columns_overrides_the_terminal_width() -> None:
    _, out = run_on_pty("show", NEWGLIBC, columns=200, env=clean_env(COLUMNS="90"))
    lengths = [len(line) for line in ANY_SGR.sub("", out).splitlines() if " " in line.strip()]
    assert max(lengths) <= 90 and max(lengths) > 72


def test_hostile_names_stay_escaped_with_colour_and_wrapping(tmp_path: Path) -> None:
    wheel = tmp_path / (ABI3.name[: -len(".whl")] + "\x1b[2J\x1b]0;owned\x07 \x1b[31m.whl")
    wheel.write_bytes(ABI3.read_bytes())
    for command in (["show"], ["show", "-q"], ["show", "-v"], ["tree"]):
        _, out = run_on_pty(*command, wheel, columns=50, env=clean_env(FORCE_COLOR="1"))
        assert "\\x1b[2J\\x1b]0;owned\\x07" in OURS.sub("", out).replace("\n", "")
        rest = OURS.sub("", out)
        assert "\x1b" not in rest and "\x07" not in rest, out


def test_format_line_escapes_then_wraps_then_colours() -> None:
    style = Style(colour=True, width=30)
    text = format_line(
        [("    ", None), ("[error]", "error"), (" a\x1bb long message that wraps twice or more", None)], style, 12
    )
    lines = text.split("\n")
    assert lines[0] == "    \x1b[31m[error]\x1b[0m a\\x1bb long"
    assert all(line.startswith(" " * 12) for line in lines[1:])
    # a coloured span broken over lines is coloured on each, never the indent
    spanning = format_line([("x " * 20, "ok")], Style(colour=True, width=12), 4).split("\n")
    assert spanning[1].startswith("    \x1b[1;32mx") and all(s.endswith(RESET) for s in spanning)
    assert format_line([("a\x1bb", "error")], Style()) == "a\\x1bb"


def test_render_text_escapes_fields_before_colouring() -> None:
    report = wheelaudit.audit(ABI3)
    hostile = Problem("x", Severity.ERROR, "bad\x1b]0;owned\x07name", fix="fix\x9bit")
    text = render_text(replace(report, problems=(hostile,)), style=Style(colour=True, width=40))
    assert "\\x1b]0;owned\\x07" in text.replace("\n", "") and "\\x9b" in text
    assert "\x1b" not in OURS.sub("", text) and "\x07" not in text and "\x9b" not in text


# -- help -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "repair", "policies", "tree"])
def test_each_commands_help_stands_alone(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Examples:\n  wheelaudit " + command in out
    assert "Exit status:" in out and "130" in out
    if command != "tree":
        assert str(default_policy_dir()) in out and "--policy-file" in out
    if command == "repair":
        order = [
            "Library search order",
            "1. the binary's DT_RPATH, then its loaders'",
            "2. --lib-path",
            "3. LD_LIBRARY_PATH",
            "4. the binary's DT_RUNPATH",
            "5. /etc/ld.so.conf",
            "6. the default directories",
        ]
        start = out.index(order[0])
        positions = [out.index(word, start) for word in order]
        assert positions == sorted(positions), "the steps are listed in the order repair searches"
    if command == "show":
        assert "NO_COLOR" in out and "FORCE_COLOR" in out
        assert "show --require manylinux_2_17 --format github" in out and "--fail-on warning" in out


def test_top_level_help_lists_every_command_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("show", "repair", "policies", "tree"):
        assert f"\n    {command} " in out and f"wheelaudit {command} " in out
    assert "Exit status:" in out


# -- policies ---------------------------------------------------------------------------------------


def test_policies_json_lists_every_level_with_aliases_arches_and_libc(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "policies", "--json")
    assert status == 0
    data = json.loads(out)
    levels = {level["name"]: level for level in data["linux"]}
    known = load_policies()
    assert set(levels) == {p.name for family in known.families.values() for p in family}
    m2014 = levels["manylinux_2_17"]
    assert m2014["aliases"] == ["manylinux2014"] and m2014["libc"] == "glibc" and m2014["libc_version"] == "2.17"
    assert {"x86_64", "aarch64", "ppc64le", "s390x"} <= set(m2014["architectures"])
    assert levels["musllinux_1_2"]["libc"] == "musl" and levels["musllinux_1_2"]["libc_version"] == "1.2"
    assert data["macos"]["oldest_version"]["arm64"] == "11.0"
    assert data["macos"]["multi_arch"]["universal2"] == ["arm64", "x86_64"]
    assert data["windows"]["tags"]["win_amd64"] == "amd64"
    assert data["android"]["abis"]["arm64_v8a"] == "aarch64"
    assert data["ios"]["sdks"]["iphoneos"] == ["arm64"]


def test_policies_text_is_a_table_and_takes_policy_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out, _ = run_main(capsys, "policies")
    row = next(line for line in out.splitlines() if line.strip().startswith("manylinux_2_17 "))
    assert row.split()[:3] == ["manylinux_2_17", "manylinux2014", "2.17"] and "aarch64" in row
    for heading in ("manylinux (", "musllinux (", "macOS (", "iOS (", "Windows", "Android ("):
        assert any(line.startswith(heading) for line in out.splitlines()), heading
    mine = tmp_path / "mine.json"
    doc = {
        "format": 1,
        "family": "manylinux",
        "libc": "glibc",
        "policies": [{"name": "manylinux_2_99", "aliases": ["manylinux_future"], "architectures": {"x86_64": {}}}],
    }
    mine.write_text(json.dumps(doc))
    _, out, _ = run_main(capsys, "policies", "--policy-file", mine)
    row = next(line for line in out.splitlines() if line.strip().startswith("manylinux_2_99 "))
    assert row.split() == ["manylinux_2_99", "manylinux_future", "2.99", "x86_64"]
    status, _, err = run_main(capsys, "policies", "--policy-file", tmp_path / "missing.json")
    assert status == 2 and err.count("\n") == 1


# -- tree -------------------------------------------------------------------------------------------


def test_tree_of_an_unrepaired_wheel_shows_the_external_library(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "tree", SYSLIB)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == SYSLIB.name
    assert "  wa_sample_syslib/wa_sample_syslib.abi3.so (elf, x86_64)" in lines
    assert "    libsqlite3.so.0 [external: not in the wheel, not allowed]" in lines
    assert "    ld-linux-x86-64.so.2 [dynamic loader]" in lines
    assert "    libc.so.6 [system, allowed]" in lines


def test_tree_follows_grafted_libraries_through_the_rpath(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    try:
        repaired = wheelaudit.repair(SYSLIB, wheel_dir=tmp_path)
    except wheelaudit.RepairError as exc:  # no libsqlite3.so.0 on this host: nothing to graft
        pytest.skip(str(exc))
    _, out, _ = run_main(capsys, "tree", repaired)
    lines = out.splitlines()
    (graft,) = [line for line in lines if "libsqlite3-" in line]
    assert graft.startswith("    libsqlite3-") and " => wa_sample_syslib.libs/libsqlite3-" in graft
    assert graft.endswith("(RPATH $ORIGIN/../wa_sample_syslib.libs)")
    below = lines[lines.index(graft) + 1]
    assert below.startswith("      lib") and "[system, allowed]" in below  # what the grafted library needs, deeper
    assert sum(line.strip().startswith("libc.so.6 ") for line in lines) == 1  # once per extension's tree
    _, out, _ = run_main(capsys, "tree", "--json", repaired)
    (binary,) = json.loads(out)["binaries"]
    (inside,) = [n for n in binary["needs"] if n["kind"] == "wheel"]
    assert inside["member"].startswith("wa_sample_syslib.libs/") and inside["via"].startswith("RPATH ")
    assert inside["needs"], "the grafted library's own needs are nested"


def test_tree_of_mach_o_and_pe_is_a_flat_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from .builders import build_macho, make_wheel

    lib = build_macho(
        cputype=0x0100000C, minos="11.0", own_name="@rpath/libdep.dylib", needed=(), weak=(), rpaths=(), init="x"
    )
    ext = build_macho(
        cputype=0x0100000C,
        minos="11.0",
        needed=("/usr/lib/libSystem.B.dylib", "@rpath/libdep.dylib", "/opt/homebrew/lib/libgmp.10.dylib"),
        weak=(),
        rpaths=("@loader_path/../demo.libs",),
    )
    wheel = make_wheel(
        tmp_path, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", {"demo/foo.so": ext, "demo.libs/libdep.dylib": lib}
    )
    status, out, _ = run_main(capsys, "tree", wheel)
    assert status == 0
    lines = out.splitlines()
    at = lines.index("  demo/foo.so (macho, arm64)")
    assert lines[at + 1 : at + 4] == [
        "    /usr/lib/libSystem.B.dylib [system]",
        "    @rpath/libdep.dylib => demo.libs/libdep.dylib",
        "    /opt/homebrew/lib/libgmp.10.dylib [external: not in the wheel, not allowed]",
    ]


def test_tree_of_an_unusable_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    status, out, err = run_main(capsys, "tree", broken)
    assert status == 2 and out == "" and err.count("\n") == 1 and err.startswith("wheelaudit: error: ")


# -- library API ---------------------------------------------------------------------------------


def test_dir_lists_the_lazily_loaded_names_without_loading_them() -> None:
    code = (
        "import sys, wheelaudit; names = dir(wheelaudit); "
        "assert set(wheelaudit.__all__) <= set(names), set(wheelaudit.__all__) - set(names); "
        "assert 'wheelaudit.auditing' not in sys.modules and 'wheelaudit.report.model' not in sys.modules; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "ok\n", proc.stderr


def test_readme_library_example_prints_what_its_comments_say() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Library API") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    expected = [line.split("# ", 1)[1] for line in code.splitlines() if line.startswith("print(") and "# " in line]
    assert len(expected) >= 4
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected


def test_pty_helper_sees_a_terminal() -> None:
    """The pseudo-terminal tests mean something only if the child really sees a terminal of that width."""
    probe = "import shutil, sys; print(sys.stdout.isatty(), shutil.get_terminal_size().columns)"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 57, 0, 0))
    proc = subprocess.Popen([sys.executable, "-c", probe], stdout=slave, env=clean_env())
    os.close(slave)
    out = read_all(master)
    proc.wait(timeout=60)
    assert out.split() == ["True", "57"]


def test_tree_says_when_a_binary_needs_nothing() -> None:
    from wheelaudit.report.tree import BinaryTree, WheelTree, render

    text = render(
        WheelTree("x-1.0-py3-none-manylinux_2_17_x86_64.whl", None, (BinaryTree("x/x", "elf", "x86_64", ()),))
    )
    assert text.splitlines()[-1] == "    (needs no shared library: statically linked)"
