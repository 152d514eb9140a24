"""The evaluation spot-check screen: the items core.evaluate.spot_check chose for signal.

Every question about an item is asked while that item is on screen, and every key has one meaning:

- **g** ✓ good · **c** ⚠ concerning · **b** ✗ bad rates the candidate's output (pressing another changes it);
- **y** / **n**: would you trust it, yes / no;
- comparison items only, which output is better: **←** base · **→** candidate · **=** about the same;
- **e** writes a note about the item; **enter** leaves its open questions unanswered and shows the next
  item (once it is rated); **u** / backspace clears the item's answers, or else goes back to the last
  rated item and clears it.

The answers can come in any order; the next item is shown once the item on screen has all of them
(rating, trust and, for a comparison, which is better) or enter skips the rest. A key does its work at
once, against the item shown when it was pressed (its id goes with the change); the change is written to
evals/<id>/spot_check.toml by one writer thread, in order, so a slow disk never holds up or loses a key.
The check resumes where it stopped.

Comparison items show the base's and the candidate's outputs side by side on a wide terminal (about 120
columns) and one above the other on a narrow one. "N/M rated" comes from one count (the status line, the
rater's progress line and the end agree). When the last item is answered the check is finished
(``spot_checked`` is marked); the counts are shown and **d** runs the decision
(core.evaluate.run.decide_now, after every answer is written) and opens the report; **r** opens the
report without deciding.
"""

from __future__ import annotations

import importlib
import importlib.util
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
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
    from core.evaluate import spot_check as sc
    from core.evaluate.spot_check import ItemView, SpotState
    from core.project import Project

SIDE_BY_SIDE_MIN = 100  # body width (cells) from which base | candidate sit side by side (a 120-col terminal)
RATE = Binding.Group("Rate ✓/⚠/✗", compact=False)
BETTER = Binding.Group("Better: base/cand/same", compact=False)
TRUST = Binding.Group("Trust yes/no", compact=False)
SYMBOL = {"good": "✓", "concerning": "⚠", "bad": "✗"}
GROUP_LABEL = {"common": "common", "edge": "edge case", "out_of_scope": "out-of-scope", "comparison": "comparison"}
PREFERRED = {"base": "base better", "candidate": "candidate better", "same": "about the same"}


# ---------------------------------------------------------------- what the workers report


class SpotLoaded(Message):
    """The spot-check (``state``), or why there is none yet (``missing``: no completed evaluation)."""

    def __init__(self, state: "SpotState | None", missing: str = "") -> None:
        super().__init__()
        self.state = state
        self.missing = missing


class Decided(Message):
    def __init__(self, verdict: str | None, note: str = "") -> None:
        super().__init__()
        self.verdict = verdict
        self.note = note


# ---------------------------------------------------------------- one item, drawn


def _scored(r: Any) -> str:
    bits = [r.method.replace("_", " ")] + (["pending"] if r.pending else [f"{r.score:.2f}", "pass" if r.passed else "fail"])
    if r.judge_confidence is not None:
        bits.append(f"conf {r.judge_confidence:.2f}")
    return " · ".join(bits)


class ItemBody:
    """Input, reference and output(s) of one item; a comparison lays out base | candidate when wide."""

    def __init__(self, view: "ItemView", base_model: str = "", candidate_model: str = "") -> None:
        self.view = view
        self.base_model = base_model
        self.candidate_model = candidate_model

    def _output(self, role: str, result: Any, model: str) -> Panel:
        has_output = result is not None and bool(result.output)
        text = literal(result.output) if has_output else Text("(no output)", overflow="fold")
        title = Text.assemble((role, "bold"), f" · {model}" if model else "")  # a Text: a model name is not markup
        sub = Text(_scored(result)) if result is not None else None
        style = "green" if role == "candidate" else "blue"
        return Panel(text, title=title, title_align="left", subtitle=sub, subtitle_align="right",
                     border_style=style, padding=(0, 1))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        v, ex = self.view, self.view.example
        if ex is not None:
            yield Text.assemble(("input ", "bold"), (f"({ex.category} · {ex.difficulty}"
                                                     f"{' · must refuse' if ex.should_refuse else ''})", "dim"))
            yield literal(ex.input)
            yield Text("reference", style="bold")
            yield literal(ex.reference, style="dim")
        else:
            yield Text("(this example is missing from the eval set)", style="italic")
        cand = self._output("candidate", v.candidate, self.candidate_model)
        if not v.is_comparison:
            yield cand
            return
        base = self._output("base", v.base, self.base_model)
        if options.max_width >= SIDE_BY_SIDE_MIN:
            grid = Table.grid(expand=True, padding=(0, 1))
            grid.add_column(ratio=1)
            grid.add_column(ratio=1)
            grid.add_row(base, cand)
            yield grid
        else:
            yield Group(base, cand)


