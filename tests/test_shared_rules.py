"""The rules several stages share (issue 11): the refusal rule, few-shot demonstrations, task-fitted
thresholds, leakage and diversity for refusals, checks calibrated on the approved eval set, the judge's
check, the evaluation-method check and the warnings that say what was decided."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from core.generate import records
from core.models.data import TrainingExample
from core.models.knowledge import EvalExample
from core.refusal import DEFAULT_MESSAGE, RefusalRule, message_or_default, recognised

OWN = "I only explain SQL queries here, so I can't help with that."


def ex(kind: str, inp: str, resp: str, i: int = 0) -> TrainingExample:
    rec = records.build("sft_conversational", records.prompt_messages(inp), resp)
    return TrainingExample(id=f"x{i}-{kind}", format="sft_conversational", record=rec, category="c",
                           difficulty="easy", kind=kind, strategy="few_shot", model="m", prompt_version="v")


def ev(i: int, ref: str, *, refuse: bool = False, inp: str | None = None) -> EvalExample:
    return EvalExample(id=f"ev-{i}", input=inp or f"question number {i} about a query", reference=ref,
                       category="out_of_scope" if refuse else "c", difficulty="easy",
                       kind="out_of_scope" if refuse else "common", should_refuse=refuse)


# ---------------------------------------------------------------- the refusal rule


def test_one_refusal_rule_with_the_projects_sentence() -> None:
    rule = RefusalRule(OWN)
    assert rule.check(OWN + " Ask the data team.").where == "upfront"
    assert RefusalRule("We do not cover that topic at all.").refuses("We do not cover that topic at all.")
    assert not rule.refuses("SELECT * FROM orders returns every row of orders.")
    assert rule.opening("Ask the data team instead.") == f"{OWN} Ask the data team instead."
    assert rule.opening("I'm sorry, but I can't help with taxes.") == "I'm sorry, but I can't help with taxes."
    assert recognised(OWN) and not recognised("Bififave change bo cabatedu.")
    assert message_or_default("Bififave change bo cabatedu.") == DEFAULT_MESSAGE


def test_the_filters_and_the_evaluation_read_the_same_rule() -> None:
    from core.evaluate.refusal import detect_refusal
    from core.generate.filters.constraints import heuristic
    from core.generate.filters.base import FilterContext
    from core.models.config import QualityThresholds

    odd = RefusalRule("Nope, that one is not mine to do, friend.")  # not a generic phrase
    ctx = FilterContext(project=None, method="sft", thresholds=QualityThresholds(), refusal=odd)
    refusal = ex("refusal", "what's the weather", "Nope, that one is not mine to do, friend. Try a forecast.")
    assert heuristic(refusal, ctx).passed
    assert detect_refusal(refusal.record["messages"][-1]["content"], odd).refused


# ---------------------------------------------------------------- thresholds, leakage, diversity


def test_min_length_fits_the_task() -> None:
    """The defect: min_length 10 rejected every label-only response of a classification task."""
    from core.generate.filters.thresholds import resolve
    from core.models.config import QualityThresholds

    auto = QualityThresholds()
    assert resolve(auto, "classification").thresholds.min_length == 1
    short = [ev(i, "two words") for i in range(10)]
    assert resolve(auto, "instruction_following", short).thresholds.min_length == 1
    long = [ev(i, " ".join(["word"] * 60)) for i in range(10)]
    assert resolve(auto, "instruction_following", long).thresholds.min_length == 10
    assert resolve(QualityThresholds(min_length=25), "classification").thresholds.min_length == 25


def test_a_shared_canned_refusal_is_not_a_leak() -> None:
    """The defect: every refusal of a task with one fixed refusal sentence was rejected as eval_leak."""
    from core.generate.filters.base import FilterContext
    from core.generate.filters.leakage import LeakageFilter, eval_lookup
    from core.models.config import QualityThresholds

    canned = "I'm sorry, but I can't help with that here: I only explain SQL queries for analysts."
    evals = [ev(1, canned, refuse=True, inp="tell me a joke"), ev(2, canned, refuse=True, inp="book a flight"),
             ev(3, "It returns every customer who placed more than five orders last year, grouped by region.")]
    ctx = FilterContext(project=None, method="sft", thresholds=QualityThresholds())
    ctx.extras.update(eval_lookup(evals))
    got = asyncio.run(LeakageFilter().check_batch([
        ex("refusal", "write me a poem", canned, 1),
        ex("common", "what does this query do", evals[2].reference, 2),
        ex("common", "tell me a joke", "Sure.", 3)], ctx))
    assert [r.passed for r in got] == [True, False, False]


def test_refusals_are_compared_by_their_inputs() -> None:
    """The defect: near-duplicate removal dropped 82 of 118 refusals (they share the refusal sentence)."""
    from core.generate.filters.diversity import text_of

    a = ex("refusal", "what's the weather in Oslo", f"{DEFAULT_MESSAGE} Try a forecast site.")
    assert text_of(a) == "what's the weather in Oslo"
    assert DEFAULT_MESSAGE in text_of(ex("common", "q", DEFAULT_MESSAGE + " x"))


# ---------------------------------------------------------------- calibration and the judge's check


def _ctx_with_eval(project, evals):
    from core.generate.filters.chain import build_context
    from core.generate.filters.judge_check import EVAL_EXAMPLES
    from tests.test_generate_pipeline import HashEmbedder

    ctx = build_context(project, None, embedder=HashEmbedder(), tokenizer=False, load_eval=False)
    ctx.extras[EVAL_EXAMPLES] = evals
    return ctx


def test_a_check_the_approved_references_fail_is_not_enforced(projects_root: Path) -> None:
    from core.generate.filters.calibrate import DEMOTED, calibrate
    from core.generate.filters.chain import run_filters
    from tests.test_generate_formats import make_project

    p = make_project(projects_root, framework=True)  # template mode: the references follow no template
    ctx = _ctx_with_eval(p, [ev(i, f"Reply {i}: pay it online under Billing, then keep the receipt.")
                             for i in range(8)])
    assert ctx.template_steps
    notes = asyncio.run(calibrate(ctx))
    assert "missing_template_steps" in ctx.extras[DEMOTED] and any("not enforced" in n for n in notes)
    out = asyncio.run(run_filters([ex("common", "how do I pay my gas bill",
                                      "Pay it online under Billing, then keep the receipt for your records.")],
                                  ctx))
    assert out.kept and "not enforced" in out.kept_results[0][2].detail


def test_a_judge_that_disagrees_with_the_eval_set_is_not_used(projects_root: Path, fake_llm) -> None:
    from core.generate.filters.base import judge_available
    from core.generate.filters.judge_check import check_judge
    from core.llm.gateway import Gateway
    from tests.test_generate_formats import make_project

    p = make_project(projects_root)
    evals = [ev(i, "Pay it online.") for i in range(5)] + [ev(9 + i, DEFAULT_MESSAGE, refuse=True) for i in range(5)]
    fake_llm.on_schema("ConstraintVerdicts", lambda r: {"verdicts": [
        {"index": i, "in_scope": True, "refuses": False, "violates": "everything", "reason": ""} for i in range(1, 11)]})
    gw = Gateway(roles=p.meta.models)
    try:
        ctx = _ctx_with_eval(p, evals)
        ctx.gateway = gw
        check = asyncio.run(check_judge(ctx))
    finally:
        gw.close()
    assert check is not None and not check.trusted and check.agreed == 0
    assert not judge_available(ctx) and "did not use it" in check.note


# ---------------------------------------------------------------- demonstrations


def test_demonstrations_come_from_the_interview_and_the_approved_pilot_never_the_eval_set(projects_root: Path) -> None:
    from core.generate import demonstrations as demos
    from core.models.knowledge import Interview, Question
    from core.project import INTERVIEW
    from tests.test_generate_formats import make_project

    p = make_project(projects_root)
    p.write(INTERVIEW, Interview(questions=[Question(
        id="example", round="validation", text="an example?",
        answer="Request: How do I read my gas bill? Answer: Start with the total due, then the meter readings.")]))
    pool = demos.collect(p)
    assert [(d.source, d.input) for d in pool] == [("interview", "How do I read my gas bill?")]
    many = pool + [demos.Demonstration("in_scope", f"input {i}", f"response {i}", "pilot") for i in range(9)]
    a, b = demos.pick(many, "common", "seed-1"), demos.pick(many, "common", "seed-2")
    assert len(a) == demos.SHOWN and a[0].source == "interview" and a != b  # rotated per request
    assert demos.pick(many, "refusal", "s") == []
    assert demos.digest(a) and demos.digest(a) != demos.digest(b)


def test_few_shot_prompts_carry_the_demonstrations_and_record_them(projects_root: Path, fake_llm) -> None:
    from core.generate.plan import Cell
    from core.generate.strategy import strategy_for
    from tests.fakes.generate_replies import install
    from tests.fakes.llm_server import schema_name
    from tests.test_generate_formats import make_project, run_generate

    p = make_project(projects_root)
    p.meta.config.generate.generation_strategy = "few_shot"
    install(fake_llm)
    shots = [("My gas bill doubled, why?", "Compare the meter readings first.")]
    out = run_generate(p, [Cell("common", "billing", "easy", 3, "x")], strategy=strategy_for(p), shots=shots)
    prompt = next(r for r in fake_llm.requests if schema_name(r) == "GeneratedBatch")["messages"][-1]["content"]
    assert "My gas bill doubled, why?" in prompt
    assert out and all("+shots@" in e.prompt_version for e in out)


# ---------------------------------------------------------------- the evaluation method and the warnings


def test_exact_match_is_only_used_where_the_references_are_labels(projects_root: Path) -> None:
    from core.evaluate.method_check import check_methods
    from core.evaluate.scorers_match import match_kind
    from core.project import Project

    assert match_kind("billing", "", "classification") == "label"
    assert match_kind("It selects every order placed after March and sums the totals by region.", "",
                      "classification") is None
    p = Project.create("Minimal", "Explain SQL queries to analysts", preset="minimal", root=projects_root)
    prose = [ev(i, "It joins the orders table to customers and keeps only those from last year.")
             for i in range(12)]
    check = check_methods(p, prose)
    assert check.closed == 0 and any("exact_match" in w and "prose" in w for w in check.warnings)
    labels = [ev(i, ["billing", "shipping"][i % 2]) for i in range(12)]
    assert any("classification --labels billing,shipping" in w for w in check_methods(p, labels).warnings)


def test_one_model_in_every_role_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.llm.roles import same_model_notes

    monkeypatch.setenv("TUNESMITH_MODEL", "openai/one")
    notes = same_model_notes(None)
    assert any("strong and the weak" in n for n in notes) and any("grades its own work" in n for n in notes)
    monkeypatch.setenv("TUNESMITH_JUDGE_MODEL", "openai/other")
    monkeypatch.setenv("TUNESMITH_WEAK_MODEL", "openai/small")
    assert same_model_notes(None) == []
