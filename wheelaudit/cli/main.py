"""The ``wheelaudit`` command: a thin layer of argument parsing and printing over the library API.

Exit status: 0 when every wheel can carry its own tags, 1 when one cannot (or a repair
cannot reach the asked tag), 2 when an input could not be used (or the command line was
wrong), 3 on an internal error, 130 when interrupted (Ctrl-C), at any moment.

Everything a wheel says (its file name, member names, sonames) is printed through
:func:`wheelaudit.report.terminal.printable`, so it can neither forge a line nor drive the terminal.
This module imports only ``sys`` at the top: everything else loads inside :func:`run`,
where Ctrl-C is already turned into one line.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not imported from typing, which alone costs milliseconds of start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from types import FrameType
    from typing import Any, NoReturn

    from ..platforms.policyset import PolicySet
    from ..report.model import WheelReport
    from .exitstatus import Failure

#: Allocations between two runs of the cyclic garbage collector's youngest generation (CPython's
#: default: 700). A run makes hundreds of thousands of short-lived objects and almost no reference
#: cycles, so at the default the collector ran over and over for nothing. Measured (show --json,
#: medians, alternating): scipy 1.18.1 327 -> 316 ms, pyarrow 312 -> 304, tensorflow-cpu 1.31 ->
#: 1.26 s, orjson 44.4 -> 41.5 ms; peak RSS equal or lower (tensorflow-cpu 67 MiB either way).
GC_THRESHOLD = 50_000
#: Inputs (the wheels named on the command line) from this many bytes in all have glibc keep freed
#: memory (:mod:`.allocator`): its ~2 ms are won back from pydantic-core's 2.2 MB wheel on.
BIG_INPUT = 2 << 20
#: What :func:`run` set for this process ("gc", "malloc"), handed to -j workers: those a fork server or
#: spawn starts (Python 3.14's default on Linux, macOS, Windows) inherit neither setting.
_tuned: dict[str, bool] = {}

INTERRUPTED = "wheelaudit: interrupted"
TERMINATED = "wheelaudit: terminated"


def _say(line: str) -> None:
    """Print one line of output on stdout, with whatever came from a wheel escaped."""
    from ..report.terminal import printable

    print(printable(line))


def _complain(line: str) -> None:
    """Print one diagnostic line on stderr (``wheelaudit: ...``), escaped like the report."""
    from ..report.terminal import printable

    print(printable(line), file=sys.stderr)


_FORMATTER: type[argparse.RawDescriptionHelpFormatter] | None = None


def _formatter() -> type[argparse.RawDescriptionHelpFormatter]:
    """argparse's RawDescriptionHelpFormatter, told the terminal width as shutil would tell it.

    argparse asks shutil for it in every formatter it makes (one per argument added), and
    importing shutil (with bz2, lzma and fnmatch) is ~2 ms of each start-up; os has the same answer.
    """
    global _FORMATTER
    if _FORMATTER is None:
        import argparse
        import os

        def columns() -> int:
            try:
                wanted = int(os.environ["COLUMNS"])
            except (KeyError, ValueError):
                wanted = 0
            if wanted <= 0:
                try:
                    wanted = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
                except (AttributeError, ValueError, OSError):
                    wanted = 0
            return (wanted or 80) - 2  # argparse leaves two columns free

        class Formatter(argparse.RawDescriptionHelpFormatter):
            def __init__(
                self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
            ) -> None:
                super().__init__(prog, indent_increment, max_help_position, columns() if width is None else width)

        _FORMATTER = Formatter
    return _FORMATTER


COMMANDS = ("show", "repair", "policies", "tree")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, one command's parser (a run needs no other: each
    command's arguments cost start-up time, ~0.5 ms for the ones ``show`` does not use)."""
    import argparse

    from .. import __version__
    from . import help as helptext

    parser = argparse.ArgumentParser(
        prog="wheelaudit",
        description="Audit and repair binary wheels (ELF, Mach-O, PE) for any platform, on any host.",
        epilog=helptext.main_epilog(),
        formatter_class=_formatter(),
    )
    parser.add_argument("-V", "--version", action="version", version=f"wheelaudit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    if only in (None, "show"):
        _add_show_parser(sub)
    if only in (None, "repair"):
        _add_repair_parser(sub)
    if only in (None, "policies", "tree"):
        _add_listing_parsers(sub)
    return parser


def _add_show_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from . import help as helptext

    show = sub.add_parser(
        "show",
        help="what a wheel needs, the best tag it can carry, and every problem",
        description="Audit wheels without extracting them and without any host library. "
        "Inputs whose name does not end in .whl (an sdist next to the wheels) are skipped.",
        epilog=helptext.show_epilog(),
        formatter_class=_formatter(),
    )
    show.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel files")
    show.add_argument("--json", action="store_true", help="print JSON (one object, or a list for several wheels)")
    show.add_argument("-v", "--verbose", action="store_true", help="list needed libraries and every blocked level")
    show.add_argument("-q", "--quiet", action="store_true", help="one verdict line per wheel (text output only)")
    show.add_argument(
        "--policy-file",
        action="append",
        default=[],
        metavar="FILE",
        help="extra policy file (same format as policies/*.json); levels with a known name replace it",
    )
    show.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="wheels audited in parallel")
    show.add_argument(
        "--format",
        choices=("text", "json", "github", "sarif"),
        default="text",
        help="text (default); json (as --json); github: workflow commands, and a table appended to "
        "$GITHUB_STEP_SUMMARY when set; sarif: a SARIF 2.1.0 log",
    )
    show.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="TAG",
        help="fail unless each wheel carries a tag at least as compatible as TAG (manylinux_2_17, musllinux_1_2, "
        "macosx_11_0, ...); repeatable: a wheel meets one of those for its OS",
    )
    show.add_argument(
        "--fail-on", choices=("error", "warning"), default="error", help="lowest severity that fails (default error)"
    )


