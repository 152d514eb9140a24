"""Diversity: each candidate's embedding (of its whole text, ``records.all_text``; a refusal's input alone,
see :func:`text_of`) must have a cosine
similarity below ``diversity_threshold`` to every example kept so far AND to every earlier candidate
kept from the same batch; of a group of near-duplicates the first is kept. It must run LAST in the
chain: what it keeps is committed at once (appended to ``ctx.kept_vectors``), so it has to see only
examples that passed everything else. Rejected candidates' inputs go to ``ctx.avoid`` (the last
:data:`AVOID_LIMIT`, newest last) for the generator to steer away from.

Cost: one embedding per candidate (cached by :class:`core.embed.Embedder`), then matrix products in
blocks — candidates × kept, and within the batch — with a greedy pass in Python only over the rows
that have a conflict inside their block. Kept vectors live in a preallocated float32 array that doubles
when full, so appending is amortised O(1) and ``ctx.kept_vectors`` is a view of its filled rows.

Without an embedder it falls back to exact duplicates of the normalised text. Score: the highest
similarity found (to kept examples or earlier candidates), the figure the generation report's diversity
metrics summarise. Reason code: ``near_duplicate``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np

from core.generate.filters.base import FilterContext, FilterResult, fail, ok
from core.generate.filters.text import normalize
from core.generate.records import all_text, user_text
from core.models.data import TrainingExample

NAME = "diversity"
REASONS = ("near_duplicate",)
AVOID_LIMIT = 20
BLOCK = 1024  # candidate rows per block
REF_CHUNK = 8192  # reference rows per matrix product (1024 × 8192 float32 = 32 MB)
INLINE_WORK = 1_000_000  # similarities below which the selection runs on the event loop (≈ 1 ms)
_INDEX = "diversity_index"
_LOCK = "diversity_lock"
_HASHES = "diversity_hashes"


def text_of(example: TrainingExample) -> str:
    """The text an example is embedded by: its whole record (prompt and good response), except a refusal,
    which is embedded by its input alone: refusals open with the project's one refusal sentence on
    purpose (core/refusal.py), and that shared wording must not make two refusals of different
    requests look like duplicates."""
    if example.kind == "refusal":
        return user_text(example.record)
    return all_text(example.record)


def best_match(new: np.ndarray, ref: np.ndarray, chunk: int = REF_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``new``: (its highest cosine similarity to a row of ``ref``, that row's index);
    (-1.0, -1) when ``ref`` is empty. Rows must be L2-normalised."""
    m = new.shape[0]
    best = np.full(m, -1.0, dtype=np.float32)
    arg = np.full(m, -1, dtype=np.int64)
    for j in range(0, ref.shape[0], chunk):
        sims = new @ ref[j:j + chunk].T
        a = sims.argmax(axis=1)
        v = sims[np.arange(m), a]
        better = v > best
        best[better] = v[better]
        arg[better] = a[better] + j
    return best, arg


class KeptIndex:
    """Kept examples' vectors in a growable preallocated array (amortised doubling), with their ids."""

    def __init__(self, dim: int, capacity: int = 1024):
        self.buf = np.empty((max(1, capacity), dim), dtype=np.float32)
        self.n = 0
        self.ids: list[str] = []
        self._view: np.ndarray | None = None

    @classmethod
    def from_vectors(cls, vectors: Any, ids: Sequence[str] | None = None) -> "KeptIndex":
        arr = np.asarray(vectors, dtype=np.float32)
        index = cls(arr.shape[1], max(1024, 2 * arr.shape[0]))
        index.add(arr, list(ids) if ids is not None else [""] * arr.shape[0])
        return index

    @property
    def view(self) -> np.ndarray:
        if self._view is None or self._view.shape[0] != self.n:
            self._view = self.buf[: self.n]
        return self._view

    def add(self, vectors: np.ndarray, ids: Sequence[str]) -> None:
        k = vectors.shape[0]
        if k == 0:
            return
        if self.n + k > self.buf.shape[0]:
            cap = self.buf.shape[0]
            while cap < self.n + k:
                cap *= 2
            grown = np.empty((cap, self.buf.shape[1]), dtype=np.float32)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n:self.n + k] = vectors
        self.n += k
        self.ids.extend(ids)
        self._view = None

    @property
    def nbytes(self) -> int:
        return int(self.buf.nbytes)


def kept_index(ctx: FilterContext, dim: int) -> KeptIndex:
    """The run's index, (re)built from ``ctx.kept_vectors`` when someone else set it (e.g. on resume)."""
    index: KeptIndex | None = ctx.extras.get(_INDEX)
    current = ctx.kept_vectors
    if index is not None and current is index.view:
        return index
    if current is not None and len(current):
        index = KeptIndex.from_vectors(current)
    else:
        index = KeptIndex(dim)
    ctx.extras[_INDEX] = index
    ctx.kept_vectors = index.view
    return index


