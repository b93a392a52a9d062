"""The Apple facts of ``policies/macos.json``: macOS versions and architectures tags can name,
iOS SDKs, and the system library prefixes of both.

The file is the single source of truth; the code only interprets it. The bundled file is
read once per process; ``--policy-file`` may replace it (see :mod:`.policyset`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..record import record
from .loader import Version, fail, load_bundled, parse_version, str_list, str_object

if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
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


@record(frozen=True)
class IosPolicy:
    """The "ios" section of policies/macos.json: SDKs, their architectures, system library prefixes."""

    sdks: Mapping[str, str]  # iphoneos -> ios (LC_BUILD_VERSION platform)
    arches: Mapping[str, frozenset[str]]  # sdk -> arches
    system_prefixes: tuple[str, ...]

    def is_system(self, install_name: str) -> bool:
        return install_name.startswith(self.system_prefixes)


def parse_macos(doc: dict[str, Any], source: str) -> tuple[MacPolicy, IosPolicy]:
    mac = str_object(doc, "macos", source)
    ios = str_object(doc, "ios", source)
    try:
        macos = MacPolicy(
            os_platforms=frozenset(str_list(mac, "os_platforms", source)),
            major_only_from=int(mac["major_only_from"]),
            arch_floor={a: parse_version(str(v)) for a, v in str_object(mac, "arch_floor", source).items()},
            multi_arch={k: frozenset(v) for k, v in str_object(mac, "multi_arch", source).items()},
            arch_aliases={k: str(v) for k, v in str_object(mac, "arch_aliases", source).items()},
            system_prefixes=tuple(str_list(mac, "system_prefixes", source)),
        )
        iphone = IosPolicy(
            sdks={k: str(v) for k, v in str_object(ios, "sdks", source).items()},
            arches={k: frozenset(v) for k, v in str_object(ios, "arches", source).items()},
            system_prefixes=tuple(str_list(ios, "system_prefixes", source)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(source, "macos/ios", f"bad or missing field ({exc})") from None
    return macos, iphone


@functools.cache
def apple_policies() -> tuple[MacPolicy, IosPolicy]:
    return parse_macos(*load_bundled("macos.json"))
