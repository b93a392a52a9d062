"""Platform tags and wheel file names: what a tag says (family, arch, version), and the tags a verdict names.

Tables of cases, as in pypa/packaging's tests: each row is one spelling seen on PyPI or in a PEP
(425, 600, 656, 730, 738), and the invalid rows are near misses that must not be read as a tag.
"""

from __future__ import annotations

import json

import pytest

import wheelaudit
from wheelaudit.cli.main import main
from wheelaudit.platforms.tags import (
    InvalidWheelFilename,
    PlatformTag,
    canonical_name,
    parse_platform_tag,
    parse_wheel_filename,
)

from .conftest import sample_wheel

# tag, family, arch, version, legacy
VALID = [
    # PEP 600's legacy aliases of the first three manylinux levels
    ("manylinux1_x86_64", "manylinux", "x86_64", (2, 5), True),
    ("manylinux1_i686", "manylinux", "i686", (2, 5), True),
    ("manylinux2010_x86_64", "manylinux", "x86_64", (2, 12), True),
    ("manylinux2010_i686", "manylinux", "i686", (2, 12), True),
    ("manylinux2014_x86_64", "manylinux", "x86_64", (2, 17), True),
    ("manylinux2014_aarch64", "manylinux", "aarch64", (2, 17), True),
    ("manylinux2014_armv7l", "manylinux", "armv7l", (2, 17), True),
    ("manylinux2014_ppc64le", "manylinux", "ppc64le", (2, 17), True),
    ("manylinux2014_s390x", "manylinux", "s390x", (2, 17), True),
    # PEP 600: manylinux_{glibc major}_{glibc minor}_{arch}
    ("manylinux_2_5_x86_64", "manylinux", "x86_64", (2, 5), False),
    ("manylinux_2_17_x86_64", "manylinux", "x86_64", (2, 17), False),
    ("manylinux_2_28_aarch64", "manylinux", "aarch64", (2, 28), False),
    ("manylinux_2_34_x86_64", "manylinux", "x86_64", (2, 34), False),
    ("manylinux_2_39_riscv64", "manylinux", "riscv64", (2, 39), False),
    ("manylinux_3_0_x86_64", "manylinux", "x86_64", (3, 0), False),  # a future glibc major parses too
    # PEP 656: musllinux_{musl major}_{musl minor}_{arch}
    ("musllinux_1_1_x86_64", "musllinux", "x86_64", (1, 1), False),
    ("musllinux_1_2_aarch64", "musllinux", "aarch64", (1, 2), False),
    ("musllinux_1_2_armv7l", "musllinux", "armv7l", (1, 2), False),
    ("musllinux_1_2_loongarch64", "musllinux", "loongarch64", (1, 2), False),
    # a plain Linux build, no promise about libc
    ("linux_x86_64", "linux", "x86_64", None, False),
    ("linux_armv7l", "linux", "armv7l", None, False),
    # macOS: 10.x has a meaningful minor; 11+ counts majors (11_0, 14_0)
    ("macosx_10_9_x86_64", "macosx", "x86_64", (10, 9), False),
    ("macosx_10_13_universal2", "macosx", "universal2", (10, 13), False),
    ("macosx_10_6_intel", "macosx", "intel", (10, 6), False),
    ("macosx_10_4_fat3", "macosx", "fat3", (10, 4), False),
    ("macosx_11_0_arm64", "macosx", "arm64", (11, 0), False),
    ("macosx_11_0_universal2", "macosx", "universal2", (11, 0), False),
    ("macosx_14_0_arm64", "macosx", "arm64", (14, 0), False),
    # Windows: the arch is the machine's name, not the tag's
    ("win32", "win", "x86", None, False),
    ("win_amd64", "win", "amd64", None, False),
    ("win_arm64", "win", "arm64", None, False),
    # PEP 730 (iOS): the SDK is part of the arch
    ("ios_13_0_arm64_iphoneos", "ios", "arm64_iphoneos", (13, 0), False),
    ("ios_13_0_arm64_iphonesimulator", "ios", "arm64_iphonesimulator", (13, 0), False),
    ("ios_12_0_x86_64_iphonesimulator", "ios", "x86_64_iphonesimulator", (12, 0), False),
    # PEP 738 (Android): the API level, then the ABI
    ("android_21_arm64_v8a", "android", "arm64_v8a", (21, 0), False),
    ("android_24_x86_64", "android", "x86_64", (24, 0), False),
    ("android_21_armeabi_v7a", "android", "armeabi_v7a", (21, 0), False),
    ("any", "any", "any", None, False),
]

