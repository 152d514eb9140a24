"""What the generation screen draws, apart from the screen itself: the snapshot read off the UI thread
(:func:`load_snapshot`), the generation report (filters, categories, rejections, the planned mix against
what was kept per kind, the DPO / KTO rejected-response strategies, the notes), the live counters, the
prompt adjustments earlier pilots left, and the warnings panel's lines. Literal text throughout: nothing
here is parsed as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from core import words

if TYPE_CHECKING:
    from core.project import Project


# ---------------------------------------------------------------- what the screen shows


@dataclass
class GenSnapshot:
    """Everything the screen draws, read off the UI thread."""

    stage: str  # "none" | "pilot" | "approved" | "scaling" | "scaled" (not ready for training) | "validated"
    stage_text: str
    report: Any = None  # the last GenerationReport (scale's if any, else the pilot's)
    scale_state: Any = None  # ScaleState or None
    pilot_size: int = 0
    target_size: int = 0
    extra: str = ""  # validation / splits line
    feedback: list[str] = field(default_factory=list)  # prompt adjustments left by earlier pilots
    scale_sample: bool = False  # the scale-up's review sample exists
    scale_review: str = ""  # where its review stands (ScaleRound.describe)


def _pct(x: float) -> str:
    return f"{x:.0%}"


def load_snapshot(project: "Project") -> GenSnapshot:
    from core.generate import pipeline_state as ps
    from core.generate.pipeline_parts import load_state
    from core.generate.report import read_summary
    from core.models.data import GenerationReport

    from core.generate.pipeline import load_feedback

    project.reload()
    meta = project.meta
    cfg = meta.config.generate
    summary = read_summary(project)
    pilot = project.read_or(ps.PILOT_REPORT, GenerationReport) or summary.pilot
    state = load_state(project)
    snap = GenSnapshot(stage="none", stage_text="", pilot_size=int(cfg.pilot_size), target_size=int(cfg.target_size),
                       scale_state=state, feedback=load_feedback(project).lines(),
                       scale_sample=project.exists(ps.SCALE_REVIEW_SAMPLE))
    if snap.scale_sample:
        try:
            from core.generate import scale_review

            snap.scale_review = scale_review.current_round(project).describe()
        except Exception:  # an unreadable review: the review screen says why
            pass
    snap.report = summary.scale if (summary.scale is not None and state is not None) else pilot
    if not meta.is_done("generate", "pilot") or pilot is None:
        snap.stage_text = f"Pilot not run · p generates {cfg.pilot_size} examples and filters them"
        return snap
    head = f"Pilot: {pilot.kept}/{pilot.generated} kept ({_pct(pilot.pass_rate)})"
    if pilot.retries:
        head += f" after {pilot.retries} retr{'y' if pilot.retries == 1 else 'ies'}"
    if state is not None and state.status != "complete":
        snap.stage = "scaling"
        why = f" ({state.pause_reason})" if state.pause_reason else ""
        snap.stage_text = (f"Scale-up {'paused' if state.status == 'paused' else 'interrupted'} at "
                           f"{state.kept}/{state.target} kept{why} · r resumes it")
        return snap
    if meta.is_done("generate", "validated") or meta.is_done("generate", "scale"):
        snap.stage = "validated" if meta.is_done("generate", "validated") else "scaled"
        kept = summary.scale.kept if summary.scale else (state.kept if state else 0)
        splits = ", ".join(f"{k} {n}" for k, n in summary.splits.items())
        text = f"Scale-up done: {kept} examples" + (f" ({splits})" if splits else "")
        v = summary.validation
        if v is not None and not v.ok:
            text += f" · validation failed: {'; '.join(v.errors[:1]) or v.note} · r continues once fixed"
        elif snap.stage == "validated":
            text += " · checked ✓ ready to train" + (f" ({v.trainer.removesuffix('Trainer')})" if v is not None else "")
        else:  # finished but short of the plan (e.g. the refusals): see the warnings
            text += " · not ready for training (see the warnings) · r continues the scale-up"
        snap.stage_text = text
        return snap
    if meta.is_done("generate", "pilot_approved"):
        snap.stage = "approved"
        rev = summary.pilot_review
        good = f" ({rev.good}/{rev.rated} good, {_pct(rev.good_rate)})" if rev else ""
        snap.stage_text = f"{head} · review approved{good} · s scales up to {cfg.target_size}"
        return snap
    snap.stage = "pilot"
    review = "v reviews it"
    try:
        from core.generate import review as rv

        rnd = rv.current_round(project)
        if rnd.outcome == "rejected":
            review = (f"review rejected ({rnd.good}/{len(rnd.sample)} good, {_pct(rnd.good_rate)}) · "
                      f"p regenerates with the notes")
        else:
            review = f"review {rnd.rated}/{len(rnd.sample)} rated · v reviews it"
    except Exception:  # no pilot examples kept, or an unreadable review: the review screen says why
        pass
    snap.stage_text = f"{head} · {review}"
    return snap


NARROW = 110  # below this width (cells) the rejections table goes under filters | categories


def report_view(report: Any, width: int = 0) -> Group:
    """The generation report: a headline, then filters | categories | rejections side by side."""
    from core.llm.usage import money

    tokens = report.prompt_tokens + report.completion_tokens
    head = Text.assemble(
        (f"Last {report.phase} report", "bold"),
        f" · {report.kept}/{report.generated} kept ({_pct(report.pass_rate)}) · "
        f"{words.strategy_with_name(report.strategy)}\n",
        f"{tokens:,} tokens ({report.prompt_tokens:,} in, {report.completion_tokens:,} out) · "
        f"{money(report.cost_usd)} · {report.seconds:.0f} s"
        + (f" · {report.kept / report.seconds:.1f} kept/s" if report.seconds > 0 else ""),
    )
    if report.diversity_mean_similarity is not None:
        head.append(f" · similarity mean {report.diversity_mean_similarity:.2f}"
                    f" max {report.diversity_max_similarity or 0:.2f}")

    def stats_table(title: str, rows: dict[str, Any]) -> Table:
        t = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        t.add_column(title, no_wrap=True, overflow="ellipsis", max_width=24)
        t.add_column("pass", justify="right", no_wrap=True)
        t.add_column("n", justify="right", no_wrap=True)
        for name, s in rows.items():
            style = "" if s.pass_rate >= 0.7 else "bold"
            t.add_row(Text(name), Text(_pct(s.pass_rate), style=style), f"{s.passed}/{s.checked}")  # a name, not markup
        return t

    rej = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    rej.add_column("rejected for", overflow="fold", max_width=40)
    rej.add_column("n", justify="right", no_wrap=True)
    for reason, n in sorted(report.rejections_by_reason.items(), key=lambda kv: -kv[1]):
        rej.add_row(Text.assemble(words.reason(reason), (f" {reason}", "dim")), str(n))
    if not report.rejections_by_reason:
        rej.add_row(Text("none", style="dim"), "")
    narrow = 0 < width < NARROW
    grid = Table.grid(padding=(0, 3))
    for _ in range(2 if narrow else 3):
        grid.add_column()
    if narrow:  # at 80 columns three tables side by side cut every name: two, the rejections below
        grid.add_row(stats_table("filter", report.filters), stats_table("category", report.categories))
    else:
        grid.add_row(stats_table("filter", report.filters), stats_table("category", report.categories), rej)
    parts: list[Any] = [head]
    extra = [t for t in (mix_text(report), strategies_text(report)) if t is not None]
    if extra:
        parts.append(Text("\n").join(extra))
    if report.notes:
        parts.append(notes_text(report.notes))
    parts += [Text(""), grid]
    if narrow:
        parts += [Text(""), rej]
    return Group(*parts)


WARN = "bold yellow"


def mix_text(report: Any) -> Text | None:
    """'mix planned → kept: common 150/150 · edge 30/30 · refusal 12/20' (a short kind in the warning
    colour, with the cells short of their quota after it)."""
    planned, kept = dict(report.planned_by_kind), dict(report.kept_by_kind)
    if not planned and not kept:
        return None
    line = Text.assemble(("mix planned → kept: ", "bold"))
    kinds = [*planned, *(k for k in kept if k not in planned)]
    for i, kind in enumerate(kinds):
        if i:
            line.append(" · ")
        got, want = kept.get(kind, 0), planned.get(kind, 0)
        line.append(f"{kind} {got}/{want}", WARN if got < want else "")
        if got < want:
            line.append(" ⚠", WARN)
    if report.short_cells:
        worst = sorted(report.short_cells.items(), key=lambda kv: -kv[1])
        cells = ", ".join(f"{key.rstrip('|').replace('|', '/')} −{n}" for key, n in worst[:3])
        more = f" and {len(worst) - 3} more" if len(worst) > 3 else ""
        line.append(f"\n{len(worst)} cell{'s' if len(worst) != 1 else ''} short of quota: {cells}{more}", WARN)
    return line


def strategies_text(report: Any) -> Text | None:
    """DPO / KTO: how the rejected responses were made, and the strategies that failed (with why)."""
    if not report.rejected_strategies and not report.failed_strategies:
        return None
    line = Text.assemble(("how the worse answers were made: ", "bold"))
    line.append(" · ".join(f"{words.strategy(k)} {n}"
                           for k, n in sorted(report.rejected_strategies.items(), key=lambda kv: -kv[1])) or "none")
    for name, why in report.failed_strategies.items():
        line.append(f"\n⚠ {words.strategy(name)} ({name}) failed: {why}", WARN)
    return line


def notes_text(notes: list[str]) -> Text:
    return Text("\n").join(Text(f"⚠ {n}", style=WARN) for n in notes)


def feedback_text(lines: list[str]) -> Text:
    """The prompt adjustments earlier pilots left for the generator (literal)."""
    head = Text.assemble((f"Prompt adjustments from earlier pilots ({len(lines)})", "bold"),
                         (" · x clears them", "dim"))
    return Text("\n").join([head, *(Text(f"· {line}") for line in lines)])


def panel_line(line: str) -> Text:
    """'warning: X' -> '⚠ X' in the warning colour; 'note: X' -> '· note: X'."""
    if line.lower().startswith("note:"):
        return Text(f"· {line}")
    text = line[len("warning:"):].strip() if line.lower().startswith("warning:") else line
    return Text(f"⚠ {text}", style=WARN)


def panel_rank(line: str) -> int:
    """What stops the run first, then the warnings, then the notes."""
    if line.startswith("not ready"):
        return 0
    return 2 if line.lower().startswith("note:") else 1


def live_note(message: str) -> str | None:
    """A progress line the user must see ("warning: …", "note: …"), else None."""
    text = message.strip()
    return text if text.lower().startswith(("warning:", "note:")) else None


def counters_text(ev: Any, started: float | None = None) -> str:
    """The live counters from a GenerationProgress with counts (done, kept, rejected, tokens, cost, speed)."""
    from core.llm.usage import money

    top = sorted(ev.rejected.items(), key=lambda kv: -kv[1])[:3]
    rej = f"rejected {ev.done - ev.kept}" + (f" ({', '.join(f'{k} {v}' for k, v in top)})" if top else "")
    cost = money(ev.cost_usd) + (f" of ~{money(ev.projected_cost_usd)} projected"
                                 if ev.projected_cost_usd is not None else "")
    left = ev.remaining_text() if hasattr(ev, "remaining_text") else ""
    text = (f"done {ev.done} · kept {ev.kept}/{ev.target}{' · ' + left if left else ''} · {rej}\n"
            f"{ev.prompt_tokens + ev.completion_tokens:,} tokens · {cost} · {ev.examples_per_s:.1f} examples/s · "
            f"{ev.elapsed_s:.0f} s")
    if ev.retries or ev.failed_requests:
        text += f" · faults {ev.retries} retried, {ev.failed_requests} failed"
    return text


def finished_text(report: Any) -> str:
    """The counters once a run has ended, from its report."""
    from core.llm.usage import money

    top = sorted(report.rejections_by_reason.items(), key=lambda kv: -kv[1])[:3]
    rej = f"rejected {report.generated - report.kept}" + (
        f" ({', '.join(f'{words.reason(k)} {v}' for k, v in top)})" if top else "")
    speed = f" · {report.kept / report.seconds:.1f} examples/s" if report.seconds > 0 else ""
    return (f"{report.phase} finished: done {report.generated} · kept {report.kept} · {rej}\n"
            f"{report.prompt_tokens + report.completion_tokens:,} tokens · {money(report.cost_usd)}{speed} · "
            f"{report.seconds:.0f} s")
