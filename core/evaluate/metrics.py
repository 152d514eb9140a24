"""Automated metrics over per-example results of the base and the candidate (spec SKILL 4 §2, §6).

Counted: examples with a result for both models that an automated method scored. Left out, and
counted: rows pending a human rating (:func:`core.evaluate.scorers.is_pending`) and llm_judge rows when
the judge did not pass validation (a judge that failed validation never counts).

- overall mean score and pass rate per model; improvement = candidate - base (absolute, in score
  points 0..1) and relative (% of the base);
- by category, difficulty and kind: n, means, delta, pass rates, better/worse/same counts, a paired p;
- refusals: accuracy on should-refuse (out-of-scope) examples (target 100%), leaked ids, refusal
  regressions (base refused, candidate did not); over-refusal rate on look-alikes;
- task-specific: macro precision/recall/F1 for classification (labels extracted from the outputs), pass
  rate for code examples, win rate from pairwise judge results (only when the judge's pairwise verdicts
  were validated), length distribution and distinct-n for generation;
- accuracy on in-scope examples (``candidate_in_scope`` / ``base_in_scope``): None when no in-scope example
  was scored for both models (never the refusal mean in its place);
- consistency of correct behaviour (:func:`consistency_stats`): per paraphrase group (an original input and
  the paraphrases written of it), only groups whose original the model gets right count; the value is the
  share of those groups where the model is wrong on at least one paraphrase (0 = every correct answer
  survives rephrasing; lower is better, the default dimension's target is at most 0.20). A model that is
  right on fewer than :data:`MIN_CONSISTENCY_GROUPS` originals gets None with the reason (not measurable:
  consistently wrong is not consistency);
- judge dimensions: per model, the mean score (0..1) of each rubric dimension the validated judge scored,
  over in-scope judged examples (``judge_dimensions``; used by custom decision dimensions such as empathy);
- the paired statistics (:func:`core.evaluate.stats.paired_stats`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from core.evaluate.judge import PairwiseResult, norm_name
from core.evaluate.scorers import is_pending
from core.evaluate.scorers_functional import functional_spec
from core.evaluate.scorers_match import extract_label, label_of
from core.evaluate.stats import StatsReport, group_p, paired_stats
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample
from core.models.runs import EvalResult


@dataclass
class GroupStats:
    name: str
    n: int
    base_mean: float
    candidate_mean: float
    delta: float
    base_pass_rate: float
    candidate_pass_rate: float
    better: int
    worse: int
    same: int
    p_value: float | None


@dataclass
class RefusalStats:
    n_should_refuse: int = 0
    candidate_accuracy: float | None = None
    base_accuracy: float | None = None
    leaked: list[str] = field(default_factory=list)  # candidate did not refuse
    regressions: list[str] = field(default_factory=list)  # base refused, candidate did not
    n_lookalike: int = 0
    candidate_over_refusal: float | None = None
    base_over_refusal: float | None = None
    over_refused: list[str] = field(default_factory=list)  # look-alikes the candidate refused
    over_refusal_regressions: list[str] = field(default_factory=list)  # base answered, candidate refused


@dataclass
class ClassificationStats:
    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    per_label: dict[str, dict[str, float]]


@dataclass
class LengthStats:
    mean_chars: float
    median_chars: float
    p95_chars: float
    mean_words: float
    median_words: float
    p95_words: float


@dataclass
class GenerationStats:
    length: LengthStats
    distinct_1: float
    distinct_2: float


@dataclass
class PreferenceStats:
    n: int
    wins: int
    losses: int
    ties: int
    inconsistent: int  # position-inconsistent (counted as ties)
    win_rate: float  # candidate wins / n
    win_rate_ties_half: float  # (wins + ties / 2) / n
    usable: bool  # the judge's pairwise verdicts were validated
    flagged: list[str] = field(default_factory=list)


MIN_CONSISTENCY_GROUPS = 5  # originals the model gets right, each with a scored paraphrase


@dataclass
class ConsistencyStats:
    """Consistency of correct behaviour across paraphrases, for one model."""

    groups: int = 0  # paraphrase groups (an original and its paraphrases)
    scored: int = 0  # ... with the original and at least one paraphrase scored
    measured: int = 0  # ... of them, the model is right on the original
    consistent: int = 0  # ... and right on every scored paraphrase too
    broken: list[str] = field(default_factory=list)  # originals right, but wrong on a paraphrase
    value: float | None = None  # (measured - consistent) / measured: share of correct answers lost on rephrasing
    reason: str = ""  # why value is None
    variance: float | None = None  # mean within-group score variance over the measured groups (for reference)


@dataclass
class MetricsReport:
    n_examples: int
    n_paired: int
    n_pending: int
    n_judge_excluded: int
    judge_usable: bool | None
    methods: dict[str, int]
    base_overall: float | None
    candidate_overall: float | None
    base_pass_rate: float | None
    candidate_pass_rate: float | None
    candidate_in_scope: float | None  # mean score on examples that should be answered
    improvement_abs: float | None
    improvement_rel: float | None  # percent of the base score
    by_category: dict[str, GroupStats]
    by_difficulty: dict[str, GroupStats]
    by_kind: dict[str, GroupStats]
    refusal: RefusalStats
    stats: StatsReport | None
    classification: dict[str, ClassificationStats] | None = None
    code_pass_rate: dict[str, float] | None = None
    preference: PreferenceStats | None = None
    generation: dict[str, GenerationStats] | None = None
    consistency: dict[str, float | None] = field(default_factory=dict)  # role -> ConsistencyStats.value
    flagged: list[str] = field(default_factory=list)
    better: int = 0
    worse: int = 0
    same: int = 0
    base_in_scope: float | None = None
    consistency_detail: dict[str, ConsistencyStats] = field(default_factory=dict)
    judge_dimensions: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> {dimension: mean 0..1}
    judge_dimension_n: dict[str, int] = field(default_factory=dict)  # dimension -> candidate outputs scored on it
    base_model: str = ""
    candidate_model: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stats"] = self.stats.to_dict() if self.stats else None
        return out


# ---------------------------------------------------------------- building blocks


def _rate(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def group_stats(name: str, pairs: Sequence[tuple[EvalResult, EvalResult]], tol: float = 1e-9) -> GroupStats:
    b = [x.score for x, _ in pairs]
    c = [y.score for _, y in pairs]
    d = [y - x for x, y in zip(b, c)]
    return GroupStats(
        name=name, n=len(pairs),
        base_mean=float(np.mean(b)), candidate_mean=float(np.mean(c)), delta=float(np.mean(d)),
        base_pass_rate=sum(x.passed for x, _ in pairs) / len(pairs),
        candidate_pass_rate=sum(y.passed for _, y in pairs) / len(pairs),
        better=sum(v > tol for v in d), worse=sum(v < -tol for v in d), same=sum(abs(v) <= tol for v in d),
        p_value=group_p(b, c),
    )


def _by(pairs: Sequence[tuple[EvalResult, EvalResult]], key: str) -> dict[str, GroupStats]:
    groups: dict[str, list[tuple[EvalResult, EvalResult]]] = defaultdict(list)
    for pair in pairs:
        groups[getattr(pair[1], key) or "(none)"].append(pair)
    return {k: group_stats(k, v) for k, v in sorted(groups.items())}


def classification_stats(predicted: Sequence[str | None], expected: Sequence[str]) -> ClassificationStats:
    """Macro precision/recall/F1 over the expected labels (a missing prediction counts as wrong)."""
    labels = sorted(set(expected))
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(p == label and e == label for p, e in zip(predicted, expected))
        fp = sum(p == label and e != label for p, e in zip(predicted, expected))
        fn = sum(p != label and e == label for p, e in zip(predicted, expected))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[label] = {"precision": prec, "recall": rec, "f1": f1, "support": float(tp + fn)}
    n = len(expected)
    acc = sum(p == e for p, e in zip(predicted, expected)) / n if n else 0.0
    k = len(labels) or 1
    return ClassificationStats(n, acc, sum(v["precision"] for v in per.values()) / k,
                               sum(v["recall"] for v in per.values()) / k, sum(v["f1"] for v in per.values()) / k,
                               per)


def length_stats(outputs: Sequence[str]) -> LengthStats:
    chars = np.array([len(o or "") for o in outputs], dtype=float) if outputs else np.zeros(1)
    words = np.array([len((o or "").split()) for o in outputs], dtype=float) if outputs else np.zeros(1)
    return LengthStats(float(chars.mean()), float(np.median(chars)), float(np.percentile(chars, 95)),
                       float(words.mean()), float(np.median(words)), float(np.percentile(words, 95)))


def distinct_n(outputs: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams over the outputs' lower-cased words (0 when there are none)."""
    grams: list[tuple[str, ...]] = []
    for o in outputs:
        w = (o or "").lower().split()
        grams.extend(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def generation_stats(outputs: Sequence[str]) -> GenerationStats:
    return GenerationStats(length_stats(outputs), distinct_n(outputs, 1), distinct_n(outputs, 2))


def consistency(scores_by_group: Mapping[str, Sequence[float]] | None) -> float | None:
    """(The earlier measure, kept for reference: it rewards a model that is consistently wrong; the
    decision uses :func:`consistency_stats`.) Mean within-group (population) variance of scores across paraphrases of one input; groups of
    fewer than two are ignored; None when there is no group to measure."""
    if not scores_by_group:
        return None
    variances = [float(np.var(np.asarray(s, dtype=float))) for s in scores_by_group.values() if len(s) >= 2]
    return float(np.mean(variances)) if variances else None


def consistency_stats(groups: Mapping[str, Sequence[str]], rows: Mapping[str, EvalResult],
                      counts: Any = None, minimum: int = MIN_CONSISTENCY_GROUPS) -> ConsistencyStats:
    """Consistency of correct behaviour: ``groups`` maps an original's id to its members (the original
    first, or the key itself, then the paraphrases); ``counts(row)`` says whether a row's score counts
    (default: not pending)."""
    ok = counts or (lambda r: not is_pending(r))
    st = ConsistencyStats(groups=len(groups))
    variances: list[float] = []
    for key, members in groups.items():
        original = key if key in members or not members else members[0]
        o = rows.get(original)
        paras = [rows[m] for m in members if m != original and m in rows and ok(rows[m])]
        if o is None or not ok(o) or not paras:
            continue
        st.scored += 1
        if not o.passed:
            continue
        st.measured += 1
        if all(p.passed for p in paras):
            st.consistent += 1
        else:
            st.broken.append(original)
        variances.append(float(np.var(np.asarray([o.score] + [p.score for p in paras], dtype=float))))
    if not st.groups:
        st.reason = "no paraphrases were written"
    elif not st.scored:
        st.reason = (f"none of the {st.groups} paraphrased inputs has its original and a paraphrase scored "
                     f"(they wait for a human rating or a validated judge)")
    elif st.measured < minimum:
        st.reason = (f"the model is right on only {st.measured} of the {st.scored} paraphrased inputs scored; "
                     f"at least {minimum} correct originals are needed to measure whether correct answers "
                     f"survive rephrasing")
    else:
        st.value = (st.measured - st.consistent) / st.measured
    st.variance = float(np.mean(variances)) if variances else None
    return st


def judge_dimension_means(rows: Sequence[EvalResult]) -> tuple[dict[str, float], dict[str, int]]:
    """{dimension: mean score 0..1} and {dimension: n} over the judged rows given (names normalised)."""
    acc: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for name, value in r.dimension_map().items():
            acc[norm_name(name)].append(float(value))
    return {k: float(np.mean(v)) for k, v in sorted(acc.items())}, {k: len(v) for k, v in sorted(acc.items())}


def preference_stats(results: Sequence[PairwiseResult], usable: bool) -> PreferenceStats:
    n = len(results)
    wins = sum(r.winner == "candidate" for r in results)
    losses = sum(r.winner == "base" for r in results)
    ties = n - wins - losses
    return PreferenceStats(n, wins, losses, ties, sum(not r.consistent for r in results),
                           wins / n if n else 0.0, (wins + ties / 2) / n if n else 0.0, usable,
                           [r.example_id for r in results if r.flagged])


# ---------------------------------------------------------------- everything


def compute_metrics(
    examples: Sequence[EvalExample],
    base_results: Sequence[EvalResult],
    candidate_results: Sequence[EvalResult],
    *,
    task_type: str = "instruction_following",
    judge_usable: bool | None = None,
    pairwise: Sequence[PairwiseResult] | None = None,
    pairwise_usable: bool = False,
    paraphrase_groups: Mapping[str, Sequence[str]] | None = None,
    config: EvaluateConfig | None = None,
    seed: int = 0,
    n_resamples: int = 10_000,
) -> MetricsReport:
    """Every automated metric; ``judge_usable`` False (or None) drops llm_judge rows from the numbers."""
    cfg = config or EvaluateConfig()
    by_id = {e.id: e for e in examples}
    base = {r.example_id: r for r in base_results}
    cand = {r.example_id: r for r in candidate_results}
    judge_ok = bool(judge_usable)

    def counts(r: EvalResult) -> bool:
        return not is_pending(r) and (judge_ok or r.method != "llm_judge")

    ids = [e.id for e in examples if e.id in base and e.id in cand]
    excluded = sum(1 for i in ids for r in (base[i], cand[i]) if r.method == "llm_judge" and not judge_ok)
    pending = sum(1 for i in ids for r in (base[i], cand[i]) if is_pending(r))
    paired_ids = [i for i in ids if counts(base[i]) and counts(cand[i])]
    pairs = [(base[i], cand[i]) for i in paired_ids]
    methods: dict[str, int] = defaultdict(int)
    for i in ids:
        methods[cand[i].method] += 1

    st = None
    if pairs:
        st = paired_stats([b.score for b, _ in pairs], [c.score for _, c in pairs],
                          [b.passed for b, _ in pairs], [c.passed for _, c in pairs],
                          alpha=cfg.significance_level, seed=seed, n_resamples=n_resamples)
    b_mean = _mean([b.score for b, _ in pairs])
    c_mean = _mean([c.score for _, c in pairs])
    answer = [(b, c) for b, c in pairs if not _out_of_scope(by_id[c.example_id])]
    in_scope = [c.score for _, c in answer]
    imp = (c_mean - b_mean) if pairs else None
    rel = (imp / b_mean * 100.0) if imp is not None and b_mean else None
    overall = group_stats("overall", pairs) if pairs else None

    report = MetricsReport(
        n_examples=len(examples), n_paired=len(pairs), n_pending=pending, n_judge_excluded=excluded,
        judge_usable=judge_usable, methods=dict(methods),
        base_overall=b_mean, candidate_overall=c_mean,
        base_pass_rate=_rate([b.passed for b, _ in pairs]), candidate_pass_rate=_rate([c.passed for _, c in pairs]),
        candidate_in_scope=_mean(in_scope), base_in_scope=_mean([b.score for b, _ in answer]),
        improvement_abs=imp, improvement_rel=rel,
        by_category=_by(pairs, "category"), by_difficulty=_by(pairs, "difficulty"), by_kind=_by(pairs, "kind"),
        refusal=_refusals(examples, base, cand),
        stats=st,
        flagged=sorted({i for i in ids if any(r.flagged and not is_pending(r) for r in (base[i], cand[i]))}),
        better=overall.better if overall else 0, worse=overall.worse if overall else 0,
        same=overall.same if overall else 0,
    )
    _task_specific(report, examples, base, cand, paired_ids, task_type)
    if pairwise is not None:
        report.preference = preference_stats(pairwise, pairwise_usable)
    for role, rows in (("base", base), ("candidate", cand)):
        cs = consistency_stats(paraphrase_groups or {}, rows, counts)
        report.consistency_detail[role] = cs
        report.consistency[role] = cs.value
    if judge_ok:
        judged = [i for i in paired_ids if not _out_of_scope(by_id[i])]
        for role, rows in (("base", base), ("candidate", cand)):
            means, n = judge_dimension_means([rows[i] for i in judged if rows[i].method == "llm_judge"])
            report.judge_dimensions[role] = means
            if role == "candidate":
                report.judge_dimension_n = n
    report.base_model = _model_of(base_results)
    report.candidate_model = _model_of(candidate_results)
    return report


def _out_of_scope(e: EvalExample) -> bool:
    return e.should_refuse or e.kind == "out_of_scope"


def _model_of(rows: Sequence[EvalResult]) -> str:
    names = [r.model for r in rows if r.model]
    return max(sorted(set(names)), key=names.count) if names else ""


def _refused(r: EvalResult) -> bool:
    return bool(r.refused) if r.refused is not None else False


def _refusals(examples: Sequence[EvalExample], base: Mapping[str, EvalResult],
              cand: Mapping[str, EvalResult]) -> RefusalStats:
    st = RefusalStats()
    oos = [e for e in examples if (e.should_refuse or e.kind == "out_of_scope") and e.id in cand]
    if oos:
        st.n_should_refuse = len(oos)
        st.candidate_accuracy = sum(_refused(cand[e.id]) for e in oos) / len(oos)
        with_base = [e for e in oos if e.id in base]
        st.base_accuracy = (sum(_refused(base[e.id]) for e in with_base) / len(with_base)) if with_base else None
        st.leaked = [e.id for e in oos if not _refused(cand[e.id])]
        st.regressions = [e.id for e in with_base if _refused(base[e.id]) and not _refused(cand[e.id])]
    look = [e for e in examples if e.kind == "lookalike" and not e.should_refuse and e.id in cand]
    if look:
        st.n_lookalike = len(look)
        st.candidate_over_refusal = sum(_refused(cand[e.id]) for e in look) / len(look)
        with_base = [e for e in look if e.id in base]
        st.base_over_refusal = (sum(_refused(base[e.id]) for e in with_base) / len(with_base)) if with_base else None
        st.over_refused = [e.id for e in look if _refused(cand[e.id])]
        st.over_refusal_regressions = [e.id for e in with_base if _refused(cand[e.id]) and not _refused(base[e.id])]
    return st


def _task_specific(report: MetricsReport, examples: Sequence[EvalExample], base: Mapping[str, EvalResult],
                   cand: Mapping[str, EvalResult], paired_ids: Sequence[str], task_type: str) -> None:
    by_id = {e.id: e for e in examples}
    answerable = [i for i in paired_ids if not by_id[i].should_refuse]
    if task_type == "classification" and answerable:
        labels = sorted({label_of(by_id[i].reference) for i in answerable})
        expected = [label_of(by_id[i].reference) for i in answerable]
        report.classification = {
            role: classification_stats([extract_label(rows[i].output, labels) for i in answerable], expected)
            for role, rows in (("base", base), ("candidate", cand))
        }
    code_ids = [i for i in answerable if (s := functional_spec(by_id[i].input, by_id[i].reference)) is not None
                and s.kind == "code"]
    if code_ids:
        report.code_pass_rate = {role: sum(rows[i].passed for i in code_ids) / len(code_ids)
                                 for role, rows in (("base", base), ("candidate", cand))}
    if task_type != "classification":
        ids = [e.id for e in examples if e.id in base and e.id in cand and not e.should_refuse]
        if ids:
            report.generation = {role: generation_stats([rows[i].output for i in ids])
                                 for role, rows in (("base", base), ("candidate", cand))}
