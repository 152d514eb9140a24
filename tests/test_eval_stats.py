"""Evaluation statistics against hand-computed cases: the paired t-test, McNemar's exact test, the paired
bootstrap CI, the minimum detectable effect, Cohen's kappa, and the metrics built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluate.judge_validation import cohen_kappa
from core.evaluate.metrics import classification_stats, consistency, distinct_n, length_stats
from core.evaluate.stats import (
    bootstrap_ci, discordant, group_p, mcnemar, mcnemar_exact, mde_binary, mde_continuous, n_for_effect,
    paired_stats, paired_ttest,
)

Z975 = 1.959963984540054
Z80 = 0.8416212335729143


def t4_two_sided_p(t: float) -> float:
    """Closed-form Student t CDF for 4 degrees of freedom."""
    x = t / math.sqrt(1 + t * t / 4)
    cdf = 0.5 + 3 / 8 * x * (1 - x * x / 12)
    return 2 * (1 - cdf)


def test_paired_ttest_matches_a_hand_computed_case():
    base = [1, 2, 3, 4, 5]
    cand = [2, 4, 3, 6, 7]
    # differences 1, 2, 0, 2, 2: mean 1.4, sample variance 3.2 / 4 = 0.8, se = sqrt(0.8 / 5) = 0.4, t = 3.5
    res = paired_ttest(base, cand)
    assert res.t == pytest.approx(3.5)
    assert res.df == 4
    assert res.p == pytest.approx(t4_two_sided_p(3.5), abs=1e-12)
    assert res.p == pytest.approx(0.0248962, abs=1e-6)


def test_paired_ttest_handles_zero_variance_and_tiny_samples():
    same = paired_ttest([0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    assert (same.t, same.p) == (0.0, 1.0) and "zero" in same.note
    shifted = paired_ttest([0, 0, 0, 0], [1, 1, 1, 1])
    assert shifted.t == math.inf and shifted.p == 0.0
    worse = paired_ttest([1, 1, 1], [0, 0, 0])
    assert worse.t == -math.inf and worse.p == 0.0
    one = paired_ttest([0.1], [0.9])
    assert one.p is None and one.t is None
    with pytest.raises(ValueError):
        paired_ttest([1, 2], [1])


def test_mcnemar_exact_with_known_discordant_counts():
    # b=1, c=9: p = 2 * P(X <= 1 | n=10, 1/2) = 2 * (1 + 10) / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, abs=1e-15)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024, abs=1e-15)
    # b=0, c=5: 2 * (1/2)^5
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(3, 3) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0
    base = [True, True, False, False, False, True]
    cand = [True, False, True, True, True, True]
    assert discordant(base, cand) == (1, 3)
    res = mcnemar(base, cand)
    assert (res.b, res.c) == (1, 3)
    # two-sided: 2 * P(X <= 1 | n=4) = 2 * 5/16
    assert res.p == pytest.approx(10 / 16)


def test_bootstrap_ci_is_deterministic_and_contains_the_true_difference():
    rng = np.random.default_rng(11)
    true_diff = 0.1
    diffs = true_diff + rng.normal(0, 0.3, size=200)
    a = bootstrap_ci(diffs, seed=123, n_resamples=10_000)
    b = bootstrap_ci(diffs, seed=123, n_resamples=10_000)
    assert a == b
    lo, hi = a
    assert lo < true_diff < hi
    assert lo < float(np.mean(diffs)) < hi
    # close to the normal-theory interval mean +- 1.96 * sd / sqrt(n)
    se = float(np.std(diffs, ddof=1)) / math.sqrt(200)
    assert hi - lo == pytest.approx(2 * Z975 * se, rel=0.1)
    assert bootstrap_ci(diffs, seed=124) != a


def test_bootstrap_ci_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(2024)
    hits = 0
    for i in range(200):
        diffs = 0.1 + rng.normal(0, 0.3, size=60)
        lo, hi = bootstrap_ci(diffs, seed=i, n_resamples=2000)
        hits += lo < 0.1 < hi
    assert 0.88 <= hits / 200 <= 0.99
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_minimum_detectable_effect_formulas():
    # MDE = (z_{0.975} + z_{0.8}) * sd / sqrt(n)
    assert mde_continuous(0.5, 100) == pytest.approx((Z975 + Z80) * 0.5 / 10, abs=1e-9)
    assert mde_continuous(0.5, 100) == pytest.approx(0.140079, abs=1e-6)
    assert mde_continuous(0.5, 100, alpha=0.01) > mde_continuous(0.5, 100)
    assert mde_continuous(0.5, 0) is None
    # binary: sqrt(n) * d = z_a * sqrt(psi) + z_b * sqrt(psi - d^2)
    d = mde_binary(100, 0.2)
    assert d == pytest.approx(0.12382, abs=1e-4)
    assert math.sqrt(100) * d == pytest.approx(Z975 * math.sqrt(0.2) + Z80 * math.sqrt(0.2 - d * d), abs=1e-9)
    assert mde_binary(400, 0.2) < d
    assert mde_binary(2, 0.05) is None  # not detectable at all
    # inverse: the pairs needed for the MDE of n=100 is about 100
    assert n_for_effect(mde_continuous(0.5, 100), 0.5) in (100, 101)


def test_paired_stats_chooses_mcnemar_for_pass_fail_and_ttest_otherwise():
    base = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0] * 3
    cand = [1, 1, 1, 1, 0, 1, 1, 1, 1, 0] * 3
    st = paired_stats(base, cand, seed=1, n_resamples=2000)
    assert st.binary and st.primary_test == "mcnemar"
    assert (st.mcnemar_b, st.mcnemar_c) == (0, 15)
    assert st.p_value == pytest.approx(mcnemar_exact(0, 15))
    assert st.mean_diff == pytest.approx(0.5)
    assert st.ci_low <= 0.5 <= st.ci_high
    assert st.mde is not None and st.mde_binary is not None
    assert st.discordance == pytest.approx(0.5)
    cont = paired_stats([0.2, 0.4, 0.5, 0.7], [0.3, 0.6, 0.5, 0.9], n_resamples=500)
    assert cont.primary_test == "ttest" and cont.p_value == cont.t_p
    forced = paired_stats(base, cand, primary_test="ttest", n_resamples=500)
    assert forced.p_value == forced.t_p
    assert paired_stats([], []).p_value is None
    d = st.to_dict()
    assert d["primary_test"] == "mcnemar"


def test_group_p_uses_the_test_that_fits():
    assert group_p([1, 0, 0, 0, 0], [1, 1, 1, 1, 1]) == pytest.approx(mcnemar_exact(0, 4))
    assert group_p([0.1, 0.2, 0.3], [0.2, 0.4, 0.6]) == pytest.approx(paired_ttest([0.1, 0.2, 0.3], [0.2, 0.4, 0.6]).p)
    assert group_p([1], [0]) is None


def test_cohen_kappa_with_a_hand_computed_table():
    # 20 true/true, 5 true/false, 10 false/true, 15 false/false
    truth = [True] * 25 + [False] * 25
    verdict = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    agr = cohen_kappa(truth, verdict)
    # po = 35/50 = 0.7; pe = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.4; se = sqrt(0.7 * 0.3 / (50 * 0.25))
    assert agr.accuracy == pytest.approx(0.7)
    assert agr.kappa == pytest.approx(0.4)
    se = math.sqrt(0.21 / 12.5)
    assert agr.kappa_se == pytest.approx(se)
    assert agr.ci_low == pytest.approx(0.4 - Z975 * se)
    assert agr.ci_high == pytest.approx(0.4 + Z975 * se)
    perfect = cohen_kappa([True, False] * 10, [True, False] * 10)
    assert perfect.kappa == pytest.approx(1.0) and perfect.ci_low == pytest.approx(1.0)
    constant = cohen_kappa([True] * 5, [True] * 5)
    assert constant.kappa is None and constant.accuracy == 1.0


def test_classification_macro_scores_by_hand():
    expected = ["a", "a", "b", "b", "c", "c"]
    predicted = ["a", "b", "b", "b", None, "c"]
    cs = classification_stats(predicted, expected)
    # a: P 1, R .5, F1 2/3; b: P 2/3, R 1, F1 .8; c: P 1, R .5, F1 2/3
    assert cs.precision == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert cs.recall == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert cs.f1 == pytest.approx((2 / 3 + 0.8 + 2 / 3) / 3)
    assert cs.accuracy == pytest.approx(4 / 6)


def test_generation_and_consistency_metrics():
    assert distinct_n(["a b a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n([""], 2) == 0.0
    ls = length_stats(["aa", "bbbb", "cccccc"])
    assert (ls.mean_chars, ls.median_chars) == (4.0, 4.0)
    assert ls.p95_chars == pytest.approx(5.8)
    assert consistency({"g1": [1, 0], "g2": [1, 1, 1], "lonely": [0.3]}) == pytest.approx((0.25 + 0.0) / 2)
    assert consistency(None) is None and consistency({"x": [1.0]}) is None
