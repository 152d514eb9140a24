"""The evaluation spot-check screen, driven only by keys: rate with g/c/b, trust y/n, which is better
←/→/= (side by side when wide), all while the item is shown; saved in order off the UI thread, undo,
finish → spot_checked, d decides. Fast and slow-disk key sequences lose nothing; the counters agree."""

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


def burst(app: TunesmithApp, *names: str) -> None:
    """Queue every key at once, as a fast typist or a busy CPU delivers them: none waits for the last."""
    from textual import events

    chars = {"enter": "\r", "equals_sign": "=", "backspace": "\x7f"}
    for name in names:
        char = chars.get(name, name if len(name) == 1 else None)
        app.post_message(events.Key(name, char))


async def drained(pilot, screen: SpotCheckScreen) -> None:
    await pilot.pause()
    assert screen.saver.wait()
    await pilot.pause()


def counters(screen: SpotCheckScreen) -> set[tuple[int, int]]:
    """Every "N/M rated" on the screen."""
    import re

    texts = [str(screen.query_one("#spot-status", Static).render()), screen.rater.progress_text()]
    done = screen.query_one("#spot-done", Static)
    if done.display:
        texts.append(lines_of(done))
    found = {(int(a), int(b)) for t in texts for a, b in re.findall(r"(\d+)/(\d+) rated", t)}
    return found


