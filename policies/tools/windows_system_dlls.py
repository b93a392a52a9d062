#!/usr/bin/env python3
"""Rebuild ``system_dlls`` in ``policies/windows.json`` from mingw-w64's import libraries.

Why mingw-w64: a wheel's import table can only name a DLL its linker had an import library (or a
``.def`` file) for. mingw-w64 ships one import library per Windows system DLL, written to mirror the
Windows SDK's, and each names the DLL it imports from. That is a documented, versioned list of the
DLLs Windows provides to programs, readable offline on any Debian/Ubuntu host
(``apt-get install mingw-w64-i686-dev mingw-w64-x86-64-dev``). It is a superset of what a default
Windows install has (it also covers redistributables such as the DirectX end-user runtime and
components of old server editions), so ``system_dll_rules`` in ``windows.json`` records which
names are dropped, which are added and why; this script only applies those rules.

Two steps:

``extract``
    Read every ``lib*.a`` of the installed packages (an ``ar`` archive of COFF import objects:
    GNU dlltool's long form, whose ``.idata$7`` section of the archive's tail object holds the
    DLL name, or the short import form with the name after the symbol) and write the sorted
    lower-case DLL names per Windows arch to ``tools/mingw-w64-import-dlls.json``, with the
    package versions and the date. API-set names (``api-ms-win-*``, ``ext-ms-*``) are left out:
    ``api_set_prefixes`` already covers them.
(default)
    Rebuild ``system_dlls`` from that snapshot and the rules; ``--check`` exits 1 if the
    committed ``windows.json`` differs.

arm64: Debian packages no arm64 mingw-w64 import libraries; mingw-w64 builds its arm64 libraries
from the same ``lib-common`` definitions as x86-64, so arm64 uses the x86-64 set. x86 uses its own
set plus the x86-64 one (``SOURCE_SETS``): the 32-bit directory lacks many libraries the SDK has.

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import struct
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

POLICIES = Path(__file__).resolve().parent.parent
WINDOWS_JSON = POLICIES / "windows.json"
SNAPSHOT = POLICIES / "tools" / "mingw-w64-import-dlls.json"

#: Windows arch (wheelaudit spelling) -> (Debian package, mingw-w64 library directory, COFF machine).
SOURCES: dict[str, tuple[str, str, int]] = {
    "x86": ("mingw-w64-i686-dev", "/usr/i686-w64-mingw32/lib", 0x14C),
    "amd64": ("mingw-w64-x86-64-dev", "/usr/x86_64-w64-mingw32/lib", 0x8664),
}
#: Windows arch -> the snapshot sets whose union is its source. arm64 has no Debian package and
#: uses the x86-64 set; x86 adds the x86-64 set to its own, because mingw-w64's 32-bit directory
#: lacks hundreds of libraries (riched20, rsaenh, atl, ...) that the Windows SDK has for x86 too.
SOURCE_SETS = {"x86": ("x86", "amd64"), "amd64": ("amd64",), "arm64": ("amd64",)}
ARCHES = ("x86", "amd64", "arm64")
API_SET_PREFIXES = ("api-", "ext-ms-")
_NAME = re.compile(rb"[A-Za-z0-9_.+-]+\.[A-Za-z0-9]+")


# -- reading import libraries ------------------------------------------------------------------


def ar_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, contents) of every member of a System V / GNU ``ar`` archive."""
    if not data.startswith(b"!<arch>\n"):
        raise ValueError("not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        if header[58:60] != b"`\n":
            raise ValueError(f"bad ar member header at {pos}")
        name = header[:16].decode("ascii", "replace").rstrip()
        size = int(header[48:58].decode("ascii").strip())
        yield name, data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)


def imported_dll(member: bytes, machine: int) -> str | None:
    """The DLL an import object of ``machine`` names, or None (other objects, other machines)."""
    if len(member) >= 20 and member[:4] == b"\x00\x00\xff\xff":  # short import object
        if struct.unpack_from("<H", member, 6)[0] != machine:
            return None
        symbol_end = member.index(b"\x00", 20)
        return member[symbol_end + 1 : member.index(b"\x00", symbol_end + 1)].decode("ascii")
    if len(member) < 20:
        return None
    coff_machine, sections = struct.unpack_from("<HH", member, 0)
    optional = struct.unpack_from("<H", member, 16)[0]
    if coff_machine != machine:
        return None
    for i in range(sections):
        at = 20 + optional + 40 * i
        name = member[at : at + 8].rstrip(b"\x00")
        size, pointer = struct.unpack_from("<II", member, at + 16)
        if name == b".idata$7" and size and pointer:
            text = member[pointer : pointer + size].rstrip(b"\x00")
            if _NAME.fullmatch(text):
                return text.decode("ascii")
    return None


def dlls_of_library(path: Path, machine: int) -> set[str]:
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        return set()
    found = set()
    for name, member in ar_members(data):
        if name in ("/", "//", "/SYM64/", "__.SYMDEF"):
            continue
        dll = imported_dll(member, machine)
        if dll:
            found.add(dll.lower())
    return found


def package_version(package: str) -> str:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not result.stdout:
        raise SystemExit(f"{package} is not installed: apt-get install {package}")
    return result.stdout


def extract() -> dict[str, Any]:
    arches: dict[str, list[str]] = {}
    packages: dict[str, str] = {}
    for arch, (package, directory, machine) in SOURCES.items():
        packages[package] = package_version(package)
        names: set[str] = set()
        for library in sorted(Path(directory).glob("lib*.a")):
            names |= dlls_of_library(library, machine)
        arches[arch] = sorted(n for n in names if not n.startswith(API_SET_PREFIXES))
    return {
        "description": "Lower-case names of the DLLs that mingw-w64's import libraries (lib*.a) import from, per "
        "Windows arch; API sets left out. Written by policies/tools/windows_system_dlls.py extract.",
        "packages": packages,
        "extracted": datetime.date.today().isoformat(),
        "source_sets": SOURCE_SETS,
        "dlls": arches,
    }


# -- applying the rules ------------------------------------------------------------------------


def _applies(group: Mapping[str, Any], arch: str) -> bool:
    return arch in group.get("arches", ARCHES)


def source_names(snapshot: Mapping[str, Any], arch: str) -> set[str]:
    return set().union(*(snapshot["dlls"][name] for name in SOURCE_SETS[arch]))


def excluded_by_pattern(rules: Mapping[str, Any], name: str) -> str | None:
    for rule in rules["exclude_patterns"]:
        if re.fullmatch(rule["pattern"], name):
            return str(rule["pattern"])
    return None


def build(snapshot: Mapping[str, Any], rules: Mapping[str, Any]) -> dict[str, set[str]]:
    """arch -> system DLL names: the source's names, less the exclusions, plus the additions."""
    out: dict[str, set[str]] = {}
    for arch in ARCHES:
        names = {n for n in source_names(snapshot, arch) if excluded_by_pattern(rules, n) is None}
        for group in rules["exclude"]:
            if _applies(group, arch):
                names -= set(group["names"])
        for group in rules["add"]:
            if _applies(group, arch):
                names |= set(group["names"])
        out[arch] = names
    return out


def split_common(per_arch: Mapping[str, set[str]]) -> dict[str, list[str]]:
    common = set.intersection(*per_arch.values())
    lists = {"common": sorted(common)}
    lists.update({arch: sorted(per_arch[arch] - common) for arch in ARCHES})
    return lists


def check_rules(snapshot: Mapping[str, Any], rules: Mapping[str, Any]) -> list[str]:
    """Rules that no longer match the source: stale decisions to review after an upgrade."""
    stale = []
    everything = set().union(*(source_names(snapshot, a) for a in ARCHES))
    for group in rules["exclude"]:
        for name in group["names"]:
            if name not in everything:
                stale.append(f"excluded {name} is not in the source any more")
            elif excluded_by_pattern(rules, name):
                stale.append(f"excluded {name} is already excluded by a pattern")
    for group in rules["add"]:
        for name in group["names"]:
            if any(name in source_names(snapshot, a) for a in ARCHES if _applies(group, a)):
                stale.append(f"added {name} is in the source now")
    return stale


def render(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def regenerate(policy_text: str, snapshot: Mapping[str, Any]) -> str:
    doc = json.loads(policy_text)
    rules = doc["system_dll_rules"]
    doc["system_dlls"] = split_common(build(snapshot, rules))
    rules["packages"] = dict(snapshot["packages"])
    rules["extracted"] = snapshot["extracted"]
    return render(doc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", nargs="?", choices=["extract", "build"], default="build")
    parser.add_argument("--check", action="store_true", help="exit 1 if windows.json (or the snapshot) is stale")
    args = parser.parse_args(argv)
    if args.command == "extract":
        fresh = extract()
        if args.check:
            old = json.loads(SNAPSHOT.read_text())
            same = old["dlls"] == fresh["dlls"] and old["packages"] == fresh["packages"]
            print("snapshot up to date" if same else "snapshot differs from the installed packages")
            return 0 if same else 1
        SNAPSHOT.write_text(render(fresh))
        print(f"wrote {SNAPSHOT} ({', '.join(f'{a}: {len(n)}' for a, n in fresh['dlls'].items())})")
        return 0
    snapshot = json.loads(SNAPSHOT.read_text())
    text = WINDOWS_JSON.read_text()
    doc = json.loads(text)
    stale = check_rules(snapshot, doc["system_dll_rules"])
    for line in stale:
        print(f"warning: {line}", file=sys.stderr)
    new = regenerate(text, snapshot)
    if args.check:
        print("windows.json up to date" if new == text else "windows.json is stale: rerun without --check")
        return 0 if new == text and not stale else 1
    WINDOWS_JSON.write_text(new)
    sizes = {k: len(v) for k, v in json.loads(new)["system_dlls"].items()}
    print(f"wrote {WINDOWS_JSON}: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
