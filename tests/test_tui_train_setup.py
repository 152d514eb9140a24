"""The training set-up screen at 80x24: the dashboard's m (and the monitor's t) open it; a tiny local model
shows the plan in words; a model that cannot be found is a clear error naming it; b switches to HF Jobs;
s stores the choice where `tunesmith train` reads it, starts the run and opens the job monitor on it; the
palette finds it by "base model" and "train"."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest
from textual.widgets import Input

from core.models.runs import TrainingRun
from core.project import Project
from core.train import runfolder as rf
from core.train import service
from core.train.setup import check_base_model, recent_base_models, size_words
from screens.job_monitor import JobMonitorScreen
from screens.train_setup import TrainSetupScreen
from tests.test_train_common import make_ready_project
from tui.app import TunesmithApp, screen_commands
from tui.errors import ErrorDialog


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


class QuickBackend:
    """Accepts a run and says it is running; nothing is trained."""

    def submit(self, folder: Path, run: TrainingRun) -> TrainingRun:
        return run.model_copy(update={"status": "running", "started_at": run.created_at})

    def poll(self, folder: Path, run: TrainingRun) -> TrainingRun:
        return run

    def follow(self, folder: Path, run: TrainingRun) -> None:
        pass

    def cancel(self, folder: Path, run: TrainingRun) -> TrainingRun:
        return run.model_copy(update={"status": "canceled"})


@pytest.fixture
def quick_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(service.BACKENDS, "local", QuickBackend)
    monkeypatch.setattr(service, "_INSTANCES", {})


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting for the screen"
        await pilot.pause(0.05)


async def open_setup(app: TunesmithApp, pilot, slug: str) -> TrainSetupScreen:
    await pilot.pause()
    app.open_project(slug)
    await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, TrainSetupScreen))
    return app.screen  # type: ignore[return-value]


def plan_text(screen: TrainSetupScreen) -> str:
    return str(screen.query_one("#setup-plan").render())


async def choose(pilot, screen: TrainSetupScreen, name: str) -> None:
    box = screen.query_one("#setup-model", Input)
    box.focus()
    box.value = name
    await pilot.press("enter")
    await wait_for(pilot, lambda: not screen.planning)


def test_words_and_checks(tmp_path: Path, tiny: Path) -> None:
    assert size_words(1.5) == "about 1.5 billion parameters"
    assert size_words(0.000134) == "about 134 thousand parameters"
    assert size_words(0.135) == "about 135 million parameters"
    assert check_base_model(str(tiny)) == str(tiny.resolve())
    with pytest.raises(Exception, match="'nobody/no-such-model' not found"):
        check_base_model("nobody/no-such-model")  # offline in tests, not in the cache
    with pytest.raises(Exception, match="no model in"):
        check_base_model(str(tmp_path))


async def test_dashboard_opens_the_setup_and_a_tiny_model_is_planned_in_words(projects_root: Path,
                                                                               tiny: Path) -> None:
    project = make_ready_project("setup-bot", "sft")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_setup(app, pilot, project.slug)
        assert "Type a base model" in plan_text(screen)
        await choose(pilot, screen, str(tiny))
        text = plan_text(screen)
        assert "thousand parameters" in text and "B parameters" not in text
        assert "on this computer" in text and "free (it runs here)" in text
        assert "full fine-tune" in text or "LoRA" in text
        assert "Time: about" in text and "press s to start training" in text
        assert "CLI: tunesmith train setup-bot" in text
        # 80x24: the input, the where line and the start of the plan are on screen
        for wid in ("#setup-model", "#setup-where", "#setup-plan"):
            region = screen.query_one(wid).region
            assert region.height > 0 and region.bottom <= 24, wid
        # b: on Hugging Face Jobs, with hardware and a price in words
        await pilot.press("b")
        await wait_for(pilot, lambda: not screen.planning and "Hugging Face Jobs" in plan_text(screen))
        text = plan_text(screen)
        assert "t4-small" in text and "cost: about $" in text
        assert not any(isinstance(s, ErrorDialog) for s in app.screen_stack)


async def test_a_model_that_cannot_be_found_is_named(projects_root: Path) -> None:
    project = make_ready_project("lost-bot", "sft")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_setup(app, pilot, project.slug)
        await choose(pilot, screen, "nobody/no-such-model")
        assert "'nobody/no-such-model' not found" in plan_text(screen)
        assert not any(isinstance(s, ErrorDialog) for s in app.screen_stack)
        assert screen.plan is None
        await pilot.press("s")  # nothing to start
        await pilot.pause()
        assert rf.list_runs(project) == []


async def test_start_stores_the_choice_creates_a_run_and_opens_the_monitor(projects_root: Path, tiny: Path,
                                                                           quick_backend: None) -> None:
    project = make_ready_project("start-bot", "sft")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_setup(app, pilot, project.slug)
        await choose(pilot, screen, str(tiny))
        assert screen.plan is not None and screen.plan.ok
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, JobMonitorScreen) and app.screen.run is not None)
        monitor = app.screen
        runs = rf.list_runs(project)
        assert len(runs) == 1 and monitor.run.run_id == runs[0].run_id
        assert runs[0].base_model == str(tiny.resolve())
        # stored where `tunesmith train` reads it
        project.reload()
        assert project.meta.config.train.base_model == str(tiny)
        assert service.resolve_base_model(project) == str(tiny.resolve())
        assert recent_base_models(project)[0] == str(tiny)
        # the monitor's t, with the run going: no second one
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, JobMonitorScreen)


async def test_the_palette_finds_base_model_train_and_evaluate(projects_root: Path) -> None:
    project = make_ready_project("palette-bot", "sft")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.open_project(project.slug)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        names = [c.title.lower() for c in screen_commands(app, app.screen)]
        names += [c.title.lower() for c in app.get_system_commands(app.screen)]
        assert any("base model" in n for n in names)
        assert any("train" in n for n in names)
        assert any("evaluate" in n for n in names)
        assert any("llm provider" in n for n in names)
        await pilot.pause(0.2)


async def test_the_monitor_t_opens_the_setup(projects_root: Path) -> None:
    project = make_ready_project("monitor-bot", "sft")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(JobMonitorScreen(project))
        await wait_for(pilot, lambda: isinstance(app.screen, JobMonitorScreen) and app.screen.mode == "empty")
        assert "press t to set up training" in str(app.screen.status_line.render())
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainSetupScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, JobMonitorScreen))


async def test_a_dataset_the_method_cannot_use_cannot_start(projects_root: Path, tiny: Path) -> None:
    project = make_ready_project("mismatch-bot", "sft")
    project.meta.training_method = "dpo"  # the dataset on disk is SFT's
    project.save()
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_setup(app, pilot, project.slug)
        await choose(pilot, screen, str(tiny))
        assert "nothing can start" in plan_text(screen) and "INCOMPATIBLE" in plan_text(screen)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, TrainSetupScreen) and rf.list_runs(project) == []


async def test_the_monitor_v_evaluates_a_completed_run(projects_root: Path) -> None:
    from datetime import datetime, timezone

    from screens.evaluate_run import EvaluateScreen

    project = make_ready_project("done-bot", "sft")
    folder = rf.run_dir(project, "20250101-000000-sft-done")
    folder.mkdir(parents=True)
    rf.write_run(folder, TrainingRun(run_id="20250101-000000-sft-done", backend="local", method="sft",
                                     base_model="tiny/model", status="completed",
                                     created_at=datetime.now(timezone.utc)))
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(JobMonitorScreen(project))
        await wait_for(pilot, lambda: isinstance(app.screen, JobMonitorScreen) and app.screen.mode == "run")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, EvaluateScreen))
        await pilot.pause(0.3)


async def test_the_configured_model_is_planned_at_once_and_recent_choices_are_offered(projects_root: Path,
                                                                                      tiny: Path) -> None:
    from textual.widgets import OptionList

    project = make_ready_project("known-bot", "sft", base_model=str(tiny))
    folder = rf.run_dir(project, "20250101-000000-sft-old1")
    folder.mkdir(parents=True)
    from datetime import datetime, timezone

    rf.write_run(folder, TrainingRun(run_id=folder.name, backend="local", method="sft", base_model="nobody/old-model",
                                     status="failed", created_at=datetime.now(timezone.utc)))
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_setup(app, pilot, project.slug)
        await wait_for(pilot, lambda: screen.plan is not None)
        assert "thousand parameters" in plan_text(screen)
        recent = screen.query_one("#setup-recent", OptionList)
        await wait_for(pilot, lambda: recent.option_count == 2)
        assert [recent.get_option_at_index(i).id for i in range(2)] == [str(tiny), "nobody/old-model"]
        recent.focus()
        recent.highlighted = 1
        await pilot.press("enter")  # picks it: planned, and it cannot be found offline
        await wait_for(pilot, lambda: "'nobody/old-model' not found" in plan_text(screen))
        assert screen.query_one("#setup-model", Input).value == "nobody/old-model"


def test_online_the_hub_is_asked_whether_the_model_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub.utils import RepositoryNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    asked: list[str] = []

    def fake_info(name: str, **kw: object) -> object:
        asked.append(name)
        if name == "nobody/missing":
            raise RepositoryNotFoundError.__new__(RepositoryNotFoundError)
        if name == "nobody/unreachable":
            raise ConnectionError("no network")
        return object()

    monkeypatch.setattr(huggingface_hub, "model_info", fake_info)
    with pytest.raises(Exception, match="'nobody/missing' not found: there is no such model on the Hugging Face Hub"):
        check_base_model("nobody/missing")
    assert check_base_model("org/exists") == "org/exists"
    assert check_base_model("nobody/unreachable") == "nobody/unreachable"  # no verdict without the network
    assert asked == ["nobody/missing", "org/exists", "nobody/unreachable"]