def rater_item(view: "ItemView", state: "SpotState") -> RaterItem:
    group = GROUP_LABEL.get(view.item.group, view.item.group)
    ask = ("rate the CANDIDATE g/c/b, trust y/n, which is better ←/→/=" if view.is_comparison
           else "rate g/c/b, trust y/n")
    title = f"{group} · {view.id} — {ask}\nwhy: {view.item.why}"
    return RaterItem(view.id, title, ItemBody(view, state.base_model, state.candidate_model))


class SpotRater(Rater, inherit_bindings=False):
    """The shared rater in ``hold`` mode, without keys of its own but scrolling: the screen binds every
    answer key (one meaning each) and drives it, so the item on screen is the one every answer is about."""

    BINDINGS = [
        Binding("up", "scroll_body('up')", priority=True, show=False),
        Binding("down", "scroll_body('down')", priority=True, show=False),
        Binding("pageup", "scroll_body('page_up')", priority=True, show=False),
        Binding("pagedown", "scroll_body('page_down')", priority=True, show=False),
    ]


@dataclass
class Answer:
    """What the person said about one item so far (the screen's one source: counts, questions, advance)."""

    rating: str | None = None
    trust: bool | None = None
    preferred: str | None = None
    note: str = ""
    skipped: bool = False  # enter: the open follow-up questions are left unanswered


@dataclass(frozen=True)
class SaveJob:
    """One change to write, about the item it was made on (never "the current one")."""

    item_id: str
    changes: dict[str, Any]
    undo: bool = False
    decide: bool = False


class SaveFailed(Message):
    def __init__(self, job: SaveJob, exc: Exception) -> None:
        super().__init__()
        self.job = job
        self.exc = exc


class Saved(Message):
    def __init__(self, spot: Any, pending: int) -> None:
        super().__init__()
        self.spot = spot
        self.pending = pending


class Saver:
    """Writes the answers in the order they were given, one at a time, off the UI thread, so that a slow
    disk (or a busy CPU) never holds up the next key."""

    def __init__(self, apply: Callable[[SaveJob], Any], post: Callable[[Message], Any]) -> None:
        self._apply = apply
        self._post = post
        self._queue: "queue.Queue[SaveJob | None]" = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="spot-save", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def put(self, job: SaveJob) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(job)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                result = self._apply(job)
            except Exception as exc:  # reported on the UI thread
                with self._lock:
                    self._pending -= 1
                self._post(SaveFailed(job, exc))
                continue
            with self._lock:
                self._pending -= 1
                left = self._pending
            if not job.decide:
                self._post(Saved(result, left))

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Block until every queued change is written (tests; leaving the screen)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pending:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)


# ---------------------------------------------------------------- the screen


