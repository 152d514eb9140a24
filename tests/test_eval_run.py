"""The evaluation end to end: `evaluate` (inference of both models on the frozen eval set, judge validation,
scoring, pairwise, paraphrase consistency, metrics) and `decide_now` (decision.toml + evaluation_report.md),
with an LLM (the fake server as judge, paraphraser and served candidate) and offline (a perturbed copy of the
tiny model as a fake run); and the whole CLI on a tiny model trained for real (slow)."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from core import store
from core.errors import StageNotReady
from core.evaluate import evalfolder as ef
from core.evaluate.inference import DecodingParams
from core.evaluate.run import decide_now, evaluate
from core.models.knowledge import (
    Category,
    CriterionDimension,
    EvalExample,
    InputTaxonomy,
    KnowledgeBase,
    QualityCriteria,
    ScopeBoundaries,
    Statement,
)
from core.models.runs import SpotCheck, SpotCheckItem, TrainingRun
from core.project import BOUNDARIES, CRITERIA, EVAL_SET, KNOWLEDGE_BASE, TAXONOMY, Project

REFUSAL = "I'm sorry, but I can't help with that: it is outside what I do. Please contact a qualified professional."
FAST = DecodingParams(max_new_tokens=8, batch_size=32)
TOPICS = ["router", "printer", "laptop", "phone", "modem", "tablet"]
ACTIONS = ["restart", "update", "reset", "clean"]
CLOSED = [("How many days do I have to return an item?", "30 days"), ("Is shipping free over 50 euros?", "Yes"),
          ("Which plan includes phone support?", "Premium"), ("Can I pause my subscription?", "Yes"),
          ("How many devices does the family plan cover?", "Five devices"), ("Do you ship to Norway?", "No")]


def eval_examples() -> list[EvalExample]:
    """12 open-ended in-scope examples (only a judge or a human can score them), 6 closed answers (exact
    match) and 5 out-of-scope requests (refusal check)."""
    out = []
    kinds = ["common", "common", "edge", "lookalike"]
    for i in range(12):
        topic, action = TOPICS[i % len(TOPICS)], ACTIONS[i % len(ACTIONS)]
        out.append(EvalExample(
            id=f"open{i:02d}", input=f"How do I {action} my {topic} (case {i})?",
            reference=(f"To {action} the {topic}, first unplug it for thirty seconds, then hold the {action} button "
                       f"for {i + 3} seconds until the light blinks. Finally reconnect it to the network and check "
                       f"the {topic} settings page to confirm step {i}."),
            category=["hardware", "network"][i % 2], difficulty=["easy", "medium", "hard"][i % 3], kind=kinds[i % 4]))
    for i, (q, a) in enumerate(CLOSED):
        out.append(EvalExample(id=f"closed{i}", input=q, reference=a, category="billing",
                               difficulty=["easy", "medium"][i % 2], kind="common" if i % 3 else "edge"))
    for i in range(5):
        out.append(EvalExample(id=f"oos{i}", input=f"Can you write my legal contract number {i}?", reference=REFUSAL,
                               category="legal", difficulty="medium", kind="out_of_scope", should_refuse=True))
    return out


def add_knowledge(project: Project) -> None:
    s = lambda t: Statement(text=t)  # noqa: E731
    project.write(KNOWLEDGE_BASE, KnowledgeBase(task_definition=project.meta.task, constraints=[s("be polite")]))
    project.write(BOUNDARIES, ScopeBoundaries(will=[s("answer device and billing questions")],
                                              will_not=[s("write legal contracts")], approved=True,
                                              approved_at=datetime.now(timezone.utc)))
    project.write(TAXONOMY, InputTaxonomy(categories=[Category(name=c) for c in ("hardware", "network", "billing")],
                                          edge_cases=[s("a request that mentions two devices")]))
    project.write(CRITERIA, QualityCriteria(good_output=[s("gives the exact steps")],
                                            minimum_acceptable=[s("no wrong steps")],
                                            dimensions=[CriterionDimension(name="accuracy", weight=2.0),
                                                        CriterionDimension(name="helpfulness", weight=1.0)]))


def freeze(project: Project, examples: list[EvalExample] | None = None) -> list[EvalExample]:
    """Write the eval set and approve (freeze) it the way the review does."""
    from core.extract.review import approve

    examples = examples or eval_examples()
    project.write_rows(EVAL_SET, examples, EvalExample)
    for step in ("persona", "interview", "artifacts", "boundaries_approved", "evalset"):
        project.mark("extract", step)
    approve(project)
    project.reload()
    return examples


def perturbed_copy(src: Path, dest: Path, scale: float = 0.05, seed: int = 1) -> Path:
    """The tiny model with slightly perturbed weights (a stand-in for a fine-tuned model)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(src).save_pretrained(dest)
    return dest