def select(vectors: np.ndarray, threshold: float, index: KeptIndex, ids: Sequence[str],
           block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Greedy selection in order; kept rows are appended to ``index``. Returns (kept mask, highest
    similarity of each row to what came before it, what each rejected row duplicates)."""
    m = vectors.shape[0]
    keep = np.zeros(m, dtype=bool)
    score = np.full(m, -1.0, dtype=np.float32)
    dup_of = [""] * m
    for s in range(0, m, block):
        blk = vectors[s:s + block]
        b = blk.shape[0]
        prior, prior_arg = best_match(blk, index.view) if index.n else (
            np.full(b, -1.0, dtype=np.float32), np.full(b, -1, dtype=np.int64))
        ok_rows = prior < threshold
        inner = blk @ blk.T
        conflict = np.tril(inner >= threshold, -1)
        has = conflict.any(axis=1)
        taken = ok_rows & ~has
        for r in np.flatnonzero(ok_rows & has).tolist():
            hits = np.flatnonzero(conflict[r, :r] & taken[:r])
            if hits.size:
                j = int(hits[np.argmax(inner[r, hits])])
                dup_of[s + r] = f"candidate {ids[s + j]}" if ids[s + j] else f"candidate #{s + j}"
                score[s + r] = inner[r, j]
            else:
                taken[r] = True
        # similarity of each row to the earlier rows kept in this block
        earlier = np.where(np.tril(np.ones((b, b), dtype=bool), -1) & taken[None, :], inner, -1.0)
        within = earlier.max(axis=1) if b > 1 else np.full(b, -1.0, dtype=np.float32)
        for r in np.flatnonzero(~ok_rows).tolist():
            k = int(prior_arg[r])
            kid = index.ids[k] if 0 <= k < len(index.ids) else ""
            dup_of[s + r] = f"kept {kid}" if kid else f"kept example #{k}"
            score[s + r] = prior[r]
        keep_rows = np.flatnonzero(taken)
        score[s + keep_rows] = np.maximum(prior[keep_rows], within[keep_rows])
        keep[s + keep_rows] = True
        index.add(blk[keep_rows], [ids[s + r] for r in keep_rows.tolist()])
    return keep, score, dup_of


def _lock(ctx: FilterContext) -> asyncio.Lock:
    """The run's diversity lock (one per event loop: a context may outlive the loop it was first used in)."""
    loop = asyncio.get_running_loop()
    held = ctx.extras.get(_LOCK)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        ctx.extras[_LOCK] = held
    return held[1]


def remember_avoid(ctx: FilterContext, texts: Sequence[str], limit: int = AVOID_LIMIT) -> None:
    for t in texts:
        t = (t or "").strip()
        if not t:
            continue
        if t in ctx.avoid:
            ctx.avoid.remove(t)
        ctx.avoid.append(t)
    del ctx.avoid[:-limit]


class DiversityFilter:
    name = NAME

    def __init__(self, block: int = BLOCK):
        self.block = block

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        if not examples:
            return []
        lock = _lock(ctx)
        texts = [text_of(e) for e in examples]
        threshold = ctx.thresholds.diversity_threshold
        if threshold == "auto":  # a context built without build_context (which resolves it: filters/thresholds.py)
            from core.generate.filters.thresholds import DEFAULT_DIVERSITY as threshold
        threshold = float(threshold)
        if ctx.embedder is None:
            async with lock:
                return self._exact(examples, texts, ctx)
        vectors = await asyncio.to_thread(ctx.embedder.encode, texts)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        async with lock:
            index = kept_index(ctx, vectors.shape[1])
            ids = [e.id for e in examples]
            work = vectors.shape[0] * (index.n + min(vectors.shape[0], self.block))
            if work > INLINE_WORK:  # big products go to a thread, so the event loop stays responsive
                keep, score, dup_of = await asyncio.to_thread(select, vectors, threshold, index, ids, self.block)
            else:  # small ones are quicker than a thread hand-off
                keep, score, dup_of = select(vectors, threshold, index, ids, self.block)
            ctx.kept_vectors = index.view
            results: list[FilterResult] = []
            rejected: list[str] = []
            for i, e in enumerate(examples):
                s = round(float(score[i]), 4)
                if keep[i]:
                    results.append(ok(NAME, s if s >= 0 else 0.0))
                else:
                    results.append(fail(NAME, "near_duplicate", s,
                                        f"cosine {s:.3f} ≥ {threshold:g} to {dup_of[i]}"))
                    rejected.append(user_text(e.record))
            remember_avoid(ctx, rejected)
        return results

    def _exact(self, examples: Sequence[TrainingExample], texts: list[str], ctx: FilterContext) -> list[FilterResult]:
        if ctx.kept_vectors is None or _HASHES not in ctx.extras:  # a new run (or the pipeline reset the memory)
            ctx.extras[_HASHES] = {}
            ctx.kept_vectors = np.zeros((0, 0), dtype=np.float32)
        seen: dict[str, str] = ctx.extras[_HASHES]
        results, rejected = [], []
        for e, t in zip(examples, texts):
            key = normalize(t)
            if key in seen:
                results.append(fail(NAME, "near_duplicate", 1.0, f"the same text as {seen[key] or 'a kept example'} "
                                    "(no embedder: exact duplicates only)"))
                rejected.append(user_text(e.record))
            else:
                seen[key] = e.id
                results.append(ok(NAME, 0.0, "no embedder: exact-duplicate check only"))
        remember_avoid(ctx, rejected)
        return results
