"""GRPO rewards are the evaluation's rules: one refusal rule (runner side == core side, bundled script
included), correctness per row by the evaluation's method (exact / label match, functional, the judge, the
overlap fallback), the defect "reward std 0" reproduced and gone, and the reward plan a run records."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.refusal import DEFAULT_RULE, RefusalRule
from core.train import rewards as rw

OWN = "That is outside what our billing desk can advise on by chat."  # a project's own refusal sentence

CORPUS = [
    "",
    "   ",
    "I'm sorry, but I can't help with that here.",
    "I\u2019m sorry, but I can\u2019t help with that here.",  # curly apostrophes
    "I cannot provide legal advice. Please contact a qualified lawyer.",
    "That's outside my scope: I only handle billing questions.",
    OWN,
    "that is outside what our billing desk can advise on by chat. Try the legal team.",
    "Open the settings page, choose Billing, then Cancel subscription before the renewal date.",
    "Check the paper tray and restart the printer. " * 6 + "If it still jams, please contact a technician.",
    "billing",
    "Label: technical",
    "I won't be able to do that, sorry.",
    "Refunds take five working days; I'd recommend you contact your bank if it takes longer.",
    "Sure! Here is the budget: rent 40%, food 20%, savings 15%, the rest for holidays.",
    "Not something I can help with, unfortunately.",
]


def _call(reward: Any, completions: list[Any], **columns: Any) -> list[float | None]:
    out = reward(completions=completions, **columns)
    assert len(out) == len(completions)
    assert all(v is None or 0.0 <= v <= 1.0 for v in out), out
    return out


def _conv(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- one refusal rule


def _core_refusal(rule: RefusalRule, text: str, should_refuse: bool) -> float:
    """The refusal reward spelled out from core.refusal (what the evaluation counts)."""
    check = rule.check(text)
    if should_refuse:
        return 1.0 if check.refused and check.where == "upfront" else 0.5 if check.refused else 0.0
    return 0.0 if not text.strip() or rule.refuses_upfront(text) else 1.0


@pytest.mark.parametrize("message", [DEFAULT_RULE.message, OWN])
def test_refusal_reward_is_core_refusal(message: str) -> None:
    rule = RefusalRule(message)
    reward = rw.build_rewards(["refusal"], {"refusal_message": message})[0]
    for flag in (True, False):
        got = _call(reward, CORPUS, should_refuse=[flag] * len(CORPUS))
        assert got == [_core_refusal(rule, t, flag) for t in CORPUS]
    own = _call(reward, [OWN], should_refuse=[True])
    assert own == ([1.0] if message == OWN else [_core_refusal(DEFAULT_RULE, OWN, True)])


def test_the_bundled_runner_applies_the_same_refusal_rule(tmp_path: Path) -> None:
    """The script shipped to HF Jobs, run in a fresh interpreter that serves tunesmith only from the
    bundle, gives the same refusal (and correctness) rewards as core does here, on the whole corpus."""
    from core.train import bundle

    script = bundle.write_script(tmp_path)
    settings = {"refusal_message": OWN, "task_type": "classification", "labels": ["billing", "technical"],
                "single_label": True}
    columns = {"prompts": [_conv("Why was I charged twice?")] * len(CORPUS), "reference": ["billing"] * len(CORPUS)}
    code = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("shipped", {str(script)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
names, funcs = m.load_rewards({{"method": "grpo", "rewards": ["refusal", "correctness"],
                                "reward_settings": {settings!r}}})
corpus, columns = {CORPUS!r}, {columns!r}
out = {{flag: [f(completions=corpus, should_refuse=[flag] * len(corpus), **columns) for f in funcs]
        for flag in (True, False)}}
origin = sys.modules["core.refusal"].__spec__.origin
print(json.dumps({{"out": {{str(k): v for k, v in out.items()}}, "origin": origin}}))
"""
    res = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    shipped = json.loads(res.stdout.strip().splitlines()[-1])
    assert shipped["origin"] == "bundled:core.refusal"  # not the installed tunesmith
    here = rw.build_rewards(["refusal", "correctness"], settings)
    for flag in (True, False):
        assert shipped["out"][str(flag)] == [f(completions=CORPUS, should_refuse=[flag] * len(CORPUS), **columns)
                                             for f in here]