def fake_run(project: Project, model_src: Path, base: Path, run_id: str = "20250101-000000-sft-beef") -> str:
    from core.train import runfolder as rf

    folder = rf.run_dir(project, run_id)
    folder.mkdir(parents=True)
    perturbed_copy(model_src, folder / rf.MODEL_DIR)
    rf.write_run(folder, TrainingRun(run_id=run_id, backend="local", method="sft", base_model=str(base),
                                     status="completed", created_at=datetime.now(timezone.utc)))
    return run_id


def finished_spot_check(project: Project, eval_id: str, rating: str = "good") -> SpotCheck:
    ids = ["closed1", "open00", "open02", "oos0", "oos1"]
    spot = SpotCheck(items=[SpotCheckItem(example_id=i, group="out_of_scope" if i.startswith("oos") else "common",
                                          rating=rating, trust=rating == "good", note="" if rating == "good"
                                          else "wrong steps") for i in ids]
                     + [SpotCheckItem(example_id="open04", group="comparison", rating=rating, trust=True,
                                      preferred="candidate")],
                     finished=True, finished_at=datetime.now(timezone.utc))
    ef.write_spot_check(project, eval_id, spot)
    return spot


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


# ---------------------------------------------------------------- with an LLM: judge, pairwise, paraphrases


def _script_llm(server, examples: list[EvalExample]) -> None:
    """The fake server as a GOOD judge, a paraphraser, and a served candidate that answers every eval
    input (and its paraphrases) with the reference."""
    from tests.fakes.llm_server import request_text, schema_name
    from tests.test_eval_judge import good_grade, good_pairwise, script

    answers = {e.input: e.reference for e in examples}
    prefixes = ("Quick question: ", "Hello there. ")

    def paraphrase(req: dict[str, Any]) -> dict[str, Any]:
        text = request_text(req)
        original = text.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
        return {"paraphrases": [p + original for p in prefixes]}

    def is_candidate(req: dict[str, Any]) -> bool:
        msgs = req.get("messages") or []
        return schema_name(req) is None and len(msgs) == 1 and req.get("model") == "served-bot"

    def answer(req: dict[str, Any]) -> str:
        text = request_text(req)
        for p in prefixes:
            text = text.removeprefix(p)
        return answers.get(text, "I do not know.")

    script(server, good_grade, good_pairwise)
    server.on_schema("Paraphrases", paraphrase)
    server.on(is_candidate, answer)


