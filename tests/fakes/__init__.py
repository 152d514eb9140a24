"""Test doubles: a local OpenAI-compatible fake LLM server and the env that points litellm at it."""

from __future__ import annotations


def fake_env(base_url: str) -> dict[str, str]:
    """Environment variables that route every tunesmith role to the fake server at ``base_url``."""
    return {
        "TUNESMITH_MODEL": "openai/fake-model",
        "TUNESMITH_API_BASE": base_url,
        "OPENAI_API_KEY": "sk-fake-test-key-not-secret",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
