"""The generation prompts' pieces: the knowledge the examples are built from, strategy notes, seeds and
the numbered example blocks the critique / verify / rejected prompts read (templates in core/prompts)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from core import prompts
from core.models.knowledge import (
    InputTaxonomy,
    KnowledgeBase,
    QualityCriteria,
    ScopeBoundaries,
)

TEMPLATES = {"common": "generate_common", "edge": "generate_edge", "refusal": "generate_refusal"}
DEFAULT_DIFFICULTY_TEXT = {
    "easy": "a clear, typical request with everything needed to answer it",
    "medium": "needs some judgment, several steps or details the user left implicit",
    "hard": "complex, ambiguous or multi-part; an expert would have to think carefully",
}
KIND_RULES = {
    "common": "in scope: the response must answer fully and correctly",
    "edge": "in scope but unusual: the response must handle the difficulty and still help",
    "refusal": "out of scope: the response must decline politely, say where to go instead and what it can do, "
               "and never partly do the excluded thing",
}
LIST_LIMIT = 12  # statements per list in the knowledge block
NOTES_LIMIT = 15  # feedback points / inputs to avoid per prompt

# Seed diversification: who writes, in what situation, how.
PERSONAS = (
    "a first-timer unsure of the right terms", "a busy professional writing between meetings",
    "an experienced practitioner who wants the details", "a non-native English speaker",
    "a frustrated user on their second attempt", "a careful retiree who double-checks everything",
    "a student learning the basics", "a manager asking on behalf of a team", "a skeptic who doubts the usual advice",
    "a parent juggling several things at once", "a small-business owner", "someone anxious about getting it wrong",
)
CONTEXTS = (
    "in a hurry, with a deadline today", "after trying something that did not work",
    "with plenty of background detail, some of it irrelevant", "leaving out one detail that matters",
    "comparing two options", "on a phone, away from their desk", "late at night", "for someone else",
    "with numbers or specifics quoted", "after getting conflicting advice", "planning ahead, no urgency",
    "following up on an earlier problem",
)
STYLES = (
    "terse, one line", "chatty and informal", "formal and polite", "a long paragraph", "a short list of questions",
    "lowercase with a typo or two", "precise and technical", "emotional", "direct, no greeting",
    "two short paragraphs",
)


def _texts(items: Iterable[Any]) -> list[str]:
    return [s.text.strip() for s in items or () if getattr(s, "text", "").strip()]


def _bullets(items: Sequence[str], empty: str = "(none)") -> str:
    return prompts.bullet(list(items)[:LIST_LIMIT], empty=empty)


def fragment(name: str, **values: object) -> str:
    """The user section of a fragment template, filled."""
    return prompts.render(name, **values)[-1]["content"]


@dataclass
class Sources:
    """The project's knowledge the examples are built from (each artifact optional)."""

    task: str
    task_type: str
    knowledge: KnowledgeBase | None = None
    boundaries: ScopeBoundaries | None = None
    taxonomy: InputTaxonomy | None = None
    criteria: QualityCriteria | None = None
    _block: str | None = field(default=None, repr=False)

    @classmethod
    def load(cls, project: Any) -> "Sources":
        from core.project import BOUNDARIES, CRITERIA, KNOWLEDGE_BASE, TAXONOMY

        kb = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
        return cls(
            task=project.meta.task,
            task_type=project.meta.task_type,  # the one task-type decision (core/task_type.py)
            knowledge=kb,
            boundaries=project.read_or(BOUNDARIES, ScopeBoundaries),
            taxonomy=project.read_or(TAXONOMY, InputTaxonomy),
            criteria=project.read_or(CRITERIA, QualityCriteria),
        )

    def category_description(self, name: str) -> str:
        for c in (self.taxonomy.categories if self.taxonomy else ()):
            if c.name == name:
                return c.description or "(no description)"
        return "(no description)"

    def difficulty_description(self, name: str) -> str:
        given = {d.name: d.description for d in (self.taxonomy.difficulty_levels if self.taxonomy else ())}
        return given.get(name) or DEFAULT_DIFFICULTY_TEXT.get(name, name)

    def common_errors(self) -> list[str]:
        return _texts(self.knowledge.competencies.common_errors) if self.knowledge else []

    def knowledge_block(self) -> str:
        """Task, definition, competencies, boundaries and quality criteria, as one prompt block."""
        if self._block is not None:
            return self._block
        parts = [f"Task: {self.task}"]
        kb, b, qc = self.knowledge, self.boundaries, self.criteria
        if kb is not None:
            parts.append(f"Task definition: {kb.task_definition}")
            comp = kb.competencies
            for title, items in (("Constraints", kb.constraints), ("The model must always", comp.always),
                                 ("It must never", comp.never), ("Gray areas needing judgment", comp.gray_areas),
                                 ("Common errors to avoid", comp.common_errors)):
                if _texts(items):
                    parts.append(f"{title}:\n{_bullets(_texts(items))}")
            if kb.frameworks:
                parts.append("Frameworks the responses draw on: " + ", ".join(f.name for f in kb.frameworks))
        if b is not None:
            parts.append(f"The model WILL:\n{_bullets(_texts(b.will))}")
            parts.append(f"The model WILL NOT:\n{_bullets(_texts(b.will_not))}")
            if _texts(b.hard_constraints):
                parts.append(f"Hard constraints:\n{_bullets(_texts(b.hard_constraints))}")
        if qc is not None:
            if _texts(qc.good_output):
                parts.append(f"A good response:\n{_bullets(_texts(qc.good_output))}")
            if _texts(qc.minimum_acceptable):
                parts.append(f"Minimum acceptable:\n{_bullets(_texts(qc.minimum_acceptable))}")
        self._block = "\n\n".join(parts) + "\n"
        return self._block


