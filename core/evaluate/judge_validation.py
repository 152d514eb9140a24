"""Judge validation, before any judge score counts (spec SKILL 4 §5): items of known quality that a bad
judge cannot pass.

The judge sees the reference answer in its prompt, so an item that *is* the reference (or a mechanical
corruption of it) only checks that the judge can compare strings: a judge that passes exact copies of the
reference and nothing else would score perfectly on such items and fail every real output. The items here
are built so that agreement means something:

- the items (known good, known bad, their checks and sampling) are built in :mod:`core.evaluate.judge_items`.

Each attempt grades every item (self-consistency, k samples) and reports accuracy, Cohen's kappa with an
analytic 95% CI, the confusion matrix ("good" is the positive class: tp = good item passed, fn = good item
failed, tn = bad item failed, fp = bad item passed), and the same per item kind (``by_variant``) and per
example kind (``by_kind``). An attempt passes when accuracy >= ``judge_accuracy_threshold`` and the CI's lower
bound is above 0 (better than chance).

Position bias (pairwise): for up to :data:`PAIR_ITEMS` examples with a good and a bad item, the judge compares
the two in both orders. The swap agreement rate, the pairwise accuracy (the good one wins in both orders)
and the position bias (share of decided order-verdicts that went to the FIRST response; 0.5 is unbiased)
are recorded; pairwise verdicts are usable when swap agreement and pairwise accuracy reach the threshold.

Attempts run through the candidates in order: every grading prompt variant on the judge role's model,
then on the generator role's model (a role resolving to a model already tried is skipped), stopping at the
first attempt that passes both parts. Every attempt is recorded. A judge that fails is never returned for
use: :class:`JudgeReport` ``usable`` is False and ``reason`` says why.

Saved rows (:class:`~core.models.runs.JudgeValidationRow`): ``variant`` holds the grading prompt's version
(as before); the item kind is in ``item_id``, ``"<example id>:<kind>:<n>"`` (e.g. ``ex-12:paraphrase:1``;
:func:`item_kind` reads it back); pairwise rows are ``"pair:<good item id>|<bad item id>"``.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Collection, Sequence

from scipy import stats as sstats

from core.evaluate.human_labels import HumanLabel
from core.evaluate.judge import GRADE_TEMPLATES, Judge, JudgeGrade, PairwiseResult, build_rubric
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample, QualityCriteria
from core.models.runs import JudgeValidationRow
from core.refusal import RefusalRule
from core.evaluate.judge_items import (  # noqa: F401  (re-exported: the items were built here before)
    ITEM_ROLE, AnswerItems, ItemSet, PairItem, RefusalItems, ValidationItem, build_items, build_pairs,
    check_bad, check_good, item_kind, near_verbatim, numbers, wrong_order,
)

CANDIDATE_ROLES: tuple[str, ...] = ("judge", "generator")
SWAP_AGREEMENT_MIN = 0.80


# ---------------------------------------------------------------- agreement statistics


@dataclass
class Agreement:
    n: int
    accuracy: float
    kappa: float | None
    kappa_se: float | None
    ci_low: float | None
    ci_high: float | None


def cohen_kappa(truth: Sequence[bool], verdicts: Sequence[bool], level: float = 0.95) -> Agreement:
    """Accuracy and Cohen's kappa of binary verdicts against the truth, with the large-sample analytic
    SE sqrt(po (1 - po) / (n (1 - pe)^2)) and a normal CI clipped to [-1, 1]."""
    n = len(truth)
    if n != len(verdicts):
        raise ValueError("truth and verdicts differ in length")
    if n == 0:
        return Agreement(0, 0.0, None, None, None, None)
    po = sum(t == v for t, v in zip(truth, verdicts)) / n
    p_true, p_verdict = sum(truth) / n, sum(verdicts) / n
    pe = p_true * p_verdict + (1 - p_true) * (1 - p_verdict)
    if pe >= 1.0:
        return Agreement(n, po, None, None, None, None)
    kappa = (po - pe) / (1 - pe)
    se = math.sqrt(po * (1 - po) / (n * (1 - pe) ** 2))
    z = float(sstats.norm.ppf(0.5 + level / 2))
    return Agreement(n, po, kappa, se, max(-1.0, kappa - z * se), min(1.0, kappa + z * se))


@dataclass
class Confusion:
    """Verdicts against known labels, "good" (acceptable) being the positive class."""

    tp: int = 0  # good item, passed
    fp: int = 0  # bad item, passed
    tn: int = 0  # bad item, failed
    fn: int = 0  # good item, failed

    def add(self, expected: bool, verdict: bool) -> None:
        if expected:
            self.tp += verdict
            self.fn += not verdict
        else:
            self.fp += verdict
            self.tn += not verdict

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}

    def text(self) -> str:
        return f"tp {self.tp}, fn {self.fn}, tn {self.tn}, fp {self.fp}"


def breakdown(items: Sequence[ValidationItem], verdicts: Sequence[bool], key: str) -> dict[str, dict[str, Any]]:
    """{item kind (key "variant") or example kind (key "kind"): {"n", "accuracy", "confusion"}}."""
    groups: dict[str, Confusion] = defaultdict(Confusion)
    for it, v in zip(items, verdicts):
        groups[it.variant if key == "variant" else it.example.kind].add(it.expected, v)
    return {name: {"n": c.n, "accuracy": c.accuracy, "confusion": c.to_dict()} for name, c in sorted(groups.items())}


def _group_text(groups: dict[str, dict[str, Any]]) -> str:
    def right(g: dict[str, Any]) -> int:
        c = g["confusion"]
        return c["tp"] + c["tn"]

    return ", ".join(f"{name} {right(g)}/{g['n']}" for name, g in groups.items())


# ---------------------------------------------------------------- attempts and the report


@dataclass
class ValidationAttempt:
    judge_model: str
    role: str
    template: str
    prompt_version: str
    n: int = 0
    accuracy: float = 0.0
    kappa: float | None = None
    kappa_ci: tuple[float | None, float | None] = (None, None)
    passed: bool = False
    confusion: Confusion = field(default_factory=Confusion)
    by_variant: dict[str, dict[str, Any]] = field(default_factory=dict)  # item kind -> n, accuracy, confusion
    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)  # example kind -> n, accuracy, confusion
    pairwise_n: int = 0
    swap_agreement: float | None = None
    pairwise_accuracy: float | None = None
    position_bias: float | None = None  # share of decided order-verdicts won by the FIRST response
    pairwise_passed: bool | None = None  # None: not checked
    low_confidence: int = 0
    errors: int = 0
    error: str | None = None
    rows: list[JudgeValidationRow] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "judge_model": self.judge_model, "role": self.role, "prompt_version": self.prompt_version,
            "n": self.n, "accuracy": self.accuracy, "kappa": self.kappa,
            "kappa_ci": list(self.kappa_ci), "passed": self.passed,
            "confusion": self.confusion.to_dict(), "by_variant": self.by_variant, "by_kind": self.by_kind,
            "pairwise_n": self.pairwise_n, "swap_agreement": self.swap_agreement,
            "pairwise_accuracy": self.pairwise_accuracy, "position_bias": self.position_bias,
            "pairwise_passed": self.pairwise_passed, "low_confidence": self.low_confidence,
            "errors": self.errors, "error": self.error,
        }

    def line(self) -> str:
        k = "n/a" if self.kappa is None else f"{self.kappa:.2f}"
        ci = ("" if self.kappa_ci[0] is None else f" [{self.kappa_ci[0]:.2f}, {self.kappa_ci[1]:.2f}]")
        text = (f"{self.judge_model} / {self.prompt_version}: accuracy {self.accuracy:.0%} on {self.n} "
                f"({self.confusion.text()}), kappa {k}{ci}: {'PASS' if self.passed else 'FAIL'}")
        if self.swap_agreement is not None:
            text += (f"; pairwise: swap agreement {self.swap_agreement:.0%}, first-position wins "
                     f"{(self.position_bias or 0):.0%}: {'PASS' if self.pairwise_passed else 'FAIL'}")
        if self.error:
            text += f" ({self.error})"
        return text

    def lines(self) -> list[str]:
        """:meth:`line`, then the right verdicts per item kind and per example kind."""
        out = [self.line()]
        if self.by_variant:
            out.append(f"  by item kind: {_group_text(self.by_variant)}")
        if self.by_kind:
            out.append(f"  by example kind: {_group_text(self.by_kind)}")
        return out

    def weak_spots(self, threshold: float) -> str:
        """The item kinds it got wrong most often (below ``threshold``), worst first."""
        weak = sorted(((g["accuracy"], name, g) for name, g in self.by_variant.items() if g["accuracy"] < threshold),
                      key=lambda x: (x[0], x[1]))
        return ", ".join(f"{name} {g['accuracy']:.0%} of {g['n']}" for _, name, g in weak)


@dataclass
class JudgeReport:
    usable: bool
    reason: str
    attempts: list[ValidationAttempt] = field(default_factory=list)
    chosen: ValidationAttempt | None = None
    pairwise_usable: bool = False
    judge: Judge | None = None  # set only when usable
    items: ItemSet | None = None

    @property
    def rows(self) -> list[JudgeValidationRow]:
        return [r for a in self.attempts for r in a.rows]

    def summary(self) -> dict[str, Any]:
        return {"usable": self.usable, "pairwise_usable": self.pairwise_usable, "reason": self.reason,
                "chosen": self.chosen.summary() if self.chosen else None,
                "attempts": [a.summary() for a in self.attempts],
                "items": self.items.summary() if self.items else None}

    def lines(self) -> list[str]:
        """The reason, the items and every attempt (per kind), for a report or the CLI."""
        out = [self.reason]
        if self.items is not None:
            out.append(f"validation items: {self.items.describe()}")
        for a in self.attempts:
            out.extend(a.lines())
        return out


def candidates(gateway: Any, roles: Sequence[str] = CANDIDATE_ROLES,
               templates: Sequence[str] = GRADE_TEMPLATES) -> list[tuple[str, str]]:
    """(role, template) to try in order; roles that are unconfigured or repeat a model are skipped."""
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str | None]] = set()
    for role in roles:
        if not gateway.configured(role):
            continue
        choice = gateway.model_for(role)
        key = (choice.model, choice.api_base)
        if key in seen:
            continue
        seen.add(key)
        out.extend((role, t) for t in templates)
    return out


async def _grade_items(judge: Judge, items: Sequence[ValidationItem]) -> list[JudgeGrade | None]:
    async def one(it: ValidationItem) -> JudgeGrade | None:
        try:
            return await judge.grade(it.example, it.response)
        except (BudgetExceeded, CircuitOpen):
            raise
        except LLMError:
            return None

    return list(await asyncio.gather(*(one(it) for it in items)))


async def _compare_pairs(judge: Judge, pairs: Sequence[PairItem]) -> list[PairwiseResult | None]:
    async def one(p: PairItem) -> PairwiseResult | None:
        try:
            return await judge.compare(p.example, p.good, p.bad, names=("good", "bad"))
        except (BudgetExceeded, CircuitOpen):
            raise
        except LLMError:
            return None

    return list(await asyncio.gather(*(one(p) for p in pairs)))


def score_attempt(att: ValidationAttempt, items: Sequence[ValidationItem], grades: Sequence[JudgeGrade | None],
                  threshold: float) -> ValidationAttempt:
    """Fill ``att``'s numbers and rows from the grades of ``items`` (no grade counts as a wrong verdict)."""
    truth, verdicts = [], []
    for it, g in zip(items, grades):
        verdict = (not it.expected) if g is None else g.passed
        att.errors += g is None
        att.low_confidence += g is not None and g.flagged
        truth.append(it.expected)
        verdicts.append(verdict)
        att.confusion.add(it.expected, verdict)
        att.rows.append(JudgeValidationRow(item_id=it.item_id, expected=it.expected, verdict=verdict,
                                           confidence=None if g is None else g.confidence,
                                           variant=att.prompt_version, judge=att.judge_model))
    agr = cohen_kappa(truth, verdicts)
    att.n, att.accuracy, att.kappa, att.kappa_ci = agr.n, agr.accuracy, agr.kappa, (agr.ci_low, agr.ci_high)
    att.by_variant = breakdown(items, verdicts, "variant")
    att.by_kind = breakdown(items, verdicts, "kind")
    att.passed = agr.n > 0 and agr.accuracy >= threshold and agr.ci_low is not None and agr.ci_low > 0
    if att.errors == len(items) and items:
        att.error = "the judge returned no valid verdict"
    return att


