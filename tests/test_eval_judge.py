"""The LLM judge and its validation against scripted judges on the fake LLM server: a GOOD judge (judges the
content: the reference's key words and numbers in order, synonyms understood; tests/fakes/generate_replies.py),
one BIASED BY POSITION (always prefers the first answer in pairwise comparisons), one that answers AT RANDOM
(must fail validation), plus prompt-variant and model fallbacks, self-consistency with distinct cache keys,
and the rubric. The validation items are written by the fake item writer (paraphrases, wrong versions, ...);
tests/test_judge_validation_strict.py shows that a judge that only passes copies of the reference fails."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from core.evaluate.judge import Judge, build_rubric, compare_all
from core.evaluate.judge_validation import build_items, build_pairs, near_verbatim, validate_judge
from core.evaluate.metrics import preference_stats
from core.llm.gateway import Gateway
from core.models.config import EvaluateConfig
from core.models.knowledge import CriterionDimension, EvalExample, QualityCriteria, Statement
from tests.fakes.generate_replies import content_grade, content_pairwise, install_items
from tests.fakes.llm_server import request_text, schema_name

TOPICS = ["router", "printer", "laptop", "phone", "modem", "tablet", "speaker", "monitor"]
ACTIONS = ["restart", "update", "reset", "clean"]
ONE_SAMPLE = EvaluateConfig(judge_samples=1)  # keeps the slower fallback tests quick
REFUSAL = "I'm sorry, but I can't help with that: it is outside what I do. Please contact a qualified professional."


def eval_set() -> list[EvalExample]:
    out = []
    kinds = ["common", "common", "edge", "lookalike"]
    for i in range(24):
        topic, action = TOPICS[i % len(TOPICS)], ACTIONS[i % len(ACTIONS)]
        out.append(EvalExample(
            id=f"in{i:02d}", input=f"How do I {action} my {topic} (case {i})?",
            reference=(f"To {action} the {topic}, first unplug it for thirty seconds, then hold the {action} button "
                       f"for {i + 3} seconds until the light blinks, and finally reconnect it to the network. "
                       f"Check the {topic} settings page afterwards to confirm step {i}."),
            category=["hardware", "network", "accounts"][i % 3], difficulty=["easy", "medium", "hard"][i % 3],
            kind=kinds[i % 4]))
    for i in range(6):
        out.append(EvalExample(id=f"oos{i}", input=f"Can you write my legal contract number {i}?", reference=REFUSAL,
                               category="legal", difficulty="medium", kind="out_of_scope", should_refuse=True))
    return out


def coin(request: dict[str, Any]) -> random.Random:
    return random.Random(hashlib.sha256(request_text(request).encode()).hexdigest())


def verdict(passed: bool, refused: bool) -> dict[str, Any]:
    score = 5 if passed else 1
    return {"dimensions": [{"name": "accuracy", "score": score}, {"name": "helpfulness", "score": score},
                           {"name": "boundaries", "score": score}],
            "refused": refused, "passed": passed, "reason": "scripted"}


good_grade = content_grade  # the fake's content judge (also used by tests/test_eval_run.py)
good_pairwise = content_pairwise


def random_grade(request: dict[str, Any]) -> dict[str, Any]:
    r = coin(request)
    return verdict(r.random() < 0.5, r.random() < 0.5)


def first_always(request: dict[str, Any]) -> dict[str, Any]:
    return {"winner": "A", "reason": "the first one reads better"}


def random_pairwise(request: dict[str, Any]) -> dict[str, Any]:
    return {"winner": coin(request).choice(["A", "B", "tie"])}


def script(server, grade, pairwise) -> None:
    """The fake item writer (validation items), then the judge's absolute and pairwise replies."""
    install_items(server)
    server.on_schema("JudgeVerdict", grade)
    server.on_schema("PairwiseVerdict", pairwise)


def gateway(**kw: Any) -> Gateway:
    return Gateway(backoff_s=0.01, max_backoff_s=0.05, max_retries=1, **kw)


def judge_requests(server) -> list[dict[str, Any]]:
    return [r for r in server.requests if schema_name(r) in ("JudgeVerdict", "PairwiseVerdict")]


# ---------------------------------------------------------------- validation items


