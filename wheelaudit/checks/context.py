"""What every check may look at: the wheel's metadata, members and analysed binaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from ..binary.model import Binary, BinaryFormat, BinaryKind
from ..platforms.tags import PlatformTag, parse_platform_tag
from ..report.model import PolicyVerdict, Problem
from ..wheel.metadata import WheelInfo
from ..wheel.records import RecordRow
from ..wheel.zipdir import Member


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

    @cached_property
    def platform_tag_facts(self) -> tuple[PlatformTag, ...]:
        """The wheel's own platform tags, parsed once for every check (file-name order)."""
        return tuple(parse_platform_tag(t) for t in self.info.platform_tags)

    @cached_property
    def tag_families(self) -> frozenset[str]:
        """The families of the wheel's platform tags (manylinux, macosx, win, ...)."""
        return frozenset(t.family for t in self.platform_tag_facts)

    def claims(self, *families: str) -> list[PlatformTag]:
        """The wheel's platform tags of these families, in file-name order."""
        return [t for t in self.platform_tag_facts if t.family in families]

    def loadable(self, fmt: BinaryFormat) -> list[Binary]:
        """The binaries of one format that a platform judges: extensions, libraries and programs
        (objects and archives, ``BinaryKind.OTHER``, are never loaded)."""
        return list(self._loadable.get(fmt, ()))

    @cached_property
    def _loadable(self) -> dict[BinaryFormat, tuple[Binary, ...]]:
        out: dict[BinaryFormat, list[Binary]] = {}
        for b in self.binaries:
            if b.kind is not BinaryKind.OTHER:
                out.setdefault(b.format, []).append(b)
        return {fmt: tuple(found) for fmt, found in out.items()}

    @cached_property
    def installed_paths(self) -> dict[str, str]:
        """Member -> where it lands relative to site-packages (the member name for scripts, headers, data):
        what ``$ORIGIN`` / ``@loader_path`` / the importer's directory are relative to."""
        return {name: installed_path(name, self.info.data_dir) or name for name in self.members}
