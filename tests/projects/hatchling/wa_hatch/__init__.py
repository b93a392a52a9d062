"""wheelaudit test project: a ctypes binding to a library that links libsqlite3."""

import ctypes
from pathlib import Path

_lib = ctypes.CDLL(str(Path(__file__).with_name("libwa_hatch_sqlite.so")))
_lib.wa_hatch_sqlite_version.restype = ctypes.c_char_p


def sqlite_version() -> str:
    return _lib.wa_hatch_sqlite_version().decode()
