"""`tunesmith export NAME`: the spec's named files for all four skills, only those whose source exists
(the rest listed with why), pretty JSON, nothing that looks like a key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import store
from core.evaluate.export import ALL_FILES, COMPANIONS, SKILL_FILES, export
from core.generate import pipeline_state as ps
from core.models.data import GenerationReport, QualityLogRow
from core.project import Project


def add_generation_artifacts(project: Project) -> None:
    """Skill 2's outputs, as the generate stage leaves them."""
    project.write(ps.GENERATION_REPORT, GenerationReport(phase="scale", strategy="few_shot", training_method="sft",
                                                         requested=12, generated=14, kept=12, pass_rate=12 / 14))
    rows = [QualityLogRow(example_id=f"ex{i}", phase="scale", filter="length", passed=i % 4 != 0,
                          reason_code="ok" if i % 4 else "too_short", category="billing") for i in range(8)]
    project.write_rows(ps.QUALITY_LOG, rows, QualityLogRow)
    store.atomic_write_text(project.path(ps.DATASET_CARD), "# Dataset card\n\n12 examples.\n")


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


def test_nothing_to_export_yet(projects_root: Path, capsys: pytest.CaptureFixture) -> None:
    from core.cli import main

    project = Project.create("empty-bot", "answer questions", preset="standard")
    result = export(project)
    assert result.written == [] and set(result.skipped) == set(ALL_FILES)
    assert "tunesmith boundaries empty-bot" in result.skipped["knowledge_base.json"]
    assert "tunesmith evaluate empty-bot" in result.skipped["deployment_decision.json"]
    assert main(["export", "empty-bot"]) == 1
    out, err = capsys.readouterr()
    assert "nothing to export yet" in err
    assert "skipped eval_set.json: knowledge/eval_set.parquet does not exist yet" in out
    assert main(["export", "nobody"]) == 2


