"""One start or resume of a scale-up: the streaming loop of :mod:`core.generate.pipeline_scale`.

Every quota cell of the plan is topped up to its own quota (:mod:`core.generate.quota_book`): chunks of one
request each, for the cell that needs most, run as concurrent tasks while any cell still needs examples
beyond what its work on the way is expected to keep; finished examples wait in a buffer; up to
:data:`MAX_FLUSHES` batches are filtered at once while generation goes on; each filtered batch becomes a
part (log, rejected examples, part, then the state: atomic writes in a worker thread, one batch at a time).
A cell that keeps failing gets its own prompt adjustment from its rejection reasons; one that is still
short once its attempt budget is spent is reported short (the run ends without it).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any

from core import store
from core.errors import TunesmithError
from core.generate import pipeline as pl
from core.generate import pipeline_state as ps
from core.generate.pipeline_parts import aux_path, part_size, scale_dir
from core.generate.pipeline_state import PartInfo, ScaleState
from core.generate.quota_book import QuotaBook, key_of
from core.llm.errors import BudgetExceeded, CircuitOpen
from core.models.data import QualityLogRow, TrainingExample
from core.models.project import now
from core.project import Project

HEARTBEAT_S = 10.0
MAX_FLUSHES = 4  # batches filtered at once (the filters' judge calls overlap; parts are numbered as written)
MAX_EMPTY_TASKS = 25  # cells in a row that produced nothing: the generator is stuck
RECENT_CHECKED = 200  # examples the running pass rate is measured over (batch sizes)


class ScaleRun:
    """One start or resume of a scale run."""

    def __init__(self, project: Project, gw: Any, generator: Any, ctx: Any, state: ScaleState,
                 prior_rate: float, progress: pl.Progress | None, kept: list[TrainingExample] | None = None):
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
        self.inflight: dict[asyncio.Task, Any] = {}  # generating tasks -> their cell
        self.flushing: dict[asyncio.Task, int] = {}  # filtering batches -> their sizes
        self.book = book_of(state, prior_rate, kept or [])
        generator.cell_feedback = dict(state.cell_feedback)
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
        """Pass rate of the last :data:`RECENT_CHECKED` examples filtered, with the pilot's as a prior worth 20
        (sizes the filtering batches; each cell's own need uses :meth:`QuotaBook.rate`)."""
        kept = checked = 0
        for part in reversed(self.state.parts):
            kept, checked = kept + part.kept, checked + part.checked
            if checked >= RECENT_CHECKED:
                break
        rate = (kept + 20 * self.prior_rate) / (checked + 20)
        return min(1.0, max(rate, 0.05))

    def pending(self) -> int:
        """Examples generated or being generated that the filters have not judged yet."""
        return sum(self.book.pending.values())

    def needed(self) -> int:
        """Examples still to generate, summed over the cells (see :meth:`QuotaBook.need`)."""
        return self.book.total_need()

    def winding_down(self) -> bool:
        """Nothing more will be generated unless the filters reject more than expected."""
        return bool(self.inflight) and self.needed() <= 0

    # ------------------------------------------------------------ generation

    def batch_size(self) -> int:
        """Examples per filtering batch: enough for about one part of kept examples."""
        return math.ceil(self.size / self.rate())

    def top_up(self) -> None:
        """Start one-request chunks for the cells that need most, until the work in flight is expected to
        fill every cell: a few more than the gateway's concurrency at once (each chunk has one request out
        at a time, so the gateway stays busy while the filters' own model calls do not queue behind a
        flood), none while two batches already wait for the filters."""
        from core.generate.generator import MAX_PER_REQUEST
        from core.generate.plan import Cell

        concurrency = int(getattr(getattr(self.gw, "limiter", None), "max_concurrency", 16))
        limit = 2 * concurrency
        while len(self.inflight) < limit and len(self.buffer) < 2 * self.batch_size():
            key = self.book.pick()
            if key is None:
                return
            kind, category, difficulty, exercises = key.split("|", 3)
            n = min(MAX_PER_REQUEST, self.book.need(key))
            cell = Cell(kind, category, difficulty, n, exercises)
            self.book.start(key, n)
            task = asyncio.ensure_future(
                pl.generate_cells(self.generator, [cell], "scale", self.state.offsets, self.errors))
            self.inflight[task] = cell

    def collect(self, task: asyncio.Task) -> None:
        cell = self.inflight.pop(task, None)
        examples = task.result()  # raises the fatal errors
        fresh, repeats = [], []
        for ex in examples:
            if ex.id in self.seen:
                self.state.duplicate_ids += 1
                repeats.append(ex)
                continue
            self.seen.add(ex.id)
            self.state.seen_ids.append(ex.id)
            fresh.append(ex)
        if cell is not None:  # what did not come back, or came back again, is no longer on its way
            self.book.settle(key_of(cell), cell.count - sum(1 for ex in fresh if key_of(ex) == key_of(cell)))
        if repeats:  # an example generated again counts against its cell's attempts, like a near-duplicate
            self.book.record([], [(ex, ["near_duplicate"]) for ex in repeats])
        self.buffer.extend(fresh)
        self.empty_tasks = 0 if examples else self.empty_tasks + 1
        if self.empty_tasks >= MAX_EMPTY_TASKS:
            last = f" (last error: {self.errors[-1]})" if self.errors else ""
            raise TunesmithError(f"the generator produced nothing for {self.empty_tasks} cells in a row{last}")

    def adjust_cells(self) -> None:
        """A cell that keeps failing gets its own prompt adjustment: its top rejection reasons as
        instructions, in addition to the run's feedback (see :meth:`QuotaBook.struggling`)."""
        feedback = self.generator.cell_feedback
        for key in self.book.quotas:
            if key in feedback or not self.book.struggling(key):
                continue
            reasons = self.book.top_reasons(key)
            feedback[key] = [pl.instruction_for(r) for r in reasons]
            kind, category, difficulty, _ = key.split("|", 3)
            self.emit(message=f"{kind} / {category} / {difficulty} keeps failing ({', '.join(reasons)}): "
                              f"its prompt is adjusted")

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
        for ex in batch:
            self.book.settle(key_of(ex), 1)
        self.book.record(kept, [(ex, [r.reason_code for r in fails]) for ex, fails in outcome.rejected])
        self.adjust_cells()
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
        s.cell_checked = {k: int(v) for k, v in self.book.checked.items() if v}
        s.cell_reasons = {k: dict(c) for k, c in self.book.reasons.items() if c}
        s.exhausted = sorted(self.book.exhausted)
        s.cell_feedback = dict(getattr(self.generator, "cell_feedback", {}) or {})
        s.failed_strategies = {**s.failed_strategies, **(getattr(self.generator, "failed_strategies", {}) or {})}
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
        from core.generate.pipeline_projection import measured_projection

        generated, left = measured_projection(s.target, s.kept, s.checked, self.base["seconds"] + elapsed,
                                              prior_rate=self.prior_rate)
        self.progress(pl.GenerationProgress(
            remaining_s=left, projected_generated=generated,
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
            if self.book.complete() and not self.flushing:
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
                if self.book.complete():
                    break
                # nothing is generating, waiting or being filtered: nothing is on its way either
                self.book.pending.clear()
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


def book_of(state: ScaleState, prior: float, kept: list[TrainingExample]) -> QuotaBook:
    """The quota book of a scale run: its plan and per-cell counts from the state, kept counts from the
    examples on disk (the source of truth)."""
    from collections import Counter

    book = QuotaBook(dict(state.quotas), prior=prior)
    for ex in kept:
        book.kept[book.place(key_of(ex))] += 1
    book.checked.update(state.cell_checked)
    for key, kept_n in list(book.kept.items()):  # a part written after the last state save
        book.checked[key] = max(book.checked[key], kept_n)
    book.reasons = {k: Counter(v) for k, v in state.cell_reasons.items()}
    book.exhausted = set(state.exhausted)
    return book
