"""The generation screen (skill 2): the pilot, its review, the scale-up, with a live progress view.

- the stage line: pilot not run / pilot done (pass rate, review state) / scale-up running, paused or done /
  dataset validated; below it the last generation report (pass rate per filter and per category,
  rejections by reason, tokens, cost, timings);
- **p** runs the pilot, **s** scales up (the projected cost, time and requests first, in a confirmation;
  refused when over the budget cap; over a finished dataset the dialog asks to replace it, as
  ``--replace`` does, and the old one is put back if the new run does not finish), **r** resumes an interrupted scale-up (or one whose dataset is not
  ready for training, e.g. refusals short of the plan), **v** opens the pilot review, **d** the optional
  review of the scale-up's random sample, **x** clears the prompt adjustments earlier pilots left for the
  generator (after a confirmation);
- the report shows the planned mix against what was kept per kind (a short kind in the warning colour),
  the DPO / KTO rejected-response strategies with the ones that failed, and the report's notes; the
  warnings panel under the status line holds those notes and every "warning:" / "note:" progress line.

Runs mirror ``tunesmith generate NAME --pilot | --scale | --resume`` (core.commands.generate): the core's
progress callback runs in the worker thread and posts each event as a :class:`GenProgress` message; the
screen applies it on the UI thread (progress bar and counters). Failures (no LLM, eval set not frozen,
budget, circuit open) reach the App's one error dialog; a scale-up whose dataset is not ready for training
(``DatasetInvalid``: e.g. the refusals short of the plan) is shown with its own title and kept in the
warnings panel. What the screen draws (the snapshot, the report) is in :mod:`screens.generation_view`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, ProgressBar, Static

from screens.generation_view import (  # noqa: F401  (GenSnapshot, mix_text, ...: re-exported for callers)
    WARN,
    GenSnapshot,
    _pct,
    counters_text,
    feedback_text,
    finished_text,
    live_note,
    load_snapshot,
    mix_text,
    notes_text,
    panel_line,
    panel_rank,
    NARROW,
    report_view,
    strategies_text,
)
from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.workers import background

if TYPE_CHECKING:
    from core.project import Project

GROUPS = ("gen-load", "gen-pilot", "gen-project", "gen-scale", "gen-feedback")


# ---------------------------------------------------------------- what the workers report


class GenLoaded(Message):
    def __init__(self, snapshot: GenSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class GenProgress(Message):
    """One progress event of a pilot or scale-up (core.generate.pipeline_common.GenerationProgress)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class GenFinished(Message):
    def __init__(self, report: Any, note: str) -> None:
        super().__init__()
        self.report = report
        self.note = note


class FeedbackCleared(Message):
    def __init__(self, cleared: int) -> None:
        super().__init__()
        self.cleared = cleared


class ProjectionReady(Message):
    def __init__(self, projection: Any, resume: bool, replaces: int = 0) -> None:
        super().__init__()
        self.projection = projection
        self.resume = resume
        self.replaces = replaces  # examples of the finished dataset a new scale-up would replace (0: none)


# ---------------------------------------------------------------- the screen


