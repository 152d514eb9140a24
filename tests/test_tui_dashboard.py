"""The project dashboard: stages, steps done, the next step, and the keys for stage screens."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.screen import Screen
from textual.widgets import Static

from core.models.project import STAGES
from core.project import Project
from screens import registry
from screens.dashboard import DashboardScreen, stage_screen
from screens.registry import STAGE_SCREENS, STEP_SCREENS, ScreenSpec
from tui.app import TunesmithApp
from tui.widgets.stage_list import StageList


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def made(root: Path) -> Project:
    p = Project.create("Support bot", "Answer billing questions politely.", root=root)
    p.mark("extract", "persona")
    p.mark("extract", "interview")
    return p


async def open_dashboard(pilot) -> DashboardScreen:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DashboardScreen)
    return pilot.app.screen


def text_of(widget) -> str:
    return str(widget.render())


async def test_shows_stages_done_steps_and_next_step(projects_root: Path) -> None:
    made(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await open_dashboard(pilot)
        stages = dash.query_one(StageList)
        prompts = [str(stages.get_option(s).prompt) for s in STAGES]
        assert "◐ in progress" in prompts[0] and "2/6 steps" in prompts[0]
        assert "✓ persona chosen" in prompts[0] and "✓ interview" in prompts[0]
        assert "▸ knowledge drafted" in prompts[0]
        assert all("○ pending" in p for p in prompts[1:])
        nxt = text_of(dash.query_one("#next-step", Static))
        assert "Next ▸ press b to draft the knowledge base, boundaries, taxonomy and criteria" in nxt
        assert "tunesmith boundaries support-bot" in nxt
        # everything fits at 80x24: all four stages visible without scrolling
        assert stages.max_scroll_y == 0
        assert stages.region.bottom <= dash.query_one("#next-step").region.y


async def test_refresh_shows_progress_made_elsewhere(projects_root: Path) -> None:
    p = made(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await open_dashboard(pilot)
        for step in ("artifacts", "boundaries_approved", "evalset", "evalset_approved"):
            p.mark("extract", step)
        await pilot.press("r")
        await settle(pilot)
        prompt = str(dash.query_one(StageList).get_option("extract").prompt)
        assert "● done" in prompt
        assert "generate the pilot" in text_of(dash.query_one("#next-step", Static))


async def test_unbuilt_screen_key_says_which_skill_brings_it(projects_root: Path, monkeypatch) -> None:
    made(projects_root)
    missing = ScreenSpec("interview", "Interview", "screens.not_a_screen_yet", "X", 1, "i", "interview")
    monkeypatch.setitem(STAGE_SCREENS, "interview", missing)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await open_dashboard(pilot)
        await pilot.press("i")
        await pilot.pause()
        assert app.screen is dash
        messages = [n.message for n in app._notifications]
        assert any("Interview is not built yet: it arrives with skill 1" in m for m in messages)


class FakeStageScreen(Screen):
    def __init__(self, project: Project, kind: str = "") -> None:
        super().__init__()
        self.project = project
        self.kind = kind


async def test_stage_keys_open_registered_screens(projects_root: Path, monkeypatch) -> None:
    made(projects_root)
    import tests.test_tui_dashboard as here

    for name, spec in list(STAGE_SCREENS.items()):
        monkeypatch.setitem(STAGE_SCREENS, name, ScreenSpec(name, spec.title, here.__name__, "FakeStageScreen",
                                                            spec.skill, spec.key, spec.help, spec.kwargs))
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await open_dashboard(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, FakeStageScreen) and app.screen.kind == "pilot"
        assert app.screen.project.slug == "support-bot"
        app.pop_screen()
        await settle(pilot)
        # 1 opens the extract stage's screen for its next step (artifacts -> boundaries)
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, FakeStageScreen)
        app.pop_screen()
        await settle(pilot)
        assert app.screen is dash
        # enter on the highlighted stage does the same
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, FakeStageScreen)


def test_every_step_has_a_registered_screen() -> None:
    from core.models.project import STAGE_STEPS

    for steps in STAGE_STEPS.values():
        for step in steps:
            assert STEP_SCREENS[step] in STAGE_SCREENS
    keys = [s.key for s in STAGE_SCREENS.values()]
    assert len(keys) == len(set(keys))
    assert not set(keys) & {"r", "q", "1", "2", "3", "4"}


def test_stage_screen_follows_the_next_open_step(projects_root: Path) -> None:
    p = made(projects_root)
    assert stage_screen(p.meta, "extract") == "boundaries"
    assert stage_screen(p.meta, "generate") == "generation"
    assert stage_screen(p.meta, "train") == "train_setup"
    assert stage_screen(p.meta, "evaluate") == "evaluate"


def test_spec_load_distinguishes_missing_module_from_broken_one(tmp_path: Path, monkeypatch) -> None:
    assert ScreenSpec("x", "X", "screens.nope_nothing", "X", 1, "x", "").load() is None
    (tmp_path / "broken_screen_mod.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        ScreenSpec("x", "X", "broken_screen_mod", "X", 1, "x", "").load()
    assert registry.spec("interview").skill == 1


async def test_dashboard_large_terminal(projects_root: Path) -> None:
    made(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(160, 50)) as pilot:
        dash = await open_dashboard(pilot)
        assert dash.query_one(StageList).max_scroll_y == 0
        assert "tunesmith boundaries support-bot" in text_of(dash.query_one("#next-step", Static))


# ---------------------------------------------------------------- warnings, the scale-up review


def prose_project(root: Path) -> Project:
    """A project whose eval references are prose while exact match is asked for (a method warning)."""
    from core.models.knowledge import EvalExample
    from core.project import EVAL_SET
    from tests.test_generate_pipeline import ready_project

    p = ready_project(root)
    rows = [r.model_copy(update={"reference": "Find the last statement, compare the standing charge with the "
                                              "tariff sheet, then write both numbers down before you call."})
            for r in p.read_rows(EVAL_SET, EvalExample)]
    p.write_rows(EVAL_SET, rows, EvalExample)
    p.meta.config.evaluate.eval_method = "exact_match"
    p.save()
    return p


async def test_warnings_are_shown_after_the_first_paint(projects_root: Path, monkeypatch) -> None:
    import threading

    import core.commands.project as commands
    from tui.dialogs import TextDialog
    from tui.widgets.key_bar import key_items

    prose_project(projects_root)
    monkeypatch.setenv("TUNESMITH_MODEL", "openai/one-model")  # one model in every role: a warning too
    gate = threading.Event()
    real = commands.project_warnings

    def slow_warnings(project):
        gate.wait(20)
        return real(project)

    monkeypatch.setattr(commands, "project_warnings", slow_warnings)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        for _ in range(4):
            await pilot.pause(0.05)
        dash = app.screen
        assert isinstance(dash, DashboardScreen)  # painted while the warnings are still being read
        assert "Task type" in text_of(dash.query_one("#project-info", Static))
        assert not dash.query_one("#warnings", Static).display
        gate.set()
        await settle(pilot)
        box = dash.query_one("#warnings", Static)
        shown = text_of(box)
        assert box.display
        assert "⚠ config.evaluate.eval_method is exact_match, but 8 of 8 in-scope eval references are" in shown
        assert "⚠ one model (openai/one-model) is both the generator and the judge" in shown
        # everything still fits at 80x24: the stages without scrolling, above the next step
        stages = dash.query_one(StageList)
        assert stages.max_scroll_y == 0 and stages.region.bottom <= dash.query_one("#next-step").region.y
        assert ("w", "Warnings", True) in key_items(dash)
        await pilot.press("w")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TextDialog)
        full = text_of(dialog.query_one("#text-body", Static))
        assert "[models].judge (or TUNESMITH_JUDGE_MODEL)" in full  # literal: brackets are not markup
        assert 'set config.evaluate.eval_method = "auto"' in full
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is dash


async def test_many_warnings_are_counted_at_80x24_and_wrapped_when_tall(projects_root: Path) -> None:
    from screens.dashboard import warnings_text

    lines = [f"warning number {i} " + "word " * 30 for i in range(5)]
    short = warnings_text(lines, 24)
    assert short.plain.count("⚠") == 1 and "… 4 more: w shows every warning in full" in short.plain
    assert short.no_wrap
    tall = warnings_text(lines, 50)
    assert tall.plain.count("⚠") == 5 and not tall.no_wrap


async def test_scale_review_key_once_the_sample_exists(projects_root: Path) -> None:
    from screens.review import ReviewScreen
    from tests.test_tui_generation import scaled_project
    from tui.app import screen_commands
    from tui.widgets.key_bar import key_items

    project = scaled_project(projects_root, sample=0)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await open_dashboard(pilot)
        assert "Sample review" not in {desc for _k, desc, _e in key_items(dash)}
        from tests.test_tui_generation import dpo_example
        from core.generate import pipeline_state as ps
        from core.models.data import TrainingExample

        project.write_rows(ps.SCALE_REVIEW_SAMPLE, [dpo_example(i) for i in range(3)], TrainingExample)
        await pilot.press("r")
        await settle(pilot)
        assert ("d", "Sample review", True) in key_items(dash)
        assert "Dashboard: Review the scale-up sample" in [c.title for c in screen_commands(app, dash)]
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen) and app.screen.kind == "scale"
        assert app.screen.rater is not None and len(app.screen.rater.items) == 3
