"""File-name and WHEEL/METADATA parsing (against packaging, the reference implementation) and WHEEL retagged."""

from __future__ import annotations

import email.parser

import packaging.utils
import pytest

from wheelaudit.errors import InvalidWheel
from wheelaudit.platforms.tags import InvalidWheelFilename, parse_wheel_filename
from wheelaudit.wheel.metadata import find_dist_info, parse_headers, parse_wheel, rewrite_wheel_tags, wheel_info

from .conftest import SAMPLES, real_manifest

NAMES = (
    [
        "pkg-1.0-py3-none-any.whl",
        "Foo.Bar_baz-2.0.1-1build-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "maturin-1.16.0-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.musllinux_1_1_x86_64.whl",
        "pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl",
        "x-1.0rc1.post2.dev3-py2.py3-none-any.whl",
        "name-1!2.0-cp38-abi3-win_amd64.whl",
    ]
    + [str(w["filename"]) for w in real_manifest()]
    + sorted(p.name for p in SAMPLES.glob("*.whl"))
)


@pytest.mark.parametrize("filename", NAMES)
def test_filename_parsing_matches_packaging(filename: str) -> None:
    ours = parse_wheel_filename(filename)
    name, version, build, tags = packaging.utils.parse_wheel_filename(filename)
    assert ours.name == name
    assert ours.version == str(version)
    assert ours.build == "".join(str(b) for b in build)
    assert set(ours.tags) == {str(t) for t in tags}


@pytest.mark.parametrize(
    "filename",
    [
        "pkg.whl",
        "pkg-1.0.whl",
        "pkg-1.0-py3-none.whl",
        "pkg-not a version-py3-none-any.whl",
        "-1.0-py3-none-any.whl",
        "pkg-1.0-x-py3-none-any.whl",
    ],
)
def test_bad_filenames_are_refused(filename: str) -> None:
    with pytest.raises(InvalidWheelFilename):
        parse_wheel_filename(filename)
    with pytest.raises(packaging.utils.InvalidWheelFilename):
        packaging.utils.parse_wheel_filename(filename)


