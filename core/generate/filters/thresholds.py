"""The filters' thresholds, fitted to the task when the project leaves them ``"auto"``.

``min_length`` (tokens of the response the model learns from):

- a classification task's responses are labels: 1 token;
- otherwise the shorter of 10 tokens and half the 10th percentile of the eval set's in-scope reference
  lengths (counted with the run's tokenizer), at least 1: a task whose good answers are short is never
  rejected for being short.

``diversity_threshold`` (the highest cosine similarity a kept example may have to another): 0.8, or, when
the eval set's own in-scope inputs are closer to each other than that (short, formulaic inputs such as
support tickets), just above the 90th percentile of their nearest-neighbour similarity (at most 0.95).

A number in the project's configuration is used as given. The resolved values and why are recorded in
the run's report (:attr:`Resolved.notes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

DEFAULT_MIN_LENGTH = 10
DEFAULT_DIVERSITY = 0.8
MAX_DIVERSITY = 0.95


@dataclass
class Resolved:
    thresholds: Any  # QualityThresholds with numbers only
    notes: list[str] = field(default_factory=list)


def _min_length(task_type: str, references: Sequence[str], tokenizer: Any) -> tuple[int, str]:
    if task_type == "classification":
        return 1, "min_length 1 token: a classification task's responses are labels"
    if not references:
        return DEFAULT_MIN_LENGTH, f"min_length {DEFAULT_MIN_LENGTH} tokens (no eval references to fit it to)"
    from core.generate.tokenizer import count_tokens_many

    counts = sorted(count_tokens_many(list(references), tokenizer))
    p10 = counts[int(0.1 * (len(counts) - 1))]
    value = max(1, min(DEFAULT_MIN_LENGTH, p10 // 2))
    return value, f"min_length {value} tokens (half the eval set's shorter references, at most {DEFAULT_MIN_LENGTH})"


def _diversity(vectors: Any) -> tuple[float, str]:
    if vectors is None or len(vectors) < 5:
        return DEFAULT_DIVERSITY, f"diversity_threshold {DEFAULT_DIVERSITY}"
    v = np.asarray(vectors, dtype=np.float32)
    sims = v @ v.T
    np.fill_diagonal(sims, -1.0)
    p90 = float(np.quantile(sims.max(axis=1), 0.9))
    if p90 + 0.02 <= DEFAULT_DIVERSITY:
        return DEFAULT_DIVERSITY, f"diversity_threshold {DEFAULT_DIVERSITY}"
    value = round(min(MAX_DIVERSITY, p90 + 0.02), 3)
    return value, (f"diversity_threshold {value:g}: the eval set's own inputs are this close to each other "
                   f"(90th percentile {p90:.2f})")


def resolve(thresholds: Any, task_type: str, eval_examples: Sequence[Any] = (), eval_vectors: Any = None,
            tokenizer: Any = None) -> Resolved:
    """Numbers for every ``"auto"`` threshold (see the module docstring)."""
    updates: dict[str, Any] = {}
    notes: list[str] = []
    inside = [i for i, e in enumerate(eval_examples) if not getattr(e, "should_refuse", False)]
    if thresholds.min_length == "auto":
        updates["min_length"], why = _min_length(task_type, [eval_examples[i].reference for i in inside], tokenizer)
        notes.append(why)
    if thresholds.diversity_threshold == "auto":
        vecs = None if eval_vectors is None else np.asarray(eval_vectors)[inside] if inside else None
        updates["diversity_threshold"], why = _diversity(vecs)
        notes.append(why)
    return Resolved(thresholds.model_copy(update=updates), notes)
