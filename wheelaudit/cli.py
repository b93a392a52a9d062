"""The ``wheelaudit`` command: a thin layer of argument parsing and printing over the library API.

Exit status: 0 when every wheel can carry its own tags, 1 when one cannot, 2 when
an input could not be used (or the command line was wrong).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from . import __version__
from .audit import audit
from .errors import WheelError
from .policy import PolicySet, load_policies
from .render import render_text
from .report import WheelReport, error_to_json

EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE = 0, 1, 2


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "show":
        return _show(args)
    return EXIT_UNUSABLE  # pragma: no cover - argparse rejects unknown commands


def _show(args: argparse.Namespace) -> int:
    try:
        policies = load_policies(args.policy_file)
    except WheelError as exc:
        print(f"wheelaudit: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    jobs = args.jobs if args.jobs and args.jobs > 0 else None
    outcomes = _audit_all(args.wheels, policies, jobs)
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
            status = EXIT_UNUSABLE
            if args.json:
                documents.append(error_to_json(wheel, outcome))
            print(f"wheelaudit: error: {outcome}", file=sys.stderr)
    if args.json:
        json.dump(documents[0] if len(documents) == 1 else documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status


def _audit_all(wheels: list[str], policies: PolicySet, jobs: int | None) -> list[WheelReport | str]:
    """Audit every wheel; an unusable one yields its one-line error instead of a report."""

    def one(path: str) -> WheelReport | str:
        try:
            # Members inflate in parallel within a wheel already; with several wheels in
            # flight, one thread per wheel keeps the total bounded by --jobs.
            return audit(path, policies=policies, jobs=1 if jobs and jobs > 1 and len(wheels) > 1 else None)
        except WheelError as exc:
            return str(exc)
        except (MemoryError, RecursionError) as exc:  # hostile input exhausting resources
            return f"{path}: cannot be audited ({type(exc).__name__})"

    if jobs and jobs > 1 and len(wheels) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(one, wheels))
    return [one(w) for w in wheels]


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