class SpotCheckScreen(Screen):
    """Every key is ``priority``: it acts on the App's own turn, in the order the keys were pressed, on the
    item shown at that moment (see tui.keys); all of them stand aside while a note is typed."""

    COMMAND_PREFIX = "Spot-check"
    BINDINGS = [
        Binding("g", "rate('good')", "✓ Good", id="spot.good", priority=True, group=RATE,
                tooltip="Rate the candidate's output good"),
        Binding("c", "rate('concerning')", "⚠ Concerning", id="spot.concerning", priority=True, group=RATE,
                tooltip="Flag the candidate's output as concerning"),
        Binding("b", "rate('bad')", "✗ Bad", id="spot.bad", priority=True, group=RATE,
                tooltip="Rate the candidate's output bad"),
        Binding("y", "trust(True)", "Trust", id="spot.trust", priority=True, group=TRUST,
                tooltip="Yes, I would trust the output on screen"),
        Binding("n", "trust(False)", "Distrust", id="spot.distrust", priority=True, group=TRUST,
                tooltip="No, I would not trust the output on screen"),
        Binding("left", "prefer('base')", "Base better", id="spot.base", priority=True, group=BETTER,
                tooltip="Comparison: the base model's output (left) is better"),
        Binding("right", "prefer('candidate')", "Candidate better", id="spot.candidate", priority=True, group=BETTER,
                tooltip="Comparison: the fine-tuned candidate's output (right) is better"),
        Binding("equals_sign", "prefer('same')", "Same", id="spot.same", priority=True, group=BETTER, key_display="=",
                tooltip="Comparison: neither output is better"),
        Binding("e", "note", "Note", id="spot.note", priority=True, tooltip="Write a note about the item on screen"),
        Binding("enter", "skip", "Next", id="spot.skip", priority=True,
                tooltip="Leave this item's open questions unanswered and show the next item"),
        Binding("u,backspace", "undo", "Undo", id="spot.undo", priority=True,
                tooltip="Clear the answers of the item on screen, or else go back to the last rated item"),
        Binding("d", "decide", "Decide", id="spot.decide", priority=True,
                tooltip="Run the deployment decision with these ratings and open the report"),
        Binding("r", "report", "Report", id="spot.report", priority=True, tooltip="Open the evaluation report"),
        Binding("escape", "back", "Back", id="spot.back", priority=True,
                tooltip="Back to the dashboard (ratings are saved)"),
    ]

    def __init__(self, project: "Project") -> None:
        super().__init__()
        self.project = project
        self.title = f"{project.meta.name} · spot-check"
        self.state: "SpotState | None" = None
        self.answers: dict[str, Answer] = {}
        self.busy = "loading"  # "loading" | "deciding" | "" (from the start: keys may come before the mount)
        self.saver: Saver | None = None
        self.agreement: dict[str, Any] | None = None
        self._early: list[tuple[str, tuple[Any, ...]]] = []  # answer keys pressed while the items load

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="spot-status", markup=False)
        yield Vertical(id="spot-main")
        yield Static("", id="spot-followup")
        yield Static("", id="spot-done")
        yield KeyBar()

    def on_mount(self) -> None:
        self.saver = Saver(self._write, self.post_message)
        self.busy = "loading"
        self.load()

    def on_unmount(self) -> None:
        if self.saver is not None:
            self.saver.close()  # writes what is still queued first

    # ------------------------------------------------------------ workers

    @background("spot-load")
    def load(self) -> None:
        from core.errors import StageNotReady
        from core.evaluate import spot_check as sc

        if self.saver is not None:
            self.saver.wait()  # read what was given, not what was on disk before it
        try:
            state = sc.start(self.project)
        except StageNotReady as exc:
            self.post_message(SpotLoaded(None, str(exc)))
            return
        importlib.import_module("core.evaluate.judge_validation")  # scipy, for the agreement at the end
        self.post_message(SpotLoaded(state))

    def next_key_line(self) -> str:
        """Which key comes first: the project's next step on the dashboard, else v (evaluate)."""
        from screens.registry import key_hint

        try:
            hint = self.project.meta.next_hint()
            lead, _ = key_hint(hint) if hint else ("", "")
        except Exception:
            lead = ""
        if not lead.startswith("press "):
            lead = "press v to evaluate the fine-tuned model against its base"
        return f"It comes after an evaluation. Next, on the dashboard (esc): {lead}."

    def _write(self, job: SaveJob) -> Any:
        """Runs on the saver's thread."""
        from core.evaluate import spot_check as sc

        assert self.state is not None
        eval_id = self.state.eval_id
        if job.decide:
            self._decide(eval_id)
            return None
        if job.undo:
            return sc.undo(self.project, eval_id, job.item_id)
        return sc.rate(self.project, eval_id, job.item_id, **job.changes)

    def _decide(self, eval_id: str) -> None:
        try:
            if importlib.util.find_spec("core.evaluate.run") is None:
                self.post_message(Decided(None, "the decision is not available yet (core.evaluate.run)"))
                return
            run = importlib.import_module("core.evaluate.run")
            decide_now = getattr(run, "decide_now", None)
            if decide_now is None:
                self.post_message(Decided(None, "the decision is not available yet (decide_now)"))
                return
            decision = decide_now(self.project, eval_id)
        except Exception as exc:
            self.post_message(WorkFailed(exc, "spot-decide"))
            return
        verdict = getattr(decision, "verdict", None)
        self.post_message(Decided(verdict, f"decision: {verdict.upper()}" if verdict else "decided"))

    # ------------------------------------------------------------ what the workers said

    async def on_spot_loaded(self, message: SpotLoaded) -> None:
        message.stop()
        self.busy = ""
        state = self.state = message.state
        old = self.rater
        if old is not None:
            await old.remove()
        main = self.query_one("#spot-main", Vertical)
        await main.query("#spot-missing").remove()
        if state is None:
            self.answers = {}
            self.set_status("nothing to spot-check yet")
            await main.mount(Static(Text.assemble(("Nothing to spot-check.\n", "bold"),
                                                  message.missing[:1].upper() + message.missing[1:],
                                                  ("\n\n" + self.next_key_line(), "")),
                                    id="spot-missing"))
            self.show_question()
            self.refresh_bindings()
            return
        self.answers = {i.example_id: Answer(i.rating, i.trust, i.preferred, i.note or "", skipped=bool(i.rating))
                        for i in state.spot.items}
        ratings = {i.example_id: Rating(i.rating, i.note or None) for i in state.spot.items if i.rating}
        rater = SpotRater([rater_item(v, state) for v in state.views], choices=("good", "concerning", "bad"),
                          notes=True, ratings=ratings, hold=True, id="spot-rater")
        await main.mount(rater)
        self.set_focus(rater)
        self.refresh_all("resumed" if any(a.rating for a in self.answers.values()) else "")
        early, self._early = self._early, []
        for name, args in early:  # the keys pressed while loading, in order, on the first open item
            getattr(self, f"action_{name}")(*args)

    def on_saved(self, message: Saved) -> None:
        message.stop()
        if self.state is not None and message.spot is not None:
            self.state.spot = message.spot
        if not message.pending and self.finished:
            self.show_done()

    def on_save_failed(self, message: SaveFailed) -> None:
        message.stop()
        what = "withdrawn" if message.job.undo else "saved"
        text = f"The answer about {message.job.item_id} was not {what}"
        self.app.report_error(message.exc, text)  # type: ignore[attr-defined]
        self.busy = "loading"
        self.load()  # show what is on disk

    def on_decided(self, message: Decided) -> None:
        message.stop()
        self.busy = ""
        self.refresh_bindings()
        self.notify(message.note, title=self.COMMAND_PREFIX, severity="information" if message.verdict else "warning",
                    markup=False)
        self.open_named("report")

    def on_work_failed(self, message: WorkFailed) -> None:
        if not message.group.startswith("spot-"):
            return
        doing, self.busy = self.busy, ""
        self.set_status(f"{doing or 'loading'} failed" + (" · d tries again" if doing == "deciding" else ""))
        self.refresh_bindings()

    def on_rater_noted(self, event: Rater.Noted) -> None:
        event.stop()
        answer = self.answers.get(event.item_id)
        if answer is not None:
            answer.note = event.note or ""
            self.queue(event.item_id, note=answer.note)
            self.refresh_all("note saved")

    def on_rater_rated(self, event: Rater.Rated) -> None:
        event.stop()  # handled by the actions below, at the key itself

    def on_rater_undone(self, event: Rater.Undone) -> None:
        event.stop()

    def on_rater_finished(self, event: Rater.Finished) -> None:
        event.stop()

    # ------------------------------------------------------------ drawing

    @property
    def rater(self) -> Rater | None:
        found = self.query(Rater)
        return found.first() if found else None

    @property
    def item(self) -> "ItemView | None":
        """The item on screen: every answer key is about it."""
        rater = self.rater
        current = rater.current if rater is not None else None
        return self._view(current.id) if current is not None else None

    @property
    def finished(self) -> bool:
        rater = self.rater
        return rater is not None and rater.done

    def rated_counts(self) -> "sc.SpotCounts":
        """The one count of the screen (status line, progress line and the end all show it)."""
        from core.evaluate import spot_check as sc

        assert self.state is not None
        items = []
        for item in self.state.spot.items:
            a = self.answers.get(item.example_id, Answer())
            items.append(item.model_copy(update={"rating": a.rating, "trust": a.trust, "preferred": a.preferred}))
        return sc.counts(self.state.spot.model_copy(update={"items": items}))

    def set_status(self, text: str) -> None:
        self.query_one("#spot-status", Static).update(text)

    def show_status(self, note: str = "") -> None:
        if self.state is None:
            return
        c = self.rated_counts()
        text = f"evaluation {self.state.eval_id} · {c.rated}/{c.total} rated"
        if c.concerning + c.bad:
            text += f" · {c.concerning} ⚠ {c.bad} ✗"
        if c.distrusted:
            text += f" · {c.distrusted} not trusted"
        self.set_status(text + (f" · {note}" if note else ""))

    def show_question(self) -> None:
        """Every question about the item on screen, and what is answered already."""
        box = self.query_one("#spot-followup", Static)
        view = self.item
        box.display = view is not None
        if view is None:
            return
        a = self.answers.get(view.id, Answer())
        line = Text.assemble((view.id, "bold"))
        if a.rating is None:
            line.append_text(Text.from_markup(" · rate it: [b]g[/b] ✓ good · [b]c[/b] ⚠ concerning · "
                                              "[b]b[/b] ✗ bad"))
        else:
            line.append(f" · {SYMBOL[a.rating]} {a.rating}")
        if a.trust is None:
            line.append_text(Text.from_markup(" · trust it? [b]y[/b] yes · [b]n[/b] no"))
        else:
            line.append(" · trusted" if a.trust else " · not trusted")
        if view.is_comparison:
            if a.preferred is None:
                line.append_text(Text.from_markup(" · better? [b]←[/b] base · [b]→[/b] candidate · "
                                                  "[b]=[/b] same"))
            else:
                line.append(f" · {PREFERRED[a.preferred]}")
        if a.rating is not None:
            line.append_text(Text.from_markup(" · [dim]enter: next item[/dim]"))
        box.update(line)

    def read_agreement(self) -> None:
        from core.evaluate import spot_check as sc

        self.agreement = None
        if self.state is None:
            return
        try:
            self.agreement = sc.read_agreement(self.project, self.state.eval_id)
        except Exception:  # a broken file must not break the screen; the report names it
            self.agreement = None

    def show_done(self) -> None:
        from core.evaluate import spot_check as sc

        box = self.query_one("#spot-done", Static)
        box.display = bool(self.finished and self.state is not None)
        if not box.display or self.state is None:
            return
        saving = self.saver is not None and self.saver.pending > 0
        if not saving:
            self.read_agreement()  # what the last write left (written with the last rating)
        c = self.rated_counts()
        lines = [Text(f"Finished: {c.rated}/{c.total} rated · ✓ {c.good} good · ⚠ {c.concerning} concerning · "
                      f"✗ {c.bad} bad · trusted {c.trusted} · not {c.distrusted}", style="bold")]
        if c.comparisons:
            p = c.prefer
            lines.append(Text(f"comparisons: candidate better {p['candidate']} · base better {p['base']} · "
                              f"same {p['same']} · unanswered {c.comparisons - sum(p.values())}"))
        if self.agreement:
            lines.append(Text(sc.agreement_line(self.agreement)))
        elif saving:
            lines.append(Text("saving…", style="dim"))
        lines.append(Text.from_markup("[b]d[/b] decide and open the report · [b]r[/b] report · "
                                      "[b]u[/b] change the last rating"))
        box.update(Group(*lines))

    def refresh_all(self, note: str = "") -> None:
        self.show_status(note)
        self.show_question()
        self.show_done()
        self.refresh_bindings()

    # ------------------------------------------------------------ answers: applied at the key, saved in order

    def _view(self, item_id: str) -> "ItemView | None":
        if self.state is None:
            return None
        return next((v for v in self.state.views if v.id == item_id), None)

    def queue(self, item_id: str, **changes: Any) -> None:
        if self.saver is not None:
            self.saver.put(SaveJob(item_id, changes))

    def _complete(self, view: "ItemView") -> bool:
        a = self.answers[view.id]
        if a.rating is None:
            return False
        return a.skipped or (a.trust is not None and (not view.is_comparison or a.preferred is not None))

    def _advance_if_answered(self, view: "ItemView") -> None:
        rater = self.rater
        if rater is not None and rater.held is not None and rater.held.id == view.id and self._complete(view):
            rater.release()

    def _too_early(self, name: str, *args: Any) -> bool:
        """Keep an answer key pressed before the items are on screen; it is applied once they are."""
        if self.busy == "loading" and self.rater is None:
            self._early.append((name, args))
            return True
        return False

    @property
    def noting(self) -> bool:
        rater = self.rater
        return rater is not None and rater.noting

    def action_rate(self, rating: str) -> None:
        if self._too_early("rate", rating):
            return
        rater, view = self.rater, self.item
        if rater is None or view is None:
            self.app.bell()
            return
        item_id = rater.rate(rating)
        if item_id != view.id:
            return
        a = self.answers[view.id]
        a.rating = rating
        a.note = rater.ratings[view.id].note or ""
        self.queue(view.id, rating=rating, note=a.note)
        self._advance_if_answered(view)
        self.refresh_all("saved")

    def action_trust(self, trust: bool) -> None:
        if self._too_early("trust", trust):
            return
        view = self.item
        if view is None:
            self.app.bell()
            return
        self.answers[view.id].trust = trust
        self.queue(view.id, trust=trust)
        self._advance_if_answered(view)
        self.refresh_all("saved")

    def action_prefer(self, preferred: str) -> None:
        if self._too_early("prefer", preferred):
            return
        view = self.item
        if view is None or not view.is_comparison:
            self.app.bell()
            return
        self.answers[view.id].preferred = preferred
        self.queue(view.id, preferred=preferred)
        self._advance_if_answered(view)
        self.refresh_all("saved")

    def action_note(self) -> None:
        if self._too_early("note"):
            return
        rater = self.rater
        if rater is not None and rater.current is not None:
            rater.start_note()

    def action_skip(self) -> None:
        if self._too_early("skip"):
            return
        view = self.item
        if view is None or self.answers[view.id].rating is None:
            self.app.bell()  # rate it first
            return
        self.answers[view.id].skipped = True
        self._advance_if_answered(view)
        self.refresh_all()

    def action_undo(self) -> None:
        rater, view = self.rater, self.item
        if rater is None:
            return
        if view is not None and rater.held is None and self.answers[view.id].rating is None:
            a = self.answers[view.id]
            if a.trust is not None or a.preferred is not None:  # answers given before the rating
                self.answers[view.id] = Answer()
                if self.saver is not None:
                    self.saver.put(SaveJob(view.id, {}, undo=True))
                self.refresh_all(f"cleared {view.id}")
                return
        item_id = rater.undo()
        if item_id is None:
            return
        self.answers[item_id] = Answer()
        if self.saver is not None:
            self.saver.put(SaveJob(item_id, {}, undo=True))
        self.refresh_all(f"undone {item_id}")

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.noting:
            return False  # every key is the note's text (enter keeps it, esc drops it)
        if self.busy == "loading" and self.rater is None and action in ("rate", "trust", "prefer", "skip", "note"):
            return True  # kept until the items are on screen
        if action in ("rate", "trust", "note"):
            return self.item is not None
        if action == "prefer":
            view = self.item
            return view is not None and view.is_comparison
        if action == "skip":
            view = self.item
            return view is not None and self.answers.get(view.id, Answer()).rating is not None
        if action == "undo":
            return self.rater is not None
        if action == "decide":
            if not self.finished:
                return False
            return None if self.busy else True
        return True

    def action_decide(self) -> None:
        if self.busy or not self.finished or self.saver is None:
            return
        self.busy = "deciding"
        self.set_status("deciding…")
        self.refresh_bindings()
        self.saver.put(SaveJob("", {}, decide=True))  # after every answer still being written

    def action_report(self) -> None:
        self.open_named("report")

    def open_named(self, name: str) -> None:
        open_screen = getattr(self.app, "open_screen", None)
        if open_screen is not None:
            open_screen(name, self.project)

    def action_back(self) -> None:
        self.app.pop_screen()
