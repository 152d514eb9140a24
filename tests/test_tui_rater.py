"""The shared rater widget, driven only by keys at 80x24."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from tui.widgets.key_bar import KeyBar, key_items
from tui.widgets.rater import Rater, RaterItem, Rating

ITEMS = [RaterItem(f"ex{i}", f"Example {i}", f"**Input** number {i}\n\n> the answer {i}") for i in range(1, 6)]


class RaterApp(App[None]):
    def __init__(self, rater: Rater) -> None:
        super().__init__()
        self.rater = rater
        self.events: list[tuple] = []

    def compose(self) -> ComposeResult:
        yield self.rater
        yield KeyBar()

    def on_mount(self) -> None:
        self.rater.focus()

    def on_rater_rated(self, m: Rater.Rated) -> None:
        self.events.append(("rated", m.item_id, m.rating, m.note))

    def on_rater_undone(self, m: Rater.Undone) -> None:
        self.events.append(("undone", m.item_id))

    def on_rater_finished(self, m: Rater.Finished) -> None:
        self.events.append(("finished", m.ratings))


def progress(rater: Rater) -> str:
    return str(rater.query_one("#rater-progress", Static).render())


def title(rater: Rater) -> str:
    return str(rater.query_one("#rater-title", Static).render())


async def test_rates_with_one_key_and_moves_on() -> None:
    rater = Rater(ITEMS, choices=("good", "concerning", "bad"))
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        assert title(rater) == "Example 1"
        assert progress(rater) == "0/5 rated · ✓ 0 ⚠ 0 ✗ 0"
        await pilot.press("y", "n", "m")
        await pilot.pause()
        assert app.events == [("rated", "ex1", "good", None), ("rated", "ex2", "bad", None),
                              ("rated", "ex3", "concerning", None)]
        assert title(rater) == "Example 4"
        assert progress(rater).startswith("3/5 rated · ✓ 1 ⚠ 1 ✗ 1")


async def test_undo_goes_back_and_clears_the_rating() -> None:
    rater = Rater(ITEMS)
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("y", "n")
        await pilot.press("u")
        await pilot.pause()
        assert app.events[-1] == ("undone", "ex2")
        assert title(rater) == "Example 2"
        assert rater.ratings == {"ex1": Rating("good")}
        await pilot.press("backspace")
        await pilot.pause()
        assert app.events[-1] == ("undone", "ex1")
        assert title(rater) == "Example 1"
        assert rater.ratings == {}
        await pilot.press("u")  # nothing left to undo: nothing happens
        await pilot.pause()
        assert app.events[-1] == ("undone", "ex1")
        await pilot.press("n")
        await pilot.pause()
        assert app.events[-1] == ("rated", "ex1", "bad", None)


async def test_finish_message_and_undo_after_finishing() -> None:
    rater = Rater(ITEMS[:3])
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("y", "y", "n")
        await pilot.pause()
        assert app.events[-1] == ("finished", {"ex1": Rating("good"), "ex2": Rating("good"), "ex3": Rating("bad")})
        assert rater.finished and rater.current is None
        assert title(rater).startswith("All 3 items rated")
        assert progress(rater).startswith("3/3 rated · ✓ 2 ✗ 1")
        count = len(app.events)
        await pilot.press("y")  # nothing left to rate
        await pilot.pause()
        assert len(app.events) == count
        await pilot.press("u")
        await pilot.pause()
        assert app.events[-1] == ("undone", "ex3")
        assert title(rater) == "Example 3"
        await pilot.press("y")
        await pilot.pause()
        assert app.events[-1][0] == "finished" and app.events[-1][1]["ex3"] == Rating("good")


async def test_keys_not_offered_do_nothing_and_are_not_shown() -> None:
    rater = Rater(ITEMS, choices=("good", "bad"))
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert app.events == []
        shown = [desc for _keys, desc, _enabled in key_items(app.screen)]
        assert "✓ Good" in shown and "✗ Bad" in shown and "⚠ Concerning" not in shown
        assert "Undo" in shown and "Note" in shown
        assert "⚠" not in progress(rater)


async def test_note_goes_with_the_rating() -> None:
    rater = Rater(ITEMS)
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"too long, but yes", "enter")
        await pilot.pause()
        assert "note: too long, but yes" in str(rater.query_one("#rater-note-line", Static).render())
        await pilot.press("y")
        await pilot.pause()
        assert app.events == [("rated", "ex1", "good", "too long, but yes")]
        # escape drops a note being typed; the rating keys work again afterwards
        await pilot.press("c", *"nope", "escape", "n")
        await pilot.pause()
        assert app.events[-1] == ("rated", "ex2", "bad", None)


async def test_notes_can_be_turned_off() -> None:
    rater = Rater(ITEMS, notes=False)
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c", "y")
        await pilot.pause()
        assert app.events == [("rated", "ex1", "good", None)]


async def test_resume_from_earlier_ratings_and_tuple_items() -> None:
    items = [(f"id{i}", f"Item {i}", f"body {i}") for i in range(4)]
    rater = Rater(items, ratings={"id0": "good", "id1": Rating("bad", "off topic")})
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        assert title(rater) == "Item 2"
        assert progress(rater).startswith("2/4 rated · ✓ 1 ✗ 1")
        await pilot.press("u")
        await pilot.pause()
        assert app.events == [("undone", "id1")]
        assert title(rater) == "Item 1"
        assert "off topic" in str(rater.query_one("#rater-note-line", Static).render())


async def test_long_body_scrolls_and_fits_80x24() -> None:
    body = "\n\n".join(f"paragraph {i} " + "word " * 30 for i in range(30))
    rater = Rater([RaterItem("long", "A long one", body), RaterItem("b", "B", "short")])
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        scroller = rater.query_one("#rater-body")
        assert scroller.max_scroll_y > 0
        assert rater.region.bottom <= 24 and rater.region.right <= 80
        await pilot.press("pagedown")
        await pilot.pause()
        assert scroller.scroll_y > 0
        await pilot.press("y")
        await pilot.pause()
        assert scroller.scroll_y == 0  # the next item starts at its top


def test_bad_choices_are_refused() -> None:
    with pytest.raises(ValueError):
        Rater(ITEMS, choices=("good", "meh"))


async def test_empty_rater_says_so() -> None:
    rater = Rater([])
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("y")
        await pilot.pause()
        assert title(rater) == "Nothing to review."
        assert app.events == []


async def test_hold_keeps_the_rated_item_on_screen_until_released() -> None:
    rater = Rater(ITEMS[:2], choices=("good", "bad"), hold=True)
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("y")
        await pilot.pause()
        assert title(rater) == "Example 1" and rater.held.id == "ex1"
        assert progress(rater).startswith("1/2 rated")
        await pilot.press("n")  # rating it again changes it, still one rating
        await pilot.pause()
        assert rater.ratings == {"ex1": Rating("bad")} and progress(rater).startswith("1/2 rated · ✓ 0 ✗ 1")
        rater.release()
        await pilot.pause()
        assert title(rater) == "Example 2" and rater.held is None
        await pilot.press("y")
        await pilot.pause()
        assert rater.finished and not rater.done and rater.current.id == "ex2"
        assert not any(e[0] == "finished" for e in app.events)
        await pilot.press("u")  # undo of the held item clears it and keeps it on screen
        await pilot.pause()
        assert app.events[-1] == ("undone", "ex2") and rater.current.id == "ex2" and rater.held is None
        await pilot.press("y")
        rater.release()
        await pilot.pause()
        assert rater.done and app.events[-1][0] == "finished"


async def test_note_on_a_held_item_is_sent_with_its_id() -> None:
    notes: list[tuple[str, str | None]] = []

    class NotedApp(RaterApp):
        def on_rater_noted(self, m: Rater.Noted) -> None:
            notes.append((m.item_id, m.note))

    rater = Rater(ITEMS[:2], hold=True)
    app = NotedApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("y", "c", *"fine", "enter")
        await pilot.pause()
        assert notes == [("ex1", "fine")] and rater.ratings["ex1"] == Rating("good", "fine")
        assert "note: fine" in str(rater.query_one("#rater-note-line", Static).render())


async def test_keys_in_a_burst_are_all_applied_in_order() -> None:
    """c opens the note at once, enter waits for the typed keys: nothing is typed in the wrong place."""
    from textual import events

    rater = Rater(ITEMS, choices=("good", "bad"))
    app = RaterApp(rater)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, char in [("y", "y"), ("c", "c"), *[(k, k) for k in "yes"], ("enter", "\r"), ("n", "n"),
                          ("c", "c"), ("n", "n"), ("escape", None), ("y", "y")]:
            app.post_message(events.Key(key, char))
        for _ in range(4):
            await pilot.pause()
        assert [e for e in app.events if e[0] == "rated"] == [
            ("rated", "ex1", "good", None), ("rated", "ex2", "bad", "yes"), ("rated", "ex3", "good", None)]
        assert not rater.noting and app.focused is rater
