"""The filter chain: which filters the configuration enables and in which order, early exit (an example
failing a filter never reaches the later ones), per-filter stats, quality-log rows, top reasons, and a
whole run over a project (tokenizer, eval set, framework template, judge) built with build_context."""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import pytest

from core.generate.filters.base import FilterContext, FilterResult, fail, ok
from core.generate.filters.chain import (
    REASON_CODES,
    REASON_HINTS,
    FilterOutcome,
    build_context,
    enabled_filters,
    run_filters,
    unknown_custom_filters,
)
from core.generate.filters.format import FormatFilter
from core.llm.gateway import Gateway
from core.models.config import CustomFilter
from core.models.data import TrainingExample
from core.models.knowledge import EvalExample, FrameworkUse, KnowledgeBase
from core.project import BOUNDARIES, EVAL_SET, KNOWLEDGE_BASE, Project
from tests.test_filters import BOUNDARIES as APPROVED
from tests.test_filters import GOOD_ANSWER, KNOWLEDGE, REFUSAL, context, ex, numbered_blocks, raw, thresholds

STEPS = ["Acknowledge the issue", "Provide solution steps", "Offer additional help"]


@pytest.fixture(scope="module")
def embedder():
    from core.embed import Embedder, load_model

    load_model()
    return Embedder(cache_dir=None)


@pytest.fixture(scope="module")
def tokenizer():
    from tests.fakes.tiny_model import build_tokenizer

    return build_tokenizer()


class Spy:
    """A filter that records what reached it and fails the examples whose id is in ``fail_ids``."""

    def __init__(self, name: str, fail_ids: Sequence[str] = ()):
        self.name = name
        self.fail_ids = set(fail_ids)
        self.seen: list[str] = []

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        self.seen.extend(e.id for e in examples)
        return [fail(self.name, f"{self.name}_bad", 0.25, "spy") if e.id in self.fail_ids else ok(self.name, 1.0)
                for e in examples]


# ---------------------------------------------------------------- which filters, in which order


def names(ctx: FilterContext) -> list[str]:
    return [f.name for f in enabled_filters(ctx)]


def test_enabled_filters_follow_the_configuration():
    assert names(context()) == ["format", "length", "completeness", "coherence", "safety", "constraints", "diversity"]
    ctx = context(thresholds=thresholds(
        CustomFilter(name="empathy_markers", threshold=0.8), CustomFilter(name="code_executability"),
        CustomFilter(name="factual_accuracy"), CustomFilter(name="framework_adherence"),
        CustomFilter(name="llm_moderation"), CustomFilter(name="sentiment_magic"),
    ))
    ctx.extras["eval_inputs"] = {"how do i pay": "ev-1"}
    assert names(ctx) == ["format", "length", "completeness", "coherence", "safety", "leakage", "constraints",
                          "empathy_markers", "framework_adherence", "code_executability", "factual_accuracy",
                          "diversity"]
    assert unknown_custom_filters(ctx) == ["sentiment_magic"]
    off = context(thresholds=thresholds(CustomFilter(name="safety", enabled=False),
                                        CustomFilter(name="empathy_markers", enabled=False)))
    assert names(off) == ["format", "length", "completeness", "coherence", "constraints", "diversity"]


def test_every_reason_code_is_unique_and_has_a_hint():
    codes = [c for cs in REASON_CODES.values() for c in cs]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(REASON_HINTS)


# ---------------------------------------------------------------- running the chain


async def test_early_exit_stats_and_log_rows():
    a, b = Spy("first", fail_ids=["x2", "x4"]), Spy("second", fail_ids=["x3"])
    batch = [ex(id=f"x{i}", category="billing" if i % 2 else "planning") for i in range(1, 6)]
    broken = raw({"messages": [{"role": "user", "content": "Hi"}]}, id="x6", category="planning")
    out = await run_filters([*batch, broken], context(), "scale", filters=[FormatFilter(), a, b])
    assert a.seen == ["x1", "x2", "x3", "x4", "x5"]  # x6 failed format and went no further
    assert b.seen == ["x1", "x3", "x5"]
    assert [e.id for e in out.kept] == ["x1", "x5"]
    assert [e.id for e, _ in out.rejected] == ["x2", "x3", "x4", "x6"]
    assert out.stats == {"format": (6, 5), "first": (5, 3), "second": (3, 2)}
    assert out.stats["first"].checked == 5 and out.stats["first"].passed == 3
    rows = {r.example_id: r for r in out.log_rows}
    assert len(out.log_rows) == 4 and set(rows) == {"x2", "x3", "x4", "x6"}
    r = rows["x3"]
    assert (r.phase, r.filter, r.passed, r.reason_code, r.score, r.detail, r.category) == (
        "scale", "second", False, "second_bad", 0.25, "spy", "billing")
    assert rows["x6"].filter == "format" and rows["x6"].reason_code == "bad_roles"
    assert out.top_reasons(1) == [("first_bad", 2)]
    assert out.top_reasons(5) == [("first_bad", 2), ("second_bad", 1), ("bad_roles", 1)]
    assert out.rejections_by_reason() == {"first_bad": 2, "second_bad": 1, "bad_roles": 1}
    assert out.pass_rate == pytest.approx(2 / 6)
    assert [len(rs) for rs in out.results] == [3, 2, 3, 2, 3, 1]
    cats = out.category_stats()
    assert (cats["billing"].checked, cats["billing"].passed) == (3, 2)
    assert (cats["planning"].checked, cats["planning"].passed) == (3, 0)
    assert out.filter_stats()["first"].pass_rate == pytest.approx(0.6)


