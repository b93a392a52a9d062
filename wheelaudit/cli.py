"""The ``wheelaudit`` command: a thin layer of argument parsing and printing over the library API.

Exit status: 0 when every wheel can carry its own tags, 1 when one cannot, 2 when
an input could not be used (or the command line was wrong), 3 on an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import __version__
from .auditing import audit
from .errors import WheelError

if TYPE_CHECKING:
    from .policy import PolicySet
    from .report import WheelReport

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE, EXIT_INTERNAL = 0, 1, 2, 3


@dataclass(frozen=True)
class _Failure:
    """Why one wheel produced no report: unusable input, or (``internal``) a bug in wheelaudit."""

    message: str
    internal: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelaudit",
        description="Audit and repair binary wheels (ELF, Mach-O, PE) for any platform, on any host.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"wheelaudit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show = sub.add_parser(
        "show",
        help="what a wheel needs, the best tag it can carry, and every problem",
        description="Audit wheels without extracting them and without any host library.",
    )
    show.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel files")
    show.add_argument("--json", action="store_true", help="print JSON (one object, or a list for several wheels)")
    show.add_argument("-v", "--verbose", action="store_true", help="list needed libraries and every blocked level")
    show.add_argument(
        "--policy-file",
        action="append",
        default=[],
        metavar="FILE",
        help="extra policy file (same format as policies/*.json); levels with a known name replace it",
    )
    show.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="wheels audited in parallel")
    _add_repair_parser(sub)
    return parser


def _add_repair_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    repair = sub.add_parser(
        "repair",
        help="graft external libraries, patch, strip and retag Linux wheels",
        description="Copy the libraries a wheel's tag does not allow into the wheel and retag it. "
        "The input is never modified; the result is written atomically into the wheelhouse.",
    )
    repair.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel files")
    repair.add_argument(
        "--plat",
        default="auto",
        metavar="TAG",
        help="target tag, e.g. manylinux_2_17_x86_64 or manylinux2014_x86_64; "
        "auto (default): the most compatible tag the repaired wheel satisfies",
    )
    repair.add_argument("-w", "--wheel-dir", default="wheelhouse", metavar="DIR", help="output directory (wheelhouse/)")
    repair.add_argument(
        "--lib-path", action="append", default=[], metavar="DIR", help="search DIR for libraries first (repeatable)"
    )
    repair.add_argument(
        "--sysroot", default=None, metavar="DIR", help="resolve libraries inside DIR (cross-arch or musl targets)"
    )
    repair.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave libraries matching PATTERN (fnmatch on soname and path) outside the wheel",
    )
    repair.add_argument(
        "--strip",
        choices=("none", "debug", "all"),
        default="none",
        help="strip debug info or all symbols from the binaries (default none)",
    )
    repair.add_argument(
        "--only-plat",
        action="store_true",
        help="tag with --plat only, even when a more compatible tag is also satisfied",
    )
    repair.add_argument(
        "-z",
        "--zip-compression-level",
        type=int,
        choices=range(10),
        default=6,
        metavar="N",
        help="deflate level 0-9 for changed and new members (default 6)",
    )
    repair.add_argument(
        "--verify-record",
        action="store_true",
        help="re-hash every member against RECORD instead of trusting the hashes of unchanged ones",
    )
    repair.add_argument(
        "--policy-file",
        action="append",
        default=[],
        metavar="FILE",
        help="extra policy file (same format as policies/*.json)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "show":
        return _show(args)
    if args.command == "repair":
        return _repair(args)
    return EXIT_UNUSABLE  # pragma: no cover - argparse rejects unknown commands


def _show(args: argparse.Namespace) -> int:
    policies = None  # the bundled levels, loaded by the audit while the first wheel inflates
    if args.policy_file:
        from .policy import load_policies

        try:
            policies = load_policies(args.policy_file)
        except WheelError as exc:
            print(f"wheelaudit: error: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    jobs = args.jobs if args.jobs and args.jobs > 0 else None
    outcomes = _audit_all(args.wheels, policies, jobs)
    from .render import render_text
    from .report import WheelReport, error_to_json

    status = EXIT_OK
    documents = []
    for wheel, outcome in zip(args.wheels, outcomes):
        if isinstance(outcome, WheelReport):
            if not outcome.ok:
                status = max(status, EXIT_PROBLEMS)
            if args.json:
                documents.append(outcome.to_json())
            else:
                print(render_text(outcome, verbose=args.verbose))
        else:
            status = max(status, EXIT_INTERNAL if outcome.internal else EXIT_UNUSABLE)
            if args.json:
                documents.append(error_to_json(wheel, outcome.message))
            print(f"wheelaudit: error: {outcome.message}", file=sys.stderr)
    if args.json:
        json.dump(documents[0] if len(documents) == 1 else documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif len(outcomes) > 1:
        reports = [o for o in outcomes if isinstance(o, WheelReport)]
        good = sum(r.ok for r in reports)
        print(
            f"\n{len(outcomes)} wheels: {good} OK, {len(reports) - good} NOT OK"
            + (f", {len(outcomes) - len(reports)} unusable" if len(reports) < len(outcomes) else "")
        )
    return status


def _audit_one(path: str, policies: PolicySet | None, jobs: int | None) -> WheelReport | _Failure:
    """One wheel's report, or a one-line reason when there is none."""
    try:
        return audit(path, policies=policies, jobs=jobs)
    except WheelError as exc:
        return _Failure(str(exc))
    except (MemoryError, RecursionError) as exc:  # hostile input exhausting resources
        return _Failure(f"{path}: cannot be audited ({type(exc).__name__})")
    except Exception as exc:  # a bug: say so in one line; WHEELAUDIT_DEBUG=1 shows the traceback
        if os.environ.get("WHEELAUDIT_DEBUG"):
            traceback.print_exc()
        return _Failure(
            f"{path}: internal error ({type(exc).__name__}: {exc}); please report it "
            "(set WHEELAUDIT_DEBUG=1 for the traceback)",
            internal=True,
        )


