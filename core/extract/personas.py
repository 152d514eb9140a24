"""Meta-expert identification (SKILL 1, item 1): three expert personas for the task, ranked.

The interviewer model proposes the personas; we rank them ourselves by
domain knowledge × conversational efficiency (the model's own order is not trusted). Offline, or when
the model's output is unusable, three sensible personas are drafted from the task text and the
preset's ``expert_hint`` (source ``"bank"``). The user may edit a persona's role, years and why.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from pydantic import BaseModel, Field, field_validator

from core import prompts
from core.errors import BadInput
from core.extract.question_bank import short_task
from core.llm.errors import LLMError
from core.models.knowledge import Persona
from core.models.presets import Preset, get_preset

N_PERSONAS = 3


# ---------------------------------------------------------------- the model's reply


def _number(v: Any) -> Any:
    """'15 years' -> 15; '8/10' -> 8; leaves anything else for pydantic to judge."""
    if isinstance(v, str):
        m = re.search(r"-?\d+(?:\.\d+)?", v)
        if m:
            return float(m.group())
    return v


class PersonaDraft(BaseModel):
    role: str = Field(min_length=2, json_schema_extra={"maxLength": 120},
                      description="the expert's role, specific to the task (e.g. 'Emergency physician')")
    experience_years: int = Field(ge=0, le=70, description="years of hands-on experience, 0-70")
    why: str = Field(description="one sentence: what makes them explain their knowledge well",
                     json_schema_extra={"minLength": 1})
    domain_knowledge: float = Field(ge=0.0, le=10.0, description="0-10: depth of knowledge of exactly this task")
    conversational_efficiency: float = Field(ge=0.0, le=10.0,
                                             description="0-10: how clearly and concisely they explain it")

    @field_validator("experience_years", mode="before")
    @classmethod
    def _years(cls, v: Any) -> Any:
        v = _number(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return int(min(70, max(0, round(v))))
        return v

    @field_validator("domain_knowledge", "conversational_efficiency", mode="before")
    @classmethod
    def _score(cls, v: Any) -> Any:
        v = _number(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if 10 < v <= 100:  # a 0-100 scale
                v = v / 10
            return float(min(10.0, max(0.0, v)))
        return v


class PersonaProposals(BaseModel):
    """What the interviewer model returns for prompts/personas.md."""

    personas: list[PersonaDraft] = Field(min_length=1, description="three distinct expert personas")


# ---------------------------------------------------------------- ranking and editing


def rank(personas: list[Persona]) -> list[Persona]:
    """Best first by domain knowledge × conversational efficiency (stable for ties)."""
    return sorted(personas, key=lambda p: -p.score)


def _role_key(role: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", role.lower()).strip()


def edit_persona(persona: Persona, *, role: str | None = None, experience_years: int | str | None = None,
                 why: str | None = None) -> Persona:
    """A copy of ``persona`` with the user's edits (blank values leave a field unchanged)."""
    data = persona.model_dump()
    if role is not None and role.strip():
        data["role"] = " ".join(role.split())
    if why is not None and why.strip():
        data["why"] = " ".join(why.split())
    if experience_years is not None and str(experience_years).strip():
        try:
            years = int(str(experience_years).strip())
        except ValueError:
            raise BadInput(f"experience_years: must be a whole number of years (got {experience_years!r})") from None
        if not 0 <= years <= 70:
            raise BadInput(f"experience_years: must be between 0 and 70 (got {years})")
        data["experience_years"] = years
    return Persona.model_validate(data)


# ---------------------------------------------------------------- offline personas

