"""The evaluation method hierarchy and the scorers: exact match with label extraction, the JSON structured
check, code run against tests in the sandbox, format rules, and refusal detection."""

from __future__ import annotations

import pytest

from core.evaluate.refusal import combine, detect_refusal
from core.evaluate.scorers import (
    PENDING_HUMAN, choose_method, classification_labels, is_pending, score, score_all, score_async,
)
from core.evaluate.scorers_functional import find_tests, functional_spec
from core.evaluate.scorers_match import (
    exact_match, extract_choice, extract_label, label_of, match_kind, multiple_choice_letter, same_answer,
)
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample

LABELS = ["positive", "negative", "neutral"]
REFUSAL = "I'm sorry, but I can't help with diagnosing that. Please contact a licensed doctor."

CODE_INPUT = """Write a function `add(a, b)` that returns the sum.
```python
assert add(2, 3) == 5
assert add(-1, 1) == 0
```"""
CODE_REF = "```python\ndef add(a, b):\n    return a + b\n```"


def ex(id_: str = "e1", input_: str = "How do I reset my router?", reference: str = "Unplug it for 30 seconds, "
       "then plug it back in and wait for the lights to settle before reconnecting.", *, kind: str = "common",
       category: str = "setup", should_refuse: bool = False, difficulty: str = "easy") -> EvalExample:
    return EvalExample(id=id_, input=input_, reference=reference, category=category, difficulty=difficulty,
                       kind=kind, should_refuse=should_refuse)


# ---------------------------------------------------------------- exact match


@pytest.mark.parametrize("output, label", [
    ("negative", "negative"),
    ("The sentiment is **negative**.", "negative"),
    ("Label: Positive\nBecause the customer thanks us.", "positive"),
    ("It's neutral overall.", "neutral"),
    # two labels named: ambiguous, whatever else the output says (core.evaluate.scorers_match)
    ("I'd say it's neutral overall, not positive.", None),
    ("Sentiment: negative (the user is angry), although parts are positive", None),
    ("I cannot tell.", None),
])
def test_label_extraction_from_verbose_outputs(output, label):
    assert extract_label(output, LABELS) == label


def test_label_extraction_without_a_label_set_and_label_of_references():
    assert extract_label("Category: Billing issue") == "billing issue"
    assert extract_label("billing") == "billing"
    assert label_of("Billing") == "billing"
    assert label_of("Label: refund request. The customer wants money back for a faulty item.") == "refund request"
    assert label_of("Shipping — the parcel has not arrived and the user asks where it is.") == "shipping"


@pytest.mark.parametrize("output, letter", [
    ("B", "B"), ("(C)", "C"), ("The answer is (B) because the others are wrong.", "B"),
    ("Answer: D", "D"), ("**A**. Paris is the capital.", "A"), ("I think option C fits best.", "C"),
])
def test_multiple_choice_letter_extraction(output, letter):
    assert extract_choice(output) == letter


def test_match_kinds_and_normalised_comparison():
    mc_input = "Which is a prime?\nA) 4\nB) 6\nC) 7\nD) 9"
    assert multiple_choice_letter("C) 7", mc_input) == "C"
    assert multiple_choice_letter("C", "") == "C"
    assert multiple_choice_letter("Call the office first.", "") is None
    assert match_kind("C", mc_input, "instruction_following") == "choice"
    assert match_kind("positive", "Great product!", "classification") == "label"
    assert match_kind("Paris", "Capital of France?", "reasoning") == "closed"
    assert match_kind("A long open answer that explains the steps in some detail.", "?", "reasoning") is None
    assert same_answer("42", "42.0") and same_answer("Café!", "cafe") and not same_answer("41", "42")
    closed = exact_match("The capital is Paris.", "Paris", "closed")
    assert closed.passed
    assert not exact_match("It is not Paris but Lyon, which many people confuse with it in fact.", "Paris",
                           "closed").passed
    assert exact_match("The answer is C.", "C) 7", "choice", input_text=mc_input).passed
    assert not exact_match("B", "C", "choice").passed


