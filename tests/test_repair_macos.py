"""macOS repair (issue 12), end to end on this Linux host, judged by oracles that are not ours.

Inputs: wheels around the zig-built fixtures of :mod:`tests.macho_fixtures` (thin arm64, thin
x86_64, universal2; an extension linking libfoo by its Homebrew path, libfoo linking libbar,
a libbar built for a newer macOS), and three delocated wheels from PyPI with their grafting
undone (:func:`tests.macos_wheels.ungraft`). Every repaired wheel must pass:

* repairwheel 0.8.0 (delocate's logic, run on Linux) on the same input: the same platform
  tags and the same grafted libraries (names compared without our hash suffix);
* rcodesign's verifier (``apple-platform-py``) on every Mach-O of the result: no finding but
  the one line it prints for every ad-hoc signature, its own included;
* every load command of every Mach-O, read by macholib, resolves inside the wheel or to the
  system, and no LC_RPATH points outside the wheel;
* ``wheelaudit show`` (the audit of the result) finds no error.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wheelaudit import audit
from wheelaudit.cli.main import main
from wheelaudit.errors import OptionError, RepairError
from wheelaudit.repairing import RepairOptions, RepairResult, repair_wheel
from wheelaudit.repairing.macos import commands as macho_commands
from wheelaudit.repairing.macos.codesign import adhoc_sign
from wheelaudit.repairing.macos.edit import MachOEdit, edit_macho, parse_macho_bytes

from .macho_fixtures import BAR_ID, FOO_ID, FOO_RPATH, TARGETS, Fixtures, _cc, built, require_zig
from .macos_wheels import MACHO_MAGICS, developer_id_signed, fixture_wheel, ungraft

apple_platform = pytest.importorskip("apple_platform", reason="apple-platform-py (test extra) is not installed")

ADHOC_NOTE = "CMS error: missing further values (at position 0)"  # see tests/test_codesign.py
UNCHANGED_NOTES = (": no cryptographic signature present", ": Mach-O signature data not found")
TAGS = {"arm64": "macosx_11_0_arm64", "x86_64": "macosx_10_12_x86_64", "universal2": "macosx_10_12_universal2"}
REAL = {  # delocated wheels pinned in sample-wheels/real-wheels.json
    "pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl": {"libzmq.5.dylib", "libsodium.26.dylib"},
    "pillow-13.0.0-cp312-cp312-macosx_11_0_arm64.whl": None,  # 18 libraries: whatever delocate had
    "shapely-2.2.0-cp312-cp312-macosx_11_0_arm64.whl": {"libgeos.3.14.1.dylib", "libgeos_c.1.20.5.dylib"},
    # old delocate layout (@loader_path/../.dylibs/); libgcc_s is fat i386 + x86_64: a 32-bit slice
    "numpy-1.19.5-cp38-cp38-macosx_10_9_x86_64.whl": {
        "libgcc_s.1.dylib",
        "libgfortran.3.dylib",
        "libopenblas.0.dylib",
        "libquadmath.0.dylib",
    },
    # 10 libraries; _psycopg's three new names fit its header padding only as @rpath/ names
    "psycopg2_binary-2.9.13-cp312-cp312-macosx_11_0_arm64.whl": None,
}
NUMPY_I386 = "numpy-1.19.5-cp38-cp38-macosx_10_9_x86_64.whl"
PSYCOPG2 = "psycopg2_binary-2.9.13-cp312-cp312-macosx_11_0_arm64.whl"
_HASH = re.compile(r"-[0-9a-f]{8}(?=\.)")
SYSTEM = ("/usr/lib/", "/System/Library/")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixtures]:
    require_zig()
    return built(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def _no_deployment_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MACOSX_DEPLOYMENT_TARGET", raising=False)


# -- the oracles ---------------------------------------------------------------------------------


def repairwheel(wheel: Path, lib_dir: Path, out: Path, *, env: dict[str, str] | None = None) -> Path:
    """repairwheel 0.8.0's result for the same input (it runs delocate's logic on Linux)."""
    exe = shutil.which("repairwheel", path=str(Path(sys.executable).parent)) or shutil.which("repairwheel")
    if exe is None:
        pytest.skip("repairwheel is not installed (pip install repairwheel==0.8.0; it is in the test extra)")
    out.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if k != "MACOSX_DEPLOYMENT_TARGET"} | (env or {})
    proc = subprocess.run(
        [exe, "-o", str(out), "-l", str(lib_dir), str(wheel)], capture_output=True, text=True, env=environ, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = out.glob("*.whl")
    return result


def plat_tags(wheel: Path) -> set[str]:
    return set(wheel.name[: -len(".whl")].split("-")[-1].split("."))


def grafted_names(wheel: Path) -> set[str]:
    """The dylibs a repair put into the wheel, without our hash suffix (delocate adds none)."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if ".dylibs/" in n and not n.endswith("/")]
    return {_HASH.sub("", posixpath.basename(n)) for n in names}


