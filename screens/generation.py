"""The generation screen (skill 2): the pilot, its review, the scale-up, with a live progress view.

- the stage line: pilot not run / pilot done (pass rate, review state) / scale-up running, paused or done /
  dataset validated; below it the last generation report (pass rate per filter and per category,
  rejections by reason, tokens, cost, timings);
- **p** runs the pilot, **s** scales up (the projected cost, time and requests first, in a confirmation;
  refused when over the budget cap), **r** resumes an interrupted scale-up, **v** opens the pilot review.

Runs mirror ``tunesmith generate NAME --pilot | --scale | --resume`` (core.commands.generate): the core's
progress callback runs in the worker thread and posts each event as a :class:`GenProgress` message; the
screen applies it on the UI thread (progress bar and counters). Failures (no LLM, eval set not frozen,
budget, circuit open) reach the App's one error dialog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, ProgressBar, Static

from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.workers import background

if TYPE_CHECKING:
    from core.project import Project

GROUPS = ("gen-load", "gen-pilot", "gen-project", "gen-scale")


# ---------------------------------------------------------------- what the screen shows


@dataclass
class GenSnapshot:
    """Everything the screen draws, read off the UI thread."""

    stage: str  # "none" | "pilot" | "approved" | "scaling" | "scaled" | "validated"
    stage_text: str
    report: Any = None  # the last GenerationReport (scale's if any, else the pilot's)
    scale_state: Any = None  # ScaleState or None
    pilot_size: int = 0
    target_size: int = 0
    extra: str = ""  # validation / splits line


def _pct(x: float) -> str:
    return f"{x:.0%}"


def load_snapshot(project: "Project") -> GenSnapshot:
    from core.generate import pipeline_state as ps
    from core.generate.pipeline_parts import load_state
    from core.generate.report import read_summary
    from core.models.data import GenerationReport

    project.reload()
    meta = project.meta
    cfg = meta.config.generate
    summary = read_summary(project)
    pilot = project.read_or(ps.PILOT_REPORT, GenerationReport) or summary.pilot
    state = load_state(project)
    snap = GenSnapshot(stage="none", stage_text="", pilot_size=int(cfg.pilot_size), target_size=int(cfg.target_size),
                       scale_state=state)
    snap.report = summary.scale if (summary.scale is not None and state is not None) else pilot
    if not meta.is_done("generate", "pilot") or pilot is None:
        snap.stage_text = f"Pilot not run · p generates {cfg.pilot_size} examples and filters them"
        return snap
    head = f"Pilot: {pilot.kept}/{pilot.generated} kept ({_pct(pilot.pass_rate)})"
    if pilot.retries:
        head += f" after {pilot.retries} retr{'y' if pilot.retries == 1 else 'ies'}"
    if state is not None and state.status != "complete":
        snap.stage = "scaling"
        why = f" ({state.pause_reason})" if state.pause_reason else ""
        snap.stage_text = (f"Scale-up {'paused' if state.status == 'paused' else 'interrupted'} at "
                           f"{state.kept}/{state.target} kept{why} · r resumes it")
        return snap
    if meta.is_done("generate", "validated") or meta.is_done("generate", "scale"):
        snap.stage = "validated" if meta.is_done("generate", "validated") else "scaled"
        kept = summary.scale.kept if summary.scale else (state.kept if state else 0)
        splits = ", ".join(f"{k} {n}" for k, n in summary.splits.items())
        text = f"Scale-up done: {kept} examples" + (f" ({splits})" if splits else "")
        v = summary.validation
        if v is not None:
            text += (f" · dataset validated ✓ for {v.trainer}" if v.ok
                     else f" · validation failed: {'; '.join(v.errors[:1]) or v.note}")
        snap.stage_text = text
        return snap
    if meta.is_done("generate", "pilot_approved"):
        snap.stage = "approved"
        rev = summary.pilot_review
        good = f" ({rev.good}/{rev.rated} good, {_pct(rev.good_rate)})" if rev else ""
        snap.stage_text = f"{head} · review approved{good} · s scales up to {cfg.target_size}"
        return snap
    snap.stage = "pilot"
    review = "v reviews it"
    try:
        from core.generate import review as rv

        rnd = rv.current_round(project)
        if rnd.outcome == "rejected":
            review = (f"review rejected ({rnd.good}/{len(rnd.sample)} good, {_pct(rnd.good_rate)}) · "
                      f"p regenerates with the notes")
        else:
            review = f"review {rnd.rated}/{len(rnd.sample)} rated · v reviews it"
    except Exception:  # no pilot examples kept, or an unreadable review: the review screen says why
        pass
    snap.stage_text = f"{head} · {review}"
    return snap


def report_view(report: Any) -> Group:
    """The generation report: a headline, then filters | categories | rejections side by side."""
    from core.llm.usage import money

    tokens = report.prompt_tokens + report.completion_tokens
    head = Text.assemble(
        (f"Last {report.phase} report", "bold"),
        f" · {report.kept}/{report.generated} kept ({_pct(report.pass_rate)}) · strategy {report.strategy}\n",
        f"{tokens:,} tokens ({report.prompt_tokens:,} in, {report.completion_tokens:,} out) · "
        f"{money(report.cost_usd)} · {report.seconds:.0f} s"
        + (f" · {report.kept / report.seconds:.1f} kept/s" if report.seconds > 0 else ""),
    )
    if report.diversity_mean_similarity is not None:
        head.append(f" · similarity mean {report.diversity_mean_similarity:.2f}"
                    f" max {report.diversity_max_similarity or 0:.2f}")

    def stats_table(title: str, rows: dict[str, Any]) -> Table:
        t = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        t.add_column(title, no_wrap=True, overflow="ellipsis", max_width=24)
        t.add_column("pass", justify="right", no_wrap=True)
        t.add_column("n", justify="right", no_wrap=True)
        for name, s in rows.items():
            style = "" if s.pass_rate >= 0.7 else "bold"
            t.add_row(name, Text(_pct(s.pass_rate), style=style), f"{s.passed}/{s.checked}")
        return t

    rej = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    rej.add_column("rejected for", no_wrap=True, overflow="ellipsis", max_width=28)
    rej.add_column("n", justify="right", no_wrap=True)
    for reason, n in sorted(report.rejections_by_reason.items(), key=lambda kv: -kv[1]):
        rej.add_row(reason, str(n))
    if not report.rejections_by_reason:
        rej.add_row(Text("none", style="dim"), "")
    grid = Table.grid(padding=(0, 3))
    for _ in range(3):
        grid.add_column()
    grid.add_row(stats_table("filter", report.filters), stats_table("category", report.categories), rej)
    return Group(head, Text(""), grid)


def counters_text(ev: Any, started: float | None = None) -> str:
    """The live counters from a GenerationProgress with counts (done, kept, rejected, tokens, cost, speed)."""
    from core.llm.usage import money

    top = sorted(ev.rejected.items(), key=lambda kv: -kv[1])[:3]
    rej = f"rejected {ev.done - ev.kept}" + (f" ({', '.join(f'{k} {v}' for k, v in top)})" if top else "")
    cost = money(ev.cost_usd) + (f" of ~{money(ev.projected_cost_usd)} projected"
                                 if ev.projected_cost_usd is not None else "")
    text = (f"done {ev.done} · kept {ev.kept}/{ev.target} · {rej}\n"
            f"{ev.prompt_tokens + ev.completion_tokens:,} tokens · {cost} · {ev.examples_per_s:.1f} examples/s · "
            f"{ev.elapsed_s:.0f} s")
    if ev.retries or ev.failed_requests:
        text += f" · faults {ev.retries} retried, {ev.failed_requests} failed"
    return text


def finished_text(report: Any) -> str:
    """The counters once a run has ended, from its report."""
    from core.llm.usage import money

    top = sorted(report.rejections_by_reason.items(), key=lambda kv: -kv[1])[:3]
    rej = f"rejected {report.generated - report.kept}" + (f" ({', '.join(f'{k} {v}' for k, v in top)})" if top else "")
    speed = f" · {report.kept / report.seconds:.1f} examples/s" if report.seconds > 0 else ""
    return (f"{report.phase} finished: done {report.generated} · kept {report.kept} · {rej}\n"
            f"{report.prompt_tokens + report.completion_tokens:,} tokens · {money(report.cost_usd)}{speed} · "
            f"{report.seconds:.0f} s")


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


class ProjectionReady(Message):
    def __init__(self, projection: Any, resume: bool) -> None:
        super().__init__()
        self.projection = projection
        self.resume = resume


# ---------------------------------------------------------------- the screen


class GenerationScreen(Screen):
    BINDINGS = [
        Binding("p", "pilot", "Pilot", id="generation.pilot",
                tooltip="Generate and filter the pilot (config pilot_size); retried with adjusted prompts "
                        "while the pass rate is low"),
        Binding("v", "review", "Review", id="generation.review", tooltip="Spot-check the pilot"),
        Binding("s", "scale", "Scale up", id="generation.scale",
                tooltip="Show the projected cost and time, then scale up to target_size"),
        Binding("r", "resume", "Resume", id="generation.resume", tooltip="Continue an interrupted scale-up"),
        Binding("escape", "back", "Back", id="generation.back", tooltip="Back to the dashboard"),
    ]

    def __init__(self, project: "Project") -> None:
        super().__init__()
        self.project = project
        self.title = f"{project.meta.name} · generation"
        self.snapshot: GenSnapshot | None = None
        self.busy: str = ""  # "loading" | "pilot" | "projecting" | "scale" while a worker runs
        self.progress_applied = 0  # progress events applied on the UI thread (the tests read it)
        self.last_event: Any = None
        self._t0: float | None = None
        self.scale_target: int | None = None  # like `generate --scale --target N`; None: config target_size

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="gen-stage", markup=False)
        with Vertical(id="gen-live"):
            yield ProgressBar(total=None, show_eta=False, id="gen-bar")
            yield Static("", id="gen-counters", markup=False)
        yield Static("", id="gen-status", markup=False)
        with VerticalScroll(id="gen-report"):
            yield Static("", id="gen-report-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#gen-live").display = False
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

        project = self.project
        project.reload()
        if not project.meta.is_done("generate", "pilot_approved"):
            raise StageNotReady("the pilot is not approved yet: v opens the pilot review")
        state = sc.load_state(project)
        if not resume and state is not None and state.status != "complete":
            raise StageNotReady(f"a scale-up is in progress ({state.kept}/{state.target} kept): r resumes it")
        if resume and state is None:
            raise StageNotReady("there is no scale-up to resume: s starts one")
        if resume and state is not None and state.status == "complete":
            raise StageNotReady("the scale-up is complete: s starts a new one")
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
        self.post_message(ProjectionReady(proj, resume))

    @background("gen-scale")
    def run_scale_worker(self, resume: bool) -> None:
        from core.generate import pipeline as pl
        from core.generate.pipeline_scale import run_scale

        project = self.project
        gw = pl.default_gateway(project)
        try:
            report = run_scale(project, gw, target=None if resume else self.scale_target, resume=resume,
                               progress=self._progress)
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
        self.notify(message.note, title="Generation")
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

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_scale(resume=False)
            else:
                self.set_status("scale-up not started")
                self.refresh_bindings()

        self.set_status(proj.describe())
        self.refresh_bindings()
        self.app.push_screen(ConfirmDialog(projection_question(proj), yes="Scale up", no="Not now",
                                           title="Start the scale-up?"), answered)

    def on_work_failed(self, message: WorkFailed) -> None:
        """Let the App show the error (the message bubbles on); put the screen back in a usable state."""
        if message.group not in GROUPS:
            return
        doing, self.busy = self.busy, ""
        again = {"pilot": "p tries again", "scale": "progress is saved; r resumes once fixed",
                 "projecting": "s or r tries again"}.get(doing, "")
        self.set_status(f"{doing or 'loading'} failed" + (f" · {again}" if again else ""))
        if doing in ("pilot", "scale"):
            self.reload()
        self.refresh_bindings()

    # ------------------------------------------------------------ drawing

    def set_status(self, text: str) -> None:
        self.query_one("#gen-status", Static).update(text)

    def show(self, snap: GenSnapshot) -> None:
        self.snapshot = snap
        self.query_one("#gen-stage", Static).update(snap.stage_text)
        body = self.query_one("#gen-report-text", Static)
        if snap.report is not None:
            body.update(report_view(snap.report))
        else:
            body.update(Text("No generation report yet: the pilot writes the first one.", style="dim"))
        self.refresh_bindings()

    def start_live(self, label: str, total: int | None) -> None:
        self._t0 = time.monotonic()
        self.last_event = None
        self.query_one("#gen-live").display = True
        self.query_one("#gen-bar", ProgressBar).update(total=total, progress=0)
        self.query_one("#gen-counters", Static).update(label)

    def apply_progress(self, ev: Any) -> None:
        """One progress event, on the UI thread: the bar and counters when it has counts, else its line."""
        self.progress_applied += 1
        self.last_event = ev
        self.query_one("#gen-live").display = True
        if ev.target:
            self.query_one("#gen-bar", ProgressBar).update(total=ev.target, progress=min(ev.kept, ev.target))
            self.query_one("#gen-counters", Static).update(counters_text(ev))
            if ev.message:
                self.set_status(ev.message)
        else:
            self.set_status(ev.line())

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        snap = self.snapshot
        stage = snap.stage if snap else ""
        running = self.busy not in ("", "loading")
        if action == "pilot":
            return None if running else True
        if action == "review":
            if stage in ("", "none"):
                return None
            return None if running else True
        if action == "scale":
            if stage not in ("approved", "scaled", "validated"):
                return None
            return None if running else True
        if action == "resume":
            if stage != "scaling":
                return False
            return None if running else True
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

    def action_scale(self) -> None:
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

    def start_scale(self, resume: bool) -> None:
        if self.busy:
            return
        self.busy = "scale"
        state = self.snapshot.scale_state if self.snapshot else None
        target = (state.target if resume and state is not None
                  else self.scale_target or (self.snapshot.target_size if self.snapshot else 0))
        self.start_live(f"{'resuming' if resume else 'starting'} the scale-up to {target} examples…", target or None)
        self.refresh_bindings()
        self.run_scale_worker(resume)

    def action_review(self) -> None:
        if self.busy not in ("", "loading"):
            return
        self.app.open_screen("pilot_review", self.project)  # type: ignore[attr-defined]

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
