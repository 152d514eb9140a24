"""`tunesmith generate NAME --pilot | --scale [--target N] [--budget USD] [--yes] [--restart] [--replace] |
--resume | --push REPO_ID` and the pilot spot-check behind `tunesmith review NAME pilot`.

A scale-up over a finished dataset (data/training_dataset) needs ``--replace``, or a "y" to the question
asked in a terminal; ``--yes`` answers only "start the scale-up?", never that one, and a script (stdin
not a terminal) is refused with the flag named. The old dataset is set aside and put back unless the new
one is finalised (core/generate/previous.py)."""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from typing import Any, TextIO

from core.commands import jsonout
from core.errors import BadInput
from core.llm.errors import BudgetExceeded, CircuitOpen
from core.project import Project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate training data: the pilot, the scale-up, or resume it")
    p.add_argument("name")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--pilot", action="store_true", help="generate and filter the pilot (config pilot_size)")
    g.add_argument("--scale", action="store_true", help="scale up to the target size (after the pilot review)")
    g.add_argument("--resume", action="store_true", help="continue an interrupted or paused scale-up")
    g.add_argument("--push", metavar="REPO_ID", help="upload the finished dataset to a private Hub dataset repo "
                                                     "(token from HF_TOKEN)")
    g.add_argument("--clear-feedback", action="store_true",
                   help="forget the prompt adjustments of earlier pilots (filter instructions and review notes)")
    g.add_argument("--report", action="store_true",
                   help="generate nothing: show the generation report (data/generation_report.toml) as it stands")
    p.add_argument("--target", type=int, metavar="N", help="examples to keep (default: config target_size)")
    p.add_argument("--budget", type=float, metavar="USD", help="raise (or set) the generation budget cap; saved")
    p.add_argument("--yes", action="store_true", help="start the scale-up without asking")
    p.add_argument("--restart", action="store_true", help="with --scale: discard an unfinished scale-up")
    p.add_argument("--replace", action="store_true",
                   help="with --scale: replace a finished dataset (set aside, and put back if the new run "
                        "does not finish); --yes does not imply it")
    p.add_argument("--public", action="store_true", help="with --push: make the repo public")
    jsonout.add_flag(p)
    p.set_defaults(func=cmd_generate)


def _print_event(event: Any) -> None:
    """A progress event: counted ones as a bar redrawn in place on a terminal, plain lines in a pipe."""
    from core.progress import InPlace

    global _LIVE
    if _LIVE is None or _LIVE.stream is not sys.stdout:
        _LIVE = InPlace(sys.stdout)
    if getattr(event, "target", 0) or getattr(event, "step_total", 0):
        _LIVE.show(str(event), event.fraction)
    else:
        _LIVE.message(str(event))


_LIVE: Any = None


def _end_events() -> None:
    if _LIVE is not None:
        _LIVE.close()


def _estimate_line(report: Any) -> str | None:
    """"planned ~1,852 generated in ~4 min; took 3,248 in 8 min" (the scale-up's estimate vs actual)."""
    from core.progress import duration

    if not report.estimated_generated:
        return None
    took = f"took {report.generated:,} in {duration(report.seconds)}"
    return (f"planned ~{report.estimated_generated:,} generated in ~{duration(report.estimated_seconds or 0)}; "
            f"{took} (recorded for the next projection)")


def _next(project: Project) -> str:
    project.reload()
    return project.meta.next_hint()


def _paused(project: Project, exc: Exception) -> int:
    print(f"tunesmith generate: {exc}", file=sys.stderr)
    if getattr(exc, "previous_restored", None) is not None:
        print(f"tunesmith generate: once fixed, start the replacement again with: tunesmith generate "
              f"{project.slug} --scale --replace", file=sys.stderr)
        return 1
    print(f"tunesmith generate: progress is saved; once fixed, resume with: tunesmith generate {project.slug} "
          f"--resume", file=sys.stderr)
    return 1


