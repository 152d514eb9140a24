"""Exact integer quotas for the eval set: kind × category × difficulty (× WILL NOT statement).

The rule, step by step (every rounding is exact, every cell an integer, the cells sum to N):

1. ``out_of_scope = round_half_up(N · r)`` (halves round up: 50 · 0.05 = 2.5 -> 3): inputs the model must refuse.
2. ``edge`` (all edge-flavoured examples, look-alikes included) starts at ``round_half_up(0.25 · N)`` and is
   clamped so that common stays within 60–70 % of N and edge within 20–30 % of N
   (``common = N − out_of_scope − edge``). With r = 0.20 that forces edge = 20 %, common = 60 %;
   with r = 0.05 it forces edge = 25 %, common = 70 %.
3. Of the edge budget, ``lookalike = max(1, round_half_up(0.05 · N))`` are in-scope look-alikes: inputs that
   resemble a WILL NOT statement but are in scope and must be ANSWERED (they measure over-refusal later).
   The rest are kind ``edge``.
4. common, edge and lookalike are in-scope inputs: each kind is split over the taxonomy categories by
   weight (largest remainder). out_of_scope inputs are not in any taxonomy category: they get the category
   ``"out_of_scope"`` and are spread evenly over the WILL NOT statements (largest remainder), the statement's
   index recorded in the cell (``will_not``). Look-alikes are also tied to a WILL NOT statement (the one they
   resemble), assigned round-robin over the statements so every statement gets its share.
5. Difficulties: N is split by the shares (default easy 0.3, medium 0.5, hard 0.2) with the largest-remainder
   method, and a controlled rounding fills the kinds × difficulties matrix with exactly those column totals
   and the kind totals as rows. Then, per kind, a second controlled rounding fills the rows (categories or
   statements) × difficulties matrix with the kind's exact row and difficulty totals.

:func:`plan_quotas` returns a :class:`QuotaPlan` listing every non-empty cell with its count and totals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Mapping, Sequence

from core.models.knowledge import DIFFICULTIES, EVAL_KINDS

EVAL_SET_SIZES: tuple[int, ...] = (50, 75, 100, 200)
DEFAULT_DIFFICULTY_SHARES: dict[str, float] = {"easy": 0.3, "medium": 0.5, "hard": 0.2}
OUT_OF_SCOPE_CATEGORY = "out_of_scope"

COMMON_RANGE = (0.60, 0.70)
EDGE_RANGE = (0.20, 0.30)
EDGE_TARGET = 0.25
LOOKALIKE_TARGET = 0.05


def round_half_up(n: int, share: float) -> int:
    """``n · share`` rounded to the nearest integer, halves up (50 · 0.05 = 2.5 -> 3), computed in decimal
    from the share as written so binary float noise (75 · 0.1 = 7.500000000000001) cannot flip it."""
    return int((Decimal(n) * Decimal(repr(float(share)))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method).

    Every part is floor(quota) or floor(quota)+1 and the parts sum to ``total``. Ties in the remainder go
    to the heavier weight, then to the earlier position, so the result is deterministic.
    """
    if total < 0:
        raise ValueError("total must not be negative")
    if not weights:
        if total:
            raise ValueError("cannot split a positive total over no weights")
        return []
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    s = float(sum(weights))
    quotas = [total * w / s for w in weights]
    parts = [math.floor(q + 1e-9) for q in quotas]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - parts[i]), -weights[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def controlled_rounding(row_totals: Sequence[int], col_totals: Sequence[int]) -> list[list[int]]:
    """An integer matrix with exactly these row and column totals, each cell close to its proportional
    target ``row · col / total`` (floors first, then +1s by largest fractional part; within one of the
    target in practice)."""
    total = sum(row_totals)
    if total != sum(col_totals):
        raise ValueError("row and column totals differ")
    if total == 0:
        return [[0] * len(col_totals) for _ in row_totals]
    target = [[r * c / total for c in col_totals] for r in row_totals]
    cells = [[math.floor(t + 1e-9) for t in row] for row in target]
    row_need = [r - sum(row) for r, row in zip(row_totals, cells)]
    col_need = [c - sum(cells[i][j] for i in range(len(cells))) for j, c in enumerate(col_totals)]
    order = sorted(
        ((i, j) for i in range(len(cells)) for j in range(len(col_totals))),
        key=lambda ij: (-(target[ij[0]][ij[1]] - cells[ij[0]][ij[1]]), ij[1], ij[0]),
    )
    while any(row_need):
        progressed = False
        for i, j in order:
            if row_need[i] > 0 and col_need[j] > 0:
                cells[i][j] += 1
                row_need[i] -= 1
                col_need[j] -= 1
                progressed = True
        if not progressed:  # cannot happen: row and column needs have the same sum
            raise AssertionError("controlled rounding did not converge")
    return cells


@dataclass(frozen=True)
class Cell:
    """One quota cell. ``will_not`` is the index of the WILL NOT statement (out_of_scope, lookalike)."""

    kind: str
    category: str
    difficulty: str
    count: int
    will_not: int | None = None

    @property
    def key(self) -> str:
        wn = "" if self.will_not is None else f"#wn{self.will_not}"
        return f"{self.kind}|{self.category}|{self.difficulty}{wn}"

    def label(self) -> str:
        wn = "" if self.will_not is None else f" / WILL NOT #{self.will_not + 1}"
        return f"{self.kind} / {self.category} / {self.difficulty}{wn}"


@dataclass
class QuotaPlan:
    size: int
    out_of_scope_ratio: float
    cells: list[Cell] = field(default_factory=list)

    def total(self) -> int:
        return sum(c.count for c in self.cells)

    def by_kind(self) -> dict[str, int]:
        return _tally(self.cells, lambda c: c.kind, EVAL_KINDS)

    def by_category(self) -> dict[str, int]:
        return _tally(self.cells, lambda c: c.category)

    def by_difficulty(self) -> dict[str, int]:
        return _tally(self.cells, lambda c: c.difficulty, DIFFICULTIES)

    @property
    def common(self) -> int:
        return self.by_kind()["common"]

    @property
    def edge_total(self) -> int:
        """Edge cases including the in-scope look-alikes."""
        k = self.by_kind()
        return k["edge"] + k["lookalike"]

    @property
    def out_of_scope(self) -> int:
        return self.by_kind()["out_of_scope"]

    def cell(self, key: str) -> Cell:
        for c in self.cells:
            if c.key == key:
                return c
        raise KeyError(key)

    def describe(self) -> str:
        k = self.by_kind()
        return (f"{self.size} examples: {k['common']} common, {k['edge']} edge cases, {k['lookalike']} in-scope "
                f"look-alikes, {k['out_of_scope']} out-of-scope ({len(self.cells)} cells)")


def _tally(cells: Iterable[Cell], key, order: Iterable[str] = ()) -> dict[str, int]:
    out: dict[str, int] = {k: 0 for k in order}
    for c in cells:
        out[key(c)] = out.get(key(c), 0) + c.count
    return out


def kind_totals(size: int, out_of_scope_ratio: float) -> dict[str, int]:
    """How many examples of each kind: the steps 1–3 of the module's rule."""
    if size <= 0:
        raise ValueError("the eval set size must be positive")
    if not 0.0 <= out_of_scope_ratio < 1.0:
        raise ValueError("out_of_scope_ratio must be in [0, 1)")
    oos = round_half_up(size, out_of_scope_ratio)
    rest = size - oos
    common_lo, common_hi = math.ceil(COMMON_RANGE[0] * size - 1e-9), math.floor(COMMON_RANGE[1] * size + 1e-9)
    edge_lo, edge_hi = math.ceil(EDGE_RANGE[0] * size - 1e-9), math.floor(EDGE_RANGE[1] * size + 1e-9)
    lo, hi = max(edge_lo, rest - common_hi), min(edge_hi, rest - common_lo)
    if lo > hi:
        raise ValueError(
            f"no split of {size} examples with {oos} out-of-scope keeps common within 60-70% and edge cases "
            f"within 20-30%: choose an out_of_scope_ratio between 0.05 and 0.20"
        )
    edge_total = min(max(round_half_up(size, EDGE_TARGET), lo), hi)
    lookalike = min(max(1, round_half_up(size, LOOKALIKE_TARGET)), edge_total)
    return {"common": rest - edge_total, "edge": edge_total - lookalike, "out_of_scope": oos, "lookalike": lookalike}


def plan_quotas(
    size: int,
    out_of_scope_ratio: float,
    categories: Sequence[tuple[str, float]] | Mapping[str, float],
    will_not_count: int,
    difficulty_shares: Mapping[str, float] | None = None,
) -> QuotaPlan:
    """The full plan: every (kind, category, difficulty[, WILL NOT statement]) cell with an exact count.

    ``categories`` are the taxonomy's (name, weight) pairs; ``will_not_count`` the number of WILL NOT
    statements (out-of-scope inputs and look-alikes are spread over them).
    """
    cats = list(categories.items()) if isinstance(categories, Mapping) else [tuple(c) for c in categories]
    if not cats:
        raise ValueError("the taxonomy has no input categories")
    names = [str(n) for n, _ in cats]
    if len(set(names)) != len(names):
        raise ValueError("category names must be unique")
    if OUT_OF_SCOPE_CATEGORY in names:
        raise ValueError(f"{OUT_OF_SCOPE_CATEGORY!r} is reserved for out-of-scope examples")
    weights = [float(w) for _, w in cats]
    if any(w <= 0 for w in weights):
        raise ValueError("category weights must be positive")
    shares_map = dict(difficulty_shares or DEFAULT_DIFFICULTY_SHARES)
    unknown = set(shares_map) - set(DIFFICULTIES)
    if unknown:
        raise ValueError(f"unknown difficulty {sorted(unknown)[0]!r}")
    shares = [float(shares_map.get(d, 0.0)) for d in DIFFICULTIES]
    if any(s < 0 for s in shares) or sum(shares) <= 0:
        raise ValueError("difficulty shares must be non-negative with a positive sum")

    totals = kind_totals(size, out_of_scope_ratio)
    if will_not_count <= 0 and (totals["out_of_scope"] or totals["lookalike"]):
        raise ValueError("the scope boundaries have no WILL NOT statements to build out-of-scope examples from")

    plan = QuotaPlan(size=size, out_of_scope_ratio=out_of_scope_ratio)
    kinds = ("common", "edge", "lookalike", "out_of_scope")
    # kind × difficulty first, so the whole set's difficulty mix is the exact largest-remainder split of N
    kind_diff = dict(zip(kinds, controlled_rounding([totals[k] for k in kinds], largest_remainder(size, shares))))
    for kind in ("common", "edge", "lookalike"):
        rows = largest_remainder(totals[kind], weights)
        matrix = controlled_rounding(rows, kind_diff[kind])
        if kind != "lookalike":
            for name, row in zip(names, matrix):
                plan.cells.extend(Cell(kind, name, d, n) for d, n in zip(DIFFICULTIES, row) if n)
            continue
        # look-alikes: the k-th one (in category, difficulty order) resembles WILL NOT statement k mod m
        k = 0
        for name, row in zip(names, matrix):
            for d, n in zip(DIFFICULTIES, row):
                per: dict[int, int] = {}
                for _ in range(n):
                    per[k % will_not_count] = per.get(k % will_not_count, 0) + 1
                    k += 1
                plan.cells.extend(Cell(kind, name, d, c, will_not=i) for i, c in sorted(per.items()))
    rows = largest_remainder(totals["out_of_scope"], [1.0] * max(will_not_count, 1))
    matrix = controlled_rounding(rows, kind_diff["out_of_scope"])
    for i, row in enumerate(matrix):
        plan.cells.extend(
            Cell("out_of_scope", OUT_OF_SCOPE_CATEGORY, d, n, will_not=i) for d, n in zip(DIFFICULTIES, row) if n
        )
    assert plan.total() == size, (plan.total(), size)
    return plan
