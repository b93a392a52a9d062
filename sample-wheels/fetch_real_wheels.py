#!/usr/bin/env python3
"""Fetch the pinned real-world wheels listed in ``real-wheels.json`` into a local cache.

Why: tests and benchmarks need real PyPI wheels (Rust, C, C++; Linux, macOS, Windows) but the repo must
not carry hundreds of megabytes of binaries. The manifest pins each file by name, size and sha256; this
script fetches exactly those files with pip (the ordinary client for the package index), checks the
hash and keeps them in a cache so later runs cost nothing.

Stdlib only. Usable as a script or imported (``fetch()``) from pytest.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).resolve().with_name("real-wheels.json")
CACHE_ENV = "WHEELAUDIT_WHEEL_CACHE"
PLATFORMS = ("linux", "macos", "windows")
ATTEMPTS = 3  # one try plus two retries
_PRINT_LOCK = threading.Lock()


class FetchError(RuntimeError):
    """Raised when one or more wheels could not be fetched or verified; carries the per-file reasons."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        lines = "\n".join(f"  {name}: {why}" for name, why in sorted(failures.items()))
        super().__init__(f"{len(failures)} wheel(s) failed:\n{lines}")


@dataclass(frozen=True)
class WheelPin:
    """One manifest entry: what to ask pip for and what the result must hash to."""

    project: str
    version: str
    filename: str
    platform: str
    sha256: str
    size: int

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> WheelPin:
        return cls(
            project=str(raw["project"]),
            version=str(raw["version"]),
            filename=str(raw["filename"]),
            platform=str(raw["platform"]),
            sha256=str(raw["sha256"]).lower(),
            size=int(str(raw["size"])),
        )


def _log_stderr(message: str) -> None:
    with _PRINT_LOCK:
        print(message, file=sys.stderr, flush=True)


def load_manifest(path: Path = MANIFEST, *, benchmark: bool = False) -> list[WheelPin]:
    """Read the manifest; the JSON carries more fields (anchor verdicts) than fetching needs.

    ``benchmark`` adds the ``benchmark_wheels``: very large wheels only the benchmarks
    use, kept apart so that tests never download them.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != 1:
        raise ValueError(f"{path}: unsupported manifest format {data.get('format')!r}")
    entries = list(data["wheels"]) + (list(data.get("benchmark_wheels", ())) if benchmark else [])
    return [WheelPin.from_dict(entry) for entry in entries]


def default_cache() -> Path:
    """The cache directory: $WHEELAUDIT_WHEEL_CACHE, else ~/.cache/wheelaudit/real-wheels."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wheelaudit" / "real-wheels"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def select(
    pins: Iterable[WheelPin],
    names: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
) -> list[WheelPin]:
    """Filter pins by project name (or exact file name) and by platform family."""
    if isinstance(names, str):
        names = [names]
    if isinstance(platforms, str):
        platforms = [platforms]
    wanted = {_normalize(n) for n in names} if names else None
    wanted_platforms = set(platforms) if platforms else None
    chosen = []
    for pin in pins:
        if wanted_platforms is not None and pin.platform not in wanted_platforms:
            continue
        keys = {_normalize(pin.project), _normalize(pin.filename)}
        if wanted is not None and not keys & wanted:
            continue
        chosen.append(pin)
    return chosen


def pip_target_args(filename: str) -> list[str]:
    """pip options that make exactly this wheel's tags acceptable (python version, abi, platforms)."""
    parts = filename[: -len(".whl")].split("-")
    python_tag, abi_tag, platform_tag = parts[-3], parts[-2], parts[-1]
    first_python = python_tag.split(".")[0]
    impl, digits = first_python[:2], first_python[2:]
    if impl == "py" and len(digits) <= 1:
        # Generic py3 wheels: any CPython 3 will do; pick a current one.
        version, implementation = "3.12", "py"
    else:
        version = f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else digits
        implementation = impl
    args = [
        "--implementation",
        implementation,
        "--python-version",
        version,
        "--abi",
        abi_tag.split(".")[0],
    ]
    for plat in platform_tag.split("."):
        args += ["--platform", plat]
    return args


