"""A training run's time: the live remaining time from its own measured seconds per step, what it took in
the end (recorded in run.toml next to the estimate), and the calibration a later plan takes from it.

    eta = live_eta(run, rows)            # core.progress.Eta over the run's steps, fed with metrics rows
    record_actual(folder, run)           # at the end: actual_seconds, startup_seconds, seconds_per_step, ...
    past = calibration(runs, backend="local", method="sft", base_model="x", flavor=None)

The first metrics row of a run includes the start-up (model load, data preparation), so the rate is
measured from the rows after it; the start-up is what the whole run took beyond its steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from core.models.runs import MetricRow, TrainingRun
from core.progress import Eta


def _timed(rows: Iterable[MetricRow]) -> list[MetricRow]:
    out: dict[int, MetricRow] = {}
    for row in rows:
        if row.time is not None and row.step > 0 and row.eval_loss is None:
            out.setdefault(row.step, row)
    return [out[k] for k in sorted(out)]


def seconds_per_step(rows: Iterable[MetricRow]) -> float | None:
    """Seconds per optimizer step measured after the first logged step (which carries the start-up)."""
    timed = _timed(rows)
    if len(timed) >= 2 and timed[-1].time > timed[0].time:
        return (timed[-1].time - timed[0].time) / (timed[-1].step - timed[0].step)
    if timed and timed[0].time:
        return timed[0].time / timed[0].step  # one row: an upper bound (start-up included)
    return None


def total_steps(run: TrainingRun) -> int | None:
    if run.planned_steps:
        return run.planned_steps
    steps = (run.config.get("hyperparameters") or {}).get("max_steps")
    return int(steps) if steps and int(steps) > 0 else None


def live_eta(run: TrainingRun, rows: Iterable[MetricRow], total: int | None = None) -> Eta:
    """The run's progress over its steps; the rate measured from its rows after the first (the plan's rate
    stands in before that)."""
    total = total or total_steps(run) or 0
    prior = None
    if total and run.estimated_hours:
        prior = total / max(1.0, run.estimated_hours * 3600)
    eta = Eta(total=total, warmup=1, prior_rate=prior, clock=lambda: 0.0, start=0.0)
    for row in _timed(rows):
        eta.update(row.step, now=row.time)
    return eta


def _seconds_between(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def record_actual(folder: Path, run: TrainingRun, rows: list[MetricRow] | None = None) -> TrainingRun:
    """Fill in what the run took (idempotent; the caller writes run.toml)."""
    from core.train import runfolder as rf

    if run.actual_seconds is not None:
        return run
    rows = rf.read_metrics(folder) if rows is None else rows
    status = rf.read_status(folder) or {}
    seconds = status.get("seconds")
    if not isinstance(seconds, (int, float)):
        seconds = _seconds_between(run.started_at or run.created_at, run.ended_at)
    if seconds is None:
        return run
    run.actual_seconds = round(float(seconds), 1)
    sps = seconds_per_step(rows)
    timed = _timed(rows)
    steps = timed[-1].step if timed else None
    if sps and steps:
        run.seconds_per_step = round(sps, 4)
        run.startup_seconds = round(max(0.0, run.actual_seconds - sps * steps), 1)
        if run.planned_tokens and run.planned_steps:
            run.measured_tokens_per_second = round(run.planned_tokens / (run.planned_steps * sps), 2)
    return run


@dataclass
class Calibration:
    run_id: str
    tokens_per_second: float
    startup_seconds: float
    estimated_hours: float | None
    actual_seconds: float

    def note(self) -> str:
        was = (f" (planned ~{self.estimated_hours * 60:.0f} min, took {self.actual_seconds / 60:.0f} min)"
               if self.estimated_hours else "")
        return f"measured on run {self.run_id}{was}"


def calibration(runs: Iterable[TrainingRun], *, backend: str, method: str, base_model: str,
                flavor: str | None = None) -> Calibration | None:
    """The newest completed run of the same backend, method, base model (and flavor) with a measurement."""
    for run in runs:  # newest first
        if (run.status == "completed" and run.backend == backend and run.method == method
                and run.base_model == base_model and (backend == "local" or run.flavor == flavor)
                and run.measured_tokens_per_second and run.actual_seconds is not None):
            return Calibration(run.run_id, run.measured_tokens_per_second, run.startup_seconds or 0.0,
                               run.estimated_hours, run.actual_seconds)
    return None


def summary(run: TrainingRun) -> dict[str, Any]:
    """Estimate against actual, for a report or `--json`."""
    return {"estimated_seconds": round(run.estimated_hours * 3600, 1) if run.estimated_hours else None,
            "actual_seconds": run.actual_seconds, "startup_seconds": run.startup_seconds,
            "seconds_per_step": run.seconds_per_step, "estimate_source": run.estimate_source}
