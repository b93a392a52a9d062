"""A PEP 517 build backend that wraps a project's real backend and repairs what it builds.

Builders (maturin, setuptools-rust, hatchling, ...) have no common post-build hook, but
every one of them is a PEP 517 backend. So a project keeps its backend and names it in
``[tool.wheelaudit] build-backend``; this module delegates every hook to it and, after
``build_wheel``, audits the wheel, repairs it (Linux wheels), replaces the built wheel
with the repaired one and returns the *new* file name, as PEP 517 requires of the
file actually written. A wheel that fails the gate (:mod:`wheelaudit.report.gate`) fails
the build with one message, and is removed so that ``dist/`` holds nothing unfit to
publish. macOS and Windows wheels cannot be repaired yet: they are audited and gated.

Editable builds are passed through untouched: an editable install runs on the machine
that built it, with that machine's libraries, and is never published.

Options, highest precedence first: config settings (``-C wheelaudit.plat=...``), the
environment (``WHEELAUDIT_PLAT=...``), ``[tool.wheelaudit.repair]`` / ``[tool.wheelaudit.gate]``
in pyproject.toml. See docs/hooks.md.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ._typing import TYPE_CHECKING, cast
from .record import field, record
from .report.gate import GateOptionError, GateOptions, GateResult, evaluate, fail_on, parse_requirement

if TYPE_CHECKING:
    from typing import Any

    from .platforms.policyset import PolicySet
    from .repairing import RepairOptions, RepairResult

#: Hooks a backend may lack (PEP 517 / 660): offered only when the real backend has them,
#: so that frontends fall back exactly as they would without the wrapper.
OPTIONAL_HOOKS = frozenset(
    {
        "get_requires_for_build_wheel",
        "get_requires_for_build_sdist",
        "get_requires_for_build_editable",
        "prepare_metadata_for_build_wheel",
        "prepare_metadata_for_build_editable",
        "build_editable",
    }
)

SETTING_PREFIX = "wheelaudit."
ENV_PREFIX = "WHEELAUDIT_"

#: Option -> kind, per table. Keys are spelled as on the command line (``lib-path``).
REPAIR_KEYS = {
    "plat": "str",
    "exclude": "list",
    "lib-path": "list",
    "sysroot": "str",
    "strip": "str",
    "only-plat": "bool",
    "require-archs": "str",
    "macos-target": "str",
    "no-mangle": "list",
    "policy-file": "list",
}
GATE_KEYS = {"require": "list", "fail-on": "str", "allow-linux-tag": "bool"}
TOP_KEYS = {"skip": "bool"}  # build, and return the wheel as the real backend made it
ALL_KEYS = {**REPAIR_KEYS, **GATE_KEYS, **TOP_KEYS}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class BuildFailed(SystemExit):
    """The build fails with a message for a person.

    A SystemExit, not an ordinary exception: frontends run hooks in a subprocess and show
    what it printed, and a SystemExit prints its message alone where any other exception
    buries it under a traceback of the hook machinery.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@record(frozen=True)
class HookConfig:
    """Where the real backend is and what to do with its wheels, from all three sources merged."""

    build_backend: str
    backend_path: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # ALL_KEYS -> parsed value
    settings: dict[str, Any] | None = None  # config settings for the real backend (ours removed)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


def _toml() -> Any:
    """tomllib, or tomli before Python 3.11 (a dependency there)."""
    return importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")


def _parse(key: str, value: Any, source: str) -> Any:
    """One option's value in its kind; strings (from -C and the environment) are converted."""
    kind = ALL_KEYS[key]
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    elif kind == "list":
        if isinstance(value, str):
            return tuple(v for v in value.split(os.pathsep) if v)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif isinstance(value, str):
        return value
    raise BuildFailed(f"wheelaudit: {source}: {key} = {value!r} is not a {kind}")


