"""Which model serves each role.

Precedence for a role's model: ``TUNESMITH_<ROLE>_MODEL`` > the role in project.toml > ``TUNESMITH_MODEL``.
A role unset in all three places falls back along :data:`FALLBACKS` (weak -> generator_fast -> generator),
each fallback role resolved the same way; if nothing is found the role is unconfigured (``None``) and
callers run offline.
API bases follow the same precedence: ``TUNESMITH_<ROLE>_API_BASE`` > ``models.api_base`` >
``TUNESMITH_API_BASE``. Provider keys are never read here: they stay in the environment for litellm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from core.models.project import ModelRoles

ROLES: tuple[str, ...] = ("interviewer", "generator", "generator_fast", "weak", "judge")

FALLBACKS: dict[str, tuple[str, ...]] = {
    "interviewer": ("generator",),
    "generator": (),
    "generator_fast": ("generator",),
    "weak": ("generator_fast", "generator"),
    "judge": ("generator",),
}

# The env var holding the key litellm reads for each provider prefix (for "what to fix" messages).
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "fireworks_ai": "FIREWORKS_API_KEY",
    "huggingface": "HF_TOKEN",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
    "cohere": "COHERE_API_KEY",
    "azure": "AZURE_API_KEY",
}


@dataclass(frozen=True)
class ModelChoice:
    """A litellm model string and the API base it is served from (None = the provider's default)."""

    model: str
    api_base: str | None = None

    @property
    def provider(self) -> str:
        return provider_of(self.model)

    def __str__(self) -> str:
        return f"{self.model} @ {self.api_base}" if self.api_base else self.model


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown model role {role!r} (roles: {', '.join(ROLES)})")
    return role


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None


def _own_model(role: str, roles: ModelRoles | None, env: Mapping[str, str]) -> str | None:
    """The model set for exactly this role (env override, then project.toml), without fallbacks."""
    return _env(env, f"TUNESMITH_{role.upper()}_MODEL") or (getattr(roles, role) if roles else None) or None


def resolve(role: str, roles: ModelRoles | None = None, env: Mapping[str, str] | None = None) -> ModelChoice | None:
    """The model for ``role``, or None when no LLM is configured for it."""
    env = os.environ if env is None else env
    check_role(role)
    source = role
    model = _own_model(role, roles, env) or _env(env, "TUNESMITH_MODEL")
    for fallback in FALLBACKS[role]:
        if model:
            break
        model, source = _own_model(fallback, roles, env), fallback
    if not model:
        return None
    api_base = (
        _env(env, f"TUNESMITH_{role.upper()}_API_BASE")
        or (_env(env, f"TUNESMITH_{source.upper()}_API_BASE") if source != role else None)
        or (roles.api_base if roles else None)
        or _env(env, "TUNESMITH_API_BASE")
    )
    return ModelChoice(model=model, api_base=api_base)


def provider_of(model: str) -> str:
    """The litellm provider prefix of a model string (bare names: guessed as litellm does)."""
    if "/" in model:
        return model.split("/", 1)[0]
    for prefix, provider in (("claude", "anthropic"), ("gemini", "gemini"), ("mistral", "mistral")):
        if model.startswith(prefix):
            return provider
    return "openai"


def key_env_for(model: str) -> str:
    """The environment variable litellm reads the key from for ``model``'s provider."""
    provider = provider_of(model)
    return PROVIDER_KEY_ENV.get(provider, f"{provider.upper()}_API_KEY")


def not_configured_hint(role: str) -> str:
    return (
        f"no model is configured for the {role} role: set TUNESMITH_MODEL (e.g. anthropic/claude-sonnet-4-5 "
        f"or openai/gpt-4o-mini) or TUNESMITH_{role.upper()}_MODEL, or [models].{role} in project.toml; "
        f"for a local or OpenAI-compatible server also set TUNESMITH_API_BASE"
    )


def describe(roles: ModelRoles | None = None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """One short line per role: model, API base and whether its key is set. Never includes a key."""
    env = os.environ if env is None else env
    out: dict[str, str] = {}
    for role in ROLES:
        choice = resolve(role, roles, env)
        if choice is None:
            out[role] = "not configured (offline)"
            continue
        key_var = key_env_for(choice.model)
        key_note = "key set" if env.get(key_var) else f"{key_var} not set"
        if choice.api_base and choice.provider in ("openai", "hosted_vllm", "ollama"):
            key_note = "key set" if env.get(key_var) else "no key"
        out[role] = f"{choice} ({key_note})"
    return out


def set_session_provider(model: str, api_base: str | None = None, env: dict[str, str] | None = None) -> str:
    """Point every role without its own model at ``model`` (and ``api_base``) for this process only, by
    setting TUNESMITH_MODEL / TUNESMITH_API_BASE in its environment; nothing is written to any file, and
    the key stays where it is (the provider's variable, :func:`key_env_for`). Returns that variable's name."""
    env = os.environ if env is None else env  # type: ignore[assignment]
    model = (model or "").strip()
    if not model:
        raise ValueError("a model string is needed, e.g. anthropic/claude-sonnet-4-5 or openai/llama3.1")
    env["TUNESMITH_MODEL"] = model
    base = (api_base or "").strip()
    if base:
        env["TUNESMITH_API_BASE"] = base
    else:
        env.pop("TUNESMITH_API_BASE", None)
    return key_env_for(model)
