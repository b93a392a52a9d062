"""Windows wheels that need DLLs grafted, for the Windows repair tests and benchmark.

* :func:`fixture_wheel`: a wheel around the zig-built PE files of :mod:`tests.pe_fixtures`
  (``ext.pyd`` imports foo.dll, which imports bar.dll; ``ext_delay.pyd`` delay-loads foo.dll);
  foo.dll and bar.dll go to a lib folder only. Layouts: a regular package, a top-level
  extension module, a PEP 420 namespace package, a package folder without ``__init__.py``.
* :func:`unrepair`: a delvewheel-repaired wheel from PyPI with its repair undone: the DLLs of
  ``<dist>.libs/`` (or, beside a top-level module, the mangled ones in site-packages) go back
  to a lib folder under their own names (``geos-<hash>.dll`` -> ``geos.dll``), every import
  of a mangled name is renamed back (in the wheel's files and in the DLLs), the
  ``# start delvewheel patch`` block leaves every ``__init__.py``, and the ``.load-order-*``
  file and ``DELVEWHEEL`` go. Repairing that with ``--lib-path <lib folder>`` must graft
  them again.

Un-repairing renames with our own renamer: it only prepares the input; what judges the repair
are the oracles of ``tests/test_repair_windows.py`` (delvewheel, pefile, wine).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from wheelaudit.binary.pe import parse_pe
from wheelaudit.repairing.windows.pe_edit import rename_imports

from .builders import make_wheel
from .pe_fixtures import PeFixtures

TAGS = {"x86_64": "win_amd64", "x86": "win32", "arm64": "win_arm64"}
MANGLED = re.compile(r"^(.+)-[0-9a-f]{32}(\.dll)$", re.IGNORECASE)
INIT = (
    b'"""The fixture package: its extension modules import foo.dll, which imports bar.dll."""\n\n'
    b"from __future__ import annotations\n\nVALUE = 86\n"
)
_TOP_LEVEL = re.compile(r"^(?:[^/]+\.data/(?:platlib|purelib)/)?[^/]+$")
_DELVEWHEEL_PATCH = re.compile(rb'(?:"""""" )?# start delvewheel patch\r?\n.*?# end delvewheel patch\r?\n', re.DOTALL)


@dataclass(frozen=True)
class Unrepaired:
    wheel: Path
    lib_dir: Path
    names: tuple[str, ...]  # the DLL file names taken out (unmangled)


def fixture_wheel(
    directory: Path, fx: PeFixtures, *, layout: str = "package", name: str = "wa_winfix", python: str = "cp312-cp312"
) -> tuple[Path, Path]:
    """(wheel, lib folder) for ``fx``'s architecture; the folder holds foo.dll and bar.dll."""
    directory.mkdir(parents=True, exist_ok=True)
    lib_dir = directory / "lib"
    lib_dir.mkdir(exist_ok=True)
    (lib_dir / "foo.dll").write_bytes(fx.foo.read_bytes())
    (lib_dir / "bar.dll").write_bytes(fx.bar.read_bytes())
    ext, delay = fx.ext.read_bytes(), fx.ext_delay.read_bytes()
    members: dict[str, bytes]
    if layout == "package":  # a regular package, a sub-package with the delay-loading module
        members = {
            f"{name}/__init__.py": INIT,
            f"{name}/ext.pyd": ext,
            f"{name}/sub/__init__.py": b"",
            f"{name}/sub/ext.pyd": delay,
        }
    elif layout == "top-level":  # ext.pyd at the top of site-packages, beside a package
        members = {"ext.pyd": ext, f"{name}/__init__.py": INIT, f"{name}/sub/ext.pyd": delay}
    elif layout == "namespace":  # PEP 420: no __init__.py in wa_ns/; a regular package below it
        members = {
            "wa_ns/mod.py": b"VALUE = 1\n",
            "wa_ns/ext.pyd": ext,
            f"wa_ns/{name}/__init__.py": INIT,
            f"wa_ns/{name}/ext.pyd": delay,
        }
    elif layout == "no-init":  # a package folder that holds only the module: __init__.py is created
        members = {f"{name}/ext.pyd": ext}
    else:
        raise ValueError(layout)
    tag = TAGS[fx.arch]
    return make_wheel(directory, f"{name}-1.0-{python}-{tag}.whl", members), lib_dir


def _is_pe(data: bytes) -> bool:
    return data[:2] == b"MZ" and len(data) > 0x40


def _plain_names(data: bytes, path: str) -> dict[str, str]:
    binary = parse_pe(io.BytesIO(data), path, len(data))
    return {n: m.group(1) + m.group(2) for n in binary.needed + binary.weak_needed if (m := MANGLED.match(n))}


def _top_graft(member: str) -> bool:
    """A mangled DLL delvewheel put into site-packages itself, beside a top-level extension module
    (at the wheel's root, or in ``<name>.data/platlib/`` as pillow_heif's)."""
    return bool(_TOP_LEVEL.match(member)) and bool(MANGLED.match(posixpath.basename(member)))


def unrepair(source: Path, directory: Path) -> Unrepaired:
    """The delvewheel-repaired wheel ``source`` with its repair undone, the DLLs in ``directory/lib``."""
    directory.mkdir(parents=True, exist_ok=True)
    lib_dir = directory / "lib"
    lib_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(source) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    dist_info = next(n.split("/")[0] for n in members if n.split("/")[0].endswith(".dist-info"))
    libs = {n for n in members if n.lower().endswith(".dll") and (n.split("/")[0].endswith(".libs") or _top_graft(n))}
    names: list[str] = []
    kept: dict[str, bytes] = {}
    for member, data in members.items():
        if member.startswith(dist_info + "/") or posixpath.basename(member).startswith(".load-order-"):
            continue  # make_wheel writes WHEEL, METADATA and RECORD afresh; DELVEWHEEL goes
        if member.lower().endswith(".py"):
            data = _DELVEWHEEL_PATCH.sub(b"", data, count=1)
        elif _is_pe(data):
            plain = _plain_names(data, member)
            if plain:
                data = rename_imports(data, plain, path=member).data
        if member in libs:
            leaf = posixpath.basename(member)
            match = MANGLED.match(leaf)
            plain_leaf = match.group(1) + match.group(2) if match else leaf
            (lib_dir / plain_leaf).write_bytes(data)
            names.append(plain_leaf)
        else:
            kept[member] = data
    wheel = make_wheel(directory, source.name, kept)
    return Unrepaired(wheel, lib_dir, tuple(sorted(names)))
