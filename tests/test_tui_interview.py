"""The interview screen, driven only by keys at 80x24: personas, answers, skip/back, resume, the summary."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from textual.widgets import Input, Static

from core.models.knowledge import Interview
from core.project import BOUNDARIES, INTERVIEW, Project
from screens.boundaries import BoundariesScreen
from screens.dashboard import DashboardScreen
from screens.interview import InterviewScreen
from screens.interview_widgets import AnswerInput, PersonaDialog, PersonaList, SuggestionList
from tests.test_interview import PERSONAS, TASK, TOPICS, candidates
from tui.app import TunesmithApp, screen_commands
from tui.widgets.key_bar import KeyBar, key_items

CHESS = "Coach amateur chess players on their openings."


async def settle(pilot) -> None:
    """Until the screen's workers (and the ones their messages start) are done."""
    for _ in range(200):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not getattr(pilot.app.screen, "busy", False):
            return
    raise AssertionError("the interview screen stayed busy")


async def press(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


def saved(project: Project) -> Interview:
    return project.read(INTERVIEW, Interview)


def text(screen, selector: str) -> str:
    """A Static's text as it would print (Rich renderables included)."""
    content = screen.query_one(selector, Static).content
    if isinstance(content, str):
        return content
    console = Console(width=78, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def shown_keys(screen) -> dict[str, str]:
    """What the key bar shows: description -> keys."""
    return {desc: keys for keys, desc, _ in key_items(screen)}


async def open_screen(pilot, project: Project) -> InterviewScreen:
    pilot.app.push_screen(InterviewScreen(project))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, InterviewScreen)
    return screen


def current_question(screen: InterviewScreen):
    assert screen.step == "question" and screen.question is not None
    return screen.question


async def test_offline_persona_pick_answer_skip_back(projects_root: Path) -> None:
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        # the persona step: three ranked personas, offline said plainly
        assert screen.step == "persona"
        assert screen.query_one(PersonaList).option_count == 3
        assert "Running on the built-in question bank" in text(screen, "#iv-notice")
        assert screen.query_one("#iv-notice").display
        assert "Pick" in shown_keys(screen) and "Edit" in shown_keys(screen)
        assert "Ask again" not in shown_keys(screen)  # offline: nothing to ask
        await press(pilot, "1")
        iv = saved(project)
        assert iv.persona_index == 0 and len(iv.questions) == 1
        project.reload()
        assert project.meta.is_done("extract", "persona")

        # question 1: a digit picks at once
        q1 = current_question(screen)
        assert "Round 1/4 · boundary · question 1 · at most" in text(screen, "#iv-progress")
        assert CHESS.rstrip(".") in text(screen, "#iv-text")
        assert screen.query_one(SuggestionList).option_count == len(q1.suggestions) >= 2
        assert isinstance(app.focused, AnswerInput)
        assert shown_keys(screen)["Pick"] == "".join(str(i) for i in range(1, len(q1.suggestions) + 1))
        await press(pilot, "2")
        iv = saved(project)
        assert iv.questions[0].answer == q1.suggestions[1] and len(iv.questions) == 2
        assert "q01 saved" in text(screen, "#iv-status-text")

        # question 2: free text; a digit typed into a non-empty answer stays text
        q2 = current_question(screen)
        assert "question 2" in text(screen, "#iv-progress")
        await pilot.press(*"Only 3 openings")
        await pilot.pause()
        assert screen.query_one(AnswerInput).value == "Only 3 openings"
        assert "Pick" not in shown_keys(screen)  # the pick keys step aside while the answer holds text
        await press(pilot, "enter")
        iv = saved(project)
        assert iv.questions[1].id == q2.id and iv.questions[1].answer == "Only 3 openings"

        # question 3: an empty enter takes the first suggestion, as in the CLI
        q3 = current_question(screen)
        await press(pilot, "enter")
        assert saved(project).questions[2].answer == q3.suggestions[0]

        # question 4: down moves the highlight; an empty enter takes the highlighted one
        q4 = current_question(screen)
        await pilot.press("down")
        assert screen.query_one(SuggestionList).highlighted == 1
        await press(pilot, "enter")
        assert saved(project).questions[3].answer == q4.suggestions[1]

        # question 5: skip, then back re-opens it
        q5 = current_question(screen)
        await press(pilot, "ctrl+s")
        iv = saved(project)
        assert iv.questions[4].id == q5.id and iv.questions[4].skipped and iv.questions[4].answer is None
        assert current_question(screen).id != q5.id
        await press(pilot, "ctrl+b")
        assert current_question(screen).id == q5.id
        iv = saved(project)
        assert len(iv.questions) == 5 and not iv.questions[4].skipped

        # tab copies the highlighted suggestion into the field for editing
        await pilot.press("tab")
        await pilot.pause()
        answer = screen.query_one(AnswerInput)
        assert answer.value == q5.suggestions[0]
        await press(pilot, *" (mostly)", "enter")
        assert saved(project).questions[4].answer == q5.suggestions[0] + " (mostly)"

        # F2 skips too, alt+left goes back
        q6 = current_question(screen)
        await press(pilot, "f2")
        assert saved(project).questions[5].skipped
        await press(pilot, "alt+left")
        assert current_question(screen).id == q6.id

        # everything fits at 80x24: the field and the suggestions sit above the key bar
        bar = screen.query_one(KeyBar)
        assert bar.region.height <= 3
        assert screen.query_one(AnswerInput).region.bottom <= bar.region.y
        assert screen.query_one(SuggestionList).region.bottom <= screen.query_one(AnswerInput).region.y

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InterviewScreen)


