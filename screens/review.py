"""The review screen: build and spot-check the eval set (kind="evalset"), or the pilot (kind="pilot").

What is reviewed comes from an adapter in :mod:`screens.review_sources`; this screen only draws it:

- no eval set yet: the plan (size, kinds, categories, difficulties) and **g**, which builds it in a
  worker with a progress line;
- a review round: a summary line and the shared :class:`~tui.widgets.rater.Rater` over the round's
  sample (y ✓ / n ✗, c note, u undo); every rating is saved the moment it is made. When the last one
  is in, the round is concluded in a worker: approved and frozen, or the rejected examples are
  regenerated with the notes and the next round reviews the replacements;
- **a** approves the whole set without the spot-check (after a confirmation), like
  ``tunesmith evalset NAME --approve``; **r** concludes a finished round again after a failure.

The pilot review (kind="pilot") is the same screen over the pilot's adapter: one round per pilot,
approved above the approval rate, otherwise rejected with the notes fed to the generator. The
scale-up review (kind="scale", ``tunesmith review NAME scale``) rates the random sample of the final
dataset with the same keys; it gates nothing, so it has no approve-all and no conclusion: once every
example is rated the verdict line says whether the sample looks good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from screens.review_sources import (APPROVED, CONCLUDED, REVIEWING, UNBUILT, Conclusion, ReviewSource, Snapshot,
                                    source_for)
from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.widgets.llm_banner import LLMBanner
from tui.widgets.rater import Rater
from tui.workers import background

if TYPE_CHECKING:
    from core.project import Project

TITLES = {"evalset": "eval-set review", "pilot": "pilot review", "scale": "scale-up review"}


# ---------------------------------------------------------------- what the workers report


class ReviewLoaded(Message):
    """A fresh snapshot of the review (after loading, building or approving)."""

    def __init__(self, snapshot: Snapshot, note: str = "") -> None:
        super().__init__()
        self.snapshot = snapshot
        self.note = note


class ReviewProgress(Message):
    """One progress line from a build or a regeneration."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RoundConcluded(Message):
    def __init__(self, conclusion: Conclusion) -> None:
        super().__init__()
        self.conclusion = conclusion


# ---------------------------------------------------------------- the screen


