"""Scale-up: generate until ``target`` examples are kept, in checkpointed parts, resumable after kill -9.

Generation streams: cells (from :func:`plan_cells`, in waves) run as concurrent tasks while their number
is topped up so that the examples kept so far plus those expected from the work in flight (at the
running pass rate) just reach the target. Finished examples collect in a buffer; a full buffer is
filtered (up to MAX_FLUSHES batches at once, while generation goes on) and written as
``data/scale/part-NNNNN.parquet`` — atomically, and only after its examples passed the filters — after
its quality-log rows (``log-NNNNN.parquet``) and rejected examples (``rejected-NNNNN.parquet``);
then ``data/scale/state.toml`` is rewritten atomically.

The parts on disk are the source of truth. On resume, every part is read back (ids de-duplicated), parts
written after the last state save are counted in, the diversity filter's memory (``ctx.kept_vectors``)
is re-derived from the kept examples, and generation continues. Ids already seen (kept or rejected) are
dropped before filtering, so nothing is kept twice. The last part may overshoot; finalising trims to
exactly the target. A CircuitOpen or BudgetExceeded pauses the run (state saved) and is re-raised.

The streaming loop is :class:`core.generate.pipeline_run.ScaleRun`; the checkpoint files are
:mod:`core.generate.pipeline_parts`; the projection and budget check :mod:`core.generate.pipeline_projection`.
"""

from __future__ import annotations

import os
from typing import Any

from core.errors import BadInput, StageNotReady, TunesmithError
from core.generate import pipeline as pl
from core.generate import pipeline_state as ps
from core.generate import previous
from core.generate.pipeline_parts import load_parts, load_state, part_size, reconcile, scale_dir
from core.generate.pipeline_projection import BudgetTooLow, Projection, check_budget, projection
from core.generate.pipeline_run import ScaleRun as _Run
from core.generate.pipeline_state import ScaleState
from core.models.data import GenerationReport
from core.models.project import now
from core.project import Project

__all__ = ["BudgetTooLow", "Projection", "projection", "check_budget", "arun_scale", "run_scale",
           "load_state", "load_parts", "part_size", "scale_dir"]

# ---------------------------------------------------------------- public API


def _new_state(project: Project, target: int, eval_hash: str, strategy: Any, model: str) -> ScaleState:
    run = project.read_or(ps.PILOT_RUN, ps.PilotRun)
    return ScaleState(target=target, pilot_id=run.pilot_id if run else "", eval_hash=eval_hash,
                      strategy=strategy.name, model=model, started_at=now(), quotas=quotas_for(project, target))


def quotas_for(project: Project, target: int) -> dict[str, int]:
    """The scale run's fixed plan: every quota cell's key and count (core/generate/plan.py)."""
    from core.generate.plan import plan_cells

    return {c.key: c.count for c in plan_cells(project, target, seed=0)}


def _start_fresh(project: Project) -> None:
    import shutil

    with project.writing():
        for rel in (ps.SCALE_DIR, ps.DATASET_DIR):
            if project.exists(rel):
                shutil.rmtree(project.path(rel))
        project.reload()
        if project.meta.is_done("generate", "scale"):
            project.mark("generate", "scale", done=False)
        elif project.meta.is_done("generate", "validated"):
            project.mark("generate", "validated", done=False)


MAX_TARGET = 10_000  # the spec's range for target_size (1K-10K)
MAX_LARGE_TARGET = 1_000_000  # with TUNESMITH_ALLOW_LARGE_TARGET=1: beyond it nothing is planned at all


def check_target(target: int | None) -> None:
    """A scale-up size in range, checked before anything is read, deleted or spent."""
    if target is None:
        return
    if target < 1:
        raise BadInput(f"--target: must be at least 1 (got {target})")
    large = os.environ.get("TUNESMITH_ALLOW_LARGE_TARGET", "").strip().lower() in {"1", "true", "yes"}
    limit = MAX_LARGE_TARGET if large else MAX_TARGET
    if target > limit:
        more = ("" if large else f"; for a larger run set TUNESMITH_ALLOW_LARGE_TARGET=1 (up to {MAX_LARGE_TARGET:,})")
        raise BadInput(f"--target: at most {limit:,} examples (got {target:,}; the spec's range is 1,000 to "
                       f"{MAX_TARGET:,}){more}; nothing was changed")


