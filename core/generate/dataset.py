"""The final dataset: trim the scale-up's parts to the plan (each quota cell at most its quota:
:func:`core.generate.quota_book.select`), check the planned mix (refusals short of the plan keep the
dataset from being ready for training), split train/validation (stratified
by category, seeded), write ``data/training_dataset/{train,validation}.parquet`` with only the TRL record
columns, and validate the TRL format (columns the trainer needs; the target tokenizer's chat template
applied to every row with ``trl.data_utils.apply_chat_template``, or a structural check when no tokenizer
is available offline). The eval set must still be the frozen one the leakage filter used.

Load it with::

    datasets.load_dataset("parquet", data_files={"train": ".../train.parquet",
                                                 "validation": ".../validation.parquet"})
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from core import store
from core.errors import StageNotReady, TunesmithError
from core.generate import pipeline as pl
from core.generate import pipeline_state as ps
from core.generate.records import GRPO_EXTRA, format_for
from core.models.data import RECORD_MODELS, GenerationReport, TrainingExample
from core.models.project import now
from core.project import Project

# format -> (the trainer, the columns it reads)
TRAINERS: dict[str, tuple[str, frozenset[str]]] = {
    "sft_conversational": ("SFTTrainer", frozenset({"messages"})),
    "sft_prompt_completion": ("SFTTrainer", frozenset({"prompt", "completion"})),
    "dpo": ("DPOTrainer", frozenset({"prompt", "chosen", "rejected"})),
    "grpo": ("GRPOTrainer", frozenset({"prompt"})),
    "kto": ("KTOTrainer", frozenset({"prompt", "completion", "label"})),
}
TRL_KEYS = ("prompt", "chosen", "rejected", "completion", "messages", "label")
MAX_ERRORS = 5


class DatasetInvalid(TunesmithError):
    """The final dataset does not satisfy the trainer's format."""


@dataclass
class Validation:
    ok: bool
    format: str
    trainer: str
    columns: list[str]
    rows: int
    tokenizer: str | None = None  # whose chat template was applied (None: structural check only)
    errors: list[str] = field(default_factory=list)
    note: str = ""

    def describe(self) -> str:
        how = (f"chat template of {self.tokenizer} applied to all {self.rows} rows" if self.tokenizer
               else f"structure of all {self.rows} rows checked")
        head = "passed" if self.ok else "FAILED"
        text = f"TRL format validation {head}: {self.trainer} columns {', '.join(self.columns)}; {how}"
        if self.note:
            text += f" ({self.note})"
        if self.errors:
            text += "; " + "; ".join(self.errors)
        return text


# ---------------------------------------------------------------- splitting


def split(examples: list[TrainingExample], fraction: float, seed: str) -> tuple[list[TrainingExample],
                                                                               list[TrainingExample]]:
    """(train, validation): ``fraction`` of the rows (at least one when fraction > 0 and there are two or
    more rows) to validation, spread over categories in proportion (largest remainder), picked at random
    with ``seed``; both keep the input order."""
    from core.extract.quotas import largest_remainder

    n = len(examples)
    n_val = round(n * fraction)
    if fraction > 0 and n >= 2:
        n_val = max(1, n_val)
    n_val = min(n_val, max(0, n - 1))
    if n_val <= 0:
        return list(examples), []
    by_cat: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_cat.setdefault(ex.category, []).append(i)
    cats = sorted(by_cat)
    alloc = largest_remainder(n_val, [len(by_cat[c]) for c in cats])
    rng = random.Random(seed)
    chosen: set[int] = set()
    for c, k in zip(cats, alloc):
        chosen.update(rng.sample(by_cat[c], min(k, len(by_cat[c]))))
    train = [ex for i, ex in enumerate(examples) if i not in chosen]
    val = [ex for i, ex in enumerate(examples) if i in chosen]
    return train, val


def columns_of(examples: list[TrainingExample]) -> list[dict[str, Any]]:
    """The Parquet rows: the TRL record only (GRPO keeps the extra columns its reward functions read)."""
    rows = []
    for ex in examples:
        rec = dict(ex.record)
        if ex.format == "grpo":
            rec = {k: v for k, v in rec.items() if k == "prompt" or k in GRPO_EXTRA}
        rows.append(rec)
    return rows


# ---------------------------------------------------------------- validation


def _structural(row: dict[str, Any], fmt: str) -> str | None:
    try:
        RECORD_MODELS[fmt].model_validate(row)
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    prompt = row.get("prompt")
    if isinstance(prompt, list) and prompt and prompt[-1].get("role") not in ("user", "tool"):
        return "the prompt must end with a user turn"
    for key in ("completion", "chosen", "rejected"):
        value = row.get(key)
        if isinstance(value, list) and any(m.get("role") != "assistant" for m in value):
            return f"{key} must hold assistant turns only"
    return None