class ReviewScreen(Screen):
    BINDINGS = [
        Binding("g", "build", "Build", id="review.build",
                tooltip="Build the eval set from the plan with the generator LLM"),
        Binding("a", "approve", "Approve all", id="review.approve",
                tooltip="Approve and freeze the whole set without finishing the spot-check"),
        Binding("r", "conclude", "Conclude", id="review.conclude",
                tooltip="Close the finished round: approve, or regenerate the rejected ones with your notes"),
        Binding("l", "browse", "List all", id="review.browse",
                tooltip="Read every example of the approved set (read-only)"),
        Binding("escape", "back", "Back", id="review.back", tooltip="Back to the dashboard"),
    ]

    def __init__(self, project: "Project", kind: str = "evalset") -> None:
        super().__init__()
        if kind not in TITLES:
            raise ValueError(f"no review of kind {kind!r} (known: {', '.join(TITLES)})")
        self.project = project
        self.kind = kind
        self.title = f"{project.meta.name} · {TITLES[kind]}"
        self.COMMAND_PREFIX = TITLES[kind][:1].upper() + TITLES[kind][1:]
        self.source: ReviewSource | None = None  # made by the first load, off the UI thread
        self.snapshot: Snapshot | None = None
        self.busy: str = ""  # "loading" | "building" | "concluding" | "approving" while a worker runs

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield LLMBanner("generator", short=True, id="review-llm")
        yield Static("", id="review-summary", markup=False)
        yield Static("loading…", id="review-status", markup=False)
        with Vertical(id="review-main"):
            with VerticalScroll(id="review-info"):
                yield Static("", id="review-info-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.busy = "loading"
        self.load()

    # ------------------------------------------------------------ workers

    @background("review-load")
    def load(self, note: str = "") -> None:
        if self.source is None:
            self.source = source_for(self.project, self.kind)
        self.post_message(ReviewLoaded(self.source.load(), note))

    @background("review-build")
    def build(self) -> None:
        assert self.source is not None
        snap = self.source.build(self.reporter())
        self.post_message(ReviewLoaded(snap, f"Built the eval set: {len(snap.items)} examples to spot-check."))

    @background("review-conclude")
    def conclude(self) -> None:
        assert self.source is not None
        self.post_message(RoundConcluded(self.source.conclude(self.reporter())))

    @background("review-approve")
    def approve(self) -> None:
        assert self.source is not None
        self.post_message(ReviewLoaded(self.source.approve(), self.source.approved_note))

    def reporter(self) -> Callable[[str], None]:
        """A progress callback for core calls running in a worker thread."""
        return lambda text: self.post_message(ReviewProgress(text))

    # ------------------------------------------------------------ what the workers said

    async def on_review_loaded(self, message: ReviewLoaded) -> None:
        message.stop()
        self.busy = ""
        await self.show(message.snapshot)
        if message.note:
            self.notify(message.note, title=self.COMMAND_PREFIX, markup=False)

    def on_review_progress(self, message: ReviewProgress) -> None:
        message.stop()
        self.set_status(message.text)

    async def on_round_concluded(self, message: RoundConcluded) -> None:
        message.stop()
        self.busy = ""
        result = message.conclusion
        await self.show(result.snapshot)
        if result.note:
            self.notify(result.note, title=self.COMMAND_PREFIX, markup=False)

    def on_work_failed(self, message: WorkFailed) -> None:
        """Let the App show the error (the message bubbles on); put the screen back in a usable state."""
        if not message.group.startswith("review-"):
            return
        doing, self.busy = self.busy, ""
        rater = self.rater
        if rater is not None:
            rater.disabled = False
            rater.focus()
        retry = {"building": " · g tries again", "concluding": " · r tries again, u changes a rating",
                 "approving": " · a tries again"}.get(doing, "")
        self.set_status(f"{doing or 'loading'} failed{retry}")
        self.refresh_bindings()

    # ------------------------------------------------------------ drawing

    @property
    def rater(self) -> Rater | None:
        found = self.query(Rater)
        return found.first() if found else None

    def set_status(self, text: str) -> None:
        self.query_one("#review-status", Static).update(text)

    async def show(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.query_one("#review-summary", Static).update(snap.summary)
        self.set_status(snap.status)
        old = self.rater
        if old is not None:
            await old.remove()
        info = self.query_one("#review-info", VerticalScroll)
        if snap.state == REVIEWING:
            info.display = False
            rater = Rater(snap.items, choices=("good", "bad"), notes=True, ratings=snap.ratings, id="review-rater")
            await self.query_one("#review-main", Vertical).mount(rater)
            rater.focus()
            if snap.complete and self.source is not None:  # a finished round not concluded (e.g. it failed)
                self.set_status(self.source.complete_status(snap))
        else:
            info.display = True
            self.query_one("#review-info-text", Static).update(Markdown(snap.body))
            info.scroll_home(animate=False)
            info.focus()
        if snap.state in (UNBUILT, REVIEWING) and self.kind == "evalset":
            self.query_one(LLMBanner).check(self.project.meta.models)
        else:
            self.query_one(LLMBanner).set_class(False, "-shown")
        self.refresh_bindings()

    # ------------------------------------------------------------ the rater's messages

    def on_rater_rated(self, event: Rater.Rated) -> None:
        event.stop()
        if self.source is None:
            return
        try:
            self.source.rate(event.item_id, event.rating, event.note)
        except Exception as exc:
            self.app.report_error(exc, "The rating was not saved")  # type: ignore[attr-defined]
            self.load()  # show what is on disk
            return
        self.show_round_status(event.rater)

    def on_rater_undone(self, event: Rater.Undone) -> None:
        event.stop()
        if self.source is None:
            return
        try:
            self.source.undo(event.item_id)
        except Exception as exc:
            self.app.report_error(exc, "The rating was not withdrawn")  # type: ignore[attr-defined]
            self.load()
            return
        self.show_round_status(event.rater)

    def on_rater_finished(self, event: Rater.Finished) -> None:
        event.stop()
        self.start_conclude()

    def show_round_status(self, rater: Rater) -> None:
        if self.snapshot is None:
            return
        counts = rater.counts()
        bad = counts.get("bad", 0)
        self.snapshot.ratings = rater.ratings
        self.snapshot.rejected = bad
        if self.source is not None:
            self.set_status(self.source.round_status(self.snapshot, len(rater.ratings), len(rater.items), bad))
        self.refresh_bindings()

    def start_conclude(self) -> None:
        snap, rater = self.snapshot, self.rater
        if snap is None or self.source is None or self.busy:
            return
        self.busy = "concluding"
        if rater is not None:
            rater.disabled = True
        self.set_status(self.source.conclude_text(snap))
        self.refresh_bindings()
        self.conclude()

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        snap, source = self.snapshot, self.source
        state = snap.state if snap else ""
        if action == "build":
            if source is None or not source.can_build or state != UNBUILT:
                return False
            return None if self.busy else True
        if action == "approve":
            if state != REVIEWING or source is None or not source.can_approve:
                return False
            return None if self.busy else True
        if action == "browse":
            return self.kind in ("evalset", "pilot") and state in (APPROVED, CONCLUDED)
        if action == "conclude":
            if state != REVIEWING or snap is None or not snap.complete or source is None or not source.can_conclude:
                return False
            return None if self.busy else True
        return True

    def action_build(self) -> None:
        if self.busy or self.source is None or not self.source.can_build:
            return
        self.busy = "building"
        self.set_status("building the eval set… (the first progress line comes after the first batch)")
        self.refresh_bindings()
        self.build()

    def action_conclude(self) -> None:
        self.start_conclude()

    def action_approve(self) -> None:
        from tui.dialogs import ConfirmDialog

        snap, source = self.snapshot, self.source
        if self.busy or snap is None or source is None or snap.state != REVIEWING or not source.can_approve:
            return

        def answered(yes: bool | None) -> None:
            if yes and not self.busy:
                self.busy = "approving"
                self.set_status("approving…")
                self.refresh_bindings()
                self.approve()

        self.app.push_screen(ConfirmDialog(source.approve_question(snap), yes="Approve", no="Keep reviewing",
                                           title="Approve without the spot-check"), answered)

    def action_browse(self) -> None:
        from screens.browse import BrowseScreen

        if self.kind in ("evalset", "pilot"):
            self.app.push_screen(BrowseScreen(self.project, self.kind))

    def action_back(self) -> None:
        if self.busy in ("building", "concluding"):
            self.notify(f"{self.busy.capitalize()} goes on in the background; its result is saved.",
                        title=self.COMMAND_PREFIX)
        self.app.pop_screen()

