"""Evaluate: the fine-tuned model against its base on the frozen eval set, with progress, then the report.

On open it says what would be evaluated (core.evaluate.inference.resolve_models: by default the latest
completed run against its base model) or, in place, why nothing can be (no completed run, eval set not
approved). **enter** (or **v**) starts core.evaluate.run.evaluate in a worker; the core's progress lines
fill the log and a line with a count ("candidate …: 12/40") moves the progress bar. When it is done the
report opens. CLI: ``tunesmith evaluate NAME``.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Log, ProgressBar, Static

from core.progress import COUNT_RE, count_in
from core.project import Project
from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.workers import background

# (done, total) from a progress line that ends with a count ("…: 12/40", or core.progress.Eta's
# "…: 12/40 outputs · about 3 min left"), else None
count_of = count_in


class EvalPreview(Message):
    def __init__(self, line: str = "", problem: str = "") -> None:
        super().__init__()
        self.line = line
        self.problem = problem


class EvalLine(Message):
    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class EvalDone(Message):
    def __init__(self, eval_id: str, headline: list[str]) -> None:
        super().__init__()
        self.eval_id = eval_id
        self.headline = headline


class EvaluateScreen(Screen):
    COMMAND_PREFIX = "Evaluate"
    BINDINGS = [
        Binding("enter,v", "start", "Start evaluation", id="evaluate.start",
                tooltip="Evaluate the fine-tuned model against its base on the frozen eval set"),
        Binding("escape", "back", "Back", id="evaluate.back",
                tooltip="Back to the dashboard (not while the evaluation runs)"),
    ]
    COMMAND_NAMES = {"evaluate.start": "Start the evaluation (base vs fine-tuned)"}
    PARAMS: Any = None  # core.evaluate.inference.DecodingParams; None: the core's defaults (as the CLI's)

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "evaluate"
        self.ready = False
        self.running = False
        self.started_at = 0.0
        self.seen: list[str] = []  # the core's progress lines, as shown
        self.last_count: tuple[int, int] | None = None  # the bar's latest (done, total)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("finding the models…", id="eval-status")
        yield ProgressBar(id="eval-progress", show_eta=False)
        yield Log(id="eval-log", max_lines=2000)
        yield Static("", id="eval-hint")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#eval-progress").display = False
        self.preview()

    # ------------------------------------------------------------ what would be evaluated

    @background("evaluate-preview")
    def preview(self) -> None:
        from core.errors import TunesmithError
        from core.evaluate.inference import resolve_models
        from core.extract.evalset import load_eval_set
        from core.extract.review import verify_frozen

        try:
            verify_frozen(self.project)
            base, cand = resolve_models(self.project)
            n = len(load_eval_set(self.project))
        except TunesmithError as exc:
            self.post_message(EvalPreview(problem=str(exc)))
            return
        run = f" (run {cand.run_id})" if cand.run_id else ""
        self.post_message(EvalPreview(f"on {n} examples\n  candidate {self.short(cand.model)}{run}\n"
                                      f"  vs base {self.short(base.model)}"))

    def short(self, model: str) -> str:
        """A model inside the project folder by its path there (runs/<id>/model)."""
        from pathlib import Path

        try:
            return str(Path(model).resolve().relative_to(self.project.folder.resolve()))
        except (ValueError, OSError):
            return model

    def on_eval_preview(self, message: EvalPreview) -> None:
        message.stop()
        status = self.query_one("#eval-status", Static)
        hint = self.query_one("#eval-hint", Static)
        if message.problem:
            self.ready = False
            status.update(Text.assemble(("✗ Nothing to evaluate yet: ", "bold red"), message.problem))
            hint.update(Text("esc goes back", style="dim"))
        else:
            self.ready = True
            status.update(Text.assemble(("Evaluate ", "bold"), message.line))
            hint.update(Text.assemble(("press enter to start the evaluation", "bold"),
                                      (f"\nCLI: tunesmith evaluate {self.project.slug}", "dim")))
        self.refresh_bindings()

    # ------------------------------------------------------------ running

    def action_start(self) -> None:
        if not self.ready or self.running:
            return
        self.running = True
        self.started_at = time.monotonic()
        self.query_one("#eval-progress").display = True
        self.query_one("#eval-hint", Static).update(Text("evaluating… the report opens when it is done", style="dim"))
        self.refresh_bindings()
        self.run_evaluation()

    @background("evaluate-run")
    def run_evaluation(self) -> None:
        from core.evaluate.run import evaluate

        outcome = evaluate(self.project, None, params=self.PARAMS,
                           progress=lambda line: self.post_message(EvalLine(line)))
        self.post_message(EvalDone(outcome.eval_id, list(outcome.headline)))

    def on_eval_line(self, message: EvalLine) -> None:
        message.stop()
        self.seen.append(message.line)
        self.query_one("#eval-log", Log).write_line(message.line)
        bar = self.query_one("#eval-progress", ProgressBar)
        counted = count_of(message.line)
        if counted is not None:
            done, total = counted
            self.last_count = counted
            bar.update(total=total, progress=done)
        elif message.line.rstrip().endswith("done"):
            bar.update(total=1, progress=1)
        else:
            bar.update(total=None)  # a step without a count: the bar pulses
        label = message.line.split(":", 1)[0] if counted else message.line
        left = COUNT_RE.search(message.line.strip())
        if counted and left and left.group(3):  # the time left, from the step's measured pace
            label = f"{label} · {left.group(3)}"
        self.query_one("#eval-status", Static).update(Text.assemble(("Evaluating: ", "bold"), label,
                                                                    no_wrap=True, overflow="ellipsis"))

    def on_eval_done(self, message: EvalDone) -> None:
        message.stop()
        self.running = False
        from screens.report import ReportScreen

        self.app.notify("\n".join([f"Evaluation {message.eval_id} done.", *message.headline[:3]]),
                        title="Evaluation")
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if isinstance(below, ReportScreen):
            self.app.pop_screen()  # the report reads the new evaluation when it resumes
        else:
            self.app.switch_screen(ReportScreen(self.project))

    def on_work_failed(self, message: WorkFailed) -> None:
        if message.group == "evaluate-run":
            self.running = False
            self.query_one("#eval-status", Static).update(Text("✗ The evaluation failed (see the message).",
                                                                style="bold red"))
            self.query_one("#eval-hint", Static).update(Text("enter tries again · esc goes back", style="dim"))
            self.refresh_bindings()

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return (self.ready and not self.running) or None
        if action == "back":
            return not self.running or None
        return True

    def action_back(self) -> None:
        if self.running:
            self.notify("The evaluation is running; the report opens when it is done.", title="Evaluation")
            return
        self.app.pop_screen()
