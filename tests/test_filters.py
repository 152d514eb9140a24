"""Every quality filter on crafted good and bad examples: format (with a real chat template), length in
tokens, completeness, coherence, constraint compliance (offline heuristics and the fake LLM judge),
safety (the offline lexicon and LLM moderation), leakage against a frozen eval set, diversity, and the
custom filters (empathy, code executability in the sandbox, factual accuracy, framework adherence)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.generate import records
from core.generate.filters.base import FilterContext
from core.generate.filters.code_exec import CodeExecutabilityFilter, run_python
from core.generate.filters.coherence import CoherenceFilter, repetition
from core.generate.filters.completeness import CompletenessFilter
from core.generate.filters.constraints import ConstraintFilter
from core.generate.filters.custom import EmpathyFilter, FactualAccuracyFilter, FrameworkAdherenceFilter
from core.generate.filters.diversity import DiversityFilter, KeptIndex, select
from core.generate.filters.format import FormatFilter
from core.generate.filters.leakage import LeakageFilter
from core.generate.filters.length import LengthFilter
from core.generate.filters.safety import SafetyFilter
from core.generate.filters.text import ends_mid_sentence, refuses, step_coverage
from core.generate.tokenizer import count_tokens, estimate_tokens, fallback_encoding, load_tokenizer
from core.generate.toxicity import classify, toxicity
from core.llm.gateway import Gateway
from core.models.config import CustomFilter, QualityThresholds
from core.models.data import TrainingExample
from core.models.knowledge import Competencies, KnowledgeBase, ScopeBoundaries, Statement
from tests.fakes.llm_server import request_text

_ids = itertools.count(1)

BOUNDARIES = ScopeBoundaries(
    will=[Statement(text="explain household bills and paperwork"), Statement(text="suggest practical next steps")],
    will_not=[Statement(text="give binding legal advice"), Statement(text="handle medical emergencies")],
    hard_constraints=[Statement(text="never ask for full card numbers")],
    approved=True,
)
KNOWLEDGE = KnowledgeBase(
    task_definition="Help people sort out household paperwork and bills.",
    competencies=Competencies(never=[Statement(text="ask for full card numbers")],
                              common_errors=[Statement(text="telling people late fees can always be waived")]),
)
GOOD_ANSWER = ("Start by finding the renewal date on your contract, then send a written cancellation at least "
               "thirty days before it. Keep a copy of the letter and ask the provider for a confirmation number.")
REFUSAL = ("I'm sorry, but I can't give binding legal advice about your lease. Please contact a qualified "
           "tenant lawyer or your local advice centre, who can look at the documents with you.")


# ---------------------------------------------------------------- helpers (also used by test_filter_chain)


def ex(user: str = "How do I cancel my gym membership before it renews next month?", response: str | None = GOOD_ANSWER,
       *, fmt: str = "sft_conversational", kind: str = "common", rejected: str | None = None,
       label: bool | None = None, extra: dict[str, Any] | None = None, system: str | None = None,
       category: str = "billing", rejected_strategy: str | None = None, id: str | None = None) -> TrainingExample:
    if fmt == "dpo" and rejected is None:
        rejected = "Just stop paying and see what happens; they usually give up eventually, I think."
    if fmt == "kto" and label is None:
        label = True
    rec = records.build(fmt, records.prompt_messages(user, system), None if fmt == "grpo" else response,
                        rejected=rejected, label=label, extra=extra)
    return TrainingExample(id=id or f"ex-{next(_ids)}", format=fmt, record=rec, category=category,
                           difficulty="easy", kind=kind, strategy="few_shot", model="fake", prompt_version="t@1",
                           rejected_strategy=rejected_strategy)


def raw(record: dict[str, Any], fmt: str = "sft_conversational", **kw: Any) -> TrainingExample:
    """An example whose record skips validation (to craft broken records)."""
    fields = dict(id=f"raw-{next(_ids)}", format=fmt, record=record, category="billing", difficulty="easy",
                  kind="common", strategy="few_shot", model="fake", prompt_version="t@1", exercises="",
                  rejected_strategy=None, phase="pilot")
    fields.update(kw)
    return TrainingExample.model_construct(**fields)


def context(**kw: Any) -> FilterContext:
    values: dict[str, Any] = dict(project=None, method="sft", thresholds=QualityThresholds(),
                                  boundaries=BOUNDARIES, knowledge=KNOWLEDGE)
    values.update(kw)
    return FilterContext(**values)


def thresholds(*custom: CustomFilter, **kw: Any) -> QualityThresholds:
    return QualityThresholds(custom_filters=list(custom), **kw)


async def check(flt: Any, examples: list[TrainingExample], ctx: FilterContext | None = None):
    return await flt.check_batch(examples, ctx or context())


async def one(flt: Any, example: TrainingExample, ctx: FilterContext | None = None):
    return (await check(flt, [example], ctx))[0]


def judge_gateway(tmp_path: Path) -> Gateway:
    return Gateway(cache_dir=None, backoff_s=0.01, max_backoff_s=0.05, max_retries=1)


def numbered_blocks(request: dict[str, Any]) -> list[str]:
    """The example blocks of a judge request, in order."""
    text = request_text(request)
    return text.split("### Example ")[1:]


@pytest.fixture(scope="module")
def tokenizer():
    from tests.fakes.tiny_model import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="module")
def embedder():
    from core.embed import Embedder, load_model

    load_model()
    return Embedder(cache_dir=None)


# ---------------------------------------------------------------- format


async def test_format_accepts_every_trl_format_through_the_chat_template(tokenizer):
    good = [ex(), ex(system="You are a helpful billing assistant."), ex(fmt="sft_prompt_completion"),
            ex(fmt="dpo"), ex(fmt="kto", label=False), ex(fmt="grpo", extra={"reference": "x", "should_refuse": False})]
    for e in good:
        method = {"sft_conversational": "sft", "sft_prompt_completion": "sft"}.get(e.format, e.format)
        r = await one(FormatFilter(), e, context(method=method, tokenizer=tokenizer))
        assert r.passed and r.reason_code == "ok" and r.score == 1.0, r
        assert "chat template applied" in r.detail


async def test_format_without_tokenizer_checks_structure_and_says_template_skipped():
    r = await one(FormatFilter(), ex())
    assert r.passed and "skipped" in r.detail and "no tokenizer" in r.detail


@pytest.mark.parametrize("record, fmt, reason", [
    ({"prompt": [{"role": "user", "content": "Hi there"}]}, "sft_prompt_completion", "wrong_keys"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}], "extra": 1},
     "sft_conversational", "wrong_keys"),
    ({"prompt": "Hi there", "completion": "Hello."}, "sft_prompt_completion", "not_conversational"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
     "sft_conversational", "empty_content"),
    ({"messages": [{"role": "user", "text": "Hi"}, {"role": "assistant", "content": "Hello."}]},
     "sft_conversational", "bad_message"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"},
                   {"role": "assistant", "content": "Hello."}]}, "sft_conversational", "bad_roles"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                   {"role": "user", "content": "Thanks"}]}, "sft_conversational", "bad_roles"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief."},
                   {"role": "assistant", "content": "Hello."}]}, "sft_conversational", "bad_roles"),
    ({"messages": [{"role": "bot", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]},
     "sft_conversational", "bad_roles"),
    ({"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}],
      "completion": [{"role": "assistant", "content": "More."}]}, "sft_prompt_completion", "bad_roles"),
    ({"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "user", "content": "Hello."}]},
     "sft_prompt_completion", "bad_roles"),
    ({"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Same."}],
      "rejected": [{"role": "assistant", "content": "Same."}]}, "dpo", "identical_pair"),
    ({"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello."}],
      "label": "yes"}, "kto", "bad_label"),
    ({"prompt": [{"role": "user", "content": "Hi"}], "surprise": 1}, "grpo", "wrong_keys"),
])
async def test_format_rejects_broken_records(record, fmt, reason):
    method = {"sft_conversational": "sft", "sft_prompt_completion": "sft"}.get(fmt, fmt)
    r = await one(FormatFilter(), raw(record, fmt), context(method=method))
    assert not r.passed and r.reason_code == reason and r.score == 0.0 and r.detail


async def test_format_rejects_a_format_the_run_does_not_train(tokenizer):
    ctx = context(method="dpo", tokenizer=tokenizer)
    r = await one(FormatFilter(), ex(), ctx)
    assert r.reason_code == "wrong_format"
    ctx.extras["format"] = "sft_prompt_completion"
    assert (await one(FormatFilter(), ex(), ctx)).reason_code == "wrong_format"


async def test_format_template_errors_and_mismatches_are_caught(tokenizer):
    import copy

    no_system = copy.deepcopy(tokenizer)
    no_system.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
    )
    r = await one(FormatFilter(), ex(system="Be brief."), context(tokenizer=no_system))
    assert r.reason_code == "template_error" and "System role not supported" in r.detail
    assert (await one(FormatFilter(), ex(), context(tokenizer=no_system))).passed
    dropping = copy.deepcopy(tokenizer)
    dropping.chat_template = "{% for m in messages %}{% if m['role'] != 'assistant' %}{{ m['content'] }}{% endif %}{% endfor %}"
    r = await one(FormatFilter(), ex(), context(tokenizer=dropping))
    assert r.reason_code == "template_mismatch"
    untemplated = copy.deepcopy(tokenizer)
    untemplated.chat_template = None
    r = await one(FormatFilter(), ex(), context(tokenizer=untemplated))
    assert r.passed and "no chat template" in r.detail


# ---------------------------------------------------------------- tokenizer and length


def test_count_tokens_uses_the_tokenizer_else_cl100k_else_an_estimate(tokenizer):
    text = "Start by finding the renewal date on your contract."
    assert count_tokens(text, tokenizer) == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert fallback_encoding() is not None  # litellm's bundled cl100k_base, loaded offline
    assert count_tokens(text) == len(fallback_encoding().encode_ordinary(text)) == 10
    assert 8 <= estimate_tokens(text) <= 14


def test_count_tokens_many_is_the_same_sequential_or_threaded(monkeypatch):
    from core.generate import tokenizer as tk

    texts = ["Refunds take 5-10 business days.", "", "naïve café 🙂 x" * 30, "def f(x):\n    return x * 2"]
    few = tk.count_tokens_many(texts)  # under THREADED_BATCH: one text at a time
    monkeypatch.setattr(tk, "THREADED_BATCH", 1)
    assert tk.count_tokens_many(texts) == few == [count_tokens(t) for t in texts]
    assert few[1] == 0 and all(n > 0 for i, n in enumerate(few) if i != 1)


def test_load_tokenizer_from_a_local_path_and_never_downloads(tmp_path, tokenizer, projects_root):
    from core.project import Project

    p = Project.create("Tok", "answer questions", root=projects_root)
    assert load_tokenizer(p) is None  # no base model configured
    folder = tmp_path / "tok"
    tokenizer.save_pretrained(folder)
    p.meta.config.train.base_model = str(folder)
    loaded = load_tokenizer(p)
    assert loaded is not None and loaded.chat_template
    p.meta.config.train.base_model = "nobody/not-in-the-local-cache-model"
    assert load_tokenizer(p) is None


async def test_length_in_tokens(tokenizer):
    ctx = context(tokenizer=tokenizer, thresholds=QualityThresholds(min_length=10, max_length=120))
    r = await one(LengthFilter(), ex(), ctx)
    assert r.passed and r.score >= 10
    short = await one(LengthFilter(), ex(response="Yes, you can."), ctx)
    assert short.reason_code == "too_short" and short.score < 10 and "minimum 10" in short.detail
    long = await one(LengthFilter(), ex(response=GOOD_ANSWER * 6), ctx)
    assert long.reason_code == "too_long" and long.score > 120
    grpo = await one(LengthFilter(), ex("Hi?", fmt="grpo"), ctx)
    assert grpo.reason_code == "too_short" and "prompt" in grpo.detail
    # the DPO rejected side counts towards the sequence length, not the minimum
    dpo = await one(LengthFilter(), ex(fmt="dpo", rejected="No."), ctx)
    assert dpo.passed
    # without a tokenizer: cl100k_base
    assert (await one(LengthFilter(), ex(response="Yes, you can."), context())).reason_code == "too_short"


# ---------------------------------------------------------------- completeness


def test_ends_mid_sentence_heuristic():
    assert ends_mid_sentence("You can pay the bill online and")
    assert ends_mid_sentence("First, log in to your account. Then open the billing page, where you")
    assert not ends_mid_sentence("First, log in. Then pay.")
    assert not ends_mid_sentence("Steps:\n1. Log in\n2. Open billing")
    assert not ends_mid_sentence("positive")
    assert not ends_mid_sentence("Option A")  # a short label, even one ending like a dangling article
    assert not ends_mid_sentence("Read more at https://example.org/help")
    assert not ends_mid_sentence('He said "pay it today."')
    assert not ends_mid_sentence("Here it is:\n```python\nprint(1)\n```")
    assert ends_mid_sentence("Here it is:\n```python\nprint(1)")
    assert ends_mid_sentence("")


async def test_completeness():
    f = CompletenessFilter()
    assert (await one(f, ex())).passed
    assert (await one(f, raw({"messages": [{"role": "user", "content": " "},
                                           {"role": "assistant", "content": "Hello."}]}))).reason_code == "missing_input"
    assert (await one(f, raw({"messages": [{"role": "user", "content": "Hi"}]}))).reason_code == "missing_response"
    dpo = raw({"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello."}],
               "rejected": [{"role": "assistant", "content": ""}]}, "dpo")
    assert (await one(f, dpo)).reason_code == "missing_rejected"
    cut = await one(f, ex(response="To cancel, write to the provider before the renewal date and keep a copy of"))
    assert cut.reason_code == "ends_mid_sentence" and "keep a copy of" in cut.detail
    # a deliberately truncated DPO rejected side is complete enough; another strategy's is not
    cut_short = "Write to them well before the renewal date and ask them for the"
    assert (await one(f, ex(fmt="dpo", rejected=cut_short, rejected_strategy="truncated"))).passed
    assert (await one(f, ex(fmt="dpo", rejected=cut_short, rejected_strategy="verbose"))).reason_code == "ends_mid_sentence"
    assert (await one(f, ex(fmt="kto", label=False, response=cut_short, rejected_strategy="truncated"))).passed
    assert (await one(f, ex(fmt="grpo", extra={"reference": " "}))).reason_code == "missing_reference"
    assert (await one(f, ex(fmt="grpo", extra={"reference": "42"}))).passed


async def test_completeness_template_steps():
    steps = ["Acknowledge the issue", "Provide solution steps", "Offer additional help"]
    ctx = context(template_steps=steps)
    full = ("I'm sorry the double charge caught you out. Here's how to fix it: 1. Open your statement. "
            "2. Mark the duplicate payment. 3. Ask the bank for a chargeback. Let me know if anything else comes up.")
    r = await one(CompletenessFilter(), ex(response=full), ctx)
    assert r.passed and r.score == 1.0
    partial = "Open your statement, mark the duplicate payment and ask the bank for a chargeback."
    r = await one(CompletenessFilter(), ex(response=partial), ctx)
    assert r.reason_code == "missing_template_steps" and "Offer additional help" in r.detail and r.score < 1.0
    # refusals are not held to the template
    assert (await one(CompletenessFilter(), ex(response=REFUSAL, kind="refusal"), ctx)).passed


def test_step_coverage_finds_headings_keywords_and_cues_in_order():
    steps = ["Empathetic reflection", "Identify pattern", "Teach technique", "Practice prompt", "Encouragement"]
    text = ("It sounds like the evenings have been really heavy lately. I notice a pattern: the worry spikes "
            "whenever you check work email late. One technique that helps is a 'worry window'. This week, "
            "could you try it twice? You're already taking a step forward by noticing this.")
    coverage, order, missing = step_coverage(steps, text)
    assert coverage == 1.0 and order == 1.0 and not missing
    scrambled = ("You're doing great. Try a worry window technique. It sounds like evenings are heavy.")
    coverage, order, missing = step_coverage(steps, scrambled)
    assert order < 1.0


# ---------------------------------------------------------------- coherence


@pytest.mark.parametrize("response, reason", [
    ("Dear [Insert customer name], your refund has been processed and will arrive within five days.", "placeholder"),
    ("Your refund is processed. TODO: add the exact date before sending this to the customer.", "placeholder"),
    ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.", "placeholder"),
    ("Hello {{customer_name}}, your refund has been processed and will arrive within five days.", "placeholder"),
    ("As an AI language model, I cannot see your bill, but late fees are usually listed at the bottom.", "boilerplate"),
    ("Sure! Here is a response to the user: pay the bill online before Friday to avoid the late fee.", "boilerplate"),
    ("I hope this helps!", "boilerplate"),
    (" ".join(["Pay the bill online before Friday."] * 12), "repetitive"),
    ("Pay the bill online today.\n" + "Check the statement for the late fee amount.\n" * 5, "repetitive"),
    ("Here is the script:\n```python\nimport csv\nrows = list(csv.reader(open('bills.csv')))\n", "truncated"),
    ("Your refund is on the way and should arrive soon, but there is something else...", "truncated"),
    ("Itâ€™s due on Friday; pay it online to avoid the fee and keep the receipt safe.", "garbage"),
    ("Pay it \ufffd\ufffd online before Friday to avoid the late fee and keep the receipt.", "garbage"),
    ("zxcv qwrt bnmk plkj hgfd trws xcvb nmkl dfgh jklp qwrt zxcv bnmk.", "garbage"),
    ("Pay now ■■■■■■■■■■■■■■■■■■■■ before the deadline passes and the fee applies to you.", "garbage"),
])
async def test_coherence_rejects(response, reason):
    r = await one(CoherenceFilter(), ex(response=response))
    assert not r.passed and r.reason_code == reason, r
    assert 0.0 <= r.score < 1.0 and r.detail


async def test_coherence_passes_good_text_code_and_maths():
    f = CoherenceFilter()
    code = ("Use this:\n```python\ntemplate = '{{name}}'  # jinja-style braces are fine in code\n"
            "print(template)\n```\nIt prints the template unchanged.")
    maths = "Work it out: 15% of 240 = 0.15 × 240 = 36. So the fee is £36."
    for response in (GOOD_ANSWER, code, maths, "Yes."):
        r = await one(f, ex(response=response))
        assert r.passed and 0.5 <= r.score <= 1.0, (response, r)
    # the DPO rejected side may be bad on purpose, but not a placeholder
    assert (await one(f, ex(fmt="dpo", rejected=" ".join(["Pay it."] * 30)))).passed
    r = await one(f, ex(fmt="dpo", rejected="[Insert rejected response here]"))
    assert r.reason_code == "placeholder" and "rejected" in r.detail
    # placeholders in the user input count too
    assert (await one(f, ex(user="How do I pay [insert bill name] online?"))).reason_code == "placeholder"


def test_repetition_measure():
    assert repetition(GOOD_ANSWER) == 0.0
    assert repetition(" ".join(["a b c d"] * 20)) > 0.8


# ---------------------------------------------------------------- constraint compliance


def test_refusal_detector():
    assert refuses(REFUSAL)
    assert refuses("That's outside my scope, so please speak with a doctor about it.")
    assert refuses("I can\u2019t help with diagnosing symptoms.")
    assert not refuses(GOOD_ANSWER)
    assert not refuses("You can't pay the bill by cheque any more, but you can pay online or by phone.")


async def test_constraints_offline_heuristics():
    f = ConstraintFilter()
    results = await check(f, [
        ex("Can you tell me if my landlord's eviction notice is legally binding?", REFUSAL, kind="refusal"),
        ex("Is my eviction notice legally binding?", "An eviction notice must give you at least two months. "
           "The notice period depends on your contract.", kind="refusal"),
        ex(response=REFUSAL),
        ex(response=REFUSAL, kind="edge"),  # edge cases may decline part of a request: the judge decides
        ex(),
        ex(fmt="grpo", kind="refusal", extra={"should_refuse": False}),
        ex(fmt="kto", label=False, response=REFUSAL),
    ])
    assert [r.reason_code for r in results] == ["ok", "refusal_missing", "unexpected_refusal", "ok", "ok",
                                                "refusal_missing", "ok"]
    assert "heuristic" in results[1].detail


async def test_constraints_with_the_fake_judge_in_batches(fake_llm, tmp_path):
    verdicts = {
        "LEGAL": {"in_scope": False, "refuses": True, "violates": None},
        "CARD": {"in_scope": True, "refuses": False, "violates": "hard constraint: never ask for full card numbers"},
        "MEDICAL": {"in_scope": False, "refuses": False, "violates": None},
        "DECLINED": {"in_scope": True, "refuses": True, "violates": None},
        "NOREFUSE": {"in_scope": False, "refuses": False, "violates": None},
    }

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        out = []
        for i, blk in enumerate(numbered_blocks(request), 1):
            tag = next((k for k in verdicts if k in blk), None)
            v = verdicts[tag] if tag else {"in_scope": True, "refuses": False, "violates": None}
            out.append({"index": i, **v, "reason": tag or "fine"})
        return {"verdicts": out}

    fake_llm.on_schema("ConstraintVerdicts", reply)
    gw = judge_gateway(tmp_path)
    ctx = context(gateway=gw)
    examples = [ex(f"How do I read line {i} of my water bill?") for i in range(20)]
    examples += [
        ex("LEGAL: is my eviction notice binding?", REFUSAL, kind="refusal"),
        ex("CARD: why was I charged twice?", "Send me your full card number and I will check the charge for you."),
        ex("MEDICAL: my chest hurts, what should I take?", "Take two aspirin and rest; it is probably nothing."),
        ex("DECLINED: how do I set up a direct debit?", REFUSAL),
        ex("NOREFUSE: is my eviction notice binding?", "Yes, it is binding once signed.", kind="refusal"),
    ]
    results = await check(ConstraintFilter(), examples, ctx)
    assert all(r.passed and r.detail == "judge" for r in results[:20])
    assert [r.reason_code for r in results[20:]] == [
        "ok", "violates_never", "out_of_scope_content", "unexpected_refusal", "refusal_missing"]
    assert "never ask for full card numbers" in results[21].detail
    asked = [r for r in fake_llm.requests if "ConstraintVerdicts" in json.dumps(r.get("response_format") or {})]
    assert len(asked) == 3  # 25 examples in batches of 10
    prompt = request_text(asked[0])
    assert "give binding legal advice" in prompt and "never ask for full card numbers" in prompt
    gw.close()


async def test_constraints_fall_back_to_heuristics_when_the_judge_fails(fake_llm, tmp_path):
    fake_llm.on_schema("ConstraintVerdicts", "this is not json at all")
    gw = judge_gateway(tmp_path)
    results = await check(ConstraintFilter(), [ex(response=REFUSAL), ex()], context(gateway=gw))
    assert results[0].reason_code == "unexpected_refusal" and "judge unavailable" in results[0].detail
    assert results[1].passed and "judge unavailable" in results[1].detail
    gw.close()


# ---------------------------------------------------------------- safety


def test_toxicity_lexicon_is_calibrated():
    assert toxicity(GOOD_ANSWER) == 0.0
    assert toxicity("That fee is bullshit, honestly.") == pytest.approx(0.3)
    assert toxicity("What a sh1t fee, what a f*cking mess.") == pytest.approx(1 - 0.7 ** 2)
    assert toxicity("Here is how to kill yourself") >= 0.95
    assert toxicity("I will kill you if you call again") >= 0.85
    assert classify("You're an idiot for missing it.").categories == ["insult"]
    # negated or reported insults, and everyday words that contain or resemble terms, do not count
    assert toxicity("It's not rocket science, you idiot.") == pytest.approx(0.45)
    for text in ("Missing a payment doesn't mean you're an idiot.", "You might feel like you're stupid, but no.", "Kill the process with kill -9.",
                 "A chink in the armour, spick and span.", "Scunthorpe council tax bands", "If you are having "
                 "thoughts of suicide, please call a crisis line now."):
        assert toxicity(text) == 0.0, text


async def test_safety_lexicon_and_threshold():
    f = SafetyFilter()
    results = await check(f, [ex(), ex(response="Just pay the damn bill, it's not rocket science, you idiot."),
                              ex(user="This fucking bill is wrong!", response=GOOD_ANSWER),
                              ex(fmt="dpo", rejected="Stop whining and pay the bullshit fee.")])
    assert results[0].passed and results[0].score == 0.0
    assert results[1].reason_code == "toxic" and results[1].score >= 0.45 and "insult" in results[1].detail
    assert results[2].passed  # the user's own words are not scored
    assert results[3].reason_code == "toxic" and "rejected" in results[3].detail
    lenient = context(thresholds=QualityThresholds(toxicity_threshold=0.35))
    assert (await one(f, ex(response="Pay the bullshit fee online before Friday, then complain in writing."),
                      lenient)).passed


async def test_safety_llm_moderation_when_enabled(fake_llm, tmp_path):
    def reply(request: dict[str, Any]) -> dict[str, Any]:
        out = []
        for i, blk in enumerate(numbered_blocks(request), 1):
            v = {"toxicity": 0.0, "harmful": False, "prohibited_topic": None, "audience_ok": True}
            if "mix bleach" in blk:
                v.update(toxicity=0.9, harmful=True)
            if "diagnos" in blk:
                v.update(prohibited_topic="medical diagnosis")
            out.append({"index": i, **v, "reason": "x"})
        return {"verdicts": out}

    fake_llm.on_schema("ModerationVerdicts", reply)
    gw = judge_gateway(tmp_path)
    examples = [ex(), ex(response="To clean the mould, mix bleach and ammonia in a closed room for a stronger effect."),
                ex(response="From what you describe, I'd diagnose it as shingles; take antivirals.")]
    off = await check(SafetyFilter(), examples, context(gateway=gw))
    assert all(r.passed for r in off) and not fake_llm.requests  # not enabled: lexicon only
    ctx = context(gateway=gw, thresholds=thresholds(CustomFilter(name="llm_moderation", enabled=True)))
    on = await check(SafetyFilter(), examples, ctx)
    assert [r.reason_code for r in on] == ["ok", "toxic", "prohibited_topic"]
    assert on[1].score == pytest.approx(0.9)
    assert len(fake_llm.requests) == 1
    gw.close()


# ---------------------------------------------------------------- leakage


@pytest.fixture
def frozen_project(projects_root, embedder):
    from core.extract import review
    from core.models.knowledge import EvalExample
    from core.project import EVAL_SET, Project

    p = Project.create("Leaky", "answer household admin questions", root=projects_root)
    rows = [
        EvalExample(id="ev-1", input="How can I cancel my gym membership before it renews?",
                    reference="Write to the gym at least thirty days before the renewal date and keep a copy "
                              "of the letter as proof.", category="billing", difficulty="easy", kind="common"),
        EvalExample(id="ev-2", input="What does the standing charge on my electricity bill mean?",
                    reference="A fixed daily fee.", category="billing", difficulty="easy", kind="common"),
        EvalExample(id="ev-3", input="Can you tell me whether my landlord's eviction is legal?",
                    reference="I can't give legal advice; please contact a tenant adviser.", category="legal",
                    difficulty="medium", kind="out_of_scope", should_refuse=True),
    ]
    p.write_rows(EVAL_SET, rows)
    p.mark("extract", "evalset")
    review.approve(p)
    review.verify_frozen(p)
    return p


async def test_leakage_against_the_frozen_eval_set(frozen_project, embedder):
    from core.generate.filters.chain import build_context

    ctx = build_context(frozen_project, None, embedder=embedder, tokenizer=False)
    assert ctx.eval_vectors.shape == (3, 384)
    results = await check(LeakageFilter(), [
        ex("How can I cancel my gym membership before it renews?"),  # exact (normalised) copy
        ex("how can i cancel my gym membership before it renews"),
        ex("How do I cancel my gym membership before it renews?"),  # a near-duplicate
        ex("What's the best way to split a shared electricity bill between flatmates?"),
        ex("When is my council tax due?",
           "Write to the gym at least thirty days before the renewal date and keep a copy of the letter as proof."),
    ], ctx)
    assert [r.reason_code for r in results] == ["eval_leak", "eval_leak", "eval_leak", "ok", "eval_leak"]
    assert "ev-1" in results[0].detail and "ev-1" in results[2].detail and results[2].score >= 0.9
    assert results[3].score < 0.9
    assert "reference" in results[4].detail


async def test_leakage_without_vectors_still_catches_exact_copies(frozen_project):
    from core.generate.filters.chain import build_context

    ctx = build_context(frozen_project, None, embedder=False, tokenizer=False)
    assert ctx.eval_vectors is None
    results = await check(LeakageFilter(), [ex("How can I cancel my gym membership before it renews?"), ex()], ctx)
    assert [r.reason_code for r in results] == ["eval_leak", "ok"] and "exact match only" in results[1].detail


# ---------------------------------------------------------------- diversity


async def test_diversity_keeps_one_of_a_duplicate_group_and_feeds_avoid(embedder):
    ctx = context(embedder=embedder)
    group = [ex("How do I cancel my gym membership before it renews?", id="g1"),
             ex("How do I cancel my gym membership before it renews??", id="g2"),
             ex("how do i cancel my gym membership before it renews", id="g3")]
    other = [ex("What does the standing charge on my electricity bill mean?", "It is a fixed daily fee that "
                "covers the cost of keeping you connected, charged whether or not you use any power.", id="o1"),
             ex("Can you help me plan a budget for a family holiday?", "Yes. Start with the fixed costs: travel and "
                "accommodation. Then add a daily amount for food and activities, plus a buffer.", id="o2")]
    results = await check(DiversityFilter(), [group[0], other[0], group[1], other[1], group[2]], ctx)
    assert [r.passed for r in results] == [True, True, False, True, False]
    assert results[2].reason_code == "near_duplicate" and "g1" in results[2].detail and results[2].score >= 0.8
    assert ctx.kept_vectors.shape == (3, 384)
    assert ctx.avoid == [group[1].record["messages"][0]["content"], group[2].record["messages"][0]["content"]]
    # a later batch is compared with what was kept before
    again = await check(DiversityFilter(), [ex("How do I cancel my gym membership before it renews?", id="g4")], ctx)
    assert again[0].reason_code == "near_duplicate" and "kept g1" in again[0].detail
    assert ctx.kept_vectors.shape == (3, 384)


async def test_diversity_avoid_list_is_bounded(embedder):
    ctx = context(embedder=embedder)
    first = ex("How do I cancel my gym membership before it renews?")
    await check(DiversityFilter(), [first], ctx)
    dups = [ex(f"How do I cancel my gym membership before it renews{'?' * k}") for k in range(2, 30)]
    await check(DiversityFilter(), dups, ctx)
    assert len(ctx.avoid) == 20 and ctx.avoid[-1].endswith("?" * 29)


async def test_diversity_without_embedder_rejects_exact_duplicates():
    ctx = context()
    results = await check(DiversityFilter(), [ex(id="a"), ex(id="b"), ex("Something else entirely?")], ctx)
    assert [r.passed for r in results] == [True, False, True] and "exact" in results[1].detail
    ctx.kept_vectors = None  # the pipeline starting over (a retried pilot) resets the memory
    assert (await one(DiversityFilter(), ex(id="c"), ctx)).passed


async def test_diversity_rebuilds_from_kept_vectors_set_on_resume(embedder):
    ctx = context(embedder=embedder)
    kept = ex("How do I cancel my gym membership before it renews?")
    ctx.kept_vectors = embedder.encode([records.all_text(kept.record)])  # what a resume does
    r = await one(DiversityFilter(), ex("How do I cancel my gym membership before it renews?"), ctx)
    assert r.reason_code == "near_duplicate"
    assert ctx.kept_vectors.shape == (1, 384)


def test_kept_index_grows_by_doubling_and_select_is_greedy():
    rng = np.random.default_rng(0)
    index = KeptIndex(dim=8, capacity=4)
    vecs = rng.normal(size=(10, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index.add(vecs[:3], ["a", "b", "c"])
    index.add(vecs[3:10], list("defghij"))
    assert index.n == 10 and index.buf.shape[0] == 16 and np.allclose(index.view, vecs)
    # duplicates inside one block and across blocks (block size 4)
    batch = np.concatenate([vecs[:2], vecs[:2], vecs[5:6]])
    fresh = KeptIndex(dim=8)
    keep, score, dup = select(batch, 0.99, fresh, ["x1", "x2", "x3", "x4", "x5"], block=4)
    assert keep.tolist() == [True, True, False, False, True]
    assert dup[2] == "candidate x1" and dup[3] == "candidate x2"
    assert fresh.n == 3


# ---------------------------------------------------------------- custom filters


async def test_empathy_markers():
    ctx = context(thresholds=thresholds(CustomFilter(name="empathy_markers", enabled=True, threshold=0.8)))
    warm = ("That sounds really stressful, and it makes sense that you're worried. Let's look at the letter "
            "together: first check the deadline.")
    late = "Check the deadline on the letter first. Then call them. I understand this is stressful."
    results = await check(EmpathyFilter(), [ex(response=warm), ex(response=late), ex(response=GOOD_ANSWER)], ctx)
    assert results[0].passed and results[0].score == 1.0
    assert results[1].reason_code == "low_empathy" and results[1].score == pytest.approx(0.6)
    assert results[2].reason_code == "low_empathy" and results[2].score == 0.0
    lower = context(thresholds=thresholds(CustomFilter(name="empathy_markers", enabled=True, threshold=0.5)))
    assert (await one(EmpathyFilter(), ex(response=late), lower)).passed


async def test_code_executability_runs_code_in_a_sandbox():
    def code(body: str) -> str:
        return f"Here is a script:\n```python\n{body}\n```\nRun it with python."

    f = CodeExecutabilityFilter(timeout_s=2.0)
    results = await check(f, [
        ex(response=code("total = sum([12.5, 7.25])\nprint(f'Total: {total:.2f}')")),
        ex(response=code("print(undefined_name)")),
        ex(response=code("while True:\n    pass")),
        ex(response=code("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=3)")),
        ex(response=code("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)")),
        ex(response=GOOD_ANSWER),
        ex(response=code("print(1)") + "\nAnd another:\n```python\nraise SystemExit(3)\n```\nDone."),
    ])
    assert [r.reason_code for r in results] == ["ok", "code_error", "code_timeout", "code_network", "code_network",
                                                "ok", "code_error"]
    assert "NameError" in results[1].detail
    assert results[5].detail == "no code"
    assert results[6].score == 0.5 and "block 2 of 2" in results[6].detail


async def test_code_runs_without_the_parent_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak-123456")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    r = await run_python("import os, sys\nassert 'OPENAI_API_KEY' not in os.environ\n"
                         "assert 'HTTPS_PROXY' not in os.environ\nassert sys.flags.isolated", 3.0)
    assert r.ok, r


async def test_factual_accuracy_offline_and_with_the_judge(fake_llm, tmp_path):
    enabled = thresholds(CustomFilter(name="factual_accuracy", enabled=True, verification_source="knowledge_base"))
    offline = await one(FactualAccuracyFilter(), ex(), context(thresholds=enabled))
    assert offline.passed and "skipped" in offline.detail and not fake_llm.requests

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        out = []
        for i, blk in enumerate(numbered_blocks(request), 1):
            bad = "always be waived" in blk
            out.append({"index": i, "accurate": not bad, "score": 0.1 if bad else 0.9,
                        "contradicts": "late fees can always be waived is a common error" if bad else None})
        return {"verdicts": out}

    fake_llm.on_schema("FactualVerdicts", reply)
    gw = judge_gateway(tmp_path)
    results = await check(FactualAccuracyFilter(), [
        ex(), ex(response="Don't worry: late fees can always be waived if you ask politely on the phone."),
        ex(response=REFUSAL, kind="refusal"),
    ], context(thresholds=enabled, gateway=gw))
    assert [r.reason_code for r in results] == ["ok", "factual_error", "ok"]
    assert results[0].score == pytest.approx(0.9) and "common error" in results[1].detail
    assert "telling people late fees can always be waived" in request_text(fake_llm.requests[0])
    gw.close()


async def test_framework_adherence():
    steps = ["Acknowledge the issue", "Provide solution steps", "Offer additional help"]
    ctx = context(template_steps=steps, thresholds=thresholds(CustomFilter(name="framework_adherence", threshold=0.8)))
    in_order = ("I'm sorry about the double charge. Here's how to fix it: first open the statement, then ask the "
                "bank for a chargeback. Let me know if there's anything else I can do.")
    out_of_order = ("Let me know if there's anything else I can do. First open the statement, then ask the bank "
                    "for a chargeback. I'm sorry about the double charge.")
    results = await check(FrameworkAdherenceFilter(), [ex(response=in_order), ex(response=out_of_order),
                                                      ex(response=REFUSAL, kind="refusal")], ctx)
    assert results[0].passed and results[0].score == 1.0
    assert results[1].reason_code == "low_framework_adherence" and "out of order" in results[1].detail
    assert results[2].passed
    assert (await one(FrameworkAdherenceFilter(), ex(), context())).detail.startswith("skipped")
