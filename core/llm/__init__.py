"""The LLM gateway over litellm. Importing this package does not import litellm (that happens on the
first model call)."""

from core.llm.errors import (
    BudgetExceeded,
    CircuitOpen,
    LLMError,
    LLMNotConfigured,
    ReplyTooLarge,
    StructuredOutputError,
    scrub,
)
from core.llm.gateway import Completion, Gateway, run_sync
from core.llm.settings import ROLES, ModelChoice, describe, resolve

__all__ = [
    "BudgetExceeded",
    "CircuitOpen",
    "Completion",
    "Gateway",
    "LLMError",
    "LLMNotConfigured",
    "ModelChoice",
    "ReplyTooLarge",
    "ROLES",
    "StructuredOutputError",
    "describe",
    "resolve",
    "run_sync",
    "scrub",
]
