"""The job monitor: follow a training run: live log, loss chart, status, cancel; **t** opens the training
set-up (screens.train_setup: base model, plan, start), **v** evaluates a completed run.

The run folder (core.train.runfolder) is the truth. The screen only reads it (the log and the
metrics are tailed by LogPanel and LossChart) and asks core.train.service to refresh the status
every POLL_S seconds while the run is not final, so reopening the screen, or restarting the TUI,
re-attaches to a run that is still going. With several runs the screen opens on the list of runs
(newest first); with one it opens that run.

core.train.service is imported lazily, in workers: until it exists, the status is read from
run.toml and starting or cancelling a run says which skill brings it.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from core.models.runs import MetricRow, TrainingRun
from core.project import Project
from core.train.runfolder import CONFIG_JSON, FINAL, list_runs, read_run, run_dir
from tui.dialogs import ConfirmDialog
from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.widgets.log_panel import LogPanel
from tui.widgets.loss_chart import LossChart
from tui.workers import background

SERVICE = "core.train.service"
MISSING = "Training is not built yet: it arrives with skill 3"

STATUS_LOOK: dict[str, tuple[str, str]] = {
    "queued": ("◌ queued", "bold $warning"),
    "running": ("● running", "bold $accent"),
    "completed": ("✓ completed", "bold $success"),
    "failed": ("✗ failed", "bold $error"),
    "canceled": ("⊘ canceled", "bold $text-muted"),
}


def load_service() -> ModuleType | None:
    """core.train.service, or None while it does not exist (an error inside it is raised)."""
    try:
        return importlib.import_module(SERVICE)
    except ModuleNotFoundError as exc:
        if exc.name == SERVICE:
            return None
        raise


# ---------------------------------------------------------------- numbers for the status line


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def elapsed_s(run: TrainingRun, now: datetime | None = None) -> float | None:
    """Seconds since the run started (to its end once it has ended); None before it starts."""
    start = run.started_at or (run.created_at if run.status != "queued" else None)
    if start is None:
        return None
    end = run.ended_at if run.status in FINAL and run.ended_at else (now or datetime.now(timezone.utc))
    return max(0.0, (_aware(end) - _aware(start)).total_seconds())


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    days, s = divmod(s, 86_400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    text = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    return f"{days}d {text}" if days else text


def _number(config: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    for nested in ("training", "args", "hyperparameters", "trainer"):
        inner = config.get(nested)
        if isinstance(inner, dict):
            found = _number(inner, *keys)
            if found:
                return found
    return None


def progress(config: dict[str, Any], row: MetricRow | None, total_steps: int | None = None) -> tuple[float, str] | None:
    """(fraction done, 'step 120/500' or 'epoch 1.2/3') from the latest metric row and the step count the
    runner logged (else the config's max_steps, else its epochs)."""
    if row is None:
        return None
    max_steps = total_steps or _number(config, "max_steps", "total_steps")
    if max_steps and row.step > 0:
        return min(1.0, row.step / max_steps), f"step {row.step}/{int(max_steps)}"
    epochs = _number(config, "num_train_epochs", "epochs")
    if epochs and row.epoch:
        return min(1.0, row.epoch / epochs), f"epoch {row.epoch:.2f}/{epochs:g}"
    return None


def remaining_s(run: TrainingRun, elapsed: float | None, done: float | None) -> tuple[float | None, str]:
    """Estimated seconds left and where the estimate comes from ('progress' or 'plan')."""
    if run.status in FINAL or elapsed is None:
        return None, ""
    if done and 0 < done <= 1 and elapsed > 0:
        return elapsed * (1 - done) / done, "progress"
    if run.estimated_hours:
        return max(0.0, run.estimated_hours * 3600 - elapsed), "plan"
    return None, ""


def flavor_price(flavor: str | None) -> float | None:
    """The flavor's $/h from core.train.hardware's table (None when unknown)."""
    if not flavor:
        return None
    try:
        from core.train.hardware import FLAVORS
    except ImportError:
        return None
    found = FLAVORS.get(flavor)
    return found.usd_per_hour if found else None


def cost_so_far(run: TrainingRun, elapsed: float | None) -> tuple[float, float] | None:
    """(dollars so far, dollars per hour) on HF Jobs: the flavor's price per hour (else the plan's
    estimated cost / estimated hours, from run.toml) × the time since the job started running."""
    if run.backend != "hf_jobs":
        return None
    rate = flavor_price(run.flavor)
    if rate is None and run.estimated_cost_usd and run.estimated_hours:
        rate = run.estimated_cost_usd / run.estimated_hours
    if rate is None:
        return None
    return (rate * elapsed / 3600 if elapsed is not None and run.started_at else 0.0), rate


def measured_remaining(run: TrainingRun, rows: list[MetricRow] | None, total: int | None) -> float | None:
    """Seconds left at the run's own measured seconds per step (core.train.timing), once two timed rows
    past the first exist; None before that."""
    if run.status in FINAL or not rows:
        return None
    try:
        from core.train.timing import live_eta
    except ImportError:
        return None
    eta = live_eta(run, rows, total)
    return eta.remaining_s() if eta.measured else None


def status_content(run: TrainingRun, config: dict[str, Any], row: MetricRow | None,
                   now: datetime | None = None, total_steps: int | None = None,
                   rows: list[MetricRow] | None = None) -> Content:
    """Two or three lines: who/what/where, then time, a progress bar, the time left (measured), loss and
    cost, then a failure's reason."""
    label, style = STATUS_LOOK.get(run.status, (run.status, "bold"))
    method = run.method.upper() + (" LoRA" if run.use_lora else "")
    where = run.backend + (f" {run.flavor}" if run.flavor else "") + (f" job {run.job_id}" if run.job_id else "")
    first = Content.assemble((label, style), "  ", (run.run_id, "bold"),
                             f" · {where} · {method} · {run.base_model}")
    elapsed = elapsed_s(run, now)
    prog = progress(config, row, total_steps)
    left, basis = remaining_s(run, elapsed, prog[0] if prog else None)
    max_steps = _number(config, "max_steps")
    measured = measured_remaining(run, rows, total_steps or (int(max_steps) if max_steps and max_steps > 0 else None))
    if measured is not None:
        left, basis = measured, "measured"
    parts: list[str | tuple[str, str]] = [f"elapsed {fmt_duration(elapsed)}"]
    if prog and run.status not in FINAL:
        from core.progress import bar

        parts.append(" · ")
        parts.append((bar(prog[0], 10), "$accent"))
        parts.append(f" {prog[0]:.0%}")
    if left is not None:
        parts.append(f" · ~{fmt_duration(left)} left" + (" (plan)" if basis == "plan" else ""))
    elif run.status not in FINAL and run.estimated_hours:
        parts.append(f" · plan {fmt_duration(run.estimated_hours * 3600)}")
    if prog:
        parts.append(f" · {prog[1]}")
    elif row is not None:
        parts.append(f" · step {row.step}")
    cost = cost_so_far(run, elapsed)
    if cost is not None:  # before the losses: at 80 columns the end of the line is cut
        plan = f", plan ${run.estimated_cost_usd:.2f}" if run.estimated_cost_usd else ""
        parts.append(" · ")
        parts.append((f"${cost[0]:.2f} {'so far' if run.status not in FINAL else 'spent'} "
                      f"(${cost[1]:.2f}/h{plan})", "$warning"))
    if row is not None and row.loss is not None:
        parts.append(f" · loss {row.loss:.4g}")
    if row is not None and row.eval_loss is not None:
        parts.append(f" · eval {row.eval_loss:.4g}")
    lines = [first, Content.assemble(*parts)]
    if run.status == "failed" or run.failure_reason:
        reason = " ".join((run.failure_reason or "no reason recorded").split())
        style = "$error" if run.status == "failed" else "$text-muted"
        lines.append(Content.assemble(("reason: ", f"bold {style}"), (reason, style)))
    return Content("\n").join(lines)


def ago(t: datetime, now: datetime | None = None) -> str:
    seconds = ((now or datetime.now(timezone.utc)) - _aware(t)).total_seconds()
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def run_option(run: TrainingRun) -> Option:
    """One line per run (the list is text-wrap: nowrap): status, id, where, method, age, model."""
    label, style = STATUS_LOOK.get(run.status, (run.status, "bold"))
    prompt = Content.assemble((f"{label:<12}", style), " ", (run.run_id, "bold"),
                              f"  {run.backend} · {run.method.upper()} · {ago(run.created_at)} · {run.base_model}")
    return Option(prompt, id=run.run_id)


# ---------------------------------------------------------------- messages from the workers


class RunsLoaded(Message):
    def __init__(self, runs: list[TrainingRun], select: str | None) -> None:
        super().__init__()
        self.runs = runs
        self.select = select


class RunPolled(Message):
    """The run as the service (or run.toml) says it is now; ``problem``: the service's error, if any."""

    def __init__(self, run: TrainingRun, problem: Exception | None = None, attach: bool = False) -> None:
        super().__init__()
        self.run = run
        self.problem = problem
        self.attach = attach


class RefreshProblem(Message):
    """The service could not refresh the runs (a backend's API failed); run.toml was shown instead."""

    def __init__(self, problem: Exception) -> None:
        super().__init__()
        self.problem = problem


class ConfigLoaded(Message):
    def __init__(self, run_id: str, config: dict[str, Any]) -> None:
        super().__init__()
        self.run_id = run_id
        self.config = config


class ServiceMissing(Message):
    pass


# ---------------------------------------------------------------- the screen


class JobMonitorScreen(Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    POLL_S = 2.0  # status refresh while the run is not final
    CLOCK_S = 1.0  # elapsed / remaining time

    BINDINGS = [
        Binding("t", "train", "Train", id="monitor.train",
                tooltip="Set up a training run: choose the base model, see the plan (where, LoRA, time, cost), "
                        "start it"),
        Binding("c", "cancel_run", "Cancel run", id="monitor.cancel",
                tooltip="Cancel the run shown (asks first)"),
        Binding("f", "follow", "Follow", id="monitor.follow",
                tooltip="Follow the end of the log, or stop following (scrolling up stops it too)"),
        Binding("g", "chart", "Chart", id="monitor.chart",
                tooltip="Show or hide the loss chart (beside the log from 120 columns, a compact one below it "
                        "when narrower)"),
        Binding("v", "evaluate", "Evaluate", id="monitor.evaluate",
                tooltip="Evaluate the latest completed run against its base model, then see the report"),
        Binding("l", "runs", "Runs", id="monitor.runs", tooltip="The list of this project's runs"),
        Binding("r", "refresh", "Refresh", id="monitor.refresh",
                tooltip="Ask for the run's status now and read the list of runs again"),
        Binding("escape", "back", "Back", id="monitor.back",
                tooltip="Back to the list of runs when there are several, else to the dashboard"),
    ]

    COMMAND_NAMES = {"monitor.train": "Set up training (base model, where, time and cost)",
                     "monitor.evaluate": "Evaluate the completed run"}

    def __init__(self, project: Project, run_id: str | None = None) -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "training"
        self.initial_run_id = run_id
        self.runs: list[TrainingRun] = []
        self.run: TrainingRun | None = None
        self.config: dict[str, Any] = {}
        self.latest: MetricRow | None = None
        self.mode = "loading"  # loading, empty, list, run
        self.chart_choice: bool | None = None  # None: by width (beside from 120 cols, compact below)
        self._polling = False
        self._poll_paused = False
        self._follower_for: str | None = None  # the run whose backend follower this screen has started
        self._problems: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("reading the runs…", id="monitor-status")
        yield OptionList(id="runs-list")
        yield Static(id="monitor-empty")
        with Horizontal(id="monitor-body"):
            yield LogPanel(id="log")
            yield LossChart(id="chart")
        yield KeyBar()

    def on_mount(self) -> None:
        self._show_mode("loading")
        self.set_interval(self.POLL_S, self._poll_tick)
        self.set_interval(self.CLOCK_S, self._clock_tick)
        self.load_runs(self.initial_run_id)

    # ------------------------------------------------------------ widgets

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one("#log", LogPanel)

    @property
    def chart(self) -> LossChart:
        return self.query_one("#chart", LossChart)

    @property
    def status_line(self) -> Static:
        return self.query_one("#monitor-status", Static)

    def _show_mode(self, mode: str) -> None:
        self.mode = mode
        self.query_one("#runs-list").display = mode == "list"
        self.query_one("#monitor-empty").display = mode == "empty"
        self.query_one("#monitor-body").display = mode == "run"
        self.refresh_bindings()

    def _apply_chart_choice(self) -> None:
        self.set_class(self.chart_choice is True, "chart-on")
        self.set_class(self.chart_choice is False, "chart-off")

    def chart_visible(self) -> bool:
        return bool(self.chart.display)

    # ------------------------------------------------------------ runs

    @background("monitor-runs")
    def load_runs(self, select: str | None = None) -> None:
        """The runs, newest first; the service refreshes those not final (else run.toml as it is)."""
        runs: list[TrainingRun] | None = None
        try:
            service = load_service()
            if service is not None and hasattr(service, "list_runs"):
                runs = service.list_runs(self.project)
        except Exception as exc:  # a backend could not be asked: the folder still says
            self.post_message(RefreshProblem(exc))
        if runs is None:
            runs = list_runs(self.project)
        self.post_message(RunsLoaded(runs, select))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.runs = message.runs
        shown = next((r for r in self.runs if self.run is not None and r.run_id == self.run.run_id), None)
        if shown is not None:
            self._update_run(shown)  # the list was read after the last poll: it is as fresh
        wanted = next((r for r in self.runs if r.run_id == message.select), None) if message.select else None
        if wanted is not None:
            self.attach(wanted)
        elif self.mode == "run" and self.run is not None:
            pass  # a refresh while a run is shown: stay on it
        elif not self.runs:
            self._show_empty()
        elif len(self.runs) == 1:
            self.attach(self.runs[0])
        else:
            self.show_list()
        self.refresh_bindings()

    def _show_empty(self) -> None:
        self._show_mode("empty")
        self.status_line.update(Content.assemble(("No training runs yet.", "bold"), "  press t to set up training."))
        self.query_one("#monitor-empty", Static).update(Content.assemble(
            "press ", ("t", "bold reverse"), " to set up training: choose the base model, see where it runs, "
            "LoRA or full, time and cost; the run starts only when you press s there.\n\n",
            (f"CLI: tunesmith train {self.project.slug} --backend local --base-model MODEL --yes --follow", "dim"),
        ))

    def show_list(self) -> None:
        view = self.query_one("#runs-list", OptionList)
        keep = self.run.run_id if self.run else None
        view.clear_options()
        view.add_options(run_option(r) for r in self.runs)
        active = next((i for i, r in enumerate(self.runs) if r.status not in FINAL), 0)
        index = next((i for i, r in enumerate(self.runs) if r.run_id == keep), active)
        self._show_mode("list")
        view.highlighted = index
        view.focus()
        n_active = sum(r.status not in FINAL for r in self.runs)
        self.status_line.update(Content.assemble(
            (f"{len(self.runs)} runs", "bold"), f" · {n_active} active · newest first · enter opens one · t starts a new one"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        run = next((r for r in self.runs if r.run_id == event.option.id), None)
        if run is not None:
            self.attach(run)

    def attach(self, run: TrainingRun) -> None:
        """Show one run: tail its log and metrics, poll its status while it is not final."""
        same = self.run is not None and self.run.run_id == run.run_id and self.mode == "run"
        self.run = run
        self.config = dict(run.config)
        self._show_mode("run")
        if not same:
            folder = run_dir(self.project, run.run_id)
            self.latest = None
            self.log_panel.attach(folder)
            self.chart.attach(folder)
            self.load_config(run.run_id)
            self._poll_paused = False
        self.show_status()
        self.log_panel.focus()
        if run.status not in FINAL:
            self._poll_tick()

    @background("monitor-config")
    def load_config(self, run_id: str) -> None:
        path = run_dir(self.project, run_id) / CONFIG_JSON
        try:
            config = json.loads(Path(path).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return
        if isinstance(config, dict):
            self.post_message(ConfigLoaded(run_id, config))

    def on_config_loaded(self, message: ConfigLoaded) -> None:
        if self.run is not None and message.run_id == self.run.run_id:
            self.config = {**message.config, **self.run.config}
            self.show_status()

    def on_loss_chart_rows(self, message: LossChart.Rows) -> None:
        self.latest = self.chart.latest
        self.show_status()

    def show_status(self) -> None:
        if self.mode == "run" and self.run is not None:
            self.status_line.update(status_content(self.run, self.config, self.latest,
                                                   total_steps=self.log_panel.total_steps, rows=self.chart.rows))

    # ------------------------------------------------------------ polling

    def _clock_tick(self) -> None:
        if self.mode == "run" and self.run is not None and self.run.status not in FINAL:
            self.show_status()

    def _poll_tick(self, force: bool = False) -> None:
        run = self.run
        if run is None or self.mode != "run" or self._polling:
            return
        if not force and (run.status in FINAL or self._poll_paused):
            return
        self._polling = True
        start_follower = self._follower_for != run.run_id
        self._follower_for = run.run_id
        self.poll(run.run_id, start_follower)

    @background("monitor-poll")
    def poll(self, run_id: str, start_follower: bool = False) -> None:
        """service.refresh; on the first poll after attaching, also make sure the backend keeps train.log
        growing (Backend.follow: a no-op locally, the log follower thread of an HF job; safe to repeat)."""
        problem: Exception | None = None
        run: TrainingRun | None = None
        try:
            service = load_service()
            if service is not None:
                run = service.refresh(self.project, run_id)
                if start_follower and run.status not in FINAL and hasattr(service, "get_backend"):
                    service.get_backend(run.backend).follow(run_dir(self.project, run_id), run)
        except Exception as exc:  # the service could not ask (network, API): the folder still says
            problem = exc
        if not isinstance(run, TrainingRun):
            run = read_run(run_dir(self.project, run_id))  # a broken run.toml: the error dialog
        self.post_message(RunPolled(run, problem))

    def on_run_polled(self, message: RunPolled) -> None:
        self._polling = False
        if message.problem is not None:
            self._note_problem(message.problem)
        self._update_run(message.run)
        if message.attach:
            self.attach(message.run)

    def on_refresh_problem(self, message: RefreshProblem) -> None:
        self._note_problem(message.problem)

    def _note_problem(self, problem: Exception) -> None:
        """Say once per distinct error that the status could not be refreshed (polling goes on)."""
        text = f"{type(problem).__name__}: {problem}"
        if text not in self._problems:
            self._problems.add(text)
            self.notify(f"{text}\nShowing what run.toml says.", title="Could not refresh the run",
                        severity="warning")

    def _update_run(self, new: TrainingRun) -> None:
        self.runs = [new if r.run_id == new.run_id else r for r in self.runs]
        if not any(r.run_id == new.run_id for r in self.runs):
            self.runs.insert(0, new)
        old = self.run
        if old is None or old.run_id != new.run_id:
            return
        self.run = new
        self.config = {**self.config, **new.config}
        self.show_status()
        if old.status != new.status:
            self.refresh_bindings()
            if new.status in FINAL:
                severity = {"completed": "information", "failed": "error"}.get(new.status, "warning")
                nxt = (f"\npress v to evaluate it\nCLI: tunesmith evaluate {self.project.slug}"
                       if new.status == "completed" else "")
                self.notify(f"Run {new.run_id} {new.status}.{nxt}", title="Training", severity=severity)

    def on_work_failed(self, message: WorkFailed) -> None:
        """Let the App show the error; a failing status poll stops polling until r."""
        if message.group == "monitor-poll":
            self._polling = False
            self._poll_paused = True
        # not stopped: it bubbles on to the App's one error dialog

    def on_service_missing(self, message: ServiceMissing) -> None:
        self.notify(MISSING, title="Training", severity="warning")

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.mode == "run" and self.run is not None and self.run.status not in FINAL or None
        if action in ("follow", "chart"):
            return self.mode == "run" or None
        if action == "runs":  # with one run or none it says so (and which key comes next)
            return True if self.mode != "list" else None
        if action == "evaluate":
            return any(r.status == "completed" for r in self.runs)
        return True

    def action_evaluate(self) -> None:
        if any(r.status == "completed" for r in self.runs):
            open_screen = getattr(self.app, "open_screen", None)
            if open_screen is not None:
                open_screen("evaluate", self.project)

    def action_back(self) -> None:
        if self.mode == "run" and len(self.runs) > 1:
            self.show_list()
        else:
            self.app.pop_screen()

    def action_runs(self) -> None:
        if not self.runs:
            self.notify("No training runs yet: press t to set up training.", title="Runs", severity="warning")
            return
        if len(self.runs) == 1:
            only = self.runs[0]
            if self.mode != "run":
                self.attach(only)
            self.notify(f"Only one run so far ({only.run_id}, {only.status}): it is the one shown. "
                        f"t sets up another.", title="Runs")
            return
        self.show_list()

    def action_follow(self) -> None:
        following = self.log_panel.toggle_follow()
        self.notify("Following the log" if following else "Not following the log (f follows again)",
                    timeout=1.5)

    def action_chart(self) -> None:
        self.chart_choice = not self.chart_visible()
        self._apply_chart_choice()

    def action_refresh(self) -> None:
        self._poll_paused = False
        self._follower_for = None  # and make sure the backend follows the log again
        self._poll_tick(force=True)
        self.load_runs(None)

    def action_cancel_run(self) -> None:
        run = self.run
        if run is None or self.mode != "run":
            return
        if run.status in FINAL:
            self.notify(f"The run has already {run.status}.", severity="warning")
            return
        where = f"the job {run.job_id} on HF Jobs" if run.backend == "hf_jobs" and run.job_id else "the training process"
        question = (f"Cancel run {run.run_id}?\n\nThis stops {where}. The log, the metrics so far and "
                    "the run folder are kept; the run cannot be resumed.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify(f"Cancelling {run.run_id}…", timeout=2)
                self.cancel_run(run.run_id)

        self.app.push_screen(ConfirmDialog(question, yes="Cancel run", no="Keep running",
                                           title="Cancel training"), answered)

    @background("monitor-cancel")
    def cancel_run(self, run_id: str) -> None:
        service = load_service()
        if service is None:
            self.post_message(ServiceMissing())
            return
        result = service.cancel(self.project, run_id)
        run = result if isinstance(result, TrainingRun) else read_run(run_dir(self.project, run_id))
        self.post_message(RunPolled(run))

    def action_train(self) -> None:
        active = next((r for r in self.runs if r.status not in FINAL), None)
        if active is not None:
            self.notify(f"Run {active.run_id} is still {active.status}: press c to cancel it, or wait for it to "
                        f"end.", title="Training", severity="warning")
            return
        if load_service() is None:
            self.post_message(ServiceMissing())
            return
        from screens.train_setup import TrainSetupScreen

        self.app.open_stage(TrainSetupScreen(self.project))  # type: ignore[attr-defined]
