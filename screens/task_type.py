"""The task type: how the dashboard shows it, the modal that changes it, and the change itself.

The decision lives in project.toml (``task_type``, ``task_type_reason``, ``task_type_source``, ``labels``;
see core/task_type.py). The dashboard shows it on one line (:func:`task_type_line`); **c** opens
:class:`TaskTypeDialog`: ↑/↓ pick one of the five types, the labels of a classification are edited as a
comma-separated list, enter confirms, esc cancels, **ctrl+r** infers it again from the task text and the
interview (:func:`reinfer_task_type`, as ``tunesmith task-type NAME --infer``). :func:`set_task_type` stores the choice as the CLI's
``tunesmith task-type NAME TYPE [--labels a,b]`` does (source "user": never overridden afterwards) and
says what was built for the old type (``core.task_type.stale_after_change``). It writes the project:
call it from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from core.models.config import TASK_TYPES

TYPE_HELP: dict[str, str] = {
    "classification": "assigns one label from a closed set",
    "instruction_following": "answers or helps in free text",
    "transformation": "turns a given input into another form",
    "reasoning": "works problems out step by step",
    "preference": "chooses between candidate responses",
}

WHO: dict[str, str] = {
    "default": "default",
    "heuristic": "from the task text",
    "llm": "the model, from the task text",
    "interview": "from the interview",
    "user": "set by you",
}


def type_name(task_type: str) -> str:
    return task_type.replace("_", " ")


def task_type_line(meta: Any, busy: str = "") -> Text:
    """One line: the type, who decided, the labels, then why (the reason last: it is the longest)."""
    line = Text.assemble(("Task type ", "bold"), (type_name(meta.task_type), "bold"),
                         f" ({WHO.get(meta.task_type_source, meta.task_type_source)})")
    if meta.labels:
        line.append(f" · labels: {', '.join(meta.labels)}")
    if busy:
        line.append(f" · {busy}", "italic")
    if meta.task_type_reason:
        line.append(f" · {meta.task_type_reason}", "dim")
    return line


def parse_labels(text: str) -> tuple[str, ...]:
    """'Billing, shipping,,login' -> ('billing', 'shipping', 'login'), as ``--labels`` reads them."""
    return tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))


@dataclass(frozen=True)
class TaskTypeChoice:
    task_type: str  # "" with infer=True
    labels: tuple[str, ...] = ()
    infer: bool = False  # infer it again instead


@dataclass
class TaskTypeChange:
    """What :func:`set_task_type` did."""

    before: str
    after: str
    changed: bool  # the type or the labels differ from before
    line: str  # core.task_type.describe of the new decision
    stale: list[str] = field(default_factory=list)  # what was built for the old type


def set_task_type(project: Any, task_type: str, labels: tuple[str, ...] = (),
                  reason: str = "chosen by you") -> TaskTypeChange:
    """Store the user's choice (blocking: it takes the project's lock and writes project.toml)."""
    from core import task_type as tt
    from core.errors import BadInput

    if task_type not in TASK_TYPES:
        raise BadInput(f"task type: must be one of {', '.join(TASK_TYPES)} (got {task_type!r})")
    labels = tuple(labels) if task_type == "classification" else ()
    with project.writing():
        project.reload()
        before = project.meta.task_type
        changed = tt.apply(project.meta, tt.TaskTypeDecision(task_type, reason, "user", labels))
        project.save()
    stale = tt.stale_after_change(project, before) if project.meta.task_type != before else []
    return TaskTypeChange(before, project.meta.task_type, changed, tt.describe(project.meta), stale)


def reinfer_task_type(project: Any) -> TaskTypeChange:
    """Infer the task type again (the model's grounded answer when one is configured, else the heuristic),
    replacing the user's own choice; blocking."""
    from core import task_type as tt
    from core.llm.settings import resolve

    before = project.meta.task_type
    gateway = None
    if resolve("interviewer", project.meta.models) is not None:
        from core.llm.gateway import Gateway

        gateway = Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm")
    try:
        changed = tt.reinfer(project, gateway)
    finally:
        if gateway is not None:
            gateway.close()
    stale = tt.stale_after_change(project, before) if project.meta.task_type != before else []
    return TaskTypeChange(before, project.meta.task_type, changed, tt.describe(project.meta), stale)


def type_option(task_type: str) -> Option:
    return Option(Text.assemble((f"{type_name(task_type):<22}", "bold"), (TYPE_HELP.get(task_type, ""), "dim")),
                  id=task_type)


class TaskTypeDialog(ModalScreen["TaskTypeChoice | None"]):
    """Pick the task type (and a classification's labels); dismisses with a TaskTypeChoice, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="task_type.cancel", tooltip="Keep the task type as it is"),
        Binding("ctrl+s", "confirm", "Set", id="task_type.confirm", priority=True,
                tooltip="Set the highlighted task type (and labels)"),
        Binding("ctrl+r", "infer", "Infer again", id="task_type.infer", priority=True,
                tooltip="Infer the task type again from the task text and the interview"),
    ]

    def __init__(self, meta: Any) -> None:
        super().__init__(classes="dialog")
        self.meta = meta
        self.current = meta.task_type

    def compose(self) -> ComposeResult:
        from core import task_type as tt

        with Vertical(classes="dialog-box task-type-box"):
            yield Static("Task type", classes="dialog-title")
            yield Static(f"Now: {tt.describe(self.meta)}", id="tt-current", markup=False)
            yield OptionList(*[type_option(t) for t in TASK_TYPES], id="tt-types", compact=True)
            with Vertical(id="tt-labels-field"):
                with Horizontal(classes="tt-row"):
                    yield Label("Labels ", classes="tt-label")
                    yield Input(", ".join(self.meta.labels), id="tt-labels", compact=True,
                                placeholder="comma-separated, e.g. billing, shipping, login")
                yield Static("", id="tt-error", markup=False)
            yield Static("", id="tt-hint", classes="dialog-hint", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Set (ctrl+s)", id="tt-set", variant="primary", compact=True)
                yield Button("Infer again (ctrl+r)", id="tt-infer", compact=True)
                yield Button("Cancel (esc)", id="tt-cancel", compact=True)

    def on_mount(self) -> None:
        types = self.query_one("#tt-types", OptionList)
        types.highlighted = TASK_TYPES.index(self.current) if self.current in TASK_TYPES else 0
        types.focus()
        self.query_one("#tt-error", Static).display = False
        self._follow(self.highlighted)

    @property
    def highlighted(self) -> str:
        types = self.query_one("#tt-types", OptionList)
        index = types.highlighted if types.highlighted is not None else 0
        return TASK_TYPES[index]

    def _follow(self, task_type: str) -> None:
        """Show the labels field for a classification only, and say what enter does."""
        classify = task_type == "classification"
        self.query_one("#tt-labels-field").display = classify
        hint = "↑↓ choose · enter sets it · esc cancels"
        if classify:
            hint = "↑↓ choose · enter edits the labels, enter again sets it · esc cancels"
        self.query_one("#tt-hint", Static).update(hint)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self._follow(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == "classification":
            self.query_one("#tt-labels", Input).focus()
        else:
            self.action_confirm()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "tt-set":
            self.action_confirm()
        elif event.button.id == "tt-infer":
            self.action_infer()
        else:
            self.action_cancel()

    def choice(self) -> TaskTypeChoice | None:
        """The choice made, or None (with the error shown) when the labels do not make a label set."""
        task_type = self.highlighted
        if task_type != "classification":
            return TaskTypeChoice(task_type)
        labels = parse_labels(self.query_one("#tt-labels", Input).value)
        error = self.query_one("#tt-error", Static)
        if len(labels) == 1:
            error.update("A classification needs two or more labels (or none for now).")
            error.display = True
            self.query_one("#tt-labels", Input).focus()
            return None
        error.display = False
        return TaskTypeChoice(task_type, labels)

    def action_confirm(self) -> None:
        choice = self.choice()
        if choice is not None:
            self.dismiss(choice)

    def action_infer(self) -> None:
        self.dismiss(TaskTypeChoice("", infer=True))

    def action_cancel(self) -> None:
        self.dismiss(None)
