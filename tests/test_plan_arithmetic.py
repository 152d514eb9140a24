"""The scale-up's plan is arithmetic: O(cells), not O(target) (issue 13 item 5). The cut into cells is
counted instead of built, with exactly the result the piece-by-piece cut gave."""

from __future__ import annotations

import random
import sys
import time
import tracemalloc

import pytest

from core.generate.plan import CELL_SIZE, GENERIC_EDGE, KINDS, REFUSAL_CATEGORY, Cell, _merge, split_cells
from core.extract.quotas import controlled_rounding, largest_remainder
from core.generate.plan import kind_totals
from core.generate.quota_book import QuotaBook
from core.models.knowledge import DIFFICULTIES


def _reference(n, categories, *, complexity=(0.3, 0.5, 0.2), edge_case_ratio=0.15, out_of_scope_ratio=0.10,
               competencies=(), edge_cases=(), will_not=(), seed=0, cell_size=CELL_SIZE):
    """The piece-by-piece cut the plan used before (one Cell per piece, then merged)."""
    cats = [(str(c), float(w)) for c, w in categories]
    totals = kind_totals(n, edge_case_ratio, out_of_scope_ratio, bool(will_not))
    if n == 0:
        return []
    shares = [float(s) for s in complexity] if sum(complexity) > 0 else [1.0, 1.0, 1.0]
    kind_diff = dict(zip(KINDS, controlled_rounding([totals[k] for k in KINDS], largest_remainder(n, shares))))
    rng = random.Random(seed)
    cells = []
    names, weights = [c for c, _ in cats], [w for _, w in cats]
    for kind in KINDS:
        if not totals[kind]:
            continue
        if kind == "refusal":
            rows, row_names = largest_remainder(totals[kind], [1.0] * len(will_not)), [REFUSAL_CATEGORY] * len(will_not)
        else:
            rows, row_names = largest_remainder(totals[kind], weights), names
        matrix = controlled_rounding(rows, kind_diff[kind])
        pool = list(competencies if kind == "common" else edge_cases)
        start = rng.randrange(len(pool)) if pool else 0
        k = 0
        for r, (row, row_total) in enumerate(zip(row_names, matrix)):
            for diff, count in zip(DIFFICULTIES, row_total):
                while count > 0:
                    take = min(count, cell_size)
                    if kind == "refusal":
                        what = will_not[r]
                    elif pool:
                        what = pool[(start + k) % len(pool)]
                    elif kind == "common":
                        what = f"a typical {row} request answered well"
                    else:
                        what = GENERIC_EDGE
                    cells.append(Cell(kind, row, diff, take, what))
                    count -= take
                    k += 1
    return _merge(cells)


CASES = {
    "tiny": dict(n=7, categories=[("a", 1.0)]),
    "pools": dict(n=2000, categories=[("a", 2.0), ("b", 1.0), ("c", 0.5)], competencies=["x", "y", "z"],
                  edge_cases=["e1", "e2"], will_not=["w1", "w2", "w3"], seed=3),
    "big-pool": dict(n=1234, categories=[("a", 1.0), ("b", 1.0)], competencies=[f"c{i}" for i in range(40)],
                     edge_cases=[f"e{i}" for i in range(25)], will_not=["w"], seed=11),
    "repeated-texts": dict(n=999, categories=[("a", 1.0)], competencies=["same", "same", "other"],
                           edge_cases=["e", "e"], will_not=["w", "w"], seed=5),
    "no-pools": dict(n=20000, categories=[("a", 3.0), ("b", 1.0)]),
    "odd-cell-size": dict(n=5003, categories=[("a", 1.0), ("b", 2.0)], competencies=["p", "q", "r", "s"],
                          edge_cases=["e1", "e2", "e3"], will_not=["w1"], seed=2, cell_size=7),
}


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_counted_cut_equals_the_piece_by_piece_cut(case):
    kw = dict(CASES[case])
    assert split_cells(**kw) == _reference(**kw)


def test_a_huge_target_plans_in_milliseconds_with_few_cells():
    kw = dict(categories=[("a", 2.0), ("b", 1.0), ("c", 1.0)], competencies=[f"c{i}" for i in range(12)],
              edge_cases=[f"e{i}" for i in range(8)], will_not=["w1", "w2"], seed=1)
    tracemalloc.start()
    t0 = time.perf_counter()
    cells = split_cells(10**12, **kw)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sum(c.count for c in cells) == 10**12
    assert len(cells) == len(split_cells(10**5, **kw))  # as many cells as a modest plan: bounded by the pools
    assert len(cells) <= len(KINDS) * 3 * 3 * 12
    assert elapsed < 0.5, elapsed
    assert peak < 1_000_000, peak  # bytes: nothing per example or per piece


def test_the_quota_book_of_a_huge_plan_is_small_and_answers_fast():
    cells = split_cells(10**12, [("a", 1.0), ("b", 1.0)], competencies=["x", "y"], edge_cases=["e"],
                        will_not=["w"])
    book = QuotaBook({c.key: c.count for c in cells})
    t0 = time.perf_counter()
    key = book.pick()
    assert key is not None and book.need(key) > 0 and book.total_need() >= 10**12
    assert not book.complete()
    assert time.perf_counter() - t0 < 0.5
    assert sys.getsizeof(book.quotas) < 10_000
