"""Checks that the wheel agrees with itself: RECORD, tags, where binaries sit, odd members (PEP 427, PEP 491)."""

from __future__ import annotations

from collections.abc import Sequence

from ..binary.model import BinaryFormat
from ..platforms.tags import expand_tag_set
from ..report.model import Problem, Severity
from .context import AuditContext

#: Files RECORD legitimately does not hash or list.
_UNLISTED_OK = ("RECORD", "RECORD.jws", "RECORD.p7s")

#: The format each platform family's binaries must have.
_FAMILY_FORMAT = {
    "manylinux": BinaryFormat.ELF,
    "musllinux": BinaryFormat.ELF,
    "linux": BinaryFormat.ELF,
    "android": BinaryFormat.ELF,
    "macosx": BinaryFormat.MACHO,
    "ios": BinaryFormat.MACHO,
    "win": BinaryFormat.PE,
}


def check_record(ctx: AuditContext) -> list[Problem]:
    problems = []
    dist_info = ctx.info.dist_info + "/"
    for member in ctx.members.values():
        if member.is_dir or member.name in ctx.record:
            continue
        if member.name.startswith(dist_info) and member.name[len(dist_info) :] in _UNLISTED_OK:
            continue
        problems.append(
            Problem(
                "record-missing-entry",
                Severity.WARNING,
                f"{member.name} is in the archive but not in RECORD; installers will not track or uninstall it",
                path=member.name,
                fix="rebuild the wheel, or let `wheelaudit repair` rewrite RECORD",
            )
        )
    for path in ctx.record:
        if path not in ctx.members:
            problems.append(
                Problem(
                    "record-stale-entry",
                    Severity.WARNING,
                    f"RECORD lists {path}, which is not in the archive",
                    path=path,
                )
            )
    return problems


def _expanded(tags: Sequence[str]) -> set[str]:
    """Tags as the file name expands them: ``cp38-abi3-a.b`` is ``cp38-abi3-a`` and ``cp38-abi3-b``."""
    out: set[str] = set()
    for tag in tags:
        parts = tag.split("-")
        out.update(expand_tag_set(*parts) if len(parts) == 3 else (tag,))
    return out


def check_members(ctx: AuditContext) -> list[Problem]:
    problems = []
    for member in ctx.members.values():
        if member.is_symlink:
            problems.append(
                Problem(
                    "symlink-member",
                    Severity.WARNING,
                    f"{member.name} is a symbolic link; installers write it as a small text file, not a link",
                    path=member.name,
                    fix="ship a copy of the file, or rely on the SONAME (one real file) instead of link chains",
                )
            )
    return problems


