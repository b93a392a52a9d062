"""``wheelaudit repair`` on real wheels with real tools: patchelf, pip, a fresh venv, auditwheel.

The sample that links the system libsqlite3 is repaired and compared with
``auditwheel repair``; the result is installed into a new venv and must load the
grafted copy from site-packages. Nothing is mocked: when the host lacks
libsqlite3.so.0 the tests that need it are skipped (they never install anything).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wheelaudit
from wheelaudit.binary.elf import parse_elf
from wheelaudit.repairing.linux.patchelf import find_patchelf
from wheelaudit.resolve.host import ElfIdentity, HostResolver

from .builders import SQLITE, needs_sqlite, only_wheel, repair_cli
from .conftest import sample_wheel

SYSLIB_SO = "wa_sample_syslib/wa_sample_syslib.abi3.so"
BIN_EXE = "wa_sample_bin-0.1.0.data/scripts/wa-sample-bin"


def record_rows(wheel: Path) -> dict[str, tuple[str, str]]:
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        rows = csv.reader(io.StringIO(z.read(record).decode()))
        return {r[0]: (r[1], r[2]) for r in rows if r}


def assert_record_verifies(wheel: Path) -> None:
    rows = record_rows(wheel)
    with zipfile.ZipFile(wheel) as z:
        assert z.testzip() is None, "a member's CRC-32 does not match"
        files = [i for i in z.infolist() if not i.is_dir()]
        assert {i.filename for i in files} == set(rows)
        for info in files:
            digest, size = rows[info.filename]
            if info.filename.endswith("/RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = z.read(info)
            algo, _, value = digest.partition("=")
            expected = base64.urlsafe_b64encode(hashlib.new(algo, data).digest()).rstrip(b"=").decode()
            assert value == expected, info.filename
            assert int(size) == len(data), info.filename


def elf_of(wheel: Path, member: str) -> wheelaudit.Binary:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
    return parse_elf(lambda off, n: data[off : off + n], member, len(data))


@pytest.fixture(scope="module")
def repaired_syslib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if SQLITE is None:
        pytest.skip("libsqlite3.so.0 is not on this host")
    out = tmp_path_factory.mktemp("wheelhouse")
    proc = repair_cli("-w", out, sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 0, proc.stderr
    return only_wheel(out)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    return root


def pip_install(venv: Path, wheel: Path) -> None:
    proc = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--force-reinstall",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- the syslib sample -------------------------------------------------------------------


@needs_sqlite
def test_same_name_and_tag_as_auditwheel(repaired_syslib: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditwheel",
            "repair",
            "--plat",
            "auto",
            "-w",
            str(tmp_path),
            str(sample_wheel("wa_sample_syslib-")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip("auditwheel is not installed (it is in the test extras)")
    assert proc.returncode == 0, proc.stderr
    theirs = only_wheel(tmp_path)
    assert repaired_syslib.name == theirs.name
    with zipfile.ZipFile(theirs) as a, zipfile.ZipFile(repaired_syslib) as b:

        def tag_lines(z: zipfile.ZipFile) -> list[str]:
            wheel_file = z.read("wa_sample_syslib-0.1.0.dist-info/WHEEL").decode()
            return [ln for ln in wheel_file.splitlines() if ln.startswith("Tag")]

        assert tag_lines(a) == tag_lines(b)
        libs_a = sorted(n for n in a.namelist() if ".libs/" in n and not n.endswith("/"))
        libs_b = sorted(n for n in b.namelist() if ".libs/" in n)
        assert libs_a == libs_b, "same hashed names in the same <dist>.libs directory"
        # patchelf is deterministic, so the patched extension is byte-identical too
        assert a.read(SYSLIB_SO) == b.read(SYSLIB_SO)
    # The default level is zlib's 6, as auditwheel's: the result is no more than 1% larger.
    assert repaired_syslib.stat().st_size <= theirs.stat().st_size * 1.01


@needs_sqlite
def test_repaired_structure(repaired_syslib: Path) -> None:
    assert repaired_syslib.name == "wa_sample_syslib-0.1.0-cp38-abi3-manylinux_2_34_x86_64.whl"
    with zipfile.ZipFile(repaired_syslib) as z:
        names = z.namelist()
    libs = [n for n in names if n.startswith("wa_sample_syslib.libs/")]
    assert len(libs) == 1 and libs[0].startswith("wa_sample_syslib.libs/libsqlite3-")
    assert names[-1] == "wa_sample_syslib-0.1.0.dist-info/RECORD"
    ext = elf_of(repaired_syslib, SYSLIB_SO)
    grafted_name = libs[0].rsplit("/", 1)[1]
    assert grafted_name in ext.needed and "libsqlite3.so.0" not in ext.needed
    assert ext.rpath == ("$ORIGIN/../wa_sample_syslib.libs",) and ext.runpath == ()
    lib = elf_of(repaired_syslib, libs[0])
    assert lib.own_name == grafted_name
    report = wheelaudit.audit(repaired_syslib)
    assert report.ok and report.platform_tag == "manylinux_2_34_x86_64"
    assert report.external_libraries == ()
    sbom = "wa_sample_syslib-0.1.0.dist-info/sboms/wheelaudit.cdx.json"
    assert sbom in names


@needs_sqlite
def test_record_verifies_and_wheel_unpack_accepts(repaired_syslib: Path, tmp_path: Path) -> None:
    assert_record_verifies(repaired_syslib)
    pytest.importorskip("wheel", reason="the `wheel` package is not installed (test extras)")
    proc = subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "-d", str(tmp_path), str(repaired_syslib)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_sqlite
def test_installed_module_loads_the_grafted_library(repaired_syslib: Path, venv: Path) -> None:
    pip_install(venv, repaired_syslib)
    code = (
        "import wa_sample_syslib as m, sysconfig\n"
        "assert m.sum_to(10) == 55, m.sum_to(10)\n"
        "print(m.sqlite_version())\n"
        "print(sysconfig.get_path('platlib'))\n"
        "print('\\n'.join(l.split()[-1] for l in open('/proc/self/maps') if 'sqlite' in l))\n"
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    site, loaded = lines[1], set(lines[2:])
    assert loaded, "libsqlite3 is not mapped at all"
    for path in loaded:
        assert path.startswith(os.path.join(site, "wa_sample_syslib.libs", "libsqlite3-")), loaded
    assert SQLITE not in loaded


@needs_sqlite
def test_two_repairs_are_byte_identical(repaired_syslib: Path, tmp_path: Path) -> None:
    proc = repair_cli("-w", tmp_path, sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 0, proc.stderr
    assert only_wheel(tmp_path).read_bytes() == repaired_syslib.read_bytes()


@needs_sqlite
def test_source_date_epoch_sets_every_timestamp(tmp_path: Path) -> None:
    proc = repair_cli("-w", tmp_path, sample_wheel("wa_sample_syslib-"), env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(only_wheel(tmp_path)) as z:
        assert {i.date_time for i in z.infolist()} == {(2023, 11, 14, 22, 13, 20)}


@needs_sqlite
def test_repairing_a_repaired_wheel_changes_nothing(repaired_syslib: Path, tmp_path: Path) -> None:
    proc = repair_cli("-w", tmp_path, repaired_syslib)
    assert proc.returncode == 0, proc.stderr
    assert "grafted nothing" in proc.stdout
    again = only_wheel(tmp_path)
    assert again.name == repaired_syslib.name
    assert again.read_bytes() == repaired_syslib.read_bytes()
    # Repairing in place (output would be the input itself) writes nothing at all.
    before = repaired_syslib.stat().st_mtime_ns
    proc = repair_cli("-w", repaired_syslib.parent, repaired_syslib)
    assert proc.returncode == 0, proc.stderr
    assert repaired_syslib.stat().st_mtime_ns == before


@needs_sqlite
def test_unchanged_members_are_copied_compressed(repaired_syslib: Path) -> None:
    src = sample_wheel("wa_sample_syslib-")
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(repaired_syslib) as b:
        for name in ("wa_sample_syslib/__init__.py", "wa_sample_syslib-0.1.0.dist-info/METADATA"):
            ia, ib = a.getinfo(name), b.getinfo(name)
            assert (ia.CRC, ia.compress_size, ia.compress_type) == (ib.CRC, ib.compress_size, ib.compress_type)
    assert (
        record_rows(src)["wa_sample_syslib/__init__.py"] == record_rows(repaired_syslib)["wa_sample_syslib/__init__.py"]
    )


@needs_sqlite
def test_exclude_leaves_the_library_outside(tmp_path: Path) -> None:
    proc = repair_cli("--exclude", "libsqlite3.so.*", "-w", tmp_path, sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 0, proc.stderr
    assert "libsqlite3.so.0" in proc.stderr and "excluded" in proc.stderr
    out = only_wheel(tmp_path)
    with zipfile.ZipFile(out) as z:
        assert not [n for n in z.namelist() if ".libs/" in n]
    assert "libsqlite3.so.0" in elf_of(out, SYSLIB_SO).needed


@needs_sqlite
def test_exclude_by_path(tmp_path: Path) -> None:
    proc = repair_cli("--exclude", "*/libsqlite3*", "-w", tmp_path, sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 0, proc.stderr
    assert "excluded" in proc.stderr


@needs_sqlite
def test_too_old_plat_names_library_and_symbols(tmp_path: Path) -> None:
    out = tmp_path / "wheelhouse"
    proc = repair_cli("--plat", "manylinux2014_x86_64", "-w", out, sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wheelaudit: error: cannot repair to manylinux_2_17_x86_64")
    assert "GLIBC_2.28" in lines[0] and "statx" in lines[0]
    assert not out.exists() or not any(out.iterdir())


@needs_sqlite
def test_grafted_library_too_new_is_named(tmp_path: Path) -> None:
    """Below GLIBC_2.33 the grafted libsqlite3 (fstat64@GLIBC_2.33) is in the way: the message names it."""
    proc = repair_cli("--plat", "manylinux_2_31_x86_64", "-w", tmp_path, sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 1
    assert "libsqlite3" in proc.stderr and "GLIBC_2.33" in proc.stderr and "fstat64" in proc.stderr


@needs_sqlite
def test_lib_path_and_foreign_machine_are_respected(tmp_path: Path) -> None:
    assert SQLITE is not None
    good = tmp_path / "good"
    foreign = tmp_path / "foreign"
    good.mkdir()
    foreign.mkdir()
    shutil.copyfile(SQLITE, good / "libsqlite3.so.0")
    data = bytearray(Path(SQLITE).read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # e_machine = aarch64: the loader would skip it
    (foreign / "libsqlite3.so.0").write_bytes(bytes(data))
    result = wheelaudit.repair(
        sample_wheel("wa_sample_syslib-"), wheel_dir=tmp_path / "out", lib_paths=[str(foreign), str(good)]
    )
    with zipfile.ZipFile(result) as z:
        lib = next(n for n in z.namelist() if ".libs/" in n)
    # the copy in `good` has the same bytes as the system one, but its file name is the soname
    assert lib.startswith("wa_sample_syslib.libs/libsqlite3-") and lib.endswith(".so.0")


@needs_sqlite
def test_sysroot_with_ld_so_conf_include_and_absolute_symlink(tmp_path: Path) -> None:
    assert SQLITE is not None
    root = tmp_path / "sysroot"
    (root / "etc" / "ld.so.conf.d").mkdir(parents=True)
    (root / "opt" / "sq" / "lib").mkdir(parents=True)
    (root / "etc" / "ld.so.conf").write_text("# test\ninclude /etc/ld.so.conf.d/*.conf\n")
    (root / "etc" / "ld.so.conf.d" / "sq.conf").write_text("/opt/sq/lib\n")
    shutil.copyfile(SQLITE, root / "opt" / "sq" / "lib" / "libsqlite3.so.0.8.6")
    os.symlink("/opt/sq/lib/libsqlite3.so.0.8.6", root / "opt" / "sq" / "lib" / "libsqlite3.so.0")
    resolver = HostResolver(identity=ElfIdentity(2, 1, 62, 0), arch="x86_64", sysroot=str(root))
    assert "/opt/sq/lib" in resolver.default_paths()
    found = resolver.find("libsqlite3.so.0", resolver.default_paths())
    assert found is not None and found.realpath == str(root / "opt" / "sq" / "lib" / "libsqlite3.so.0.8.6")
    assert found.path == "/opt/sq/lib/libsqlite3.so.0"
    proc = repair_cli("--sysroot", root, "-w", tmp_path / "out", sample_wheel("wa_sample_syslib-"))
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(only_wheel(tmp_path / "out")) as z:
        sbom = z.read("wa_sample_syslib-0.1.0.dist-info/sboms/wheelaudit.cdx.json").decode()
    assert str(root / "opt" / "sq" / "lib") in sbom


def test_resolver_parses_each_library_once() -> None:
    if platform.machine() != "x86_64" or SQLITE is None:
        pytest.skip("needs an x86_64 host with libsqlite3")
    resolver = HostResolver(identity=ElfIdentity(2, 1, 62, 0), arch="x86_64")
    for _ in range(3):
        assert resolver.find("libsqlite3.so.0", resolver.default_paths()) is not None
        assert resolver.find("libsqlite3.so.0", ["/nonexistent", *resolver.default_paths()]) is not None
    assert resolver.parse_count == 1


# -- scripts (maturin bindings = "bin") ------------------------------------------------------


def _bin_wheel_needing_sqlite(tmp: Path) -> Path:
    """The bin sample with DT_NEEDED libsqlite3.so.0 added to its executable (RECORD kept correct)."""
    src = sample_wheel("wa_sample_bin-")
    exe = tmp / "exe"
    with zipfile.ZipFile(src) as z:
        exe.write_bytes(z.read(BIN_EXE))
        members = {i.filename: z.read(i) for i in z.infolist()}
    patchelf, _ = find_patchelf()
    subprocess.run([patchelf, "--add-needed", "libsqlite3.so.0", str(exe)], check=True)
    members[BIN_EXE] = exe.read_bytes()
    record_name = "wa_sample_bin-0.1.0.dist-info/RECORD"
    rows = []
    for name, data in members.items():
        if name != record_name:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={digest},{len(data)}")
    rows.append(f"{record_name},,")
    members[record_name] = ("\n".join(rows) + "\n").encode()
    out = tmp / "in" / src.name
    out.parent.mkdir()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name == BIN_EXE else 0o100644) << 16
            z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out


def test_bin_sample_repairs_without_grafting(tmp_path: Path) -> None:
    src = sample_wheel("wa_sample_bin-")
    proc = repair_cli("-w", tmp_path, src)
    assert proc.returncode == 0, proc.stderr
    out = only_wheel(tmp_path)
    assert out.name == "wa_sample_bin-0.1.0-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out) as b:
        assert a.read(BIN_EXE) == b.read(BIN_EXE)
        assert b.getinfo(BIN_EXE).external_attr >> 16 == 0o100755
    assert_record_verifies(out)


@needs_sqlite
def test_script_keeps_working_after_grafting(tmp_path: Path, venv: Path) -> None:
    wheel = _bin_wheel_needing_sqlite(tmp_path)
    proc = repair_cli("-w", tmp_path / "out", wheel)
    assert proc.returncode == 0, proc.stderr
    out = only_wheel(tmp_path / "out")
    assert_record_verifies(out)
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        shim = z.read(BIN_EXE)
    assert "wa_sample_bin.scripts/wa-sample-bin" in names
    assert shim.startswith(b"#!python")
    moved = elf_of(out, "wa_sample_bin.scripts/wa-sample-bin")
    assert moved.rpath == ("$ORIGIN/../wa_sample_bin.libs",)
    pip_install(venv, out)
    run = subprocess.run(
        [str(venv / "bin" / "wa-sample-bin"), "hello"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LD_DEBUG": "libs"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "wa-sample-bin: hello"
    assert "wa_sample_bin.libs/libsqlite3-" in run.stderr


# -- errors -----------------------------------------------------------------------------------


def test_pure_wheel_is_refused(tmp_path: Path) -> None:
    from .hostile import rewrite

    src = sample_wheel("wa_sample_abi3-")
    pure = rewrite(
        src, tmp_path / "wa_sample_abi3-0.1.0-py3-none-any.whl", drop=("wa_sample_abi3/wa_sample_abi3.abi3.so",)
    )
    proc = repair_cli("-w", tmp_path / "out", pure)
    assert proc.returncode in (1, 2)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_api_returns_path(tmp_path: Path) -> None:
    result = wheelaudit.repair(sample_wheel("wa_sample_abi3-"), plat="manylinux_2_17_x86_64", wheel_dir=tmp_path)
    assert isinstance(result, Path) and result.parent == tmp_path and result.is_file()
    assert result.name.endswith("-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    only = wheelaudit.repair(
        sample_wheel("wa_sample_abi3-"), plat="manylinux_2_28_x86_64", wheel_dir=tmp_path / "o", only_plat=True
    )
    assert only.name.endswith("-cp38-abi3-manylinux_2_28_x86_64.whl")
    wide = wheelaudit.repair(sample_wheel("wa_sample_abi3-"), plat="manylinux_2_28_x86_64", wheel_dir=tmp_path / "w")
    assert wide.name.endswith("-cp38-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl")
    assert_record_verifies(wide)


def test_api_output_folder_passed_as_the_tag_is_one_clear_error(tmp_path: Path) -> None:
    """``repair(wheel, folder)`` puts the folder in ``plat`` (the second parameter): one line saying
    so, not a TypeError from deep in the tag parser."""
    from wheelaudit.errors import OptionError

    with pytest.raises(OptionError, match=r"not PosixPath\(.*\); the output folder is wheel_dir=") as caught:
        wheelaudit.repair(sample_wheel("wa_sample_abi3-"), tmp_path / "out")  # type: ignore[arg-type]
    assert caught.value.option == "plat" and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


# -- other samples and options -----------------------------------------------------------------


def test_libpython_dependency_is_removed_with_a_warning(tmp_path: Path) -> None:
    proc = repair_cli("-w", tmp_path, sample_wheel("wa_sample_libpython-"))
    assert proc.returncode == 0, proc.stderr
    assert "libpython3.11.so.1.0" in proc.stderr and "warning" in proc.stderr
    out = only_wheel(tmp_path)
    ext = next(n for n in zipfile.ZipFile(out).namelist() if n.endswith(".so"))
    assert not [n for n in elf_of(out, ext).needed if n.startswith("libpython")]
    with zipfile.ZipFile(out) as z:
        assert not [n for n in z.namelist() if ".libs/" in n], "libpython is never grafted"
    assert wheelaudit.audit(out).ok


def test_lying_tag_is_replaced_by_the_true_one(tmp_path: Path) -> None:
    proc = repair_cli("-w", tmp_path, sample_wheel("wa_sample_newglibc-"))
    assert proc.returncode == 0, proc.stderr
    out = only_wheel(tmp_path)
    assert out.name == "wa_sample_newglibc-0.1.0-cp38-abi3-manylinux_2_36_x86_64.whl"
    with zipfile.ZipFile(out) as z:
        wheel_file = z.read("wa_sample_newglibc-0.1.0.dist-info/WHEEL").decode()
    assert [ln for ln in wheel_file.splitlines() if ln.startswith("Tag:")] == ["Tag: cp38-abi3-manylinux_2_36_x86_64"]
    proc = repair_cli("--plat", "manylinux2014_x86_64", "-w", tmp_path / "no", sample_wheel("wa_sample_newglibc-"))
    assert proc.returncode == 1 and "statx" in proc.stderr


def test_strip_debug(tmp_path: Path) -> None:
    if not (shutil.which("llvm-strip") or shutil.which("strip")):
        pytest.skip("no strip program on this host")
    src = sample_wheel("wa_sample_debuginfo-")
    proc = repair_cli("--strip", "debug", "-w", tmp_path, src)
    assert proc.returncode == 0, proc.stderr
    out = only_wheel(tmp_path)
    ext = next(n for n in zipfile.ZipFile(out).namelist() if n.endswith(".so"))
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out) as b:
        assert b.getinfo(ext).file_size < a.getinfo(ext).file_size
        assert b"\x00.debug_info\x00" not in b.read(ext)
    assert_record_verifies(out)
    assert wheelaudit.audit(out).ok


def test_verify_record_catches_a_tampered_member(tmp_path: Path) -> None:
    from .hostile import rewrite

    src = sample_wheel("wa_sample_abi3-")
    tampered = rewrite(src, tmp_path / src.name, replace={"wa_sample_abi3/__init__.py": b"evil = True\n"})
    proc = repair_cli("--verify-record", "-w", tmp_path / "out", tampered)
    assert proc.returncode == 2, proc.stderr
    assert "__init__.py" in proc.stderr and "RECORD" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    proc = repair_cli("-w", tmp_path / "trusting", tampered)
    assert proc.returncode == 0, "without --verify-record the input's hashes are trusted"


# -- real wheels ------------------------------------------------------------------------------

POLARS = "polars_runtime_32-2.1.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
MATURIN = "maturin-1.16.0-py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64.musllinux_1_1_x86_64.whl"


@pytest.mark.real
@pytest.mark.slow
def test_polars_repair_copies_the_big_library_raw(real_wheels: dict[str, Path], tmp_path: Path) -> None:
    src = real_wheels[POLARS]
    result = wheelaudit.repair(src, wheel_dir=tmp_path, verify_record=True)
    assert result.name == "polars_runtime_32-2.1.0-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    so = "_polars_runtime_32/_polars_runtime.abi3.so"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(result) as b:
        ia, ib = a.getinfo(so), b.getinfo(so)
        assert (ia.CRC, ia.compress_size) == (ib.CRC, ib.compress_size)
        assert a.read("polars_runtime_32-2.1.0.dist-info/WHEEL") == b.read("polars_runtime_32-2.1.0.dist-info/WHEEL")
    assert record_rows(src)[so] == record_rows(result)[so]


@pytest.mark.real
def test_static_program_keeps_both_libc_families(real_wheels: dict[str, Path], tmp_path: Path) -> None:
    result = wheelaudit.repair(real_wheels[MATURIN], wheel_dir=tmp_path)
    assert result.name == "maturin-1.16.0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.musllinux_1_1_x86_64.whl"
    assert_record_verifies(result)
