"""Windows system DLLs: generated from mingw-w64's import libraries, every decision checked.

``policies/windows.json`` ``system_dlls`` is written by ``policies/tools/windows_system_dlls.py``
from the committed snapshot ``policies/tools/mingw-w64-import-dlls.json`` and the rules in
``system_dll_rules``. These tests check that the committed list is what the rules give, that the
real corpus finds every DLL it imports, and how the list differs from delvewheel's install-media
lists: every difference must be a named, documented decision.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import wheelaudit
from wheelaudit.platforms.windows import windows_policy
from wheelaudit.resolve import pe

from .builders import repack_wheel, windows_decision
from .conftest import ROOT, SAMPLES

POLICIES = ROOT / "policies"
ARCHES = ("x86", "amd64", "arm64")
MANIFEST = [w for w in json.loads((SAMPLES / "real-wheels.json").read_text())["wheels"] if w["platform"] == "windows"]
HAS_DELVEWHEEL = importlib.util.find_spec("delvewheel") is not None


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("windows_system_dlls", POLICIES / "tools" / "windows_system_dlls.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("windows_system_dlls", module)
    spec.loader.exec_module(module)
    return module


def policy_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((POLICIES / "windows.json").read_text())
    return doc


def snapshot() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((POLICIES / "tools" / "mingw-w64-import-dlls.json").read_text())
    return doc


def named(groups: list[Mapping[str, Any]], arch: str) -> Iterator[str]:
    for group in groups:
        if arch in group.get("arches", ARCHES):
            yield from group["names"]


def wheel_arch(filename: str) -> str:
    tag = filename[: -len(".whl")].rsplit("-", 1)[1]
    return windows_policy().tags[tag]


def corpus_system_dlls() -> dict[str, set[str]]:
    """arch -> the DLLs delvewheel (recorded in the manifest) assumes present for some real wheel,
    less the API sets, the interpreter's DLLs and the Visual C++ runtime."""
    policy = windows_policy()
    out: dict[str, set[str]] = {arch: set() for arch in ARCHES}
    for entry in MANIFEST:
        for dll in entry.get("delvewheel_system", []):
            lower = dll.lower()
            if not (policy.is_api_set(lower) or policy.is_python(lower) or policy.interpreter_rules(lower)):
                out[wheel_arch(entry["filename"])].add(lower)
    return out


# -- the committed list is the generator's output ------------------------------------------------


def test_committed_list_is_what_the_rules_give() -> None:
    gen = generator()
    text = (POLICIES / "windows.json").read_text()
    assert gen.regenerate(text, snapshot()) == text, "rerun policies/tools/windows_system_dlls.py"
    assert gen.check_rules(snapshot(), policy_doc()["system_dll_rules"]) == []


def test_source_and_date_are_recorded() -> None:
    rules = policy_doc()["system_dll_rules"]
    snap = snapshot()
    assert (
        rules["packages"] == snap["packages"] == {"mingw-w64-i686-dev": "10.0.0-3", "mingw-w64-x86-64-dev": "10.0.0-3"}
    )
    assert rules["extracted"] == snap["extracted"]
    assert "mingw-w64" in rules["source"] and "Windows 10 or 11" in rules["baseline"]
    readme = (POLICIES / "README.md").read_text()
    assert "windows_system_dlls.py" in readme and "mingw-w64 10.0.0" in readme and snap["extracted"] in readme


