"""The evaluation folder: where an evaluation's files live, and small read/write helpers.

    evals/<eval-id>/eval.toml                 EvalRecord: models compared, eval-set hash, decoding, judge status, notes
    evals/<eval-id>/results.parquet           EvalResult rows, both models (model_role "base" / "candidate")
    evals/<eval-id>/judge_validation.parquet  JudgeValidationRow rows (only when a judge was validated)
    evals/<eval-id>/judge.toml                the judge validation summary (JudgeReport.summary())
    evals/<eval-id>/pairwise.parquet          base-vs-candidate pairwise verdicts (only with a pairwise-valid judge)
    evals/<eval-id>/paraphrases.parquet       paraphrase inputs and both models' scored outputs (consistency)
    evals/<eval-id>/metrics.json              MetricsReport.to_dict() (JSON: the report has nulls)
    evals/<eval-id>/comparison_analysis.toml  base vs candidate: deltas, per category, regressions, counts, p-values
    evals/<eval-id>/spot_check.toml           SpotCheck: the human's ratings (written by core/evaluate/spot_check.py)
    evals/<eval-id>/human_ratings.toml        HumanRatings: ratings of the results that waited for a human
                                              (core/evaluate/human.py; they update results.parquet)
    evals/<eval-id>/spot_check_worksheet.md   a printable worksheet of the spot-check items
    evals/<eval-id>/judge_agreement.toml      judge vs spot-check agreement (core/evaluate/spot_check.py)
    evals/<eval-id>/decision.toml             Decision (tunesmith decide)
    evals/<eval-id>/evaluation_report.md      the report (tunesmith decide; rewritten on every decide)
    evals/cache/<sha>.parquet                 model outputs cached per (model, decoding, inputs); safe to delete

An eval id looks like a run id: ``YYYYMMDD-HHMMSS-<4 hex>``; ids sort by time. ``latest_eval`` is the
newest folder that has an eval.toml whose status is "completed" (an evaluation still running or failed
is not offered to the spot-check or the decision).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from core import paths, store
from core.errors import StageNotReady, StoreError
from core.models.config import Strict
from core.models.runs import Decision, EvalResult, JudgeValidationRow, SpotCheck

EVALS = "evals"
CACHE = "cache"
RECORD = "eval.toml"
RESULTS = "results.parquet"
JUDGE_VALIDATION = "judge_validation.parquet"
JUDGE_SUMMARY = "judge.toml"
PAIRWISE = "pairwise.parquet"
PARAPHRASES = "paraphrases.parquet"
PARAPHRASE_SEP = "~p"  # a paraphrase's example id: <original id>~p<n>
METRICS = "metrics.json"
COMPARISON = "comparison_analysis.toml"
SPOT_CHECK = "spot_check.toml"
HUMAN_RATINGS = "human_ratings.toml"
WORKSHEET = "spot_check_worksheet.md"
DECISION = "decision.toml"
REPORT = "evaluation_report.md"


class ModelRef(Strict):
    """One of the two models compared."""

    spec: str  # what the user gave (or what was resolved by default)
    kind: Literal["local", "hub", "litellm"]
    model: str  # the model id recorded in results (a path, a Hub id or a litellm model string); in eval.toml
    #            a path inside the project is relative to the project folder (see resolved_ref / model_path)
    run_id: str | None = None  # the training run it came from
    adapter_base: str | None = None  # a LoRA adapter's base model
    api_base: str | None = None


class EvalRecord(Strict):
    eval_id: str
    status: Literal["running", "completed", "failed"] = "running"
    created_at: datetime
    finished_at: datetime | None = None
    eval_set_hash: str
    n_examples: int = 0
    base: ModelRef
    candidate: ModelRef
    decoding: dict[str, Any] = Field(default_factory=dict)
    task_type: str = "instruction_following"
    judge_status: Literal["not_needed", "no_llm", "validated", "failed", "pending"] = "pending"
    judge_usable: bool | None = None
    judge_pairwise_usable: bool = False
    judge_reason: str = ""
    judge_model: str | None = None
    paraphrase_groups: int = 0
    notes: list[str] = Field(default_factory=list)
    failure_reason: str | None = None
    pid: int | None = None  # the process that is evaluating (while status is "running")
    host: str | None = None
    pid_started: int | None = None  # its start time in clock ticks since boot (/proc), to tell a reused pid


def owner_fields() -> dict[str, Any]:
    """pid, host and start time of this process, for a record that is being evaluated."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "pid_started": _started(os.getpid())}