# keyword pattern -> two experts who know that kind of task and explain it well
_DOMAINS: list[tuple[str, list[tuple[str, int, str, float, float]]]] = [
    (r"medic|clinic|patient|symptom|health|nurs|doctor|physician|hospital|triage|pharma|drug", [
        ("Emergency physician", 15, "makes fast, safe calls with incomplete information and explains them in plain words", 9, 8),
        ("Medical educator", 12, "teaches clinical reasoning step by step, with the red flags spelled out", 8, 9),
    ]),
    (r"legal|law\b|lawyer|attorney|contract|statute|court|complian|regulat|tenant|lease", [
        ("Practicing attorney", 12, "knows where the legal line is and says what is advice and what is information", 9, 7),
        ("Legal researcher", 8, "turns statutes and cases into clear, sourced explanations", 8, 8),
    ]),
    (r"support|customer|helpdesk|help desk|ticket|billing|refund|subscription|troubleshoot|complaint", [
        ("Senior support agent", 8, "has resolved thousands of tickets and knows which question unlocks each one", 8, 9),
        ("Product manager", 7, "knows what the product can and cannot do, and why", 8, 7),
    ]),
    (r"writ|essay|edit|prose|author|blog|copy|manuscript|story|grammar", [
        ("Published author", 15, "can name exactly why a sentence works or does not", 8, 8),
        ("Writing instructor", 12, "gives feedback that is specific, kind and actionable", 8, 9),
    ]),
    (r"code|coding|program|software|python|javascript|review|refactor|engineer|developer|api\b|sql", [
        ("Senior software engineer", 12, "reviews code daily and explains the why behind each comment", 9, 8),
        ("Tech lead", 10, "sets team standards and has to justify them to every new hire", 8, 8),
    ]),
    (r"therap|anxiety|stress|depress|mental|cbt|dbt|counsel|wellbeing|well-being|emotion|mindful", [
        ("Licensed therapist (CBT, DBT, ACT)", 12, "teaches coping skills in everyday language and knows when to refer", 9, 8),
        ("Clinical supervisor", 15, "trains new counsellors and can articulate the boundaries of self-help", 9, 7),
    ]),
    (r"financ|tax|accounting|invest|budget|bank|loan|insurance|payroll", [
        ("Certified financial planner", 12, "explains trade-offs with numbers and says when a question needs a professional", 9, 8),
        ("Senior accountant", 10, "knows the rules and the common exceptions, and documents both", 8, 7),
    ]),
    (r"teach|tutor|student|school|lesson|math|learn|course|exam|homework", [
        ("Experienced teacher", 12, "explains the same idea three ways until it lands", 8, 9),
        ("Curriculum designer", 10, "knows what learners get wrong, and in which order to teach it", 8, 8),
    ]),
    (r"sales|marketing|lead|campaign|brand|seo|advert|e-?commerce", [
        ("Head of sales", 12, "knows which objections come up and which answers move a deal", 8, 8),
        ("Marketing strategist", 10, "can say what makes a message land with a given audience", 8, 8),
    ]),
    (r"recruit|hiring|\bhr\b|human resources|resume|résumé|interview|career|job", [
        ("Senior recruiter", 10, "has screened thousands of candidates and knows what separates good from great", 8, 9),
        ("HR business partner", 12, "knows the policies and the judgement calls around them", 8, 7),
    ]),
    (r"data|analytic|dashboard|statistic|spreadsheet|excel|report", [
        ("Senior data analyst", 10, "turns messy questions into precise, checkable answers", 9, 8),
        ("Analytics lead", 12, "decides which metrics matter and can explain why", 8, 8),
    ]),
    (r"translat|language|locali", [
        ("Professional translator", 15, "knows where meaning gets lost and how to keep it", 9, 8),
        ("Localisation lead", 10, "has a style guide for every edge case", 8, 8),
    ]),
]


def _capitalise(role: str) -> str:
    role = " ".join(role.split()).strip(" .;")
    return role[:1].upper() + role[1:]


def _hint_roles(preset: Preset | str | None) -> list[str]:
    if preset is None:
        return []
    if isinstance(preset, str):
        try:
            preset = get_preset(preset)
        except KeyError:
            return []
    return [_capitalise(r) for r in re.split(r"[,/;]| or |\band\b", preset.expert_hint or "") if r.strip()]


