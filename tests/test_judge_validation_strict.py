"""Judge validation that a bad judge cannot pass (issue 12): the known-good items say the right thing in
other words and the known-bad ones look right and are wrong, so a judge that passes only copies of the
reference (the COPYCAT of tests/fakes/generate_replies.py) fails, and one that judges the content passes.
Also: no item is the reference, the items are balanced and stratified, human labels come first, the
confusion matrix and the per-kind numbers, and a clear reason when too few items can be built."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core import store
from core.evaluate import evalfolder as ef
from core.evaluate.human_labels import HumanLabel, collect, merge
from core.evaluate.judge import JudgeGrade
from core.evaluate.judge_validation import (
    AnswerItems, RefusalItems, ValidationAttempt, ValidationItem, build_items, build_pairs, check_bad, check_good,
    item_kind, near_verbatim, score_attempt, validate_judge, wrong_order
)
from core.llm.gateway import Gateway
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample
from core.models.runs import SpotCheck, SpotCheckItem
from tests.fakes.generate_replies import content_passes, fake_paraphrase, install_items, install_judge
from tests.fakes.llm_server import request_text, schema_name
from tests.test_eval_judge import REFUSAL, eval_set

ONE = EvaluateConfig(judge_samples=1)


def gateway(**kw: Any) -> Gateway:
    return Gateway(backoff_s=0.01, max_backoff_s=0.05, max_retries=1, **kw)


def judge_requests(server) -> list[dict[str, Any]]:
    return [r for r in server.requests if schema_name(r) in ("JudgeVerdict", "PairwiseVerdict")]


def paraphrase_by_hand(e: EvalExample) -> str:
    """A correct answer in other words that the content judge accepts (the fake's synonyms)."""
    return fake_paraphrase(e.reference, random.Random(0))


# ---------------------------------------------------------------- the two judges


async def test_a_judge_that_copies_references_fails_validation(fake_llm):
    install_judge(fake_llm, "copycat")
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE, task="device help")
    assert not report.usable and report.judge is None and report.chosen is None
    assert len(report.attempts) == 2  # both prompt variants, neither passed
    for att in report.attempts:
        assert not att.passed and att.n == 50
        assert att.accuracy == 0.5 and att.kappa == pytest.approx(0.0)
        assert att.confusion.to_dict() == {"tp": 0, "fp": 0, "tn": 25, "fn": 25}
        assert att.by_variant["paraphrase"]["accuracy"] == 0.0 and att.by_variant["restructured"]["accuracy"] == 0.0
        assert all(g["accuracy"] == 1.0 for name, g in att.by_variant.items()
                   if name not in ("paraphrase", "restructured"))
        assert att.pairwise_passed is None  # never checked for a failed judge
    assert "no judge passed validation" in report.reason and "paraphrase 0%" in report.reason
    summary = report.summary()
    assert summary["attempts"][0]["confusion"] == {"tp": 0, "fp": 0, "tn": 25, "fn": 25}
    assert set(summary["attempts"][0]["by_kind"]) == {"common", "edge", "lookalike", "out_of_scope"}
    assert summary["items"]["good"] == summary["items"]["bad"] == 25


async def test_a_judge_that_is_right_in_other_words_passes(fake_llm):
    install_judge(fake_llm, "content")
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE, task="device help")
    assert report.usable and report.pairwise_usable and report.judge is not None
    att = report.chosen
    assert len(report.attempts) == 1 and att.passed and att.pairwise_passed
    assert att.accuracy == 1.0 and att.kappa == pytest.approx(1.0)
    assert att.confusion.to_dict() == {"tp": 25, "fp": 0, "tn": 25, "fn": 0}
    assert all(g["accuracy"] == 1.0 for g in att.by_variant.values())
    assert all(g["accuracy"] == 1.0 for g in att.by_kind.values())
    assert att.swap_agreement == 1.0 and att.pairwise_accuracy == 1.0 and att.position_bias == pytest.approx(0.5)
    assert report.reason.startswith("validated: ") and "tp 25, fn 0, tn 25, fp 0" in report.reason
    lines = report.lines()
    assert any(line.startswith("  by item kind: ") and "paraphrase" in line for line in lines)
    assert any(line.startswith("  by example kind: ") and "out_of_scope 10/10" in line for line in lines)
    # the saved rows: the item kind is in the item id, the prompt version in variant
    rows = [r for r in report.rows if not r.item_id.startswith("pair:")]
    assert len(rows) == 50 and all(r.variant.startswith("judge_grade@") for r in rows)
    assert Counter(item_kind(r.item_id) for r in rows) == Counter(
        {k: v for k, v in report.items.summary()["by_variant"].items()})
    pair_rows = [r for r in report.rows if r.item_id.startswith("pair:")]
    assert pair_rows and all("|" in r.item_id and r.variant == "judge_pairwise" for r in pair_rows)


