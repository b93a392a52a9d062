"""File-name and WHEEL/METADATA parsing, checked against packaging (the reference implementation)."""

from __future__ import annotations

import packaging.utils
import pytest

from wheelaudit.platforms.tags import InvalidWheelFilename, parse_wheel_filename
from wheelaudit.wheel.metadata import parse_headers

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
