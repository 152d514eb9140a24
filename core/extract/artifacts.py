"""Draft the knowledge artifacts from the interview transcript.

knowledge_base, scope_boundaries, input_taxonomy and quality_criteria are drafted by the interviewer
model from the transcript, every statement citing the answers it came from. Without a usable model
they are drafted from the answers themselves (each answer is routed by its round and question) and
left for the expert to edit. All four are built in memory first and only then written, each atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from core import prompts
from core.errors import StageNotReady
from core.models.config import TASK_TYPES
from core.models.knowledge import (
    Category,
    Competencies,
    CriterionDimension,
    DifficultyLevel,
    InputTaxonomy,
    Interview,
    KnowledgeBase,
    QualityCriteria,
    Question,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, CRITERIA, INTERVIEW, KNOWLEDGE_BASE, TAXONOMY, Project

# ---------------------------------------------------------------- what the model returns


class Cited(BaseModel):
    text: str = Field(min_length=3)
    sources: list[str] = Field(default_factory=list)


class ScopeDraft(BaseModel):
    task_definition: str = Field(min_length=10)
    task_type: Literal["classification", "instruction_following", "transformation", "preference", "reasoning"]
    constraints: list[Cited] = Field(default_factory=list)
    always: list[Cited] = Field(min_length=1)
    never: list[Cited] = Field(min_length=1)
    gray_areas: list[Cited] = Field(default_factory=list)
    common_errors: list[Cited] = Field(default_factory=list)
    will: list[Cited] = Field(min_length=2)
    will_not: list[Cited] = Field(min_length=1)
    hard_constraints: list[Cited] = Field(default_factory=list)


class DraftCategory(BaseModel):
    name: str = Field(min_length=2, max_length=80)
    description: str = ""
    weight: float = Field(1.0, gt=0)
    sources: list[str] = Field(default_factory=list)


class DraftDifficulty(BaseModel):
    easy: str = Field(min_length=3)
    medium: str = Field(min_length=3)
    hard: str = Field(min_length=3)


class DraftDimension(BaseModel):
    name: str = Field(min_length=2, max_length=60)
    description: str = ""
    weight: float = Field(1.0, ge=0)


class TaxonomyDraft(BaseModel):
    categories: list[DraftCategory] = Field(min_length=2, max_length=12)
    difficulty: DraftDifficulty
    edge_cases: list[Cited] = Field(min_length=1)
    good_output: list[Cited] = Field(min_length=1)
    metrics: list[Cited] = Field(default_factory=list)
    minimum_acceptable: list[Cited] = Field(default_factory=list)
    dimensions: list[DraftDimension] = Field(min_length=1, max_length=8)


@dataclass
class Artifacts:
    knowledge_base: KnowledgeBase
    boundaries: ScopeBoundaries
    taxonomy: InputTaxonomy
    criteria: QualityCriteria
    source: Literal["llm", "answers"]
    note: str = ""


# ---------------------------------------------------------------- entry point


def draft_artifacts(project: Project, gateway=None) -> Artifacts:
    """Draft and save the four artifacts from the interview; mark the 'artifacts' step."""
    interview = project.read_or(INTERVIEW, Interview)
    if interview is None or not interview.answered():
        raise StageNotReady(f"no interview answers yet: run tunesmith interview {project.slug}")
    answered = interview.answered()
    artifacts: Artifacts | None = None
    note = ""
    if gateway is not None and gateway.configured("interviewer"):
        from core.llm.errors import LLMError

        try:
            from core.llm.gateway import run_sync

            artifacts = run_sync(_draft_with_llm(project, gateway, interview, answered))
        except LLMError as exc:
            note = f"the model's drafts were unusable ({exc}); drafted from the answers instead"
    else:
        note = "no LLM configured: drafted from the answers; edit them before approving"
    if artifacts is None:
        artifacts = draft_from_answers(project, answered)
        artifacts.note = note
    artifacts.knowledge_base.frameworks = _frameworks(project, interview, gateway)
    artifacts.knowledge_base.framework_mode = (
        "enabled" if artifacts.knowledge_base.frameworks else project.meta.config.extract.framework_mode
    )
    save(project, artifacts)
    return artifacts


def save(project: Project, artifacts: Artifacts) -> None:
    with project.writing():
        old = project.read_or(BOUNDARIES, ScopeBoundaries)
        if old is not None and old.approved:
            project.mark("extract", "boundaries_approved", done=False)
        project.write(KNOWLEDGE_BASE, artifacts.knowledge_base)
        project.write(TAXONOMY, artifacts.taxonomy)
        project.write(CRITERIA, artifacts.criteria)
        project.write(BOUNDARIES, artifacts.boundaries)
        project.mark("extract", "artifacts")


def _frameworks(project: Project, interview: Interview, gateway=None):
    from core.extract.frameworks import load_frameworks

    usable = gateway if gateway is not None and gateway.configured("interviewer") and not interview.offline else None
    return load_frameworks(project, interview, gateway=usable)


# ---------------------------------------------------------------- with the model


def transcript(questions: list[Question]) -> str:
    lines = []
    for q in questions:
        lines.append(f"[{q.id}] ({q.round}) {q.text}\n    → {q.answer}")
    return "\n".join(lines)


async def _draft_with_llm(project: Project, gateway, interview: Interview, answered: list[Question]) -> Artifacts:
    import asyncio

    persona = interview.persona
    values = {
        "task": project.meta.task,
        "persona": f"{persona.role} ({persona.experience_years} years)" if persona else "a domain expert",
        "transcript": transcript(answered),
    }
    scope, tax = await asyncio.gather(
        gateway.structured("interviewer", prompts.render("artifacts_scope", **values), ScopeDraft, stage="extract"),
        gateway.structured("interviewer", prompts.render("artifacts_taxonomy", **values), TaxonomyDraft,
                           stage="extract"),
    )
    ids = {q.id for q in answered}
    return from_drafts(project, scope, tax, ids)


def _st(items: list[Cited], ids: set[str]) -> list[Statement]:
    out = []
    for c in items:
        text = c.text.strip()
        if text:
            out.append(Statement(text=text, provenance=[s for s in c.sources if s in ids]))
    return out


def from_drafts(project: Project, scope: ScopeDraft, tax: TaxonomyDraft, ids: set[str]) -> Artifacts:
    kb = KnowledgeBase(
        task_definition=scope.task_definition.strip(),
        task_type=scope.task_type if scope.task_type in TASK_TYPES else project.meta.task_type,
        constraints=_st(scope.constraints, ids),
        competencies=Competencies(
            always=_st(scope.always, ids), never=_st(scope.never, ids),
            gray_areas=_st(scope.gray_areas, ids), common_errors=_st(scope.common_errors, ids),
        ),
    )
    bounds = ScopeBoundaries(will=_st(scope.will, ids), will_not=_st(scope.will_not, ids),
                             hard_constraints=_st(scope.hard_constraints, ids))
    seen: set[str] = set()
    categories = []
    for c in tax.categories:
        key = c.name.strip().lower()
        if key and key not in seen:
            seen.add(key)
            categories.append(Category(name=c.name.strip(), description=c.description.strip(), weight=c.weight,
                                       provenance=[s for s in c.sources if s in ids]))
    taxonomy = InputTaxonomy(
        categories=categories,
        difficulty_levels=[DifficultyLevel(name="easy", description=tax.difficulty.easy),
                           DifficultyLevel(name="medium", description=tax.difficulty.medium),
                           DifficultyLevel(name="hard", description=tax.difficulty.hard)],
        edge_cases=_st(tax.edge_cases, ids),
    )
    criteria = QualityCriteria(
        good_output=_st(tax.good_output, ids), metrics=_st(tax.metrics, ids),
        minimum_acceptable=_st(tax.minimum_acceptable, ids),
        dimensions=[CriterionDimension(name=d.name.strip(), description=d.description, weight=d.weight)
                    for d in tax.dimensions],
    )
    return Artifacts(kb, bounds, taxonomy, criteria, source="llm")


# ---------------------------------------------------------------- from the answers alone

# (round, pattern in the question) -> slot; first match wins, the round's default comes last.
_ROUTES: list[tuple[str, str, str]] = [
    ("boundary", r"hard constraint|legal|ethic|compliance|regulat|non-negotiable", "hard_constraints"),
    ("boundary", r"\bout of scope\b|will not|\bdecline|\brefus|hand off|\bexclud", "will_not"),
    ("boundary", r"\baudience\b|who will be asking|who (?:is|are) the users", "audience"),
    ("boundary", r".", "will"),
    ("competency", r"framework|approach|methodolog", "framework"),
    ("competency", r"\bnever\b|must not|\bavoid\b(?!.*error)", "never"),
    ("competency", r"gray|grey|judg|ambigu|depends", "gray_areas"),
    ("competency", r"error|mistake|wrong|pitfall", "common_errors"),
    ("competency", r".", "always"),
    ("variation", r"categor|kinds? of|types? of|main input", "categories"),
    ("variation", r"easy|hard|difficult", "difficulty"),
    ("variation", r".", "edge_cases"),
    ("validation", r"metric|measure", "metrics"),
    ("validation", r"minimum|acceptable|threshold|bar\b", "minimum_acceptable"),
    ("validation", r".", "good_output"),
]

_SPLIT = re.compile(r"\s*(?:\n+|;\s*|\s+\u2022\s+|^\s*[-*]\s+)\s*", re.MULTILINE)


def split_items(answer: str, commas: bool = False) -> list[str]:
    parts = [p.strip(" -*\u2022\t.") for p in _SPLIT.split(answer)]
    if commas:
        parts = [q.strip(" .") for p in parts for q in re.split(r",\s*|\s+and\s+", p)]
    return [p for p in parts if len(p) >= 2]


def route(q: Question) -> str:
    """The artifact slot an answer feeds, from its round and what the question asks (and why)."""
    for text in (q.text, q.why or ""):
        for rnd, pattern, slot in _ROUTES:
            if q.round == rnd and pattern != "." and re.search(pattern, text, re.IGNORECASE):
                return slot
    for rnd, pattern, slot in _ROUTES:
        if q.round == rnd and pattern == ".":
            return slot
    return "will"


def draft_from_answers(project: Project, answered: list[Question]) -> Artifacts:
    slots: dict[str, list[Statement]] = {}
    for q in answered:
        slot = route(q)
        for item in split_items(q.answer or "", commas=slot == "categories"):
            slots.setdefault(slot, []).append(Statement(text=item, provenance=[q.id]))
    get = lambda name: slots.get(name, [])  # noqa: E731
    task = project.meta.task
    audience = "; ".join(st.text for st in get("audience"))
    kb = KnowledgeBase(
        task_definition=f"{task}. Audience: {audience}." if audience else task,
        task_type=project.meta.task_type,
        constraints=get("hard_constraints"),
        competencies=Competencies(always=get("always"), never=get("never"), gray_areas=get("gray_areas"),
                                  common_errors=get("common_errors")),
        drafted_offline=True,
    )
    bounds = ScopeBoundaries(will=get("will") or [Statement(text=task)], will_not=get("will_not"),
                             hard_constraints=get("hard_constraints"))
    categories = [Category(name=s.text[:80], provenance=s.provenance) for s in get("categories")]
    if not categories:
        categories = [Category(name="general", description=f"typical requests for: {task}")]
    difficulty_text = " ".join(s.text for s in get("difficulty"))
    taxonomy = InputTaxonomy(
        categories=categories,
        difficulty_levels=[
            DifficultyLevel(name="easy", description="a clear, common request with all details given"),
            DifficultyLevel(name="medium", description=difficulty_text or "needs some judgment or missing details"),
            DifficultyLevel(name="hard", description="ambiguous, multi-part or close to a boundary"),
        ],
        edge_cases=get("edge_cases"),
    )
    criteria = QualityCriteria(
        good_output=get("good_output"), metrics=get("metrics"), minimum_acceptable=get("minimum_acceptable"),
        dimensions=[CriterionDimension(name=d, weight=1.0)
                    for d in project.meta.config.evaluate.rubric_dimensions],
    )
    return Artifacts(kb, bounds, taxonomy, criteria, source="answers")
