"""A line that says when no LLM is configured, and what to configure."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from tui.messages import LlmStatus
from tui.workers import background

NO_LLM_SHORT = "No LLM configured: press ctrl+l to set the provider for this session."
NO_LLM = (
    "No LLM configured: press ctrl+l to set the provider for this session (a model string such as "
    "anthropic/claude-sonnet-4-5 or ollama/llama3.1, and an API base for a local server; the key is read "
    "from the provider's environment variable, never stored); the interview still runs on the built-in "
    "question bank. CLI: set TUNESMITH_MODEL (and TUNESMITH_API_BASE) before starting."
)


def resolve_llm(role: str = "interviewer", roles: Any = None) -> Any:
    """core.llm.settings.resolve, or None when the gateway is not there (not configured)."""
    try:
        from core.llm.settings import resolve
    except ImportError:
        return None
    if roles is None:
        from core.models.project import ModelRoles

        roles = ModelRoles()
    return resolve(role, roles)


def model_name(choice: Any) -> str | None:
    if choice is None:
        return None
    for attr in ("model", "name"):
        value = getattr(choice, attr, None)
        if isinstance(value, str):
            return value
    return str(choice)


class LLMBanner(Static):
    """Hidden while an LLM is configured. ``check(roles)`` looks it up off the UI thread."""

    DEFAULT_CSS = """
    LLMBanner {
        display: none;
        height: auto;
        padding: 0 1;
        background: $warning 15%;
        color: $text-warning;
    }
    LLMBanner.-shown { display: block; }
    """

    def __init__(self, role: str = "interviewer", *, short: bool = False, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)
        self.role = role
        self.short = short
        self.configured: bool | None = None
        self.model: str | None = None

    def check(self, roles: Any = None) -> None:
        self._check(roles)

    @background("llm-status")
    def _check(self, roles: Any) -> None:
        try:
            choice = resolve_llm(self.role, roles)
        except Exception as exc:  # settings in flux must not stop the app from opening
            self.post_message(LlmStatus(False, None, exc))
            return
        self.post_message(LlmStatus(choice is not None, model_name(choice), choice))

    def on_llm_status(self, message: LlmStatus) -> None:
        # let the screen see it too (it bubbles on)
        self.configured = message.configured
        self.model = message.model
        text = NO_LLM_SHORT if self.short else NO_LLM
        if isinstance(message.choice, Exception):
            text = f"LLM settings could not be read ({message.choice}). {text}"
        self.update(text)
        self.set_class(not message.configured, "-shown")
