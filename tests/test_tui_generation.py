"""The generation screen, driven only by keys at 80x24: the pilot's error without an LLM, then a pilot
against the fake LLM server with the live progress view, the pass rate and the kept count."""

from __future__ import annotations

from pathlib import Path

from textual.geometry import Region
from textual.widgets import ProgressBar, Static

from core.generate import pipeline_state as ps
from core.models.data import GenerationReport
from screens.generation import GenerationScreen, GenProgress
from tests.test_generate_pipeline import fast_embeddings, ready_project  # noqa: F401  (fixture)
from tui.app import TunesmithApp
from tui.errors import ErrorDialog
from tui.widgets.key_bar import KeyBar

SIZE = (80, 24)


async def settle(pilot, app: TunesmithApp) -> None:
    """Let every worker finish and every message they posted be handled."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def shown(widget) -> str:
    """The text a widget draws on screen, line by line."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join("".join(seg.text for seg in strip) for strip in lines)


async def open_generation(pilot, app: TunesmithApp, project) -> GenerationScreen:
    assert app.open_screen("generation", project)
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, GenerationScreen)
    return screen


async def test_pilot_without_an_llm_shows_the_error(projects_root: Path, fast_embeddings) -> None:  # noqa: F811
    project = ready_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        assert "Pilot not run" in text(screen, "#gen-stage")
        assert "Pilot" in str(screen.query_one(KeyBar).render())
        await pilot.press("p")
        await settle(pilot, app)
        assert isinstance(app.screen, ErrorDialog)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "needs an LLM (generator role): set TUNESMITH_MODEL" in message
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.busy == ""
        assert "pilot failed" in text(screen, "#gen-status")
        assert not project.exists(ps.PILOT_REPORT)


async def test_pilot_runs_with_live_progress(fake_llm, projects_root: Path, fast_embeddings) -> None:  # noqa: F811
    from tests.fakes.generate_replies import install

    install(fake_llm, method="sft")
    project = ready_project(projects_root, pilot_size=50)
    app = TunesmithApp(projects_root)
    applied: list[tuple[object, str]] = []  # (event, what the screen was doing when it was applied)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        original = screen.apply_progress

        def spy(event) -> None:
            applied.append((event, screen.busy))
            original(event)

        screen.apply_progress = spy  # type: ignore[method-assign]
        await pilot.press("p")
        assert screen.query_one("#gen-live").display
        await settle(pilot, app)
        assert not isinstance(app.screen, ErrorDialog), app.screen
        assert applied and screen.progress_applied == len(applied)
        assert all(busy == "pilot" for _, busy in applied)  # applied while the pilot was running
        assert any("pilot attempt 1" in e.line() for e, _ in applied)  # type: ignore[attr-defined]
        report = project.read(ps.PILOT_REPORT, GenerationReport)
        stage = text(screen, "#gen-stage")
        assert f"Pilot: {report.kept}/{report.generated} kept ({report.pass_rate:.0%})" in stage
        assert "v reviews it" in stage
        body = shown(screen.query_one("#gen-report-text"))
        assert f"{report.kept}/{report.generated} kept" in body and "format" in body
        bar = screen.query_one("#gen-bar", ProgressBar)
        assert bar.total == report.kept and bar.progress == report.kept
        assert f"{report.kept} of {report.generated}" in text(screen, "#gen-status")
        assert GenProgress  # the typed message the worker posts


async def test_scale_shows_the_projection_then_runs(fake_llm, projects_root: Path, fast_embeddings) -> None:  # noqa: F811
    from core.generate import pipeline as pl
    from tests.fakes.generate_replies import install
    from tests.test_generate_pipeline import approve_pilot
    from tui.dialogs import ConfirmDialog

    install(fake_llm, method="sft")
    project = ready_project(projects_root, pilot_size=50)
    pl.run_pilot(project)
    approve_pilot(project)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        assert "review approved" in text(screen, "#gen-stage")
        screen.scale_target = 60  # config target_size is at least 1,000: too slow for a test
        report = project.read(ps.PILOT_REPORT, GenerationReport)  # a priced pilot, over a $0.10 cap: refused
        project.write(ps.PILOT_REPORT, report.model_copy(update={"cost_usd": 0.5}))
        project.meta.config.generate.budget_usd = 0.1
        project.save()
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, ErrorDialog)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "over the budget cap" in message and "projection:" in message and "$0.10" in message
        await pilot.press("escape")
        assert not project.exists(ps.SCALE_STATE)
        project.meta.config.generate.budget_usd = None
        project.save()
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmDialog)
        assert "requests" in app.screen.question and "cost" in app.screen.question
        await pilot.press("y")
        await settle(pilot, app)
        assert app.screen is screen, app.screen
        assert screen.progress_applied > 0
        assert "Scale-up done: 60 examples" in text(screen, "#gen-stage")
        assert screen.query_one("#gen-bar", ProgressBar).progress == 60
