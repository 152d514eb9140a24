"""Training set-up: choose the base model, see the plan in plain words, start the run.

The base model is typed (a Hub id or a local folder) or picked from the recent choices (the one in
project.toml, then those of earlier runs: core.train.setup.recent_base_models). **enter** checks it
(core.train.setup.check_base_model: a clear error naming it when it cannot be found) and asks the core
for the plan (core.train.service.plan_training): model size, where it runs (this computer or Hugging Face
Jobs and its hardware), LoRA or a full fine-tune, time and cost, all in words. **b** switches between this
computer and Hugging Face Jobs. **s** stores the choice in project.toml (config.train.base_model and
backend, what ``tunesmith train NAME`` reads) and starts the run (core.train.service.start_training), then
opens the job monitor on it. CLI: ``tunesmith train NAME --base-model M [--backend B] --yes --follow``.
"""

from __future__ import annotations

import importlib
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from core.project import Project
from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.workers import background

BACKENDS = ("local", "hf_jobs")


def backend_words(backend: str) -> str:
    return {"local": "this computer", "hf_jobs": "Hugging Face Jobs"}.get(backend, backend)


class ChoicesLoaded(Message):
    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names


class SetupPlanned(Message):
    """The plan for ``name`` (or the problem that kept it from being made)."""

    def __init__(self, name: str, backend: str, plan: Any = None, lines: list[str] | None = None,
                 problem: str = "") -> None:
        super().__init__()
        self.name = name
        self.backend = backend
        self.plan = plan
        self.lines = lines or []
        self.problem = problem


class SetupStarted(Message):
    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run