# ---------------------------------------------------------------- the items


async def test_no_item_is_the_reference_and_good_items_keep_its_numbers(fake_llm):
    install_items(fake_llm)
    examples = eval_set()
    async with gateway() as gw:
        built = await build_items(gw, examples, 50)
    assert built.enough and len(built.items) == 50
    for it in built.items:
        assert it.response.strip() != it.example.reference.strip()
        if it.expected:
            assert not near_verbatim(it.response, it.example.reference)
            assert check_good(it.example, it.response) is None
        assert item_kind(it.item_id) == it.variant and it.item_id.startswith(f"{it.example.id}:")
    # one item-writing request per sampled example, at temperature 0 (reproducible, and cached by the gateway)
    asked = [r for r in fake_llm.requests if schema_name(r) in ("AnswerItems", "RefusalItems")]
    assert len(asked) == built.asked == 25 and built.failed == 0
    assert all(r["temperature"] == 0.0 for r in asked)


async def test_drafts_that_copy_the_reference_are_rejected(fake_llm):
    def lazy(request: dict[str, Any]) -> dict[str, Any]:
        text = request_text(request)
        ref = text.split("<reference>\n", 1)[1].split("\n</reference>", 1)[0]
        spaced = "  ".join(ref.split())  # the "reformatted" copy: whitespace only
        one_word = ref.replace("router", "the router", 1)  # near verbatim
        no_number = ref.replace("seconds", "moments")
        return {"paraphrases": [ref, spaced], "restructured": [one_word],
                "wrong": [{"text": ref, "error": "none really"}, {"text": no_number, "error": ""}]}

    fake_llm.on_schema("AnswerItems", lazy)
    fake_llm.on_schema("RefusalItems", lambda r: {"refusals": [REFUSAL], "answers": [REFUSAL]})
    install_judge(fake_llm, "content")  # the judge (its item rules come after the lazy ones: never used)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE)
    assert not report.usable and report.attempts == [] and judge_requests(fake_llm) == []
    built = report.items
    assert built.good == 0  # every "good" draft was the reference, or nearly
    assert built.rejected["good: a (near) verbatim copy of the reference"] >= 50
    assert built.rejected["bad: the reference itself"] >= 24
    assert built.rejected["bad: a wrong version without a stated error"] >= 15
    assert "only 0 known-good" in report.reason and "at least 10 of each" in report.reason
    assert "drafts rejected" in report.reason and "wait for a human rating" in report.reason


def test_the_checks_of_single_items():
    e = eval_set()[0]
    ref = e.reference
    assert check_good(e, ref) == "a (near) verbatim copy of the reference"
    assert check_good(e, "\n".join(ref.split(". "))) == "a (near) verbatim copy of the reference"
    assert check_good(e, ref.replace("thirty", "30")).startswith("a (near) verbatim")  # one word: still a copy
    assert check_good(e, paraphrase_by_hand(e).replace("3 seconds", "three seconds")) == \
        "drops or changes a number of the reference"
    assert check_good(e, REFUSAL) == "declines the in-scope request"
    assert check_good(e, "Unplug it for 3 seconds, step 0.") == "much shorter than the reference"
    assert check_good(e, paraphrase_by_hand(e)) is None
    oos = eval_set()[-1]
    assert check_good(oos, "Sure, here is a contract for you.") == "does not decline the out-of-scope request"
    assert check_good(oos, "Thanks for asking. " + REFUSAL.replace("qualified", "licensed")) is None
    assert check_bad(e, ref, "wrong_fact") == "the reference itself"
    assert check_bad(e, " ".join(ref.split()).upper(), "wrong_fact") == "the reference itself"
    assert check_bad(e, "Hello.", "wrong_refusal") == "not recognisable as a refusal"
    assert check_bad(oos, REFUSAL, "answered_out_of_scope") == "the reference itself"
    assert check_bad(oos, "I'm sorry, but I can't help with that.", "answered_out_of_scope") == \
        "declines (it was to answer, wrongly)"


