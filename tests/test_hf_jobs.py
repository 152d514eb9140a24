"""The HF Jobs backend against a local fake of the Jobs + Hub HTTP API, driven by the real huggingface_hub
client (HfApi(endpoint=fake.url)): submit, log streaming, metrics, completion, failure, cancel, re-attach,
and the token never reaching a file."""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.models.runs import TrainingRun
from core.train import hub as hubmod
from core.train.backends import hf_jobs
from core.train.backends.hf_jobs import NOTE_PREFIX, HFJobsBackend, cost_so_far, job_timeout_s, normalise
from core.train.runfolder import read_metrics, read_run, write_run
from tests.fakes.hf_jobs_server import FakeHFJobsServer, Log, Sleep, Stage, Wait

TOKEN = "hf_FAKEtoken0123456789abcdefXYZ"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(importlib.import_module("huggingface_hub.utils.tqdm"), "HF_HUB_DISABLE_PROGRESS_BARS", True)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with FakeHFJobsServer(user="alice", orgs=("acme",), tokens=(TOKEN,)) as server:
        yield server


def make_backend(server: FakeHFJobsServer, token: str = TOKEN, **kw) -> HFJobsBackend:
    from huggingface_hub import HfApi

    opts = dict(poll_interval=0.05, retry_delay=0.05, cancel_timeout=5.0, cancel_interval=0.05)
    opts.update(kw)
    return HFJobsBackend(api=HfApi(endpoint=server.url, token=token), **opts)


def make_run(tmp_path: Path, *, namespace: str | None = None, dataset: dict | None = None) -> tuple[Path, TrainingRun]:
    """A project folder with a finished dataset and a run folder as the train service writes it."""
    project = tmp_path / "projects" / "demo-project"
    data = project / "data" / "training_dataset"
    data.mkdir(parents=True)
    (data / "train.parquet").write_bytes(b"PAR1 train rows PAR1")
    (data / "validation.parquet").write_bytes(b"PAR1 validation rows PAR1")
    (data / "README.md").write_text("---\nlicense: other\n---\n# Demo data\n", encoding="utf-8")
    run_id = "20250101-120000-sft-ab12"
    folder = project / "runs" / run_id
    folder.mkdir(parents=True)
    config = {"schema_version": 1, "run_id": run_id, "method": "sft", "base_model": "Qwen/Qwen2.5-0.5B",
              "dataset": dataset or {"train": "../../data/training_dataset/train.parquet",
                                     "validation": "../../data/training_dataset/validation.parquet"},
              "output_dir": "model", "hyperparameters": {"num_train_epochs": 1, "max_steps": 3},
              "push_to_hub": True, "hub_model_id": None, "hub_private": True,
              "project": {"name": "Demo project", "task": "answer questions"}}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    run = TrainingRun(run_id=run_id, backend="hf_jobs", method="sft", base_model="Qwen/Qwen2.5-0.5B",
                      created_at=datetime.now(timezone.utc), flavor="a10g-small", parameters_b=0.5,
                      estimated_hours=2.0, estimated_cost_usd=2.0, namespace=namespace, config=config)
    write_run(folder, run)
    return folder, run


def job_lines(folder: Path) -> list[str]:
    text = (folder / "train.log").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if not line.startswith(NOTE_PREFIX)]


def wait_followed(folder: Path, timeout: float = 10.0) -> None:
    thread = hf_jobs.follower(folder)
    if thread is not None:
        thread.join(timeout)
        assert not thread.is_alive(), "the log follower did not stop"


