"""CPython's stable ABI (``Misc/stable_abi.toml``), as carried by the maintained ``abi3info`` package.

Why not a list of our own: the stable ABI grows with every CPython release and a
hand-kept copy goes stale silently. ``abi3info`` is regenerated from CPython's own
TOML; this module only turns it into a name -> "stable since" mapping. The
package needs Python 3.10+, so on 3.9 :func:`load` returns None and the abi3
audit says it could not run instead of guessing.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Version = tuple[int, int]


@dataclass(frozen=True)
class StableAbi:
    """Every function and data symbol of the stable ABI with the version that made it stable."""

    source: str  # "abi3info 2026.9.25", for messages and the report
    added: Mapping[str, Version]
    abi_only: frozenset[str]  # in the ABI but not the limited API (e.g. _Py_Dealloc, reached through macros)

    def since(self, name: str) -> Version | None:
        """The version whose stable ABI first has ``name``, or None when it never did."""
        return self.added.get(name)

    @property
    def newest(self) -> Version:
        return max(self.added.values(), default=(3, 2))


def _version_of(value: Any) -> Version:
    return (int(value.major), int(value.minor))


def from_abi3info(module: Any, version: str = "?") -> StableAbi:
    """Build the table from an imported ``abi3info`` module (FUNCTIONS and DATAS)."""
    added: dict[str, Version] = {}
    abi_only: set[str] = set()
    for table in (module.FUNCTIONS, module.DATAS):
        for symbol, item in table.items():
            name = str(symbol.name)
            added[name] = _version_of(item.added)
            if getattr(item, "abi_only", False):
                abi_only.add(name)
    return StableAbi(f"abi3info {version}", added, frozenset(abi_only))


@functools.lru_cache(maxsize=1)
def load() -> StableAbi | None:
    """The stable ABI from the installed ``abi3info``, or None when it is not installed."""
    try:
        module = importlib.import_module("abi3info")
    except ImportError:
        return None
    try:
        from importlib.metadata import version

        dist_version = version("abi3info")
    except Exception:  # metadata missing in odd installs; the data is still usable
        dist_version = "?"
    return from_abi3info(module, dist_version)


def format_version(version: Version | None) -> str:
    return "never" if version is None else f"{version[0]}.{version[1]}"