def _from_table(table: Any, keys: Mapping[str, str], where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise BuildFailed(f"wheelaudit: pyproject.toml: [{where}] must be a table")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise BuildFailed(f"wheelaudit: pyproject.toml: [{where}] has unknown keys {unknown}; known: {sorted(keys)}")
    return {key: _parse(key, value, f"pyproject.toml [{where}]") for key, value in table.items()}


def load_config(
    config_settings: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    project: str | os.PathLike[str] = ".",
) -> HookConfig:
    """Merge pyproject.toml, the environment and config settings (in rising precedence)."""
    environ = os.environ if environ is None else environ
    pyproject = Path(project) / "pyproject.toml"
    try:
        data = _toml().loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildFailed(f"wheelaudit: cannot read {pyproject}: {exc}") from None
    tool = data.get("tool", {}).get("wheelaudit")
    if not isinstance(tool, dict) or not isinstance(tool.get("build-backend"), str):
        raise BuildFailed(
            "wheelaudit: pyproject.toml: wheelaudit.backend needs [tool.wheelaudit] build-backend = "
            '"<your real backend>" (e.g. "maturin", "setuptools.build_meta", "hatchling.build")'
        )
    unknown = sorted(set(tool) - {"build-backend", "backend-path", "repair", "gate", "skip"})
    if unknown:
        raise BuildFailed(f"wheelaudit: pyproject.toml: [tool.wheelaudit] has unknown keys {unknown}")
    backend_path = tool.get("backend-path", [])
    if not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path):
        raise BuildFailed("wheelaudit: pyproject.toml: [tool.wheelaudit] backend-path must be a list of folders")
    options: dict[str, Any] = {}
    options.update(_from_table(tool.get("repair", {}), REPAIR_KEYS, "tool.wheelaudit.repair"))
    options.update(_from_table(tool.get("gate", {}), GATE_KEYS, "tool.wheelaudit.gate"))
    if "skip" in tool:
        options["skip"] = _parse("skip", tool["skip"], "pyproject.toml [tool.wheelaudit]")
    for key in ALL_KEYS:
        name = ENV_PREFIX + key.upper().replace("-", "_")
        if name in environ:
            options[key] = _parse(key, environ[name], f"environment variable {name}")
    passed: dict[str, Any] | None = None
    if config_settings is not None:
        passed = {}
        for key, value in config_settings.items():
            if not key.startswith(SETTING_PREFIX):
                passed[key] = value
                continue
            option = key[len(SETTING_PREFIX) :]
            if option not in ALL_KEYS:
                raise BuildFailed(f"wheelaudit: config setting {key}: unknown; known: {sorted(ALL_KEYS)}")
            options[option] = _parse(option, value, f"config setting {key}")
    return HookConfig(tool["build-backend"], tuple(backend_path), options, passed)


