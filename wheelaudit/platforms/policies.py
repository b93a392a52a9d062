"""Loading the non-Linux platform facts in ``policies/{windows,macos,android}.json``.

Like :mod:`.linux` for manylinux, the files are the single source of truth: which DLLs
Windows and the interpreter provide, which macOS versions and architectures tags can
name, which libraries Android apps get from the system. The code only interprets them.
Each file is read once per process (they never change while it runs).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PolicyError
from .linux import default_policy_dir, read_policy_json

Version = tuple[int, int]


def parse_version(text: str) -> Version:
    """``"10.13"`` -> (10, 13); ``"11"`` -> (11, 0); a patch component is ignored."""
    parts = text.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1] else 0


def format_version(version: Version) -> str:
    """(10, 13) -> ``"10.13"``: the inverse of :func:`parse_version`."""
    return f"{version[0]}.{version[1]}"


# -- Windows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterpreterDll:
    """A DLL the interpreter ships and loads before any extension module."""

    dll: str  # lower case
    implementation: str  # "cp" / "pp" (wheel interpreter-tag prefixes)
    since: Mapping[str, Version]  # arch -> first Python version that ships it on that arch
    debug: bool = False  # only in debug builds (ABI tag ending in "d")


@dataclass(frozen=True)
class WindowsPolicy:
    """policies/windows.json: tags, API sets, system and Python DLLs."""

    tags: Mapping[str, str]  # win_amd64 -> amd64
    api_set_prefixes: tuple[str, ...]
    system_dlls: Mapping[str, frozenset[str]]  # arch -> lower-case names ("common" folded in)
    python_dlls: tuple[re.Pattern[str], ...]
    interpreter_dlls: tuple[InterpreterDll, ...]
    vc_redist: re.Pattern[str]
    ignored_dependencies: Mapping[str, frozenset[str]]
    library_dir_suffix: str
    source: str

    def tag_for(self, arch: str) -> str | None:
        for tag, tag_arch in self.tags.items():
            if tag_arch == arch:
                return tag
        return None

    def is_api_set(self, dll: str) -> bool:
        return dll.lower().startswith(self.api_set_prefixes)

    def is_system(self, arch: str, dll: str) -> bool:
        return dll.lower() in self.system_dlls.get(arch, frozenset())

    def is_python(self, dll: str) -> bool:
        lower = dll.lower()
        return any(p.match(lower) for p in self.python_dlls)

    def interpreter_rules(self, dll: str) -> tuple[InterpreterDll, ...]:
        lower = dll.lower()
        return tuple(r for r in self.interpreter_dlls if r.dll == lower)


def _fail(source: str, where: str, why: str) -> PolicyError:
    return PolicyError(f"policy file {source}: {where}: {why}")


def _str_list(doc: Mapping[str, Any], key: str, source: str) -> list[str]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, key, "expected a list of strings")
    return list(value)


def _object(doc: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise _fail(source, key, "expected an object")
    return value


def _load_json(name: str) -> tuple[dict[str, Any], str]:
    path = default_policy_dir() / name
    return read_json(path), str(path)


def read_json(path: Path) -> dict[str, Any]:
    document = read_policy_json(path)
    if not isinstance(document, dict) or document.get("format") != 1:
        raise PolicyError(f'policy file {path}: expected an object with "format": 1')
    return document


def parse_windows(doc: dict[str, Any], source: str) -> WindowsPolicy:
    tags = _object(doc, "tags", source)
    if not tags or not all(isinstance(v, str) for v in tags.values()):
        raise _fail(source, "tags", "expected tag -> arch")
    systems = _object(doc, "system_dlls", source)
    common = frozenset(n.lower() for n in _str_list(systems, "common", source))
    system_dlls = {arch: common | {n.lower() for n in _str_list(systems, arch, source)} for arch in tags.values()}
    rules = []
    for i, raw in enumerate(doc.get("interpreter_dlls", [])):
        if not isinstance(raw, dict) or not isinstance(raw.get("dll"), str) or not isinstance(raw.get("since"), dict):
            raise _fail(source, f"interpreter_dlls[{i}]", "expected {dll, implementation, since}")
        rules.append(
            InterpreterDll(
                dll=raw["dll"].lower(),
                implementation=str(raw.get("implementation", "cp")),
                since={arch: parse_version(str(v)) for arch, v in raw["since"].items()},
                debug=bool(raw.get("debug", False)),
            )
        )
    ignored = _object(doc, "ignored_dependencies", source)
    try:
        python_dlls = tuple(re.compile(p) for p in _str_list(doc, "python_dlls", source))
        vc_redist = re.compile(str(doc.get("vc_redist", "(?!)")))
    except re.error as exc:
        raise _fail(source, "regular expression", str(exc)) from None
    return WindowsPolicy(
        tags=dict(tags),
        api_set_prefixes=tuple(p.lower() for p in _str_list(doc, "api_set_prefixes", source)),
        system_dlls=system_dlls,
        python_dlls=python_dlls,
        interpreter_dlls=tuple(rules),
        vc_redist=vc_redist,
        ignored_dependencies={k.lower(): frozenset(v.lower() for v in vs) for k, vs in ignored.items()},
        library_dir_suffix=str(doc.get("library_dir_suffix", ".libs")),
        source=source,
    )


@functools.cache
def windows_policy() -> WindowsPolicy:
    return parse_windows(*_load_json("windows.json"))


# -- Apple -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MacPolicy:
    """policies/macos.json: platforms, architectures and the oldest version per arch."""

    os_platforms: frozenset[str]  # LC_BUILD_VERSION platforms a macOS wheel may hold
    major_only_from: int  # from this major on, installers match only X_0 tags
    arch_floor: Mapping[str, Version]  # oldest macOS any installer generates a tag for, per arch
    multi_arch: Mapping[str, frozenset[str]]  # universal2 -> {x86_64, arm64}
    arch_aliases: Mapping[str, str]  # slice arch -> tag arch (x86_64h -> x86_64)
    system_prefixes: tuple[str, ...]

    def tag_arch(self, slice_arch: str) -> str:
        return self.arch_aliases.get(slice_arch, slice_arch)

    def expand(self, tag_arch: str) -> frozenset[str]:
        """The slice architectures a tag's arch names (universal2 -> x86_64 and arm64)."""
        return self.multi_arch.get(tag_arch, frozenset({tag_arch}))

    def floor(self, arch: str) -> Version:
        return self.arch_floor.get(arch, (0, 0))

    def tag_version(self, version: Version) -> Version:
        """What a tag may say: from ``major_only_from`` on only X_0 matches."""
        return (version[0], 0) if version[0] >= self.major_only_from else version

    def is_system(self, install_name: str) -> bool:
        return install_name.startswith(self.system_prefixes)


