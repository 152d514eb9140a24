"""One start or resume of a scale-up: the streaming loop of :mod:`core.generate.pipeline_scale`.

Chunks of one request each run as concurrent tasks, topped up while the kept examples plus those expected
from the work in flight stay below the target; finished examples wait in a buffer; up to
:data:`MAX_FLUSHES` batches are filtered at once while generation goes on; each filtered batch becomes a
part (log, rejected examples, part, then the state: atomic writes in a worker thread, one batch at a time).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from typing import Any

from core import store
from core.errors import TunesmithError
from core.generate import pipeline as pl
from core.generate import pipeline_state as ps
from core.generate.pipeline_parts import aux_path, part_size, scale_dir
from core.generate.pipeline_state import PartInfo, ScaleState
from core.llm.errors import BudgetExceeded, CircuitOpen
from core.models.data import QualityLogRow, TrainingExample
from core.models.project import now
from core.project import Project

HEARTBEAT_S = 10.0
MAX_FLUSHES = 4  # batches filtered at once (the filters' judge calls overlap; parts are numbered as written)
MAX_EMPTY_TASKS = 25  # cells in a row that produced nothing: the generator is stuck
RECENT_CHECKED = 200  # examples the running pass rate is measured over
SAFETY_SIGMAS = 2.0  # margin on the expected kept count of the work in flight (see ScaleRun.needed)


class ScaleRun:
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
        """Pass rate of the last :data:`RECENT_CHECKED` examples filtered (the rate drifts: the more is
        kept, the more the diversity filter finds too close), with the pilot's as a prior worth 20."""
        kept = checked = 0
        for part in reversed(self.state.parts):
            kept, checked = kept + part.kept, checked + part.checked
            if checked >= RECENT_CHECKED:
                break
        rate = (kept + 20 * self.prior_rate) / (checked + 20)
        return min(1.0, max(rate, 0.05))

    def pending(self) -> int:
        """Examples generated or being generated that the filters have not judged yet."""
        return len(self.buffer) + sum(self.flushing.values()) + sum(self.inflight.values())

    def needed(self) -> int:
        """Examples still to generate (before filtering) to reach the target, given the work in flight.

        The work in flight is counted at the running pass rate less a margin of ``SAFETY_SIGMAS`` standard
        deviations of its kept count (binomial): without it, about every other run falls a few examples
        short at the end and has to send a whole generate → critique → filter chain for them while the rest
        of the provider's slots sit idle. The margin costs a few surplus examples (dropped when finalising).
        """
        rate, pending = self.rate(), self.pending()
        margin = SAFETY_SIGMAS * math.sqrt(pending * rate * (1 - rate))
        missing = self.state.target - self.state.kept - rate * pending + margin
        return math.ceil(missing / rate) if missing > 0 else 0

    def winding_down(self) -> bool:
        """Nothing more will be generated unless the filters reject more than expected."""
        return bool(self.inflight) and not self.queue and self.needed() <= 0

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
            # at the end, filter what has arrived at once: its judge calls overlap the last generation
            # requests instead of following them
            while (len(self.flushing) < MAX_FLUSHES and self.buffer
                   and (len(self.buffer) >= n or not self.inflight or self.winding_down())):
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
