"""Every platform's policies in one object: the bundled files, with ``--policy-file`` ones on top.

A user file may be for any platform; :func:`~.loader.policy_kind` tells which from its
content. Linux files add levels or replace them by name; a Windows, Apple or Android
file replaces that platform's bundled file as a whole (each is one table, not a list
of levels). The bundled files are parsed on first use: a Windows wheel never needs the
manylinux levels, nor a Linux wheel the DLL lists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cached_property, lru_cache

from .._typing import TYPE_CHECKING
from .linux import Policy, parse_policy_document
from .loader import default_policy_dir, load_document, policy_kind

if TYPE_CHECKING:  # imported where used: a Linux wheel never needs the Windows, Apple or Android modules
    from .android import AndroidPolicy
    from .macos import IosPolicy, MacPolicy
    from .windows import WindowsPolicy

LINUX_POLICY_FILES = ("manylinux.json", "musllinux.json")


class PolicySet:
    """All known policies: Linux levels per family, ordered from most compatible (oldest) to newest,
    and the Windows, Apple and Android tables."""

    def __init__(
        self,
        extra: Iterable[Policy] = (),
        *,
        bundled: bool = True,
        windows: WindowsPolicy | None = None,
        apple: tuple[MacPolicy, IosPolicy] | None = None,
        android: AndroidPolicy | None = None,
    ) -> None:
        self._extra = tuple(extra)
        self._bundled = bundled
        self._windows = windows
        self._apple = apple
        self._android = android

    @cached_property
    def families(self) -> Mapping[str, tuple[Policy, ...]]:
        by_name: dict[str, Policy] = {}
        if self._bundled:
            directory = default_policy_dir()
            for filename in LINUX_POLICY_FILES:
                document, source = load_document(os.path.join(directory, filename))
                for policy in parse_policy_document(document, source):
                    by_name[policy.name] = policy
        for policy in self._extra:
            by_name[policy.name] = policy
        families: dict[str, list[Policy]] = {}
        for policy in by_name.values():
            families.setdefault(policy.family, []).append(policy)
        return {family: tuple(sorted(levels, key=lambda p: p.version)) for family, levels in families.items()}

    def levels(self, family: str) -> tuple[Policy, ...]:
        return self.families.get(family, ())

    def find(self, name: str) -> Policy | None:
        """A Linux level by PEP 600/656 name or by an alias its policy file lists, without the arch suffix."""
        for levels in self.families.values():
            for policy in levels:
                if name == policy.name or name in policy.aliases:
                    return policy
        return None

    @property
    def windows(self) -> WindowsPolicy:
        from .windows import windows_policy

        return self._windows or windows_policy()

    @property
    def macos(self) -> MacPolicy:
        from .macos import apple_policies

        return (self._apple or apple_policies())[0]

    @property
    def ios(self) -> IosPolicy:
        from .macos import apple_policies

        return (self._apple or apple_policies())[1]

    @property
    def android(self) -> AndroidPolicy:
        from .android import android_policy

        return self._android or android_policy()


def load_policies(extra_files: Iterable[str | os.PathLike[str]] = ()) -> PolicySet:
    """The bundled policies, then each extra file's on top (a file for any platform, told by its content).

    Extra files are read and checked now, so a broken one is reported before any work.
    Of two files for the same non-Linux platform, the later one wins.
    """
    files = [os.fspath(path) for path in extra_files]
    if not files:
        return _bundled()
    levels: list[Policy] = []
    windows: WindowsPolicy | None = None
    apple: tuple[MacPolicy, IosPolicy] | None = None
    android: AndroidPolicy | None = None
    for path in files:
        document, source = load_document(path)
        kind = policy_kind(document, source)
        if kind == "linux":
            levels += parse_policy_document(document, source)
        elif kind == "windows":
            from .windows import parse_windows

            windows = parse_windows(document, source)
        elif kind == "apple":
            from .macos import parse_macos

            apple = parse_macos(document, source)
        else:
            from .android import parse_android

            android = parse_android(document, source)
    return PolicySet(levels, windows=windows, apple=apple, android=android)


@lru_cache(maxsize=1)
def _bundled() -> PolicySet:
    """One shared set of the bundled policies per process (each file is parsed on first use)."""
    return PolicySet()
