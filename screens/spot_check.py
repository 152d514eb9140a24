"""The evaluation spot-check screen: the items core.evaluate.spot_check chose for signal, one key each.

Flow per item (one or two keys; a comparison item two or three):

- **y** ✓ good · **m** ⚠ concerning · **n** ✗ bad rates the candidate's output, saves it and shows the
  next item at once (the shared :class:`~tui.widgets.rater.Rater`); **c** first adds a note, **u** /
  backspace undoes the last rating (its trust and preference too).
- then a one-line follow-up about the item just rated: **t** "I would trust it" · **d** "I would not";
  **enter** skips it, and so does rating the next item straight away. On a comparison item it also asks
  which output is better: **b** base · **c** candidate · **s** same (while that question is open, c
  answers it instead of starting a note). The follow-up closes once it is answered.
- comparison items show the base's and the candidate's outputs side by side on a wide terminal (about 120
  columns) and one above the other on a narrow one.
- every answer is written to evals/<id>/spot_check.toml as it is given; the check resumes where it stopped.
- when the last item is rated the check is finished (``spot_checked`` is marked); the counts are shown and
  **d** runs the decision (core.evaluate.run.decide_now, in a worker) and opens the report; **r** opens
  the report without deciding.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    from core.evaluate.spot_check import ItemView, SpotState
    from core.project import Project

SIDE_BY_SIDE_MIN = 100  # body width (cells) from which base | candidate sit side by side (a 120-col terminal)
BETTER = Binding.Group("Better: base/cand/same", compact=False)
TRUST = Binding.Group("Trust yes/no", compact=False)
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
    ask = "rate the CANDIDATE y/m/n, then b/c/s which is better" if view.is_comparison else "rate y/m/n"
    title = f"{group} · {view.id} — {ask}\nwhy: {view.item.why}"
    return RaterItem(view.id, title, ItemBody(view, state.base_model, state.candidate_model))


class SpotRater(Rater):
    """The shared rater; c belongs to the comparison question while that question is open."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "note" and getattr(self.screen, "awaiting_preference", False):
            return False
        return super().check_action(action, parameters)


@dataclass
class FollowUp:
    """The question about the item just rated."""

    item_id: str
    rating: str
    comparison: bool
    trust: bool | None = None
    preferred: str | None = None

    @property
    def done(self) -> bool:
        return self.trust is not None and (not self.comparison or self.preferred is not None)


# ---------------------------------------------------------------- the screen


