"""Reading and checking the policy files in ``policies/*.json``, for every platform.

One reader, one set of validators and one error style serve the Linux levels, Apple,
Windows and Android files alike, so a broken file (bundled or ``--policy-file``) is
refused with the same one-line :class:`~wheelaudit.errors.PolicyError` whatever its
platform. :func:`policy_kind` tells a file's platform from its content, which lets
``--policy-file`` take a file for any platform. The platform modules (``linux``,
``macos``, ``windows``, ``android``) turn a checked document into their records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .._typing import TYPE_CHECKING
from ..errors import PolicyError

if TYPE_CHECKING:
    from typing import Any, Literal

    #: The platforms a policy file can describe; see :func:`policy_kind`.
    PolicyKind = Literal["linux", "windows", "apple", "android"]

Version = tuple[int, int]


def parse_version(text: str) -> Version:
    """``"10.13"`` -> (10, 13); ``"11"`` -> (11, 0); a patch component is ignored."""
    parts = text.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1] else 0


def format_version(version: Version) -> str:
    """(10, 13) -> ``"10.13"``: the inverse of :func:`parse_version`."""
    return f"{version[0]}.{version[1]}"


def default_policy_dir() -> str:
    """Where the bundled policies live: inside the installed package, or ``policies/`` in a checkout.

    Paths here are plain strings: pathlib costs ~3 ms of every start-up (it imports urllib.parse).
    """
    override = os.environ.get("WHEELAUDIT_POLICY_DIR")
    if override:
        return override
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    packaged = os.path.join(package, "_policies")
    return packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(package), "policies")


def read_policy_json(path: str | os.PathLike[str]) -> Any:
    """A policy file's JSON, or a one-line PolicyError saying why it cannot be read."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.loads(fh.read())
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} is not valid JSON: {exc}") from None
    except (RecursionError, MemoryError) as exc:  # e.g. 100,000 nested '[': json recurses per level
        raise PolicyError(f"policy file {path} is not usable JSON: nested too deeply ({type(exc).__name__})") from None


def fail(source: str, where: str, why: str) -> PolicyError:
    """The one error style of every policy file: ``policy file <source>: <where>: <why>``."""
    return PolicyError(f"policy file {source}: {where}: {why}")


def check_document(document: Any, source: str) -> dict[str, Any]:
    """The top level every policy file shares: an object with ``"format": 1``."""
    if not isinstance(document, dict):
        raise fail(source, "top level", "expected an object")
    if document.get("format") != 1:
        raise fail(source, "format", f"unsupported format {document.get('format')!r} (expected 1)")
    return document


def policy_kind(document: dict[str, Any], source: str) -> PolicyKind:
    """Which platform a checked document describes, told by its content (the files carry no common key).

    Linux files list ``policies`` (levels); the Windows file is ``"family": "win"`` with
    ``system_dlls``; the Apple file has a ``macos`` or ``ios`` section; the Android file ``abis``.
    """
    if "policies" in document:
        return "linux"
    if document.get("family") == "win" or "system_dlls" in document:
        return "windows"
    if "macos" in document or "ios" in document:
        return "apple"
    if "abis" in document:
        return "android"
    raise fail(
        source,
        "top level",
        'not a policy file of any platform (expected "policies" for Linux levels, "system_dlls" for Windows, '
        '"macos"/"ios" for Apple or "abis" for Android)',
    )


def load_document(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """A policy file read and checked at the top level, with its path as the source to name in errors."""
    return check_document(read_policy_json(path), str(path)), str(path)


def load_bundled(name: str) -> tuple[dict[str, Any], str]:
    """A bundled policy file (``windows.json`` ...), read and checked at the top level."""
    return load_document(os.path.join(default_policy_dir(), name))


def is_str_list(value: object) -> bool:
    return isinstance(value, list) and set(map(type, value)) <= {str}


def str_list(doc: Mapping[str, Any], key: str, source: str, where: str = "") -> list[str]:
    """``doc[key]`` as a list of strings (absent: empty), or a PolicyError naming ``where``."""
    value = doc.get(key, [])
    if not is_str_list(value):
        raise fail(source, where or key, "expected a list of strings")
    return list(value)


def str_object(doc: Mapping[str, Any], key: str, source: str, where: str = "") -> dict[str, Any]:
    """``doc[key]`` as an object (absent: empty), or a PolicyError naming ``where``."""
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise fail(source, where or key, "expected an object")
    return value