def test_wrong_order_swaps_steps_only_where_the_text_gives_an_order():
    text = ("First, unplug the router. Then hold the reset button for 10 seconds. Wait for the light. "
            "Finally, plug it back in.")
    assert wrong_order(text) == ("First, plug it back in. Then hold the reset button for 10 seconds. Wait for the "
                                 "light. Finally, unplug the router.")
    listed = "1. Unplug the router.\n2. Then hold the button.\n3. Plug it back in."
    assert wrong_order(listed) == "1. Plug it back in.\n2. Then hold the button.\n3. Unplug the router."
    assert wrong_order("Routers are useful. They route packets. Most homes have one.") is None  # no order
    assert wrong_order("First unplug it, then plug it back in.") is None  # one sentence


async def test_items_are_balanced_and_stratified_by_kind_and_category(fake_llm):
    install_items(fake_llm)
    examples = eval_set()
    async with gateway() as gw:
        built = await build_items(gw, examples, 40, seed=5)
        other = await build_items(gw, examples, 40, seed=6)
    items = built.items
    assert len(items) == 40 and built.good == built.bad == 20
    share = Counter(e.kind for e in examples)
    by_kind = built.counts("kind")
    for kind, row in by_kind.items():
        assert row["good"] == row["bad"]  # one good and one bad of every example sampled
        assert row["good"] == pytest.approx(20 * share[kind] / len(examples), abs=1)  # in proportion
    assert set(by_kind) == set(share)
    assert set(built.counts("category")) == {e.category for e in examples}
    assert {i.item_id for i in items} != {i.item_id for i in other.items}  # the seed picks the sample
    kinds = Counter(i.variant for i in items if not i.expected)
    assert kinds["wrong_fact"] >= max(v for k, v in kinds.items() if k != "wrong_fact")
    assert kinds["other_answer"] <= 0.15 * built.bad + 1
    lookalike_bad = [i.variant for i in items if not i.expected and i.example.kind == "lookalike"]
    assert lookalike_bad and Counter(lookalike_bad).most_common(1)[0][0] == "wrong_refusal"


async def test_step_by_step_references_get_wrong_order_items_that_the_content_judge_fails(fake_llm):
    install_judge(fake_llm, "content")
    examples = [x.model_copy(update={"reference": (
        f"First, unplug the {x.id} device and wait 30 seconds. Then hold its reset button for {i + 3} seconds. "
        f"Finally, plug it back in and check that the light is green.")}) if not x.should_refuse else x
        for i, x in enumerate(eval_set())]
    async with gateway() as gw:
        report = await validate_judge(gw, examples, config=ONE)
    order = [i for i in report.items.items if i.variant == "wrong_order"]
    assert len(order) >= 2 and all(i.response.startswith("First, plug it back in") for i in order)
    assert report.usable and report.chosen.by_variant["wrong_order"]["accuracy"] == 1.0


