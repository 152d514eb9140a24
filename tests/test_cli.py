"""The headless CLI contract: output, exit codes, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, input=stdin, timeout=120)


def test_new_list_status(capsys: pytest.CaptureFixture) -> None:
    assert main(["new", "Billing Bot", "--task", "answer billing questions", "--preset", "minimal",
                 "--method", "dpo"]) == 0
    out = capsys.readouterr().out
    assert "created billing-bot" in out and "method dpo" in out
    assert main(["list"]) == 0
    assert "billing-bot" in capsys.readouterr().out
    assert main(["status", "billing-bot", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["training_method"] == "dpo" and data["preset"] == "minimal"
    assert data["next"]["stage"] == "extract" and data["stages"]["train"]["status"] == "pending"
    assert main(["status", "billing-bot"]) == 0
    assert "next:" in capsys.readouterr().out


def test_bad_input_exits_2_without_traceback() -> None:
    r = run("status", "missing")
    assert r.returncode == 2 and "no project 'missing'" in r.stderr and "Traceback" not in r.stderr
    r = run("new", "x")
    assert r.returncode == 2 and "--task" in r.stderr
    r = run("new", "x", "--task", "t", "--method", "ppo")
    assert r.returncode == 2


def test_corrupt_project_names_file_and_field(tmp_path: Path) -> None:
    assert run("new", "Bot", "--task", "t").returncode == 0
    path = Path(os.environ["TUNESMITH_PROJECTS"]) / "bot" / "project.toml"
    path.write_text(path.read_text().replace("pilot_size = 100", "pilot_size = 7"))
    before = path.read_bytes()
    r = run("status", "bot")
    assert r.returncode == 2
    assert str(path) in r.stderr and "config.generate.pilot_size" in r.stderr
    assert "Traceback" not in r.stderr
    assert path.read_bytes() == before


def test_doctor_without_llm(capsys: pytest.CaptureFixture) -> None:
    code = main(["doctor", "--skip-embeddings"])
    out = capsys.readouterr().out
    assert "no LLM configured" in out and "TUNESMITH_MODEL" in out
    assert "torch" in out and "disk" in out
    assert code in (0, 1)


def test_doctor_with_fake_llm(fake_llm, capsys: pytest.CaptureFixture) -> None:
    main(["doctor", "--skip-embeddings"])
    out = capsys.readouterr().out
    assert "call openai/fake-model" in out and "answered in" in out
    assert len(fake_llm.requests) == 1


def test_doctor_reports_unreachable_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("TUNESMITH_MODEL", "openai/fake-model")
    monkeypatch.setenv("TUNESMITH_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")
    assert main(["doctor", "--skip-embeddings"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "TUNESMITH_API_BASE" in out
    assert "sk-test-not-a-secret" not in out


@pytest.mark.slow
def test_doctor_loads_embeddings(capsys: pytest.CaptureFixture) -> None:
    main(["doctor", "--skip-llm"])
    out = capsys.readouterr().out
    assert "dim 384" in out
