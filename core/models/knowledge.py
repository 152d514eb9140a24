"""Skill 1 artifacts: interview, knowledge base, scope boundaries, taxonomy, quality criteria, eval set."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from core.models.config import Strict, TaskType

Round = Literal["boundary", "competency", "variation", "validation"]
ROUNDS: tuple[str, ...] = ("boundary", "competency", "variation", "validation")
# (min, max) questions per round, from the spec's eigenquestion framework
ROUND_LIMITS: dict[str, tuple[int, int]] = {
    "boundary": (3, 5),
    "competency": (5, 7),
    "variation": (5, 7),
    "validation": (3, 5),
}
Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
EvalKind = Literal["common", "edge", "out_of_scope", "lookalike"]
EVAL_KINDS: tuple[str, ...] = ("common", "edge", "out_of_scope", "lookalike")


class Statement(Strict):
    """One claim in an artifact, with the interview answers it came from (question ids)."""

    text: str = Field(min_length=1)
    provenance: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- interview


class Persona(Strict):
    role: str
    experience_years: int = Field(ge=0, le=70)
    why: str = Field(description="what makes them an effective communicator")
    domain_knowledge: float = Field(ge=0, le=10)
    conversational_efficiency: float = Field(ge=0, le=10)

    @property
    def score(self) -> float:
        return self.domain_knowledge * self.conversational_efficiency


class Question(Strict):
    id: str
    round: Round
    text: str
    suggestions: list[str] = Field(default_factory=list, max_length=4)
    answer: str | None = None
    skipped: bool = False
    asked_at: datetime | None = None
    answered_at: datetime | None = None
    source: Literal["llm", "bank"] = "llm"
    why: str | None = None


class Interview(Strict):
    personas: list[Persona] = Field(default_factory=list)
    persona_index: int | None = None
    persona_source: Literal["llm", "bank", "user"] = "llm"
    questions: list[Question] = Field(default_factory=list)
    offline: bool = False
    finished: bool = False
    closed_rounds: list[Round] = Field(default_factory=list)

    @property
    def persona(self) -> Persona | None:
        if self.persona_index is None or not (0 <= self.persona_index < len(self.personas)):
            return None
        return self.personas[self.persona_index]

    def answered(self) -> list[Question]:
        return [q for q in self.questions if q.answer is not None and not q.skipped]


# ---------------------------------------------------------------- knowledge artifacts


class Competencies(Strict):
    always: list[Statement] = Field(default_factory=list)
    never: list[Statement] = Field(default_factory=list)
    gray_areas: list[Statement] = Field(default_factory=list)
    common_errors: list[Statement] = Field(default_factory=list)


class FrameworkUse(Strict):
    name: str
    components: list[str] = Field(default_factory=list)
    terminology: list[str] = Field(default_factory=list)
    template: list[str] = Field(default_factory=list, description="ordered response steps")
    mapping: list[Statement] = Field(default_factory=list, description="how the task maps to the components")


class KnowledgeBase(Strict):
    task_definition: str
    task_type: TaskType = "instruction_following"
    constraints: list[Statement] = Field(default_factory=list)
    competencies: Competencies = Field(default_factory=Competencies)
    framework_mode: Literal["enabled", "disabled"] = "disabled"
    frameworks: list[FrameworkUse] = Field(default_factory=list)
    drafted_offline: bool = False


class ScopeBoundaries(Strict):
    will: list[Statement] = Field(default_factory=list)
    will_not: list[Statement] = Field(default_factory=list)
    hard_constraints: list[Statement] = Field(default_factory=list)
    refusal_message: str = Field("", description="the sentence every refusal opens with (core/refusal.py); "
                                                 "empty: the default")
    approved: bool = False
    approved_at: datetime | None = None


class Category(Strict):
    name: str
    description: str = ""
    weight: float = Field(1.0, gt=0)
    provenance: list[str] = Field(default_factory=list)


class DifficultyLevel(Strict):
    name: Difficulty
    description: str


class InputTaxonomy(Strict):
    categories: list[Category] = Field(default_factory=list)
    difficulty_levels: list[DifficultyLevel] = Field(default_factory=list)
    edge_cases: list[Statement] = Field(default_factory=list)


class CriterionDimension(Strict):
    name: str
    description: str = ""
    weight: float = Field(1.0, ge=0)


class QualityCriteria(Strict):
    good_output: list[Statement] = Field(default_factory=list)
    metrics: list[Statement] = Field(default_factory=list)
    minimum_acceptable: list[Statement] = Field(default_factory=list)
    dimensions: list[CriterionDimension] = Field(default_factory=list)


# ---------------------------------------------------------------- eval set


class EvalExample(Strict):
    id: str
    input: str = Field(min_length=1)
    reference: str = Field(min_length=1, description="reference answer, or the expected refusal")
    category: str
    difficulty: Difficulty
    kind: EvalKind
    rationale: str = ""
    provenance: str = ""
    should_refuse: bool = False


class EvalReview(Strict):
    """Spot-check ratings of the eval set, saved as they are made."""

    ratings: dict[str, Literal["good", "bad"]] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)
    rounds: int = 0
    approved: bool = False
    approved_at: datetime | None = None
    frozen_hash: str | None = None