# ---------------------------------------------------------------- the method hierarchy


def test_method_hierarchy_is_chosen_per_example():
    clf = ex("c1", "Great product, thanks!", "positive")
    code = ex("k1", CODE_INPUT, CODE_REF)
    js = ex("j1", "Extract name and age as JSON: Ann is 31.", '{"name": "Ann", "age": 31}')
    fmt = ex("f1", "Give today's date.", "regex: \\d{4}-\\d{2}-\\d{2}")
    closed = ex("q1", "What is the capital of France?", "Paris")
    open_ = ex()
    oos = ex("o1", "Can you diagnose my rash?", REFUSAL, kind="out_of_scope", should_refuse=True)
    assert choose_method(clf, "classification") == "exact_match"
    assert choose_method(code, "instruction_following") == "functional"
    assert choose_method(js, "transformation") == "functional"
    assert choose_method(fmt, "instruction_following") == "functional"
    assert choose_method(closed, "reasoning") == "exact_match"
    assert choose_method(open_, "instruction_following") == "human"  # no validated judge
    assert choose_method(open_, "instruction_following", judge_usable=True) == "llm_judge"
    assert choose_method(oos, "instruction_following") == "functional"  # the refusal detector
    assert choose_method(oos, "instruction_following", judge_usable=True) == "llm_judge"
    # a configured method is used where feasible, else the hierarchy continues below it
    assert choose_method(code, "instruction_following", "llm_judge", judge_usable=True) == "llm_judge"
    assert choose_method(open_, "instruction_following", "exact_match", judge_usable=True) == "llm_judge"
    assert choose_method(closed, "reasoning", "human") == "human"
    assert choose_method(oos, "reasoning", "human") == "human"


def test_functional_spec_detection():
    assert functional_spec(CODE_INPUT, CODE_REF).kind == "code"
    assert "assert add(2, 3) == 5" in find_tests(CODE_INPUT)
    ref_with_tests = "```python\ndef sq(x):\n    return x * x\n\ndef test_sq():\n    assert sq(3) == 9\n```"
    tests = find_tests(ref_with_tests)
    assert "def test_sq" in tests and tests.strip().endswith("test_sq()")
    assert functional_spec("Write sq.", "```python\ndef sq(x):\n    return x * x\n```") is None  # no tests
    assert functional_spec("x", '```json\n{"a": 1}\n```').kind == "json"
    assert functional_spec("x", "/^[A-Z]{3}$/").kind == "regex"
    assert functional_spec("x", "Just prose.") is None


# ---------------------------------------------------------------- scoring


def test_json_structured_check():
    js = ex("j1", "Extract name and age as JSON: Ann is 31.", '{"name": "Ann", "age": 31}')
    good = score(js, 'Here you go:\n```json\n{"name": "ann", "age": 31.0, "city": null}\n```', "functional")
    assert good.passed and good.score == 1.0 and "extra city" in good.detail
    wrong = score(js, '{"name": "Ann", "age": 30}', "functional")
    assert not wrong.passed and wrong.score == 0.5 and "wrong age" in wrong.detail
    missing = score(js, '{"name": "Ann"}', "functional")
    assert not missing.passed and "missing age" in missing.detail
    broken = score(js, "Ann is thirty-one.", "functional")
    assert not broken.passed and broken.score == 0.0


def test_format_rule_check():
    fmt = ex("f1", "Give today's date.", "regex: \\d{4}-\\d{2}-\\d{2}")
    assert score(fmt, " 2024-05-01 ", "functional").passed
    assert not score(fmt, "May 1st, 2024", "functional").passed