async def test_edit_persona_then_interview(projects_root: Path) -> None:
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        await pilot.press("down", "e")
        await pilot.pause()
        assert isinstance(app.screen, PersonaDialog)
        await pilot.press("ctrl+a", "ctrl+k", *"Chess trainer", "enter")
        await pilot.press("ctrl+a", "ctrl+k", "9", "9", "enter")
        await pilot.press("ctrl+a", "ctrl+k", *"coaches club players weekly", "enter")
        await pilot.pause()
        assert isinstance(app.screen, PersonaDialog)  # 99 years is refused, in the form
        assert "Years" in str(app.screen.query_one("#persona-error", Static).render())
        await pilot.press("ctrl+a", "ctrl+k", "2", "0")
        await press(pilot, "ctrl+s")
        assert app.screen is screen and screen.step == "question"
        iv = saved(project)
        assert iv.persona_index == 1 and iv.persona_source == "user"
        assert (iv.personas[1].role, iv.personas[1].experience_years, iv.personas[1].why) == (
            "Chess trainer", 20, "coaches club players weekly")
        assert "Chess trainer" in screen.sub_title
        first = current_question(screen)
        await press(pilot, "ctrl+b")  # nothing before the first question
        assert current_question(screen).id == first.id
        assert "nothing to go back to" in text(screen, "#iv-status-text")


async def test_quit_mid_way_and_resume_at_the_same_question(projects_root: Path) -> None:
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        await press(pilot, "1")
        await press(pilot, "1")
        await press(pilot, *"my own answer", "enter")
        waiting = current_question(screen)
        await pilot.press(*"half-typed")
        await pilot.press("escape")
        await pilot.pause()
    assert len(saved(project).questions) == 3

    # a new app: home -> dashboard -> i opens the interview at the same question
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "enter")
        assert isinstance(app.screen, DashboardScreen)
        await press(pilot, "i")
        screen = app.screen
        assert isinstance(screen, InterviewScreen)
        q = current_question(screen)
        assert (q.id, q.text) == (waiting.id, waiting.text)
        assert "question 3" in text(screen, "#iv-progress")
        assert "resuming the interview as" in text(screen, "#iv-status-text")
        assert screen.query_one(AnswerInput).value == ""
        await press(pilot, "1")
        assert saved(project).questions[2].answer == q.suggestions[0]


async def test_complete_interview_drafts_artifacts_and_opens_boundaries(projects_root: Path) -> None:
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        await press(pilot, "3")
        answered = 0
        while screen.step == "question":
            await press(pilot, "enter")
            answered += 1
            assert answered <= 25
        assert answered == 18  # the offline bank's four rounds
        assert screen.step == "summary"
        iv = saved(project)
        assert iv.finished and iv.persona_index == 2 and len(iv.answered()) == 18
        assert project.exists(BOUNDARIES)
        project.reload()
        for step in ("persona", "interview", "artifacts"):
            assert project.meta.is_done("extract", step), step
        summary = text(screen, "#iv-summary-text")
        assert "Interview complete" in summary and "18 answered" in summary
        assert "Drafted" in summary and "Round 4/4" in summary
        assert not screen.query_one("#iv-notice").display
        assert set(shown_keys(screen)) >= {"Boundaries", "Leave"}
        assert "Skip" not in shown_keys(screen) and "Pick" not in shown_keys(screen)
        await press(pilot, "b")
        assert isinstance(app.screen, BoundariesScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        drafted_at = project.path(BOUNDARIES).stat().st_mtime_ns

        # opened again: straight to the summary, nothing drafted twice
        screen = await open_screen(pilot, project)
        assert screen.step == "summary" and "Interview complete" in text(screen, "#iv-summary-text")
        assert project.path(BOUNDARIES).stat().st_mtime_ns == drafted_at


async def test_every_key_has_an_id_a_tooltip_and_a_palette_entry(projects_root: Path) -> None:
    bindings = [*InterviewScreen.BINDINGS, *AnswerInput.BINDINGS[:1], *PersonaDialog.BINDINGS]
    for b in bindings:
        assert b.id and b.tooltip, b  # type: ignore[union-attr]
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        await press(pilot, "1")
        titles = {c.title for c in screen_commands(app, screen)}
        assert {"Interview: Answer", "Interview: Skip", "Interview: Back", "Interview: Edit suggestion",
                "Interview: Leave", "Interview: Pick 1"} <= titles
        await press(pilot, "f1")
        assert "Keys" in str(app.screen.query_one(".dialog-title", Static).render())


async def test_against_the_fake_model(projects_root: Path, fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=True))
    project = Project.create("Billing Bot", TASK, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        assert screen.step == "persona"
        assert screen.query_one(PersonaList).option_count == 3
        assert [p.role for p in screen.personas] == ["Senior support agent", "Billing operations lead",
                                                     "Product manager"]  # ranked by us
        assert not screen.query_one("#iv-notice").display  # a model is configured: no offline line
        assert "Ask again" in shown_keys(screen)
        await press(pilot, "2")
        q = current_question(screen)
        assert q.text == f"How should the model handle {TOPICS[0]}?" and q.source == "llm"
        assert q.suggestions == ["Explain the policy", "Escalate to a human", "Decline politely"]
        assert "Round 1/4 · boundary · question 1" in text(screen, "#iv-progress")
        assert "built-in bank" not in text(screen, "#iv-progress")
        await press(pilot, "2")
        assert current_question(screen).text == f"How should the model handle {TOPICS[1]}?"
        await press(pilot, *"It depends on the plan", "enter")
        iv = saved(project)
        assert iv.persona.role == "Billing operations lead" and not iv.offline
        assert [q.answer for q in iv.questions[:2]] == ["Escalate to a human", "It depends on the plan"]
        assert isinstance(app.focused, Input)
