"""Before a generation run lets the judge overrule the filters' rules, the judge must agree with what
is already known: the approved, frozen eval set.

Up to :data:`SAMPLE` eval examples (in-scope ones and out-of-scope ones, alternating) are shown to the
judge exactly as the constraint filter shows training examples, each with its reference as the response.
Their right verdicts are known: an in-scope request answered by its reference is in scope, does not
decline and breaks no rule; an out-of-scope request answered by its expected refusal declines and breaks
no rule either. When the judge gets fewer than :data:`THRESHOLD` of them right, the run does not use it
(the filters fall back to the refusal rule and their other offline checks) and the run's report says so:
a judge that calls a plain refusal "not declining" would otherwise reject every refusal example.

One call per batch of ten, cached like every model call; skipped (trusted by default) when the project
has no eval set yet or no judge is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from core.generate.filters.base import FilterContext

SAMPLE = 20
THRESHOLD = 0.8
EVAL_EXAMPLES = "eval_examples"  # ctx.extras: the frozen eval set's examples (build_context)
RESULT = "judge_check"  # ctx.extras: the JudgeCheck of this run


@dataclass(frozen=True)
class JudgeCheck:
    trusted: bool
    agreed: int
    checked: int
    note: str

    @property
    def agreement(self) -> float:
        return self.agreed / self.checked if self.checked else 1.0


def sample(examples: Sequence[Any], n: int = SAMPLE) -> list[Any]:
    """In-scope and out-of-scope eval examples alternating (stable order), at most ``n``."""
    inside = [e for e in examples if not e.should_refuse]
    outside = [e for e in examples if e.should_refuse]
    out: list[Any] = []
    while len(out) < n and (inside or outside):
        for pool in (inside, outside):
            if pool and len(out) < n:
                out.append(pool.pop(0))
    return out


def right(example: Any, verdict: Any) -> bool:
    """The verdict the constraint judge should give an eval example answered by its own reference."""
    if verdict is None or verdict.violates:
        return False
    if example.should_refuse:
        return bool(verdict.refuses)
    return bool(verdict.in_scope) and not verdict.refuses


async def check_judge(ctx: FilterContext) -> JudgeCheck | None:
    """Check the judge against the eval set (see the module docstring); the result is kept in
    ``ctx.extras[RESULT]`` and read by :func:`core.generate.filters.base.judge_available`."""
    from core.generate.filters.base import judge_configured
    from core.generate.filters.constraints import TEMPLATE, ConstraintVerdicts, boundary_values
    from core.generate.filters.judge import ask_batches, block

    examples = sample(ctx.extras.get(EVAL_EXAMPLES) or [])
    if not examples or not judge_configured(ctx):
        return None

    def render(i: int, e: Any) -> str:
        return block(i, [("Kind", "refusal" if e.should_refuse else "common"), ("Category", e.category),
                         ("User input", e.input), ("Response", e.reference)])

    verdicts, errors = await ask_batches(ctx.gateway, TEMPLATE, ConstraintVerdicts, examples, render,
                                         lambda r: r.verdicts, **boundary_values(ctx))
    agreed = sum(right(e, v) for e, v in zip(examples, verdicts))
    n = len(examples)
    trusted = agreed / n >= THRESHOLD
    if trusted:
        note = f"the judge agreed with the approved eval set on {agreed} of {n} known cases"
    else:
        why = f" ({errors[0]})" if errors and agreed == 0 else ""
        note = (f"the judge agreed with the approved eval set on only {agreed} of {n} known cases{why} "
                f"(needs {THRESHOLD:.0%}): the filters did not use it and relied on the refusal rule and their "
                f"offline checks; set a stronger judge ([models].judge or TUNESMITH_JUDGE_MODEL)")
    result = JudgeCheck(trusted, agreed, n, note)
    ctx.extras[RESULT] = result
    return result