class TrainSetupScreen(Screen):
    COMMAND_PREFIX = "Training set-up"
    BINDINGS = [
        Binding("s", "start", "Start training", id="setup.start",
                tooltip="Store the base model in project.toml and start the run shown in the plan"),
        Binding("b", "backend", "Where", id="setup.backend",
                tooltip="Switch between this computer and Hugging Face Jobs, and plan again"),
        Binding("m", "edit", "Base model", id="setup.edit",
                tooltip="Type a base model: a Hub id (owner/name) or a local model folder"),
        Binding("escape", "back", "Back", id="setup.back", tooltip="Back to the dashboard without starting anything"),
    ]
    COMMAND_NAMES = {"setup.start": "Start training", "setup.edit": "Choose the base model",
                     "setup.backend": "Train here or on Hugging Face Jobs"}

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "training set-up"
        self.backend = project.meta.config.train.backend
        self.plan: Any = None
        self.planning = ""  # the model being planned
        self.starting = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static(Text.assemble(("Base model", "bold"), ": a Hub id (owner/name) or a local folder · enter plans",
                                   no_wrap=True, overflow="ellipsis"), id="setup-intro")
        yield Input(placeholder="e.g. Qwen/Qwen2.5-0.5B or ./models/my-model", id="setup-model")
        yield OptionList(id="setup-recent")
        yield Static(id="setup-where")
        with VerticalScroll(id="setup-body"):
            yield Static("", id="setup-plan")
        yield KeyBar()

    def on_mount(self) -> None:
        current = self.project.meta.config.train.base_model or self.project.meta.models.base_model or ""
        box = self.query_one("#setup-model", Input)
        box.value = current
        self.query_one("#setup-recent").display = False
        self.show_where()
        self.show_plan_text(Text("Type a base model and press enter: the plan shows its size, where it runs, "
                                 "LoRA or a full fine-tune, time and cost.", style="dim"))
        self.load_choices()
        if current:  # the keys (s, b, m) work at once; m goes back to typing
            self.query_one("#setup-body").focus()
            self.plan_for(current)
        else:
            box.focus()

    # ------------------------------------------------------------ drawing

    def show_where(self) -> None:
        other = "Hugging Face Jobs" if self.backend == "local" else "this computer"
        self.query_one("#setup-where", Static).update(Text.assemble(
            ("Where: ", "bold"), backend_words(self.backend), (f"  (b: {other})", "dim"),
            no_wrap=True, overflow="ellipsis"))

    def show_plan_text(self, content: Any) -> None:
        self.query_one("#setup-plan", Static).update(content)

    # ------------------------------------------------------------ recent choices

    @background("setup-choices")
    def load_choices(self) -> None:
        from core.train.setup import recent_base_models

        self.post_message(ChoicesLoaded(recent_base_models(self.project)))

    def on_choices_loaded(self, message: ChoicesLoaded) -> None:
        view = self.query_one("#setup-recent", OptionList)
        view.clear_options()
        view.add_options(Option(Text(f"recent: {n}", no_wrap=True, overflow="ellipsis"), id=n)
                         for n in message.names)
        view.display = bool(message.names)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        name = event.option.id or ""
        self.query_one("#setup-model", Input).value = name
        self.plan_for(name)

    # ------------------------------------------------------------ planning

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.plan_for(event.value)
        self.query_one("#setup-body").focus()

    def plan_for(self, name: str) -> None:
        name = name.strip()
        self.plan = None
        self.planning = name or "?"
        self.show_plan_text(Text(f"Planning {name}: checking the model and the dataset…", style="dim"))
        self.refresh_bindings()
        self._plan(name, self.backend)

    @background("setup-plan")
    def _plan(self, name: str, backend: str) -> None:
        from core.errors import TunesmithError
        from core.train.setup import check_base_model, plan_words

        try:
            model = check_base_model(name, backend)
            service = importlib.import_module("core.train.service")
            plan = service.plan_training(self.project, backend=backend, base_model=model)
        except TunesmithError as exc:  # the model cannot be found, the dataset is not ready: said in place
            self.post_message(SetupPlanned(name, backend, problem=str(exc)))
            return
        self.post_message(SetupPlanned(name, backend, plan, plan_words(plan)))

    def on_setup_planned(self, message: SetupPlanned) -> None:
        message.stop()
        if message.name.strip() != self.query_one("#setup-model", Input).value.strip() or \
                message.backend != self.backend:
            return  # overtaken by another choice
        self.planning = ""
        if message.problem:
            self.plan = None
            self.show_plan_text(Text.assemble(("✗ ", "bold red"), (message.problem, "red")))
            self.notify(message.problem, title="Base model", severity="error")
        else:
            self.plan = message.plan
            body = Text()
            for line in message.lines:
                head, sep, rest = line.partition(": ")
                body.append(head + sep, style="bold")
                body.append(rest + "\n")
            if message.plan.ok:
                body.append("\npress s to start training", style="bold")
                body.append(f"\nCLI: tunesmith train {self.project.slug} --base-model {message.plan.base_model} "
                            f"--backend {message.backend} --yes --follow", style="dim")
            else:
                body.append("\n✗ The dataset cannot be used for this method as it is; nothing can start.\n",
                            style="bold red")
                body.append(message.plan.check.describe(), style="dim")
            self.show_plan_text(body)
        self.refresh_bindings()

    def on_work_failed(self, message: WorkFailed) -> None:
        if message.group == "setup-plan":
            self.planning = ""
            self.show_plan_text(Text("The plan could not be made (see the message).", style="red"))
        if message.group == "setup-start":
            self.starting = False
        self.refresh_bindings()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return bool(self.plan is not None and self.plan.ok and not self.starting and not self.planning) or None
        return True

    def action_edit(self) -> None:
        self.query_one("#setup-model", Input).focus()

    def action_backend(self) -> None:
        self.backend = BACKENDS[(BACKENDS.index(self.backend) + 1) % len(BACKENDS)] \
            if self.backend in BACKENDS else "local"
        self.show_where()
        name = self.query_one("#setup-model", Input).value
        if name.strip():
            self.plan_for(name)

    def action_start(self) -> None:
        plan = self.plan
        if plan is None or not plan.ok or self.starting:
            return
        self.starting = True
        self.refresh_bindings()
        self.notify("Starting the run…", timeout=3)
        self._start(plan, self.query_one("#setup-model", Input).value.strip())

    @background("setup-start")
    def _start(self, plan: Any, typed: str) -> None:
        from core.train.setup import save_base_model

        service = importlib.import_module("core.train.service")
        save_base_model(self.project, typed or plan.base_model, plan.backend)
        self.post_message(SetupStarted(service.start_training(self.project, plan)))

    def on_setup_started(self, message: SetupStarted) -> None:
        message.stop()
        self.starting = False
        run_id = message.run.run_id
        self.project.reload()
        from screens.job_monitor import JobMonitorScreen

        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        self.app.pop_screen()
        if isinstance(below, JobMonitorScreen):
            below.load_runs(run_id)
        else:
            self.app.push_screen(JobMonitorScreen(self.project, run_id=run_id))
        self.app.notify(f"Run {run_id} started on {backend_words(message.run.backend)}.", title="Training")

    def action_back(self) -> None:
        self.app.pop_screen()
