"""A finished dataset is never deleted without a confirmation, and never lost to a run that fails.

A new scale-up over a finished dataset (``data/training_dataset/train.parquet`` present) runs only when
the user confirms it (``generate --scale --replace``, a y/N question in a terminal, the TUI's dialog);
otherwise :class:`DatasetExists` stops it before anything is touched. When it runs, the old data is set
aside in ``data/.previous/`` first:

    moved there    data/scale/  data/training_dataset/  data/dataset_card.md
    copied there   data/generation_report.toml  data/quality_log.parquet  (they hold the pilot's part too)
                   data/pilot/feedback.toml  (a run expires old prompt adjustments in it)
    noted there    previous.toml: what was set aside and the stage marks (generate.scale, generate.validated)

The set-aside copy is deleted only once the new dataset is finalised (:func:`discard`). If the new run
fails, pauses or is interrupted before that, :func:`restore` puts every file and mark back (the new run's
partial parts are discarded: a replacement is all or nothing). After a kill -9, the next scale-up
command finds ``data/.previous/`` and restores it first (:func:`recover`).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from pydantic import Field

from core.errors import TunesmithError
from core.generate import pipeline_state as ps
from core.models.config import Strict
from core.models.project import now
from core.project import Project

PREVIOUS_DIR = "data/.previous"
MANIFEST = "data/.previous/previous.toml"
MOVED = (ps.SCALE_DIR, ps.DATASET_DIR, ps.DATASET_CARD)
COPIED = (ps.GENERATION_REPORT, ps.QUALITY_LOG, ps.PILOT_FEEDBACK)
MARKS = ("scale", "validated")


class DatasetExists(TunesmithError):
    """A scale-up would replace a finished dataset and nobody confirmed it."""


class SetAside(Strict):
    schema_version: int = 1
    set_aside_at: datetime | None = None
    rows: int = 0  # examples in the finished dataset (train + validation)
    moved: list[str] = Field(default_factory=list)
    copied: list[str] = Field(default_factory=list)
    marks: list[str] = Field(default_factory=list)  # generate.<step> marks that were done


def finished_rows(project: Project) -> int:
    """Examples in the finished dataset (0: there is none)."""
    if not project.exists(ps.TRAIN_FILE):
        return 0
    import pyarrow.parquet as pq

    rows = 0
    for rel in (ps.TRAIN_FILE, ps.VALIDATION_FILE):
        if project.exists(rel):
            try:
                rows += pq.ParquetFile(project.path(rel)).metadata.num_rows
            except Exception:  # unreadable: still a dataset someone may want back
                rows += 0
    return max(rows, 1)


def refusal(project: Project, rows: int) -> DatasetExists:
    return DatasetExists(
        f"{project.path(ps.DATASET_DIR)} holds a finished dataset ({rows:,} examples); a new scale-up replaces "
        f"it. Nothing was changed. To replace it: tunesmith generate {project.slug} --scale --replace (the old "
        f"dataset is set aside in {project.path(PREVIOUS_DIR)} and put back if the new run does not finish)")


def pending(project: Project) -> bool:
    return project.exists(MANIFEST) or project.exists(PREVIOUS_DIR)


def set_aside(project: Project) -> SetAside:
    """Move the finished dataset and its scale parts into data/.previous/ (the caller holds the lock)."""
    folder = project.path(PREVIOUS_DIR)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    project.reload()
    note = SetAside(set_aside_at=now(), rows=finished_rows(project),
                    moved=[r for r in MOVED if project.exists(r)], copied=[r for r in COPIED if project.exists(r)],
                    marks=[m for m in MARKS if project.meta.is_done("generate", m)])
    project.write(MANIFEST, note)  # first: a kill from here on is recovered from it
    for rel in note.copied:
        _copy(project.path(rel), _aside(project, rel))
    for rel in note.moved:
        _aside(project, rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(project.path(rel), _aside(project, rel))
    return note


def restore(project: Project) -> SetAside | None:
    """Put everything :func:`set_aside` set aside back, files and stage marks; remove data/.previous/."""
    if not pending(project):
        return None
    note = project.read_or(MANIFEST, SetAside) if project.exists(MANIFEST) else None
    if note is None:  # killed before the note was written: nothing was moved yet
        shutil.rmtree(project.path(PREVIOUS_DIR), ignore_errors=True)
        return None
    for rel in [*note.moved, *note.copied]:
        src = _aside(project, rel)
        if not src.exists():  # not moved yet when the run was killed: the original is still in place
            continue
        _remove(project.path(rel))
        os.replace(src, project.path(rel))
    for rel in MOVED:  # what the new run made that the old data did not have
        if rel not in note.moved and project.exists(rel):
            _remove(project.path(rel))
    project.reload()
    for step in MARKS:
        if project.meta.is_done("generate", step) != (step in note.marks):
            project.mark("generate", step, done=step in note.marks)
    shutil.rmtree(project.path(PREVIOUS_DIR), ignore_errors=True)
    return note


def discard(project: Project) -> None:
    """The new dataset is finalised: the set-aside copy is not needed any more."""
    shutil.rmtree(project.path(PREVIOUS_DIR), ignore_errors=True)


def recover(project: Project) -> SetAside | None:
    """A replacement killed before it finished (data/.previous/ still there): put the old data back."""
    return restore(project) if pending(project) else None


def _aside(project: Project, rel: str) -> Path:
    return project.path(PREVIOUS_DIR) / rel.removeprefix("data/")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
