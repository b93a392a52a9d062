"""A software bill of materials for the libraries a repair grafted (PEP 770, CycloneDX 1.4 JSON).

PEP 770 reserves ``<dist-info>/sboms/`` for SBOM documents describing what a
wheel bundles. Each grafted library is named by the distribution package that
provides it when the host's package manager knows the file (dpkg on Debian and
derivatives, rpm elsewhere), and always by its file name and SHA-256. The
document holds no timestamp or random serial, so the same repair gives the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import quote

from .. import __version__
from ..record import record
from ..wheel.metadata import WheelInfo

SBOM_NAME = "wheelaudit.cdx.json"


@record(frozen=True)
class Provider:
    """The distribution package a file came from."""

    kind: str  # purl type: "deb", "rpm"
    namespace: str  # "debian", "ubuntu", "fedora" ...
    name: str
    version: str
    arch: str

    @property
    def purl(self) -> str:
        qualifiers = f"?arch={quote(self.arch)}" if self.arch else ""
        return f"pkg:{self.kind}/{self.namespace}/{quote(self.name)}@{quote(self.version)}{qualifiers}"


@record(frozen=True)
class GraftedFile:
    """One library copied into the wheel, recorded in the SBOM."""

    member: str  # path inside the wheel
    source: str  # where it was copied from
    sha256: str


@lru_cache(maxsize=1)
def _os_id() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                if key == "ID":
                    return value.strip('"') or "linux"
    except OSError:
        pass
    return "linux"


def _run(args: list[str], *, any_status: bool = False) -> str | None:
    """The command's stdout; None if it could not run or (unless ``any_status``) failed."""
    import subprocess  # here: only a Linux repair on the host asks its package manager (~1.5 ms of imports)

    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 or any_status else None


def _usr_variants(path: str) -> list[str]:
    """The path and its twin across the merged-/usr symlinks (dpkg records only one of them)."""
    if path.startswith("/usr/"):
        return [path, path[4:]]
    return [path, "/usr" + path]


_providers: dict[str, Provider | None] = {}  # path -> its package, as found so far


def find_providers(paths: Sequence[str]) -> dict[str, Provider | None]:
    """Which installed package owns each path according to dpkg or rpm, if either is there.

    dpkg is asked once for all of them (``dpkg-query -S`` reads its whole file database:
    ~50 ms whether it is asked for one path or twenty), then once for the owners' versions.
    """
    wanted = [path for path in dict.fromkeys(paths) if path not in _providers]
    if wanted:
        found = _ask_dpkg(wanted) if shutil.which("dpkg-query") else {}
        for path in wanted:
            if found.get(path) is None and shutil.which("rpm"):
                found[path] = _ask_rpm(path)
            _providers[path] = found.get(path)
    return {path: _providers[path] for path in paths}


def find_provider(path: str) -> Provider | None:
    """Which installed package owns ``path`` (see :func:`find_providers`)."""
    return find_providers([path])[path]


#: dpkg's database: one ``<package>[:<arch>].list`` of installed paths per package, and the diversions.
DPKG_INFO = "/var/lib/dpkg/info"
DPKG_DIVERSIONS = "/var/lib/dpkg/diversions"


