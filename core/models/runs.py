"""Skill 3 and 4 artifacts: training runs, evaluation results, spot-check, deployment decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

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


class MetricRow(Strict):
    step: int
    epoch: float | None = None
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    eval_loss: float | None = None
    tokens_per_second: float | None = None
    time: float | None = None


class EvalResult(Strict):
    """One model's output on one eval example, scored."""

    example_id: str
    model_role: Literal["base", "candidate"]
    model: str
    output: str
    method: Literal["functional", "exact_match", "llm_judge", "human"]
    score: float = Field(ge=0.0, le=1.0)
    passed: bool
    refused: bool | None = None
    judge_confidence: float | None = None
    flagged: bool = False
    category: str = ""
    difficulty: str = ""
    kind: str = ""
    detail: str = ""


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
    verdict: Literal["deploy", "review", "iterate"]
    weighted_score: float
    rules_fired: list[str] = Field(default_factory=list)
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
