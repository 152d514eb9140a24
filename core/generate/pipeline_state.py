"""Where skill 2 keeps its state on disk, and the small models of those files.

    data/pilot/examples.parquet    the pilot's kept examples (TrainingExample rows)
    data/pilot/rejected.parquet    the pilot's rejected examples
    data/pilot/report.toml         the pilot's GenerationReport
    data/pilot/run.toml            how the pilot was made (PilotRun: attempts, requests, strategy, feedback)
    data/pilot/feedback.toml       generator feedback: filter instructions and the reviewer's notes
    data/pilot/review.toml         the pilot spot-check (core.generate.review)
    data/scale/part-00001.parquet  kept, filtered scale examples, one checkpointed part at a time
    data/scale/state.toml          the scale run's state (ScaleState), rewritten after every part
    data/training_dataset/         train.parquet, validation.parquet, README.md (the card)
    data/generation_report.toml    GenerationSummary (pilot and scale reports, review, validation)
    data/quality_log.parquet       QualityLogRow of every rejected example, both phases
    data/dataset_card.md           the Hugging Face dataset card
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import Field

from core.models.config import Strict
from core.models.data import FilterStats

PILOT_DIR = "data/pilot"
PILOT_EXAMPLES = "data/pilot/examples.parquet"
PILOT_REJECTED = "data/pilot/rejected.parquet"
PILOT_REPORT = "data/pilot/report.toml"
PILOT_RUN = "data/pilot/run.toml"
PILOT_FEEDBACK = "data/pilot/feedback.toml"
PILOT_REVIEW = "data/pilot/review.toml"
SCALE_DIR = "data/scale"
SCALE_STATE = "data/scale/state.toml"
PART_GLOB = "part-*.parquet"
SCALE_REVIEW_SAMPLE = "data/scale/review_sample.parquet"
DATASET_DIR = "data/training_dataset"
TRAIN_FILE = "data/training_dataset/train.parquet"
VALIDATION_FILE = "data/training_dataset/validation.parquet"
GENERATION_REPORT = "data/generation_report.toml"
QUALITY_LOG = "data/quality_log.parquet"
DATASET_CARD = "data/dataset_card.md"

STAGE = "generate"  # the stage name of every generation call in the gateway's usage ledger


def part_name(number: int) -> str:
    return f"part-{number:05d}.parquet"


def part_number(name: str) -> int:
    return int(name.removeprefix("part-").removesuffix(".parquet"))


def ids_hash(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:16]


class PilotFeedback(Strict):
    """What the next generation is told: instructions derived from the filters' top rejection reasons,
    and the reviewer's notes from rejected spot-checks. The scale-up uses the same feedback."""

    filter_instructions: list[str] = Field(default_factory=list)
    filter_causes: dict[str, str] = Field(default_factory=dict, description="instruction -> the reason code and "
                                                                            "settings it answers (expiry)")
    review_notes: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None

    def lines(self) -> list[str]:
        return [*self.review_notes, *self.filter_instructions]


class AttemptRecord(Strict):
    attempt: int
    generated: int
    kept: int
    pass_rate: float
    top_reasons: list[str] = Field(default_factory=list)
    instructions_added: list[str] = Field(default_factory=list)


class PilotRun(Strict):
    """How the current pilot was made (for the review, the projection and the report)."""

    pilot_id: str
    eval_hash: str
    strategy: str
    strategy_reason: str = ""
    model: str = ""
    attempts: list[AttemptRecord] = Field(default_factory=list)
    requests: int = 0
    cache_hits: int = 0
    failed_requests: int = 0
    feedback: list[str] = Field(default_factory=list)
    offsets: dict[str, int] = Field(default_factory=dict)
    finished_at: datetime | None = None


class PartInfo(Strict):
    name: str
    kept: int
    checked: int
    written_at: datetime | None = None


class ScaleState(Strict):
    """The scale run, rewritten atomically after each part. The parts on disk are the source of truth
    for kept examples; this file holds the counters, offsets and ids seen (kept or rejected)."""

    target: int
    pilot_id: str = ""
    eval_hash: str = ""
    strategy: str = ""
    model: str = ""
    status: Literal["running", "paused", "complete"] = "running"
    pause_reason: str = ""
    parts: list[PartInfo] = Field(default_factory=list)
    kept: int = 0
    checked: int = 0  # examples that went through the filters
    duplicate_ids: int = 0  # generated again with an id already seen: dropped before filtering
    failed_requests: int = 0
    provider_retries: int = 0  # transient provider faults the gateway retried
    last_error: str = ""  # the last request that failed for good (after the gateway's retries)
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    filters: dict[str, FilterStats] = Field(default_factory=dict)
    categories: dict[str, FilterStats] = Field(default_factory=dict)
    offsets: dict[str, int] = Field(default_factory=dict)
    waves: int = 0
    # per quota cell (core/generate/quota_book.py): the plan, what the filters checked and why they
    # rejected, the cells given their own prompt adjustment and those given up on
    quotas: dict[str, int] = Field(default_factory=dict)
    cell_checked: dict[str, int] = Field(default_factory=dict)
    cell_reasons: dict[str, dict[str, int]] = Field(default_factory=dict)
    cell_feedback: dict[str, list[str]] = Field(default_factory=dict)
    exhausted: list[str] = Field(default_factory=list)
    failed_strategies: dict[str, str] = Field(default_factory=dict)  # DPO/KTO rejected strategies that failed
    seen_ids: list[str] = Field(default_factory=list)
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0  # active generation time, summed over runs
    # the projection made when the scale-up started (kept against the actual in the generation report)
    projected_seconds: float = 0.0
    projected_generated: int = 0
    projected_requests: int = 0
    runs: int = 0  # how many times the run was started or resumed
    diversity_sum: float = 0.0
    diversity_count: int = 0
    diversity_max: float | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def pass_rate(self) -> float:
        return self.kept / self.checked if self.checked else 0.0
