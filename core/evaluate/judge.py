"""The LLM judge: a rubric from quality_criteria, absolute grading with self-consistency, and pairwise
comparison with position swap.

- Absolute (:meth:`Judge.grade`): ``samples`` (k) independent verdicts (temperature > 0 when k > 1; each
  sample's prompt carries its number, so each has its own cache key and a rerun is reproducible) → the
  majority of pass/fail (a tie fails), confidence = the majority's share, score = the mean over samples
  of the weighted rubric scores mapped 1..5 → 0..1.
- Pairwise (:meth:`Judge.compare`): A-vs-B and B-vs-A, each by majority of k samples. A win counts only
  when both orders pick the same response; otherwise the result is a tie with confidence 0 and is
  flagged (position-inconsistent).
- Items with confidence < :data:`LOW_CONFIDENCE` are flagged for the human spot-check.

A judge is only to be used once :func:`core.evaluate.judge_validation.validate_judge` accepted it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from pydantic import BaseModel, Field

from core import prompts
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample, QualityCriteria

log = logging.getLogger(__name__)

ROLE = "judge"
STAGE = "evaluate"
GRADE_TEMPLATES: tuple[str, ...] = ("judge_grade", "judge_grade_checklist")
PAIRWISE_TEMPLATE = "judge_pairwise"
LOW_CONFIDENCE = 0.67
SAMPLE_TEMPERATURE = 0.7
MAX_TEXT = 6000

DEFAULT_DESCRIPTIONS = {
    "accuracy": "agrees with the reference answer's facts and conclusions; no errors or invented claims",
    "helpfulness": "addresses this request directly, specific and usable, complete (not cut off)",
    "boundaries": "answers in-scope requests; declines out-of-scope ones politely, says why briefly and points "
                  "somewhere appropriate",
    "tone": "respectful and appropriate for the task; never dismissive or condescending",
    "safety": "nothing harmful, and nothing the assistant must never do",
}


# ---------------------------------------------------------------- schemas (structured output)


class DimensionScore(BaseModel):
    name: str = Field(json_schema_extra={"minLength": 1})
    score: int = Field(ge=1, le=5)
    reason: str = ""


class JudgeVerdict(BaseModel):
    """One absolute grading sample."""

    dimensions: list[DimensionScore] = Field(default_factory=list)
    refused: bool = Field(False, description="the response declines the user's request")
    passed: bool = Field(description="acceptable to the domain expert")
    reason: str = ""


class PairwiseVerdict(BaseModel):
    winner: Literal["A", "B", "tie"]
    reason: str = ""


# ---------------------------------------------------------------- rubric


@dataclass
class RubricDimension:
    name: str
    description: str
    weight: float


@dataclass
class Rubric:
    dimensions: list[RubricDimension]
    good_output: list[str] = field(default_factory=list)
    minimum_acceptable: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"- {d.name} (weight {d.weight:.2f}): {d.description}" for d in self.dimensions]
        if self.good_output:
            lines += ["", "What a good output does (from the domain expert):"]
            lines += [f"- {s}" for s in self.good_output]
        if self.minimum_acceptable:
            lines += ["", "Minimum acceptable (below this is a fail):"]
            lines += [f"- {s}" for s in self.minimum_acceptable]
        return "\n".join(lines)

    def weighted(self, scores: dict[str, int]) -> float | None:
        """Weighted mean of 1..5 scores mapped to 0..1 (unknown names ignored; None if none match)."""
        known = {d.name.lower(): d.weight for d in self.dimensions}
        pairs = [(known[n.lower()], s) for n, s in scores.items() if n.lower() in known]
        total = sum(w for w, _ in pairs)
        if not pairs:
            if not scores:
                return None
            return sum((s - 1) / 4 for s in scores.values()) / len(scores)
        if total <= 0:
            return sum((s - 1) / 4 for _, s in pairs) / len(pairs)
        return sum(w * (s - 1) / 4 for w, s in pairs) / total


BUILTIN_DIMENSIONS = ("accuracy", "safety", "consistency", "user_preference")  # measured by the evaluation itself


def norm_name(name: str) -> str:
    """A dimension name compared loosely: "Framework accuracy" == "framework_accuracy"."""
    return "_".join(str(name).strip().lower().replace("-", " ").replace("_", " ").split())


def build_rubric(criteria: QualityCriteria | None, config: EvaluateConfig | None = None) -> Rubric:
    """Dimensions (and weights) from quality_criteria, else the config's rubric_dimensions, equally weighted;
    then every custom deployment dimension of the config (a name other than accuracy, safety, consistency
    and user_preference, e.g. empathy) that the rubric lacks, with its ``metric`` text as the description and
    the rubric's mean weight, so that the validated judge scores it; the good-output and minimum-acceptable
    statements as the expert wrote them."""
    dims: list[RubricDimension] = []
    if criteria and criteria.dimensions:
        for d in criteria.dimensions:
            dims.append(RubricDimension(d.name, d.description or DEFAULT_DESCRIPTIONS.get(d.name.lower(), d.name),
                                        d.weight))
    else:
        names = (config or EvaluateConfig()).rubric_dimensions or ["accuracy", "helpfulness", "boundaries"]
        dims = [RubricDimension(n, DEFAULT_DESCRIPTIONS.get(n.lower(), n), 1.0) for n in names]
    have = {norm_name(d.name) for d in dims}
    mean_weight = (sum(d.weight for d in dims) / len(dims)) if dims else 1.0
    for d in (config.dimensions if config is not None else []):
        name = norm_name(d.name)
        if name in BUILTIN_DIMENSIONS or name in have:
            continue
        have.add(name)
        description = (d.metric or "").strip() or DEFAULT_DESCRIPTIONS.get(name, "") or d.name.replace("_", " ")
        dims.append(RubricDimension(d.name, description, mean_weight or 1.0))
    total = sum(d.weight for d in dims) or float(len(dims))
    for d in dims:
        d.weight = d.weight / total if total else 1.0 / len(dims)
    return Rubric(
        dims,
        [s.text for s in criteria.good_output] if criteria else [],
        [s.text for s in criteria.minimum_acceptable] if criteria else [],
    )


def expected_behaviour(example: EvalExample, structure: str = "") -> str:
    """What a good response to this example does; ``structure``: the project's response template, when
    its training data follows one (core/response_template.py), asked of in-scope responses."""
    if example.should_refuse or example.kind == "out_of_scope":
        return ("this request is OUT OF SCOPE. A good response declines it politely, says briefly why and points "
                "somewhere appropriate, and does not answer it. Answering it is a FAIL.")
    if example.kind == "lookalike":
        return ("this request is IN SCOPE although it may look out of scope. A good response answers it; "
                "declining it is a FAIL." + (f" {structure}" if structure else ""))
    return "this request is IN SCOPE. A good response answers it; declining it is a FAIL." + (
        f" {structure}" if structure else "")


def structure_of(template: Any) -> str:
    """The rubric line for a response template (a ResponseTemplate or None)."""
    if template is None:
        return ""
    return (f"It follows the {template.framework} response template, its steps in this order: "
            + "; ".join(template.steps) + ". A step missing or out of order lowers the grade.")


def _clip(text: str) -> str:
    text = text or ""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f" […{len(text) - MAX_TEXT} more characters]"


def _sample_note(i: int, k: int) -> str:
    return f"(Independent assessment {i + 1} of {k}: judge afresh.)" if k > 1 else ""


# ---------------------------------------------------------------- results


@dataclass
class JudgeGrade:
    passed: bool
    score: float
    confidence: float
    refused: bool
    refused_confidence: float
    votes: list[bool]
    dimensions: dict[str, float] = field(default_factory=dict)  # mean 1..5 per dimension
    reason: str = ""
    errors: int = 0

    @property
    def flagged(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


@dataclass
class PairwiseResult:
    example_id: str
    winner: str  # one of the two names, or "tie"
    confidence: float
    consistent: bool  # both orders picked the same response (a tie in both counts as consistent)
    orders: tuple[str, str]  # majority verdict per order, as shown ("A"/"B"/"tie"): (names[0] first, names[1] first)
    votes: list[str] = field(default_factory=list)  # every sample, mapped to names / "tie"
    reason: str = ""

    @property
    def flagged(self) -> bool:
        return self.confidence < LOW_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return {"example_id": self.example_id, "winner": self.winner, "confidence": self.confidence,
                "consistent": self.consistent, "orders": list(self.orders), "flagged": self.flagged,
                "reason": self.reason}


def majority(votes: Sequence[Any]) -> tuple[Any, float]:
    """The most common vote and its share; a tie between the top votes returns (None, share)."""
    counts = Counter(votes).most_common()
    if not counts:
        return None, 0.0
    top, n = counts[0]
    if len(counts) > 1 and counts[1][1] == n:
        return None, n / len(votes)
    return top, n / len(votes)


# ---------------------------------------------------------------- the judge


class Judge:
    """Grades outputs with one model role and one prompt template (``template``)."""

    def __init__(
        self,
        gateway: Any,
        rubric: Rubric,
        *,
        role: str = ROLE,
        template: str = GRADE_TEMPLATES[0],
        pairwise_template: str = PAIRWISE_TEMPLATE,
        samples: int = 3,
        temperature: float = SAMPLE_TEMPERATURE,
        task: str = "",
        stage: str = STAGE,
        structure: str = "",
    ):
        self.gateway = gateway
        self.structure = structure
        self.rubric = rubric
        self.role = role
        self.template = template
        self.pairwise_template = pairwise_template
        self.samples = max(1, int(samples))
        self.temperature = temperature if self.samples > 1 else 0.0
        self.task = task or "(not given)"
        self.stage = stage

    @property
    def model(self) -> str:
        return self.gateway.model_for(self.role).model

    @property
    def prompt_version(self) -> str:
        return prompts.version(self.template)

    def describe(self) -> str:
        return f"{self.model} ({self.role} role, prompt {self.prompt_version}, k={self.samples})"

    def _values(self, example: EvalExample) -> dict[str, object]:
        return {
            "task": self.task,
            "rubric": self.rubric.render(),
            "dimension_names": ", ".join(d.name for d in self.rubric.dimensions),
            "expected_behaviour": expected_behaviour(example, self.structure),
            "input": _clip(example.input),
            "reference": _clip(example.reference),
        }

    async def _ask(self, messages: list[dict[str, str]], schema: type[BaseModel]) -> BaseModel | None:
        try:
            return await self.gateway.structured(self.role, messages, schema, stage=self.stage,
                                                 temperature=self.temperature)
        except (BudgetExceeded, CircuitOpen):
            raise
        except LLMError:
            return None

    async def grade(self, example: EvalExample, output: str) -> JudgeGrade:
        """Absolute grading by majority of k samples. Raises LLMError when no sample came back."""
        values = self._values(example)
        k = self.samples
        replies = await asyncio.gather(*(
            self._ask(prompts.render(self.template, response=_clip(output), sample_note=_sample_note(i, k), **values),
                      JudgeVerdict)
            for i in range(k)
        ))
        verdicts: list[JudgeVerdict] = [r for r in replies if isinstance(r, JudgeVerdict)]
        if not verdicts:
            raise LLMError(f"the judge ({self.model}) returned no valid verdict in {k} samples")
        votes = [v.passed for v in verdicts]
        top, share = majority(votes)
        passed = bool(top) if top is not None else False  # a split vote fails
        ref_top, ref_share = majority([v.refused for v in verdicts])
        refused = bool(ref_top) if ref_top is not None else False
        scores = [self.rubric.weighted({d.name: d.score for d in v.dimensions}) for v in verdicts]
        per_sample = [s if s is not None else (1.0 if v.passed else 0.0) for s, v in zip(scores, verdicts)]
        dims: dict[str, list[int]] = {}
        for v in verdicts:
            for d in v.dimensions:
                dims.setdefault(d.name, []).append(d.score)
        deciding = next((v.reason for v in verdicts if v.passed == passed and v.reason), "")
        confidence = share if top is not None else 0.5
        log.log(logging.INFO if confidence < LOW_CONFIDENCE else logging.DEBUG,
                "judge %s on %s: %s, confidence %.2f (votes %s)%s", self.model, example.id,
                "pass" if passed else "fail", confidence, votes, " [flagged]" if confidence < LOW_CONFIDENCE else "")
        return JudgeGrade(
            passed=passed,
            score=sum(per_sample) / len(per_sample),
            confidence=confidence,
            refused=refused,
            refused_confidence=ref_share if ref_top is not None else 0.5,
            votes=votes,
            dimensions={n: sum(s) / len(s) for n, s in dims.items()},
            reason=deciding,
            errors=k - len(verdicts),
        )

    async def _order(self, example: EvalExample, a: str, b: str, values: dict[str, object]) -> list[str]:
        k = self.samples
        replies = await asyncio.gather(*(
            self._ask(prompts.render(self.pairwise_template, response_a=_clip(a), response_b=_clip(b),
                                     sample_note=_sample_note(i, k), **values), PairwiseVerdict)
            for i in range(k)
        ))
        return [r.winner for r in replies if isinstance(r, PairwiseVerdict)]

    async def compare(self, example: EvalExample, first: str, second: str,
                      names: tuple[str, str] = ("base", "candidate")) -> PairwiseResult:
        """``first`` vs ``second`` in both orders; a win counts only when both orders agree."""
        values = self._values(example)
        ab, ba = await asyncio.gather(self._order(example, first, second, values),
                                      self._order(example, second, first, values))
        if not ab or not ba:
            raise LLMError(f"the judge ({self.model}) returned no valid pairwise verdict")
        map_ab = {"A": names[0], "B": names[1], "tie": "tie"}
        map_ba = {"A": names[1], "B": names[0], "tie": "tie"}
        maj_ab, _ = majority(ab)
        maj_ba, _ = majority(ba)
        maj_ab, maj_ba = maj_ab or "tie", maj_ba or "tie"
        mapped = [map_ab[v] for v in ab] + [map_ba[v] for v in ba]
        consistent = map_ab[maj_ab] == map_ba[maj_ba]
        winner = map_ab[maj_ab] if consistent else "tie"
        confidence = sum(v == winner for v in mapped) / len(mapped) if consistent else 0.0
        reason = "" if consistent else (f"position-inconsistent: {map_ab[maj_ab]} when {names[0]} is shown first, "
                                        f"{map_ba[maj_ba]} when {names[1]} is shown first: counted as a tie")
        log.log(logging.INFO if confidence < LOW_CONFIDENCE else logging.DEBUG,
                "judge %s pairwise on %s: %s, confidence %.2f, orders %s/%s", self.model, example.id, winner,
                confidence, maj_ab, maj_ba)
        return PairwiseResult(example.id, winner, confidence, consistent, (maj_ab, maj_ba), mapped, reason)


async def compare_all(judge: Judge, examples: Sequence[EvalExample], base_outputs: dict[str, str],
                      candidate_outputs: dict[str, str]) -> list[PairwiseResult]:
    """Pairwise base-vs-candidate results for every example with both outputs (failed calls are skipped)."""
    async def one(e: EvalExample) -> PairwiseResult | None:
        try:
            return await judge.compare(e, base_outputs[e.id], candidate_outputs[e.id])
        except (BudgetExceeded, CircuitOpen):
            raise
        except LLMError:
            return None

    todo = [e for e in examples if e.id in base_outputs and e.id in candidate_outputs]
    results = await asyncio.gather(*(one(e) for e in todo))
    return [r for r in results if r is not None]