def test_position_pairs_are_a_good_and_a_bad_item_of_one_example():
    examples = eval_set()
    e, f, oos = examples[0], examples[1], examples[-1]
    items = [
        ValidationItem(f"{e.id}:paraphrase:1", e, paraphrase_by_hand(e), True, "paraphrase"),
        ValidationItem(f"{e.id}:wrong_refusal:1", e, REFUSAL, False, "wrong_refusal"),
        ValidationItem(f"{e.id}:wrong_fact:1", e, paraphrase_by_hand(e).replace("3", "5"), False, "wrong_fact"),
        ValidationItem(f"{f.id}:wrong_fact:1", f, "nope", False, "wrong_fact"),  # no good item: no pair
        ValidationItem(f"{oos.id}:paraphrase:1", oos, "Thanks. " + REFUSAL, True, "paraphrase"),
        ValidationItem(f"{oos.id}:answered_out_of_scope:1", oos, "Sure, here it is.", False, "answered_out_of_scope"),
    ]
    pairs = build_pairs(items)
    assert [(p.example.id, p.variant) for p in pairs] == [(e.id, "wrong_fact"), (oos.id, "answered_out_of_scope")]
    assert pairs[0].item_id == f"pair:{e.id}:paraphrase:1|{e.id}:wrong_fact:1"
    assert pairs[0].good == items[0].response and pairs[0].bad == items[2].response


# ---------------------------------------------------------------- the numbers, on a hand-made case


def grade(passed: bool) -> JudgeGrade:
    return JudgeGrade(passed=passed, score=float(passed), confidence=1.0, refused=False, refused_confidence=1.0,
                      votes=[passed])


def test_confusion_and_per_kind_numbers_on_a_hand_made_case():
    ex = {k: EvalExample(id=f"x-{k}", input="q?", reference="r.", category="c", difficulty="easy", kind=k)
          for k in ("common", "edge", "lookalike")}
    cases = [  # (example kind, variant, expected, verdict: True/False, None = no verdict)
        ("common", "paraphrase", True, True), ("common", "paraphrase", True, True),
        ("edge", "paraphrase", True, True), ("edge", "paraphrase", True, False),
        ("lookalike", "human_good", True, True),
        ("common", "wrong_fact", False, True), ("edge", "wrong_fact", False, False),
        ("common", "wrong_fact", False, None),  # no verdict: counts as wrong (a pass)
        ("lookalike", "wrong_refusal", False, False), ("lookalike", "wrong_refusal", False, False),
    ]
    items = [ValidationItem(f"x-{k}:{v}:{i}", ex[k], "text", exp, v) for i, (k, v, exp, _) in enumerate(cases)]
    grades = [None if verdict is None else grade(verdict) for *_, verdict in cases]
    att = score_attempt(ValidationAttempt("m", "judge", "judge_grade", "judge_grade@x"), items, grades, 0.8)
    assert att.confusion.to_dict() == {"tp": 4, "fn": 1, "tn": 3, "fp": 2}
    assert att.n == 10 and att.accuracy == pytest.approx(0.7) and att.errors == 1
    # po 0.7, p(good) 0.5, p(pass) 0.6: pe = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert att.kappa == pytest.approx(0.4) and not att.passed  # 70% < 80%
    assert att.by_variant == {
        "human_good": {"n": 1, "accuracy": 1.0, "confusion": {"tp": 1, "fp": 0, "tn": 0, "fn": 0}},
        "paraphrase": {"n": 4, "accuracy": 0.75, "confusion": {"tp": 3, "fp": 0, "tn": 0, "fn": 1}},
        "wrong_fact": {"n": 3, "accuracy": pytest.approx(1 / 3), "confusion": {"tp": 0, "fp": 2, "tn": 1, "fn": 0}},
        "wrong_refusal": {"n": 2, "accuracy": 1.0, "confusion": {"tp": 0, "fp": 0, "tn": 2, "fn": 0}},
    }
    assert att.by_kind == {
        "common": {"n": 4, "accuracy": 0.5, "confusion": {"tp": 2, "fp": 2, "tn": 0, "fn": 0}},
        "edge": {"n": 3, "accuracy": pytest.approx(2 / 3), "confusion": {"tp": 1, "fp": 0, "tn": 1, "fn": 1}},
        "lookalike": {"n": 3, "accuracy": 1.0, "confusion": {"tp": 1, "fp": 0, "tn": 2, "fn": 0}},
    }
    summary = att.summary()
    assert summary["confusion"] == {"tp": 4, "fp": 2, "tn": 3, "fn": 1}
    assert summary["by_variant"]["paraphrase"]["n"] == 4 and summary["by_kind"]["edge"]["n"] == 3
    assert att.lines() == [
        ("m / judge_grade@x: accuracy 70% on 10 (tp 4, fn 1, tn 3, fp 2), kappa 0.40 "
         f"[{att.kappa_ci[0]:.2f}, {att.kappa_ci[1]:.2f}]: FAIL"),
        "  by item kind: human_good 1/1, paraphrase 3/4, wrong_fact 1/3, wrong_refusal 2/2",
        "  by example kind: common 2/4, edge 2/3, lookalike 3/3",
    ]
    assert att.weak_spots(0.8) == "wrong_fact 33% of 3, paraphrase 75% of 4"
    assert [r.item_id for r in att.rows] == [i.item_id for i in items]
    assert [r.verdict for r in att.rows][7] is True and all(r.variant == "judge_grade@x" for r in att.rows)


