"""The gate: pass or fail a wheel from its report, for a CI step or the build backend to act on.

``show`` alone judges whether a wheel can carry the tags it has. A gate asks more:
that the tags are ones a package index takes (PyPI refuses ``linux_*``), that they
reach at least as far as a required level (``--require manylinux_2_17``), and, on
request, that not even a warning is left (``--fail-on warning``). Everything here
is a pure function of a :class:`~wheelaudit.report.model.WheelReport`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..platforms.tags import parse_platform_tag
from ..record import record
from .model import Severity, WheelReport

#: Which operating system a tag family serves: a requirement only governs wheels for its own OS,
#: so ``--require manylinux_2_17 --require macosx_11_0`` can gate a whole dist/ folder at once.
_OS_OF_FAMILY = {
    "manylinux": "linux",
    "musllinux": "linux",
    "linux": "linux",
    "macosx": "macos",
    "ios": "ios",
    "win": "windows",
    "android": "android",
}

#: Arches a macOS fat binary covers, so a universal2 wheel meets an x86_64 or arm64 requirement.
_MACOS_FAT = {"universal2": {"x86_64", "arm64"}, "intel": {"x86_64", "i386"}, "universal": {"x86_64", "i386"}}


class GateOptionError(ValueError):
    """A gate option the gate cannot honour (an unknown ``--require`` level): a usage error."""


@record(frozen=True)
class Requirement:
    """A ``--require`` value: a tag family, its oldest level allowed, and optionally an arch."""

    spec: str  # as the user wrote it
    family: str
    version: tuple[int, int] | None
    arch: str | None  # None: any arch

    @property
    def os(self) -> str:
        return _OS_OF_FAMILY.get(self.family, self.family)

    def met_by(self, tag: str) -> bool:
        """Whether a wheel tagged ``tag`` installs wherever this requirement's level does."""
        parsed = parse_platform_tag(tag)
        if parsed.family != self.family:
            return False
        if self.arch is not None and parsed.arch != self.arch and self.arch not in _MACOS_FAT.get(parsed.arch, ()):
            return False
        if self.version is None or parsed.version is None:
            return self.version is None
        return parsed.version <= self.version


def parse_requirement(spec: str) -> Requirement:
    """``manylinux_2_17``, ``manylinux2014_x86_64``, ``musllinux_1_2``, ``macosx_11_0_arm64``, ``win_amd64``.

    Raises :class:`GateOptionError` for anything else: a typo must not make a gate pass.
    """
    full = parse_platform_tag(spec)
    if full.family in ("win", "android", "ios") or (full.family != "unknown" and full.version is not None):
        return Requirement(spec, full.family, full.version, full.arch or None)
    bare = parse_platform_tag(spec + "_ARCH")  # a level without an arch: manylinux_2_17, manylinux2014
    if bare.family in ("manylinux", "musllinux", "macosx") and bare.version is not None:
        return Requirement(spec, bare.family, bare.version, None)
    raise GateOptionError(
        f"--require {spec}: not a platform tag or level; write e.g. manylinux_2_17, musllinux_1_2, "
        "manylinux_2_17_x86_64, macosx_11_0 or win_amd64"
    )


@record(frozen=True)
class GateOptions:
    """What the gate asks of every wheel."""

    require: tuple[Requirement, ...] = ()
    fail_on: Severity = Severity.ERROR  # the lowest severity that fails
    portable: bool = False  # a linux_* tag fails: package indexes refuse it


@record(frozen=True)
class GateResult:
    """The verdict on one wheel, and why it failed (one line each; empty when it passed)."""

    wheel: str
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def beyond_errors(self) -> tuple[str, ...]:
        """The reasons a report of the errors alone does not show (tags, requirements, warnings)."""
        return tuple(r for r in self.reasons if not r.startswith("[error]"))


def fail_on(value: str) -> Severity:
    """The ``--fail-on`` value as a severity (``error`` or ``warning``)."""
    if value not in ("error", "warning"):
        raise GateOptionError(f"--fail-on {value}: expected error or warning")
    return Severity(value)


def cli_options(require: Iterable[str], fail_on_value: str) -> GateOptions:
    """The gate of ``wheelaudit show --require TAG... --fail-on LEVEL``.

    ``show`` keeps its own meaning by default (a ``linux_*`` wheel whose binaries are fine
    passes); no ``linux_*`` tag meets a ``--require`` of a Linux level, so asking for one fails it.
    """
    return GateOptions(tuple(parse_requirement(r) for r in require), fail_on(fail_on_value))


def _platforms(tags: Iterable[str]) -> list[str]:
    """The platform parts of python-abi-platform tags, in order, once each."""
    return list(dict.fromkeys(t.rsplit("-", 1)[-1] for t in tags))


def evaluate(report: WheelReport, options: GateOptions) -> GateResult:
    """Judge one wheel: its problems at or above ``fail_on``, its tags, and every requirement of its OS."""
    reasons: list[str] = []
    failing = {Severity.ERROR} | ({Severity.WARNING} if options.fail_on is Severity.WARNING else set())
    for problem in report.problems:
        if problem.severity in failing:
            where = f" ({problem.path})" if problem.path else ""
            reasons.append(f"[{problem.severity.value}] {problem.code}{where}: {problem.message}")
    plats = _platforms(report.wheel_tags)
    allowed = report.platform_tag and parse_platform_tag(report.platform_tag).family != "linux"
    best = f"; its binaries allow {report.platform_tag}" if allowed else ""
    if options.portable:
        local = [p for p in plats if parse_platform_tag(p).family == "linux"]
        if local:
            reasons.append(
                f"tagged {', '.join(local)}, which package indexes refuse{best}: "
                "repair it (wheelaudit repair) to graft its libraries and retag it"
            )
    oses = {_OS_OF_FAMILY.get(parse_platform_tag(p).family) for p in plats}
    governing = [r for r in options.require if r.os in oses]
    if governing and not any(r.met_by(p) for r in governing for p in plats):
        wanted = " or ".join(r.spec for r in governing)
        hint = ""
        if report.platform_tag and any(r.met_by(report.platform_tag) for r in governing):
            hint = f" (repair or retag it: wheelaudit repair --plat {report.platform_tag})"
        reasons.append(f"tagged {', '.join(plats)}; required: {wanted} or more compatible{best}{hint}")
    return GateResult(report.wheel, tuple(reasons))
