#!/usr/bin/env python3
"""Regenerate ``policies/manylinux.json`` and ``policies/musllinux.json`` from auditwheel's data.

Why a script: the manylinux/musllinux levels are facts that auditwheel's maintainers measure inside
the manylinux images. We convert their published JSON into our own format once, commit the result,
and never import auditwheel at run time. Rerun this script when auditwheel (or maturin, whose
embedded copy can be newer) gains a level; ``--check`` tells CI whether the committed files are stale.

Sources, in order of precedence (the first source that defines a level wins):

1. auditwheel's installed ``policy/manylinux-policy.json`` / ``musllinux-policy.json``
   (located with ``importlib.util.find_spec``; the package is not imported);
2. any ``--extra-manylinux`` / ``--extra-musllinux`` files in auditwheel's format;
3. the copy embedded in a maturin binary (``--maturin-binary``, auto-detected in this
   interpreter's scripts directory; ``--no-maturin`` to skip).

Only the standard library is used. Output is deterministic: fixed key order, sorted lists
(symbol versions in natural version order), inline arrays of strings.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1

#: Wheel-tag architecture spellings, in the order they are written out.
ARCH_ORDER = (
    "x86_64",
    "i686",
    "aarch64",
    "armv7l",
    "ppc64",
    "ppc64le",
    "s390x",
    "riscv64",
    "loongarch64",
)

#: SONAME of the system musl libc per wheel arch. Alpine (the base of the musllinux images) links
#: musl with ``-soname libc.musl-$CARCH.so.1``; CARCH is "x86" for i686 and "armv7" for armv7l
#: ("armhf" is Alpine's separate armv6 port, whose systems lack the armv7 name and vice versa).
MUSL_LIBC_SONAME = {
    "x86_64": "libc.musl-x86_64.so.1",
    "i686": "libc.musl-x86.so.1",
    "aarch64": "libc.musl-aarch64.so.1",
    "armv7l": "libc.musl-armv7.so.1",
    "ppc64le": "libc.musl-ppc64le.so.1",
    "s390x": "libc.musl-s390x.so.1",
    "riscv64": "libc.musl-riscv64.so.1",
    "loongarch64": "libc.musl-loongarch64.so.1",
}

#: Names musl's dynamic linker answers itself, whatever the arch: ldso/dynlink.c treats a needed
#: ``lib<reserved>.`` name (reserved: c, pthread, rt, m, dl, util, xnet) as the libc it is part of.
#: Binaries linked against a musl-gcc/Rust musl sysroot commonly need plain ``libc.so``.
MUSL_SELF_NAMES = ("libc.so", "libdl.so", "libm.so", "libpthread.so", "librt.so", "libutil.so", "libxnet.so")

#: auditwheel writes this placeholder where the arch-specific musl SONAME belongs.
MUSL_PLACEHOLDER = "libc.so"

#: Levels that a PEP defined by name before PEP 600 / PEP 656 made the scheme generic.
PEP_OF_LEVEL = {
    "manylinux_2_5": "513",
    "manylinux_2_12": "571",
    "manylinux_2_17": "599",
}

NAME_RE = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)$")


class PolicyDataError(Exception):
    """The source data cannot be converted or breaks an invariant we rely on."""


@dataclass
class Source:
    """One auditwheel-format policy list and a human label for provenance notes."""

    label: str
    levels: list[dict[str, Any]]


@dataclass
class Family:
    """Static description of one output file."""

    family: str
    libc: str
    aw_file: str
    pep: str
    extra: list[Path] = field(default_factory=list)


def version_key(version: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Natural order: numeric runs compare as numbers, numbers sort before words."""
    parts = tuple(
        (0, int(tok), "") if tok.isdigit() else (1, 0, tok)
        for tok in re.findall(r"\d+|\D+", version)
    )
    return parts, version


def level_key(name: str) -> tuple[int, int]:
    """(major, minor) of a level name; levels are written oldest (most compatible) first."""
    match = NAME_RE.match(name)
    if match is None:
        raise PolicyDataError(
            f"level name {name!r} is not of the form <family>_<major>_<minor>"
        )
    return int(match.group(2)), int(match.group(3))


def arch_key(arch: str) -> tuple[int, str]:
    """Known arches in ARCH_ORDER, unknown ones after them alphabetically."""
    return (
        (ARCH_ORDER.index(arch), "") if arch in ARCH_ORDER else (len(ARCH_ORDER), arch)
    )


def auditwheel_policy_dir() -> tuple[Path, str]:
    """Locate auditwheel's policy directory without importing the package."""
    spec = importlib.util.find_spec("auditwheel")
    if spec is None or not spec.submodule_search_locations:
        raise PolicyDataError("auditwheel is not installed; pass --auditwheel-dir")
    directory = Path(next(iter(spec.submodule_search_locations))) / "policy"
    return directory, f"auditwheel {importlib.metadata.version('auditwheel')}"