def _started(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def owner_gone(record: EvalRecord) -> bool:
    """A "running" record whose process is known to be gone (killed, crashed, the machine restarted): only
    for this host; a record from another host, or without a pid, cannot be told and is left as it is."""
    if record.status != "running" or not record.pid or record.host != socket.gethostname():
        return False
    if store.process_gone(record.pid, record.host):
        return True
    return record.pid_started is not None and _started(record.pid) not in (None, record.pid_started)


def _as_found(record: EvalRecord) -> EvalRecord:
    """The record as it stands: one whose evaluating process is gone reads as failed (interrupted), with
    the command that goes on; the file itself is left for the next evaluation to replace."""
    if not owner_gone(record):
        return record
    return record.model_copy(update={
        "status": "failed",
        "failure_reason": f"interrupted: the process that was evaluating (pid {record.pid}) is gone; evaluate "
                          f"again (the outputs generated so far are cached and are not generated twice)"})


# ---------------------------------------------------------------- paths


def new_eval_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def evals_dir(project) -> Path:
    return project.folder / EVALS


def eval_dir(project, eval_id: str) -> Path:
    return evals_dir(project) / eval_id


def cache_dir(project) -> Path:
    return evals_dir(project) / CACHE


def path(project, eval_id: str, name: str) -> Path:
    """``evals/<eval_id>/<name>`` (name: one of the constants above)."""
    return eval_dir(project, eval_id) / name


# ---------------------------------------------------------------- listing


def read_record(project, eval_id: str) -> EvalRecord:
    """The record as eval.toml holds it: a model path inside the project is relative to the project folder
    (``runs/<id>/model``), so reports and exports made from it name no machine's folder; resolve one with
    :func:`resolved_ref` (or :func:`model_path`) to load it. An older absolute path loads as it is."""
    return _as_found(store.read_toml(path(project, eval_id, RECORD), EvalRecord))


def write_record(project, record: EvalRecord) -> None:
    """Write eval.toml with model paths inside the project relative to it, so the project can move."""
    with project.writing():
        store.write_toml(path(project, record.eval_id, RECORD), portable_record(project, record))


def portable_record(project, record: EvalRecord) -> EvalRecord:
    """``record`` as files show it: model paths inside the project relative to the project folder (what
    eval.toml holds, and what reports, comparison_analysis.toml and exports should name)."""
    return record.model_copy(update={"base": _ref_stored(record.base, project.folder),
                                     "candidate": _ref_stored(record.candidate, project.folder)})


def portable_model(project, ref: ModelRef) -> str:
    """The model of ``ref`` as files name it (a path inside the project relative to it)."""
    return _ref_stored(ref, project.folder).model


def resolved_ref(project, ref: ModelRef) -> ModelRef:
    """``ref`` with a local model path relative to the project resolved against where the project is now."""
    return _ref_read(ref, project.folder)


def model_path(project, ref: ModelRef) -> Path | None:
    """The folder of a local model (None for a Hub or served model), wherever the project is now."""
    return Path(resolved_ref(project, ref).model) if ref.kind == "local" else None


def _ref_stored(ref: ModelRef, folder: Path) -> ModelRef:
    if ref.kind != "local":
        return ref
    spec = ref.spec
    spec_path = Path(spec).expanduser()
    if spec_path.is_absolute() or spec_path.exists():
        inside = paths.to_stored(os.path.abspath(spec_path), folder)
        if inside and not Path(inside).is_absolute():
            spec = inside
    return ref.model_copy(update={"spec": spec, "model": paths.to_stored(ref.model, folder),
                                  "adapter_base": paths.to_stored(ref.adapter_base, folder)})


def _ref_read(ref: ModelRef, folder: Path) -> ModelRef:
    if ref.kind != "local":
        return ref
    return ref.model_copy(update={"spec": paths.from_stored(ref.spec, folder),
                                  "model": paths.from_stored(ref.model, folder, always=True),
                                  "adapter_base": paths.from_stored(ref.adapter_base, folder)})


def list_evals(project, *, completed_only: bool = False) -> list[EvalRecord]:
    """Every evaluation, newest first (a broken eval.toml raises a StoreError naming it)."""
    base = evals_dir(project)
    if not base.is_dir():
        return []
    records = [read_record(project, d.name) for d in base.iterdir()
               if d.is_dir() and d.name != CACHE and (d / RECORD).exists()]
    if completed_only:
        records = [r for r in records if r.status == "completed"]
    return sorted(records, key=lambda r: (r.created_at, r.eval_id), reverse=True)


def latest_eval(project) -> str | None:
    """The id of the newest completed evaluation, or None."""
    done = list_evals(project, completed_only=True)
    return done[0].eval_id if done else None


def require_eval(project, eval_id: str | None = None) -> str:
    """``eval_id`` if it exists and completed, else the latest completed one; StageNotReady otherwise."""
    if eval_id is None:
        found = latest_eval(project)
        if found is None:
            raise StageNotReady(f"no completed evaluation yet: tunesmith evaluate {project.slug}")
        return found
    if not path(project, eval_id, RECORD).exists():
        known = ", ".join(r.eval_id for r in list_evals(project)[:5]) or "none yet"
        raise StageNotReady(f"no evaluation {eval_id!r} in {evals_dir(project)} (evaluations: {known})")
    rec = read_record(project, eval_id)
    if rec.status != "completed":
        raise StageNotReady(f"evaluation {eval_id} is {rec.status}"
                            + (f": {rec.failure_reason}" if rec.failure_reason else ""))
    return eval_id


# ---------------------------------------------------------------- results and the rest


def read_results(project, eval_id: str, role: str | None = None) -> list[EvalResult]:
    rows = store.read_parquet(path(project, eval_id, RESULTS), EvalResult)
    return [r for r in rows if role is None or r.model_role == role]


def write_results(project, eval_id: str, rows: list[EvalResult]) -> None:
    with project.writing():
        store.write_parquet(path(project, eval_id, RESULTS), rows, EvalResult)


def is_paraphrase(example_id: str) -> bool:
    return PARAPHRASE_SEP in example_id


def read_paraphrase_rows(project, eval_id: str) -> list[dict]:
    """paraphrases.parquet's rows: an EvalResult each, with the paraphrase's ``group`` (its original's id)
    and ``input``."""
    p = path(project, eval_id, PARAPHRASES)
    return store.read_parquet_rows(p) if p.exists() else []


def write_paraphrase_rows(project, eval_id: str, rows: list[dict]) -> None:
    with project.writing():
        store.write_parquet(path(project, eval_id, PARAPHRASES), rows)


def read_judge_validation(project, eval_id: str) -> list[JudgeValidationRow]:
    p = path(project, eval_id, JUDGE_VALIDATION)
    return store.read_parquet(p, JudgeValidationRow) if p.exists() else []


def read_spot_check(project, eval_id: str) -> SpotCheck | None:
    p = path(project, eval_id, SPOT_CHECK)
    return store.read_toml(p, SpotCheck) if p.exists() else None


def write_spot_check(project, eval_id: str, spot: SpotCheck) -> None:
    with project.writing():
        store.write_toml(path(project, eval_id, SPOT_CHECK), spot)


def read_decision(project, eval_id: str) -> Decision | None:
    p = path(project, eval_id, DECISION)
    return store.read_toml(p, Decision) if p.exists() else None


def replaceable(file: Path, model: type | None = None) -> None:
    """A file a command is about to replace must be one it could read: a hand-edited, broken or newer
    file (or a directory in its place) stops the command with the file and field named, and is kept."""
    if not file.exists() and not file.is_symlink():
        return
    if file.is_dir():
        raise StoreError(file, "is a directory, where this file belongs; move it away, then run the command again")
    data = store.load_toml_dict(file)
    store.check_schema_version(file, data.pop("schema_version", None))
    if model is not None:
        from core.extract.strict import validate_strict

        validate_strict(file, data, model)


def write_decision(project, eval_id: str, decision: Decision) -> None:
    from core import illustration

    target = path(project, eval_id, DECISION)
    with project.writing():
        replaceable(target, Decision)
        store.write_toml(target, decision.model_copy(update={"illustration": illustration.flag(project)}))


def read_json(project, eval_id: str, name: str) -> dict[str, Any] | None:
    """A JSON file of the folder (metrics.json), schema_version checked and removed; None if absent."""
    p = path(project, eval_id, name)
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        from core.errors import StoreError

        raise StoreError(p, f"is not valid JSON ({exc})") from None
    store.check_schema_version(p, data.pop("schema_version", None))
    return data


def write_json(project, eval_id: str, name: str, data: dict[str, Any]) -> None:
    """Pretty JSON (NaN becomes null and infinities "inf"/"-inf": strict JSON has neither)."""
    from core import illustration

    data = illustration.json_doc(data, project)
    text = json.dumps({"schema_version": store.SCHEMA_VERSION, **_finite(data)}, indent=2, ensure_ascii=False,
                      allow_nan=False, default=_json_default)
    with project.writing():
        store.atomic_write_text(path(project, eval_id, name), text + "\n")


def read_toml_dict(project, eval_id: str, name: str) -> dict[str, Any] | None:
    """A TOML file of the folder as a dict (schema_version checked and removed); None if absent."""
    p = path(project, eval_id, name)
    if not p.exists():
        return None
    data = store.load_toml_dict(p)
    store.check_schema_version(p, data.pop("schema_version", None))
    return data


def write_toml_dict(project, eval_id: str, name: str, data: dict[str, Any]) -> None:
    """A plain dict as TOML (None values dropped: TOML has no null; infinities written as strings)."""
    import tomli_w

    from core import illustration

    body = {"schema_version": store.SCHEMA_VERSION, **_tomlable(illustration.toml_dict(data, project))}
    target = path(project, eval_id, name)
    with project.writing():
        replaceable(target)
        _same_keys(target, body)
        store.atomic_write_text(target, tomli_w.dumps(body))


def _same_keys(file: Path, body: dict[str, Any]) -> None:
    """A plain-dict file (comparison_analysis.toml) being replaced keeps its top-level keys and their
    types: one of another type, or a missing one that is always written (the texts and counts; not the
    measures and tables, which are left out while they have no value), was edited by hand, and is kept."""
    if not file.is_file():
        return
    old = store.load_toml_dict(file)
    for key, value in body.items():
        if key not in old and isinstance(value, (str, int)) and not isinstance(value, bool):
            raise StoreError(file, "missing (the file was edited by hand?); restore it or move the file away, "
                                   "then run the command again", key)
        if key in old and type(old[key]) is not type(value) and not (isinstance(old[key], (int, float))
                                                      and isinstance(value, (int, float))
                                                      and not isinstance(old[key], bool)):
            raise StoreError(file, f"must be {type(value).__name__} (got {old[key]!r}); restore it or move the "
                                   f"file away, then run the command again", key)


def _finite(value: Any) -> Any:
    import math

    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def _tomlable(value: Any) -> Any:
    import math

    if isinstance(value, dict):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_tomlable(v) for v in value if v is not None]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _tomlable(value.item())
    return value
