"""Read-only views of what a finished step left: the frozen eval set, the approved pilot, the interview's
questions and answers, and the generation's quality log (every filter's verdict per example).

Each view is read in a worker (never on the first paint) and drawn as literal text in one scrolling
panel; nothing can be changed here. Opened from the dashboard (**l**, a chooser) or the generation
screen (**q**, the quality log). ``BROWSE_KINDS``: what can be browsed, with its title.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from core import words
from tui.widgets.key_bar import KeyBar
from tui.workers import background

if TYPE_CHECKING:
    from core.project import Project

BROWSE_KINDS = {
    "evalset": "eval set",
    "pilot": "pilot",
    "interview": "interview answers",
    "quality_log": "quality log",
}


class Browsed(Message):
    def __init__(self, summary: str, body: RenderableType) -> None:
        super().__init__()
        self.summary = summary
        self.body = body


def _numbered(items: list[Any]) -> RenderableType:
    """Rater items (title + literal body) one after another, numbered."""
    parts: list[RenderableType] = []
    for i, item in enumerate(items, 1):
        parts.append(Text(f"{i}. {item.title}", style="bold"))
        parts.append(item.body if not isinstance(item.body, str) else Text(item.body))
        parts.append(Text(""))
    return Group(*parts)


def evalset_view(project: "Project") -> tuple[str, RenderableType]:
    from core.extract.evalset import load_eval_set
    from core.project import EVAL_SET
    from screens.review_sources import eval_item, eval_summary

    if not project.exists(EVAL_SET):
        return "no eval set yet: e on the dashboard builds it", Text("")
    examples = load_eval_set(project)
    frozen = "frozen" if project.meta.is_done("extract", "evalset_approved") else "not approved yet"
    return (f"{len(examples)} examples, {frozen} · {eval_summary(examples)}",
            _numbered([eval_item(ex) for ex in examples]))


def pilot_view(project: "Project") -> tuple[str, RenderableType]:
    from core.generate.pipeline_state import PILOT_EXAMPLES
    from core.models.data import TrainingExample
    from screens.review_sources import pilot_item

    if not project.exists(PILOT_EXAMPLES):
        return "no pilot yet: g on the dashboard, then p, generates it", Text("")
    examples = project.read_rows(PILOT_EXAMPLES, TrainingExample)
    approved = "approved" if project.meta.is_done("generate", "pilot_approved") else "not approved yet"
    return f"{len(examples)} pilot examples kept, {approved}", _numbered([pilot_item(ex) for ex in examples])


def interview_view(project: "Project") -> tuple[str, RenderableType]:
    from core.models.knowledge import Interview
    from core.project import INTERVIEW

    interview = project.read_or(INTERVIEW, Interview)
    if interview is None or not interview.questions:
        return "no interview yet: i on the dashboard starts it", Text("")
    parts: list[RenderableType] = []
    persona = interview.persona
    if persona is not None:
        parts += [Text.assemble(("Persona: ", "bold"), f"{persona.role}, {persona.experience_years} years"), Text("")]
    answered = 0
    for i, q in enumerate(interview.questions, 1):
        parts.append(Text(f"{i}. {q.text}", style="bold"))
        if q.skipped:
            parts.append(Text("(skipped)", style="dim"))
        elif q.answer is not None:
            answered += 1
            parts.append(Text(str(q.answer)))
        else:
            parts.append(Text("(not answered yet)", style="dim"))
        parts.append(Text(""))
    state = "finished" if interview.finished else "in progress"
    return f"{answered} of {len(interview.questions)} questions answered, interview {state}", Group(*parts)


def quality_log_view(project: "Project") -> tuple[str, RenderableType]:
    from core.generate.pipeline_state import QUALITY_LOG
    from core.models.data import QualityLogRow

    if not project.exists(QUALITY_LOG):
        return "no quality log yet: the pilot writes it (p on the generation screen)", Text("")
    rows = project.read_rows(QUALITY_LOG, QualityLogRow)
    examples = {r.example_id for r in rows}
    failed = [r for r in rows if not r.passed]
    by_filter = Table(box=None, header_style="bold", pad_edge=False)
    for col, justify in (("filter", "left"), ("checked", "right"), ("passed", "right"), ("failed", "right")):
        by_filter.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    checked = Counter(r.filter for r in rows)
    passed = Counter(r.filter for r in rows if r.passed)
    for name in checked:
        by_filter.add_row(Text(name), str(checked[name]), str(passed[name]), str(checked[name] - passed[name]))
    reasons = Table(box=None, header_style="bold", pad_edge=False)
    reasons.add_column("rejected for", overflow="fold")
    reasons.add_column("n", justify="right", no_wrap=True)
    for code, n in Counter(r.reason_code for r in failed).most_common():
        reasons.add_row(Text.assemble(words.reason(code), (f" {code}", "dim")), str(n))
    rows_t = Table(box=None, header_style="bold", pad_edge=False)
    rows_t.add_column("example", no_wrap=True, overflow="ellipsis", max_width=14)
    rows_t.add_column("phase", no_wrap=True)
    rows_t.add_column("filter", no_wrap=True)
    rows_t.add_column("verdict", overflow="fold")
    for r in rows:
        verdict = Text("passed", style="green") if r.passed else Text.assemble(
            ("✗ ", "bold"), words.reason(r.reason_code), *(((f": {r.detail}", "dim"),) if r.detail else ()))
        rows_t.add_row(Text(r.example_id), r.phase, Text(r.filter), verdict)
    summary = f"{len(rows)} checks of {len(examples)} examples · {len(failed)} failed"
    return summary, Group(by_filter, Text(""), reasons, Text(""), Text("Every check", style="bold"), rows_t)


VIEWS = {"evalset": evalset_view, "pilot": pilot_view, "interview": interview_view,
         "quality_log": quality_log_view}


class BrowseScreen(Screen):
    BINDINGS = [Binding("escape", "back", "Back", id="browse.back", tooltip="Back to where it was opened")]

    def __init__(self, project: "Project", kind: str) -> None:
        super().__init__()
        if kind not in VIEWS:
            raise ValueError(f"nothing to browse of kind {kind!r} (known: {', '.join(VIEWS)})")
        self.project = project
        self.kind = kind
        self.title = f"{project.meta.name} · {BROWSE_KINDS[kind]}"
        self.sub_title = "read-only"
        self.COMMAND_PREFIX = BROWSE_KINDS[kind].capitalize()
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="browse-summary", markup=False)
        with VerticalScroll(id="browse-body"):
            yield Static("", id="browse-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#browse-body").focus()
        self.load()

    @background("browse-load")
    def load(self) -> None:
        self.project.reload()
        self.post_message(Browsed(*VIEWS[self.kind](self.project)))

    def on_browsed(self, message: Browsed) -> None:
        message.stop()
        self.loaded = True
        self.query_one("#browse-summary", Static).update(message.summary)
        self.query_one("#browse-text", Static).update(message.body)

    def action_back(self) -> None:
        self.app.pop_screen()


class BrowseChooser(ModalScreen[str | None]):
    """Which finished step to browse (the dashboard's l)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="browse_chooser.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box"):
            yield Static("Browse (read-only)", classes="dialog-title")
            yield OptionList(*(Option(f"{title[:1].upper()}{title[1:]}", id=kind)
                               for kind, title in BROWSE_KINDS.items()), id="browse-choices")
            yield Static("enter opens · esc closes", classes="dialog-hint")

    def on_mount(self) -> None:
        self.add_class("dialog")
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