def test_rules_on_synthetic_source() -> None:
    """The generator drops by pattern and by name, adds, and splits out the common part."""
    gen = generator()
    snap = {"dlls": {"x86": ["a.dll", "old.dll"], "amd64": ["a.dll", "b.dll", "msvcr90.dll", "x.sys"]}}
    rules = {
        "exclude_patterns": [{"pattern": "msvcr\\d+\\.dll|.*\\.sys", "reason": ""}],
        "exclude": [{"reason": "", "names": ["old.dll"]}, {"reason": "", "arches": ["arm64"], "names": ["b.dll"]}],
        "add": [{"reason": "", "names": ["k.dll"]}, {"reason": "", "arches": ["x86"], "names": ["w.dll"]}],
    }
    built = gen.build(snap, rules)
    assert built == {
        "x86": {"a.dll", "b.dll", "k.dll", "w.dll"},  # x86 = its own set + the amd64 set
        "amd64": {"a.dll", "b.dll", "k.dll"},
        "arm64": {"a.dll", "k.dll"},  # arm64 = the amd64 set
    }
    assert gen.split_common(built) == {
        "common": ["a.dll", "k.dll"],
        "x86": ["b.dll", "w.dll"],
        "amd64": ["b.dll"],
        "arm64": [],
    }
    stale = {
        "exclude_patterns": [],
        "exclude": [{"reason": "", "names": ["gone.dll"]}],
        "add": [{"reason": "", "names": ["a.dll"]}],
    }
    assert gen.check_rules(snap, stale) == [
        "excluded gone.dll is not in the source any more",
        "added a.dll is in the source now",
    ]


def test_extractor_reads_both_import_object_forms() -> None:
    """GNU dlltool's long form (the DLL name in the tail object's ``.idata$7``) and the short form."""
    import struct

    gen = generator()
    name = b"SHFOLDER.dll\x00\x00"
    section = b".idata$7" + struct.pack("<IIIIIIHHI", 0, 0, len(name), 20 + 40, 0, 0, 0, 0, 0)
    long_form = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 0, 0) + section + name
    short_form = struct.pack("<HHHHIIHH", 0, 0xFFFF, 0, 0x14C, 0, 0, 0, 0) + b"SHGetFolderPathW\x00SHFOLDER.dll\x00"
    assert gen.imported_dll(long_form, 0x8664) == "SHFOLDER.dll"
    assert gen.imported_dll(long_form, 0x14C) is None
    assert gen.imported_dll(short_form, 0x14C) == "SHFOLDER.dll"
    assert gen.imported_dll(struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0, 0), 0x8664) is None

    def member(filename: bytes, data: bytes) -> bytes:
        header = filename.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"644".ljust(8)
        return header + str(len(data)).encode().ljust(10) + b"`\n" + data + b"\n" * (len(data) & 1)

    archive = b"!<arch>\n" + member(b"/", b"\x00" * 4) + member(b"t.o/", long_form) + member(b"s.o/", short_form)
    assert [n for n, _ in gen.ar_members(archive)] == ["/", "t.o/", "s.o/"]


@pytest.mark.skipif(
    not Path("/usr/x86_64-w64-mingw32/lib/libshfolder.a").exists() or not Path("/usr/i686-w64-mingw32/lib").is_dir(),
    reason="mingw-w64-i686-dev and mingw-w64-x86-64-dev are not installed",
)
def test_snapshot_matches_the_installed_import_libraries() -> None:
    """Where the source packages are installed, reading them again gives the committed snapshot."""
    fresh = generator().extract()
    assert fresh["packages"] == snapshot()["packages"]
    assert fresh["dlls"] == snapshot()["dlls"]
    assert "shfolder.dll" in fresh["dlls"]["x86"] and "shfolder.dll" in fresh["dlls"]["amd64"]


# -- what the real corpus needs ------------------------------------------------------------------


def test_corpus_dlls_and_shfolder_are_system() -> None:
    policy = windows_policy()
    needed = corpus_system_dlls()
    # shfolder.dll: psycopg2-binary 2.9.10 (libpq), a false external-library error with the hand-curated list
    assert needed["amd64"] >= {"bcryptprimitives.dll", "kernel32.dll", "ws2_32.dll", "iphlpapi.dll", "shfolder.dll"}
    for arch in ARCHES:
        missing = sorted(n for n in needed[arch] | {"shfolder.dll"} if not policy.is_system(arch, n))
        assert missing == [], arch
    for excluded in (
        "d3dx9_43.dll",
        "msvcp140.dll",
        "vcruntime140.dll",
        "libwinpthread-1.dll",
        "iisutil.dll",
        "ntoskrnl.exe",
    ):
        assert not any(policy.is_system(arch, excluded) for arch in ARCHES), excluded
    assert not policy.is_system("arm64", "opengl32.dll") and policy.is_system("amd64", "opengl32.dll")


