"""The built-in, domain-agnostic question bank (``question_bank.toml``) and question similarity.

The interview runs on this bank when no LLM is configured, or for the rest of a session once the
model's output proved unusable. :func:`is_near_repeat` is shared with the LLM path: a candidate that
repeats an asked question (same words, reordered or lightly rephrased) is never asked again.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from core.models.knowledge import ROUNDS

BANK_FILE = Path(__file__).resolve().parent / "question_bank.toml"

# How many bank questions each round asks offline when nothing forces more (framework question included).
OFFLINE_TARGET: dict[str, int] = {"boundary": 4, "competency": 6, "variation": 5, "validation": 3}

# What each round is for, in the spec's words (shown to the interviewer model and in the UI).
ROUND_GOALS: dict[str, str] = {
    "boundary": "Boundary questions: what IS in scope, what is explicitly OUT of scope, and the hard "
                "constraints (legal, technical, ethical).",
    "competency": "Competency questions: what the model must ALWAYS do correctly, what it must NEVER do, "
                  "the gray areas that need judgement, and the common errors to avoid.",
    "variation": "Variation questions: the main input categories, what makes an input easy versus hard, "
                 "the edge cases, and how the output should vary with context.",
    "validation": "Validation questions: how to tell that an output is correct, which metrics matter, and "
                  "the minimum acceptable performance.",
}


@dataclass(frozen=True)
class BankQuestion:
    round: str
    text: str
    suggestions: tuple[str, ...]
    why: str
    core: bool = False

    def render(self, task: str) -> str:
        return self.text.replace("{task}", short_task(task))


@lru_cache(maxsize=1)
def bank() -> tuple[BankQuestion, ...]:
    data = tomllib.loads(BANK_FILE.read_text(encoding="utf-8"))
    out = []
    for entry in data.get("question", []):
        if entry["round"] not in ROUNDS:
            raise ValueError(f"{BANK_FILE}: unknown round {entry['round']!r}")
        out.append(BankQuestion(round=entry["round"], text=entry["text"], why=entry.get("why", ""),
                                suggestions=tuple(entry["suggestions"]), core=bool(entry.get("core", False))))
    return tuple(out)


def for_round(round_name: str) -> list[BankQuestion]:
    """The round's questions, core ones first (file order otherwise)."""
    items = [q for q in bank() if q.round == round_name]
    return [q for q in items if q.core] + [q for q in items if not q.core]


def next_question(round_name: str, task: str, asked: Iterable[str]) -> BankQuestion | None:
    """The first bank question of the round that does not repeat an asked question, or None."""
    asked = list(asked)
    for q in for_round(round_name):
        if not any(is_near_repeat(q.render(task), a) for a in asked):
            return q
    return None


def short_task(task: str, limit: int = 90) -> str:
    """The task's first sentence, at most ``limit`` characters, without a trailing full stop."""
    text = " ".join((task or "").split())
    first = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0] if text else "this task"
    first = first.rstrip(".!? ")
    if len(first) > limit:
        first = first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return first or "this task"


# ---------------------------------------------------------------- near-repeat detection

_STOP = frozenset("""
a an the and or but of to for in on at by with from as is are was were be been being it its this that these
those there their they them what which who whom whose when where why how do does did done can could should
would will shall may might must have has had you your yours we our us i me my model assistant please tell
about any some each every one ones exactly kind kinds such than then so if not no yes also just very really
""".split())


def _stem(word: str) -> str:
    """A crude stem: handles / handled / handling -> handl; categories -> category."""
    for suffix in ("ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").lower()))


def content_words(text: str) -> list[str]:
    """The words that carry meaning, stemmed, in order (stop words dropped)."""
    return [_stem(w) for w in normalise(text).split() if w not in _STOP]


def content_tokens(text: str) -> set[str]:
    return set(content_words(text))


def similarity(a: str, b: str) -> tuple[float, float]:
    """(token overlap, sequence similarity), each 0..1: the Jaccard index of the content words, and
    difflib's ratio of the content words in order (so a shared "How should the model..." counts for nothing)."""
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0, 0.0
    if na == nb:
        return 1.0, 1.0
    ta, tb = content_tokens(a), content_tokens(b)
    jaccard = len(ta & tb) / len(ta | tb) if ta and tb else 0.0
    ca, cb = " ".join(content_words(a)), " ".join(content_words(b))
    seq = SequenceMatcher(None, ca, cb).ratio() if ca and cb else SequenceMatcher(None, na, nb).ratio()
    return jaccard, seq


def is_near_repeat(candidate: str, asked: str) -> bool:
    """Whether ``candidate`` asks what ``asked`` already asked (normalised text / token overlap)."""
    jaccard, seq = similarity(candidate, asked)
    if jaccard >= 0.7 or seq >= 0.85:
        return True
    # the asked question plus a few words ("..., and why?") is still a repeat
    ta, tb = content_tokens(candidate), content_tokens(asked)
    if len(ta) >= 3 and len(tb) >= 3:
        small, big = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
        return len(small & big) / len(small) >= 0.9 and len(big) - len(small) <= 2
    return False
