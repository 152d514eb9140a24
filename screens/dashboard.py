"""A project's dashboard: the four stages, what is done, the next step; a key for every stage screen.

Above the stages: the project line, the task, the task type (who decided it and why; **c** changes it in
a small dialog, like ``tunesmith task-type NAME TYPE``) and the warnings the user must see
(``core.commands.project.project_warnings``, read in a worker after the first paint; **w** shows them in
full). **d** opens the review of the scale-up sample once the scale-up has written it
(``tunesmith review NAME scale``). Opened right after the project was created, it says which task type
was inferred and, when a model is configured, asks the model to refine it in a worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static

from core.models.project import STAGE_STEPS, STAGES
from core.project import Project
from screens.registry import STAGE_SCREENS, STEP_SCREENS
from screens.task_type import TaskTypeChange, TaskTypeChoice, task_type_line
from tui.messages import ProjectLoaded, WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.widgets.llm_banner import LLMBanner
from tui.widgets.stage_list import STAGE_TITLES, STEP_LABELS, StageList
from tui.workers import background

if TYPE_CHECKING:
    from tui.app import TunesmithApp


def _screen_binding(name: str) -> Binding:
    spec = STAGE_SCREENS[name]
    tip = spec.help[0].upper() + spec.help[1:]
    if not spec.is_built():
        tip += f" (not built yet: arrives with skill {spec.skill})"
    return Binding(spec.key, f"open('{name}')", spec.label or spec.title, id=f"dashboard.{name}", tooltip=tip)


STAGE_GROUP = Binding.Group("Stage", compact=True)


def stage_screen(meta, stage: str) -> str:
    """The screen for a stage's first open step (its last step's screen once the stage is done)."""
    steps = STAGE_STEPS[stage]
    open_steps = [s for s in steps if s not in meta.stages[stage].done]
    return STEP_SCREENS[(open_steps or steps[-1:])[0]]


def next_step_text(meta) -> Text:
    """'Next ▸ press m to plan the training run' first; the CLI command, dim, on the line below."""
    nxt = meta.next_step()
    if nxt is None:
        return Text.assemble(("Pipeline complete. ", "bold"), "Export the results (e on the report)",
                             ("\nCLI: ", "dim"), (f"tunesmith export {meta.slug}", "dim"))
    stage, step = nxt
    spec = STAGE_SCREENS[STEP_SCREENS[step]]
    what, _, command = meta.next_hint().partition(": ")
    if spec.is_built():
        lead: tuple = (("Next ▸ ", "bold"), ("press ", ""), (spec.key, "bold reverse"), (f" to {what}", "bold"))
    else:
        lead = (("Next ▸ ", "bold"), (what, "bold"), (f"  ({spec.title} arrives with skill {spec.skill})", "dim"))
    return Text.assemble(*lead, *((("\nCLI: ", "dim"), (command, "dim")) if command else ()))


class WarningsLoaded(Message):
    """project_warnings(project), and whether the scale-up review sample exists."""

    def __init__(self, lines: list[str], scale_sample: bool) -> None:
        super().__init__()
        self.lines = lines
        self.scale_sample = scale_sample


class TaskTypeChanged(Message):
    def __init__(self, change: TaskTypeChange) -> None:
        super().__init__()
        self.change = change


class TaskTypeRefined(Message):
    """The model's refinement after creation ended (``asked`` False: no model is configured)."""

    def __init__(self, asked: bool, changed: bool, line: str) -> None:
        super().__init__()
        self.asked = asked
        self.changed = changed
        self.line = line


TALL = 32  # from this height on: rules between the stages, more warning lines, warnings wrapped


