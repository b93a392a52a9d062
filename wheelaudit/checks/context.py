"""What every check may look at: the wheel's metadata, members and analysed binaries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property

from .._typing import Protocol
from ..binary.model import Binary, BinaryFormat, BinaryKind
from ..platforms.tags import PlatformTag, parse_platform_tag
from ..record import field, record
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


@record(frozen=True)
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


class InstalledMembers(Mapping[str, str]):
    """Installed path -> member name for every member that lands in site-packages, as a view.

    Nearly every member lands at its own name, so only the members of the ``.data``
    directory's purelib and platlib are stored (a dict of every member cost ~40 bytes
    a member on top of the member table). The mapping is the dict
    ``{installed_path(m): m for m in members}`` would be: a path two members land at
    names the later one, and paths come in the order they first appear.
    """

    def __init__(self, members: Mapping[str, object], data_dir: str) -> None:
        self._members = members
        self._prefix = prefix = data_dir + "/"
        moved: dict[str, str] = {}  # installed path -> the last .data member landing there
        last: dict[str, int] = {}  # ... and its archive position
        first: dict[str, int] = {}  # installed path -> archive position of the first member landing there
        count = 0  # members under the .data directory
        for position, name in enumerate(members):
            if name.startswith(prefix):
                count += 1
                path = installed_path(name, data_dir)
                if path is not None:
                    moved[path] = name
                    last[path] = position
                    first.setdefault(path, position)
        wanted = {path for path in moved if self._plain(path)}  # also a member of its own name
        if wanted:
            for position, name in enumerate(members):
                if name in wanted:
                    first[name] = min(first[name], position)
                    if position > last[name]:
                        del moved[name]  # the member of that name comes later: it wins
        self._moved = moved
        self._first = first
        self._data_members = count
        self._len = len(members) - count + sum(1 for path in first if not self._plain(path))

    def _plain(self, path: str) -> bool:
        return path in self._members and not path.startswith(self._prefix)

    def __getitem__(self, path: str) -> str:
        found = self._moved.get(path)
        if found is not None:
            return found
        if self._plain(path):
            return path
        raise KeyError(path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self._moved or self._plain(path))

    def __iter__(self) -> Iterator[str]:
        first, prefix = self._first, self._prefix
        if not self._data_members:
            yield from self._members
            return
        for position, name in enumerate(self._members):
            path: str | None = name
            if name.startswith(prefix):
                path = installed_path(name, prefix[:-1])
            if path is not None and first.get(path, position) == position:
                yield path

    def __len__(self) -> int:
        return self._len


class InstalledPaths(Mapping[str, str]):
    """Member name -> where it lands relative to site-packages (its own name for scripts, headers, data), as a view."""

    def __init__(self, members: Mapping[str, object], data_dir: str) -> None:
        self._members = members
        self._data_dir = data_dir

    def __getitem__(self, name: str) -> str:
        if name not in self._members:
            raise KeyError(name)
        return installed_path(name, self._data_dir) or name

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)


@record(frozen=True)
class AuditContext:
    """Everything the checks read about one wheel, built once before they run."""

    info: WheelInfo
    members: Mapping[str, Member]
    record: Mapping[str, RecordRow]
    binaries: tuple[Binary, ...]
    installed_members: Mapping[str, str] = field(default_factory=dict)  # installed path -> member name

    @classmethod
    def build(
        cls,
        info: WheelInfo,
        members: Mapping[str, Member],
        record: Mapping[str, RecordRow],
        binaries: tuple[Binary, ...],
    ) -> AuditContext:
        return cls(info, members, record, binaries, InstalledMembers(members, info.data_dir))

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
    def installed_paths(self) -> Mapping[str, str]:
        """Member -> where it lands relative to site-packages (the member name for scripts, headers, data):
        what ``$ORIGIN`` / ``@loader_path`` / the importer's directory are relative to."""
        return InstalledPaths(self.members, self.info.data_dir)
