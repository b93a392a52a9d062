"""The Android facts of ``policies/android.json``: ABIs and the libraries each API level guarantees.

The file is the single source of truth; the code only interprets it. The bundled file is
read once per process; ``--policy-file`` may replace it (see :mod:`.policyset`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..record import record
from .loader import fail, load_bundled, str_object

if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class AndroidPolicy:
    """policies/android.json: ABIs and the libraries each API level guarantees."""

    abis: Mapping[str, str]  # arm64_v8a -> aarch64 (ELF arch spelling)
    libraries: tuple[tuple[int, frozenset[str]], ...]  # (since API level, names)
    libpython: re.Pattern[str]

    def allowed(self, api_level: int) -> frozenset[str]:
        out: set[str] = set()
        for since, names in self.libraries:
            if since <= api_level:
                out |= names
        return frozenset(out)


def parse_android(doc: dict[str, Any], source: str) -> AndroidPolicy:
    try:
        libraries = tuple(
            (int(entry["since_api"]), frozenset(str(n) for n in entry["names"])) for entry in doc["libraries"]
        )
        return AndroidPolicy(
            abis={k: str(v) for k, v in str_object(doc, "abis", source).items()},
            libraries=libraries,
            libpython=re.compile(str(doc["libpython"])),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise fail(source, "android", f"bad or missing field ({exc})") from None


@functools.cache
def android_policy() -> AndroidPolicy:
    return parse_android(*load_bundled("android.json"))
