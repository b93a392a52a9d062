"""The policy files: schema, monotonicity, and user policy files (policies/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import wheelaudit
from wheelaudit.errors import PolicyError
from wheelaudit.platforms.linux import parse_policy_document
from wheelaudit.platforms.policyset import load_policies
from wheelaudit.platforms.tags import parse_platform_tag

from .conftest import ROOT, sample_wheel

POLICY_DIR = ROOT / "policies"
FILES = ["manylinux.json", "musllinux.json"]


def _doc(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((POLICY_DIR / name).read_text())


@pytest.mark.parametrize("name", FILES)
def test_policy_file_matches_schema(name: str) -> None:
    schema = json.loads((POLICY_DIR / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(_doc(name))


@pytest.mark.parametrize("name", FILES)
def test_schema_rejects_a_broken_level(name: str) -> None:
    schema = json.loads((POLICY_DIR / "schema.json").read_text())
    doc = _doc(name)
    doc["policies"][0]["allowed_libraries"] = "libc.so.6"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


@pytest.mark.parametrize("name", FILES)
def test_levels_are_monotonic(name: str) -> None:
    """Each level allows everything the previous (more compatible) level allows."""
    levels = _doc(name)["policies"]
    versions = [tuple(int(x) for x in lvl["name"].split("_")[1:]) for lvl in levels]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    for older, newer in zip(levels, levels[1:]):
        pair = f"{older['name']} -> {newer['name']}"
        assert set(older["allowed_libraries"]) <= set(newer["allowed_libraries"]), pair
        for lib, symbols in newer["blacklist"].items():
            assert set(symbols) <= set(older["blacklist"].get(lib, symbols)), pair
        for arch in set(older["architectures"]) & set(newer["architectures"]):
            old, new = older["architectures"][arch], newer["architectures"][arch]
            assert set(old["allowed_libraries"]) <= set(new["allowed_libraries"]), (pair, arch)
            assert set(old["symbol_versions"]) == set(new["symbol_versions"]), (pair, arch)
            for prefix, allowed in old["symbol_versions"].items():
                assert set(allowed) <= set(new["symbol_versions"][prefix]), (pair, arch, prefix)


def test_levels_cover_the_known_range() -> None:
    policies = load_policies()
    many = [p.name for p in policies.levels("manylinux")]
    assert many[0] == "manylinux_2_5" and "manylinux_2_39" in many and "manylinux_2_41" in many
    assert [p.name for p in policies.levels("musllinux")] == ["musllinux_1_1", "musllinux_1_2"]
    assert policies.find("manylinux2014") is policies.find("manylinux_2_17")
    assert policies.find("manylinux1").version == (2, 5)  # type: ignore[union-attr]
    m2014 = policies.find("manylinux2014")
    assert m2014 is not None
    assert {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x"} <= set(m2014.architectures)
    assert "riscv64" in policies.find("manylinux_2_39").architectures  # type: ignore[union-attr]
    assert "loongarch64" in policies.find("musllinux_1_2").architectures  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tag", "family", "version", "arch"),
    [
        ("manylinux1_x86_64", "manylinux", (2, 5), "x86_64"),
        ("manylinux2010_i686", "manylinux", (2, 12), "i686"),
        ("manylinux2014_aarch64", "manylinux", (2, 17), "aarch64"),
        ("manylinux_2_28_ppc64le", "manylinux", (2, 28), "ppc64le"),
        ("musllinux_1_2_armv7l", "musllinux", (1, 2), "armv7l"),
        ("linux_riscv64", "linux", None, "riscv64"),
        ("macosx_11_0_arm64", "macosx", (11, 0), "arm64"),
        ("win_amd64", "win", None, "amd64"),
        ("ios_13_0_arm64_iphoneos", "ios", (13, 0), "arm64_iphoneos"),
        ("android_24_arm64_v8a", "android", (24, 0), "arm64_v8a"),
        ("any", "any", None, "any"),
    ],
)
def test_parse_platform_tag(tag: str, family: str, version: tuple[int, int] | None, arch: str) -> None:
    parsed = parse_platform_tag(tag)
    assert (parsed.family, parsed.version, parsed.arch) == (family, version, arch)


def test_user_policy_file_adds_a_library(tmp_path: Path) -> None:
    """A site that guarantees libsqlite3 can say so; the syslib sample then fits manylinux_2_34."""
    doc = _doc("manylinux.json")
    level = next(p for p in doc["policies"] if p["name"] == "manylinux_2_34")
    level["allowed_libraries"] = sorted([*level["allowed_libraries"], "libsqlite3.so.0"])
    doc["policies"] = [level]
    custom = tmp_path / "site.json"
    custom.write_text(json.dumps(doc))
    wheel = sample_wheel("wa_sample_syslib-")
    assert wheelaudit.audit(wheel).platform_tag == "linux_x86_64"
    assert wheelaudit.audit(wheel, policy_files=[custom]).platform_tag == "manylinux_2_34_x86_64"


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "expected an object"),
        ({"format": 2, "policies": []}, "unsupported format"),
        ({"format": 1, "policies": [{"name": "linux"}]}, "not a manylinux_X_Y"),
        ({"format": 1, "policies": [{"name": "manylinux_2_99", "architectures": {}}]}, "non-empty"),
        (
            {
                "format": 1,
                "policies": [
                    {"name": "manylinux_2_99", "architectures": {"x86_64": {"symbol_versions": {"GLIBC": "2.99"}}}}
                ],
            },
            "symbol_versions",
        ),
    ],
)
def test_bad_policy_documents_are_refused_clearly(document: object, fragment: str) -> None:
    with pytest.raises(PolicyError, match=fragment):
        parse_policy_document(document, "site.json")


def test_bad_policy_file_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "wheelaudit", "show", "--policy-file", str(bad), str(sample_wheel("wa_sample_abi3-"))],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not valid JSON" in proc.stderr


def _write(tmp_path: Path, name: str, doc: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_an_alias_in_a_user_policy_file_is_honoured(tmp_path: Path) -> None:
    """The tags a level allows come from the aliases of its policy file: added, and taken away."""
    doc = _doc("manylinux.json")
    site = next(p for p in doc["policies"] if p["name"] == "manylinux_2_34")
    site["allowed_libraries"] = sorted([*site["allowed_libraries"], "libsqlite3.so.0"])
    site["aliases"] = ["sitelinux2034"]
    legacy = next(p for p in doc["policies"] if p["name"] == "manylinux_2_17")
    legacy["aliases"] = []  # this site does not spell manylinux2014
    doc["policies"] = [legacy, site]
    custom = _write(tmp_path, "site.json", doc)

    policies = load_policies([custom])
    assert policies.find("sitelinux2034") is policies.find("manylinux_2_34")
    assert policies.find("manylinux2014") is None
    report = wheelaudit.audit(sample_wheel("wa_sample_syslib-"), policy_files=[custom])
    assert report.platform_tag == "manylinux_2_34_x86_64"
    assert "sitelinux2034_x86_64" in report.tags
    verdicts = {v.name: v.tags for v in report.policies}
    assert verdicts["manylinux_2_34"] == ("manylinux_2_34_x86_64", "sitelinux2034_x86_64")
    assert verdicts["manylinux_2_17"] == ("manylinux_2_17_x86_64",)
    bundled = {v.name: v.tags for v in wheelaudit.audit(sample_wheel("wa_sample_syslib-")).policies}
    assert bundled["manylinux_2_17"] == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")


def test_a_windows_policy_file_replaces_the_bundled_one(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    """--policy-file works for every platform: a site whose Windows lacks kernel32.dll (a made-up one)."""
    wheel = all_real_wheels["nh3-0.3.8-cp39-abi3-win32.whl"]
    assert wheelaudit.audit(wheel).external_libraries == ()
    doc = _doc("windows.json")
    doc["system_dlls"]["common"] = [n for n in doc["system_dlls"]["common"] if n.lower() != "kernel32.dll"]
    custom = _write(tmp_path, "site-windows.json", doc)
    report = wheelaudit.audit(wheel, policy_files=[custom])
    assert "kernel32.dll" in report.external_libraries
    assert report.problems[0].code == "external-library"


def test_an_apple_policy_file_replaces_the_bundled_one(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    wheel = all_real_wheels["pydantic_core-2.50.4-cp312-cp312-macosx_11_0_arm64.whl"]
    assert wheelaudit.audit(wheel).external_libraries == ()
    doc = _doc("macos.json")
    doc["macos"]["system_prefixes"] = ["/System/Library/"]  # no /usr/lib
    report = wheelaudit.audit(wheel, policy_files=[_write(tmp_path, "site-macos.json", doc)])
    assert any(name.startswith("/usr/lib/") for name in report.external_libraries)


def test_policies_and_tree_read_the_user_policy_file_too(
    all_real_wheels: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`policies` and `tree` answer from the same policy set as `show`, not from the bundled files."""
    from wheelaudit.cli.main import main

    doc = _doc("windows.json")
    doc["system_dlls"]["common"] = [n for n in doc["system_dlls"]["common"] if n.lower() != "kernel32.dll"]
    custom = str(_write(tmp_path, "site-windows.json", doc))
    wheel = str(all_real_wheels["nh3-0.3.8-cp39-abi3-win32.whl"])
    assert main(["tree", "--json", wheel]) == 0
    bundled = json.loads(capsys.readouterr().out)
    assert main(["tree", "--json", "--policy-file", custom, wheel]) == 0
    site = json.loads(capsys.readouterr().out)

    def kernel32_kinds(tree: dict[str, object]) -> set[str]:
        return {
            need["kind"]
            for binary in tree["binaries"]  # type: ignore[attr-defined]
            for need in binary["needs"]
            if need["name"].lower() == "kernel32.dll"
        }

    assert kernel32_kinds(bundled) == {"system"}
    assert kernel32_kinds(site) == {"external"}
    assert main(["policies", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert main(["policies", "--json", "--policy-file", custom]) == 0
    listed_site = json.loads(capsys.readouterr().out)
    assert listed["windows"] != listed_site["windows"]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"format": 1, "description": "nothing"}, "not a policy file of any platform"),
        ({"format": 1, "family": "win", "tags": {"win_amd64": 3}}, "tags: expected tag -> arch"),
        ({"format": 1, "abis": {"x86_64": "x86_64"}}, "android: bad or missing field"),
        ({"format": 1, "macos": {"os_platforms": "macos"}}, "os_platforms: expected a list of strings"),
    ],
)
def test_a_policy_file_of_any_platform_is_checked_the_same_way(document: object, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=fragment):
        load_policies([_write(tmp_path, "site.json", document)])  # type: ignore[arg-type]


@pytest.mark.parametrize(("tag", "arch"), [("win32", "x86"), ("win_amd64", "amd64"), ("win_arm64", "arm64")])
def test_windows_tags_take_their_machine_from_windows_json(tag: str, arch: str) -> None:
    assert _doc("windows.json")["tags"][tag] == arch
    assert (parse_platform_tag(tag).family, parse_platform_tag(tag).arch) == ("win", arch)
    assert parse_platform_tag("win_sparc").family == "unknown"  # a tag windows.json does not name