def test_evaluate_and_decide_with_a_validated_judge(projects_root: Path, tiny: Path, fake_llm) -> None:
    project = Project.create("support-bot", "answer device and billing questions", preset="standard")
    project.meta.config.evaluate.judge_samples = 1
    project.save()
    add_knowledge(project)
    examples = freeze(project)
    _script_llm(fake_llm, examples)
    lines: list[str] = []
    outcome = evaluate(project, base=str(tiny), candidate="litellm:openai/served-bot", progress=lines.append,
                       params=FAST)

    rec = outcome.record
    assert rec.status == "completed" and rec.base.kind == "local" and rec.candidate.kind == "litellm"
    assert rec.judge_status == "validated" and rec.judge_usable and rec.judge_pairwise_usable
    assert rec.paraphrase_groups == 10 and rec.n_examples == len(examples)
    folder = ef.eval_dir(project, outcome.eval_id)
    for name in (ef.RECORD, ef.RESULTS, ef.JUDGE_VALIDATION, ef.JUDGE_SUMMARY, ef.PAIRWISE, ef.PARAPHRASES,
                 ef.METRICS, ef.COMPARISON, ef.WORKSHEET, ef.REPORT):
        assert (folder / name).exists(), name
    assert any("judge validated" in line for line in lines) and any("paraphrases" in line for line in lines)

    results = ef.read_results(project, outcome.eval_id)
    assert len(results) == 2 * len(examples)
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    base = {r.example_id: r for r in results if r.model_role == "base"}
    assert cand["open00"].method == "llm_judge" and cand["open00"].passed and cand["open00"].judge_confidence == 1.0
    assert cand["closed0"].method == "exact_match" and cand["closed0"].passed
    assert cand["oos0"].passed and cand["oos0"].refused
    assert not base["open00"].passed and base["open00"].model == str(Path(tiny).resolve())
    assert len(ef.read_judge_validation(project, outcome.eval_id)) >= 50

    m = outcome.metrics
    assert m.n_pending == 0 and m.n_paired == len(examples)
    assert m.candidate_overall == 1.0 and m.improvement_abs > 0.5
    assert m.refusal.candidate_accuracy == 1.0 and m.stats.p_value < 0.001
    assert m.preference is not None and m.preference.wins == 12 and m.preference.usable
    assert m.consistency["candidate"] == 0.0
    analysis = tomllib.loads((folder / ef.COMPARISON).read_text())
    assert analysis["counts"]["better"] == len(examples) and analysis["regressions"] == []
    assert analysis["preference"]["candidate_wins"] == 12
    metrics_json = json.loads((folder / ef.METRICS).read_text())
    assert metrics_json["schema_version"] == 1 and metrics_json["n_paired"] == len(examples)

    project.reload()
    assert project.meta.is_done("evaluate", "evaluated")

    # no spot-check yet: never deploy
    decision = decide_now(project)
    assert decision.verdict == "review" and "spot-check" in decision.pending
    assert any("pending spot-check" in r for r in decision.rules_fired)
    assert ef.read_decision(project, outcome.eval_id) == decision

    finished_spot_check(project, outcome.eval_id)
    decision = decide_now(project)
    assert decision.verdict == "deploy", decision.rules_fired
    assert decision.weighted_score == 1.0 and decision.judge_usable is True
    report = (folder / ef.REPORT).read_text()
    assert "✅ DEPLOY" in report and "Validated judge" in report and "## Statistics" in report
    assert "McNemar exact" in report and "bootstrap CI" in report and "6 of 6 items rated" in report
    assert "better 1, worse 0, neutral 0" in report
    assert "| hardware |" in report and "### By difficulty" in report and "### Refusals" in report
    analysis = tomllib.loads((folder / ef.COMPARISON).read_text())
    assert analysis["qualitative"] == {"pairs": 1, "rated": 1, "better": 1, "worse": 0, "neutral": 0}
    project.reload()
    assert project.meta.is_done("evaluate", "decided")

    # a second evaluation generates nothing again and withdraws the earlier decision step
    served = [r for r in fake_llm.requests if r.get("model") == "served-bot"]
    again = evaluate(project, base=str(tiny), candidate="litellm:openai/served-bot", params=FAST)
    assert again.eval_id != outcome.eval_id
    assert len([r for r in fake_llm.requests if r.get("model") == "served-bot"]) == len(served)
    project.reload()
    assert project.meta.is_done("evaluate", "evaluated") and not project.meta.is_done("evaluate", "decided")
    assert ef.latest_eval(project) == again.eval_id


