"""The evaluation spot-check screen, driven only by keys: rate with y/m/n (saved as made), undo, the
trust follow-up, comparison preference (b/c/s, side by side when wide), finish → spot_checked, d decides."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from core.evaluate import evalfolder as ef
from core.evaluate import spot_check as sc
from core.project import Project
from screens.report import ReportScreen
from screens.spot_check import ItemBody, SpotCheckScreen
from tests.test_spot_check import EVAL_ID, eval_set, results_for, write_eval
from tui.app import TunesmithApp
from tui.widgets.key_bar import KeyBar, key_items

SIZE = (80, 24)
N_PLAIN = 15  # common + edge + out-of-scope items come first; then 5 comparison pairs


@pytest.fixture
def project(projects_root: Path) -> Project:
    p = Project.create("Helpdesk", "answer household admin questions", root=projects_root)
    ex = eval_set()
    write_eval(p, ex, results_for(ex, regress={"ev-com-07"}, low={"ev-com-02": 0.4}))
    return p


async def settle(pilot, app: TunesmithApp) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_spot(pilot, app: TunesmithApp, p: Project) -> SpotCheckScreen:
    assert app.open_screen("spot_check", p)
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, SpotCheckScreen) and screen.rater is not None
    return screen


def saved(p: Project):
    return ef.read_spot_check(p, EVAL_ID)


def lines_of(widget: Static) -> str:
    return "\n".join(line.text for line in widget.render_lines(widget.region.reset_offset))


def keys(screen) -> dict[str, bool]:
    return {desc: enabled for _, desc, enabled in key_items(screen)}


def fits(screen, size=SIZE) -> None:
    width, height = size
    for widget in screen.query("*"):
        if widget.display and widget.region.area:
            assert widget.region.right <= width and widget.region.bottom <= height, widget
    assert screen.query_one(KeyBar).region.bottom == height


async def test_rate_trust_skip_undo_saved_as_made(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        items = [i.example_id for i in saved(project).items]
        assert rater.current.id == items[0] and "why:" in rater.current.title
        fits(screen)
        follow = screen.query_one("#spot-followup", Static)
        assert not follow.display and "Trust yes/no" not in keys(screen)

        await pilot.press("y")  # ✓ saved at once, the trust question about it appears
        assert saved(project).items[0].rating == "good" and rater.current.id == items[1]
        assert follow.display and "trust it?" in lines_of(follow) and items[0] in lines_of(follow)
        assert keys(screen)["Trust yes/no"] and keys(screen)["Skip"]
        await pilot.press("t")
        assert saved(project).items[0].trust is True and not follow.display

        await pilot.press("n", "d")  # ✗ and "would not trust"
        assert (saved(project).items[1].rating, saved(project).items[1].trust) == ("bad", False)
        await pilot.press("m", "enter")  # ⚠, trust skipped
        assert (saved(project).items[2].rating, saved(project).items[2].trust) == ("concerning", None)
        assert not follow.display
        await pilot.press("y", "y")  # rating the next straight away skips the question
        assert [i.rating for i in saved(project).items[3:5]] == ["good", "good"]
        assert saved(project).items[3].trust is None and items[4] in lines_of(follow)

        await pilot.press("c")  # a note before rating (no comparison question is open)
        await pilot.press(*"too vague", "enter")
        await pilot.press("n")
        assert (saved(project).items[5].rating, saved(project).items[5].note) == ("bad", "too vague")
        await pilot.press("u")  # undo: cleared on disk, back on that item
        assert saved(project).items[5].rating is None and saved(project).items[5].note == ""
        assert rater.current.id == items[5] and not follow.display
        await pilot.press("backspace")
        assert saved(project).items[4].rating is None
        status = str(screen.query_one("#spot-status", Static).render())
        assert "4/20 rated" in status and "1 ⚠ 1 ✗" in status
        fits(screen)


async def test_resume_after_leaving(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        await pilot.press("y", "t", "n")
        await pilot.press("escape")
        assert not isinstance(app.screen, SpotCheckScreen)
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        assert len(rater.ratings) == 2 and rater.current.id == saved(project).items[2].example_id
        assert rater.progress_text().startswith("3/20")


async def test_comparison_preference_and_finish_then_decide(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        await pilot.press(*["y"] * N_PLAIN)
        view = next(v for v in screen.state.views if v.id == rater.current.id)
        assert view.is_comparison and "b/c/s which is better" in rater.current.title
        body = lines_of(screen.query_one("#rater-body-text", Static))
        assert "base" in body and "candidate" in body

        await pilot.press("y")  # the comparison question: c is "candidate", not a note
        follow = screen.query_one("#spot-followup", Static)
        assert "better?" in lines_of(follow) and keys(screen)["Better: base/cand/same"]
        assert "Note" not in keys(screen)
        await pilot.press("c")
        assert not rater.has_class("-noting")
        item = saved(project).items[N_PLAIN]
        assert (item.rating, item.preferred, item.trust) == ("good", "candidate", None)
        assert follow.display  # still asks about trust
        await pilot.press("d")
        assert saved(project).items[N_PLAIN].trust is False and not follow.display

        await pilot.press("n", "b", "t")
        await pilot.press("m", "s", "enter")
        await pilot.press("y", "enter", "y")
        spot = saved(project)
        assert [i.preferred for i in spot.items[N_PLAIN:]] == ["candidate", "base", "same", None, None]
        assert spot.finished and rater.finished
        project.reload()
        assert project.meta.is_done("evaluate", "spot_checked")

        done = screen.query_one("#spot-done", Static)
        assert done.display
        text = lines_of(done)
        assert "Finished: ✓ 18 good · ⚠ 1 concerning · ✗ 1 bad · trusted 1 · not 1" in text and "d decide" in text
        assert "candidate better 1 · base better 1 · same 1" in text and "judge agreement" in text
        assert "Trust yes/no" in keys(screen) and "Decide" not in keys(screen)  # d: the last item's trust first
        await pilot.press("enter")
        assert keys(screen)["Decide"]
        fits(screen)
        await pilot.press("d")
        await settle(pilot, app)
        assert isinstance(app.screen, ReportScreen)
        assert ef.read_decision(project, EVAL_ID) is not None
        verdict = lines_of(app.screen.query_one("#report-verdict", Static))
        assert any(word in verdict for word in ("DEPLOY", "REVIEW", "ITERATE"))


async def test_wide_terminal_shows_the_pair_side_by_side(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_spot(pilot, app, project)
        await pilot.press(*["y"] * N_PLAIN)
        assert screen.state.views[N_PLAIN].is_comparison
        body = lines_of(screen.query_one("#rater-body-text", Static))
        assert any("base" in line and "candidate" in line for line in body.splitlines())
        fits(screen, (160, 50))


def test_item_body_stacks_when_narrow() -> None:
    ex = eval_set()
    res = results_for(ex, regress={"ev-com-07"})
    from core.models.runs import SpotCheck, SpotCheckItem

    spot = SpotCheck(items=[SpotCheckItem(example_id="ev-com-07", group="comparison", why="regression")])
    view = sc._views(spot, ex, res)[0]

    def render(width: int) -> list[str]:
        console = Console(width=width, record=True, color_system=None)
        console.print(ItemBody(view, "base-model", "tiny"))
        return console.export_text().splitlines()

    narrow, wide = render(76), render(118)
    assert not any("base" in ln and "candidate" in ln for ln in narrow)
    assert any("base says ev-com-07" in ln and "candidate says ev-com-07" in ln for ln in wide)
    assert max(len(ln) for ln in narrow) <= 76


async def test_no_evaluation_says_which_command_makes_one(projects_root: Path) -> None:
    p = Project.create("Empty", "answer questions", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        opened = app.open_screen("spot_check", p)
        await settle(pilot, app)
        screen = app.screen
        assert opened and isinstance(screen, SpotCheckScreen) and screen.rater is None
        text = lines_of(screen.query_one("#spot-missing", Static))
        assert "Nothing to spot-check" in text and "tunesmith evaluate empty" in text
        assert "Decide" not in keys(screen)
