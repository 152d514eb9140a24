"""The evaluation method hierarchy, chosen per example and recorded, and scoring of one output.

Hierarchy (highest feasible wins, spec SKILL 4 §1):

1. ``functional``: the reference or input implies code with tests, structured output (a JSON reference)
   or a format rule (``regex: ...``); see :mod:`core.evaluate.scorers_functional`.
2. ``exact_match``: constrained outputs: classification labels (task_type "classification"), multiple-
   choice letters, short closed answers (<= 4 words); see :mod:`core.evaluate.scorers_match`.
3. ``llm_judge``: anything else, only when a VALIDATED judge exists (``judge_usable``).
4. ``human``: otherwise. The result is pending (``pending`` True, score and passed None, flagged) until a
   person rates it (:mod:`core.evaluate.human`); :func:`is_pending` recognises such rows and the metrics
   leave them out.

A configured ``eval_method`` other than "auto" is used where it is feasible for the example; where it is
not, the hierarchy continues below it (``human`` is always feasible).

Refusal examples (``should_refuse``): a refusal detector decides (:mod:`core.evaluate.refusal`; with a
validated judge, the judge's "refused" verdict takes precedence). Passed = refused. The method recorded is
``llm_judge`` when the judge decided, else ``functional`` (a deterministic check). Look-alikes (and every
in-scope example) fail when the output refuses; otherwise their method decides correctness. An in-scope
output that opens by declining fails even where a human would otherwise rate it (recorded as a
``functional`` refusal check), so over-refusal is measured without a judge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

from core.evaluate.judge import LOW_CONFIDENCE, Judge
from core.evaluate.refusal import RefusalCheck, combine, detect_refusal
from core.refusal import DEFAULT_RULE, RefusalRule
from core.evaluate.scorers_functional import (
    CODE_TIMEOUT_S, check_code, check_json, check_regex, functional_spec,
)
from core.evaluate.scorers_match import exact_match, match_kind
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError
from core.llm.gateway import run_sync
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample
from core.models.runs import DimensionValue, EvalResult

Method = Literal["functional", "exact_match", "llm_judge", "human"]
METHODS: tuple[str, ...] = ("functional", "exact_match", "llm_judge", "human")
PENDING_HUMAN = "pending: needs a human rating"


@dataclass
class ScoreResult:
    score: float | None  # None while pending
    passed: bool | None
    refused: bool | None
    confidence: float | None
    detail: str
    method: Method
    pending: bool = False
    extracted: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return self.pending or (self.confidence is not None and self.confidence < LOW_CONFIDENCE)


def feasible(example: EvalExample, task_type: str, judge_usable: bool = False) -> dict[str, bool]:
    """Which methods can score this example."""
    refusal = example.should_refuse
    return {
        "functional": refusal or functional_spec(example.input, example.reference) is not None,
        "exact_match": not refusal and match_kind(example.reference, example.input, task_type) is not None,
        "llm_judge": judge_usable,
        "human": True,
    }


def choose_method(example: EvalExample, task_type: str, config_method: str = "auto", *,
                  judge_usable: bool = False) -> Method:
    """The method for one example (see the module docstring)."""
    ok = feasible(example, task_type, judge_usable)
    if example.should_refuse and config_method != "human":
        return "llm_judge" if judge_usable else "functional"
    start = METHODS.index(config_method) if config_method in METHODS else 0
    for method in METHODS[start:]:
        if ok[method]:
            return method  # type: ignore[return-value]
    return "human"


def is_pending(row: EvalResult) -> bool:
    """A row no automated method could score (it waits for a human)."""
    return bool(row.pending)


def _pending(refusal: RefusalCheck, why: str) -> ScoreResult:
    refused = refusal.refused and refusal.where == "upfront"
    return ScoreResult(None, None, refused, None, f"{PENDING_HUMAN} ({why})", "human", pending=True)


async def score_async(
    example: EvalExample,
    output: str,
    method: Method,
    judge: Judge | None = None,
    *,
    task_type: str = "instruction_following",
    labels: Sequence[str] | None = None,
    timeout_s: float = CODE_TIMEOUT_S,
    rule: RefusalRule = DEFAULT_RULE,
) -> ScoreResult:
    """Score one output with ``method``. ``judge`` must be a validated judge (or None); ``rule`` is the
    project's refusal rule (the one the training data followed)."""
    heuristic = detect_refusal(output, rule)
    if example.should_refuse and method != "human":
        return await _score_refusal(example, output, heuristic, judge if method == "llm_judge" else None)
    # in-scope (common, edge, look-alike): declining is a failure whatever the method
    refused_upfront = heuristic.refused and heuristic.where == "upfront"
    if method == "human" or (method == "llm_judge" and judge is None):
        if refused_upfront and not example.should_refuse:  # no judge needed to see an in-scope request declined
            return ScoreResult(0.0, False, True, heuristic.confidence,
                               f"refusal check (heuristic): declines an in-scope request ({heuristic.phrase!r})",
                               "functional")
        return _pending(heuristic, "no validated judge" if method == "llm_judge"
                        else "no automated method fits this example")
    if method == "llm_judge":
        assert judge is not None
        grade = await judge.grade(example, output)
        refusal = combine(heuristic, grade.refused, grade.refused_confidence)
        passed = grade.passed and not refusal.refused
        detail = f"judge {judge.describe()}: {'pass' if grade.passed else 'fail'} (votes {grade.votes})"
        if refusal.refused:
            detail += "; the output declines an in-scope request"
        if grade.reason:
            detail += f"; {grade.reason}"
        return ScoreResult(grade.score if passed or not refusal.refused else 0.0, passed, refusal.refused,
                           grade.confidence, detail, "llm_judge", extra={"dimensions": grade.dimensions})
    if method == "functional":
        spec = functional_spec(example.input, example.reference)
        if spec is None:
            return _pending(heuristic, "functional check requested but the example has none")
        if spec.kind == "regex":
            res = check_regex(output, spec.pattern)
        elif spec.kind == "json":
            res = check_json(output, spec.expected)
        else:
            res = await check_code(output, spec.tests, timeout_s)
        detail = res.detail + ("; the output declines an in-scope request" if refused_upfront else "")
        return ScoreResult(res.score, res.passed and not refused_upfront, refused_upfront, 1.0, detail,
                           "functional", extra={"functional": spec.kind, **res.extra})
    kind = match_kind(example.reference, example.input, task_type) or "closed"
    m = exact_match(output, example.reference, kind, input_text=example.input, labels=labels)
    detail = m.detail + ("; the output declines an in-scope request" if refused_upfront else "")
    return ScoreResult(1.0 if m.passed else 0.0, m.passed, refused_upfront, 1.0, detail, "exact_match",
                       extracted=m.extracted, extra={"match": m.kind, "expected": m.expected, "rule": m.rule})


