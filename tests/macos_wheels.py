"""macOS wheels that need grafting, for the macOS repair tests and benchmark.

* :func:`fixture_wheel`: a wheel around the zig-built ``ext.so`` of :mod:`tests.macho_fixtures`
  (thin arm64, thin x86_64 or universal2); its libfoo and libbar go to a lib folder.
* :func:`ungraft`: a delocated wheel from PyPI with its grafting undone: the dylibs of
  ``<pkg>/.dylibs/`` are put back into a lib folder as ``/opt/homebrew/lib/<name>`` (install
  id and every load command that led to them), each Mach-O re-signed ad hoc, the folder
  removed from the wheel. Repairing that with ``--lib-path <lib folder>`` must graft them again.

The un-grafting edits with our editor and signs with our signer: it only prepares the input;
what judges the repair are the oracles of ``tests/test_repair_macos.py``.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path

from wheelaudit.repairing.macos.codesign import adhoc_sign
from wheelaudit.repairing.macos.edit import MachOEdit, edit_macho, parse_macho_bytes

from .builders import make_wheel
from .macho_fixtures import BAR_ID, FOO_ID, Fixtures

HOMEBREW = "/opt/homebrew/lib"
MACHO_MAGICS = (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")


@dataclass(frozen=True)
class Ungrafted:
    wheel: Path
    lib_dir: Path
    names: tuple[str, ...]  # the dylib file names taken out


def fixture_wheel(directory: Path, files: Fixtures, tag: str, *, name: str = "wa_macfix") -> tuple[Path, Path]:
    """(wheel, lib folder): ``<name>/ext.so`` links libfoo by its Homebrew path; libfoo and libbar in the folder.

    The folder holds the libraries under the leaf names of their install ids, as Homebrew's
    ``lib/`` does (``libfoo.1.dylib``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    lib_dir = directory / "lib"
    lib_dir.mkdir(exist_ok=True)
    (lib_dir / posixpath.basename(FOO_ID)).write_bytes(files.foo.read_bytes())
    (lib_dir / posixpath.basename(BAR_ID)).write_bytes(files.bar.read_bytes())
    members = {
        f"{name}/__init__.py": b"from .ext import *\n",
        f"{name}/ext.so": files.ext.read_bytes(),
    }
    return make_wheel(directory, f"{name}-1.0-cp312-abi3-{tag}.whl", members), lib_dir


def _is_macho(data: bytes) -> bool:
    return data[:4] in MACHO_MAGICS


def ungraft(source: Path, directory: Path) -> Ungrafted:
    """The delocated wheel ``source`` with its ``.dylibs`` taken out into ``directory/lib``."""
    directory.mkdir(parents=True, exist_ok=True)
    lib_dir = directory / "lib"
    lib_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(source) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    dist_info = next(n.split("/")[0] for n in members if n.split("/")[0].endswith(".dist-info"))
    grafted = {n for n in members if "/.dylibs/" in n or n.split("/")[0].endswith(".dylibs")}
    leaves = {posixpath.basename(n) for n in grafted}

    def edit_for(data: bytes, path: str, is_graft: bool) -> MachOEdit:
        names: dict[str, str] = {}
        for binary in parse_macho_bytes(data, path):
            for name in (*binary.needed, *binary.weak_needed):
                leaf = posixpath.basename(name)
                if name.startswith("@") and leaf in leaves:
                    names[name] = f"{HOMEBREW}/{leaf}"
        install_id = f"{HOMEBREW}/{posixpath.basename(path)}" if is_graft else None
        return MachOEdit(install_id=install_id, change_names=names)

    kept: dict[str, bytes] = {}
    for name, data in members.items():
        if name.startswith(dist_info + "/"):
            continue  # make_wheel writes WHEEL, METADATA and RECORD afresh
        if not _is_macho(data):
            if name not in grafted:
                kept[name] = data
            continue
        edited = edit_macho(data, edit_for(data, name, name in grafted), path=name)
        out = adhoc_sign(edited.data, path=name).data if edited.changed else data
        if name in grafted:
            (lib_dir / posixpath.basename(name)).write_bytes(out)
        else:
            kept[name] = out
    wheel = make_wheel(directory, source.name, kept)
    return Ungrafted(wheel, lib_dir, tuple(sorted(leaves)))


def developer_id_signed(directory: Path, data: bytes) -> bytes:
    """``data`` signed by rcodesign with a self-signed "Developer ID"-named certificate (CMS), as a
    notarised Homebrew-style library would be; needs ``openssl`` and ``apple-platform-py``."""
    import shutil
    import subprocess

    import apple_platform
    import pytest

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subject = "/CN=Developer ID Application: Test (ABCDE12345)/OU=ABCDE12345"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
    subprocess.run([*command, "-days", "2", "-subj", subject], check=True, capture_output=True)
    signer = apple_platform.Signer(pem=apple_platform.PemKey(files=[str(cert), str(key)]))
    signed: bytes = apple_platform.sign_macho_bytes(
        data, signer=signer, binary_identifier="com.example.foo", timestamp_url="none"
    )
    return signed