def test_compressed_tag_sets_keep_file_name_order() -> None:
    parsed = parse_wheel_filename("p-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert parsed.tags == ("cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64")


def test_headers() -> None:
    text = (
        "Wheel-Version: 1.0\n"
        "generator: maturin (1.16.0)\n"
        "Root-Is-Purelib: false\n"
        "Tag: cp38-abi3-manylinux_2_17_x86_64\n"
        "Tag: cp38-abi3-manylinux2014_x86_64\n"
        "Summary: a long\n"
        "  folded line\n"
        "\n"
        "Tag: body text is not a header\n"
    )
    fields = parse_headers(text)
    assert fields["Wheel-Version"] == ["1.0"]
    assert fields["Generator"] == ["maturin (1.16.0)"]  # field names are case-insensitive
    assert fields["Tag"] == ["cp38-abi3-manylinux_2_17_x86_64", "cp38-abi3-manylinux2014_x86_64"]
    assert fields["Summary"] == ["a long folded line"]


@pytest.mark.real
def test_central_directory_matches_zipfile(all_real_wheels: dict[str, object]) -> None:
    """Our directory reader against the standard library's, on every sample and real wheel."""
    import zipfile
    from pathlib import Path

    from wheelaudit.wheel.zipdir import read_central_directory

    wheels = [*SAMPLES.glob("*.whl"), *(Path(str(p)) for p in all_real_wheels.values())]
    assert len(wheels) > 50
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf, open(wheel, "rb") as fh:
            ours = read_central_directory(fh, wheel.stat().st_size, max_entries=1 << 20)
            theirs = zf.infolist()
        assert [
            (e.name, e.size, e.compressed_size, e.header_offset, e.crc, e.method, e.external_attr) for e in ours
        ] == [
            (i.filename, i.file_size, i.compress_size, i.header_offset, i.CRC, i.compress_type, i.external_attr)
            for i in theirs
        ], wheel.name


WHEEL_TEXT = "Wheel-Version: 1.0\nGenerator: maturin (1.16.0)\nRoot-Is-Purelib: {purelib}\n{tags}Build: 1\n\n"


def retagged(filename: str, tags: list[str], plats: list[str], *, purelib: bool = False) -> str | None:
    """``rewrite_wheel_tags`` on a WHEEL with these Tag lines, for a wheel of this file name."""
    text = WHEEL_TEXT.format(purelib=str(purelib).lower(), tags="".join(f"Tag: {t}\n" for t in tags))
    dist_info = "pkg-1.0.dist-info"
    info = wheel_info(parse_wheel_filename(filename), filename, dist_info, parse_wheel(text, filename, dist_info), {})
    return rewrite_wheel_tags(info, plats, lambda: text)


ABI3 = ["cp38-abi3-manylinux_2_17_x86_64", "cp38-abi3-manylinux2014_x86_64"]


@pytest.mark.parametrize(
    ("filename", "tags", "plats", "purelib", "expected_tags", "expected_purelib"),
    [
        (  # a narrower policy: every python-abi pair gets the new platform, in place of the old Tag lines
            "pkg-1.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ABI3,
            ["manylinux_2_28_x86_64"],
            False,
            ["cp38-abi3-manylinux_2_28_x86_64"],
            "false",
        ),
        (  # several pairs and several platforms: pairs in WHEEL's order, platforms in the order given
            "pkg-1.0-py2.py3-none-linux_x86_64.whl",
            ["py2-none-linux_x86_64", "py3-none-linux_x86_64"],
            ["manylinux_2_5_x86_64", "manylinux1_x86_64"],
            False,
            [
                "py2-none-manylinux_2_5_x86_64",
                "py2-none-manylinux1_x86_64",
                "py3-none-manylinux_2_5_x86_64",
                "py3-none-manylinux1_x86_64",
            ],
            "false",
        ),
        (  # no Tag lines in WHEEL: the file name's tags stand in, and the new ones are appended
            "pkg-1.0-cp312-cp312-linux_x86_64.whl",
            [],
            ["manylinux_2_17_x86_64"],
            False,
            ["cp312-cp312-manylinux_2_17_x86_64"],
            "false",
        ),
        (  # a purelib 'any' wheel that holds binaries becomes platlib
            "pkg-1.0-py3-none-any.whl",
            ["py3-none-any"],
            ["manylinux_2_17_x86_64"],
            True,
            ["py3-none-manylinux_2_17_x86_64"],
            "false",
        ),
    ],
    ids=["narrower", "pairs-by-platforms", "no-tag-lines", "purelib-any"],
)
def test_rewrite_wheel_tags(
    filename: str,
    tags: list[str],
    plats: list[str],
    purelib: bool,
    expected_tags: list[str],
    expected_purelib: str,
) -> None:
    text = retagged(filename, tags, plats, purelib=purelib)
    assert text is not None and text.endswith("\n\n")
    message = email.parser.Parser().parsestr(text)  # the stdlib's RFC 822 reader as the oracle
    assert message.get_all("Tag") == expected_tags
    assert message["Root-Is-Purelib"] == expected_purelib
    assert (message["Wheel-Version"], message["Generator"], message["Build"]) == ("1.0", "maturin (1.16.0)", "1")
    assert parse_headers(text)["Tag"] == expected_tags


def test_rewrite_wheel_tags_leaves_wheel_unread_when_nothing_changes() -> None:
    """Same tags in another order: no rewrite, and WHEEL is not even read."""
    filename = "pkg-1.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    dist_info = "pkg-1.0.dist-info"
    text = WHEEL_TEXT.format(purelib="false", tags="".join(f"Tag: {t}\n" for t in ABI3))
    info = wheel_info(parse_wheel_filename(filename), filename, dist_info, parse_wheel(text, filename, dist_info), {})

    def unread() -> str:
        raise AssertionError("WHEEL was read")

    assert rewrite_wheel_tags(info, list(reversed(info.platform_tags)), unread) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Generator: x\n", "x.whl: x-1.dist-info/WHEEL has no Wheel-Version"),
        ("Wheel-Version: 2.0\n", "x.whl: unsupported Wheel-Version 2.0"),
    ],
)
def test_parse_wheel_refuses_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(InvalidWheel, match=message):
        parse_wheel(text, "x.whl", "x-1.dist-info")


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        (["Foo_Bar-1.0.dist-info/WHEEL", "foo_bar/__init__.py"], "Foo_Bar-1.0.dist-info"),  # canonical name matches
        (["foo_bar-1.0.dist-info/WHEEL", "other-2.0.dist-info/WHEEL"], "foo_bar-1.0.dist-info"),  # the matching one
        (["renamed-1.0.dist-info/WHEEL"], "renamed-1.0.dist-info"),  # the only one, whatever its name
        (["a-1.0.dist-info/WHEEL", "b-1.0.dist-info/WHEEL"], None),  # several, none matching
        (["foo_bar/__init__.py", "x.dist-info"], None),  # none (a file named like one does not count)
    ],
)
def test_find_dist_info(members: list[str], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidWheel, match=r"x\.whl has (several|no) \.dist-info"):
            find_dist_info(members, "foo-bar", "x.whl")
    else:
        assert find_dist_info(members, "foo-bar", "x.whl") == expected