# ---------------------------------------------------------------- the defect: reward std 0


def test_one_prompt_several_completions_get_different_rewards() -> None:
    """The real run's defect: every completion of a prompt got the same total reward (std 0), and an
    empty in-scope answer earned the full refusal reward. Now an empty answer gets 0 from every reward,
    and the totals differ."""
    settings = {"task_type": "classification", "labels": ["billing", "technical", "account"], "single_label": True}
    funcs = rw.build_rewards(rw.DEFAULT_REWARDS, settings)
    completions = [
        [{"role": "assistant", "content": ""}],  # empty
        [{"role": "assistant", "content": "I'm sorry, but I can't help with that here."}],  # refuses
        [{"role": "assistant", "content": "billing"}],  # the right label
        [{"role": "assistant", "content": "technical"}],  # a wrong label
        [{"role": "assistant", "content": "Thanks for getting in touch! Charges can appear twice when a card "
                                          "payment is retried; it could be billing or technical."}],  # prose hedge
    ]
    n = len(completions)
    columns = {"prompts": [_conv("Why was I charged twice this month?")] * n, "reference": ["billing"] * n,
               "should_refuse": [False] * n, "category": ["billing"] * n, "difficulty": ["easy"] * n}
    per_reward = {f.__name__: _call(f, completions, **columns) for f in funcs}
    totals = [sum(v or 0.0 for v in col) for col in zip(*per_reward.values())]
    assert statistics.pstdev(totals) > 0.1, per_reward
    assert all(scores[0] == 0.0 for scores in per_reward.values()), per_reward  # empty: 0 everywhere
    assert per_reward["refusal"][1] == 0.0 and per_reward["correctness"][1] == 0.0  # declining in scope
    assert per_reward["correctness"][2:] == [1.0, 0.0, 0.0]  # right, wrong, two labels named
    assert totals[2] == max(totals)


def test_an_empty_answer_never_earns_the_refusal_reward() -> None:
    assert _call(rw.refusal_reward, ["", "  "], should_refuse=[False, True]) == [0.0, 0.0]
    assert _call(rw.correctness_reward, [""], reference=["check the paper tray"], should_refuse=[False]) == [0.0]


# ---------------------------------------------------------------- correctness per method


def test_labels_and_closed_answers_are_exact_matches() -> None:
    labels = ["billing", "technical", "late payment", "payment"]
    reward = rw.CorrectnessReward({"task_type": "classification", "labels": labels, "single_label": True})
    outs = ["Billing.", "The category is **billing**", "late payment", "technical", "billing, maybe technical",
            "I think it's about money"]
    got = _call(reward, outs, reference=["billing", "billing", "late payment", "billing", "billing", "billing"])
    assert got == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert rw.labels_named("a late payment", labels) == ["late payment"]  # not also "payment"

    closed = rw.CorrectnessReward({"task_type": "reasoning"})
    prompt = _conv("Which is the capital? A) Paris B) Lyon C) Nice")
    got = _call(closed, ["42", "The answer is 42.0", "41", "The answer is A", "B"],
                prompts=[_conv("6 x 7?")] * 3 + [prompt] * 2, reference=["42", "42", "42", "A", "A"])
    assert got == [1.0, 1.0, 0.0, 1.0, 0.0]


