"""The built-in framework library and how a task is mapped onto a framework (SKILL 1, item 5).

The library lives in ``frameworks.toml`` next to this module: components, terminology and an ordered
response template per framework. The interview always asks "Are there established approaches or
frameworks for this?"; its answer and the ``framework_mode`` / ``framework_sources`` configuration
decide what :func:`load_frameworks` returns for the knowledge base.

A framework is suggested ahead of "no framework" only when it really matches the task (:func:`matches`):
the task names it, or hits its distinctive keywords. A generic word of its domain ("business", "plain
English", "support") is never enough on its own: such weak matches are offered after the "no framework"
answer, so that an empty answer (the first suggestion) builds a custom taxonomy.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from core import prompts
from core.llm.errors import LLMError
from core.models.knowledge import FrameworkUse, Interview, KnowledgeBase, Statement

LIBRARY_FILE = Path(__file__).resolve().parent / "frameworks.toml"

FRAMEWORK_QUESTION_ID = "frameworks"
FRAMEWORK_QUESTION = "Are there established approaches or frameworks for this?"
NO_FRAMEWORK = "No established framework applies; build a custom taxonomy from this conversation"

_NEGATIVE = re.compile(r"^\s*(no|none|nope|not really|n/?a|nothing|we don'?t|there (are|is) no)\b", re.I)


@dataclass(frozen=True)
class Framework:
    name: str
    summary: str
    components: tuple[str, ...]
    terminology: tuple[str, ...]
    template: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    exact_aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = field(default=(), repr=False)
    label: str = ""
    generic_aliases: tuple[str, ...] = ()
    generic_keywords: tuple[str, ...] = field(default=(), repr=False)

    def use(self, mapping: list[Statement] | None = None) -> FrameworkUse:
        """This framework as a knowledge-base entry (components copied; mapping as given)."""
        return FrameworkUse(name=self.name, components=list(self.components), terminology=list(self.terminology),
                            template=list(self.template), mapping=list(mapping or []))


# ---------------------------------------------------------------- the library


def _norm(text: str) -> str:
    """Lower-case letters and digits only: 'PEP-8' == 'pep 8' == 'pep8'."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


@lru_cache(maxsize=1)
def library() -> tuple[Framework, ...]:
    data = tomllib.loads(LIBRARY_FILE.read_text(encoding="utf-8"))
    out = []
    for entry in data.get("framework", []):
        out.append(Framework(
            name=entry["name"],
            summary=entry.get("summary", ""),
            components=tuple(entry.get("components", ())),
            terminology=tuple(entry.get("terminology", ())),
            template=tuple(entry.get("template", ())),
            aliases=tuple(entry.get("aliases", ())),
            exact_aliases=tuple(entry.get("exact_aliases", ())),
            keywords=tuple(k.lower() for k in entry.get("keywords", ())),
            label=entry.get("label", ""),
            generic_aliases=tuple(entry.get("generic_aliases", ())),
            generic_keywords=tuple(k.lower() for k in entry.get("generic_keywords", ())),
        ))
    return tuple(out)


def names() -> list[str]:
    return [fw.name for fw in library()]


def find(name: str) -> Framework | None:
    """The framework called ``name`` (case, spaces, punctuation and known aliases ignored), or None."""
    key = _norm(name or "")
    if not key:
        return None
    for fw in library():
        if key == _norm(fw.name) or any(key == _norm(a) for a in fw.aliases + fw.exact_aliases + fw.generic_aliases):
            return fw
    # "clean code principles" -> "Clean Code"; "the CBT approach" -> "CBT"
    words = set(re.findall(r"[a-z0-9]+", name.lower()))
    for fw in library():
        for alias in (fw.name, *fw.aliases):
            alias_words = re.findall(r"[a-z0-9]+", alias.lower())
            if len(_norm(alias)) >= 3 and alias_words and set(alias_words) <= words:
                return fw
    return None


def _words(phrase: str) -> list[str]:
    return re.findall(r"[^\W_]+", phrase)


def _pattern(phrase: str, *, plural: bool = False) -> str:
    """A phrase as a regex: its words in order, any spaces or punctuation between, whole words only
    (``plural``: an -s / -es ending allowed, "tickets" for "ticket")."""
    words = [re.escape(w) for w in _words(phrase)]
    if not words:
        return r"(?!)"
    return (r"(?<![^\W_])" + r"[\s\-_/.,']*".join(words) + (r"(?:e?s)?" if plural else "")
            + r"(?![^\W_])")


