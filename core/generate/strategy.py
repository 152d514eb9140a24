"""Which generation strategy a project uses (SKILL 2, "Strategy Selection (Auto-Configured)").

The spec's table, by the task type (the spec says "task_type in knowledge_base.json"; tunesmith reads the one
decision in project.toml, core/task_type.py, which the knowledge base only copies, so generation and the
evaluation never disagree):

    task_type              strategy              role            checks
    classification         few_shot              generator_fast  (structured output)
    instruction_following  seed_diversification  generator       self-critique + revise
    transformation         seed_diversification  generator       verification (input-output variation)
    preference             contrastive           generator       chosen by the strong model, rejected by
                                                                 the weak model / degradation strategies
    reasoning              cot                   generator       verification

A training method that needs bad responses (dpo, kto) makes "auto" contrastive whatever the task type.
``generation_strategy`` (few_shot, template, contrastive, cot) overrides the prompt style; the task type's
checks (self-critique, verification) stay, and cot always verifies. Whether in-scope responses follow a
framework's response template is decided by :mod:`core.response_template` (whatever the strategy); the
plan carries that decision, so the prompts and the filters read the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.response_template import ResponseTemplate

STRATEGIES: tuple[str, ...] = ("few_shot", "template", "contrastive", "cot", "seed_diversification")
OVERRIDES: tuple[str, ...] = ("auto", "few_shot", "template", "contrastive", "cot")
CONTRASTIVE_METHODS: tuple[str, ...] = ("dpo", "kto")

# task_type -> (strategy, role, self_critique, verify, what it means)
TABLE: dict[str, tuple[str, str, bool, bool, str]] = {
    "classification": ("few_shot", "generator_fast", False, False,
                       "few-shot prompting with structured output on the fast generator"),
    "instruction_following": ("seed_diversification", "generator", True, False,
                              "seed diversification (persona, context, style) with self-critique on the frontier "
                              "generator"),
    "transformation": ("seed_diversification", "generator", False, True,
                       "input-output variation with a verification pass that drops wrong outputs"),
    "preference": ("contrastive", "generator", False, False,
                   "contrastive generation: a strong model writes the good response, a weak model and "
                   "degradation strategies the bad ones"),
    "reasoning": ("cot", "generator", False, True,
                  "chain-of-thought responses with a verification pass"),
}


@dataclass(frozen=True)
class StrategyPlan:
    name: str  # few_shot | template | contrastive | cot | seed_diversification (what "auto" resolved to)
    role: str  # gateway role of the main generation: "generator_fast" (classification) or "generator"
    self_critique: bool  # instruction-following: critique + revise
    verify: bool  # transformation / reasoning: a verification pass
    contrastive: bool  # preference: chosen by the strong model, rejected by the weak model / degradations
    template_steps: tuple[str, ...]  # the response template's steps (core/response_template.py), or ()
    reason: str  # one line: why this strategy (shown to the user)
    template: ResponseTemplate | None = None


def choose_strategy(
    task_type: str,
    generation_strategy: str,
    training_method: str,
    template: ResponseTemplate | None = None,
) -> StrategyPlan:
    """The strategy for a project; see the module docstring for the rules. ``template`` is the project's
    response-template decision (:func:`core.response_template.template_for`): the strategy carries it
    unchanged, so the generator is asked for exactly the steps the filters check."""
    if task_type not in TABLE:
        raise ValueError(f"unknown task_type {task_type!r} (known: {', '.join(TABLE)})")
    choice = (generation_strategy or "auto").strip().lower()
    if choice not in OVERRIDES:
        raise ValueError(f"unknown generation_strategy {generation_strategy!r} (known: {', '.join(OVERRIDES)})")
    name, role, critique, verify, why = TABLE[task_type]
    kind = task_type.replace("_", "-")
    needs_bad = training_method in CONTRASTIVE_METHODS
    notes: list[str] = []
    if choice == "template" and template is None:
        choice = "auto"
        notes.append("template was requested but the knowledge base has no framework template")

    if choice == "auto":
        reason = f"auto for {kind}: {why}"
        if needs_bad and name != "contrastive":
            name, role = "contrastive", "generator"
            reason += f"; {training_method.upper()} needs bad responses, so contrastive (strong + weak model)"
    else:
        name = choice
        reason = f"{choice.replace('_', '-')} (set in generation_strategy) for {kind}"
        fast = task_type == "classification" and choice == "few_shot" and not needs_bad
        role = "generator_fast" if fast else "generator"
        verify = verify or choice == "cot"
        checks = [c for c, on in (("self-critique", critique), ("verification", verify)) if on]
        if checks:
            notes.append(" and ".join(checks))
    if template is not None:
        notes.append(template.reason)
    if needs_bad:
        notes.append("rejected responses: weak model, truncated, off-topic, verbose, tone mismatch")
    if notes:
        reason += "; " + "; ".join(notes)
    return StrategyPlan(
        name=name,
        role=role,
        self_critique=critique,
        verify=verify,
        contrastive=needs_bad or name == "contrastive",
        template_steps=template.steps if template is not None else (),
        reason=reason,
        template=template,
    )


def strategy_for(project: Any, knowledge: Any = None) -> StrategyPlan:
    """The strategy of an open project: its task type (project.toml, core/task_type.py) and its response
    template (core/response_template.py)."""
    from core.response_template import template_for

    meta = project.meta
    template = template_for(project, knowledge)
    return choose_strategy(meta.task_type, meta.config.generate.generation_strategy, meta.training_method, template)