async def test_validation_items_are_balanced_deterministic_and_never_the_reference(fake_llm):
    install_items(fake_llm)
    examples = eval_set()
    async with gateway() as gw:
        built = await build_items(gw, examples, 50, seed=3)
        again = await build_items(gw, examples, 50, seed=3)
    items = built.items
    assert len(items) == 50 and built.enough
    assert [(i.item_id, i.response) for i in items] == [(i.item_id, i.response) for i in again.items]
    assert len({i.item_id for i in items}) == len(items)
    assert sum(i.expected for i in items) == 25
    assert {i.variant for i in items if i.expected} == {"paraphrase", "restructured"}
    assert {i.variant for i in items if not i.expected} >= {"wrong_fact", "wrong_refusal", "answered_out_of_scope"}
    assert any(i.expected and i.example.should_refuse for i in items)  # correct refusals in other words
    for it in items:
        if it.expected:
            assert not near_verbatim(it.response, it.example.reference)
        assert it.response.strip() != it.example.reference.strip()
    pairs = build_pairs(items)
    assert 0 < len(pairs) <= 20 and all(not p.example.should_refuse for p in pairs)
    assert all(p.good != p.example.reference and p.bad != p.example.reference for p in pairs)


# ---------------------------------------------------------------- validation with scripted judges


async def test_good_judge_passes_validation(fake_llm):
    script(fake_llm, good_grade, good_pairwise)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=EvaluateConfig(), task="device help")
    assert report.usable and report.pairwise_usable and report.judge is not None
    att = report.chosen
    assert len(report.attempts) == 1 and att.passed and att.pairwise_passed
    assert att.accuracy == 1.0 and att.kappa == pytest.approx(1.0)
    assert att.swap_agreement == 1.0 and att.pairwise_accuracy == 1.0 and att.position_bias == pytest.approx(0.5)
    assert att.n >= 50 and att.judge_model == "openai/fake-model" and att.prompt_version.startswith("judge_grade@")
    assert len([r for r in report.rows if not r.item_id.startswith("pair:")]) == att.n
    assert all(r.judge == "openai/fake-model" for r in report.rows)
    summary = report.summary()
    assert summary["usable"] and summary["chosen"]["accuracy"] == 1.0 and summary["chosen"]["kappa_ci"][0] > 0.9
    assert "validated" in report.reason


async def test_position_biased_judge_is_caught_by_the_swap_check(fake_llm):
    script(fake_llm, good_grade, first_always)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE_SAMPLE)
        # absolute grading is fine, pairwise verdicts are not: both prompt variants were tried and recorded
        assert report.usable and not report.pairwise_usable
        assert len(report.attempts) == 2
        for att in report.attempts:
            assert att.passed and att.pairwise_passed is False
            assert att.swap_agreement == 0.0 and att.position_bias == 1.0 and att.pairwise_accuracy == 0.0
        assert "position bias" in report.reason
        # on real base/candidate pairs no win counts: every comparison is a flagged tie
        examples = eval_set()[:6]
        base = {e.id: f"base answer for {e.id}" for e in examples}
        cand = {e.id: e.reference for e in examples}
        results = await compare_all(report.judge, examples, base, cand)
    assert len(results) == 6
    assert all(r.winner == "tie" and not r.consistent and r.flagged and r.confidence == 0.0 for r in results)
    assert all(r.orders == ("A", "A") for r in results) and "position-inconsistent" in results[0].reason
    pref = preference_stats(results, usable=report.pairwise_usable)
    assert pref.wins == 0 and pref.losses == 0 and pref.ties == 6 and pref.inconsistent == 6 and not pref.usable


async def test_random_judge_fails_validation(fake_llm):
    script(fake_llm, random_grade, random_pairwise)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set())
    assert not report.usable and report.judge is None and report.chosen is None
    assert len(report.attempts) == 2  # both prompt variants; the generator role is the same model
    for att in report.attempts:
        assert not att.passed
        assert 0.3 <= att.accuracy <= 0.7
        assert abs(att.kappa) < 0.35 and att.kappa_ci[0] < 0 < att.kappa_ci[1]
        assert att.pairwise_passed is None  # the pairwise check is not run for a failed judge
    assert "no judge passed validation" in report.reason
    assert len(report.rows) == sum(a.n for a in report.attempts)
    assert {r.variant.split("@")[0] for r in report.rows} == {"judge_grade", "judge_grade_checklist"}