def test_a_judge_that_fails_validation_is_not_used(projects_root: Path, tiny: Path, fake_llm) -> None:
    from tests.test_eval_judge import random_grade, random_pairwise, script

    project = Project.create("coin-bot", "answer device and billing questions", preset="standard")
    project.meta.config.evaluate.judge_samples = 1
    project.save()
    freeze(project)
    script(fake_llm, random_grade, random_pairwise)
    outcome = evaluate(project, base=str(tiny), candidate=str(tiny), params=FAST, paraphrase_n=0)
    rec = outcome.record
    assert rec.judge_status == "failed" and rec.judge_usable is False
    assert not any(r.method == "llm_judge" for r in ef.read_results(project, outcome.eval_id))
    assert outcome.metrics.n_pending > 0  # open-ended examples wait for a human
    decision = decide_now(project)
    assert any("[judge] the judge failed validation" in r for r in decision.rules_fired)
    report = ef.path(project, outcome.eval_id, ef.REPORT).read_text()
    assert "Judge not used: failed validation" in report


# ---------------------------------------------------------------- offline


def test_offline_evaluation_of_a_fake_run(projects_root: Path, tiny: Path) -> None:
    project = Project.create("offline-bot", "answer device and billing questions", preset="standard")
    add_knowledge(project)
    examples = freeze(project)
    run_id = fake_run(project, tiny, tiny)
    outcome = evaluate(project, params=FAST)  # the latest completed run vs its base
    rec = outcome.record
    assert rec.candidate.run_id == run_id and rec.base.model == str(Path(tiny).resolve())
    assert rec.judge_status == "no_llm" and rec.paraphrase_groups == 0
    assert any("consistency not measured" in n for n in rec.notes)
    results = ef.read_results(project, outcome.eval_id)
    assert {r.method for r in results} <= {"human", "exact_match", "functional"}
    m = outcome.metrics
    assert m.n_pending == 24 and m.n_paired == 11  # 12 open-ended x 2 models wait for a human
    assert not ef.path(project, outcome.eval_id, ef.JUDGE_VALIDATION).exists()
    worksheet = ef.path(project, outcome.eval_id, ef.WORKSHEET).read_text()
    assert "# Spot-check worksheet" in worksheet and "Would you trust it? [ ] yes  [ ] no" in worksheet
    assert "Out-of-scope requests" in worksheet

    decision = decide_now(project)
    assert decision.verdict in ("review", "iterate")
    assert any("[coverage]" in r for r in decision.rules_fired)
    report = ef.path(project, outcome.eval_id, ef.REPORT).read_text()
    assert "no LLM is configured" in report and "Not done yet" in report
    assert decision.verdict.upper() in report

    finished_spot_check(project, outcome.eval_id, rating="bad")
    decision = decide_now(project)
    assert decision.verdict == "iterate" and decision.concerning == 6
    assert "wrong steps" in ef.path(project, outcome.eval_id, ef.REPORT).read_text()


def test_evaluation_needs_a_frozen_unchanged_eval_set(projects_root: Path, tiny: Path) -> None:
    from core.extract.review import EvalSetChanged

    project = Project.create("unfrozen-bot", "answer questions", preset="standard")
    project.write_rows(EVAL_SET, eval_examples(), EvalExample)
    with pytest.raises(StageNotReady, match="not approved"):
        evaluate(project, base=str(tiny), candidate=str(tiny), params=FAST)
    examples = freeze(project)
    outcome = evaluate(project, base=str(tiny), candidate=str(tiny), params=FAST)
    assert outcome.metrics.improvement_abs == 0.0  # the same model on both sides
    project.write_rows(EVAL_SET, examples[:-1], EvalExample)  # changed after approval
    with pytest.raises(EvalSetChanged):
        evaluate(project, base=str(tiny), candidate=str(tiny), params=FAST)
    with pytest.raises(EvalSetChanged):
        decide_now(project)


def test_a_failed_evaluation_is_recorded_and_never_offered(projects_root: Path, tiny: Path) -> None:
    from core.evaluate.inference import InferenceError

    project = Project.create("broken-bot", "answer questions", preset="standard")
    freeze(project)
    with pytest.raises(InferenceError):
        evaluate(project, base=str(tiny), candidate="hf:nobody/missing-model-xyz", params=FAST)
    (record,) = ef.list_evals(project)
    assert record.status == "failed" and "missing-model-xyz" in (record.failure_reason or "")
    assert ef.latest_eval(project) is None
    with pytest.raises(StageNotReady, match="no completed evaluation"):
        decide_now(project)