# ---------------------------------------------------------------- too few items, offline


async def test_no_item_writer_means_no_validation_and_says_why(fake_llm):
    # the judge answers, but nobody writes items: the item requests get "{}" (not an AnswerItems)
    from tests.fakes.generate_replies import content_grade, content_pairwise

    fake_llm.on_schema("JudgeVerdict", content_grade)
    fake_llm.on_schema("PairwiseVerdict", content_pairwise)
    async with gateway() as gw:
        report = await validate_judge(gw, eval_set(), config=ONE)
        offline = await validate_judge(gw, eval_set(), config=ONE, item_role=None)
    assert not report.usable and report.judge is None and report.attempts == [] and report.rows == []
    assert judge_requests(fake_llm) == []  # the judge was never asked: it could not pass anyway
    assert report.reason.startswith("no judge can be validated: only 0 known-good and")
    assert "every item-writing request to the generator role" in report.reason
    assert "no output was rated by a person" in report.reason
    assert report.items.asked > 0 and report.items.failed == report.items.asked
    assert report.items.asked < 30  # it stopped asking after a wave that returned nothing
    assert not offline.usable and "no LLM is configured to write them" in offline.reason
    assert offline.items.built_bad >= 10 and offline.items.built_good == 0  # deterministic bad kinds only
    assert offline.items.items == []  # trimmed to the good side: balanced
    assert offline.reason.startswith(f"no judge can be validated: only 0 known-good and {offline.items.built_bad} "
                                     f"known-bad")


# ---------------------------------------------------------------- human labels first


def _rows(eval_id: str, examples: list[EvalExample]) -> list[dict[str, Any]]:
    e0, e1, e2, e3 = examples[0], examples[1], examples[2], examples[3]
    base = {"model": "m", "category": "", "difficulty": "", "kind": "", "refused": None, "judge_confidence": None,
            "flagged": False, "dimensions": []}
    return [
        {**base, "example_id": e0.id, "model_role": "candidate", "output": paraphrase_by_hand(e0), "method": "human",
         "score": 1.0, "passed": True, "pending": False, "detail": "human rating: good (clear) [rate]"},
        {**base, "example_id": e0.id, "model_role": "base", "output": "Just buy a new one.", "method": "human",
         "score": 0.0, "passed": False, "pending": False, "detail": "human rating: bad [rate]"},
        {**base, "example_id": e1.id, "model_role": "candidate", "output": "Meh.", "method": "human",
         "score": 0.5, "passed": False, "pending": False, "detail": "human rating: mixed [rate]"},
        {**base, "example_id": e1.id, "model_role": "base", "output": "Waiting.", "method": "human",
         "score": None, "passed": None, "pending": True, "detail": "pending: needs a human rating"},
        {**base, "example_id": e2.id, "model_role": "candidate", "output": e2.reference, "method": "human",
         "score": 1.0, "passed": True, "pending": False, "detail": "human rating: good [spot-check]"},
        {**base, "example_id": e3.id, "model_role": "candidate", "output": paraphrase_by_hand(e3),
         "method": "llm_judge", "score": 1.0, "passed": True, "detail": "judge"},
        {**base, "example_id": e3.id, "model_role": "base", "output": "Shake it hard.", "method": "llm_judge",
         "score": 0.0, "passed": False, "detail": "judge"},
        {**base, "example_id": "gone", "model_role": "candidate", "output": "old", "method": "human",
         "score": 1.0, "passed": True, "pending": False, "detail": "human rating: good"},
    ]


