"""The run folder: the single source of truth of a training run.

    runs/<run-id>/run.toml       TrainingRun (status normalised: queued, running, completed, failed, canceled)
    runs/<run-id>/config.json    the runner's full config (method, base model, dataset paths, hyper-parameters)
    runs/<run-id>/train.log      the live log (appended by the runner locally, by the log follower on HF Jobs)
    runs/<run-id>/metrics.jsonl  one MetricRow per line while running (appended, flushed per step)
    runs/<run-id>/metrics.parquet  the same rows, written when the run ends
    runs/<run-id>/model/         the trained model (local backend)
    runs/<run-id>/status.json    written last by the runner: {"status": completed|failed|canceled, "reason",
                                 "exit_code", "global_step", "final_loss", ...}; its presence means the runner
                                 has finished (the local backend reads the final status from it)

Monitors (the TUI, `tunesmith logs --follow`) only read these files, so they can re-attach at any time.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone
from pathlib import Path

from core import paths, store
from core.models.runs import MetricRow, TrainingRun

RUN_TOML = "run.toml"
CONFIG_JSON = "config.json"
LOG = "train.log"
METRICS_JSONL = "metrics.jsonl"
METRICS_PARQUET = "metrics.parquet"
MODEL_DIR = "model"
STATUS_JSON = "status.json"
FINAL = ("completed", "failed", "canceled")


def new_run_id(method: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{method}-{secrets.token_hex(2)}"


def run_dir(project, run_id: str) -> Path:
    return project.folder / "runs" / run_id


def project_folder_of(folder: Path) -> Path:
    """The project folder of a run folder (``<project>/runs/<run-id>``)."""
    return Path(folder).parent.parent


def read_run(folder: Path) -> TrainingRun:
    """The run, its paths inside the project resolved against where the project is now (run.toml stores
    them relative to the project folder; an older absolute path loads as it is)."""
    run = store.read_toml(folder / RUN_TOML, TrainingRun)
    return _paths(run, project_folder_of(folder), paths.from_stored)


def read_run_strict(folder: Path) -> TrainingRun:
    """Like :func:`read_run`, but every field must be there and of its exact type: for a run.toml that is
    about to be written back (a run still going is polled and its status stored), so that a hand edit that
    does not parse stops the command with the file and field named instead of being replaced by defaults."""
    from core.extract.strict import validate_strict

    path = folder / RUN_TOML
    data = store.load_toml_dict(path)
    store.check_schema_version(path, data.pop("schema_version", None))
    run = validate_strict(path, data, TrainingRun)
    return _paths(run, project_folder_of(folder), paths.from_stored)


def write_run(folder: Path, run: TrainingRun) -> None:
    """Write run.toml with paths inside the project relative to it, so the project can be copied or moved."""
    store.write_toml(folder / RUN_TOML, _paths(run, project_folder_of(folder), paths.to_stored))


def _paths(run: TrainingRun, project_folder: Path, convert) -> TrainingRun:
    def one(value, always=False):
        if convert is paths.from_stored:
            return convert(value, project_folder, always=always)
        return convert(value, project_folder)

    update: dict = {"base_model": one(run.base_model)}
    if run.output_model and run.output_model != run.hub_model_id:  # a folder (the local backend), not a Hub id
        update["output_model"] = one(run.output_model, always=run.backend == "local")
    if isinstance(run.config, dict) and isinstance(run.config.get("base_model"), str):
        update["config"] = {**run.config, "base_model": one(run.config["base_model"])}
    return run.model_copy(update=update)


def list_runs(project) -> list[TrainingRun]:
    """Every run of the project, newest first. A broken run.toml raises StoreError naming it."""
    base = project.folder / "runs"
    if not base.is_dir():
        return []
    runs = [read_run(d) for d in base.iterdir() if (d / RUN_TOML).exists()]
    return sorted(runs, key=lambda r: r.created_at, reverse=True)


def read_metrics(folder: Path) -> list[MetricRow]:
    """Metrics so far: the Parquet when the run has ended, else the JSONL (a torn last line is skipped)."""
    parquet = folder / METRICS_PARQUET
    if parquet.exists():
        return store.read_parquet(parquet, MetricRow)
    return read_metrics_from(folder, 0)[0]  # a line being written right now is left for the next read


def read_log_from(folder: Path, offset: int) -> tuple[str, int]:
    """New log text from byte ``offset``; returns (text, new offset). Only whole lines are returned."""
    path = folder / LOG
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return "", offset
    cut = data.rfind(b"\n") + 1
    return data[:cut].decode("utf-8", errors="replace"), offset + cut


def read_status(folder: Path) -> dict | None:
    """The runner's final status.json, or None while it has not finished (or the file is torn)."""
    try:
        data = json.loads((folder / STATUS_JSON).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, OSError):
        return None
    return data if isinstance(data, dict) and data.get("status") in FINAL else None


def read_metrics_from(folder: Path, offset: int) -> tuple[list[MetricRow], int]:
    """Metric rows appended to metrics.jsonl after byte ``offset``; returns (rows, new offset). Only whole
    lines are read; a line that does not validate is skipped."""
    path = folder / METRICS_JSONL
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    cut = data.rfind(b"\n") + 1
    rows: list[MetricRow] = []
    for line in data[:cut].splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(MetricRow.model_validate(json.loads(line)))
        except (ValueError, TypeError):
            continue
    return rows, offset + cut