INVALID = [
    "",
    "ANY",
    "linux",
    "manylinux1",  # an alias without an arch
    "manylinux2014",
    "manylinux2015_x86_64",  # not one of the three legacy names
    "manylinux_2_17",  # a level, not a tag
    "manylinux_2_x86_64",  # minor version missing
    "manylinux_x_y_x86_64",
    "musllinux_1_x86_64",
    "macosx_10_x86_64",
    "macosx_10_9_",  # empty arch
    "win_amd32",
    "win",
    "ios_13_arm64_iphoneos",  # minor version missing
    "ios_13_0_arm64_ipados",  # not an SDK
    "android_arm64_v8a",  # API level missing
    "darwin_x86_64",
]


@pytest.mark.parametrize(("tag", "family", "arch", "version", "legacy"), VALID, ids=[row[0] for row in VALID])
def test_valid_tag(tag: str, family: str, arch: str, version: tuple[int, int] | None, legacy: bool) -> None:
    assert parse_platform_tag(tag) == PlatformTag(tag, family, arch, version, legacy)


@pytest.mark.parametrize("tag", INVALID)
def test_invalid_tag_is_unknown(tag: str) -> None:
    parsed = parse_platform_tag(tag)
    assert (parsed.family, parsed.arch, parsed.version, parsed.legacy) == ("unknown", "", None, False)
    assert parsed.libc is None and parsed.canonical == tag


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("manylinux1_x86_64", "manylinux_2_5_x86_64"),
        ("manylinux2010_i686", "manylinux_2_12_i686"),
        ("manylinux2014_aarch64", "manylinux_2_17_aarch64"),
        ("manylinux2014_armv7l", "manylinux_2_17_armv7l"),
        ("manylinux_2_17_x86_64", "manylinux_2_17_x86_64"),  # already PEP 600
        ("musllinux_1_2_x86_64", "musllinux_1_2_x86_64"),
        ("macosx_10_9_universal2", "macosx_10_9_universal2"),
        ("win_amd64", "win_amd64"),
    ],
)
def test_canonical_spelling(tag: str, canonical: str) -> None:
    assert parse_platform_tag(tag).canonical == canonical


@pytest.mark.parametrize(
    ("tag", "libc"),
    [
        ("manylinux1_i686", "glibc"),
        ("manylinux_2_28_aarch64", "glibc"),
        ("musllinux_1_1_x86_64", "musl"),
        ("linux_x86_64", None),
        ("macosx_11_0_arm64", None),
        ("android_21_arm64_v8a", None),
        ("any", None),
    ],
)
def test_libc_family(tag: str, libc: str | None) -> None:
    assert parse_platform_tag(tag).libc == libc


# -- wheel file names -----------------------------------------------------------------------------

FILENAMES = [
    (
        "wa_sample_abi3-0.1.0-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        ("wa-sample-abi3", "0.1.0", "", ("cp38-abi3-manylinux2014_x86_64", "cp38-abi3-manylinux_2_17_x86_64")),
    ),
    ("Foo.Bar__baz-1.0-py2.py3-none-any.whl", ("foo-bar-baz", "1.0", "", ("py2-none-any", "py3-none-any"))),
    ("pkg-1.0-1a-py3-none-any.whl", ("pkg", "1.0", "1a", ("py3-none-any",))),
    ("pkg-1.0.0RC1-py3-none-any.whl", ("pkg", "1.0.0rc1", "", ("py3-none-any",))),
    ("pkg-01.2-py3-none-any.whl", ("pkg", "1.2", "", ("py3-none-any",))),
    ("pkg-1.0-py3.py3-none-any.whl", ("pkg", "1.0", "", ("py3-none-any",))),  # duplicates collapse
    (
        "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
        (
            "uv",
            "0.13.9",
            "",
            ("py3-none-manylinux_2_17_aarch64", "py3-none-manylinux2014_aarch64", "py3-none-musllinux_1_1_aarch64"),
        ),
    ),
    (
        "pkg-2.0-cp312-cp312-win_amd64.whl",
        ("pkg", "2.0", "", ("cp312-cp312-win_amd64",)),
    ),
    ("a-1-py3-none-any.whl", ("a", "1", "", ("py3-none-any",))),
]


