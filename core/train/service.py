"""Skill 3's facade: plan, start, poll, follow, list and cancel training runs over any backend.

    plan = plan_training(project, backend="local", base_model="Qwen/Qwen2.5-0.5B")
    print(plan.check.describe()); print(plan.render())
    run = start_training(project, plan)              # runs/<id>/{config.json, run.toml}; submitted
    run = refresh(project, run.run_id)               # poll the backend; run.toml rewritten when it changed
    final = follow(project, run.run_id, on_line=print)   # tail train.log (+ metrics) until the run ends
    cancel(project, run.run_id)

The run folder is the truth (core.train.runfolder): every function here reads it afresh, so a new process
can pick up any run. Backends are looked up by ``run.backend`` in BACKENDS (a class, a factory, or a
"module:attribute" string imported on first use).
"""

from __future__ import annotations

import importlib
import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from core import store
from core.errors import BadInput, LockedError, StageNotReady, TunesmithError
from core.models.runs import MetricRow, TrainingRun
from core.train import runfolder as rf
from core.train.plan import TrainingPlan, build_plan
from core.train.timing import calibration, record_actual

BACKENDS: dict[str, Any] = {
    "local": "core.train.backends.local:LocalBackend",
    "hf_jobs": "core.train.backends.hf_jobs:HFJobsBackend",
}
_INSTANCES: dict[str, Any] = {}
CONFIG_SCHEMA_VERSION = 1
SECRET_KEYS = frozenset({"token", "hf_token", "hub_token", "access_token", "api_key", "secret", "secrets",
                         "password"})
SECRET_RE = re.compile(r"^(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|sk-ant-[A-Za-z0-9_-]{20,})$")


class TrainingNotReady(TunesmithError):
    """The dataset check failed: nothing was submitted."""


# ---------------------------------------------------------------- backends