async def test_every_question_is_asked_while_its_item_is_shown(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        items = [i.example_id for i in saved(project).items]
        assert rater.current.id == items[0] and "why:" in rater.current.title
        fits(screen)
        question = screen.query_one("#spot-followup", Static)
        assert question.display and "rate it" in lines_of(question) and "trust it?" in lines_of(question)

        await pilot.press("g")  # ✓ saved, the item stays: its trust question is open
        await drained(pilot, screen)
        assert saved(project).items[0].rating == "good" and rater.current.id == items[0]
        assert items[0] in lines_of(question) and "trust it?" in lines_of(question)
        assert keys(screen)["Trust yes/no"] and keys(screen)["Next"]
        await pilot.press("y")  # answered: the next item
        await drained(pilot, screen)
        assert saved(project).items[0].trust is True and rater.current.id == items[1]

        await pilot.press("n", "b")  # any order: "would not trust", then ✗
        await drained(pilot, screen)
        assert (saved(project).items[1].rating, saved(project).items[1].trust) == ("bad", False)
        assert rater.current.id == items[2]
        await pilot.press("c", "enter")  # ⚠, trust skipped explicitly
        await drained(pilot, screen)
        assert (saved(project).items[2].rating, saved(project).items[2].trust) == ("concerning", None)
        assert rater.current.id == items[3]
        await pilot.press("enter")  # nothing to skip before a rating
        assert rater.current.id == items[3]

        await pilot.press("e", *"too vague", "enter")  # a note before rating: typed keys are text
        await pilot.press("b", "n")
        await drained(pilot, screen)
        assert (saved(project).items[3].rating, saved(project).items[3].note) == ("bad", "too vague")
        await pilot.press("g", "e", *"good but long", "enter")  # a note after rating, same item
        await drained(pilot, screen)
        assert (saved(project).items[4].rating, saved(project).items[4].note) == ("good", "good but long")
        assert rater.current.id == items[4]
        await pilot.press("u")  # undo: the item on screen is cleared on disk, still shown
        await drained(pilot, screen)
        assert saved(project).items[4].rating is None and saved(project).items[4].note == ""
        assert rater.current.id == items[4]
        await pilot.press("backspace")  # then back to the last rated one
        await drained(pilot, screen)
        assert saved(project).items[3].rating is None and rater.current.id == items[3]
        status = str(screen.query_one("#spot-status", Static).render())
        assert "3/20 rated" in status and "1 ⚠ 1 ✗" in status
        assert counters(screen) == {(3, 20)}
        fits(screen)


async def test_resume_after_leaving(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        await pilot.press("g", "y", "b", "n", "c")
        await pilot.press("escape")  # leaving writes what is queued
        assert not isinstance(app.screen, SpotCheckScreen)
        assert saved(project).items[2].rating == "concerning"
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        assert len(rater.ratings) == 3 and rater.current.id == saved(project).items[3].example_id
        assert rater.progress_text().startswith("3/20 rated")
        assert counters(screen) == {(3, 20)}


async def test_comparison_preference_and_finish_then_decide(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        await pilot.press(*["g", "y"] * N_PLAIN)
        view = next(v for v in screen.state.views if v.id == rater.current.id)
        assert view.is_comparison and "which is better ←/→/=" in rater.current.title
        body = lines_of(screen.query_one("#rater-body-text", Static))
        assert "base" in body and "candidate" in body

        await pilot.press("g", "y")  # rated and trusted: which is better is still open, on this item
        question = screen.query_one("#spot-followup", Static)
        assert rater.current.id == view.id and "better?" in lines_of(question)
        assert keys(screen)["Better: base/cand/same"]
        await pilot.press("right")
        await drained(pilot, screen)
        item = saved(project).items[N_PLAIN]
        assert (item.rating, item.preferred, item.trust) == ("good", "candidate", True)
        assert rater.current.id != view.id

        await pilot.press("b", "left", "n")
        await pilot.press("c", "equals_sign", "enter")
        await pilot.press("g", "enter", "g", "y")
        assert counters(screen) == {(20, 20)}  # one count, the last item included
        assert rater.current.id == saved(project).items[-1].example_id  # its preference is still asked
        assert not screen.finished and "Decide" not in keys(screen)
        await pilot.press("enter")
        await drained(pilot, screen)
        spot = saved(project)
        assert [i.preferred for i in spot.items[N_PLAIN:]] == ["candidate", "base", "same", None, None]
        assert spot.finished and rater.done and screen.finished
        project.reload()
        assert project.meta.is_done("evaluate", "spot_checked")

        done = screen.query_one("#spot-done", Static)
        assert done.display
        text = " ".join(lines_of(done).replace("│", " ").split())
        assert "Finished: 20/20 rated · ✓ 18 good · ⚠ 1 concerning · ✗ 1 bad · trusted 17 · not 1" in text
        assert "d decide" in text
        assert "candidate better 1 · base better 1 · same 1" in text and "the judge agrees with you" in text
        assert counters(screen) == {(20, 20)}
        assert keys(screen)["Decide"] and not screen.query_one("#spot-followup", Static).display
        fits(screen)
        await pilot.press("d")
        await settle(pilot, app)
        screen.saver.wait()
        await settle(pilot, app)
        assert isinstance(app.screen, ReportScreen)
        assert ef.read_decision(project, EVAL_ID) is not None
        verdict = lines_of(app.screen.query_one("#report-verdict", Static))
        assert any(word in verdict for word in ("DEPLOY", "REVIEW", "ITERATE"))


async def test_fast_keys_are_all_stored_against_their_items(project: Project) -> None:
    """The whole sequence with no pause: every answer lands on the item it was given on."""
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        plan = (["g", "y"], ["b", "n"], ["n", "c"], ["y", "g"], ["c", "enter"], ["g", "n"])
        burst(app, *[k for step in plan for k in step])
        await drained(pilot, screen)
        items = saved(project).items
        got = [(i.rating, i.trust) for i in items[:6]]
        assert got == [("good", True), ("bad", False), ("concerning", False), ("good", True),
                       ("concerning", None), ("good", False)]
        assert screen.rater.current.id == items[6].example_id and counters(screen) == {(6, 20)}
        await pilot.press(*[k for step in plan for k in step])  # and through Pilot, key by key
        await drained(pilot, screen)
        assert [(i.rating, i.trust) for i in saved(project).items[6:12]] == got


async def test_slow_saves_lose_and_misplace_nothing(project: Project, monkeypatch) -> None:
    real_rate = sc.rate

    def slow_rate(*args, **kwargs):
        import time

        time.sleep(0.2)
        return real_rate(*args, **kwargs)

    monkeypatch.setattr(sc, "rate", slow_rate)
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        rater = screen.rater
        await pilot.press(*["g", "y"] * N_PLAIN)
        assert screen.saver.pending > 0  # still writing while the keys went on
        assert rater.current.id == screen.state.views[N_PLAIN].id
        assert counters(screen) == {(N_PLAIN, 20)}
        burst(app, "b", "left", "n", "u", "c", "right", "y")
        await drained(pilot, screen)
        items = saved(project).items
        assert all((i.rating, i.trust) == ("good", True) for i in items[:N_PLAIN])
        assert (items[N_PLAIN].rating, items[N_PLAIN].trust, items[N_PLAIN].preferred) == \
            ("concerning", True, "candidate")
        assert counters(screen) == {(N_PLAIN + 1, 20)}


async def test_a_failed_save_is_reported_and_the_screen_shows_the_disk(project: Project, monkeypatch) -> None:
    errors: list[str] = []

    def broken(*args, **kwargs):
        raise OSError("disk full")

    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        monkeypatch.setattr(app, "report_error", lambda exc, what: errors.append(f"{what}: {exc}"))
        monkeypatch.setattr(sc, "rate", broken)
        await pilot.press("g")
        await drained(pilot, screen)
        await settle(pilot, app)
        first = saved(project).items[0].example_id
        assert errors and first in errors[0] and "disk full" in errors[0]
        assert screen.rater.current.id == first and screen.rater.rated == 0 and counters(screen) == {(0, 20)}


async def test_wide_terminal_shows_the_pair_side_by_side(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_spot(pilot, app, project)
        await pilot.press(*["g", "enter"] * N_PLAIN)
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


async def test_a_note_typed_in_a_burst_stays_a_note(project: Project) -> None:
    """e opens the note at once (the next keys are its text); enter waits for them, then the keys rate again."""
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_spot(pilot, app, project)
        burst(app, "g", "e", *"bad yen", "enter", "y", "e", *"gone", "escape", "b", "n")
        await drained(pilot, screen)
        items = saved(project).items
        assert (items[0].rating, items[0].note, items[0].trust) == ("good", "bad yen", True)
        assert (items[1].rating, items[1].note, items[1].trust) == ("bad", "", False)
        assert not screen.noting and screen.rater.current.id == items[2].example_id


async def test_keys_pressed_while_loading_are_kept(project: Project) -> None:
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        assert app.open_screen("spot_check", project)
        burst(app, "b", "n", "g")
        await settle(pilot, app)
        screen = app.screen
        await drained(pilot, screen)
        items = saved(project).items
        assert (items[0].rating, items[0].trust) == ("bad", False) and items[1].rating == "good"
        assert screen.rater.current.id == items[1].example_id
