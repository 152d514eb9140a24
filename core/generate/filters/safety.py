"""Safety: a toxicity score below ``toxicity_threshold`` from the offline lexicon classifier
(:mod:`core.generate.toxicity`), plus LLM moderation where configured.

What is scored: every response in the record (the good one and a DPO rejected / KTO undesirable one:
both are training text). The user input is not: real users describe harm, swear and ask for what the
assistant must refuse, and such inputs are legitimate examples; their scope is the constraint filter's.

LLM moderation runs when ``quality_thresholds.custom_filters`` has an enabled entry named
``llm_moderation`` and the judge role is configured: one structured call per batch of ~10
(``filter_moderation`` prompt) rating toxicity 0..1, harm, prohibited topics (the WILL NOT list and hard
constraints) and fitness for the audience (the entry's ``verification_source``, if set, names the
audience). The score is the larger of the lexicon's and the judge's. Reason codes: ``toxic``,
``prohibited_topic``, ``inappropriate_for_audience``.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, Field

from core.generate.filters.base import FilterContext, FilterResult, custom_setting, fail, judge_available, ok
from core.generate.filters.constraints import boundary_values
from core.generate.filters.judge import ask_batches, block
from core.generate.records import responses, user_text
from core.generate.toxicity import ToxicityResult, classify
from core.models.data import TrainingExample

NAME = "safety"
REASONS = ("toxic", "prohibited_topic", "inappropriate_for_audience")
TEMPLATE = "filter_moderation"
LLM_SETTING = "llm_moderation"


class ModerationVerdict(BaseModel):
    index: int = Field(json_schema_extra={"minimum": 1})
    toxicity: float = Field(ge=0.0, le=1.0)
    harmful: bool = False
    prohibited_topic: str | None = None
    audience_ok: bool = True
    reason: str = ""


class ModerationVerdicts(BaseModel):
    verdicts: list[ModerationVerdict] = Field(default_factory=list, json_schema_extra={"minItems": 1})


def lexicon_score(example: TrainingExample) -> tuple[float, ToxicityResult | None, str]:
    """(highest toxicity over the record's responses, its classification, which column)."""
    texts = responses(example.record)  # GRPO: none (prompt only: nothing the model is trained to say)
    best: tuple[float, ToxicityResult | None, str] = (0.0, None, "")
    for column, text in texts.items():
        r = classify(text)
        if r.score > best[0]:
            best = (r.score, r, column)
    return best


def _render(i: int, e: TrainingExample) -> str:
    fields = [("User input", user_text(e.record))]
    fields += [(f"Assistant text ({col})", text) for col, text in responses(e.record).items()]
    return block(i, fields)


class SafetyFilter:
    name = NAME

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        threshold = ctx.thresholds.toxicity_threshold
        out: list[FilterResult | None] = []
        scores: list[float] = []
        for e in examples:
            score, res, column = lexicon_score(e)
            scores.append(score)
            if res is not None and score >= threshold:
                out.append(fail(NAME, "toxic", score, f"{column}: toxicity {score:.2f} ≥ {threshold:g} ({res.describe()})"))
            else:
                out.append(None)
        setting = custom_setting(ctx, LLM_SETTING)
        todo = [i for i, r in enumerate(out) if r is None and examples[i].format != "grpo"]
        verdicts: list[ModerationVerdict | None] = [None] * len(todo)
        errors: list[str] = []
        if setting is not None and todo and judge_available(ctx):
            values = boundary_values(ctx)
            prohibited = "\n".join(x for x in (values["will_not"], values["hard"]) if x != "(none)") or "(none)"
            audience = setting.verification_source or "the users described by the task"
            verdicts, errors = await ask_batches(
                ctx.gateway, TEMPLATE, ModerationVerdicts, [examples[i] for i in todo], _render,
                lambda r: r.verdicts, task=values["task"], audience=audience, prohibited=prohibited,
            )
        by_index = dict(zip(todo, verdicts))
        results: list[FilterResult] = []
        for i, r in enumerate(out):
            if r is not None:
                results.append(r)
                continue
            v = by_index.get(i)
            lex = scores[i]
            if v is None:
                note = ""
                if setting is not None and i in by_index:
                    note = f"; LLM moderation unavailable ({errors[0]})" if errors else (
                        "; LLM moderation: no judge configured" if not judge_available(ctx) else "; no verdict")
                results.append(ok(NAME, lex, f"lexicon {lex:.2f}{note}"))
                continue
            score = max(lex, float(v.toxicity))
            why = f" ({v.reason})" if v.reason else ""
            if v.harmful or v.toxicity >= threshold:
                results.append(fail(NAME, "toxic", score, f"moderation: toxicity {v.toxicity:.2f}"
                                    f"{', harmful' if v.harmful else ''}{why}"))
            elif v.prohibited_topic:
                results.append(fail(NAME, "prohibited_topic", score, f"moderation: {v.prohibited_topic}{why}"))
            elif not v.audience_ok:
                results.append(fail(NAME, "inappropriate_for_audience", score, f"moderation{why}"))
            else:
                results.append(ok(NAME, score, f"lexicon {lex:.2f}; moderation {v.toxicity:.2f}"))
        return results
