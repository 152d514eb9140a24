"""Pieces of the interview screen: the answer input, the persona and suggestion lists, the persona form.

Plain widgets with no core imports beyond the Persona/Question models' attributes, so the screen module
stays readable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

MAX_YEARS = 70


# ---------------------------------------------------------------- rendering


def persona_prompt(i: int, persona: Any) -> Table:
    """'1. Senior support agent · 8 years · knows the field 8/10 · explains clearly 7/10' over the reason,
    with a hanging indent (the list is ranked by the product of the two)."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=2, no_wrap=True)
    grid.add_column(ratio=1)
    head = Text.assemble(
        (persona.role, "bold"), f" · {persona.experience_years} years",
        f" · knows the field {persona.domain_knowledge:.0f}/10 · explains clearly "
        f"{persona.conversational_efficiency:.0f}/10",
    )
    grid.add_row(Text(f"{i}.", style="bold"), head)
    grid.add_row("", Text(persona.why, style="italic"))
    return grid


def suggestion_prompt(i: int, text: str) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=2, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(Text(f"{i}.", style="bold"), Text(text))
    return grid


# ---------------------------------------------------------------- lists


class PersonaList(OptionList):
    """The three ranked personas; enter chooses the highlighted one."""

    def show(self, personas: list[Any]) -> None:
        keep = self.highlighted or 0
        self.clear_options()
        self.add_options([Option(persona_prompt(i, p), id=f"persona-{i}") for i, p in enumerate(personas, 1)])
        if personas:
            self.highlighted = min(keep, len(personas) - 1)


class SuggestionList(OptionList, can_focus=False):
    """The current question's suggested answers. Never focused: the answer input keeps the focus and
    up/down (screen keys) move the highlight; a click picks."""

    def show(self, suggestions: list[str]) -> None:
        self.clear_options()
        self.add_options([Option(suggestion_prompt(i, s), id=f"suggestion-{i}") for i, s in enumerate(suggestions, 1)])
        if suggestions:
            self.highlighted = 0


def _answer_bindings() -> list[Binding]:
    """Input's own editing keys, less ctrl+e (the screen's 'edit suggestion') and enter (re-described);
    the scroll keys Input inherits (up/down move the suggestion highlight instead) are left out."""
    out: list[Binding] = []
    for b in Input.__dict__["BINDINGS"]:
        assert isinstance(b, Binding)
        if b.action == "submit":
            continue
        keys = [k.strip() for k in b.key.split(",") if k.strip() != "ctrl+e"]
        out.append(replace(b, key=",".join(keys)))
    return out


class AnswerInput(Input, inherit_bindings=False):
    """The free-text answer. While it is empty, the digits of the suggestions are not typed but left to
    the screen's pick keys (so '2' picks suggestion 2 at once); once it holds text, every digit is text."""

    BINDINGS = [
        Binding("enter", "submit", "Answer", id="interview.answer",
                tooltip="Save the typed answer; when empty, the highlighted suggestion (the first unless moved)"),
        *_answer_bindings(),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pick_count = 0  # how many suggestions the digits may pick

    def is_pick_key(self, character: str | None) -> bool:
        return (not self.value and character is not None and character.isdigit()
                and 1 <= int(character) <= self.pick_count)

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if self.is_pick_key(character):
            return False
        return super().check_consume_key(key, character)


# ---------------------------------------------------------------- the persona form


class PersonaDialog(ModalScreen[dict[str, Any] | None]):
    """Role, years and why of one persona. Dismisses with the edited fields, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="persona.save", priority=True,
                tooltip="Save the persona and interview as this expert"),
        Binding("escape", "cancel", "Cancel", id="persona.cancel", tooltip="Close the form, changing nothing"),
    ]

    def __init__(self, n: int, persona: Any) -> None:
        super().__init__(classes="dialog")
        self.n = n
        self.persona = persona

    def compose(self) -> ComposeResult:
        p = self.persona
        with Vertical(classes="dialog-box", id="persona-form"):
            yield Static(f"Edit persona {self.n}", classes="dialog-title")
            with Horizontal(classes="persona-row"):
                yield Label("Role", classes="persona-label")
                yield Input(p.role, id="persona-role", compact=True, max_length=120)
            with Horizontal(classes="persona-row"):
                yield Label("Years", classes="persona-label")
                yield Input(str(p.experience_years), id="persona-years", compact=True, type="integer", max_length=2)
            with Horizontal(classes="persona-row"):
                yield Label("Why", classes="persona-label")
                yield Input(p.why, id="persona-why", compact=True, max_length=300)
            yield Static("", id="persona-error", classes="field-error", markup=False)
            yield Static("enter: next field, then save · ctrl+s saves and starts the interview as this expert · "
                         "esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#persona-role", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "persona-why":
            self.action_save()
        else:
            self.focus_next()

    def values(self) -> dict[str, Any] | None:
        role = self.query_one("#persona-role", Input).value.strip()
        years_text = self.query_one("#persona-years", Input).value.strip()
        why = self.query_one("#persona-why", Input).value.strip()
        error = self.query_one("#persona-error", Static)
        problem, field = "", ""
        if not role:
            problem, field = "Role: must not be empty", "persona-role"
        elif not years_text.isdigit() or not 0 <= int(years_text) <= MAX_YEARS:
            problem, field = f"Years: a whole number from 0 to {MAX_YEARS}", "persona-years"
        elif not why:
            problem, field = "Why: say in a few words what makes them explain well", "persona-why"
        error.update(problem)
        error.display = bool(problem)
        if problem:
            self.query_one(f"#{field}", Input).focus()
            return None
        return {"role": role, "experience_years": int(years_text), "why": why}

    def action_save(self) -> None:
        values = self.values()
        if values is not None:
            self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
