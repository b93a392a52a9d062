"""Loading and querying the platform policies in ``policies/*.json``.

The JSON files are the single source of truth for what a manylinux or musllinux
level allows (``policies/README.md`` documents the format); this module holds no
glibc version numbers of its own. Users add or replace levels with
``--policy-file``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from ..errors import PolicyError
from .tags import linux_level_tags

_NAME = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)$")
POLICY_FILES = ("manylinux.json", "musllinux.json")


@dataclass(frozen=True)
class ArchRules:
    """What one level allows on one architecture beyond the level-wide rules."""

    symbol_versions: Mapping[str, frozenset[str]]  # prefix -> allowed versions ("GLIBC" -> {"2.17", ...})
    allowed_libraries: frozenset[str]


@dataclass(frozen=True)
class Policy:
    """One platform level, e.g. manylinux_2_17 (alias manylinux2014)."""

    name: str
    family: str  # "manylinux" / "musllinux"
    version: tuple[int, int]
    aliases: tuple[str, ...]
    allowed_libraries: frozenset[str]
    blacklist: Mapping[str, frozenset[str]]
    architectures: Mapping[str, ArchRules]
    source: str  # file the policy came from

    def supports(self, arch: str) -> bool:
        return arch in self.architectures

    def allows_library(self, arch: str, soname: str) -> bool:
        return soname in self.allowed_libraries or soname in self.architectures[arch].allowed_libraries

    def tags(self, arch: str) -> list[str]:
        """The level's tag for ``arch`` and its legacy alias, e.g. manylinux_2_17_x86_64, manylinux2014_x86_64."""
        return linux_level_tags(self.family, self.version, arch)

    def tag(self, arch: str) -> str:
        return self.tags(arch)[0]


class PolicySet:
    """All known levels, per family, ordered from most compatible (oldest) to newest.

    The bundled files are parsed on first use: a Windows or macOS wheel never needs them.
    """

    def __init__(self, extra: Iterable[Policy] = (), *, bundled: bool = True) -> None:
        self._extra = tuple(extra)
        self._bundled = bundled

    @cached_property
    def families(self) -> Mapping[str, tuple[Policy, ...]]:
        by_name: dict[str, Policy] = {}
        if self._bundled:
            directory = default_policy_dir()
            for filename in POLICY_FILES:
                for policy in _load_file(directory / filename):
                    by_name[policy.name] = policy
        for policy in self._extra:
            by_name[policy.name] = policy
        families: dict[str, list[Policy]] = {}
        for policy in by_name.values():
            families.setdefault(policy.family, []).append(policy)
        return {family: tuple(sorted(levels, key=lambda p: p.version)) for family, levels in families.items()}

    def levels(self, family: str) -> tuple[Policy, ...]:
        return self.families.get(family, ())

    def find(self, name: str) -> Policy | None:
        """A level by PEP 600/656 name or legacy alias, without the arch suffix."""
        for levels in self.families.values():
            for policy in levels:
                if name == policy.name or name in policy.aliases:
                    return policy
        return None


def default_policy_dir() -> Path:
    """Where the bundled policies live: inside the installed package, or ``policies/`` in a checkout."""
    override = os.environ.get("WHEELAUDIT_POLICY_DIR")
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_policies"
    return packaged if packaged.is_dir() else package.parent / "policies"


def load_policies(extra_files: Iterable[str | os.PathLike[str]] = ()) -> PolicySet:
    """The bundled levels, then each extra file's levels replacing or adding by name.

    Extra files are read and checked now, so a broken one is reported before any work.
    """
    extra = [policy for path in extra_files for policy in _load_file(Path(path))]
    return PolicySet(extra) if extra else _bundled()


@lru_cache(maxsize=1)
def _bundled() -> PolicySet:
    """One shared set of the bundled levels per process (they are parsed on first use)."""
    return PolicySet()


def _load_file(path: Path) -> list[Policy]:
    return parse_policy_document(read_policy_json(path), str(path))


def read_policy_json(path: Path) -> Any:
    """A policy file's JSON, or a one-line PolicyError saying why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} is not valid JSON: {exc}") from None
    except (RecursionError, MemoryError) as exc:  # e.g. 100,000 nested '[': json recurses per level
        raise PolicyError(f"policy file {path} is not usable JSON: nested too deeply ({type(exc).__name__})") from None


def parse_policy_document(document: Any, source: str) -> list[Policy]:
    """Turn one policy file's JSON into policies, with a clear error for any deviation from the format."""

    def fail(where: str, why: str) -> PolicyError:
        return PolicyError(f"policy file {source}: {where}: {why}")

    if not isinstance(document, dict):
        raise fail("top level", "expected an object")
    if document.get("format") != 1:
        raise fail("format", f"unsupported format {document.get('format')!r} (expected 1)")
    levels = document.get("policies")
    if not isinstance(levels, list):
        raise fail("policies", "expected a list")
    out: list[Policy] = []
    for i, raw in enumerate(levels):
        where = f"policies[{i}]"
        if not isinstance(raw, dict):
            raise fail(where, "expected an object")
        name = raw.get("name")
        m = _NAME.match(name) if isinstance(name, str) else None
        if not m or not isinstance(name, str):
            raise fail(f"{where}.name", f"{name!r} is not a manylinux_X_Y or musllinux_X_Y name")
        where = f"policy {name}"
        architectures: dict[str, ArchRules] = {}
        arches = raw.get("architectures")
        if not isinstance(arches, dict) or not arches:
            raise fail(f"{where}.architectures", "expected a non-empty object")
        for arch, rules in arches.items():
            if not isinstance(rules, dict):
                raise fail(f"{where}.architectures.{arch}", "expected an object")
            versions = rules.get("symbol_versions", {})
            if not isinstance(versions, dict) or not all(_is_str_list(v) for v in versions.values()):
                raise fail(f"{where}.architectures.{arch}.symbol_versions", "expected prefix -> list of strings")
            libs = rules.get("allowed_libraries", [])
            if not _is_str_list(libs):
                raise fail(f"{where}.architectures.{arch}.allowed_libraries", "expected a list of strings")
            architectures[arch] = ArchRules(
                symbol_versions={prefix: frozenset(v) for prefix, v in versions.items()},
                allowed_libraries=frozenset(libs),
            )
        libs = raw.get("allowed_libraries", [])
        aliases = raw.get("aliases", [])
        blacklist = raw.get("blacklist", {})
        if not _is_str_list(libs):
            raise fail(f"{where}.allowed_libraries", "expected a list of strings")
        if not _is_str_list(aliases):
            raise fail(f"{where}.aliases", "expected a list of strings")
        if not isinstance(blacklist, dict) or not all(_is_str_list(v) for v in blacklist.values()):
            raise fail(f"{where}.blacklist", "expected library -> list of symbol names")
        out.append(
            Policy(
                name=name,
                family=m.group(1),
                version=(int(m.group(2)), int(m.group(3))),
                aliases=tuple(aliases),
                allowed_libraries=frozenset(libs),
                blacklist={lib: frozenset(symbols) for lib, symbols in blacklist.items()},
                architectures=architectures,
                source=source,
            )
        )
    return out


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and set(map(type, value)) <= {str}