def load_backend(config: HookConfig, project: str | os.PathLike[str] = ".") -> Any:
    """Import the real backend (``module`` or ``module:object``), from ``backend-path`` first."""
    module_name, _, attrs = config.build_backend.partition(":")
    if module_name == __name__:
        raise BuildFailed("wheelaudit: [tool.wheelaudit] build-backend names wheelaudit.backend itself")
    for folder in reversed(config.backend_path):
        path = str((Path(project) / folder).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        backend: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise BuildFailed(
            f"wheelaudit: cannot import the build backend {config.build_backend!r} ({exc}); "
            "add it to [build-system] requires next to wheelaudit"
        ) from None
    for attr in filter(None, attrs.split(".")):
        backend = getattr(backend, attr)
    return backend


def gate_options(config: HookConfig) -> GateOptions:
    """The gate the hook applies: errors fail, and so does a linux_* tag unless allowed."""
    try:
        return GateOptions(
            require=tuple(parse_requirement(r) for r in config.get("require", ())),
            fail_on=fail_on(config.get("fail-on", "error")),
            portable=not config.get("allow-linux-tag", False),
        )
    except GateOptionError as exc:
        raise BuildFailed(f"wheelaudit: {exc}") from None


def _rejected(built: Path, result: GateResult, action: str) -> BuildFailed:
    lines = [f"wheelaudit: {built.name}: {action}, but it does not pass the gate:"]
    lines += [f"  {reason}" for reason in result.reasons]
    lines.append(
        "The wheel was removed. Inspect it with `wheelaudit show` after building with "
        "-C wheelaudit.skip=true (or WHEELAUDIT_SKIP=1); see docs/hooks.md."
    )
    return BuildFailed("\n".join(lines))


def _note(line: str) -> None:
    print(f"wheelaudit: {line}", file=sys.stderr)


def repairable(wheel: Path) -> bool:
    """Whether repair handles this wheel: its platform tags lead to one repairer (Linux, macOS, ...)."""
    from .platforms.tags import parse_wheel_filename
    from .repairing import repairer_module

    plats = {t.rsplit("-", 1)[-1] for t in parse_wheel_filename(wheel.name).tags}
    return repairer_module(plats) is not None


def repair_options(config: HookConfig) -> RepairOptions:
    """The ``[tool.wheelaudit.repair]`` options as the repair API takes them."""
    from .repairing import RepairOptions

    return RepairOptions(
        plat=config.get("plat", "auto"),
        lib_paths=config.get("lib-path", ()),
        sysroot=config.get("sysroot"),
        exclude=config.get("exclude", ()),
        strip=config.get("strip", "none"),
        only_plat=config.get("only-plat", False),
        require_archs=config.get("require-archs"),
        macos_target=config.get("macos-target"),
        no_mangle=config.get("no-mangle", ()),
    )


def _repair_in_place(built: Path, config: HookConfig, policies: PolicySet) -> RepairResult:
    """Repair into a scratch folder beside the wheel, then move the result next to it (same file system)."""
    from .repairing import repair_wheel

    work = Path(tempfile.mkdtemp(prefix=".wheelaudit-", dir=built.parent))
    try:
        result = repair_wheel(built, repair_options(config), work, policies=policies)
        os.replace(result.path, built.parent / result.path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def finish_wheel(built: Path, config: HookConfig) -> Path:
    """Audit, repair (where a repairer exists) and gate the wheel the real backend wrote; return what is left."""
    from .auditing import audit
    from .errors import WheelError
    from .platforms.policyset import load_policies

    gate = gate_options(config)
    try:
        policies = load_policies(config.get("policy-file", ()))
        if not repairable(built):
            verdict = evaluate(audit(built, policies=policies), gate)
            if not verdict.passed:
                built.unlink()
                raise _rejected(built, verdict, "audited (no repair for its platform)")
            _note(f"{built.name}: audited, gate passed")
            return built
        result = _repair_in_place(built, config, policies)
    except WheelError as exc:
        built.unlink(missing_ok=True)
        raise BuildFailed(f"wheelaudit: {built.name}: {exc}\nThe wheel was removed; see docs/hooks.md.") from None
    final = built.parent / result.path.name
    if final != built:
        built.unlink()
    for line in (*result.warnings, *result.notes):
        _note(f"warning: {line}")
    verdict = evaluate(result.report, gate)
    if not verdict.passed:
        final.unlink()
        raise _rejected(built, verdict, f"repaired into {final.name}")
    grafted = ", ".join(g.new_name for g in result.plan.grafts) or "nothing"
    _note(f"{built.name} -> {final.name} (grafted {grafted}); gate passed")
    return final


# -- the PEP 517 hooks ---------------------------------------------------------------------


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    """Build with the real backend, then repair and gate; the name of the wheel left behind."""
    config = load_config(config_settings)
    backend = load_backend(config)
    name = cast(str, backend.build_wheel(wheel_directory, config.settings, metadata_directory))
    if config.get("skip", False):
        _note(f"{name}: skipped (skip is set)")
        return name
    return finish_wheel(Path(wheel_directory) / name, config).name


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    """The real backend's sdist, untouched: an sdist holds no binaries to repair."""
    config = load_config(config_settings)
    return cast(str, load_backend(config).build_sdist(sdist_directory, config.settings))


def _delegate(name: str) -> Callable[..., Any]:
    """An optional hook of the real backend, called with our config settings removed."""

    def real(settings: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
        config = load_config(settings)
        return getattr(load_backend(config), name), config.settings

    def get_requires(config_settings: dict[str, Any] | None = None) -> Any:
        hook, settings = real(config_settings)
        return hook(settings)

    def prepare_metadata(metadata_directory: str, config_settings: dict[str, Any] | None = None) -> Any:
        hook, settings = real(config_settings)
        return hook(metadata_directory, settings)

    def build_editable(
        wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
    ) -> Any:
        hook, settings = real(config_settings)
        return hook(wheel_directory, settings, metadata_directory)

    if name.startswith("get_requires"):
        return get_requires
    return prepare_metadata if name.startswith("prepare_metadata") else build_editable


def __getattr__(name: str) -> Callable[..., Any]:
    """Offer an optional hook only when the real backend has it (PEP 517 frontends probe with getattr)."""
    if name not in OPTIONAL_HOOKS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    config = load_config(None)
    if not hasattr(load_backend(config), name):
        raise AttributeError(f"the build backend {config.build_backend!r} has no hook {name}")
    return _delegate(name)
