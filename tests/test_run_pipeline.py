"""`tunesmith run --approve-all`: the whole pipeline headless, against a model nobody scripted.

The fake server answers every structured request with a random schema-valid instance; the base model
is a tiny Llama built on the fly. Every stage must finish, and every artifact and export must exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import fake_env
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.schema_faker import fake_instance, wants_schema

ROOT = Path(__file__).resolve().parent.parent
# secrets the run can see: none may reach a project file, a cache, a log, an export or the output
CANARIES = {"OPENAI_API_KEY": "sk-fake-test-key-not-secret", "HF_TOKEN": "hf_canaryTokenNotSecret0123456789abcd",
            "ANTHROPIC_API_KEY": "sk-ant-canary-not-secret-0123456789", "TUNESMITH_JUDGE_API_KEY": "sk-judge-canary-42"}

ARTIFACTS = [
    "project.toml",
    "knowledge/interview.toml", "knowledge/knowledge_base.toml", "knowledge/scope_boundaries.toml",
    "knowledge/input_taxonomy.toml", "knowledge/quality_criteria.toml", "knowledge/eval_set.parquet",
    "data/training_dataset/train.parquet", "data/generation_report.toml", "data/quality_log.parquet",
    "data/dataset_card.md",
]
EXPORTS = [
    "knowledge_base.json", "scope_boundaries.json", "eval_set.json", "input_taxonomy.json",
    "quality_criteria.json", "generation_report.json", "quality_log.json", "dataset_card.md",
    "evaluation_report.md", "deployment_decision.json", "detailed_results.json", "comparison_analysis.json",
    "spot_check_worksheet.md",
]


@pytest.mark.slow
def test_run_approve_all_end_to_end(tmp_path: Path) -> None:
    from tests.fakes.tiny_model import build_tiny_model

    tiny = str(build_tiny_model(tmp_path / "tiny"))
    with FakeLLMServer() as srv:
        srv.on(wants_schema, fake_instance)
        env = {**os.environ, **fake_env(srv.base_url), "TUNESMITH_PROJECTS": str(tmp_path / "projects")}
        assert env["OPENAI_API_KEY"] == CANARIES["OPENAI_API_KEY"]
        env.update(CANARIES)

        def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
            r = subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True,
                               env=env, input=stdin, cwd=ROOT, timeout=1200)
            assert "Traceback" not in r.stderr, r.stderr[-3000:]
            for name, secret in CANARIES.items():
                assert secret not in r.stdout + r.stderr, f"{name} printed by {args[0]}"
            return r

        assert cli("new", "Tax Helper", "--task", "help freelancers prepare a quarterly VAT return",
                   "--preset", "minimal").returncode == 0
        # without approvals the run stops at the first touchpoint, successfully
        r = cli("run", "tax-helper", stdin="\n" * 40)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert "stopped at a human touchpoint: approve the scope boundaries" in r.stdout
        r = cli("run", "tax-helper", "--approve-all", "--base-model", tiny, "--target", "30", "--size", "50")
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]

    folder = tmp_path / "projects" / "tax-helper"
    for rel in ARTIFACTS:
        assert (folder / rel).exists(), rel
    assert any((folder / "runs").glob("*/model/config.json")), "the trained model is saved"
    assert any((folder / "evals").glob("*/results.parquet"))
    assert any((folder / "evals").glob("*/decision.toml"))
    for name in EXPORTS:
        assert (folder / "exports" / name).exists(), name
    decision = json.loads((folder / "exports" / "deployment_decision.json").read_text())
    assert decision["verdict"] in ("review", "iterate"), "no DEPLOY without a human spot-check"
    status = json.loads(cli("status", "tax-helper", "--json").stdout)
    assert status["next"]["step"] == "spot_checked"
    for stage in ("extract", "generate", "train"):
        assert status["stages"][stage]["status"] == "done"
    scanned = 0
    for path in (tmp_path / "projects").rglob("*"):  # no secret reaches the project: files, caches, logs, exports
        if path.is_file():
            data = path.read_bytes()
            scanned += 1
            for name, secret in CANARIES.items():
                assert secret.encode() not in data, f"{name} in {path.relative_to(tmp_path)}"
    assert scanned > len(ARTIFACTS) + len(EXPORTS)
    assert any(".sqlite" in p.name for p in folder.rglob("*")), "the response cache was scanned"
