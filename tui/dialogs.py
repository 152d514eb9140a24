"""Small modal dialogs: a yes/no confirmation and the key help."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True for yes. y / n / escape work without a mouse."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
        Binding("left,right", "toggle_focus", "", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No", title: str = "Please confirm") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.yes = yes
        self.no = no
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.question, classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="confirm-yes", variant="error", compact=True)
                yield Button(f"{self.no} (n)", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-no").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_toggle_focus(self) -> None:
        self.focus_next()


def bindings_table(screen: Screen) -> Table:
    """Every key active on a screen: key, what it does, and its tooltip."""
    table = Table(box=None, expand=True, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("Key", no_wrap=True, style="bold")
    table.add_column("Action", no_wrap=True)
    table.add_column("Notes", ratio=1)
    rows: dict[tuple[int, str, str], list] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.system or not binding.show:
            continue
        shown = binding.key_display or screen.app.get_key_display(binding)
        ident = (id(active.node), binding.action, binding.description)
        if ident in rows:
            rows[ident][0].append(shown)
        else:
            rows[ident] = [[shown], binding.description, active.tooltip or binding.tooltip or "", active.enabled]
    for keys, description, tooltip, enabled in rows.values():
        style = "" if enabled else "dim"
        table.add_row(Text("/".join(keys), style=style), Text(description, style=style), Text(tooltip, style="dim"))
    return table


class HelpDialog(ModalScreen[None]):
    """The keys of the screen underneath, with what each does."""

    BINDINGS = [Binding("escape,question_mark,q,enter", "close", "Close", id="help.close")]

    def __init__(self, screen: Screen, title: str) -> None:
        super().__init__(classes="dialog")
        self.table = bindings_table(screen)
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box help-box"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body", id="help-scroll"):
                yield Static(self.table)
            yield Static("ctrl+p opens the command palette: every action above, by name. esc closes.",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class TextDialog(ModalScreen[None]):
    """Lines of literal text (warnings, notes) in a scrollable box; enter or escape closes it."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="text.close")]

    def __init__(self, title: str, lines: list[str], hint: str = "esc closes", bullet: str = "⚠ ") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.lines = list(lines)
        self.hint = hint
        self.bullet = bullet

    def compose(self) -> ComposeResult:
        body = Text("\n\n").join(Text.assemble((self.bullet, "bold"), line) for line in self.lines)
        with Vertical(classes="dialog-box text-box"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            with VerticalScroll(classes="dialog-body", id="text-scroll"):
                yield Static(body, id="text-body")
            yield Static(self.hint, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#text-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