def cmd_generate(args: argparse.Namespace) -> int:
    from core.generate.pipeline_scale import check_target

    check_target(args.target)  # before anything is read, deleted or spent
    if args.budget is not None and not (args.budget >= 0 and math.isfinite(args.budget)):
        raise BadInput(f"--budget: must be a dollar amount of 0 or more (got {args.budget:g})")
    as_json = getattr(args, "json", False)
    project = Project.open(args.name)
    if getattr(args, "report", False):
        if args.budget is not None:
            raise BadInput("--budget: not with --report (it shows the report and changes nothing)")
        if as_json:
            with jsonout.human_to_stderr():
                doc = report_json(project, "report")
            jsonout.emit(doc)
        else:
            print_report(project)
        return 0
    extra: dict[str, Any] = {}
    with jsonout.human_to_stderr(as_json):
        rc = _generate(project, args, extra)
    if as_json and rc == 0:
        if args.push or args.clear_feedback:
            jsonout.emit(jsonout.document("generate", project=project.slug,
                                          ran="push" if args.push else "clear_feedback", **extra))
        else:
            with jsonout.human_to_stderr():
                doc = report_json(project, "pilot" if args.pilot else "scale")
            jsonout.emit(doc)
    return rc


def _generate(project: Project, args: argparse.Namespace, extra: dict[str, Any]) -> int:
    with project.writing():
        if args.budget is not None:
            project.reload()
            project.meta.config.generate.budget_usd = args.budget
            project.save()
        if args.push:
            from core.generate.report import push_dataset

            url = push_dataset(project, args.push, private=not args.public)
            extra.update(url=url, public=bool(args.public))
            print(f"pushed the dataset to {url} ({'public' if args.public else 'private'})")
            return 0
        if args.clear_feedback:
            return _clear_feedback(project, extra)
        if args.pilot:
            return _pilot(project)
        return _scale(project, args, sys.stdin)


def _clear_feedback(project: Project, extra: dict[str, Any] | None = None) -> int:
    from core.generate import pipeline as pl
    from core.generate.pipeline_state import PilotFeedback

    lines = pl.load_feedback(project).lines()
    pl.save_feedback(project, PilotFeedback())
    if extra is not None:
        extra["cleared"] = list(lines)
    print(f"cleared {len(lines)} prompt adjustment{'s' if len(lines) != 1 else ''}" + "".join(f"\n  - {x}" for x in lines))
    return 0


# ---------------------------------------------------------------- the report (--report, --json)


def _phase_json(report: Any) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "requested": report.requested, "generated": report.generated, "kept": report.kept,
        "pass_rate": report.pass_rate, "retries": report.retries,
        "planned_by_kind": dict(report.planned_by_kind), "kept_by_kind": dict(report.kept_by_kind),
        "short_cells": dict(report.short_cells),
        "filters": {k: {"checked": f.checked, "passed": f.passed, "pass_rate": f.pass_rate}
                    for k, f in report.filters.items()},
        "rejections_by_reason": dict(report.rejections_by_reason),
        "rejected_strategies": dict(report.rejected_strategies), "failed_strategies": dict(report.failed_strategies),
        "diversity_mean_similarity": report.diversity_mean_similarity,
        "diversity_max_similarity": report.diversity_max_similarity,
        "prompt_tokens": report.prompt_tokens, "completion_tokens": report.completion_tokens,
        "cost_usd": report.cost_usd, "seconds": report.seconds,
        "started_at": report.started_at, "finished_at": report.finished_at,
        "notes": list(report.notes), "settings": list(report.settings),
    }


def report_json(project: Project, ran: str) -> dict[str, Any]:
    """The `generate --json` document: the generation report summary (docs/json.md)."""
    from core.generate import pipeline_state as ps
    from core.generate.report import read_summary

    s = read_summary(project)

    def where(rel: str) -> str | None:
        p = project.path(rel)
        return str(p) if p.exists() else None

    review = s.pilot_review
    return jsonout.document(
        "generate", project=project.slug, ran=ran, model=s.model, strategy=s.strategy,
        strategy_reason=s.strategy_reason, training_method=s.training_method,
        pilot=_phase_json(s.pilot), scale=_phase_json(s.scale),
        pilot_review=None if review is None else review.model_dump(mode="json"),
        validation=None if s.validation is None else s.validation.model_dump(mode="json"),
        splits=dict(s.splits), updated_at=s.updated_at,
        paths={"report": where(ps.GENERATION_REPORT), "dataset": where(ps.DATASET_DIR),
               "dataset_card": where(ps.DATASET_CARD), "quality_log": where(ps.QUALITY_LOG)},
    )


