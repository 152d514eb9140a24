"""The rater: one item at a time, one key per decision, undo, and a message per rating.

Used by the eval-set review, the pilot review and the evaluation spot-check:

    rater = Rater(items, choices=("good", "bad"))             # y ✓ / n ✗
    rater = Rater(items, choices=("good", "concerning", "bad"))  # + m ⚠

    @on(Rater.Rated)
    def save(self, event: Rater.Rated) -> None: ...   # event.item_id, event.rating, event.note
    @on(Rater.Undone)
    def unsave(self, event: Rater.Undone) -> None: ...  # event.item_id
    @on(Rater.Finished)
    def done(self, event: Rater.Finished) -> None: ...  # event.ratings: {item_id: Rating}

Keys: y / n / m rate the current item and move on at once; u or backspace undoes the last rating
(goes back to that item and clears it); c adds a note to the current item before rating it (esc, while
typing it, drops it); up / down / page keys scroll a long item.

The progress line counts ratings ("3/20 rated"), the same number a screen's status line shows, never
the position of the item on screen (that made "19/20" and "20/20" on one screen).

``hold=True`` keeps a rated item on screen until :meth:`Rater.release` is called, so that a screen can
ask its follow-up questions about that item while it is shown (the spot-check). A screen that binds its
own keys calls :meth:`Rater.rate`, :meth:`Rater.undo`, :meth:`Rater.release` and :meth:`Rater.start_note`
from its actions: the rater's state changes at once, in the key's own handler, so a key pressed right
after another one always finds the state the first one left (nothing waits for a message).

A ``str`` body is stored text and is shown exactly as stored (:func:`tui.widgets.literal.literal`: no
Markdown, no markup, fenced code blocks highlighted); a Rich renderable is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

from tui.keys import caught_up
from tui.widgets.literal import literal


@dataclass(frozen=True)
class RaterItem:
    id: str
    title: str
    body: str | RenderableType  # stored text (shown literally, code blocks highlighted), or any Rich renderable


@dataclass(frozen=True)
class Choice:
    key: str
    value: str
    symbol: str
    label: str


CHOICES: dict[str, Choice] = {
    "good": Choice("y", "good", "✓", "good"),
    "bad": Choice("n", "bad", "✗", "bad"),
    "concerning": Choice("m", "concerning", "⚠", "concerning"),
}


@dataclass(frozen=True)
class Rating:
    rating: str  # "good" | "bad" | "concerning"
    note: str | None = None


ItemLike = RaterItem | tuple[str, str, "str | RenderableType"]


def _item(x: ItemLike) -> RaterItem:
    return x if isinstance(x, RaterItem) else RaterItem(str(x[0]), str(x[1]), x[2])


class NoteInput(Input):
    """The note being typed: enter keeps it, esc drops it (keys of the text field, only while typing).

    Both are ``priority`` and first wait until every key typed before them is in the field
    (:func:`tui.keys.caught_up`); then the focus goes back to the rater at once, so the keys after
    them rate again instead of being typed into a closed field."""

    BINDINGS = [
        Binding("enter", "keep", "Keep note", id="rater.note_keep", priority=True, tooltip="Keep the note"),
        Binding("escape", "drop", "Drop note", id="rater.note_drop", priority=True,
                tooltip="Drop the note being typed"),
    ]

    @property
    def rater(self) -> "Rater | None":
        return next((a for a in self.ancestors if isinstance(a, Rater)), None)

    async def action_keep(self) -> None:
        await caught_up(self)
        rater = self.rater
        if rater is not None:
            rater.keep_note(self.value)

    async def action_drop(self) -> None:
        await caught_up(self)
        rater = self.rater
        if rater is not None:
            rater.cancel_note()


class Rater(Widget, can_focus=True):
    """Rates items one by one. See the module docstring for the API."""

    # every key is priority: it acts on the App's own turn, in the order pressed, even when one of them moves
    # the focus (c opens the note field); all stand aside while the note is typed (see tui.keys)
    BINDINGS = [
        Binding("y", "rate('good')", "✓ Good", priority=True, id="rater.good",
                tooltip="Rate this item good and move on"),
        Binding("n", "rate('bad')", "✗ Bad", priority=True, id="rater.bad", tooltip="Rate this item bad and move on"),
        Binding("m", "rate('concerning')", "⚠ Concerning", priority=True, id="rater.concerning",
                tooltip="Flag this item as concerning and move on"),
        Binding("u,backspace", "undo", "Undo", priority=True, id="rater.undo",
                tooltip="Go back to the last rated item and clear its rating"),
        Binding("c", "note", "Note", priority=True, id="rater.note", tooltip="Add a note to this item, then rate it"),
        Binding("up", "scroll_body('up')", priority=True, show=False),
        Binding("down", "scroll_body('down')", priority=True, show=False),
        Binding("pageup", "scroll_body('page_up')", priority=True, show=False),
        Binding("pagedown", "scroll_body('page_down')", priority=True, show=False),
    ]

    DEFAULT_CSS = """
    Rater { height: 1fr; layout: vertical; }
    Rater > #rater-progress { height: 1; padding: 0 1; background: $panel; }
    Rater:focus-within > #rater-progress { background: $primary 40%; }
    Rater > #rater-title { height: auto; max-height: 3; padding: 0 1; margin: 0 0 1 0; text-style: bold; }
    Rater > #rater-body { height: 1fr; padding: 0 1; }
    Rater > #rater-note-line { height: auto; padding: 0 1; color: $text-muted; display: none; }
    Rater > #rater-note-line.-shown { display: block; }
    Rater > #rater-note { display: none; }
    Rater.-noting > #rater-note { display: block; }
    """

    class Rated(Message):
        """An item was rated; save it now."""

        def __init__(self, rater: "Rater", item_id: str, rating: str, note: str | None, index: int) -> None:
            super().__init__()
            self.rater = rater
            self.item_id = item_id
            self.rating = rating
            self.note = note
            self.index = index

        @property
        def control(self) -> "Rater":
            return self.rater

    class Undone(Message):
        """An item's rating was cleared; forget it."""

        def __init__(self, rater: "Rater", item_id: str, index: int) -> None:
            super().__init__()
            self.rater = rater
            self.item_id = item_id
            self.index = index

        @property
        def control(self) -> "Rater":
            return self.rater

    class Noted(Message):
        """The note of a rated item that is still on screen (``hold``) changed; save it."""

        def __init__(self, rater: "Rater", item_id: str, note: str | None) -> None:
            super().__init__()
            self.rater = rater
            self.item_id = item_id
            self.note = note

        @property
        def control(self) -> "Rater":
            return self.rater

    class Finished(Message):
        """Every item has a rating (posted each time the last open item is rated)."""

        def __init__(self, rater: "Rater", ratings: dict[str, Rating]) -> None:
            super().__init__()
            self.rater = rater
            self.ratings = ratings

        @property
        def control(self) -> "Rater":
            return self.rater

    def __init__(
        self,
        items: Iterable[ItemLike],
        *,
        choices: Sequence[str] = ("good", "bad"),
        notes: bool = True,
        ratings: Mapping[str, Rating | str] | None = None,
        hold: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """items: RaterItem or (id, title, body) tuples; choices: which of "good" (y),
        "bad" (n), "concerning" (m) are offered, in display order; notes: whether c adds a note;
        ratings: earlier ratings to resume from (item id -> Rating or rating string); hold: a rated item
        stays on screen until release() (see the module docstring)."""
        super().__init__(name=name, id=id, classes=classes)
        unknown = [c for c in choices if c not in CHOICES]
        if unknown or not choices:
            raise ValueError(f"choices must be among {', '.join(CHOICES)} (got {list(choices)!r})")
        self.items: list[RaterItem] = [_item(x) for x in items]
        self.choices: tuple[Choice, ...] = tuple(CHOICES[c] for c in choices)
        self.notes_enabled = notes
        known = {it.id for it in self.items}
        self._ratings: dict[str, Rating] = {}
        for key, value in (ratings or {}).items():
            if key in known:
                self._ratings[key] = value if isinstance(value, Rating) else Rating(str(value))
        self._history: list[int] = [i for i, it in enumerate(self.items) if it.id in self._ratings]
        self.index: int = self._next_open(0)
        self._pending_note: str | None = None
        self._last: str = ""
        self.hold = hold
        self._held: int | None = None  # hold: the rated item still on screen

    # ------------------------------------------------------------ public state

    @property
    def ratings(self) -> dict[str, Rating]:
        return dict(self._ratings)

    @property
    def finished(self) -> bool:
        """Every item has a rating (with ``hold``, the last one may still be on screen: see ``done``)."""
        return bool(self.items) and len(self._ratings) == len(self.items)

    @property
    def done(self) -> bool:
        """Every item is rated and none is held on screen."""
        return self.finished and self._held is None

    @property
    def held(self) -> RaterItem | None:
        """hold: the rated item still on screen, if any."""
        return None if self._held is None else self.items[self._held]

    @property
    def current(self) -> RaterItem | None:
        """The item on screen (rated and held, or the next to rate); None when all are done."""
        if self._held is not None:
            return self.items[self._held]
        if self.finished or not self.items:
            return None
        return self.items[self.index]

    @property
    def rated(self) -> int:
        return len(self._ratings)

    @property
    def noting(self) -> bool:
        """A note is being typed."""
        return self.has_class("-noting")

    def counts(self) -> dict[str, int]:
        out = {c.value: 0 for c in self.choices}
        for r in self._ratings.values():
            out[r.rating] = out.get(r.rating, 0) + 1
        return out

    # ------------------------------------------------------------ composing and drawing

    def compose(self) -> ComposeResult:
        yield Static(id="rater-progress", markup=False)
        yield Static(id="rater-title", markup=False)
        with VerticalScroll(id="rater-body", can_focus=False):
            yield Static(id="rater-body-text")
        yield Static(id="rater-note-line", markup=False)
        yield NoteInput(placeholder="note for this item: enter keeps it, esc drops it", id="rater-note", compact=True)

    def on_mount(self) -> None:
        self._show()

    def progress_text(self) -> str:
        total = len(self.items)
        counts = self.counts()
        tally = " ".join(f"{c.symbol} {counts[c.value]}" for c in self.choices)
        text = f"{self.rated}/{total} rated · {tally}"
        if self._last:
            text += f" · {self._last}"
        return text

    def _show(self) -> None:
        self.query_one("#rater-progress", Static).update(self.progress_text())
        title = self.query_one("#rater-title", Static)
        body = self.query_one("#rater-body-text", Static)
        item = self.current
        if not self.items:
            title.update("Nothing to review.")
            body.update("")
        elif item is None:
            counts = self.counts()
            tally = ", ".join(f"{c.symbol} {counts[c.value]} {c.label}" for c in self.choices)
            title.update(f"All {len(self.items)} items rated ({tally}).")
            body.update(Text("u or backspace goes back to the last one.", style="dim"))
        else:
            title.update(item.title)
            body.update(literal(item.body) if isinstance(item.body, str) else item.body)
        self.query_one("#rater-body", VerticalScroll).scroll_home(animate=False)
        note_line = self.query_one("#rater-note-line", Static)
        note = self._pending_note
        if note is None and self.held is not None:
            note = self._ratings[self.held.id].note
        note_line.update(f"note: {note}" if note else "")
        note_line.set_class(bool(note), "-shown")
        self.refresh_bindings()

    # ------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rate":
            if parameters and parameters[0] not in {c.value for c in self.choices}:
                return False
            return None if self.current is None else True
        if action == "undo":
            return True if self._history else None
        if self.noting:
            return False  # every key is text while the note is typed
        if action == "note":
            if not self.notes_enabled:
                return False
            return None if self.current is None else True
        return True

    def rate(self, rating: str, note: str | None = None) -> str | None:
        """Rate the current item and move on (what the y / n / m keys do); with ``hold`` the item stays on
        screen (rating it again changes its rating) until :meth:`release`. Returns the item's id."""
        item = self.current
        if item is None or rating not in {c.value for c in self.choices}:
            self.app.bell()
            return None
        index = self.index if self._held is None else self._held
        if note is None:
            note = self._pending_note
        if note is None and self._held is not None:
            note = self._ratings[item.id].note
        self._ratings[item.id] = Rating(rating, note or None)
        if self._held is None:
            self._history.append(index)
        self._pending_note = None
        choice = CHOICES[rating]
        self._last = f"{choice.symbol} {item.id}"
        if self.hold:
            self._held = index
        else:
            self.index = self._next_open(index + 1)
        self.post_message(self.Rated(self, item.id, rating, note or None, index))
        if self.finished and not self.hold:
            self.post_message(self.Finished(self, self.ratings))
        self._show()
        return item.id

    def release(self) -> None:
        """hold: move on from the rated item on screen to the next open one."""
        if self._held is None:
            return
        index, self._held = self._held, None
        self.index = self._next_open(index + 1)
        if self.finished:
            self.post_message(self.Finished(self, self.ratings))
        self._show()

    def undo(self) -> str | None:
        """Go back to the last rated item (the one on screen, when it is held) and clear its rating.
        Returns the item's id."""
        if not self._history:
            self.app.bell()
            return None
        index = self._history.pop()
        self._held = None
        item = self.items[index]
        old = self._ratings.pop(item.id, None)
        self.index = index
        self._pending_note = old.note if old else None
        self._last = f"undone {item.id}"
        self.post_message(self.Undone(self, item.id, index))
        self._show()
        return item.id

    def action_rate(self, rating: str) -> None:
        self.rate(rating)

    def action_undo(self) -> None:
        self.undo()

    def action_note(self) -> None:
        self.start_note()

    def start_note(self) -> None:
        """Open the note field for the item on screen (its note so far in it)."""
        if self.current is None:
            return
        box = self.query_one("#rater-note", Input)
        held = self.held
        box.value = self._pending_note or (self._ratings[held.id].note or "" if held is not None else "")
        self.add_class("-noting")
        self.screen.set_focus(box)  # at once: the keys after this one are the note's (see tui.keys)
        self.refresh_bindings()

    def cancel_note(self) -> None:
        """Close the note field, keeping no change."""
        self.remove_class("-noting")
        self.screen.set_focus(self)
        self.refresh_bindings()

    def keep_note(self, value: str) -> None:
        """Close the note field, keeping what was typed: the rated item on screen (``hold``) gets it at
        once (a Noted message says so), otherwise it goes with the next rating."""
        note = value.strip() or None
        held = self.held
        if held is not None:
            self._ratings[held.id] = Rating(self._ratings[held.id].rating, note)
            self.post_message(self.Noted(self, held.id, note))
        else:
            self._pending_note = note
        self.remove_class("-noting")
        self.screen.set_focus(self)
        self._show()

    def action_scroll_body(self, how: str) -> None:
        body = self.query_one("#rater-body", VerticalScroll)
        getattr(body, f"scroll_{how}")(animate=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "rater-note":
            return
        event.stop()
        if self.noting:
            self.keep_note(event.value)

    # ------------------------------------------------------------ helpers

    def _next_open(self, start: int) -> int:
        n = len(self.items)
        for offset in range(n):
            i = (start + offset) % n
            if self.items[i].id not in self._ratings:
                return i
        return max(0, min(start, n - 1))
