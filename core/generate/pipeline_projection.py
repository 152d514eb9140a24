"""The projection shown before scale-up: how many examples, requests, tokens, dollars and seconds the
remaining target will take, from the pilot's measured cost per generated example and its pass rate, and
the budget check. Measured rates win over the pilot's: the running (or interrupted) scale-up's own pass
rate and seconds per generated example once it has checked enough examples, else those an earlier
finished scale-up of the project recorded in data/generation_report.toml ("estimate vs actual"). The
pilot runs at a small size and is a poor guide to a long run's pass rate and pace.

    live = measured_projection(target, kept, checked, seconds)   # the running scale-up's own rates
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.errors import StageNotReady, TunesmithError
from core.generate import pipeline_state as ps
from core.models.data import GenerationReport
from core.project import Project

MIN_SCALE_SAMPLE = 50  # checked scale examples before the scale-up's own pass rate is trusted


class BudgetTooLow(TunesmithError):
    """The projected cost of the scale-up is above the budget cap."""


@dataclass
class Projection:
    examples_needed: int  # examples to generate (before filtering) to keep the rest of the target
    requests: int
    tokens: int
    cost_usd: float
    seconds: float
    target: int = 0
    kept: int = 0  # already kept by an interrupted scale-up
    pass_rate: float = 0.0
    spent_usd: float = 0.0  # spent on generation so far (pilot + scale-up)
    budget_usd: float | None = None
    cost_known: bool = True
    basis: str = "the pilot"  # where the pass rate and the time come from

    @property
    def total_usd(self) -> float:
        return self.spent_usd + self.cost_usd

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.total_usd > self.budget_usd + 1e-9

    def describe(self) -> str:
        from core.llm.usage import money

        left = self.target - self.kept
        cost = money(self.cost_usd) if self.cost_known else "unknown (the model's price is not known)"
        text = (f"projection: {left} more examples to keep (of {self.target}) at a {self.pass_rate:.0%} pass rate → "
                f"~{self.examples_needed} to generate, ~{self.requests} requests, ~{self.tokens:,} tokens, "
                f"~{cost}, ~{_duration(self.seconds)} (rates measured on {self.basis})")
        if self.budget_usd is not None:
            text += f"; budget {money(self.budget_usd)} ({money(self.spent_usd)} spent so far)"
        return text


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    return f"{s / 3600:.1f} h"


def projection(project: Project, target: int | None = None, gateway: Any = None,
               budget_usd: float | None = None, fresh: bool = False) -> Projection:
    """What the rest of the scale-up will take (``fresh``: a new scale-up, ignoring an earlier one's state);
    see the module docstring."""
    report = project.read_or(ps.PILOT_REPORT, GenerationReport)
    run = project.read_or(ps.PILOT_RUN, ps.PilotRun)
    if report is None or run is None:
        raise StageNotReady(f"no pilot yet: tunesmith generate {project.slug} --pilot")
    cfg = project.meta.config.generate
    state = None if fresh else project.read_or(ps.SCALE_STATE, ps.ScaleState)
    target = target or (state.target if state else cfg.target_size)
    kept = min(state.kept, target) if state else 0
    generated = sum(a.generated for a in run.attempts) or report.generated or 1
    rate = report.pass_rate
    seconds_per = report.seconds / generated
    requests_per = (run.requests + run.cache_hits) / generated
    basis = "the pilot"
    from core.generate.report import read_summary

    earlier = read_summary(project).scale
    if state is not None and state.checked >= MIN_SCALE_SAMPLE:
        rate, basis = state.pass_rate, "this scale-up so far"
        if state.seconds > 0:
            seconds_per = state.seconds / state.checked
        if state.requests + state.cache_hits > 0:
            requests_per = (state.requests + state.cache_hits) / state.checked
    elif earlier is not None and earlier.phase == "scale" and earlier.generated >= MIN_SCALE_SAMPLE:
        rate, basis = earlier.pass_rate, "the previous scale-up"
        if earlier.seconds > 0:
            seconds_per = earlier.seconds / earlier.generated
        if earlier.requests:
            requests_per = earlier.requests / earlier.generated
    rate = max(rate, 0.01)
    need = math.ceil(max(0, target - kept) / rate)
    per = need / generated
    requests = math.ceil(requests_per * need)
    tokens = round((report.prompt_tokens + report.completion_tokens) * per)
    cost = report.cost_usd * per
    known = report.cost_usd > 0
    if not known and gateway is not None and requests and tokens:
        try:
            avg_p = report.prompt_tokens // max(1, run.requests)
            avg_c = report.completion_tokens // max(1, run.requests)
            role = "generator"
            cost = gateway.projected_cost(requests, avg_p, avg_c, role)
            known = cost > 0
        except Exception:
            cost = 0.0
    spent = report.cost_usd + (state.cost_usd if state else 0.0)
    budget = budget_usd if budget_usd is not None else cfg.budget_usd
    return Projection(examples_needed=need, requests=requests, tokens=tokens, cost_usd=round(cost, 4),
                      seconds=seconds_per * need, target=target, kept=kept, pass_rate=rate,
                      spent_usd=round(spent, 4), budget_usd=budget, cost_known=known, basis=basis)


def measured_projection(target: int, kept: int, checked: int, seconds: float,
                        prior_rate: float | None = None) -> tuple[int, float | None]:
    """(examples the whole scale-up will generate, seconds left) from the running scale-up's measured pass
    rate and seconds per checked example (the prior pass rate until MIN_SCALE_SAMPLE were checked)."""
    rate = kept / checked if checked >= MIN_SCALE_SAMPLE and kept else (prior_rate or 0.0)
    if rate <= 0:
        return checked, None
    more = math.ceil(max(0, target - kept) / rate)
    per = seconds / checked if checked and seconds > 0 else None
    return checked + more, (more * per if per is not None else None)


def check_budget(p: Projection) -> None:
    """Refuse when the projected total is above the budget cap."""
    if not p.over_budget:
        return
    from core.llm.usage import money

    raise BudgetTooLow(
        f"the projected cost {money(p.total_usd)} (spent {money(p.spent_usd)} + ~{money(p.cost_usd)} to go) is "
        f"above the budget cap of {money(p.budget_usd or 0)}; raise the cap with --budget USD (or budget_usd in "
        f"[config.generate] of project.toml), or lower --target. Nothing was generated"
    )
