"""Human rating: the evaluation's outputs that wait for a person (no automated method fits, or the judge
failed validation), one key each (core.evaluate.human).

- **y** ✓ good (score 1) · **m** ⚠ partly right (0.5) · **n** ✗ bad (0) rates the output shown, saves it
  and shows the next at once (the shared :class:`~tui.widgets.rater.Rater`); **c** adds a note first,
  **u** / backspace undoes the last rating.
- outputs are shown blind (the request, the reference and the output, not which model wrote it), in the
  saved queue's order: every prefix is a sample in proportion to the categories, so stopping after the
  number the statistics need (shown at the top, with why) still rates a fair sample.
- every rating is written to results.parquet and human_ratings.toml as it is made; the screen resumes
  where it stopped.
- **d** makes the decision again from the saved results (core.evaluate.run.decide_now, in a worker) and
  opens the report; **escape** goes back (ratings are saved).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.widgets.literal import literal
from tui.widgets.rater import Rater, RaterItem, Rating
from tui.workers import background

if TYPE_CHECKING:
    from core.evaluate.human import RateItem, RateState
    from core.project import Project

TO_CORE = {"good": "good", "concerning": "mixed", "bad": "bad"}  # the rater's choice -> core.evaluate.human
FROM_CORE = {v: k for k, v in TO_CORE.items()}


class RatingsLoaded(Message):
    def __init__(self, state: "RateState | None", missing: str = "") -> None:
        super().__init__()
        self.state = state
        self.missing = missing


class RatingDecided(Message):
    def __init__(self, verdict: str | None) -> None:
        super().__init__()
        self.verdict = verdict


def item_body(item: "RateItem") -> Group:
    ex = item.example
    parts = []
    if ex is not None:
        parts.append(Panel(literal(ex.input), title="request", title_align="left", border_style="dim"))
        parts.append(Panel(literal(ex.reference), title="reference", title_align="left", border_style="dim"))
    output = literal(item.result.output) if item.result.output else Text("(empty)")
    parts.append(Panel(output, title="output (model not shown)", title_align="left"))
    return Group(*parts)


def rater_item(item: "RateItem") -> RaterItem:
    ex = item.example
    where = f"{ex.category} · {ex.kind}" + (" · must refuse" if ex.should_refuse else "") if ex else "?"
    return RaterItem(item.key, f"{where} · {item.example_id} — y good · m partly · n bad", item_body(item))


def _rating_of(item: "RateItem") -> Rating | None:
    if not item.done:
        return None
    detail = item.result.detail.removeprefix("human rating:").strip()
    word = detail.split()[0] if detail else ""
    return Rating(FROM_CORE.get(word, "good"), item.rating.note if item.rating and item.rating.note else None)


class HumanRatingScreen(Screen):
    COMMAND_PREFIX = "Human rating"
    BINDINGS = [
        Binding("d", "decide", "Decide", id="human.decide",
                tooltip="Make the decision again with these ratings and open the report"),
        Binding("escape", "back", "Back", id="human.back", tooltip="Back to the dashboard (ratings are saved)"),
    ]

    def __init__(self, project: "Project") -> None:
        super().__init__()
        self.project = project
        self.title = f"{project.meta.name} · human rating"
        self.state: "RateState | None" = None
        self.busy = ""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="human-status", markup=False)
        yield Static("", id="human-plan", markup=False)
        yield Vertical(id="human-main")
        yield KeyBar()

    def on_mount(self) -> None:
        self.busy = "loading"
        self.load()

    @background("human-load")
    def load(self) -> None:
        from core.errors import StageNotReady
        from core.evaluate import human

        try:
            state = human.load(self.project)
        except StageNotReady as exc:
            self.post_message(RatingsLoaded(None, str(exc)))
            return
        self.post_message(RatingsLoaded(state))

    @background("human-decide")
    def decide(self) -> None:
        run = importlib.import_module("core.evaluate.run")
        decision = run.decide_now(self.project, self.state.eval_id if self.state else None)
        self.post_message(RatingDecided(getattr(decision, "verdict", None)))

    @property
    def rater(self) -> Rater | None:
        found = self.query(Rater)
        return found.first() if found else None

    async def on_ratings_loaded(self, message: RatingsLoaded) -> None:
        message.stop()
        self.busy = ""
        self.state = state = message.state
        main = self.query_one("#human-main", Vertical)
        await main.remove_children()
        if state is None or not state.items:
            why = message.missing or "nothing waits for a human rating in the latest evaluation"
            self.set_status("nothing to rate")
            await main.mount(Static(Text.assemble(("Nothing to rate.\n", "bold"), why[:1].upper() + why[1:]),
                                    id="human-missing"))
            self.refresh_bindings()
            return
        ratings = {i.key: r for i in state.items if (r := _rating_of(i)) is not None}
        rater = Rater([rater_item(i) for i in state.items], choices=("good", "concerning", "bad"), notes=True,
                      ratings=ratings, id="human-rater")
        await main.mount(rater)
        rater.focus()
        plan = state.lines()
        self.query_one("#human-plan", Static).update("\n".join(plan[1:]))
        self.show_status("resumed" if state.rated else "")
        self.refresh_bindings()

    def set_status(self, text: str) -> None:
        self.query_one("#human-status", Static).update(text)

    def show_status(self, note: str = "") -> None:
        rater = self.rater
        if self.state is None or rater is None:
            return
        done = len(rater.ratings)
        text = f"evaluation {self.state.eval_id} · {done}/{self.state.total} rated"
        if rater.finished:
            text += " · all rated: d decides"
        self.set_status(text + (f" · {note}" if note else ""))

    def on_rater_rated(self, event: Rater.Rated) -> None:
        event.stop()
        from core.evaluate import human

        if self.state is None:
            return
        try:
            human.rate(self.project, self.state.eval_id, event.item_id, TO_CORE[event.rating], event.note or "")
        except Exception as exc:
            self.app.report_error(exc, "The rating was not saved")  # type: ignore[attr-defined]
            self.busy = "loading"
            self.load()
            return
        self.show_status("saved")
        self.refresh_bindings()

    def on_rater_undone(self, event: Rater.Undone) -> None:
        event.stop()
        from core.evaluate import human

        if self.state is None:
            return
        try:
            human.undo(self.project, self.state.eval_id, event.item_id, source=None)
        except Exception as exc:
            self.app.report_error(exc, "The rating was not withdrawn")  # type: ignore[attr-defined]
            self.busy = "loading"
            self.load()
            return
        self.show_status(f"undone {event.item_id}")
        self.refresh_bindings()

    def on_rater_finished(self, event: Rater.Finished) -> None:
        event.stop()
        self.show_status("saved")
        self.refresh_bindings()

    def on_rating_decided(self, message: RatingDecided) -> None:
        message.stop()
        self.busy = ""
        self.refresh_bindings()
        self.notify(f"decision: {message.verdict.upper()}" if message.verdict else "decided", title=self.COMMAND_PREFIX)
        open_screen = getattr(self.app, "open_screen", None)
        if open_screen is not None:
            open_screen("report", self.project)

    def on_work_failed(self, message: WorkFailed) -> None:
        if not message.group.startswith("human-"):
            return
        doing, self.busy = self.busy, ""
        self.set_status(f"{doing or 'loading'} failed" + (" · d tries again" if doing == "deciding" else ""))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "decide":
            if self.state is None or not self.state.items:
                return False
            return None if self.busy else True
        return True

    def action_decide(self) -> None:
        if self.busy or self.state is None:
            return
        self.busy = "deciding"
        self.set_status("deciding…")
        self.refresh_bindings()
        self.decide()

    def action_back(self) -> None:
        self.app.pop_screen()
