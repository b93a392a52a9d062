"""What every check may look at: the wheel's metadata, members and analysed binaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..binary.model import Binary
from ..report.model import PolicyVerdict, Problem
from ..wheel.archive import Member, RecordRow, WheelInfo


class PlatformDecision(Protocol):
    """What a platform module (linux, macos, windows, mobile) concludes about a wheel."""

    @property
    def platform_tag(self) -> str | None: ...  # the most compatible tag the binaries allow

    @property
    def tags(self) -> tuple[str, ...]: ...  # every platform tag the wheel may carry, best first

    @property
    def verdicts(self) -> tuple[PolicyVerdict, ...]: ...  # per level: satisfied, and what blocks it

    @property
    def external_libraries(self) -> tuple[str, ...]: ...

    @property
    def problems(self) -> tuple[Problem, ...]: ...


@dataclass(frozen=True)
class Decision:
    """A :class:`PlatformDecision` with every field worked out (macOS, Windows, iOS, Android)."""

    platform_tag: str | None
    tags: tuple[str, ...]
    verdicts: tuple[PolicyVerdict, ...]
    external_libraries: tuple[str, ...]
    problems: tuple[Problem, ...]


def installed_path(member: str, data_dir: str) -> str | None:
    """Where a member lands relative to site-packages; None for scripts, headers and data."""
    prefix = data_dir + "/"
    if not member.startswith(prefix):
        return member
    rest = member[len(prefix) :]
    scheme, _, inner = rest.partition("/")
    if scheme in ("purelib", "platlib"):
        return inner
    return None


@dataclass(frozen=True)
class AuditContext:
    """Everything the checks read about one wheel, built once before they run."""

    info: WheelInfo
    members: dict[str, Member]
    record: dict[str, RecordRow]
    binaries: tuple[Binary, ...]
    installed_members: dict[str, str] = field(default_factory=dict)  # installed path -> member name

    @classmethod
    def build(
        cls, info: WheelInfo, members: dict[str, Member], record: dict[str, RecordRow], binaries: tuple[Binary, ...]
    ) -> AuditContext:
        installed = {}
        for name in members:
            path = installed_path(name, info.data_dir)
            if path is not None:
                installed[path] = name
        return cls(info, members, record, binaries, installed)
