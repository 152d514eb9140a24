"""Paired statistics of base vs candidate scores on the same eval examples (scipy + numpy).

- :func:`paired_ttest`: the paired t-test the spec names (``scipy.stats.ttest_rel``). Zero-variance
  differences are handled without NaNs: all differences zero gives t = 0, p = 1; all equal and non-zero
  gives t = ±inf, p = 0 (with n >= 2).
- :func:`mcnemar_exact`: McNemar's exact test for pass/fail outcomes: a two-sided binomial test of the
  discordant pairs (``scipy.stats.binomtest(c, b + c, 0.5)``; b = base passed and candidate failed,
  c = base failed and candidate passed).
- :func:`bootstrap_ci`: a seeded, vectorised percentile bootstrap CI of the mean paired difference.
- :func:`mde_continuous` / :func:`mde_binary`: the minimum detectable effect for the eval set's size.
- :func:`paired_stats`: all of it as one :class:`StatsReport`; ``primary_test`` "auto" uses McNemar when
  every score is 0 or 1 (pass/fail data) and the t-test otherwise; both p-values are always reported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, Sequence

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.80
N_RESAMPLES = 10_000
DEFAULT_DISCORDANCE = 0.20  # assumed share of discordant pairs when none is observed yet
_CHUNK = 1_000  # bootstrap resamples per vectorised block (bounds memory at ~CHUNK x n)


@dataclass(frozen=True)
class TTest:
    t: float | None
    p: float | None
    df: int
    note: str = ""


def paired_ttest(base: Sequence[float], candidate: Sequence[float]) -> TTest:
    """Two-sided paired t-test of ``candidate - base``; p None when n < 2."""
    b, c = _pair(base, candidate)
    n = len(b)
    if n < 2:
        return TTest(None, None, max(0, n - 1), "fewer than 2 pairs")
    d = c - b
    if np.allclose(d, d[0], rtol=0.0, atol=1e-12):
        if abs(d[0]) <= 1e-12:
            return TTest(0.0, 1.0, n - 1, "every difference is zero")
        return TTest(math.copysign(math.inf, d[0]), 0.0, n - 1, "every difference is the same non-zero value")
    res = stats.ttest_rel(c, b)
    return TTest(float(res.statistic), float(res.pvalue), n - 1)


@dataclass(frozen=True)
class McNemar:
    b: int  # base passed, candidate failed
    c: int  # base failed, candidate passed
    p: float


def discordant(base_passed: Sequence[bool], candidate_passed: Sequence[bool]) -> tuple[int, int]:
    if len(base_passed) != len(candidate_passed):
        raise ValueError("base and candidate must have the same length (paired)")
    b = sum(1 for x, y in zip(base_passed, candidate_passed) if x and not y)
    c = sum(1 for x, y in zip(base_passed, candidate_passed) if y and not x)
    return b, c


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (1.0 when there are none)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(c, b + c, 0.5, alternative="two-sided").pvalue)


def mcnemar(base_passed: Sequence[bool], candidate_passed: Sequence[bool]) -> McNemar:
    b, c = discordant(base_passed, candidate_passed)
    return McNemar(b, c, mcnemar_exact(b, c))


def bootstrap_ci(
    diffs: Sequence[float],
    level: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean of paired differences; None when there are none."""
    d = np.asarray(diffs, dtype=float)
    n = d.size
    if n == 0:
        return None
    if n == 1 or np.allclose(d, d[0]):
        return float(d[0]), float(d[0])
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        k = min(_CHUNK, n_resamples - start)
        idx = rng.integers(0, n, size=(k, n))
        means[start:start + k] = d[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _z(alpha: float, power: float) -> tuple[float, float]:
    return float(stats.norm.ppf(1 - alpha / 2)), float(stats.norm.ppf(power))


def mde_continuous(sd_diff: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Paired design: MDE = (z_{1-alpha/2} + z_power) * sd_diff / sqrt(n)."""
    if n < 1 or sd_diff is None or not math.isfinite(sd_diff):
        return None
    za, zb = _z(alpha, power)
    return (za + zb) * sd_diff / math.sqrt(n)


def mde_binary(n: int, discordance: float = DEFAULT_DISCORDANCE, alpha: float = ALPHA,
               power: float = POWER) -> float | None:
    """Smallest difference in pass rates McNemar's test detects with ``power``, for ``n`` pairs and a
    discordant-pair share ``discordance`` (psi). Solves Connor's (1987) normal approximation
    sqrt(n)*delta = z_{1-alpha/2}*sqrt(psi) + z_power*sqrt(psi - delta^2) for delta in (0, psi];
    None when even delta = psi is not detectable."""
    if n < 1 or not 0 < discordance <= 1:
        return None
    za, zb = _z(alpha, power)
    psi = discordance

    def f(delta: float) -> float:
        return math.sqrt(n) * delta - za * math.sqrt(psi) - zb * math.sqrt(max(0.0, psi - delta * delta))

    if f(psi) < 0:
        return None
    return float(optimize.brentq(f, 1e-12, psi, xtol=1e-12))


def n_for_effect(effect: float, sd_diff: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Pairs needed to detect ``effect`` (paired t-test, normal approximation)."""
    if not effect or sd_diff is None or sd_diff <= 0:
        return None
    za, zb = _z(alpha, power)
    return math.ceil(((za + zb) * sd_diff / abs(effect)) ** 2)


def is_binary(values: Sequence[float]) -> bool:
    return all(v in (0, 1, 0.0, 1.0) for v in values)


@dataclass
class StatsReport:
    n: int
    mean_base: float | None
    mean_candidate: float | None
    mean_diff: float | None
    sd_diff: float | None
    t_stat: float | None
    t_p: float | None
    mcnemar_b: int  # base passed, candidate failed
    mcnemar_c: int  # base failed, candidate passed
    mcnemar_p: float
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    n_resamples: int
    seed: int
    mde: float | None  # continuous (paired t), in score units
    mde_binary: float | None  # pass-rate difference (McNemar), at ``discordance``
    discordance: float
    alpha: float
    power: float
    binary: bool
    primary_test: Literal["ttest", "mcnemar"]
    p_value: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():  # JSON has no infinity
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = "inf" if v > 0 else "-inf"
        return out


def paired_stats(
    base_scores: Sequence[float],
    candidate_scores: Sequence[float],
    base_passed: Sequence[bool] | None = None,
    candidate_passed: Sequence[bool] | None = None,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
    level: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    primary_test: Literal["auto", "ttest", "mcnemar"] = "auto",
    discordance: float | None = None,
) -> StatsReport:
    """Every paired statistic of candidate vs base (lists aligned by example)."""
    b, c = _pair(base_scores, candidate_scores)
    n = len(b)
    bp = list(base_passed) if base_passed is not None else [x >= 0.5 for x in b]
    cp = list(candidate_passed) if candidate_passed is not None else [x >= 0.5 for x in c]
    if len(bp) != n or len(cp) != n:
        raise ValueError("pass/fail lists must align with the scores")
    d = c - b
    sd = float(np.std(d, ddof=1)) if n >= 2 else None
    tt = paired_ttest(b, c)
    mc = mcnemar(bp, cp)
    ci = bootstrap_ci(d, level, n_resamples, seed)
    observed = (mc.b + mc.c) / n if n else 0.0
    psi = discordance if discordance is not None else (observed if observed > 0 else DEFAULT_DISCORDANCE)
    binary = n > 0 and is_binary(b.tolist()) and is_binary(c.tolist())
    chosen: Literal["ttest", "mcnemar"]
    chosen = ("mcnemar" if binary else "ttest") if primary_test == "auto" else primary_test
    p = mc.p if chosen == "mcnemar" else tt.p
    if n == 0:
        p = None
    return StatsReport(
        n=n,
        mean_base=float(b.mean()) if n else None,
        mean_candidate=float(c.mean()) if n else None,
        mean_diff=float(d.mean()) if n else None,
        sd_diff=sd,
        t_stat=tt.t, t_p=tt.p,
        mcnemar_b=mc.b, mcnemar_c=mc.c, mcnemar_p=mc.p,
        ci_low=ci[0] if ci else None, ci_high=ci[1] if ci else None, ci_level=level,
        n_resamples=n_resamples, seed=seed,
        mde=mde_continuous(sd, n, alpha, power) if sd is not None else None,
        mde_binary=mde_binary(n, psi, alpha, power),
        discordance=psi, alpha=alpha, power=power, binary=binary,
        primary_test=chosen, p_value=p, note=tt.note,
    )


def group_p(base_scores: Sequence[float], candidate_scores: Sequence[float]) -> float | None:
    """One p-value for a subgroup: McNemar for pass/fail scores, the paired t-test otherwise."""
    b, c = _pair(base_scores, candidate_scores)
    if len(b) < 2:
        return None
    if is_binary(b.tolist()) and is_binary(c.tolist()):
        return mcnemar([x >= 0.5 for x in b], [x >= 0.5 for x in c]).p
    return paired_ttest(b, c).p


def _pair(base: Sequence[float], candidate: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(base, dtype=float)
    c = np.asarray(candidate, dtype=float)
    if b.shape != c.shape:
        raise ValueError(f"paired samples differ in length ({b.size} vs {c.size})")
    return b, c
