"""`tunesmith train NAME [--backend local|hf_jobs] [--base-model M] [--yes] [--follow]`,
`tunesmith runs NAME`, `tunesmith logs NAME RUN [--follow]`, `tunesmith cancel NAME RUN`."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timezone
from typing import TextIO

from core.project import Project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="check the dataset, plan and start a training run (local or HF Jobs)")
    p.add_argument("name")
    p.add_argument("--backend", choices=("local", "hf_jobs"), help="where to train (default: config.train.backend)")
    p.add_argument("--base-model", metavar="M", help="a Hub id or a local folder (default: config.train.base_model)")
    p.add_argument("--yes", action="store_true", help="start without asking")
    p.add_argument("--follow", action="store_true", help="stream the log until the run ends; exit 0 only if it "
                                                         "completed")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list a project's training runs")
    p.add_argument("name")
    from core.commands.jsonout import add_flag

    add_flag(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("logs", help="show a run's log (RUN: its id, a unique part of it, or 'latest')")
    p.add_argument("name")
    p.add_argument("run")
    p.add_argument("--follow", action="store_true", help="keep streaming until the run ends")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("cancel", help="cancel a run (RUN: its id, a unique part of it, or 'latest')")
    p.add_argument("name")
    p.add_argument("run")
    p.set_defaults(func=cmd_cancel)


def _confirm(stdin: TextIO, question: str) -> bool:
    if stdin.isatty():
        print(f"{question} [y/N] ", end="", flush=True)
    line = stdin.readline()
    return line.strip().lower() in ("y", "yes")


def _print(line: str) -> None:
    print(line, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from core.train import service

    project = Project.open(args.name)
    plan = service.plan_training(project, backend=args.backend, base_model=args.base_model)
    print(plan.check.describe())
    print(plan.render(), flush=True)
    from core.evaluate.method_check import check_methods

    methods = check_methods(project)
    if methods.in_scope:
        print(methods.line())
    for warning in methods.warnings:
        print(f"warning: {warning}")
    if not plan.ok:
        print(f"tunesmith train: the dataset cannot be used for {plan.method.upper()} as it is; nothing was "
              f"submitted", file=sys.stderr)
        return 1
    what = "start the run" if plan.backend == "local" else f"submit the job (~${plan.estimated_cost_usd:,.2f})"
    if not args.yes and not _confirm(sys.stdin, f"{what}?"):
        print("training not started")
        return 1
    run = service.start_training(project, plan)
    where = f"pid {run.pid}" if run.pid else (f"job {run.job_id}" if run.job_id else run.backend)
    print(f"started run {run.run_id} on {run.backend} ({where}); status {run.status}", flush=True)
    if not args.follow:
        print(f"follow it: tunesmith logs {project.slug} {run.run_id} --follow")
        return 0 if run.status not in ("failed", "canceled") else 1
    return _follow(project, run.run_id)


def _follow(project: Project, run_id: str, from_start: bool = True) -> int:
    from core.progress import duration

    from core.progress import CliBar
    from core.train import service, timing

    _, run = service.load_run(project, run_id)
    rows: list = []
    total: list[int | None] = [None]  # the step count the runner logs ("... of=500"), for a run planned in epochs
    cli = CliBar("training", timing.live_eta(run, rows), sys.stdout, unit="steps")

    def on_metric(row) -> None:
        rows.append(row)
        cli.eta = timing.live_eta(run, rows, total[0])
        cli.show()

    def on_line(line: str) -> None:
        found = re.search(r"\bof=(\d+)", line)
        if found:
            total[0] = int(found.group(1))
        cli.message(line) if cli.tty else _print(line)

    try:
        final = service.follow(project, run_id, on_line=on_line, on_metric=on_metric, from_start=from_start)
        if rows:
            cli.close()
    except KeyboardInterrupt:
        print(f"\nstopped following; the run goes on. Follow again: tunesmith logs {project.slug} {run_id} --follow; "
              f"stop it: tunesmith cancel {project.slug} {run_id}", file=sys.stderr)
        return 1
    loss = service.final_loss(project, run_id)
    tail = f", final loss {loss:.4f}" if loss is not None else ""
    if final.status == "completed":
        print(f"run {run_id} completed{tail}; model: {final.output_model or final.hub_model_id}")
        if final.actual_seconds is not None:
            planned = f" (planned ~{duration(final.estimated_hours * 3600)})" if final.estimated_hours else ""
            print(f"took {duration(final.actual_seconds)}{planned}; recorded in run.toml for the next plan")
        project.reload()
        print(f"next: {project.meta.next_hint()}")
        return 0
    reason = f": {final.failure_reason}" if final.failure_reason else ""
    print(f"run {run_id} {final.status}{reason}", file=sys.stderr)
    return 1


def _elapsed(run) -> str:
    if run.started_at is None:
        return "-"
    end = run.ended_at or datetime.now(timezone.utc)
    seconds = int((end - run.started_at).total_seconds())
    h, rem = divmod(max(0, seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _elapsed_s(run) -> float | None:
    if run.started_at is None:
        return None
    end = run.ended_at or datetime.now(timezone.utc)
    return max(0.0, round((end - run.started_at).total_seconds(), 3))


def run_json(project: Project, run) -> dict:
    """One run for `runs --json` (docs/json.md)."""
    from core.train import runfolder as rf

    folder = rf.run_dir(project, run.run_id)
    rows = rf.read_metrics(folder)
    losses = [r.loss for r in rows if r.loss is not None]
    eval_losses = [r.eval_loss for r in rows if r.eval_loss is not None]
    return {
        "id": run.run_id, "backend": run.backend, "method": run.method, "status": run.status,
        "base_model": run.base_model, "created_at": run.created_at, "started_at": run.started_at,
        "ended_at": run.ended_at, "elapsed_s": _elapsed_s(run), "failure_reason": run.failure_reason,
        "output_model": run.output_model, "hub_model_id": run.hub_model_id, "job_id": run.job_id,
        "use_lora": run.use_lora,
        "metrics": {"steps": max((r.step for r in rows), default=None),
                    "epoch": next((r.epoch for r in reversed(rows) if r.epoch is not None), None),
                    "final_loss": losses[-1] if losses else None,
                    "final_eval_loss": eval_losses[-1] if eval_losses else None},
        "estimate": timing_summary(run),
        "path": str(folder),
    }


def timing_summary(run) -> dict:
    from core.train.timing import summary

    return summary(run)


def cmd_runs(args: argparse.Namespace) -> int:
    from core.train import service

    project = Project.open(args.name)
    if getattr(args, "json", False):
        from core.commands import jsonout

        with jsonout.human_to_stderr():  # stdout: only the document
            doc = jsonout.document("runs", project=project.slug,
                                   runs=[run_json(project, r) for r in service.list_runs(project)])
        jsonout.emit(doc)
        return 0
    runs = service.list_runs(project)
    if not runs:
        print(f"no training runs yet: tunesmith train {project.slug}")
        return 0
    header = ("run", "backend", "method", "status", "started", "elapsed", "final loss")
    rows = []
    for r in runs:
        loss = service.final_loss(project, r.run_id)
        started = (r.started_at or r.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
        rows.append((r.run_id, r.backend, r.method, r.status, started, _elapsed(r),
                     f"{loss:.4f}" if loss is not None else "-"))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    for r in runs:
        if r.status == "failed" and r.failure_reason:
            print(f"{r.run_id}: {r.failure_reason}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from core.train import runfolder as rf
    from core.train import service

    project = Project.open(args.name)
    run_id = service.resolve_run_id(project, args.run)
    if args.follow:
        return _follow(project, run_id)
    folder, _ = service.load_run(project, run_id)
    run = service.refresh(project, run_id)
    try:
        with (folder / rf.LOG).open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                sys.stdout.write(line)
    except FileNotFoundError:
        pass
    sys.stdout.flush()
    reason = f": {run.failure_reason}" if run.failure_reason and run.status != "completed" else ""
    print(f"[run {run_id}: {run.status}{reason}]", file=sys.stderr)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from core.train import service

    project = Project.open(args.name)
    run_id = service.resolve_run_id(project, args.run)
    before = service.refresh(project, run_id)
    if before.status in ("completed", "failed", "canceled"):
        print(f"run {run_id} had already ended: {before.status}")
        return 0
    run = service.cancel(project, run_id)
    if run.status == "canceled":
        print(f"canceled run {run_id}")
    else:
        print(f"run {run_id} had already ended: {run.status}")
    return 0
