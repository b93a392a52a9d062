"""wheelaudit: audit and repair binary Python wheels for any platform, on any host.

The library API is what the CLI uses::

    import wheelaudit
    report = wheelaudit.audit("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl")
    print(report.platform_tag, [p.code for p in report.problems])
"""

from __future__ import annotations

__version__ = "0.1.0"

from .audit import audit
from .binary.model import Binary, BinaryFormat, BinaryKind
from .errors import InvalidWheel, MalformedBinary, PolicyError, UnsafeWheel, WheelError
from .repair import repair  # binds the function over the subpackage of the same name
from .report import PolicyVerdict, Problem, Severity, WheelReport

__all__ = [
    "Binary",
    "BinaryFormat",
    "BinaryKind",
    "InvalidWheel",
    "MalformedBinary",
    "PolicyError",
    "PolicyVerdict",
    "Problem",
    "Severity",
    "UnsafeWheel",
    "WheelError",
    "WheelReport",
    "__version__",
    "audit",
    "repair",
]