def warnings_text(lines: list[str], height: int) -> Text:
    """The warnings panel: one line each (cut with …) on a short screen, wrapped on a tall one; what
    does not fit is counted; w shows them all in full."""
    tall = height >= TALL
    limit = 6 if tall else 2
    shown = lines if len(lines) <= limit else lines[: limit - 1]
    out = Text("\n".join(f"⚠ {line}" for line in shown), no_wrap=not tall, overflow="fold" if tall else "ellipsis")
    if len(shown) < len(lines):
        out.append(f"\n… {len(lines) - len(shown)} more: w shows every warning in full", "bold")
    return out


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="dashboard.back", tooltip="Back to the projects"),
        *[Binding(str(i + 1), f"stage('{s}')", f"{i + 1} {STAGE_TITLES[s]}", id=f"dashboard.stage{i + 1}", group=STAGE_GROUP,
                  tooltip=f"Open {STAGE_TITLES[s].lower()} at its next step") for i, s in enumerate(STAGES)],
        *[_screen_binding(name) for name in STAGE_SCREENS],
        Binding("d", "scale_review", "Sample review", id="dashboard.scale_review",
                tooltip="Rate the random sample of the final dataset (optional; tunesmith review NAME scale)"),
        Binding("c", "task_type", "Task type", id="dashboard.task_type",
                tooltip="Choose the task type (and a classification's labels): it picks the generation "
                        "strategy and the evaluation method"),
        Binding("w", "warnings", "Warnings", id="dashboard.warnings", tooltip="Every warning, in full"),
        Binding("l", "browse", "Browse", id="dashboard.browse",
                tooltip="Read (not change) the frozen eval set, the approved pilot, the interview's answers "
                        "or the quality log"),
        Binding("r", "refresh", "Refresh", id="dashboard.refresh", tooltip="Read project.toml again"),
    ]
    COMMAND_NAMES = {
        "dashboard.train_setup": "Base model: set up training (train here or on HF Jobs)",
        "dashboard.evaluate": "Evaluate the fine-tuned model against its base",
        "dashboard.task_type": "Change task type",
        "dashboard.scale_review": "Review the scale-up sample",
        "dashboard.warnings": "Show the warnings",
        "dashboard.browse": "Browse the eval set, the pilot, the interview's answers or the quality log",
    }

    def __init__(self, project: Project, created: bool = False) -> None:
        super().__init__()
        self.project = project
        self.opened = project  # the Project whose lock hold (if any) ends when this screen closes
        self.created = created
        self.title = project.meta.name
        self.sub_title = "dashboard"
        self.warnings: list[str] = []  # project_warnings, once the worker has read them
        self.extra_notes: list[str] = []  # what the last task-type change made stale
        self.scale_sample = False
        self.task_type_busy = ""  # "asking the model…" / "saving…" while a worker decides it
        self.loads = 0  # project.toml reads started (a read is shown only if no later one started)

    @property
    def tunesmith(self) -> "TunesmithApp":
        return cast("TunesmithApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield LLMBanner(id="llm-banner", short=True)
        yield Static(id="project-info", markup=False)
        yield Static(id="warnings", markup=False)
        yield StageList(id="stages")
        yield Static(id="next-step")
        yield KeyBar()

    def on_unmount(self) -> None:
        self.opened.release_lock()  # closing the project lets another tunesmith write it

    def on_mount(self) -> None:
        self.query_one("#warnings", Static).display = False
        self.show_project()
        self.query_one(StageList).focus()
        self.call_after_refresh(self.query_one(LLMBanner).check, self.project.meta.models)
        self.call_after_refresh(self.load_warnings)
        if self.created:
            self.created = False
            self.notify(f"{task_type_line(self.project.meta).plain}\nc changes it.",
                        title=f"Created {self.project.slug}", timeout=10)
            self.task_type_busy = "asking the model…"
            self.show_task_type()
            self.call_after_refresh(self.refine)

    def show_project(self) -> None:
        m = self.project.meta
        task = Text(" ".join(m.task.split()), no_wrap=True, overflow="ellipsis")
        head = Text(f"{m.slug} · preset {m.preset} · {m.training_method}")
        if m.illustration:  # the shipped example: its reports are not a real evaluation (core/illustration.py)
            head = Text.assemble(("Illustration, not a real run · ", "bold"), head)
            self.query_one("#project-info", Static).tooltip = f"Illustration: {m.illustration}"
        info = Text("\n", no_wrap=True, overflow="ellipsis").join(
            [head, task,
             task_type_line(m, self.task_type_busy)])
        self.query_one("#project-info", Static).update(info)
        self.query_one(StageList).show(m, rules=self.size.height >= TALL)
        self.query_one("#next-step", Static).update(next_step_text(m))
        self.refresh_bindings()

    def show_task_type(self) -> None:
        self.show_project()

    def show_warnings(self) -> None:
        lines = [*self.extra_notes, *self.warnings]
        box = self.query_one("#warnings", Static)
        box.display = bool(lines)
        box.set_class(self.size.height >= TALL, "-tall")
        if lines:
            box.update(warnings_text(lines, self.size.height))
        self.refresh_bindings()

    def on_resize(self) -> None:
        self.query_one(StageList).show(self.project.meta, rules=self.size.height >= TALL)
        self.show_warnings()

    # ------------------------------------------------------------ refresh

    def load(self) -> None:
        """Read project.toml again (in a worker); only the latest read is shown."""
        self.loads += 1
        self._load(self.loads)

    @background("dashboard-load")
    def _load(self, number: int) -> None:
        self.post_message(ProjectLoaded(Project.open(self.project.slug, self.project.folder.parent), number))

    def on_project_loaded(self, message: ProjectLoaded) -> None:
        if message.number and message.number != self.loads:
            return  # an older read, overtaken by a change made since (e.g. the task type)
        self.project = message.project
        self.show_project()
        self.load_warnings()

    def on_screen_resume(self) -> None:
        self.load()

    @background("dashboard-warnings")
    def load_warnings(self) -> None:
        """project_warnings reads the eval set and the generation report (about half a second the
        first time, for its imports): never on the first paint."""
        from tui.errors import describe_error

        project = self.project
        try:
            from core.commands.project import project_warnings

            lines = project_warnings(project)
        except Exception as exc:  # a broken file must not stop the dashboard: say it instead
            lines = [f"the warnings could not be checked: {describe_error(exc)}"]
        from core.generate.pipeline_state import SCALE_REVIEW_SAMPLE

        self.post_message(WarningsLoaded(lines, project.exists(SCALE_REVIEW_SAMPLE)))

    def on_warnings_loaded(self, message: WarningsLoaded) -> None:
        message.stop()
        self.warnings = message.lines
        self.scale_sample = message.scale_sample
        self.show_warnings()

    # ------------------------------------------------------------ the task type

    @background("dashboard-task-type")
    def refine(self) -> None:
        """After creation: the model's grounded guess (else the heuristic's), unless the user chose."""
        from core import task_type as tt
        from core.llm.settings import resolve

        project = self.project
        if resolve("interviewer", project.meta.models) is None:
            self.post_message(TaskTypeRefined(False, False, tt.describe(project.meta)))
            return
        from core.commands.project import refine_task_type
        from core.llm.gateway import Gateway

        gateway = Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm")
        try:
            changed = refine_task_type(project, gateway)
        finally:
            gateway.close()
        self.post_message(TaskTypeRefined(True, changed, tt.describe(project.meta)))

    def on_task_type_refined(self, message: TaskTypeRefined) -> None:
        message.stop()
        self.task_type_busy = ""
        self.show_task_type()
        if message.changed:
            self.notify(f"The model refined the task type: {message.line}\nc changes it.", title="Task type",
                        timeout=10)
            self.load()
        elif message.asked:
            self.notify(f"The model agrees: {message.line}", title="Task type")

    @background("dashboard-task-type")
    def change_task_type(self, choice: TaskTypeChoice) -> None:
        from screens.task_type import reinfer_task_type, set_task_type

        if choice.infer:
            self.post_message(TaskTypeChanged(reinfer_task_type(self.project)))
            return
        self.post_message(TaskTypeChanged(set_task_type(self.project, choice.task_type, choice.labels)))

    def on_task_type_changed(self, message: TaskTypeChanged) -> None:
        message.stop()
        change = message.change
        self.task_type_busy = ""
        self.extra_notes = list(change.stale)
        self.show_task_type()
        self.show_warnings()
        if change.stale:
            self.notify("\n".join([f"Task type: {change.line}", *(f"note: {n}" for n in change.stale)]),
                        title="Task type changed", severity="warning", timeout=15)
        else:
            self.notify(f"Task type: {change.line}", title="Task type" + (" changed" if change.changed else ""))
        self.load()  # then the warnings again: the evaluation method check depends on the task type

    def on_work_failed(self, message: WorkFailed) -> None:
        """Let the App show the error (it bubbles on); put the task-type line back."""
        if message.group == "dashboard-task-type":
            self.task_type_busy = ""
            self.show_task_type()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "task_type":
            return None if self.task_type_busy else True
        if action == "warnings":
            return bool(self.warnings or self.extra_notes)
        if action == "scale_review":
            return self.scale_sample
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self.load()

    def action_open(self, name: str) -> None:
        self.tunesmith.open_screen(name, self.project)

    def action_stage(self, stage: str) -> None:
        self.query_one(StageList).highlighted = STAGES.index(stage)
        self.action_open(stage_screen(self.project.meta, stage))

    def action_task_type(self) -> None:
        from screens.task_type import TaskTypeDialog

        if self.task_type_busy:
            return

        def chosen(choice: TaskTypeChoice | None) -> None:
            if choice is None or self.task_type_busy:
                return
            self.task_type_busy = "inferring…" if choice.infer else "saving…"
            self.show_task_type()
            self.change_task_type(choice)

        self.app.push_screen(TaskTypeDialog(self.project.meta), chosen)

    def action_warnings(self) -> None:
        from tui.dialogs import TextDialog

        lines = [*self.extra_notes, *self.warnings]
        if lines:
            self.app.push_screen(TextDialog(f"Warnings: {self.project.meta.name}", lines))

    def action_browse(self, kind: str = "") -> None:
        """A read-only view (screens.browse); without ``kind`` a chooser asks which."""
        from screens.browse import BrowseChooser, BrowseScreen

        if kind:
            self.app.push_screen(BrowseScreen(self.project, kind))
            return

        def chosen(picked: str | None) -> None:
            if picked:
                self.app.push_screen(BrowseScreen(self.project, picked))

        self.app.push_screen(BrowseChooser(), chosen)

    def action_scale_review(self) -> None:
        if not self.scale_sample:
            return
        from screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen(self.project, kind="scale"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id in STAGES:
            self.action_stage(event.option.id)