async def arun_scale(project: Project, gateway: Any = None, *, target: int | None = None, resume: bool = False,
                     restart: bool = False, budget_usd: float | None = None, progress: pl.Progress | None = None,
                     embedder: Any = None, tokenizer: Any = None, replace: bool = False) -> GenerationReport:
    """Scale up to ``target`` (default config target_size) kept examples, then finalise the dataset.

    ``resume``: continue the interrupted run. ``restart``: discard an unfinished run and start over.
    ``budget_usd``: the generation budget cap (default config budget_usd); the run refuses to start when
    the projection exceeds it, and pauses (BudgetExceeded) if spending reaches it. ``replace``: a new
    (not resumed) run may replace a finished dataset; without it :class:`previous.DatasetExists` stops the
    run before anything is touched. The old dataset is set aside and put back unless the new one is
    finalised (:mod:`core.generate.previous`). The project's lock is held for the whole run."""
    with project.writing():
        restored = previous.recover(project)
        if restored is not None:
            pl.say(progress, "scale", f"an earlier replacement did not finish: the previous dataset "
                                      f"({restored.rows:,} examples) is back in {project.path(ps.DATASET_DIR)}")
        return await _arun_scale(project, gateway, target=target, resume=resume, restart=restart,
                                 budget_usd=budget_usd, progress=progress, embedder=embedder, tokenizer=tokenizer,
                                 replace=replace)


async def _arun_scale(project: Project, gateway: Any, *, target: int | None, resume: bool, restart: bool,
                      budget_usd: float | None, progress: pl.Progress | None, embedder: Any,
                      tokenizer: Any, replace: bool) -> GenerationReport:
    from core.generate import dataset as ds
    from core.generate.strategy import strategy_for

    check_target(target)
    eval_hash = pl.check_ready(project)
    if not project.meta.is_done("generate", "pilot_approved"):
        raise StageNotReady(f"the pilot is not approved yet: tunesmith review {project.slug} pilot")
    cfg = project.meta.config.generate
    state = load_state(project)
    pilot = project.read_or(ps.PILOT_RUN, ps.PilotRun)
    if resume:
        if state is None:
            raise StageNotReady(f"there is no scale-up to resume: tunesmith generate {project.slug} --scale")
        if pilot is not None and state.pilot_id and state.pilot_id != pilot.pilot_id:
            raise StageNotReady(f"the pilot changed since this scale-up started; start over: "
                                f"tunesmith generate {project.slug} --scale --restart")
        if state.eval_hash and state.eval_hash != eval_hash:
            raise StageNotReady("the eval set changed since this scale-up started (its leakage check used the old "
                                f"one); start over: tunesmith generate {project.slug} --scale --restart")
        if target is not None and target != state.target:
            state.target = target
            state.quotas = {}
        if not state.quotas:  # a run started before per-cell quotas, or a new target
            state.quotas = quotas_for(project, state.target)
        state.exhausted = []  # a resumed run tries the cells it gave up on again
    elif state is not None and state.status != "complete" and not restart:
        raise TunesmithError(
            f"a scale-up is in progress ({state.kept}/{state.target} kept): continue it with "
            f"tunesmith generate {project.slug} --resume, or start over with --scale --restart")
    replacing = 0 if resume else previous.finished_rows(project)
    if replacing and not replace:
        raise previous.refusal(project, replacing)
    strategy = strategy_for(project)
    own_gw = gateway is None
    budget = budget_usd if budget_usd is not None else cfg.budget_usd
    gw = pl.default_gateway(project) if own_gw else gateway
    ctx_box: list[Any] = []  # the filter context, once built (its embedder is closed at the end)
    try:
        model = pl.check_llm(project, gw, strategy)
        if resume:
            assert state is not None
            kept = reconcile(project, state)
            from core.generate.pipeline_run import book_of

            if state.status == "complete" and book_of(state, 0.7, kept).complete():
                return ds.finalise(project, state, kept, progress=progress)
        else:
            kept = []
            target = target or cfg.target_size
        proj = projection(project, target=state.target if resume else target, gateway=gw, budget_usd=budget,
                          fresh=not resume)
        check_budget(proj)  # before anything is deleted or spent
        if not resume:
            if replacing:
                previous.set_aside(project)
                pl.say(progress, "scale", f"the finished dataset ({replacing:,} examples) is set aside in "
                                          f"{project.path(previous.PREVIOUS_DIR)} until the new one is finalised")
            try:
                _start_fresh(project)
                state = _new_state(project, target, eval_hash, strategy, model)
            except BaseException as exc:
                _put_back(project, exc, progress, replacing)
                raise
        assert state is not None
        try:
            report = await _generate(project, gw, state, resume=resume, kept=kept, proj=proj, budget=budget,
                                     progress=progress, embedder=embedder, tokenizer=tokenizer,
                                     strategy=strategy, model=model, ctx_out=ctx_box)
        except BaseException as exc:
            _put_back(project, exc, progress, replacing)
            raise
        if replacing:
            previous.discard(project)
        return report
    finally:
        ctx = ctx_box[0] if ctx_box else None
        if embedder is None and ctx is not None and ctx.embedder is not None:
            ctx.embedder.close()
        if own_gw:
            gw.close()


