"""`--json` on runs, doctor, generate, evaluate, decide and spot-check (docs/json.md): run through the CLI in
a subprocess on a copy of the example project, stdout is exactly one JSON document with the documented keys
and types, human lines go to stderr, and errors leave stdout empty with the usual exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "projects" / "billing-support"
SLUG = "billing-support"
DOCS = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.skipif(not (SHIPPED / "project.toml").exists(),
                                reason="projects/billing-support is missing: python bench/make_example_project.py")

NULL = type(None)
OPT_STR = (str, NULL)
OPT_FLOAT = (float, int, NULL)
OPT_BOOL = (bool, NULL)


@pytest.fixture
def copy(projects_root: Path) -> Path:
    shutil.copytree(SHIPPED, projects_root / SLUG, ignore=shutil.ignore_patterns(".cache", ".lock"))
    return projects_root


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], check=False, cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300)


def doc_of(out: subprocess.CompletedProcess, command: str) -> dict:
    assert out.returncode in (0, 1), out.stderr
    try:
        doc = json.loads(out.stdout)  # the whole of stdout: one document, nothing else
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not one JSON document ({exc}): {out.stdout!r}; stderr: {out.stderr!r}")
    assert isinstance(doc, dict)
    assert doc["schema_version"] == 1
    assert doc["command"] == command
    assert "Traceback" not in out.stderr
    return doc


def check_keys(obj: dict, spec: dict, documented: bool = True) -> None:
    for key, types in spec.items():
        assert key in obj, f"missing key {key!r} in {sorted(obj)}"
        assert isinstance(obj[key], types), f"{key}: {obj[key]!r} is not {types}"
        if isinstance(obj[key], float):
            assert obj[key] == obj[key], f"{key} is NaN"
        if documented:
            assert f"`{key}`" in DOCS, f"{key} is not documented in docs/json.md"


def test_runs_json(copy: Path) -> None:
    doc = doc_of(cli("runs", SLUG, "--json"), "runs")
    check_keys(doc, {"project": str, "runs": list})
    assert doc["project"] == SLUG and doc["runs"]
    for run in doc["runs"]:
        check_keys(run, {"id": str, "backend": str, "method": str, "status": str, "base_model": str,
                         "created_at": str, "started_at": OPT_STR, "ended_at": OPT_STR, "elapsed_s": OPT_FLOAT,
                         "failure_reason": OPT_STR, "output_model": OPT_STR, "hub_model_id": OPT_STR,
                         "job_id": OPT_STR, "use_lora": bool, "metrics": dict, "path": str}, documented=False)
        check_keys(run["metrics"], {"steps": (int, NULL), "epoch": OPT_FLOAT, "final_loss": OPT_FLOAT,
                                    "final_eval_loss": OPT_FLOAT}, documented=False)
        assert Path(run["path"]).is_dir() and (Path(run["path"]) / "run.toml").exists()
        assert f"`runs[].{'id'}`" in DOCS and "`runs[].metrics.final_loss`" in DOCS
    human = cli("runs", SLUG)
    assert human.returncode == 0 and doc["runs"][0]["id"] in human.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(human.stdout)


def test_runs_json_without_runs(projects_root: Path) -> None:
    assert cli("new", "Fresh", "--task", "answer billing questions").returncode == 0
    doc = doc_of(cli("runs", "fresh", "--json"), "runs")
    assert doc["runs"] == []


def test_doctor_json() -> None:
    out = cli("doctor", "--skip-llm", "--skip-embeddings", "--json")
    doc = doc_of(out, "doctor")
    check_keys(doc, {"ok": bool, "failed": int, "warnings": int, "checks": list})
    assert out.returncode == (0 if doc["ok"] else 1)
    assert doc["failed"] == sum(c["status"] == "error" for c in doc["checks"])
    names = [c["name"] for c in doc["checks"]]
    assert {"embeddings", "torch", "disk"} <= set(names)
    for c in doc["checks"]:
        check_keys(c, {"name": str, "status": str, "ok": bool, "message": str, "fix": str}, documented=False)
        assert c["status"] in ("ok", "warning", "error")
        assert (c["status"] == "ok") == c["ok"]
    llm = next(c for c in doc["checks"] if c["name"] == "llm")  # no LLM configured in tests: a warning
    assert llm["status"] == "warning" and llm["fix"]


PHASE_KEYS = {"requested": int, "generated": int, "kept": int, "pass_rate": (float, int), "retries": int,
              "planned_by_kind": dict, "kept_by_kind": dict, "short_cells": dict, "filters": dict,
              "rejections_by_reason": dict, "rejected_strategies": dict, "failed_strategies": dict,
              "diversity_mean_similarity": OPT_FLOAT, "diversity_max_similarity": OPT_FLOAT,
              "prompt_tokens": int, "completion_tokens": int, "cost_usd": (float, int), "seconds": (float, int),
              "started_at": OPT_STR, "finished_at": OPT_STR, "notes": list, "settings": list}


def test_generate_report_json(copy: Path) -> None:
    before = (copy / SLUG / "data" / "generation_report.toml").read_bytes()
    doc = doc_of(cli("generate", SLUG, "--report", "--json"), "generate")
    check_keys(doc, {"project": str, "ran": str, "model": str, "strategy": str, "strategy_reason": str,
                     "training_method": str, "pilot": (dict, NULL), "scale": (dict, NULL),
                     "pilot_review": (dict, NULL), "validation": (dict, NULL), "splits": dict,
                     "updated_at": OPT_STR, "paths": dict})
    assert doc["ran"] == "report"
    for phase in ("pilot", "scale"):
        assert isinstance(doc[phase], dict)
        check_keys(doc[phase], PHASE_KEYS)
        assert 0.0 <= doc[phase]["pass_rate"] <= 1.0
        for stats in doc[phase]["filters"].values():
            check_keys(stats, {"checked": int, "passed": int, "pass_rate": (float, int)}, documented=False)
    assert all(isinstance(v, int) for v in doc["splits"].values())
    check_keys(doc["paths"], {"report": str, "dataset": OPT_STR, "dataset_card": OPT_STR, "quality_log": OPT_STR})
    assert Path(doc["paths"]["report"]).exists()
    assert (copy / SLUG / "data" / "generation_report.toml").read_bytes() == before, "--report wrote the report"
    human = cli("generate", SLUG, "--report")
    assert human.returncode == 0 and "generation report:" in human.stdout


def test_generate_report_json_before_any_pilot(projects_root: Path) -> None:
    assert cli("new", "Fresh", "--task", "answer billing questions").returncode == 0
    doc = doc_of(cli("generate", "fresh", "--report", "--json"), "generate")
    assert doc["pilot"] is None and doc["scale"] is None and doc["paths"]["report"] is None


def test_evaluate_summary_json(copy: Path) -> None:
    doc = doc_of(cli("evaluate", SLUG, "--summary", "--json"), "evaluate")
    model = {"spec": str, "kind": str, "model": str, "run_id": OPT_STR, "adapter_base": OPT_STR, "api_base": OPT_STR}
    check_keys(doc, {"project": str, "eval_id": str, "status": str, "created_at": str, "finished_at": OPT_STR,
                     "base": dict, "candidate": dict, "n_examples": int, "n_paired": int, "n_pending": int,
                     "n_judge_excluded": int, "base_score": OPT_FLOAT, "candidate_score": OPT_FLOAT,
                     "improvement": OPT_FLOAT, "improvement_relative": OPT_FLOAT, "base_pass_rate": OPT_FLOAT,
                     "candidate_pass_rate": OPT_FLOAT, "better": int, "worse": int, "same": int,
                     "p_value": OPT_FLOAT, "test": OPT_STR, "ci_low": OPT_FLOAT, "ci_high": OPT_FLOAT,
                     "refusal_accuracy": OPT_FLOAT, "base_refusal_accuracy": OPT_FLOAT, "n_should_refuse": int,
                     "leaked": list, "judge_status": str, "judge_model": OPT_STR, "judge_usable": OPT_BOOL,
                     "notes": list, "headline": list, "folder": str, "files": list})
    check_keys(doc["base"], model, documented=False)
    check_keys(doc["candidate"], model, documented=False)
    assert doc["status"] == "completed"
    assert (Path(doc["folder"]) / "eval.toml").exists() and "eval.toml" in doc["files"]
    same = doc_of(cli("evaluate", SLUG, "--summary", "--eval", doc["eval_id"], "--json"), "evaluate")
    assert same == doc
    human = cli("evaluate", SLUG, "--summary")
    assert human.returncode == 0 and f"evaluation {doc['eval_id']}" in human.stdout


def test_decide_json(copy: Path) -> None:
    out = cli("decide", SLUG, "--json")
    doc = doc_of(out, "decide")
    assert out.returncode == 0
    check_keys(doc, {"project": str, "eval_id": str, "verdict": str, "weighted_score": (float, int),
                     "reasons": list, "passed_checks": list, "details": list, "next_steps": list,
                     "rules_fired": list, "improvement": OPT_FLOAT, "improvement_relative": OPT_FLOAT,
                     "improvement_unit": OPT_STR, "p_value": OPT_FLOAT, "refusal_accuracy": OPT_FLOAT,
                     "concerning": (int, NULL), "pending": list, "dimensions": dict, "missing_dimensions": list,
                     "missing_why": dict, "weight_covered": OPT_FLOAT, "judge_usable": OPT_BOOL,
                     "decided_at": OPT_STR, "files": dict})
    assert doc["verdict"] in ("deploy", "review", "iterate")
    assert all(isinstance(x, str) for key in ("reasons", "passed_checks", "details", "next_steps")
               for x in doc[key])
    check_keys(doc["files"], {"decision": str, "report": str}, documented=False)
    assert Path(doc["files"]["decision"]).exists() and Path(doc["files"]["report"]).exists()
    from core import store
    from core.models.runs import Decision

    saved = store.read_toml(Path(doc["files"]["decision"]), Decision)
    assert saved.verdict == doc["verdict"] and saved.reasons == doc["reasons"]


SPOT_KEYS = {"project": str, "eval_id": str, "total": int, "rated": int, "remaining": int, "rated_now": int,
             "concerning": int, "by_rating": dict, "trusted": int, "distrusted": int, "comparisons": int,
             "preferred": dict, "finished": bool, "agreement": (dict, NULL), "items": list, "file": str, "next": str}


def test_spot_check_json_summary_without_input(copy: Path) -> None:
    out = cli("spot-check", SLUG, "--json")  # stdin: empty (no ratings)
    doc = doc_of(out, "spot-check")
    assert out.returncode == 0
    check_keys(doc, SPOT_KEYS)
    assert doc["finished"] is True and doc["remaining"] == 0 and doc["rated"] == doc["total"] > 0
    assert doc["rated_now"] == 0
    assert doc["concerning"] == doc["by_rating"]["concerning"] + doc["by_rating"]["bad"]
    assert sum(doc["by_rating"].values()) == doc["rated"]
    for item in doc["items"]:
        check_keys(item, {"example_id": str, "group": str, "why": str, "rating": OPT_STR, "trust": OPT_BOOL,
                          "preferred": OPT_STR, "note": str}, documented=False)
    assert "spot-check finished" in out.stderr  # the human lines went to stderr


def test_spot_check_json_rates_from_stdin(copy: Path) -> None:
    from core.evaluate import evalfolder as ef
    from core.project import Project

    project = Project.open(SLUG)
    eid = ef.latest_eval(project)
    spot = ef.read_spot_check(project, eid)
    for item in spot.items[-2:]:
        item.rating, item.trust, item.preferred, item.note = None, None, None, ""
    spot.finished, spot.finished_at = False, None
    with project.writing():
        ef.write_spot_check(project, eid, spot)

    out = cli("spot-check", SLUG, "--json", stdin="y trust fine\n")
    doc = doc_of(out, "spot-check")
    assert out.returncode == 0
    check_keys(doc, SPOT_KEYS)
    assert doc["rated_now"] == 1 and doc["remaining"] == 1 and doc["finished"] is False
    assert doc["next"] == f"tunesmith spot-check {SLUG}"
    rated = {i["example_id"]: i for i in doc["items"]}
    assert rated[spot.items[-2].example_id]["rating"] == "good"
    assert rated[spot.items[-1].example_id]["rating"] is None
    assert spot.items[-2].example_id in out.stderr  # the item was shown on stderr

    bad = cli("spot-check", SLUG, "--json", stdin="what?\n")
    assert bad.returncode == 2 and bad.stdout == "" and "stdin line 1" in bad.stderr

    done = doc_of(cli("spot-check", SLUG, "--json", stdin="n distrust made up a fee\n"), "spot-check")
    assert done["finished"] is True and done["remaining"] == 0 and done["rated_now"] == 1


@pytest.mark.parametrize("args", [
    ("runs", "nope", "--json"),
    ("generate", "nope", "--report", "--json"),
    ("evaluate", "nope", "--summary", "--json"),
    ("decide", "nope", "--json"),
    ("spot-check", "nope", "--json"),
])
def test_errors_leave_stdout_empty(projects_root: Path, args: tuple[str, ...]) -> None:
    out = cli(*args)
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.startswith(f"tunesmith {args[0]}:") and "Traceback" not in out.stderr


def test_evaluate_summary_before_any_evaluation(projects_root: Path) -> None:
    assert cli("new", "Fresh", "--task", "answer billing questions").returncode == 0
    out = cli("evaluate", "fresh", "--summary", "--json")
    assert out.returncode != 0 and out.stdout == "" and "no completed evaluation" in out.stderr
    assert cli("evaluate", "fresh", "--eval", "x").returncode == 2


def test_evaluate_json_runs_an_evaluation(projects_root: Path) -> None:
    """`evaluate NAME --json` (a real run, two served models on a local fake server): progress on stderr, the
    document on stdout, the same as `--summary --json` of that evaluation."""
    from core.project import Project
    from tests.fakes.llm_server import FakeLLMServer, request_text
    from tests.test_eval_run import freeze

    project = Project.create("served-bot", "answer device and billing questions", preset="standard")
    freeze(project)
    with FakeLLMServer(latency=0.0) as server:
        server.on(lambda req: req.get("model") == "cand-bot", lambda req: f"candidate: {request_text(req)[:30]}")
        server.on(lambda req: req.get("model") == "base-bot", lambda req: f"base: {request_text(req)[:30]}")
        url = server.base_url
        out = cli("evaluate", project.slug, "--base", f"openai:base-bot@{url}", "--candidate", f"openai:cand-bot@{url}",
                  "--max-new-tokens", "8", "--json")
    doc = doc_of(out, "evaluate")
    assert out.returncode == 0, out.stderr
    assert f"evaluation {doc['eval_id']}" in out.stderr  # the progress lines
    assert doc["candidate"]["model"] == "openai/cand-bot" and doc["base"]["model"] == "openai/base-bot"
    summary = doc_of(cli("evaluate", project.slug, "--summary", "--json"), "evaluate")
    assert summary == doc
