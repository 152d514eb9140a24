"""The local backend end to end: `tunesmith train NAME --backend local --base-model <tiny> --yes --follow` trains
the tiny model with each method; a killed parent re-attaches from the run folder; cancel stops the process
group; the CLI's runs / logs / cancel and the dataset gate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import StageNotReady
from core.project import Project
from core.train import runfolder as rf
from core.train import service
from tests.test_train_common import ROOT, cli, make_ready_project


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


def _wait(predicate, timeout: float, what: str, step: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def _only_run(project: Project):
    runs = rf.list_runs(project)
    assert len(runs) == 1, runs
    return runs[0], rf.run_dir(project, runs[0].run_id)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sft", "dpo", "kto", "grpo"])
def test_train_each_method_end_to_end(projects_root: Path, tiny: Path, method: str) -> None:
    lora = method == "sft"  # one method through peft as well
    project = make_ready_project(f"{method}-bot", method, use_lora="yes" if lora else "no")
    r = cli("train", project.slug, "--backend", "local", "--base-model", str(tiny), "--yes", "--follow")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert f"* {method.upper():<5} READY" in out and "chat template of" in out
    assert f"training plan: {method.upper()} on {tiny}" in out and "no charge (local)" in out
    assert "[metrics] step=1" in out and "[metrics] step=2" in out and "run completed" in out
    assert "Traceback" not in out + r.stderr

    run, folder = _only_run(project)
    assert run.status == "completed" and run.pid and run.backend == "local" and run.method == method
    assert run.started_at and run.ended_at and run.failure_reason is None
    status = json.loads((folder / rf.STATUS_JSON).read_text())
    assert status["status"] == "completed" and status["exit_code"] == 0 and status["global_step"] == 2
    # the estimate against what it took, for the next plan (core.train.timing)
    assert run.planned_steps == 2 and run.actual_seconds is not None and run.seconds_per_step
    assert "recorded in run.toml for the next plan" in out
    metrics = rf.read_metrics(folder)
    assert (folder / rf.METRICS_PARQUET).exists() and [m.step for m in metrics if m.loss is not None] == [1, 2]
    assert all(m.learning_rate is not None and m.time is not None for m in metrics if m.loss is not None)
    if method != "grpo":
        assert any(m.eval_loss is not None for m in metrics)  # evaluated on the validation split
    else:  # the evaluation's rules scored the completions inside TRL
        assert "rewards: format, refusal, correctness; task type instruction_following" in out
        assert "rewards/correctness/mean=" in out and "rewards/refusal/mean=" in out
    assert any(m.tokens_per_second for m in metrics)
    model = folder / rf.MODEL_DIR
    assert (model / "tokenizer.json").exists() and (model / "README.md").exists()
    assert (model / ("adapter_config.json" if lora else "model.safetensors")).exists()
    card = (model / "README.md").read_text()
    assert "tunesmith" in card and "## Run configuration" in card
    config = json.loads((folder / rf.CONFIG_JSON).read_text())
    assert config["method"] == method and config["use_lora"] is lora and config["base_model"] == str(tiny)
    if method == "grpo":
        assert config["rewards"] == ["format", "refusal", "correctness"] == run.config["rewards"]
        assert run.config["reward_settings"]["task_type"] == "instruction_following"  # recorded in run.toml
        assert "no validated judge: prose answers are rewarded by overlap with the reference" in out
    if method == "kto":
        assert config["kto_balance"]["n_desirable"] == 6 and "KTO       desirable_weight 1" in out
    assert "token" not in json.dumps(config).lower().replace("tokens", "")
    project.reload()
    assert project.meta.is_done("train", "planned") and project.meta.is_done("train", "trained")

    listing = cli("runs", project.slug)
    assert listing.returncode == 0 and run.run_id in listing.stdout and "completed" in listing.stdout
    logs = cli("logs", project.slug, "latest")
    assert logs.returncode == 0 and "[metrics] step=2" in logs.stdout and "completed" in logs.stderr


@pytest.mark.slow
def test_a_killed_parent_re_attaches(projects_root: Path, tiny: Path) -> None:
    """The CLI that started and followed the run is killed; the detached runner goes on; a fresh
    Project.open + refresh sees it running, then completed."""
    project = make_ready_project("reattach-bot", "sft", max_steps=12, logging_steps=2,
                                 trainer_args={"eval_steps": 100})
    parent = subprocess.Popen([sys.executable, "-m", "core.cli", "train", project.slug, "--backend", "local",
                               "--base-model", str(tiny), "--yes", "--follow"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        def started():
            runs = rf.list_runs(project)
            return runs and runs[0].status == "running" and runs[0].pid and runs[0]
        run = _wait(started, 120, "the run to start")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
    del project, run  # forget every Python object of the run

    again = Project.open("reattach-bot")
    run_id = rf.list_runs(again)[0].run_id
    first = service.refresh(again, run_id)
    assert first.status == "running", first
    final = _wait(lambda: (r := service.refresh(Project.open("reattach-bot"), run_id)).status in rf.FINAL and r,
                  240, "the run to end", step=0.5)
    assert final.status == "completed", final.failure_reason
    folder = rf.run_dir(again, run_id)
    assert [m.step for m in rf.read_metrics(folder) if m.loss is not None][-1] == 12
    assert rf.read_run(folder).status == "completed"
    again.reload()
    assert again.meta.is_done("train", "trained")


@pytest.mark.slow
def test_cancel_stops_the_runner(projects_root: Path, tiny: Path) -> None:
    """A long run is canceled through the CLI: the runner gets SIGTERM, records "canceled", its process
    group is gone, and run.toml says canceled."""
    project = make_ready_project("cancel-bot", "sft", max_steps=100000, logging_steps=1,
                                 trainer_args={"eval_steps": 100000})
    plan = service.plan_training(project, backend="local", base_model=str(tiny))
    run = service.start_training(project, plan)
    folder = rf.run_dir(project, run.run_id)
    try:
        _wait(lambda: rf.read_metrics(folder), 120, "the first training step")
        assert service.refresh(project, run.run_id).status == "running"
        with pytest.raises(StageNotReady, match="still training"):  # one local training at a time
            service.start_training(project, plan)
        r = cli("cancel", project.slug, run.run_id.rsplit("-", 2)[-2] + "-" + run.run_id.rsplit("-", 1)[-1],
                timeout=60)
    finally:
        if _exists(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
    assert r.returncode == 0 and f"canceled run {run.run_id}" in r.stdout, r.stderr
    final = service.refresh(project, run.run_id)
    assert final.status == "canceled" and final.ended_at is not None
    _wait(lambda: not _exists(run.pid), 15, "the runner to be reaped")
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)
    status = _wait(lambda: rf.read_status(folder), 10, "status.json")
    assert status["status"] == "canceled"
    assert "canceled" in (folder / rf.LOG).read_text()
    again = cli("cancel", project.slug, run.run_id)
    assert again.returncode == 0 and "already ended: canceled" in again.stdout


def _exists(pid: int) -> bool:
    from core.train.backends.local import process_alive

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return process_alive(pid, "") or Path(f"/proc/{pid}").exists() and \
        Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"


STUBBORN = r"""
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)          # ignores the polite request
child = subprocess.Popen(["sleep", "600"])             # and has a child in its process group
open(sys.argv[-1] + ".child", "w").write(str(child.pid))
time.sleep(600)
"""


def test_cancel_kills_the_whole_process_group(projects_root: Path, tmp_path: Path) -> None:
    """A runner that ignores SIGTERM and has a child: after the grace period both are SIGKILLed."""
    from core.models.project import now
    from core.models.runs import TrainingRun
    from core.train.backends.local import LocalBackend, process_alive

    class Stubborn(LocalBackend):
        def command(self, folder: Path) -> list[str]:
            return [sys.executable, "-c", STUBBORN, str(Path(folder) / rf.CONFIG_JSON)]

    project = make_ready_project("stubborn-bot", "sft")
    run_id = rf.new_run_id("sft")
    folder = rf.run_dir(project, run_id)
    folder.mkdir(parents=True)
    backend = Stubborn(grace_s=1.0)
    run = backend.submit(folder, TrainingRun(run_id=run_id, backend="local", method="sft", base_model="x",
                                             created_at=now()))
    child_file = folder / (rf.CONFIG_JSON + ".child")
    child = int(_wait(lambda: child_file.exists() and child_file.read_text(), 30, "the child"))
    assert backend.poll(folder, run).status == "running"
    started = time.time()
    run = backend.cancel(folder, run)
    assert run.status == "canceled" and time.time() - started >= 1.0
    assert not process_alive(run.pid, run_id)
    _wait(lambda: not Path(f"/proc/{child}").exists() or
          Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z", 10, "the child to die")
    # a runner that dies without status.json is a failure, not a success
    run2 = TrainingRun(run_id=run_id, backend="local", method="sft", base_model="x", created_at=now(),
                       status="running", pid=run.pid)
    assert backend.poll(folder, run2).status == "failed"


def test_poll_ignores_a_reused_pid(projects_root: Path) -> None:
    from core.train.backends.local import process_alive

    assert process_alive(os.getpid(), "no-such-run-id-in-my-cmdline") is False
    assert process_alive(None, "x") is False


def test_train_needs_a_validated_dataset(projects_root: Path) -> None:
    Project.create("raw-bot", "answer billing questions", preset="minimal", method="sft")
    r = cli("train", "raw-bot", "--backend", "local", "--base-model", "x", "--yes")
    assert r.returncode == 1 and "not validated yet" in r.stderr and "tunesmith generate raw-bot" in r.stderr
    assert "Traceback" not in r.stderr


def test_incompatible_dataset_submits_nothing(projects_root: Path, tiny: Path) -> None:
    project = make_ready_project("mismatch-bot", "sft")
    project.meta.training_method = "dpo"  # the dataset on disk is SFT's
    project.save()
    plan = service.plan_training(project, backend="local", base_model=str(tiny))
    assert not plan.ok and plan.check.verdict.verdict == "INCOMPATIBLE"
    with pytest.raises(service.TrainingNotReady):
        service.start_training(project, plan)
    assert rf.list_runs(project) == []


def test_answering_no_starts_nothing(projects_root: Path, tiny: Path) -> None:
    project = make_ready_project("shy-bot", "kto")
    r = cli("train", project.slug, "--backend", "local", "--base-model", str(tiny), stdin="n\n")
    assert r.returncode == 1 and "training not started" in r.stdout
    assert "training plan: KTO" in r.stdout
    assert rf.list_runs(project) == []


def test_unknown_run_is_bad_input(projects_root: Path) -> None:
    make_ready_project("empty-bot", "sft")
    r = cli("logs", "empty-bot", "nope")
    assert r.returncode == 2 and "no runs yet" in r.stderr
    r = cli("runs", "empty-bot")
    assert r.returncode == 0 and "no training runs yet" in r.stdout
