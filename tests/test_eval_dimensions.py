"""Dimensions that measure what they name, and decisions in plain words (issue 12, parts 4 and 6).

- consistency counts correct-and-consistent behaviour: a model failing everything is "not measurable",
  never perfect; rows pending a human or scored by an unvalidated judge do not count;
- accuracy is the in-scope mean or missing, never the refusal mean;
- a custom dimension (empathy) goes into the judge's rubric and takes the validated judge's per-dimension
  mean; without a validated judge it is named, with its weight, as a REVIEW reason;
- every missing dimension is named with its weight and why; the weighted score is labelled partial;
- the improvement rule reads its threshold in points or percent of the base, as configured, and names the
  unit, the base model and both numbers;
- rules that held are passed checks (never "DEPLOY [...]" under another verdict), failures come first,
  no dangling "3-4", the statistics live in ``details``; the report and the judge breakdown render them.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core.evaluate import evalfolder as ef
from core.evaluate.decision import decide, decision_lines, dimension_values
from core.evaluate.judge import build_rubric
from core.evaluate.metrics import compute_metrics, consistency, consistency_stats
from core.evaluate.report import render_report
from core.evaluate.scorers import PENDING_HUMAN
from core.models.config import Dimension, EvaluateConfig, default_dimensions
from core.models.knowledge import CriterionDimension, EvalExample, QualityCriteria
from core.models.presets import get_preset
from core.models.runs import Decision, DimensionValue, EvalResult, SpotCheck, SpotCheckItem

BASE = "Qwen/Qwen2.5-1.5B-Instruct"
CAND = "runs/r1/model"


def example(i: int, *, oos: bool = False, kind: str = "common") -> EvalExample:
    return EvalExample(id=f"{'o' if oos else 'i'}{i:02d}", input=f"question {i}", reference="ref",
                       category="legal" if oos else ["billing", "setup"][i % 2], difficulty="medium",
                       kind="out_of_scope" if oos else kind, should_refuse=oos)


def row(e: EvalExample | str, role: str, ok: bool | None, *, method: str = "exact_match", score: float | None = None,
        refused: bool | None = None, dims: dict[str, float] | None = None, kind: str = "common") -> EvalResult:
    eid = e if isinstance(e, str) else e.id
    pending = ok is None
    return EvalResult(
        example_id=eid, model_role=role, model=BASE if role == "base" else CAND, output=f"{role} on {eid}",
        method="human" if pending else method, score=None if pending else (float(ok) if score is None else score),
        passed=None if pending else ok, pending=pending, refused=refused,
        detail=PENDING_HUMAN if pending else "", kind=kind if isinstance(e, str) else e.kind,
        dimensions=[DimensionValue(name=k, score=v) for k, v in (dims or {}).items()])


def finished_spot(n: int = 15, concerning: int = 0) -> SpotCheck:
    return SpotCheck(items=[SpotCheckItem(example_id=f"s{i}", group="common",
                                          rating="bad" if i < concerning else "good", trust=i >= concerning)
                            for i in range(n)], finished=True)


def paraphrase_rows(ids, role: str, passes: dict[str, list[bool | None]]):
    """{original: [its paraphrases' outcomes]} -> groups and rows (None: pending a human)."""
    groups, rows = {}, []
    for i in ids:
        groups[i] = [i] + [f"{i}~p{j}" for j in range(1, len(passes[i]) + 1)]
        rows += [row(pid, role, ok) for pid, ok in zip(groups[i][1:], passes[i])]
    return groups, rows


# ---------------------------------------------------------------- consistency


def test_a_model_failing_everything_is_not_perfectly_consistent():
    ex = [example(i) for i in range(10)]
    ids = [e.id for e in ex]
    groups, cand_para = paraphrase_rows(ids, "candidate", {i: [False, False] for i in ids})
    _, base_para = paraphrase_rows(ids, "base", {i: [True, True] for i in ids})
    cand = [row(e, "candidate", False) for e in ex] + cand_para
    base = [row(e, "base", True) for e in ex] + base_para
    m = compute_metrics(ex, base, cand, paraphrase_groups=groups, n_resamples=200)
    # the earlier measure called this perfect: zero variance
    assert consistency({g: [0.0, 0.0, 0.0] for g in groups}) == 0.0
    cs = m.consistency_detail["candidate"]
    assert m.consistency["candidate"] is None and cs.scored == 10 and cs.measured == 0
    assert "right on only 0 of the 10 paraphrased inputs" in cs.reason
    assert m.consistency["base"] == 0.0  # right everywhere, also when rephrased
    d = decide(m, EvaluateConfig(), spot_check=finished_spot())
    assert "consistency" in d.missing_dimensions
    assert any(r.startswith("⚠ consistency (weight 0.15): not measurable: the model is right on only 0 of the 10")
               for r in d.reasons)


def test_consistency_is_the_share_of_correct_answers_lost_on_rephrasing():
    ids = [f"i{i:02d}" for i in range(8)]
    rows = {i: row(i, "candidate", i != "i07") for i in ids}  # wrong on i07's original: not measured
    outcomes = {i: [True, True] for i in ids}
    outcomes["i01"] = [True, False]  # right on the original, wrong once rephrased
    outcomes["i02"] = [False, False]
    outcomes["i03"] = [None, True]  # one paraphrase waits for a human: the other one counts
    outcomes["i04"] = [None, None]  # nothing scored but the original: the group is not scored
    groups, para = paraphrase_rows(ids, "candidate", outcomes)
    rows.update({r.example_id: r for r in para})
    cs = consistency_stats(groups, rows)
    assert (cs.groups, cs.scored, cs.measured, cs.consistent) == (8, 7, 6, 4)
    assert cs.broken == ["i01", "i02"] and cs.value == pytest.approx(2 / 6)
    few = consistency_stats({k: groups[k] for k in ids[:3]}, rows)
    assert few.value is None and "at least 5 correct originals" in few.reason
    none = consistency_stats({}, rows)
    assert none.value is None and none.reason == "no paraphrases were written"


def test_consistency_ignores_unvalidated_judge_scores():
    ex = [example(i) for i in range(6)]
    ids = [e.id for e in ex]
    groups, _ = paraphrase_rows(ids, "candidate", {i: [True] for i in ids})
    judged = [row(f"{i}~p1", "candidate", True, method="llm_judge") for i in ids]
    cand = [row(e, "candidate", True) for e in ex] + judged
    base = [row(e, "base", True) for e in ex] + [row(f"{i}~p1", "base", True, method="llm_judge") for i in ids]
    m = compute_metrics(ex, base, cand, paraphrase_groups=groups, judge_usable=False, n_resamples=200)
    assert m.consistency["candidate"] is None and "none of the 6 paraphrased inputs" in \
        m.consistency_detail["candidate"].reason
    m_ok = compute_metrics(ex, base, cand, paraphrase_groups=groups, judge_usable=True, n_resamples=200)
    assert m_ok.consistency["candidate"] == 0.0


def test_the_default_consistency_dimension_is_lower_is_better_and_old_configs_load():
    dim = next(d for d in default_dimensions() if d.name == "consistency")
    assert dim.higher_is_better is False and dim.target == pytest.approx(0.20)
    old = {"eval_method": "auto", "improvement_threshold": 0.1,
           "dimensions": [d.model_dump() for d in default_dimensions()]}
    cfg = EvaluateConfig.model_validate(old)  # written before improvement_unit existed
    assert cfg.improvement_unit == "points"
    with pytest.raises(ValueError):
        EvaluateConfig(improvement_unit="furlongs")
    assert "10 points" in EvaluateConfig.model_fields["improvement_threshold"].description
    assert "percent" in EvaluateConfig.model_fields["improvement_unit"].description


# ---------------------------------------------------------------- accuracy


def test_accuracy_is_missing_when_no_in_scope_result_is_scored():
    ex = [example(i) for i in range(4)] + [example(i, oos=True) for i in range(3)]
    base = [row(e, "base", None if not e.should_refuse else True, method="functional",
                refused=e.should_refuse or None) for e in ex]
    cand = [row(e, "candidate", None if not e.should_refuse else True, method="functional",
                refused=e.should_refuse or None) for e in ex]
    m = compute_metrics(ex, base, cand, n_resamples=200)
    assert m.candidate_overall == 1.0 and m.candidate_in_scope is None  # only refusals were scored
    values = dimension_values(m, None)
    assert values["accuracy"] is None and values["safety"] == 1.0
    d = decide(m, EvaluateConfig(), spot_check=finished_spot())
    assert d.verdict != "deploy" and "accuracy" in d.missing_dimensions
    text = "\n".join(d.reasons)
    assert "⚠ accuracy (weight 0.40): no in-scope example was scored for both models (only out-of-scope requests " \
           "were); 8 results wait for a human rating" in text


# ---------------------------------------------------------------- custom dimensions


EMPATHY = [Dimension(name="accuracy", metric="quality score", target=0.8, weight=0.5),
           Dimension(name="safety", metric="refusal accuracy", target=1.0, weight=0.3),
           Dimension(name="empathy", metric="acknowledges the user's feelings before advising", target=0.8,
                     weight=0.2)]


def test_custom_dimensions_join_the_judges_rubric():
    cfg = EvaluateConfig(dimensions=EMPATHY)
    rubric = build_rubric(None, cfg)
    assert [d.name for d in rubric.dimensions] == ["accuracy", "helpfulness", "boundaries", "empathy"]
    emp = rubric.dimensions[-1]
    assert emp.description == "acknowledges the user's feelings before advising"
    assert sum(d.weight for d in rubric.dimensions) == pytest.approx(1.0)
    assert "- empathy (weight 0.25): acknowledges the user's feelings" in rubric.render()
    crit = QualityCriteria(dimensions=[CriterionDimension(name="accuracy", weight=0.6),
                                       CriterionDimension(name="Empathy", description="warmth", weight=0.4)])
    assert [(d.name, d.description) for d in build_rubric(crit, cfg).dimensions] == [
        ("accuracy", "agrees with the reference answer's facts and conclusions; no errors or invented claims"),
        ("Empathy", "warmth")]  # already there (any spelling): not added twice
    heavy = get_preset("framework-heavy").config().evaluate
    heavy.dimensions = EMPATHY
    assert [d.name for d in build_rubric(None, heavy).dimensions] == ["appropriateness", "empathy",
                                                                      "framework_accuracy"]
    assert [d.name for d in build_rubric(None, EvaluateConfig()).dimensions] == ["accuracy", "helpfulness",
                                                                                 "boundaries"]


def _judged(judge_usable: bool | None, with_dims: bool = True):
    ex = [example(i) for i in range(10)] + [example(i, oos=True) for i in range(4)]
    base, cand = [], []
    for e in ex:
        if e.should_refuse:
            base.append(row(e, "base", True, method="functional", refused=True))
            cand.append(row(e, "candidate", True, method="functional", refused=True))
            continue
        base.append(row(e, "base", False, method="llm_judge", score=0.4,
                        dims={"Empathy": 0.25, "accuracy": 0.5} if with_dims else None))
        cand.append(row(e, "candidate", True, method="llm_judge", score=0.9,
                        dims={"Empathy": 0.75, "accuracy": 1.0} if with_dims else None))
    return ex, compute_metrics(ex, base, cand, judge_usable=judge_usable, n_resamples=500)


def test_a_custom_dimension_takes_the_validated_judges_scores():
    ex, m = _judged(True)
    assert m.judge_dimensions["candidate"] == {"accuracy": 1.0, "empathy": 0.75}
    assert m.judge_dimensions["base"]["empathy"] == 0.25 and m.judge_dimension_n["empathy"] == 10
    d = decide(m, EvaluateConfig(dimensions=EMPATHY), spot_check=finished_spot())
    assert d.missing_dimensions == [] and d.weight_covered == 1.0
    assert d.dimensions["empathy"] == pytest.approx(0.75 / 0.8)
    assert d.weighted_score == pytest.approx(0.5 * 1 + 0.3 * 1 + 0.2 * 0.75 / 0.8, abs=1e-4)
    assert not any("empathy" in r for r in d.reasons)


@pytest.mark.parametrize("usable, why", [
    (False, "no validated judge scored it (the judge failed validation)"),
    (None, "no validated judge scored it (no example needed the judge, or no LLM is configured)"),
])
def test_a_custom_dimension_without_a_validated_judge_is_named_with_its_weight(usable, why):
    _, m = _judged(usable)
    assert not any(m.judge_dimensions.values())
    judge = None if usable is None else type("J", (), {"usable": usable, "reason": "accuracy 52% < 80%"})()
    d = decide(m, EvaluateConfig(dimensions=EMPATHY), spot_check=finished_spot(), judge_report=judge)
    # an unvalidated judge's scores do not count at all: accuracy has no value either
    assert d.verdict != "deploy" and d.missing_dimensions == ["accuracy", "empathy"]
    assert f"⚠ empathy (weight 0.20): {why}; it is left out of the weighted score" in d.reasons
    assert d.missing_why["empathy"] == why
    assert d.weight_covered < 1
    weighted = next(r for r in d.reasons + d.passed_checks if r[2:].startswith("weighted score"))
    assert any(r.startswith("⚠ accuracy (weight 0.50)") and "the judge's scores are not used (it "
               + ("failed validation)" if usable is False else "was not validated)") in r for r in d.reasons)
    assert "partial: on 30% of the weight; accuracy and empathy left out" in weighted


def test_a_validated_judge_that_did_not_score_the_dimension_says_so():
    _, m = _judged(True, with_dims=False)
    d = decide(m, EvaluateConfig(dimensions=EMPATHY), spot_check=finished_spot(),
               judge_report=type("J", (), {"usable": True, "reason": "ok"})())
    assert d.missing_dimensions == ["empathy"]
    assert "the judge's rubric in this evaluation did not include it" in d.missing_why["empathy"]
    assert any("validated LLM judge score empathy" in s for s in d.next_steps)


def test_a_dimension_of_weight_zero_left_out_is_no_reason():
    dims = [Dimension(name="accuracy", metric="", target=0.8, weight=0.7),
            Dimension(name="safety", metric="", target=1.0, weight=0.3),
            Dimension(name="consistency", metric="", target=0.2, weight=0.0, higher_is_better=False)]
    _, m = _judged(True)
    d = decide(m, EvaluateConfig(dimensions=dims), spot_check=finished_spot())
    assert d.missing_dimensions == ["consistency"] and not any("consistency" in r for r in d.reasons)
    assert d.verdict == "deploy", d.reasons


# ---------------------------------------------------------------- the improvement rule, points or percent


def _imp_metrics(base_ok: int, cand_ok: int, n: int = 100):
    ex = [example(i) for i in range(n)]
    base = [row(e, "base", i < base_ok) for i, e in enumerate(ex)]
    cand = [row(e, "candidate", i < cand_ok) for i, e in enumerate(ex)]
    return compute_metrics(ex, base, cand, n_resamples=200)


def test_improvement_in_points_names_the_base_both_numbers_and_the_unit():
    m = _imp_metrics(61, 64)
    d = decide(m, EvaluateConfig(), spot_check=finished_spot())
    line = next(r for r in d.reasons if "improvement" in r)
    assert line == (f"✗ improvement: the fine-tuned model is only 3.0 points better than the base ({BASE}: 61.0% → "
                    f"64.0%, +4.9% relative); more than 5 points is needed, more than 10 points to deploy")
    assert d.improvement_unit == "points"
    assert any(x.startswith("improvement: mean score 61.0% → 64.0% (+3.0 pts, +4.9% of the base's 61.0%)")
               for x in d.details)


def test_improvement_in_percent_of_the_base():
    m = _imp_metrics(40, 47)  # +7 points, +17.5% of the base
    points = decide(m, EvaluateConfig(), spot_check=finished_spot())
    percent = decide(m, EvaluateConfig(improvement_unit="percent"), spot_check=finished_spot())
    assert next(r for r in points.reasons if "improvement" in r).startswith(
        "⚠ improvement: the fine-tuned model is only 7.0 points better than the base")
    check = next(r for r in percent.passed_checks if "improvement" in r)
    assert check == (f"✓ improvement: the fine-tuned model is 17.5% better than the base, relative to the base's "
                     f"score ({BASE}: 40.0% → 47.0%, +7.0 points); the target is more than 10% of the base's score")
    assert percent.improvement_unit == "percent"
    review = decide(_imp_metrics(80, 86), EvaluateConfig(improvement_unit="percent"), spot_check=finished_spot())
    assert any(r.startswith("⚠ improvement: the fine-tuned model is only 7.5% better") and
               "more than 5% of the base's score asks for a review" in r for r in review.reasons)


def test_improvement_in_percent_over_a_zero_base_is_read_in_points():
    d = decide(_imp_metrics(0, 30), EvaluateConfig(improvement_unit="percent"), spot_check=finished_spot())
    check = next(r for r in d.passed_checks if "improvement" in r)
    assert "30.0 points better" in check and "the base scores 0, so it is read in points" in check


# ---------------------------------------------------------------- plain decisions


def _iterate_decision() -> tuple[Decision, object]:
    ex = [example(i) for i in range(40)] + [example(i, oos=True) for i in range(10)]
    base = [row(e, "base", i % 2 == 0 if not e.should_refuse else True,
                method="functional" if e.should_refuse else "exact_match",
                refused=True if e.should_refuse else None) for i, e in enumerate(ex)]
    leak = {"o03", "o07"}
    cand = [row(e, "candidate", True if not e.should_refuse else e.id not in leak,
                method="functional" if e.should_refuse else "exact_match",
                refused=(e.id not in leak) if e.should_refuse else None) for e in ex]
    m = compute_metrics(ex, base, cand, n_resamples=500)
    return decide(m, EvaluateConfig(), spot_check=finished_spot(20, concerning=3), project="helpdesk"), m


def test_failures_first_in_expert_words_and_passed_checks_apart():
    d, _ = _iterate_decision()
    assert d.verdict == "iterate"
    assert d.reasons[0] == "✗ refusals: 2 of 10 out-of-scope requests were answered: o03, o07 (every one must be " \
                           "declined)"
    assert "✗ refusal regression: the base declined 2 out-of-scope requests that the fine-tuned model now answers: " \
           "o03, o07" in d.reasons
    spot = next(r for r in d.reasons if "spot-check" in r)
    assert spot == ("⚠ spot-check: 3 of the 20 outputs you rated are concerning (3 rated ✗ bad, 0 ⚠ concerning; you "
                    "would not trust 3); 3 or 4 concerning outputs ask for a look at those issues (possibly a quick "
                    "fix)")
    levels = [r[0] for r in d.reasons]
    assert levels == sorted(levels, key=lambda x: {"✗": 0, "⚠": 1}[x])
    assert any(c.startswith("✓ improvement: the fine-tuned model is ") for c in d.passed_checks)
    assert any(c.startswith("✓ significance: the difference is statistically significant") for c in d.passed_checks)
    everything = d.reasons + d.passed_checks + d.rules_fired
    assert not any("DEPLOY [" in x or "3-4" in x for x in everything)
    assert not any("p = " in x for x in d.reasons + d.passed_checks)  # the statistics are in the details
    assert any(x.startswith("significance: p = ") and "McNemar exact" in x and "bootstrap CI" in x for x in d.details)
    assert any(x.startswith("refusals: accuracy 80.0% (base 100.0%)") for x in d.details)
    assert d.rules_fired[0].startswith("ITERATE [refusal] ") and d.rules_fired[-1].startswith("PASS [")


def test_an_older_decision_reads_as_reasons_and_passed_checks():
    old = Decision(verdict="iterate", weighted_score=0.9, rules_fired=[
        "ITERATE [refusal] refusal accuracy 80.0% < 100.0%: 2 of 10 answered (a, b)",
        "REVIEW [spot_check] spot-check: 4 concerning of 20 rated (2 ✗, 2 ⚠, 4 not trusted), 3-4",
        "DEPLOY [improvement] improvement +41.8 pts > 10 pts (41.7% → 83.5%)",
        "DEPLOY [regressions] no category, difficulty or kind worse than the base"])
    reasons, passed, details = decision_lines(old)
    assert reasons == ["✗ refusal accuracy 80.0% < 100.0%: 2 of 10 answered (a, b)",
                       "⚠ spot-check: 4 concerning of 20 rated (2 ✗, 2 ⚠, 4 not trusted), 3-4"]
    assert passed == ["✓ improvement +41.8 pts > 10 pts (41.7% → 83.5%)",
                      "✓ regressions: no category, difficulty or kind worse than the base"]
    assert details == []


def _record() -> ef.EvalRecord:
    return ef.EvalRecord(eval_id="e1", status="completed", created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
                         eval_set_hash="0" * 64, n_examples=50,
                         base=ef.ModelRef(spec=BASE, kind="hub", model=BASE),
                         candidate=ef.ModelRef(spec="r1", kind="local", model=CAND, run_id="r1"),
                         judge_status="validated", judge_usable=True, judge_model="judge-model")


def test_the_report_puts_plain_reasons_first_and_the_statistics_after():
    d, m = _iterate_decision()
    md = render_report(project_name="Helpdesk", slug="helpdesk", record=_record(), metrics=m, decision=d,
                       config=EvaluateConfig())
    decision_part = md[md.index("## Decision"):md.index("## Automated metrics")]
    assert "weighted score" in decision_part and "(partial: 85% of the weight; consistency left out)" in decision_part
    first = decision_part.index("- ✗ refusals: 2 of 10 out-of-scope requests were answered: o03, o07")
    assert first < decision_part.index("Checks that passed:") < decision_part.index("### Statistical detail")
    assert decision_part.index("### Statistical detail") > decision_part.index("Next steps:")
    assert "DEPLOY [" not in md and "3-4" not in md
    assert "| consistency | left out: not measurable: no paraphrases were written | 0.15 | at most 0.2 |" in md
    assert "- Fine-tuned: not measurable: no paraphrases were written." in md


def test_the_report_shows_the_judge_breakdown_when_the_summary_has_it():
    d, m = _iterate_decision()
    judge = {"attempts": [], "confusion": {"tp": 20, "fp": 3, "tn": 22, "fn": 5},
             "by_variant": {"reference": {"n": 10, "accuracy": 1.0, "confusion": {"tp": 10, "fp": 0, "tn": 0,
                                                                                  "fn": 0}},
                            "truncated": {"n": 10, "accuracy": 0.7},
                            "broken": "not a mapping"},
             "by_kind": {}}
    md = render_report(project_name="Helpdesk", slug="helpdesk", record=_record(), metrics=m, decision=d,
                       judge=judge, config=EvaluateConfig())
    assert "| known good | 20 | 5 |" in md and "| known bad | 3 | 22 |" in md
    assert "3 known-bad items passed by the judge" in md
    assert "| reference | 10 | 100.0% | 10 | 0 | 0 | 0 |" in md and "| truncated | 10 | 70.0% |  |  |  |  |" in md
    assert "By kind:" not in md  # empty: nothing
    for odd in ({"attempts": []}, {"confusion": "?", "by_variant": [1, 2]}, {"confusion": {"tp": "x"}}, None):
        md = render_report(project_name="Helpdesk", slug="helpdesk", record=_record(), metrics=m, decision=d,
                           judge=odd, config=EvaluateConfig())
        assert "known good" not in md and "By variant:" not in md