def _put_back(project: Project, exc: BaseException, progress: pl.Progress | None, replacing: int) -> None:
    """The replacement did not finish: the previous dataset goes back (the error says so)."""
    if not replacing:
        return
    note = previous.restore(project)
    if note is None:
        return
    what = (f"the previous dataset ({note.rows:,} examples) is back in {project.path(ps.DATASET_DIR)}; the "
            f"unfinished replacement was discarded")
    exc.previous_restored = note  # type: ignore[attr-defined]
    if isinstance(exc, TunesmithError) and exc.args:
        exc.args = (f"{exc.args[0]}; {what}", *exc.args[1:])
    pl.say(progress, "scale", what)


async def _generate(project: Project, gw: Any, state: ScaleState, *, resume: bool, kept: list[Any], proj: Projection,
                    budget: float | None, progress: pl.Progress | None, embedder: Any, tokenizer: Any,
                    strategy: Any, model: str, ctx_out: list[Any]) -> GenerationReport:
    """The run itself, once its state is in place: generate, then finalise."""
    from core.generate import dataset as ds
    from core.generate.filters.chain import build_context
    from core.generate.generator import Generator

    if budget is not None:  # the gateway pauses the run once the rest of the budget is spent
        gw.budget_usd = gw.spent_usd + max(0.0, budget - proj.spent_usd)
    state.status, state.pause_reason, state.runs = "running", "", state.runs + 1
    if not state.projected_generated:  # the first projection, kept to compare with what it took
        state.projected_generated = proj.examples_needed
        state.projected_requests = proj.requests
        state.projected_seconds = round(proj.seconds, 1)
    project.write(ps.SCALE_STATE, state)
    fb = pl.load_feedback(project)
    ctx = build_context(project, gw, embedder=embedder, tokenizer=tokenizer)
    ctx_out.append(ctx)
    notes = [*await pl.run_notes(project, ctx, gw, strategy), *pl.expire_feedback(fb, ctx)]
    pl.save_feedback(project, fb)
    generator = Generator(project, gw, strategy, feedback=fb.lines(), avoid=[])
    generator.avoid = ctx.avoid  # the diversity filter's near-misses: "avoid these" in the prompts
    if kept:
        ds.remember_kept(ctx, kept)
    pl.say(progress, "scale", f"scale-up to {state.target} examples" + (f" (resuming: {state.kept} kept in "
           f"{len(state.parts)} parts)" if resume else "") + f" · parts of ~{part_size(state.target)} · "
           f"strategy {strategy.name} · model {model}")
    prior = pilot_pass_rate(project)
    for note in notes:
        pl.say(progress, "scale", f"note: {note}")
    pl.say(progress, "scale", "thresholds: " + "; ".join(pl.settings_of(ctx)))
    run = _Run(project, gw, generator, ctx, state, prior, progress, kept)
    await run.run()
    run.save("complete")
    return ds.finalise(project, state, load_parts(project), progress=progress, tokenizer=ctx.tokenizer,
                       notes=notes, settings=pl.settings_of(ctx))


def pilot_pass_rate(project: Project) -> float:
    report = project.read_or(ps.PILOT_REPORT, GenerationReport)
    return report.pass_rate if report and report.pass_rate > 0 else 0.7


def run_scale(project: Project, gateway: Any = None, **kwargs: Any) -> GenerationReport:
    """Synchronous :func:`arun_scale` (for the CLI and worker threads)."""
    from core.llm.gateway import run_sync

    return run_sync(arun_scale(project, gateway, **kwargs))
