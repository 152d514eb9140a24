"""The scale-up survives: kill -9 of the CLI and --resume (exactly the target, nothing lost or duplicated),
a kill between a part and its state write, a fault-injecting provider (429, 5xx, malformed JSON,
truncation), a circuit breaker that opens, and a budget cap reached mid-run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import store
from core.generate import pipeline as pl
from core.generate import pipeline_scale as sc
from core.generate import pipeline_state as ps
from core.llm.errors import BudgetExceeded, CircuitOpen
from core.models.data import TrainingExample
from core.project import Project
from tests.test_generate_pipeline import (  # noqa: F401  (fast_embeddings: a fixture)
    approve_pilot,
    dataset_rows,
    fast_embeddings,
    gateway,
    ready_project,
)

from core.generate.quota_book import select

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def approved(fake_llm, projects_root: Path, fast_embeddings) -> Project:
    """A project whose pilot is generated and approved, with the fake server answering generation."""
    from tests.fakes.generate_replies import install

    install(fake_llm)
    p = ready_project(projects_root)
    pl.run_pilot(p, gateway(p))
    approve_pilot(p)
    return p


def assert_exact(p: Project, target: int) -> None:
    train, val = dataset_rows(p)
    rows = train + val
    assert len(rows) == target
    texts = [str(r) for r in rows]
    assert len(set(texts)) == target, "a row appears twice"
    parts = sc.load_parts(p)
    ids = [ex.id for ex in parts]
    assert len(ids) == len(set(ids)) and len(parts) >= target
    state = sc.load_state(p)
    assert state is not None
    # per quota cell, the first kept up to its quota, in part order: exactly the plan
    assert {str(ex.record) for ex in select(state.quotas, parts)} == set(texts)
    assert sum(state.quotas.values()) == target
    p.reload()
    assert p.meta.is_done("generate", "scale") and p.meta.is_done("generate", "validated")
    assert state is not None and state.status == "complete" and state.kept == len(parts)
    assert len(state.seen_ids) == len(set(state.seen_ids))


# ---------------------------------------------------------------- kill -9


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "core.cli", *args]


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_kill_minus_nine_and_resume_gives_exactly_the_target(fake_llm, approved: Project) -> None:
    """The CLI in a subprocess, SIGKILLed right after its first part is written (the window between a part
    and its state write is covered in-process below)."""
    fake_llm.latency = 0.2  # slow enough that the run is mid-way when it is killed
    folder = approved.path(ps.SCALE_DIR)
    proc = subprocess.Popen(_cli("generate", approved.slug, "--scale", "--target", "60", "--yes"), cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(folder / ps.part_name(1), proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    state = sc.load_state(approved)
    assert state is not None and state.status == "running" and state.kept < 60
    assert not approved.exists(ps.TRAIN_FILE)
    killed_parts = {p.name for p in folder.glob(ps.PART_GLOB)}

    fake_llm.latency = 0.0
    r = subprocess.run(_cli("generate", approved.slug, "--resume"), cwd=ROOT, env=dict(os.environ),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming" in r.stdout and "dataset: 60 examples" in r.stdout and "Traceback" not in r.stderr
    assert killed_parts <= {p.name for p in folder.glob(ps.PART_GLOB)}  # nothing kept before the kill is lost
    assert_exact(approved, 60)


# ---------------------------------------------------------------- a kill between a part and the state


class Killed(BaseException):
    pass


def test_a_part_written_after_the_last_state_is_counted_on_resume(approved: Project,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    original = sc._Run._write
    dead = []

    def write(self, number, rows, rejected, kept, state_text):
        if dead:
            return
        if number == 2:  # part 2 reaches the disk; the process dies before its state write
            store.write_parquet(sc.scale_dir(self.project) / ps.part_name(2), kept, TrainingExample)
            dead.append(True)
            raise Killed()
        original(self, number, rows, rejected, kept, state_text)

    original_save = sc._Run.save
    monkeypatch.setattr(sc._Run, "_write", write)
    monkeypatch.setattr(sc._Run, "save", lambda self, *a, **kw: None)  # a dead process saves nothing
    with pytest.raises(Killed):
        sc.run_scale(approved, gateway(approved), target=40)
    monkeypatch.setattr(sc._Run, "_write", original)
    monkeypatch.setattr(sc._Run, "save", original_save)
    state = sc.load_state(approved)
    on_disk = sorted(p.name for p in approved.path(ps.SCALE_DIR).glob(ps.PART_GLOB))
    assert [p.name for p in state.parts] == on_disk[:1] and len(on_disk) == 2
    part2 = store.read_parquet(approved.path(ps.SCALE_DIR) / on_disk[1], TrainingExample)

    sc.run_scale(approved, gateway(approved), resume=True)
    assert_exact(approved, 40)
    state = sc.load_state(approved)
    assert on_disk[1] in [p.name for p in state.parts]
    assert {ex.id for ex in part2} <= set(state.seen_ids)
    assert state.runs == 2


def test_scale_refuses_a_second_start_and_restarts_when_asked(approved: Project) -> None:
    from core.errors import StageNotReady, TunesmithError

    with pytest.raises(StageNotReady, match="no scale-up to resume"):
        sc.run_scale(approved, gateway(approved), resume=True)
    sc.load_state(approved)
    approved.write(ps.SCALE_STATE, ps.ScaleState(target=30, pilot_id="x"))
    with pytest.raises(TunesmithError, match="in progress"):
        sc.run_scale(approved, gateway(approved), target=30)
    with pytest.raises(StageNotReady, match="pilot changed"):
        sc.run_scale(approved, gateway(approved), resume=True)
    report = sc.run_scale(approved, gateway(approved), target=30, restart=True)
    assert report.kept == 30 and sc.load_state(approved).runs == 1
    assert_exact(approved, 30)


# ---------------------------------------------------------------- provider faults


def test_faults_are_retried_and_the_run_ends_with_the_requested_count(fake_llm, approved: Project) -> None:
    from tests.fakes.llm_server import Fault

    rng = random.Random(5)
    kinds = [Fault("rate_limit", {"retry_after": 0}), Fault("server_error", {"status": 500}),
             Fault("server_error", {"status": 503}), Fault("malformed_json", {}), Fault("truncated", {})]
    seen: list[str] = []

    def next_fault():
        if rng.random() < 0.25:
            f = rng.choice(kinds)
            seen.append(f.kind)
            return f
        return None

    fake_llm._next_fault = next_fault
    report = sc.run_scale(approved, gateway(approved), target=60)
    assert report.kept == 60
    assert_exact(approved, 60)
    assert {"rate_limit", "server_error", "malformed_json", "truncated"} <= set(seen)
    assert sc.load_state(approved).provider_retries > 0


def test_an_open_circuit_pauses_and_resume_finishes(fake_llm, approved: Project) -> None:
    from tests.fakes.llm_server import Fault

    answered = []

    def next_fault():  # the provider goes down after a few requests of the scale-up
        answered.append(1)
        return Fault("server_error", {"status": 500}) if len(answered) > 6 else None

    fake_llm._next_fault = next_fault
    gw = gateway(approved, max_retries=1, breaker_threshold=3)
    with pytest.raises(CircuitOpen, match="paused"):
        sc.run_scale(approved, gw, target=60)
    state = sc.load_state(approved)
    assert state.status == "paused" and "fix it and resume" in state.pause_reason and state.kept < 60
    fake_llm._next_fault = lambda: None
    sc.run_scale(approved, gateway(approved), resume=True)
    assert_exact(approved, 60)


def test_the_budget_cap_pauses_the_run(fake_llm, approved: Project) -> None:
    report = approved.read(ps.PILOT_REPORT, pl.GenerationReport)
    approved.write(ps.PILOT_REPORT, report.model_copy(update={"cost_usd": 0.05}))
    proj = sc.projection(approved, target=60)
    budget = proj.total_usd * 1.2
    gw = gateway(approved)
    gw.pricing.cost = lambda response, model: 0.05  # dearer than the pilot said: the cap is reached mid-run
    with pytest.raises(BudgetExceeded):
        sc.run_scale(approved, gw, target=60, budget_usd=budget)
    state = sc.load_state(approved)
    assert state.status == "paused" and "budget" in state.pause_reason and state.cost_usd > 0
    with pytest.raises(sc.BudgetTooLow):  # what was spent counts: the same cap refuses to go on
        sc.run_scale(approved, gateway(approved), resume=True, budget_usd=budget)
    sc.run_scale(approved, gateway(approved), resume=True, budget_usd=1000.0)
    assert_exact(approved, 60)