def check_tags(ctx: AuditContext) -> list[Problem]:
    problems = []
    info = ctx.info
    if info.wheel_tags and set(info.wheel_tags) != set(info.file_tags):
        if _expanded(info.wheel_tags) == set(info.file_tags):
            compressed = sorted(t for t in info.wheel_tags if "." in t)
            problems.append(
                Problem(
                    "wheel-tags-compressed",
                    Severity.WARNING,
                    f"WHEEL writes a compressed tag set ({', '.join(compressed)}); the wheel format wants one "
                    "expanded tag per Tag: line (installers ignore these lines; tools that read them may not match)",
                    path=f"{info.dist_info}/WHEEL",
                    fix="one Tag: line per tag: " + "; ".join(f"Tag: {t}" for t in sorted(_expanded(compressed))),
                )
            )
            return problems
        only_name = sorted(set(info.file_tags) - set(info.wheel_tags))
        only_wheel = sorted(set(info.wheel_tags) - set(info.file_tags))
        problems.append(
            Problem(
                "wheel-tags-mismatch",
                Severity.WARNING,
                "the file name and WHEEL disagree about the tags"
                + (f"; only in the name: {', '.join(only_name)}" if only_name else "")
                + (f"; only in WHEEL: {', '.join(only_wheel)}" if only_wheel else ""),
                path=f"{info.dist_info}/WHEEL",
                fix="rename the file or fix the Tag: lines so both list the same tags",
            )
        )
    if not info.wheel_tags:
        problems.append(
            Problem("wheel-tags-missing", Severity.WARNING, "WHEEL has no Tag: lines", path=f"{info.dist_info}/WHEEL")
        )
    if info.metadata_name and info.metadata_name.replace("_", "-").replace(".", "-").lower() != info.name:
        problems.append(
            Problem(
                "metadata-name-mismatch",
                Severity.WARNING,
                f"METADATA names the project {info.metadata_name!r}, the file name {info.name!r}",
                path=f"{info.dist_info}/METADATA",
            )
        )
    if not ctx.binaries:
        return problems
    platforms = ctx.platform_tag_facts
    first = ctx.binaries[0].path
    # One entry per file: a universal Mach-O is a binary per slice, but the warnings below are about the file.
    files = list({b.path: b for b in ctx.binaries}.values())
    if any(p.family == "any" for p in platforms):
        problems.append(
            Problem(
                "binary-in-pure-wheel",
                Severity.ERROR,
                f"the wheel is tagged for any platform but contains {len({b.path for b in ctx.binaries})} binaries "
                f"(first: {first})",
                path=first,
                fix="build a platform wheel (maturin/setuptools-rust do so unless told otherwise), then repair it",
            )
        )
    if info.root_is_purelib:
        problems.append(
            Problem(
                "binary-in-purelib",
                Severity.WARNING,
                f"WHEEL says Root-Is-Purelib: true but the wheel contains binaries (first: {first}); "
                "where purelib and platlib differ (lib vs lib64 on Fedora/RHEL) they install to the wrong place",
                path=f"{info.dist_info}/WHEEL",
                fix="set Root-Is-Purelib: false (platlib) for wheels with compiled code",
            )
        )
    for binary in files:
        if binary.path.startswith(f"{info.data_dir}/purelib/"):
            problems.append(
                Problem(
                    "binary-in-purelib",
                    Severity.WARNING,
                    f"{binary.path} is a binary installed into purelib, not platlib",
                    path=binary.path,
                    fix="move it to platlib",
                )
            )
    families = {p.family for p in platforms}
    expected = {_FAMILY_FORMAT[f] for f in families if f in _FAMILY_FORMAT}
    if len(expected) == 1:
        (fmt,) = expected
        for binary in files:
            if binary.format is not fmt:
                problems.append(
                    Problem(
                        "foreign-binary",
                        Severity.WARNING,
                        f"{binary.path} is a {binary.format.value.upper()} file in a wheel tagged for "
                        f"{', '.join(sorted(families))}; it is not checked against that platform's rules",
                        path=binary.path,
                    )
                )
    return problems


def check_arch(ctx: AuditContext, arch: str) -> list[Problem]:
    """Linux binaries whose architecture differs from the wheel's."""
    problems = []
    for binary in ctx.binaries:
        if (
            binary.format is BinaryFormat.ELF
            and binary.arch == arch == "armv7l"
            and (binary.extra.get("arm_float_abi") != "hard" or binary.extra.get("arm_eabi") != "5")
        ):
            problems.append(
                Problem(
                    "binary-arch-mismatch",
                    Severity.ERROR,
                    f"{binary.path} is a {binary.extra.get('arm_float_abi', '?')}-float ARM binary "
                    f"(EABI {binary.extra.get('arm_eabi', '?')}); armv7l wheels are EABI5 hard-float (armhf)",
                    path=binary.path,
                    fix="build for armv7-unknown-linux-gnueabihf (hard-float), not the soft-float gnueabi target",
                )
            )
        if binary.format is BinaryFormat.ELF and binary.arch != arch:
            problems.append(
                Problem(
                    "binary-arch-mismatch",
                    Severity.ERROR,
                    f"{binary.path} is built for {binary.arch}, the wheel for {arch}",
                    path=binary.path,
                    fix="build every binary for the wheel's architecture (check cross-compilation settings)",
                )
            )
    return problems