def _audit_all(wheels: list[str], policies: PolicySet | None, jobs: int | None) -> list[WheelReport | _Failure]:
    """Audit every wheel, in order; several wheels with --jobs N go to N worker processes.

    Processes, not threads: parsing is pure Python and would otherwise share one GIL.
    Within one wheel, members still inflate in parallel threads.
    """
    if jobs and jobs > 1 and len(wheels) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, len(wheels))) as pool:
            return list(pool.map(_audit_one, wheels, [policies] * len(wheels), [1] * len(wheels)))
    return [_audit_one(w, policies, None) for w in wheels]


def _repair(args: argparse.Namespace) -> int:
    from .errors import RepairError
    from .policy import load_policies
    from .repairing import RepairOptions, repair_wheel

    try:
        policies = load_policies(args.policy_file)
    except WheelError as exc:
        print(f"wheelaudit: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    options = RepairOptions(
        plat=args.plat,
        lib_paths=tuple(args.lib_path),
        sysroot=args.sysroot,
        exclude=tuple(args.exclude),
        strip=args.strip,
        only_plat=args.only_plat,
    )
    status = EXIT_OK
    for wheel in args.wheels:
        try:
            result = repair_wheel(
                wheel,
                options,
                args.wheel_dir,
                compresslevel=args.zip_compression_level,
                verify_record=args.verify_record,
                policies=policies,
                progress=sys.stderr.isatty(),
            )
        except RepairError as exc:
            print(f"wheelaudit: error: {exc}", file=sys.stderr)
            status = max(status, EXIT_PROBLEMS)
            continue
        except WheelError as exc:
            print(f"wheelaudit: error: {exc}", file=sys.stderr)
            status = EXIT_UNUSABLE
            continue
        except OSError as exc:
            print(f"wheelaudit: error: {wheel}: {exc.strerror or exc}", file=sys.stderr)
            status = EXIT_UNUSABLE
            continue
        except (MemoryError, RecursionError) as exc:  # hostile input exhausting resources
            print(f"wheelaudit: error: {wheel}: cannot be repaired ({type(exc).__name__})", file=sys.stderr)
            status = EXIT_UNUSABLE
            continue
        for warning in result.warnings:
            print(f"wheelaudit: warning: {warning}", file=sys.stderr)
        grafted = ", ".join(g.new_name for g in result.plan.grafts) or "nothing"
        print(f"{result.path}  ({result.plan.platform_tags[0]}; grafted {grafted}; {result.seconds:.2f}s)")
    return status


def run() -> None:
    """Console-script entry point."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("wheelaudit: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        code = EXIT_OK
    sys.exit(code)
