"""The filter chain: which filters run for a project's configuration, in which order, and what came out.

Order (cheap and structural first, model calls late, the stateful diversity filter last)::

    format → length → completeness → coherence → safety → leakage → constraints
           → empathy_markers → framework_adherence → code_executability → factual_accuracy → diversity

An example that fails a filter is not sent to the later ones, so each filter's (checked, passed) counts
the examples that reached it. Diversity must be last: it commits what it keeps to ``ctx.kept_vectors``.

    ctx = build_context(project, gateway)             # once per run: tokenizer, embedder, eval vectors
    outcome = await run_filters(examples, ctx, "pilot")
    outcome.kept, outcome.rejected, outcome.log_rows, outcome.stats, outcome.top_reasons(3)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

from core.generate.filters.base import Filter, FilterContext, FilterResult, custom_setting, ok
from core.generate.filters.code_exec import CodeExecutabilityFilter
from core.generate.filters.coherence import CoherenceFilter
from core.generate.filters.completeness import CompletenessFilter
from core.generate.filters.constraints import ConstraintFilter
from core.generate.filters.custom import EMPATHY, FACTUAL, FRAMEWORK, EmpathyFilter, FactualAccuracyFilter, \
    FrameworkAdherenceFilter
from core.generate.filters.diversity import DiversityFilter
from core.generate.filters.format import FormatFilter, expected_format
from core.generate.filters.leakage import LeakageFilter, eval_lookup, has_eval
from core.generate.filters.length import LengthFilter
from core.generate.filters.safety import LLM_SETTING, SafetyFilter
from core.models.data import FilterStats, QualityLogRow, TrainingExample

CODE = "code_executability"
THRESHOLD_NOTES = "threshold_notes"  # ctx.extras: how the "auto" thresholds were resolved
KNOWN_CUSTOM = (EMPATHY, CODE, FACTUAL, FRAMEWORK, LLM_SETTING, "safety")

# Every reason code, by filter (codes are unique across filters).
REASON_CODES: dict[str, tuple[str, ...]] = {
    "format": ("wrong_format", "wrong_keys", "not_conversational", "bad_message", "empty_content", "bad_roles",
               "bad_label", "identical_pair", "template_error", "template_mismatch"),
    "length": ("too_short", "too_long"),
    "completeness": ("missing_input", "missing_response", "missing_rejected", "missing_reference",
                     "ends_mid_sentence", "missing_template_steps"),
    "coherence": ("placeholder", "boilerplate", "repetitive", "truncated", "garbage"),
    "safety": ("toxic", "prohibited_topic", "inappropriate_for_audience"),
    "leakage": ("eval_leak",),
    "constraints": ("refusal_missing", "unexpected_refusal", "out_of_scope_content", "violates_never"),
    EMPATHY: ("low_empathy",),
    FRAMEWORK: ("low_framework_adherence",),
    CODE: ("code_error", "code_timeout", "code_network"),
    FACTUAL: ("factual_error",),
    "diversity": ("near_duplicate",),
}

# What to tell the generator when a reason tops the rejections (for adjusting the generation prompt).
REASON_HINTS: dict[str, str] = {
    "wrong_format": "produce the requested record format exactly",
    "wrong_keys": "produce exactly the requested fields, no more and no fewer",
    "not_conversational": "write every turn as a chat message with a role and content",
    "bad_message": "write every turn as a chat message with a role and a text content",
    "empty_content": "never leave a message empty",
    "bad_roles": "alternate user and assistant turns, starting with the user and ending as asked",
    "bad_label": "label each completion true or false",
    "identical_pair": "make the rejected response clearly different from the chosen one",
    "template_error": "write plain chat turns the model's chat template can render",
    "template_mismatch": "write plain chat turns the model's chat template can render",
    "too_short": "write fuller responses (they were below the minimum length)",
    "too_long": "keep responses shorter (they exceeded the maximum length)",
    "missing_input": "always include the user's message",
    "missing_response": "always include the assistant's response",
    "missing_rejected": "always include the rejected response",
    "missing_reference": "always include the reference answer",
    "ends_mid_sentence": "finish every response with a complete sentence",
    "missing_template_steps": "cover every step of the framework template, naming or clearly signalling each",
    "placeholder": "never leave placeholders such as [insert …], TODO or {{…}}: write the actual content",
    "boilerplate": "no meta-talk ('As an AI…', 'Sure! Here is…'): answer as the assistant directly",
    "repetitive": "do not repeat phrases or lines",
    "truncated": "close every code block and do not trail off",
    "garbage": "write clean natural language",
    "toxic": "keep every response free of profanity, insults and harmful content",
    "prohibited_topic": "do not engage with the prohibited topics; decline them",
    "inappropriate_for_audience": "keep the content appropriate for the intended audience",
    "eval_leak": "do not reuse or paraphrase the held-out evaluation questions",
    "refusal_missing": "in refusal examples, clearly and politely decline and point to an appropriate resource",
    "unexpected_refusal": "answer in-scope requests helpfully instead of declining",
    "out_of_scope_content": "keep in-scope examples inside the approved scope",
    "violates_never": "never do what the WILL NOT list and hard constraints forbid",
    "low_empathy": "open by acknowledging and validating the user's feelings",
    "low_framework_adherence": "follow the framework template's steps in order",
    "code_error": "make every python code block run as a standalone script",
    "code_timeout": "make code blocks finish quickly (no infinite loops or long waits)",
    "code_network": "make code blocks work without network access",
    "factual_error": "stay accurate to the knowledge base",
    "near_duplicate": "make each example clearly different from the others (topic, wording, situation)",
}


# ---------------------------------------------------------------- the context


def template_steps_for(project: Any, knowledge: Any) -> list[str]:
    """The response template's ordered steps when template mode is on (the one decision of
    :func:`core.response_template.template_for`, which the generator's prompts read too); else []."""
    from core.response_template import template_for

    template = template_for(project, knowledge)
    return list(template.steps) if template is not None else []