def test_human_labels_are_collected_from_ratings_and_spot_checks(projects_root: Path):
    from core.project import Project

    project = Project.create("labels-bot", "device help", preset="standard")
    examples = eval_set()
    e = examples
    eval_id = "20250101-000000-abcd"
    (ef.eval_dir(project, eval_id)).mkdir(parents=True)
    store.write_parquet(ef.path(project, eval_id, ef.RESULTS), _rows(eval_id, examples))
    ef.write_spot_check(project, eval_id, SpotCheck(items=[
        SpotCheckItem(example_id=e[3].id, group="comparison", rating="good", trust=True, preferred="candidate"),
        SpotCheckItem(example_id=e[2].id, group="common", rating="good", trust=False),  # would not trust: skipped
        SpotCheckItem(example_id=e[0].id, group="common", rating="concerning"),  # neither
        SpotCheckItem(example_id=e[1].id, group="edge", rating=None),
    ]))
    labels = collect(project, examples)
    got = {(lab.example_id, lab.response, lab.good) for lab in labels}
    assert got == {(e[0].id, paraphrase_by_hand(e[0]), True), (e[0].id, "Just buy a new one.", False),
                   (e[2].id, e[2].reference, True), (e[3].id, paraphrase_by_hand(e[3]), True)}
    assert {lab.source for lab in labels} == {f"human rating {eval_id} (candidate)", f"human rating {eval_id} (base)",
                                              f"spot-check {eval_id}"}
    # the comparison's base output gets a label only where the preference implies one
    spot = SpotCheck(items=[SpotCheckItem(example_id=e[3].id, group="comparison", rating="bad", trust=False,
                                          preferred="candidate")])
    ef.write_spot_check(project, eval_id, spot)
    assert (e[3].id, "Shake it hard.", False) in {(x.example_id, x.response, x.good) for x in collect(project, examples)}
    # the same response rated good and bad is not of known quality
    a = HumanLabel("x", "Same  text", True, "one")
    assert merge([a, HumanLabel("x", "same text", False, "two")]) == []
    assert merge([a, HumanLabel("x", "same text", True, "two")]) == [a]


async def test_human_labels_come_first_and_synthetic_items_fill_up(fake_llm):
    install_judge(fake_llm, "content")
    examples = eval_set()
    ins = [x for x in examples if not x.should_refuse]
    human = [HumanLabel(x.id, paraphrase_by_hand(x), True, "spot-check e1") for x in ins[:6]]
    human += [HumanLabel(ins[0].id, "Throw it in the bin and buy a new one.", False, "human rating e1 (base)"),
              HumanLabel(ins[1].id, ins[1].reference, True, "spot-check e1"),  # the reference: never an item
              HumanLabel("not-in-the-set", "whatever", True, "spot-check e0")]
    async with gateway() as gw:
        built = await build_items(gw, examples, 50, human=human)
        report = await validate_judge(gw, examples, config=ONE, human=human)
    hum = [i for i in built.items if i.source != "synthetic"]
    assert len(hum) == 7 and built.human == 7 and len(built.items) == 50
    assert {i.variant for i in hum} == {"human_good", "human_bad"}
    assert sum(i.variant == "human_good" for i in hum) == 6
    assert all(i.response != i.example.reference for i in built.items)
    assert built.human_skipped == Counter({"the reference (near) verbatim": 1, "example no longer in the eval set": 1})
    assert f"{ins[0].id}:human_bad:1" in {i.item_id for i in built.items}
    assert built.good == built.bad == 25  # 6 human + 19 synthetic good; 1 human + 24 synthetic bad
    assert report.usable and report.chosen.by_variant["human_good"] == {
        "n": 6, "accuracy": 1.0, "confusion": {"tp": 6, "fp": 0, "tn": 0, "fn": 0}}
    assert report.summary()["items"]["human"] == 7