async def run_attempt(judge: Judge, items: Sequence[ValidationItem], pairs: Sequence[PairItem],
                      threshold: float) -> ValidationAttempt:
    """Grade every item (and, when the absolute part passes, the pairs in both orders)."""
    att = ValidationAttempt(judge.model, judge.role, judge.template, judge.prompt_version)
    score_attempt(att, items, await _grade_items(judge, items), threshold)
    if att.passed and pairs:
        results = await _compare_pairs(judge, pairs)
        done = [(p, r) for p, r in zip(pairs, results) if r is not None]
        att.pairwise_n = len(done)
        if done:
            att.swap_agreement = sum(r.consistent for _, r in done) / len(done)
            att.pairwise_accuracy = sum(r.winner == "good" for _, r in done) / len(done)
            decided = [o for _, r in done for o in r.orders if o != "tie"]
            att.position_bias = sum(o == "A" for o in decided) / len(decided) if decided else None
            att.pairwise_passed = att.swap_agreement >= SWAP_AGREEMENT_MIN and att.pairwise_accuracy >= threshold
        else:
            att.pairwise_passed = False
        for p, r in zip(pairs, results):
            att.rows.append(JudgeValidationRow(
                item_id=p.item_id, expected=True, verdict=r is not None and r.winner == "good",
                confidence=None if r is None else r.confidence, variant=judge.pairwise_template, judge=att.judge_model))
    return att