@pytest.mark.parametrize(("filename", "expected"), FILENAMES, ids=[row[0] for row in FILENAMES])
def test_wheel_filename(filename: str, expected: tuple[str, str, str, tuple[str, ...]]) -> None:
    parsed = parse_wheel_filename(filename)
    assert (parsed.name, parsed.version, parsed.build, parsed.tags) == expected


@pytest.mark.parametrize(
    ("filename", "why"),
    [
        ("pkg-1.0-py3-none.whl", "is not name-version"),  # a tag missing
        ("pkg-1.0-py3-none-any.zip", "is not name-version"),
        ("pkg-1.0-a1-py3-none-any.whl", "is not name-version"),  # a build tag starts with a digit
        ("-1.0-py3-none-any.whl", "is not name-version"),
        ("pkg_-1.0-py3-none-any.whl", "is not name-version"),  # a name ends with a letter or digit
        ("pkg-1.0-py3-none-any.whl.part", "is not name-version"),
        ("pkg-not.a.version!-py3-none-any.whl", "invalid version 'not.a.version!'"),
        ("pkg-1.0--py3-none-any.whl", "is not name-version"),
    ],
)
def test_invalid_wheel_filename(filename: str, why: str) -> None:
    with pytest.raises(InvalidWheelFilename) as info:
        parse_wheel_filename(filename)
    assert why in str(info.value) and repr(filename) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("Foo_Bar", "foo-bar"), ("a..b", "a-b"), ("A-_.-B", "a-b"), ("wa_sample_abi3", "wa-sample-abi3"), ("x", "x")],
)
def test_canonical_name(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical


# -- naming: the tags a verdict allows ------------------------------------------------------------


def test_a_verdict_names_each_level_followed_by_its_legacy_alias() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_abi3-"))
    assert report.platform_tag == "manylinux_2_17_x86_64"
    assert report.tags[:3] == ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64")
    assert report.tags[-1] == "linux_x86_64", "every manylinux wheel is also a plain Linux wheel, last"
    parsed = [parse_platform_tag(t) for t in report.tags[:-1]]
    assert {(p.family, p.arch) for p in parsed} == {("manylinux", "x86_64")}
    # Best first: the versions never go down, and an alias says exactly what the tag before it says.
    versions = [p.version for p in parsed if p.version]
    assert versions == sorted(versions) and versions[0] == (2, 17)
    for before, tag in zip(parsed, parsed[1:]):
        if tag.legacy:
            assert not before.legacy and before.tag == tag.canonical
    assert not any(p.legacy and p.version == (2, 12) for p in parsed), "manylinux2010 is stricter than the verdict"


def test_a_verdict_below_every_level_names_the_plain_linux_tag() -> None:
    report = wheelaudit.audit(sample_wheel("wa_sample_libpython-"))
    assert (report.platform_tag, report.tags) == ("linux_x86_64", ("linux_x86_64",))


def test_the_listed_aliases_are_the_legacy_spellings_of_their_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "--json"]) == 0
    levels = json.loads(capsys.readouterr().out)["linux"]
    aliases = {level["name"]: level["aliases"] for level in levels if level["aliases"]}
    assert aliases == {
        "manylinux_2_5": ["manylinux1"],
        "manylinux_2_12": ["manylinux2010"],
        "manylinux_2_17": ["manylinux2014"],
    }
    for name, [alias] in aliases.items():
        for arch in ("x86_64", "i686"):
            assert parse_platform_tag(f"{alias}_{arch}").canonical == f"{name}_{arch}"
