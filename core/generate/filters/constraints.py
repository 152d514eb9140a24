"""Constraint compliance, judged against the APPROVED scope boundaries: in-scope examples stay in scope,
refusal examples really refuse, and no response does what the WILL NOT list, the hard constraints or
the knowledge base's NEVER list forbid.

Offline (always): the project's refusal rule (:mod:`core.refusal`, ``ctx.refusal``).
A refusal example whose response does not decline fails ``refusal_missing``; a common (in-scope)
example whose response opens by declining fails ``unexpected_refusal``. GRPO has no response: a refusal
prompt must carry ``should_refuse = True`` when the column is there.

With a judge (a gateway with the judge role): one structured call per batch of ~10 examples
(``filter_constraints`` prompt) returns per example {in_scope, refuses, violates}; the judge's verdict
takes precedence over the heuristic. Reason codes: ``refusal_missing``, ``unexpected_refusal``,
``out_of_scope_content`` (an in-scope example whose request is out of scope), ``violates_never``.
Score: 1.0 pass, 0.0 fail (0.5 when only the heuristic judged a refusal it could not find).
"""

from __future__ import annotations

from typing import Any, Sequence

from pydantic import BaseModel, Field

from core.generate.filters.base import FilterContext, FilterResult, fail, judge_available, ok
from core.generate.filters.judge import ask_batches, block
from core.generate.records import good_response, user_text
from core.models.data import TrainingExample

NAME = "constraints"
REASONS = ("refusal_missing", "unexpected_refusal", "out_of_scope_content", "violates_never")
TEMPLATE = "filter_constraints"


class ConstraintVerdict(BaseModel):
    index: int = Field(description="the example's number", json_schema_extra={"minimum": 1})
    in_scope: bool = Field(description="the user's request is within what the assistant WILL do")
    refuses: bool = Field(description="the response declines the request")
    violates: str | None = Field(None, description="the WILL NOT / hard constraint / NEVER statement broken, or null")
    reason: str = ""


class ConstraintVerdicts(BaseModel):
    verdicts: list[ConstraintVerdict] = Field(default_factory=list, json_schema_extra={"minItems": 1})


def _statements(items: Any, numbered: bool = False) -> str:
    texts = [getattr(s, "text", str(s)) for s in (items or [])]
    if not texts:
        return "(none)"
    if numbered:
        return "\n".join(f"{i}. {t}" for i, t in enumerate(texts, 1))
    return "\n".join(f"- {t}" for t in texts)


def boundary_values(ctx: FilterContext) -> dict[str, str]:
    b, kb = ctx.boundaries, ctx.knowledge
    task = getattr(getattr(ctx.project, "meta", None), "task", "") or (kb.task_definition if kb else "")
    return {
        "task": task,
        "will": _statements(b.will if b else []),
        "will_not": _statements(b.will_not if b else [], numbered=True),
        "hard": _statements(b.hard_constraints if b else []),
        "never": _statements(kb.competencies.never if kb else []),
    }


def heuristic(example: TrainingExample, ctx: FilterContext) -> FilterResult:
    rec = example.record
    if example.format == "grpo":
        if example.kind == "refusal" and "should_refuse" in rec and not rec["should_refuse"]:
            return fail(NAME, "refusal_missing", 0.0, "a refusal prompt without should_refuse = true")
        return ok(NAME, 1.0, "prompt only: heuristic")
    response = good_response(rec)
    if response is None:
        return ok(NAME, 1.0, "no desirable response to check")
    if example.kind == "refusal":
        if not ctx.refusal.refuses(response):
            return fail(NAME, "refusal_missing", 0.5, "no refusal phrase in the response (heuristic)")
        return ok(NAME, 1.0, "refuses (heuristic)")
    if example.kind == "common" and ctx.refusal.refuses_upfront(response):
        return fail(NAME, "unexpected_refusal", 0.0, "an in-scope example whose response declines (heuristic)")
    return ok(NAME, 1.0, "heuristic")


def from_verdict(example: TrainingExample, v: ConstraintVerdict) -> FilterResult:
    why = f" ({v.reason})" if v.reason else ""
    if v.violates:
        return fail(NAME, "violates_never", 0.0, f"judge: violates {v.violates}{why}")
    if example.format == "grpo":
        if example.kind == "refusal" and v.in_scope:
            return fail(NAME, "refusal_missing", 0.0, f"judge: a refusal prompt that is in scope{why}")
        if example.kind != "refusal" and not v.in_scope:
            return fail(NAME, "out_of_scope_content", 0.0, f"judge: the prompt is out of scope{why}")
        return ok(NAME, 1.0, "judge")
    if example.kind == "refusal":
        if not v.refuses:
            return fail(NAME, "refusal_missing", 0.0, f"judge: the response does not decline{why}")
        return ok(NAME, 1.0, "judge: refuses")
    if not v.in_scope:
        return fail(NAME, "out_of_scope_content", 0.0, f"judge: the request is out of scope{why}")
    if v.refuses:
        return fail(NAME, "unexpected_refusal", 0.0, f"judge: an in-scope request was declined{why}")
    return ok(NAME, 1.0, "judge")


def _render(i: int, e: TrainingExample) -> str:
    response = good_response(e.record)
    return block(i, [
        ("Kind", e.kind),
        ("Category", e.category),
        ("User input", user_text(e.record)),
        ("Response", "(none: prompt only)" if response is None else response),
    ])


class ConstraintFilter:
    name = NAME

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        offline = [heuristic(e, ctx) for e in examples]
        if not examples or not judge_available(ctx):
            return offline
        # KTO undesirable completions have no desirable response: the heuristic result stands
        ask = [i for i, e in enumerate(examples) if e.format == "grpo" or good_response(e.record) is not None]
        verdicts, errors = await ask_batches(
            ctx.gateway, TEMPLATE, ConstraintVerdicts, [examples[i] for i in ask], _render,
            lambda r: r.verdicts, **boundary_values(ctx),
        )
        out = list(offline)
        note = f"; judge unavailable ({errors[0]})" if errors else "; judge gave no verdict"
        for i, v in zip(ask, verdicts):
            if v is not None:
                out[i] = from_verdict(examples[i], v)
            else:
                r = offline[i]
                out[i] = r.model_copy(update={"detail": r.detail + note})
        return out
