"""Exact match for constrained outputs: classification labels, multiple-choice letters and short closed
answers. Comparison is normalised (case, accents, punctuation, whitespace; numbers compared as numbers)
and a label is first extracted from verbose outputs ("The sentiment is **negative**." -> "negative").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

from core.generate.filters.text import normalize

MatchKind = Literal["label", "choice", "closed"]
CLOSED_MAX_WORDS = 4
CLOSED_MAX_CHARS = 40
LABEL_MAX_WORDS = 5
VERBOSE_MAX_WORDS = 12  # a closed answer inside an output of at most this many words still counts

_CHOICE_REF = re.compile(r"^\s*\(?([A-Ea-e])\)?\s*(?:[.):\-]\s*.*)?$", re.S)
_OPTIONS = re.compile(r"(?m)(?:^|\s)\(?([A-Ea-e])[).:]\s+\S")
_CHOICE_CUE = re.compile(
    r"(?i)\b(?:answer|option|choice|correct(?: answer| option)?)\s*(?:is|would be|:|=|-)?\s*[:\-]?\s*"
    r"(?:\*\*)?\(?([A-E])\)?(?:\*\*)?(?![A-Za-z])")
_CHOICE_LEAD = re.compile(r"^\s*(?:\*\*)?\(?([A-E])\)?(?:\*\*)?(?:[.):\s]|$)")
_LABEL_CUE = re.compile(
    r"(?i)\b(?:label|category|class|classification|answer|sentiment|intent|prediction|result|verdict)"
    r"\s*(?:is|:|=|-)\s*\**\s*[\"'`]?([^\n.;,\"'`*]+)")
_NUMBER = re.compile(r"^[-+]?\d+(?:[.,]\d+)?%?$")
_SPLIT = re.compile(r"\s+[—–-]\s+|:\s|\.\s|\n")


def multiple_choice_letter(reference: str, input_text: str = "") -> str | None:
    """The answer letter when the reference is a multiple-choice answer ("B", "(B)", "B) Paris")
    and the input lists options (or the reference is a bare letter)."""
    m = _CHOICE_REF.match(reference or "")
    if not m:
        return None
    bare = len((reference or "").strip().strip("()").strip(".):")) == 1
    if bare or len(set(x.upper() for x in _OPTIONS.findall(input_text or ""))) >= 2:
        return m.group(1).upper()
    return None


def is_closed(reference: str) -> bool:
    """A short closed answer: one line, at most 4 words and 40 characters."""
    ref = (reference or "").strip()
    return bool(ref) and "\n" not in ref and len(ref) <= CLOSED_MAX_CHARS and len(ref.split()) <= CLOSED_MAX_WORDS


def label_of(reference: str) -> str:
    """The label a classification reference names: a short reference itself, else the label after a cue
    ("Label: billing"), else the first clause of the first line when short."""
    ref = (reference or "").strip()
    if len(ref.split()) <= LABEL_MAX_WORDS and "\n" not in ref:
        return normalize(ref)
    m = _LABEL_CUE.search(ref)
    if m and len(m.group(1).split()) <= LABEL_MAX_WORDS:
        return normalize(m.group(1))
    head = _SPLIT.split(ref, maxsplit=1)[0]
    return normalize(head) if len(head.split()) <= LABEL_MAX_WORDS else normalize(ref)


def extract_choice(output: str) -> str | None:
    text = (output or "").strip()
    for rx in (_CHOICE_CUE, _CHOICE_LEAD):
        m = rx.search(text)
        if m:
            return m.group(1).upper()
    lone = re.findall(r"(?<![A-Za-z])\(?([A-E])\)(?![A-Za-z])", text)
    return lone[0].upper() if len(set(lone)) == 1 else None


def _phrase_at(norm_text: str, phrase: str) -> int:
    if not phrase:
        return -1
    m = re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", norm_text)
    return m.start() if m else -1


def extract_label(output: str, labels: Sequence[str] | None = None) -> str | None:
    """The label a (possibly verbose) output gives, normalised. With known ``labels``: the one after a
    cue ("label: X"), else the earliest label mentioned (first line first). Without: the cue's value or
    the first line when short."""
    text = (output or "").strip()
    if not text:
        return None
    known = sorted({normalize(label) for label in labels or [] if normalize(label)}, key=len, reverse=True)
    cue = _LABEL_CUE.search(text)
    if known:
        if cue:
            value = normalize(cue.group(1))
            for label in known:
                if value == label or _phrase_at(value, label) == 0:
                    return label
        first_line = normalize(text.splitlines()[0])
        for scope in (first_line, normalize(text)):
            hits = [(pos, -len(label), label) for label in known if (pos := _phrase_at(scope, label)) >= 0]
            if hits:
                return min(hits)[2]
        return None
    if cue and len(cue.group(1).split()) <= LABEL_MAX_WORDS:
        return normalize(cue.group(1))
    first = normalize(text.splitlines()[0])
    return first if len(first.split()) <= LABEL_MAX_WORDS else None


def _as_number(text: str) -> float | None:
    t = text.strip().rstrip("%").replace(",", "")
    try:
        return float(t) if _NUMBER.match(text.strip()) else None
    except ValueError:
        return None


def same_answer(a: str, b: str) -> bool:
    """Normalised equality; numbers compare numerically (``42`` == ``42.0``)."""
    na, nb = _as_number(a or ""), _as_number(b or "")
    if na is not None and nb is not None:
        return abs(na - nb) <= 1e-6 * max(1.0, abs(nb))
    return normalize(a) == normalize(b)


@dataclass(frozen=True)
class MatchResult:
    passed: bool
    kind: MatchKind
    expected: str
    extracted: str | None
    detail: str


def match_kind(reference: str, input_text: str, task_type: str) -> MatchKind | None:
    """Which exact-match flavour fits this example (None: the output is not constrained)."""
    if multiple_choice_letter(reference, input_text):
        return "choice"
    if task_type == "classification" and is_label(reference):
        return "label"
    if is_closed(reference):
        return "closed"
    return None


def is_label(reference: str) -> bool:
    """A reference that is a label: a short one-line answer, or one that opens by naming its label
    ("Label: billing. …"). A prose reference is not, whatever the task type says (exact match would
    score every output of it 0)."""
    ref = (reference or "").strip()
    if not ref:
        return False
    if "\n" not in ref and len(ref.split()) <= LABEL_MAX_WORDS:
        return True
    m = _LABEL_CUE.match(ref)
    return bool(m) and len(m.group(1).split()) <= LABEL_MAX_WORDS


def exact_match(output: str, reference: str, kind: MatchKind, *, input_text: str = "",
                labels: Sequence[str] | None = None) -> MatchResult:
    if kind == "choice":
        expected = multiple_choice_letter(reference, input_text) or (reference or "").strip()[:1].upper()
        got = extract_choice(output)
    elif kind == "label":
        expected = label_of(reference)
        got = extract_label(output, labels)
    else:
        expected = (reference or "").strip()
        got = _closed_answer(output, expected)
    passed = got is not None and same_answer(got, expected)
    detail = f"exact match ({kind}): expected {expected!r}, got {got!r}"
    return MatchResult(passed, kind, normalize(expected) if kind != "choice" else expected, got, detail)


def _closed_answer(output: str, expected: str) -> str | None:
    text = (output or "").strip()
    if not text:
        return None
    if same_answer(text, expected):
        return text
    cue = _LABEL_CUE.search(text)
    if cue and same_answer(cue.group(1), expected):
        return cue.group(1).strip()
    first = text.splitlines()[0].strip().rstrip(".!")
    if same_answer(first, expected):
        return first
    norm, want = normalize(text), normalize(expected)
    if len(norm.split()) <= VERBOSE_MAX_WORDS and _phrase_at(norm, want) >= 0:
        return expected
    return cue.group(1).strip() if cue else first
