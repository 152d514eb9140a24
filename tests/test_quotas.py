"""Eval set quotas: exact integer cells, the spec's ratios, categories by weight, difficulties by share."""

from __future__ import annotations

import math

import pytest

from core.extract.quotas import (
    OUT_OF_SCOPE_CATEGORY,
    controlled_rounding,
    kind_totals,
    largest_remainder,
    plan_quotas,
    round_half_up,
)
from core.models.knowledge import DIFFICULTIES

CATS = [("billing", 3.0), ("technical", 2.0), ("account", 1.0), ("other", 0.5)]


def test_largest_remainder_is_exact_and_fair() -> None:
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert largest_remainder(7, [3, 2, 1, 0.5]) == [3, 2, 1, 1]
    assert largest_remainder(0, [1, 2]) == [0, 0]
    for total in range(0, 60):
        parts = largest_remainder(total, [5, 3, 1.5, 0.25])
        assert sum(parts) == total
        quotas = [total * w / 9.75 for w in (5, 3, 1.5, 0.25)]
        assert all(math.floor(q) <= p <= math.floor(q) + 1 for p, q in zip(parts, quotas))
    with pytest.raises(ValueError):
        largest_remainder(3, [])


def test_round_half_up_ignores_float_noise() -> None:
    assert round_half_up(50, 0.05) == 3  # 2.5
    assert round_half_up(75, 0.10) == 8  # 7.5 (7.500000000000001 in binary floats)
    assert round_half_up(75, 0.15) == 11  # 11.25
    assert round_half_up(100, 0.10) == 10


def test_controlled_rounding_keeps_both_margins() -> None:
    rows, cols = [13, 7, 5, 1], [8, 12, 6]
    m = controlled_rounding(rows, cols)
    assert [sum(r) for r in m] == rows
    assert [sum(c) for c in zip(*m)] == cols
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert abs(m[i][j] - r * c / 26) < 1.0 + 1e-9


@pytest.mark.parametrize("size", [50, 75, 100, 200])
@pytest.mark.parametrize("ratio", [0.05, 0.10, 0.15, 0.20])
def test_kind_ratios(size: int, ratio: float) -> None:
    plan = plan_quotas(size, ratio, CATS, will_not_count=3)
    kinds = plan.by_kind()
    assert plan.total() == sum(kinds.values()) == size
    assert kinds["out_of_scope"] == round_half_up(size, ratio)
    assert 0.60 * size - 1e-9 <= kinds["common"] <= 0.70 * size + 1e-9
    edge = kinds["edge"] + kinds["lookalike"]
    assert 0.20 * size - 1e-9 <= edge <= 0.30 * size + 1e-9
    assert kinds["lookalike"] >= 1 and kinds["lookalike"] == max(1, round_half_up(size, 0.05))
    assert all(isinstance(c.count, int) and c.count > 0 for c in plan.cells)
    assert len({c.key for c in plan.cells}) == len(plan.cells)


@pytest.mark.parametrize("size", [50, 75, 100, 200])
def test_difficulties_and_categories(size: int) -> None:
    plan = plan_quotas(size, 0.10, CATS, will_not_count=4)
    diffs = plan.by_difficulty()
    assert [diffs[d] for d in DIFFICULTIES] == largest_remainder(size, [0.3, 0.5, 0.2])
    # each in-scope kind is split over categories by weight, exactly as largest remainder says
    for kind in ("common", "edge", "lookalike"):
        per_cat = {name: 0 for name, _ in CATS}
        for c in plan.cells:
            if c.kind == kind:
                per_cat[c.category] += c.count
        total = sum(per_cat.values())
        assert list(per_cat.values()) == largest_remainder(total, [w for _, w in CATS])
    cats = plan.by_category()
    assert cats["billing"] > cats["technical"] > cats["account"] > cats["other"]
    # out-of-scope examples: their own category, spread evenly over the WILL NOT statements
    oos = [c for c in plan.cells if c.kind == "out_of_scope"]
    assert {c.category for c in oos} == {OUT_OF_SCOPE_CATEGORY}
    per_statement = [sum(c.count for c in oos if c.will_not == i) for i in range(4)]
    assert per_statement == largest_remainder(plan.out_of_scope, [1, 1, 1, 1])
    # look-alikes each resemble a WILL NOT statement, round-robin
    looks = [c for c in plan.cells if c.kind == "lookalike"]
    assert all(c.will_not is not None for c in looks)
    counts = [sum(c.count for c in looks if c.will_not == i) for i in range(4)]
    assert max(counts) - min(counts) <= 1


def test_edge_is_squeezed_when_out_of_scope_is_large() -> None:
    assert kind_totals(100, 0.20) == {"common": 60, "edge": 15, "out_of_scope": 20, "lookalike": 5}
    assert kind_totals(100, 0.05) == {"common": 70, "edge": 20, "out_of_scope": 5, "lookalike": 5}
    assert kind_totals(100, 0.10) == {"common": 65, "edge": 20, "out_of_scope": 10, "lookalike": 5}
    assert kind_totals(75, 0.20) == {"common": 45, "edge": 11, "out_of_scope": 15, "lookalike": 4}


def test_single_category_and_single_statement() -> None:
    plan = plan_quotas(50, 0.10, {"everything": 1.0}, will_not_count=1)
    assert plan.total() == 50
    assert {c.category for c in plan.cells} == {"everything", OUT_OF_SCOPE_CATEGORY}


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="no input categories"):
        plan_quotas(100, 0.1, [], 2)
    with pytest.raises(ValueError, match="WILL NOT"):
        plan_quotas(100, 0.1, CATS, 0)
    with pytest.raises(ValueError, match="reserved"):
        plan_quotas(100, 0.1, [("out_of_scope", 1.0)], 1)
    with pytest.raises(ValueError, match="60-70%"):
        kind_totals(100, 0.40)