def test_functional_references_are_checked() -> None:
    reward = rw.CorrectnessReward({"task_type": "transformation"})
    ref_json = json.dumps({"name": "Ada", "year": 1843})
    tests = "```python\nassert add(2, 3) == 5\n```"
    got = _call(reward, [
        '{"name": "ada", "year": 1843}', '```json\n{"name": "Ada", "year": 1900}\n```', "not json",
        "INV-20240101", "invoice 1",
        "```python\ndef add(a, b):\n    return a + b\n```", "```python\ndef add(a, b):\n    return a - b\n```",
    ], prompts=[_conv("Extract the person.")] * 3 + [_conv("Make an invoice id.")] * 2
       + [_conv("Write add(a, b).\n" + tests)] * 2,
        reference=[ref_json] * 3 + [r"regex: INV-\d{8}"] * 2 + ["def add(a, b): return a + b"] * 2)
    assert got == [1.0, 0.5, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_prose_without_a_judge_is_overlap_and_refusal_rows_are_the_refusal_rewards() -> None:
    reward = rw.CorrectnessReward({"task_type": "instruction_following"})
    ref = "Check the paper tray, restart the device, and try single-sided pages first."
    same, part, other, refusal_row, no_ref = _call(
        reward, [ref, "Check the paper tray first.", "Buy a new printer today.", "Sure, here you go.", "x"],
        reference=[ref, ref, ref, "I'm sorry, but I can't help with that here.", ""],
        should_refuse=[False, False, False, True, False])
    assert same == 1.0 and 0.0 < part < 1.0 and other == 0.0
    assert refusal_row is None and no_ref is None


def test_row_method_is_the_evaluations_choice() -> None:
    """row_method mirrors core.evaluate.scorers.choose_method (with "overlap" for "human")."""
    from core.evaluate.scorers import choose_method
    from core.models.knowledge import EvalExample

    cases = [
        ("Classify: my card was charged twice", "billing", "classification"),
        ("Classify: the app crashes", "Label: technical. The app fails to start.", "classification"),
        ("Pick one. A) Paris B) Lyon", "A", "reasoning"),
        ("What is 6 x 7?", "42", "reasoning"),
        ("Summarise the letter.", "The tenant asks for the deposit back, citing the inspection report, and "
                                  "proposes a meeting next week.", "instruction_following"),
        ("Extract the fields.", '{"name": "Ada", "year": 1843}', "transformation"),
        ("Format the id.", "regex: INV-\\d{8}", "transformation"),
        ("Write add.\n```python\nassert add(1, 2) == 3\n```", "def add(a, b): return a + b", "instruction_following"),
        ("Which plan is better?", "The second plan, because it spreads the cost over the year and keeps a "
                                  "reserve for repairs.", "preference"),
    ]
    for judge in (False, True):
        for eval_method in ("auto", "exact_match", "llm_judge", "human"):
            for i, (inp, ref, task_type) in enumerate(cases):
                ex = EvalExample(id=f"e{i}", input=inp, reference=ref, category="c", difficulty="easy", kind="common")
                want = choose_method(ex, task_type, eval_method, judge_usable=judge)
                got, _ = rw.row_method(inp, ref, task_type, eval_method, judge)
                assert got == ("overlap" if want == "human" else want), (inp, eval_method, judge)


def test_weighted_score_is_the_rubrics() -> None:
    from core.evaluate.judge import Rubric, RubricDimension

    rubric = Rubric([RubricDimension("accuracy", "", 2.0), RubricDimension("tone", "", 1.0)])
    weights = [[d.name, d.weight] for d in rubric.dimensions]
    for scores in ({"accuracy": 5, "tone": 1}, {"Accuracy": 3}, {"other": 4}, {}, {"tone": 2, "x": 5}):
        assert rw.weighted_score(weights, scores) == rubric.weighted(scores)
    assert rw.weighted_score([["a", 0.0]], {"a": 5}) == Rubric([RubricDimension("a", "", 0.0)]).weighted({"a": 5})


# ---------------------------------------------------------------- the judge reward


def _judge_spec(api_base: str) -> dict[str, Any]:
    return {"model": "fake-model", "api_base": api_base, "key_env": "TEST_JUDGE_KEY",
            "messages": [{"role": "system", "content": "Grade."},
                         {"role": "user", "content": "{{expected_behaviour}}\n<input>{{input}}</input>\n"
                                                     "<reference>{{reference}}</reference>\n"
                                                     "<response>{{response}}</response>"}],
            "expected_behaviour": {"in_scope": "IN SCOPE", "refuse": "OUT OF SCOPE"},
            "response_format": {"type": "json_schema", "json_schema": {"name": "JudgeVerdict", "schema": {}}},
            "weights": [["accuracy", 1.0]], "max_chars": 6000}


def test_judge_reward_grades_prose_through_an_openai_compatible_server(fake_llm: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def verdict(request: dict[str, Any]) -> dict[str, Any]:
        text = request["messages"][-1]["content"]
        response = text.split("<response>")[1]
        good = "paper tray" in response
        return {"dimensions": [{"name": "accuracy", "score": 5 if good else 2}], "refused": "can't" in response,
                "passed": good, "reason": ""}

    fake_llm.on_schema("JudgeVerdict", verdict)
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test-judge-key-0123456789")
    settings = {"task_type": "instruction_following", "judge": _judge_spec(fake_llm.base_url)}
    reward = rw.build_rewards(["correctness"], settings)[0]
    ref = "Check the paper tray, then restart the device and print single-sided."
    got = _call(reward, ["Look at the paper tray first.", "Buy a new one.", "Honestly I can't say, ask a shop."],
                prompts=[_conv("My printer jams.")] * 3, reference=[ref] * 3, should_refuse=[False] * 3)
    assert got == [1.0, 0.25, 0.0]
    asked = fake_llm.requests[0]
    assert asked["model"] == "fake-model" and asked["temperature"] == 0
    assert "IN SCOPE" in asked["messages"][-1]["content"] and ref in asked["messages"][-1]["content"]
    assert "sk-test-judge-key" not in json.dumps(settings)


def test_a_failed_judge_call_is_no_signal_and_the_key_comes_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def broken(request: Any, timeout: float) -> Any:
        seen.append(request)
        raise OSError("connection refused")

    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-from-the-environment-000000")
    client = rw.JudgeClient(_judge_spec("http://judge.example/v1"), opener=broken)
    reward = rw.CorrectnessReward({"task_type": "instruction_following"}, judge=client)
    assert _call(reward, ["Some prose answer here."], reference=["A long prose reference answer."],
                 should_refuse=[False]) == [None]
    assert seen[0].full_url == "http://judge.example/v1/chat/completions"
    assert seen[0].get_header("Authorization") == "Bearer sk-from-the-environment-000000"
    assert client.failures == 1


# ---------------------------------------------------------------- the plan and the run config


def test_grpo_plan_and_run_config_carry_the_rewards(projects_root: Path) -> None:
    from core.train import reward_plan, service
    from core.train.plan import build_plan
    from tests.test_train_common import make_ready_project
    from tests.test_train_hardware import _check

    from core import store
    from core.generate import pipeline_state as ps

    project = make_ready_project("grpo-rules", "grpo")
    rows = [{"prompt": _conv(q), "reference": ref, "should_refuse": ref == "", "category": "c", "difficulty": "easy"}
            for q, ref in [("Charged twice?", "billing"), ("App crashes on start", "technical"),
                           ("Give me legal advice", ""), ("Refund for the second payment?", "Label: billing. "
                                                          "A duplicate charge is a billing matter.")] * 3]
    for r in rows:
        r["reference"] = r["reference"] or "I'm sorry, but I can't help with that here."
    store.write_parquet(project.path(ps.TRAIN_FILE), rows)
    project.meta.task_type = "classification"
    project.meta.labels = ["billing", "technical"]
    project.save()
    plan = build_plan(project=project.slug, method="grpo", backend="local", base_model="x/Model-0.5B",
                      check=_check("grpo"), train=project.meta.config.train, params=(0.5, "name"),
                      local_device=("cpu", 1.0))
    service.add_objective(project, plan)
    assert plan.rewards == ["format", "refusal", "correctness"]
    s = plan.reward_settings
    assert s["task_type"] == "classification" and s["labels"] == ["billing", "technical"] and s["single_label"]
    assert s["judge"] is None and s["refusal_message"] == DEFAULT_RULE.message
    text = plan.render()
    assert "rewards   format, refusal, correctness" in text and "exactly one of them" in text
    assert "exact match (label) 9" in text and "refusal rows (the refusal reward) 3" in text
    assert reward_plan.NO_JUDGE not in text  # every in-scope row is a label: no prose to judge

    config = service.build_run_config(project, plan, "run-1")
    assert config["rewards"] == plan.rewards and config["reward_settings"] == s
    funcs = rw.build_rewards(config["rewards"], config["reward_settings"])  # what the runner will build
    assert [f.__name__ for f in funcs] == ["format_reward", "refusal", "correctness"]


def test_a_validated_judge_is_used_for_prose_rows(projects_root: Path, fake_llm: Any) -> None:
    from datetime import datetime, timezone

    from core import prompts
    from core.evaluate import evalfolder as ef
    from core.train import reward_plan
    from tests.test_train_common import make_ready_project

    project = make_ready_project("judge-rules", "grpo")
    rec = ef.EvalRecord(eval_id="20250101-000000-ab", status="completed", created_at=datetime.now(timezone.utc),
                        eval_set_hash="x", base=ef.ModelRef(spec="b", kind="litellm", model="b"),
                        candidate=ef.ModelRef(spec="c", kind="litellm", model="c"), judge_status="validated",
                        judge_usable=True, judge_model="openai/fake-model")
    ef.eval_dir(project, rec.eval_id).mkdir(parents=True, exist_ok=True)
    ef.write_record(project, rec)
    ef.write_toml_dict(project, rec.eval_id, ef.JUDGE_SUMMARY, {
        "usable": True, "chosen": {"role": "judge", "prompt_version": prompts.version("judge_grade")}})

    plan = reward_plan.plan_rewards(project, "local")
    judge = plan.settings["judge"]
    assert judge and judge["api_base"] == fake_llm.base_url.rstrip("/") and judge["model"] == "fake-model"
    assert judge["key_env"] == "OPENAI_API_KEY" and "sk-" not in json.dumps(judge)
    assert "{{response}}" in judge["messages"][-1]["content"] and "{{input}}" in judge["messages"][-1]["content"]
    assert plan.methods.get("the validated judge", 0) == 10  # the 10 in-scope prose rows of rows_for("grpo", 12)
    assert any("graded by the judge validated in evaluation" in line for line in plan.lines)
    assert "messages" not in reward_plan.recorded(plan.settings)["judge"]  # run.toml keeps it short

    far = reward_plan.plan_rewards(project, "hf_jobs")  # the fake server is on this machine
    assert far.settings["judge"] is None and "out of reach" in far.judge_note

    fake_llm.on_schema("JudgeVerdict", {"dimensions": [{"name": "accuracy", "score": 4}], "refused": False,
                                        "passed": True, "reason": ""})
    reward = rw.build_rewards(["correctness"], plan.settings)[0]
    assert _call(reward, ["Step one: check the settings."], prompts=[_conv("How do I cancel?")],
                 reference=["Step one: check the settings. Step two: confirm the date."],
                 should_refuse=[False])[0] is not None


def test_openai_endpoints() -> None:
    from core.train.reward_plan import openai_endpoint

    assert openai_endpoint("openai/gpt-4o-mini", None) == ("https://api.openai.com/v1", "gpt-4o-mini")
    assert openai_endpoint("hosted_vllm/qwen", "http://gpu:8000/v1/") == ("http://gpu:8000/v1", "qwen")
    assert openai_endpoint("ollama/llama3", "http://localhost:11434") == ("http://localhost:11434/v1", "llama3")
    assert openai_endpoint("anthropic/claude-sonnet-4-5", None) is None
    assert openai_endpoint("hosted_vllm/qwen", None) is None


def test_a_project_with_no_evaluation_has_no_judge(projects_root: Path) -> None:
    from core.train import reward_plan
    from tests.test_train_common import make_ready_project

    project = make_ready_project("nojudge-rules", "grpo")
    plan = reward_plan.plan_rewards(project, "local")
    assert plan.settings["judge"] is None and plan.judge_note == reward_plan.NO_JUDGE
    assert plan.methods == {"overlap with the reference": 10, "refusal rows (the refusal reward)": 2}
    assert plan.lines[-1].strip() == reward_plan.NO_JUDGE  # said plainly in the plan
