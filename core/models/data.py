"""Skill 2 artifacts: training examples in TRL's four formats, quality log rows, generation report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.models.config import Strict

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str


def _nonempty_turns(messages: list[Message], what: str) -> None:
    if not messages:
        raise ValueError(f"{what} must not be empty")
    for m in messages:
        if not m.content.strip():
            raise ValueError(f"{what}: a {m.role} message is empty")


# TRL's formats. Field names are exactly the dataset columns TRL's trainers read.


class SFTConversational(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[Message]

    @model_validator(mode="after")
    def _check(self) -> "SFTConversational":
        _nonempty_turns(self.messages, "messages")
        if self.messages[-1].role != "assistant":
            raise ValueError("messages must end with an assistant turn")
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages need at least one user turn")
        return self


class SFTPromptCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | list[Message]
    completion: str | list[Message]


class DPOExample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | list[Message]
    chosen: str | list[Message]
    rejected: str | list[Message]

    @model_validator(mode="after")
    def _differ(self) -> "DPOExample":
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected must differ")
        return self


class GRPOExample(BaseModel):
    """Prompt-only; extra columns are passed to reward functions as keyword arguments."""

    model_config = ConfigDict(extra="allow")
    prompt: str | list[Message]


class KTOExample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | list[Message]
    completion: str | list[Message]
    label: bool


RECORD_MODELS: dict[str, type[BaseModel]] = {
    "sft_conversational": SFTConversational,
    "sft_prompt_completion": SFTPromptCompletion,
    "dpo": DPOExample,
    "grpo": GRPOExample,
    "kto": KTOExample,
}

RejectedStrategy = Literal["weak_model", "truncated", "off_topic", "verbose", "tone_mismatch"]
REJECTED_STRATEGIES: tuple[str, ...] = ("weak_model", "truncated", "off_topic", "verbose", "tone_mismatch")


class TrainingExample(Strict):
    """One generated example: its TRL record plus where it came from."""

    id: str
    format: Literal["sft_conversational", "sft_prompt_completion", "dpo", "grpo", "kto"]
    record: dict[str, Any]
    category: str
    difficulty: Literal["easy", "medium", "hard"]
    kind: Literal["common", "edge", "refusal"] = "common"
    strategy: str
    model: str
    prompt_version: str
    exercises: str = Field("", description="the boundary or competency this example exercises")
    rejected_strategy: RejectedStrategy | None = None
    phase: Literal["pilot", "scale"] = "pilot"

    @model_validator(mode="after")
    def _record_matches_format(self) -> "TrainingExample":
        RECORD_MODELS[self.format].model_validate(self.record)
        return self


class QualityLogRow(Strict):
    example_id: str
    phase: Literal["pilot", "scale"]
    filter: str
    passed: bool
    reason_code: str
    score: float | None = None
    detail: str = ""
    category: str = ""


class FilterStats(Strict):
    checked: int = 0
    passed: int = 0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.checked if self.checked else 0.0


class GenerationReport(Strict):
    phase: Literal["pilot", "scale"]
    strategy: str
    training_method: str
    requested: int
    generated: int = 0
    kept: int = 0
    pass_rate: float = 0.0
    filters: dict[str, FilterStats] = Field(default_factory=dict)
    categories: dict[str, FilterStats] = Field(default_factory=dict)
    rejections_by_reason: dict[str, int] = Field(default_factory=dict)
    diversity_mean_similarity: float | None = None
    diversity_max_similarity: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    retries: int = 0
    # the scale-up's projection when it started, against the actual generated / requests / seconds above
    estimated_seconds: float | None = None
    estimated_generated: int | None = None
    estimated_requests: int | None = None
    requests: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # the planned mix and what was kept of it (per kind; cells short of their quota by key)
    planned_by_kind: dict[str, int] = Field(default_factory=dict)
    kept_by_kind: dict[str, int] = Field(default_factory=dict)
    short_cells: dict[str, int] = Field(default_factory=dict)
    # DPO / KTO: how the rejected responses were made, and strategies that failed (with why)
    rejected_strategies: dict[str, int] = Field(default_factory=dict)
    failed_strategies: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list, description="warnings the user must see")
    settings: list[str] = Field(default_factory=list, description="how the \"auto\" thresholds were set")
