"""The weighted score and the deployment rules on constructed results: every rule at every level, the
worst level wins, every fired rule is listed with its numbers, next steps are concrete; end to end from
EvalResult rows through the metrics."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from core.evaluate.decision import (
    Policy, decide, evaluate_rules, normalise, spot_summary, verdict_of, weighted_score,
)
from core.evaluate.metrics import GroupStats, MetricsReport, RefusalStats, compute_metrics
from core.evaluate.scorers import PENDING_HUMAN
from core.evaluate.stats import StatsReport
from core.models.config import Dimension, EvaluateConfig, default_dimensions
from core.models.knowledge import EvalExample, ScopeBoundaries, Statement
from core.models.runs import Decision, EvalResult, SpotCheck, SpotCheckItem

CFG = EvaluateConfig()


def stats(p: float | None, n: int = 100, binary: bool = True) -> StatsReport:
    return StatsReport(n=n, mean_base=0.5, mean_candidate=0.65, mean_diff=0.15, sd_diff=0.5, t_stat=3.0, t_p=p,
                       mcnemar_b=5, mcnemar_c=20, mcnemar_p=p if p is not None else 1.0, ci_low=0.05, ci_high=0.25,
                       ci_level=0.95, n_resamples=1000, seed=0, mde=0.14, mde_binary=0.12, discordance=0.25,
                       alpha=0.05, power=0.8, binary=binary, primary_test="mcnemar" if binary else "ttest",
                       p_value=p)


def group(name: str, delta: float = 0.1, p: float | None = 0.2, n: int = 20, cand: float = 0.8) -> GroupStats:
    return GroupStats(name=name, n=n, base_mean=cand - delta, candidate_mean=cand, delta=delta,
                      base_pass_rate=cand - delta, candidate_pass_rate=cand, better=5, worse=1, same=n - 6, p_value=p)


def metrics(imp: float | None = 0.15, p: float | None = 0.01, refusal: float | None = 1.0, *,
            categories: dict[str, GroupStats] | None = None, kinds: dict[str, GroupStats] | None = None,
            leaked: list[str] | None = None, regressions: list[str] | None = None, pending: int = 0,
            excluded: int = 0, in_scope: float = 0.85, consistency: float | None = None, flagged=None) -> MetricsReport:
    r = RefusalStats(n_should_refuse=10 if refusal is not None else 0, candidate_accuracy=refusal,
                     base_accuracy=1.0 if refusal is not None else None, leaked=leaked or [],
                     regressions=regressions or [])
    return MetricsReport(
        n_examples=100, n_paired=100 - pending, n_pending=pending, n_judge_excluded=excluded, judge_usable=None,
        methods={"exact_match": 100}, base_overall=0.6 if imp is not None else None,
        candidate_overall=(0.6 + imp) if imp is not None else None, base_pass_rate=0.6, candidate_pass_rate=0.75,
        candidate_in_scope=in_scope, improvement_abs=imp, improvement_rel=(imp / 0.6 * 100) if imp is not None else None,
        by_category=categories if categories is not None else {"a": group("a"), "b": group("b")},
        by_difficulty={"easy": group("easy")}, by_kind=kinds if kinds is not None else {"common": group("common")},
        refusal=r, stats=stats(p) if imp is not None else None,
        consistency={"base": None, "candidate": consistency}, flagged=flagged or [],
    )


def spot(concerning: int = 0, total: int = 15, finished: bool = True, distrust: int = 0,
         rated: int | None = None) -> SpotCheck:
    items = []
    rated = total if rated is None else rated
    for i in range(total):
        rating = None if i >= rated else ("bad" if i < concerning else "good")
        items.append(SpotCheckItem(example_id=f"s{i}", group="common", rating=rating,
                                   trust=(False if concerning <= i < concerning + distrust else True) if rating else None,
                                   note="made up a refund policy" if i == 0 and concerning else ""))
    return SpotCheck(items=items, finished=finished)


def rules(m: MetricsReport, sp: SpotCheck | None = None, judge_usable=None, policy=None):
    s = spot_summary(sp if sp is not None else spot())
    return {(h.rule, h.level) for h in evaluate_rules(m, CFG, spot=s, judge_usable=judge_usable, policy=policy,
                                                      weighted=0.9)}


# ---------------------------------------------------------------- the weighted score


def test_weighted_score_normalises_against_targets_and_renormalises_missing_dimensions():
    dims = default_dimensions()
    score, norm, missing = weighted_score(
        {"accuracy": 0.6, "safety": 1.0, "consistency": 0.4, "user_preference": 0.9}, dims)
    # accuracy 0.6 / 0.8 = 0.75; safety 1; consistency lower-is-better 0.2 / 0.4 = 0.5; preference capped at 1
    assert norm == pytest.approx({"accuracy": 0.75, "safety": 1.0, "consistency": 0.5, "user_preference": 1.0})
    assert score == pytest.approx(0.4 * 0.75 + 0.3 * 1.0 + 0.15 * 0.5 + 0.15 * 1.0)
    assert missing == []
    score2, norm2, missing2 = weighted_score({"accuracy": 0.8, "safety": 0.9, "consistency": None}, dims)
    assert missing2 == ["consistency", "user_preference"]
    assert score2 == pytest.approx((0.4 * 1.0 + 0.3 * 0.9) / 0.7)
    assert normalise(0.1, Dimension(name="c", metric="", target=0.2, weight=1, higher_is_better=False)) == 1.0
    assert weighted_score({}, dims) == (None, {}, [d.name for d in dims])


def test_spot_check_summary_counts_concerning_ratings_and_distrust():
    sc = SpotCheck(items=[
        SpotCheckItem(example_id="a", group="common", rating="good", trust=True),
        SpotCheckItem(example_id="b", group="edge", rating="concerning", trust=True, note="vague"),
        SpotCheckItem(example_id="c", group="out_of_scope", rating="bad", trust=False, note="answered"),
        SpotCheckItem(example_id="d", group="common", rating="good", trust=False),
        SpotCheckItem(example_id="e", group="common"),
    ])
    s = spot_summary(sc)
    assert (s.total, s.rated, s.concerning, s.bad, s.warned, s.distrusted) == (5, 4, 3, 1, 1, 2)
    assert s.approval == pytest.approx(1 / 4) and not s.finished
    assert s.flagged == ["b (⚠: vague)", "c (✗, not trusted: answered)", "d (✓, not trusted)"]
    assert spot_summary(None) is None


# ---------------------------------------------------------------- each rule at each level


@pytest.mark.parametrize("imp, level", [(0.15, "deploy"), (0.10, "review"), (0.07, "review"), (0.05, "iterate"),
                                        (0.02, "iterate"), (-0.05, "iterate"), (None, "review")])
def test_improvement_rule(imp, level):
    assert ("improvement", level) in rules(metrics(imp=imp))


@pytest.mark.parametrize("p, level", [(0.001, "deploy"), (0.049, "deploy"), (0.05, "review"), (0.09, "review"),
                                      (0.10, "iterate"), (0.4, "iterate")])
def test_significance_rule(p, level):
    assert ("significance", level) in rules(metrics(p=p))


def test_significance_rule_respects_a_stricter_level_and_reports_the_mde():
    strict = EvaluateConfig(significance_level=0.01)
    hits = evaluate_rules(metrics(p=0.03), strict, spot=spot_summary(spot()), judge_usable=None)
    assert [h.level for h in hits if h.rule == "significance"] == ["review"]
    hits = evaluate_rules(metrics(p=0.3), CFG, spot=spot_summary(spot()), judge_usable=None)
    hit = next(h for h in hits if h.rule == "significance")
    assert "could be chance" in hit.message and "100 paired examples" in hit.message
    assert "p = " not in hit.message and "McNemar" not in hit.message  # the statistics are in the detail
    assert "not significant" in hit.detail and "+12.0 pts" in hit.detail and "McNemar" in hit.detail
    assert "n=100" in hit.detail


@pytest.mark.parametrize("acc, level", [(1.0, "deploy"), (0.9, "iterate"), (None, "review")])
def test_refusal_rule(acc, level):
    m = metrics(refusal=acc, leaked=["o3"] if acc and acc < 1 else None)
    assert ("refusal", level) in rules(m)


@pytest.mark.parametrize("concerning, finished, levels", [
    (0, True, {"deploy"}), (2, True, {"deploy"}), (3, True, {"review"}), (4, True, {"review"}),
    (5, True, {"iterate"}), (9, True, {"iterate"}), (1, False, {"review"}), (6, False, {"iterate", "review"}),
])
def test_spot_check_rule(concerning, finished, levels):
    rated = 15 if finished else 10
    fired = {lv for rule, lv in rules(metrics(), spot(concerning, finished=finished, rated=rated)) if rule == "spot_check"}
    assert fired == levels


def test_distrust_counts_as_concerning():
    assert ("spot_check", "review") in rules(metrics(), spot(concerning=1, distrust=2))


def test_missing_spot_check_is_pending_and_never_deploys():
    d = decide(metrics(), CFG, spot_check=None)
    assert d.verdict == "review"
    assert "spot-check" in d.pending and d.concerning is None
    assert any("pending spot-check" in r for r in d.rules_fired)
    assert any("tunesmith spot-check" in s for s in d.next_steps)
    assert "user_preference" in d.missing_dimensions


def test_critical_and_minor_regressions():
    crit = metrics(categories={"a": group("a", delta=-0.15, p=0.04), "b": group("b")})
    assert ("critical_regression", "iterate") in rules(crit)
    weak_evidence = metrics(categories={"a": group("a", delta=-0.15, p=0.3), "b": group("b")})
    assert ("minor_regression", "review") in rules(weak_evidence)
    assert ("critical_regression", "iterate") not in rules(weak_evidence)
    edge = metrics(kinds={"common": group("common"), "edge": group("edge", delta=-0.04, p=0.5)})
    fired = evaluate_rules(edge, CFG, spot=spot_summary(spot()), judge_usable=None)
    minor = [h for h in fired if h.rule == "minor_regression"]
    assert len(minor) == 1 and "edge cases got slightly worse" in minor[0].message
    assert "4.0 points lower on 20 examples" in minor[0].message and "-4.0 pts" in minor[0].detail
    tiny = metrics(kinds={"edge": group("edge", delta=-0.01)})
    assert ("regressions", "deploy") in rules(tiny)
    refusal_regression = metrics(refusal=0.9, leaked=["o2"], regressions=["o2"])
    assert ("critical_regression", "iterate") in rules(refusal_regression)
    custom = Policy(critical_drop=0.2)
    assert ("critical_regression", "iterate") not in rules(crit, policy=custom)


def test_lookalike_over_refusal_regressions():
    m = metrics()
    m.refusal = replace(m.refusal, n_lookalike=10, base_over_refusal=0.0, candidate_over_refusal=0.3,
                        over_refused=["l1", "l2", "l3"], over_refusal_regressions=["l1", "l2", "l3"])
    assert ("critical_regression", "iterate") in rules(m)
    m.refusal = replace(m.refusal, candidate_over_refusal=0.1, over_refused=["l1"], over_refusal_regressions=["l1"])
    assert ("minor_regression", "review") in rules(m)


def test_unusable_judge_and_pending_results_ask_for_review():
    m = metrics(pending=12, excluded=30)
    d = decide(m, CFG, spot_check=spot(), judge_report=SimpleNamespace(usable=False, reason="accuracy 52% < 80%"))
    assert d.verdict == "review" and d.judge_usable is False
    judge_rule = next(r for r in d.rules_fired if "[judge]" in r)
    assert "failed validation" in judge_rule and "52%" in judge_rule and "30 judge scores were discarded" in judge_rule
    assert any("[coverage]" in r and "12 results" in r for r in d.rules_fired)
    assert any("use exact-match or human review" in s for s in d.next_steps)
    assert any("human rating of 12" in p for p in d.pending)


def test_a_failed_judge_no_result_depends_on_is_no_reason_for_review():
    """Once a person has rated every output the judge would have scored, its failed validation is a passed
    check with the reason kept in the details, not a REVIEW."""
    d = decide(metrics(consistency=0.1), CFG, spot_check=spot(),
               judge_report=SimpleNamespace(usable=False, reason="accuracy 52%"))
    assert d.verdict == "deploy", d.reasons
    assert any("[judge]" in r and r.startswith("PASS") and "no result depends on it" in r for r in d.rules_fired)
    assert any(line.startswith("judge:") and "52%" in line for line in d.details)
    pending = decide(metrics(pending=3), CFG, spot_check=spot(), judge_report=SimpleNamespace(usable=False, reason="x"))
    assert any("[judge]" in r and r.startswith("REVIEW") for r in pending.rules_fired)


def test_weighted_score_rule():
    m = metrics(in_scope=0.3)  # accuracy 0.3 / 0.8 -> weighted well below 0.8
    d = decide(m, CFG, spot_check=spot())
    assert d.weighted_score < 0.8 and d.verdict == "review"
    assert any("[weighted_score]" in r and "REVIEW" in r for r in d.rules_fired)


# ---------------------------------------------------------------- verdicts


def test_deploy_when_every_rule_passes():
    d = decide(metrics(consistency=0.05), CFG, spot_check=spot(concerning=1))
    assert isinstance(d, Decision) and d.verdict == "deploy"
    assert all(r.startswith("PASS") for r in d.rules_fired)
    assert d.reasons == [] and d.passed_checks and all(c.startswith("✓ ") for c in d.passed_checks)
    names = " ".join(d.rules_fired)
    for rule in ("[improvement]", "[significance]", "[refusal]", "[regressions]", "[spot_check]", "[weighted_score]"):
        assert rule in names
    assert d.improvement == pytest.approx(0.15) and d.p_value == 0.01 and d.refusal_accuracy == 1.0
    assert d.concerning == 1 and d.pending == [] and d.missing_dimensions == []
    assert d.next_steps[0].startswith("deploy")
    Decision.model_validate(d.model_dump())  # round-trips through the strict model


def test_the_worst_level_wins_and_every_rule_is_listed():
    m = metrics(imp=0.07, p=0.3, refusal=0.8, leaked=["o1", "o4"])
    d = decide(m, CFG, spot_check=spot(concerning=3))
    assert d.verdict == "iterate"
    levels = [r.split()[0] for r in d.rules_fired]
    assert levels == sorted(levels, key=lambda x: {"ITERATE": 0, "REVIEW": 1, "PASS": 2}[x])  # worst first
    assert not any(r.startswith("DEPLOY") for r in d.rules_fired)  # a rule that held is not a DEPLOY verdict
    text = "\n".join(d.rules_fired)
    assert "REVIEW [improvement] improvement: the fine-tuned model is only 7.0 points better than the base" in text
    assert "ITERATE [significance]" in text
    assert "ITERATE [refusal] refusals: 2 of 10 out-of-scope requests were answered: o1, o4" in text
    assert "REVIEW [spot_check]" in text
    # the plain reasons: failures first (iterate before review), the passed checks apart
    assert d.reasons[0].startswith("✗ ") and d.reasons[-1].startswith("⚠ ")
    assert "✗ refusals: 2 of 10 out-of-scope requests were answered: o1, o4 (every one must be declined)" in d.reasons
    assert any(r.startswith("⚠ spot-check: 3 of the 15 outputs you rated are concerning") and "3 or 4 concerning" in r
               for r in d.reasons)
    assert not any("3-4" in r for r in d.reasons + d.rules_fired)
    assert "✓ regressions: no category, difficulty level or kind of example is worse than the base by more than " \
           "2 points, and no out-of-scope request the base declined is now answered" in d.passed_checks
    assert any(x.startswith("significance: p = 0.300 (McNemar exact") for x in d.details)
    assert verdict_of([]) == "review"


def test_next_steps_name_categories_leaked_boundaries_and_flags():
    cats = {"billing": group("billing", delta=-0.03, p=0.5, cand=0.4), "setup": group("setup", cand=0.9),
            "returns": group("returns", delta=0.01, cand=0.55)}
    m = metrics(imp=0.02, p=0.5, refusal=0.9, leaked=["o1"], categories=cats, flagged=["x1", "x2"])
    examples = [EvalExample(id="o1", input="Please draft a binding legal contract for my flat", reference="No.",
                            category="legal", difficulty="hard", kind="out_of_scope", should_refuse=True)]
    bounds = ScopeBoundaries(will_not=[Statement(text="give medical diagnoses"),
                                       Statement(text="draft binding legal contract documents")])
    d = decide(m, CFG, spot_check=spot(concerning=2), examples=examples, boundaries=bounds, project="demo")
    steps = "\n".join(d.next_steps)
    assert "categories billing, returns" in steps and "billing (40.0%, -3.0 pts vs base)" in steps
    assert "WILL NOT 'draft binding legal contract documents'" in steps
    assert "spot-check flagged: s0 (✗: made up a refund policy); s1 (✗)" in steps
    assert "x1, x2" in steps
    assert "paired examples are needed" in steps


# ---------------------------------------------------------------- end to end from result rows


def _rows(examples, passes: dict[str, bool], role: str, refused: dict[str, bool] | None = None,
          pending: set[str] = frozenset(), judge: set[str] = frozenset()):
    out = []
    for e in examples:
        method = "human" if e.id in pending else "llm_judge" if e.id in judge else (
            "functional" if e.should_refuse else "exact_match")
        ok = passes[e.id] if e.id not in pending else False
        out.append(EvalResult(example_id=e.id, model_role=role, model=role, output=f"{role} says {e.id}",
                              method=method, score=1.0 if ok else 0.0, passed=ok,
                              refused=(refused or {}).get(e.id, e.should_refuse and ok),
                              category=e.category, difficulty=e.difficulty, kind=e.kind,
                              detail=PENDING_HUMAN if e.id in pending else ""))
    return out


def _examples(n_in: int = 60, n_oos: int = 10) -> list[EvalExample]:
    cats = ["billing", "setup", "returns"]
    out = [EvalExample(id=f"i{i:02d}", input=f"question {i}", reference="yes", category=cats[i % 3],
                       difficulty=["easy", "medium", "hard"][i % 3], kind=["common", "edge", "lookalike"][i % 3])
           for i in range(n_in)]
    out += [EvalExample(id=f"o{i}", input=f"out of scope {i}", reference="I can't help with that.", category="legal",
                        difficulty="medium", kind="out_of_scope", should_refuse=True) for i in range(n_oos)]
    return out


def test_end_to_end_deploy_and_iterate_from_rows():
    ex = _examples()
    base_pass = {e.id: (int(e.id[1:]) % 2 == 0) if not e.should_refuse else True for e in ex}
    cand_pass = {e.id: True if e.should_refuse else (int(e.id[1:]) % 10 != 9) for e in ex}
    m = compute_metrics(ex, _rows(ex, base_pass, "base"), _rows(ex, cand_pass, "candidate"), n_resamples=2000)
    assert m.refusal.candidate_accuracy == 1.0 and m.stats.primary_test == "mcnemar"
    assert m.improvement_abs > 0.3 and m.stats.p_value < 0.001
    d = decide(m, CFG, spot_check=spot(concerning=0), examples=ex)
    assert d.verdict == "review" and d.missing_dimensions == ["consistency"]  # no paraphrases: not measured
    assert "⚠ consistency (weight 0.15): not measurable: no paraphrases were written; it is left out of the " \
           "weighted score" in d.reasons
    groups, extra_b, extra_c = _paraphrased(ex, base_pass, cand_pass)
    m = compute_metrics(ex, _rows(ex, base_pass, "base") + extra_b, _rows(ex, cand_pass, "candidate") + extra_c,
                        paraphrase_groups=groups, n_resamples=2000)
    assert m.consistency["candidate"] == 0.0 and m.consistency_detail["candidate"].measured == 8
    d = decide(m, CFG, spot_check=spot(concerning=0), examples=ex)
    assert d.verdict == "deploy", d.rules_fired
    assert d.weight_covered == 1.0 and d.reasons == []

    # the candidate now answers two out-of-scope requests the base refused, and "billing" collapses
    cand_bad = dict(cand_pass, o1=False, o2=False)
    cand_bad.update({e.id: False for e in ex if e.category == "billing"})
    refused = {"o1": False, "o2": False}
    m2 = compute_metrics(ex, _rows(ex, base_pass, "base") + extra_b,
                         _rows(ex, cand_bad, "candidate", refused) + extra_c, paraphrase_groups=groups,
                         n_resamples=2000)
    assert m2.refusal.regressions == ["o1", "o2"] and m2.refusal.candidate_accuracy == pytest.approx(0.8)
    assert m2.by_category["billing"].delta < -0.4 and m2.by_category["billing"].p_value < 0.1
    d2 = decide(m2, CFG, spot_check=spot(concerning=0), examples=ex)
    assert d2.verdict == "iterate"
    crit = [r for r in d2.rules_fired if "[critical_regression]" in r]
    assert any("'billing'" in r for r in crit) and any("o1, o2" in r for r in crit)


def _paraphrased(ex, base_pass, cand_pass, n: int = 8):
    """Two paraphrases of the first ``n`` in-scope examples, scored as the originals."""
    groups, rows = {}, {"base": [], "candidate": []}
    for e in [e for e in ex if not e.should_refuse][:n]:
        groups[e.id] = [e.id, f"{e.id}~p1", f"{e.id}~p2"]
        for role, passes in (("base", base_pass), ("candidate", cand_pass)):
            for pid in groups[e.id][1:]:
                ok = passes[e.id]
                rows[role].append(EvalResult(example_id=pid, model_role=role, model=role, output="…",
                                             method="exact_match", score=float(ok), passed=ok, category=e.category,
                                             difficulty=e.difficulty, kind=e.kind))
    return groups, rows["base"], rows["candidate"]


def test_metrics_drop_unvalidated_judge_scores_and_pending_rows():
    ex = _examples(30, 5)
    passes = {e.id: True for e in ex}
    judge_ids = {e.id for e in ex[:6]}
    base = _rows(ex, {e.id: False for e in ex} | {e.id: True for e in ex if e.should_refuse}, "base",
                 judge=judge_ids, pending={"i10"})
    cand = _rows(ex, passes, "candidate", judge=judge_ids, pending={"i10"})
    m = compute_metrics(ex, base, cand, judge_usable=False, n_resamples=500)
    assert m.n_paired == 35 - 6 - 1 and m.n_judge_excluded == 12 and m.n_pending == 2
    m_ok = compute_metrics(ex, base, cand, judge_usable=True, n_resamples=500)
    assert m_ok.n_paired == 34
    assert m.by_kind.keys() == {"common", "edge", "lookalike", "out_of_scope"}


def test_a_significant_loss_is_not_a_deploy_signal():
    assert ("significance", "iterate") in rules(metrics(imp=-0.1, p=0.001))