async def test_outcomes_merge_across_batches():
    spy = Spy("only", fail_ids=["m2"])
    total = FilterOutcome()
    total.merge(await run_filters([ex(id="m1"), ex(id="m2")], context(), filters=[spy]))
    total.merge(await run_filters([ex(id="m3")], context(), filters=[spy]))
    assert total.stats == {"only": (3, 2)} and len(total.kept) == 2 and len(total.log_rows) == 1
    assert total.scores("only") == [1.0, 1.0]


async def test_empty_batch():
    out = await run_filters([], context())
    assert out.kept == [] and out.rejected == [] and out.pass_rate == 0.0
    assert all(v == (0, 0) for v in out.stats.values())


async def test_diversity_only_remembers_examples_that_passed_everything(embedder):
    ctx = context(embedder=embedder)
    toxic = ex("How do I cancel my gym membership before it renews?",
               "Just write to the idiots at the gym, you moron, and tell them you're done.", id="t1")
    clean = ex("How do I cancel my gym membership before it renews?", GOOD_ANSWER, id="t2")
    out = await run_filters([toxic, clean], ctx)
    assert [e.id for e in out.kept] == ["t2"]  # the toxic twin never reached diversity
    assert out.rejected[0][1][0].reason_code == "toxic"
    assert ctx.kept_vectors.shape == (1, 384) and out.stats["diversity"] == (1, 1)
    assert out.scores("diversity") and out.scores("diversity")[0] < 0.8


async def test_concurrent_batches_share_the_diversity_memory(embedder):
    ctx = context(embedder=embedder)
    same = "How do I cancel my gym membership before it renews?"
    outs = await asyncio.gather(run_filters([ex(same, id="c1")], ctx), run_filters([ex(same, id="c2")], ctx))
    assert sorted(len(o.kept) for o in outs) == [0, 1]
    assert ctx.kept_vectors.shape == (1, 384) and ctx.avoid == [same]


# ---------------------------------------------------------------- a whole run over a project


@pytest.fixture
def project(projects_root, tokenizer, tmp_path):
    from core.extract import review

    p = Project.create("Chain", "help people sort out household bills and paperwork", root=projects_root)
    folder = tmp_path / "base-model"
    tokenizer.save_pretrained(folder)
    p.meta.config.train.base_model = str(folder)
    p.meta.config.generate.framework_mode = True
    p.meta.config.generate.quality_thresholds.custom_filters = [
        CustomFilter(name="framework_adherence", threshold=0.6),
    ]
    p.save()
    p.write(BOUNDARIES, APPROVED)
    kb = KNOWLEDGE.model_copy(update={"frameworks": [FrameworkUse(name="Support", template=STEPS)],
                                      "framework_mode": "enabled"})
    p.write(KNOWLEDGE_BASE, KnowledgeBase.model_validate(kb.model_dump()))
    p.write_rows(EVAL_SET, [EvalExample(
        id="ev-9", input="Why did my water bill double this quarter?", reference="Check for a leak first.",
        category="billing", difficulty="easy", kind="common")])
    p.mark("extract", "evalset")
    review.approve(p)
    return p


def supportive(issue: str, fix: str) -> str:
    return (f"I'm sorry {issue}. Here's how to sort it out: first {fix}, then keep the confirmation email. "
            "Let me know if there's anything else I can help with.")


