"""Draft the knowledge artifacts from the interview transcript.

knowledge_base, scope_boundaries, input_taxonomy and quality_criteria are drafted by the interviewer
model from the transcript, every statement citing the answers it came from, whenever a model is
configured for the interviewer role, even when the interview itself ran on the built-in question bank.
Only without a model, or when its reply is unusable, are they drafted from the answers themselves (each
answer is routed by its round and what its question asks; category answers keep their qualifiers and
shares) and left for the expert to edit. The framework choice (``framework_mode``, ``frameworks``) comes
from the expert's framework answer and the configuration, never from the drafting model. All four are
built in memory first and only then written, each atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from core import prompts
from core.errors import StageNotReady
from core.models.config import TASK_TYPES
from core.models.knowledge import (
    Category,
    Competencies,
    CriterionDimension,
    DifficultyLevel,
    InputTaxonomy,
    Interview,
    KnowledgeBase,
    QualityCriteria,
    Question,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, CRITERIA, INTERVIEW, KNOWLEDGE_BASE, TAXONOMY, Project

REFUSAL_PREFIX = "When a request is out of scope: "

# ---------------------------------------------------------------- what the model returns


class Cited(BaseModel):
    text: str = Field(min_length=3)
    sources: list[str] = Field(default_factory=list)


class ScopeDraft(BaseModel):
    task_definition: str = Field(min_length=10)
    task_type: Literal["classification", "instruction_following", "transformation", "preference", "reasoning"]
    task_type_evidence: str = Field("", max_length=300, description="the exact words of the task or an answer "
                                                                    "that decide the task type, quoted verbatim")
    labels: list[str] = Field(default_factory=list, max_length=20,
                              description="classification only: the closed set of output labels")
    refusal_message: str = Field("", max_length=300, description="the one sentence every refusal opens with")
    constraints: list[Cited] = Field(default_factory=list)
    always: list[Cited] = Field(min_length=1)
    never: list[Cited] = Field(min_length=1)
    gray_areas: list[Cited] = Field(default_factory=list)
    common_errors: list[Cited] = Field(default_factory=list)
    will: list[Cited] = Field(min_length=2)
    will_not: list[Cited] = Field(min_length=1)
    hard_constraints: list[Cited] = Field(default_factory=list)


class DraftCategory(BaseModel):
    name: str = Field(min_length=2, max_length=80)
    description: str = ""
    weight: float = Field(1.0, gt=0)
    sources: list[str] = Field(default_factory=list)


class DraftDifficulty(BaseModel):
    easy: str = Field(min_length=3)
    medium: str = Field(min_length=3)
    hard: str = Field(min_length=3)


class DraftDimension(BaseModel):
    name: str = Field(min_length=2, max_length=60)
    description: str = ""
    weight: float = Field(1.0, ge=0)


class TaxonomyDraft(BaseModel):
    categories: list[DraftCategory] = Field(min_length=2, max_length=12)
    difficulty: DraftDifficulty
    edge_cases: list[Cited] = Field(min_length=1)
    good_output: list[Cited] = Field(min_length=1)
    metrics: list[Cited] = Field(default_factory=list)
    minimum_acceptable: list[Cited] = Field(default_factory=list)
    dimensions: list[DraftDimension] = Field(min_length=1, max_length=8)


@dataclass
class Artifacts:
    knowledge_base: KnowledgeBase
    boundaries: ScopeBoundaries
    taxonomy: InputTaxonomy
    criteria: QualityCriteria
    source: Literal["llm", "answers"]
    note: str = ""
    scope_draft: ScopeDraft | None = None  # the model's draft (its task type and refusal sentence are checked)


# ---------------------------------------------------------------- entry point


def draft_artifacts(project: Project, gateway=None) -> Artifacts:
    """Draft and save the four artifacts from the interview; mark the 'artifacts' step.

    ``gateway`` is the model to draft with. None means the project's own interviewer model when one is
    configured: an interview session that fell back to the question bank holds no gateway, and its
    drafting must still use the model (only a failed or unusable reply falls back to the answers). Pass
    an unconfigured ``Gateway()`` to draft from the answers.
    """
    interview = project.read_or(INTERVIEW, Interview)
    if interview is None or not interview.answered():
        raise StageNotReady(f"no interview answers yet: run tunesmith interview {project.slug}")
    answered = interview.answered()
    owned = None
    if gateway is None:
        from core.extract.interview_llm import make_gateway

        gateway = owned = make_gateway(project)
    try:
        model = gateway if gateway is not None and gateway.configured("interviewer") else None
        artifacts: Artifacts | None = None
        note = ""
        if model is not None:
            from pydantic import ValidationError

            from core.llm.errors import LLMError

            try:
                from core.llm.gateway import run_sync

                artifacts = run_sync(_draft_with_llm(project, model, interview, answered))
            except (LLMError, ValidationError) as exc:
                note = f"the model's drafts were unusable ({exc}); drafted from the answers instead"
                model = None  # it just failed: the frameworks are copied from the library, not mapped by it
        else:
            note = "no LLM configured: drafted from the answers; edit them before approving"
        if artifacts is None:
            artifacts = draft_from_answers(project, answered)
            artifacts.note = note
        # The framework decision is the expert's answer plus the config; nothing the drafts say counts.
        kb = artifacts.knowledge_base
        kb.frameworks = _frameworks(project, interview, model)
        kb.framework_mode = "enabled" if kb.frameworks else project.meta.config.extract.framework_mode
        refine_decisions(project, artifacts, answered)
        save(project, artifacts)
        return artifacts
    finally:
        if owned is not None:
            owned.close()


def refine_decisions(project: Project, artifacts: Artifacts, answered: list[Question]) -> None:
    """The interview refines the task type (and a classification task's labels) and the refusal sentence.

    The model's task type counts only when it quotes the task or an answer (core/task_type.py); offline,
    only a closed list of labels in the answers changes it. A task type the user chose is never changed.
    The knowledge base carries a copy of the project's decision; project.toml is the one source.
    """
    from core import task_type as tt
    from core.refusal import message_or_default

    text = project.meta.task + "\n" + "\n".join(q.answer or "" for q in answered)
    draft = artifacts.scope_draft
    decision = None
    if draft is not None:
        guess = tt.TaskTypeGuess.model_construct(task_type=draft.task_type, evidence=draft.task_type_evidence,
                                                 labels=list(draft.labels), reason="drafted from the interview")
        decision = tt.from_guess(guess, text, "interview")
    if decision is None:
        phrase, labels = tt.closed_list("\n".join(q.answer or "" for q in answered))
        if labels:
            decision = tt.TaskTypeDecision("classification", f"the answers name the labels: '{phrase}'", "interview",
                                           labels)
    with project.writing():
        project.reload()
        if decision is not None:
            tt.apply(project.meta, decision)
        project.save()
    artifacts.knowledge_base.task_type = project.meta.task_type
    offline = next((s.text for s in artifacts.knowledge_base.competencies.always
                    if s.text.startswith(REFUSAL_PREFIX)), "")
    message = draft.refusal_message if draft is not None else offline.removeprefix(REFUSAL_PREFIX)
    artifacts.boundaries.refusal_message = message_or_default(message)


def save(project: Project, artifacts: Artifacts) -> None:
    with project.writing():
        old = project.read_or(BOUNDARIES, ScopeBoundaries)
        if old is not None and old.approved:
            project.mark("extract", "boundaries_approved", done=False)
        project.write(KNOWLEDGE_BASE, artifacts.knowledge_base)
        project.write(TAXONOMY, artifacts.taxonomy)
        project.write(CRITERIA, artifacts.criteria)
        project.write(BOUNDARIES, artifacts.boundaries)
        project.mark("extract", "artifacts")


def _frameworks(project: Project, interview: Interview, gateway=None):
    """The knowledge base's frameworks (``frameworks.selected_frameworks``), mapped onto the task by the
    model whenever one is configured, whether or not the interview itself ran on the question bank."""
    from core.extract.frameworks import load_frameworks

    usable = gateway if gateway is not None and gateway.configured("interviewer") else None
    return load_frameworks(project, interview, gateway=usable)


# ---------------------------------------------------------------- with the model


def transcript(questions: list[Question]) -> str:
    lines = []
    for q in questions:
        lines.append(f"[{q.id}] ({q.round}) {q.text}\n    → {q.answer}")
    return "\n".join(lines)


async def _draft_with_llm(project: Project, gateway, interview: Interview, answered: list[Question]) -> Artifacts:
    import asyncio

    persona = interview.persona
    values = {
        "task": project.meta.task,
        "persona": f"{persona.role} ({persona.experience_years} years)" if persona else "a domain expert",
        "transcript": transcript(answered),
    }
    scope, tax = await asyncio.gather(
        gateway.structured("interviewer", prompts.render("artifacts_scope", **values), ScopeDraft, stage="extract"),
        gateway.structured("interviewer", prompts.render("artifacts_taxonomy", **values), TaxonomyDraft,
                           stage="extract"),
    )
    ids = {q.id for q in answered}
    return from_drafts(project, scope, tax, ids)


def _st(items: list[Cited], ids: set[str]) -> list[Statement]:
    out = []
    for c in items:
        text = c.text.strip()
        if text:
            out.append(Statement(text=text, provenance=[s for s in c.sources if s in ids]))
    return out


def from_drafts(project: Project, scope: ScopeDraft, tax: TaxonomyDraft, ids: set[str]) -> Artifacts:
    kb = KnowledgeBase(
        task_definition=scope.task_definition.strip(),
        task_type=project.meta.task_type,  # refined (and copied back) by refine_decisions
        constraints=_st(scope.constraints, ids),
        competencies=Competencies(
            always=_st(scope.always, ids), never=_st(scope.never, ids),
            gray_areas=_st(scope.gray_areas, ids), common_errors=_st(scope.common_errors, ids),
        ),
    )
    bounds = ScopeBoundaries(will=_st(scope.will, ids), will_not=_st(scope.will_not, ids),
                             hard_constraints=_st(scope.hard_constraints, ids))
    seen: set[str] = set()
    categories = []
    for c in tax.categories:
        key = c.name.strip().lower()
        if key and key not in seen:
            seen.add(key)
            categories.append(Category(name=c.name.strip(), description=c.description.strip(), weight=c.weight,
                                       provenance=[s for s in c.sources if s in ids]))
    taxonomy = InputTaxonomy(
        categories=categories,
        difficulty_levels=[DifficultyLevel(name="easy", description=tax.difficulty.easy),
                           DifficultyLevel(name="medium", description=tax.difficulty.medium),
                           DifficultyLevel(name="hard", description=tax.difficulty.hard)],
        edge_cases=_st(tax.edge_cases, ids),
    )
    criteria = QualityCriteria(
        good_output=_st(tax.good_output, ids), metrics=_st(tax.metrics, ids),
        minimum_acceptable=_st(tax.minimum_acceptable, ids),
        dimensions=[CriterionDimension(name=d.name.strip(), description=d.description, weight=d.weight)
                    for d in tax.dimensions],
    )
    return Artifacts(kb, bounds, taxonomy, criteria, source="llm", scope_draft=scope)


# ---------------------------------------------------------------- from the answers alone

# (round, pattern in the question) -> slot; first match wins, the round's default (".") comes last. The
# question's text is searched (without the task it quotes) before its `why`. Every bank question routes
# where its text says (tests/test_artifacts.py); the spec's own wording of the questions does too.
_ROUTES: list[tuple[str, str, str]] = [
    ("boundary", r"\blooks?\b[^?]*\b(?:out of scope|outside|unrelated|off[- ]topic)\b[^?]*\b(?:should|must)\b[^?]*"
                 r"\banswer|\bshould (?:still )?answer\b", "lookalike"),
    ("boundary", r"hard constraints?|non-?negotiable|\bnever cross\b|\b(?:legal|ethical|regulatory)\b[^?]*"
                 r"\b(?:constraints?|lines?|limits?|requirements?|rules?)\b|\bcompliance\b", "hard_constraints"),
    ("boundary", r"\b(?:falls?|is|are|goes)\s+outside\b[^?]*\bdo\b|\bshould (?:it|the model) (?:do|say) instead\b"
                 r"|\bhow should (?:it|the model) (?:decline|refuse|say no)\b", "refusal"),
    ("boundary", r"\bin[- ]scope\b|\bsquarely\b", "will"),
    ("boundary", r"\bout[- ]of[- ]scope\b|\boutside\b|\bwill not\b|\bwon'?t\b|\bdeclin|\brefus|\bhand(?:ed|s)? "
                 r"(?:it )?off\b|\bexclud", "will_not"),
    ("boundary", r"\baudience\b|\bwho (?:will|would) (?:be asking|use)|\bwho (?:is|are) (?:the )?(?:users?|asking)",
     "audience"),
    ("boundary", r".", "will"),
    ("competency", r"framework|established approach|methodolog", "framework"),
    ("competency", r"\balways\b|\bmust (?:the model )?get right\b", "always"),
    ("competency", r"\bnever\b|\bmust not\b|\bshould not\b", "never"),
    ("competency", r"\bgr[ae]y\b|judge?ment|ambigu|\bit depends\b|trade-?off|different directions|which should win"
                   r"|borderline", "gray_areas"),
    ("competency", r"error|mistake|\bwrong\b|pitfall", "common_errors"),
    ("competency", r"\bavoid\b", "never"),
    ("competency", r".", "always"),
    ("variation", r"categor|\b(?:kinds?|types?) of (?:input|request|question|message)|\bmain (?:inputs?|kinds|types)\b",
     "categories"),
    ("variation", r"\beasy\b|\bhard\b|difficult", "difficulty"),
    ("variation", r"edge[- ]cases?|corner cases?|\btricky\b|\bunusual\b", "edge_cases"),
    ("variation", r"\bcontext\b|\bwho is asking\b|\burgen|\bvar(?:y|ies)\b|\badapt", "context"),
    ("variation", r"\btypical\b|\beveryday\b|\bformats?\b|\blanguages?\b|\bone message\b|\bconversation\b"
                  r"|\b(?:multi|single)[- ]?turn\b", "input"),
    ("variation", r".", "edge_cases"),
    ("validation", r"\bpull (?:it|the model)\b|deal-?breaker|single failure", "deal_breaker"),
    ("validation", r"minimum|acceptable|threshold|\bbar\b|before (?:you would )?deploy", "minimum_acceptable"),
    ("validation", r"metric|measure", "metrics"),
    ("validation", r"\btest it on\b|\bwhich inputs would you test\b", "edge_cases"),
    ("validation", r".", "good_output"),
]

# slot -> (where it goes, the words that lead each item there)
_PREFIXED: dict[str, tuple[str, str]] = {
    "refusal": ("always", REFUSAL_PREFIX),
    "context": ("always", "Adapts to context: "),
    "deal_breaker": ("minimum_acceptable", "Never acceptable: "),
}

_SPLIT = re.compile(r"\s*(?:\n+|;\s*|\s+\u2022\s+|^\s*[-*]\s+)\s*", re.MULTILINE)

# What follows a comma inside one category rather than starting the next: a share, a frequency, an example.
_SHARE = (r"(?:(?:about|around|roughly|approximately|approx\.?|nearly|almost|maybe|perhaps|over|under|at least|"
          r"up to|less than|more than)\s+|~\s*)?(?:\d+(?:[.,]\d+)?\s*(?:%|percent\b|per\s*cent\b)|half\b|"
          r"(?:a|one) (?:third|quarter|fifth|tenth)\b|two thirds\b|three quarters\b)")
_QUALIFIER = re.compile(
    r"^(?:" + _SHARE + r"|e\.?\s?g\b|i\.?\s?e\b|for (?:example|instance)\b|such as\b|like\b|including\b|"
    r"especially\b|mostly\b|mainly\b|usually\b|often\b|sometimes\b|occasionally\b|rarely\b|rare\b|with\b|"
    r"without\b|but\b|though\b|although\b|"
    r"(?:the |very |less |least |most |more )*(?:common|frequent|infrequent)\b|which\b|the rest\b)", re.I)
_SHARE_IN = re.compile(r"[\s,:(\-\u2013\u2014]*" + _SHARE + r"(?:\s+of (?:them|all|requests|inputs|cases))?[\s)]*",
                       re.I)
_WORD_SHARES = {"half": 0.5, "third": 1 / 3, "quarter": 0.25, "fifth": 0.2, "tenth": 0.1, "two thirds": 2 / 3,
                "three quarters": 0.75}


def _bracket_commas(text: str):
    """The positions of the commas outside brackets."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            yield i


def _top_level_commas(text: str) -> list[str]:
    """``text`` split on the commas outside brackets."""
    cuts = [-1, *_bracket_commas(text), len(text)]
    return [text[i + 1:j].strip() for i, j in zip(cuts, cuts[1:])]


def _category_items(part: str) -> list[str]:
    """One line of a category answer as items: "a, b and c" is three, "billing, about 40 percent" one."""
    items: list[str] = []
    merged_last = False
    for frag in _top_level_commas(part):
        frag = re.sub(r"^(?:and|or)\s+", "", frag, flags=re.I).strip()
        if not frag:
            continue
        if items and _QUALIFIER.match(frag):
            items[-1] = f"{items[-1]}, {frag}"
            merged_last = True
        else:
            items.append(frag)
            merged_last = False
    if len(items) >= 2 and not merged_last and "(" not in items[-1]:
        # "a, b and c": the last item of a list joins two
        last = re.split(r"\s+(?:and|or)\s+", items.pop(), maxsplit=1)
        items.extend(last)
    return items


def split_items(answer: str, commas: bool = False) -> list[str]:
    """An answer as list items: one per line, semicolon or bullet. ``commas`` (category answers) also
    splits on the commas between items, but never inside an item's own brackets or qualifiers ("billing,
    about 40 percent"; "refunds (late, lost or damaged)"; "order status, e.g. where is my parcel")."""
    parts = [p.strip(" -*\u2022\t.") for p in _SPLIT.split(answer)]
    if commas:
        parts = [q.strip(" .") for p in parts for q in _category_items(p)]
    return [p for p in parts if len(p) >= 2]


def _share(text: str, words: bool = True) -> float | None:
    """The share of inputs a qualifier gives ("about 40 percent", "30%", and with ``words`` "half")."""
    m = re.search(r"(\d+(?:[.,]\d+)?)\s*(?:%|percent\b|per\s*cent\b)", text, re.I)
    if m:
        value = float(m.group(1).replace(",", ".")) / 100
        return value if 0 < value <= 1 else None
    if words:
        for phrase, value in sorted(_WORD_SHARES.items(), key=lambda kv: -len(kv[0])):
            if re.search(rf"\b{phrase}\b", text, re.I):
                return value
    return None


def category_item(item: str) -> tuple[str, str, float | None]:
    """A category item as (name, description, share): its qualifiers (brackets, or what follows a comma
    inside the item) become the description, and a share in them is parsed when present."""
    text = item.strip()
    cuts = [text.find("(")] + [i for i in _bracket_commas(text) if _QUALIFIER.match(text[i + 1:].lstrip())]
    cut = min((i for i in cuts if i > 0), default=len(text))
    name, desc = text[:cut], re.sub(r"[()]", "", text[cut:])
    share = _share(desc)
    if share is None and (m := _SHARE_IN.search(name)) and _share(m.group(0), words=False) is not None:
        share = _share(m.group(0), words=False)  # "billing 40%": a share inside the name
        desc = ", ".join(x for x in (m.group(0).strip(" ,:()-\u2013\u2014"), desc.strip(" ,;")) if x)
        name = f"{name[:m.start()]} {name[m.end():]}"
    name = re.sub(r"\s+", " ", name).strip(" ,:;-\u2013\u2014")
    desc = re.sub(r"\s+,", ",", re.sub(r"\s+", " ", desc)).strip(" ,;")
    return (name or text)[:80], desc, share


def _categories(statements: list[Statement], picked: list[Statement], task: str) -> list[Category]:
    """The category statements as categories, weighted by their shares: the items without a share split
    what the others leave (half the smallest share when they leave nothing); with no share anywhere all
    weigh the same. No named category: one "general" category."""
    parsed: list[tuple[str, str, float | None, list[str]]] = []
    seen: set[str] = set()
    for st in statements:
        name, desc, share = category_item(st.text)
        if name.lower() not in seen:
            seen.add(name.lower())
            parsed.append((name, desc, share, st.provenance))
    if not parsed:
        if picked:
            return [Category(name="general", description="; ".join(st.text for st in picked),
                             provenance=[i for st in picked for i in st.provenance])]
        return [Category(name="general", description=f"typical requests for: {task}")]
    shares = [share for _, _, share, _ in parsed if share is not None]
    missing = len(parsed) - len(shares)
    rest = 1.0
    if shares and missing:
        left = 1.0 - sum(shares)
        rest = left / missing if left >= 0.05 * missing else min(shares) / 2
    return [Category(name=name, description=desc, weight=round(share if share is not None else rest, 4),
                     provenance=prov) for name, desc, share, prov in parsed]


def _is_picked_suggestion(q: Question) -> bool:
    """Whether the answer is one of the question's suggested answers word for word (for the categories
    question, those describe the mix of inputs, e.g. "Three or four distinct kinds...", not its names)."""
    from core.extract.question_bank import bank

    answer = (q.answer or "").strip()
    return answer in q.suggestions or any(answer in bq.suggestions for bq in bank() if bq.round == q.round)


def _without_task(text: str, task: str) -> str:
    """The question without the task it quotes (its words must not route it), nor any long quotation."""
    from core.extract.question_bank import short_task

    if task:
        for quoted in (task.strip(), short_task(task)):
            if quoted:
                text = text.replace(quoted, " ")
    return re.sub(r"[\"\u201c]([^\"\u201c\u201d]*)[\"\u201d]",
                  lambda m: " " if len(m.group(1).split()) >= 4 else m.group(0), text)


def route(q: Question, task: str = "") -> str:
    """The artifact slot an answer feeds, from its round and what the question asks (and why).

    ``task`` (the project's task) is left out of the question first: a bank question that quotes a
    task with "refuse" or "legal" in it still asks what it asks.
    """
    for text in (_without_task(q.text, task), q.why or ""):
        for rnd, pattern, slot in _ROUTES:
            if q.round == rnd and pattern != "." and re.search(pattern, text, re.IGNORECASE):
                return slot
    for rnd, pattern, slot in _ROUTES:
        if q.round == rnd and pattern == ".":
            return slot
    return "will"


def _lead(prefix: str, text: str) -> str:
    """``prefix`` + ``text``, its first word in lower case unless it is an acronym or "I"."""
    first = text.split(" ", 1)[0]
    if first and first[0].isupper() and first != "I" and (len(first) == 1 or first[1:].islower()):
        text = text[0].lower() + text[1:]
    return prefix + text


def draft_from_answers(project: Project, answered: list[Question]) -> Artifacts:
    """The four artifacts from the answers alone: each answer routed (:func:`route`), split into items
    that cite it; the framework answer is left to ``frameworks.load_frameworks``."""
    task = project.meta.task
    slots: dict[str, list[Statement]] = {}
    picked: list[Statement] = []  # category answers that only picked a suggestion
    for q in answered:
        slot = route(q, task)
        if slot == "framework":  # the frameworks are loaded from this answer separately
            continue
        if slot == "categories" and _is_picked_suggestion(q):
            picked.append(Statement(text=(q.answer or "").strip(), provenance=[q.id]))
            continue
        if slot == "lookalike":  # look-alike requests it SHOULD answer are in scope; "no" is a judgement call
            slot = "gray_areas" if re.match(r"\s*(?:no|none|nope)\b", q.answer or "", re.I) else "will"
        target, prefix = _PREFIXED.get(slot, (slot, ""))
        for item in split_items(q.answer or "", commas=slot == "categories"):
            slots.setdefault(target, []).append(Statement(text=_lead(prefix, item) if prefix else item,
                                                          provenance=[q.id]))
    get = lambda name: slots.get(name, [])  # noqa: E731
    definition = task.rstrip(". ")
    audience = "; ".join(st.text for st in get("audience"))
    inputs = "; ".join(st.text for st in get("input"))
    if audience:
        definition += f". Audience: {audience}"
    if inputs:
        definition += f". Inputs: {inputs}"
    kb = KnowledgeBase(
        task_definition=f"{definition}." if audience or inputs else task,
        task_type=project.meta.task_type,
        constraints=get("hard_constraints"),
        competencies=Competencies(always=get("always"), never=get("never"), gray_areas=get("gray_areas"),
                                  common_errors=get("common_errors")),
        drafted_offline=True,
    )
    bounds = ScopeBoundaries(will=get("will") or [Statement(text=task)], will_not=get("will_not"),
                             hard_constraints=get("hard_constraints"))
    categories = _categories(get("categories"), picked, task)
    difficulty_text = " ".join(s.text for s in get("difficulty"))
    taxonomy = InputTaxonomy(
        categories=categories,
        difficulty_levels=[
            DifficultyLevel(name="easy", description="a clear, common request with all details given"),
            DifficultyLevel(name="medium", description=difficulty_text or "needs some judgment or missing details"),
            DifficultyLevel(name="hard", description="ambiguous, multi-part or close to a boundary"),
        ],
        edge_cases=get("edge_cases"),
    )
    criteria = QualityCriteria(
        good_output=get("good_output"), metrics=get("metrics"), minimum_acceptable=get("minimum_acceptable"),
        dimensions=[CriterionDimension(name=d, weight=1.0)
                    for d in project.meta.config.evaluate.rubric_dimensions],
    )
    return Artifacts(kb, bounds, taxonomy, criteria, source="answers")
