"""The epilogs of ``wheelaudit --help`` and each command's ``--help``.

A new user reads ``--help`` before any documentation, often where there is none (a CI
log, a container): so each command's help gives examples, the exit codes, and where the
facts it applies come from. Kept apart from the parser so that :mod:`.main` stays short.
"""

from __future__ import annotations


def _policies_where() -> str:
    from ..platforms.loader import default_policy_dir

    return (
        "Policies:\n"
        f"  bundled levels: {default_policy_dir()} (manylinux.json, musllinux.json; macos.json,\n"
        "  windows.json, android.json); WHEELAUDIT_POLICY_DIR replaces that directory.\n"
        "  --policy-file FILE adds manylinux/musllinux levels or replaces them by name; a windows, macos or\n"
        "  android file replaces the bundled one (format: policies/README.md).\n"
        "  `wheelaudit policies` lists every level with its aliases, architectures and libc version."
    )


EXIT_CODES = """Exit status:
  0    every wheel can carry its own tags
  1    at least one cannot (an error-level problem); repair: the asked tag is out of reach,
       or errors remain that grafting cannot fix
  2    an input could not be used (not a wheel, damaged, unsafe), or the command line is wrong
  3    internal error (a bug; WHEELAUDIT_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM); temporary files are removed first"""

OUTPUT = """Output:
  At a terminal, severities and verdicts are coloured and lines wrapped to its width.
  Piped or redirected, text is neither coloured nor wrapped (one finding, one line, for grep
  and CI logs). NO_COLOR=1 turns colour off, FORCE_COLOR=1 turns it on even on a pipe
  (NO_COLOR wins). JSON is never coloured or wrapped. Control characters from a wheel are
  always shown escaped (\\x1b, \\n)."""

SEARCH_ORDER = """Library search order (for each needed library that is not in the wheel; docs/repair.md):
  1. the binary's DT_RPATH, then its loaders' DT_RPATH (only when it has no DT_RUNPATH)
  2. --lib-path DIR, in the order given
  3. LD_LIBRARY_PATH (ignored with --sysroot)
  4. the binary's DT_RUNPATH
  5. /etc/ld.so.conf and its includes (musl: /etc/ld-musl-<arch>.path)
  6. the default directories: multiarch dirs, lib64 (64-bit), /lib, /usr/lib
  With --sysroot DIR all of these are looked up inside DIR. Only files of the binary's ELF
  class, byte order, machine and OS ABI count. Inside the wheel, needs are resolved as the
  target's ld.so or musl would (docs/loaders.md).
  Windows wheels (docs/repair-windows.md): DLLs come only from --lib-path DIR, matched by name in
  any case and by machine; system DLLs, API sets, the Python DLL and the DLLs every admitted
  CPython ships (vcruntime140) are never grafted; --no-mangle PATTERN keeps a DLL's own name."""


def main_epilog() -> str:
    return f"""Examples:
  wheelaudit show dist/*.whl                  audit every wheel (the sdist is skipped)
  wheelaudit show -q dist/*.whl               one verdict line per wheel
  wheelaudit repair -w wheelhouse dist/*.whl  graft, patch and retag Linux wheels
  wheelaudit tree dist/pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl
  wheelaudit policies                         the known manylinux/musllinux levels

`wheelaudit COMMAND --help` shows each command's options, exit codes and examples.

{EXIT_CODES}

{_policies_where()}"""


def show_epilog() -> str:
    return f"""Examples:
  wheelaudit show dist/*.whl
  wheelaudit show -v dist/pkg-1.0-cp38-abi3-manylinux_2_17_x86_64.whl   every blocker, needed libraries
  wheelaudit show -q dist/*.whl                                         verdict lines only
  wheelaudit show --json dist/*.whl > report.json
  wheelaudit show --policy-file my-levels.json dist/*.whl
  wheelaudit show --require manylinux_2_17 --format github dist/*.whl   a CI gate with annotations
  wheelaudit show --fail-on warning --format sarif dist/*.whl > wheelaudit.sarif

As a gate: --require TAG fails (status 1) unless the best tag is at least as compatible as TAG
(for wheels of that OS); --fail-on warning also fails on warnings. See docs/hooks.md.

{EXIT_CODES}

{OUTPUT}

{_policies_where()}"""


def repair_epilog() -> str:
    return f"""Examples:
  wheelaudit repair dist/*.whl                                 most compatible tag, into wheelhouse/
  wheelaudit repair --plat manylinux_2_17 -w out/ dist/*.whl   this level, or fail saying why
  wheelaudit repair --lib-path build/lib --exclude 'libcuda.so*' dist/*.whl
  wheelaudit repair --sysroot /opt/aarch64-root dist/*aarch64.whl
  wheelaudit repair --strip debug -z 9 dist/*.whl
  wheelaudit repair --lib-path vcpkg/installed/x64-windows/bin dist/*win_amd64.whl

{SEARCH_ORDER}

{EXIT_CODES}

{_policies_where()}"""


def policies_epilog() -> str:
    return f"""Examples:
  wheelaudit policies
  wheelaudit policies --json | jq '.linux[] | select(.family == "musllinux") | .name'
  wheelaudit policies --policy-file my-levels.json

Exit status: 0 listed; 2 a policy file could not be used; 3 internal error; 130 interrupted.

{_policies_where()}"""


def tree_epilog() -> str:
    return """Examples:
  wheelaudit tree dist/pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl
  wheelaudit tree dist/*.whl

For each extension module or program (ELF), the libraries it loads from inside the wheel,
as the target's ld.so or musl would find them (with the search path entry that found
them), then what stays outside: the dynamic loader, libraries the best level allows, and
external ones. Mach-O and PE binaries get a flat list of what each needs.

Exit status: 0 every wheel was read; 2 an input could not be used; 3 internal error;
130 interrupted. (Whether the wheel may carry its tags is `wheelaudit show`'s question.)"""
