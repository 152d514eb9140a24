"""Whether in-scope responses follow a framework's response template: decided once, read by every stage.

The generator's prompt lists the steps, the completeness and framework-adherence filters check them,
the critique / verify prompts require them, the dataset card states them and the judge's rubric grades
them, all from :func:`template_for`. So a filter can never demand steps the generator was not asked
for, and the evaluation never grades a structure the data did not teach.

Template mode is on when the knowledge base carries a framework with a response template AND

- the project's ``generation_strategy`` is ``"template"``, or
- framework mode is on: ``knowledge_base.framework_mode = "enabled"`` (set when the expert named a
  framework in the interview, or the project's ``config.extract.framework_mode`` is enabled) or
  ``config.generate.framework_mode = true``.

The first framework with a template gives the steps. Refusals and prompt-only (GRPO) examples are never
held to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResponseTemplate:
    framework: str
    steps: tuple[str, ...]
    terminology: tuple[str, ...]
    reason: str  # why template mode is on (shown to the user, written to the reports)

    def numbered(self) -> str:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(self.steps, 1))


def decide(knowledge: Any, generation_strategy: str, framework_on: bool) -> ResponseTemplate | None:
    """The rule of the module docstring over plain inputs (``knowledge``: a KnowledgeBase or None)."""
    if knowledge is None:
        return None
    fw = next((f for f in knowledge.frameworks or () if any(s.strip() for s in f.template)), None)
    if fw is None:
        return None
    kb_on = getattr(knowledge, "framework_mode", "disabled") == "enabled"
    if generation_strategy == "template":
        why = "generation_strategy is template"
    elif kb_on or framework_on:
        why = "framework mode is on"
    else:
        return None
    steps = tuple(s.strip() for s in fw.template if s.strip())
    return ResponseTemplate(fw.name, steps, tuple(t for t in fw.terminology if t.strip()),
                            f"{why}: responses follow the {fw.name} template ({len(steps)} steps)")


def template_for(project: Any, knowledge: Any = None) -> ResponseTemplate | None:
    """The response template of an open project, or None when responses follow none."""
    if knowledge is None:
        from core.models.knowledge import KnowledgeBase
        from core.project import KNOWLEDGE_BASE

        knowledge = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
    cfg = project.meta.config
    on = cfg.generate.framework_mode or cfg.extract.framework_mode == "enabled"
    return decide(knowledge, cfg.generate.generation_strategy, on)
