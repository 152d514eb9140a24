"""Judge validation, before any judge score counts (spec SKILL 4 §5).

Items of known quality are built from the frozen eval set, with no LLM (:func:`build_items`): about half
known good (the reference answers, correct refusals included) and half deliberately degraded:
``truncated`` (cut mid-sentence), ``off_topic`` (an unrelated text), ``wrong_facts`` (another example's
reference swapped in), ``tone`` (the reference wrapped in a dismissive, condescending tone),
``wrong_refusal`` (a refusal where an answer was due) and ``answered`` (an answer where a refusal was
due). Every attempt grades all of them (self-consistency, k samples each) and computes accuracy against
the known labels and Cohen's kappa with an analytic 95% CI. An attempt passes when accuracy >=
``judge_accuracy_threshold`` and the CI's lower bound is above 0 (better than chance).

Position bias (pairwise): for up to 20 (reference, degraded) pairs the judge compares both orders. The
swap agreement rate (both orders pick the same response), the pairwise accuracy (the good one wins in
both orders) and the position bias (share of decided order-verdicts that went to the FIRST response; 0.5
is unbiased) are recorded; pairwise verdicts are usable when swap agreement and pairwise accuracy reach
the threshold.

Attempts run through the candidates in order: every grading prompt variant (:data:`GRADE_TEMPLATES`) on
the judge role's model, then on the generator role's model (a role resolving to a model already tried is
skipped), stopping at the first attempt that passes both parts. Every attempt is recorded. A judge that
fails is never returned for use: :class:`JudgeReport` ``usable`` is False and ``reason`` says why.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from scipy import stats as sstats

from core.evaluate.judge import GRADE_TEMPLATES, Judge, JudgeGrade, PairwiseResult, build_rubric
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample, QualityCriteria
from core.models.runs import JudgeValidationRow

CANDIDATE_ROLES: tuple[str, ...] = ("judge", "generator")
PAIR_ITEMS = 20
SWAP_AGREEMENT_MIN = 0.80
GOOD_VARIANTS = ("reference", "reformatted")
BAD_IN_SCOPE = ("truncated", "off_topic", "wrong_facts", "tone", "wrong_refusal")

OFF_TOPIC = (
    "Here is a simple banana bread recipe: mash three ripe bananas, stir in a third of a cup of melted "
    "butter, a cup of sugar, one egg and a teaspoon of vanilla, then fold in a cup and a half of flour "
    "and bake at 175 °C for an hour.",
    "The Treaty of Westphalia of 1648 ended the Thirty Years' War and is often cited as the beginning of "
    "the modern system of sovereign states in Europe.",
    "To change a bicycle tyre, release the brake, remove the wheel, lever one side of the tyre off the "
    "rim, replace the inner tube, and work the tyre back on with your thumbs before inflating it.",
    "Jupiter is the largest planet in the solar system; its Great Red Spot is a storm larger than Earth "
    "that has been observed for more than three centuries.",
)
WRONG_REFUSAL = ("I'm sorry, but I can't help with that request. It is outside what I can assist with; "
                 "please consult a qualified professional.")
TONE_OPEN = "Ugh, this is really basic stuff and honestly you should already know it. Fine: "
TONE_CLOSE = " Next time try figuring it out yourself before asking."
ANSWER_OPEN = "Sure, happy to help with that! Here is exactly what you asked for: "


@dataclass
class ValidationItem:
    item_id: str
    example: EvalExample
    response: str
    expected: bool  # True: acceptable (known good)
    variant: str  # the degradation ("reference", "truncated", ...)


@dataclass
class PairItem:
    item_id: str
    example: EvalExample
    good: str
    bad: str
    variant: str


# ---------------------------------------------------------------- items (deterministic, no LLM)


def truncate(text: str) -> str | None:
    """Roughly the first 40% of the words, cut mid-sentence; None when the text is too short to cut."""
    words = (text or "").split()
    if len(words) < 8:
        return None
    cut = " ".join(words[: max(3, int(len(words) * 0.4))]).rstrip(".!?,;:")
    return cut


def reformat(text: str) -> str | None:
    """The same content laid out differently (one sentence per line, or lines joined); None if unchanged."""
    t = (text or "").strip()
    if "\n" in t:
        out = re.sub(r"\s*\n\s*", " ", t)
    else:
        out = re.sub(r"(?<=[.!?])\s+(?=[A-Z0-9])", "\n", t)
    return out if out != t else None


def degrade(example: EvalExample, variant: str, others: Sequence[EvalExample], rng: random.Random) -> str | None:
    """One deterministic degradation of the example's reference (None: not applicable)."""
    ref = example.reference.strip()
    if variant == "truncated":
        return truncate(ref)
    if variant == "off_topic":
        return OFF_TOPIC[rng.randrange(len(OFF_TOPIC))]
    if variant == "wrong_facts":
        pool = [o for o in others if o.id != example.id and not o.should_refuse
                and o.reference.strip() != ref]
        different = [o for o in pool if o.category != example.category] or pool
        return different[rng.randrange(len(different))].reference.strip() if different else None
    if variant == "tone":
        return f"{TONE_OPEN}{ref}{TONE_CLOSE}"
    if variant == "wrong_refusal":
        return WRONG_REFUSAL
    if variant == "answered":
        pool = [o for o in others if not o.should_refuse]
        body = pool[rng.randrange(len(pool))].reference.strip() if pool else "here are the detailed steps."
        return f"{ANSWER_OPEN}{body}"
    if variant == "reformatted":
        return reformat(ref)
    if variant == "reference":
        return ref
    raise ValueError(f"unknown variant {variant!r}")


