"""The error dialog, and how an exception is worded in it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from core.errors import TunesmithError


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
    ]

    def __init__(self, message: str, title: str = "Something went wrong") -> None:
        super().__init__(classes="dialog")
        self.message = message
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.message, id="error-message", markup=False)
            yield Button("Close (esc)", id="error-close", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error-close").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