def build_context(
    project: Any,
    gateway: Any,
    *,
    method: str | None = None,
    embedder: Any = None,
    tokenizer: Any = None,
    load_eval: bool = True,
    template_steps: list[str] | None = None,
) -> FilterContext:
    """The context one generation run's filters share, built once per run.

    ``tokenizer``: None loads the base model's (offline; may be None); False means none. ``embedder``:
    None uses the project's (bundled MiniLM by default; False means none: diversity falls back to exact
    duplicates and leakage to exact matches). With ``load_eval``, the eval set's inputs are embedded
    once here, if the project has an eval set. ``template_steps`` overrides the framework template.
    """
    from core.models.knowledge import KnowledgeBase, ScopeBoundaries
    from core.project import BOUNDARIES, EVAL_SET, KNOWLEDGE_BASE
    from core.refusal import rule_for

    meta = project.meta
    method = method or meta.training_method
    boundaries = project.read_or(BOUNDARIES, ScopeBoundaries)
    knowledge = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
    if tokenizer is None:
        from core.generate.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(project)
    if embedder is None:
        from core.embed import Embedder

        embedder = Embedder.for_project(project)
    ctx = FilterContext(
        project=project,
        method=method,
        thresholds=meta.config.generate.quality_thresholds,
        boundaries=boundaries,
        knowledge=knowledge,
        template_steps=list(template_steps) if template_steps is not None else template_steps_for(project, knowledge),
        gateway=gateway,
        refusal=rule_for(project),
        tokenizer=None if tokenizer is False else tokenizer,
        embedder=None if embedder is False else embedder,
    )
    ctx.extras["format"] = expected_format(method, meta.sft_format)
    eval_examples: list[Any] = []
    if load_eval and project.exists(EVAL_SET):
        from core.extract.evalset import load_eval_set
        from core.generate.filters.judge_check import EVAL_EXAMPLES

        eval_examples = load_eval_set(project)
        ctx.extras.update(eval_lookup(eval_examples))
        ctx.extras[EVAL_EXAMPLES] = eval_examples
        if ctx.embedder is not None and eval_examples:
            ctx.eval_vectors = ctx.embedder.encode([ex.input for ex in eval_examples])
    from core.generate.filters.thresholds import resolve

    resolved = resolve(ctx.thresholds, meta.task_type, eval_examples, ctx.eval_vectors, ctx.tokenizer)
    ctx.thresholds = resolved.thresholds
    ctx.extras[THRESHOLD_NOTES] = resolved.notes
    return ctx


def _disabled(ctx: FilterContext, name: str) -> bool:
    return any(e.name == name and not e.enabled for e in getattr(ctx.thresholds, "custom_filters", None) or [])


def enabled_filters(ctx: FilterContext) -> list[Filter]:
    """The filters that run with this configuration, in chain order."""
    chain: list[Filter] = [FormatFilter(), LengthFilter(), CompletenessFilter(), CoherenceFilter()]
    if not _disabled(ctx, "safety"):
        chain.append(SafetyFilter())
    if has_eval(ctx):
        chain.append(LeakageFilter())
    chain.append(ConstraintFilter())
    if custom_setting(ctx, EMPATHY) is not None:
        chain.append(EmpathyFilter())
    if custom_setting(ctx, FRAMEWORK) is not None:
        chain.append(FrameworkAdherenceFilter())
    if custom_setting(ctx, CODE) is not None:
        chain.append(CodeExecutabilityFilter())
    if custom_setting(ctx, FACTUAL) is not None:
        chain.append(FactualAccuracyFilter())
    chain.append(DiversityFilter())
    return chain


def unknown_custom_filters(ctx: FilterContext) -> list[str]:
    """Enabled custom_filters entries no filter implements (for a warning)."""
    return [e.name for e in getattr(ctx.thresholds, "custom_filters", None) or []
            if e.enabled and e.name not in KNOWN_CUSTOM]


# ---------------------------------------------------------------- the outcome


