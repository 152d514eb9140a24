"""SVG snapshots of every screen at 80x24 and 160x50, in the states that matter (pytest-textual-snapshot).

Each snapshot starts a TunesmithApp on its own copy of a prepared projects folder, navigates to the screen
in a ``run_before`` coroutine, waits until the screen has what it should show, and compares the frame with
tests/__snapshots__/test_snapshots/test_snapshot[<screen>-<state>-<size>].svg. A layout change shows in
review as a changed SVG; a failing run writes snapshot_report.html (expected and actual side by side).

    python -m pytest tests/test_snapshots.py                     # compare
    python -m pytest tests/test_snapshots.py --snapshot-update   # accept the current frames

The states: ``empty`` a fresh project with nothing done (or no project at all), ``working`` a generation,
training or evaluation mid-run from prepared files and progress events, ``done`` a copy of the shipped
example projects/billing-support (never the shipped folder itself), ``error`` a screen showing an error
(a broken file, a base model that cannot be found, a form submitted empty).

The frames are byte-stable across runs and machines: the projects folder is passed as the relative path
``projects`` (the test runs in its own temporary folder), the job monitor's clock is frozen, animations
are off (``animation_level = "none"``: no spinner or pulsing bar moves), the cursors do not blink,
toasts are off (their timeouts depend on the machine's speed), the training
set-up sees a fixed CPU and a base model in its cache, and nothing reaches a provider or the network.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Awaitable, Callable

import pytest
import pytest_textual_snapshot

from core.models.runs import TrainingRun
from core.project import Project
from tui.app import TunesmithApp

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "projects" / "billing-support"
SIZES = {"80x24": (80, 24), "160x50": (160, 50)}
UTC = timezone.utc
NOW = datetime(2025, 3, 14, 9, 30, 0, tzinfo=UTC)  # "now" for every screen that says how long ago
BASE_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
RUN_ID = "20250314-091200-sft-3c9e"


# pytest-textual-snapshot 1.0.0 names the file extension the way syrupy 4 read it (``_file_extension``);
# syrupy 5 and later (7.0.3 here: 4.x does not allow pytest 9) read ``file_extension``, else the frames
# are saved as .raw files. 1.1.0 pins syrupy 4.8.0, which cannot be installed beside pytest 9.
pytest_textual_snapshot.SVGImageExtension.file_extension = "svg"


def _demo():
    """bench/screenshots.py: its training log writer (train.log and metrics.jsonl as the runner writes them)."""
    spec = importlib.util.spec_from_file_location("tunesmith_screenshots", ROOT / "bench" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _demo()


# ---------------------------------------------------------------- the prepared projects (built once)


def _fixed_created(p: Project) -> Project:
    p.meta.created_at = NOW - timedelta(days=1)
    p.save()
    return p


def build_fresh(root: Path) -> None:
    _fixed_created(Project.create("Recipe scaler", "Scale home-baking recipes to a new tin size or yield and "
                                  "convert between cups and grams, explaining each step.", root=root))


def build_billing(root: Path) -> None:
    shutil.copytree(EXAMPLE, root / EXAMPLE.name)


def build_broken(root: Path) -> None:
    """The example, and a second project whose project.toml does not parse."""
    build_billing(root)
    build_fresh(root)
    (root / "recipe-scaler" / "project.toml").write_text("name = 3\n[[[\n", encoding="utf-8")


def build_training(root: Path) -> None:
    """A local SFT run mid-way: run.toml running, train.log and metrics.jsonl up to step 215 of 460."""
    p = _fixed_created(Project.create("Contract clause triage", demo.CONTRACT_TASK, root=root))
    demo._extract_done(p)
    demo._generate_done(p)
    p.mark("train", "planned")
    total, steps = 460, 215
    started = NOW - timedelta(seconds=21 + steps * 2.6 + 3)
    log, metrics = demo.training_log(started, steps, total)
    demo.write_run(p, TrainingRun(
        run_id=RUN_ID, backend="local", method="sft", base_model=BASE_MODEL, status="running",
        created_at=started - timedelta(seconds=20), started_at=started, use_lora=True, parameters_b=1.5,
        estimated_hours=0.4, config={"max_steps": total, "learning_rate": 2e-4}), log, metrics)


def build_scaling(root: Path) -> None:
    """The example with its scale-up stopped at 40 of 100 (data/scale/state.toml running)."""
    build_billing(root)
    state = root / EXAMPLE.name / "data" / "scale" / "state.toml"
    text = state.read_text(encoding="utf-8")
    for old, new in (('status = "complete"', 'status = "running"'), ("\nkept = 100", "\nkept = 40"),
                     ("\nchecked = 104", "\nchecked = 43")):
        assert old in text, old
        text = text.replace(old, new, 1)
    state.write_text(text, encoding="utf-8")


def _break(root: Path, relative: str, text: str = "this is = not [valid toml\n") -> None:
    build_billing(root)
    (root / EXAMPLE.name / relative).write_text(text, encoding="utf-8")


def _run_toml(root: Path) -> str:
    return next(str(p.relative_to(root / EXAMPLE.name)) for p in (root / EXAMPLE.name / "runs").glob("*/run.toml"))


def build_broken_run(root: Path) -> None:
    build_billing(root)
    (root / EXAMPLE.name / _run_toml(root)).write_text('run_id = "x"\nstatus = 12\n', encoding="utf-8")


FOLDERS: dict[str, Callable[[Path], None]] = {
    "none": lambda root: None,
    "fresh": build_fresh,
    "billing": build_billing,
    "broken": build_broken,
    "training": build_training,
    "scaling": build_scaling,
    "broken-scale": lambda root: _break(root, "data/scale/state.toml"),
    "broken-run": build_broken_run,
    "broken-decision": lambda root: _break(root, "evals/20250313-090000-b1c2/decision.toml"),
    "broken-boundaries": lambda root: _break(root, "knowledge/scope_boundaries.toml"),
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every prepared projects folder, built once for the module; each test copies the one it needs."""
    base = tmp_path_factory.mktemp("snapshot-templates")
    for name, build in FOLDERS.items():
        root = base / name
        root.mkdir()
        build(root)
    return base