def _ask_dpkg(paths: Sequence[str]) -> dict[str, Provider | None]:
    owner_of = _owners_from_lists(paths)
    rest = [path for path in paths if path not in owner_of]
    if rest:
        owner_of.update(_owners_from_dpkg_query(rest))
    if not owner_of:
        return {}
    owners = sorted(set(owner_of.values()))
    packages = _installed_from_status(owners)
    unknown = [owner for owner in owners if owner not in packages]
    details = (
        _run(
            ["dpkg-query", "-W", "-f", "${binary:Package}\t${Package}\t${Version}\t${Architecture}\n", *unknown],
            any_status=True,
        )
        if unknown
        else None
    )
    for line in (details or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 4:
            key, name, version, arch = fields
            packages[key] = packages[name] = Provider("deb", _os_id(), name, version, arch)
    return {path: packages.get(owner) for path, owner in owner_of.items()}


#: dpkg's record of every package it knows, one stanza each (what ``dpkg-query -W`` reads).
DPKG_STATUS = "/var/lib/dpkg/status"


def _installed_from_status(owners: Sequence[str]) -> dict[str, Provider]:
    """Version and architecture of each installed owner (``name`` or ``name:arch``), read from
    dpkg's status file: ~0.3 ms where running ``dpkg-query -W`` took 6-15 ms of a small repair's
    critical path. Owners not found here (no such file, a stanza not installed) are left out."""
    try:
        with open(DPKG_STATUS, "rb") as fh:
            text = fh.read()
    except OSError:
        return {}
    found: dict[str, Provider] = {}
    for owner in owners:
        name, _, arch = owner.partition(":")
        needle = b"Package: " + name.encode("utf-8", "replace") + b"\n"
        at = text.find(needle)
        while at >= 0:
            if at == 0 or text[at - 1 : at] == b"\n":
                stanza = _stanza_fields(text, at)
                installed = stanza.get("Status", "").split()[-1:] == ["installed"]
                if installed and "Version" in stanza and (not arch or stanza.get("Architecture") == arch):
                    found[owner] = Provider("deb", _os_id(), name, stanza["Version"], stanza.get("Architecture", ""))
                    break
            at = text.find(needle, at + len(needle))
    return found


def _stanza_fields(text: bytes, start: int) -> dict[str, str]:
    """The single-line fields of the stanza starting at ``start`` (continuation lines are skipped)."""
    end = text.find(b"\n\n", start)
    fields: dict[str, str] = {}
    for line in text[start : end if end >= 0 else len(text)].decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            fields[key] = value.strip()
    return fields


def _owners_from_lists(paths: Sequence[str]) -> dict[str, str]:
    """Owners found in the file lists of the packages named like each library, as ``dpkg-query -S`` names them.

    ``dpkg-query -S`` reads every package's list (~50 ms, on the critical path of a small repair);
    a library's package is nearly always named after it (``libsqlite3.so.0`` in ``libsqlite3-0``),
    so those few lists are read first. dpkg lets one path belong to one package only (unless the
    same package of several architectures ships it, which the same name finds too), so a path found
    there has that owner; a path listed by two is shared and, like a diverted one or one not found,
    is left to ``dpkg-query -S``.
    """
    try:
        lists = [name for name in os.listdir(DPKG_INFO) if name.endswith(".list")]
    except OSError:
        return {}
    diverted = _diversions()
    found: dict[str, str] = {}
    for path in paths:
        stem = _package_stem(path)
        if not stem or any(variant in diverted for variant in _usr_variants(path)):
            continue
        variants = set(_usr_variants(path))
        owners = []
        for name in lists:
            if name.startswith(stem) and _listed(os.path.join(DPKG_INFO, name), variants):
                owners.append(name[: -len(".list")])
        if len(owners) == 1:
            found[path] = owners[0]
    return found


def _package_stem(path: str) -> str:
    """``libsqlite3`` for ``.../libsqlite3.so.0.8.6``: how Debian names a library's package (lower case)."""
    base = os.path.basename(path)
    stem = base.split(".so", 1)[0] if ".so" in base else ""
    return stem.lower().replace("_", "-")


def _listed(list_file: str, variants: set[str]) -> bool:
    try:
        with open(list_file, encoding="utf-8", errors="surrogateescape") as fh:
            return any(line.rstrip("\n") in variants for line in fh)
    except OSError:
        return False


def _diversions() -> set[str]:
    """Every path dpkg's diversions file names (diverted paths and where they went)."""
    try:
        with open(DPKG_DIVERSIONS, encoding="utf-8", errors="surrogateescape") as fh:
            return {line.rstrip("\n") for line in fh}
    except OSError:
        return set()


def _owners_from_dpkg_query(paths: Sequence[str]) -> dict[str, str]:
    asked: dict[str, list[str]] = {}  # each path and its merged-/usr twin -> the paths it stands for
    for path in paths:
        for variant in _usr_variants(path):
            asked.setdefault(variant, []).append(path)
    out = _run(["dpkg-query", "-S", *asked], any_status=True)  # status 1 when some path has no owner
    owner_of: dict[str, str] = {}
    for line in (out or "").splitlines():
        owner, sep, listed = line.partition(": ")
        if not sep or "," in owner or owner.startswith("diversion") or not owner:
            continue  # a path shared by several packages, or diverted: no single provider
        for path in asked.get(listed, ()):
            owner_of.setdefault(path, owner)
    return owner_of


def _ask_rpm(path: str) -> Provider | None:
    for candidate in _usr_variants(path):
        out = _run(["rpm", "-qf", "--queryformat", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}", candidate])
        if out and out.count("\t") == 2:
            name, version, arch = out.split("\t")
            return Provider("rpm", _os_id(), name, version, arch)
    return None


def sbom_member(
    info: WheelInfo, wheel_filename: str, grafted: Sequence[GraftedFile], *, use_host: bool
) -> tuple[str, tuple[bytes, int]]:
    """The SBOM as a member of the repaired wheel: its name under .dist-info/sboms/ and (bytes, mode)."""
    sbom = build_sbom(info.dist_name, info.version, wheel_filename, grafted, use_host=use_host)
    return f"{info.dist_info}/sboms/{SBOM_NAME}", (sbom, 0o644)


def build_sbom(
    dist: str, version: str, wheel_filename: str, grafted: Sequence[GraftedFile], *, use_host: bool
) -> bytes:
    """The CycloneDX document for a repaired wheel, as deterministic JSON bytes."""
    wheel_ref = f"pkg:pypi/{quote(dist)}@{quote(version)}?file_name={quote(wheel_filename)}"
    wheel_component: dict[str, object] = {
        "type": "library",
        "bom-ref": wheel_ref,
        "name": dist,
        "version": version,
        "purl": wheel_ref,
    }
    components: list[dict[str, object]] = [wheel_component]
    refs: list[str] = []
    for item in sorted(grafted, key=lambda g: g.member):
        provider = find_provider(item.source) if use_host else None
        file_name = item.member.rsplit("/", 1)[-1]
        ref = f"{provider.purl if provider else 'file:' + quote(item.member)}#{item.sha256}"
        component: dict[str, object] = {
            "type": "library",
            "bom-ref": ref,
            "name": provider.name if provider else file_name,
            "hashes": [{"alg": "SHA-256", "content": item.sha256}],
            "properties": [
                {"name": "wheelaudit:wheel-path", "value": item.member},
                {"name": "wheelaudit:copied-from", "value": item.source},
            ],
        }
        if provider:
            component["version"] = provider.version
            component["purl"] = provider.purl
        components.append(component)
        refs.append(ref)
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.4",
        "version": 1,
        "metadata": {"component": wheel_component, "tools": [{"name": "wheelaudit", "version": __version__}]},
        "components": components,
        "dependencies": [{"ref": wheel_ref, "dependsOn": refs}, *({"ref": r} for r in refs)],
    }
    return (json.dumps(document, indent=2, sort_keys=False) + "\n").encode("utf-8")