async def _score_refusal(example: EvalExample, output: str, heuristic: RefusalCheck,
                         judge: Judge | None) -> ScoreResult:
    method: Method = "functional"
    check = heuristic
    extra: dict[str, Any] = {}
    if judge is not None:
        grade = await judge.grade(example, output)
        check = combine(heuristic, grade.refused, grade.refused_confidence)
        method = "llm_judge"
        extra = {"judge_passed": grade.passed, "votes": grade.votes}
    detail = (f"refusal check ({check.source}): {'declines' if check.refused else 'does NOT decline'} "
              f"an out-of-scope request" + (f" ({check.where}: {check.phrase!r})" if check.phrase else ""))
    return ScoreResult(1.0 if check.refused else 0.0, check.refused, check.refused, check.confidence, detail,
                       method, extra=extra)


def score(example: EvalExample, output: str, method: Method, judge: Judge | None = None, **kwargs: Any) -> ScoreResult:
    """Synchronous :func:`score_async` (for scripts and tests)."""
    return run_sync(score_async(example, output, method, judge, **kwargs))


def dimension_values(means: Mapping[str, float] | None) -> list[DimensionValue]:
    """The judge's mean 1..5 score per rubric dimension, mapped to 0..1 for the result row."""
    out = []
    for name, value in (means or {}).items():
        if value is None:
            continue
        out.append(DimensionValue(name=str(name), score=round(min(1.0, max(0.0, (float(value) - 1.0) / 4.0)), 4)))
    return out


def classification_labels(examples: Sequence[EvalExample]) -> list[str]:
    """The label set of a classification eval set: the labels its in-scope references name."""
    from core.evaluate.scorers_match import label_of

    return sorted({label_of(e.reference) for e in examples if not e.should_refuse} - {""})


async def score_all(
    examples: Sequence[EvalExample],
    outputs: Mapping[str, str],
    *,
    model_role: Literal["base", "candidate"],
    model: str,
    task_type: str = "instruction_following",
    config: EvaluateConfig | None = None,
    judge: Judge | None = None,
    concurrency: int = 8,
    rule: RefusalRule = DEFAULT_RULE,
    labels: Sequence[str] | None = None,
    on_scored: Callable[[int, int], None] | None = None,
) -> list[EvalResult]:
    """Choose the method per example, score every example that has an output and return EvalResult rows.
    A judge call that fails leaves the example pending for a human (its detail says why). ``labels``: the
    project's label set (else the eval set's own); ``rule``: the project's refusal rule; ``on_scored(done,
    total)`` after each example."""
    cfg = config or EvaluateConfig()
    if task_type == "classification":
        labels = list(labels) if labels else classification_labels(examples)
    else:
        labels = None
    sem = asyncio.Semaphore(max(1, concurrency))
    total = sum(1 for e in examples if e.id in outputs)
    scored = [0]

    async def one(e: EvalExample) -> EvalResult:
        try:
            return await _one(e)
        finally:
            scored[0] += 1
            if on_scored is not None:
                on_scored(scored[0], total)

    async def _one(e: EvalExample) -> EvalResult:
        output = outputs[e.id]
        method = choose_method(e, task_type, cfg.eval_method, judge_usable=judge is not None)
        async with sem:
            try:
                res = await score_async(e, output, method, judge, task_type=task_type, labels=labels, rule=rule)
            except (BudgetExceeded, CircuitOpen):
                raise
            except LLMError as exc:
                res = _pending(detect_refusal(output, rule), f"the judge failed: {str(exc)[:160]}")
        return EvalResult(
            example_id=e.id, model_role=model_role, model=model, output=output, method=res.method,
            score=None if res.pending or res.score is None else min(1.0, max(0.0, res.score)),
            passed=None if res.pending else bool(res.passed), pending=res.pending, refused=res.refused,
            judge_confidence=res.confidence if res.method == "llm_judge" else None,
            flagged=res.flagged, category=e.category, difficulty=e.difficulty, kind=e.kind, detail=res.detail,
            dimensions=dimension_values(res.extra.get("dimensions")),
        )

    return list(await asyncio.gather(*(one(e) for e in examples if e.id in outputs)))
