"""The spec's domain-specific filters, each run only when ``quality_thresholds.custom_filters`` enables it:

- ``empathy_markers`` (therapy, support): the good response validates the user. Per-example score 0..1
  (:func:`core.generate.filters.text.empathy_score`: 0.6 for any validating phrase from a fixed lexicon,
  +0.2 when the response opens with one, +0.2 for a second distinct one); passes when ≥ the entry's
  threshold (default 0.8). Refusals are held to the refusal rule instead. Reason: ``low_empathy``.
- ``code_executability``: see :mod:`core.generate.filters.code_exec`.
- ``factual_accuracy`` (knowledge tasks): the judge checks each good response against the knowledge base
  (constraints, competencies, framework mappings) in batches of ~10; passes when accurate and the
  judge's confidence ≥ the threshold (default 0.5). Without a judge or a knowledge base it passes, with
  the detail saying it was skipped. Reason: ``factual_error``.
- ``framework_adherence`` (template mode): the good response covers the framework template's steps in
  order; score = coverage × share of consecutive steps in template order; passes when ≥ the threshold
  (default 0.8). Refusals and prompt-only examples pass. Reason: ``low_framework_adherence``.
"""

from __future__ import annotations

from typing import Any, Sequence

from pydantic import BaseModel, Field

from core.generate.filters.base import FilterContext, FilterResult, SimpleFilter, custom_setting, fail, judge_available, ok
from core.generate.filters.judge import ask_batches, block
from core.generate.filters.text import empathy_markers, empathy_score, step_coverage
from core.generate.records import good_response, user_text
from core.models.data import TrainingExample

EMPATHY = "empathy_markers"
FACTUAL = "factual_accuracy"
FRAMEWORK = "framework_adherence"
REASONS = {EMPATHY: ("low_empathy",), FACTUAL: ("factual_error",), FRAMEWORK: ("low_framework_adherence",)}
DEFAULT_THRESHOLDS = {EMPATHY: 0.8, FACTUAL: 0.5, FRAMEWORK: 0.8}


def threshold(ctx: FilterContext, name: str) -> float:
    entry = custom_setting(ctx, name)
    value = getattr(entry, "threshold", None) if entry is not None else None
    return float(value) if value is not None else DEFAULT_THRESHOLDS[name]


class EmpathyFilter(SimpleFilter):
    name = EMPATHY

    def check(self, example: TrainingExample, ctx: FilterContext) -> FilterResult:
        response = good_response(example.record)
        if response is None:
            return ok(EMPATHY, None, "no desirable response")
        if example.kind == "refusal":  # held to the refusal rule (core/refusal.py) instead
            return ok(EMPATHY, None, "refusals are not held to the empathy markers")
        limit = threshold(ctx, EMPATHY)
        score = empathy_score(response)
        found, early = empathy_markers(response)
        if score < limit:
            what = "no validating phrase" if not found else (
                f"{len(found)} validating phrase{'s' if len(found) > 1 else ''}"
                f"{'' if early else ', none in the opening'}")
            return fail(EMPATHY, "low_empathy", score, f"empathy {score:.1f} < {limit:g}: {what}")
        return ok(EMPATHY, score, ", ".join(repr(m) for m in found[:3]))


class FrameworkAdherenceFilter(SimpleFilter):
    name = FRAMEWORK

    def check(self, example: TrainingExample, ctx: FilterContext) -> FilterResult:
        if not ctx.template_steps:
            return ok(FRAMEWORK, None, "skipped: no framework template")
        response = good_response(example.record)
        if example.kind == "refusal" or response is None:
            return ok(FRAMEWORK, None, "not held to the template")
        coverage, order, missing = step_coverage(ctx.template_steps, response)
        score = round(coverage * order, 4)
        limit = threshold(ctx, FRAMEWORK)
        if score < limit:
            parts = [f"{coverage:.0%} of the steps"]
            if missing:
                parts.append(f"missing: {'; '.join(missing)}")
            if order < 1.0:
                parts.append("steps out of order")
            return fail(FRAMEWORK, "low_framework_adherence", score, f"adherence {score:.2f} < {limit:g}: {', '.join(parts)}")
        return ok(FRAMEWORK, score)


# ---------------------------------------------------------------- factual accuracy

TEMPLATE = "filter_factual"


class FactualVerdict(BaseModel):
    index: int = Field(json_schema_extra={"minimum": 1})
    accurate: bool
    score: float = Field(1.0, ge=0.0, le=1.0)
    contradicts: str | None = None
    reason: str = ""


class FactualVerdicts(BaseModel):
    verdicts: list[FactualVerdict] = Field(default_factory=list, json_schema_extra={"minItems": 1})


def knowledge_text(kb: Any) -> str:
    """The knowledge base as the fact-checker reads it."""
    if kb is None:
        return ""
    lines = [f"Task: {kb.task_definition}"]

    def section(title: str, items: Any) -> None:
        texts = [s.text for s in items or []]
        if texts:
            lines.append(f"{title}:")
            lines.extend(f"- {t}" for t in texts)

    section("Constraints", kb.constraints)
    section("Always", kb.competencies.always)
    section("Never", kb.competencies.never)
    section("Gray areas", kb.competencies.gray_areas)
    section("Common errors (advice that is wrong)", kb.competencies.common_errors)
    for fw in kb.frameworks:
        section(f"Framework {fw.name}", fw.mapping)
    return "\n".join(lines)


def _render(i: int, e: TrainingExample) -> str:
    return block(i, [("User input", user_text(e.record)), ("Response", good_response(e.record) or "")])


class FactualAccuracyFilter:
    name = FACTUAL

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        knowledge = knowledge_text(ctx.knowledge)
        if not knowledge:
            return [ok(FACTUAL, None, "skipped: no knowledge base") for _ in examples]
        if not judge_available(ctx):
            return [ok(FACTUAL, None, "skipped: no judge configured (offline)") for _ in examples]
        ask = [i for i, e in enumerate(examples) if e.kind != "refusal" and good_response(e.record)]
        out = [ok(FACTUAL, None, "nothing to check") for _ in examples]
        if not ask:
            return out
        verdicts, errors = await ask_batches(
            ctx.gateway, TEMPLATE, FactualVerdicts, [examples[i] for i in ask], _render, lambda r: r.verdicts,
            task=getattr(getattr(ctx.project, "meta", None), "task", "") or ctx.knowledge.task_definition,
            knowledge=knowledge,
        )
        limit = threshold(ctx, FACTUAL)
        for i, v in zip(ask, verdicts):
            if v is None:
                why = errors[0] if errors else "no verdict"
                out[i] = ok(FACTUAL, None, f"skipped: judge unavailable ({why})")
            elif not v.accurate or v.score < limit:
                what = v.contradicts or v.reason or "judged inaccurate"
                out[i] = fail(FACTUAL, "factual_error", v.score, f"judge: {what}")
            else:
                out[i] = ok(FACTUAL, v.score, "judge")
        return out
