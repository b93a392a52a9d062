"""wheelaudit: audit and repair binary Python wheels for any platform, on any host.

The library API is what the CLI uses::

    import wheelaudit
    report = wheelaudit.audit("dist/pkg-1.0-cp312-cp312-linux_x86_64.whl")
    print(report.platform_tag, [p.code for p in report.problems])
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Not from typing, and nothing imported eagerly: until ``wheelaudit.cli.main.run`` holds the line,
# Ctrl-C gives a traceback, so the package's own start-up is kept to almost nothing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .auditing import audit
    from .binary.model import Binary, BinaryFormat, BinaryKind
    from .errors import InvalidWheel, MalformedBinary, OptionError, PolicyError, RepairError, UnsafeWheel, WheelError
    from .repairing import repair
    from .report.model import PolicyVerdict, Problem, Severity, WheelReport

#: Public name -> module that defines it. Imported on first use, so that the command line
#: can start reading a wheel before the rest of the package has loaded.
_PUBLIC = {
    "audit": "auditing",
    "Binary": "binary.model",
    "BinaryFormat": "binary.model",
    "BinaryKind": "binary.model",
    "InvalidWheel": "errors",
    "MalformedBinary": "errors",
    "OptionError": "errors",
    "PolicyError": "errors",
    "RepairError": "errors",
    "UnsafeWheel": "errors",
    "WheelError": "errors",
    "repair": "repairing",
    "PolicyVerdict": "report.model",
    "Problem": "report.model",
    "Severity": "report.model",
    "WheelReport": "report.model",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'wheelaudit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names too, although they load only on first use (tab completion, ``help()``)."""
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = [
    "Binary",
    "BinaryFormat",
    "BinaryKind",
    "InvalidWheel",
    "MalformedBinary",
    "OptionError",
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