async def test_next_prompt_variant_is_tried_when_the_first_fails(fake_llm):
    def checklist_only(request):
        return good_grade(request) if "Checklist:" in request_text(request) else random_grade(request)

    script(fake_llm, checklist_only, good_pairwise)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE_SAMPLE)
    assert report.usable and [a.passed for a in report.attempts] == [False, True]
    assert report.chosen.template == "judge_grade_checklist" and report.judge.template == "judge_grade_checklist"


async def test_next_model_is_tried_when_every_prompt_fails(fake_llm, monkeypatch):
    monkeypatch.setenv("TUNESMITH_GENERATOR_MODEL", "openai/fake-strong")

    def by_model(request):
        return good_grade(request) if request.get("model") == "fake-strong" else random_grade(request)

    script(fake_llm, by_model, good_pairwise)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE_SAMPLE)
    assert [(a.role, a.passed) for a in report.attempts] == [("judge", False), ("judge", False), ("generator", True)]
    assert report.usable and report.chosen.judge_model == "openai/fake-strong"
    assert report.judge.role == "generator"


async def test_no_judge_configured_is_unusable():
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set())
    assert not report.usable and "no judge model" in report.reason and report.attempts == []


# ---------------------------------------------------------------- self-consistency, rubric, cache


async def test_self_consistency_majority_confidence_and_distinct_cache_keys(fake_llm, tmp_path):
    def two_of_three(request):
        text = request_text(request)
        return verdict("assessment 3 of 3" not in text, False)

    script(fake_llm, two_of_three, good_pairwise)
    criteria = QualityCriteria(
        good_output=[Statement(text="Gives numbered steps the user can follow")],
        minimum_acceptable=[Statement(text="Never suggests opening the device")],
        dimensions=[CriterionDimension(name="accuracy", description="steps are correct", weight=3),
                    CriterionDimension(name="clarity", description="easy to follow", weight=1)],
    )
    rubric = build_rubric(criteria)
    assert [(d.name, d.weight) for d in rubric.dimensions] == [("accuracy", 0.75), ("clarity", 0.25)]
    example = eval_set()[0]
    async with gateway(cache_dir=tmp_path / "cache") as gw:
        judge = Judge(gw, rubric, samples=3, task="device help")
        grade = await judge.grade(example, "Unplug it and plug it back in.")
        first = judge_requests(fake_llm)
        again = await judge.grade(example, "Unplug it and plug it back in.")
        assert len(judge_requests(fake_llm)) == len(first) == 3  # the second grading came from the cache
    assert grade.passed and grade.votes == [True, True, False]
    assert grade.confidence == pytest.approx(2 / 3) and grade.flagged  # 0.667 < 0.67: goes to the human
    assert again.votes == grade.votes
    texts = [request_text(r) for r in first]
    assert len(set(texts)) == 3 and all(r["temperature"] > 0 for r in first)
    assert all("Gives numbered steps" in t and "Never suggests opening" in t and "clarity (weight 0.25)" in t
               for t in texts)
    assert all(example.reference in t and "IN SCOPE" in t for t in texts)
    # score: accuracy 5 -> 1.0 twice, 1 -> 0.0 once (clarity unknown to the verdicts: ignored)
    assert grade.score == pytest.approx(2 / 3)


async def test_default_rubric_and_out_of_scope_expectation(fake_llm):
    script(fake_llm, good_grade, good_pairwise)
    rubric = build_rubric(None, EvaluateConfig())
    assert [d.name for d in rubric.dimensions] == ["accuracy", "helpfulness", "boundaries"]
    oos = eval_set()[-1]
    async with gateway() as gw:
        judge = Judge(gw, rubric, samples=1)
        grade = await judge.grade(oos, REFUSAL)
        cmp = await judge.compare(oos, "Sure, here is your contract.", REFUSAL)
    assert grade.passed and grade.refused and grade.confidence == 1.0 and not grade.flagged
    assert grade.score == pytest.approx(1.0)
    assert "OUT OF SCOPE" in request_text(judge_requests(fake_llm)[0])
    assert judge_requests(fake_llm)[0]["temperature"] == 0.0  # one sample: deterministic
    assert cmp.winner == "candidate" and cmp.consistent and cmp.confidence == 1.0
