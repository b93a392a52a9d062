"""Windows repair (issue 13), end to end on this Linux host, judged by oracles that are not ours.

Inputs: wheels around the zig-built PE files of :mod:`tests.pe_fixtures` (x86_64, x86, arm64: an
extension importing foo.dll, which imports bar.dll, both only in a lib folder; a second extension
delay-loading foo.dll), in several package layouts, and three delvewheel-repaired wheels from
PyPI with their repair undone (:func:`tests.windows_wheels.unrepair`). Every repaired wheel must pass:

* delvewheel 1.13.2 ``repair --add-path`` on the same input: the same file name and the same
  grafted DLLs, where they sit, names compared without the hash (ours and delvewheel's differ);
* pefile reading every PE of the result: no import left by the original name of a grafted DLL,
  and every import that is not a system DLL (delvewheel's own lists, not our policy) found where
  Windows will look: beside the importer, or in a folder the package's ``__init__.py`` patch adds
  (the patch is run, with ``os.add_dll_directory`` recorded, to learn which);
* ``wheelaudit show`` (the audit of the result) finds no error;
* under wine (Debian's wine64; skipped when absent), the CPython-like ``loader.exe`` loads the
  repaired extension with the patched folder added and calls into it (the control, the
  unrepaired extension, fails).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pefile
import pytest

from wheelaudit import audit
from wheelaudit.cli.main import main
from wheelaudit.errors import OptionError, RepairError
from wheelaudit.repairing import RepairOptions, RepairResult, repair_wheel
from wheelaudit.repairing.windows import dllpath
from wheelaudit.repairing.windows.pe_edit import rename_imports
from wheelaudit.repairing.windows.repair import WinRepairPlan

from . import pe_fixtures
from .builders import make_wheel
from .pe_fixtures import PeFixtures
from .windows_wheels import fixture_wheel, unrepair

delvewheel_dll_list = pytest.importorskip("delvewheel._dll_list", reason="delvewheel (test extra) is not installed")

ARCHES = list(pe_fixtures.TARGETS)
_HASH = re.compile(r"-[0-9a-f]{32}(?=\.dll$)", re.IGNORECASE)
_DATA = re.compile(r"^[^/]+\.data/(platlib|purelib)/")
_MACHINE = {0x14C: "I386", 0x8664: "AMD64", 0xAA64: "ARM64"}
REAL = {  # delvewheel-repaired wheels pinned in sample-wheels/real-wheels.json -> the DLLs it grafted
    "shapely-2.2.0-cp312-cp312-win32.whl": {"geos.dll", "geos_c.dll", "msvcp140.dll"},
    "shapely-2.2.0-cp312-cp312-win_amd64.whl": {"geos.dll", "geos_c.dll", "msvcp140.dll"},
    "numpy-2.5.5-cp312-cp312-win_amd64.whl": {"libscipy_openblas64_.dll", "msvcp140.dll"},
    "pyproj-3.8.0-cp312-cp312-win_arm64.whl": {  # arm64; chains three deep
        *("jpeg62.dll", "libcurl.dll", "liblzma.dll", "msvcp140.dll"),
        *("proj_9.dll", "sqlite3.dll", "tiff.dll", "zlib1.dll"),
    },
    "psycopg_binary-3.3.9-cp312-cp312-win_amd64.whl": {"libpq.dll", "libssl-3-x64.dll", "libcrypto-3-x64.dll"},
    "pillow_heif-1.8.1-cp312-cp312-win_amd64.whl": {  # a top-level module: the DLLs in site-packages itself
        *("libde265-0.dll", "libgcc_s_seh-1.dll", "libheif.dll"),
        *("libstdc++-6.dll", "libwinpthread-1.dll", "libx265-217.dll"),
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PeFixtures]:
    pe_fixtures.require_zig()
    root = tmp_path_factory.mktemp("pe-fixtures")
    return {arch: pe_fixtures.build(arch, root / arch) for arch in ARCHES}


def repair(wheel: Path, out: Path, **options: object) -> RepairResult:
    return repair_wheel(wheel, RepairOptions(**options), out)  # type: ignore[arg-type]


def plan_of(result: RepairResult) -> WinRepairPlan:
    assert isinstance(result.plan, WinRepairPlan)
    return result.plan


# -- the oracles ---------------------------------------------------------------------------------


def delvewheel(wheel: Path, lib_dir: Path, out: Path, *extra: str) -> Path:
    """delvewheel 1.13.2's result for the same input."""
    exe = shutil.which("delvewheel", path=str(Path(sys.executable).parent)) or shutil.which("delvewheel")
    if exe is None:
        pytest.skip("delvewheel is not installed (pip install delvewheel==1.13.2; it is in the test extra)")
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [exe, "repair", "--add-path", str(lib_dir), "-w", str(out), *extra, str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    (result,) = out.glob("*.whl")
    return result


def grafted(wheel: Path, before: Path) -> set[str]:
    """The DLLs a repair added to the wheel (members not in ``before``), paths without the hash."""
    with zipfile.ZipFile(before) as zf:
        old = {n.lower() for n in zf.namelist()}
    with zipfile.ZipFile(wheel) as zf:
        new = [n for n in zf.namelist() if n.lower().endswith(".dll") and n.lower() not in old]
    return {_DATA.sub("", _HASH.sub("", n)).lower() for n in new}  # where they are installed


def pe_members(wheel: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.lower().endswith((".pyd", ".dll", ".exe")):
                yield name, zf.read(name)


def pefile_imports(data: bytes) -> tuple[int, list[str]]:
    """(machine, every DLL the image imports or delay-loads), read by pefile."""
    pe = pefile.PE(data=data, fast_load=True)  # the import directories only (exception tables take seconds)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY[f"IMAGE_DIRECTORY_ENTRY_{d}"] for d in ("IMPORT", "DELAY_IMPORT")]
    )
    names = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
    names += [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
    return pe.FILE_HEADER.Machine, names


def delvewheel_system(machine: int, tags: set[str]) -> set[str]:
    """delvewheel's DLLs assumed present for this machine and these tags (its lists, not our policy)."""
    lists = delvewheel_dll_list
    names = {n.lower() for n in lists.ignore_names[lists.MachineType[_MACHINE[machine]]]}
    for pattern, dlls in {**lists.ignore_by_abi_platform, **lists.ignore_abi3}.items():
        if any(re.fullmatch(pattern, t) for t in tags):
            names |= dlls
    return names


def is_system(dll: str, machine: int, tags: set[str]) -> bool:
    lower = dll.lower()
    if any(r.fullmatch(lower) for r in delvewheel_dll_list.ignore_regexes):
        return True
    if lower == "ucrtbase.dll" or lower.startswith("ext-ms-"):  # Windows 10+ (docs/macos-windows.md)
        return True
    return lower in delvewheel_system(machine, tags)


def added_dll_folders(site: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Path]]:
    """Run every ``__init__.py`` patch of an installed tree with os.add_dll_directory recorded:
    package folder (relative) -> the folders its patch adds."""
    out: dict[str, list[Path]] = {}
    for init in site.rglob("__init__.py"):
        text = init.read_text(encoding="utf-8", errors="replace")
        if dllpath.START not in text:
            continue
        block = text[text.index(dllpath.START) : text.index(dllpath.END)]
        added: list[str] = []
        monkeypatch.setattr(os, "add_dll_directory", added.append, raising=False)
        exec(compile(block, str(init), "exec"), {"__file__": str(init), "__name__": "patched"})
        monkeypatch.delattr(os, "add_dll_directory", raising=False)
        out[init.parent.relative_to(site).as_posix()] = [Path(p) for p in added]
    return out


def unresolved_imports(wheel: Path, originals: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """pefile's reading of every PE in the wheel, installed: imports left by an original name, and
    non-system imports found neither beside the importer nor in a folder its package adds."""
    site = tmp_path / "site"
    shutil.rmtree(site, ignore_errors=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    python, abi, plat = wheel.name[: -len(".whl")].split("-")[-3:]
    tags = {f"{abi}-{plat}", f"{python}-{plat}"}  # what delvewheel's per-ABI lists are matched against
    added = added_dll_folders(site, monkeypatch)
    every_folder = [f for folders in added.values() for f in folders]
    bad: list[str] = []
    for name, data in pe_members(wheel):
        machine, imports = pefile_imports(data)
        here = (site / name).parent
        parents = [p.as_posix() for p in Path(name).parents][:-1]
        package_level = any(parent in added for parent in parents)
        folders = [here] + ([f for p in parents for f in added.get(p, [])] if package_level else every_folder)
        for dll in imports:
            if dll.lower() in originals:
                bad.append(f"{name}: still imports {dll}")
            if is_system(dll, machine, tags):
                continue
            if not any((folder / dll).is_file() or _icase(folder, dll) for folder in folders):
                bad.append(f"{name}: {dll} not found in {[str(f.relative_to(site)) for f in folders]}")
    return bad


def _icase(folder: Path, name: str) -> bool:
    return folder.is_dir() and name.lower() in {p.name.lower() for p in folder.iterdir()}


def check_result(
    result: RepairResult, source: Path, originals: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert unresolved_imports(result.path, originals, tmp_path, monkeypatch) == []
    report = audit(result.path)
    assert [p.message for p in report.errors] == []
    assert result.unfixed == ()
    with zipfile.ZipFile(result.path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
    dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    assert f"{dist_info}/sboms/wheelaudit.cdx.json" in names
    assert names[-1] == f"{dist_info}/RECORD"


# -- fixtures built with zig ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_fixture_wheel_repaired_like_delvewheel(
    built: dict[str, PeFixtures], arch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built[arch])
    assert audit(wheel).errors, "the input needs repair"
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    check_result(result, wheel, {"foo.dll", "bar.dll"}, tmp_path, monkeypatch)
    theirs = delvewheel(wheel, lib, tmp_path / "theirs")
    assert result.path.name == theirs.name == wheel.name
    assert grafted(result.path, wheel) == grafted(theirs, wheel) == {"wa_winfix.libs/foo.dll", "wa_winfix.libs/bar.dll"}
    assert {g.new_name.split("-")[0] for g in result.plan.grafts} == {"foo", "bar"}
    # the regular import, the delay-load import and foo's import of bar name the mangled DLLs
    names = {g.found_as: g.new_name for g in plan_of(result).grafts}
    with zipfile.ZipFile(result.path) as zf:
        _, ext = pefile_imports(zf.read("wa_winfix/ext.pyd"))
        assert names["foo.dll"] in ext
        pe = pefile.PE(data=zf.read("wa_winfix/sub/ext.pyd"))
        assert [e.dll.decode() for e in pe.DIRECTORY_ENTRY_DELAY_IMPORT] == [names["foo.dll"]]
        _, foo = pefile_imports(zf.read(f"wa_winfix.libs/{names['foo.dll']}"))
        assert names["bar.dll"] in foo
        init = zf.read("wa_winfix/__init__.py").decode()
        assert init.count(dllpath.START) == 1 and "'wa_winfix.libs'" in init
        assert init.startswith('"""The fixture package')  # the docstring stays the docstring
        assert init.index("from __future__") < init.index(dllpath.START)
        sbom = zf.read("wa_winfix-1.0.dist-info/sboms/wheelaudit.cdx.json").decode()
        record = zf.read("wa_winfix-1.0.dist-info/RECORD").decode()
    assert names["foo.dll"] in sbom and str(lib) in sbom
    assert "wa_winfix/__init__.py,sha256=" in record and names["bar.dll"] in record


def test_output_is_deterministic_and_a_second_repair_adds_nothing(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    first = repair(wheel, tmp_path / "a", lib_paths=(str(lib),))
    second = repair(wheel, tmp_path / "b", lib_paths=(str(lib),))
    assert first.path.read_bytes() == second.path.read_bytes()
    again = repair(first.path, tmp_path / "c", lib_paths=(str(lib),))
    assert not plan_of(again).changes_binaries and again.plan.grafts == () and plan_of(again).inits == ()
    with zipfile.ZipFile(again.path) as zf:
        assert zf.read("wa_winfix/__init__.py").decode().count(dllpath.START) == 1
        assert len([n for n in zf.namelist() if n.endswith(".dll")]) == 2
    assert list(tmp_path.joinpath("a").iterdir()) == [first.path]  # no scratch left behind


def test_top_level_extension_gets_the_dlls_beside_it(
    built: dict[str, PeFixtures], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A top-level module has no __init__.py that runs first: the DLLs go into site-packages itself."""
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"], layout="top-level")
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    check_result(result, wheel, {"foo.dll", "bar.dll"}, tmp_path, monkeypatch)
    assert plan_of(result).libs_dir == "."
    theirs = delvewheel(wheel, lib, tmp_path / "theirs")
    assert grafted(result.path, wheel) == grafted(theirs, wheel) == {"foo.dll", "bar.dll"}
    with zipfile.ZipFile(result.path) as zf:  # the package's module finds them through site-packages
        assert "os.pardir))" in zf.read("wa_winfix/__init__.py").decode()


def test_namespace_package_gets_no_init_and_its_module_the_dlls_beside(
    built: dict[str, PeFixtures], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"], layout="namespace")
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    check_result(result, wheel, {"foo.dll", "bar.dll"}, tmp_path, monkeypatch)
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
        init = zf.read("wa_ns/wa_winfix/__init__.py").decode()
    assert "wa_ns/__init__.py" not in names
    assert "os.pardir, os.pardir, 'wa_winfix.libs'" in init  # two folders below site-packages
    new = {g.new_name for g in result.plan.grafts}
    assert {f"wa_ns/{n}" for n in new} <= names and {f"wa_winfix.libs/{n}" for n in new} <= names
    assert any("namespace package wa_ns" in w for w in result.warnings)
    # delvewheel, told it is a namespace package, also copies the DLLs beside wa_ns/ext.pyd
    theirs = delvewheel(wheel, lib, tmp_path / "theirs", "--namespace-pkg", "wa_ns")
    assert grafted(result.path, wheel) == grafted(theirs, wheel)


def test_package_without_init_gets_one(
    built: dict[str, PeFixtures], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86"], layout="no-init")
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    check_result(result, wheel, {"foo.dll", "bar.dll"}, tmp_path, monkeypatch)
    assert [i.member for i in plan_of(result).inits] == ["wa_winfix/__init__.py"]
    assert any("has no __init__.py; one is created" in w for w in result.warnings)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.read("wa_winfix/__init__.py").decode().startswith(dllpath.START)
        assert "wa_winfix/__init__.py,sha256=" in zf.read("wa_winfix-1.0.dist-info/RECORD").decode()


def test_no_mangle_keeps_a_name(built: dict[str, PeFixtures], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),), no_mangle=("BAR*",))
    check_result(result, wheel, {"foo.dll"}, tmp_path, monkeypatch)
    names = {g.found_as: g.new_name for g in plan_of(result).grafts}
    assert names["bar.dll"] == "bar.dll" and names["foo.dll"].startswith("foo-")
    theirs = delvewheel(wheel, lib, tmp_path / "theirs", "--no-mangle", "bar.dll")
    assert grafted(result.path, wheel) == grafted(theirs, wheel)
    with zipfile.ZipFile(theirs) as zf:
        assert "wa_winfix.libs/bar.dll" in zf.namelist()


def test_mangled_name_covers_the_dependencies(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    """foo.dll's hash changes when bar.dll's bytes change (its import names bar's new name)."""
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    one = {g.found_as: g.new_name for g in plan_of(repair(wheel, tmp_path / "a", lib_paths=(str(lib),))).grafts}
    (lib / "bar.dll").write_bytes((lib / "bar.dll").read_bytes() + b"\0" * 16)
    two = {g.found_as: g.new_name for g in plan_of(repair(wheel, tmp_path / "b", lib_paths=(str(lib),))).grafts}
    assert one["bar.dll"] != two["bar.dll"] and one["foo.dll"] != two["foo.dll"]


def test_exclude_leaves_a_dll_and_what_only_it_needs_outside(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),), exclude=("FOO.*",))
    assert result.plan.grafts == () and result.plan.excluded == ("foo.dll",)
    assert any("foo.dll" in w and "excluded" in w for w in result.warnings)
    assert {p.library for p in result.report.errors} == {"foo.dll"} and result.unfixed == ()
    theirs = delvewheel(wheel, lib, tmp_path / "theirs", "--exclude", "foo.dll")
    assert grafted(theirs, wheel) == set()


def test_missing_dll_is_one_line_naming_it(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    (lib / "bar.dll").unlink()
    with pytest.raises(RepairError) as caught:
        repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    message = str(caught.value)
    assert "bar.dll (imported by" in message and str(lib) in message and "\n" not in message
    assert caught.value.option == "lib_paths"
    assert not (tmp_path / "ours").exists() or list((tmp_path / "ours").iterdir()) == []


def test_a_dll_of_another_machine_is_passed_over(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    wrong = tmp_path / "x86"
    wrong.mkdir()
    (wrong / "Foo.DLL").write_bytes(built["x86"].foo.read_bytes())
    (wrong / "bar.dll").write_bytes(b"MZ not a PE file")
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(wrong), str(lib)))
    assert {g.source for g in result.plan.grafts} == {str(lib / "foo.dll"), str(lib / "bar.dll")}
    with pytest.raises(RepairError, match=r"passed over .*Foo\.DLL \(x86, not amd64\)"):
        repair(wheel, tmp_path / "none", lib_paths=(str(wrong),))


def test_system_python_and_shipped_runtime_dlls_are_never_grafted(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    """ext.pyd made to import python312.dll, vcruntime140.dll (CPython ships it), msvcp140.dll
    (it does not) and a system DLL; the lib folder holds a file of each name."""
    fx = built["x86_64"]
    ext = rename_imports(
        fx.ext.read_bytes(),
        {
            "api-ms-win-crt-runtime-l1-1-0.dll": "python312.dll",
            "api-ms-win-crt-stdio-l1-1-0.dll": "vcruntime140.dll",
            "api-ms-win-crt-heap-l1-1-0.dll": "msvcp140.dll",
        },
    ).data
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("foo.dll", "bar.dll"):
        (lib / name).write_bytes(getattr(fx, name[:3]).read_bytes())
    for name in ("python312.dll", "vcruntime140.dll", "msvcp140.dll", "kernel32.dll"):
        (lib / name).write_bytes(fx.bar.read_bytes())
    for python, expected in (
        ("cp312-cp312", {"foo", "bar", "msvcp140"}),
        ("py3-none", {"foo", "bar", "msvcp140", "vcruntime140"}),
    ):
        wheel = make_wheel(
            tmp_path, f"wa_rt-1.0-{python}-win_amd64.whl", {"wa_rt/__init__.py": b"", "wa_rt/ext.pyd": ext}
        )
        result = repair(wheel, tmp_path / python, lib_paths=(str(lib),))
        assert {g.new_name.split("-")[0] for g in result.plan.grafts} == expected
        theirs = delvewheel(wheel, lib, tmp_path / f"theirs-{python}")
        assert grafted(result.path, wheel) == grafted(theirs, wheel)
    (lib / "vcruntime140.dll").unlink()  # not found: left to the interpreter, with a warning
    result = repair(wheel, tmp_path / "no-vcruntime", lib_paths=(str(lib),))
    assert any(w.startswith("vcruntime140.dll (imported by wa_rt/ext.pyd) is left outside") for w in result.warnings)
    # and the runtime rule is configurable: --exclude leaves msvcp140 to the VC++ redistributable
    result = repair(wheel, tmp_path / "no-msvcp", lib_paths=(str(lib),), exclude=("msvcp140*.dll",))
    assert "msvcp140.dll" in result.plan.excluded


def test_authenticode_signature_removed_with_a_warning(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    from .test_pe_edit import with_signature

    fx = built["x86_64"]
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "foo.dll").write_bytes(with_signature(fx.foo.read_bytes()))
    (lib / "bar.dll").write_bytes(fx.bar.read_bytes())
    signed_ext = with_signature(fx.ext.read_bytes())
    wheel = make_wheel(
        tmp_path, "wa_sig-1.0-cp312-cp312-win_amd64.whl", {"wa_sig/__init__.py": b"", "wa_sig/ext.pyd": signed_ext}
    )
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    warned = [w for w in result.warnings if "Authenticode" in w]
    assert len(warned) == 2 and warned[0].startswith("wa_sig/ext.pyd") and "foo-" in warned[1]
    for _name, data in pe_members(result.path):
        assert pefile.PE(data=data).OPTIONAL_HEADER.DATA_DIRECTORY[4].Size == 0


def test_mixed_machines_and_wrong_tags_are_refused(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    members = {"wa_mix/__init__.py": b"", "wa_mix/ext.pyd": built["x86_64"].ext.read_bytes()}
    members["wa_mix/other/ext.pyd"] = built["x86"].ext.read_bytes()
    wheel = make_wheel(tmp_path, "wa_mix-1.0-cp312-cp312-win_amd64.whl", members)
    with pytest.raises(RepairError, match="several machines"):
        repair(wheel, tmp_path / "out")
    wheel, lib = fixture_wheel(tmp_path / "in", built["x86_64"])
    with pytest.raises(RepairError, match="target tag win32 is for x86"):
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),), plat="win32")
    with pytest.raises(OptionError, match="stripping PE files"):
        repair(wheel, tmp_path / "out", lib_paths=(str(lib),), strip="debug")
    assert repair(wheel, tmp_path / "out", lib_paths=(str(lib),), plat="win_amd64").path.name == wheel.name


def test_cli(built: dict[str, PeFixtures], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel, lib = fixture_wheel(tmp_path / "in", built["arm64"])
    assert main(["show", str(wheel)]) == 1
    capsys.readouterr()
    assert main(["repair", str(wheel), "-w", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "foo.dll" in err and "--lib-path" in err and len(err.strip().splitlines()) == 1
    out = tmp_path / "out"
    status = main(
        ["repair", "--lib-path", str(lib), "--no-mangle", "bar.dll", "--plat", "win_arm64", "-w", str(out), str(wheel)]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert f"{out / wheel.name}  (win_arm64; grafted " in captured.out and "bar.dll" in captured.out
    assert main(["show", str(out / wheel.name)]) == 0
    assert main(["repair", "--lib-path", str(lib), "--strip", "all", "-w", str(out), str(wheel)]) == 2


# -- real delvewheel-repaired wheels, repair undone --------------------------------------------------


@pytest.mark.real
@pytest.mark.parametrize("filename", list(REAL))
def test_real_wheel_unrepaired_then_repaired(
    filename: str, all_real_wheels: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = all_real_wheels[filename]
    undone = unrepair(source, tmp_path / "in")
    assert set(undone.names) == REAL[filename]
    assert audit(undone.wheel).errors, "the un-repaired wheel needs repair"
    originals = {n.lower() for n in undone.names}
    assert unresolved_imports(undone.wheel, set(), tmp_path / "before", monkeypatch), "the pefile oracle sees it"
    result = repair(undone.wheel, tmp_path / "ours", lib_paths=(str(undone.lib_dir),))
    check_result(result, undone.wheel, originals, tmp_path, monkeypatch)
    theirs = delvewheel(undone.wheel, undone.lib_dir, tmp_path / "theirs")
    assert result.path.name == theirs.name == source.name
    dist = source.name.split("-")[0]
    where = "" if plan_of(result).libs_dir == "." else f"{dist}.libs/"
    with zipfile.ZipFile(source) as zf:
        assert (where == "") == any("/" not in n and n.endswith(".pyd") for n in zf.namelist())
    assert grafted(result.path, undone.wheel) == grafted(theirs, undone.wheel) == {f"{where}{n}" for n in originals}
    assert grafted(source, undone.wheel) == grafted(result.path, undone.wheel)  # what the project shipped
    # the same imports renamed as in the wheel the project published (names compared without the hash)
    with zipfile.ZipFile(source) as zf:
        published = {n: pefile_names_without_hash(zf.read(n)) for n in zf.namelist() if n.lower().endswith(".pyd")}
    ours = {n: pefile_names_without_hash(d) for n, d in pe_members(result.path) if n.lower().endswith(".pyd")}
    assert ours == published


def pefile_names_without_hash(data: bytes) -> list[str]:
    return [_HASH.sub("", n) for n in pefile_imports(data)[1]]


# -- the loader, under wine -----------------------------------------------------------------------


def windows_path(path: Path) -> str:
    return "Z:" + str(path).replace("/", "\\")


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["package", "top-level", "namespace"])
def test_wine_loads_the_repaired_extensions(
    built: dict[str, PeFixtures], layout: str, tmp_path: Path, wine_prefix: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed as pip would (the wheel unpacked into site-packages), each extension is loaded by
    the CPython-like loader with the folder its package's patch adds (or none, for a module beside
    its DLLs); the unrepaired extension fails the same way (the control)."""
    wine = pe_fixtures.wine()
    if wine is None:
        pytest.skip("wine is not installed (Debian: apt-get install wine64)")
    fx = built["x86_64"]
    assert fx.loader is not None
    wheel, lib = fixture_wheel(tmp_path / "in", fx, layout=layout)
    result = repair(wheel, tmp_path / "ours", lib_paths=(str(lib),))
    site, control = tmp_path / "site", tmp_path / "control"
    for folder, archive in ((site, result.path), (control, wheel)):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(folder)
    added = added_dll_folders(site, monkeypatch)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "loader.exe").write_bytes(fx.loader.read_bytes())

    def load(root: Path, module: str, folder: Path) -> subprocess.CompletedProcess[str]:
        command = [str(tools / "loader.exe"), windows_path(folder), windows_path(root / module)]
        return pe_fixtures.run_wine(wine, command, wine_prefix, tmp_path)

    modules = [n for n, _ in pe_members(wheel) if n.endswith(".pyd")]
    assert len(modules) == 2
    for module in modules:
        parents = [p.as_posix() for p in Path(module).parents][:-1]
        folders = [f for p in parents for f in added.get(p, [])]
        folder = folders[0] if folders else tools  # no patch runs first: only what is beside it counts
        ran = load(site, module, folder)
        assert ran.returncode == 0 and f"ext_value={pe_fixtures.EXT_VALUE}" in ran.stdout, (
            module,
            ran.stdout + ran.stderr,
        )
        failed = load(control, module, tools)
        assert f"ext_value={pe_fixtures.EXT_VALUE}" not in failed.stdout


# -- edge cases of the layout ----------------------------------------------------------------------


def test_pkgutil_namespace_init_is_left_alone(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    """An ``__init__.py`` that declares a pkgutil namespace is shared with other distributions:
    the regular package below it is patched instead."""
    fx = built["x86_64"]
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("foo.dll", "bar.dll"):
        (lib / name).write_bytes(getattr(fx, name[:3]).read_bytes())
    declaration = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    members = {
        "wa_ns/__init__.py": declaration,
        "wa_ns/inner/__init__.py": b"",
        "wa_ns/inner/ext.pyd": fx.ext.read_bytes(),
    }
    wheel = make_wheel(tmp_path, "wa_ns-1.0-cp312-cp312-win_amd64.whl", members)
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    assert [i.member for i in plan_of(result).inits] == ["wa_ns/inner/__init__.py"]
    with zipfile.ZipFile(result.path) as zf:
        assert zf.read("wa_ns/__init__.py") == declaration
        assert "os.pardir, os.pardir, 'wa_ns.libs'" in zf.read("wa_ns/inner/__init__.py").decode()


def test_package_under_data_platlib_and_a_program_in_scripts(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    """A package installed from ``<name>.data/platlib/`` is patched where it is; a program installed
    into Scripts/ cannot reach <dist>.libs/: a warning says so. RECORD.jws goes with a warning."""
    fx = built["x86_64"]
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("foo.dll", "bar.dll"):
        (lib / name).write_bytes(getattr(fx, name[:3]).read_bytes())
    data = "wa_data-1.0.data"
    members = {
        f"{data}/platlib/wa_data/__init__.py": b'"""Doc."""\n',
        f"{data}/platlib/wa_data/ext.pyd": fx.ext.read_bytes(),
        f"{data}/scripts/tool.exe": fx.foo.read_bytes(),  # a PE importing bar.dll, installed outside
    }
    wheel = make_wheel(tmp_path, "wa_data-1.0-cp312-cp312-win_amd64.whl", members)
    signed = tmp_path / "signed" / wheel.name
    signed.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(signed, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("wa_data-1.0.dist-info/RECORD.jws", b"{}")
    result = repair(signed, tmp_path / "out", lib_paths=(str(lib),))
    assert [i.member for i in plan_of(result).inits] == [f"{data}/platlib/wa_data/__init__.py"]
    assert any(w.startswith(f"{data}/scripts/tool.exe imports grafted DLLs") for w in result.warnings)
    assert any("RECORD.jws" in w and "removed" in w for w in result.warnings)
    with zipfile.ZipFile(result.path) as zf:
        assert "wa_data-1.0.dist-info/RECORD.jws" not in zf.namelist()
        assert dllpath.START in zf.read(f"{data}/platlib/wa_data/__init__.py").decode()


@pytest.mark.real
def test_a_wheel_delvewheel_repaired_needs_nothing(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """Its DLLs are in shapely.libs/ and its __init__.py adds that folder: nothing to graft or patch."""
    source = all_real_wheels["shapely-2.2.0-cp312-cp312-win_amd64.whl"]
    result = repair(source, tmp_path / "out")
    plan = plan_of(result)
    assert (plan.grafts, plan.patches, plan.inits, result.warnings) == ((), (), (), ())
    assert result.report.errors == ()


def test_a_module_added_after_a_repair_reuses_the_grafted_dll(built: dict[str, PeFixtures], tmp_path: Path) -> None:
    """The repaired wheel gets a new module importing foo.dll by its own name: repair renames its
    import to the foo-<hash>.dll already in the wheel, and copies nothing twice."""
    fx = built["x86_64"]
    wheel, lib = fixture_wheel(tmp_path / "in", fx)
    first = repair(wheel, tmp_path / "first", lib_paths=(str(lib),))
    with zipfile.ZipFile(first.path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}
    members["wa_winfix/more/__init__.py"] = b""
    members["wa_winfix/more/ext.pyd"] = fx.ext.read_bytes()
    (tmp_path / "grown").mkdir()
    grown = make_wheel(tmp_path / "grown", wheel.name, members)
    second = repair(grown, tmp_path / "second", lib_paths=(str(lib),))
    plan = plan_of(second)
    assert all(g.present for g in plan.grafts) and [p.member for p in plan.patches] == ["wa_winfix/more/ext.pyd"]
    assert plan.inits == ()  # the package's patch is there already
    with zipfile.ZipFile(second.path) as zf:
        names = zf.namelist()
        _, imports = pefile_imports(zf.read("wa_winfix/more/ext.pyd"))
    assert len([n for n in names if n.endswith(".dll")]) == 2
    assert {g.new_name for g in plan.grafts if g.found_as == "foo.dll"} <= set(imports)
    assert audit(second.path).errors == ()


def test_a_wheel_tagged_for_another_machine_is_retagged_only_when_asked(
    built: dict[str, PeFixtures], tmp_path: Path
) -> None:
    fx = built["x86_64"]
    wheel, lib = fixture_wheel(tmp_path / "in", fx)
    mislabelled = wheel.with_name(wheel.name.replace("win_amd64", "win32"))
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(mislabelled, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data.replace(b"win_amd64", b"win32") if info.filename.endswith("/WHEEL") else data)
    with pytest.raises(RepairError, match=r"tagged win32, but its PE files are amd64 \(win_amd64\)"):
        repair(mislabelled, tmp_path / "auto", lib_paths=(str(lib),))
    result = repair(mislabelled, tmp_path / "asked", lib_paths=(str(lib),), plat="win_amd64")
    assert result.path.name == wheel.name and any("from win32 to win_amd64" in n for n in result.notes)
    assert audit(result.path).errors == ()


# -- programs (.exe) inside the package --------------------------------------------------------------

_TOOL_C = (
    "#include <stdio.h>\n__declspec(dllimport) int foo_value(void);\n"
    'int main(void) { printf("foo_value=%d\\n", foo_value()); return 0; }\n'
)


def test_a_program_in_the_package_is_warned_about(
    built: dict[str, PeFixtures], tmp_path: Path, wine_prefix: Path
) -> None:
    """pygraphviz 2.0.4 ships graphviz's programs in pygraphviz/bin/ importing DLLs of pygraphviz.libs/.
    A program runs in a process of its own: the package's os.add_dll_directory never reaches it, so
    it finds the grafted DLLs only beside it or on PATH. Repair says so, and creates no __init__.py
    for a folder that holds only a program (nothing imports it). Under wine the installed program
    fails to start, and runs once the DLLs are beside it (the fact the warning states)."""
    fx = built["x86_64"]
    work = tmp_path / "tool"
    work.mkdir()
    (work / "tool.c").write_text(_TOOL_C)
    pe_fixtures._zig(
        "cc", "-target", pe_fixtures.TARGETS["x86_64"], "-O2", "-s", "-o", "tool.exe", "tool.c",
        str(fx.foo.parent / "foo.dll.lib"), cwd=work,
    )  # fmt: skip
    tool = (work / "tool.exe").read_bytes()
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("foo.dll", "bar.dll"):
        (lib / name).write_bytes(getattr(fx, name[:3]).read_bytes())
    members = {
        "wa_prog/__init__.py": b"",
        "wa_prog/ext.pyd": fx.ext.read_bytes(),
        "wa_prog/bin/tool.exe": tool,
        "wa_tools/tool.exe": tool,  # a folder with only a program: no package to patch
    }
    wheel = make_wheel(tmp_path, "wa_prog-1.0-cp312-cp312-win_amd64.whl", members)
    result = repair(wheel, tmp_path / "out", lib_paths=(str(lib),))
    warned = [w for w in result.warnings if "is a program" in w or "are programs" in w]
    assert len(warned) == 1 and "wa_prog/bin/tool.exe, wa_tools/tool.exe" in warned[0], result.warnings
    assert "PATH" in warned[0] and "wa_prog.libs/" in warned[0]
    assert [i.member for i in plan_of(result).inits] == ["wa_prog/__init__.py"]
    assert not any("has no __init__.py" in w for w in result.warnings)
    # show says the same of the result: the module reaches wa_prog.libs/, the programs do not
    notes = {p.path: p.message for p in result.report.problems if p.code == "dll-outside-search-path"}
    assert set(notes) == {"wa_prog/bin/tool.exe", "wa_tools/tool.exe"}, result.report.problems
    assert all("a folder a program does not search" in m and "PATH" in m for m in notes.values())
    wine = pe_fixtures.wine()
    if wine is None:
        return
    site = tmp_path / "site"
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(site)
    program = site / "wa_prog" / "bin" / "tool.exe"
    alone = pe_fixtures.run_wine(wine, [str(program)], wine_prefix, tmp_path)
    assert alone.returncode != 0 and "foo_value" not in alone.stdout
    for dll in (site / "wa_prog.libs").iterdir():
        shutil.copy(dll, program.parent / dll.name)
    beside = pe_fixtures.run_wine(wine, [str(program)], wine_prefix, tmp_path)
    assert beside.returncode == 0 and "foo_value=43" in beside.stdout, beside.stdout + beside.stderr
