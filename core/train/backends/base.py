"""The backend interface. Backends differ only in where the runner script runs.

A backend never holds state in memory that a restart would lose: everything it needs to poll,
follow or cancel a run is in the run folder (run.toml: pid / job_id / namespace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from core.models.runs import TrainingRun


class Backend(Protocol):
    name: str

    def submit(self, folder: Path, run: TrainingRun) -> TrainingRun:
        """Start the run described by folder/config.json; return the run with pid/job_id and status set."""
        ...

    def poll(self, folder: Path, run: TrainingRun) -> TrainingRun:
        """The run's current normalised status (queued, running, completed, failed, canceled) and reason."""
        ...

    def cancel(self, folder: Path, run: TrainingRun) -> TrainingRun:
        """Stop the run; return it with status canceled (or its final status if it had already ended)."""
        ...

    def follow(self, folder: Path, run: TrainingRun) -> None:
        """Make sure train.log and metrics keep growing while the run is alive (a no-op where the runner
        writes them itself; a log follower thread for remote jobs). Safe to call again after a restart."""
        ...