class SpotCheckScreen(Screen):
    COMMAND_PREFIX = "Spot-check"
    BINDINGS = [
        Binding("t", "trust(True)", "Trust", id="spot.trust", group=TRUST,
                tooltip="I would trust the output just rated"),
        Binding("d", "trust(False)", "Distrust", id="spot.distrust", group=TRUST,
                tooltip="I would not trust the output just rated"),
        Binding("b", "prefer('base')", "Base better", id="spot.base", group=BETTER,
                tooltip="Comparison: the base model's output is better"),
        Binding("c", "prefer('candidate')", "Candidate better", id="spot.candidate", group=BETTER,
                tooltip="Comparison: the fine-tuned candidate's output is better"),
        Binding("s", "prefer('same')", "Same", id="spot.same", group=BETTER,
                tooltip="Comparison: neither output is better"),
        Binding("enter", "skip", "Skip", id="spot.skip", tooltip="Skip the follow-up question"),
        Binding("d", "decide", "Decide", id="spot.decide",
                tooltip="Run the deployment decision with these ratings and open the report"),
        Binding("r", "report", "Report", id="spot.report", tooltip="Open the evaluation report"),
        Binding("escape", "back", "Back", id="spot.back", tooltip="Back to the dashboard (ratings are saved)"),
    ]

    def __init__(self, project: "Project") -> None:
        super().__init__()
        self.project = project
        self.title = f"{project.meta.name} · spot-check"
        self.state: "SpotState | None" = None
        self.follow: FollowUp | None = None
        self.busy = ""  # "loading" | "deciding"

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="spot-status", markup=False)
        yield Vertical(id="spot-main")
        yield Static("", id="spot-followup")
        yield Static("", id="spot-done")
        yield KeyBar()

    def on_mount(self) -> None:
        self.busy = "loading"
        self.load()

    # ------------------------------------------------------------ workers

    @background("spot-load")
    def load(self) -> None:
        from core.errors import StageNotReady
        from core.evaluate import spot_check as sc

        try:
            state = sc.start(self.project)
        except StageNotReady as exc:
            self.post_message(SpotLoaded(None, str(exc)))
            return
        importlib.import_module("core.evaluate.judge_validation")  # scipy, for the agreement at the end
        self.post_message(SpotLoaded(state))

    @background("spot-decide")
    def decide(self) -> None:
        eval_id = self.state.eval_id if self.state else None
        if importlib.util.find_spec("core.evaluate.run") is None:
            self.post_message(Decided(None, "the decision is not available yet (core.evaluate.run)"))
            return
        run = importlib.import_module("core.evaluate.run")
        decide_now = getattr(run, "decide_now", None)
        if decide_now is None:
            self.post_message(Decided(None, "the decision is not available yet (decide_now)"))
            return
        decision = decide_now(self.project, eval_id)
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
            self.set_status("nothing to spot-check yet")
            await main.mount(Static(Text.assemble(("Nothing to spot-check.\n", "bold"),
                                                  message.missing[:1].upper() + message.missing[1:]),
                                    id="spot-missing"))
            self.refresh_bindings()
            return
        ratings = {i.example_id: Rating(i.rating, i.note or None) for i in state.spot.items if i.rating}
        rater = SpotRater([rater_item(v, state) for v in state.views], choices=("good", "concerning", "bad"),
                          notes=True, ratings=ratings, id="spot-rater")
        await self.query_one("#spot-main", Vertical).mount(rater)
        rater.focus()
        self.show_status("resumed" if state.rated else "")
        self.show_done()
        self.refresh_bindings()

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

    # ------------------------------------------------------------ drawing

    @property
    def rater(self) -> Rater | None:
        found = self.query(Rater)
        return found.first() if found else None

    @property
    def awaiting_preference(self) -> bool:
        return self.follow is not None and self.follow.comparison and self.follow.preferred is None

    @property
    def finished(self) -> bool:
        rater = self.rater
        return rater is not None and rater.finished

    def set_status(self, text: str) -> None:
        self.query_one("#spot-status", Static).update(text)

    def show_status(self, note: str = "") -> None:
        from core.evaluate import spot_check as sc

        if self.state is None:
            return
        c = sc.counts(self.state.spot)
        text = f"evaluation {self.state.eval_id} · {c.rated}/{c.total} rated"
        if c.concerning + c.bad:
            text += f" · {c.concerning} ⚠ {c.bad} ✗"
        if c.distrusted:
            text += f" · {c.distrusted} not trusted"
        self.set_status(text + (f" · {note}" if note else ""))

    def show_followup(self) -> None:
        box = self.query_one("#spot-followup", Static)
        f = self.follow
        box.display = f is not None
        if f is None:
            return
        mark = {"good": "✓", "concerning": "⚠", "bad": "✗"}[f.rating]
        line = Text.assemble((f"{mark} {f.item_id}", "bold"))
        if f.comparison:
            if f.preferred is None:
                line.append_text(Text.from_markup(" · better? [b]b[/b] base · [b]c[/b] cand · [b]s[/b] same"))
            else:
                line.append(f" · {PREFERRED[f.preferred]}")
        if f.trust is None:
            line.append_text(Text.from_markup(" · trust it? [b]t[/b] yes · [b]d[/b] no"))
        else:
            line.append(" · trusted" if f.trust else " · not trusted")
        line.append_text(Text.from_markup(" · [dim]enter skips[/dim]"))
        box.update(line)

    def show_done(self) -> None:
        from core.evaluate import spot_check as sc

        box = self.query_one("#spot-done", Static)
        box.display = bool(self.finished and self.state is not None)
        if not box.display or self.state is None:
            return
        c = sc.counts(self.state.spot)
        lines = [Text(f"Finished: ✓ {c.good} good · ⚠ {c.concerning} concerning · ✗ {c.bad} bad · "
                      f"trusted {c.trusted} · not {c.distrusted}", style="bold")]
        if c.comparisons:
            p = c.prefer
            lines.append(Text(f"comparisons: candidate better {p['candidate']} · base better {p['base']} · "
                              f"same {p['same']} · unanswered {c.comparisons - sum(p.values())}"))
        try:
            agreement = sc.read_agreement(self.project, self.state.eval_id)
        except Exception:  # a broken file must not break the screen; the report names it
            agreement = None
        if agreement:
            lines.append(Text(sc.agreement_line(agreement)))
        lines.append(Text.from_markup("[b]d[/b] decide and open the report · [b]r[/b] report · "
                                      "[b]u[/b] change the last rating"))
        box.update(Group(*lines))

    # ------------------------------------------------------------ the rater's messages

    def _save(self, item_id: str, **changes: Any) -> bool:
        from core.evaluate import spot_check as sc

        if self.state is None:
            return False
        try:
            self.state.spot = sc.rate(self.project, self.state.eval_id, item_id, **changes)
        except Exception as exc:
            self.app.report_error(exc, "The rating was not saved")  # type: ignore[attr-defined]
            self.busy = "loading"
            self.load()  # show what is on disk
            return False
        return True

    def _view(self, item_id: str) -> "ItemView | None":
        if self.state is None:
            return None
        return next((v for v in self.state.views if v.id == item_id), None)

    def on_rater_rated(self, event: Rater.Rated) -> None:
        event.stop()
        if not self._save(event.item_id, rating=event.rating, note=event.note or ""):
            return
        view = self._view(event.item_id)
        self.follow = FollowUp(event.item_id, event.rating, bool(view and view.is_comparison))
        self.show_followup()
        self.show_status("saved")
        self.show_done()
        self.refresh_bindings()

    def on_rater_undone(self, event: Rater.Undone) -> None:
        event.stop()
        from core.evaluate import spot_check as sc

        if self.state is None:
            return
        try:
            self.state.spot = sc.undo(self.project, self.state.eval_id, event.item_id)
        except Exception as exc:
            self.app.report_error(exc, "The rating was not withdrawn")  # type: ignore[attr-defined]
            self.busy = "loading"
            self.load()
            return
        self.follow = None
        self.show_followup()
        self.show_status(f"undone {event.item_id}")
        self.show_done()
        self.refresh_bindings()

    def on_rater_finished(self, event: Rater.Finished) -> None:
        event.stop()
        self.show_done()
        self.show_status("finished · saved")
        self.refresh_bindings()

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        f = self.follow
        if action == "trust":
            return f is not None and f.trust is None
        if action == "prefer":
            return self.awaiting_preference
        if action == "skip":
            return f is not None
        if action == "decide":
            if f is not None and f.trust is None:
                return False  # d answers the trust question first
            if not self.finished:
                return False
            return None if self.busy else True
        if action == "report":
            return True
        return True

    def action_trust(self, trust: bool) -> None:
        f = self.follow
        if f is None or f.trust is not None:
            return
        if self._save(f.item_id, trust=trust):
            f.trust = trust
            self._after_answer()

    def action_prefer(self, preferred: str) -> None:
        f = self.follow
        if f is None or not f.comparison or f.preferred is not None:
            return
        if self._save(f.item_id, preferred=preferred):
            f.preferred = preferred
            self._after_answer()

    def _after_answer(self) -> None:
        if self.follow is not None and self.follow.done:
            self.follow = None
        self.show_followup()
        self.show_status("saved")
        self.show_done()
        self.refresh_bindings()

    def action_skip(self) -> None:
        self.follow = None
        self.show_followup()
        self.refresh_bindings()

    def action_decide(self) -> None:
        if self.busy or not self.finished:
            return
        self.follow = None
        self.show_followup()
        self.busy = "deciding"
        self.set_status("deciding…")
        self.refresh_bindings()
        self.decide()

    def action_report(self) -> None:
        self.open_named("report")

    def open_named(self, name: str) -> None:
        open_screen = getattr(self.app, "open_screen", None)
        if open_screen is not None:
            open_screen(name, self.project)

    def action_back(self) -> None:
        self.app.pop_screen()
