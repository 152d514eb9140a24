"""The evaluation report screen: the deployment decision and the numbers behind it, scrollable.

From the top: the verdict (DEPLOY / REVIEW / ITERATE, coloured) with the weighted score (labelled partial
when a dimension is left out); why, in plain words: what keeps it from DEPLOY (✗ iterate, ⚠ review, worst
first), the checks that passed (✓) and the next steps; headline metrics base vs candidate (mean score,
pass rate, refusal accuracy, over-refusal, consistency) with deltas; per-category bars (tui.widgets.bars);
refusals; the judge's status and its agreement with the spot-check; the spot-check counts; and, behind
**t**, the statistical detail (tests, p-values, confidence intervals, detectable effects).

Everything is read from the latest completed evaluation (core.evaluate.evalfolder: eval.toml,
results.parquet, decision.toml, spot_check.toml); the metrics are recomputed from the saved rows by
core.evaluate.run.load_metrics, in a worker. Without an evaluation the screen says which command makes one.

Keys: **d** decide (again) · **t** statistical detail (show / hide) · **e** export every file the spec names
into exports/ · **o** where the files are · **s** the spot-check · **r** rate the results that wait for a
human (the rater screen, screens.human_rating) · **l** reload · escape back.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from tui.messages import WorkFailed
from tui.widgets.bars import CategoryBars, rows_from_groups
from tui.widgets.key_bar import KeyBar
from tui.workers import background

if TYPE_CHECKING:
    from core.project import Project

VERDICTS = {"deploy": ("✓", "DEPLOY"), "review": ("⚠", "REVIEW"), "iterate": ("✗", "ITERATE")}
LEVEL_STYLE = {"DEPLOY": "green", "REVIEW": "yellow", "ITERATE": "red"}
JUDGE_STATUS = {
    "not_needed": "not needed: every example was scored by a functional check or exact match",
    "no_llm": "not used: no LLM configured; examples that need a judge wait for a human",
    "failed": "FAILED validation: its scores do not count toward the decision",
    "validated": "validated",
    "pending": "not validated yet",
}


@dataclass
class ReportData:
    """What the report shows, read in a worker."""

    eval_id: str | None = None
    other: str = ""  # why there is no completed evaluation (one is running or failed)
    record: Any = None
    decision: Any = None
    metrics: Any = None
    metrics_error: str = ""
    spot: Any = None
    agreement: dict[str, Any] | None = None
    files: list[tuple[str, Path]] = field(default_factory=list)


def read_report(project: "Project") -> ReportData:
    from core.errors import TunesmithError
    from core.evaluate import evalfolder as ef
    from core.evaluate import spot_check as sc

    eid = ef.latest_eval(project)
    if eid is None:
        others = ef.list_evals(project)
        other = f"evaluation {others[0].eval_id} is {others[0].status}" if others else ""
        if others and others[0].failure_reason:
            other += f": {others[0].failure_reason}"
        return ReportData(None, other)
    data = ReportData(eid, record=ef.read_record(project, eid), decision=ef.read_decision(project, eid),
                      spot=ef.read_spot_check(project, eid), agreement=sc.read_agreement(project, eid))
    try:
        run = importlib.import_module("core.evaluate.run")
        _, data.metrics, *_ = run.load_metrics(project, eid)
    except TunesmithError as exc:
        data.metrics_error = str(exc)
    names = [("eval record", ef.RECORD), ("results", ef.RESULTS), ("spot-check", ef.SPOT_CHECK),
             ("judge agreement", sc.AGREEMENT), ("decision", ef.DECISION), ("report", ef.REPORT),
             ("comparison", ef.COMPARISON), ("worksheet", ef.WORKSHEET), ("metrics", ef.METRICS)]
    data.files = [(label, ef.path(project, eid, name)) for label, name in names]
    data.files.append(("exports", project.folder / "exports"))
    return data


# ---------------------------------------------------------------- messages


class ReportLoaded(Message):
    def __init__(self, data: ReportData, note: str = "") -> None:
        super().__init__()
        self.data = data
        self.note = note


class Exported(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


# ---------------------------------------------------------------- drawing helpers


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f} pts"


def _p(p: float | None) -> str:
    return "" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def headline_table(m: Any) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False, show_edge=False)
    t.add_column("metric", no_wrap=True)
    for name in ("base", "candidate", "delta", "p"):
        t.add_column(name, justify="right", no_wrap=True)
    st, r, c = m.stats, m.refusal, m.consistency or {}
    rel = "" if m.improvement_rel is None else f" ({m.improvement_rel:+.0f}%)"
    t.add_row("mean score", _pct(m.base_overall), _pct(m.candidate_overall), _pts(m.improvement_abs) + rel,
              _p(st.t_p) if st else "")
    t.add_row("pass rate", _pct(m.base_pass_rate), _pct(m.candidate_pass_rate),
              _pts(_diff(m.base_pass_rate, m.candidate_pass_rate)), _p(st.mcnemar_p) if st else "")
    if r.n_should_refuse:
        t.add_row(f"refusal acc. ({r.n_should_refuse})", _pct(r.base_accuracy), _pct(r.candidate_accuracy),
                  _pts(_diff(r.base_accuracy, r.candidate_accuracy)), "")
    if r.n_lookalike:
        t.add_row(f"over-refusal ({r.n_lookalike})", _pct(r.base_over_refusal), _pct(r.candidate_over_refusal),
                  _pts(_diff(r.base_over_refusal, r.candidate_over_refusal)), "")
    if c.get("base") is not None or c.get("candidate") is not None:
        t.add_row("lost on rephrasing", _pct(c.get("base")), _pct(c.get("candidate")),
                  _pts(_diff(c.get("base"), c.get("candidate"))), "")
    return t


MARK_STYLE = {"✗": "red", "⚠": "yellow", "✓": "green"}


def plain_line(line: str) -> Text:
    """A reason or passed check, its mark coloured."""
    mark, _, rest = line.partition(" ")
    style = MARK_STYLE.get(mark)
    if style is None:
        return Text(f"• {line}")
    return Text.assemble((mark, f"bold {style}"), " ", rest)


def stats_line(m: Any) -> Text:
    st = m.stats
    if st is None:
        return Text("no example was scored automatically for both models: no statistics", style="dim")
    test = "McNemar exact" if st.primary_test == "mcnemar" else "paired t-test"
    ci = "" if st.ci_low is None else f" · {st.ci_level:.0%} bootstrap CI [{_pts(st.ci_low)}, {_pts(st.ci_high)}]"
    mde = st.mde_binary if st.binary else st.mde
    p = "n/a" if st.p_value is None else (f"{st.p_value:.2g}" if st.p_value < 0.001 else f"{st.p_value:.3f}")
    return Text(f"p: paired t-test (mean score), McNemar exact (pass rate); decision uses {test}: p = {p}, "
                f"n = {st.n}{ci} · detectable ≈ {_pts(mde)}", style="dim")


def section(title: str) -> Text:
    return Text(title, style="bold underline")


def rule_line(rule: str) -> Text:
    level, _, rest = rule.partition(" ")
    style = LEVEL_STYLE.get("DEPLOY" if level == "PASS" else level)
    if style is None:
        return Text(f"• {rule}")
    return Text.assemble("• ", (level, f"bold {style}"), " ", rest)


# ---------------------------------------------------------------- the screen


class ReportScreen(Screen):
    COMMAND_PREFIX = "Report"
    BINDINGS = [
        Binding("d", "decide", "Decide", id="report.decide",
                tooltip="Run the deployment decision again with the current spot-check"),
        Binding("t", "toggle_detail", "Stats detail", id="report.detail",
                tooltip="Show or hide the statistical detail behind the decision (tests, p-values, intervals)"),
        Binding("e", "export", "Export", id="report.export",
                tooltip="Write every file the spec names into the project's exports/ folder"),
        Binding("o", "files", "Files", id="report.files", tooltip="Show where this evaluation's files are"),
        Binding("s", "spot_check", "Spot-check", id="report.spot_check", tooltip="Open the spot-check"),
        Binding("r", "rate", "Rate", id="report.rate",
                tooltip="Rate the results that wait for a human (tunesmith rate NAME)"),
        Binding("v", "evaluate", "Evaluate", id="report.evaluate",
                tooltip="Evaluate the fine-tuned model against its base again (tunesmith evaluate NAME)"),
        Binding("l", "reload", "Reload", id="report.reload", tooltip="Read the evaluation again"),
        Binding("escape", "back", "Back", id="report.back", tooltip="Back to the dashboard"),
    ]

    def __init__(self, project: "Project") -> None:
        super().__init__()
        self.project = project
        self.title = f"{project.meta.name} · evaluation report"
        self.data: ReportData | None = None
        self.busy = ""  # "loading" | "deciding" | "exporting"
        self._loaded_once = False
        self.show_detail = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("loading…", id="report-status", markup=False)
        with VerticalScroll(id="report-body"):
            yield Static("", id="report-files")
            yield Static("", id="report-verdict")
            yield Static("", id="report-reasons")
            yield Static("", id="report-headline")
            yield Static("", id="report-bars-title")
            yield CategoryBars(id="report-bars")
            yield Static("", id="report-details")
            yield Static("", id="report-stats")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#report-files").display = False
        self.query_one("#report-body").focus()
        self.start_load()

    def on_screen_resume(self) -> None:
        if self._loaded_once and not self.busy:  # back from the spot-check: ratings may have changed
            self.start_load()

    def start_load(self, note: str = "") -> None:
        self.busy = "loading"
        self.refresh_bindings()
        self.load(note)

    # ------------------------------------------------------------ workers

    @background("report-load")
    def load(self, note: str = "") -> None:
        self.post_message(ReportLoaded(read_report(self.project), note))

    @background("report-decide")
    def decide(self) -> None:
        run = importlib.import_module("core.evaluate.run")
        decision = run.decide_now(self.project, self.data.eval_id if self.data else None)
        self.post_message(ReportLoaded(read_report(self.project), f"decision: {decision.verdict.upper()}"))

    @background("report-export")
    def export(self) -> None:
        ex = importlib.import_module("core.evaluate.export")
        self.post_message(Exported(ex.export(self.project)))

    # ------------------------------------------------------------ what the workers said

    def on_report_loaded(self, message: ReportLoaded) -> None:
        message.stop()
        self.busy = ""
        self._loaded_once = True
        self.show(message.data)
        if message.note:
            self.notify(message.note, title=self.COMMAND_PREFIX)
        self.refresh_bindings()

    def on_exported(self, message: Exported) -> None:
        message.stop()
        self.busy = ""
        res = message.result
        written, skipped = getattr(res, "written", []), getattr(res, "skipped", {})
        folder = getattr(res, "folder", self.project.folder / "exports")
        self.set_status(f"exported {len(written)} files to {folder}"
                        + (f" · {len(skipped)} skipped" if skipped else ""))
        lines = [section(f"Exported to {folder}")]
        lines += [Text(f"  ✓ {Path(p).name}") for p in written]
        lines += [Text(f"  – {name}: {why}", style="dim") for name, why in skipped.items()]
        self.show_files(Group(*lines))
        self.notify(f"{len(written)} files written to {folder}", title=self.COMMAND_PREFIX)
        self.refresh_bindings()

    def on_work_failed(self, message: WorkFailed) -> None:
        if not message.group.startswith("report-"):
            return
        doing, self.busy = self.busy, ""
        self.set_status(f"{doing or 'loading'} failed")
        self.refresh_bindings()

    # ------------------------------------------------------------ drawing

    def set_status(self, text: str) -> None:
        self.query_one("#report-status", Static).update(text)

    def put(self, wid: str, content: Any) -> None:
        """Show ``content`` in a section of the report; None hides the section."""
        static = self.query_one(wid, Static)
        static.update("" if content is None else content)
        static.display = content is not None

    def show(self, data: ReportData) -> None:
        self.data = data
        verdict = self.query_one("#report-verdict", Static)
        verdict.remove_class("-deploy", "-review", "-iterate", "-none")
        for wid in ("#report-reasons", "#report-headline", "#report-bars-title", "#report-details", "#report-stats"):
            self.put(wid, None)
        bars = self.query_one(CategoryBars)
        bars.rows = []
        bars.display = False
        if data.eval_id is None:
            verdict.add_class("-none")
            verdict.update(Text.assemble(("No evaluation yet. ", "bold"), "press ", ("v", "bold reverse"),
                                         " to evaluate the fine-tuned model against its base",
                                         (f"\nCLI: tunesmith evaluate {self.project.slug}", "dim"),
                                         (f"\n({data.other})" if data.other else "")))
            self.set_status("no completed evaluation")
            return
        rec, dec = data.record, data.decision
        self.set_status(f"evaluation {data.eval_id} · {rec.candidate.model} vs base {rec.base.model}")
        if dec is None:
            verdict.add_class("-none")
            verdict.update(Text.assemble(("Not decided yet. ", "bold"), "press ", ("d", "bold reverse"),
                                         " to decide", (f"\nCLI: tunesmith decide {self.project.slug}", "dim")))
        else:
            icon, word = VERDICTS[dec.verdict]
            verdict.add_class(f"-{dec.verdict}")
            when = dec.decided_at.strftime("%Y-%m-%d %H:%M") if dec.decided_at else ""
            pending = f" · pending: {', '.join(dec.pending)}" if dec.pending else ""
            partial = f" (partial: {', '.join(dec.missing_dimensions)} left out)" if dec.missing_dimensions else ""
            verdict.update(Text.assemble((f"{icon} {word}", "bold"),
                                         f"  weighted score {dec.weighted_score:.2f}{partial}",
                                         (f"  {when}{pending}", "")))
            self.put("#report-reasons", Group(*self.reasons(dec)))
        m = data.metrics
        if m is not None:
            self.put("#report-headline", Group(section("Headline: base vs candidate"), headline_table(m)))
            self.put("#report-bars-title", Group(Text(""), section("By category (mean score)")))
            bars.rows = rows_from_groups(m.by_category.values())
            bars.display = bool(bars.rows)
        elif data.metrics_error:
            self.put("#report-headline", Text(f"metrics unavailable: {data.metrics_error}", style="red"))
        self.put("#report-details", Group(*self.details(data)))
        self.put("#report-stats", Group(*self.stats_detail(data)) if self.show_detail else None)
        if self.query_one("#report-files").display:
            self.show_files(self.files_text())

    def details(self, data: ReportData) -> list[Any]:
        from core.evaluate import spot_check as sc

        out: list[Any] = []
        m, rec = data.metrics, data.record
        if m is not None:
            r = m.refusal
            out += [Text(""), section("Refusals")]
            if r.n_should_refuse:
                out.append(Text(f"refusal accuracy {_pct(r.candidate_accuracy)} on {r.n_should_refuse} out-of-scope "
                                f"(target 100%)", style="green" if not r.leaked else "red"))
                if r.leaked:
                    out.append(Text(f"answered although out of scope: {', '.join(r.leaked)}"))
            else:
                out.append(Text("no out-of-scope examples were scored: refusal behaviour is untested", style="yellow"))
            if r.n_lookalike:
                out.append(Text(f"over-refusal on look-alikes {_pct(r.candidate_over_refusal)} of {r.n_lookalike}"
                                + (f" (declined: {', '.join(r.over_refused)})" if r.over_refused else "")))
        out += [Text(""), section("Judge")]
        status = JUDGE_STATUS.get(rec.judge_status, rec.judge_status)
        model = f" ({rec.judge_model})" if rec.judge_model and rec.judge_status == "validated" else ""
        out.append(Text(f"{status}{model}", style="red" if rec.judge_status == "failed" else ""))
        if rec.judge_reason:
            out.append(Text(rec.judge_reason, style="dim"))
        if data.agreement:
            out.append(Text(sc.agreement_line(data.agreement)))
        out += [Text(""), section("Spot-check")]
        if data.spot is None:
            out.append(Text.assemble(("not done yet: press s to spot-check", "yellow"),
                                     (f"\nCLI: tunesmith spot-check {self.project.slug}", "dim")))
        else:
            c = sc.counts(data.spot)
            out.append(Text(c.line() + ("" if c.finished else " · not finished: s continues it")))
        out.append(Text(""))
        out.append(Text("t shows the statistical detail (tests, p-values, intervals)" if not self.show_detail
                        else "t hides the statistical detail", style="dim"))
        return out

    def reasons(self, dec: Any) -> list[Any]:
        """Why: what keeps the verdict from DEPLOY (worst first), the checks that passed, the next steps."""
        from core.evaluate.decision import decision_lines

        reasons, passed, _ = decision_lines(dec)
        out: list[Any] = []
        if reasons:
            out += [section("What keeps it from DEPLOY")] + [plain_line(r) for r in reasons]
        if passed:
            out += ([Text("")] if out else []) + [section("Checks that passed")] + [plain_line(r) for r in passed]
        if dec.next_steps:
            out += [Text(""), section("Next steps")]
            out += [Text(f"{i}. {s}") for i, s in enumerate(dec.next_steps, 1)]
        return out

    def stats_detail(self, data: ReportData) -> list[Any]:
        """The statistics behind the decision: the tests, the rules' detail, the rules as programs read them."""
        from core.evaluate.decision import decision_lines

        out: list[Any] = [Text(""), section("Statistical detail")]
        if data.metrics is not None:
            out.append(stats_line(data.metrics))
        dec = data.decision
        if dec is not None:
            _, _, details = decision_lines(dec)
            out += [Text(f"• {x}") for x in details]
            if dec.rules_fired:
                out += [Text(""), section("Rules as recorded")] + [rule_line(r) for r in dec.rules_fired]
        return out

    def files_text(self) -> Group:
        data = self.data
        if data is None or data.eval_id is None:
            return Group(section("Files"), Text(f"project folder: {self.project.folder}"))
        lines = [section(f"Files of evaluation {data.eval_id}"), Text(f"in {self.project.folder}/", style="dim")]
        for label, p in data.files:
            mark = "✓" if p.exists() else "–"
            try:
                rel = str(p.relative_to(self.project.folder))
            except ValueError:
                rel = str(p)
            lines.append(Text.assemble(f"{mark} {label:<16} ", (rel, "" if p.exists() else "dim")))
        lines.append(Text("– not written yet · o hides this", style="dim"))
        return Group(*lines)

    def show_files(self, content: Any) -> None:
        box = self.query_one("#report-files", Static)
        box.update(content)
        box.display = True
        self.query_one("#report-body", VerticalScroll).scroll_home(animate=False)

    # ------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        has_eval = self.data is not None and self.data.eval_id is not None
        if action == "decide":
            if not has_eval or importlib.util.find_spec("core.evaluate.run") is None:
                return False
            return None if self.busy else True
        if action == "export":
            if importlib.util.find_spec("core.evaluate.export") is None:
                return False
            return None if self.busy else True
        if action in ("reload", "evaluate"):
            return None if self.busy else True
        if action == "rate":
            m = self.data.metrics if self.data is not None else None
            return bool(has_eval and m is not None and getattr(m, "n_pending", 0))
        if action == "toggle_detail":
            return bool(has_eval)
        return True

    def action_decide(self) -> None:
        if self.busy:
            return
        self.busy = "deciding"
        self.set_status("deciding…")
        self.refresh_bindings()
        self.decide()

    def action_export(self) -> None:
        if self.busy:
            return
        self.busy = "exporting"
        self.set_status("exporting…")
        self.refresh_bindings()
        self.export()

    def action_files(self) -> None:
        box = self.query_one("#report-files", Static)
        if box.display:
            box.display = False
            return
        self.show_files(self.files_text())

    def action_toggle_detail(self) -> None:
        self.show_detail = not self.show_detail
        if self.data is not None and self.data.eval_id is not None:
            self.put("#report-stats", Group(*self.stats_detail(self.data)) if self.show_detail else None)
            self.put("#report-details", Group(*self.details(self.data)))
            if self.show_detail:
                self.query_one("#report-stats", Static).scroll_visible(animate=False)

    def action_rate(self) -> None:
        """The rater for results that wait for a human (the screen registered as "human_rating"); without
        it, the command that does the same."""
        from screens.registry import STAGE_SCREENS

        open_screen = getattr(self.app, "open_screen", None)
        for name in ("human_rating", "rate"):
            spec = STAGE_SCREENS.get(name)
            if spec is not None and spec.is_built() and open_screen is not None:
                open_screen(name, self.project)
                return
        self.notify(f"CLI: tunesmith rate {self.project.slug}", title=self.COMMAND_PREFIX)

    def action_spot_check(self) -> None:
        open_screen = getattr(self.app, "open_screen", None)
        if open_screen is not None:
            open_screen("spot_check", self.project)

    def action_evaluate(self) -> None:
        open_screen = getattr(self.app, "open_screen", None)
        if open_screen is not None and not self.busy:
            open_screen("evaluate", self.project)

    def action_reload(self) -> None:
        if not self.busy:
            self.start_load()

    def action_back(self) -> None:
        self.app.pop_screen()
