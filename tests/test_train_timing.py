"""A training run's time: the live remaining time from its measured steps, the actual recorded next to the
estimate, and a later plan calibrated on it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.models.config import TrainConfig
from core.models.runs import MetricRow, TrainingRun
from core.train import runfolder as rf
from core.train import timing
from core.train.plan import build_plan
from tests.test_train_hardware import _check

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _run(**kw) -> TrainingRun:
    base = dict(run_id="sft-1", backend="local", method="sft", base_model="x/Model-0.5B", created_at=T0,
                started_at=T0, estimated_hours=1 / 60, planned_steps=100, planned_tokens=100_000)
    base.update(kw)
    return TrainingRun(**base)


def _rows(start: float = 120.0, per_step: float = 15.0, steps: int = 100, every: int = 10) -> list[MetricRow]:
    # the first row carries the start-up (120 s before step 10), then 15 s per step
    return [MetricRow(step=s, loss=1.0, time=start + (s - every) * per_step) for s in range(every, steps + 1, every)]


def test_live_eta_from_measured_seconds_per_step() -> None:
    run = _run()
    rows = _rows()[:3]  # steps 10, 20, 30
    eta = timing.live_eta(run, rows)
    assert eta.measured and eta.rate == pytest.approx(1 / 15)
    assert eta.remaining_s() == pytest.approx(70 * 15)
    assert eta.line("steps") == "30/100 steps · about 18 min left"
    first = timing.live_eta(run, rows[:1])  # only the first row: the plan's rate stands in
    assert not first.measured and first.remaining_text().endswith("(planned)")


def test_record_actual_and_a_later_plan_uses_it(tmp_path: Path) -> None:
    rows = _rows()
    (tmp_path / rf.STATUS_JSON).write_text(json.dumps({"status": "completed", "seconds": 1800.0}))
    run = _run(status="completed", ended_at=T0 + timedelta(seconds=1800))
    timing.record_actual(tmp_path, run, rows)
    assert run.actual_seconds == 1800.0 and run.seconds_per_step == pytest.approx(15.0)
    assert run.startup_seconds == pytest.approx(300.0)  # 1800 - 100 steps x 15 s
    assert run.measured_tokens_per_second == pytest.approx(100_000 / 1500, rel=1e-3)
    assert timing.summary(run)["estimated_seconds"] == pytest.approx(60.0)

    other = _run(run_id="dpo-1", method="dpo", status="completed", actual_seconds=10.0, measured_tokens_per_second=9e9)
    past = timing.calibration([other, run], backend="local", method="sft", base_model="x/Model-0.5B")
    assert past is not None and past.run_id == "sft-1"
    assert timing.calibration([run], backend="hf_jobs", method="sft", base_model="x/Model-0.5B") is None

    train = TrainConfig(max_steps=50, per_device_train_batch_size=2, gradient_accumulation_steps=1)
    kw = dict(project="bot", method="sft", backend="local", base_model="x/Model-0.5B", check=_check("sft"),
              train=train, local_device=("local CPU (2 cores)", 0.04))
    assumed = build_plan(**kw)
    measured = build_plan(**kw, past=past)
    seconds = measured.planned_tokens / past.tokens_per_second + 300.0
    assert measured.estimated_hours * 3600 == pytest.approx(seconds, rel=0.01)
    assert measured.estimated_hours != assumed.estimated_hours
    text = measured.render()
    assert "from a previous run's measurement" in text and "measured on run sft-1" in text
    assert "planned ~1 min, took 30 min" in text
    assert "assumes ~" in assumed.render()
