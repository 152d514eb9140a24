"""Leakage: no training example may be a near-duplicate of the frozen eval set.

Rejected (``eval_leak``): a user input whose normalised text equals an eval input; a user input whose
embedding has cosine ≥ :data:`LEAK_THRESHOLD` (0.9) with an eval input (``ctx.eval_vectors``, embedded
once per run by ``build_context``); a good response equal, normalised, to a task-specific eval reference:
one of eight words or more (short references are labels, which many examples share legitimately) that
answers an in-scope input and is not shared by several eval examples. Refusals are never held to the
references: a refusal opens with the project's one refusal sentence on purpose, so matching it would
reject every refusal of a task whose refusal is one fixed sentence (their inputs are still checked).
Score: the highest similarity to an eval input. Without eval data the filter passes everything.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np

from core.generate.filters.base import FilterContext, FilterResult, fail, ok
from core.generate.filters.diversity import best_match
from core.generate.filters.text import normalize
from core.generate.records import good_response, user_text
from core.models.data import TrainingExample

NAME = "leakage"
REASONS = ("eval_leak",)
LEAK_THRESHOLD = 0.9
MIN_REFERENCE_WORDS = 8
EVAL_INPUTS = "eval_inputs"  # ctx.extras: normalised eval input -> eval id
EVAL_REFERENCES = "eval_references"  # ctx.extras: normalised long eval reference -> eval id
EVAL_IDS = "eval_ids"  # ctx.extras: eval ids in the order of ctx.eval_vectors


def eval_lookup(examples: Sequence[Any]) -> dict[str, dict[str, str] | list[str]]:
    """The ``ctx.extras`` entries for eval examples (core.models.knowledge.EvalExample)."""
    from collections import Counter

    inputs: dict[str, str] = {}
    refs: dict[str, str] = {}
    shared = Counter(normalize(ex.reference) for ex in examples)
    for ex in examples:
        inputs.setdefault(normalize(ex.input), ex.id)
        ref = normalize(ex.reference)
        if (not getattr(ex, "should_refuse", False) and len(ref.split()) >= MIN_REFERENCE_WORDS
                and shared[ref] == 1):
            refs.setdefault(ref, ex.id)
    return {EVAL_INPUTS: inputs, EVAL_REFERENCES: refs, EVAL_IDS: [ex.id for ex in examples]}


def has_eval(ctx: FilterContext) -> bool:
    return ctx.eval_vectors is not None or bool(ctx.extras.get(EVAL_INPUTS))


class LeakageFilter:
    name = NAME

    def __init__(self, threshold: float = LEAK_THRESHOLD):
        self.threshold = threshold

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        if not examples:
            return []
        inputs: dict[str, str] = ctx.extras.get(EVAL_INPUTS) or {}
        refs: dict[str, str] = ctx.extras.get(EVAL_REFERENCES) or {}
        ids: list[str] = ctx.extras.get(EVAL_IDS) or []
        questions = [user_text(e.record) for e in examples]
        ev = ctx.eval_vectors
        use_vectors = ev is not None and len(ev) > 0 and ctx.embedder is not None
        if use_vectors:
            vecs = await asyncio.to_thread(ctx.embedder.encode, questions)
            sims, arg = best_match(np.asarray(vecs, dtype=np.float32), np.asarray(ev, dtype=np.float32))
        else:
            sims, arg = np.full(len(examples), -1.0), np.full(len(examples), -1)
        out: list[FilterResult] = []
        for i, e in enumerate(examples):
            q = normalize(questions[i])
            sim = float(sims[i])
            if q and q in inputs:
                out.append(fail(NAME, "eval_leak", 1.0, f"the input is eval example {inputs[q]}'s"))
                continue
            good = good_response(e.record) if e.kind != "refusal" else None
            g = normalize(good) if good else ""
            if g and g in refs:
                out.append(fail(NAME, "eval_leak", max(sim, 0.0), f"the response is eval example {refs[g]}'s reference"))
                continue
            if sim >= self.threshold:
                k = int(arg[i])
                which = ids[k] if 0 <= k < len(ids) else f"#{k}"
                out.append(fail(NAME, "eval_leak", round(sim, 4), f"cosine {sim:.3f} ≥ {self.threshold:g} to eval input {which}"))
                continue
            out.append(ok(NAME, round(max(sim, 0.0), 4), "" if use_vectors else "exact match only (no eval vectors)"))
        return out
