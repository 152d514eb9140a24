"""Few-shot demonstrations for the generator: real examples of the expected output, never eval-set items.

Where they come from, in this order:

1. the interview: the expert's own example request and ideal answer (the ``example`` question, answered
   "Request: … Answer: …"; see :func:`parse_example`);
2. the pilot, once its spot-check approved it: the examples the expert rated good, or, when the pilot
   was approved as it stood (``--approve-all``), its kept examples.

Any demonstration whose input is also an eval-set input is dropped (showing it would leak the held-out
set into the training data). Each request shows :data:`SHOWN` of them, rotated by the request's seed so
that different requests see different ones, and only demonstrations of the cell's own kind (in-scope
ones for common and edge cells, refusals for refusal cells). The demonstrations a request saw are part
of the examples' ``prompt_version`` (``+shots@<digest>``).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Any, Sequence

from core.generate.records import good_response, user_text

SHOWN = 3
MAX_POOL = 60
INTERVIEW_QUESTION_ID = "example"
_PARTS = re.compile(
    r"^\s*(?:request|input|question|user|q)\s*[:\-]\s*(?P<input>.+?)\s*"
    r"(?:\n|\s)(?:answer|response|reply|output|ideal answer|a)\s*[:\-]\s*(?P<response>.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Demonstration:
    kind: str  # "in_scope" | "refusal"
    input: str
    response: str
    source: str  # "interview" | "pilot"

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.input}\x00{self.response}".encode("utf-8")).hexdigest()[:12]


def parse_example(answer: str) -> tuple[str, str] | None:
    """(request, answer) from an interview answer written "Request: … Answer: …", else None."""
    m = _PARTS.match(answer or "")
    if not m:
        return None
    inp, resp = m.group("input").strip(), m.group("response").strip()
    return (inp, resp) if len(inp) >= 3 and resp else None


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", (text or "").lower()).split())


def collect(project: Any) -> list[Demonstration]:
    """Every usable demonstration of the project (see the module docstring), eval-set inputs removed."""
    from core.extract.evalset import load_eval_set
    from core.generate import pipeline_state as ps
    from core.generate.review import PilotReview
    from core.models.data import TrainingExample
    from core.models.knowledge import Interview
    from core.project import EVAL_SET, INTERVIEW

    out: list[Demonstration] = []
    interview = project.read_or(INTERVIEW, Interview)
    for q in interview.answered() if interview else ():
        if q.id == INTERVIEW_QUESTION_ID or q.id.startswith(INTERVIEW_QUESTION_ID + "-"):
            pair = parse_example(q.answer or "")
            if pair:
                out.append(Demonstration("in_scope", pair[0], pair[1], "interview"))
    if project.meta.is_done("generate", "pilot_approved") and project.exists(ps.PILOT_EXAMPLES):
        kept = project.read_rows(ps.PILOT_EXAMPLES, TrainingExample)
        review = project.read_or(ps.PILOT_REVIEW, PilotReview)
        good = {k for k, v in (review.ratings if review else {}).items() if v == "good"}
        chosen = [e for e in kept if e.id in good] or kept
        for e in chosen[:MAX_POOL]:
            resp = good_response(e.record)
            if resp:
                out.append(Demonstration("refusal" if e.kind == "refusal" else "in_scope", user_text(e.record),
                                         resp, "pilot"))
    held_out = {_norm(e.input) for e in load_eval_set(project)} if project.exists(EVAL_SET) else set()
    return [d for d in out if _norm(d.input) not in held_out]


def pick(pool: Sequence[Demonstration], kind: str, seed: str, n: int = SHOWN) -> list[Demonstration]:
    """``n`` demonstrations of ``kind``'s group for one request, rotated by ``seed`` (interview ones first)."""
    group = "refusal" if kind == "refusal" else "in_scope"
    mine = [d for d in pool if d.kind == group]
    if len(mine) <= n:
        return mine
    own = [d for d in mine if d.source == "interview"][:1]
    rest = [d for d in mine if d not in own]
    random.Random(seed).shuffle(rest)
    return (own + rest)[:n]


def digest(shots: Sequence[Demonstration]) -> str:
    """A short digest of the demonstrations a request saw (for the prompt version)."""
    return hashlib.sha256("|".join(d.key for d in shots).encode("utf-8")).hexdigest()[:8] if shots else ""
