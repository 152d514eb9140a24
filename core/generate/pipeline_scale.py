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
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from typing import Any

from core import store
from core.errors import BadInput, StageNotReady, TunesmithError
from core.generate import pipeline as pl
from core.generate import pipeline_state as ps
from core.generate.pipeline_parts import aux_path, load_parts, load_state, part_size, reconcile, scale_dir
from core.generate.pipeline_projection import BudgetTooLow, Projection, check_budget, projection
from core.generate.pipeline_state import PartInfo, ScaleState
from core.llm.errors import BudgetExceeded, CircuitOpen
from core.models.data import GenerationReport, QualityLogRow, TrainingExample
from core.models.project import now
from core.project import Project

__all__ = ["BudgetTooLow", "Projection", "projection", "check_budget", "arun_scale", "run_scale",
           "load_state", "load_parts", "part_size"]

HEARTBEAT_S = 10.0
MAX_FLUSHES = 4  # batches filtered at once (the filters' judge calls overlap; parts are numbered as written)
MAX_EMPTY_TASKS = 25  # cells in a row that produced nothing: the generator is stuck


class _Run:
    """One start or resume of a scale run."""

    def __init__(self, project: Project, gw: Any, generator: Any, ctx: Any, state: ScaleState,
                 prior_rate: float, progress: pl.Progress | None):
        from core.generate.plan import plan_cells

        self.plan_cells = plan_cells
        self.project, self.gw, self.generator, self.ctx, self.state = project, gw, generator, ctx, state
        self.progress = progress
        self.prior_rate = prior_rate
        self.size = part_size(state.target)
        self.seen = set(state.seen_ids)
        self.next_part = max([ps.part_number(p.name) for p in state.parts] + [0]) + 1
        self.t0 = time.monotonic()
        self.kept_at_start = state.kept
        self.base = {"seconds": state.seconds, "requests": state.requests, "cache_hits": state.cache_hits,
                     "prompt_tokens": state.prompt_tokens, "completion_tokens": state.completion_tokens,
                     "cost_usd": state.cost_usd}
        self.usage0 = pl.usage_now(gw)
        self.retries0 = self._retries()
        self.base["provider_retries"] = state.provider_retries
        self.base["failed_requests"] = state.failed_requests
        self.gen_failed0 = self._gen_failed()
        self.buffer: list[TrainingExample] = []
        self.queue: deque[Any] = deque()
        self.inflight: dict[asyncio.Task, int] = {}
        self.flushing: dict[asyncio.Task, int] = {}  # filtering batches -> their sizes
        self.write_lock = asyncio.Lock()
        self.writes: set[asyncio.Future] = set()
        self.errors: list[str] = []
        self.empty_tasks = 0
        self.last_event = time.monotonic()

    def _retries(self) -> int:
        return int(getattr(getattr(self.gw, "limiter", None), "retries", 0) or 0)

    def _gen_failed(self) -> int:
        return int((getattr(self.generator, "stats", None) or {}).get("failed_requests", 0))

    def failed_requests(self) -> int:
        return self._gen_failed() - self.gen_failed0 + len(self.errors)

    def last_error(self) -> str:
        from core.llm.errors import scrub

        last = self.errors[-1] if self.errors else (getattr(self.generator, "last_error", "") or "")
        return scrub(last)[:300]

    # ------------------------------------------------------------ estimates

    def rate(self) -> float:
        """Running pass rate, with the pilot's as a prior worth 20 examples."""
        s = self.state
        rate = (s.kept + 20 * self.prior_rate) / (s.checked + 20)
        return min(1.0, max(rate, 0.05))

    def expected(self) -> float:
        pending = len(self.buffer) + sum(self.flushing.values()) + sum(self.inflight.values())
        return self.state.kept + self.rate() * pending

    def needed(self) -> int:
        """Examples still to generate (before filtering) to reach the target, given the work in flight."""
        missing = self.state.target - self.expected()
        return math.ceil(missing / self.rate()) if missing > 0 else 0

    # ------------------------------------------------------------ generation

    def batch_size(self) -> int:
        """Examples per filtering batch: enough for about one part of kept examples."""
        return math.ceil(self.size / self.rate())

    def plan(self) -> None:
        """Queue the whole remaining need at once (exact quotas), cut into one-request chunks and shuffled,
        so examples flow steadily and stopping anywhere leaves no kind or category short."""
        from core.generate.generator import MAX_PER_REQUEST
        from core.generate.plan import Cell

        self.state.waves += 1
        chunks = [Cell(c.kind, c.category, c.difficulty, min(MAX_PER_REQUEST, c.count - i), c.exercises)
                  for c in self.plan_cells(self.project, self.needed(), seed=self.state.waves)
                  for i in range(0, c.count, MAX_PER_REQUEST)]
        random.Random(f"{self.project.slug}:{self.state.waves}").shuffle(chunks)
        self.queue.extend(chunks)

    def top_up(self) -> None:
        """Start chunks until the work in flight is expected to reach the target: a few more than the
        gateway's concurrency at once (each chunk has one request out at a time, so the gateway stays busy
        while the filters' own model calls do not queue behind a flood), none while two batches already
        wait for the filters."""
        concurrency = int(getattr(getattr(self.gw, "limiter", None), "max_concurrency", 16))
        limit = 2 * concurrency
        while len(self.inflight) < limit and len(self.buffer) < 2 * self.batch_size():
            if self.needed() <= 0:
                self.queue.clear()  # planned work no longer needed
                return
            if not self.queue:
                self.plan()
                if not self.queue:
                    return
            cell = self.queue.popleft()
            task = asyncio.ensure_future(
                pl.generate_cells(self.generator, [cell], "scale", self.state.offsets, self.errors))
            self.inflight[task] = cell.count

    def collect(self, task: asyncio.Task) -> None:
        self.inflight.pop(task, None)
        examples = task.result()  # raises the fatal errors
        fresh = []
        for ex in examples:
            if ex.id in self.seen:
                self.state.duplicate_ids += 1
                continue
            self.seen.add(ex.id)
            self.state.seen_ids.append(ex.id)
            fresh.append(ex)
        self.buffer.extend(fresh)
        self.empty_tasks = 0 if examples else self.empty_tasks + 1
        if self.empty_tasks >= MAX_EMPTY_TASKS:
            last = f" (last error: {self.errors[-1]})" if self.errors else ""
            raise TunesmithError(f"the generator produced nothing for {self.empty_tasks} cells in a row{last}")

    # ------------------------------------------------------------ filtering and parts

    async def flush(self, batch: list[TrainingExample]) -> None:
        """Filter a batch, then write its log, rejected examples, part and the state (in that order, each
        atomically, off the event loop; one batch at a time writes)."""
        from core.generate.filters.chain import run_filters

        outcome = await run_filters(batch, self.ctx, "scale")
        kept = list(outcome.kept)
        rejected = [pl.example_of(r) for r in outcome.rejected]
        rejected_ids = {ex.id for ex in rejected}
        rows = pl.failed_rows(outcome.log_rows, rejected_ids)
        async with self.write_lock:
            number = self.next_part
            self.next_part += 1
            s = self.state
            s.parts.append(PartInfo(name=ps.part_name(number), kept=len(kept), checked=len(batch), written_at=now()))
            s.kept += len(kept)
            s.checked += len(batch)
            pl.merge_stats(s.filters, outcome.stats)
            pl.category_stats(s.categories, kept, rejected)
            pl.rejection_counts(s.rejected_by_reason, outcome.log_rows, rejected_ids)
            scores = pl.diversity_scores(outcome)
            if scores:
                s.diversity_sum += sum(scores)
                s.diversity_count += len(scores)
                s.diversity_max = max([*scores, *([s.diversity_max] if s.diversity_max is not None else [])])
            state_text = self.state_text()

            async def commit() -> None:
                await asyncio.to_thread(self._write, number, rows, rejected, kept, state_text)
                self.emit(part=number)

            write = asyncio.ensure_future(commit())
            self.writes.add(write)
            write.add_done_callback(self.writes.discard)
            await asyncio.shield(write)  # a cancelled flush still finishes its writes (and reports them)

    def _write(self, number: int, rows: list[QualityLogRow], rejected: list[TrainingExample],
               kept: list[TrainingExample], state_text: str) -> None:
        store.write_parquet(aux_path(self.project, "log", number), rows, QualityLogRow)
        store.write_parquet(aux_path(self.project, "rejected", number), rejected, TrainingExample)
        store.write_parquet(scale_dir(self.project) / ps.part_name(number), kept, TrainingExample)  # after filtering
        store.atomic_write_text(self.project.path(ps.SCALE_STATE), state_text)

    def state_text(self, status: str | None = None, reason: str = "") -> str:
        """The state with the usage so far, as TOML (serialised on the event loop's thread)."""
        s = self.state
        used = pl.usage_delta(self.usage0, pl.usage_now(self.gw))
        s.seconds = round(self.base["seconds"] + time.monotonic() - self.t0, 3)
        s.requests = int(self.base["requests"] + used["calls"])
        s.cache_hits = int(self.base["cache_hits"] + used["cache_hits"])
        s.prompt_tokens = int(self.base["prompt_tokens"] + used["prompt_tokens"])
        s.completion_tokens = int(self.base["completion_tokens"] + used["completion_tokens"])
        s.cost_usd = round(self.base["cost_usd"] + used["cost_usd"], 6)
        s.provider_retries = int(self.base["provider_retries"] + self._retries() - self.retries0)
        s.failed_requests = int(self.base["failed_requests"] + self.failed_requests())
        s.last_error = self.last_error() or s.last_error
        if status:
            s.status = status  # type: ignore[assignment]
            s.pause_reason = reason
        s.updated_at = now()
        return store.dump_toml(s)

    def save(self, status: str | None = None, reason: str = "") -> None:
        store.atomic_write_text(self.project.path(ps.SCALE_STATE), self.state_text(status, reason))

    def emit(self, part: int = 0, message: str = "") -> None:
        self.last_event = time.monotonic()
        if self.progress is None:
            return
        s = self.state
        elapsed = time.monotonic() - self.t0
        used = pl.usage_delta(self.usage0, pl.usage_now(self.gw))
        cost = self.base["cost_usd"] + used["cost_usd"]
        self.progress(pl.GenerationProgress(
            phase="scale", message=message, done=s.checked, kept=s.kept, target=s.target,
            rejected=dict(s.rejected_by_reason),
            prompt_tokens=int(self.base["prompt_tokens"] + used["prompt_tokens"]),
            completion_tokens=int(self.base["completion_tokens"] + used["completion_tokens"]),
            cost_usd=cost, projected_cost_usd=(cost / s.kept * s.target) if s.kept else None,
            examples_per_s=(s.kept - self.kept_at_start) / elapsed if elapsed > 0 else 0.0,
            elapsed_s=elapsed, part=part, retries=int(self.base["provider_retries"] + self._retries() - self.retries0),
            failed_requests=int(self.base["failed_requests"] + self.failed_requests()),
        ))

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        try:
            await self._loop()
        except BaseException as exc:
            await self._cancel()
            if isinstance(exc, (CircuitOpen, BudgetExceeded, TunesmithError)):
                self.save("paused", str(exc))
            else:
                self.save()
            raise

    async def _cancel(self) -> None:
        tasks = [*self.inflight, *self.flushing]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*list(self.writes), return_exceptions=True)
        self.inflight.clear()
        self.flushing.clear()

    async def _loop(self) -> None:
        s = self.state
        while True:
            for task in [t for t in self.flushing if t.done()]:
                del self.flushing[task]
                task.result()
            if s.kept >= s.target:
                break
            self.top_up()
            n = self.batch_size()
            while (len(self.flushing) < MAX_FLUSHES and self.buffer
                   and (len(self.buffer) >= n or not self.inflight)):
                batch, self.buffer = self.buffer[:n], self.buffer[n:]
                self.flushing[asyncio.ensure_future(self.flush(batch))] = len(batch)
            waits = [*self.inflight, *self.flushing]
            if not waits:
                if s.checked > 10 * s.target + 200:
                    raise TunesmithError(f"the filters rejected almost everything ({s.kept} kept of {s.checked}); "
                                         f"see {self.project.path(ps.QUALITY_LOG)}")
                continue
            done, _ = await asyncio.wait(waits, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in self.inflight:
                    self.collect(task)
            if time.monotonic() - self.last_event >= HEARTBEAT_S:
                self.emit(message=f"{len(self.inflight)} cells generating, "
                                  f"{len(self.buffer) + sum(self.flushing.values())} examples at the filters")
        await self._cancel()  # the target is reached: work still in flight is not needed


# ---------------------------------------------------------------- public API


def _new_state(project: Project, target: int, eval_hash: str, strategy: Any, model: str) -> ScaleState:
    run = project.read_or(ps.PILOT_RUN, ps.PilotRun)
    return ScaleState(target=target, pilot_id=run.pilot_id if run else "", eval_hash=eval_hash,
                      strategy=strategy.name, model=model, started_at=now())


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


async def arun_scale(project: Project, gateway: Any = None, *, target: int | None = None, resume: bool = False,
                     restart: bool = False, budget_usd: float | None = None, progress: pl.Progress | None = None,
                     embedder: Any = None, tokenizer: Any = None) -> GenerationReport:
    """Scale up to ``target`` (default config target_size) kept examples, then finalise the dataset.

    ``resume``: continue the interrupted run. ``restart``: discard an unfinished run and start over.
    ``budget_usd``: the generation budget cap (default config budget_usd); the run refuses to start when
    the projection exceeds it, and pauses (BudgetExceeded) if spending reaches it. The project's lock is
    held for the whole run."""
    with project.writing():
        return await _arun_scale(project, gateway, target=target, resume=resume, restart=restart,
                                 budget_usd=budget_usd, progress=progress, embedder=embedder, tokenizer=tokenizer)


async def _arun_scale(project: Project, gateway: Any, *, target: int | None, resume: bool, restart: bool,
                      budget_usd: float | None, progress: pl.Progress | None, embedder: Any,
                      tokenizer: Any) -> GenerationReport:
    from core.generate import dataset as ds
    from core.generate.filters.chain import build_context
    from core.generate.generator import Generator
    from core.generate.strategy import strategy_for

    if target is not None and target < 1:
        raise BadInput(f"--target: must be at least 1 (got {target})")
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
        if target is not None:
            state.target = target
    else:
        if state is not None and state.status != "complete" and not restart:
            raise TunesmithError(
                f"a scale-up is in progress ({state.kept}/{state.target} kept): continue it with "
                f"tunesmith generate {project.slug} --resume, or start over with --scale --restart")
        _start_fresh(project)
        state = None
    strategy = strategy_for(project)
    own_gw = gateway is None
    budget = budget_usd if budget_usd is not None else cfg.budget_usd
    gw = pl.default_gateway(project) if own_gw else gateway
    ctx = None
    try:
        model = pl.check_llm(project, gw, strategy)
        if state is None:
            state = _new_state(project, target or cfg.target_size, eval_hash, strategy, model)
        elif state.eval_hash and state.eval_hash != eval_hash:
            raise StageNotReady("the eval set changed since this scale-up started (its leakage check used the old "
                                f"one); start over: tunesmith generate {project.slug} --scale --restart")
        kept = reconcile(project, state) if resume else []
        if state.status == "complete" and state.kept >= state.target:
            return ds.finalise(project, state, kept, progress=progress)
        proj = projection(project, target=state.target, gateway=gw, budget_usd=budget)
        check_budget(proj)
        if budget is not None:  # the gateway pauses the run once the rest of the budget is spent
            gw.budget_usd = gw.spent_usd + max(0.0, budget - proj.spent_usd)
        state.status, state.pause_reason, state.runs = "running", "", state.runs + 1
        project.write(ps.SCALE_STATE, state)
        fb = pl.load_feedback(project)
        generator = Generator(project, gw, strategy, feedback=fb.lines(), avoid=[])
        ctx = build_context(project, gw, embedder=embedder, tokenizer=tokenizer)
        generator.avoid = ctx.avoid  # the diversity filter's near-misses: "avoid these" in the prompts
        if kept:
            ds.remember_kept(ctx, kept)
        pl.say(progress, "scale", f"scale-up to {state.target} examples" + (f" (resuming: {state.kept} kept in "
               f"{len(state.parts)} parts)" if resume else "") + f" · parts of ~{part_size(state.target)} · "
               f"strategy {strategy.name} · model {model}")
        prior = pilot_pass_rate(project)
        run = _Run(project, gw, generator, ctx, state, prior, progress)
        await run.run()
        run.save("complete")
        return ds.finalise(project, state, load_parts(project), progress=progress, tokenizer=ctx.tokenizer)
    finally:
        if embedder is None and ctx is not None and ctx.embedder is not None:
            ctx.embedder.close()
        if own_gw:
            gw.close()


def pilot_pass_rate(project: Project) -> float:
    report = project.read_or(ps.PILOT_REPORT, GenerationReport)
    return report.pass_rate if report and report.pass_rate > 0 else 0.7


def run_scale(project: Project, gateway: Any = None, **kwargs: Any) -> GenerationReport:
    """Synchronous :func:`arun_scale` (for the CLI and worker threads)."""
    from core.llm.gateway import run_sync

    return run_sync(arun_scale(project, gateway, **kwargs))
