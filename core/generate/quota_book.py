"""The scale-up's bookkeeping per quota cell: every kind × category × difficulty × exercise cell of the
plan is topped up to its own quota, so a kind the filters keep rejecting cannot quietly disappear.

The plan is fixed when a scale run starts (:func:`core.generate.plan.plan_cells` for the target, seed 0)
and kept in the run's state. For each cell the book knows its quota, the examples kept, the examples
checked by the filters, the examples on their way (being generated, waiting for the filters or being
filtered) and why its examples were rejected. From those it says how many more to generate for the cell
(:meth:`QuotaBook.need`): what is missing, less what the work on its way is expected to keep at the
cell's pass rate, plus a margin of :data:`SAFETY_SIGMAS` binomial standard deviations (without it about
every other cell would end a few short and need a whole further round trip).

A cell's pass rate blends its own counts with its kind's (a cell has few examples; its kind has many),
and the kind's with the pilot's pass rate as a prior. A cell that keeps failing gets its own prompt
adjustment (:meth:`QuotaBook.struggling`, the pipeline turns its top rejection reasons into instructions)
and, once it has used :func:`attempt_budget` examples without filling, it is exhausted: the run stops
asking for it and reports it short (:meth:`QuotaBook.short`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

SAFETY_SIGMAS = 2.0
PRIOR_WEIGHT = 20.0  # the pilot's pass rate counts as this many examples of each kind
KIND_WEIGHT = 5.0  # a cell's kind rate counts as this many examples of the cell
MIN_RATE = 0.05
STRUGGLING_RATE = 0.5  # below this pass rate, once a cell has been checked beyond its quota: adjust its prompt


def cell_key(kind: str, category: str, difficulty: str, exercises: str) -> str:
    return f"{kind}|{category}|{difficulty}|{exercises}"


def key_of(example: Any) -> str:
    """The cell key of a generated example (TrainingExample) or a plan Cell."""
    return cell_key(example.kind, example.category, example.difficulty, getattr(example, "exercises", ""))


def kind_of(key: str) -> str:
    return key.split("|", 1)[0]


def coarse(key: str) -> str:
    """kind|category|difficulty: what an example of an earlier plan still has in common with a cell."""
    return "|".join(key.split("|")[:3])


def attempt_budget(quota: int) -> int:
    """Examples a cell may have checked before it counts as exhausted (a 25 % pass rate, and a little)."""
    return 4 * quota + 16


@dataclass
class QuotaBook:
    quotas: dict[str, int]
    prior: float = 0.7
    kept: Counter = field(default_factory=Counter)
    checked: Counter = field(default_factory=Counter)
    pending: Counter = field(default_factory=Counter)
    reasons: dict[str, Counter] = field(default_factory=dict)
    exhausted: set[str] = field(default_factory=set)

    # ------------------------------------------------------------ rates

    def kind_rate(self, kind: str) -> float:
        kept = sum(n for k, n in self.kept.items() if kind_of(k) == kind)
        checked = sum(n for k, n in self.checked.items() if kind_of(k) == kind)
        return (kept + PRIOR_WEIGHT * self.prior) / (checked + PRIOR_WEIGHT)

    def kind_rates(self) -> dict[str, float]:
        """:meth:`kind_rate` of every kind, in one pass over the counts."""
        kept: Counter = Counter()
        checked: Counter = Counter()
        for k, n in self.kept.items():
            kept[kind_of(k)] += n
        for k, n in self.checked.items():
            checked[kind_of(k)] += n
        kinds = {kind_of(k) for k in self.quotas} | set(kept) | set(checked)
        return {kind: (kept[kind] + PRIOR_WEIGHT * self.prior) / (checked[kind] + PRIOR_WEIGHT) for kind in kinds}

    def rate(self, key: str, kind_rates: dict[str, float] | None = None) -> float:
        kind = kind_rates[kind_of(key)] if kind_rates is not None else self.kind_rate(kind_of(key))
        rate = (self.kept[key] + KIND_WEIGHT * kind) / (self.checked[key] + KIND_WEIGHT)
        return min(1.0, max(rate, MIN_RATE))

    # ------------------------------------------------------------ what is needed

    def missing(self, key: str) -> int:
        return max(0, self.quotas.get(key, 0) - self.kept[key])

    def need(self, key: str, kind_rates: dict[str, float] | None = None) -> int:
        """Examples still to generate for ``key`` (0 when full, exhausted or covered by the work on its way).
        ``kind_rates`` (:meth:`kind_rates`) saves recounting when every cell is asked in turn."""
        if key in self.exhausted:
            return 0
        missing = self.missing(key)
        if missing <= 0:
            return 0
        rate, pending = self.rate(key, kind_rates), self.pending[key]
        margin = SAFETY_SIGMAS * math.sqrt(pending * rate * (1 - rate))
        short = missing - rate * pending + margin
        return math.ceil(short / rate) if short > 0 else 0

    def total_need(self) -> int:
        rates = self.kind_rates()
        return sum(self.need(k, rates) for k in self.quotas)

    def pick(self) -> str | None:
        """The cell to generate for next: of the cells that still need work, the one least far along its
        quota, counting the work on its way at its pass rate. Cells fill at the same pace, so a stopped run
        has the planned mix and no cell gets every request while the others wait (with a large quota, a
        cell whose pass rate is low would otherwise win every pick: its need grows as its rate falls, and
        near-identical examples from one cell are what the diversity filter rejects)."""
        best, best_progress = None, math.inf
        rates = self.kind_rates()
        for key, quota in self.quotas.items():
            if self.need(key, rates) > 0:
                progress = (self.kept[key] + self.rate(key, rates) * self.pending[key]) / max(1, quota)
                if progress < best_progress:
                    best, best_progress = key, progress
        return best

    def complete(self) -> bool:
        """Every cell full or exhausted."""
        return all(self.missing(k) == 0 or k in self.exhausted for k in self.quotas)

    # ------------------------------------------------------------ recording

    def start(self, key: str, n: int) -> None:
        self.pending[key] += n

    def settle(self, key: str, n: int) -> None:
        """``n`` examples of ``key`` are no longer on their way (generated short, or filtered)."""
        self.pending[key] = max(0, self.pending[key] - n)

    def record(self, kept: Iterable[Any], rejected: Iterable[tuple[Any, Sequence[str]]]) -> None:
        """Filter results: kept examples and (example, reason codes) of rejected ones."""
        for ex in kept:
            key = self.place(key_of(ex))
            self.kept[key] += 1
            self.checked[key] += 1
        for ex, codes in rejected:
            key = self.place(key_of(ex))
            self.checked[key] += 1
            self.reasons.setdefault(key, Counter()).update(codes[:1] or ["rejected"])
        for key in self.quotas:
            if key not in self.exhausted and self.missing(key) and self.checked[key] >= attempt_budget(self.quotas[key]):
                self.exhausted.add(key)

    def place(self, key: str) -> str:
        """The planned cell an example counts toward: its own, else one of the same kind, category and
        difficulty (examples of an earlier plan, after a resume), else its own key unplanned."""
        if key in self.quotas:
            return key
        rough = coarse(key)
        for k in self.quotas:
            if coarse(k) == rough and self.missing(k):
                return k
        return key

    def struggling(self, key: str) -> bool:
        """Checked beyond its quota and passing under :data:`STRUGGLING_RATE`: its prompt needs adjusting."""
        checked = self.checked[key]
        return (key not in self.exhausted and self.missing(key) > 0 and checked >= self.quotas.get(key, 0) + 4
                and self.kept[key] / checked < STRUGGLING_RATE)

    def top_reasons(self, key: str, k: int = 2) -> list[str]:
        return [code for code, _ in (self.reasons.get(key) or Counter()).most_common(k)]

    # ------------------------------------------------------------ results

    def short(self) -> dict[str, int]:
        """Cells below their quota, with how many examples they miss."""
        return {k: self.missing(k) for k in self.quotas if self.missing(k)}

    def planned_by_kind(self) -> Counter:
        out: Counter = Counter()
        for k, n in self.quotas.items():
            out[kind_of(k)] += n
        return out

    def kept_by_kind(self) -> Counter:
        out: Counter = Counter()
        for k in self.quotas:
            out[kind_of(k)] += min(self.kept[k], self.quotas[k])
        return out


def select(quotas: dict[str, int], examples: Sequence[Any]) -> list[Any]:
    """The examples a finished dataset keeps: per planned cell at most its quota, in the given order
    (examples of an earlier plan count toward a cell of the same kind, category and difficulty)."""
    book = QuotaBook(dict(quotas))
    out = []
    for ex in examples:
        key = book.place(key_of(ex))
        if key in book.quotas and book.missing(key):
            book.kept[key] += 1
            out.append(ex)
    return out
