"""The filter interface shared by every quality filter.

A filter looks at a batch of candidate examples and returns one :class:`FilterResult` per example,
in order. Filters are async because some ask a model (constraint compliance, factual accuracy,
moderation); pure ones simply do not await. Stateful filters (diversity) remember what was kept
through the :class:`FilterContext`, which one generation run shares across all its batches.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from pydantic import BaseModel

from core.models.data import TrainingExample
from core.refusal import DEFAULT_RULE, RefusalRule


# Pure filters give the event loop back every this many examples: a batch of 100 is tens of milliseconds
# of CPU, and model replies that arrive meanwhile would otherwise wait it out with their slots unused.
YIELD_EVERY = 16


class FilterResult(BaseModel):
    filter: str
    passed: bool
    reason_code: str  # "ok" when passed; otherwise a short stable code, e.g. "too_short", "near_duplicate"
    score: float | None = None
    detail: str = ""


def ok(name: str, score: float | None = None, detail: str = "") -> FilterResult:
    return FilterResult(filter=name, passed=True, reason_code="ok", score=score, detail=detail)


def fail(name: str, reason: str, score: float | None = None, detail: str = "") -> FilterResult:
    return FilterResult(filter=name, passed=False, reason_code=reason, score=score, detail=detail)


@dataclass
class FilterContext:
    """What the filters of one generation run share. Built once per run by the pipeline."""

    project: Any  # core.project.Project
    method: str  # sft | dpo | grpo | kto
    thresholds: Any  # core.models.config.QualityThresholds
    boundaries: Any = None  # core.models.knowledge.ScopeBoundaries
    knowledge: Any = None  # core.models.knowledge.KnowledgeBase
    template_steps: list[str] = field(default_factory=list)  # framework template, when template mode is on
    gateway: Any = None  # core.llm.gateway.Gateway, or None offline
    tokenizer: Any = None  # a transformers tokenizer with a chat template, or None
    embedder: Any = None  # core.embed embedder, or None
    eval_vectors: Any = None  # numpy array of the frozen eval set's embeddings (leakage), or None
    kept_vectors: Any = None  # numpy array of kept examples' embeddings (diversity), grown by the diversity filter
    avoid: list[str] = field(default_factory=list)  # near-misses to feed back to the generator as "avoid these"
    refusal: RefusalRule = DEFAULT_RULE  # the project's refusal rule (core/refusal.py)
    extras: dict[str, Any] = field(default_factory=dict)


class Filter(Protocol):
    name: str

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        ...


class SimpleFilter:
    """Base for filters that judge one example at a time without I/O."""

    name = "simple"

    def check(self, example: TrainingExample, ctx: FilterContext) -> FilterResult:  # pragma: no cover
        raise NotImplementedError

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        out = []
        for i, example in enumerate(examples):
            if i and i % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the replies that arrived meanwhile go on (see YIELD_EVERY)
            out.append(self.check(example, ctx))
        return out


# ---------------------------------------------------------------- shared helpers (compatible extensions)


def custom_setting(ctx: FilterContext, name: str) -> Any:
    """The enabled ``custom_filters`` entry named ``name`` in the run's thresholds, or None."""
    for entry in getattr(ctx.thresholds, "custom_filters", None) or []:
        if entry.name == name and entry.enabled:
            return entry
    return None


def judge_configured(ctx: FilterContext) -> bool:
    """A gateway with the judge role configured is there."""
    gw = ctx.gateway
    if gw is None:
        return False
    try:
        return bool(gw.configured("judge"))
    except Exception:
        return False


def judge_available(ctx: FilterContext) -> bool:
    """The filters that ask a model may use the judge: it is configured and, when the run checked it
    against the eval set (:mod:`core.generate.filters.judge_check`), it passed."""
    check = ctx.extras.get("judge_check")
    return judge_configured(ctx) and (check is None or check.trusted)