def test_knowledge_and_data_exports_before_any_evaluation(projects_root: Path, monkeypatch) -> None:
    from tests.test_eval_run import add_knowledge, freeze

    secret = "sk-live-abcdefghijklmnopqrstuvwxyz123456"
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", secret)
    project = Project.create("data-bot", "answer device and billing questions", preset="standard")
    add_knowledge(project)
    from core.models.knowledge import KnowledgeBase, Statement
    from core.project import KNOWLEDGE_BASE

    kb = project.read(KNOWLEDGE_BASE, KnowledgeBase)
    kb.constraints.append(Statement(text=f"never print the key {secret}"))  # a careless note
    project.write(KNOWLEDGE_BASE, kb)
    examples = freeze(project)
    add_generation_artifacts(project)

    result = export(project)
    written = {p.name for p in result.written}
    assert written == set(SKILL_FILES["skill 1 (knowledge)"]) | set(SKILL_FILES["skill 2 (data)"]) | {"eval_set.jsonl"}
    assert set(result.skipped) == set(SKILL_FILES["skill 4 (evaluation)"])
    folder = project.folder / "exports"
    for name in written:
        text = (folder / name).read_text()
        assert secret not in text
        if name.endswith(".json"):
            assert text.startswith("{\n  ")  # pretty
            json.loads(text)
        elif name.endswith(".jsonl"):  # one compact record a line, beside the spec's JSON
            assert all(line.startswith('{"id": ') for line in text.splitlines())
    kb_json = json.loads((folder / "knowledge_base.json").read_text())
    assert kb_json["task"] == project.meta.task and "[redacted]" in json.dumps(kb_json)
    ev = json.loads((folder / "eval_set.json").read_text())
    assert ev["approved"] and ev["frozen_sha256"] and ev["size"] == len(examples) == len(ev["examples"])
    records = [json.loads(line) for line in (folder / "eval_set.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [e.id for e in examples]
    assert records[0] == {"id": examples[0].id, "input": examples[0].input, "target": examples[0].reference,
                          "category": examples[0].category, "difficulty": examples[0].difficulty,
                          "kind": examples[0].kind, "should_refuse": examples[0].should_refuse,
                          "rationale": examples[0].rationale, "provenance": examples[0].provenance}
    assert sum(r["should_refuse"] for r in records) == 5
    assert ev["out_of_scope"] == 5 and ev["counts"]["kind"]["out_of_scope"] == 5
    scope = json.loads((folder / "scope_boundaries.json").read_text())
    assert scope["will_not"][0]["text"] == "write legal contracts" and scope["approved"] is True
    qlog = json.loads((folder / "quality_log.json").read_text())
    assert qlog["by_filter"]["length"] == {"checked": 8, "passed": 6, "failed": 2, "by_reason": {"too_short": 2}}
    assert len(qlog["log"]) == 8
    assert json.loads((folder / "generation_report.json").read_text())["kept"] == 12
    assert (folder / "dataset_card.md").read_text().startswith("# Dataset card")
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temp files


def test_an_export_whose_source_broke_is_moved_to_stale_and_back_when_fixed(projects_root: Path) -> None:
    from tests.test_eval_run import add_knowledge, freeze

    project = Project.create("stale-bot", "answer device and billing questions", preset="standard")
    add_knowledge(project)
    freeze(project)
    add_generation_artifacts(project)
    folder = project.folder / "exports"
    export(project)
    earlier = (folder / "generation_report.json").read_bytes()
    source = project.path(ps.GENERATION_REPORT)
    good = source.read_bytes()
    source.write_text("kept = [[[ not toml\n")
    result = export(project)
    assert "generation_report.json" in result.unreadable
    assert not (folder / "generation_report.json").exists()  # exports/ holds only what matches the project
    assert result.stale["generation_report.json"] == folder / "stale" / "generation_report.json"
    assert (folder / "stale" / "generation_report.json").read_bytes() == earlier  # nothing lost
    assert (folder / "knowledge_base.json").exists() and not (folder / "stale" / "knowledge_base.json").exists()
    source.write_bytes(good)
    result = export(project)
    assert not result.unreadable and (folder / "generation_report.json").read_bytes() == earlier
    assert not (folder / "stale" / "generation_report.json").exists()  # superseded


def test_evaluation_exports(projects_root: Path, tiny: Path) -> None:
    from core.evaluate import evalfolder as ef
    from core.evaluate.run import decide_now, evaluate
    from tests.test_eval_run import FAST, add_knowledge, fake_run, finished_spot_check, freeze

    project = Project.create("eval-bot", "answer device and billing questions", preset="standard")
    add_knowledge(project)
    examples = freeze(project)
    fake_run(project, tiny, tiny)
    outcome = evaluate(project, params=FAST)

    # evaluated, not decided: the decision is skipped, the rest is there
    result = export(project)
    assert set(result.skipped) == {"generation_report.json", "quality_log.json", "dataset_card.md",
                                   "deployment_decision.json"}
    assert "tunesmith decide eval-bot" in result.skipped["deployment_decision.json"]

    finished_spot_check(project, outcome.eval_id)
    decision = decide_now(project)
    result = export(project)
    assert result.eval_id == outcome.eval_id
    folder = project.folder / "exports"
    assert {"deployment_decision.json", "evaluation_report.md"} <= {p.name for p in result.written}
    dd = json.loads((folder / "deployment_decision.json").read_text())
    assert dd["recommendation"] == decision.verdict.upper() and dd["verdict"] == decision.verdict
    assert dd["reasoning"] == decision.rules_fired and dd["next_steps"] == decision.next_steps
    assert dd["candidate_run"] == outcome.record.candidate.run_id
    ca = json.loads((folder / "comparison_analysis.json").read_text())
    assert ca["eval_id"] == outcome.eval_id and "by_category" in ca and "regressions" in ca
    assert ca["qualitative"]["better"] == 1 and set(ca["counts"]) == {"better", "worse", "same"}
    assert "p_value" in ca["significance"]
    detailed = json.loads((folder / "detailed_results.json").read_text())
    entry = {e["id"]: e for e in detailed["examples"]}["open00"]
    assert entry["candidate"]["method"] == "human" and "candidate: needs a human rating" in entry["flags"]
    assert entry["reference"] == examples[0].reference
    rows = [json.loads(line) for line in (folder / "detailed_results.jsonl").read_text().splitlines()]
    assert len(rows) == len(ef.read_results(project, outcome.eval_id)) == 2 * len(examples)
    assert len({tuple(r) for r in rows}) == 1  # the same keys in every record
    row = {r["id"]: r for r in rows}["open00:candidate"]
    assert row["pending"] is True and row["score"] is None and row["passed"] is None and row["method"] == "human"
    assert row["flags"] == "needs a human rating" and row["target"] == examples[0].reference
    assert all(r["score"] is not None for r in rows if not r["pending"])
    assert {p.name for p in result.written} >= set(COMPANIONS.values())
    report = (folder / "evaluation_report.md").read_text()
    assert report == ef.path(project, outcome.eval_id, ef.REPORT).read_text()
    assert "## Spot-check" in report and "6 of 6 items rated" in report
    worksheet = (folder / "spot_check_worksheet.md").read_text()
    assert worksheet.count("[x] ✓ good") == 6  # the recorded ratings are ticked