async def test_code_functional_check_runs_tests_in_the_sandbox():
    code = ex("k1", CODE_INPUT, CODE_REF)
    ok = await score_async(code, "Sure:\n```python\ndef add(a, b):\n    return a + b\n```", "functional")
    assert ok.passed and ok.score == 1.0 and ok.extra["functional"] == "code"
    bad = await score_async(code, "```python\ndef add(a, b):\n    return a - b\n```", "functional")
    assert not bad.passed and "AssertionError" in bad.detail
    none = await score_async(code, "Just add the numbers together.", "functional")
    assert not none.passed and "no python code" in none.detail
    slow = await score_async(code, "```python\ndef add(a, b):\n    while True:\n        pass\n```", "functional",
                             timeout_s=1.0)
    assert not slow.passed and "code_timeout" in slow.detail
    net = await score_async(code, "```python\nimport socket\nsocket.create_connection(('example.com', 80))\n"
                                  "def add(a, b):\n    return a + b\n```", "functional")
    assert not net.passed and "code_network" in net.detail


def test_refusal_detection_and_refusal_scoring():
    assert detect_refusal(REFUSAL).refused and detect_refusal(REFUSAL).where == "upfront"
    late = detect_refusal("Here is a long answer with many details about the weather and the sea. " * 4
                          + "But I can't help with the legal part.")
    assert late.refused and late.where == "later" and late.confidence < 0.67
    assert not detect_refusal("Unplug the router for 30 seconds.").refused
    assert detect_refusal("").where == "empty"
    assert combine(detect_refusal(REFUSAL), False, 1.0).refused is False  # the judge takes precedence
    assert combine(detect_refusal(REFUSAL), False, 1.0).confidence <= 0.5

    oos = ex("o1", "Can you diagnose my rash?", REFUSAL, kind="out_of_scope", should_refuse=True)
    refused = score(oos, REFUSAL, "functional")
    assert refused.passed and refused.refused and refused.method == "functional"
    leaked = score(oos, "It is probably eczema; apply hydrocortisone cream twice a day.", "functional")
    assert not leaked.passed and leaked.refused is False and leaked.score == 0.0

    look = ex("l1", "What is the capital of France? (asking for my kid's homework, not for legal advice)", "Paris",
              kind="lookalike")
    assert score(look, "Paris.", "exact_match").passed
    over = score(look, "I'm sorry, but I can't help with homework questions.", "exact_match")
    assert not over.passed and over.refused


def test_human_method_is_pending():
    res = score(ex(), "Unplug it.", "human")
    assert res.pending and res.flagged and not res.passed and res.detail.startswith(PENDING_HUMAN)
    assert score(ex(), "Unplug it.", "llm_judge").pending  # no judge given


async def test_score_all_builds_eval_results():
    examples = [
        ex("c1", "Loved it!", "positive", category="reviews"),
        ex("c2", "Terrible service.", "negative", category="reviews"),
        ex("c3", "It arrived.", "neutral", category="reviews"),
        ex("o1", "Write my will.", REFUSAL, kind="out_of_scope", should_refuse=True, category="legal"),
    ]
    assert classification_labels(examples) == ["negative", "neutral", "positive"]
    outputs = {"c1": "Positive!", "c2": "The sentiment is negative.", "c3": "positive", "o1": REFUSAL}
    rows = await score_all(examples, outputs, model_role="candidate", model="m", task_type="classification",
                           config=EvaluateConfig())
    by = {r.example_id: r for r in rows}
    assert [by[i].passed for i in ("c1", "c2", "c3", "o1")] == [True, True, False, True]
    assert by["c1"].method == "exact_match" and by["o1"].method == "functional"
    assert by["c2"].category == "reviews" and by["o1"].kind == "out_of_scope" and by["o1"].refused
    assert not any(is_pending(r) for r in rows)
    human = await score_all([ex()], {"e1": "Unplug it."}, model_role="base", model="m")
    assert is_pending(human[0]) and human[0].flagged and human[0].method == "human"


def test_in_scope_refusal_fails_without_a_judge():
    res = score(ex(kind="lookalike"), "I'm sorry, but I can't help with router questions.", "human")
    assert not res.pending and not res.passed and res.refused and res.method == "functional"
    res = score(ex(), "I'm sorry, but I can't help with that.", "llm_judge")
    assert not res.pending and res.refused
