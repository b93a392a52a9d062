"""What a repair is asked to do: the options every platform's repair reads.

One record for Linux, macOS and Windows, so that the command line, the build backend
and library callers build it the same way; an option that does not apply to the
wheel's platform is refused by that platform's planner with one line.
"""

from __future__ import annotations

from ..record import record


@record(frozen=True)
class RepairOptions:
    """What to repair to and where grafted libraries may come from."""

    plat: str = "auto"
    lib_paths: tuple[str, ...] = ()  # extra directories searched first (all platforms; the only source off-host)
    sysroot: str | None = None  # Linux: the root of the target system's libraries
    exclude: tuple[str, ...] = ()  # libraries left outside the wheel (glob on the name)
    strip: str = "none"  # none | debug | all
    only_plat: bool = False
    require_archs: str | None = None  # macOS: intel | universal2 | arm64 | x86_64 ... every graft must have them
    macos_target: str | None = None  # macOS: the deployment-target ceiling (default: MACOSX_DEPLOYMENT_TARGET)
    no_mangle: tuple[str, ...] = ()  # Windows: DLL names grafted under their own name (glob)