def validate(rows: list[dict[str, Any]], fmt: str, tokenizer: Any = None) -> Validation:
    """Check ``rows`` against the trainer of ``fmt`` (see the module docstring)."""
    from trl.data_utils import apply_chat_template, is_conversational

    trainer, required = TRAINERS[fmt]
    columns = sorted({k for r in rows for k in r})
    errors: list[str] = []
    allowed = set(required) | (set(GRPO_EXTRA) if fmt == "grpo" else set())
    if not required <= set(columns):
        errors.append(f"missing columns {sorted(required - set(columns))} for {trainer}")
    if set(columns) - allowed:
        errors.append(f"unexpected columns {sorted(set(columns) - allowed)} for {trainer}")
    bad = 0
    for i, row in enumerate(rows):
        problem = None if is_conversational(row) else "not conversational (lists of role/content messages)"
        problem = problem or _structural(row, fmt)
        if problem is None and tokenizer is not None:
            try:
                out = apply_chat_template({k: row[k] for k in TRL_KEYS if k in row}, tokenizer)
                if not any(isinstance(v, str) and v for v in out.values()):
                    problem = "the chat template produced no text"
            except Exception as exc:
                problem = f"the chat template failed: {exc.__class__.__name__}: {str(exc)[:200]}"
        if problem:
            bad += 1
            if len(errors) < MAX_ERRORS:
                errors.append(f"row {i}: {problem}")
    if bad > MAX_ERRORS:
        errors.append(f"{bad} rows in all")
    name = None
    if tokenizer is not None:
        name = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    note = "" if tokenizer is not None else ("no target tokenizer available offline (set config.train.base_model "
                                            "to a local or cached model): structure checked; the chat template "
                                            "is applied when training starts")
    return Validation(ok=not errors, format=fmt, trainer=trainer, columns=columns, rows=len(rows), tokenizer=name,
                      errors=errors, note=note)


def leaked(project: Project, examples: list[TrainingExample]) -> list[str]:
    """Ids of examples whose user text equals an eval-set input (after whitespace and case folding)."""
    from core.extract.evalset import load_eval_set
    from core.generate.records import user_text

    norm = lambda t: " ".join(str(t).lower().split())  # noqa: E731
    inputs = {norm(e.input) for e in load_eval_set(project)}
    return [ex.id for ex in examples if norm(user_text(ex.record)) in inputs]


# ---------------------------------------------------------------- resume helper


def remember_kept(ctx: Any, kept: list[TrainingExample]) -> None:
    """Re-derive the diversity filter's memory of kept examples (after a resume)."""
    if not kept or getattr(ctx, "embedder", None) is None:
        return
    try:
        from core.generate.filters.diversity import text_of  # type: ignore[attr-defined]
    except ImportError:
        from core.generate.records import all_text as _all

        text_of = lambda ex: _all(ex.record)  # noqa: E731
    ctx.kept_vectors = ctx.embedder.encode([text_of(ex) for ex in kept])


# ---------------------------------------------------------------- finalising


def write_review_sample(project: Project, examples: list[TrainingExample]) -> list[str]:
    """A seeded random sample of scale_review_size examples for an optional review
    (data/scale/review_sample.parquet); returns their ids."""
    n = min(project.meta.config.generate.scale_review_size, len(examples))
    if n <= 0:
        return []
    sample = random.Random(f"{project.slug}:scale-review").sample(examples, n)
    store.write_parquet(project.path(ps.SCALE_REVIEW_SAMPLE), sample, TrainingExample)
    return [ex.id for ex in sample]


def scale_report(project: Project, state: ps.ScaleState, kept: int) -> GenerationReport:
    r = GenerationReport(
        phase="scale", strategy=state.strategy, training_method=project.meta.training_method, requested=state.target,
        generated=state.checked, kept=kept, pass_rate=round(state.pass_rate, 4),
        filters=dict(state.filters), categories=dict(state.categories),
        rejections_by_reason=dict(state.rejected_by_reason), prompt_tokens=state.prompt_tokens,
        completion_tokens=state.completion_tokens, cost_usd=round(state.cost_usd, 6), seconds=state.seconds,
        retries=state.provider_retries, started_at=state.started_at, finished_at=now(),
    )
    if state.projected_generated:
        r.estimated_seconds = round(state.projected_seconds, 1)
        r.estimated_generated = state.projected_generated
        r.estimated_requests = state.projected_requests
    r.requests = state.requests + state.cache_hits
    if state.diversity_count:
        r.diversity_mean_similarity = round(state.diversity_sum / state.diversity_count, 4)
        r.diversity_max_similarity = round(state.diversity_max or 0.0, 4)
    return r


