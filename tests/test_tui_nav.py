"""80x24 and navigation (issue 14 item 6): one esc back to the dashboard from any stage screen, boundary
delete undo, a long interview answer shown whole and stored whole, the read-only views (eval set, pilot,
interview answers, quality log), and keys that say what is missing instead of doing nothing. Runs on a
copy of the shipped example project (projects/billing-support)."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from core.models.knowledge import Interview
from core.project import INTERVIEW, Project
from tui.app import TunesmithApp

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "projects" / "billing-support"
SLUG = "billing-support"

pytestmark = pytest.mark.skipif(not (SHIPPED / "project.toml").exists(), reason="the example project is missing")


@pytest.fixture
def example(projects_root: Path) -> Path:
    shutil.copytree(SHIPPED, projects_root / SLUG, ignore=shutil.ignore_patterns(".cache", ".lock"))
    return projects_root


async def settle(pilot, until=None, timeout: float = 15.0, workers: bool = True) -> None:
    end = time.monotonic() + timeout
    while True:
        for _ in range(3):
            if workers:
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if until is None or until():
            return
        if time.monotonic() > end:
            raise TimeoutError(f"{type(pilot.app.screen).__name__} did not get ready")
        await pilot.pause(0.05)


def printed(renderable, width: int = 78) -> str:
    if isinstance(renderable, str):
        return renderable
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def static_text(screen, selector: str) -> str:
    return printed(screen.query_one(selector, Static).content)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def dashboard(pilot):
    from screens.dashboard import DashboardScreen

    app = pilot.app
    await settle(pilot, lambda: getattr(app.screen, "loaded", True))
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))
    return app.screen


# ---------------------------------------------------------------- navigation


async def test_stage_screens_replace_each_other_one_esc_to_the_dashboard(example: Path) -> None:
    from screens.dashboard import DashboardScreen

    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await dashboard(pilot)
        depth = len(app.screen_stack)
        await pilot.press("g")  # generation
        await settle(pilot, lambda: type(app.screen).__name__ == "GenerationScreen")
        await pilot.press("v")  # its review: replaces the generation screen
        await settle(pilot, lambda: type(app.screen).__name__ == "ReviewScreen")
        assert len(app.screen_stack) == depth + 1
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.screen is dash and len(app.screen_stack) == depth

        await pilot.press("t")  # report, then its spot-check, then the spot-check's report
        await settle(pilot, lambda: type(app.screen).__name__ == "ReportScreen")
        await pilot.press("s")
        await settle(pilot, lambda: type(app.screen).__name__ == "SpotCheckScreen")
        assert len(app.screen_stack) == depth + 1
        await pilot.press("r")
        await settle(pilot, lambda: type(app.screen).__name__ == "ReportScreen")
        assert len(app.screen_stack) == depth + 1
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.screen is dash and len(app.screen_stack) == depth


# ---------------------------------------------------------------- boundaries: delete, then undo


async def test_boundary_delete_undo_puts_it_back_at_its_place(example: Path) -> None:
    from core.extract import boundaries as ops
    from screens.boundaries import BoundariesScreen, StatementList

    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot)
        project = Project.open(SLUG, example)
        before = [s.text for s in ops.load(project).will]
        assert len(before) >= 3
        await pilot.press("b")
        await settle(pilot, lambda: isinstance(app.screen, BoundariesScreen))
        screen = app.screen
        view = screen.query_one("#will", StatementList)
        view.focus()
        view.index = 1
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert [s.text for s in ops.load(project).will] == before[:1] + before[2:]
        assert any("u puts it back" in n for n in notes(app))
        await pilot.press("u")
        await pilot.pause()
        assert [s.text for s in ops.load(project).will] == before
        assert view.index == 1
        await pilot.press("ctrl+z")  # nothing left to undo: it says so
        await pilot.pause()
        assert any("Nothing to undo" in n for n in notes(app))
        assert [s.text for s in ops.load(project).will] == before


# ---------------------------------------------------------------- the read-only views


@pytest.mark.parametrize("kind, expect", [
    ("evalset", "examples, frozen"),
    ("pilot", "pilot examples kept, approved"),
    ("interview", "interview finished"),
    ("quality_log", "failed"),
], ids=["evalset", "pilot", "interview", "quality_log"])
async def test_browse_from_the_dashboard(example: Path, kind: str, expect: str) -> None:
    from screens.browse import BROWSE_KINDS, BrowseChooser, BrowseScreen
    from screens.dashboard import DashboardScreen

    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot)
        await pilot.press("l")
        await settle(pilot, lambda: isinstance(app.screen, BrowseChooser))
        for _ in range(list(BROWSE_KINDS).index(kind)):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, BrowseScreen) and app.screen.loaded)
        screen = app.screen
        assert screen.kind == kind
        summary = static_text(screen, "#browse-summary")
        assert expect in summary
        body = static_text(screen, "#browse-text")
        project = Project.open(SLUG, example)
        if kind == "evalset":
            from core.extract.evalset import load_eval_set

            examples = load_eval_set(project)
            assert summary.startswith(f"{len(examples)} examples")
            assert examples[-1].id in body  # every item listed, the last one too
        elif kind == "interview":
            iv = project.read(INTERVIEW, Interview)
            last = [q for q in iv.questions if q.answer][-1]
            assert last.answer.split()[0] in body and f"{len(iv.questions)}." in body
        elif kind == "quality_log":
            assert "rejected for" in body and "too short" in body  # the reason in words
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))


@pytest.mark.parametrize("key, kind, screen_name", [
    ("e", "evalset", "ReviewScreen"),
    ("p", "pilot", "ReviewScreen"),
    ("i", "interview", "InterviewScreen"),
], ids=["evalset-review", "pilot-review", "interview-summary"])
async def test_browse_from_the_finished_step(example: Path, key: str, kind: str, screen_name: str) -> None:
    from screens.browse import BrowseScreen

    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot)
        await pilot.press(key)
        await settle(pilot, lambda: type(app.screen).__name__ == screen_name and not getattr(app.screen, "busy", ""))
        stage = app.screen
        await pilot.press("a" if kind == "interview" else "l")
        await settle(pilot, lambda: isinstance(app.screen, BrowseScreen) and app.screen.loaded)
        assert app.screen.kind == kind and static_text(app.screen, "#browse-text").strip()
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is stage)


async def test_quality_log_opens_from_the_generation_screen(example: Path) -> None:
    from screens.browse import BrowseScreen

    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot)
        await pilot.press("g")
        await settle(pilot, lambda: type(app.screen).__name__ == "GenerationScreen")
        gen = app.screen
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, BrowseScreen) and app.screen.loaded)
        assert app.screen.kind == "quality_log"
        body = static_text(app.screen, "#browse-text")
        assert "filter" in body and "promises refund" in body
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is gen)


# ---------------------------------------------------------------- keys that say what is missing


async def test_s_and_v_before_a_pilot_say_what_comes_first(projects_root: Path) -> None:
    from screens.generation import GenerationScreen

    project = Project.create("Support bot", "Answer billing questions politely.", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(GenerationScreen(project))
        await settle(pilot, lambda: isinstance(app.screen, GenerationScreen) and app.screen.snapshot is not None)
        await pilot.press("s")
        await pilot.pause()
        assert any("No pilot yet: press p" in n for n in notes(app))
        assert isinstance(app.screen, GenerationScreen) and not app.screen.busy
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, GenerationScreen)
        assert sum("No pilot yet" in n for n in notes(app)) == 2


async def test_spot_check_before_an_evaluation_names_the_next_key(projects_root: Path) -> None:
    Project.create("Support bot", "Answer billing questions politely.", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot)
        await pilot.press("s")
        await settle(pilot, lambda: type(app.screen).__name__ == "SpotCheckScreen"
                     and bool(app.screen.query("#spot-missing")))
        said = printed(app.screen.query_one("#spot-missing", Static).content)
        assert "Nothing to spot-check" in said and "press i to" in said


async def test_l_with_no_run_says_which_key_sets_one_up(projects_root: Path) -> None:
    from screens.job_monitor import JobMonitorScreen

    project = Project.create("Support bot", "Answer billing questions politely.", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(JobMonitorScreen(project))
        await settle(pilot, lambda: isinstance(app.screen, JobMonitorScreen) and app.screen.mode == "empty",
                     workers=False)
        await pilot.press("l")
        await pilot.pause()
        assert any("No training runs yet: press t" in n for n in notes(app))


async def test_l_with_one_run_says_it_is_the_one_shown(example: Path) -> None:
    from screens.job_monitor import JobMonitorScreen

    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        await dashboard(pilot)
        await pilot.press("j")
        await settle(pilot, lambda: isinstance(app.screen, JobMonitorScreen) and app.screen.mode == "run",
                     workers=False)
        screen = app.screen
        assert screen.chart.display and screen.chart.region.height >= 7  # the chart without g at 80x24
        assert screen.log_panel.region.height >= 6
        await pilot.press("l")
        await pilot.pause()
        assert any(n.startswith("Only one run so far") for n in notes(app))
        assert screen.mode == "run"
        # log lines are wrapped, not cut: no line wider than the panel
        width = screen.log_panel.scrollable_content_region.width
        assert screen.log_panel.lines and max(len(line) for line in screen.log_panel.lines) <= width
        await pilot.press("escape")


# ---------------------------------------------------------------- the interview's long answer


async def test_a_600_character_answer_is_shown_whole_and_stored_whole(projects_root: Path) -> None:
    from screens.interview import InterviewScreen

    project = Project.create("Chess Coach", "Coach amateur chess players on their openings.", root=projects_root)
    answer = " ".join(f"word{i:03d}" for i in range(75))[:600].strip()
    assert len(answer) >= 590
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(InterviewScreen(project))
        await settle(pilot, lambda: isinstance(app.screen, InterviewScreen) and not app.screen.busy)
        screen = app.screen
        await pilot.press("1")  # the first persona
        await settle(pilot, lambda: screen.step == "question" and not screen.busy)
        first = screen.question
        field = screen.query_one("#iv-answer")
        field.insert_text_at_cursor(answer)
        await pilot.pause()
        full = screen.query_one("#iv-answer-full", Static)
        assert full.display and answer[-20:] in printed(full.content)
        await pilot.press("enter")
        await settle(pilot, lambda: not screen.busy and screen.question is not first)
        iv = project.read(INTERVIEW, Interview)
        assert iv.questions[0].answer == answer
        assert not full.display  # the next question starts empty


# ---------------------------------------------------------------- what used to be cut at 80x24


async def test_home_next_line_and_generation_tables_fit_80_columns(example: Path) -> None:
    app = TunesmithApp(example)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: getattr(app.screen, "loaded", False))
        home = app.screen
        detail = home.query_one("#project-detail", Static)
        lines = printed(detail.content, detail.content_size.width).splitlines()
        assert lines[0].startswith("Billing support: ") and lines[0].rstrip().endswith("…")  # the task: one line
        assert lines[1].startswith("Next: open it (enter), then")
        assert detail.content_size.height >= len([x for x in lines if x.strip()])  # nothing cut below
        await pilot.press("enter")
        await settle(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        await pilot.press("g")
        await settle(pilot, lambda: type(app.screen).__name__ == "GenerationScreen" and app.screen.snapshot)
        gen = app.screen
        report = gen.query_one("#gen-report-text", Static)
        text = printed(report.content, report.content_size.width)
        assert "failed_payments" in text and "structure" in text  # names whole: two tables, not three
        assert "almost the same as another example" in text  # the rejections below them
        await pilot.resize_terminal(160, 50)
        await settle(pilot)
        report = gen.query_one("#gen-report-text", Static)
        wide = printed(report.content, report.content_size.width)
        row = next(line for line in wide.splitlines() if line.lstrip().startswith("filter"))
        assert "category" in row and "rejected for" in row  # side by side when wide