def get_backend(name: str) -> Any:
    """The backend registered as ``name`` (one instance per process)."""
    if name in _INSTANCES:
        return _INSTANCES[name]
    entry = BACKENDS.get(name)
    if entry is None:
        raise BadInput(f"--backend: unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise TunesmithError(f"the {name} backend is not available in this build ({exc})") from None
    backend = entry() if callable(entry) else entry
    _INSTANCES[name] = backend
    return backend


def register_backend(name: str, entry: Any) -> None:
    """Register (or replace) a backend: a class, a factory, an instance or a "module:attr" string."""
    BACKENDS[name] = entry
    _INSTANCES.pop(name, None)


# ---------------------------------------------------------------- planning


def require_dataset(project: Any) -> None:
    project.reload()
    if not project.meta.is_done("generate", "validated"):
        raise StageNotReady(f"the training dataset is not validated yet: tunesmith generate {project.slug} --scale "
                            f"(or --resume) builds and validates data/training_dataset first")


def resolve_base_model(project: Any, base_model: str | None = None) -> str:
    name = base_model or project.meta.config.train.base_model or project.meta.models.base_model
    if not name or not name.strip():
        raise BadInput("--base-model: no base model: pass --base-model M (a Hub id or a local folder) or set "
                       "config.train.base_model in project.toml")
    name = name.strip()
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


def plan_training(project: Any, backend: str | None = None, base_model: str | None = None) -> TrainingPlan:
    """The dataset check and the plan (size, flavor, LoRA, time, cost, timeout); spends nothing."""
    from core.train.dataset_check import check_dataset

    require_dataset(project)
    train = project.meta.config.train
    backend = backend or train.backend
    if backend not in BACKENDS:
        raise BadInput(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    model = resolve_base_model(project, base_model)
    method = project.meta.training_method
    check = check_dataset(project, method=method, base_model=model, max_length=train.max_length)
    plan = build_plan(project=project.slug, method=method, backend=backend, base_model=model, check=check,
                      train=train)
    past = calibration(rf.list_runs(project), backend=backend, method=method, base_model=model, flavor=plan.flavor)
    if past is not None:  # the same kind of run measured here before: its throughput, not the assumption
        plan = build_plan(project=project.slug, method=method, backend=backend, base_model=model, check=check,
                          train=train, past=past)
    if plan.ok:
        add_objective(project, plan)
    return plan


def add_objective(project: Any, plan: TrainingPlan) -> None:
    """What the method optimises, from the project: GRPO's rewards (core.train.reward_plan), KTO's class
    weights (core.train.kto_balance); into the plan (its settings, fields and lines)."""
    args = plan.settings.setdefault("trainer_args", {})
    if plan.method == "grpo":
        from core.train.reward_plan import plan_rewards

        rewards = plan_rewards(project, plan.backend, num_generations=int(args.get("num_generations", 4)))
        plan.rewards, plan.reward_settings = rewards.rewards, rewards.settings
        plan.objective_lines = rewards.lines
    elif plan.method == "kto":
        from core.train.kto_balance import describe, kto_settings

        plan.kto_balance = kto_settings(project, args)
        if plan.kto_balance["source"] == "class balance":
            args["desirable_weight"] = plan.kto_balance["desirable_weight"]
        plan.objective_lines = [describe(plan.kto_balance)]


def build_run_config(project: Any, plan: TrainingPlan, run_id: str) -> dict[str, Any]:
    """The runner's config.json for ``plan`` (no secrets: the Hub token comes from the environment)."""
    from core.generate import pipeline_state as ps

    s = plan.settings
    config: dict[str, Any] = {
        "schema_version": CONFIG_SCHEMA_VERSION,
        "run_id": run_id,
        "method": plan.method,
        "base_model": plan.base_model,
        # relative to the run folder, so the project folder can move
        "dataset": {"train": f"../../{ps.TRAIN_FILE}", "validation": f"../../{ps.VALIDATION_FILE}"},
        "column_mapping": plan.check.mapping,
        "output_dir": rf.MODEL_DIR,
        "use_lora": plan.use_lora,
        "lora": {"r": s["lora_r"], "alpha": s["lora_alpha"], "dropout": s["lora_dropout"],
                 "target_modules": "all-linear"},
        "hyperparameters": {k: s[k] for k in ("num_train_epochs", "learning_rate", "max_length",
                                              "per_device_train_batch_size", "gradient_accumulation_steps",
                                              "lr_scheduler_type", "warmup_ratio", "max_steps", "logging_steps")
                            if s.get(k) is not None},
        "trainer_args": dict(s.get("trainer_args") or {}),
        "push_to_hub": plan.push_to_hub,
        "hub_model_id": plan.hub_model_id,
        "hub_private": True,
        "project": {"name": project.meta.name, "task": project.meta.task},
    }
    if plan.method == "grpo":
        if not plan.rewards:  # a plan made without the project (add_objective not run)
            add_objective(project, plan)
        config["rewards"] = list(plan.rewards)
        config["reward_settings"] = dict(plan.reward_settings)
    if plan.method == "kto" and plan.kto_balance is not None:
        config["kto_balance"] = dict(plan.kto_balance)
    assert_no_secrets(config)
    return config


def _recorded(config: dict[str, Any]) -> dict[str, Any]:
    """The run config as run.toml records it: without the project block, the judge by name (not its prompt)."""
    from core.train.reward_plan import recorded

    out = {k: v for k, v in config.items() if k not in ("project",)}
    if out.get("reward_settings"):
        out["reward_settings"] = recorded(out["reward_settings"])
    return out


def assert_no_secrets(value: Any, where: str = "config") -> None:
    """Refuse to write anything that looks like an API key or token."""
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).lower() in SECRET_KEYS and v:
                raise TunesmithError(f"{where}.{k}: secrets are never written into a run folder")
            assert_no_secrets(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert_no_secrets(v, f"{where}[{i}]")
    elif isinstance(value, str) and SECRET_RE.match(value.strip()):
        raise TunesmithError(f"{where}: looks like a secret; secrets are never written into a run folder")


# ---------------------------------------------------------------- starting


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def start_training(project: Any, plan: TrainingPlan) -> TrainingRun:
    """Create the run folder (config.json, run.toml), mark the "planned" step, and submit the run."""
    if not plan.ok:
        raise TrainingNotReady(f"the dataset check failed, nothing was submitted:\n{plan.check.describe()}")
    if plan.backend == "local":  # two trainings on one machine only slow each other down
        busy = [r for r in list_runs(project) if r.backend == "local" and r.status not in rf.FINAL]
        if busy:
            raise StageNotReady(f"run {busy[0].run_id} is still training here: follow it with tunesmith logs "
                                f"{project.slug} {busy[0].run_id} --follow, or stop it with tunesmith cancel "
                                f"{project.slug} {busy[0].run_id}")
    run_id = rf.new_run_id(plan.method)
    folder = rf.run_dir(project, run_id)
    folder.mkdir(parents=True, exist_ok=False)
    config = build_run_config(project, plan, run_id)
    store.atomic_write_text(folder / rf.CONFIG_JSON, json.dumps(config, indent=2) + "\n")
    (folder / rf.LOG).touch()
    run = TrainingRun(
        run_id=run_id, backend=plan.backend, method=plan.method, base_model=plan.base_model, status="queued",
        created_at=_now(), flavor=plan.flavor, use_lora=plan.use_lora, parameters_b=plan.parameters_b,
        estimated_hours=plan.estimated_hours, estimated_cost_usd=plan.estimated_cost_usd, timeout_s=plan.timeout_s,
        namespace=plan.namespace, hub_model_id=plan.hub_model_id, planned_steps=plan.steps,
        planned_tokens=plan.planned_tokens,
        estimate_source=plan.calibrated.note() if plan.calibrated is not None else "assumed throughput",
        output_model=plan.hub_model_id if plan.backend == "hf_jobs" else str((folder / rf.MODEL_DIR).resolve()),
        config=_recorded(config),
    )
    rf.write_run(folder, run)
    _mark(project, "planned")
    backend = get_backend(plan.backend)
    try:
        run = backend.submit(folder, run)
    except TunesmithError as exc:
        _record_failure(folder, run, str(exc))
        raise
    except Exception as exc:  # noqa: BLE001 - recorded in run.toml, reported without a traceback
        _record_failure(folder, run, f"{type(exc).__name__}: {exc}")
        raise TunesmithError(f"could not start the run on {plan.backend}: {type(exc).__name__}: {exc}") from None
    rf.write_run(folder, run)
    return run


def _record_failure(folder: Path, run: TrainingRun, reason: str) -> None:
    run.status = "failed"
    run.failure_reason = f"submission failed: {reason}"[:500]
    run.ended_at = _now()
    rf.write_run(folder, run)


# ---------------------------------------------------------------- polling


def resolve_run_id(project: Any, text: str) -> str:
    """A run id from its full id, "latest", or a unique part of it."""
    runs = rf.list_runs(project)
    if not runs:
        raise BadInput(f"RUN: the project has no runs yet: tunesmith train {project.slug}")
    if text in ("latest", "last"):
        return runs[0].run_id
    exact = [r.run_id for r in runs if r.run_id == text]
    if exact:
        return exact[0]
    found = [r.run_id for r in runs if text in r.run_id]
    if len(found) == 1:
        return found[0]
    known = ", ".join(r.run_id for r in runs[:5])
    if not found:
        raise BadInput(f"RUN: no run {text!r} (runs: {known})")
    raise BadInput(f"RUN: {text!r} matches {len(found)} runs ({', '.join(found[:5])}); give more of the id")


def load_run(project: Any, run_id: str, strict: bool = False) -> tuple[Path, TrainingRun]:
    """The run folder and its run.toml. ``strict`` for a command that may write the file back: a run not yet
    final is then read strictly (every field, no coercion), so a broken hand edit stops it, file untouched."""
    folder = rf.run_dir(project, run_id)
    if not (folder / rf.RUN_TOML).exists():
        raise BadInput(f"RUN: no run {run_id!r} in {project.folder / 'runs'}")
    run = rf.read_run(folder)
    if strict and run.status not in rf.FINAL:
        run = rf.read_run_strict(folder)
    return folder, run


def refresh(project: Any, run_id: str) -> TrainingRun:
    """The run's current status from its backend; run.toml is rewritten when it changed, and the "trained"
    step is marked when the run completed."""
    folder, run = load_run(project, run_id, strict=True)
    if run.status in rf.FINAL:
        if run.status == "completed":  # finished elsewhere (a Jobs log follower, another process)
            if run.actual_seconds is None and run.planned_steps:
                run = record_actual(folder, run)
                if run.actual_seconds is not None:
                    rf.write_run(folder, run)
            _mark_trained(project)
        return run
    before = run.model_dump()
    updated = get_backend(run.backend).poll(folder, run.model_copy(deep=True))
    if updated.status == "completed":  # the estimate against the actual, for the next plan
        updated = record_actual(folder, updated)
    if updated.model_dump() != before:
        rf.write_run(folder, updated)
    if updated.status == "completed":
        _mark_trained(project)
    return updated


def _mark(project: Any, *steps: str) -> None:
    """Mark train steps done; when another process holds the project's lock, leave it for a later refresh."""
    if all(project.meta.is_done("train", step) for step in steps):
        return  # nothing to write (the common case on every refresh)
    try:
        project.reload()
        for step in steps:
            if not project.meta.is_done("train", step):
                project.mark("train", step)
    except LockedError:
        pass


def _mark_trained(project: Any) -> None:
    _mark(project, "planned", "trained")


def list_runs(project: Any, refresh_running: bool = True) -> list[TrainingRun]:
    """Every run, newest first; runs not yet final are polled first."""
    runs = rf.list_runs(project)
    if not refresh_running:
        return runs
    runs = [refresh(project, r.run_id) if r.status not in rf.FINAL else r for r in runs]
    if any(r.status == "completed" for r in runs):
        _mark_trained(project)
    return runs


def cancel(project: Any, run_id: str) -> TrainingRun:
    """Stop the run; returns it canceled (or with its final status if it had already ended)."""
    folder, run = load_run(project, run_id, strict=True)
    if run.status in rf.FINAL:
        return run
    updated = get_backend(run.backend).cancel(folder, run.model_copy(deep=True))
    rf.write_run(folder, updated)
    if updated.status == "completed":
        _mark_trained(project)
    return updated


def final_loss(project: Any, run_id: str) -> float | None:
    rows = rf.read_metrics(rf.run_dir(project, run_id))
    losses = [r.loss for r in rows if r.loss is not None]
    return losses[-1] if losses else None


# ---------------------------------------------------------------- following


def follow(project: Any, run_id: str, on_line: Callable[[str], None] | None = None,
           on_metric: Callable[[MetricRow], None] | None = None, stop_when_final: bool = True,
           poll_s: float = 0.1, status_every_s: float = 0.25, from_start: bool = True,
           timeout_s: float | None = None) -> TrainingRun:
    """Tail train.log (``on_line`` per whole line) and metrics.jsonl (``on_metric`` per row) until the run
    is final (or forever with ``stop_when_final=False``, or until ``timeout_s``); returns the last status."""
    folder, run = load_run(project, run_id)
    run = refresh(project, run_id)
    backend = get_backend(run.backend)
    if run.status not in rf.FINAL:
        backend.follow(folder, run)
    log_off = 0 if from_start else _size(folder / rf.LOG)
    met_off = 0 if from_start else _size(folder / rf.METRICS_JSONL)
    started = time.monotonic()
    next_status = started
    while True:
        log_off, met_off = _drain(folder, log_off, met_off, on_line, on_metric)
        now = time.monotonic()
        if now >= next_status:
            run = refresh(project, run_id)
            next_status = now + status_every_s
            if run.status in rf.FINAL and stop_when_final:
                log_off, met_off = _drain(folder, log_off, met_off, on_line, on_metric, final=True)
                return run
        if timeout_s is not None and now - started > timeout_s:
            return run
        time.sleep(poll_s)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _drain(folder: Path, log_off: int, met_off: int, on_line: Callable[[str], None] | None,
           on_metric: Callable[[MetricRow], None] | None, final: bool = False) -> tuple[int, int]:
    text, log_off = rf.read_log_from(folder, log_off)
    if final:  # the last line may lack its newline
        try:
            with (folder / rf.LOG).open("rb") as fh:
                fh.seek(log_off)
                rest = fh.read()
        except FileNotFoundError:
            rest = b""
        if rest:
            text += rest.decode("utf-8", errors="replace") + "\n"
            log_off += len(rest)
    if on_line is not None:
        for line in text.splitlines():
            on_line(line)
    rows, met_off = rf.read_metrics_from(folder, met_off)
    if on_metric is not None:
        for row in rows:
            on_metric(row)
    return log_off, met_off
