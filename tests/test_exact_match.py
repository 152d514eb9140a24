"""Exact match that is exact (issue 12, part 3): a label output passes only when it names exactly one
known label, un-negated, un-hedged, where an answer stands (the whole output, after a cue, or leading);
multiple-choice letters and short closed answers follow the same rule; every result records the rule
that decided it. And one task type: generation, training and evaluation of a project read the same one
(project.toml), whatever the knowledge base's copy says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.evaluate.metrics import compute_metrics
from core.evaluate.scorers import score, score_all
from core.evaluate.scorers_match import (
    exact_match,
    extract_choice,
    extract_label,
    label_key,
    match_choice,
    match_closed,
    match_label,
)
from core.models.knowledge import EvalExample

LABELS = ["billing", "shipping", "login", "password_reset", "late payment", "payment"]
RANDOM_MODEL = "stand… nothing nothing … billing year resendshot state"  # an untrained model's output


def label(output: str, reference: str = "billing", labels=LABELS):
    return exact_match(output, reference, "label", labels=labels)


# ---------------------------------------------------------------- labels: what fails


@pytest.mark.parametrize("output, rule", [
    # the three outputs, and the random model's
    ("not billing", "negated"),
    ("billing or shipping", "several labels: billing, shipping"),
    ("It could be billing, shipping or login.", "several labels: billing, shipping, login"),
    (RANDOM_MODEL, "label not at the start"),
    ("stand nothing nothing billing year resendshot state", "label not at the start"),
    # negations
    ("isn't billing", "negated"), ("It is not billing.", "negated"), ("no billing", "negated"),
    ("non-billing", "negated"), ("That's not really a billing issue", "negated"),
    # several labels anywhere: a justification that names another label fails too
    ("billing, maybe shipping", "several labels"), ("Shipping. Not billing.", "several labels"),
    ("Category: billing\nThe parcel (shipping) is late as well.", "several labels"),
    # hedges: a hedge word right before the only label, a question mark or "or" after it
    ("maybe billing", "hedged"), ("probably billing?", "hedged"), ("billing?", "hedged"),
    ("Perhaps billing.", "hedged"), ("The answer is probably billing", "hedged"), ("Billing (probably)", "hedged"),
    ("billing, probably", "hedged"), ("billing or something else", "hedged"), ("I'm not sure, billing", "hedged"),
    # buried, or running on into noise
    ("billing year resendshot state", "label runs into other text"),
    ("Category: billing year resendshot state", "runs into other text"),
    ("The customer writes about money and billing comes up", "label not at the start"),
    # nothing to match
    ("", "empty output"), ("I cannot tell.", "no known label"), ("pass", "no known label"),
])
def test_ambiguous_negated_hedged_or_buried_labels_fail(output: str, rule: str) -> None:
    m = label(output)
    assert not m.passed and m.extracted is None, m
    assert rule in m.rule and rule in m.detail
    assert extract_label(output, LABELS) is None  # precision/recall read the same rule
    assert match_label(output, LABELS).rule == m.rule


# ---------------------------------------------------------------- labels: what passes


@pytest.mark.parametrize("output, rule", [
    ("billing", "bare label"), ("Billing.", "bare label"), ("**billing**", "bare label"), ("`billing`", "bare label"),
    ('"Billing"', "bare label"), ("  BILLING  \n", "bare label"), ("Bílling", "bare label"),
    ("Category: billing", "label after cue 'category:'"), ("Category: **billing**", "label after cue 'category:'"),
    ("Label: billing", "label after cue 'label:'"), ("The category is billing.", "label after cue 'the category is'"),
    ("It's billing.", "label after cue \"it's\""), ("This is a billing question.", "label after cue 'this is'"),
    ("The customer asks about an invoice.\nCategory: billing", "label after cue 'category:'"),
    ("billing — the customer asks about an invoice", "leading label"),
    ("Billing. The customer was charged twice for one order.", "leading label"),
    ("billing\n\nThe customer asks why the invoice doubled.", "leading label"),
    ("billing because the customer asks about an invoice", "leading label (then 'because')"),
    ("A billing issue.", "bare label"), ("No, it's billing.", "label after cue"),
])
def test_a_label_alone_after_a_cue_or_leading_passes(output: str, rule: str) -> None:
    m = label(output)
    assert m.passed and m.extracted == "billing", m
    assert m.rule.startswith(rule) and rule in m.detail
    assert extract_label(output, LABELS) == "billing"


def test_a_wrong_label_fails_with_the_rule_that_found_it() -> None:
    m = label("Shipping.")
    assert not m.passed and m.extracted == "shipping" and m.rule == "bare label"
    assert "expected 'billing', got 'shipping'" in m.detail


@pytest.mark.parametrize("output", ["password_reset", "password reset", "Password-Reset", "PASSWORD RESET.",
                                    "passwordreset", "Category: password reset", "password reset — they forgot it",
                                    "password"])
@pytest.mark.parametrize("reference", ["password_reset", "password-reset", "Password reset"])
def test_labels_with_underscores_hyphens_spaces_and_short_forms(output: str, reference: str) -> None:
    m = label(output, reference)
    assert m.passed, m
    assert label_key(m.extracted) == "password reset"
    assert label("password", "password_reset").rule == "bare label, short form 'password'"
    assert label("passwordreset", "password_reset").rule == "bare label, normalised"


def test_a_label_inside_a_longer_label_counts_once_and_short_forms_must_be_unambiguous() -> None:
    assert label("late payment", "late payment").passed
    assert not label("late payment", "payment").passed  # the output names "late payment", not "payment"
    assert label("payment", "payment").passed
    two_resets = ["password reset", "password change"]
    m = label("password", "password reset", two_resets)  # a prefix of two labels: no short form
    assert not m.passed and m.rule == "no known label"
    assert not label("password reset or password change", "password reset", two_resets).passed


def test_a_label_that_holds_a_negation_is_one_label() -> None:
    spam = ["spam", "not spam"]
    assert label("Not spam.", "not spam", spam).passed and label("This is not spam.", "not_spam", spam).passed
    assert not label("not spam", "spam", spam).passed
    assert label("It's spam, not not spam", "spam", spam).rule == "several labels: spam, not spam"


def test_without_a_label_set_the_expected_label_is_still_known() -> None:
    assert exact_match("billing", "billing", "label").passed
    assert not exact_match("not billing", "billing", "label").passed
    assert not exact_match("maybe billing", "billing", "label").passed
    assert exact_match("Category: Billing", "Label: billing. The user asks about an invoice.", "label").passed


def test_precision_and_recall_count_an_ambiguous_answer_as_wrong() -> None:
    exs = [EvalExample(id=f"e{i}", input="Why was I charged twice?", reference=ref, category="c", difficulty="easy",
                       kind="common") for i, ref in enumerate(["billing", "shipping", "billing", "login"])]
    base = {"e0": RANDOM_MODEL, "e1": "billing or shipping", "e2": "not billing", "e3": "login?"}
    cand = {"e0": "billing", "e1": "Category: shipping", "e2": "Billing.", "e3": "login — they cannot sign in"}
    rows = {role: score_all(exs, outs, model_role=role, model=role, task_type="classification", labels=LABELS)
            for role, outs in (("base", base), ("candidate", cand))}
    from core.llm.gateway import run_sync

    rows = {k: run_sync(v) for k, v in rows.items()}
    assert [r.passed for r in rows["base"]] == [False] * 4
    assert [r.passed for r in rows["candidate"]] == [True] * 4
    assert "label not at the start" in rows["base"][0].detail and "several labels" in rows["base"][1].detail
    report = compute_metrics(exs, rows["base"], rows["candidate"], task_type="classification", n_resamples=200)
    assert report.classification["base"].accuracy == 0.0 and report.classification["base"].recall == 0.0
    assert report.classification["candidate"].accuracy == 1.0 and report.classification["candidate"].f1 == 1.0


# ---------------------------------------------------------------- the recorded rule


def test_the_score_records_the_rule_in_detail_and_extra() -> None:
    ex = EvalExample(id="c1", input="Why was I charged twice?", reference="billing", category="c",
                     difficulty="easy", kind="common")
    ok = score(ex, "Category: billing", "exact_match", task_type="classification", labels=LABELS)
    assert ok.passed and ok.extra["rule"] == "label after cue 'category:'" and ok.extra["match"] == "label"
    assert "label after cue 'category:'" in ok.detail and ok.extracted == "billing"
    bad = score(ex, "It could be billing, shipping or login.", "exact_match", task_type="classification",
                labels=LABELS)
    assert not bad.passed and bad.score == 0.0 and bad.extracted is None
    assert bad.extra["rule"] == "several labels: billing, shipping, login" and bad.extra["rule"] in bad.detail


# ---------------------------------------------------------------- multiple choice


MC_INPUT = "Which is a prime?\nA) 4\nB) 6\nC) 7\nD) 9"


@pytest.mark.parametrize("output, letter, rule", [
    ("C", "C", "bare letter"), ("(c)", "C", "bare letter"), ("C.", "C", "bare letter"),
    ("The answer is (C) because 7 has two divisors.", "C", "letter after cue"), ("Answer: C", "C", "letter after cue"),
    ("**C**. 7 is prime.", "C", "leading letter"), ("C) 7", "C", "leading letter"),
    ("C. A prime has exactly two divisors.", "C", "leading letter"),  # "A prime": the article, not a letter
    ("I'd go with (C)", "C", "letter after cue"),
])
def test_one_letter_passes(output: str, letter: str, rule: str) -> None:
    m = exact_match(output, "C) 7", "choice", input_text=MC_INPUT)
    assert m.passed and m.extracted == letter and m.rule == rule, m
    assert extract_choice(output) == letter


@pytest.mark.parametrize("output, rule", [
    ("A or C", "several letters: A, C"), ("C, but B could also work", "several letters: C, B"),
    ("Either C or D", "several letters: C, D"), ("C. A is also possible", "several letters: C, A"),
    ("maybe C", "hedged"), ("probably C?", "hedged"), ("not C", "negated"), ("", "empty output"),
    ("seven is prime", "no answer letter"),
])
def test_two_letters_a_hedge_or_a_negation_fail(output: str, rule: str) -> None:
    m = exact_match(output, "C) 7", "choice", input_text=MC_INPUT)
    assert not m.passed and m.extracted is None and rule in m.rule, m
    assert match_choice(output).letter is None


def test_a_different_letter_fails() -> None:
    m = exact_match("B", "C) 7", "choice", input_text=MC_INPUT)
    assert not m.passed and m.extracted == "B" and m.rule == "bare letter"


# ---------------------------------------------------------------- short closed answers


@pytest.mark.parametrize("output, expected, rule", [
    ("Paris", "Paris", "bare answer"), ("paris.", "Paris", "bare answer"), ("42.0", "42", "bare answer"),
    ("1,000", "1000", "bare answer"), ("The answer is 42.0", "42", "answer after cue 'the answer is'"),
    ("Answer: Premium", "Premium", "answer after cue 'answer:'"),
    ("Yes, shipping is free over 50 euros.", "Yes", "leading answer"), ("No, it is not free.", "No", "leading answer"),
    ("Premium — it includes phone support.", "Premium", "leading answer"),
    ("The capital is Paris.", "Paris", "answer in a short output"), ("You have 30 days.", "30 days",
                                                                     "answer in a short output"),
])
def test_closed_answers_pass(output: str, expected: str, rule: str) -> None:
    m = exact_match(output, expected, "closed")
    assert m.passed and m.rule == rule, m


@pytest.mark.parametrize("output, expected, rule", [
    ("Paris or Lyon", "Paris", "several answers"), ("Lyon or Paris", "Paris", "several answers"),
    ("42 or 43", "42", "several answers"), ("Yes or no, it depends", "Yes", "several answers"),
    ("Not Paris.", "Paris", "negated"), ("It is not Paris but Lyon.", "Paris", "negated"),
    ("It is not Paris but Lyon, which many people confuse with it in fact.", "Paris", "negated"),
    ("maybe Paris", "Paris", "hedged"), ("Paris?", "Paris", "hedged"), ("41", "42", "answer not found"),
    ("Let me think. The city is large, it was founded long ago and many people live there, so Paris", "Paris",
     "answer buried in a long output"),
    ("", "Paris", "empty output"),
])
def test_closed_answers_next_to_a_contradicting_one_fail(output: str, expected: str, rule: str) -> None:
    m = exact_match(output, expected, "closed")
    assert not m.passed and rule in m.rule, m
    assert match_closed(output, expected).passed is False


# ---------------------------------------------------------------- one task type


def test_generation_training_and_evaluation_read_one_task_type(projects_root: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The knowledge base carries a copy of the task type; every stage reads project.toml's (the one
    decision, core/task_type.py), so a stale copy changes nothing, and the evaluation record says which
    type it scored with."""
    from core.evaluate import evalfolder as ef
    from core.evaluate import run as evrun
    from core.generate.generator_prompts import Sources
    from core.generate.strategy import choose_strategy, strategy_for
    from core.models.knowledge import KnowledgeBase
    from core.project import KNOWLEDGE_BASE, Project
    from core.train.reward_plan import plan_rewards
    from tests.test_eval_run import add_knowledge, freeze

    p = Project.create("Router", "Route support tickets to billing, shipping or login", root=projects_root,
                       task_type="classification")
    add_knowledge(p)
    p.write(KNOWLEDGE_BASE, KnowledgeBase(task_definition=p.meta.task, task_type="instruction_following"))  # stale
    p.meta.labels = ["billing", "shipping", "login"]
    p.save()
    assert p.read(KNOWLEDGE_BASE, KnowledgeBase).task_type != p.meta.task_type == "classification"

    # generation
    assert Sources.load(p).task_type == "classification"
    assert strategy_for(p).name == choose_strategy("classification", p.meta.config.generate.generation_strategy,
                                                   p.meta.training_method).name
    # training (GRPO rewards score the way the evaluation will)
    rows = [{"prompt": "Charged twice?", "reference": "billing", "should_refuse": False}]
    assert plan_rewards(p, rows=rows).settings["task_type"] == "classification"

    # evaluation: the record stores the task type the scoring used
    exs = [EvalExample(id=f"e{i}", input=f"ticket {i}", reference=["billing", "shipping", "login"][i % 3],
                       category="c", difficulty="easy", kind="common") for i in range(6)]
    freeze(p, exs)
    used: dict[str, str] = {}

    def fake_resolve(project, base=None, candidate=None):
        return (ef.ModelRef(spec="b", kind="litellm", model="b"), ef.ModelRef(spec="c", kind="litellm", model="c"))

    def fake_evaluate(project, gw, record, examples, params, cfg, task_type, progress, paraphrase_n):
        used["scored_with"] = task_type
        return evrun.EvalOutcome(record.eval_id, ef.eval_dir(project, record.eval_id), record, None)

    monkeypatch.setattr(evrun, "resolve_models", fake_resolve)
    monkeypatch.setattr(evrun, "_evaluate", fake_evaluate)
    outcome = evrun.evaluate(p, gateway=object(), base="b", candidate="c")
    assert used["scored_with"] == "classification"
    assert ef.read_record(p, outcome.eval_id).task_type == "classification"


def test_no_stage_reads_the_task_type_off_the_knowledge_base() -> None:
    root = Path(__file__).resolve().parents[1] / "core"
    stale = re.compile(r"\b(?:kb|knowledge|knowledge_base|KnowledgeBase\(.*?\))\.task_type\b")
    found = [f"{path.relative_to(root.parent)}:{i}" for sub in ("generate", "train", "evaluate")
             for path in sorted((root / sub).rglob("*.py"))
             for i, line in enumerate(path.read_text().splitlines(), 1) if stale.search(line)]
    assert not found, f"read project.meta.task_type (core/task_type.py) instead: {found}"