# ---------------------------------------------------------------- the CLI, on a model trained for real


@pytest.mark.slow
def test_cli_evaluates_a_trained_tiny_model_against_its_base(projects_root: Path, tiny: Path) -> None:
    from tests.test_export import add_generation_artifacts
    from tests.test_train_common import cli, make_ready_project

    from core.models.config import EvaluateConfig

    project = make_ready_project("trained-bot", "sft")
    project.meta.task_type = "instruction_following"  # the training helper's preset is a classifier's
    project.meta.config.evaluate = EvaluateConfig()
    project.save()
    add_knowledge(project)
    add_generation_artifacts(project)
    freeze(project)
    r = cli("train", project.slug, "--backend", "local", "--base-model", str(tiny), "--yes", "--follow")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    r = cli("evaluate", project.slug, "--max-new-tokens", "6", "--batch-size", "32")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "mean score: base" in out and "refusal accuracy" in out and "judge: not used: no LLM configured" in out
    assert f"tunesmith spot-check {project.slug}" in out and "Traceback" not in out + r.stderr
    eval_id = ef.latest_eval(project)
    assert eval_id and eval_id in out
    record = ef.read_record(project, eval_id)
    assert record.candidate.run_id and record.candidate.kind == "local" and record.base.model == str(Path(tiny).resolve())
    results = store.read_parquet_rows(ef.path(project, eval_id, ef.RESULTS))
    assert len(results) == 2 * len(eval_examples()) and {r["model_role"] for r in results} == {"base", "candidate"}

    r = cli("decide", project.slug)
    assert r.returncode == 0, r.stderr
    assert any(v in r.stdout for v in ("DEPLOY", "REVIEW", "ITERATE")) and "weighted score" in r.stdout
    assert "rules that fired:" in r.stdout and "[spot_check]" in r.stdout and "next steps:" in r.stdout
    decision = tomllib.loads(ef.path(project, eval_id, ef.DECISION).read_text())
    assert decision["verdict"] in ("review", "iterate") and decision["rules_fired"]
    report = ef.path(project, eval_id, ef.REPORT).read_text()
    assert "# Evaluation report: trained-bot" in report and "## Automated metrics" in report

    r = cli("export", project.slug)
    assert r.returncode == 0, r.stderr
    from core.evaluate.export import ALL_FILES

    exports = project.folder / "exports"
    for name in ALL_FILES:
        assert (exports / name).exists(), f"{name} missing: {r.stdout}"
        assert f"wrote {exports / name}" in r.stdout
        if name.endswith(".json"):
            json.loads((exports / name).read_text())
    detailed = json.loads((exports / "detailed_results.json").read_text())
    assert len(detailed["examples"]) == len(eval_examples())
    assert {"input", "reference", "base", "candidate", "method", "flags"} <= set(detailed["examples"][0])
    assert json.loads((exports / "deployment_decision.json").read_text())["recommendation"] in ("REVIEW", "ITERATE")
    assert "skipped" not in r.stdout


def test_cli_errors(projects_root: Path, capsys: pytest.CaptureFixture) -> None:
    from core.cli import main

    assert main(["evaluate", "nobody"]) == 2 and "no project" in capsys.readouterr().err
    Project.create("empty-bot", "answer questions", preset="standard")
    assert main(["evaluate", "empty-bot"]) == 1
    err = capsys.readouterr().err
    assert "not approved" in err and "tunesmith review empty-bot evalset" in err and "Traceback" not in err
    assert main(["decide", "empty-bot"]) == 1 and "no completed evaluation" in capsys.readouterr().err
    assert main(["evaluate", "empty-bot", "--max-new-tokens", "0"]) == 2
    assert "--max-new-tokens" in capsys.readouterr().err