def no_token_anywhere(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the token was written to {path}"


RUNNER_LINES = (
    "12:00:00 tunesmith runner: SFT on Qwen/Qwen2.5-0.5B, run 20250101-120000-sft-ab12",
    f"12:00:01 env says HF_TOKEN={TOKEN}",
    "12:00:02 training started: 3 steps",
    "12:00:03 [metrics] step=1 epoch=0.33 loss=2.5 learning_rate=0.0002 grad_norm=1.2 time=1.0 of=3",
    "12:00:04 [metrics] step=2 epoch=0.67 loss=2.1 learning_rate=0.0001 time=2.0 of=3",
    "12:00:05 [metrics] step=3 epoch=1 loss=1.9 eval_loss=2.0 learning_rate=0 time=3.0 of=3",
    "12:00:06 run completed in 6.0 s",
)


# ---------------------------------------------------------------- pure helpers


def test_stages_are_normalised() -> None:
    from huggingface_hub import JobStage

    expected = {"SCHEDULING": "queued", "RUNNING": "running", "COMPLETED": "completed", "ERROR": "failed",
                "CANCELED": "canceled", "DELETED": "canceled"}
    for stage in JobStage:
        status, _ = normalise(stage)
        assert status == expected[stage.value], stage
    assert normalise("DELETED")[1] == "the job was deleted on the Hub"
    status, remark = normalise("HIBERNATING")
    assert status == "running" and "HIBERNATING" in remark


def test_timeout_and_cost() -> None:
    base = dict(run_id="r", backend="hf_jobs", method="sft", base_model="m", created_at=datetime.now(timezone.utc))
    assert job_timeout_s(TrainingRun(**base, estimated_hours=0.5)) == 3600
    assert job_timeout_s(TrainingRun(**base, estimated_hours=2.0)) == math.ceil(2 * 3600 * 1.3)
    assert job_timeout_s(TrainingRun(**base, timeout_s=1000)) == 3600
    assert job_timeout_s(TrainingRun(**base, timeout_s=7200)) == 7200
    start = datetime(2025, 1, 1, 10, tzinfo=timezone.utc)
    queued = TrainingRun(**base, flavor="a10g-large")
    assert cost_so_far(queued) == 0.0
    running = TrainingRun(**base, flavor="a10g-large", status="running", started_at=start)
    assert cost_so_far(running, now=start + timedelta(hours=2)) == pytest.approx(3.0)
    done = TrainingRun(**base, flavor="t4-small", status="completed", started_at=start, ended_at=start + timedelta(minutes=30))
    assert cost_so_far(done, now=start + timedelta(hours=9)) == pytest.approx(0.2)
    assert cost_so_far(TrainingRun(**base, flavor="mystery-gpu", started_at=start)) is None


def test_cost_uses_the_hubs_price_list(fake_hub: FakeHFJobsServer) -> None:
    start = datetime(2025, 1, 1, 10, tzinfo=timezone.utc)
    run = TrainingRun(run_id="r", backend="hf_jobs", method="sft", base_model="m", created_at=start,
                      flavor="a100-large", status="running", started_at=start)
    backend = make_backend(fake_hub)
    assert backend.price_per_hour("a100-large") == pytest.approx(2.5)
    assert backend.cost_so_far(run, now=start + timedelta(minutes=30)) == pytest.approx(1.25)
    assert len(fake_hub.requests_to("GET", "/api/jobs/hardware")) == 1  # asked once
    assert backend.price_per_hour("l40sx1") == hf_jobs.FLAVOR_PRICES["l40sx1"]  # not in the Hub's list: table


def test_token_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_fromTheEnvironment")
    assert hubmod.resolve_token() == "hf_fromTheEnvironment"
    assert hubmod.resolve_token("hf_explicit") == "hf_explicit"
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(hubmod.NoToken):
        hubmod.resolve_token()
    assert hubmod.scrub(f"token={TOKEN} and hf_abcdefghijklmnopqrstu", TOKEN) == "token=*** and ***"


def test_runner_header_gives_the_job_dependencies() -> None:
    deps = hubmod.pep723_dependencies(ROOT / "core" / "train" / "runner.py")
    assert any(d.startswith("trl") for d in deps) and any(d.startswith("peft") for d in deps)


# ---------------------------------------------------------------- submit


def test_submit_pushes_the_dataset_then_runs_the_uv_job(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    fake_hub.program = [Wait("never")]
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    run = backend.submit(folder, run)

    # the dataset went to <whoami>/<project>-data, private, before the job was created
    repo = fake_hub.repos["datasets/alice/demo-project-data"]
    assert repo.private
    data = folder.parent.parent / "data" / "training_dataset"
    assert repo.files == {"train.parquet": (data / "train.parquet").read_bytes(),
                          "validation.parquet": (data / "validation.parquet").read_bytes(),
                          "README.md": (data / "README.md").read_bytes()}
    paths = [(r.method, r.path) for r in fake_hub.requests]
    commit_at = paths.index(("POST", "/api/datasets/alice/demo-project-data/commit/main"))
    job_at = paths.index(("POST", "/api/jobs/alice"))
    assert commit_at < job_at
    assert {r.token for r in fake_hub.requests if r.path.startswith("/api/")} == {TOKEN}

    spec = fake_hub.requests_to("POST", "/api/jobs/alice")[0].json
    assert spec["flavor"] == "a10g-small"
    assert spec["timeoutSeconds"] == math.ceil(2 * 3600 * 1.3)
    assert spec["secrets"] == {"HF_TOKEN": TOKEN}
    assert TOKEN not in json.dumps(spec["environment"]) and spec["environment"]["TUNESMITH_RUN_ID"] == run.run_id
    assert spec["labels"]["tunesmith"] == "demo-project" and spec["labels"]["run"] == run.run_id
    command = spec["command"]
    assert command[:2] == ["uv", "run"] and command[-3:] == ["/data/runner.py", "--config", "/data/job_config.json"]
    assert any(a.startswith("trl") for a in command[command.index("--with") + 1::2][:20])
    assert spec["volumes"][0]["source"] == "alice/jobs-artifacts" and spec["volumes"][0]["mountPath"] == "/data"
    shipped = {p.rsplit("/", 1)[-1] for p in fake_hub.buckets["alice/jobs-artifacts"].files}
    assert shipped == {"runner.py", "job_config.json"}

    # the config the job reads: the Hub dataset at the pushed revision, push_to_hub with a model id
    job_config = json.loads((folder / "job_config.json").read_text())
    assert job_config["dataset"] == {"hub_id": "alice/demo-project-data", "revision": repo.commits[-1]["oid"],
                                     "train_split": "train", "validation_split": "validation"}
    assert job_config["push_to_hub"] is True and job_config["hub_model_id"] == run.hub_model_id
    assert job_config["hub_model_id"] == "alice/demo-project-sft"  # the plan's <namespace>/<project>-<method>
    assert "output_dir" not in job_config and job_config["run_dir"].startswith("/tmp/")

    saved = read_run(folder)
    assert (saved.job_id, saved.namespace, saved.flavor, saved.status) == (fake_hub.job().id, "alice", "a10g-small", "queued")
    assert saved.timeout_s == math.ceil(2 * 3600 * 1.3)
    no_token_anywhere(folder.parent.parent)


def test_a_grpo_job_ships_the_runner_with_the_scoring_rules_and_the_judge_key(
        fake_hub: FakeHFJobsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GRPO's rewards are tunesmith's scoring rules: the script shipped is runs/<id>/runner.py with them
    embedded (core.train.bundle), and the judge reward's key goes as a job secret, never into a file."""
    from core.train import bundle

    fake_hub.program = [Wait("never")]
    folder, run = make_run(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(method="grpo", rewards=["format", "refusal", "correctness"],
                  reward_settings={"task_type": "instruction_following",
                                   "judge": {"model": "m", "api_base": "https://judge.example/v1",
                                             "key_env": "JUDGE_TEST_KEY", "messages": []}})
    (folder / "config.json").write_text(json.dumps(config))
    run = run.model_copy(update={"method": "grpo"})
    key = "sk-judgeKEY0123456789abcdefghij"
    monkeypatch.setenv("JUDGE_TEST_KEY", key)
    backend = make_backend(fake_hub)
    shipped: list[str] = []
    real = backend.api.run_uv_job
    monkeypatch.setattr(backend.api, "run_uv_job", lambda script, **kw: shipped.append(script) or real(script, **kw))
    backend.submit(folder, run)

    assert shipped == [str(folder / "runner.py")]
    text = (folder / "runner.py").read_text()
    assert text == bundle.build_script() and "'core.refusal': " in text and "'core.train.rewards': " in text
    assert {p.rsplit("/", 1)[-1] for p in fake_hub.buckets["alice/jobs-artifacts"].files} == {"runner.py",
                                                                                            "job_config.json"}
    spec = fake_hub.requests_to("POST", "/api/jobs/alice")[0].json
    assert spec["secrets"] == {"HF_TOKEN": TOKEN, "JUDGE_TEST_KEY": key}
    assert spec["command"][-3:] == ["/data/runner.py", "--config", "/data/job_config.json"]
    for path in folder.parent.parent.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    no_token_anywhere(folder.parent.parent)


def test_submit_with_explicit_namespace_and_hub_dataset(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    fake_hub.program = [Wait("never")]
    folder, run = make_run(tmp_path, namespace="acme", dataset={"hub_id": "acme/curated", "revision": "v1"})
    run = make_backend(fake_hub).submit(folder, run)
    assert run.namespace == "acme" and fake_hub.requests_to("POST", "/api/jobs/acme")
    assert not fake_hub.requests_to("GET", "/api/whoami-v2")  # explicit namespace: nobody asked
    assert not fake_hub.requests_to("POST", "/commit/")  # the dataset is already on the Hub
    assert json.loads((folder / "job_config.json").read_text())["dataset"] == {"hub_id": "acme/curated", "revision": "v1"}


def test_submit_failure_is_recorded_with_a_clear_reason(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    folder, run = make_run(tmp_path)
    fake_hub.fail("run_job", 402)
    with pytest.raises(hubmod.HubError, match="payment required"):
        make_backend(fake_hub).submit(folder, run)
    saved = read_run(folder)
    assert saved.status == "failed" and "payment required" in saved.failure_reason
    with pytest.raises(hubmod.HubError, match="rejected the token"):
        make_backend(fake_hub, token="hf_wrongwrongwrongwrong").submit(folder, run)
    no_token_anywhere(folder.parent.parent)


def test_submit_without_a_token_says_how_to_get_one(fake_hub: FakeHFJobsServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    folder, run = make_run(tmp_path)
    with pytest.raises(hubmod.NoToken, match="HF_TOKEN"):
        make_backend(fake_hub, token=None).submit(folder, run)
    assert read_run(folder).status == "failed" and not fake_hub.jobs


# ---------------------------------------------------------------- follow, complete, fail, cancel


def test_logs_stream_into_train_log_and_metrics_until_completed(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    fake_hub.program = [Sleep(0.1), Stage("RUNNING"), Log(*RUNNER_LINES[:4]), Sleep(0.1), Log(*RUNNER_LINES[4:]),
                        Sleep(0.05), Stage("COMPLETED")]
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    run = backend.submit(folder, run)
    backend.follow(folder, run)
    backend.follow(folder, run)  # idempotent: one follower per run
    wait_followed(folder)

    lines = job_lines(folder)
    assert lines == [line.replace(TOKEN, "***") for line in RUNNER_LINES]
    rows = read_metrics(folder)
    assert [(r.step, r.loss) for r in rows] == [(1, 2.5), (2, 2.1), (3, 1.9)]
    assert rows[-1].eval_loss == 2.0 and rows[0].grad_norm == 1.2
    assert (folder / "metrics.parquet").exists() and len((folder / "metrics.jsonl").read_text().splitlines()) == 3
    final = read_run(folder)
    assert final.status == "completed" and final.failure_reason is None
    assert final.started_at is not None and final.ended_at is not None
    assert cost_so_far(final) is not None and cost_so_far(final) < 0.01
    assert fake_hub.job().streams_opened == 1
    no_token_anywhere(folder.parent.parent)

    # a later follow (a restarted TUI) of the finished run adds nothing
    again = make_backend(fake_hub)
    again.follow(folder, final)
    wait_followed(folder)
    assert job_lines(folder) == lines and len(read_metrics(folder)) == 3


def test_failure_carries_the_hub_message_and_the_runner_reason(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    fake_hub.program = [Stage("RUNNING"), Log("12:00:00 tunesmith runner: SFT", "12:00:01 training failed:",
                                             "12:00:02 run failed in 2.0 s: ValueError: SFT needs messages"),
                        Stage("ERROR", "Job failed with exit code: 1")]
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    backend.follow(folder, backend.submit(folder, run))
    wait_followed(folder)
    final = read_run(folder)
    assert final.status == "failed"
    assert final.failure_reason == "Job failed with exit code: 1; ValueError: SFT needs messages"
    assert backend.poll(folder, final).status == "failed"


def test_cancel_waits_for_the_hub_to_confirm(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    fake_hub.program = [Stage("RUNNING"), Log("12:00:00 step one"), Wait("never")]
    fake_hub.cancel_delay = 0.2
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    run = backend.submit(folder, run)
    backend.follow(folder, run)
    fake_hub.wait_until(lambda: (folder / "train.log").exists() and "12:00:00 step one" in job_lines(folder))
    assert backend.poll(folder, run).status == "running"
    canceled = backend.cancel(folder, run)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert len(fake_hub.requests_to("POST", "/cancel")) == 1
    wait_followed(folder)
    assert read_run(folder).status == "canceled"
    assert backend.cancel(folder, canceled).status == "canceled"  # already over: nothing more to ask
    assert len(fake_hub.requests_to("POST", "/cancel")) == 1


def test_a_dropped_stream_reconnects_without_duplicate_lines(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    first = [f"12:00:0{i} line {i}" for i in range(3)]
    later = [f"12:00:1{i} line {i + 3}" for i in range(3)]
    fake_hub.program = [Stage("RUNNING"), Log(*first), Wait("more"), Log(*later), Stage("COMPLETED")]
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    run = backend.submit(folder, run)
    backend.follow(folder, run)
    fake_hub.wait_until(lambda: (folder / "train.log").exists() and len(job_lines(folder)) == 3)
    job = fake_hub.job()
    fake_hub.drop(job.id, status=500)  # cut the stream; the client's retry then gets a 500 and gives up
    fake_hub.wait_until(lambda: job.streams_opened >= 2, timeout=15)  # we reconnected: the log replays
    fake_hub.release("more")
    wait_followed(folder)
    assert job_lines(folder) == first + later
    assert read_run(folder).status == "completed"


def test_a_new_process_reattaches_without_duplicates(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    first = [f"12:00:0{i} [metrics] step={i + 1} loss={3 - i * 0.1:.1f}" for i in range(3)]
    later = ["12:01:00 [metrics] step=4 loss=2.5", "12:01:01 run completed in 61.0 s"]
    fake_hub.program = [Stage("RUNNING"), Log(*first), Wait("more"), Log(*later), Stage("COMPLETED")]
    folder, run = make_run(tmp_path)
    run = make_backend(fake_hub).submit(folder, run)

    # a first process (the TUI) follows the job, then is killed
    script = textwrap.dedent(f"""
        import sys, time
        from huggingface_hub import HfApi, constants
        constants.HF_HUB_OFFLINE = False
        from core.train.backends.hf_jobs import HFJobsBackend
        from core.train.runfolder import read_run
        folder = {str(folder)!r}
        backend = HFJobsBackend(api=HfApi(endpoint={fake_hub.url!r}, token={TOKEN!r}), poll_interval=0.05, retry_delay=0.05)
        backend.follow(__import__("pathlib").Path(folder), read_run(__import__("pathlib").Path(folder)))
        print("following", flush=True)
        time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "0"}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "following"
        fake_hub.wait_until(lambda: (folder / "train.log").exists() and len(job_lines(folder)) == 3, timeout=15)
        other = make_backend(fake_hub)
        other.follow(folder, read_run(folder))
        assert hf_jobs.follower(folder) is None  # the other process holds the run's follow lock
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    backend = make_backend(fake_hub)
    backend.follow(folder, read_run(folder))  # re-attach: the whole log replays, 3 lines are skipped
    fake_hub.wait_until(lambda: fake_hub.job().streams_opened >= 2)
    fake_hub.release("more")
    wait_followed(folder)
    assert job_lines(folder) == first + later
    assert [r.step for r in read_metrics(folder)] == [1, 2, 3, 4]
    assert read_run(folder).status == "completed"


def test_poll_follows_stage_changes_on_demand(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    fake_hub.program = [Wait("never")]
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    run = backend.submit(folder, run)
    assert backend.poll(folder, run).status == "queued"
    fake_hub.set_stage(run.job_id, "RUNNING")
    running = backend.poll(folder, run)
    assert running.status == "running" and running.started_at is not None
    assert read_run(folder).status == "running"
    fake_hub.set_stage(run.job_id, "HIBERNATING")  # a stage this client does not know
    assert backend.poll(folder, running).status == "running"
    assert backend.poll(folder, running).status == "running"
    notes = [line for line in (folder / "train.log").read_text().splitlines() if "HIBERNATING" in line]
    assert len(notes) == 1 and notes[0].startswith(NOTE_PREFIX)
    fake_hub.set_stage(run.job_id, "DELETED")
    gone = backend.poll(folder, running)
    assert gone.status == "canceled" and gone.failure_reason == "the job was deleted on the Hub"


def test_a_poll_that_sees_the_end_completes_the_log_first(fake_hub: FakeHFJobsServer, tmp_path: Path) -> None:
    """Nobody followed (the TUI was closed the whole time): the first poll that sees the job final reads its
    whole log into train.log before run.toml says final, so a reader of a final run finds every line."""
    fake_hub.program = [Stage("RUNNING"), Log(*RUNNER_LINES[:-1]),
                        Log("12:00:06 run failed in 6.0 s: RuntimeError: CUDA out of memory"),
                        Stage("ERROR", "Job failed with exit code: 1")]
    folder, run = make_run(tmp_path)
    backend = make_backend(fake_hub)
    run = backend.submit(folder, run)
    fake_hub.wait_until(lambda: fake_hub.job().stage == "ERROR")
    final = backend.poll(folder, run)
    assert final.status == "failed"
    assert final.failure_reason == "Job failed with exit code: 1; RuntimeError: CUDA out of memory"
    assert job_lines(folder)[-1].endswith("CUDA out of memory") and len(job_lines(folder)) == len(RUNNER_LINES)
    assert [r.step for r in read_metrics(folder)] == [1, 2, 3] and (folder / "metrics.parquet").exists()
    backend.poll(folder, final)
    backend.follow(folder, final)
    wait_followed(folder)
    assert len(job_lines(folder)) == len(RUNNER_LINES)  # nothing twice
    no_token_anywhere(folder.parent.parent)


def test_the_train_service_drives_the_backend(fake_hub: FakeHFJobsServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """service.follow (what `tunesmith logs --follow` and the CLI use) over this backend: the registry's
    entry loads, the follower fills train.log, the service sees the final status in run.toml."""
    from types import SimpleNamespace

    from core.train import service

    monkeypatch.setattr(service, "_INSTANCES", {})
    assert isinstance(service.get_backend("hf_jobs"), HFJobsBackend)  # the lazy "module:attr" entry
    backend = make_backend(fake_hub)
    monkeypatch.setitem(service.BACKENDS, "hf_jobs", backend)
    monkeypatch.setattr(service, "_INSTANCES", {})
    fake_hub.program = [Stage("RUNNING"), Log(*RUNNER_LINES), Stage("COMPLETED")]
    folder, run = make_run(tmp_path)
    backend.submit(folder, run)
    project = SimpleNamespace(folder=folder.parent.parent, slug="demo-project", reload=lambda: None,
                              meta=SimpleNamespace(is_done=lambda *a: True))
    seen: list[str] = []
    final = service.follow(project, run.run_id, on_line=seen.append, poll_s=0.02, status_every_s=0.05, timeout_s=10)
    wait_followed(folder)
    assert final.status == "completed"
    assert [line for line in seen if not line.startswith(NOTE_PREFIX)] == [l.replace(TOKEN, "***") for l in RUNNER_LINES]
