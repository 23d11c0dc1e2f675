"""User-facing errors: one line naming the file (or thing) at fault and the fix."""

from __future__ import annotations


class BlurbenchError(Exception):
    """An error the CLI reports as one line (exit code 2) instead of a traceback."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message} — {fix}" if fix else message)


class DataError(BlurbenchError):
    """A dataset tree or file is missing, incomplete, unreadable or inconsistent."""


class ConfigError(BlurbenchError):
    """An unknown method, dataset, suite or preset, or an invalid option."""
