"""The SBOM names each grafted library's distribution package: dpkg asked once for all of them.

Oracle: ``dpkg-query -S`` and ``dpkg-query -W`` run here one path at a time, as the lookup
ran before it was batched. Real host libraries, a path no package owns, and a path reached
through the other side of the merged-/usr symlinks.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from wheelaudit.repairing import sbom

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg (Debian and derivatives)")


def _one_by_one(path: str) -> tuple[str, str, str] | None:
    for candidate in (path, path[4:] if path.startswith("/usr/") else "/usr" + path):
        proc = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        owner = proc.stdout.split(": ", 1)[0] if proc.returncode == 0 else ""
        if owner and "," not in owner and not owner.startswith("diversion"):
            fields = subprocess.run(
                ["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}", owner],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split("\t")
            return fields[0], fields[1], fields[2]
    return None


def _host_libraries() -> list[str]:
    found = []
    for pattern in ("libz.so.1", "libsqlite3.so.0", "libstdc++.so.6", "libgcc_s.so.1", "libffi.so.*"):
        found += sorted(
            glob.glob(f"/usr/lib/x86_64-linux-gnu/{pattern}") + glob.glob(f"/lib/x86_64-linux-gnu/{pattern}")
        )
    return [path for path in found if os.path.exists(path)][:5]


def test_one_question_for_all_paths_gives_what_one_question_each_gave(tmp_path: object) -> None:
    libraries = _host_libraries()
    if len(libraries) < 2:
        pytest.skip("too few host libraries")
    unowned = os.path.join(str(tmp_path), "libnobody.so.1")
    with open(unowned, "wb") as fh:
        fh.write(b"\x7fELF")
    other_side = ["/lib" + path[len("/usr/lib") :] for path in libraries if path.startswith("/usr/lib/")][:1]
    paths = list(dict.fromkeys([*libraries, unowned, *other_side]))
    sbom._providers.clear()
    found = sbom.find_providers(paths)
    assert list(found) == paths
    owned = 0
    for path in paths:
        expected = _one_by_one(path)
        got = found[path]
        assert (None if got is None else (got.name, got.version, got.arch)) == expected, path
        owned += expected is not None
    assert found[unowned] is None
    assert owned >= 2, "the host's libraries have owners"
    assert sbom.find_provider(libraries[0]) is found[libraries[0]]  # answered from what was found


def test_the_lists_of_packages_named_like_a_library_give_dpkgs_owner() -> None:
    """The quick path (the few dpkg file lists of packages named like the library, ~1 ms instead of
    ``dpkg-query -S``'s ~50) finds the owner dpkg-query names, and leaves alone what it cannot find."""
    libraries = _host_libraries()
    if not libraries:
        pytest.skip("no host libraries")
    found = sbom._owners_from_lists([*libraries, "/usr/lib/x86_64-linux-gnu/libnobody-at-all.so.1"])
    assert found, "libz, libsqlite3, libstdc++ live in packages named after them"
    for path, owner in found.items():
        proc = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
        if proc.returncode != 0:  # recorded under the other merged-/usr spelling
            twin = path[4:] if path.startswith("/usr/") else "/usr" + path
            proc = subprocess.run(["dpkg-query", "-S", twin], capture_output=True, text=True, check=True)
        assert proc.stdout.split(": ", 1)[0] == owner, path
    assert "/usr/lib/x86_64-linux-gnu/libnobody-at-all.so.1" not in found


def test_status_file_gives_what_dpkg_query_gives_for_every_installed_package() -> None:
    """The versions now come from dpkg's status file; ``dpkg-query -W`` over every installed package is the oracle."""
    listing = subprocess.run(
        ["dpkg-query", "-W", "-f", "${binary:Package}\t${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("\t") for line in listing.splitlines()]
    installed = [row for row in rows if len(row) == 5 and row[4].startswith("ii")]
    assert len(installed) > 50
    # Both spellings the owner lookup produces: ``name:arch`` from a .list file name, and the bare name.
    keys = [row[0] for row in installed] + [row[1] for row in installed if ":" not in row[0]]
    found = sbom._installed_from_status(keys)
    for key, name, version, arch, _ in installed:
        provider = found.get(key)
        assert provider is not None, key
        assert (provider.name, provider.version, provider.arch) == (name, version, arch), key
    assert sbom._installed_from_status(["wheelaudit-no-such-package", "libc6:no-such-arch"]) == {}


def test_status_file_skips_stanzas_that_are_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Package: libgone1\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\n\n"
        "Package: libfoo1\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.0-1\n"
        "Description: a library\n more text\nXPackage: libfoo1\n\n"
        "Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.0-1\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sbom, "DPKG_STATUS", str(status))
    found = sbom._installed_from_status(["libgone1", "libfoo1:amd64", "libfoo1:i386"])
    assert set(found) == {"libfoo1:amd64", "libfoo1:i386"}
    assert (found["libfoo1:amd64"].arch, found["libfoo1:i386"].arch) == ("amd64", "i386")
    monkeypatch.setattr(sbom, "DPKG_STATUS", str(tmp_path / "missing"))
    assert sbom._installed_from_status(["libfoo1:amd64"]) == {}
