"""``wheelaudit policies``: every platform level and tag wheelaudit knows, from the policy files.

A new user's first questions are "which tag should I aim for" and "what does
manylinux2014 mean": the answer is in ``policies/*.json``, shown here as a table (or
JSON) instead of making people read the files. Nothing here is a fact of its own.
"""

from __future__ import annotations

from .._typing import TYPE_CHECKING
from ..platforms.loader import format_version
from ..platforms.policyset import PolicySet
from .colour import PLAIN, Style
from .terminal import format_line

if TYPE_CHECKING:
    from typing import Any

_LIBC = {"manylinux": "glibc", "musllinux": "musl"}


def policy_listing(policies: PolicySet) -> dict[str, Any]:
    """Every level and platform summary as plain data (what ``policies --json`` prints)."""
    linux = [
        {
            "name": policy.name,
            "family": policy.family,
            "libc": _LIBC.get(policy.family, policy.family),
            "libc_version": format_version(policy.version),
            "aliases": list(policy.aliases),
            "architectures": sorted(policy.architectures),
            "tag": f"{policy.name}_<arch>",
            "source": policy.source,
        }
        for family in sorted(policies.families)
        for policy in policies.levels(family)
    ]
    macos, ios = policies.macos, policies.ios
    windows = policies.windows
    android = policies.android
    return {
        "linux": linux,
        "macos": {
            "tag": "macosx_<major>_<minor>_<arch>",
            "oldest_version": {arch: format_version(v) for arch, v in sorted(macos.arch_floor.items())},
            "major_only_from": macos.major_only_from,
            "multi_arch": {name: sorted(arches) for name, arches in sorted(macos.multi_arch.items())},
            "system_prefixes": list(macos.system_prefixes),
        },
        "ios": {
            "tag": "ios_<major>_<minor>_<arch>_<sdk>",
            "sdks": {sdk: sorted(ios.arches.get(sdk, ())) for sdk in sorted(ios.sdks)},
        },
        "windows": {
            "tags": dict(sorted(windows.tags.items())),
            "system_dlls": {arch: len(dlls) for arch, dlls in sorted(windows.system_dlls.items())},
        },
        "android": {
            "tag": "android_<api level>_<abi>",
            "abis": dict(sorted(android.abis.items())),
            "system_libraries_since_api": {str(since): sorted(names) for since, names in android.libraries},
        },
    }


def render(data: dict[str, Any], style: Style = PLAIN) -> str:
    """The listing as a table per family, then one paragraph per other platform."""
    out: list[str] = []

    def add(text: str, role: str | None = None, hang: int = 4) -> None:
        out.append(format_line([(text, role)], style, hang))

    linux: list[dict[str, Any]] = data["linux"]
    for family in dict.fromkeys(level["family"] for level in linux):
        levels = [level for level in linux if level["family"] == family]
        add(f"{family} (tag {family}_X_Y_<arch>; X.Y is the oldest {levels[0]['libc']} it runs on)", "heading")
        width = max(len(level["name"]) for level in levels) + 2
        alias_width = max([len(", ".join(level["aliases"])) for level in levels] + [len("aliases")]) + 2
        add(f"  {'level':<{width}}{'aliases':<{alias_width}}{levels[0]['libc']:<7}architectures")
        for level in levels:
            aliases = ", ".join(level["aliases"]) or "-"
            add(
                f"  {level['name']:<{width}}{aliases:<{alias_width}}{level['libc_version']:<7}"
                + ", ".join(level["architectures"]),
                hang=2 + width + alias_width + 7,
            )
        add("")
    mac = data["macos"]
    add("macOS (tag macosx_<major>_<minor>_<arch>)", "heading")
    add("  oldest version per arch: " + ", ".join(f"{a} {v}" for a, v in mac["oldest_version"].items()))
    add(f"  from macOS {mac['major_only_from']} on, installers match only <major>_0 tags")
    add("  multi-arch tags: " + "; ".join(f"{n} = {' + '.join(a)}" for n, a in mac["multi_arch"].items()))
    add("  system libraries: install names under " + ", ".join(mac["system_prefixes"]))
    add("")
    add("iOS (tag ios_<major>_<minor>_<arch>_<sdk>, PEP 730)", "heading")
    add("  " + "; ".join(f"{sdk}: {', '.join(arches)}" for sdk, arches in data["ios"]["sdks"].items()))
    add("")
    win = data["windows"]
    add("Windows", "heading")
    add("  tags: " + ", ".join(f"{tag} ({arch})" for tag, arch in win["tags"].items()))
    add("  system DLLs known: " + ", ".join(f"{arch} {n}" for arch, n in win["system_dlls"].items()))
    add("")
    android = data["android"]
    add("Android (tag android_<api level>_<abi>, PEP 738)", "heading")
    add("  ABIs: " + ", ".join(f"{abi} ({arch})" for abi, arch in android["abis"].items()))
    add(
        "  system libraries by API level: "
        + "; ".join(f"{api}+: {len(names)}" for api, names in android["system_libraries_since_api"].items())
    )
    return "\n".join(out)