@pytest.mark.real
@pytest.mark.parametrize("filename", [w["filename"] for w in MANIFEST])
def test_no_real_wheel_gets_a_false_external_error(filename: str, all_real_wheels: dict[str, Path]) -> None:
    """Every DLL a real wheel imports that is neither in the wheel nor the interpreter's is a system DLL
    or an API set; none is reported external."""
    report = wheelaudit.audit(all_real_wheels[filename])
    assert [p.message for p in report.problems if p.code == "external-library"] == []
    kinds = {d.kind for d in windows_decision(all_real_wheels[filename]).dependencies}
    assert pe.EXTERNAL not in kinds


@pytest.mark.real
def test_shfolder_import_is_system_and_excluded_names_are_external(
    all_real_wheels: dict[str, Path], tmp_path: Path
) -> None:
    """A real .pyd whose imports are renamed: SHFOLDER.dll is found, DLLs not on Windows 10/11 are not."""
    wheel = repack_wheel(
        all_real_wheels["rpds_py-2026.9.1-cp312-cp312-win_amd64.whl"],
        tmp_path,
        "rpds_py-2026.9.1-cp312-cp312-win_amd64.whl",
        {b"KERNEL32.dll": b"SHFOLDER.dll", b"ntdll.dll": b"cards.dll", b"VCRUNTIME140.dll": b"wdsclientapi.dll"},
    )
    deps = {d.dll: d.kind for d in windows_decision(wheel).dependencies}
    assert deps["SHFOLDER.dll"] == pe.SYSTEM
    report = wheelaudit.audit(wheel)
    assert report.external_libraries == ("cards.dll", "wdsclientapi.dll")
    assert {p.library for p in report.errors if p.code == "external-library"} == {"cards.dll", "wdsclientapi.dll"}


# -- the comparison with delvewheel's lists --------------------------------------------------------


@pytest.mark.skipif(not HAS_DELVEWHEEL, reason="delvewheel is not installed")
@pytest.mark.parametrize("arch", ARCHES)
def test_differences_with_delvewheel_are_named_decisions(arch: str) -> None:
    _dll_list: Any = importlib.import_module("delvewheel._dll_list")

    theirs: set[str] = {
        "x86": _dll_list.ignore_names_x86,
        "amd64": _dll_list.ignore_names_x64,
        "arm64": _dll_list.ignore_names_arm64,
    }[arch]

    def delvewheel_ignores(name: str) -> bool:
        return name in theirs or any(r.fullmatch(name) for r in _dll_list.ignore_regexes)

    rules = policy_doc()["system_dll_rules"]
    ours = windows_policy().system_dlls[arch]
    source = generator().source_names(snapshot(), arch)

    # ours -> delvewheel: every name delvewheel lacks is in beyond_delvewheel, and that list is current
    only_ours = {n for n in ours if not delvewheel_ignores(n)}
    documented = set(named(rules["beyond_delvewheel"], arch))
    print(f"{arch}: ours {len(ours)}, delvewheel {len(theirs)}; ours only ({len(only_ours)}): {sorted(only_ours)}")
    assert only_ours == documented
    # every addition the source lacks is on delvewheel's list for the arch
    assert {n for n in named(rules["add"], arch) if not delvewheel_ignores(n)} == set()

    # delvewheel -> ours, for the subset the source can link: every name we drop is named in `exclude`
    dropped = {n for n in theirs & source if n not in ours}
    print(f"{arch}: delvewheel lists, the source has, we drop: {sorted(dropped)}")
    assert dropped == {n for n in named(rules["exclude"], arch) if n in theirs and n in source}
    # the rest of delvewheel's list has no import library: no linker names them, so neither do we
    unlinkable = theirs - source - ours
    print(f"{arch}: delvewheel only, no mingw-w64 import library: {len(unlinkable)}, e.g. {sorted(unlinkable)[:8]}")
    assert not unlinkable & corpus_system_dlls()[arch]
