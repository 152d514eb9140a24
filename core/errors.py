"""Errors the core raises on purpose. Each one carries a message a person can act on."""

from __future__ import annotations

from pathlib import Path


class TunesmithError(Exception):
    """Base class: a failure with a clear message (the CLI prints it without a traceback)."""

    exit_code = 1


class BadInput(TunesmithError):
    """The user's input or a file on disk is wrong (CLI exit code 2)."""

    exit_code = 2


class StoreError(BadInput):
    """A project file is missing, malformed, of the wrong type or of an unknown schema version.

    Always names the file and, where one is at fault, the field.
    """

    def __init__(self, path: Path | str, message: str, field: str | None = None):
        self.path = Path(path)
        self.field = field
        self.reason = message
        where = f"{self.path}"
        if field:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")


class LockedError(TunesmithError):
    """Another live process holds the project's lock."""


class InterviewChanged(TunesmithError):
    """knowledge/interview.toml changed on disk since this session read it (another tunesmith that did
    not hold the lock, or a hand edit): nothing was written over it; reload the session and go on."""


class ProjectNotFound(BadInput):
    pass


class StageNotReady(TunesmithError):
    """A command was asked for before the stage it depends on is done."""
