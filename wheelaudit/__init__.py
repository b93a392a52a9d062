"""wheelaudit: audit and repair binary Python wheels for any platform, on any host.

The library API is what the CLI uses::

    import wheelaudit
    report = wheelaudit.audit("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl")
    print(report.platform_tag, [p.code for p in report.problems])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .audit import audit
from .binary.model import Binary, BinaryFormat, BinaryKind
from .errors import InvalidWheel, MalformedBinary, PolicyError, RepairError, UnsafeWheel, WheelError
from .report import PolicyVerdict, Problem, Severity, WheelReport

if TYPE_CHECKING:
    from .repairing import repair


def __getattr__(name: str) -> Any:
    """``repair`` is imported on first use: `wheelaudit show` never needs the repair machinery."""
    if name == "repair":
        from .repairing import repair

        return repair
    raise AttributeError(f"module 'wheelaudit' has no attribute {name!r}")


__all__ = [
    "Binary",
    "BinaryFormat",
    "BinaryKind",
    "InvalidWheel",
    "MalformedBinary",
    "PolicyError",
    "PolicyVerdict",
    "Problem",
    "RepairError",
    "Severity",
    "UnsafeWheel",
    "WheelError",
    "WheelReport",
    "__version__",
    "audit",
    "repair",
]