def print_report(project: Project) -> None:
    from core.generate import pipeline_state as ps
    from core.generate.report import read_summary

    s = read_summary(project)
    path = project.path(ps.GENERATION_REPORT)
    if not path.exists():
        print(f"no generation report yet: tunesmith generate {project.slug} --pilot")
        return
    print(f"generation report: {path}")
    print(f"  model {s.model or '-'} · strategy {s.strategy or '-'} · method {s.training_method or '-'}")
    for label, report in (("pilot", s.pilot), ("scale-up", s.scale)):
        if report is None:
            continue
        print(f"{label}: {report.kept} kept of {report.generated} generated ({report.pass_rate:.0%} passed the "
              f"filters; {report.requested} requested), ${report.cost_usd:,.2f}, {report.seconds:.0f} s")
        if (estimate := _estimate_line(report)) is not None:
            print(f"  {estimate}")
        print_mix(report)
    if s.pilot_review is not None:
        r = s.pilot_review
        print(f"pilot review round {r.round}: {r.good} of {r.rated} rated good ({r.good_rate:.0%}); {r.outcome}")
    if s.validation is not None:
        v = s.validation
        print(f"validation: {'ok' if v.ok else 'FAILED'} for {v.trainer} ({v.format}, {v.rows} rows)"
              + "".join(f"\n  error: {e}" for e in v.errors))
    if s.splits:
        print("splits: " + ", ".join(f"{k} {n}" for k, n in s.splits.items()))
    print(f"next: {_next(project)}")


def print_mix(report: Any) -> None:
    """The planned mix of kinds and what was kept of it, then every warning of the run."""
    if report.planned_by_kind:
        print("  mix: " + " · ".join(f"{k} {report.kept_by_kind.get(k, 0)}/{n}" for k, n in report.planned_by_kind.items())
              + " (kept/planned)")
    if report.rejected_strategies:
        total = sum(report.rejected_strategies.values())
        print("  rejected responses made by: " + ", ".join(
            f"{k} {n} ({n / total:.0%})" for k, n in report.rejected_strategies.items()))
    for name, why in report.failed_strategies.items():
        print(f"  warning: the {name} strategy failed ({why}); its share went to the others")
    for note in report.notes:
        print(f"  warning: {note}")
    if report.settings:
        print("  thresholds: " + "; ".join(report.settings))


def _pilot(project: Project) -> int:
    from core.generate.pipeline import run_pilot

    try:
        try:
            report = run_pilot(project, progress=_print_event)
        finally:
            _end_events()
    except (CircuitOpen, BudgetExceeded) as exc:
        print(f"tunesmith generate: {exc}", file=sys.stderr)
        return 1
    print(f"pilot: {report.kept} of {report.generated} examples passed the filters ({report.pass_rate:.0%})"
          + (f" after {report.retries} retr{'y' if report.retries == 1 else 'ies'} with adjusted prompts"
             if report.retries else ""))
    for name, stats in report.filters.items():
        print(f"  {name:<14} {stats.pass_rate:.0%} passed ({stats.passed}/{stats.checked})")
    if report.rejections_by_reason:
        top = sorted(report.rejections_by_reason.items(), key=lambda kv: -kv[1])[:5]
        print("  rejected for: " + ", ".join(f"{k} {n}" for k, n in top))
    print_mix(report)
    target = project.meta.config.generate.quality_thresholds.pass_rate_target
    if report.pass_rate < target:
        print(f"note: the pass rate is below the {target:.0%} target after every retry; look at "
              f"{project.path('data/quality_log.parquet')} before the review")
    print(f"next: {_next(project)}")
    return 0


