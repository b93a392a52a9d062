"""iOS (PEP 730) and Android (PEP 738) wheels are recognised and judged by their own rules."""

from __future__ import annotations

from pathlib import Path

import pytest

import wheelaudit

from .builders import (
    CPU_ARM64,
    CPU_X86_64,
    PLATFORM_IOS,
    PLATFORM_IOS_SIMULATOR,
    build_macho,
    make_wheel,
    repack_wheel,
)

PY_FRAMEWORK = "@rpath/Python.framework/Python"


def _ios(cpu: int = CPU_ARM64, platform: int = PLATFORM_IOS, minos: str = "13.0") -> bytes:
    return build_macho(
        cputype=cpu,
        platform=platform,
        minos=minos,
        needed=(PY_FRAMEWORK, "/usr/lib/libSystem.B.dylib"),
        weak=(),
        rpaths=(),
        own_name=None,
        filetype=8,
        init="_demo",
    )


IOS_CASES = [
    ("device wheel", "ios_13_0_arm64_iphoneos", _ios(), "ios_13_0_arm64_iphoneos", set()),
    (
        "simulator wheel",
        "ios_13_0_x86_64_iphonesimulator",
        _ios(CPU_X86_64, PLATFORM_IOS_SIMULATOR),
        "ios_13_0_x86_64_iphonesimulator",
        set(),
    ),
    (
        "simulator binary in device wheel",
        "ios_13_0_arm64_iphoneos",
        _ios(platform=PLATFORM_IOS_SIMULATOR),
        "ios_13_0_arm64_iphonesimulator",
        {"macho-platform-mismatch"},
    ),
    (
        "min iOS too new",
        "ios_13_0_arm64_iphoneos",
        _ios(minos="15.0"),
        "ios_15_0_arm64_iphoneos",
        {"ios-min-version-too-new"},
    ),
    (
        "wrong arch",
        "ios_13_0_arm64_iphonesimulator",
        _ios(CPU_X86_64, PLATFORM_IOS_SIMULATOR),
        "ios_13_0_x86_64_iphonesimulator",
        {"binary-arch-mismatch"},
    ),
]


@pytest.mark.parametrize("case", IOS_CASES, ids=[c[0] for c in IOS_CASES])
def test_ios(case: tuple[str, str, bytes, str, set[str]], tmp_path: Path) -> None:
    _, plat, binary, expected, errors = case
    so = f"demo/_demo.cpython-313-{plat.rsplit('_', 1)[-1]}.so"
    report = wheelaudit.audit(make_wheel(tmp_path, f"demo-1.0-cp313-cp313-{plat}.whl", {so: binary}))
    assert report.platform_tag == expected
    mine = {p.code for p in report.errors if p.code != "extension-suffix-mismatch"}
    assert mine == errors
    assert report.external_libraries == ()  # Python.framework is the Python-ABI check's business
    assert [v.name for v in report.policies] == [plat]
    assert not any(p.code.startswith("macos-") for p in report.problems)


def test_ios_external_library(tmp_path: Path) -> None:
    binary = build_macho(
        cputype=CPU_ARM64,
        platform=PLATFORM_IOS,
        minos="13.0",
        weak=(),
        rpaths=(),
        needed=(PY_FRAMEWORK, "@rpath/libssl.3.dylib"),
    )
    wheel = make_wheel(tmp_path, "demo-1.0-cp313-cp313-ios_13_0_arm64_iphoneos.whl", {"demo/_x.so": binary})
    report = wheelaudit.audit(wheel)
    assert report.external_libraries == ("@rpath/libssl.3.dylib",)


# -- Android: a real aarch64 extension re-tagged --------------------------------------------------

ORJSON_AARCH64 = "orjson-3.13.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
ANDROID_NAME = "orjson-3.13.0-cp312-cp312"
BIONIC_LIBC_OLD, BIONIC_LIBC = b"libc.so.6\0", b"libc.so\0\0\0"  # same length: offsets stay valid


@pytest.mark.real
def test_android_is_not_judged_by_manylinux(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    src = all_real_wheels[ORJSON_AARCH64]
    wheel = repack_wheel(
        src, tmp_path, "orjson-3.13.0-cp312-cp312-android_24_arm64_v8a.whl", {b"libc.so.6\0": b"libc.so\0\0\0"}
    )
    report = wheelaudit.audit(wheel)
    assert report.platform_tag == "android_24_arm64_v8a"
    assert [v.name for v in report.policies] == ["android_24_arm64_v8a"]
    assert not any("manylinux" in v.name for v in report.policies)
    assert report.external_libraries == ()
    assert not [p for p in report.errors if p.code != "extension-suffix-mismatch"]


@pytest.mark.real
def test_android_glibc_and_arch(all_real_wheels: dict[str, Path], tmp_path: Path) -> None:
    src = all_real_wheels[ORJSON_AARCH64]
    report = wheelaudit.audit(repack_wheel(src, tmp_path, f"{ANDROID_NAME}-android_24_arm64_v8a.whl", {}))
    assert report.external_libraries == ("libc.so.6",)  # a glibc binary does not run on Android
    report = wheelaudit.audit(
        repack_wheel(
            src, tmp_path, "orjson-3.13.0-cp312-cp312-android_24_x86_64.whl", {b"libc.so.6\0": b"libc.so\0\0\0"}
        )
    )
    assert "binary-arch-mismatch" in {p.code for p in report.errors}
    assert report.platform_tag == "android_24_arm64_v8a"
