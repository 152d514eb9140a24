"""Stored text is shown as stored: no Markdown, no Rich markup, whitespace kept, long lines wrapped, fenced
code highlighted (tui.widgets.literal), on every screen that shows examples, answers and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from core.project import Project
from tui.app import TunesmithApp
from tui.widgets.key_bar import KeyBar
from tui.widgets.literal import (
    LiteralGroup, clean, code_block, guess_language, labelled, literal, md_escape, plain_text, stack,
)
from tui.widgets.rater import Rater, RaterItem

SQL = "SELECT count(*) FROM t GROUP BY a HAVING count(*) > 5"
BRACKETS = "[bold]not markup[/]"
STARS = "*stars* and _underscores_"
CODE = "def total(rows):\n    return sum(r['n'] for r in rows)  # [red]kept[/red]"
FENCED = f"```python\n{CODE}\n```"
LONG_WORD = "Z" * 150
LONG_LINE = "a long line " + " ".join(f"w{i}" for i in range(60)) + " LINE-END"
STORED = "\n".join([SQL, BRACKETS, STARS, "", "  indented  two  spaces", FENCED, LONG_LINE, LONG_WORD])
LITERAL_LINES = [SQL, BRACKETS, STARS, "def total(rows):", "    return sum(r['n'] for r in rows)  # [red]kept[/red]"]


def flat(text: str) -> str:
    """The rendered lines joined without their breaks, pads and panel borders: a wrapped word reads whole."""
    return "".join(line.strip().strip("│").strip() for line in text.splitlines())


def assert_shown(shown: str, width: int) -> None:
    """Everything of STORED on screen as written; no line wider than the width."""
    for piece in LITERAL_LINES:
        assert piece in shown, piece
    assert "```python" in shown and "  indented  two  spaces" in shown
    assert LONG_WORD in flat(shown) and "LINE-END" in shown and "a long line w0 w1" in shown
    assert all(len(line.rstrip()) <= width for line in shown.splitlines())


def syntaxes(renderable) -> list[Syntax]:
    """The Syntax blocks inside a renderable (through groups and panels)."""
    if isinstance(renderable, Syntax):
        return [renderable]
    if isinstance(renderable, Group):
        return [s for r in renderable.renderables for s in syntaxes(r)]
    if isinstance(renderable, Panel):
        return syntaxes(renderable.renderable)
    if isinstance(renderable, Table):
        return [s for column in renderable.columns for cell in column.cells for s in syntaxes(cell)]
    return []


def lines_of(widget: Static) -> str:
    return "\n".join(line.text for line in widget.render_lines(widget.region.reset_offset))


# ---------------------------------------------------------------- the renderer


def test_text_without_code_is_one_plain_text_exactly_as_stored() -> None:
    stored = "\n".join([SQL, BRACKETS, STARS, ":smile: <b>html</b> # not a heading", "  two\tspaced  "])
    out = literal(stored)
    assert isinstance(out, Text) and out.plain == stored and not out.spans and not out.style
    shown = plain_text(out, 80)
    assert SQL in shown and BRACKETS in shown and STARS in shown and ":smile: <b>html</b> # not a heading" in shown
    assert "count() … count()" not in shown


def test_markdown_would_have_mangled_it() -> None:
    """The bug this fixes: the same text through Markdown loses the stars."""
    assert SQL not in plain_text(Markdown(SQL), 80)
    assert SQL in plain_text(literal(SQL), 80)


def test_fenced_block_is_highlighted_code_and_the_prose_stays_literal() -> None:
    out = literal(STORED)
    assert isinstance(out, LiteralGroup)
    blocks = syntaxes(out)
    assert len(blocks) == 1 and blocks[0].code == CODE
    assert blocks[0].lexer is not None and "python" in blocks[0].lexer.aliases
    prose = [r for r in out.renderables if isinstance(r, Text)]
    assert prose[0].plain == "\n".join([SQL, BRACKETS, STARS, "", "  indented  two  spaces", "```python"])
    assert prose[1].plain == "\n".join(["```", LONG_LINE, LONG_WORD])
    for width in (60, 80, 120):
        assert_shown(plain_text(out, width), width)


def test_language_from_the_fence_else_guessed_else_plain() -> None:
    def lexer(text: str) -> str:
        (block,) = syntaxes(literal(text))
        return block.lexer.aliases[0] if block.lexer is not None else ""

    assert lexer("```sql\nselect 1\n```") == "sql"
    assert lexer("~~~ {.python}\nx = 1\n~~~") == "python"
    assert lexer("```py title=\"a.py\"\nx = 1\n```") == "python"
    assert lexer(f"```\n{SQL}\n```") == "sql"
    assert lexer("```\ndef f():\n    pass\n```") == "python"
    assert lexer('```\n{"a": [1, 2]}\n```') == "json"
    assert lexer("```no-such-language\njust words\n```") == "text"
    assert guess_language("just some words") == "" and guess_language("") == ""
    assert "sql" in code_block(SQL).lexer.aliases


def test_fences_that_are_not_blocks_and_blocks_that_never_close() -> None:
    inline = "use ```x``` inline and ``y``"
    assert isinstance(literal(inline), Text) and literal(inline).plain == inline
    unclosed = literal("before\n```sql\nselect *\nfrom t")  # truncated output: code to the end
    (block,) = syntaxes(unclosed)
    assert block.code == "select *\nfrom t"
    longer = literal("````\n```\ninner\n```\n````")  # a longer fence holds a shorter one
    (block,) = syntaxes(longer)
    assert block.code == "```\ninner\n```"
    shown = plain_text(longer, 40)
    assert shown.count("````") == 2 and "inner" in shown
    underline = "Title\n~~~~~\nbody"  # tildes never closed: prose
    assert isinstance(literal(underline), Text) and literal(underline).plain == underline
    for info in ("{", "{ }", "{.}", "sql,", "Python"):
        (block,) = syntaxes(literal(f"```{info}\nselect 1\n```"))
        assert block.code == "select 1"


def test_whitespace_kept_control_characters_shown_not_obeyed() -> None:
    out = literal("a\r\nb\x1b[31mred\x07 c\rd\ttab")
    assert isinstance(out, Text)
    assert out.plain == "a\nb␛[31mred␇ c␍d\ttab"
    assert clean("x\x7f") == "x␡"
    assert literal("  lead\n\n\ntrail  ").plain == "  lead\n\n\ntrail  "
    assert literal(None).plain == ""


def test_long_lines_and_words_wrap_never_cut() -> None:
    for width in (20, 50, 80):
        shown = plain_text(literal(LONG_LINE + "\n" + LONG_WORD), width)
        assert all(len(line.rstrip()) <= width for line in shown.splitlines())
        assert LONG_WORD in flat(shown) and "LINE-END" in shown
        code = plain_text(literal(f"```text\n{LONG_WORD}\n```"), width)
        assert LONG_WORD in flat(code)


def test_stack_joins_text_runs_and_keeps_labels_styled_apart() -> None:
    body = stack([labelled("Input", SQL), labelled("Reference", BRACKETS), Text("tail", style="dim")])
    assert isinstance(body, Text)
    assert body.plain == f"Input\n{SQL}\n\nReference\n{BRACKETS}\n\ntail"
    assert {body.plain[s.start:s.end] for s in body.spans if s.style == "bold"} == {"Input", "Reference"}
    assert not body.style  # the label's bold does not spill over the stored text
    mixed = stack([labelled("Input", STORED), Text("after")])
    assert isinstance(mixed, LiteralGroup) and len(syntaxes(mixed)) == 1
    assert_shown(plain_text(mixed, 80), 80)
    assert stack([]).plain == "" and stack(["[b]x[/b]"]).plain == "[b]x[/b]"


def test_md_escape_keeps_stored_text_literal_inside_the_apps_markdown() -> None:
    shown = plain_text(Markdown("## Heading\n\n" + md_escape(f"{SQL} {STARS} {BRACKETS} `tick` # x <b>")), 200)
    assert f"{SQL} {STARS} {BRACKETS} `tick` # x <b>" in shown


# ---------------------------------------------------------------- the rater


class RaterApp(App[None]):
    def __init__(self, rater: Rater) -> None:
        super().__init__()
        self.rater = rater

    def compose(self) -> ComposeResult:
        yield self.rater
        yield KeyBar()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_rater_shows_a_string_body_literally(size: tuple[int, int]) -> None:
    rater = Rater([RaterItem("x", f"title {BRACKETS}", STORED), RaterItem("y", "Y", "second")])
    app = RaterApp(rater)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        body = rater.query_one("#rater-body-text", Static)
        assert len(syntaxes(body.content)) == 1
        shown = lines_of(body)
        assert_shown(shown, size[0])
        assert BRACKETS in lines_of(rater.query_one("#rater-title", Static))
        await pilot.press("y")
        assert "second" in lines_of(body)


# ---------------------------------------------------------------- the review screens


async def test_eval_set_review_shows_examples_literally(projects_root: Path) -> None:
    from core.extract import evalset as ev
    from core.models.knowledge import EvalExample
    from core.project import EVAL_SET
    from tests.test_tui_review import _project, open_review, rater_of, write_small_set

    p = _project(projects_root)
    rows = []
    for i, ex in enumerate(write_small_set(p)):
        text = f"{STORED}\ncase {i}"
        rows.append(ex.model_copy(update={"input": text, "id": ev.example_id(ex.kind, text),
                                          "reference": f"{STARS}\n```sql\n{SQL}\n```", "rationale": BRACKETS}))
    p.write_rows(EVAL_SET, rows, EvalExample)
    for size in ((80, 24), (120, 40)):
        app = TunesmithApp(projects_root)
        async with app.run_test(size=size) as pilot:
            screen = await open_review(pilot, app, p)
            rater = rater_of(screen)
            body = rater.query_one("#rater-body-text", Static)
            assert len(syntaxes(body.content)) == 2  # the input's python, the reference's sql
            shown = lines_of(body)
            assert_shown(shown, size[0])
            assert "Reference answer" in shown and f"Why {BRACKETS}" in shown


def test_pilot_example_body_is_literal_with_code() -> None:
    from screens.review_sources import example_body
    from tests.test_tui_generation import dpo_example

    ex = dpo_example(3)
    ex.record["chosen"][0]["content"] = STORED
    body = example_body(ex)
    assert len(syntaxes(body)) == 1
    shown = plain_text(body, 80)
    assert_shown(shown, 80)
    assert "User\nscale question 3: what is *this* <b>charge</b>?" in shown


# ---------------------------------------------------------------- evaluation: spot-check and human rating


def _stored_eval(p: Project) -> None:
    from tests.test_spot_check import eval_set, results_for, write_eval

    examples = [e.model_copy(update={"input": f"{STORED}\n{e.input}", "reference": f"{BRACKETS} {e.reference}"})
                for e in eval_set()]
    results = [r.model_copy(update={"output": f"{r.output}\n{STORED}"})
               for r in results_for(examples, regress={"ev-com-07"}, low={"ev-com-02": 0.4})]
    write_eval(p, examples, results)


async def test_spot_check_shows_inputs_and_outputs_literally(projects_root: Path) -> None:
    from screens.spot_check import ItemBody
    from tests.test_tui_spot_check import open_spot

    p = Project.create("Helpdesk", "answer household admin questions", root=projects_root)
    _stored_eval(p)
    for size in ((80, 24), (160, 50)):
        app = TunesmithApp(projects_root)
        async with app.run_test(size=size) as pilot:
            screen = await open_spot(pilot, app, p)
            body = screen.query_one("#rater-body-text", Static)
            assert isinstance(body.content, ItemBody)
            shown = lines_of(body)
            assert_shown(shown, size[0])
            assert f"{BRACKETS} " in shown and "candidate says" in shown


def test_spot_check_item_body_titles_and_code() -> None:
    from core.evaluate import spot_check as sc
    from core.models.runs import SpotCheck, SpotCheckItem
    from screens.spot_check import ItemBody
    from tests.test_spot_check import eval_set, results_for

    ex = eval_set()
    res = [r.model_copy(update={"output": STORED}) for r in results_for(ex, regress={"ev-com-07"})]
    spot = SpotCheck(items=[SpotCheckItem(example_id="ev-com-07", group="comparison", why="regression")])
    view = sc._views(spot, ex, res)[0]
    for width in (76, 118):
        console = Console(width=width, record=True, color_system=None)
        item = ItemBody(view, "base[bold]", "m[/]odel")  # model names are not markup either
        parts = list(item.__rich_console__(console, console.options))
        assert len([s for part in parts for s in syntaxes(part)]) == 2  # the base's and the candidate's code
        console.print(item)
        shown = console.export_text()
        assert "base[bold]" in shown and "m[/]odel" in shown
        for piece in (SQL, BRACKETS, STARS, "def total(rows):"):
            assert piece in shown, piece
        assert all(len(line.rstrip()) <= width for line in shown.splitlines())


async def test_human_rating_shows_request_reference_and_output_literally(projects_root: Path) -> None:
    from tests.test_human_rating import examples, results
    from tests.test_spot_check import write_eval
    from tests.test_tui_spot_check import settle

    p = Project.create("Helpdesk", "answer customer questions about orders", root=projects_root)
    exs = [e.model_copy(update={"input": f"{STORED}\n{e.input}", "reference": f"{STARS}\n{e.reference}"})
           for e in examples()]
    write_eval(p, exs, [r.model_copy(update={"output": f"{r.output}\n```\n{SQL}\n```"}) for r in results(exs)])
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.open_screen("human_rating", p)
        await settle(pilot, app)
        body = app.screen.query_one("#rater-body-text", Static)
        assert len(syntaxes(body.content)) == 2  # the request's python, the output's (guessed) sql
        shown = lines_of(body)
        for piece in LITERAL_LINES:
            assert piece in shown, piece
        assert STARS in shown and LONG_WORD in flat(shown)


# ---------------------------------------------------------------- tables with stored names


def test_generation_report_names_are_not_markup() -> None:
    from core.models.data import FilterStats, GenerationReport
    from screens.generation_view import report_view

    report = GenerationReport(phase="pilot", strategy="direct", training_method="sft", requested=4, generated=4,
                              kept=3, categories={"[bold]billing[/]": FilterStats(checked=4, passed=3)},
                              rejections_by_reason={"said [red]no[/red]": 1})
    shown = plain_text(report_view(report), 120)
    assert "[bold]billing[/]" in shown and "said [red]no[/red]" in shown


# ---------------------------------------------------------------- the interview


async def test_interview_question_why_and_suggestions_are_literal(projects_root: Path, monkeypatch) -> None:
    from screens import interview as iv
    from screens.interview_widgets import SuggestionList
    from tests.test_tui_interview import CHESS, open_screen, press

    made = iv.QuestionReady.__init__

    def stored(self, question, *args, **kwargs) -> None:  # the interviewer asked with stored-looking text
        made(self, question.model_copy(update={"text": STORED, "why": BRACKETS, "suggestions": [SQL, STARS]}),
             *args, **kwargs)

    monkeypatch.setattr(iv.QuestionReady, "__init__", stored)
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot, project)
        await press(pilot, "1")
        assert screen.step == "question"
        box = screen.query_one("#iv-text", Static)
        assert len(syntaxes(box.content)) == 1
        assert_shown(lines_of(box), 80)
        assert f"why: {BRACKETS}" in lines_of(screen.query_one("#iv-why", Static))
        suggestions = "\n".join(line.text for line in screen.query_one(SuggestionList).render_lines(
            screen.query_one(SuggestionList).region.reset_offset))
        assert SQL in suggestions and STARS in suggestions