class GenerationScreen(Screen):
    BINDINGS = [
        Binding("p", "pilot", "Pilot", id="generation.pilot",
                tooltip="Generate and filter the pilot (config pilot_size); retried with adjusted prompts "
                        "while the pass rate is low"),
        Binding("v", "review", "Review", id="generation.review", tooltip="Spot-check the pilot"),
        Binding("s", "scale", "Scale up", id="generation.scale",
                tooltip="Show the projected cost and time, then scale up to target_size"),
        Binding("r", "resume", "Resume", id="generation.resume",
                tooltip="Continue an interrupted scale-up, or one whose dataset is not ready for training"),
        Binding("d", "scale_review", "Sample review", id="generation.scale_review",
                tooltip="Rate the random sample of the final dataset (optional; tunesmith review NAME scale)"),
        Binding("x", "clear_feedback", "Clear adjustments", id="generation.clear_feedback",
                tooltip="Forget the prompt adjustments earlier pilots left for the generator (asks first)"),
        Binding("q", "quality_log", "Quality log", id="generation.quality_log",
                tooltip="Every filter's verdict per example (data/quality_log.parquet): counts by filter and "
                        "reason, then each check"),
        Binding("escape", "back", "Back", id="generation.back", tooltip="Back to the dashboard"),
    ]
    COMMAND_NAMES = {
        "generation.scale_review": "Review the scale-up sample",
        "generation.clear_feedback": "Clear the prompt adjustments of earlier pilots",
        "generation.quality_log": "Open the quality log (every filter's verdict per example)",
    }

    def __init__(self, project: "Project") -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "generation"
        self.snapshot: GenSnapshot | None = None
        self.busy: str = ""  # "loading" | "pilot" | "projecting" | "scale" while a worker runs
        self.progress_applied = 0  # progress events applied on the UI thread (the tests read it)
        self.last_event: Any = None
        self._t0: float | None = None
        self.scale_target: int | None = None  # like `generate --scale --target N`; None: config target_size
        self.live_notes: list[str] = []  # "warning:" / "note:" progress lines, and a run's refusal, this run

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="gen-stage", markup=False)
        with Vertical(id="gen-live"):
            yield ProgressBar(total=None, show_eta=False, id="gen-bar")
            yield Static("", id="gen-counters", markup=False)
        yield Static("", id="gen-status", markup=False)
        yield Static("", id="gen-warnings", markup=False)
        with VerticalScroll(id="gen-report"):
            yield Static("", id="gen-run-notes")
            yield Static("", id="gen-report-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#gen-live").display = False
        self.query_one("#gen-warnings").display = False
        self.query_one("#gen-run-notes").display = False
        self.reload()

    def on_screen_resume(self) -> None:
        if self.snapshot is not None and not self.busy:
            self.reload()  # back from the pilot review: its verdict changes the stage

    def reload(self) -> None:
        if self.busy and self.busy != "loading":
            return
        self.busy = "loading"
        self.load()

    # ------------------------------------------------------------ workers

    @background("gen-load")
    def load(self) -> None:
        self.post_message(GenLoaded(load_snapshot(self.project)))

    def _progress(self, event: Any) -> None:
        """The core's progress callback (runs in the worker thread)."""
        self.post_message(GenProgress(event))

    @background("gen-pilot")
    def run_pilot_worker(self) -> None:
        from core.generate.pipeline import run_pilot

        report = run_pilot(self.project, progress=self._progress)  # holds the project's lock itself
        target = self.project.meta.config.generate.quality_thresholds.pass_rate_target
        note = (f"pilot: {report.kept} of {report.generated} examples passed the filters ({_pct(report.pass_rate)})"
                + (f" after {report.retries} retries" if report.retries else ""))
        if report.pass_rate < target:
            note += f"; below the {_pct(target)} target after every retry: look at the quality log before the review"
        self.post_message(GenFinished(report, note))

    @background("gen-project")
    def project_worker(self, resume: bool) -> None:
        """The checks and the projection before a scale-up (as ``generate --scale`` does them)."""
        from core.errors import StageNotReady
        from core.generate import pipeline as pl
        from core.generate import pipeline_scale as sc
        from core.generate.strategy import strategy_for

        from core.generate import previous

        project = self.project
        with project.writing():  # an earlier replacement that was killed: the old dataset goes back first
            previous.recover(project)
        project.reload()
        if not project.meta.is_done("generate", "pilot_approved"):
            raise StageNotReady("the pilot is not approved yet: v opens the pilot review")
        state = sc.load_state(project)
        if not resume and state is not None and state.status != "complete":
            raise StageNotReady(f"a scale-up is in progress ({state.kept}/{state.target} kept): r resumes it")
        if resume and state is None:
            raise StageNotReady("there is no scale-up to resume: s starts one")
        if resume and state is not None and state.status == "complete" and project.meta.is_done("generate",
                                                                                                  "validated"):
            raise StageNotReady("the scale-up is complete and the dataset validated: s starts a new one")
        gw = pl.default_gateway(project)
        try:
            pl.check_ready(project)
            pl.check_llm(project, gw, strategy_for(project))
            target = state.target if resume and state else self.scale_target
            proj = sc.projection(project, target=target, gateway=gw, fresh=not resume)
        finally:
            gw.close()
        try:
            sc.check_budget(proj)
        except sc.BudgetTooLow as exc:
            raise sc.BudgetTooLow(f"Scale-up refused: over the budget cap.\n\n{proj.describe()}\n\n{exc}") from exc
        self.post_message(ProjectionReady(proj, resume, 0 if resume else previous.finished_rows(project)))

    @background("gen-feedback")
    def clear_feedback_worker(self) -> None:
        from core.generate.pipeline import load_feedback, save_feedback
        from core.generate.pipeline_state import PilotFeedback

        with self.project.writing():
            cleared = len(load_feedback(self.project).lines())
            save_feedback(self.project, PilotFeedback())
        self.post_message(FeedbackCleared(cleared))

    @background("gen-scale")
    def run_scale_worker(self, resume: bool, replace: bool = False) -> None:
        from core.generate import pipeline as pl
        from core.generate.pipeline_scale import run_scale

        project = self.project
        gw = pl.default_gateway(project)
        try:
            report = run_scale(project, gw, target=None if resume else self.scale_target, resume=resume,
                               progress=self._progress, replace=replace)
        finally:
            gw.close()
        from core.llm.usage import money

        note = (f"dataset: {report.kept} examples · {report.generated} generated, {_pct(report.pass_rate)} passed, "
                f"{money(report.cost_usd)}, {report.seconds:.0f} s")
        self.post_message(GenFinished(report, note))

    # ------------------------------------------------------------ what the workers said

    def on_gen_loaded(self, message: GenLoaded) -> None:
        message.stop()
        if self.busy == "loading":
            self.busy = ""
        self.show(message.snapshot)

    def on_gen_progress(self, message: GenProgress) -> None:
        message.stop()
        self.apply_progress(message.event)

    def on_gen_finished(self, message: GenFinished) -> None:
        message.stop()
        self.busy = ""
        report = message.report
        bar = self.query_one("#gen-bar", ProgressBar)
        bar.update(total=max(1, report.kept), progress=report.kept)
        self.query_one("#gen-counters", Static).update(finished_text(report))
        self.set_status(message.note)
        self.notify(message.note, title="Generation", markup=False)
        self.reload()

    def on_feedback_cleared(self, message: FeedbackCleared) -> None:
        message.stop()
        self.busy = ""
        n = message.cleared
        note = (f"Cleared {n} prompt adjustment{'s' if n != 1 else ''}: the next pilot or scale-up starts from "
                f"the plain prompts." if n else "There were no prompt adjustments to clear.")
        self.set_status(note)
        self.notify(note, title="Generation", markup=False)
        self.reload()

    def on_projection_ready(self, message: ProjectionReady) -> None:
        message.stop()
        self.busy = ""
        proj = message.projection
        if message.resume:  # like `generate --resume`: no question, the projection is shown
            self.set_status(proj.describe())
            self.start_scale(resume=True)
            return
        from tui.dialogs import ConfirmDialog

        replaces = message.replaces

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_scale(resume=False, replace=bool(replaces))
            else:
                self.set_status("scale-up not started" + ("; the finished dataset is untouched" if replaces else ""))
                self.refresh_bindings()

        self.set_status(proj.describe())
        self.refresh_bindings()
        if replaces:  # never replace a finished dataset without saying so
            question = (f"The finished dataset ({replaces:,} examples) will be replaced. It is set aside and put "
                        f"back if the new scale-up does not finish.\n\n{projection_question(proj)}")
            dialog = ConfirmDialog(question, yes="Replace it", no="Keep it", title="Replace the finished dataset?")
        else:
            dialog = ConfirmDialog(projection_question(proj), yes="Scale up", no="Not now",
                                   title="Start the scale-up?")
        self.app.push_screen(dialog, answered)

    def on_work_failed(self, message: WorkFailed) -> None:
        """Let the App show the error (the message bubbles on); put the screen back in a usable state."""
        if message.group not in GROUPS:
            return
        doing, self.busy = self.busy, ""
        if type(message.error).__name__ == "DatasetInvalid":  # the dataset is written but not ready: say what to change
            message.stop()
            self.add_live_note(f"not ready for training: {message.error}")
            self.set_status("scale-up finished, but the dataset is not ready for training · r continues once fixed")
            self.app.report_error(message.error, "The dataset is not ready for training")  # type: ignore[attr-defined]
            self.reload()
            self.refresh_bindings()
            return
        again = {"pilot": "p tries again", "scale": "progress is saved; r resumes once fixed",
                 "projecting": "s or r tries again"}.get(doing, "")
        self.set_status(f"{doing or 'loading'} failed" + (f" · {again}" if again else ""))
        if doing in ("pilot", "scale"):
            self.reload()
        self.refresh_bindings()

    # ------------------------------------------------------------ drawing

    def set_status(self, text: str) -> None:
        self.query_one("#gen-status", Static).update(text)

    def add_live_note(self, text: str) -> None:
        if text not in self.live_notes:
            self.live_notes.append(text)
        self.show_warnings()

    def warning_lines(self) -> list[str]:
        """This run's warning / note lines, then the shown report's notes not already among them."""
        lines = list(self.live_notes)
        report = self.snapshot.report if self.snapshot else None
        said = {line.split(":", 1)[-1].strip() for line in lines}
        for note in (report.notes if report is not None else []):
            if note.strip() not in said and f"warning: {note}" not in lines:
                lines.append(f"warning: {note}")
        # what stops the run first, then the warnings, then the notes
        return sorted(lines, key=panel_rank)

    def show_warnings(self) -> None:
        """The warnings panel: one line each (cut with …) on a short screen; the report below has them in
        full. Warnings in the warning colour, notes plain."""
        lines = self.warning_lines()
        full = self.query_one("#gen-run-notes", Static)  # this run's lines in full, above the report
        full.display = bool(self.live_notes)
        if self.live_notes:
            said = [panel_line(line) for line in lines if line in self.live_notes]
            full.update(Text("\n").join([Text("This run said", style="bold"), *said, Text("")]))
        box = self.query_one("#gen-warnings", Static)
        box.display = bool(lines)
        if not lines:
            return
        tall = self.size.height >= 32
        limit = 8 if tall else 3
        shown = lines if len(lines) <= limit else lines[: limit - 1]
        out = Text("\n").join(panel_line(line) for line in shown)
        if len(shown) < len(lines):
            out.append(f"\n… {len(lines) - len(shown)} more in the report below", "bold")
        box.set_class(tall, "-tall")
        box.update(out)

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW
        if self.snapshot is not None and narrow != getattr(self, "_narrow", narrow):
            self.show(self.snapshot)  # the report's tables: two side by side, or three
        elif self.snapshot is not None or self.live_notes:
            self.show_warnings()
        self._narrow = narrow

    def show(self, snap: GenSnapshot) -> None:
        self.snapshot = snap
        self.query_one("#gen-stage", Static).update(snap.stage_text)
        body = self.query_one("#gen-report-text", Static)
        parts: list[Any] = []
        if snap.report is not None:
            parts.append(report_view(snap.report, self.size.width or NARROW))
        else:
            parts.append(Text("No generation report yet: the pilot writes the first one.", style="dim"))
        if snap.scale_sample:
            where = snap.scale_review.removeprefix("scale-up review: ") or "not reviewed yet"
            parts.append(Text.assemble(("\nScale-up sample review: ", "bold"), where,
                                       (" · d reviews it (optional)", "dim")))
        if snap.feedback:
            parts.append(Text(""))
            parts.append(feedback_text(snap.feedback))
        body.update(Group(*parts))
        self.show_warnings()
        self.refresh_bindings()

    def start_live(self, label: str, total: int | None) -> None:
        self._t0 = time.monotonic()
        self.last_event = None
        self.live_notes = []
        self.show_warnings()
        self.query_one("#gen-live").display = True
        self.query_one("#gen-bar", ProgressBar).update(total=total, progress=0)
        self.query_one("#gen-counters", Static).update(label)

    def apply_progress(self, ev: Any) -> None:
        """One progress event, on the UI thread: the bar and counters when it has counts, else its line."""
        self.progress_applied += 1
        self.last_event = ev
        self.query_one("#gen-live").display = True
        note = live_note(ev.message or "")
        if note is not None:
            self.add_live_note(note)
        if ev.target:
            self.query_one("#gen-bar", ProgressBar).update(total=ev.target, progress=min(ev.kept, ev.target))
            self.query_one("#gen-counters", Static).update(counters_text(ev))
            if ev.message:
                self.set_status(ev.message)
        else:
            if getattr(ev, "step_total", 0):  # a step counted in cells (the pilot's generation)
                self.query_one("#gen-bar", ProgressBar).update(total=ev.step_total, progress=ev.step_done)
            self.set_status(ev.line())

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        snap = self.snapshot
        stage = snap.stage if snap else ""
        running = self.busy not in ("", "loading")
        if action == "pilot":
            return None if running else True
        if action in ("review", "scale"):  # before a pilot (or its approval) the key says what comes first
            return None if running else True
        if action == "resume":
            if stage not in ("scaling", "scaled"):
                return False
            return None if running else True
        if action == "scale_review":
            if not (snap and snap.scale_sample):
                return False
            return None if running else True
        if action == "clear_feedback":
            if not (snap and snap.feedback):
                return False
            return None if self.busy else True
        return True

    def action_pilot(self) -> None:
        if self.busy not in ("", "loading"):
            return
        self.busy = "pilot"
        size = self.snapshot.pilot_size if self.snapshot else 0
        self.start_live(f"pilot of {size} examples: generating, then filtering…", None)
        self.set_status("starting the pilot…")
        self.refresh_bindings()
        self.run_pilot_worker()

    def not_ready(self, action: str) -> str:
        """What a key cannot do yet and which key comes first ('' when it can)."""
        stage = self.snapshot.stage if self.snapshot else ""
        if stage in ("", "none"):
            return ("No pilot yet: press p to generate and filter it, then v to review it; "
                    + ("s scales up once the review approves it." if action == "scale" else "v then reviews it."))
        if action == "scale" and stage == "pilot":
            return "The pilot is not approved yet: press v to review it; s scales up once the review approves it."
        return ""

    def action_scale(self) -> None:
        why = self.not_ready("scale")
        if why:
            self.notify(why, title="Scale up", severity="warning")
            return
        self._project_first(resume=False)

    def action_resume(self) -> None:
        self._project_first(resume=True)

    def _project_first(self, resume: bool) -> None:
        if self.busy not in ("", "loading"):
            return
        self.busy = "projecting"
        self.set_status("projecting the cost and time of the scale-up…")
        self.refresh_bindings()
        self.project_worker(resume)

    def start_scale(self, resume: bool, replace: bool = False) -> None:
        if self.busy:
            return
        self.busy = "scale"
        state = self.snapshot.scale_state if self.snapshot else None
        target = (state.target if resume and state is not None
                  else self.scale_target or (self.snapshot.target_size if self.snapshot else 0))
        self.start_live(f"{'resuming' if resume else 'starting'} the scale-up to {target} examples…", target or None)
        self.refresh_bindings()
        self.run_scale_worker(resume, replace)

    def action_review(self) -> None:
        if self.busy not in ("", "loading"):
            return
        why = self.not_ready("review")
        if why:
            self.notify(why, title="Review", severity="warning")
            return
        self.app.open_screen("pilot_review", self.project)  # type: ignore[attr-defined]

    def action_scale_review(self) -> None:
        if self.busy not in ("", "loading") or not (self.snapshot and self.snapshot.scale_sample):
            return
        from screens.review import ReviewScreen

        self.app.open_stage(ReviewScreen(self.project, kind="scale"))  # type: ignore[attr-defined]

    def action_clear_feedback(self) -> None:
        from tui.dialogs import ConfirmDialog

        lines = self.snapshot.feedback if self.snapshot else []
        if self.busy or not lines:
            return
        n = len(lines)
        shown = [f"  · {line if len(line) <= 66 else line[:65] + '…'}" for line in lines[:6]]
        if n > 6:
            shown.append(f"  … and {n - 6} more")
        question = "\n".join([f"Clear the {n} prompt adjustment{'s' if n != 1 else ''} earlier pilots left for "
                              f"the generator?", *shown,
                              "The next pilot or scale-up then starts from the plain prompts."])

        def answered(yes: bool | None) -> None:
            if yes and not self.busy:
                self.busy = "clearing"
                self.set_status("clearing the prompt adjustments…")
                self.refresh_bindings()
                self.clear_feedback_worker()

        self.app.push_screen(ConfirmDialog(question, yes="Clear", no="Keep them", title="Clear prompt adjustments?"),
                             answered)

    def action_quality_log(self) -> None:
        from screens.browse import BrowseScreen

        self.app.push_screen(BrowseScreen(self.project, "quality_log"))

    def action_back(self) -> None:
        if self.busy in ("pilot", "scale"):
            self.notify(f"The {'pilot' if self.busy == 'pilot' else 'scale-up'} goes on in the background; "
                        f"its result is saved.", title="Generation")
        self.app.pop_screen()


def projection_question(proj: Any) -> str:
    from core.generate.pipeline_projection import _duration
    from core.llm.usage import money

    left = proj.target - proj.kept
    cost = f"~{money(proj.cost_usd)}" if proj.cost_known else "unknown (the model's price is not known)"
    lines = [
        f"Keep {left} more examples (target {proj.target}) at a {_pct(proj.pass_rate)} pass rate:",
        f"  ~{proj.examples_needed} examples to generate, ~{proj.requests} requests, ~{proj.tokens:,} tokens",
        f"  cost {cost}, time ~{_duration(proj.seconds)}",
    ]
    if proj.budget_usd is not None:
        lines.append(f"  budget cap {money(proj.budget_usd)}: {money(proj.spent_usd)} spent, "
                     f"~{money(proj.total_usd)} in all")
    else:
        lines.append(f"  no budget cap ({money(proj.spent_usd)} spent so far)")
    lines.append("Start the scale-up?")
    return "\n".join(lines)