def _add_listing_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``policies`` and ``tree``: what wheelaudit knows, and what a wheel's binaries load."""

    from . import help as helptext

    policies = sub.add_parser(
        "policies",
        help="list the known platform levels and tags (manylinux, musllinux, macOS, iOS, Windows, Android)",
        description="Every manylinux/musllinux level with its aliases, architectures and libc version, "
        "and what wheelaudit knows of the other platforms, from the policy files.",
        epilog=helptext.policies_epilog(),
        formatter_class=_formatter(),
    )
    policies.add_argument("--json", action="store_true", help="print JSON")
    policies.add_argument(
        "--policy-file", action="append", default=[], metavar="FILE", help="extra policy file, listed with the rest"
    )
    tree = sub.add_parser(
        "tree",
        help="the libraries each binary of a wheel loads, as a tree (like lddtree, from the wheel alone)",
        description="What each extension or program loads from inside the wheel, and what stays outside.",
        epilog=helptext.tree_epilog(),
        formatter_class=_formatter(),
    )
    tree.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel files")
    tree.add_argument("--json", action="store_true", help="print JSON (one object, or a list for several wheels)")
    tree.add_argument(
        "--policy-file", action="append", default=[], metavar="FILE", help="extra policy file (judges what is allowed)"
    )


def _add_repair_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    from . import help as helptext

    repair = sub.add_parser(
        "repair",
        help="graft external libraries, patch, strip and retag Linux wheels",
        description="Copy the libraries a wheel's tag does not allow into the wheel and retag it. "
        "The input is never modified; the result is written atomically into the wheelhouse. "
        "Inputs whose name does not end in .whl are skipped.",
        epilog=helptext.repair_epilog(),
        formatter_class=_formatter(),
    )
    repair.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel files")
    repair.add_argument(
        "--plat",
        default="auto",
        metavar="TAG",
        help="target tag, e.g. manylinux_2_17_x86_64 or manylinux2014_x86_64, or a level without the arch; "
        "auto (default): the most compatible tag the repaired wheel satisfies",
    )
    repair.add_argument(
        "-w",
        "--wheel-dir",
        default="wheelhouse",
        metavar="DIR",
        help="output directory, created if missing (wheelhouse/)",
    )
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
        "--require-archs",
        default=None,
        metavar="ARCHS",
        help="macOS: every binary and grafted library must have these architectures "
        "(intel, universal2, arm64, x86_64, or a comma-separated list)",
    )
    repair.add_argument(
        "--macos-target",
        default=None,
        metavar="VERSION",
        help="macOS: the oldest macOS the wheel must support (default: MACOSX_DEPLOYMENT_TARGET); "
        "a grafted library that needs a newer one is an error",
    )
    repair.add_argument(
        "--no-mangle",
        action="append",
        default=[],
        metavar="PATTERN",
        help="Windows: graft DLLs matching PATTERN under their own name (repeatable)",
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
        help="deflate level for changed and new members: 6 (default) and 4-9 are libdeflate's levels for "
        "members up to 32 MiB (smaller than zlib's and 3x faster; WHEELAUDIT_LIBDEFLATE=0 for zlib's), zlib's "
        "above; 1-3 are ISA-L's, faster still for 10-15%% larger output (level 3's bytes vary with the CPU's "
        "features); 0 stores",
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
    from .exitstatus import EXIT_UNUSABLE

    arguments = sys.argv[1:] if argv is None else argv
    command = arguments[0] if arguments and arguments[0] in COMMANDS else None
    args = build_parser(only=command).parse_args(arguments)
    if args.command == "show":
        return _show(args)
    if args.command == "repair":
        return _repair(args)
    if args.command in ("policies", "tree"):
        from .listing import run_listing

        return run_listing(args)
    return EXIT_UNUSABLE  # pragma: no cover - argparse rejects unknown commands


def print_json(document: object) -> None:
    """Write ``document`` to stdout as indented JSON, in one write.

    ``json.dump`` writes every token on its own: 120,000 writes for scipy's 820 KB report, 25 ms
    against 9 ms for the same text made first and written once.
    """
    import json

    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def wheel_inputs(paths: Sequence[str]) -> list[str]:
    """The inputs that are wheels by name; each other one (``dist/*`` also matches the sdist) is
    skipped with one line, since passing a whole dist/ folder is how people call us."""
    wheels = []
    for path in paths:
        if path.endswith(".whl"):
            wheels.append(path)
        else:
            _complain(f"wheelaudit: skipping {path}: not a wheel")
    if not wheels:
        _complain("wheelaudit: error: no wheel among the inputs (a wheel's name ends in .whl)")
    return wheels


def _load_policies(files: Sequence[str]) -> PolicySet | Failure:
    """The bundled levels plus ``--policy-file`` ones, or the one-line reason a file is unusable."""
    from ..platforms.policyset import load_policies
    from .exitstatus import failure_of

    try:
        return load_policies(files)
    except Exception as exc:  # PolicyError names the file; anything else still gets one line
        return failure_of(exc, ", ".join(files), "read")


def _show(args: argparse.Namespace) -> int:
    from .exitstatus import EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE, Failure

    wheels = wheel_inputs(args.wheels)
    if not wheels:
        return EXIT_UNUSABLE
    policies = None  # the bundled levels, loaded by the audit while the first wheel inflates
    if args.policy_file:
        loaded = _load_policies(args.policy_file)
        if isinstance(loaded, Failure):
            _complain(f"wheelaudit: error: {loaded.message}")
            return max(loaded.status, EXIT_UNUSABLE)
        policies = loaded
    from ..report.gate import GateOptionError, cli_options, evaluate

    try:
        gate = cli_options(args.require, args.fail_on)
    except GateOptionError as exc:
        _complain(f"wheelaudit: error: {exc}")
        return EXIT_UNUSABLE
    fmt = "json" if args.json else args.format
    jobs = args.jobs if args.jobs and args.jobs > 0 else None
    outcomes = _audit_all(wheels, policies, jobs)
    from ..report.model import WheelReport, error_to_json

    # Each format's modules only where it is asked for: they are start-up time of every run.
    summarized = fmt in ("github", "sarif")
    if fmt == "text":
        from ..report.colour import style_for
        from ..report.text import render_summary, render_text, render_verdict

        style = style_for(sys.stdout)
    elif summarized:
        from ..report.github import SummaryRow

    status = EXIT_OK
    documents = []
    rows = []
    for wheel, outcome in zip(wheels, outcomes):
        if isinstance(outcome, WheelReport):
            verdict = evaluate(outcome, gate)
            if summarized:
                rows.append(SummaryRow(wheel, outcome, verdict))
            if not verdict.passed:
                status = max(status, EXIT_PROBLEMS)
            if fmt == "json":
                documents.append(outcome.to_json())
            elif fmt == "text":
                if args.quiet:
                    print(render_verdict(outcome, style))  # escaped, then coloured
                else:
                    print(render_text(outcome, verbose=args.verbose, style=style))  # escaped, then coloured
                for reason in verdict.beyond_errors:
                    _say(f"  gate: FAIL: {reason}")
        else:
            if summarized:
                rows.append(SummaryRow(wheel, None, error=outcome.message))
            status = max(status, outcome.status)
            if fmt == "json":
                documents.append(error_to_json(wheel, outcome.message))
            _complain(f"wheelaudit: error: {outcome.message}")
    if summarized:
        from .. import __version__
        from ..report.github import emit

        emit(fmt, rows, __version__)
    elif fmt == "json":
        print_json(documents[0] if len(documents) == 1 else documents)
    elif fmt == "text" and len(outcomes) > 1 and not args.quiet:
        reports = [o for o in outcomes if isinstance(o, WheelReport)]
        good = sum(r.ok for r in reports)
        print("\n" + render_summary(len(outcomes), good, len(reports) - good, style))
    return status


def _audit_one(path: str, policies: PolicySet | None, jobs: int | None) -> WheelReport | Failure:
    """One wheel's report, or a one-line reason when there is none (the same mapping as repair's)."""
    from ..auditing import audit
    from .exitstatus import failure_of

    try:
        return audit(path, policies=policies, jobs=jobs)
    except Exception as exc:  # not KeyboardInterrupt: that ends the whole run
        return failure_of(exc, path, "audited")


def _audit_all(wheels: list[str], policies: PolicySet | None, jobs: int | None) -> list[WheelReport | Failure]:
    """Audit every wheel, in order; several wheels with --jobs N go to N worker processes.

    Processes, not threads: parsing is pure Python and would otherwise share one GIL.
    Within one wheel, members still inflate in parallel threads.
    """
    if jobs and jobs > 1 and len(wheels) > 1:
        return _audit_in_workers(wheels, policies, min(jobs, len(wheels)))
    return [_audit_one(w, policies, None) for w in wheels]


def _audit_in_workers(wheels: list[str], policies: PolicySet | None, workers: int) -> list[WheelReport | Failure]:
    """The audits of ``wheels`` in worker processes; Ctrl-C is this process's alone to handle.

    A terminal sends SIGINT to the whole process group: workers that took it would each
    print a traceback. So workers ignore it (they are started with it blocked, and ignore it
    before unblocking), and on an interrupt this process stops them and ends the run.
    """
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor

    masks = hasattr(signal, "pthread_sigmask")  # POSIX; elsewhere the small start-up window stays
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_start, initargs=(dict(_tuned),))
    stopped = False
    try:
        if masks:  # an interrupt while workers fork stays pending, and is raised right after
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            results = pool.map(_audit_one, wheels, [policies] * len(wheels), [1] * len(wheels))
        finally:
            if masks:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return list(results)
    except BaseException:
        stopped = True
        pool.shutdown(wait=False, cancel_futures=True)
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()
        for child in children:
            child.join(1)
        raise
    finally:
        # Not after a failure: with a worker killed (the OOM killer), CPython 3.11's pool could wait
        # forever for its feeder thread (a full-suite run hung 120 s once); the process ends right after.
        if not stopped:
            pool.shutdown(wait=True)


