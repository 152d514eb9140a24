"""What the pilot and the scale-up share: progress events, the checks before a run, generating cells
concurrently, and folding filter outcomes into statistics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from core.errors import StageNotReady, TunesmithError
from core.generate import pipeline_state as ps
from core.generate.pipeline_state import STAGE, PilotFeedback
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMNotConfigured
from core.models.data import FilterStats, TrainingExample
from core.models.knowledge import ScopeBoundaries
from core.models.project import now
from core.project import BOUNDARIES, Project

FATAL = (CircuitOpen, BudgetExceeded, LLMNotConfigured)


# ---------------------------------------------------------------- progress


@dataclass
class GenerationProgress:
    """One progress event (the CLI prints ``str(event)``; the TUI reads the fields)."""

    phase: str
    message: str = ""
    done: int = 0  # examples generated and checked by the filters
    kept: int = 0
    target: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    projected_cost_usd: float | None = None
    examples_per_s: float = 0.0  # kept examples per second in this run
    elapsed_s: float = 0.0
    part: int = 0
    retries: int = 0  # provider faults the gateway retried
    failed_requests: int = 0  # requests that failed for good (their examples are simply missing)
    remaining_s: float | None = None  # from this run's measured pace (None until it is measured)
    step_done: int = 0  # a step without a kept target (the pilot's cells): done of total
    step_total: int = 0
    projected_generated: int = 0  # examples the whole run will generate, at its measured pass rate

    @property
    def fraction(self) -> float | None:
        if self.target:
            return min(1.0, self.kept / self.target)
        return min(1.0, self.step_done / self.step_total) if self.step_total else None

    def remaining_text(self) -> str:
        from core.progress import duration

        if self.target and self.kept >= self.target:
            return "done"
        if self.remaining_s is None:
            return "measuring the time left"
        return f"about {duration(self.remaining_s)} left"

    def line(self) -> str:
        if self.message and not self.target:
            return self.message
        from core.llm.usage import money

        top = sorted(self.rejected.items(), key=lambda kv: -kv[1])[:3]
        rej = ", ".join(f"{k} {v}" for k, v in top)
        tokens = self.prompt_tokens + self.completion_tokens
        cost = money(self.cost_usd) + (f" of ~{money(self.projected_cost_usd)}"
                                       if self.projected_cost_usd is not None else "")
        head = f"{self.phase}"
        if self.part:
            head += f" part {self.part}"
        text = (f"{head}: {self.kept}/{self.target} kept · {self.done} checked · "
                f"rejected {self.done - self.kept}{' (' + rej + ')' if rej else ''} · {tokens:,} tokens · "
                f"{cost} · {self.examples_per_s:.1f} examples/s")
        if self.retries or self.failed_requests:
            text += f" · provider faults: {self.retries} retried, {self.failed_requests} failed"
        if self.projected_generated > self.done:
            text += f" · ~{self.projected_generated:,} to generate in all"
        if self.target and (self.remaining_s is not None or self.done):
            text += f" · {self.remaining_text()}"
        return f"{text} · {self.message}" if self.message else text

    __str__ = line


Progress = Callable[[GenerationProgress], None]


def say(progress: Progress | None, phase: str, message: str) -> None:
    if progress is not None:
        progress(GenerationProgress(phase=phase, message=message))


def cell_reporter(progress: Progress | None, phase: str, label: str,
                  every_pct: float = 10.0) -> Callable[[int, int], None] | None:
    """An ``on_cell`` for generate_cells: progress events with the time left from the measured pace, at most
    one per ``every_pct`` percent of the cells (and the last)."""
    if progress is None:
        return None
    from core.progress import Eta

    eta = Eta(total=0)  # started now, with the generation
    shown = [-100.0]

    def on_cell(done: int, total: int) -> None:
        eta.update(done, total)
        pct = 100.0 * done / total if total else 100.0
        if pct - shown[0] < every_pct and done < total:
            return
        shown[0] = pct
        progress(GenerationProgress(phase=phase, message=f"{label}: {eta.line('cells generated')}",
                                    step_done=done, step_total=total, remaining_s=eta.remaining_s(),
                                    elapsed_s=eta.elapsed_s))

    return on_cell


# ---------------------------------------------------------------- preparing a run


def needs_llm_message(project: Project, role: str = "generator") -> str:
    return (
        f"generating training data needs an LLM ({role} role): set TUNESMITH_MODEL (e.g. "
        f"anthropic/claude-sonnet-4-5 or openai/gpt-4o-mini; for a local server also TUNESMITH_API_BASE) or "
        f"[models].{role} in {project.path('project.toml')}. Nothing was generated"
    )


def default_gateway(project: Project, budget_usd: float | None = None) -> Any:
    from core.llm.gateway import Gateway

    return Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm", budget_usd=budget_usd)


def check_ready(project: Project) -> str:
    """Approved boundaries and the frozen, unchanged eval set; returns the eval set's hash."""
    from core.extract.review import verify_frozen

    project.reload()
    b = project.read_or(BOUNDARIES, ScopeBoundaries)
    if b is None or not b.approved or not project.meta.is_done("extract", "boundaries_approved"):
        raise StageNotReady(f"the scope boundaries are not approved yet: tunesmith boundaries {project.slug} --approve")
    return verify_frozen(project)