def finalise(project: Project, state: ps.ScaleState, kept: list[TrainingExample], *,
             progress: pl.Progress | None = None, tokenizer: Any = None, notes: list[str] | None = None,
             settings: list[str] | None = None) -> GenerationReport:
    """Write the training dataset, validate it, write the report, quality log and card; mark the stage."""
    from core.extract.review import verify_frozen
    from core.generate import report as rp
    from core.generate.tokenizer import load_tokenizer

    from core.generate.quota_book import select

    examples = select(state.quotas, pl.unique(kept)) if state.quotas else pl.unique(kept)[: state.target]
    mix = mix_of(state, examples)
    if not examples:
        raise StageNotReady(f"no examples are kept; continue: tunesmith generate {project.slug} --resume")
    eval_hash = verify_frozen(project)
    if state.eval_hash and eval_hash != state.eval_hash:
        raise StageNotReady("the eval set changed while the data was generated (its leakage check used the old "
                            f"one); start over: tunesmith generate {project.slug} --scale --restart")
    fmt = format_for(project.meta.training_method, project.meta.sft_format)
    train, val = split(examples, project.meta.config.generate.validation_split, seed=f"{project.slug}:split")
    tok = tokenizer if tokenizer is not None else load_tokenizer(project)
    pl.say(progress, "scale", f"validating {len(examples)} rows for the trainer"
                              + (" (applying the chat template)" if tok is not None else ""))
    check = validate(columns_of(examples), fmt, tok)
    leaks = leaked(project, examples)
    if leaks:
        check.ok = False
        check.errors.append(f"{len(leaks)} rows repeat an eval-set input word for word (e.g. {leaks[0]})")
    report = scale_report(project, state, len(examples))
    report.planned_by_kind, report.kept_by_kind, report.short_cells = mix.planned, mix.kept, mix.short
    report.notes = [*mix.notes(project), *(notes or [])]
    report.settings = list(settings or [])
    report.rejected_strategies = dict(sorted(Counter(e.rejected_strategy for e in examples
                                                     if e.rejected_strategy).items()))
    report.failed_strategies = dict(state.failed_strategies)
    ready = check.ok and not mix.refusals_short
    with project.writing():
        store.write_parquet(project.path(ps.TRAIN_FILE), columns_of(train))
        store.write_parquet(project.path(ps.VALIDATION_FILE), columns_of(val))
        rp.write_quality_log(project, "scale", rp.scale_log_rows(project))
        sample = write_review_sample(project, examples)
        summary = rp.update_summary(project, scale=report, validation=check, splits={"train": len(train),
                                    "validation": len(val)}, scale_review_sample=sample, eval_hash=eval_hash)
        rp.write_dataset_card(project, summary)
        project.reload()
        if not project.meta.is_done("generate", "scale"):
            project.mark("generate", "scale")
        if ready and not project.meta.is_done("generate", "validated"):
            project.mark("generate", "validated")
        elif not ready and project.meta.is_done("generate", "validated"):
            project.mark("generate", "validated", done=False)
    pl.say(progress, "scale", check.describe())
    for note in report.notes:
        pl.say(progress, "scale", f"warning: {note}")
    if not check.ok:
        raise DatasetInvalid(f"{check.describe()}; the dataset is in {project.path(ps.DATASET_DIR)} but is not "
                             f"validated for training")
    if mix.refusals_short:
        raise DatasetInvalid(f"{mix.refusal_problem(project)}; the dataset is in {project.path(ps.DATASET_DIR)} but "
                             f"is not ready for training")
    return report


@dataclass
class Mix:
    """The planned mix of kinds and what the dataset kept of it."""

    planned: dict[str, int]
    kept: dict[str, int]
    short: dict[str, int]  # cell key -> examples missing
    reasons: dict[str, dict[str, int]]  # cell key -> rejection reason counts

    @property
    def refusals_short(self) -> bool:
        return self.kept.get("refusal", 0) < self.planned.get("refusal", 0)

    def _why(self, kind: str) -> str:
        total: Counter = Counter()
        for key, counts in self.reasons.items():
            if key.split("|", 1)[0] == kind and key in self.short:
                total.update(counts)
        return ", ".join(f"{code} {n}" for code, n in total.most_common(3)) or "no examples came back"

    def refusal_problem(self, project: Project) -> str:
        got, want = self.kept.get("refusal", 0), self.planned.get("refusal", 0)
        return (f"the refusal examples are short of the plan: {got} of {want} kept (rejected for: "
                f"{self._why('refusal')}), so the model would not learn to decline out-of-scope requests. See "
                f"{project.path(ps.QUALITY_LOG)}; then try a stronger generator ([models].generator), edit the "
                f"refusal sentence in {project.path('knowledge/scope_boundaries.toml')} (refusal_message), or lower "
                f"config.generate.quality_thresholds.diversity_threshold, and continue with: "
                f"tunesmith generate {project.slug} --resume")

    def notes(self, project: Project) -> list[str]:
        out = []
        for kind, want in self.planned.items():
            got = self.kept.get(kind, 0)
            if got < want:
                out.append(f"{kind} examples: {got} of {want} planned kept (rejected for: {self._why(kind)})"
                           + ("" if kind == "refusal" else f"; continue with: tunesmith generate {project.slug} "
                                                            f"--resume"))
        return out


def mix_of(state: ps.ScaleState, examples: list[TrainingExample]) -> Mix:
    from core.generate.quota_book import QuotaBook, key_of

    book = QuotaBook(dict(state.quotas))
    for ex in examples:
        book.kept[book.place(key_of(ex))] += 1
    planned = dict(book.planned_by_kind()) or dict(Counter(e.kind for e in examples))
    kept = dict(book.kept_by_kind()) if state.quotas else dict(Counter(e.kind for e in examples))
    return Mix(planned, kept, book.short(), dict(state.cell_reasons))
