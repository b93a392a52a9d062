"""``python -m wheelaudit``."""

from .cli import run

run()
