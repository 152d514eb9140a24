"""What kind of task a project is: decided once, from the task itself, and read by every stage.

The task type picks the generation strategy (SKILL 2), the default filter thresholds, the GRPO rewards
and the evaluation method (SKILL 4), so it must describe the task, not the preset. It is decided:

1. when the project is created, from the task text: by the LLM when one is configured and its answer
   quotes the words of the task that decide it (an answer whose quote is not in the task is ignored:
   an unreliable model cannot set it), else by the offline heuristic below;
2. refined after the interview, by the same two means over the task and the expert's answers;
3. by the user, at any time (``tunesmith task-type NAME TYPE``, or the dashboard): a user's choice is
   never overridden.

Each decision is stored in project.toml with its reason and source (``task_type``, ``task_type_reason``,
``task_type_source``) and, for classification, the closed set of labels the task names (``labels``).

The heuristic scores cue phrases per type; a closed list of options ("route tickets to billing, shipping
or login", "label each review positive, negative or neutral") is strong evidence of classification.
Ties and no cue at all give ``instruction_following``, the general case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.models.config import TASK_TYPES

Source = Literal["default", "heuristic", "llm", "interview", "user"]
SOURCES: tuple[str, ...] = ("default", "heuristic", "llm", "interview", "user")
DEFAULT = "instruction_following"

# A closed list of options after a routing / labelling verb: "to billing, shipping or login",
# "as positive, negative or neutral", "into spam / not spam".
_OPTION = r"[A-Za-z][\w'&-]*(?: [A-Za-z][\w'&-]*){0,2}"
_LIST = re.compile(
    rf"\b(?:to|into|as|among|between|under|(?:one|each) of(?: the)?(?: categories| labels| classes)?)[:\s]+"
    rf"(?P<items>(?:{_OPTION})(?:\s*(?:,|/|\|)\s*(?:{_OPTION}))*\s*,?\s+(?:or|and|/)\s+(?:{_OPTION}))",
    re.IGNORECASE,
)
_VERB_BEFORE_LIST = re.compile(
    r"\b(?:route|routes|routed|routing|classif\w*|categori[sz]\w*|label\w*|tag|tags|tagged|tagging|sort|sorts|"
    r"sorting|triag\w*|assign\w*|flag\w*|mark|marks|marking|bucket\w*|decide|decides|detect|detects|predict\w*)\b",
    re.IGNORECASE,
)

# (type, weight, pattern): cue phrases in the task text.
CUES: tuple[tuple[str, float, re.Pattern[str]], ...] = tuple(
    (t, w, re.compile(p, re.IGNORECASE)) for t, w, p in (
        ("classification", 3.0, r"\bclassif(?:y|ies|ication|ier)\b|\bcategori[sz](?:e|es|ing|ation)\b"),
        ("classification", 2.5, r"\b(?:route|routes|routing|triage|triaging)\b"),
        ("classification", 2.0, r"\b(?:label|labels|labelling|labeling|tag|tags|tagging)\b(?! (?:the )?(?:code|text) for)"),
        ("classification", 2.0, r"\b(?:sentiment|intent detection|spam|toxicity|topic detection)\b"),
        ("classification", 2.0, r"\b(?:detect|decide|determine|predict|tell) (?:whether|if)\b"),
        ("classification", 1.5, r"\b(?:which|what) (?:category|team|department|queue|class|label|bucket)\b"),
        ("classification", 1.5, r"\byes(?: or |/)no\b|\btrue(?: or |/)false\b"),
        ("transformation", 2.5, r"\b(?:rewrite|rewrites|rewriting|rephrase|paraphrase|translate|translates|"
                                r"translation|convert|converts|conversion|reformat|refactor|transform|transforms|"
                                r"transcribe|normali[sz]e)\b"),
        ("transformation", 2.0, r"\b(?:summari[sz]e|summari[sz]es|summary of|condense|shorten|simplify)\b"),
        ("transformation", 2.0, r"\bextract\w*\b.{0,40}\b(?:into|as|to) (?:json|a table|csv|fields|structured)\b"),
        ("transformation", 1.5, r"\bturn\w* .{1,80}\binto\b|\bfrom .{1,30} to (?:json|yaml|csv|sql|python|english)\b"),
        ("transformation", 1.5, r"\b(?:fix|correct|proofread)\w* (?:the )?(?:grammar|spelling|typos|code|bugs)\b"),
        ("reasoning", 2.5, r"\b(?:solve|solves|solving|prove|proofs?|derive|derivation)\b"),
        ("reasoning", 2.0, r"\b(?:calculate|calculates|calculation|compute|computes|arithmetic|algebra|"
                           r"word problems?|math(?:s|ematics)?|logic puzzles?|puzzles?)\b"),
        ("reasoning", 1.5, r"\bstep[- ]by[- ]step\b|\bchain of thought\b|\bshow (?:the|your) work(?:ing)?\b"),
        ("preference", 2.5, r"\b(?:rank|ranks|ranking|compare) (?:the )?(?:responses|answers|completions|outputs)\b"),
        ("preference", 2.0, r"\b(?:better|preferred) (?:response|answer|completion)\b"),
        ("instruction_following", 1.0, r"\b(?:explain|explains|answer|answers|help|helps|coach|coaches|teach|"
                                       r"advise|assist|support|guide|review|reviews|write|draft|chat|tutor)\b"),
    )
)


@dataclass(frozen=True)
class TaskTypeDecision:
    task_type: str
    reason: str
    source: Source
    labels: tuple[str, ...] = field(default_factory=tuple)


def _clean_label(text: str) -> str:
    text = re.sub(r"^(?:the|a|an)\s+", "", text.strip(" .;:'\"`"), flags=re.IGNORECASE)
    return text.strip(" .;:'\"`").lower()


def closed_list(text: str) -> tuple[str, tuple[str, ...]]:
    """The first closed list of options that follows a routing or labelling verb in ``text``:
    (the matched words, the labels), or ("", ()) when there is none."""
    for m in _LIST.finditer(text or ""):
        before = text[max(0, m.start() - 60):m.start()]
        if not _VERB_BEFORE_LIST.search(before):
            continue
        items = re.split(r"\s*(?:,|/|\|)\s*|\s+(?:or|and)\s+", m.group("items"))
        labels = tuple(dict.fromkeys(lab for lab in (_clean_label(i) for i in items) if lab))
        if 2 <= len(labels) <= 20:
            return m.group(0).strip(), labels
    return "", ()


def heuristic(text: str) -> TaskTypeDecision:
    """The offline guess: cue phrases per type, a closed list of options counting for classification."""
    text = " ".join((text or "").split())
    scores = {t: 0.0 for t in TASK_TYPES}
    hits: dict[str, list[str]] = {t: [] for t in TASK_TYPES}
    for task_type, weight, pattern in CUES:
        m = pattern.search(text)
        if m:
            scores[task_type] += weight
            hits[task_type].append(m.group(0))
    phrase, labels = closed_list(text)
    if labels:
        scores["classification"] += 4.0
        hits["classification"].insert(0, phrase)
    best = max(TASK_TYPES, key=lambda t: (scores[t], t == DEFAULT))
    if scores[best] <= 0 or scores[best] <= scores[DEFAULT] and best != DEFAULT:
        best = DEFAULT
    if not hits[best]:
        return TaskTypeDecision(DEFAULT, "no cue in the task text: the general case", "heuristic")
    quoted = ", ".join(f"'{h}'" for h in dict.fromkeys(hits[best]))
    why = {
        "classification": "it assigns one of a closed set of labels",
        "instruction_following": "it answers or helps in free text",
        "transformation": "it turns a given input into another form",
        "reasoning": "it works problems out step by step",
        "preference": "it chooses between candidate responses",
    }[best]
    return TaskTypeDecision(best, f"the task says {quoted}: {why}", "heuristic",
                            labels if best == "classification" else ())


# ---------------------------------------------------------------- with a model


class TaskTypeGuess(BaseModel):
    """What the model returns for prompts/task_type.md."""

    task_type: Literal["classification", "instruction_following", "transformation", "preference", "reasoning"]
    evidence: str = Field(min_length=3, max_length=300,
                          description="the exact words of the task (or answers) that decide it, quoted verbatim")
    labels: list[str] = Field(default_factory=list, max_length=20,
                              description="classification only: the closed set of output labels, else empty")
    reason: str = Field(min_length=3, max_length=300, description="one sentence: why this type")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


def grounded(guess: TaskTypeGuess, text: str) -> bool:
    """The model's quote is really in ``text`` (so an unreliable model cannot decide by inventing)."""
    quote = _norm(guess.evidence)
    return len(quote) >= 3 and quote in _norm(text)