def _mentions(text: str, phrase: str, *, case_sensitive: bool = False) -> bool:
    return re.search(_pattern(phrase), text, 0 if case_sensitive else re.I) is not None


@lru_cache(maxsize=None)
def _naming_phrases(fw: Framework) -> tuple[tuple[str, bool], ...]:
    """The phrases that name ``fw`` in free text, each with whether it only counts in capitals.

    Short acronyms that are ordinary words ("act", "mi") only count in capitals; a single ordinary word
    never names a framework whose name has several words ("cleancode", "oars" in lower case), nor do
    the generic aliases ("plain English", "customer support").
    """
    several = len(_words(fw.name)) > 1
    out: list[tuple[str, bool]] = []
    for phrase in (fw.name, *fw.aliases):
        if phrase in fw.exact_aliases:
            continue
        if several and len(_words(phrase)) == 1 and not any(c.isdigit() for c in phrase):
            if phrase.isupper():
                out.append((phrase, True))
            continue
        out.append((phrase, False))
    out.extend((phrase, True) for phrase in fw.exact_aliases)
    return tuple(out)


def _names(text: str, fw: Framework) -> bool:
    return any(_mentions(text, phrase, case_sensitive=exact) for phrase, exact in _naming_phrases(fw))


def mentioned(text: str) -> list[Framework]:
    """The library frameworks that free text (an interview answer, a task) names, in library order."""
    if not text:
        return []
    return [fw for fw in library() if _names(text, fw)]


# ---------------------------------------------------------------- suggesting frameworks for a task

STRONG_SCORE = 2.0  # keyword points a task needs (with a distinctive keyword among them) to really match
NAMED_SCORE = 10.0
GENERIC_POINTS = 0.5
OFFER_SCORE = 1.0  # a weak match below this (one generic word) is not even offered after "no framework"


@dataclass(frozen=True)
class Match:
    """How well a library framework fits a task: named in it, or its keyword points."""

    framework: Framework
    score: float
    named: bool = False
    distinctive: bool = False  # at least one of its distinctive keywords was found

    @property
    def strong(self) -> bool:
        """A real match: suggested ahead of "no framework"."""
        return self.named or (self.distinctive and self.score >= STRONG_SCORE)


@lru_cache(maxsize=None)
def _keyword_table(fw: Framework) -> tuple[tuple[str, float, bool], ...]:
    """(phrase, points, distinctive) for every keyword; several words score 2, generic ones 0.5."""
    table = [(kw, 2.0 if len(kw.split()) > 1 else 1.0, True) for kw in fw.keywords]
    table += [(kw.lower(), GENERIC_POINTS, False) for kw in (*fw.generic_keywords, *fw.generic_aliases)]
    return tuple(table)


def _keyword_points(text: str, fw: Framework) -> tuple[float, bool]:
    """The keyword points of ``fw`` in ``text``: each keyword counts once, and a keyword found inside a
    longer one that was found ("code" in "code review") does not count again."""
    hits: list[tuple[int, int, float, bool]] = []
    for phrase, points, distinctive in _keyword_table(fw):
        m = re.search(_pattern(phrase, plural=True), text, re.I)
        if m:
            hits.append((m.start(), m.end(), points, distinctive))
    hits.sort(key=lambda h: (-(h[1] - h[0]), -h[2]))
    taken: list[tuple[int, int]] = []
    score, distinctive = 0.0, False
    for start, end, points, is_distinctive in hits:
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        score += points
        distinctive = distinctive or is_distinctive
    return score, distinctive


def matches(task: str) -> list[Match]:
    """Every library framework with any sign of fitting the task: real matches first, best first."""
    found: list[tuple[int, Match]] = []
    for i, fw in enumerate(library()):
        named = _names(task or "", fw)
        points, distinctive = _keyword_points(task or "", fw)
        if named or points > 0:
            found.append((i, Match(fw, points + (NAMED_SCORE if named else 0.0), named, distinctive)))
    found.sort(key=lambda t: (not t[1].strong, -t[1].score, t[0]))
    return [m for _, m in found]