def load_levels(path: Path) -> list[dict[str, Any]]:
    """Read an auditwheel-format policy list."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(
        isinstance(p, dict) and "name" in p for p in data
    ):
        raise PolicyDataError(f"{path}: not an auditwheel policy list")
    return data


def find_maturin_binary() -> Path | None:
    """A compiled maturin next to this interpreter, else on PATH (shell shims are skipped)."""
    candidates = [Path(sysconfig.get_path("scripts")) / "maturin"]
    on_path = shutil.which("maturin")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and not _is_script(candidate):
            return candidate
    return None


def _is_script(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"#!"


def maturin_label(binary: Path) -> str:
    """'maturin X.Y.Z' from the binary itself (it is what holds the data)."""
    try:
        out = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    return " ".join(out[:2]) if len(out) >= 2 else f"maturin ({binary.name})"


def extract_embedded(blob: bytes, first_level: str) -> list[dict[str, Any]] | None:
    """Find the JSON policy array that maturin embeds with ``include_bytes!``.

    We look for the object naming ``first_level`` and walk back over '[' bytes until one starts a
    JSON array of policy objects that contains it.
    """
    pattern = re.compile(rb'"name"\s*:\s*"' + re.escape(first_level.encode()) + rb'"')
    decoder = json.JSONDecoder()
    for match in pattern.finditer(blob):
        start = match.start()
        pos = blob.rfind(b"[", 0, start)
        while pos != -1 and start - pos < 1 << 16:
            window = blob[pos : pos + (1 << 22)].decode("latin-1")
            try:
                value, _ = decoder.raw_decode(window)
            except ValueError:
                value = None
            if (
                isinstance(value, list)
                and value
                and all(isinstance(p, dict) and "lib_whitelist" in p for p in value)
                and any(p.get("name") == first_level for p in value)
            ):
                return value
            pos = blob.rfind(b"[", 0, pos)
    return None


def merge(
    sources: Sequence[Source],
) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
    """Union of levels by name; the first source wins. Returns (level, label) pairs and warnings."""
    chosen: dict[str, tuple[dict[str, Any], str]] = {}
    warnings: list[str] = []
    for source in sources:
        for level in source.levels:
            name = level["name"]
            if name == "linux":
                continue  # the catch-all is the code's "no policy fits", not data
            if name in chosen:
                if chosen[name][0] != level:
                    warnings.append(
                        f"{name}: {source.label} differs from {chosen[name][1]}; kept the latter"
                    )
                continue
            chosen[name] = (level, source.label)
    ordered = sorted(chosen.values(), key=lambda item: level_key(item[0]["name"]))
    return ordered, warnings


def convert_level(level: dict[str, Any], libc: str) -> dict[str, Any]:
    """auditwheel's level object -> ours."""
    name: str = level["name"]
    libs = set(level["lib_whitelist"])
    musl = libc == "musl"
    if musl:
        libs.discard(MUSL_PLACEHOLDER)
        libs.update(MUSL_SELF_NAMES)
    arches: dict[str, Any] = {}
    for arch in sorted(level["symbol_versions"], key=arch_key):
        prefixes: dict[str, list[str]] = level["symbol_versions"][arch]
        extra: list[str] = []
        if musl:
            if arch not in MUSL_LIBC_SONAME:
                raise PolicyDataError(
                    f"{name}: no musl libc SONAME known for arch {arch!r}"
                )
            extra = [MUSL_LIBC_SONAME[arch]]
        arches[arch] = {
            "symbol_versions": {
                prefix: sorted(set(versions), key=version_key)
                for prefix, versions in sorted(prefixes.items())
            },
            "allowed_libraries": extra,
        }
    if not arches:
        raise PolicyDataError(f"{name}: defines no architecture")
    out: dict[str, Any] = {"name": name, "aliases": sorted(level.get("aliases", []))}
    if name in PEP_OF_LEVEL:
        out["pep"] = PEP_OF_LEVEL[name]
    out["allowed_libraries"] = sorted(libs)
    out["blacklist"] = {
        lib: sorted(set(syms))
        for lib, syms in sorted(level.get("blacklist", {}).items())
    }
    out["architectures"] = arches
    return out


def monotonicity_errors(policies: Sequence[dict[str, Any]]) -> list[str]:
    """Check the rule documented in policies/README.md for every ordered pair of levels."""
    errors: list[str] = []
    for i, older in enumerate(policies):
        for newer in policies[i + 1 :]:
            pair = f"{older['name']} -> {newer['name']}"
            lost = set(older["allowed_libraries"]) - set(newer["allowed_libraries"])
            if lost:
                errors.append(f"{pair}: allowed_libraries lost {sorted(lost)}")
            for lib, syms in newer["blacklist"].items():
                gained = set(syms) - set(older["blacklist"].get(lib, []))
                if gained:
                    errors.append(f"{pair}: blacklist[{lib}] gained {sorted(gained)}")
            for arch, new_arch in newer["architectures"].items():
                old_arch = older["architectures"].get(arch)
                if old_arch is None:
                    continue
                lost = set(old_arch["allowed_libraries"]) - set(
                    new_arch["allowed_libraries"]
                )
                if lost:
                    errors.append(
                        f"{pair} [{arch}]: allowed_libraries lost {sorted(lost)}"
                    )
                for prefix, versions in old_arch["symbol_versions"].items():
                    missing = set(versions) - set(
                        new_arch["symbol_versions"].get(prefix, [])
                    )
                    if missing:
                        errors.append(
                            f"{pair} [{arch}] {prefix}: lost {sorted(missing, key=version_key)}"
                        )
    return errors