class FilterCount(NamedTuple):
    """(checked, passed) for one filter: unpacks as a tuple, reads as .checked / .passed."""

    checked: int
    passed: int


@dataclass
class FilterOutcome:
    kept: list[TrainingExample] = field(default_factory=list)
    rejected: list[tuple[TrainingExample, list[FilterResult]]] = field(default_factory=list)
    log_rows: list[QualityLogRow] = field(default_factory=list)
    stats: dict[str, FilterCount] = field(default_factory=dict)  # filter -> (checked, passed)
    results: list[list[FilterResult]] = field(default_factory=list)  # per input example, every result computed
    kept_results: list[list[FilterResult]] = field(default_factory=list)  # aligned with kept

    @property
    def checked(self) -> int:
        return len(self.kept) + len(self.rejected)

    @property
    def pass_rate(self) -> float:
        return len(self.kept) / self.checked if self.checked else 0.0

    def top_reasons(self, k: int = 3) -> list[tuple[str, int]]:
        """The ``k`` most frequent rejection reason codes with their counts, most frequent first."""
        return Counter(r.reason_code for _, fails in self.rejected for r in fails).most_common(k)

    def rejections_by_reason(self) -> dict[str, int]:
        return dict(Counter(r.reason_code for _, fails in self.rejected for r in fails))

    def hints(self, k: int = 3) -> list[str]:
        """Instructions for the generator from the top rejection reasons."""
        return [REASON_HINTS.get(code, code) for code, _ in self.top_reasons(k)]

    def filter_stats(self) -> dict[str, FilterStats]:
        return {name: FilterStats(checked=c, passed=p) for name, (c, p) in self.stats.items()}

    def category_stats(self) -> dict[str, FilterStats]:
        out: dict[str, FilterStats] = {}
        for e in self.kept:
            s = out.setdefault(e.category, FilterStats())
            s.checked, s.passed = s.checked + 1, s.passed + 1
        for e, _ in self.rejected:
            s = out.setdefault(e.category, FilterStats())
            s.checked += 1
        return out

    def scores(self, filter_name: str) -> list[float]:
        """The scores ``filter_name`` gave the kept examples (diversity: each one's highest similarity)."""
        return [r.score for rs in self.kept_results for r in rs if r.filter == filter_name and r.score is not None]

    def merge(self, other: "FilterOutcome") -> "FilterOutcome":
        """Add another batch's outcome to this one (in place; returns self)."""
        self.kept.extend(other.kept)
        self.rejected.extend(other.rejected)
        self.log_rows.extend(other.log_rows)
        self.results.extend(other.results)
        self.kept_results.extend(other.kept_results)
        for name, (c, p) in other.stats.items():
            c0, p0 = self.stats.get(name, (0, 0))
            self.stats[name] = FilterCount(c0 + c, p0 + p)
        return self


# ---------------------------------------------------------------- running


async def run_filters(
    examples: Sequence[TrainingExample],
    ctx: FilterContext,
    phase: str = "pilot",
    filters: Sequence[Filter] | None = None,
) -> FilterOutcome:
    """Run the chain over a batch. An example failing a filter is not sent to the later ones."""
    from core.generate.filters.calibrate import DEMOTED

    chain = list(filters) if filters is not None else enabled_filters(ctx)
    demoted: dict[str, float] = ctx.extras.get(DEMOTED) or {}
    results: list[list[FilterResult]] = [[] for _ in examples]
    counts = {f.name: [0, 0] for f in chain}
    alive = list(range(len(examples)))
    for f in chain:
        if not alive:
            break
        batch = [examples[i] for i in alive]
        got = await f.check_batch(batch, ctx)
        await asyncio.sleep(0)  # between filters, let the replies that arrived meanwhile go on
        if len(got) != len(batch):
            raise RuntimeError(f"filter {f.name} returned {len(got)} results for {len(batch)} examples")
        counts[f.name][0] += len(batch)
        survivors = []
        if demoted:  # a check the approved eval references fail is not enforced (filters/calibrate.py)
            got = [ok(r.filter, r.score, f"not enforced in this run ({r.reason_code} rejects "
                                          f"{demoted[r.reason_code]:.0%} of the eval references): {r.detail}")
                   if not r.passed and r.reason_code in demoted else r for r in got]
        for i, r in zip(alive, got):
            results[i].append(r)
            if r.passed:
                counts[f.name][1] += 1
                survivors.append(i)
        alive = survivors
    outcome = FilterOutcome(stats={n: FilterCount(c, p) for n, (c, p) in counts.items()}, results=results)
    survived = set(alive)
    for i, e in enumerate(examples):
        if i in survived:
            outcome.kept.append(e)
            outcome.kept_results.append(results[i])
            continue
        fails = [r for r in results[i] if not r.passed]
        outcome.rejected.append((e, fails))
        for r in fails:
            outcome.log_rows.append(QualityLogRow(
                example_id=e.id, phase=phase, filter=r.filter, passed=False, reason_code=r.reason_code,
                score=r.score, detail=r.detail, category=e.category,
            ))
    return outcome