def _worker_start(tuned: Mapping[str, bool]) -> None:
    """A worker ignores Ctrl-C: the parent decides, stops the workers and prints the one line.
    It tunes itself as :func:`run` tuned the parent (``tuned``, see :data:`_tuned`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a worker only reads: it may die at once
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if tuned.get("gc"):
        import gc

        gc.set_threshold(GC_THRESHOLD, 20, 20)
    if tuned.get("malloc"):
        from .allocator import keep_freed_memory

        keep_freed_memory()


def check_plat(plat: str, policies: PolicySet) -> str | None:
    """Why ``--plat`` names no known tag or level (with the valid choices), or None when it does.

    A usage error (exit 2), unlike a known tag that the wheel cannot reach (exit 1).
    """
    if plat == "auto" or policies.find(plat) is not None:
        return None
    levels = [p for family in policies.families.values() for p in family]
    if any(plat in p.tags(arch) for p in levels for arch in p.architectures):
        return None
    from ..platforms.tags import parse_platform_tag

    mac = policies.macos
    mac_arches = sorted({*mac.arch_floor, *mac.multi_arch})
    tag = parse_platform_tag(plat)
    if tag.family == "macosx" and tag.version is not None and tag.arch in mac_arches:
        return None  # a macOS wheel's target: the version is its deployment target
    if plat in policies.windows.tags:
        return None  # a Windows wheel's tag: the machine only (Windows tags carry no version)
    names = ", ".join(p.name + "".join(f" ({alias})" for alias in p.aliases) for p in levels)
    arches = ", ".join(sorted({arch for p in levels for arch in p.architectures}))
    return (
        f"--plat {plat}: not a known tag or level; choose auto, or one of {names}, "
        f"either alone or followed by _ARCH ({arches}); for macOS wheels macosx_X_Y_ARCH "
        f"({', '.join(mac_arches)}); for Windows wheels {', '.join(policies.windows.tags)}"
    )


def check_wheelhouse(wheel_dir: str) -> str | None:
    """Why ``-w`` cannot hold the repaired wheels (naming the wheelhouse, not an input), or None."""
    import os
    from pathlib import Path

    path = Path(wheel_dir)
    if path.exists() and not path.is_dir():
        return f"wheelhouse {wheel_dir} is not a directory; pass -w a directory (it is created if missing)"
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"wheelhouse {wheel_dir} cannot be created: {existing} is not a directory; pass -w another directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == path else f" ({existing} is not writable)"
        return f"wheelhouse {wheel_dir} is not writable{where}; pass -w a directory you can write to"
    return None


def _repair(args: argparse.Namespace) -> int:
    from ..repairing import RepairOptions, repair_wheel
    from .exitstatus import EXIT_OK, EXIT_PROBLEMS, EXIT_UNUSABLE, Failure, failure_of

    wheels = wheel_inputs(args.wheels)
    if not wheels:
        return EXIT_UNUSABLE
    policies = _load_policies(args.policy_file)
    if isinstance(policies, Failure):
        _complain(f"wheelaudit: error: {policies.message}")
        return max(policies.status, EXIT_UNUSABLE)
    for problem in (check_plat(args.plat, policies), check_wheelhouse(args.wheel_dir)):
        if problem:
            _complain(f"wheelaudit: error: {problem}")
            return EXIT_UNUSABLE
    options = RepairOptions(
        plat=args.plat,
        lib_paths=tuple(args.lib_path),
        sysroot=args.sysroot,
        exclude=tuple(args.exclude),
        strip=args.strip,
        only_plat=args.only_plat,
        require_archs=args.require_archs,
        macos_target=args.macos_target,
        no_mangle=tuple(args.no_mangle),
    )
    status = EXIT_OK
    for wheel in wheels:
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
        except Exception as exc:  # the same contract as show: 1, 2 or 3 and one line; never a traceback
            failure = failure_of(exc, wheel, "repaired")
            _complain(f"wheelaudit: error: {failure.message}")
            status = max(status, failure.status)
            continue
        for warning in result.warnings:
            _complain(f"wheelaudit: warning: {warning}")
        grafted = ", ".join(g.new_name for g in result.plan.grafts) or "nothing"
        _say(f"{result.path}  ({result.plan.platform_tags[0]}; grafted {grafted}; {result.seconds:.2f}s)")
        for note in result.notes:
            _complain(f"wheelaudit: note: {note}")
        if result.unfixed:
            # The wheel is kept (it is better than the input), but it is not fit to publish.
            status = max(status, EXIT_PROBLEMS)
            count = len(result.unfixed)
            _complain(f"wheelaudit: error: {result.path.name} still has {count} error(s) repair cannot fix:")
            for left in result.unfixed:
                _complain(f"wheelaudit: error:   [{left.code}] {left.message}")
    return status


class Terminated(BaseException):
    """SIGTERM (a CI job's timeout, ``kill``): unwinds like Ctrl-C, so temporary files go, then status 143.

    A BaseException, so that no ``except Exception`` guard (one per wheel) takes it for a failure.
    """


_handler_pid: list[int] = []  # the process that installed the SIGTERM handler


def _terminated(signum: int, frame: FrameType | None) -> None:
    import os
    import signal

    if _handler_pid and os.getpid() != _handler_pid[0]:  # a -j worker, forked before its initializer ran
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # dies silently, as workers do (they only read)
        return
    raise Terminated


def run() -> None:
    """Console-script entry point: the exit status; Ctrl-C at any moment is exit 130 and one line,
    SIGTERM once the command line has loaded exit 143 and one line, with nothing left behind."""
    try:
        keep_interrupts()
        import gc
        import os
        import signal

        gc.set_threshold(GC_THRESHOLD, 20, 20)  # the process is ours: the library API leaves it alone
        _tuned["gc"] = True
        if _input_bytes(sys.argv[1:]) >= BIG_INPUT:
            from .allocator import keep_freed_memory

            _tuned["malloc"] = keep_freed_memory()
        _handler_pid.append(os.getpid())
        signal.signal(signal.SIGTERM, _terminated)
        code = main()
        _last_handlers()  # here, where a signal a moment before still raises into the handlers below
    except KeyboardInterrupt:
        leave_interrupted()
    except Terminated:
        leave_interrupted(TERMINATED, 128 + 15)
    except BrokenPipeError:  # `wheelaudit show ... | head`: the reader has seen enough
        code = 0
    except Exception as exc:  # escaped every per-wheel guard (a worker process killed): one line, 3
        from .exitstatus import failure_of

        failure = failure_of(exc, "the run", "finished")
        _complain(f"wheelaudit: error: {failure.message}")
        code = failure.status
    _last_handlers()
    _flush_all()
    os._exit(code)


def keep_interrupts() -> None:
    """Deliver again a Ctrl-C (or SIGTERM) that CPython would drop.

    A signal's exception raised inside a callback the interpreter runs on its own, such as the
    weakref callback with which importlib forgets a module's lock, is printed as "Exception
    ignored" and lost: the run went on as if the key had not been pressed, and, that callback
    having taken the import lock, the first import in another thread (a scan worker's) waited
    forever (a test under load hung 120 s). Here the signal is sent again a millisecond later,
    from another thread, once this hook has returned (raised in the hook, it would be lost the
    same way), and raises where it can be handled. Installed once per process.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_wheelaudit", False):
        return

    def hook(unraisable: Any) -> None:
        import os
        import signal
        import threading

        if isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
            again = signal.SIGINT if isinstance(unraisable.exc_value, KeyboardInterrupt) else signal.SIGTERM
            resend = threading.Timer(0.001, os.kill, (os.getpid(), again))
            resend.daemon = True
            resend.start()
        else:
            previous(unraisable)

    hook._wheelaudit = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _last_handlers() -> None:
    """From here on Ctrl-C still means 130 and one line, so no interpreter shutdown follows
    (Python stops running signal handlers there, and SIGINT would kill it silently)."""
    import signal

    signal.signal(signal.SIGINT, _interrupted_at_exit)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # nothing left to clean up


def _input_bytes(arguments: Sequence[str]) -> int:
    """The size of the wheels among the arguments, before they are parsed (what is not a file counts 0)."""
    import contextlib
    import os

    total = 0
    for argument in arguments:
        if argument.endswith(".whl"):
            with contextlib.suppress(OSError, ValueError):
                total += os.stat(argument).st_size
    return total


def leave_interrupted(line: str = INTERRUPTED, status: int = 130) -> NoReturn:
    """Say so in one line and leave with status 130 (or ``status``) at once.

    Unwinding has already run every ``finally`` (temporary files are gone). ``os._exit``
    rather than ``sys.exit``: CPython turns the status into a death by SIGINT when the
    interrupt was raised inside an ``eval`` (as namedtuple does while a module imports),
    even though it was caught here.
    """
    import os

    sys.stderr.write(line + "\n")
    _flush_all()
    os._exit(status)


def _flush_all() -> None:
    """Flush what is buffered before ``os._exit``; a closed or broken stream has no reader left."""
    import contextlib

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _interrupted_at_exit(signum: int, frame: FrameType | None) -> None:
    leave_interrupted()