def check_llm(project: Project, gateway: Any, strategy: Any) -> str:
    """The generator's model string; raises with the 'needs an LLM' message when none is configured."""
    for role in dict.fromkeys((strategy.role, "generator")):
        if not gateway.configured(role):
            raise TunesmithError(needs_llm_message(project, role))
    return gateway.model_for(strategy.role).model


def load_feedback(project: Project) -> PilotFeedback:
    return project.read_or(ps.PILOT_FEEDBACK, PilotFeedback) or PilotFeedback()


def save_feedback(project: Project, fb: PilotFeedback) -> None:
    fb.updated_at = now()
    project.write(ps.PILOT_FEEDBACK, fb)


def cell_key(cell: Any) -> str:
    return f"{cell.kind}|{cell.category}|{cell.difficulty}|{getattr(cell, 'exercises', '')}"


def usage_now(gateway: Any) -> dict[str, float]:
    row = gateway.usage_summary().get(STAGE, {}) or {}
    return {k: float(row.get(k, 0) or 0) for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens",
                                                   "cost_usd")}


def usage_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


async def generate_cells(generator: Any, cells: list[Any], phase: str, offsets: dict[str, int],
                         errors: list[str] | None = None,
                         on_cell: Callable[[int, int], None] | None = None) -> list[TrainingExample]:
    """Every cell generated concurrently; provider faults the gateway could not fix cost that cell only.
    CircuitOpen, BudgetExceeded and LLMNotConfigured stop the run. ``on_cell(done, total)`` after each cell."""
    jobs = []
    finished = [0]

    async def counted(job: Any) -> Any:
        try:
            return await job
        finally:
            finished[0] += 1
            if on_cell is not None:
                on_cell(finished[0], len(cells))

    for cell in cells:
        key = cell_key(cell)
        start = offsets.get(key, 0)
        offsets[key] = start + cell.count
        jobs.append(counted(generator.generate(cell, cell.count, phase, start_index=start)))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    out: list[TrainingExample] = []
    fatal: BaseException | None = None
    for r in results:
        if isinstance(r, BaseException):
            if isinstance(r, FATAL) or not isinstance(r, TunesmithError):
                fatal = fatal or r
            elif errors is not None:
                errors.append(str(r))
            continue
        out.extend(r)
    if fatal is not None:
        raise fatal
    return out


def unique(examples: Iterable[TrainingExample], seen: set[str] | None = None) -> list[TrainingExample]:
    seen = set() if seen is None else seen
    out = []
    for ex in examples:
        if ex.id not in seen:
            seen.add(ex.id)
            out.append(ex)
    return out


# ---------------------------------------------------------------- statistics


def merge_stats(into: dict[str, FilterStats], stats: Any) -> None:
    for name, s in (stats or {}).items():
        cur = into.setdefault(name, FilterStats())
        checked = s.checked if hasattr(s, "checked") else int(s.get("checked", 0))
        passed = s.passed if hasattr(s, "passed") else int(s.get("passed", 0))
        into[name] = FilterStats(checked=cur.checked + checked, passed=cur.passed + passed)


def category_stats(into: dict[str, FilterStats], kept: list[TrainingExample], rejected: list[Any]) -> None:
    for ex, ok in [*((e, True) for e in kept), *((example_of(r), False) for r in rejected)]:
        cur = into.setdefault(ex.category, FilterStats())
        into[ex.category] = FilterStats(checked=cur.checked + 1, passed=cur.passed + (1 if ok else 0))


def rejection_counts(into: dict[str, int], log_rows: list[Any], rejected_ids: set[str]) -> None:
    """Count each rejected example once per distinct failing reason code."""
    seen: set[tuple[str, str]] = set()
    for row in log_rows:
        if row.example_id in rejected_ids and not row.passed and (row.example_id, row.reason_code) not in seen:
            seen.add((row.example_id, row.reason_code))
            into[row.reason_code] = into.get(row.reason_code, 0) + 1


def example_of(item: Any) -> TrainingExample:
    """A rejected item may be the example itself or (example, results)."""
    if isinstance(item, TrainingExample):
        return item
    if isinstance(item, (tuple, list)):
        return item[0]
    return getattr(item, "example")


def diversity_scores(outcome: Any) -> list[float]:
    """Each kept example's highest similarity to the examples kept before it (the diversity filter's score)."""
    return [float(s) for s in outcome.scores("diversity") if s is not None and s >= 0]


def failed_rows(log_rows: list[Any], rejected_ids: set[str]) -> list[Any]:
    return [r for r in log_rows if r.example_id in rejected_ids and not r.passed]
