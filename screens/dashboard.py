"""A project's dashboard: the four stages, what is done, the next step; a key for every stage screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static

from core.models.project import STAGE_STEPS, STAGES
from core.project import Project
from screens.registry import STAGE_SCREENS, STEP_SCREENS
from tui.messages import ProjectLoaded
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
    nxt = meta.next_step()
    if nxt is None:
        return Text.assemble(("Pipeline complete. ", "bold"), f"Export the results: tunesmith export {meta.slug}")
    stage, step = nxt
    spec = STAGE_SCREENS[STEP_SCREENS[step]]
    where = f"{spec.key}: {spec.title}" + ("" if spec.is_built() else f", arrives with skill {spec.skill}")
    what, _, command = meta.next_hint().partition(": ")
    return Text.assemble(
        ("Next ▸ ", "bold"), (what, "bold"), (f"  ({where})", "dim"),
        *((("\nCLI: ", "dim"), (command, "")) if command else ()),
    )


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="dashboard.back", tooltip="Back to the projects"),
        *[Binding(str(i + 1), f"stage('{s}')", f"{i + 1} {STAGE_TITLES[s]}", id=f"dashboard.stage{i + 1}", group=STAGE_GROUP,
                  tooltip=f"Open {STAGE_TITLES[s].lower()} at its next step") for i, s in enumerate(STAGES)],
        *[_screen_binding(name) for name in STAGE_SCREENS],
        Binding("r", "refresh", "Refresh", id="dashboard.refresh", tooltip="Read project.toml again"),
    ]

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "dashboard"

    @property
    def tunesmith(self) -> "TunesmithApp":
        return cast("TunesmithApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield LLMBanner(id="llm-banner", short=True)
        yield Static(id="project-info", markup=False)
        yield StageList(id="stages")
        yield Static(id="next-step")
        yield KeyBar()

    def on_mount(self) -> None:
        self.show_project()
        self.query_one(StageList).focus()
        self.call_after_refresh(self.query_one(LLMBanner).check, self.project.meta.models)

    def show_project(self) -> None:
        m = self.project.meta
        task = Text(" ".join(m.task.split()), no_wrap=True, overflow="ellipsis")
        info = Text("\n", no_wrap=True, overflow="ellipsis").join(
            [Text(f"{m.slug} · preset {m.preset} · {m.training_method} · {m.task_type}"), task])
        self.query_one("#project-info", Static).update(info)
        self.query_one(StageList).show(m)
        self.query_one("#next-step", Static).update(next_step_text(m))

    # ------------------------------------------------------------ refresh

    @background("dashboard-load")
    def load(self) -> None:
        self.post_message(ProjectLoaded(Project.open(self.project.slug, self.project.folder.parent)))

    def on_project_loaded(self, message: ProjectLoaded) -> None:
        self.project = message.project
        self.show_project()

    def on_screen_resume(self) -> None:
        self.load()

    # ------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self.load()

    def action_open(self, name: str) -> None:
        self.tunesmith.open_screen(name, self.project)

    def action_stage(self, stage: str) -> None:
        self.query_one(StageList).highlighted = STAGES.index(stage)
        self.action_open(stage_screen(self.project.meta, stage))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id in STAGES:
            self.action_stage(event.option.id)
