"""The manylinux and musllinux levels of ``policies/{manylinux,musllinux}.json``.

The JSON files are the single source of truth for what a manylinux or musllinux
level allows (``policies/README.md`` documents the format), legacy aliases included;
this module holds no glibc version numbers of its own. Users add or replace levels
with ``--policy-file`` (see :mod:`.policyset`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from .._typing import TYPE_CHECKING
from ..record import record
from .loader import check_document, fail, is_str_list

if TYPE_CHECKING:
    from typing import Any

_NAME = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)$")
POLICY_FILES = ("manylinux.json", "musllinux.json")


@record(frozen=True)
class ArchRules:
    """What one level allows on one architecture beyond the level-wide rules."""

    symbol_versions: Mapping[str, frozenset[str]]  # prefix -> allowed versions ("GLIBC" -> {"2.17", ...})
    allowed_libraries: frozenset[str]


@record(frozen=True)
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
        """The level's tag for ``arch``, then one per alias of the policy file, e.g. manylinux_2_17_x86_64,
        manylinux2014_x86_64."""
        return [f"{name}_{arch}" for name in (self.name, *self.aliases)]

    def tag(self, arch: str) -> str:
        return self.tags(arch)[0]


class _ArchitectureRules(Mapping[str, ArchRules]):
    """A level's rules per architecture, each built when first asked for: a run judges one or two
    architectures, and building the sets of every level's eight took 2 ms of a small wheel's 55."""

    def __init__(self, checked: dict[str, tuple[dict[str, list[str]], list[str]]]) -> None:
        self._raw = checked  # arch -> (symbol_versions, allowed_libraries), already checked
        self._built: dict[str, ArchRules] = {}

    def __getitem__(self, arch: str) -> ArchRules:
        rules = self._built.get(arch)
        if rules is None:
            versions, libs = self._raw[arch]
            rules = self._built[arch] = ArchRules(
                symbol_versions={prefix: frozenset(v) for prefix, v in versions.items()},
                allowed_libraries=frozenset(libs),
            )
        return rules

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return repr(dict(self))


def parse_policy_document(document: Any, source: str) -> list[Policy]:
    """Turn one policy file's JSON into policies, with a clear error for any deviation from the format."""

    levels = check_document(document, source).get("policies")
    if not isinstance(levels, list):
        raise fail(source, "policies", "expected a list")
    out: list[Policy] = []
    for i, raw in enumerate(levels):
        where = f"policies[{i}]"
        if not isinstance(raw, dict):
            raise fail(source, where, "expected an object")
        name = raw.get("name")
        m = _NAME.match(name) if isinstance(name, str) else None
        if not m or not isinstance(name, str):
            raise fail(source, f"{where}.name", f"{name!r} is not a manylinux_X_Y or musllinux_X_Y name")
        where = f"policy {name}"
        architectures: dict[str, tuple[dict[str, list[str]], list[str]]] = {}
        arches = raw.get("architectures")
        if not isinstance(arches, dict) or not arches:
            raise fail(source, f"{where}.architectures", "expected a non-empty object")
        for arch, rules in arches.items():
            if not isinstance(rules, dict):
                raise fail(source, f"{where}.architectures.{arch}", "expected an object")
            versions = rules.get("symbol_versions", {})
            if not isinstance(versions, dict) or not all(is_str_list(v) for v in versions.values()):
                raise fail(
                    source, f"{where}.architectures.{arch}.symbol_versions", "expected prefix -> list of strings"
                )
            libs = rules.get("allowed_libraries", [])
            if not is_str_list(libs):
                raise fail(source, f"{where}.architectures.{arch}.allowed_libraries", "expected a list of strings")
            architectures[arch] = (versions, libs)
        libs = raw.get("allowed_libraries", [])
        aliases = raw.get("aliases", [])
        blacklist = raw.get("blacklist", {})
        if not is_str_list(libs):
            raise fail(source, f"{where}.allowed_libraries", "expected a list of strings")
        if not is_str_list(aliases):
            raise fail(source, f"{where}.aliases", "expected a list of strings")
        if not isinstance(blacklist, dict) or not all(is_str_list(v) for v in blacklist.values()):
            raise fail(source, f"{where}.blacklist", "expected library -> list of symbol names")
        out.append(
            Policy(
                name=name,
                family=m.group(1),
                version=(int(m.group(2)), int(m.group(3))),
                aliases=tuple(aliases),
                allowed_libraries=frozenset(libs),
                blacklist={lib: frozenset(symbols) for lib, symbols in blacklist.items()},
                architectures=_ArchitectureRules(architectures),
                source=source,
            )
        )
    return out


#: The GLIBC symbol-version names (GLIBC_2.17 ...) that say which glibc a binary needs.
GLIBC_VERSION_PREFIX = "GLIBC_2"


def newest_glibc(version_names: Iterable[str]) -> str | None:
    """The newest ``GLIBC_2.x`` among a binary's needed symbol versions (``GLIBC_2.34``), or None."""
    glibc = [v for v in version_names if v.startswith(GLIBC_VERSION_PREFIX)]
    if not glibc:
        return None
    return max(glibc, key=lambda v: tuple(int(x) for x in v[len("GLIBC_") :].split(".") if x.isdigit()))
