"""project.toml: identity, task, model roles, configuration and the stage state."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Literal

from pydantic import Field, field_validator

from core.models.config import Config, Strict, TaskType, TrainingMethod

STAGES: tuple[str, ...] = ("extract", "generate", "train", "evaluate")

# The ordered steps of each stage; a stage is done when all its steps are.
STAGE_STEPS: dict[str, tuple[str, ...]] = {
    "extract": ("persona", "interview", "artifacts", "boundaries_approved", "evalset", "evalset_approved"),
    "generate": ("pilot", "pilot_approved", "scale", "validated"),
    "train": ("planned", "trained"),
    "evaluate": ("evaluated", "spot_checked", "decided"),
}

STEP_HINTS: dict[str, str] = {
    "persona": "pick the expert persona the interviewer will speak to: tunesmith interview NAME --persona N",
    "interview": "answer the interview (15-25 questions): tunesmith interview NAME",
    "artifacts": "draft the knowledge base, boundaries, taxonomy and criteria: tunesmith boundaries NAME",
    "boundaries_approved": "review and approve the scope boundaries: tunesmith boundaries NAME --approve",
    "evalset": "build the held-out eval set: tunesmith evalset NAME",
    "evalset_approved": "spot-check and approve the eval set: tunesmith review NAME evalset",
    "pilot": "generate the pilot: tunesmith generate NAME --pilot",
    "pilot_approved": "spot-check the pilot: tunesmith review NAME pilot",
    "scale": "scale up to the target size: tunesmith generate NAME --scale",
    "validated": "validate the dataset against the trainer's format: tunesmith generate NAME --scale",
    "planned": "plan the training run: tunesmith train NAME",
    "trained": "train the model: tunesmith train NAME --yes --follow",
    "evaluated": "evaluate base vs fine-tuned: tunesmith evaluate NAME",
    "spot_checked": "spot-check the evaluation: tunesmith spot-check NAME",
    "decided": "record the deployment decision: tunesmith decide NAME",
}

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
    return slug[:64]


class ModelRoles(Strict):
    """litellm model strings per role; None = use TUNESMITH_MODEL / TUNESMITH_<ROLE>_MODEL."""

    interviewer: str | None = None
    generator: str | None = None
    generator_fast: str | None = None
    weak: str | None = None
    judge: str | None = None
    api_base: str | None = None
    base_model: str | None = None
    embedding_model: str | None = None


class StageState(Strict):
    status: Literal["pending", "in_progress", "done"] = "pending"
    done: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None
    note: str | None = None


def _default_stages() -> dict[str, StageState]:
    return {s: StageState() for s in STAGES}


class ProjectFile(Strict):
    name: str = Field(min_length=1, max_length=200)
    slug: str
    task: str = Field(min_length=1)
    task_type: TaskType = "instruction_following"
    # who decided the task type and why (core/task_type.py); a "user" choice is never overridden
    task_type_reason: str = ""
    task_type_source: Literal["default", "heuristic", "llm", "interview", "user"] = "default"
    labels: list[str] = Field(default_factory=list, description="classification: the closed set of labels")
    training_method: TrainingMethod = "sft"
    sft_format: Literal["conversational", "prompt_completion"] = "conversational"
    preset: str = "standard"
    created_at: datetime = Field(default_factory=now)
    # set only on an illustration (the shipped example, written by a script without any model run): why it
    # is one. Its reports and exports then say so (core/illustration.py); absent for a real project.
    illustration: str | None = None
    models: ModelRoles = Field(default_factory=ModelRoles)
    config: Config = Field(default_factory=Config)
    stages: dict[str, StageState] = Field(default_factory=_default_stages)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError("must be lower-case letters, digits, '-' or '_' (at most 64)")
        return v

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: dict[str, StageState]) -> dict[str, StageState]:
        unknown = set(v) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage {sorted(unknown)[0]!r} (stages: {', '.join(STAGES)})")
        for stage in STAGES:
            v.setdefault(stage, StageState())
            bad = [s for s in v[stage].done if s not in STAGE_STEPS[stage]]
            if bad:
                raise ValueError(f"unknown step {bad[0]!r} in stage {stage!r}")
        return {s: v[s] for s in STAGES}

    # ------------------------------------------------------------ stage helpers

    def mark(self, stage: str, step: str, done: bool = True) -> None:
        state = self.stages[stage]
        steps = list(state.done)
        if done and step not in steps:
            steps.append(step)
        if not done and step in steps:
            # undoing a step undoes every later step of the stage, and every later stage
            order = STAGE_STEPS[stage]
            cut = order.index(step)
            steps = [s for s in steps if order.index(s) < cut]
            for later in STAGES[STAGES.index(stage) + 1:]:
                self.stages[later] = StageState(updated_at=now())
        steps.sort(key=STAGE_STEPS[stage].index)
        complete = all(s in steps for s in STAGE_STEPS[stage])
        status = "done" if complete else ("in_progress" if steps else "pending")
        self.stages[stage] = StageState(status=status, done=steps, updated_at=now(), note=state.note)

    def is_done(self, stage: str, step: str | None = None) -> bool:
        if step is None:
            return self.stages[stage].status == "done"
        return step in self.stages[stage].done

    def current_stage(self) -> str | None:
        for stage in STAGES:
            if self.stages[stage].status != "done":
                return stage
        return None

    def next_step(self) -> tuple[str, str] | None:
        """(stage, step) of the first step not done yet, or None when the pipeline is complete."""
        for stage in STAGES:
            for step in STAGE_STEPS[stage]:
                if step not in self.stages[stage].done:
                    return stage, step
        return None

    def next_hint(self) -> str:
        nxt = self.next_step()
        if nxt is None:
            return f"pipeline complete: export the results with tunesmith export {self.slug}"
        return STEP_HINTS[nxt[1]].replace("NAME", self.slug)
