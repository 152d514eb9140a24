"""The boundary editor, driven only by keys at 80x24."""

from __future__ import annotations

from pathlib import Path

from core.models.knowledge import ScopeBoundaries, Statement
from core.project import BOUNDARIES, Project
from screens.boundaries import BoundariesScreen
from tui.app import TunesmithApp


def _project(root: Path) -> Project:
    p = Project.create("Billing Bot", "billing support", root=root)
    p.write(BOUNDARIES, ScopeBoundaries(
        will=[Statement(text="explain invoices"), Statement(text="update cards")],
        will_not=[Statement(text="process refunds")],
        hard_constraints=[Statement(text="never show card numbers")],
    ))
    return p


async def test_edit_move_reorder_delete_approve(projects_root: Path) -> None:
    p = _project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(BoundariesScreen(p))
        await pilot.pause()
        # add a WILL statement
        await pilot.press("n")
        await pilot.press(*"answer plan questions", "enter")
        await pilot.pause()
        b = p.read(BOUNDARIES, ScopeBoundaries)
        assert [s.text for s in b.will] == ["explain invoices", "update cards", "answer plan questions"]
        # move it up, then to WILL NOT
        await pilot.press("shift+up")
        await pilot.pause()
        assert [s.text for s in p.read(BOUNDARIES, ScopeBoundaries).will][1] == "answer plan questions"
        await pilot.press("m")
        await pilot.pause()
        b = p.read(BOUNDARIES, ScopeBoundaries)
        assert [s.text for s in b.will_not] == ["process refunds", "answer plan questions"]
        # the moved item is focused in WILL NOT: edit it, then delete it
        await pilot.press("e", "ctrl+a", "ctrl+k", *"give tax advice", "enter")
        await pilot.pause()
        assert p.read(BOUNDARIES, ScopeBoundaries).will_not[1].text == "give tax advice"
        await pilot.press("d")
        await pilot.pause()
        assert [s.text for s in p.read(BOUNDARIES, ScopeBoundaries).will_not] == ["process refunds"]
        # approve with one key
        await pilot.press("y")
        await pilot.pause()
        b = p.read(BOUNDARIES, ScopeBoundaries)
        assert b.approved and b.approved_at is not None
        p.reload()
        assert p.meta.is_done("extract", "boundaries_approved")
        # an edit withdraws the approval
        await pilot.press("n", *"x", "enter")
        await pilot.pause()
        assert not p.read(BOUNDARIES, ScopeBoundaries).approved
        p.reload()
        assert not p.meta.is_done("extract", "boundaries_approved")


async def test_escape_cancels_an_edit(projects_root: Path) -> None:
    p = _project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(BoundariesScreen(p))
        await pilot.pause()
        await pilot.press("e", *"zzz", "escape")
        await pilot.pause()
        assert p.read(BOUNDARIES, ScopeBoundaries).will[0].text == "explain invoices"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, BoundariesScreen)


async def test_drafts_from_the_interview_when_missing(projects_root: Path) -> None:
    from core.models.knowledge import Interview, Question
    from core.project import INTERVIEW

    p = Project.create("Coach", "a writing coach", root=projects_root)
    p.write(INTERVIEW, Interview(questions=[
        Question(id="q1", round="boundary", text="What IS in scope?", answer="feedback on essays"),
        Question(id="q2", round="boundary", text="What is OUT of scope?", answer="ghostwriting"),
    ], finished=True))
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(BoundariesScreen(p))
        for _ in range(50):
            await pilot.pause(0.1)
            if p.exists(BOUNDARIES):
                break
        await pilot.pause()
        b = p.read(BOUNDARIES, ScopeBoundaries)
        assert [s.text for s in b.will_not] == ["ghostwriting"]
        screen = app.screen
        assert isinstance(screen, BoundariesScreen) and screen.bounds is not None