def _confirm(stdin: TextIO, question: str) -> bool:
    if stdin.isatty():
        print(f"{question} [y/N] ", end="", flush=True)
    line = stdin.readline()
    return line.strip().lower() in ("y", "yes")


def _scale(project: Project, args: argparse.Namespace, stdin: TextIO) -> int:
    from core.errors import StageNotReady
    from core.generate import pipeline as pl
    from core.generate import pipeline_scale as sc
    from core.generate.strategy import strategy_for

    from core.generate import previous

    restored = previous.recover(project)
    if restored is not None:
        print(f"an earlier replacement of the dataset did not finish: the previous dataset ({restored.rows:,} "
              f"examples) is back in {project.path('data/training_dataset')}")
    project.reload()
    if not project.meta.is_done("generate", "pilot_approved"):
        raise StageNotReady(f"the pilot is not approved yet: tunesmith review {project.slug} pilot")
    if args.replace and not args.scale:
        raise BadInput("--replace: only with --scale (a resumed run continues its own dataset)")
    state = sc.load_state(project)
    if args.scale and state is not None and state.status != "complete" and not args.restart:
        raise StageNotReady(
            f"a scale-up is in progress ({state.kept}/{state.target} kept): continue it with tunesmith generate "
            f"{project.slug} --resume, or start over with --scale --restart")
    if args.resume and state is None:
        raise StageNotReady(f"there is no scale-up to resume: tunesmith generate {project.slug} --scale")
    replace = bool(args.replace)
    rows = previous.finished_rows(project) if args.scale else 0
    if rows and not replace:  # before anything is read, spent or deleted
        if not stdin.isatty():
            raise previous.refusal(project, rows)
        replace = _confirm(stdin, f"{project.path('data/training_dataset')} holds a finished dataset ({rows:,} "
                                  f"examples); replace it? (it is set aside and put back if the new run does "
                                  f"not finish)")
        if not replace:
            print("scale-up not started; the finished dataset is untouched")
            return 1
    gw = pl.default_gateway(project)
    try:
        pl.check_ready(project)
        pl.check_llm(project, gw, strategy_for(project))
        target = args.target or (state.target if args.resume and state else None)
        proj = sc.projection(project, target=target, gateway=gw, fresh=not args.resume)
        print(proj.describe(), flush=True)
        sc.check_budget(proj)
        if args.scale and not args.yes and not _confirm(stdin, "start the scale-up?"):
            print("scale-up not started")
            return 1
        try:
            try:
                report = sc.run_scale(project, gw, target=args.target, resume=args.resume, restart=args.restart,
                                      budget_usd=args.budget, progress=_print_event, replace=replace)
            finally:
                _end_events()
        except (CircuitOpen, BudgetExceeded) as exc:
            return _paused(project, exc)
    finally:
        gw.close()
    from core.generate import pipeline_state as ps
    from core.generate.report import read_summary

    summary = read_summary(project)
    splits = ", ".join(f"{k} {n}" for k, n in summary.splits.items())
    print(f"dataset: {report.kept} examples ({splits}) in {project.path(ps.DATASET_DIR)}")
    print(f"  {report.generated} generated, {report.pass_rate:.0%} passed the filters, "
          f"{report.prompt_tokens + report.completion_tokens:,} tokens, ${report.cost_usd:,.2f}, "
          f"{report.seconds:.0f} s")
    if (estimate := _estimate_line(report)) is not None:
        print(f"  {estimate}")
    print_mix(report)
    print(f"  report {project.path(ps.GENERATION_REPORT)} · card {project.path(ps.DATASET_CARD)} · "
          f"quality log {project.path(ps.QUALITY_LOG)}")
    print(f"next: {_next(project)}")
    return 0


# ---------------------------------------------------------------- review NAME pilot


def _block(label: str, text: str) -> str:
    body = "\n".join(textwrap.fill(p, 96, initial_indent="    ", subsequent_indent="    ") if p.strip() else ""
                     for p in str(text).splitlines()) or "    "
    return f"  {label}:\n{body}"


