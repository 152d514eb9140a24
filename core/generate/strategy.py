"""Which generation strategy a project uses (SKILL 2, "Strategy Selection (Auto-Configured)").

The spec's table, by the knowledge base's task_type:

    task_type              strategy              role            checks
    classification         few_shot              generator_fast  (structured output)
    instruction_following  seed_diversification  generator       self-critique + revise
    transformation         seed_diversification  generator       verification (input-output variation)
    preference             contrastive           generator       chosen by the strong model, rejected by
                                                                 the weak model / degradation strategies
    reasoning              cot                   generator       verification

A training method that needs bad responses (dpo, kto) makes "auto" contrastive whatever the task type.
``generation_strategy`` (few_shot, template, contrastive, cot) overrides the prompt style; the task type's
checks (self-critique, verification) stay, and cot always verifies. Template mode puts the response steps
of a framework template (knowledge_base.frameworks[].template) into every in-scope response: with "auto"
when framework_mode is enabled, with "template" whenever the knowledge base has a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

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
    template_steps: tuple[str, ...]  # framework template steps when template mode is on
    reason: str  # one line: why this strategy (shown to the user)


def _enabled(framework_mode: Any) -> bool:
    if isinstance(framework_mode, str):
        return framework_mode.strip().lower() in ("enabled", "true", "yes", "on")
    return bool(framework_mode)


def _template(frameworks: Sequence[Any]) -> tuple[str, tuple[str, ...]]:
    """(framework name, steps) of the first framework with a template; ("", ()) when none has one."""
    for fw in frameworks or ():
        name = fw.get("name", "") if isinstance(fw, dict) else getattr(fw, "name", "")
        steps = fw.get("template", ()) if isinstance(fw, dict) else getattr(fw, "template", ())
        steps = tuple(s.strip() for s in steps or () if s and s.strip())
        if steps:
            return str(name), steps
    return "", ()


def choose_strategy(
    task_type: str,
    generation_strategy: str,
    training_method: str,
    framework_mode: bool,
    frameworks: list,
) -> StrategyPlan:
    """The strategy for a project; see the module docstring for the rules."""
    if task_type not in TABLE:
        raise ValueError(f"unknown task_type {task_type!r} (known: {', '.join(TABLE)})")
    choice = (generation_strategy or "auto").strip().lower()
    if choice not in OVERRIDES:
        raise ValueError(f"unknown generation_strategy {generation_strategy!r} (known: {', '.join(OVERRIDES)})")
    name, role, critique, verify, why = TABLE[task_type]
    kind = task_type.replace("_", "-")
    needs_bad = training_method in CONTRASTIVE_METHODS
    fw_name, steps = _template(frameworks)
    notes: list[str] = []
    if choice == "template" and not steps:
        choice = "auto"
        notes.append("template was requested but the knowledge base has no framework template")

    if choice == "auto":
        reason = f"auto for {kind}: {why}"
        if needs_bad and name != "contrastive":
            name, role = "contrastive", "generator"
            reason += f"; {training_method.upper()} needs bad responses, so contrastive (strong + weak model)"
        if _enabled(framework_mode) and steps:
            notes.append(f"framework mode: responses follow the {fw_name} template ({len(steps)} steps)")
        else:
            steps = ()
    else:
        name = choice
        reason = f"{choice.replace('_', '-')} (set in generation_strategy) for {kind}"
        fast = task_type == "classification" and choice == "few_shot" and not needs_bad
        role = "generator_fast" if fast else "generator"
        verify = verify or choice == "cot"
        if choice == "template":
            notes.append(f"responses follow the {fw_name} template ({len(steps)} steps)")
        else:
            steps = ()
        checks = [c for c, on in (("self-critique", critique), ("verification", verify)) if on]
        if checks:
            notes.append(" and ".join(checks))
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
        template_steps=tuple(steps),
        reason=reason,
    )


def strategy_for(project: Any, knowledge: Any = None) -> StrategyPlan:
    """The strategy of an open project (task type and frameworks from the knowledge base when it has one)."""
    if knowledge is None:
        from core.models.knowledge import KnowledgeBase
        from core.project import KNOWLEDGE_BASE

        knowledge = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
    meta = project.meta
    cfg = meta.config.generate
    task_type = getattr(knowledge, "task_type", None) or meta.task_type
    frameworks = list(getattr(knowledge, "frameworks", []) or [])
    mode = cfg.framework_mode or _enabled(getattr(knowledge, "framework_mode", False))
    return choose_strategy(task_type, cfg.generation_strategy, meta.training_method, mode, frameworks)
