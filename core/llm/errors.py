"""Errors of the LLM gateway. Every message goes through :func:`scrub`, so none carries an API key."""

from __future__ import annotations

import os
import re

from core.errors import TunesmithError

REDACTED = "[redacted]"

_KEY_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),  # OpenAI, Anthropic (sk-ant-...), many proxies
    re.compile(r"\bhf_[A-Za-z0-9]{6,}"),  # Hugging Face
    re.compile(r"\b(?:gsk|xai|r8|pplx|nvapi|fw)[_-][A-Za-z0-9_\-]{10,}"),  # Groq, xAI, Replicate, ...
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),  # Google
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|access[_-]?token|secret|password|authorization)"
               r"[\"']?\s*[:=]\s*[\"']?)(?!(?i:bearer|basic)\b|\[redacted\])[^\s\"',}&]{6,}"),
]
_SECRET_ENV = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD)")


def _env_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8]


def scrub(text: object) -> str:
    """Return ``text`` with anything that looks like a key or token replaced by ``[redacted]``."""
    out = str(text)
    for secret in _env_secrets():
        if secret in out:
            out = out.replace(secret, REDACTED)
    for rx in _KEY_PATTERNS:
        if rx.groups:
            out = rx.sub(lambda m: m.group(1) + (" " if m.group(1).lower() in ("bearer", "basic") else "")
                         + REDACTED, out)
        else:
            out = rx.sub(REDACTED, out)
    return out


class LLMError(TunesmithError):
    """A model call failed in a way retrying will not fix, or after retries ran out."""

    def __init__(self, message: object, status: int | None = None):
        self.status = status
        super().__init__(scrub(message))


class LLMNotConfigured(LLMError):
    """No model is configured for a role."""

    exit_code = 2


class BudgetExceeded(LLMError):
    """The run spent its budget cap; it pauses instead of spending more."""


class ReplyTooLarge(LLMError):
    """A reply longer than the call can have asked for (see core.llm.gateway.reply_limit): not retried,
    since asking again gets the same; the call counts as failed with this reason."""


class CircuitOpen(LLMError):
    """The provider keeps failing; calls are refused until someone fixes it and resumes."""


class StructuredOutputError(LLMError):
    """The model did not produce valid output for a schema after every attempt."""

    def __init__(self, schema: str, last_error: object, attempts: int):
        self.schema = schema
        self.attempts = attempts
        super().__init__(
            f"the model did not return a valid {schema} after {attempts} attempt"
            f"{'s' if attempts != 1 else ''} (last error: {last_error})"
        )