def suggest(task: str, limit: int = 3, *, strong_only: bool = False) -> list[Framework]:
    """Library frameworks relevant to a task description, best first (named ones, then real keyword
    matches, then weak ones unless ``strong_only``)."""
    return [m.framework for m in matches(task) if m.strong or not strong_only][:limit]


PARTLY_ANSWER = "Partly: we follow internal guidelines or a style guide (I will name them)"
GENERIC_MECE_ANSWER = "Yes: MECE (structure every answer into non-overlapping parts that cover everything)"


def _yes(fw: Framework) -> str:
    return f"Yes: {fw.name} ({fw.label})" if fw.label else f"Yes: {fw.name}"


def framework_suggestions(task: str, sources: list[str] | None = None) -> list[str]:
    """The 2-4 suggested answers of the framework question, most likely first.

    The configured ``framework_sources`` come first, then at most two frameworks that really match the
    task (:attr:`Match.strong`), then "no framework"; weak matches only come after it, so an empty
    answer (the first suggestion) never picks a framework the task merely brushes against (a single
    generic word is not even offered).
    """
    configured = [fw for fw in (find(s) for s in sources or []) if fw is not None]
    found = [m for m in matches(task) if m.framework not in configured]
    yes: list[str] = []
    if configured:
        yes.append("Yes: " + _join([fw.name for fw in configured]))
    yes += [_yes(m.framework) for m in found if m.strong][: 2 - len(yes)]
    later = [_yes(m.framework) for m in found if not m.strong and m.score >= OFFER_SCORE][: max(0, 2 - len(yes))]
    if not yes:
        later.append(PARTLY_ANSWER)
        if len(later) < 2 and not any(m.framework.name == "MECE" for m in found):
            later.append(GENERIC_MECE_ANSWER)
    return (yes + [NO_FRAMEWORK] + later)[:4]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _without_labels(answer: str) -> str:
    """The answer without the library's own explanations in brackets ("Yes: MECE (mutually exclusive, ...)"),
    so that a picked suggestion names exactly the framework it offers."""
    for text in [fw.label for fw in library() if fw.label] + [GENERIC_MECE_ANSWER.split("(", 1)[1].rstrip(")")]:
        answer = re.sub(r"\(\s*" + re.escape(text) + r"\s*\)", " ", answer, flags=re.I)
    return answer


def is_negative(answer: str) -> bool:
    """An answer that says no framework applies (and names none)."""
    return bool(answer) and (answer.strip() == NO_FRAMEWORK or (_NEGATIVE.match(answer) is not None
                                                                and not mentioned(answer)))


# ---------------------------------------------------------------- mapping a task onto a framework


class ComponentMapping(BaseModel):
    component: str = Field(description="a component of the framework, by its name", json_schema_extra={"minLength": 1})
    statement: str = Field(description="one sentence: how this task uses the component, concretely",
                           json_schema_extra={"minLength": 1})
    question_ids: list[str] = Field(default_factory=list, description="ids of the interview answers this rests on")

    @field_validator("question_ids", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [v]
        return [str(x) for x in v] if isinstance(v, list) else v


class FrameworkMapping(BaseModel):
    """What the interviewer model returns for prompts/interview_framework_map.md."""

    mappings: list[ComponentMapping] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list, description="only for a framework not in the library")
    terminology: list[str] = Field(default_factory=list)
    template: list[str] = Field(default_factory=list)


def knowledge_text(knowledge: Interview | KnowledgeBase | str | None) -> tuple[str, set[str]]:
    """The interview answers (or knowledge base) as prompt text, and the question ids it may cite."""
    if knowledge is None:
        return "(no answers yet)", set()
    if isinstance(knowledge, str):
        return knowledge, set()
    if isinstance(knowledge, KnowledgeBase):
        lines = [f"Task definition: {knowledge.task_definition}"]
        for label, items in (("Constraint", knowledge.constraints), ("Always", knowledge.competencies.always),
                             ("Never", knowledge.competencies.never), ("Gray area", knowledge.competencies.gray_areas),
                             ("Common error", knowledge.competencies.common_errors)):
            lines += [f"{label}: {s.text}" for s in items]
        ids = {p for items in (knowledge.constraints, knowledge.competencies.always) for s in items for p in s.provenance}
        return "\n".join(lines), ids
    lines = [f"[{q.id}] ({q.round}) Q: {q.text}\n    A: {q.answer}" for q in knowledge.answered()]
    return ("\n".join(lines) or "(no answers yet)"), {q.id for q in knowledge.questions}