def build_document(
    family: Family, sources: Sequence[Source]
) -> tuple[dict[str, Any], list[str]]:
    """Whole output document plus warnings."""
    merged, warnings = merge(sources)
    policies = [convert_level(level, family.libc) for level, _ in merged]
    errors = monotonicity_errors(policies)
    if errors:
        raise PolicyDataError("monotonicity violated:\n  " + "\n  ".join(errors))
    by_label: dict[str, list[str]] = {}
    for level, label in merged:
        by_label.setdefault(label, []).append(level["name"])
    provenance = "; ".join(
        f"{', '.join(names)} from {label}" for label, names in by_label.items()
    )
    description = (
        f"{family.family} platform levels (PEP {family.pep} names). Generated by "
        f"policies/tools/derive_from_auditwheel.py from the policy data of: {provenance}. "
        f"Converted to wheelaudit's format; see policies/README.md. Do not edit by hand: regenerate."
    )
    doc = {
        "$schema": "./schema.json",
        "format": FORMAT_VERSION,
        "family": family.family,
        "libc": family.libc,
        "description": description,
        "policies": policies,
    }
    return doc, warnings


def dump(value: Any, indent: int = 0) -> str:
    """JSON with objects expanded one key per line and arrays of scalars kept on one line."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(key)}: {dump(item, indent + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return "[" + ", ".join(json.dumps(item) for item in value) + "]"
        items = [inner + dump(item, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value)


def existing_names(path: Path) -> set[str]:
    """Level names in an already committed file (empty if there is none)."""
    if not path.exists():
        return set()
    data = json.loads(path.read_text(encoding="utf-8"))
    return {p["name"] for p in data.get("policies", [])}


def parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--auditwheel-dir",
        type=Path,
        help="directory holding auditwheel's *-policy.json",
    )
    parser.add_argument(
        "--source-label",
        default="auditwheel (policy files from --auditwheel-dir)",
        help="provenance text for --auditwheel-dir data, e.g. 'auditwheel 6.9.0'",
    )
    parser.add_argument(
        "--extra-manylinux", type=Path, action="append", default=[], metavar="JSON"
    )
    parser.add_argument(
        "--extra-musllinux", type=Path, action="append", default=[], metavar="JSON"
    )
    parser.add_argument(
        "--maturin-binary",
        type=Path,
        help="maturin executable with embedded policy data",
    )
    parser.add_argument(
        "--no-maturin", action="store_true", help="do not read maturin's embedded copy"
    )
    parser.add_argument(
        "--out-dir", type=Path, default=Path(__file__).resolve().parent.parent
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed files are stale"
    )
    parser.add_argument(
        "--allow-removal", action="store_true", help="allow dropping committed levels"
    )
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    if args.auditwheel_dir is not None:
        aw_dir, aw_label = (
            args.auditwheel_dir,
            args.source_label,
        )
    else:
        aw_dir, aw_label = auditwheel_policy_dir()
    blob: bytes | None = None
    mat_label = ""
    if not args.no_maturin:
        binary = args.maturin_binary or find_maturin_binary()
        if binary is not None:
            blob, mat_label = binary.read_bytes(), maturin_label(binary)
        else:
            print(
                "note: no maturin binary found; using auditwheel data only",
                file=sys.stderr,
            )

    families = [
        Family(
            "manylinux", "glibc", "manylinux-policy.json", "600", args.extra_manylinux
        ),
        Family(
            "musllinux", "musl", "musllinux-policy.json", "656", args.extra_musllinux
        ),
    ]
    status = 0
    for family in families:
        sources = [Source(aw_label, load_levels(aw_dir / family.aw_file))]
        sources += [Source(str(path), load_levels(path)) for path in family.extra]
        if blob is not None:
            embedded = extract_embedded(
                blob, f"{family.family}_{'2_5' if family.libc == 'glibc' else '1_1'}"
            )
            if embedded is None:
                print(
                    f"note: no embedded {family.family} data found in {mat_label}",
                    file=sys.stderr,
                )
            else:
                sources.append(Source(mat_label, embedded))
        doc, warnings = build_document(family, sources)
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        out = args.out_dir / f"{family.family}.json"
        dropped = existing_names(out) - {p["name"] for p in doc["policies"]}
        if dropped and not args.allow_removal:
            raise PolicyDataError(
                f"{out}: would drop levels {sorted(dropped)}; pass --allow-removal"
            )
        text = dump(doc) + "\n"
        if args.check:
            current = out.read_text(encoding="utf-8") if out.exists() else ""
            if current != text:
                print(f"{out}: stale, rerun {Path(__file__).name}", file=sys.stderr)
                status = 1
        else:
            out.write_text(text, encoding="utf-8")
            print(f"wrote {out} ({len(doc['policies'])} levels)", file=sys.stderr)
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PolicyDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
