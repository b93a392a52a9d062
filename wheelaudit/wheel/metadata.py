"""What WHEEL, METADATA and the file name say about a wheel (PEP 427, PEP 491, core metadata), and WHEEL retagged.

Pure functions on text: :class:`wheelaudit.wheel.archive.WheelArchive` reads the
members and hands them here; repair asks for the WHEEL that goes with new tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..errors import InvalidWheel
from ..platforms.tags import WheelFilename, canonical_name
from ..record import record


@record(frozen=True)
class WheelInfo:
    """What WHEEL, METADATA and the file name say about the wheel."""

    filename: str
    name: str  # canonical distribution name from the file name
    version: str
    build: str
    file_tags: tuple[str, ...]  # "py3-none-manylinux_2_17_x86_64", expanded from the file name
    wheel_tags: tuple[str, ...]  # Tag: lines of WHEEL, in order
    root_is_purelib: bool
    wheel_version: str
    generator: str
    metadata_name: str
    metadata_version: str
    dist_info: str  # "name-1.0.dist-info"
    data_dir: str  # "name-1.0.data"

    @property
    def dist_name(self) -> str:
        """The distribution name as the .dist-info directory spells it (what installers record)."""
        return self.dist_info[: -len(".dist-info")].rsplit("-", 1)[0]

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """Platform tags from the file name, in file-name order, without repeats."""
        seen: dict[str, None] = {}
        for tag in self.file_tags:
            seen.setdefault(tag.split("-")[2], None)
        return tuple(seen)


def parse_headers(text: str) -> dict[str, list[str]]:
    """The header block of WHEEL or METADATA (RFC 822 style): field name -> values, in order.

    Only the header block matters here (METADATA's body is the long description), so
    this reads up to the first blank line; folded lines continue the previous value.
    Field names compare case-insensitively, as the core metadata spec says.
    """
    fields: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and last:
            last[-1] = f"{last[-1]} {line.strip()}"
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = fields.setdefault(_FIELD_CASE.get(name.strip().lower(), name.strip()), [])
        last.append(value.strip())
    return fields


_FIELD_CASE = {
    name.lower(): name for name in ("Wheel-Version", "Root-Is-Purelib", "Tag", "Build", "Generator", "Name", "Version")
}


def _first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def find_dist_info(member_names: Iterable[str], name: str, wheel: str) -> str:
    """The wheel's ``.dist-info`` directory: the one named for the distribution ``name``, or the only one."""
    candidates = sorted(
        {m.split("/", 1)[0] for m in member_names if m.split("/", 1)[0].endswith(".dist-info") and "/" in m}
    )
    if not candidates:
        raise InvalidWheel(f"{wheel} has no .dist-info directory")
    matching = [c for c in candidates if canonical_name(c[: -len(".dist-info")].rsplit("-", 1)[0]) == name]
    if len(matching) == 1:
        return matching[0]
    if len(candidates) == 1:
        return candidates[0]
    raise InvalidWheel(f"{wheel} has several .dist-info directories: {', '.join(candidates)}")


def parse_wheel(text: str, wheel: str, dist_info: str) -> dict[str, list[str]]:
    """WHEEL's fields, once its Wheel-Version says this reader understands it (major version 1)."""
    headers = parse_headers(text)
    wheel_version = _first(headers, "Wheel-Version")
    if not wheel_version:
        raise InvalidWheel(f"{wheel}: {dist_info}/WHEEL has no Wheel-Version")
    if wheel_version.split(".")[0] != "1":
        raise InvalidWheel(f"{wheel}: unsupported Wheel-Version {wheel_version}")
    return headers


def wheel_info(
    filename: WheelFilename, wheel: str, dist_info: str, headers: dict[str, list[str]], metadata: dict[str, list[str]]
) -> WheelInfo:
    """The :class:`WheelInfo` of the wheel file ``wheel``, from its parsed name, WHEEL and METADATA fields."""
    return WheelInfo(
        filename=wheel,
        name=filename.name,
        version=filename.version,
        build=filename.build,
        file_tags=filename.tags,
        wheel_tags=tuple(headers.get("Tag", ())),
        root_is_purelib=_first(headers, "Root-Is-Purelib").lower() == "true",
        wheel_version=_first(headers, "Wheel-Version"),
        generator=_first(headers, "Generator"),
        metadata_name=_first(metadata, "Name"),
        metadata_version=_first(metadata, "Version"),
        dist_info=dist_info,
        data_dir=dist_info[: -len(".dist-info")] + ".data",
    )


def rewrite_wheel_tags(info: WheelInfo, plats: Sequence[str], read_wheel: Callable[[], str]) -> str | None:
    """WHEEL with its Tag lines for the platforms ``plats``, or None when they do not change.

    Each python-abi pair of the old tags is combined with every new platform; a
    wheel that was ``any`` and purelib becomes platlib. ``read_wheel`` gives WHEEL's
    text; it is only called when the file changes.
    """
    old_tags = list(info.wheel_tags) or list(info.file_tags)
    pairs = list(dict.fromkeys(tuple(t.split("-")[:2]) for t in old_tags if t.count("-") == 2))
    new_tags = [f"{py}-{abi}-{plat}" for py, abi in pairs for plat in plats]
    purelib_fix = "any" in info.platform_tags and info.root_is_purelib
    if set(new_tags) == set(info.wheel_tags) and not purelib_fix:
        return None
    text = read_wheel().splitlines()
    blank = next((i for i, line in enumerate(text) if not line.strip()), len(text))
    lines: list[str] = []
    placed = False
    for line in text[:blank]:  # the header block: all that installers read (see parse_headers)
        key = line.split(":", 1)[0].strip().lower()
        if key == "tag":
            if not placed:
                lines += [f"Tag: {t}" for t in new_tags]
                placed = True
            continue
        if key == "root-is-purelib" and purelib_fix:
            line = "Root-Is-Purelib: false"
        lines.append(line)
    if not placed:
        lines += [f"Tag: {t}" for t in new_tags]
    # Tag lines below the blank line were never read (ninja 1.11.1.1, skbuild 0.17.6): the new ones replace them.
    body = [line for line in text[blank + 1 :] if line.split(":", 1)[0].strip().lower() != "tag"]
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    return "\n".join(lines) + "\n\n" + ("\n".join(body) + "\n" if body else "")
