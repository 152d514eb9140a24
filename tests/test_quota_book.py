"""The scale-up tops up every quota cell to its own quota (core/generate/quota_book.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.generate.quota_book import SAFETY_SIGMAS, QuotaBook, attempt_budget, cell_key, select


@dataclass
class Ex:
    kind: str
    category: str = "billing"
    difficulty: str = "easy"
    exercises: str = "x"


COMMON = cell_key("common", "billing", "easy", "x")
REFUSAL = cell_key("refusal", "out_of_scope", "easy", "no legal advice")


def book(**quotas: int) -> QuotaBook:
    return QuotaBook({COMMON: quotas.get("common", 90), REFUSAL: quotas.get("refusal", 10)}, prior=1.0)


def test_a_full_cell_needs_nothing_and_the_work_in_flight_counts_with_a_margin() -> None:
    b = book()
    b.kept[COMMON] = 90
    assert b.need(COMMON) == 0
    b = QuotaBook({COMMON: 100}, prior=0.7)
    b.start(COMMON, 40)
    rate = b.rate(COMMON)
    assert abs(rate - 0.7) < 1e-9
    margin = SAFETY_SIGMAS * math.sqrt(40 * rate * (1 - rate))
    assert b.need(COMMON) == math.ceil((100 - rate * 40 + margin) / rate)


def test_a_kind_the_filters_reject_is_topped_up_not_dropped() -> None:
    """The defect: a 200-row set came out with 0 refusals because the scale-up re-planned the total."""
    b = book()
    b.record([Ex("common")] * 90, [(Ex("refusal", "out_of_scope", exercises="no legal advice"), ["refusal_missing"])] * 16)
    assert b.missing(COMMON) == 0 and b.missing(REFUSAL) == 10
    assert b.need(REFUSAL) > 10  # its own, low pass rate: more than the 10 missing
    assert b.pick() == REFUSAL and not b.complete()
    assert b.struggling(REFUSAL) and b.top_reasons(REFUSAL) == ["refusal_missing"]


def test_a_cell_that_keeps_failing_is_exhausted_and_reported_short() -> None:
    b = book(refusal=4)
    rejected = [(Ex("refusal", "out_of_scope", exercises="no legal advice"), ["eval_leak"])]
    b.record([], rejected * (attempt_budget(4) - 1))
    assert REFUSAL not in b.exhausted
    b.record([], rejected)
    assert REFUSAL in b.exhausted and b.need(REFUSAL) == 0
    b.kept[COMMON] = 90
    assert b.complete() and b.short() == {REFUSAL: 4}


def test_select_keeps_each_cell_to_its_quota_and_places_examples_of_an_earlier_plan() -> None:
    examples = [Ex("common")] * 95 + [Ex("refusal", "out_of_scope", exercises="an older WILL NOT wording")] * 12
    kept = select({COMMON: 90, REFUSAL: 10}, examples)
    assert sum(e.kind == "common" for e in kept) == 90 and sum(e.kind == "refusal" for e in kept) == 10


def test_a_large_scale_up_spreads_its_requests_over_the_cells() -> None:
    """At a million examples a cell with a lower pass rate won every pick (its need relative to its quota
    was largest and work in flight hardly changed it): every request went to one cell. Cells now fill at
    the same pace, the one with the lower pass rate getting more requests in proportion."""
    b = QuotaBook({COMMON: 40_000, REFUSAL: 40_000}, prior=0.9)
    b.record([Ex("common")] * 9, [(Ex("common"), ["too_short"])])
    b.record([Ex("refusal", "out_of_scope", exercises="no legal advice")] * 5,
             [(Ex("refusal", "out_of_scope", exercises="no legal advice"), ["refusal_missing"])] * 5)
    picks = []
    for _ in range(300):
        key = b.pick()
        picks.append(key)
        b.start(key, 8)
    share = picks.count(REFUSAL) / len(picks)
    assert 0.5 < share < 0.8, share  # more for the cell that passes less often, but not every request