def from_guess(guess: TaskTypeGuess, text: str, source: Source) -> TaskTypeDecision | None:
    """The model's decision when it is grounded in ``text``; labels kept only when they occur in it."""
    if not grounded(guess, text):
        return None
    labels: tuple[str, ...] = ()
    if guess.task_type == "classification":
        norm = _norm(text)
        labels = tuple(dict.fromkeys(lab for lab in (_clean_label(x) for x in guess.labels)
                                     if lab and _norm(lab) in norm))
        if len(labels) < 2:
            labels = closed_list(text)[1]
    reason = f"'{guess.evidence.strip()}': {guess.reason.strip().rstrip('.')}"
    return TaskTypeDecision(guess.task_type, reason[:400], source, labels)


def ask_model(gateway: Any, task: str, answers: str = "") -> TaskTypeGuess | None:
    """One structured call (interviewer role); None when no model is configured or its reply is unusable."""
    if gateway is None:
        return None
    try:
        if not gateway.configured("interviewer"):
            return None
    except Exception:
        return None
    from core import prompts
    from core.llm.errors import LLMError
    from core.llm.gateway import run_sync

    messages = prompts.render("task_type", task=task, answers=answers or "(no interview answers yet)",
                              types=prompts.bullet([f"{t}" for t in TASK_TYPES]))
    try:
        return run_sync(gateway.structured("interviewer", messages, TaskTypeGuess, stage="extract"))
    except LLMError:
        return None