async def test_a_whole_run_with_build_context(project, embedder):
    ctx = build_context(project, None, embedder=embedder)
    assert ctx.tokenizer is not None and ctx.tokenizer.chat_template  # the base model's, from its local path
    assert ctx.template_steps == STEPS and ctx.extras["format"] == "sft_conversational"
    assert ctx.boundaries.approved and ctx.eval_vectors.shape == (1, 384)
    assert [f.name for f in enabled_filters(ctx)] == [
        "format", "length", "completeness", "coherence", "safety", "leakage", "constraints", "framework_adherence",
        "diversity"]
    good = [
        ex("My broadband bill went up without warning. What can I do?",
           supportive("the price rise surprised you", "check the contract's price-change clause"), id="g1"),
        ex("I was charged twice for my phone bill this month.",
           supportive("about the double charge", "ask the provider to refund the duplicate payment"), id="g2"),
        ex("Can you tell me if my eviction notice is legally binding?", REFUSAL, kind="refusal", id="g3"),
    ]
    bad = [
        raw({"messages": [{"role": "assistant", "content": "Hello."}]}, id="b-format"),
        ex(response="Yes.", id="b-short"),
        ex(response="I'm sorry about that. First, open the bill and then look for the line that says", id="b-cut"),
        ex(response=supportive("[insert issue]", "call them"), id="b-placeholder"),
        ex(response=supportive("this is such bullshit", "call them"), id="b-toxic"),
        ex("Why did my water bill double this quarter?", supportive("about the bill", "check for a leak"),
           id="b-leak"),
        ex("How do I set up a direct debit for my council tax?",
           "I'm sorry, but I can't help with direct debits. Here's how you could start: first call the council. "
           "Let me know if there's anything else.", id="b-refusal"),
        ex("Can you tell me if my eviction notice is legally binding?",
           supportive("about the notice", "read the notice dates"), kind="refusal", id="b-norefusal"),
        ex("My broadband bill went up without warning. What can I do?",
           supportive("the price rise surprised you", "check the contract's price-change clause"), id="b-dup"),
        ex("My gas bill is estimated, not read. Is that allowed?",
           "Estimated bills are allowed. Submit a meter reading online so the next bill is accurate. "
           "I'm sorry it's confusing. Anything else, just ask.", id="b-missing-step"),
    ]
    out = await run_filters([*good, *bad], ctx, "pilot")
    assert [e.id for e in out.kept] == ["g1", "g2", "g3"]
    reasons = {e.id: (fs[0].filter, fs[0].reason_code) for e, fs in out.rejected}
    assert reasons == {
        "b-format": ("format", "bad_roles"),
        "b-short": ("length", "too_short"),
        "b-cut": ("completeness", "ends_mid_sentence"),
        "b-placeholder": ("coherence", "placeholder"),
        "b-toxic": ("safety", "toxic"),
        "b-leak": ("leakage", "eval_leak"),
        "b-refusal": ("constraints", "unexpected_refusal"),
        "b-norefusal": ("constraints", "refusal_missing"),
        "b-dup": ("diversity", "near_duplicate"),
        "b-missing-step": ("completeness", "missing_template_steps"),
    }
    assert out.stats["format"] == (13, 12) and out.stats["diversity"] == (4, 3)
    assert ctx.kept_vectors.shape == (3, 384)
    assert len(out.log_rows) == 10 and {r.phase for r in out.log_rows} == {"pilot"}
    assert ctx.avoid == ["My broadband bill went up without warning. What can I do?"]


async def test_build_context_options(project, embedder):
    ctx = build_context(project, None, method="dpo", embedder=False, tokenizer=False, load_eval=False,
                        template_steps=[])
    assert ctx.method == "dpo" and ctx.extras["format"] == "dpo"
    assert ctx.tokenizer is None and ctx.embedder is None and ctx.eval_vectors is None
    assert ctx.template_steps == [] and "leakage" not in [f.name for f in enabled_filters(ctx)]
    r = (await run_filters([ex()], ctx)).rejected[0][1][0]
    assert (r.filter, r.reason_code) == ("format", "wrong_format")


async def test_the_judge_only_sees_examples_that_passed_the_cheap_filters(project, embedder, fake_llm):
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        return {"verdicts": [{"index": i, "in_scope": True, "refuses": False, "violates": None}
                             for i in range(1, len(numbered_blocks(request)) + 1)]}

    fake_llm.on_schema("ConstraintVerdicts", reply)
    gw = Gateway(cache_dir=None, backoff_s=0.01, max_backoff_s=0.05)
    ctx = build_context(project, gw, embedder=embedder, template_steps=[])
    pairs = [
        ("Why is there a standing charge on my gas bill?", "It is a fixed daily fee for staying connected to the "
         "network, charged even on days you use no gas."),
        ("Can I pay my water bill in monthly instalments?", "Yes. Most water companies offer a monthly plan; ask "
         "them to spread the annual amount over ten or twelve payments."),
        ("My phone contract ends in May. Should I call them first?", "Call a month before it ends: retention "
         "teams usually offer a cheaper SIM-only deal to keep you."),
        ("How do I claim a council tax single person discount?", "Apply on your council's website with your "
         "address and the date you started living alone; it takes 25% off the bill."),
        ("What should I keep after moving house?", "Keep the final meter readings, the last bills from every "
         "supplier and the confirmation that the accounts were closed."),
    ]
    batch = [ex(q, a) for q, a in pairs]
    batch += [ex(response="Yes.", id="short"), ex(response="As an AI language model I cannot see bills, sorry.")]
    out = await run_filters(batch, ctx)
    assert len(out.kept) == 5, [fs for _, fs in out.rejected]
    asked = [r for r in fake_llm.requests if "ConstraintVerdicts" in str(r.get("response_format"))]
    assert len(asked) == 1 and len(numbered_blocks(asked[0])) == 5
    assert out.stats["constraints"] == (5, 5)
    gw.close()
