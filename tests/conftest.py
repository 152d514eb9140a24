"""Shared fixtures. No test reaches a real provider or the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_LLM_ENV = ("TUNESMITH_MODEL", "TUNESMITH_API_BASE", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL")
_ROLES = ("INTERVIEWER", "GENERATOR", "GENERATOR_FAST", "WEAK", "JUDGE")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts with no LLM configured and its own projects folder."""
    for name in _LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    for role in _ROLES:
        monkeypatch.delenv(f"TUNESMITH_{role}_MODEL", raising=False)
        monkeypatch.delenv(f"TUNESMITH_{role}_API_BASE", raising=False)
    monkeypatch.setenv("TUNESMITH_PROJECTS", str(tmp_path / "projects"))


@pytest.fixture
def projects_root(tmp_path: Path) -> Path:
    root = tmp_path / "projects"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch):
    """A local OpenAI-compatible server; the environment points every role at it."""
    from tests.fakes import fake_env
    from tests.fakes.llm_server import FakeLLMServer

    with FakeLLMServer() as server:
        for key, value in fake_env(server.base_url).items():
            monkeypatch.setenv(key, value)
        yield server