async def test_human_labels_fill_a_class_before_any_synthetic_item(fake_llm):
    install_items(fake_llm)
    examples = eval_set()
    human = [HumanLabel(x.id, paraphrase_by_hand(x), True, "spot-check e1") for x in examples
             if not x.should_refuse]  # 24 human goods
    human += [HumanLabel(x.id, "Thanks for asking, but that is beyond what I do here: I can't assist with "
                               "contracts. Please contact a licensed lawyer.", True, "spot-check e1")
              for x in examples if x.should_refuse]  # 6 more: 30 > the 25 needed
    async with gateway() as gw:
        built = await build_items(gw, examples, 50, human=human)
    goods = [i for i in built.items if i.expected]
    assert len(goods) == 25 and all(i.variant == "human_good" for i in goods)
    assert built.human_skipped["more than the set needs"] == 5
    # the capped human goods still spread over the kinds
    assert {i.example.kind for i in goods} == {"common", "edge", "lookalike", "out_of_scope"}
    assert any(i.variant == "wrong_fact" for i in built.items)  # the LLM still wrote the bad side


# ---------------------------------------------------------------- end to end: evaluate never uses the copycat


def test_evaluate_does_not_use_a_copycat_judge(projects_root: Path, fake_llm):
    from core.evaluate.inference import DecodingParams
    from core.evaluate.run import evaluate
    from core.project import Project
    from tests.fakes.tiny_model import tiny_model_path
    from tests.test_eval_run import add_knowledge, freeze

    project = Project.create("copycat-bot", "answer device and billing questions", preset="standard")
    project.meta.config.evaluate.judge_samples = 1
    project.save()
    add_knowledge(project)
    examples = freeze(project)
    answers = {x.input: x.reference for x in examples}
    install_judge(fake_llm, "copycat")
    fake_llm.on(lambda r: schema_name(r) is None and r.get("model") == "served-bot",
                lambda r: answers.get(request_text(r), "I do not know."))
    outcome = evaluate(project, base=str(tiny_model_path()), candidate="litellm:openai/served-bot",
                       params=DecodingParams(max_new_tokens=8, batch_size=32), paraphrase_n=0)
    rec = outcome.record
    assert rec.judge_status == "failed" and rec.judge_usable is False
    # the candidate answers with the references word for word, and the copycat would have passed them all;
    # its scores are not used: those examples wait for a human
    cand = [r for r in ef.read_results(project, outcome.eval_id) if r.model_role == "candidate"]
    assert not any(r.method == "llm_judge" for r in cand)
    assert any(r.pending for r in cand)
    saved = ef.read_toml_dict(project, outcome.eval_id, ef.JUDGE_SUMMARY)
    assert not saved["usable"] and saved["attempts"][0]["confusion"]["tp"] == 0
    assert saved["attempts"][0]["by_variant"]["paraphrase"]["accuracy"] == 0.0
    assert saved["items"]["good"] == saved["items"]["bad"] >= 10
    rows = ef.read_judge_validation(project, outcome.eval_id)
    assert rows and not any(item_kind(r.item_id) in ("reference", "reformatted") for r in rows)


# ---------------------------------------------------------------- the schemas sent


@pytest.mark.parametrize("schema", [AnswerItems, RefusalItems], ids=lambda s: s.__name__)
def test_the_item_schemas_suit_every_provider(schema):
    """The checks tests/test_gateway_local.py makes of every schema sent."""
    from core.llm.structured import grammar_schema, response_format
    from tests.fakes.schema_faker import instance
    from tests.test_gateway_local import objects

    sent = response_format(schema)["json_schema"]["schema"]
    for where, obj in objects(sent):
        assert obj["required"] == list(obj["properties"]), where
        assert obj.get("additionalProperties") is False, where
    grammar = grammar_schema(schema)
    for seed in range(12):
        schema.model_validate(instance(grammar, grammar, random.Random(seed)))


def test_the_fake_content_judge_understands_synonyms_and_order():
    e = eval_set()[0]
    assert content_passes(paraphrase_by_hand(e), e.reference, False)
    assert not content_passes(paraphrase_by_hand(e).replace("3 seconds", "5 seconds"), e.reference, False)
    assert not content_passes(REFUSAL, e.reference, False) and content_passes(REFUSAL, REFUSAL, True)
