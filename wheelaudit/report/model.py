"""The audit result: plain records (wheelaudit.record) that the CLI, JSON output and library callers share.

``WheelReport.to_json()`` produces the documented, versioned shape described by
``wheelaudit/schemas/report.schema.json``; bump :data:`SCHEMA_VERSION` on any
incompatible change.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from .._typing import TYPE_CHECKING
from ..binary.model import Binary
from ..record import field, record

if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1


class Severity(str, enum.Enum):
    ERROR = "error"  # the wheel cannot honestly carry its tag / is broken
    WARNING = "warning"  # likely trouble, but the tag stands
    INFO = "info"  # worth knowing


@record(frozen=True)
class Problem:
    """One finding, with a stable ``code`` machines can match on."""

    code: str
    severity: Severity
    message: str
    path: str | None = None  # member of the wheel the finding is about
    symbols: tuple[str, ...] = ()
    library: str | None = None
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "path": self.path,
        }
        if self.symbols:
            out["symbols"] = list(self.symbols)
        if self.library:
            out["library"] = self.library
        if self.fix:
            out["fix"] = self.fix
        return out


def unique_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """The problems in order, each (code, file, library, symbols) once."""
    seen: set[tuple[str, str | None, str | None, tuple[str, ...]]] = set()
    out = []
    for p in problems:
        key = (p.code, p.path, p.library, p.symbols)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return tuple(out)


@record(frozen=True)
class PolicyVerdict:
    """Whether the wheel's binaries satisfy one platform level, and what stands in the way."""

    name: str  # manylinux_2_17
    tags: tuple[str, ...]  # manylinux_2_17_x86_64, manylinux2014_x86_64
    satisfied: bool
    blockers: tuple[Problem, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tags": list(self.tags),
            "satisfied": self.satisfied,
            "blockers": [b.to_json() for b in self.blockers],
        }


@record(frozen=True)
class WheelReport:
    """Everything ``wheelaudit show`` knows about one wheel."""

    wheel: str  # path as given
    filename: str
    name: str
    version: str
    wheel_tags: tuple[str, ...]  # tags in the file name
    platform_tag: str | None  # most compatible tag the binaries allow (PEP 600/656 spelling)
    tags: tuple[str, ...]  # every platform tag the wheel may carry, best first, legacy aliases included
    binaries: tuple[Binary, ...]
    problems: tuple[Problem, ...]
    policies: tuple[PolicyVerdict, ...] = ()
    external_libraries: tuple[str, ...] = ()  # needed, not in the wheel, not allowed by the best level
    stats: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """True when the wheel can carry the tags it has: no error-level problem."""
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "wheel": self.wheel,
            "filename": self.filename,
            "name": self.name,
            "version": self.version,
            "wheel_tags": list(self.wheel_tags),
            "platform_tag": self.platform_tag,
            "tags": list(self.tags),
            "ok": self.ok,
            "external_libraries": list(self.external_libraries),
            "binaries": [binary_to_json(b) for b in self.binaries],
            "problems": [p.to_json() for p in self.problems],
            "policies": [v.to_json() for v in self.policies],
        }


def binary_to_json(b: Binary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": b.path,
        "format": b.format.value,
        "arch": b.arch,
        "kind": b.kind.value,
        "bits": b.bits,
        "needed": list(b.needed),
        "rpath": list(b.rpath),
        "runpath": list(b.runpath),
        "own_name": b.own_name,
        "symbol_versions": [
            {"library": n.library, "version": n.version, "weak": n.weak, "symbols": list(n.symbols)}
            for n in b.version_needs
        ],
        "init_functions": list(b.init_functions),
    }
    optional: dict[str, Any] = {
        "weak_needed": list(b.weak_needed),
        "interpreter": b.interpreter,
        "libc": b.abi,
        "min_os": b.min_os,
        "sdk": b.sdk,
        "os_platform": b.os_platform,
        "isa_level": b.isa_level,
        "signed": b.signed,
    }
    out.update({k: v for k, v in optional.items() if v not in (None, [])})
    if b.executable_stack:
        out["executable_stack"] = True
    if b.code_isa is not None:
        isa = b.code_isa
        out["code_isa"] = {
            "level": isa.level,
            "dispatched_level": isa.dispatched_level,
            "instructions": isa.instructions,
            "windows": isa.windows,
            "families": [
                {**u._asdict(), "share": round(isa.share(u), 5), "spread": round(isa.spread(u), 4)}
                for u in isa.families
            ],
        }
    return out


def error_to_json(wheel: str, message: str) -> dict[str, Any]:
    """The JSON for a wheel that could not be audited at all."""
    return {"schema_version": SCHEMA_VERSION, "wheel": wheel, "error": message}
