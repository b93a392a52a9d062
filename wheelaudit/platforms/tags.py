"""Platform tags: parsing and naming (PEP 425, PEP 600, PEP 656, PEP 730, PEP 738).

``packaging.tags`` generates the tags an interpreter accepts; this module goes the
other way, from a tag in a wheel's name to what it promises (libc family and
version, architecture, OS version), and names the tags a verdict allows.
"""

from __future__ import annotations

import re

from ..record import record

#: PEP 600's legacy names for the first three manylinux levels, to read a wheel's own tags. The tags a
#: level allows take their aliases from its policy file (:meth:`.linux.Policy.tags`), not from here.
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}

#: name-version(-build)?-python-abi-platform.whl (the binary distribution format, PEP 427/491).
_WHEEL_FILENAME = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-(?P<version>[^-]+)"
    r"(?:-(?P<build>\d[^-]*))?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)
_VERSIONED = re.compile(r"^(manylinux|musllinux|macosx)_(\d+)_(\d+)_(.+)$")
_LEGACY = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$")
_IOS = re.compile(r"^ios_(\d+)_(\d+)_([a-z0-9_]+?)_(iphoneos|iphonesimulator)$")
_ANDROID = re.compile(r"^android_(\d+)_(.+)$")
_PLAIN_RELEASE = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")  # its own PEP 440 normal form


class InvalidWheelFilename(ValueError):
    """A file name that is not ``name-version(-build)?-python-abi-platform.whl``."""


@record(frozen=True)
class WheelFilename:
    """What a wheel's file name says. Parsed here rather than with ``packaging.utils``,
    whose import (it pulls in ``packaging.tags``, ``platform``, ``subprocess``) costs
    more than auditing a small wheel."""

    name: str  # canonical (PEP 503): lower case, runs of -_. as one '-'
    version: str  # normalized (PEP 440)
    build: str
    tags: tuple[str, ...]  # python-abi-platform, expanded from compressed tag sets, in file-name order


def parse_wheel_filename(filename: str) -> WheelFilename:
    m = _WHEEL_FILENAME.match(filename)
    if not m:
        raise InvalidWheelFilename(f"{filename!r} is not name-version(-build)-python-abi-platform.whl")
    version = normalized_version(m.group("version"))
    if version is None:
        raise InvalidWheelFilename(f"{filename!r} has an invalid version {m.group('version')!r}")
    tags = expand_tag_set(m.group("py"), m.group("abi"), m.group("plat"))
    return WheelFilename(canonical_name(m.group("name")), version, m.group("build") or "", tags)


def normalized_version(text: str) -> str | None:
    """PEP 440's normal form of ``text``, None when it is no valid version.

    A plain release (``1.2.3``, no leading zeros) is its own normal form, and most wheels have
    one: ``packaging.version`` (2 ms to import) is only loaded for the others.
    """
    if _PLAIN_RELEASE.fullmatch(text):
        return text
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(text))
    except InvalidVersion:
        return None


def expand_tag_set(pythons: str, abis: str, platforms: str) -> tuple[str, ...]:
    """A compressed tag set (``cp38-abi3-a.b``) as its tags (``cp38-abi3-a``, ``cp38-abi3-b``), in order."""
    tags = (
        f"{py}-{abi}-{plat}" for py in pythons.split(".") for abi in abis.split(".") for plat in platforms.split(".")
    )
    return tuple(dict.fromkeys(tags))


def canonical_name(name: str) -> str:
    """PEP 503 normalization of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@record(frozen=True)
class PlatformTag:
    """What one platform tag says about where a wheel runs."""

    tag: str
    family: str  # manylinux, musllinux, linux, macosx, win, ios, android, any, unknown
    arch: str  # as spelled in the tag ("x86_64", "universal2", "amd64", "arm64_v8a" ...)
    version: tuple[int, int] | None = None  # glibc / musl / macOS / iOS version; (api, 0) for Android
    legacy: bool = False  # manylinux1/2010/2014 spelling

    @property
    def libc(self) -> str | None:
        return {"manylinux": "glibc", "musllinux": "musl"}.get(self.family)

    @property
    def canonical(self) -> str:
        """The PEP 600 spelling of a legacy manylinux tag; other tags unchanged."""
        if self.legacy and self.version:
            return f"manylinux_{self.version[0]}_{self.version[1]}_{self.arch}"
        return self.tag


def parse_platform_tag(tag: str) -> PlatformTag:
    if tag == "any":
        return PlatformTag(tag, "any", "any")
    m = _LEGACY.match(tag)
    if m:
        return PlatformTag(tag, "manylinux", m.group(2), LEGACY_MANYLINUX[m.group(1)], legacy=True)
    m = _VERSIONED.match(tag)
    if m:
        return PlatformTag(tag, m.group(1), m.group(4), (int(m.group(2)), int(m.group(3))))
    if tag.startswith("linux_"):
        return PlatformTag(tag, "linux", tag[len("linux_") :])
    if tag == "win32" or tag.startswith("win_"):
        from .windows import windows_tag_arch  # here: only Windows tags need windows.json

        windows_arch = windows_tag_arch(tag)  # the tags and their machines are policies/windows.json's
        if windows_arch is not None:
            return PlatformTag(tag, "win", windows_arch)
    m = _IOS.match(tag)
    if m:
        return PlatformTag(tag, "ios", f"{m.group(3)}_{m.group(4)}", (int(m.group(1)), int(m.group(2))))
    m = _ANDROID.match(tag)
    if m:
        return PlatformTag(tag, "android", m.group(2), (int(m.group(1)), 0))
    return PlatformTag(tag, "unknown", "")