@dataclass(frozen=True)
class IosPolicy:
    """The "ios" section of policies/macos.json: SDKs, their architectures, system library prefixes."""

    sdks: Mapping[str, str]  # iphoneos -> ios (LC_BUILD_VERSION platform)
    arches: Mapping[str, frozenset[str]]  # sdk -> arches
    system_prefixes: tuple[str, ...]

    def is_system(self, install_name: str) -> bool:
        return install_name.startswith(self.system_prefixes)


def parse_macos(doc: dict[str, Any], source: str) -> tuple[MacPolicy, IosPolicy]:
    mac = _object(doc, "macos", source)
    ios = _object(doc, "ios", source)
    try:
        macos = MacPolicy(
            os_platforms=frozenset(_str_list(mac, "os_platforms", source)),
            major_only_from=int(mac["major_only_from"]),
            arch_floor={a: parse_version(str(v)) for a, v in _object(mac, "arch_floor", source).items()},
            multi_arch={k: frozenset(v) for k, v in _object(mac, "multi_arch", source).items()},
            arch_aliases={k: str(v) for k, v in _object(mac, "arch_aliases", source).items()},
            system_prefixes=tuple(_str_list(mac, "system_prefixes", source)),
        )
        iphone = IosPolicy(
            sdks={k: str(v) for k, v in _object(ios, "sdks", source).items()},
            arches={k: frozenset(v) for k, v in _object(ios, "arches", source).items()},
            system_prefixes=tuple(_str_list(ios, "system_prefixes", source)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(source, "macos/ios", f"bad or missing field ({exc})") from None
    return macos, iphone


@functools.cache
def apple_policies() -> tuple[MacPolicy, IosPolicy]:
    return parse_macos(*_load_json("macos.json"))


# -- Android -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AndroidPolicy:
    """policies/android.json: ABIs and the libraries each API level guarantees."""

    abis: Mapping[str, str]  # arm64_v8a -> aarch64 (ELF arch spelling)
    libraries: tuple[tuple[int, frozenset[str]], ...]  # (since API level, names)
    libpython: re.Pattern[str]

    def allowed(self, api_level: int) -> frozenset[str]:
        out: set[str] = set()
        for since, names in self.libraries:
            if since <= api_level:
                out |= names
        return frozenset(out)


def parse_android(doc: dict[str, Any], source: str) -> AndroidPolicy:
    try:
        libraries = tuple(
            (int(entry["since_api"]), frozenset(str(n) for n in entry["names"])) for entry in doc["libraries"]
        )
        return AndroidPolicy(
            abis={k: str(v) for k, v in _object(doc, "abis", source).items()},
            libraries=libraries,
            libpython=re.compile(str(doc["libpython"])),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise _fail(source, "android", f"bad or missing field ({exc})") from None


@functools.cache
def android_policy() -> AndroidPolicy:
    return parse_android(*_load_json("android.json"))