def show_example(ex: Any, i: int, n: int, rnd: int | str) -> None:
    from core.generate.records import bad_response, good_response, user_text

    rec = ex.record
    where = f"pilot round {rnd}" if isinstance(rnd, int) else rnd
    print(f"\n[{i}/{n}] {where} · {ex.kind} · {ex.category} · {ex.difficulty} · {ex.id}")
    print(_block("input", user_text(rec)))
    if ex.format == "grpo":
        print(_block("reference", rec.get("reference", "")))
    elif ex.format == "kto":
        label = "desirable" if rec.get("label") else "undesirable"
        print(_block(f"completion ({label})", good_response(rec) or bad_response(rec) or ""))
    else:
        print(_block("chosen" if ex.format == "dpo" else "response", good_response(rec) or ""))
        if ex.format == "dpo":
            print(_block(f"rejected ({ex.rejected_strategy or 'worse'})", bad_response(rec) or ""))


def review_pilot(project: Project, stdin: TextIO) -> int:
    """Rate the pilot's sample from stdin (y / n [note] per example); conclude when all are rated."""
    from core.commands.evalset import ask_rating
    from core.generate import review as rv

    interactive = stdin.isatty()
    line_no = 0
    with project.writing():
        rnd = rv.current_round(project)
        if not rnd.outcome and rnd.pending:
            rule = rv.approval_rule(rnd.approval_rate)
            print(f"pilot review round {rnd.number}: {len(rnd.pending)} of {len(rnd.sample)} examples to rate "
                  f"(y = good, n [note] = bad; {rule})")
            for ex in rnd.pending:
                show_example(ex, rnd.rated + 1, len(rnd.sample), rnd.number)
                line_no, parsed = ask_rating(stdin, interactive, line_no)
                if parsed is None:
                    left = len(rv.current_round(project).pending)
                    print(f"\nsaved; {left} example{'s' if left != 1 else ''} left to rate: "
                          f"tunesmith review {project.slug} pilot")
                    return 0
                good, note = parsed
                rnd = rv.rate(project, ex.id, good, note)
                print(f"  {'✓ good' if good else '✗ bad'}{(': ' + note) if note else ''} "
                      f"· saved ({rnd.rated}/{len(rnd.sample)})")
        outcome = rv.conclude(project)
        rnd = rv.current_round(project)
        verdict = f"{rnd.good} of {len(rnd.sample)} rated good ({rnd.good_rate:.0%})"
        if outcome == "approved":
            print(f"approved: {verdict}; the scale-up may start")
        else:
            print(f"rejected: {verdict}; {rv.approval_rule(rnd.approval_rate)}. Your notes will guide the next "
                  f"pilot: regenerate it with tunesmith generate {project.slug} --pilot")
        print(f"next: {_next(project)}")
    return 0


def review_scale(project: Project, stdin: TextIO) -> int:
    """Rate the scale-up's review sample from stdin (y / n [note] per example); resumable."""
    from core.commands.evalset import ask_rating
    from core.generate import scale_review as sr

    interactive = stdin.isatty()
    line_no = 0
    rnd = sr.current_round(project)
    if rnd.pending:
        print(f"scale-up review: {len(rnd.pending)} of {len(rnd.sample)} examples to rate (y = good, n [note] = bad)")
    for ex in rnd.pending:
        show_example(ex, rnd.rated + 1, len(rnd.sample), "scale-up sample")
        line_no, parsed = ask_rating(stdin, interactive, line_no)
        if parsed is None:
            print(f"\nsaved; continue with: tunesmith review {project.slug} scale")
            break
        good, note = parsed
        rnd = sr.rate(project, ex.id, good, note)
        print(f"  {'✓ good' if good else '✗ bad'}{(': ' + note) if note else ''} · saved ({rnd.rated}/{len(rnd.sample)})")
    rnd = sr.current_round(project)
    print(rnd.describe())
    for ex in rnd.sample:
        if rnd.review.notes.get(ex.id):
            print(f"  note on {ex.id} ({rnd.rating(ex.id)}): {rnd.review.notes[ex.id]}")
    print(f"next: {_next(project)}")
    return 0