def infer(task: str, gateway: Any = None, *, answers: str = "", source: Source = "llm") -> TaskTypeDecision:
    """The task type of ``task`` (and the interview ``answers``): the model's grounded answer, else the
    heuristic's. ``source`` names a model decision ("llm" at creation, "interview" after it)."""
    text = f"{task}\n{answers}" if answers else task
    guess = ask_model(gateway, task, answers)
    if guess is not None:
        decision = from_guess(guess, text, source)
        if decision is not None:
            return decision
    found = heuristic(text)
    if source == "interview":
        return TaskTypeDecision(found.task_type, found.reason, "interview", found.labels)
    return found


def apply(meta: Any, decision: TaskTypeDecision) -> bool:
    """Store ``decision`` in a ProjectFile unless the user chose the task type; True when it changed."""
    if meta.task_type_source == "user" and decision.source != "user":
        return False
    changed = (meta.task_type, tuple(meta.labels)) != (decision.task_type, decision.labels)
    meta.task_type = decision.task_type
    meta.task_type_reason = decision.reason
    meta.task_type_source = decision.source
    meta.labels = list(decision.labels)
    return changed


def reinfer(project: Any, gateway: Any = None) -> bool:
    """Infer the task type again from the task text and the interview, replacing even the user's own
    choice (they asked for it); True when the type or the labels changed. Blocking: it may ask the model,
    then takes the project's lock."""
    answers = interview_answers(project)
    decision = infer(project.meta.task, gateway, answers=answers, source="interview" if answers else "llm")
    with project.writing():
        project.reload()
        project.meta.task_type_source = "default"
        changed = apply(project.meta, decision)
        project.save()
    return changed


def describe(meta: Any) -> str:
    """One line for the CLI and the dashboard: the type, why, and who decided."""
    who = {"default": "default", "heuristic": "from the task text", "llm": "the model, from the task text",
           "interview": "from the interview", "user": "set by you"}.get(meta.task_type_source, meta.task_type_source)
    text = f"{meta.task_type.replace('_', ' ')} ({who})"
    if meta.task_type_reason:
        text += f": {meta.task_type_reason}"
    if meta.labels:
        text += f" · labels: {', '.join(meta.labels)}"
    return text


def interview_answers(project: Any) -> str:
    """The interview's answered questions as prompt text ("" before the interview)."""
    from core.models.knowledge import Interview
    from core.project import INTERVIEW

    interview = project.read_or(INTERVIEW, Interview)
    if interview is None:
        return ""
    return "\n".join(f"Q: {q.text}\nA: {q.answer}" for q in interview.answered())


def stale_after_change(project: Any, before: str) -> list[str]:
    """What was built for the old task type and should be rebuilt (lines for the CLI and the app)."""
    from core.project import EVAL_SET

    out = []
    kind = before.replace("_", " ")
    kind = ("an " if kind[0] in "aeiou" else "a ") + kind
    if project.exists(EVAL_SET):
        out.append(f"the eval set was built for {kind} task; rebuild it so its references "
                   f"fit: tunesmith evalset {project.slug} --force")
    if project.meta.is_done("generate", "pilot"):
        out.append(f"the training data was generated for {kind} task; generate it again: "
                   f"tunesmith generate {project.slug} --pilot")
    return out
