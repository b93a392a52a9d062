"""CPython's stable ABI (``Misc/stable_abi.toml``), as carried by the maintained ``abi3info`` package.

Why not a list of our own: the stable ABI grows with every CPython release and a
hand-kept copy goes stale silently. ``abi3info`` is regenerated from CPython's own
TOML; this module only turns it into a name -> "stable since" mapping. The
package needs Python 3.10+, so on 3.9 :func:`load` returns None and the abi3
audit says it could not run instead of guessing.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..record import record

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

Version = tuple[int, int]


@record(frozen=True)
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
    """The stable ABI from the installed ``abi3info``, or None when it is not installed.

    Importing ``abi3info`` builds ~1,000 objects (30-45 ms, more than auditing a small
    wheel), so the derived table is kept in the user's cache (:func:`cache_dir`), keyed
    by the content of the installed package; a missing or broken cache file is rebuilt,
    an unwritable cache is simply not used.
    """
    import importlib.util  # here: 1.6 ms of imports (importlib._abc), and only abi3 wheels get here

    spec = importlib.util.find_spec("abi3info")
    if spec is None or not spec.origin:
        return None
    from pathlib import Path  # here: pathlib is ~3 ms of start-up, and only abi3 wheels get here

    cache = _cache_file(Path(spec.origin))
    if cache is not None:
        try:
            return _from_json(json.loads(cache.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        module = importlib.import_module("abi3info")
    except ImportError:
        return None
    try:
        from importlib.metadata import version

        dist_version = version("abi3info")
    except Exception:  # metadata missing in odd installs; the data is still usable
        dist_version = "?"
    table = from_abi3info(module, dist_version)
    if cache is not None:
        _write_quietly(cache, json.dumps(_to_json(table), sort_keys=True))
    return table


def cache_dir() -> Path:
    """The cache folder: ``$WHEELAUDIT_CACHE_DIR``, ``$XDG_CACHE_HOME/wheelaudit`` or ``~/.cache/wheelaudit``."""
    from pathlib import Path

    root = os.environ.get("WHEELAUDIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "wheelaudit"
    )
    return Path(root)


def _cache_file(origin: Path) -> Path | None:
    """Where the table derived from the abi3info installed at ``origin`` is cached.

    Keyed by the content of the package's modules (the data and the code that shapes it),
    not by where it is installed: every venv with the same abi3info shares one file, and
    a new release gets a file of its own. Hashing the ~260 KB costs well under a millisecond.
    """
    import hashlib  # here, not at the top: loading OpenSSL's hashes costs ~2 ms of every start-up

    digest = hashlib.sha256()
    try:
        for module in sorted(origin.parent.glob("*.py")):
            digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    except OSError:
        return None
    return cache_dir() / f"stable-abi-{digest.hexdigest()[:16]}.json"


def _to_json(table: StableAbi) -> dict[str, Any]:
    return {
        "source": table.source,
        "added": {name: f"{v[0]}.{v[1]}" for name, v in table.added.items()},
        "abi_only": sorted(table.abi_only),
    }


def _from_json(doc: dict[str, Any]) -> StableAbi:
    added = {name: _parse(v) for name, v in doc["added"].items()}
    if not added:
        raise ValueError("empty stable-ABI cache")
    return StableAbi(str(doc["source"]), added, frozenset(doc["abi_only"]))


def _parse(text: str) -> Version:
    major, minor = text.split(".")
    return int(major), int(minor)


def _write_quietly(path: Path, text: str) -> None:
    """Write a cache file atomically; a cache that cannot be written is not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def format_version(version: Version | None) -> str:
    return "never" if version is None else f"{version[0]}.{version[1]}"
