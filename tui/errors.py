"""The error dialog, and how an exception is worded in it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from core.errors import TunesmithError


def needs_llm(error: BaseException) -> bool:
    """The error says no LLM is configured (the core's 'needs an LLM' messages, LLMNotConfigured)."""
    return type(error).__name__ == "LLMNotConfigured" or "needs an LLM" in str(error)


def describe_error(error: BaseException) -> str:
    """A TunesmithError's message says what to do, so it is shown as is; anything else is a
    bug or an environment problem, so its type is shown too."""
    if isinstance(error, TunesmithError):
        return str(error)
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ErrorDialog(ModalScreen[None]):
    """A modal that shows one error; enter or escape closes it."""

    BINDINGS = [
        Binding("escape,enter", "close", "Close", id="error.close", tooltip="Close this message"),
        Binding("ctrl+l", "provider", "LLM provider", id="error.provider", show=False,
                tooltip="Set the LLM provider for this session"),
    ]

    def __init__(self, message: str, title: str = "Something went wrong", offer_provider: bool = False) -> None:
        super().__init__(classes="dialog")
        self.message = message
        self.title_text = title
        self.offer_provider = offer_provider  # no LLM configured: ctrl+l sets one for the session

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.message, id="error-message", markup=False)
            if self.offer_provider:
                yield Static("press ctrl+l to set the LLM provider for this session, then try again "
                             "(CLI: set TUNESMITH_MODEL before starting)", id="error-provider", markup=False)
            yield Button("Close (esc)", id="error-close", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error-close").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_provider(self) -> None:
        self.dismiss(None)
        run = getattr(self.app, "action_llm_provider", None)
        if run is not None:
            run()