def build_items(examples: Sequence[EvalExample], size: int = 50, seed: int = 0) -> list[ValidationItem]:
    """At least ``size`` items when the eval set allows: half known good, half degraded (correct and wrong
    refusals among them), shuffled deterministically."""
    rng = random.Random(seed)
    pool = list(examples)
    rng.shuffle(pool)
    if not pool:
        return []
    n_good, n_bad = math.ceil(size / 2), size - math.ceil(size / 2)
    items: list[ValidationItem] = []
    seen: set[str] = set()

    def add(e: EvalExample, variant: str, expected: bool) -> bool:
        item_id = f"{e.id}:{variant}"
        if item_id in seen:
            return False
        text = degrade(e, variant, pool, rng)
        if not text or (not expected and text.strip() == e.reference.strip()):
            return False
        seen.add(item_id)
        items.append(ValidationItem(item_id, e, text, expected, variant))
        return True

    good = 0
    for variant in GOOD_VARIANTS:
        for e in pool:
            if good >= n_good:
                break
            good += add(e, variant, True)
    ins = [e for e in pool if not e.should_refuse]
    oos = [e for e in pool if e.should_refuse]
    n_answered = min(len(oos), max(1, round(n_bad * 0.2))) if oos else 0
    bad = sum(add(e, "answered", False) for e in oos[:n_answered])
    # round-robin over the in-scope degradations, each example taking the next one it allows
    turn = 0
    for _ in range(len(BAD_IN_SCOPE) + 1):
        for e in ins:
            if bad >= n_bad:
                break
            for k in range(len(BAD_IN_SCOPE)):
                if add(e, BAD_IN_SCOPE[(turn + k) % len(BAD_IN_SCOPE)], False):
                    bad += 1
                    break
            turn += 1
    rng.shuffle(items)
    return items


