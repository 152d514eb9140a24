"""New project: name, task, preset and training method; creates the folder with Project.create.

Project.create infers the task type from the task text (core.task_type.heuristic); the dashboard that
opens next says what was inferred, and refines it with the model in a worker when one is configured
(see screens.dashboard). c there changes it.

No keypress is lost, however fast it comes (see tui.keys): the name field has the focus from the moment
the form is mounted (the home screen's n waits for that before the next key is handed out); tab,
shift+tab and enter in the name field move the focus on the App's own turn, so the keys after them go to
the next field; ctrl+s (and enter on Create) first waits for every key already typed into the fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Select, Static, TextArea

from core.errors import BadInput
from core.models.config import TRAINING_METHODS
from core.models.presets import DEFAULT_PRESET, PRESETS
from core.project import Project
from tui.keys import caught_up
from tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from tui.app import TunesmithApp

METHOD_HELP: dict[str, str] = {
    "sft": "supervised fine-tuning on worked examples",
    "dpo": "preference pairs: a better and a worse answer",
    "grpo": "reinforcement learning against a reward",
    "kto": "single answers marked good or bad",
}

FIELDS = ("name", "task", "preset", "method")

# How core.project.Project.create names the field at fault in a BadInput message.
ERROR_PREFIXES = {"name:": "name", "--task:": "task", "--preset:": "preset", "--method:": "method",
                  "a project named": "name"}


def field_of(message: str) -> tuple[str | None, str]:
    """('name', 'must not be empty') from 'name: must not be empty'; (None, message) if unknown."""
    for prefix, field in ERROR_PREFIXES.items():
        if message.startswith(prefix):
            text = message[len(prefix):].strip() if prefix.endswith(":") else message
            return field, text
    return None, message


def preset_label(preset) -> Text:
    return Text.assemble((f"{preset.name:<19}", "bold"), (preset.summary, "dim"))


class NewProjectScreen(Screen[Project | None]):
    """Dismisses with the new Project, or None when cancelled."""

    TITLE = "New project"

    BINDINGS = [
        Binding("ctrl+s", "create", "Create", id="new.create", priority=True,
                tooltip="Create the project and open its dashboard"),
        Binding("tab", "focus_field(1)", "Next field", id="new.next", priority=True, show=False),
        Binding("shift+tab", "focus_field(-1)", "Previous field", id="new.previous", priority=True, show=False),
        Binding("enter", "name_done", "Next field", id="new.enter", priority=True, show=False,
                tooltip="In the name field: on to the task"),
        Binding("escape", "cancel", "Cancel", id="new.cancel", tooltip="Back to the projects, creating nothing"),
    ]

    def compose(self) -> ComposeResult:
        preset = PRESETS[DEFAULT_PRESET]
        yield Header(show_clock=False, icon="♪")
        with VerticalScroll(id="form"):
            with Vertical(classes="field"):
                with Horizontal(classes="field-row"):
                    yield Label("Name", classes="field-label")
                    yield Input(placeholder="e.g. support bot", id="name", compact=True, max_length=200,
                                select_on_focus=False)  # back in it, typing goes on (nothing replaced)
                yield Static(id="name-error", classes="field-error", markup=False)
            with Vertical(classes="field"):
                with Horizontal(classes="field-row"):
                    yield Label("Task", classes="field-label")
                    yield TextArea(id="task", compact=True, soft_wrap=True, tab_behavior="focus",
                                   placeholder="What should the model do? A sentence or two.")
                yield Static(id="task-error", classes="field-error", markup=False)
                yield Static("The task type (labels, free-text answers, rewrites…) is inferred from it; "
                             "the dashboard shows it and c changes it.", id="task-help", classes="field-help",
                             markup=False)
            with Vertical(classes="field"):
                with Horizontal(classes="field-row"):
                    yield Label("Preset", classes="field-label")
                    yield Select([(preset_label(p), p.name) for p in PRESETS.values()], id="preset",
                                 allow_blank=False, value=preset.name, compact=True)
                yield Static(preset.summary, id="preset-summary", classes="field-help", markup=False)
                yield Static(id="preset-error", classes="field-error", markup=False)
            with Vertical(classes="field"):
                with Horizontal(classes="field-row"):
                    yield Label("Method", classes="field-label")
                    yield Select([(Text.assemble((m, "bold"), f"  {METHOD_HELP[m]}"), m) for m in TRAINING_METHODS],
                                 id="method", allow_blank=False, value=preset.training_method, compact=True)
                yield Static(id="method-error", classes="field-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Create (ctrl+s)", id="create", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            yield Static(id="form-error", classes="field-error", markup=False)
            yield Static("tab: next field · ctrl+s or enter on Create: create · esc: cancel",
                         id="form-hint", classes="field-help")
        yield KeyBar()

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#name", Input))  # at once, not on a later turn (see tui.keys)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "name_done":  # enter elsewhere is the field's own (open a list, press a button)
            return isinstance(self.focused, Input) and self.focused.id == "name"
        return True

    def action_name_done(self) -> None:
        self.focus_next()

    def action_focus_field(self, step: int) -> None:
        if step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    @property
    def tunesmith(self) -> "TunesmithApp":
        return cast("TunesmithApp", self.app)

    # ------------------------------------------------------------ fields

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # enter in the name field is the screen's (action_name_done), on the App's turn

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset" and isinstance(event.value, str):
            preset = PRESETS[event.value]
            self.query_one("#preset-summary", Static).update(preset.summary)
            self.query_one("#method", Select).value = preset.training_method

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "create":
            await self.action_create()
        else:
            self.action_cancel()

    def show_error(self, field: str | None, text: str) -> None:
        for name in (*FIELDS, "form"):
            box = self.query_one(f"#{name}-error", Static)
            box.update("")
            box.display = False
        if not text:
            return
        box = self.query_one(f"#{field or 'form'}-error", Static)
        box.update(f"{field.capitalize() + ': ' if field else ''}{text}")
        box.display = True
        if field:
            self.set_focus(self.query_one(f"#{field}"))

    # ------------------------------------------------------------ actions

    def values(self) -> dict[str, str]:
        preset = self.query_one("#preset", Select).value
        method = self.query_one("#method", Select).value
        return {
            "name": self.query_one("#name", Input).value,
            "task": self.query_one("#task", TextArea).text,
            "preset": preset if isinstance(preset, str) else DEFAULT_PRESET,
            "method": method if isinstance(method, str) else "",
        }

    async def action_create(self) -> None:
        await caught_up(self.query_one("#name", Input), self.query_one("#task", TextArea))  # every typed key in
        v = self.values()
        try:
            project = Project.create(v["name"], v["task"], preset=v["preset"], method=v["method"] or None,
                                     root=self.tunesmith.projects_root)
        except BadInput as exc:
            self.show_error(*field_of(str(exc)))
            return
        except Exception as exc:
            self.show_error(None, "")
            self.tunesmith.report_error(exc, "Could not create the project")
            return
        self.dismiss(project)

    def action_cancel(self) -> None:
        self.dismiss(None)