def bank_personas(task: str, preset: Preset | str | None = None) -> list[Persona]:
    """Three personas drafted without a model: the preset's expert hint, the task's domain, generic."""
    topic = short_task(task, 60)
    text = (task or "").lower()
    candidates: list[Persona] = []
    domain: list[tuple[str, int, str, float, float]] = []
    for pattern, experts in _DOMAINS:
        if re.search(pattern, text):
            domain.extend(experts)
    known = {_role_key(r): (r, y, w, dk, ce) for r, y, w, dk, ce in domain}
    for i, role in enumerate(_hint_roles(preset)):
        r, y, w, dk, ce = known.get(_role_key(role), (role, 10 if "senior" in role.lower() else 8,
                                                      f"does this work daily and can explain each decision in {topic}",
                                                      8.5, 8.0))
        candidates.append(Persona(role=role, experience_years=y, why=w,
                                  domain_knowledge=min(10.0, dk + 0.5 - 0.1 * i), conversational_efficiency=ce))
    for r, y, w, dk, ce in domain:
        candidates.append(Persona(role=r, experience_years=y, why=w, domain_knowledge=dk, conversational_efficiency=ce))
    candidates += [
        Persona(role="Senior practitioner", experience_years=10,
                why=f"does this exact work every day ({topic}) and knows the cases that go wrong",
                domain_knowledge=8, conversational_efficiency=7),
        Persona(role="Trainer who onboards newcomers", experience_years=8,
                why="has to explain the unwritten rules of the job clearly and in order",
                domain_knowledge=7, conversational_efficiency=9),
        Persona(role="Quality reviewer", experience_years=8,
                why="grades this work for a living and can say exactly what separates good from bad",
                domain_knowledge=7, conversational_efficiency=8),
    ]
    out: list[Persona] = []
    seen: set[str] = set()
    for p in candidates:
        key = _role_key(p.role)
        if key not in seen:
            seen.add(key)
            out.append(p)
        if len(out) == N_PERSONAS:
            break
    return rank(out)


# ---------------------------------------------------------------- the proposal


def _from_drafts(drafts: list[PersonaDraft]) -> list[Persona]:
    out: list[Persona] = []
    seen: set[str] = set()
    for d in drafts:
        role = _capitalise(d.role or "")
        why = " ".join((d.why or "").split())
        key = _role_key(role)
        if not role or not key or key in seen or len(role) > 120:
            continue
        try:
            persona = Persona(role=role, experience_years=d.experience_years, why=why or "explains this work well",
                              domain_knowledge=d.domain_knowledge, conversational_efficiency=d.conversational_efficiency)
        except ValueError:
            continue
        seen.add(key)
        out.append(persona)
    return rank(out)[:N_PERSONAS]


def propose_personas(gateway: Any | None, task: str, preset: Preset | str | None = None, *,
                     on_error: Callable[[str], None] | None = None) -> tuple[list[Persona], str]:
    """Three ranked personas and where they came from: ``"llm"`` or ``"bank"`` (offline drafts).

    A model that proposes fewer than three usable personas is topped up from the offline drafts.
    ``on_error`` hears why the model's output was not used, when it was not.
    """
    offline = bank_personas(task, preset)
    if gateway is None:
        return offline, "bank"
    from core.extract.interview_llm import call_structured

    hint = ", ".join(_hint_roles(preset)) or "(none)"
    messages = prompts.render("personas", task=task.strip(), expert_hint=hint, n=N_PERSONAS)
    try:
        result = call_structured(gateway, messages, PersonaProposals)
    except LLMError as exc:
        if on_error:
            on_error(str(exc))
        return offline, "bank"
    proposed = _from_drafts(result.personas)
    if not proposed:
        if on_error:
            on_error("the model proposed no usable persona")
        return offline, "bank"
    roles = {_role_key(p.role) for p in proposed}
    for p in offline:
        if len(proposed) >= N_PERSONAS:
            break
        if _role_key(p.role) not in roles:
            proposed.append(p)
    return rank(proposed), "llm"
