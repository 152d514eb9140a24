"""The interview (SKILL 1, items 1-2): a resumable state machine over knowledge/interview.toml.

Four rounds in order (boundary 3-5, competency 5-7, variation 5-7, validation 3-5), 15-25 questions in
all and never more than ``config.extract.max_questions``. Each next question is chosen from candidates
the interviewer model proposes for the current round: the highest-impact one that does not repeat an
asked question. A round closes early only when its minimum is met and the model says it is saturated
(or its best candidate would barely change the artifacts). Every round's limits and the total are
enforced here, whatever the model says.

Without a model, or once the model's output proved unusable, the session switches to the built-in
question bank for the rest of the interview, records ``offline = true`` and says so in a notice.

The transcript is written atomically after every answer, skip and back, so an interrupted interview
resumes at the question where it stopped::

    session = InterviewSession.open(project)
    session.propose_personas(); session.choose_persona(1)
    while (q := session.current()) is not None:
        session.pick(1)          # or .answer(text), .skip(), .back()
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Literal, NamedTuple

from pydantic import BaseModel, Field, field_validator

from core import prompts
from core.errors import BadInput, InterviewChanged
from core.extract import question_bank
from core.extract.frameworks import (
    FRAMEWORK_QUESTION,
    FRAMEWORK_QUESTION_ID,
    framework_answer,
    framework_suggestions,
)
from core.extract.interview_llm import call_structured, configured, make_gateway
from core.extract.personas import edit_persona, propose_personas, rank
from core.llm.errors import LLMError
from core.models.knowledge import ROUND_LIMITS, ROUNDS, Interview, Persona, Question
from core.models.project import now
from core.project import INTERVIEW

N_CANDIDATES = 4
# The interview always asks for one worked example (the generator's few-shot demonstration:
# core/generate/demonstrations.py parses "Request: … Answer: …").
EXAMPLE_QUESTION_ID = "example"
EXAMPLE_QUESTION = ('Write one typical request and the answer you would want the model to give, as '
                    '"Request: … Answer: …" (it shows the generator the format and quality you expect).')
EXAMPLE_SKIPS = ["Skip: no example now (the pilot's approved examples will serve instead)",
                 "None yet: I will judge the pilot's examples instead"]
LOW_IMPACT = 0.2  # a best candidate below this means the round's answers have stopped adding
MAX_LLM_CALLS = 40  # per session: a model that keeps failing must not make the interview hang
MAX_SUGGESTION_CHARS = 200
ARTIFACTS = ("knowledge_base", "scope_boundaries", "input_taxonomy", "quality_criteria", "eval_set")

NO_LLM_NOTICE = ("offline: no LLM is configured, so the interview runs on the built-in question bank "
                 "(set TUNESMITH_MODEL to have questions tailored to your answers)")
STILL_OFFLINE_NOTICE = "offline: this interview continues on the built-in question bank"


# ---------------------------------------------------------------- the model's reply


class CandidateQuestion(BaseModel):
    text: str = Field(min_length=1, description="the question, one or two sentences")
    suggestions: list[str] = Field(default_factory=list, description="2-4 distinct suggested answers, likeliest first",
                                   json_schema_extra={"minItems": 2, "maxItems": 4,
                                                      "items": {"type": "string", "minLength": 1}})
    why: str = Field("", description="one line: what the answer decides")
    impact: float = Field(0.5, ge=0.0, le=1.0, description="0-1: how much the answer would change the artifacts")
    informs: Literal[ARTIFACTS] = Field(  # type: ignore[valid-type]
        "knowledge_base", description="the artifact it informs most: " + ", ".join(ARTIFACTS))

    @field_validator("suggestions", mode="before")
    @classmethod
    def _suggestions(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            v = [s.strip() for s in re.split(r"\n|;|\|", v) if s.strip()]
        if isinstance(v, list):
            return [str(s) for s in v if isinstance(s, (str, int, float)) and not isinstance(s, bool)]
        return v

    @field_validator("impact", mode="before")
    @classmethod
    def _impact(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = re.search(r"\d+(?:\.\d+)?", v)
            v = float(m.group()) if m else 0.5
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = float(v)
            if 1 < v <= 10:
                v /= 10  # a 0-10 scale
            elif 10 < v <= 100:
                v /= 100  # a percentage
            return min(1.0, max(0.0, v))
        return v

    @field_validator("informs", mode="before")
    @classmethod
    def _informs(cls, v: Any) -> Any:
        key = re.sub(r"[^a-z]+", "_", str(v or "").lower()).strip("_")
        for name in ARTIFACTS:
            if key and (key in name or name in key):
                return name
        return "knowledge_base"

    @field_validator("why", mode="before")
    @classmethod
    def _why(cls, v: Any) -> Any:
        return "" if v is None else str(v)


class QuestionCandidates(BaseModel):
    """What the interviewer model returns for prompts/next_question.md."""

    candidates: list[CandidateQuestion] = Field(min_length=1)
    round_saturated: bool = Field(False, description="true when more questions in this round would mostly add detail")
    saturation_reason: str = ""

    @field_validator("saturation_reason", mode="before")
    @classmethod
    def _reason(cls, v: Any) -> Any:
        return "" if v is None else str(v)


# ---------------------------------------------------------------- progress


class Progress(NamedTuple):
    round: str  # round name, or "done"
    round_number: int  # 1-4
    asked: int  # questions asked so far, the current one included
    remaining: int  # at most this many more questions after the current one


# ---------------------------------------------------------------- the session


class InterviewSession:
    """One expert's interview for a project; every change is saved before a method returns."""

    def __init__(self, project: Any, gateway: Any | None = None, *, notify: Callable[[str], None] | None = None):
        self.project = project
        self.notices: list[str] = []
        self._notify = notify
        self.llm_calls = 0
        self._misses = 0  # consecutive model replies with no usable candidate
        self.interview: Interview = Interview()
        self._on_disk: str | None = None  # fingerprint of interview.toml as this session last read or wrote it
        self._read()
        cfg = project.meta.config.extract
        self.max_questions = cfg.max_questions
        self.min_questions = min(cfg.min_questions, cfg.max_questions)
        self._mins = _scaled_minimums(self.max_questions)
        self.gateway = gateway if configured(gateway) else None
        if not self.interview.finished:
            if self.interview.offline:
                self.gateway = None
                if self.interview.questions:
                    self._notice(STILL_OFFLINE_NOTICE)
            elif self.gateway is None:
                self.interview.offline = True
                self._notice(NO_LLM_NOTICE)

    @classmethod
    def open(cls, project: Any, *, use_llm: bool = True, notify: Callable[[str], None] | None = None
             ) -> "InterviewSession":
        """The project's interview, with the interviewer model when one is configured."""
        return cls(project, make_gateway(project) if use_llm else None, notify=notify)

    # ------------------------------------------------------------ notices and saving

    def _notice(self, message: str) -> None:
        self.notices.append(message)
        if self._notify is not None:
            self._notify(message)

    def drain_notices(self) -> list[str]:
        out, self.notices = self.notices, []
        return out

    def _read(self) -> None:
        # the fingerprint first: a write landing between the two reads makes a later save resync, never
        # overwrite
        self._on_disk = file_fingerprint(self.project.path(INTERVIEW))
        self.interview = self.project.read_or(INTERVIEW, Interview) or Interview()

    def save(self) -> None:
        """Write the transcript, unless it changed on disk since this session read it: then
        InterviewChanged (the file is left as it is; :meth:`reload` takes it up)."""
        path = self.project.path(INTERVIEW)
        with self.project.writing():
            if file_fingerprint(path) != self._on_disk:
                raise InterviewChanged(
                    f"{path}: changed on disk since this interview read it (another tunesmith or a hand edit); "
                    f"nothing was written over it: the interview is read again from the file")
            self.project.write(INTERVIEW, self.interview)
            self._on_disk = file_fingerprint(path)

    def changed_on_disk(self) -> bool:
        return file_fingerprint(self.project.path(INTERVIEW)) != self._on_disk

    def reload(self) -> None:
        """Read the transcript again from disk, dropping this session's unsaved change (after
        InterviewChanged)."""
        self._read()
        self._misses = 0
        if self.interview.offline:
            self.gateway = None

    @property
    def offline(self) -> bool:
        return self.interview.offline

    def _go_offline(self, reason: str) -> None:
        self.gateway = None
        if not self.interview.offline:
            self.interview.offline = True
            self._notice(f"offline: {reason}; the rest of this interview runs on the built-in question bank")
            self.save()

    # ------------------------------------------------------------ personas

    @property
    def personas(self) -> list[Persona]:
        return list(self.interview.personas)

    @property
    def persona(self) -> Persona | None:
        return self.interview.persona

    def propose_personas(self, force: bool = False) -> list[Persona]:
        """Three ranked personas (proposed once and saved; ``force`` asks again)."""
        if self.interview.personas and not force:
            return self.personas
        errors: list[str] = []
        personas, source = propose_personas(self.gateway, self.project.meta.task, self.project.meta.preset,
                                            on_error=errors.append)
        if self.gateway is not None:
            self.llm_calls += 1
        self.interview.personas = personas
        self.interview.persona_source = source  # type: ignore[assignment]
        self.interview.persona_index = None
        if errors:
            self._go_offline(f"the interviewer model's personas were unusable ({_short(errors[0])})")
        self.save()
        return self.personas

    def _persona_index(self, n: int, what: str = "persona") -> int:
        if not self.interview.personas:
            raise BadInput(f"{what}: no personas yet; propose them first")
        if not isinstance(n, int) or not 1 <= n <= len(self.interview.personas):
            raise BadInput(f"{what}: must be between 1 and {len(self.interview.personas)} (got {n!r})")
        return n - 1

    def choose_persona(self, n: int) -> Persona:
        """Interview as persona ``n`` (1-based, in ranked order); saved and marked as the 'persona' step."""
        self.interview.persona_index = self._persona_index(n)
        self.save()
        self.project.mark("extract", "persona")
        return self.interview.personas[n - 1]

    def edit_persona(self, n: int, *, role: str | None = None, experience_years: int | str | None = None,
                     why: str | None = None) -> Persona:
        """Change persona ``n``'s role, years or why (the list keeps its order)."""
        i = self._persona_index(n)
        self.interview.personas[i] = edit_persona(self.interview.personas[i], role=role,
                                                  experience_years=experience_years, why=why)
        self.interview.persona_source = "user"
        self.save()
        return self.interview.personas[i]

    # ------------------------------------------------------------ counting

    def _asked(self, rnd: str) -> int:
        return sum(1 for q in self.interview.questions if q.round == rnd)

    def _answered(self, rnd: str) -> int:
        return sum(1 for q in self.interview.questions if q.round == rnd and q.answer is not None and not q.skipped)

    def _cap(self, rnd: str) -> int:
        """The most questions round ``rnd`` may ask, leaving room for the later rounds' minimums."""
        i = ROUNDS.index(rnd)
        prior = sum(self._asked(r) for r in ROUNDS[:i])
        later = sum(self._mins[r] for r in ROUNDS[i + 1:])
        return max(0, min(ROUND_LIMITS[rnd][1], self.max_questions - prior - later))

    def _min(self, rnd: str) -> int:
        return min(self._mins[rnd], self._cap(rnd))

    def _round_done(self, rnd: str) -> bool:
        return rnd in self.interview.closed_rounds or self._asked(rnd) >= self._cap(rnd)

    def _current_round(self) -> str | None:
        for rnd in ROUNDS:
            if not self._round_done(rnd):
                return rnd
        return None

    def _later_capacity(self, rnd: str) -> int:
        later = sum(ROUND_LIMITS[r][1] for r in ROUNDS[ROUNDS.index(rnd) + 1:])
        return min(later, self.max_questions - len(self.interview.questions))

    def _may_close_early(self, rnd: str) -> bool:
        """A round may end before its maximum once its minimum is answered and the total can still be met."""
        if self._answered(rnd) < self._min(rnd):
            return False
        if rnd == "competency" and not self._has_framework_question():
            return False
        if rnd == "validation" and not self._has_example_question():
            return False
        return len(self.interview.questions) + self._later_capacity(rnd) >= self.min_questions

    def _close_round(self, rnd: str) -> None:
        if rnd not in self.interview.closed_rounds:
            self.interview.closed_rounds.append(rnd)  # type: ignore[arg-type]
        self.save()

    def _pending(self) -> Question | None:
        for q in self.interview.questions:
            if q.answer is None and not q.skipped:
                return q
        return None

    def _has_framework_question(self) -> bool:
        return any(q.id == FRAMEWORK_QUESTION_ID for q in self.interview.questions)

    def _has_example_question(self) -> bool:
        return any(q.id == EXAMPLE_QUESTION_ID for q in self.interview.questions)

    # ------------------------------------------------------------ the public state machine

    @property
    def finished(self) -> bool:
        if self.interview.finished:
            return True
        if self.interview.persona is not None and self._pending() is None and self._current_round() is None:
            self._finish()
            return True
        return False

    def current(self) -> Question | None:
        """The question waiting for an answer (asking the next one if needed); None when finished."""
        if self.interview.finished:
            return None
        if self.interview.persona is None:
            raise BadInput("persona: choose the expert persona before the interview starts")
        for _ in range(len(ROUNDS) + 2):  # each pass asks a question or closes a round
            pending = self._pending()
            if pending is not None:
                return pending
            rnd = self._current_round()
            if rnd is None:
                self._finish()
                return None
            question = self._next_question(rnd)
            if question is not None:
                question.asked_at = now()
                self.interview.questions.append(question)
                self.save()
                return question
        self._finish()  # unreachable in practice: every pass closes a round or asks
        return None

    def answer(self, text: str) -> Question:
        """Answer the current question with free text; returns the answered question."""
        q = self._require_current()
        text = (text or "").strip()
        if not text:
            raise BadInput("answer: empty; type an answer, pick a suggestion, or skip")
        q.answer = text
        q.skipped = False
        q.answered_at = now()
        self.save()
        return q

    def pick(self, n: int) -> Question:
        """Answer with suggestion ``n`` (1-based)."""
        q = self._require_current()
        if not isinstance(n, int) or not 1 <= n <= len(q.suggestions):
            raise BadInput(f"suggestion: must be between 1 and {len(q.suggestions)} (got {n!r})")
        return self.answer(q.suggestions[n - 1])

    def skip(self) -> Question:
        """Skip the current question: it is not answered but counts toward the maximum."""
        q = self._require_current()
        q.answer = None
        q.skipped = True
        q.answered_at = now()
        self.save()
        return q

    def back(self) -> Question | None:
        """Re-open the previous question for a new answer; None when there is nothing to go back to.

        The question waiting for an answer (if any) is discarded: it was chosen with the old answer
        in mind, so the interview asks afresh once the re-opened question is answered again.
        """
        questions = self.interview.questions
        pending = self._pending()
        answered = [q for q in questions if q is not pending]
        if not answered:
            return None
        if pending is not None:
            questions.remove(pending)
        last = questions[-1]
        last.answer = None
        last.skipped = False
        last.answered_at = None
        cut = ROUNDS.index(last.round)
        self.interview.closed_rounds = [r for r in self.interview.closed_rounds if ROUNDS.index(r) < cut]
        self.interview.finished = False
        self.save()
        return last

    def progress(self) -> Progress:
        """(round name, round number 1-4, questions asked so far, at most how many more after this one)."""
        total = len(self.interview.questions)
        if self.interview.finished:
            return Progress("done", len(ROUNDS), total, 0)
        pending = self._pending()
        rnd = pending.round if pending is not None else (self._current_round() or ROUNDS[-1])
        here = max(0, self._cap(rnd) - self._asked(rnd))
        later = sum(ROUND_LIMITS[r][1] for r in ROUNDS[ROUNDS.index(rnd) + 1:])
        remaining = max(0, min(self.max_questions - total, here + later))
        return Progress(rnd, ROUNDS.index(rnd) + 1, total, remaining)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per round: (answered, asked)."""
        return {r: (self._answered(r), self._asked(r)) for r in ROUNDS}

    # ------------------------------------------------------------ internals

    def _require_current(self) -> Question:
        q = self.current()
        if q is None:
            raise BadInput("the interview is finished; nothing to answer")
        return q

    def _finish(self) -> None:
        self.interview.finished = True
        self.save()
        self.project.mark("extract", "persona")
        self.project.mark("extract", "interview")

    def _next_id(self) -> str:
        taken = {q.id for q in self.interview.questions}
        n = len(self.interview.questions) + 1
        while f"q{n:02d}" in taken:
            n += 1
        return f"q{n:02d}"

    def _next_question(self, rnd: str) -> Question | None:
        """A new question for ``rnd``, or None after closing the round."""
        if rnd == "competency" and not self._has_framework_question():
            return self._framework_question()
        if rnd == "validation" and not self._has_example_question():
            return self._example_question()
        if self.gateway is not None and not self.interview.offline:
            status, question = self._from_llm(rnd)
            if status != "bank":
                return question
        return self._from_bank(rnd)

    def _framework_question(self) -> Question:
        cfg = self.project.meta.config.extract
        return Question(
            id=FRAMEWORK_QUESTION_ID, round="competency", text=FRAMEWORK_QUESTION,
            suggestions=framework_suggestions(self.project.meta.task, cfg.framework_sources),
            source="bank",
            why="A named framework grounds answers in its components, terminology and response templates; "
                "otherwise a custom taxonomy is built from this conversation.",
        )

    def _example_question(self) -> Question:
        return Question(
            id=EXAMPLE_QUESTION_ID, round="validation", text=EXAMPLE_QUESTION, suggestions=list(EXAMPLE_SKIPS),
            source="bank",
            why="Your own example shows the generator the exact format and quality you expect (a few-shot "
                "demonstration); it is never put in the eval set.",
        )

    def _from_bank(self, rnd: str) -> Question | None:
        target = min(question_bank.OFFLINE_TARGET[rnd], self._cap(rnd))
        if self._asked(rnd) >= target and self._may_close_early(rnd):
            self._close_round(rnd)
            return None
        asked = [q.text for q in self.interview.questions] + [FRAMEWORK_QUESTION, EXAMPLE_QUESTION]
        bq = question_bank.next_question(rnd, self.project.meta.task, asked)
        if bq is None:  # the bank has nothing left for this round that was not asked already
            self._close_round(rnd)
            return None
        return Question(id=self._next_id(), round=rnd, text=bq.render(self.project.meta.task),  # type: ignore[arg-type]
                        suggestions=list(bq.suggestions), source="bank", why=bq.why)

    def _from_llm(self, rnd: str) -> tuple[str, Question | None]:
        """("question", q) | ("closed", None) | ("bank", None): use the bank for this one question."""
        if self.llm_calls >= MAX_LLM_CALLS:
            self._go_offline(f"the interview reached its cap of {MAX_LLM_CALLS} model calls")
            return "bank", None
        self.llm_calls += 1
        try:
            reply = call_structured(self.gateway, self._messages(rnd), QuestionCandidates)
        except LLMError as exc:
            self._go_offline(f"the interviewer model's output was unusable ({_short(str(exc))})")
            return "bank", None
        usable = self._usable(reply.candidates)
        best = max(usable, key=lambda c: c.impact) if usable else None  # first of equals wins
        if self._may_close_early(rnd) and (reply.round_saturated or best is None or best.impact < LOW_IMPACT):
            self._close_round(rnd)
            return "closed", None
        if best is None:
            self._misses += 1
            if self._misses >= 2:
                self._go_offline("the interviewer model keeps proposing questions that were already asked")
            return "bank", None
        self._misses = 0
        return "question", Question(
            id=self._next_id(), round=rnd, text=best.text, suggestions=best.suggestions,  # type: ignore[arg-type]
            source="llm", why=(best.why or "").strip()[:300] or None,
        )

    def _usable(self, candidates: list[CandidateQuestion]) -> list[CandidateQuestion]:
        """Cleaned candidates with 2-4 distinct suggestions that repeat no asked question."""
        asked = [q.text for q in self.interview.questions] + [FRAMEWORK_QUESTION, EXAMPLE_QUESTION]
        out: list[CandidateQuestion] = []
        for c in candidates:
            text = " ".join(c.text.split())
            if len(text) < 8 or len(text) > 500:
                continue
            if any(question_bank.is_near_repeat(text, a) for a in asked + [o.text for o in out]):
                continue
            suggestions: list[str] = []
            seen: set[str] = set()
            for s in c.suggestions:
                s = " ".join(s.split()).strip("-•* ")
                s = re.sub(r"^\(?[1-9a-d][).:]\s+", "", s)  # "1. ..." / "a) ..."
                key = question_bank.normalise(s)
                if not key or key in seen or key == question_bank.normalise(text):
                    continue
                if len(s) > MAX_SUGGESTION_CHARS:
                    s = s[:MAX_SUGGESTION_CHARS - 3].rsplit(" ", 1)[0] + "..."
                seen.add(key)
                suggestions.append(s)
            if len(suggestions) < 2:
                continue
            out.append(c.model_copy(update={"text": text, "suggestions": suggestions[:4]}))
        return out

    def _messages(self, rnd: str) -> list[dict[str, str]]:
        meta = self.project.meta
        cfg = meta.config.extract
        persona = self.interview.persona
        total = len(self.interview.questions)
        lo, cap = self._min(rnd), self._cap(rnd)
        later = sum(ROUND_LIMITS[r][1] for r in ROUNDS[ROUNDS.index(rnd) + 1:])
        left = max(0, min(self.max_questions - total, cap - self._asked(rnd) + later))
        status = (f"This round has asked {self._asked(rnd)} question(s) so far: it needs at least {lo} answered "
                  f"and may ask at most {cap}. {total} asked in the whole interview; at most {left} more.")
        answer = framework_answer(self.interview)
        if answer:
            note = f"Asked whether established frameworks apply, the expert said: {answer}"
        elif cfg.framework_mode == "enabled" and cfg.framework_sources:
            note = f"The project grounds the model in these frameworks: {', '.join(cfg.framework_sources)}."
        else:
            note = ""
        return prompts.render(
            "next_question",
            task=meta.task,
            task_type=meta.task_type,
            persona=(f"{persona.role}, {persona.experience_years} years of experience; {persona.why}"
                     if persona else "a domain expert"),
            framework_note=note,
            transcript=transcript(self.interview),
            round_number=ROUNDS.index(rnd) + 1,
            round_name=rnd,
            round_goal=question_bank.ROUND_GOALS[rnd],
            round_status=status,
            n_candidates=N_CANDIDATES,
        )


# ---------------------------------------------------------------- helpers


def file_fingerprint(path: Any) -> str | None:
    """What a file holds, as a digest (None: no file); equal digests mean nobody wrote it in between."""
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except FileNotFoundError:
        return None


def transcript(interview: Interview) -> str:
    """The questions asked so far as prompt text: id · round · question → answer."""
    lines = []
    for q in interview.questions:
        if q.skipped:
            lines.append(f"[{q.id}] {q.round} · {q.text} → (skipped)")
        elif q.answer is not None:
            lines.append(f"[{q.id}] {q.round} · {q.text} → {q.answer}")
    return "\n".join(lines) or "(no questions asked yet)"


def _scaled_minimums(max_questions: int) -> dict[str, int]:
    """Each round's minimum, scaled down when max_questions cannot hold the spec's minimums (3+5+5+3)."""
    mins = {r: ROUND_LIMITS[r][0] for r in ROUNDS}
    total = sum(mins.values())
    if max_questions >= total:
        return mins
    scaled = {r: max(1, round(m * max_questions / total)) for r, m in mins.items()}
    while sum(scaled.values()) > max_questions and any(v > 1 for v in scaled.values()):
        biggest = max(scaled, key=lambda r: scaled[r])
        scaled[biggest] -= 1
    return scaled


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "InterviewSession", "Progress", "QuestionCandidates", "CandidateQuestion", "transcript", "rank",
]
