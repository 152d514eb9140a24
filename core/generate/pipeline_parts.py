"""The scale-up's checkpoint files: parts, their logs, and reconciling the state with what is on disk.

    data/scale/part-NNNNN.parquet      kept examples of one filtered batch (the source of truth)
    data/scale/log-NNNNN.parquet       the batch's quality-log rows (written before the part)
    data/scale/rejected-NNNNN.parquet  the batch's rejected examples (written before the part)
    data/scale/state.toml              ScaleState, rewritten after each part
"""

from __future__ import annotations

import math
from pathlib import Path

from core import store
from core.generate import pipeline_common as pc
from core.generate import pipeline_state as ps
from core.generate.pipeline_state import PartInfo, ScaleState
from core.models.data import QualityLogRow, TrainingExample
from core.models.project import now
from core.project import Project

PART_MIN, PART_MAX = 10, 250


def part_size(target: int) -> int:
    """Kept examples per checkpointed part: about 1/20 of the target, between 10 and 250."""
    return max(PART_MIN, min(PART_MAX, math.ceil(target / 20)))


def load_state(project: Project) -> ScaleState | None:
    return project.read_or(ps.SCALE_STATE, ScaleState)


def scale_dir(project: Project) -> Path:
    return project.path(ps.SCALE_DIR)


def part_files(project: Project) -> list[Path]:
    folder = scale_dir(project)
    return sorted(folder.glob(ps.PART_GLOB), key=lambda p: ps.part_number(p.name)) if folder.is_dir() else []


def load_parts(project: Project) -> list[TrainingExample]:
    """Every kept scale example, in part order, each id once."""
    out: list[TrainingExample] = []
    seen: set[str] = set()
    for path in part_files(project):
        out.extend(pc.unique(store.read_parquet(path, TrainingExample), seen))
    return out


def aux_path(project: Project, kind: str, number: int) -> Path:
    return scale_dir(project) / f"{kind}-{number:05d}.parquet"


def reconcile(project: Project, state: ScaleState) -> list[TrainingExample]:
    """Bring the state in line with the parts on disk (a kill between a part and the state write)."""
    known = {p.name for p in state.parts}
    seen = set(state.seen_ids)
    kept = load_parts(project)
    for path in part_files(project):
        if path.name in known:
            continue
        number = ps.part_number(path.name)
        rows = store.read_parquet(path, TrainingExample)
        rej = aux_path(project, "rejected", number)
        rejected = store.read_parquet(rej, TrainingExample) if rej.exists() else []
        log = aux_path(project, "log", number)
        if log.exists():
            pc.rejection_counts(state.rejected_by_reason, store.read_parquet(log, QualityLogRow),
                                {ex.id for ex in rejected})
        pc.category_stats(state.categories, rows, rejected)
        state.parts.append(PartInfo(name=path.name, kept=len(rows), checked=len(rows) + len(rejected),
                                    written_at=now()))
        state.checked += len(rows) + len(rejected)
        for ex in [*rows, *rejected]:
            if ex.id not in seen:
                seen.add(ex.id)
                state.seen_ids.append(ex.id)
    for ex in kept:
        if ex.id not in seen:
            seen.add(ex.id)
            state.seen_ids.append(ex.id)
    state.parts.sort(key=lambda p: ps.part_number(p.name))
    state.kept = len(kept)
    return kept