def machos(wheel: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if data[:4] in MACHO_MAGICS:
                yield name, data


def signature_findings(name: str, data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "verify" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    findings = [re.sub(r"^@\d+: ", "", p["description"]) for p in apple_platform.verify_macho(str(path))]
    return [f"{name}: {f}" for f in findings if f != ADHOC_NOTE]


def unresolved_loads(wheel: Path, tmp_path: Path) -> list[str]:
    """Load commands (read by macholib) that lead neither into the wheel nor to the system, and
    LC_RPATHs that point outside the wheel."""
    from macholib import mach_o
    from macholib.MachO import MachO

    loads = {mach_o.LC_LOAD_DYLIB, mach_o.LC_LOAD_WEAK_DYLIB, mach_o.LC_REEXPORT_DYLIB, mach_o.LC_LOAD_UPWARD_DYLIB}
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
    bad: list[str] = []
    for name, data in machos(wheel):
        path = tmp_path / "loads" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        here = posixpath.dirname(name)
        for header in MachO(str(path)).headers:
            commands = [
                (lc.cmd, d.rstrip(b"\0").decode())
                for lc, _c, d in header.commands
                if lc.cmd in loads | {mach_o.LC_RPATH} and isinstance(d, bytes)
            ]
            rpaths = [d for cmd, d in commands if cmd == mach_o.LC_RPATH]
            for rpath in rpaths:
                if rpath.startswith("/") and not rpath.startswith(SYSTEM):
                    bad.append(f"{name}: LC_RPATH {rpath}")
            for cmd, target in commands:
                if cmd not in loads:
                    continue
                if target.startswith(SYSTEM):
                    continue
                candidates = []
                if target.startswith("@loader_path/"):
                    candidates = [posixpath.join(here, target[len("@loader_path/") :])]
                elif target.startswith("@rpath/"):
                    for rpath in rpaths:
                        if rpath.startswith("@loader_path"):
                            base = posixpath.join(here, rpath[len("@loader_path") :].lstrip("/"))
                            candidates.append(posixpath.join(base, target[len("@rpath/") :]))
                if not any(posixpath.normpath(c) in members for c in candidates):
                    bad.append(f"{name}: {target}")
    return bad


def check_result(result: RepairResult, tmp_path: Path, source: Path | None = None) -> None:
    """The oracles every repaired wheel must pass (repairwheel is compared by the caller).

    rcodesign says "no cryptographic signature present" of a linker-signed file (ld64's ad-hoc
    signature has no CMS slot at all) and "Mach-O signature data not found" of an unsigned one
    (x86_64 builds before ld64 signed by default, numpy 1.19.5's): allowed only for a member the
    repair left as it was in ``source``; everything it wrote carries our signature.
    """
    unchanged: dict[str, bytes] = dict(machos(source)) if source is not None else {}
    findings = [
        f
        for name, data in machos(result.path)
        for f in signature_findings(name, data, tmp_path)
        if not (unchanged.get(name) == data and f.endswith(UNCHANGED_NOTES))
    ]
    assert findings == []
    assert unresolved_loads(result.path, tmp_path) == []
    report = audit(result.path)
    assert [p.message for p in report.errors] == []
    assert result.unfixed == ()


def repair(wheel: Path, out: Path, **options: object) -> RepairResult:
    return repair_wheel(wheel, RepairOptions(**options), out)  # type: ignore[arg-type]


# -- fixtures built with zig --------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(TAGS))
def test_fixture_wheel_repaired_like_repairwheel(files: dict[str, Fixtures], kind: str, tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files[kind], TAGS[kind])
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    check_result(result, tmp_path)
    theirs = repairwheel(wheel, lib, tmp_path / "theirs")
    assert plat_tags(result.path) == plat_tags(theirs) == {TAGS[kind]}
    assert grafted_names(result.path) == grafted_names(theirs) == {"libfoo.1.dylib", "libbar.1.dylib"}

    # what the result says, read back by our parser: ids, @loader_path names, no Homebrew rpath
    contents = dict(machos(result.path))
    foo = next(n for n in contents if "/libfoo-" in n)
    bar = next(n for n in contents if "/libbar-" in n)
    assert foo.startswith("wa_macfix.dylibs/") and bar.startswith("wa_macfix.dylibs/")
    for slice_ in parse_macho_bytes(contents[foo], foo):
        assert slice_.own_name == f"/DLC/{foo}"
        assert f"@loader_path/{posixpath.basename(bar)}" in slice_.needed
        assert FOO_RPATH not in slice_.rpath
        assert slice_.extra["signature"] == "adhoc"
    for slice_ in parse_macho_bytes(contents["wa_macfix/ext.so"], "ext.so"):
        assert f"@loader_path/../{foo}" in slice_.needed and FOO_ID not in slice_.needed
    sbom = zipfile.ZipFile(result.path).read("wa_macfix-1.0.dist-info/sboms/wheelaudit.cdx.json").decode()
    assert posixpath.basename(foo) in sbom and str(lib) in sbom


def test_output_is_deterministic_and_a_second_repair_grafts_nothing(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["universal2"], TAGS["universal2"])
    first = repair(wheel, tmp_path / "a", lib_paths=(str(lib),))
    second = repair(wheel, tmp_path / "b", lib_paths=(str(lib),))
    assert first.path.read_bytes() == second.path.read_bytes()
    again = repair(first.path, tmp_path / "c")
    assert again.plan.grafts == () and again.path.name == first.path.name
    check_result(again, tmp_path)


def test_library_found_at_its_absolute_path_under_a_root(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """No --lib-path: the Homebrew paths are found on the 'host' (a copied tree, rooted by --sysroot)."""
    wheel, _ = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    root = tmp_path / "root"
    for install_id, source in ((FOO_ID, files["arm64"].foo), (BAR_ID, files["arm64"].bar)):
        target = root / install_id.lstrip("/")
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read_bytes())
    result = repair(wheel, tmp_path / "out", sysroot=str(root))
    assert grafted_names(result.path) == {"libfoo.1.dylib", "libbar.1.dylib"}
    check_result(result, tmp_path)


def test_lib_path_comes_before_the_host_path_and_only_mach_o_counts(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """dyld's DYLD_LIBRARY_PATH rule: the leaf name in each folder first, then the path itself."""
    from wheelaudit.resolve.macho import DylibFinder

    root, first, second = tmp_path / "root", tmp_path / "first", tmp_path / "second"
    for folder, source in ((root / BAR_ID.lstrip("/")).parent, files["x86_64"].bar), (second, files["arm64"].bar):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / "libbar.1.dylib")
    first.mkdir()
    (first / "libbar.1.dylib").write_text("not a library")
    found = DylibFinder([str(first), str(second)], root=str(root)).find("libbar.1.dylib", [BAR_ID])
    assert found is not None
    assert (found.install_path, found.file) == (BAR_ID, str(second / "libbar.1.dylib"))
    assert [b.arch for b in found.slices] == ["arm64"]
    found = DylibFinder([str(first)], root=str(root)).find("libbar.1.dylib", [BAR_ID])
    assert found is not None and found.file == str(root / BAR_ID.lstrip("/"))
    assert DylibFinder([str(first)], root=str(root), use_host=False).find("libbar.1.dylib", [BAR_ID]) is None


@pytest.fixture(scope="module")
def newer_bar(files: dict[str, Fixtures], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """libbar (same id) built for macOS 14.0 on arm64: a Homebrew bottle from a newer Mac."""
    directory = tmp_path_factory.mktemp("newer")
    (directory / "bar.c").write_text("int bar(int x) { return x + 1; }\n")
    out = directory / "libbar.1.dylib"
    _cc(TARGETS["arm64"].replace("11.0", "14.0"), out, directory / "bar.c", f"-Wl,-install_name,{BAR_ID}")
    return out


def _with_newer_bar(files: dict[str, Fixtures], newer_bar: Path, tmp_path: Path) -> tuple[Path, Path]:
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    shutil.copyfile(newer_bar, lib / "libbar.1.dylib")
    return wheel, lib


def test_tag_rises_to_what_a_grafted_library_needs(files: dict[str, Fixtures], newer_bar: Path, tmp_path: Path) -> None:
    wheel, lib = _with_newer_bar(files, newer_bar, tmp_path)
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    assert plat_tags(result.path) == {"macosx_14_0_arm64"}
    assert len(result.notes) == 1
    assert "rises from macOS 11.0 to 14.0 for arm64" in result.notes[0] and BAR_ID in result.notes[0]
    check_result(result, tmp_path)
    assert plat_tags(repairwheel(wheel, lib, tmp_path / "theirs")) == plat_tags(result.path)


@pytest.mark.parametrize("how", ["option", "environment", "plat"])
def test_deployment_target_is_a_ceiling_that_names_the_library(
    files: dict[str, Fixtures], newer_bar: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    wheel, lib = _with_newer_bar(files, newer_bar, tmp_path)
    options: dict[str, object] = {"lib_paths": (str(lib),)}
    if how == "option":
        options["macos_target"] = "11.0"
    elif how == "environment":
        monkeypatch.setenv("MACOSX_DEPLOYMENT_TARGET", "11.0")
    else:
        options["plat"] = "macosx_11_0_arm64"
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out", **options)
    message = str(caught.value)
    assert "\n" not in message
    assert f"the grafted {BAR_ID} (arm64) needs macOS 14.0" in message
    assert "raise the target to 14.0" in message
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def delocate_tags(wheel: Path, input_name: str, target: str | None, tmp_path: Path) -> tuple[set[str], set[str]]:
    """delocate 0.13.0's own tag rule (pure Python over macholib; repairwheel does not pass the deployment
    target on) on the unpacked wheel: the platform tags and the files above the target."""
    delocating = pytest.importorskip("delocate.delocating")
    from packaging.version import Version

    unpacked = tmp_path / "delocate" / wheel.stem
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    name, too_new = delocating._calculate_minimum_wheel_name(input_name, unpacked, Version(target) if target else None)
    return set(str(name)[: -len(".whl")].split("-")[-1].split(".")), {p.name for p, _ in too_new}


def test_a_target_at_or_above_the_libraries_sets_the_tag(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["universal2"], TAGS["universal2"])
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),), macos_target="10.15")
    assert plat_tags(result.path) == {"macosx_10_15_universal2"}
    assert delocate_tags(result.path, wheel.name, "10.15", tmp_path) == (plat_tags(result.path), set())
    check_result(result, tmp_path)


def test_delocate_names_the_same_library_above_the_target(
    files: dict[str, Fixtures], newer_bar: Path, tmp_path: Path
) -> None:
    """Our error names the grafted libbar; delocate, on the wheel we write without a target, too."""
    wheel, lib = _with_newer_bar(files, newer_bar, tmp_path)
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    _, too_new = delocate_tags(result.path, wheel.name, "11.0", tmp_path)
    assert {_HASH.sub("", n) for n in too_new} == {"libbar.1.dylib"}
    assert delocate_tags(result.path, wheel.name, None, tmp_path)[0] == plat_tags(result.path)


def test_require_archs(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    assert repair(wheel, tmp_path / "a", lib_paths=(str(lib),), require_archs="arm64").plan.grafts
    with pytest.raises(RepairError, match=r"has no slice for x86_64 \(required\)") as caught:
        repair(wheel, tmp_path / "b", lib_paths=(str(lib),), require_archs="universal2")
    assert "wa_macfix/ext.so" in str(caught.value)
    with pytest.raises(OptionError, match="unknown architecture 'sparc'"):
        repair(wheel, tmp_path / "c", lib_paths=(str(lib),), require_archs="sparc")


def test_require_archs_names_a_few_files_and_counts_the_rest(
    files: dict[str, Fixtures], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One readable line: scipy's x86_64 wheel under ``--require-archs universal2`` named ~125 files
    in 10,803 characters. Here the extension and its two libraries, with room for one name."""
    from wheelaudit.repairing.macos import repair as macos_repair

    monkeypatch.setattr(macos_repair, "SHOWN_FILES", 1)
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "b", lib_paths=(str(lib),), require_archs="universal2")
    message = str(caught.value)
    assert message.count("has no slice for x86_64 (required)") == 1 and "; and 2 more files;" in message


def test_a_thin_library_under_a_universal2_extension_is_refused(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["universal2"], TAGS["universal2"])
    shutil.copyfile(files["arm64"].bar, lib / "libbar.1.dylib")
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    assert "libbar.1.dylib has no slice for x86_64 (needed by" in str(caught.value)


def test_every_architecture_the_tag_claims_in_every_graft(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """A universal2-tagged wheel whose extension is arm64 only: nothing loads libfoo as x86_64, yet the
    tag claims it, so a thin libfoo is refused (the extension's own missing slice is show's business)."""
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["universal2"])
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    assert "libfoo.1.dylib has no slice for x86_64 (the wheel's tag claims it)" in str(caught.value)
    assert "libbar.1.dylib has no slice for x86_64 (the wheel's tag claims it)" in str(caught.value)


def test_missing_library_is_one_line_naming_it(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    (lib / "libbar.1.dylib").unlink()
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    message = str(caught.value)
    assert "\n" not in message
    assert f"{BAR_ID} (needed by {lib.resolve()}/libfoo.1.dylib)" in message
    assert message.endswith("add the folder that holds it to the library search path")


def test_exclude_leaves_a_library_outside(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),), exclude=("libbar*",))
    assert grafted_names(result.path) == {"libfoo.1.dylib"}
    assert result.plan.excluded == (BAR_ID,)
    assert any("excluded: left outside the wheel" in w for w in result.warnings)
    assert [p.library for p in result.report.errors] == [BAR_ID]  # show still says so ...
    assert result.unfixed == ()  # ... but it was asked for

    # a library that is not found may be excluded too; a pattern that matches the system changes nothing
    (lib / "libbar.1.dylib").unlink()
    result = repair(wheel, tmp_path / "out2", lib_paths=(str(lib),), exclude=("*/libbar.1.dylib", "libSystem*"))
    assert grafted_names(result.path) == {"libfoo.1.dylib"}
    assert result.warnings == (f"{BAR_ID} (needed by {lib.resolve()}/libfoo.1.dylib) excluded: left outside the wheel",)


def test_strip_is_refused_for_macos(files: dict[str, Fixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    with pytest.raises(OptionError, match="stripping Mach-O files is not supported"):
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),), strip="debug")


def test_cli(files: dict[str, Fixtures], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["universal2"], TAGS["universal2"])
    status = main(["repair", "-w", str(tmp_path / "wh"), "--lib-path", str(lib), str(wheel)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.startswith(str(tmp_path / "wh" / wheel.name) + "  (macosx_10_12_universal2; grafted libfoo-")
    assert main(["show", str(wheel)]) == 1  # the input: external-library
    assert main(["show", str(tmp_path / "wh" / wheel.name)]) == 0
    capsys.readouterr()
    status = main(["repair", "-w", str(tmp_path / "wh2"), "--strip", "all", "--lib-path", str(lib), str(wheel)])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and err.count("\n") == 1 and "not supported" in err
    status = main(["repair", "-w", str(tmp_path / "wh3"), "--macos-target", "10.9", "--lib-path", str(lib), str(wheel)])
    out, err = capsys.readouterr()
    assert status == 1 and out == "" and err.count("\n") == 1, err
    assert "needs macOS 10.12" in err
    status = main(["repair", "-w", str(tmp_path / "wh5"), str(wheel)])
    out, err = capsys.readouterr()
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.rstrip().endswith("to the library search path (use --lib-path DIR)")
    status = main(["repair", "-w", str(tmp_path / "wh4"), "--plat", "macosx_11_0_arm64", str(wheel)])
    out, err = capsys.readouterr()
    assert status == 1 and "is for arm64, but the wheel is tagged for arm64, x86_64" in err


def _retyped(data: bytes, name: str, new_cmd: int) -> bytes:
    """A thin Mach-O with the command loading ``name`` given another dylib command type of the same
    layout (zig cannot link with -reexport-l), signed again so that it is a valid input."""
    out = bytearray(data)
    header = macho_commands.read(data, "x")
    offset = header.header_size
    for command in header.commands:
        if header.cmd(command) in macho_commands.DYLIB_LOADS and header.string(command) == name:
            struct.pack_into("<I", out, offset, new_cmd)
        offset += len(command)
    return adhoc_sign(bytes(out), path="ext.so").data


def test_reexported_library_is_grafted(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """LC_REEXPORT_DYLIB loads like LC_LOAD_DYLIB: found, grafted, renamed in place."""
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    ext = _retyped(files["arm64"].ext.read_bytes(), FOO_ID, macho_commands.LC_REEXPORT_DYLIB)
    wheel = _replace_member(wheel, "wa_macfix/ext.so", ext, tmp_path / "re")
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    assert grafted_names(result.path) == {"libfoo.1.dylib", "libbar.1.dylib"}
    check_result(result, tmp_path)
    data = zipfile.ZipFile(result.path).read("wa_macfix/ext.so")
    header = macho_commands.read(data, "ext.so")
    reexports = [header.string(c) for c in header.commands if header.cmd(c) == macho_commands.LC_REEXPORT_DYLIB]
    assert len(reexports) == 1 and reexports[0].startswith("@loader_path/../wa_macfix.dylibs/libfoo-")


def _replace_member(wheel: Path, member: str, data: bytes, directory: Path) -> Path:
    from .builders import make_wheel

    with zipfile.ZipFile(wheel) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}
    members[member] = data
    directory.mkdir(parents=True, exist_ok=True)
    return make_wheel(directory, wheel.name, members)


def test_weak_dependency_grafted_when_found_else_a_warning(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """A dylib of the wheel that weakly links libbar (LC_LOAD_WEAK_DYLIB by its Homebrew path)."""
    wheel, lib = fixture_wheel(tmp_path / "in", files["universal2"], TAGS["universal2"])
    wheel = _replace_member(wheel, "wa_macfix/libweak.dylib", files["universal2"].weak.read_bytes(), tmp_path / "w")
    result = repair(wheel, tmp_path / "found", lib_paths=(str(lib),))
    assert grafted_names(result.path) == {"libfoo.1.dylib", "libbar.1.dylib"}
    check_result(result, tmp_path)
    weak = parse_macho_bytes(zipfile.ZipFile(result.path).read("wa_macfix/libweak.dylib"), "libweak")
    assert all(b.weak_needed[0].startswith("@loader_path/../wa_macfix.dylibs/libbar-") for b in weak)

    # libbar gone from the lib folder: libfoo needs it (an error), libweak only weakly (a warning)
    alone = _replace_member(wheel, "wa_macfix/ext.so", b"", tmp_path / "alone")
    (lib / "libbar.1.dylib").unlink()
    result = repair(alone, tmp_path / "missing", lib_paths=(str(lib),))
    assert result.plan.grafts == ()
    assert result.warnings == (
        f"wa_macfix/libweak.dylib weakly links {BAR_ID}, which is not found: left as it is (it loads without it)",
    )


def test_rpath_searched_through_the_chain_of_loaders(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """ext.so loads @rpath/libfoo with its LC_RPATHs; libfoo loads @rpath/libbar and has no run path of
    its own, so dyld finds libbar through ext.so's. Found on the 'host' (a tree under --sysroot), where
    the exact path matters, not just the leaf name."""
    arm = files["arm64"]
    ext = edit_macho(
        arm.ext.read_bytes(),
        MachOEdit(change_names={FOO_ID: "@rpath/libfoo.1.dylib"}, add_rpaths=("/opt/homebrew/opt/foo/lib", FOO_RPATH)),
        path="ext.so",
    ).data
    foo = edit_macho(
        arm.foo.read_bytes(),
        MachOEdit(change_names={BAR_ID: "@rpath/libbar.1.dylib"}, delete_rpaths=frozenset({FOO_RPATH})),
        path="libfoo",
    ).data
    wheel, _ = fixture_wheel(tmp_path / "in", arm, TAGS["arm64"])
    wheel = _replace_member(wheel, "wa_macfix/ext.so", adhoc_sign(ext, path="ext.so").data, tmp_path / "rp")
    root = tmp_path / "root"
    for where, data in (
        ("opt/homebrew/opt/foo/lib/libfoo.1.dylib", adhoc_sign(foo, path="libfoo").data),
        ("opt/homebrew/lib/libbar.1.dylib", arm.bar.read_bytes()),
    ):
        (root / where).parent.mkdir(parents=True, exist_ok=True)
        (root / where).write_bytes(data)
    result = repair(wheel, tmp_path / "out", sysroot=str(root))
    assert grafted_names(result.path) == {"libfoo.1.dylib", "libbar.1.dylib"}
    check_result(result, tmp_path)
    (ext_slice,) = parse_macho_bytes(zipfile.ZipFile(result.path).read("wa_macfix/ext.so"), "ext.so")
    assert ext_slice.rpath == ()  # both pointed outside the wheel

    (root / "opt/homebrew/lib/libbar.1.dylib").rename(root / "opt/homebrew/libbar.1.dylib")
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out2", sysroot=str(root))
    assert f"@rpath/libbar.1.dylib (needed by {root}/opt/homebrew/opt/foo/lib/libfoo.1.dylib; searched " in str(
        caught.value
    )
    assert "/opt/homebrew/opt/foo/lib/libbar.1.dylib, /opt/homebrew/lib/libbar.1.dylib)" in str(caught.value)


def test_executable_path_in_an_extension(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """@executable_path under an extension is the interpreter's folder: unknowable, so only --lib-path
    (dyld's DYLD_LIBRARY_PATH rule, by leaf name, for every install name) can find the library."""
    arm = files["arm64"]
    name = "@executable_path/../lib/libfoo.1.dylib"
    ext = edit_macho(arm.ext.read_bytes(), MachOEdit(change_names={FOO_ID: name}), path="ext.so").data
    wheel, lib = fixture_wheel(tmp_path / "in", arm, TAGS["arm64"])
    wheel = _replace_member(wheel, "wa_macfix/ext.so", adhoc_sign(ext, path="ext.so").data, tmp_path / "ep")
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    assert grafted_names(result.path) == {"libfoo.1.dylib", "libbar.1.dylib"}
    check_result(result, tmp_path)
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out2")
    assert f"{name} (needed by wa_macfix/ext.so) [@executable_path in a Python extension is the interpreter's" in str(
        caught.value
    )


def test_two_copies_of_one_library_are_grafted_once(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """libbar reached at two paths that hold the same bytes (a copied Homebrew tree): one member."""
    arm = files["arm64"]
    weak = edit_macho(
        arm.weak.read_bytes(), MachOEdit(change_names={BAR_ID: "/opt/homebrew/lib/libbar.1.dylib"}), path="w"
    )
    wheel, _ = fixture_wheel(tmp_path / "in", arm, TAGS["arm64"])
    wheel = _replace_member(wheel, "wa_macfix/libweak.dylib", adhoc_sign(weak.data, path="w").data, tmp_path / "w")
    root = tmp_path / "root"
    for where, source in ((FOO_ID, arm.foo), (BAR_ID, arm.bar), ("/opt/homebrew/lib/libbar.1.dylib", arm.bar)):
        (root / where.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / where.lstrip("/"))
    result = repair(wheel, tmp_path / "out", sysroot=str(root))
    assert [g.new_name.split("-")[0] for g in result.plan.grafts] == ["libfoo", "libbar"]
    check_result(result, tmp_path)


def test_developer_id_signature_of_a_graft_is_replaced_with_a_warning(
    files: dict[str, Fixtures], tmp_path: Path
) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"])
    (lib / "libfoo.1.dylib").write_bytes(developer_id_signed(tmp_path, files["arm64"].foo.read_bytes()))
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    (warning,) = result.warnings
    assert "carried a Developer ID signature; it is replaced by an ad-hoc one" in warning
    assert "libfoo-" in warning and "sign the wheel's binaries again" in warning
    check_result(result, tmp_path)


def test_a_name_that_does_not_fit_the_header_padding_is_one_line(files: dict[str, Fixtures], tmp_path: Path) -> None:
    """libbar linked with -headerpad 0: its new id /DLC/<dist>.dylibs/... is longer than the old one and
    cannot be written without moving segments, which repair never does."""
    directory = tmp_path / "tight"
    directory.mkdir()
    (directory / "bar.c").write_text("int bar(int x) { return x + 1; }\n")
    tight = directory / "libbar.1.dylib"
    _cc(TARGETS["arm64"], tight, directory / "bar.c", f"-Wl,-install_name,{BAR_ID}", "-Wl,-headerpad,0")
    assert parse_macho_bytes(tight.read_bytes(), "libbar")[0].extra["header_pad"] == "0"
    name = "wa_macfix_with_a_rather_long_distribution_name"
    wheel, lib = fixture_wheel(tmp_path / "in", files["arm64"], TAGS["arm64"], name=name)
    shutil.copyfile(tight, lib / "libbar.1.dylib")
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot graft {(lib / 'libbar.1.dylib').resolve()}: {name}.dylibs/libbar-")
    assert re.search(r"\(arm64\): the new load commands need \d+ more bytes than the header padding holds", message)
    assert list((tmp_path / "out").iterdir()) == []  # nothing left behind


# -- real delocated wheels, grafting undone ---------------------------------------------------------


@pytest.mark.real
@pytest.mark.parametrize("filename", list(REAL))
def test_real_wheel_ungrafted_then_repaired(filename: str, all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    source = all_real_wheels[filename]
    undone = ungraft(source, tmp_path / "in")
    expected = REAL[filename] or set(undone.names)
    assert set(undone.names) == expected
    assert audit(undone.wheel).errors, "the un-grafted wheel needs repair"
    assert unresolved_loads(undone.wheel, tmp_path / "before"), "the load-command oracle sees it too"
    result = repair(undone.wheel, tmp_path / "ours", lib_paths=(str(undone.lib_dir),))
    check_result(result, tmp_path, undone.wheel)
    theirs = repairwheel(undone.wheel, undone.lib_dir, tmp_path / "theirs")
    assert plat_tags(result.path) == plat_tags(theirs) == plat_tags(source)
    assert grafted_names(result.path) == grafted_names(theirs) == expected


@pytest.mark.real
def test_a_32_bit_slice_is_edited_and_signed(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """The i386 slice of numpy 1.19.5's fat libgcc_s: a 32-bit section is 68 bytes (nine 4-byte
    fields after the two names), and reading it as 72 ran past the segment command's last section."""
    from macholib import mach_o
    from macholib.MachO import MachO

    with zipfile.ZipFile(all_real_wheels[NUMPY_I386]) as zf:
        data = zf.read("numpy/.dylibs/libgcc_s.1.dylib")
    new_id = "/opt/homebrew/lib/libgcc_s.1.dylib"
    edited = edit_macho(data, MachOEdit(install_id=new_id), path="libgcc_s.1.dylib")
    signed = adhoc_sign(edited.data, path="libgcc_s.1.dylib").data
    path = tmp_path / "libgcc_s.1.dylib"
    path.write_bytes(signed)
    ids = {
        (mach_o.CPU_TYPE_NAMES[header.header.cputype], d.rstrip(b"\0").decode())
        for header in MachO(str(path)).headers
        for lc, _c, d in header.commands
        if lc.cmd == mach_o.LC_ID_DYLIB
    }
    assert ids == {("i386", new_id), ("x86_64", new_id)}
    assert signature_findings("libgcc_s.1.dylib", signed, tmp_path) == []


@pytest.mark.real
def test_names_too_long_for_the_padding_become_rpath_names(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """psycopg2-binary 2.9.13's _psycopg has 56 free header bytes; its three
    @loader_path/../psycopg2_binary.dylibs/<hashed> names need 80. As @rpath/<hashed> names with
    one LC_RPATH to the folder they fit, and dyld finds them through the loader's own run path."""
    undone = ungraft(all_real_wheels[PSYCOPG2], tmp_path / "in")
    result = repair(undone.wheel, tmp_path / "ours", lib_paths=(str(undone.lib_dir),))
    check_result(result, tmp_path, undone.wheel)
    member = "psycopg2/_psycopg.cpython-312-darwin.so"
    (slice_,) = parse_macho_bytes(dict(machos(result.path))[member], member)
    assert slice_.rpath == ("@loader_path/../psycopg2_binary.dylibs",)
    grafted = sorted(n for n in slice_.needed if n.startswith("@"))
    assert [re.sub(r"-[0-9a-f]{8}", "", n) for n in grafted] == [
        "@rpath/libcrypto.3.dylib",
        "@rpath/libpq.5.dylib",
        "@rpath/libssl.3.dylib",
    ]
    # only where the padding asks for it: the grafted libraries keep @loader_path/ names and no run path
    libpq = next(n for n, _ in machos(result.path) if "/libpq-" in n)
    (graft,) = parse_macho_bytes(dict(machos(result.path))[libpq], libpq)
    assert any(n.startswith("@loader_path/libssl-") for n in graft.needed) and graft.rpath == ()