async def validate_judge(
    gateway: Any,
    examples: Sequence[EvalExample],
    criteria: QualityCriteria | None = None,
    config: EvaluateConfig | None = None,
    *,
    task: str = "",
    roles: Sequence[str] = CANDIDATE_ROLES,
    templates: Sequence[str] = GRADE_TEMPLATES,
    pairwise: bool = True,
    seed: int = 0,
    structure: str = "",
    human: Sequence[HumanLabel] = (),
    item_role: str | None = ITEM_ROLE,
    prefer: Collection[str] | None = None,
    rule: RefusalRule | None = None,
) -> JudgeReport:
    """Validate candidate judges in order until one passes; every attempt is recorded.

    ``human``: human-confirmed labels (:func:`core.evaluate.human_labels.collect`), used first;
    ``item_role``: the role whose model writes the synthetic items (None: none, deterministic kinds only);
    ``prefer``: ids of the examples the judge will grade (sampled first, with the out-of-scope ones);
    ``rule``: the project's refusal rule (its sentence is one of the wrong refusals)."""
    cfg = config or EvaluateConfig()
    if not examples:
        return JudgeReport(False, "no eval examples to validate a judge on")
    todo = candidates(gateway, roles, templates)
    if not todo:
        return JudgeReport(False, "no judge model is configured (set TUNESMITH_JUDGE_MODEL or TUNESMITH_MODEL)")
    built = await build_items(gateway, examples, cfg.judge_validation_size, seed=seed, human=human, role=item_role,
                              task=task, structure=structure, rule=rule, prefer=prefer)
    if not built.enough:
        return JudgeReport(False, f"no judge can be validated: {built.shortfall()}. The judge is not used; the "
                                  f"examples that need it wait for a human rating", items=built)
    items = built.items
    pairs = build_pairs(items) if pairwise else []
    rubric = build_rubric(criteria, cfg)
    short = (f"; only {len(items)} validation items could be built from {len(examples)} examples "
             f"(wanted {cfg.judge_validation_size})" if len(items) < cfg.judge_validation_size else "")
    attempts: list[ValidationAttempt] = []
    best: tuple[ValidationAttempt, Judge] | None = None
    for role, template in todo:
        judge = Judge(gateway, rubric, role=role, template=template, samples=cfg.judge_samples, task=task,
                      structure=structure)
        att = await run_attempt(judge, items, pairs, cfg.judge_accuracy_threshold)
        attempts.append(att)
        if att.passed and (att.pairwise_passed or not pairs):
            return JudgeReport(True, f"validated: {att.line()}{short}", attempts, att, bool(pairs), judge, built)
        if att.passed and best is None:
            best = (att, judge)
    if best is not None:
        att, judge = best
        return JudgeReport(True, f"validated for absolute grading only: {att.line()}; its pairwise verdicts are "
                                 f"not used (position bias or swap disagreement){short}", attempts, att, False, judge,
                           built)
    tried = "; ".join(a.line() for a in attempts)
    top = max(attempts, key=lambda a: a.accuracy)
    weak = top.weak_spots(cfg.judge_accuracy_threshold)
    return JudgeReport(False, f"no judge passed validation (accuracy >= {cfg.judge_accuracy_threshold:.0%} and "
                              f"kappa above chance): {tried}{short}"
                              + (f"; the best attempt's weakest item kinds: {weak}" if weak else ""),
                       attempts, None, False, None, built)