def map_to_task(gateway: Any | None, framework: Framework | str, knowledge: Interview | KnowledgeBase | str | None,
                *, task: str = "") -> FrameworkUse:
    """Map the task onto the framework's components, each statement citing the answers it rests on.

    Offline (no gateway) or when the model's output is unusable, the library entry is copied with no
    mapping statements. A framework that is not in the library is described by the model (offline: its
    name only, for the user to fill in).
    """
    fw = framework if isinstance(framework, Framework) else find(framework)
    name = fw.name if fw else str(framework).strip()
    offline = fw.use() if fw else FrameworkUse(name=name)
    if gateway is None:
        return offline
    from core.extract.interview_llm import call_structured

    context, known_ids = knowledge_text(knowledge)
    messages = prompts.render(
        "interview_framework_map",
        task=task or "(see the answers)",
        framework=name,
        summary=fw.summary if fw else "(not in the built-in library: describe it from what you know)",
        components=prompts.bullet(list(fw.components)) if fw else "(describe them)",
        terminology=", ".join(fw.terminology) if fw else "(describe it)",
        answers=context,
    )
    try:
        result = call_structured(gateway, messages, FrameworkMapping)
    except LLMError:
        return offline
    components = list(fw.components) if fw else _clean(result.components)
    mapping: list[Statement] = []
    for m in result.mappings:
        text = (m.statement or "").strip()
        if not text:
            continue
        comp = (m.component or "").strip()
        ids = [i for i in m.question_ids if not known_ids or i in known_ids]
        if not ids and FRAMEWORK_QUESTION_ID in known_ids:
            ids = [FRAMEWORK_QUESTION_ID]
        mapping.append(Statement(text=f"{comp}: {text}" if comp and not text.startswith(comp) else text,
                                 provenance=ids))
    return FrameworkUse(
        name=name,
        components=components,
        terminology=list(fw.terminology) if fw else _clean(result.terminology),
        template=list(fw.template) if fw else _clean(result.template),
        mapping=mapping,
    )


def _clean(items: list[str]) -> list[str]:
    return [s.strip() for s in items if isinstance(s, str) and s.strip()][:12]


# ---------------------------------------------------------------- what the knowledge base loads


def framework_answer(interview: Interview | None) -> str | None:
    if interview is None:
        return None
    for q in interview.questions:
        if q.id == FRAMEWORK_QUESTION_ID and q.answer is not None and not q.skipped:
            return q.answer
    return None


def selected_frameworks(project: Any, interview: Interview | None) -> list[Framework | str]:
    """Which frameworks the knowledge base should carry, by name, in a stable order.

    Named in the framework answer: always loaded ("Yes: X (its label)" loads X only). ``framework_mode =
    "enabled"``: the configured ``framework_sources`` too (unknown names kept as strings), or, with none
    configured and none named, the library's real matches for the task (never a weak one). Otherwise
    nothing: a custom taxonomy is built from the conversation instead.
    """
    cfg = project.meta.config.extract
    answer = framework_answer(interview)
    chosen: list[Framework | str] = []
    if answer and not is_negative(answer):
        chosen.extend(mentioned(_without_labels(answer)))
    if cfg.framework_mode == "enabled":
        for source in cfg.framework_sources:
            chosen.append(find(source) or source.strip())
        if not chosen:
            chosen.extend(suggest(project.meta.task, limit=2, strong_only=True))
    out: list[Framework | str] = []
    seen: set[str] = set()
    for item in chosen:
        key = _norm(item.name if isinstance(item, Framework) else item)
        if key and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def load_frameworks(project: Any, interview: Interview | None = None, gateway: Any | None = None) -> list[FrameworkUse]:
    """The frameworks for the knowledge base (see :func:`selected_frameworks`), mapped onto the task.

    With ``gateway`` the model maps the task onto each framework's components (statements cite the
    interview answers); without it the library entries are copied with no mapping statements.
    """
    if interview is None:
        from core.project import INTERVIEW

        interview = project.read_or(INTERVIEW, Interview)
    return [map_to_task(gateway, fw, interview, task=project.meta.task)
            for fw in selected_frameworks(project, interview)]
