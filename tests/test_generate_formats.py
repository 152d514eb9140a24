"""The generator against the fake LLM server: every training method's TRL records, the rejected strategies,
KTO balance, GRPO columns, refusals, critique / verification, ids, and robustness to bad replies."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.generate import records
from core.generate.generator import MAX_PER_REQUEST, Generator
from core.generate.generator_rejected import truncate
from core.generate.plan import Cell, plan_cells
from core.generate.strategy import choose_strategy, strategy_for
from core.llm.errors import CircuitOpen, LLMNotConfigured
from core.llm.gateway import Gateway
from core.models.data import RECORD_MODELS, REJECTED_STRATEGIES, TrainingExample
from core.models.knowledge import (
    Category,
    Competencies,
    DifficultyLevel,
    FrameworkUse,
    InputTaxonomy,
    KnowledgeBase,
    QualityCriteria,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, CRITERIA, KNOWLEDGE_BASE, TAXONOMY, Project
from tests.fakes.generate_replies import install
from tests.fakes.llm_server import schema_name
from tests.fakes.prompt_reading import read_request

WILL_NOT = ["give binding legal advice", "handle medical emergencies"]


def make_project(root: Path, *, method: str = "sft", task_type: str = "instruction_following",
                 sft_format: str = "conversational", name: str = "Helpdesk", framework: bool = False) -> Project:
    """A project with knowledge, approved boundaries, taxonomy and criteria (no LLM needed)."""
    p = Project.create(name, "answer household admin questions", method=method, task_type=task_type, root=root)
    p.meta.sft_format = sft_format  # type: ignore[assignment]
    p.meta.config.generate.framework_mode = framework
    p.save()
    p.write(KNOWLEDGE_BASE, KnowledgeBase(
        task_definition="Help people sort out household paperwork, bills and plans with clear next steps.",
        task_type=task_type,  # type: ignore[arg-type]
        competencies=Competencies(
            always=[Statement(text="give concrete next steps"), Statement(text="state assumptions when details are missing")],
            never=[Statement(text="ask for full card numbers")],
            common_errors=[Statement(text="generic advice that ignores the user's details")],
        ),
        frameworks=[FrameworkUse(name="Support", template=["Acknowledge the issue", "Provide solution steps",
                                                           "Offer additional help"], terminology=["next step"])]
        if framework else [],
        framework_mode="enabled" if framework else "disabled",
    ))
    p.write(BOUNDARIES, ScopeBoundaries(
        will=[Statement(text="explain household admin and paperwork"), Statement(text="suggest practical next steps")],
        will_not=[Statement(text=t) for t in WILL_NOT],
        hard_constraints=[Statement(text="never ask for full card numbers")],
        approved=True,
    ))
    p.write(TAXONOMY, InputTaxonomy(
        categories=[Category(name="billing", description="bills and payments", weight=3),
                    Category(name="paperwork", description="forms and documents", weight=2),
                    Category(name="planning", description="budgets and schedules", weight=1)],
        difficulty_levels=[DifficultyLevel(name="easy", description="one clear question")],
        edge_cases=[Statement(text="the user mixes two unrelated problems"),
                    Statement(text="the user's numbers do not add up")],
    ))
    p.write(CRITERIA, QualityCriteria(good_output=[Statement(text="specific to the user's situation")]))
    return p


def gateway(p: Project, **kw: Any) -> Gateway:
    return Gateway(roles=p.meta.models, backoff_s=0.001, max_backoff_s=0.01, **kw)


def run_generate(p: Project, cells: list[Cell], phase: str = "pilot", strategy=None, gw: Gateway | None = None,
                 **kw: Any) -> list[TrainingExample]:
    async def go() -> list[TrainingExample]:
        g = gw or gateway(p)
        try:
            gen = Generator(p, g, strategy or strategy_for(p), **kw)
            out: list[TrainingExample] = []
            start = 0
            for cell in cells:
                out.extend(await gen.generate(cell, cell.count, phase, start_index=start))
                start += cell.count
            return out
        finally:
            if gw is None:
                g.close()

    return asyncio.run(go())


COMMON = Cell("common", "billing", "medium", 10, "give concrete next steps")
EDGE = Cell("edge", "paperwork", "hard", 5, "the user's numbers do not add up")
REFUSAL = Cell("refusal", "out_of_scope", "easy", 5, WILL_NOT[0])


def check_examples(examples: list[TrainingExample], fmt: str) -> None:
    for ex in examples:
        assert ex.format == fmt
        RECORD_MODELS[fmt].model_validate(ex.record)
        TrainingExample.model_validate(ex.model_dump())
        assert ex.model.startswith("openai/fake-")
        assert ex.prompt_version.startswith(f"generate_{'refusal' if ex.kind == 'refusal' else ex.kind}@")
        assert ex.exercises and ex.strategy
        assert ex.phase == "pilot"
        assert records.user_text(ex.record)
    assert len({ex.id for ex in examples}) == len(examples)


# ---------------------------------------------------------------- each method


@pytest.mark.parametrize("sft_format,fmt", [("conversational", "sft_conversational"),
                                            ("prompt_completion", "sft_prompt_completion")])
def test_sft_records_both_shapes(projects_root: Path, fake_llm, sft_format: str, fmt: str) -> None:
    p = make_project(projects_root, sft_format=sft_format)
    replies = install(fake_llm)
    examples = run_generate(p, [COMMON, EDGE, REFUSAL])
    assert len(examples) == 20
    check_examples(examples, fmt)
    if fmt == "sft_conversational":
        assert all([m["role"] for m in ex.record["messages"]] == ["user", "assistant"] for ex in examples)
    else:
        assert all(set(ex.record) == {"prompt", "completion"} for ex in examples)
    assert Counter(ex.kind for ex in examples) == {"common": 10, "edge": 5, "refusal": 5}
    # instruction-following: seed diversification + self-critique (revised responses are the ones kept)
    assert all(ex.strategy == "seed_diversification" for ex in examples)
    assert replies.calls["CritiqueBatch"] >= 3
    kept = [records.good_response(ex.record) for ex in examples if ex.kind == "common"]
    assert any(k.endswith(("receipts together.", "we can adjust.", "follow-up question.")) for k in kept)
    # quota lines asked exactly what the cells need, at most MAX_PER_REQUEST per request
    assert sum(q["total"] for q in replies.asked) == 20
    assert max(q["total"] for q in replies.asked) <= MAX_PER_REQUEST


def test_refusal_cells_refuse_and_offer_help(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root)
    install(fake_llm)
    examples = run_generate(p, [REFUSAL])
    assert len(examples) == 5
    for ex in examples:
        good = records.good_response(ex.record)
        assert "can't" in good and "What I can do" in good
        assert ex.exercises == WILL_NOT[0] and ex.category == "out_of_scope"
    prompt = next(r for r in fake_llm.requests if schema_name(r) == "GeneratedBatch")["messages"][-1]["content"]
    assert "REFUSAL examples for this WILL NOT statement" in prompt and WILL_NOT[0] in prompt
    assert read_request(prompt) == {"kind": "refusal", "category": "out_of_scope", "difficulty": "easy", "total": 5,
                                    "easy": 0, "medium": 0, "hard": 0}
    assert "Quota:" not in prompt, "production prompts carry no lines written only for the fakes"


def test_dpo_uses_all_five_rejected_strategies(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root, method="dpo")
    replies = install(fake_llm, method="dpo")
    examples = run_generate(p, [COMMON, REFUSAL])
    assert len(examples) == 15
    check_examples(examples, "dpo")
    used = Counter(ex.rejected_strategy for ex in examples)
    assert set(used) == set(REJECTED_STRATEGIES) and min(used.values()) >= 2
    assert replies.calls["weak"] >= 3 and replies.calls["RejectedBatch"] >= 1
    for ex in examples:
        chosen, rejected = records.good_response(ex.record), records.bad_response(ex.record)
        assert chosen != rejected
        if ex.rejected_strategy == "truncated":
            assert chosen.startswith(rejected) and 0.25 * len(chosen) <= len(rejected) <= 0.75 * len(chosen)
        if ex.rejected_strategy == "verbose":
            assert len(rejected) > 1.5 * len(chosen)
    assert all(ex.strategy == "contrastive" for ex in examples)


def test_kto_labels_balanced_with_rejected_strategies(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root, method="kto")
    install(fake_llm, method="kto")
    examples = run_generate(p, [COMMON, Cell("common", "planning", "easy", 10, "x"), REFUSAL])
    assert len(examples) == 25
    check_examples(examples, "kto")
    labels = Counter(ex.record["label"] for ex in examples)
    assert abs(labels[True] - labels[False]) <= 3
    bad = [ex for ex in examples if ex.record["label"] is False]
    assert all(ex.rejected_strategy in REJECTED_STRATEGIES for ex in bad)
    assert len({ex.rejected_strategy for ex in bad}) >= 4
    assert all(ex.rejected_strategy is None for ex in examples if ex.record["label"])


def test_grpo_prompt_only_with_reward_columns(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root, method="grpo", task_type="reasoning")
    replies = install(fake_llm, method="grpo")
    examples = run_generate(p, [COMMON, REFUSAL])
    check_examples(examples, "grpo")
    for ex in examples:
        assert set(ex.record) == {"prompt", "reference", "should_refuse", "category", "difficulty"}
        assert [m["role"] for m in ex.record["prompt"]] == ["user"]
        assert ex.record["should_refuse"] is (ex.kind == "refusal")
        assert ex.record["category"] == ex.category and ex.record["difficulty"] == ex.difficulty
    # reasoning: chain of thought + verification
    assert all("Final answer:" in ex.record["reference"] for ex in examples if ex.kind == "common")
    assert replies.calls["VerificationBatch"] >= 2 and all(ex.strategy == "cot" for ex in examples)


def test_grpo_plan_follows_complexity_and_edge_ratio(projects_root: Path) -> None:
    p = make_project(projects_root, method="grpo")
    p.meta.config.generate.complexity_distribution = [0.2, 0.3, 0.5]
    p.meta.config.generate.edge_case_ratio = 0.25
    p.save()
    cells = plan_cells(p, 100)
    by = Counter()
    for c in cells:
        by[c.kind] += c.count
        by[c.difficulty] += c.count
    assert by["edge"] == 25 and by["refusal"] == 10 and by["common"] == 65
    assert (by["easy"], by["medium"], by["hard"]) == (20, 30, 50)


def test_verification_drops_failures(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root, task_type="transformation")
    replies = install(fake_llm, verify_fail_rate=0.5)
    gw = gateway(p)
    gen_examples = run_generate(p, [Cell("common", "billing", "easy", 16, "x")], gw=gw)
    gw.close()
    assert replies.calls["VerificationBatch"] == 2
    assert 2 <= len(gen_examples) <= 14  # about half fail verification and are dropped, not regenerated


def test_template_mode_puts_framework_steps_in_prompt(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root, framework=True)
    install(fake_llm)
    strat = strategy_for(p)
    assert strat.template_steps == ("Acknowledge the issue", "Provide solution steps", "Offer additional help")
    examples = run_generate(p, [Cell("common", "billing", "easy", 3, "x")], strategy=strat)
    prompt = next(r for r in fake_llm.requests if schema_name(r) == "GeneratedBatch")["messages"][-1]["content"]
    assert "1. Acknowledge the issue" in prompt and "3. Offer additional help" in prompt
    assert all("Provide solution steps:" in records.good_response(ex.record) for ex in examples)


def test_prompt_carries_knowledge_feedback_and_avoid(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root)
    install(fake_llm)
    run_generate(p, [Cell("common", "billing", "easy", 2, "give concrete next steps")],
                 feedback=["responses were too long"], avoid=["How do I pay my gas bill?"])
    prompt = next(r for r in fake_llm.requests if schema_name(r) == "GeneratedBatch")["messages"][-1]["content"]
    for text in ("Task definition: Help people", "give binding legal advice", "never ask for full card numbers",
                 "bills and payments", "one clear question", "give concrete next steps", "responses were too long",
                 "How do I pay my gas bill?", "Input category: billing: ", "Difficulty: easy: ", "Write exactly 2 examples.",
                 "specific to the user's situation"):
        assert text in prompt, text


def test_classification_few_shot_structured_on_fast_role(projects_root: Path, fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_GENERATOR_FAST_MODEL", "openai/fake-fast")
    p = make_project(projects_root, task_type="classification")
    install(fake_llm)
    strat = strategy_for(p)
    assert (strat.name, strat.role) == ("few_shot", "generator_fast")
    shots = [("My gas bill doubled, why?", "Label: billing. It asks about a bill.")]
    examples = run_generate(p, [Cell("common", "billing", "easy", 3, "x")], strategy=strat, shots=shots)
    assert len(examples) == 3 and all(ex.model == "openai/fake-fast" for ex in examples)
    assert all(records.good_response(ex.record).startswith("Label: billing") for ex in examples)
    req = next(r for r in fake_llm.requests if schema_name(r) == "GeneratedBatch")
    assert req["model"] == "fake-fast"
    prompt = req["messages"][-1]["content"]
    assert "This is a labeling task" in prompt and "My gas bill doubled, why?" in prompt


# ---------------------------------------------------------------- ids, robustness, faults


def test_ids_deterministic_and_unique(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root)
    install(fake_llm)
    a = run_generate(p, [COMMON, EDGE])
    b = run_generate(p, [COMMON, EDGE])
    assert [e.id for e in a] == [e.id for e in b]
    assert all(e.id.startswith("pilot-") for e in a)
    c = run_generate(p, [COMMON], phase="scale")
    assert all(e.id.startswith("scale-") for e in c) and not {e.id for e in c} & {e.id for e in a}


def test_short_replies_are_reasked_then_give_fewer(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root)
    replies = install(fake_llm, tweak=lambda kind, q, payload: {"examples": payload["examples"][:1]})
    examples = run_generate(p, [Cell("common", "billing", "easy", 4, "x")])
    assert len(examples) == 2  # one per request: the ask and one re-ask for the missing three
    assert len(replies.asked) == 2 and [q["total"] for q in replies.asked] == [4, 3]


def test_malformed_and_truncated_replies_give_fewer_without_crash(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root)
    install(fake_llm)
    strat = choose_strategy("classification", "auto", "sft")
    first, second = Cell("common", "billing", "easy", 4, "x"), Cell("common", "planning", "easy", 4, "y")
    fake_llm.inject("malformed_json", times=6)  # the first cell's request fails twice (three attempts each)
    examples = run_generate(p, [first, second], strategy=strat)
    assert [e.category for e in examples] == ["planning"] * 4
    fake_llm.inject("truncated", times=6)  # cut-off replies: re-asked by the gateway, then given up
    examples = run_generate(p, [first, second], strategy=strat, use_cache=False)
    assert [e.category for e in examples] == ["planning"] * 4
    fake_llm.inject("malformed_json", times=1)  # one bad attempt is repaired by the gateway's re-ask
    assert len(run_generate(p, [first], strategy=strat, use_cache=False)) == 4
    fake_llm.reset()
    fake_llm.on_schema("GeneratedBatch", {"examples": [{"input": "", "response": "x"}, {"input": "Hi there"}]})
    assert run_generate(p, [first], strategy=strat, use_cache=False) == []
    fake_llm.reset()
    fake_llm.on_schema("GeneratedBatch", {"examples": [{"input": "Hi there, a question", "response": "An answer."},
                                                       {"input": "", "response": "x"}]})
    assert len(run_generate(p, [first], strategy=strat, use_cache=False)) == 1  # the duplicate re-ask is dropped


def test_circuit_open_propagates(projects_root: Path, fake_llm) -> None:
    p = make_project(projects_root)
    install(fake_llm)
    fake_llm.inject("server_error", times=50)
    gw = gateway(p, max_retries=0, breaker_threshold=2)
    with pytest.raises(CircuitOpen):
        run_generate(p, [Cell("common", "billing", "easy", 40, "x")], gw=gw)
    gw.close()


def test_not_configured_raises(projects_root: Path) -> None:
    p = make_project(projects_root)
    with pytest.raises(LLMNotConfigured):
        run_generate(p, [COMMON])


def test_truncate_cuts_at_sentence_boundary() -> None:
    text = ("First check the paperwork you already have. Then call the billing team and ask for the itemised "
            "bill. Compare it with your meter readings. If they differ, file a dispute in writing. Keep copies.")
    cut = truncate(text)
    assert cut == "First check the paperwork you already have. Then call the billing team and ask for the itemised bill."
    assert 0.4 * len(text) <= len(cut) <= 0.6 * len(text)
    assert truncate("Too short.") is None
    words = "word " * 40
    assert truncate(words) and len(truncate(words)) < len(words.strip())
