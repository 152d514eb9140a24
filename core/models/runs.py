"""Skill 3 and 4 artifacts: training runs, evaluation results, spot-check, deployment decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from core.models.config import Strict

RunStatus = Literal["queued", "running", "completed", "failed", "canceled"]


class TrainingRun(Strict):
    run_id: str
    backend: Literal["local", "hf_jobs"]
    method: Literal["sft", "dpo", "grpo", "kto"]
    base_model: str
    status: RunStatus = "queued"
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failure_reason: str | None = None
    pid: int | None = None
    job_id: str | None = None
    namespace: str | None = None
    flavor: str | None = None
    use_lora: bool = False
    parameters_b: float | None = None
    estimated_hours: float | None = None
    estimated_cost_usd: float | None = None
    timeout_s: int | None = None
    output_model: str | None = None
    hub_model_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    # the estimate against what happened (core.train.timing); later plans of the project learn from them
    planned_steps: int | None = None
    planned_tokens: int | None = None  # tokens the run sees (all epochs), as the plan counted them
    estimate_source: str | None = None  # "assumed" throughput, or "measured on run <id>"
    actual_seconds: float | None = None  # the whole run, start-up included
    startup_seconds: float | None = None  # before the first step: model load, data, compile
    seconds_per_step: float | None = None  # measured after the first steps
    measured_tokens_per_second: float | None = None


class MetricRow(Strict):
    step: int
    epoch: float | None = None
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    eval_loss: float | None = None
    tokens_per_second: float | None = None
    time: float | None = None


class DimensionValue(Strict):
    """One rubric dimension's judge score of one output, 0..1 (the 1..5 scale mapped)."""

    name: str
    score: float = Field(ge=0.0, le=1.0)


PENDING_PREFIX = "pending"
HUMAN_PREFIX = "human rating:"


class EvalResult(Strict):
    """One model's output on one eval example, scored.

    A result no automated method could score waits for a person: ``pending`` is True and ``score`` and
    ``passed`` are None (never 0 / false, so that no reader averages a wait into a mean). A person's rating
    (``tunesmith rate``, the TUI rater, a spot-check rating of the same output) fills them in: method
    "human", detail "human rating: good|mixed|bad ...".
    """

    example_id: str
    model_role: Literal["base", "candidate"]
    model: str
    output: str
    method: Literal["functional", "exact_match", "llm_judge", "human"]
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    passed: bool | None = None
    pending: bool = False
    refused: bool | None = None
    judge_confidence: float | None = None
    flagged: bool = False
    category: str = ""
    difficulty: str = ""
    kind: str = ""
    detail: str = ""
    dimensions: list[DimensionValue] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _older_pending(cls, data: Any) -> Any:
        """Files written before ``pending`` existed stored a wait as score 0 / not passed."""
        if isinstance(data, dict) and "pending" not in data and data.get("method") == "human" \
                and str(data.get("detail") or "").startswith(PENDING_PREFIX):
            data = {**data, "pending": True, "score": None, "passed": None}
        return data

    @model_validator(mode="after")
    def _scored_or_pending(self) -> "EvalResult":
        if self.pending and (self.score is not None or self.passed is not None):
            raise ValueError("a pending result has no score and no passed (both must be empty)")
        if not self.pending and (self.score is None or self.passed is None):
            raise ValueError("score and passed are required unless the result is pending a human rating")
        return self

    def score_text(self) -> str:
        """"0.75 · pass", or "pending a human rating"."""
        if self.pending or self.score is None:
            return "pending a human rating"
        return f"{self.score:.2f} · {'pass' if self.passed else 'fail'}"

    def dimension_map(self) -> dict[str, float]:
        return {d.name: d.score for d in self.dimensions}


class HumanRating(Strict):
    """One person's rating of one output that waited for a human (evals/<id>/human_ratings.toml)."""

    example_id: str
    model_role: Literal["base", "candidate"]
    rating: Literal["good", "mixed", "bad"]
    note: str = ""
    source: Literal["rate", "spot-check"] = "rate"
    rated_at: datetime
    was_detail: str = ""  # the pending row's detail, restored by an undo
    was_flagged: bool = True


class HumanRatings(Strict):
    """The human rating of an evaluation's pending results: the queue, fixed when rating starts (a sample
    stratified by category, so that stopping early still rates a fair sample), and every rating made."""

    queue: list[str] = Field(default_factory=list)  # "role:example_id", in the order they are shown
    ratings: list[HumanRating] = Field(default_factory=list)
    started_at: datetime | None = None


class JudgeValidationRow(Strict):
    item_id: str
    expected: bool
    verdict: bool
    confidence: float | None = None
    variant: str = ""
    judge: str = ""


class SpotCheckItem(Strict):
    example_id: str
    group: Literal["common", "edge", "out_of_scope", "comparison"]
    why: str = ""
    rating: Literal["good", "concerning", "bad"] | None = None
    trust: bool | None = None
    note: str = ""
    preferred: Literal["base", "candidate", "same"] | None = None


class SpotCheck(Strict):
    items: list[SpotCheckItem] = Field(default_factory=list)
    finished: bool = False
    finished_at: datetime | None = None


class Decision(Strict):
    """The deployment decision (core/evaluate/decision.py).

    What a person reads: ``reasons`` (what keeps the verdict from DEPLOY, worst first, in plain words: "✗ ..."
    asks to iterate, "⚠ ..." for a review), ``passed_checks`` ("✓ ..." the rules that held) and ``details``
    (the statistics behind them: tests, p-values, CIs, detectable effects). ``rules_fired`` keeps one
    tagged line per rule for programs ("ITERATE [refusal] ...", "REVIEW [...] ...", "PASS [...] ...";
    decisions written before ``reasons`` existed say "DEPLOY [...]" for a rule that held)."""

    verdict: Literal["deploy", "review", "iterate"]
    weighted_score: float
    rules_fired: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    passed_checks: list[str] = Field(default_factory=list)
    details: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    improvement: float | None = None
    p_value: float | None = None
    refusal_accuracy: float | None = None
    concerning: int | None = None
    decided_at: datetime | None = None
    # optional detail (core/evaluate/decision.py): normalised dimension values, the dimensions that had
    # no value (left out of the weighted score), what the decision still waits for, the judge's status
    dimensions: dict[str, float] = Field(default_factory=dict)
    missing_dimensions: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)
    judge_usable: bool | None = None
    improvement_relative: float | None = None
    # why each missing dimension has no value; the share of the dimensions' weight the weighted score covers
    # (1.0: complete; below: partial, the rest is named in missing_dimensions); how the improvement rule read
    # its threshold ("points" or "percent" of the base)
    missing_why: dict[str, str] = Field(default_factory=dict)
    weight_covered: float | None = None
    improvement_unit: Literal["points", "percent"] | None = None
    # true when the project is an illustration (core/illustration.py); not written for a real project
    illustration: bool | None = None
