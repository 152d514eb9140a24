"""Set the LLM provider for this session: a model string and an API base, kept in this process only.

The key is never asked for nor stored: it is read from the provider's usual environment variable (the
dialog names it and says whether it is set). Applying sets TUNESMITH_MODEL / TUNESMITH_API_BASE in this
process's environment (core.llm.settings.set_session_provider); quitting forgets them.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

EXAMPLE = "e.g. anthropic/claude-sonnet-4-5 · openai/gpt-4o-mini · ollama/llama3.1"


def key_line(model: str, api_base: str) -> Text:
    """Which variable the key is read from, and whether it is set (never the key itself)."""
    from core.llm.settings import key_env_for, provider_of

    model = model.strip()
    if not model:
        return Text("The key is read from the provider's environment variable; it is never stored.", style="dim")
    var = key_env_for(model)
    is_set = bool(os.environ.get(var))
    local = bool(api_base.strip()) and provider_of(model) in ("openai", "hosted_vllm", "ollama")
    if is_set:
        state = ("set", "green")
    elif local or provider_of(model) == "ollama":
        state = ("not set (a local server may need none)", "yellow")
    else:
        state = ("not set: quit, export it, start again", "red")
    return Text.assemble("Key: read from ", (var, "bold"), " — ", state, "; never stored")


class ProviderDialog(ModalScreen[bool]):
    """Model string and API base for this session; dismisses True when applied."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="provider.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box provider-box"):
            yield Static("LLM provider for this session", classes="dialog-title")
            yield Static(f"Model (litellm string), {EXAMPLE}", classes="dialog-body", markup=False)
            yield Input(os.environ.get("TUNESMITH_MODEL", ""), placeholder="provider/model", id="provider-model")
            yield Static("API base (only for a local or OpenAI-compatible server)", markup=False)
            yield Input(os.environ.get("TUNESMITH_API_BASE", ""), placeholder="e.g. http://localhost:11434/v1",
                        id="provider-base")
            yield Static("", id="provider-key")
            yield Static("Kept in this process only: nothing is written to any file.", classes="dialog-hint",
                         markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use it (enter)", id="provider-ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="provider-cancel", compact=True)

    def on_mount(self) -> None:
        self.show_key()
        self.query_one("#provider-model").focus()

    def show_key(self) -> None:
        model = self.query_one("#provider-model", Input).value
        base = self.query_one("#provider-base", Input).value
        self.query_one("#provider-key", Static).update(key_line(model, base))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_key()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "provider-model":
            self.query_one("#provider-base").focus()
        else:
            self.apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "provider-ok":
            self.apply()
        else:
            self.dismiss(False)

    def apply(self) -> None:
        from core.llm.settings import set_session_provider

        model = self.query_one("#provider-model", Input).value.strip()
        if not model:
            self.notify("Type a model string first, " + EXAMPLE, severity="warning")
            self.query_one("#provider-model").focus()
            return
        var = set_session_provider(model, self.query_one("#provider-base", Input).value)
        self.notify(f"Using {model} for this session; the key is read from {var}.", title="LLM provider")
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