# ---------------------------------------------------------------- determinism


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


def fake_train_service():
    """core.train.service for run folders with no process behind them: refresh gives run.toml as it is (the
    real one would find no process and mark the run failed); the plan is the real one (core.train.plan)."""
    import types

    from core.train import service as real
    from core.train.runfolder import read_run, run_dir

    mod = types.ModuleType(real.__name__)
    mod.refresh = lambda project, run_id: read_run(run_dir(project, run_id))  # type: ignore[attr-defined]
    mod.plan_training = real.plan_training  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The test runs in its own folder (the projects folder is shown as ``projects``), with a frozen clock,
    a fixed CPU, the base model 'in the cache', and a training service that reads run.toml as it is."""
    from textual import constants

    import core.train
    import screens.job_monitor as job_monitor
    from core.generate import tokenizer
    from core.train import hardware, setup

    monkeypatch.chdir(tmp_path)
    # the terminal's own settings: colours, theme and filters as on a plain truecolor terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(constants, "COLOR_SYSTEM", "truecolor")
    monkeypatch.setattr(constants, "DEFAULT_THEME", "textual-dark")
    monkeypatch.setattr(constants, "FILTERS", "")
    monkeypatch.setattr(job_monitor, "datetime", FrozenDatetime)
    monkeypatch.setattr(hardware, "local_device", lambda: ("local CPU (8 cores)", 8 * hardware.LOCAL_CPU_TFLOPS_PER_CORE))
    monkeypatch.setattr(hardware, "_model_folder", lambda base_model: None)  # the size comes from the name
    monkeypatch.setattr(setup, "_in_hub_cache", lambda name: name == BASE_MODEL)
    monkeypatch.setattr(tokenizer, "load_tokenizer_named", lambda name: None)  # whatever the HF cache holds
    fake = fake_train_service()
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(core.train, "service", fake)


# ---------------------------------------------------------------- driving


async def settle(pilot, until: Callable[[], bool] = lambda: True, *, workers: bool = True,
                 timeout: float = 30.0) -> None:
    """Until the workers are done (``workers=False`` where some never end: the job monitor's tailers)
    and ``until()`` holds."""
    end = time.monotonic() + timeout
    while True:
        for _ in range(3):
            if workers:
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if until():
            return
        assert time.monotonic() < end, f"{type(pilot.app.screen).__name__} did not get ready"
        await pilot.pause(0.05)


def project(slug: str = "billing-support") -> Project:
    return Project.open(slug, Path("projects"))


def screen_is(pilot, name: str) -> Callable[[], bool]:
    return lambda: type(pilot.app.screen).__name__ == name


async def home(pilot) -> None:
    await settle(pilot, lambda: getattr(pilot.app.screen, "loaded", False))


async def stage(pilot, name: str, slug: str = "billing-support", until: Callable[[object], bool] | None = None,
                workers: bool = True) -> None:
    """The stage screen ``name`` (screens.registry) for a project, opened the way the dashboard does."""
    app = pilot.app
    await home(pilot)
    before = app.screen
    assert app.open_screen(name, project(slug))
    await settle(pilot, lambda: app.screen is not before and (until is None or until(app)), workers=workers)


async def error_dialog_shown(pilot) -> None:
    await settle(pilot, screen_is(pilot, "ErrorDialog"))


Opener = Callable[[object], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    screen: str
    state: str
    folder: str
    open: Opener

    @property
    def id(self) -> str:
        return f"{self.screen}-{self.state}"


# --- home, new project, dashboard, dialogs


async def open_new_project(pilot) -> None:
    await home(pilot)
    await pilot.press("n")
    await settle(pilot, screen_is(pilot, "NewProjectScreen"))


async def new_project_error(pilot) -> None:
    await open_new_project(pilot)
    await pilot.press("ctrl+s")  # nothing typed: the name is said to be missing, in place
    await settle(pilot)


async def dashboard(pilot, slug: str) -> None:
    await home(pilot)
    pilot.app.open_project(slug)
    await settle(pilot, lambda: screen_is(pilot, "DashboardScreen")())


async def error_dialog(pilot) -> None:
    from core.errors import BadInput

    await home(pilot)
    pilot.app.report_error(BadInput("base model 'nobody/nothing' not found: it is not a Hub id in the local "
                                    "cache and the Hub is offline (HF_HUB_OFFLINE=1)"), "Could not plan the run")
    await error_dialog_shown(pilot)


async def provider_dialog(pilot) -> None:
    await home(pilot)
    await pilot.press("ctrl+l")
    await settle(pilot, screen_is(pilot, "ProviderDialog"))


async def dashboard_key(pilot, slug: str, key: str, screen: str) -> None:
    await dashboard(pilot, slug)
    await pilot.press(key)
    await settle(pilot, screen_is(pilot, screen))


async def confirm_delete(pilot) -> None:
    await home(pilot)
    await pilot.press("d")  # delete the highlighted project: asks first
    await settle(pilot, screen_is(pilot, "ConfirmDialog"))


# --- extraction


async def interview_question(pilot) -> None:
    await stage(pilot, "interview", "recipe-scaler", lambda app: getattr(app.screen, "step", "") == "persona"
                and not app.screen.busy)
    await pilot.press("1")  # the first persona: the interview starts at question 1
    await settle(pilot, lambda: pilot.app.screen.step == "question" and not pilot.app.screen.busy)


# --- generation


async def generation_working(pilot) -> None:
    from core.generate.pipeline_common import GenerationProgress

    await stage(pilot, "generation", until=lambda app: getattr(app.screen, "snapshot", None) is not None)
    screen = pilot.app.screen
    screen.run_scale_worker = lambda *args, **kwargs: None  # no worker: the progress events come from here
    screen.start_scale(resume=True)
    screen.apply_progress(GenerationProgress(phase="scale", message="note: 40 examples kept before the stop"))
    screen.apply_progress(GenerationProgress(phase="scale", done=55, kept=52, target=100,
                                             rejected={"near_duplicate": 2, "too_short": 1},
                                             prompt_tokens=5210, completion_tokens=8630, cost_usd=0.146,
                                             projected_cost_usd=0.281, examples_per_s=0.4, elapsed_s=31.0,
                                             part=2, message="wave 3: 12 kept of 12 checked"))
    await settle(pilot)


# --- training


def all_read(slug: str) -> Callable[[object], bool]:
    """The monitor shows its run with all of train.log and metrics.jsonl read (the tailers read in batches:
    a frame taken after the first batch would depend on the machine's speed)."""
    folder = next((Path("projects") / slug / "runs").iterdir())
    lines = len((folder / "train.log").read_text(encoding="utf-8").splitlines())
    rows = len((folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines())

    def ready(app) -> bool:
        screen = app.screen
        return (getattr(screen, "mode", "") == "run" and screen.log_panel.lines_ingested == lines
                and len(screen.chart.rows) == rows)

    return ready


async def job_monitor_running(pilot) -> None:
    await stage(pilot, "job_monitor", "contract-clause-triage", all_read("contract-clause-triage"), workers=False)


async def job_monitor_chart(pilot) -> None:
    await job_monitor_running(pilot)
    await pilot.press("g")  # the loss chart: below the log under 120 columns, hidden beside it from 120
    await settle(pilot, lambda: pilot.app.screen.chart.redraws > 0 or not pilot.app.screen.chart.display,
                 workers=False)


async def job_monitor_done(pilot) -> None:
    await stage(pilot, "job_monitor", until=all_read("billing-support"), workers=False)


async def job_monitor_empty(pilot) -> None:
    await stage(pilot, "job_monitor", "recipe-scaler", lambda app: getattr(app.screen, "mode", "") == "empty",
                workers=False)


async def job_monitor_error(pilot) -> None:
    await stage(pilot, "job_monitor", until=lambda app: type(app.screen).__name__ == "ErrorDialog"
                or getattr(app.screen, "mode", "loading") != "loading", workers=False)


async def train_setup_planned(pilot) -> None:
    await stage(pilot, "train_setup", until=lambda app: getattr(app.screen, "plan", None) is not None)


async def train_setup_error(pilot) -> None:
    await stage(pilot, "train_setup", "recipe-scaler")
    await pilot.press(*"nobody/nothing", "enter")
    await settle(pilot, lambda: not pilot.app.screen.planning)


# --- evaluation


async def evaluate_ready(pilot) -> None:
    await stage(pilot, "evaluate", until=lambda app: getattr(app.screen, "ready", False))


async def evaluate_working(pilot) -> None:
    from screens.evaluate_run import EvalLine

    await evaluate_ready(pilot)
    screen = pilot.app.screen
    screen.run_evaluation = lambda: None  # no worker: the progress lines come from here
    screen.action_start()
    for line in ("loading the eval set: 24 examples", "base model: generating 24/24",
                 "candidate model: generating 11/24"):
        screen.post_message(EvalLine(line))
    await settle(pilot)


async def evaluate_empty(pilot) -> None:
    await stage(pilot, "evaluate", "recipe-scaler", lambda app: getattr(app.screen, "seen", None) is not None)


async def spot_check_done(pilot) -> None:
    await stage(pilot, "spot_check", until=lambda app: getattr(app.screen, "rater", None) is not None)


async def report_done(pilot) -> None:
    await stage(pilot, "report", until=lambda app: getattr(app.screen, "data", None) is not None)


async def opened(pilot, name: str, slug: str = "billing-support") -> None:
    await stage(pilot, name, slug)


def simply(name: str, slug: str = "billing-support") -> Opener:
    async def run(pilot) -> None:
        await opened(pilot, name, slug)

    return run


FRESH = "recipe-scaler"

CASES: list[Case] = [
    Case("home", "empty", "none", home),
    Case("home", "done", "billing", home),
    Case("home", "error", "broken", home),
    Case("new_project", "empty", "none", open_new_project),
    Case("new_project", "error", "none", new_project_error),
    Case("dashboard", "empty", "fresh", lambda pilot: dashboard(pilot, FRESH)),
    Case("dashboard", "working", "training", lambda pilot: dashboard(pilot, "contract-clause-triage")),
    Case("dashboard", "done", "billing", lambda pilot: dashboard(pilot, "billing-support")),
    Case("error_dialog", "error", "none", error_dialog),
    Case("provider_dialog", "empty", "none", provider_dialog),
    Case("task_type_dialog", "empty", "fresh", lambda pilot: dashboard_key(pilot, FRESH, "c", "TaskTypeDialog")),
    Case("help_dialog", "done", "billing",
         lambda pilot: dashboard_key(pilot, "billing-support", "question_mark", "HelpDialog")),
    Case("confirm_dialog", "done", "billing", confirm_delete),
    Case("interview", "empty", "fresh", simply("interview", FRESH)),
    Case("interview", "working", "fresh", interview_question),
    Case("interview", "done", "billing", simply("interview")),
    Case("boundaries", "empty", "fresh", simply("boundaries", FRESH)),
    Case("boundaries", "done", "billing", simply("boundaries")),
    Case("boundaries", "error", "broken-boundaries", simply("boundaries")),
    Case("evalset_review", "empty", "fresh", simply("evalset_review", FRESH)),
    Case("evalset_review", "done", "billing", simply("evalset_review")),
    Case("generation", "empty", "fresh", simply("generation", FRESH)),
    Case("generation", "working", "scaling", generation_working),
    Case("generation", "done", "billing", simply("generation")),
    Case("generation", "error", "broken-scale", simply("generation")),
    Case("pilot_review", "empty", "fresh", simply("pilot_review", FRESH)),
    Case("pilot_review", "done", "billing", simply("pilot_review")),
    Case("job_monitor", "empty", "fresh", job_monitor_empty),
    Case("job_monitor", "working", "training", job_monitor_running),
    Case("job_monitor", "working-chart", "training", job_monitor_chart),
    Case("job_monitor", "done", "billing", job_monitor_done),
    Case("job_monitor", "error", "broken-run", job_monitor_error),
    Case("train_setup", "empty", "fresh", simply("train_setup", FRESH)),
    Case("train_setup", "done", "billing", train_setup_planned),
    Case("train_setup", "error", "fresh", train_setup_error),
    Case("evaluate", "empty", "fresh", evaluate_empty),
    Case("evaluate", "working", "billing", evaluate_working),
    Case("evaluate", "done", "billing", evaluate_ready),
    Case("spot_check", "empty", "fresh", simply("spot_check", FRESH)),
    Case("spot_check", "done", "billing", spot_check_done),
    Case("report", "empty", "fresh", simply("report", FRESH)),
    Case("report", "done", "billing", report_done),
    Case("report", "error", "broken-decision", simply("report")),
    Case("human_rating", "empty", "fresh", simply("human_rating", FRESH)),
    Case("human_rating", "done", "billing", simply("human_rating")),
]


def test_every_screen_has_a_snapshot() -> None:
    """Every registered stage screen, and the screens outside the registry, is among the cases."""
    from screens.registry import STAGE_SCREENS

    covered = {case.screen for case in CASES}
    assert set(STAGE_SCREENS) <= covered, set(STAGE_SCREENS) - covered
    assert {"home", "new_project", "dashboard", "error_dialog", "provider_dialog"} <= covered
    assert len({case.id for case in CASES}) == len(CASES)


async def still(pilot) -> None:
    """Nothing left that moves: no cursor blinks."""
    from textual.widgets import Input, TextArea

    app = pilot.app
    # a screen that crashed the app leaves a blank frame: fail before it could be saved as the baseline
    assert app._exception is None, f"the app crashed: {app._exception!r}"
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, (Input, TextArea))
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_snapshot(case: Case, size: str, snap_compare, templates: Path, frozen, tmp_path: Path) -> None:
    src = templates / case.folder
    shutil.copytree(src, tmp_path / "projects")
    app = TunesmithApp(Path("projects"))
    app.animation_level = "none"  # no spinner or pulsing bar moves
    app._disable_notifications = True  # toasts time out after seconds that depend on the machine's speed

    async def run_before(pilot) -> None:
        await case.open(pilot)
        await still(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
    assert app._exception is None, f"the app crashed: {app._exception!r}"