def build_pairs(items: Sequence[ValidationItem], size: int = PAIR_ITEMS) -> list[PairItem]:
    """(reference, degraded) pairs of in-scope examples for the position-swap check."""
    pairs: list[PairItem] = []
    used: set[str] = set()
    for it in items:
        if it.expected or it.variant == "answered" or it.example.id in used or len(pairs) >= size:
            continue
        used.add(it.example.id)
        pairs.append(PairItem(f"pair:{it.item_id}", it.example, it.example.reference.strip(), it.response,
                              it.variant))
    return pairs


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
            "pairwise_n": self.pairwise_n, "swap_agreement": self.swap_agreement,
            "pairwise_accuracy": self.pairwise_accuracy, "position_bias": self.position_bias,
            "pairwise_passed": self.pairwise_passed, "low_confidence": self.low_confidence,
            "errors": self.errors, "error": self.error,
        }

    def line(self) -> str:
        k = "n/a" if self.kappa is None else f"{self.kappa:.2f}"
        ci = ("" if self.kappa_ci[0] is None else f" [{self.kappa_ci[0]:.2f}, {self.kappa_ci[1]:.2f}]")
        text = (f"{self.judge_model} / {self.prompt_version}: accuracy {self.accuracy:.0%} on {self.n}, "
                f"kappa {k}{ci}: {'PASS' if self.passed else 'FAIL'}")
        if self.swap_agreement is not None:
            text += (f"; pairwise: swap agreement {self.swap_agreement:.0%}, first-position wins "
                     f"{(self.position_bias or 0):.0%}: {'PASS' if self.pairwise_passed else 'FAIL'}")
        if self.error:
            text += f" ({self.error})"
        return text


@dataclass
class JudgeReport:
    usable: bool
    reason: str
    attempts: list[ValidationAttempt] = field(default_factory=list)
    chosen: ValidationAttempt | None = None
    pairwise_usable: bool = False
    judge: Judge | None = None  # set only when usable

    @property
    def rows(self) -> list[JudgeValidationRow]:
        return [r for a in self.attempts for r in a.rows]

    def summary(self) -> dict[str, Any]:
        return {"usable": self.usable, "pairwise_usable": self.pairwise_usable, "reason": self.reason,
                "chosen": self.chosen.summary() if self.chosen else None,
                "attempts": [a.summary() for a in self.attempts]}


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


async def run_attempt(judge: Judge, items: Sequence[ValidationItem], pairs: Sequence[PairItem],
                      threshold: float) -> ValidationAttempt:
    """Grade every item (and, when the absolute part passes, the pairs in both orders)."""
    att = ValidationAttempt(judge.model, judge.role, judge.template, judge.prompt_version)
    grades = await _grade_items(judge, items)
    truth, verdicts = [], []
    for it, g in zip(items, grades):
        # no verdict counts as a wrong one
        verdict = (not it.expected) if g is None else g.passed
        att.errors += g is None
        att.low_confidence += g is not None and g.flagged
        truth.append(it.expected)
        verdicts.append(verdict)
        att.rows.append(JudgeValidationRow(item_id=it.item_id, expected=it.expected, verdict=verdict,
                                           confidence=None if g is None else g.confidence,
                                           variant=att.prompt_version, judge=att.judge_model))
    agr = cohen_kappa(truth, verdicts)
    att.n, att.accuracy, att.kappa, att.kappa_ci = agr.n, agr.accuracy, agr.kappa, (agr.ci_low, agr.ci_high)
    att.passed = agr.n > 0 and agr.accuracy >= threshold and agr.ci_low is not None and agr.ci_low > 0
    if att.errors == len(items) and items:
        att.error = "the judge returned no valid verdict"
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
) -> JudgeReport:
    """Validate candidate judges in order until one passes; every attempt is recorded."""
    cfg = config or EvaluateConfig()
    items = build_items(examples, cfg.judge_validation_size, seed)
    if not items:
        return JudgeReport(False, "no eval examples to validate a judge on")
    pairs = build_pairs(items) if pairwise else []
    todo = candidates(gateway, roles, templates)
    if not todo:
        return JudgeReport(False, "no judge model is configured (set TUNESMITH_JUDGE_MODEL or TUNESMITH_MODEL)")
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
            return JudgeReport(True, f"validated: {att.line()}{short}", attempts, att, bool(pairs), judge)
        if att.passed and best is None:
            best = (att, judge)
    if best is not None:
        att, judge = best
        return JudgeReport(True, f"validated for absolute grading only: {att.line()}; its pairwise verdicts are "
                                 f"not used (position bias or swap disagreement){short}", attempts, att, False, judge)
    tried = "; ".join(a.line() for a in attempts)
    return JudgeReport(False, f"no judge passed validation (accuracy >= {cfg.judge_accuracy_threshold:.0%} and "
                              f"kappa above chance): {tried}{short}", attempts, None, False, None)
