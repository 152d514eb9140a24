"""The Hugging Face Jobs backend: the runner script runs as a uv job on the Hub's GPUs.

submit   the training data goes to the Hub first (``<namespace>/<project>-data``, private; skipped when the
         config already names a Hub dataset), then ``run_uv_job`` ships core/train/runner.py and
         job_config.json (the run's config.json with the Hub dataset, ``push_to_hub``/``hub_model_id`` and a
         remote run folder; no secret in it) to the job's artifacts bucket and runs
         ``uv run /data/runner.py --config /data/job_config.json`` with the flavor, the timeout (plan × 1.3,
         at least 1 h), ``secrets={"HF_TOKEN": ...}``, an explicit namespace and labels
         (``tunesmith=<project>``, ``run=<run id>``). run.toml records job_id, namespace, flavor, timeout.
         A GRPO run ships runs/<id>/runner.py instead: the runner with tunesmith's scoring rules embedded
         (core/train/bundle.py), and the judge reward's API key, when the config names one and this
         machine's environment has it, goes into the job's secrets too.
poll     ``inspect_job``; the stage normalised (SCHEDULING queued, RUNNING running, COMPLETED completed,
         ERROR failed, CANCELED/DELETED canceled, anything else running with a note); a failure's reason from
         the Hub's message and the runner's last "run failed" line; started_at/ended_at from the job. The
         poll that first sees the job final completes train.log (waits for the follower, or replays the log
         itself) before run.toml says final: a reader of a final run.toml finds every line.
follow   a daemon thread (core/train/backends/hf_jobs_follow.py) streams ``fetch_job_logs(follow=True)``
         into train.log and the runner's ``[metrics] step=...`` lines into metrics.jsonl, without duplicates
         across reconnects and restarts, keeps run.toml's status fresh, and ends when the job is final.
cost     ``cost_so_far(run)``: hours since the job started running × the flavor's $/h
         (core.train.hardware.FLAVORS, else FLAVOR_PRICES; ``HFJobsBackend.cost_so_far`` asks the Hub's
         current price list first). submit fills run.estimated_cost_usd when the plan did not.
cancel   ``cancel_job``, then poll until the Hub says canceled (bounded).

The token comes from the constructor, else HF_TOKEN, else huggingface_hub's stored login; it is sent to the
Hub and put in the job's secrets, and never written to a file (see core/train/hub.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import threading
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import store
from core.errors import StoreError, TunesmithError
from core.models.runs import TrainingRun
from core.train import hub
from core.train.backends.hf_jobs_follow import (  # noqa: F401 - re-exported
    METRIC_PREFIX, NOTE_PREFIX, complete_log, finish, follower, note, parse_metric, start_follower, stop_following)
from core.train.runfolder import CONFIG_JSON, FINAL, LOG, read_run, write_run

RUNNER = Path(__file__).resolve().parents[1] / "runner.py"
JOB_CONFIG = "job_config.json"
REMOTE_RUN_DIR = "/tmp/tunesmith/run"  # the runner's run folder inside the job (model/ goes under it)
MIN_TIMEOUT_S = 3600
TIMEOUT_FACTOR = 1.3
DEFAULT_TIMEOUT_S = 3 * 3600  # no plan estimate at all

STAGES = {"SCHEDULING": "queued", "RUNNING": "running", "COMPLETED": "completed", "ERROR": "failed",
          "CANCELED": "canceled", "DELETED": "canceled"}

# $ per hour of the flavors core.train.hardware.FLAVORS does not list (Hugging Face's list prices).
FLAVOR_PRICES = {
    "cpu-basic": 0.01, "cpu-upgrade": 0.03, "l40sx1": 1.80, "l40sx4": 8.30, "l40sx8": 23.50, "a100x4": 10.00,
    "a100x8": 20.00, "h200": 5.00, "h200x2": 10.00, "h200x4": 20.00, "h200x8": 40.00,
}


# ---------------------------------------------------------------- pure helpers


def flavor_price(flavor: str | None) -> float | None:
    """$ per hour of a flavor: core.train.hardware.FLAVORS (the plan's prices), else FLAVOR_PRICES."""
    if not flavor:
        return None
    from core.train import hardware

    spec = hardware.FLAVORS.get(flavor)
    return float(spec.usd_per_hour) if spec is not None else FLAVOR_PRICES.get(flavor)


def default_flavor(parameters_b: float | None) -> str:
    """The hf-llm-trainer table's choice by model size (the plan normally sets run.flavor already)."""
    from core.train import hardware

    return hardware.choose_hardware(parameters_b).flavor


def job_timeout_s(run: TrainingRun) -> int:
    """run.timeout_s when the plan set it, else the estimate × 1.3; never under an hour."""
    if run.timeout_s:
        seconds = run.timeout_s
    elif run.estimated_hours:
        seconds = math.ceil(run.estimated_hours * 3600 * TIMEOUT_FACTOR)
    else:
        seconds = DEFAULT_TIMEOUT_S
    return max(MIN_TIMEOUT_S, int(seconds))


def normalise(stage: Any) -> tuple[str, str | None]:
    """(tunesmith status, a note for stages that need one) for a JobStage value."""
    name = str(getattr(stage, "value", stage) or "").upper()
    if name in STAGES:
        return STAGES[name], ("the job was deleted on the Hub" if name == "DELETED" else None)
    return "running", f"unknown job stage {name or '(none)'!r} from the Hub, treated as running"


def cost_so_far(run: TrainingRun, now: datetime | None = None, price_per_hour: float | None = None) -> float | None:
    """Dollars spent so far: hours since the job started running (to its end) × the flavor's $/h.
    0.0 while queued; None when the flavor's price is unknown."""
    price = price_per_hour if price_per_hour is not None else flavor_price(run.flavor)
    if price is None:
        return None
    if run.started_at is None:
        return 0.0
    end = run.ended_at if (run.status in FINAL and run.ended_at) else (now or datetime.now(timezone.utc))
    hours = max(0.0, (_aware(end) - _aware(run.started_at)).total_seconds()) / 3600
    return round(hours * price, 4)


def runner_failure(folder: Path) -> str | None:
    """The reason on the runner's last 'run failed ... : reason' line in train.log, if any."""
    try:
        with (folder / LOG).open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            tail = fh.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        at = line.find("run failed in ")
        if at >= 0 and ": " in line[at:]:
            return line[at:].split(": ", 1)[1].strip() or None
    return None


def judge_secret(config: dict[str, Any]) -> dict[str, str]:
    """{key variable: key} for the GRPO judge reward's API key when this machine's environment has it
    (sent as a job secret, never written into the config); {} otherwise."""
    judge = (config.get("reward_settings") or {}).get("judge") or {}
    name = judge.get("key_env")
    value = os.environ.get(name, "") if name else ""
    return {name: value} if value else {}


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _read_config(folder: Path, run: TrainingRun) -> dict[str, Any]:
    path = folder / CONFIG_JSON
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise StoreError(path, f"is not valid JSON: {exc}") from None
    return dict(run.config)


def _label(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in value)[:100] or "x"


# ---------------------------------------------------------------- the backend


class HFJobsBackend:
    name = "hf_jobs"

    def __init__(self, api: Any = None, token: str | None = None, *, runner: Path | str | None = None,
                 poll_interval: float = 15.0, retry_delay: float = 2.0, cancel_timeout: float = 60.0,
                 cancel_interval: float = 2.0):
        self._api = api
        self._token = token
        self.runner = Path(runner) if runner else RUNNER
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.cancel_timeout = cancel_timeout
        self.cancel_interval = cancel_interval
        self._lock = threading.Lock()  # run.toml read-modify-write within this process
        self._prices: dict[str, float] | None = None
        self._remarks: set[tuple[str, str]] = set()

    @property
    def api(self) -> Any:
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi()
        return self._api

    @property
    def token(self) -> str:
        return hub.resolve_token(self._token or getattr(self._api, "token", None) or None)

    def _known_token(self) -> str | None:
        """The token if there is one (for scrubbing text), without raising."""
        try:
            return self.token
        except TunesmithError:
            return None

    def price_per_hour(self, flavor: str | None) -> float | None:
        """$ per hour of a flavor: the Hub's current price list (``list_jobs_hardware``, asked once per
        backend) when it answers, else flavor_price()."""
        if self._prices is None:
            try:
                hardware = self.api.list_jobs_hardware(token=self.token)
                self._prices = {h.name: h.unit_cost_usd * {"minute": 60, "hour": 1, "second": 3600}.get(
                    h.unit_label, 60) for h in hardware}
            except Exception:  # noqa: BLE001 - offline, no token, old Hub: the built-in table will do
                self._prices = {}
        price = self._prices.get(flavor or "")
        return round(price, 4) if price is not None else flavor_price(flavor)

    def cost_so_far(self, run: TrainingRun, now: datetime | None = None) -> float | None:
        """Dollars spent so far on the run's job (see the module function), at the Hub's current price."""
        return cost_so_far(run, now, self.price_per_hour(run.flavor))

    # ------------------------------------------------------------ submit

    def submit(self, folder: Path, run: TrainingRun) -> TrainingRun:
        folder = Path(folder)
        token = None
        try:
            token = self.token
            return self._submit(folder, run.model_copy(deep=True), token)
        except TunesmithError as exc:
            failed = run.model_copy(update={"status": "failed", "failure_reason": str(exc),
                                            "ended_at": datetime.now(timezone.utc)})
            write_run(folder, failed)
            note(folder, f"submit failed: {exc}", token)
            raise

    def _submit(self, folder: Path, run: TrainingRun, token: str) -> TrainingRun:
        if not self.runner.is_file():
            raise hub.HubError(f"the runner script is missing: {self.runner}")
        config = _read_config(folder, run)
        project_folder = folder.parent.parent
        slug = project_folder.name
        namespace = (run.namespace or config.get("hf_namespace") or config.get("namespace")
                     or hub.whoami_name(self.api, token))
        flavor = run.flavor or config.get("flavor") or default_flavor(run.parameters_b)
        timeout = job_timeout_s(run)
        dataset = self._ensure_dataset(folder, run, config, namespace, slug, token)
        hub_model_id = run.hub_model_id or config.get("hub_model_id") or f"{namespace}/{slug[:80]}-{run.method}"
        job_config = {**config, "run_id": run.run_id, "dataset": dataset, "push_to_hub": True,
                      "hub_model_id": hub_model_id, "hub_private": config.get("hub_private", True),
                      "run_dir": REMOTE_RUN_DIR}
        job_config.pop("output_dir", None)  # a local path means nothing in the job: model/ under run_dir
        text = json.dumps(job_config, indent=2, default=str)
        if any(secret and secret in text for secret in (token, *judge_secret(config).values())):
            raise hub.HubError("the run config contains a secret (a token or an API key); refusing to ship it")
        store.atomic_write_text(folder / JOB_CONFIG, text)

        dependencies = hub.pep723_dependencies(self.runner)
        script = self.runner
        if run.method == "grpo":  # the rewards are tunesmith's scoring rules: ship them inside the script
            from core.train import bundle

            try:
                script = bundle.write_script(folder, self.runner)
            except bundle.BundleError as exc:
                raise hub.HubError(f"cannot build the GRPO runner script: {exc}") from None
        secrets = {"HF_TOKEN": token, **judge_secret(config)}
        env = {"TUNESMITH_RUN_ID": run.run_id, "TUNESMITH_BACKEND": "hf_jobs", "PYTHONUNBUFFERED": "1"}
        labels = {"tunesmith": _label(slug), "run": _label(run.run_id)}
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*run_uv_job.*experimental")
                job = self.api.run_uv_job(
                    str(script), script_args=["--config", str(folder / JOB_CONFIG)],
                    dependencies=dependencies, flavor=flavor, timeout=timeout,
                    secrets=secrets, env=env, labels=labels, name=_label(f"tunesmith-{run.run_id}"),
                    namespace=namespace, token=token)
        except hub.HubError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise hub.hub_error(exc, "start the job on Hugging Face Jobs", token,
                                getattr(self.api, "endpoint", None)) from None
        status, _ = normalise(job.status.stage)
        run.job_id, run.namespace, run.flavor, run.timeout_s = job.id, namespace, flavor, timeout
        run.status = status if status in ("queued", "running") else "queued"
        run.failure_reason = None
        run.hub_model_id = run.output_model = hub_model_id
        run.config = {**run.config, "dataset": dataset, "hub_model_id": hub_model_id, "push_to_hub": True,
                      "job_url": getattr(job, "url", None)}
        if run.estimated_hours and run.estimated_cost_usd is None and flavor_price(flavor) is not None:
            run.estimated_cost_usd = round(run.estimated_hours * flavor_price(flavor), 2)
        write_run(folder, run)
        for line in out.getvalue().splitlines():
            if line.strip():
                note(folder, line.strip(), token)
        note(folder, f"submitted job {job.id} in {namespace} on {flavor} (timeout {timeout // 60} min): "
                     f"{getattr(job, 'url', '')}", token)
        return run

    def _ensure_dataset(self, folder: Path, run: TrainingRun, config: dict[str, Any], namespace: str,
                        slug: str, token: str) -> dict[str, Any]:
        """The config's dataset as a Hub reference, pushing the local splits first when needed."""
        spec = config.get("dataset")
        if isinstance(spec, str) and spec:
            spec = {"hub_id": spec}
        if isinstance(spec, dict) and spec.get("hub_id"):
            return spec
        local = spec if isinstance(spec, dict) else {}
        base = folder
        train = local.get("train")
        train_path = (base / train).resolve() if train else folder.parent.parent / "data/training_dataset/train.parquet"
        files = {"train.parquet": train_path}
        val = local.get("validation")
        val_path = (base / val).resolve() if val else train_path.with_name("validation.parquet")
        if val_path.is_file():
            files["validation.parquet"] = val_path
        card = train_path.with_name("README.md")
        if card.is_file():
            files["README.md"] = card
        repo_id = hub.dataset_repo_id(namespace, slug)
        note(folder, f"pushing the training data to {repo_id} (private)", token)
        revision = hub.push_training_dataset(self.api, files, repo_id, token, private=True,
                                             message=f"tunesmith: training data for run {run.run_id}")
        return {"hub_id": repo_id, "revision": revision, "train_split": "train", "validation_split": "validation"}

    # ------------------------------------------------------------ poll / cancel

    def poll(self, folder: Path, run: TrainingRun) -> TrainingRun:
        folder = Path(folder)
        if not run.job_id:
            return run
        from huggingface_hub.errors import HfHubHTTPError

        token = self.token
        try:
            info = self.api.inspect_job(job_id=run.job_id, namespace=run.namespace, token=token)
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return self._record(folder, run, status="failed", reason="the job is no longer on the Hub (404)")
            raise hub.hub_error(exc, f"ask the Hub about job {run.job_id}", token) from None
        except Exception as exc:  # noqa: BLE001
            raise hub.hub_error(exc, f"ask the Hub about job {run.job_id}", token,
                                getattr(self.api, "endpoint", None)) from None
        status, remark = normalise(info.status.stage)
        reason = None
        if status == "failed":
            reason = self._failure_reason(folder, info)
        elif status == "canceled" and remark:
            reason = remark
        elif remark and (run.job_id, remark) not in self._remarks:  # an unknown stage: said once
            self._remarks.add((run.job_id, remark))
            note(folder, remark, token)
        if status in FINAL and run.status not in FINAL:  # the log is complete before run.toml says final
            backfilled = complete_log(self, folder, run)
            if status == "failed":
                reason = self._failure_reason(folder, info)  # the runner's last lines are in now
            if backfilled:
                finish(folder, run.job_id, status, reason, token)
        return self._record(folder, run, status=status, reason=reason, started=info.started_at,
                            ended=info.finished_at)

    @staticmethod
    def _failure_reason(folder: Path, info: Any) -> str:
        """The Hub's status message and the runner's own reason (its last "run failed" line)."""
        message = (info.status.message or "").strip()
        from_log = runner_failure(folder)
        return "; ".join(p for p in (message, from_log) if p) or "the job ended with ERROR (see train.log)"

    def _record(self, folder: Path, run: TrainingRun, *, status: str, reason: str | None,
                started: datetime | None = None, ended: datetime | None = None) -> TrainingRun:
        token = self._known_token()
        new = run.model_copy(deep=True)
        new.status = status  # type: ignore[assignment]
        new.failure_reason = hub.scrub(reason, token) if reason else (None if status == "completed" else run.failure_reason)
        if started is not None:
            new.started_at = started
        if status in FINAL:
            new.ended_at = ended or run.ended_at or datetime.now(timezone.utc)
        if new != run:
            with self._lock:
                write_run(folder, new)
        return new

    def cancel(self, folder: Path, run: TrainingRun) -> TrainingRun:
        folder = Path(folder)
        if not run.job_id:
            return self._record(folder, run, status="canceled", reason="canceled before it was submitted")
        run = self.poll(folder, run)
        if run.status in FINAL:
            return run
        token = self.token
        try:
            self.api.cancel_job(job_id=run.job_id, namespace=run.namespace, token=token)
        except Exception as exc:  # noqa: BLE001
            raise hub.hub_error(exc, f"cancel job {run.job_id}", token, getattr(self.api, "endpoint", None)) from None
        note(folder, f"cancel requested for job {run.job_id}", token)
        deadline = time.monotonic() + self.cancel_timeout
        while time.monotonic() < deadline:
            run = self.poll(folder, run)
            if run.status in FINAL:
                return run
            time.sleep(self.cancel_interval)
        return self._record(folder, run, status="canceled",
                            reason=f"cancel requested; the Hub had not confirmed it after {self.cancel_timeout:g} s")

    # ------------------------------------------------------------ follow

    def follow(self, folder: Path, run: TrainingRun) -> None:
        """Start the log follower of this run unless one runs already (here or in another process)."""
        if run.job_id:
            start_follower(self, Path(folder), run)

    def refresh(self, folder: Path) -> TrainingRun:
        """poll() on what run.toml says now (others may have written it)."""
        return self.poll(folder, read_run(folder))