def seed_lines(rng: random.Random, n: int) -> str:
    """``n`` numbered persona / context / style seeds, all different."""
    combos = set()
    lines = []
    while len(lines) < n:
        p, c, s = rng.choice(PERSONAS), rng.choice(CONTEXTS), rng.choice(STYLES)
        if (p, c, s) in combos and len(combos) < len(PERSONAS) * len(CONTEXTS) * len(STYLES):
            continue
        combos.add((p, c, s))
        lines.append(f"{len(lines) + 1}. {p}; {c}; writes {s}")
    return "\n".join(lines)


def strategy_notes(
    src: Sources,
    strategy: Any,
    kind: str,
    seeds: str,
    shots: Sequence[tuple[str, str]],
    *,
    labels: Sequence[str] = (),
    refusal: str = "",
    demands: Sequence[str] = (),
) -> str:
    """The strategy's instructions for one request (fragments joined; empty lines around)."""
    parts = [fragment("generate_seeds", seeds=seeds)]
    name = strategy.name
    if src.task_type == "classification" and kind != "refusal":
        parts.append(fragment("generate_structured", labels=(
            "Every response is exactly one of these labels, written exactly so: " + ", ".join(labels) + "."
            if labels else "Use one consistent set of labels across all examples.")))
    if shots:
        demo = "\n".join(f"- input: {_short(i, 300)}\n  response: {_short(r, 400)}" for i, r in shots)
        parts.append(fragment("generate_few_shot", shots=demo))
    if (name == "cot" or src.task_type == "reasoning") and kind != "refusal":
        parts.append(fragment("generate_cot"))
    if demands and kind != "refusal":
        parts.append("Every response also passes these checks:\n" + _bullets(list(demands)))
    template = getattr(strategy, "template", None)
    if template is not None and kind != "refusal":
        parts.append(fragment(
            "generate_template",
            framework=template.framework,
            steps=template.numbered(),
            terminology=", ".join(template.terminology[:LIST_LIMIT]) or "(none listed)",
        ))
    if kind == "refusal" and refusal:
        parts.append(fragment("generate_refusal_opening", sentence=refusal))
    if name == "contrastive":
        parts.append(fragment("generate_contrastive", errors=_bullets(src.common_errors(),
                                                                       empty="- vague, generic or incomplete answers")))
    return "\n" + "\n\n".join(parts) + "\n"


def notes(feedback: Sequence[str], avoid: Sequence[str]) -> str:
    parts = []
    if feedback:
        parts.append(fragment("generate_feedback", feedback=prompts.bullet(list(feedback)[-NOTES_LIMIT:])))
    if avoid:
        parts.append(fragment("generate_avoid", inputs=prompts.bullet([_short(a) for a in list(avoid)[-NOTES_LIMIT:]])))
    return ("\n" + "\n\n".join(parts) + "\n") if parts else ""


def requirements(strategy: Any, src: Sources) -> str:
    """What every in-scope response must have (template steps, chain of thought), for critique / verify."""
    parts = []
    if strategy.template_steps:
        parts.append("In-scope responses follow these steps in order: " + "; ".join(strategy.template_steps) + ".")
    if strategy.name == "cot" or src.task_type == "reasoning":
        parts.append("In-scope responses reason step by step and end with a line starting 'Final answer:'.")
    return ("\n".join(parts) + "\n") if parts else ""


def item_blocks(pairs: Sequence[tuple[str, str]], labels: Sequence[str] | None = None) -> str:
    """Numbered examples (1-based) the critique / verify / rejected prompts show, in a parseable layout."""
    out = []
    for i, (inp, resp) in enumerate(pairs, 1):
        head = f"### Example {i}" + (f" (strategy={labels[i - 1]})" if labels else "")
        out.append(f"{head}\nInput:\n<<<\n{inp.strip()}\n>>>\nResponse:\n<<<\n{resp.strip()}\n>>>")
    return "\n\n".join(out)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# what each enabled custom filter checks, told to the generator (a filter never demands what it was not asked)
CUSTOM_DEMANDS = {
    "empathy_markers": "it opens by acknowledging and validating the user's feelings in plain words "
                       "(\"That sounds really stressful…\", \"I understand why…\")",
    "code_executability": "every python code block runs as a standalone script, without network access",
    "framework_adherence": "it follows the response template's steps in order",
    "factual_accuracy": "every fact agrees with the knowledge above",
}


def filter_demands(project: Any) -> list[str]:
    """The generator-facing demands of the project's enabled custom filters."""
    entries = project.meta.config.generate.quality_thresholds.custom_filters
    return [CUSTOM_DEMANDS[e.name] for e in entries if e.enabled and e.name in CUSTOM_DEMANDS]
