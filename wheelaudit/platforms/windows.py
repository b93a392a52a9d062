"""The Windows facts of ``policies/windows.json``: wheel tags and their machines, API sets,
system DLLs, the DLLs the interpreter ships and the Visual C++ runtime.

The file is the single source of truth (the wheel-tag -> machine table included, which
:func:`~.tags.parse_platform_tag` reads); the code only interprets it. The bundled file is
read once per process; ``--policy-file`` may replace it (see :mod:`.policyset`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..record import record
from .loader import Version, fail, is_str_list, load_bundled, parse_version, str_list, str_object

if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class InterpreterDll:
    """A DLL the interpreter ships and loads before any extension module."""

    dll: str  # lower case
    implementation: str  # "cp" / "pp" (wheel interpreter-tag prefixes)
    since: Mapping[str, Version]  # arch -> first Python version that ships it on that arch
    debug: bool = False  # only in debug builds (ABI tag ending in "d")


@record(frozen=True)
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


def parse_windows(doc: dict[str, Any], source: str) -> WindowsPolicy:
    tags = str_object(doc, "tags", source)
    if not tags or not all(isinstance(v, str) for v in tags.values()):
        raise fail(source, "tags", "expected tag -> arch")
    systems = str_object(doc, "system_dlls", source)
    common = frozenset(n.lower() for n in str_list(systems, "common", source))
    system_dlls = {arch: common | {n.lower() for n in str_list(systems, arch, source)} for arch in tags.values()}
    rules = []
    interpreter_dlls = doc.get("interpreter_dlls", [])
    if not isinstance(interpreter_dlls, list):
        raise fail(source, "interpreter_dlls", "expected a list")
    for i, raw in enumerate(interpreter_dlls):
        if not isinstance(raw, dict) or not isinstance(raw.get("dll"), str) or not isinstance(raw.get("since"), dict):
            raise fail(source, f"interpreter_dlls[{i}]", "expected {dll, implementation, since}")
        where = f"interpreter_dlls[{i}].since"
        rules.append(
            InterpreterDll(
                dll=raw["dll"].lower(),
                implementation=str(raw.get("implementation", "cp")),
                since={arch: _version(str(v), source, where) for arch, v in raw["since"].items()},
                debug=bool(raw.get("debug", False)),
            )
        )
    ignored = str_object(doc, "ignored_dependencies", source)
    if not all(is_str_list(v) for v in ignored.values()):
        raise fail(source, "ignored_dependencies", "expected DLL -> list of DLL names")
    try:
        python_dlls = tuple(re.compile(p) for p in str_list(doc, "python_dlls", source))
        vc_redist = re.compile(str(doc.get("vc_redist", "(?!)")))
    except re.error as exc:
        raise fail(source, "regular expression", str(exc)) from None
    return WindowsPolicy(
        tags=dict(tags),
        api_set_prefixes=tuple(p.lower() for p in str_list(doc, "api_set_prefixes", source)),
        system_dlls=system_dlls,
        python_dlls=python_dlls,
        interpreter_dlls=tuple(rules),
        vc_redist=vc_redist,
        ignored_dependencies={k.lower(): frozenset(v.lower() for v in vs) for k, vs in ignored.items()},
        library_dir_suffix=str(doc.get("library_dir_suffix", ".libs")),
        source=source,
    )


def _version(text: str, source: str, where: str) -> Version:
    try:
        return parse_version(text)
    except ValueError:
        raise fail(source, where, f"{text!r} is not a version such as 3.5") from None


@functools.cache
def windows_policy() -> WindowsPolicy:
    """The bundled policies/windows.json, parsed once per process."""
    return parse_windows(*load_bundled("windows.json"))


def windows_tag_arch(tag: str) -> str | None:
    """The machine a Windows platform tag names (win_amd64 -> amd64), from the bundled windows.json."""
    return windows_policy().tags.get(tag)
