"""The evaluate action at 80x24: the dashboard's v opens it, it says what would be evaluated (or why nothing
can be, in place), enter runs the core's evaluation in a worker with its progress lines and a progress bar,
then the report opens on the new evaluation; the report's hint names the key first."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from core.evaluate import evalfolder as ef
from core.project import Project
from screens.evaluate_run import EvaluateScreen, count_of
from screens.report import ReportScreen
from tests.test_eval_run import add_knowledge, eval_examples, fake_run, freeze
from tui.app import TunesmithApp
from tui.errors import ErrorDialog


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting for the screen"
        await pilot.pause(0.05)


async def open_dashboard(app: TunesmithApp, pilot, slug: str) -> None:
    await pilot.pause()
    app.open_project(slug)
    await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")


def small_project(tiny: Path) -> Project:
    project = Project.create("eval-bot", "answer device and billing questions", preset="standard")
    add_knowledge(project)
    every = eval_examples()
    picked = [e for e in every if e.id in ("open00", "open01", "closed0", "closed1", "oos0", "oos1")]
    freeze(project, picked)
    fake_run(project, tiny, tiny)
    project.mark("train", "planned")
    project.mark("train", "trained")
    return project


def test_count_of() -> None:
    assert count_of("candidate model: 3/12") == (3, 12)
    assert count_of("scoring") is None and count_of("odd 5/0") is None


async def test_evaluate_runs_end_to_end_and_opens_the_report(projects_root: Path, tiny: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_eval_run import FAST

    monkeypatch.setattr(EvaluateScreen, "PARAMS", FAST)  # short outputs: the test checks the flow, not quality
    project = small_project(tiny)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dashboard(app, pilot, project.slug)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, EvaluateScreen) and app.screen.ready)
        screen = app.screen
        status = str(screen.query_one("#eval-status").render())
        assert "on 6 examples" in status and "candidate runs/20250101-000000-sft-beef/model" in status
        assert "press enter to start" in str(screen.query_one("#eval-hint").render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen), timeout=35)
        lines = screen.seen
        assert any("evaluation" in line and "vs candidate" in line for line in lines)
        assert lines[-1].endswith("done")
        assert screen.last_count is not None and screen.last_count[0] == screen.last_count[1]  # the bar moved
        report = app.screen
        await wait_for(pilot, lambda: report.data is not None)
        assert report.data.eval_id == ef.latest_eval(project)
        assert "Not decided yet. press d to decide" in str(report.query_one("#report-verdict").render())
        assert not any(isinstance(s, ErrorDialog) for s in app.screen_stack)
        project.reload()
        assert project.meta.is_done("evaluate", "evaluated")


async def test_nothing_to_evaluate_is_said_in_place(projects_root: Path) -> None:
    project = Project.create("early-bot", "answer billing questions", preset="minimal")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_dashboard(app, pilot, project.slug)
        await pilot.press("t")  # the report: no evaluation yet, the key first, the CLI second
        await wait_for(pilot, lambda: isinstance(app.screen, ReportScreen) and app.screen.data is not None)
        verdict = str(app.screen.query_one("#report-verdict").render())
        assert verdict.index("press v to evaluate") < verdict.index("CLI: tunesmith evaluate early-bot")
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, EvaluateScreen))
        screen = app.screen
        await wait_for(pilot, lambda: "Nothing to evaluate" in str(screen.query_one("#eval-status").render()))
        assert not screen.ready and not any(isinstance(s, ErrorDialog) for s in app.screen_stack)
        await pilot.press("enter")  # does nothing
        await pilot.pause()
        assert not screen.running
        await pilot.press("escape")  # one esc: the dashboard (the evaluate screen replaced the report)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
