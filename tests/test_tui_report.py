"""The evaluation report screen at 80x24 and 160x50: verdict, the plain reasons first (failures, then the
checks that passed, never "DEPLOY" under another verdict), headline metrics, per-category bars, judge,
spot-check and next steps from a decision.toml and results written directly; t shows the statistical
detail, d decides, e exports, o shows the files, r (with results waiting for a human) says how to rate
them; "no evaluation yet" with the command."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from textual.widgets import Static

from core.evaluate import evalfolder as ef
from core.models.runs import Decision
from core.project import Project
from screens.report import ReportScreen
from tests.test_spot_check import EVAL_ID, eval_set, results_for, write_eval
from tests.test_tui_spot_check import keys, lines_of, settle
from tui.widgets.key_bar import KeyBar
from tui.app import TunesmithApp
from tui.widgets.bars import BarRow, CategoryBars, bar, bar_lines

SIZE = (80, 24)

DECISION = Decision(
    verdict="iterate", weighted_score=0.71,
    rules_fired=["ITERATE [refusal] refusal accuracy 85.7% < 100.0%: 1 of 7 answered (ev-out-02)",
                 "REVIEW [spot_check] pending spot-check: no human has reviewed the outputs yet",
                 "DEPLOY [improvement] improvement +23.3 pts > 10 pts (63.0% → 86.3%)"],
    next_steps=["add refusal examples for the out-of-scope requests that leaked: ev-out-02",
                "run the spot-check (`tunesmith spot-check helpdesk`) before deciding"],
    improvement=0.233, p_value=0.001, refusal_accuracy=0.857, decided_at=datetime(2025, 1, 2, tzinfo=timezone.utc),
    pending=["spot-check"], judge_usable=True)


@pytest.fixture
def project(projects_root: Path) -> Project:
    p = Project.create("Helpdesk", "answer household admin questions", root=projects_root)
    ex = eval_set()
    write_eval(p, ex, results_for(ex, regress={"ev-com-07", "ev-out-02"}, low={"ev-com-02": 0.4}))
    return p


async def open_report(pilot, app: TunesmithApp, p: Project) -> ReportScreen:
    assert app.open_screen("report", p)
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, ReportScreen)
    return screen


def fits(screen: ReportScreen, size=SIZE) -> None:
    """Everything within the terminal; what scrolls (inside #report-body) within its width."""
    width, height = size
    body = screen.query_one("#report-body")
    for widget in screen.query("*"):
        if not widget.display or not widget.region.area:
            continue
        assert widget.region.right <= width, widget
        if body not in widget.ancestors:
            assert widget.region.bottom <= height, widget
    assert screen.query_one(KeyBar).region.bottom == height


def text(screen: ReportScreen, wid: str) -> str:
    return lines_of(screen.query_one(wid, Static))


def all_text(screen: ReportScreen) -> str:
    return "\n".join(text(screen, w) for w in ("#report-verdict", "#report-headline", "#report-details"))


async def test_report_shows_the_decision_and_the_numbers(project: Project) -> None:
    ef.write_decision(project, EVAL_ID, DECISION)
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_report(pilot, app, project)
        verdict = screen.query_one("#report-verdict", Static)
        assert verdict.has_class("-iterate") and "ITERATE" in text(screen, "#report-verdict")
        assert "weighted score 0.71" in text(screen, "#report-verdict")
        head = text(screen, "#report-headline")
        for word in ("mean score", "pass rate", "refusal acc. (7)", "over-refusal (2)", "base", "candidate",
                     "delta"):
            assert word in head, word
        # an older decision.toml (tagged lines only): failures first, the rule that held is a passed check
        reasons = text(screen, "#report-reasons")
        assert "What keeps it from DEPLOY" in reasons and "✗ refusal" in reasons and "⚠ pending spot-check" in reasons
        assert "Checks that passed" in reasons and "✓ improvement" in reasons and "DEPLOY [" not in reasons
        assert reasons.index("✗ refusal") < reasons.index("✓ improvement")
        assert "1. add refusal examples" in reasons
        assert not screen.query_one("#report-stats").display and "McNemar exact" not in all_text(screen)
        bars = screen.query_one(CategoryBars)
        assert [r.name for r in bars.rows] == ["billing", "out_of_scope", "paperwork", "planning"]
        assert bars.region.height == 8 and bars.region.right <= 80
        details = text(screen, "#report-details")
        assert "refusal accuracy 85.7% on 7 out-of-scope" in details and "ev-out-02" in details
        assert "validated" in details and "not done yet" in details
        fits(screen)
        assert keys(screen)["Decide"] and keys(screen)["Export"] and keys(screen)["Files"]
        assert keys(screen)["Stats detail"] and "Rate" not in keys(screen)  # nothing waits for a human
        await pilot.press("t")  # the statistical detail, behind a key
        await pilot.pause()
        stats = text(screen, "#report-stats")
        assert screen.query_one("#report-stats").display and "Statistical detail" in stats
        assert "McNemar exact" in stats and "ITERATE [refusal]" in stats
        fits(screen)
        await pilot.press("t")
        await pilot.pause()
        assert not screen.query_one("#report-stats").display
        await pilot.press("end")  # scrollable: the last next step comes into view
        await pilot.pause()
        body = screen.query_one("#report-body")
        assert body.scroll_y > 0


async def test_report_at_160_columns(project: Project) -> None:
    ef.write_decision(project, EVAL_ID, DECISION.model_copy(update={"verdict": "deploy"}))
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_report(pilot, app, project)
        assert screen.query_one("#report-verdict").has_class("-deploy") and "DEPLOY" in text(screen, "#report-verdict")
        bars = screen.query_one(CategoryBars)
        assert all(len(line.text) <= bars.region.width for line in bars.render_lines(bars.region.reset_offset))
        fits(screen, (160, 50))


async def test_no_evaluation_yet_names_the_command(projects_root: Path) -> None:
    p = Project.create("Empty", "answer questions", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_report(pilot, app, p)
        assert "No evaluation yet" in text(screen, "#report-verdict")
        assert "tunesmith evaluate empty" in text(screen, "#report-verdict")
        assert "Decide" not in keys(screen)
        fits(screen)


async def test_undecided_then_d_decides_with_the_spot_check(project: Project) -> None:
    from core.evaluate import spot_check as sc

    state = sc.start(project)
    for v in state.views:
        sc.rate(project, EVAL_ID, v.id, "good", trust=True)
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_report(pilot, app, project)
        assert "Not decided yet" in text(screen, "#report-verdict")
        assert "20/20 rated · ✓ 20 good" in text(screen, "#report-details")
        assert "the judge agrees with you on" in text(screen, "#report-details")
        await pilot.press("d")
        await settle(pilot, app)
        decision = ef.read_decision(project, EVAL_ID)
        assert decision is not None and "spot-check" not in decision.pending
        assert decision.verdict.upper() in text(screen, "#report-verdict")
        reasons = text(screen, "#report-reasons")
        assert "✗ refusals: 1 of 7 out-of-scope requests were answered: ev-out-02" in reasons
        assert "Checks that passed" in reasons and "✓ improvement: the fine-tuned model is 23.3 points better" in reasons
        assert reasons.index("✗ refusals") < reasons.index("Checks that passed")
        assert "DEPLOY [" not in reasons and "PASS [" not in reasons
        # consistency was never measured (no paraphrases): named with its weight, the score labelled partial
        assert "⚠ consistency (weight 0.15): not measurable" in reasons
        assert "partial: consistency left out" in text(screen, "#report-verdict")


async def test_files_and_export(project: Project) -> None:
    ef.write_decision(project, EVAL_ID, DECISION)
    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_report(pilot, app, project)
        await pilot.press("o")
        files = text(screen, "#report-files")
        assert screen.query_one("#report-files").display
        assert f"evals/{EVAL_ID}/results.parquet" in files and "✓ decision" in files and "– spot-check" in files
        await pilot.press("o")
        assert not screen.query_one("#report-files").display
        await pilot.press("e")
        await settle(pilot, app)
        assert (project.folder / "exports" / "deployment_decision.json").exists()
        assert "deployment_decision.json" in text(screen, "#report-files")
        assert "exported" in str(screen.query_one("#report-status", Static).render())


# ---------------------------------------------------------------- the bars


def test_bar_widths_and_eighths() -> None:
    assert bar(0.5, 10) == "█████░░░░░"
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "░░░░"
    assert len(bar(0.33, 7)) == 7 and bar(None, 3) == "   "


def test_bar_lines_fit_80_columns_and_colour_regressions() -> None:
    rows = [BarRow("a category with a very long name", 0.5, 0.8, n=12, p_value=0.0004),
            BarRow("edge", 0.9, 0.6, n=3, p_value=0.2)]
    lines = bar_lines(rows, 76)
    assert len(lines) == 4 and all(line.cell_len <= 76 for line in lines)
    assert "+30.0 pts" in lines[1].plain and "p<0.001" in lines[1].plain
    assert "-30.0 pts" in lines[3].plain
    assert any(span.style == "red" for span in lines[3].spans)


async def test_pending_results_say_how_to_rate_them(projects_root: Path) -> None:
    from core.evaluate.scorers import PENDING_HUMAN
    from core.evaluate.run import decide_now

    p = Project.create("Helpdesk", "answer household admin questions", root=projects_root)
    ex = eval_set()
    rows = results_for(ex)
    waiting = {"ev-com-03", "ev-com-04"}
    rows = [r.model_copy(update={"method": "human", "score": None, "passed": None, "pending": True,
                                 "detail": PENDING_HUMAN}) if r.example_id in waiting else r for r in rows]
    write_eval(p, ex, rows)
    decision = decide_now(p)
    coverage = next(r for r in decision.reasons if "wait for a human rating" in r)
    assert coverage.startswith("⚠ 4 results wait for a human rating: run `tunesmith rate helpdesk` (or press r on "
                               "the report screen)")
    app = TunesmithApp(p.folder.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_report(pilot, app, p)
        assert "tunesmith rate helpdesk" in text(screen, "#report-reasons")
        assert keys(screen)["Rate"]
        fits(screen)
        from screens.registry import STAGE_SCREENS

        rater = STAGE_SCREENS.get("human_rating")
        await pilot.press("r")  # the rater, where one rates them with a key each (else the command to use)
        await settle(pilot, app)
        if rater is not None and rater.is_built():
            assert type(app.screen).__name__ == rater.cls
        else:
            assert isinstance(app.screen, ReportScreen)