def _pip_download(pin: WheelPin, dest: Path) -> None:
    """Ask pip for exactly one file: pinned version, exact tags, and the hash (pip filters by it)."""
    requirement = dest / "requirement.txt"
    requirement.write_text(f"{pin.project}=={pin.version} --hash=sha256:{pin.sha256}\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--ignore-requires-python",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dest",
        str(dest),
        *pip_target_args(pin.filename),
        "-r",
        str(requirement),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stderr or result.stdout
        lines = output.strip().splitlines() or ["(no output)"]
        if "DO NOT MATCH THE HASHES" in output:
            got = [line.strip() for line in lines if line.strip().startswith("Got")]
            raise RuntimeError(f"sha256 mismatch reported by pip: {(got or lines)[-1]}")
        raise RuntimeError(f"pip download exited {result.returncode}: {lines[-1][:300]}")


def _fetch_one(pin: WheelPin, cache: Path, log: Callable[[str], None]) -> Path:
    target = cache / pin.filename
    if target.is_file():
        if target.stat().st_size == pin.size and sha256_of(target) == pin.sha256:
            log(f"cached   {pin.filename}")
            return target
        log(f"stale    {pin.filename} (hash mismatch, fetching again)")
        target.unlink()
    last_error = "unknown error"
    for attempt in range(1, ATTEMPTS + 1):
        work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache))
        try:
            log(f"fetching {pin.filename} ({pin.size / 1e6:.1f} MB, try {attempt}/{ATTEMPTS})")
            _pip_download(pin, work)
            got = work / pin.filename
            if not got.is_file():
                found = sorted(p.name for p in work.glob("*.whl"))
                raise RuntimeError(f"pip produced {found or 'no wheel'}, not the pinned file")
            digest = sha256_of(got)
            if digest != pin.sha256:
                got.unlink()
                raise RuntimeError(f"sha256 mismatch: got {digest}, want {pin.sha256}")
            os.replace(got, target)  # same filesystem: atomic, never a half-written wheel in place
            log(f"ok       {pin.filename}")
            return target
        except (OSError, RuntimeError) as exc:
            last_error = str(exc)
            log(f"failed   {pin.filename}: {last_error}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    raise RuntimeError(last_error)


@contextlib.contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    """One fetching process per cache at a time (pytest-xdist workers start together): the others
    wait, then find the wheels cached instead of downloading them again. No lock where fcntl is missing."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(cache_dir / ".fetch.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch(
    names: Iterable[str] | None = None,
    platforms: Iterable[str] | None = None,
    cache: Path | str | None = None,
    *,
    jobs: int = 3,
    log: Callable[[str], None] | None = None,
    manifest: Path = MANIFEST,
    benchmark: bool = False,
) -> dict[str, Path]:
    """Make sure the selected wheels are in the cache; return file name -> path.

    Raises FetchError (after trying every wheel) if any could not be fetched or verified.
    """
    emit = log or _log_stderr
    cache_dir = Path(cache).expanduser() if cache is not None else default_cache()
    cache_dir.mkdir(parents=True, exist_ok=True)
    pins = select(load_manifest(manifest, benchmark=benchmark), names, platforms)
    results: dict[str, Path] = {}
    failures: dict[str, str] = {}
    with _cache_lock(cache_dir), concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_fetch_one, pin, cache_dir, emit): pin for pin in pins}
        for future in concurrent.futures.as_completed(futures):
            pin = futures[future]
            try:
                results[pin.filename] = future.result()
            except RuntimeError as exc:
                failures[pin.filename] = str(exc)
    if failures:
        raise FetchError(failures)
    return {pin.filename: results[pin.filename] for pin in pins}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--platform", action="append", choices=PLATFORMS, help="only this platform family")
    parser.add_argument("--project", action="append", metavar="NAME", help="only this project (or file name)")
    parser.add_argument("--cache", type=Path, help=f"cache directory (default ${CACHE_ENV} or ~/.cache/...)")
    parser.add_argument("--jobs", type=int, default=3, help="parallel downloads (default 3)")
    parser.add_argument("--list", action="store_true", help="list the selected wheels and exit")
    parser.add_argument("--benchmark", action="store_true", help="also the very large benchmark-only wheels")
    args = parser.parse_args(argv)
    if args.list:
        for pin in select(load_manifest(benchmark=args.benchmark), args.project, args.platform):
            print(f"{pin.platform:8} {pin.size / 1e6:7.1f} MB  {pin.filename}")
        return 0
    cache_dir = args.cache.expanduser() if args.cache else default_cache()
    try:
        paths = fetch(args.project, args.platform, cache_dir, jobs=args.jobs, benchmark=args.benchmark)
    except FetchError as exc:
        print(exc, file=sys.stderr)
        print(cache_dir)
        return 1
    total = sum(p.stat().st_size for p in paths.values())
    _log_stderr(f"{len(paths)} wheel(s), {total / 1e6:.1f} MB, verified")
    print(cache_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
