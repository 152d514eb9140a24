"""Exact match for constrained outputs: classification labels, multiple-choice letters and short closed
answers. Comparison is normalised (case, accents, punctuation, whitespace; ``_``/``-``/space alike in
labels; numbers compared as numbers). An output passes only when it gives exactly ONE answer and that
answer is the expected one; every result records the rule that decided it (:attr:`MatchResult.rule`).

Labels (known label set: the project's labels, else the eval set's, plus the expected one):

- the output must name exactly one known label: two different labels anywhere fail ("billing or
  shipping", "It could be billing, shipping or login.", a justification that names another label);
  a label inside a longer known label counts once, as the longer one ("late payment", not "payment");
- a negated label fails ("not billing", "isn't billing", "no billing", "non-billing", "rather than
  billing"): a negation word right before it in its clause, only filler words ("a", "the", "really", ...)
  between;
- a hedged label fails: a hedge word (:data:`HEDGES`: maybe, perhaps, probably, possibly, likely, might,
  may, could, guess, either, ...) among the three words before it in its clause, a question mark or
  "or"/a hedge word right after it, a short following clause that hedges ("billing (probably)"), or a
  first-person "I'm not sure" / "hard to say" anywhere. "I think" is not a hedge (it is how many models
  assert);
- the label must stand where an answer stands: the whole output (``bare label``), the value after a cue
  ("Label: billing", "Category: **billing**", "The category is billing", "It's billing": ``label after
  cue '...'``), or the output's first clause / first words followed by a break or "because"
  (``leading label``: "billing — the customer asks about an invoice"). A label elsewhere, e.g. in the
  middle of noise ("stand nothing nothing billing year resendshot state"), fails (``label not at the
  start``), and so does a leading label that runs on into other words (``label runs into other text``);
- in those positions a short form is allowed: a leading article and one generic noun or adverb after the
  label ("a billing issue", "neutral overall": :data:`GENERIC_NOUNS`), the label written without
  separators ("passwordreset"), or an unambiguous word prefix of a multi-word label ("password" for
  "password_reset" when no other label starts so). A label that itself holds a negation ("not spam") is
  one label, not a negated one.

Multiple-choice letters: the same rules. Two different answer letters anywhere fail ("A or B", "B. A is
also possible"); a letter after a negation or hedge fails; the letter must be the whole output, follow a
cue ("The answer is (B)", "option C"), lead the output ("**A**. Paris"), or stand in parentheses. A
capital "A" followed by an ordinary word is the article, not a letter.

Short closed answers: the whole output, the value after a cue, the first line or clause, or a mention in
a short output (<= :data:`VERBOSE_MAX_WORDS` words) pass, unless that mention is negated ("not Paris"),
hedged ("maybe Paris") or set against another answer ("Paris or Lyon").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, Sequence

from core.generate.filters.text import normalize

MatchKind = Literal["label", "choice", "closed"]
CLOSED_MAX_WORDS = 4
CLOSED_MAX_CHARS = 40
LABEL_MAX_WORDS = 5
VERBOSE_MAX_WORDS = 12  # a closed answer inside an output of at most this many words still counts

HEDGES = frozenset({"maybe", "perhaps", "probably", "possibly", "likely", "unlikely", "might", "may", "could",
                    "guess", "either", "unsure", "presumably", "potentially", "conceivably", "somewhat"})
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "non", "without", "except", "cannot", "isnt",
                        "arent", "wasnt", "doesnt", "dont", "cant", "wont", "hardly", "nt"})
_NEGATION_PAIRS = frozenset({"rather than", "instead of", "other than", "apart from", "as opposed"})
_FILLERS = frozenset({"a", "an", "the", "really", "quite", "exactly", "just", "actually", "necessarily", "strictly",
                      "simply", "only", "about", "related", "to", "it", "s", "is", "be", "this", "that", "of",
                      "case", "issue", "question", "request", "considered", "classified", "as", "under", "in"})
GENERIC_NOUNS = frozenset({"issue", "issues", "question", "questions", "request", "requests", "problem", "problems",
                           "category", "class", "label", "intent", "ticket", "case", "inquiry", "enquiry", "query",
                           "topic", "type", "sentiment", "related", "one", "matter", "department", "team", "queue",
                           "overall", "here", "clearly", "definitely", "certainly"})  # may follow a label
_ARTICLES = frozenset({"a", "an", "the", "about"})  # skipped before a label ("a billing issue", "about billing")
_CONNECTORS = frozenset({"because", "since", "as", "due", "given", "so"})
_UNSURE = re.compile(r"\bi (?:m|am) (?:not sure|unsure|not certain|uncertain)\b|\bhard to (?:say|tell)\b|"
                     r"\bi (?:can t|cannot|could not|couldn t|don t|do not) (?:tell|say|decide|know)\b|"
                     r"^(?:not sure|unsure|no idea)\b")

_CHOICE_REF = re.compile(r"^\s*\(?([A-Ea-e])\)?\s*(?:[.):\-]\s*.*)?$", re.S)
_OPTIONS = re.compile(r"(?m)(?:^|\s)\(?([A-Ea-e])[).:]\s+\S")
_CHOICE_CUE = re.compile(
    r"(?i)\b(?:answer|option|choice|letter|correct(?: answer| option)?|it(?:'|’)?s|it is|i(?:'|’)?d go with|"
    r"i (?:choose|pick|select)|go with)\s*(?:is|would be|:|=|-)?\s*[:\-]?\s*"
    r"(?:\*\*)?\(?([A-E])\)?(?:\*\*)?(?![A-Za-z])")
_CHOICE_LEAD = re.compile(r"^\s*(?:\*\*)?\(?([A-E])\)?(?:\*\*)?(?:[.):\s,]|$)")
_LETTER = re.compile(r"(?<![A-Za-z0-9'’])(\(?)([A-E])(\)?)(?![A-Za-z0-9'’])")
_LETTER_WORDS = frozenset({"or", "and", "is", "was", "would", "seems", "fits", "looks", "because", "since", "as",
                           "appears", "matches", "works", "are"})
_LETTER_CUE_BEFORE = re.compile(r"(?i)\b(?:option|answer|choice|letter|or|and|between)\s*[:\-]?\s*$")
_LABEL_CUE = re.compile(
    r"(?i)\b(?:label|category|class|classification|answer|sentiment|intent|prediction|result|verdict)"
    r"\s*(?:is|:|=|-)\s*\**\s*[\"'`]?([^\n.;,\"'`*]+)")
# a cue before an answer: "Label:", "the category is", "classified as", "It's" (that one only at the start)
_CUE = re.compile(
    r"(?i)(?:(?<![\w-])(?:the\s+|my\s+|final\s+|correct\s+|predicted\s+)*"
    r"(?:label|category|class|classification|final answer|answer|sentiment|intent|prediction|result|verdict|"
    r"topic|type|tag)"
    r"\s*(?:(?:is|would be|will be|should be)\s*[:\-]?|[:=]|\s-\s)"
    r"|(?<![\w-])(?:falls under|belongs (?:to|in)|classified as|categori[sz]ed as|labell?ed as|goes to|route(?:d)? to)"
    r"|^(?:(?:no|yes|ok|okay|sure|well|so|alright)\s*[,.!]?\s+)?(?:(?:i think|i believe|i(?:'|’)?d say|i would say)"
    r"\s*,?\s*(?:(?:it|this|that)(?:'|’)?s|(?:it|this|that) (?:is|would be))?|(?:it|this|that)(?:'|’)?s|"
    r"(?:it|this|that) (?:is|would be)|"
    r"(?:i(?:'|’)?d |i would )?(?:classify|categori[sz]e|label) (?:it|this)(?: as)?))\s*")
_NUMBER = re.compile(r"^[-+]?\d+(?:[.,]\d+)?%?$")
_NUMBERS = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*%?(?![\w])")
_SPLIT = re.compile(r"\s+[—–-]\s+|:\s|\.\s|\n")
_BOUNDARY = re.compile(r"[\n;!?()\[\]—–]|:(?!\d)|,(?!\d)|\.(?=\s|$)|\s-\s")
_SEP = r"[ \t_\-/&+'’]{0,3}"  # what may stand between the words of a label ("password_reset", "password-reset")
_MARKUP = re.compile(r"\*\*|__|`|^\s*(?:#{1,6}\s+|>\s*|[-*•+]\s+|\d+[.)]\s+)", re.M)


# ---------------------------------------------------------------- references


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


def label_key(label: str) -> str:
    """A label's comparison form: normalised, with ``_`` and ``-`` read as spaces ("Password_Reset",
    "password-reset" and "password reset" are one label)."""
    return " ".join(normalize(label).replace("_", " ").split())


# ---------------------------------------------------------------- text helpers


def _fold(text: str) -> str:
    """Accents folded, nothing else changed (positions stay meaningful for the checks below)."""
    text = text or ""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _clean(text: str) -> str:
    """The output without markdown emphasis, code ticks, headings, quotes marks and list bullets."""
    return _MARKUP.sub("", _fold(text)).strip()


@functools.lru_cache(maxsize=4096)
def _phrase_rx(key: str) -> re.Pattern[str]:
    body = _SEP.join(re.escape(w) for w in key.split())
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)


def _clause(text: str, start: int, end: int) -> tuple[int, int]:
    """The clause around text[start:end]: from the last break before it to the first break after it."""
    lo, hi = 0, len(text)
    for m in _BOUNDARY.finditer(text):
        if m.end() <= start:
            lo = m.end()
        elif m.start() >= end:
            hi = m.start()
            break
    return lo, hi


def _negated(text: str, start: int, end: int) -> str | None:
    """The negation right before text[start:end] in its clause ("not", "isn't", "rather than"), if any."""
    lo, _ = _clause(text, start, end)
    words = normalize(text[lo:start]).split()
    i = len(words)
    for _skip in range(4):
        if i == 0:
            return None
        w, prev = words[i - 1], words[i - 2] if i >= 2 else ""
        if w in _NEGATIONS and w != "nt":
            return w
        if w == "t" and prev.endswith("n"):  # isn't, don't, can't, won't (normalised "isn t")
            return f"{prev}'t"
        if f"{prev} {w}" in _NEGATION_PAIRS:
            return f"{prev} {w}"
        if w not in _FILLERS:
            return None
        i -= 1
    return None


def _hedged(text: str, start: int, end: int) -> str | None:
    """The hedge around text[start:end] (see the module docstring), if any."""
    lo, hi = _clause(text, start, end)
    before = normalize(text[lo:start]).split()[-3:]
    hedge = next((w for w in before if w in HEDGES), None)
    if hedge:
        return hedge
    if re.match(r"[\s*_\"'`)\]]*\?", text[end:]):
        return "?"
    after = normalize(text[end:hi]).split()
    if after and (after[0] == "or" or after[0] in HEDGES):
        return after[0]
    nxt = _BOUNDARY.search(text, hi)
    if nxt is not None and hi < len(text):
        stop = _BOUNDARY.search(text, nxt.end())
        following = normalize(text[nxt.end():stop.start() if stop else len(text)]).split()
        if 0 < len(following) <= 3 and any(w in HEDGES for w in following):
            return next(w for w in following if w in HEDGES)
    return None


def _unsure(text: str) -> str | None:
    m = _UNSURE.search(normalize(text))
    return m.group(0) if m else None


def _first_clause(text: str) -> str:
    m = _BOUNDARY.search(text)
    return text[:m.start()] if m else text


def _cue_name(m: re.Match[str]) -> str:
    """How a cue is recorded: "category:", "the category is", "it's"."""
    return " ".join(m.group(0).lower().replace("’", "'").split()).rstrip("=-").strip()


def _cue_value(text: str, m: re.Match[str]) -> str:
    rest = text[m.end():]
    rest = rest.lstrip(" \t*\"'`“”‘’")
    b = _BOUNDARY.search(rest)
    return rest[:b.start()] if b else rest


# ---------------------------------------------------------------- labels


@dataclass(frozen=True)
class LabelMatch:
    label: str | None  # the label the output gives (its canonical, normalised form), None when it gives none
    rule: str


class _Labels:
    """A label set, by comparison key (:func:`label_key`) -> the canonical (normalised) label."""

    def __init__(self, labels: Sequence[str]):
        self.by_key: dict[str, str] = {}
        for label in labels:
            key = label_key(label)
            if key and key not in self.by_key:
                self.by_key[key] = normalize(label)
        self.keys = sorted(self.by_key, key=lambda k: (-len(k), k))  # longest first: "late payment" before "payment"

    def mentions(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, key) of every label named in ``text``, a label inside a longer named one counted once."""
        found: list[tuple[int, int, str]] = []
        for key in self.keys:
            for m in _phrase_rx(key).finditer(text):
                if not any(m.start() < e and s < m.end() for s, e, _ in found):
                    found.append((m.start(), m.end(), key))
        return sorted(found)

    def resolve(self, phrase: str) -> tuple[str, str] | None:
        """(key, how) when ``phrase`` (a whole answer, a cue's value or a first clause) is a label, allowing
        a leading article, a trailing generic noun, a label written without separators, or an
        unambiguous word prefix of a multi-word label."""
        words = label_key(phrase).split()
        while words and words[0] in _ARTICLES:
            words = words[1:]
        tries = [words]
        if len(words) >= 2 and words[-1] in GENERIC_NOUNS:
            tries.append(words[:-1])
        for ws in tries:
            cand = " ".join(ws)
            if not cand:
                continue
            if cand in self.by_key:
                return cand, ""
            compact = [k for k in self.keys if k.replace(" ", "") == cand.replace(" ", "")]
            if len(compact) == 1:
                return compact[0], "normalised"
            prefixed = [k for k in self.keys if len(k.split()) > len(ws) and k.split()[:len(ws)] == ws]
            if len(prefixed) == 1:
                return prefixed[0], f"short form {cand!r}"
        return None


def match_label(output: str, labels: Sequence[str]) -> LabelMatch:
    """The one label ``output`` gives from ``labels``, or None and why not (see the module docstring)."""
    text = _clean(output)
    if not normalize(text):
        return LabelMatch(None, "empty output")
    known = _Labels(labels)
    mentions = known.mentions(text)
    named = list(dict.fromkeys(key for _, _, key in mentions))
    if len(named) >= 2:
        return LabelMatch(None, "several labels: " + ", ".join(known.by_key[k] for k in named))
    for s, e, key in mentions:
        neg = _negated(text, s, e)
        if neg:
            return LabelMatch(None, f"negated ({neg!r} before {known.by_key[key]!r})")
    if mentions:
        s, e, key = mentions[0]
        hedge = _hedged(text, s, e)
        if hedge:
            return LabelMatch(None, f"hedged ({hedge!r} by {known.by_key[key]!r})")
    unsure = _unsure(text) if mentions else None
    if unsure:
        return LabelMatch(None, f"hedged ({unsure!r})")

    def found(key: str, how: str, rule: str) -> LabelMatch:
        if named and key != named[0]:  # a short form of one label while another is named
            return LabelMatch(None, f"several labels: {known.by_key[named[0]]}, {known.by_key[key]}")
        return LabelMatch(known.by_key[key], rule + (f", {how}" if how else ""))

    hit = known.resolve(text)
    if hit:
        return found(*hit, "bare label")
    runon = ""
    for cue in _CUE.finditer(text):
        value = _cue_value(text, cue)
        hit = known.resolve(value)
        if hit:
            return found(*hit, f"label after cue {_cue_name(cue)!r}")
        if not runon and any(f"{label_key(value)} ".startswith(f"{k} ") for k in named):
            runon = f"label after cue {_cue_name(cue)!r} runs into other text ({' '.join(value.split())[:60]!r})"
    head = _first_clause(text)
    hit = known.resolve(head)
    if hit:
        return found(*hit, "leading label")
    words = head.split()
    for n in range(min(len(words), LABEL_MAX_WORDS), 0, -1):
        if n < len(words) and normalize(words[n]) in _CONNECTORS:
            hit = known.resolve(" ".join(words[:n]))
            if hit:
                return found(*hit, f"leading label (then {normalize(words[n])!r})")
    if runon:
        return LabelMatch(None, runon)
    if mentions:
        s, _, key = mentions[0]
        if not normalize(text[:s]):
            return LabelMatch(None, f"label runs into other text ({known.by_key[key]!r} + "
                                    f"{' '.join(normalize(head).split()[len(key.split()):][:3])!r})")
        return LabelMatch(None, f"label not at the start ({known.by_key[key]!r} after "
                                f"{len(normalize(text[:s]).split())} other words)")
    return LabelMatch(None, "no known label")


def extract_label(output: str, labels: Sequence[str] | None = None) -> str | None:
    """The label a (possibly verbose) output gives, normalised; None when it gives none or is ambiguous
    (two labels, negated, hedged, buried: :func:`match_label`). Without ``labels``: the cue's value, else
    the first line when short."""
    text = (output or "").strip()
    if not text:
        return None
    if labels and any(label_key(label) for label in labels):
        return match_label(text, labels).label
    cue = _LABEL_CUE.search(text)
    if cue and len(cue.group(1).split()) <= LABEL_MAX_WORDS:
        return normalize(cue.group(1))
    first = normalize(text.splitlines()[0])
    return first if len(first.split()) <= LABEL_MAX_WORDS else None


# ---------------------------------------------------------------- multiple choice


@dataclass(frozen=True)
class ChoiceMatch:
    letter: str | None
    rule: str


def _letters(text: str) -> list[tuple[int, int, str]]:
    """(start, end, letter) of every answer letter in ``text``; a capital "A" followed by an ordinary word
    is the article."""
    out = []
    for m in _LETTER.finditer(text):
        letter, paren = m.group(2), bool(m.group(1) or m.group(3))
        if letter == "A" and not paren and not _LETTER_CUE_BEFORE.search(text[:m.start()]):
            nxt = re.match(r"[ \t]+([a-z][a-z'’]*)", text[m.end():])
            if nxt and nxt.group(1) not in _LETTER_WORDS:
                continue  # "A prime has two divisors"
        out.append((m.start(), m.end(), letter))
    for m in re.finditer(r"(?<![A-Za-z0-9])\(([a-e])\)", text):  # "(b)"
        out.append((m.start(), m.end(), m.group(1).upper()))
    return sorted(out)


def match_choice(output: str) -> ChoiceMatch:
    """The one answer letter ``output`` gives, or None and why not (see the module docstring)."""
    text = _clean(output)
    if not text:
        return ChoiceMatch(None, "empty output")
    bare = text.strip("()[]*.: \t\n")
    if len(bare) == 1 and bare.upper() in "ABCDE":
        return ChoiceMatch(bare.upper(), "bare letter")
    found = _letters(text)
    letters = list(dict.fromkeys(x for _, _, x in found))
    if len(letters) >= 2:
        return ChoiceMatch(None, "several letters: " + ", ".join(letters))
    if not letters:
        return ChoiceMatch(None, "no answer letter")
    letter = letters[0]
    for s, e, _ in found:
        neg = _negated(text, s, e)
        if neg:
            return ChoiceMatch(None, f"negated ({neg!r} before {letter})")
    s, e, _ = found[0]
    hedge = _hedged(text, s, e) or _unsure(text)
    if hedge:
        return ChoiceMatch(None, f"hedged ({hedge!r} by {letter})")
    m = _CHOICE_CUE.search(text)
    if m and m.group(1) == letter:
        return ChoiceMatch(letter, "letter after cue")
    m = _CHOICE_LEAD.search(text)
    if m and m.group(1) == letter:
        return ChoiceMatch(letter, "leading letter")
    if re.search(rf"\({letter}\)", text):
        return ChoiceMatch(letter, "letter in parentheses")
    return ChoiceMatch(None, f"letter not at the start ({letter})")


def extract_choice(output: str) -> str | None:
    """The answer letter of ``output``, None when it gives none or several (:func:`match_choice`)."""
    return match_choice(output).letter


# ---------------------------------------------------------------- closed answers


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


def _occurrences(text: str, expected: str) -> list[tuple[int, int]]:
    if _as_number(expected) is not None:
        return [(m.start(), m.end()) for m in _NUMBERS.finditer(text) if same_answer(m.group(0), expected)]
    key = normalize(expected)
    return [(m.start(), m.end()) for m in _phrase_rx(key).finditer(text)] if key else []


@dataclass(frozen=True)
class ClosedMatch:
    answer: str | None  # what the output answers (for the detail)
    passed: bool
    rule: str


def match_closed(output: str, expected: str) -> ClosedMatch:
    """Whether ``output`` gives the short closed answer ``expected`` (see the module docstring)."""
    text = _clean(output)
    if not normalize(text):
        return ClosedMatch(None, False, "empty output")
    if not text.endswith("?") and same_answer(text, expected):
        return ClosedMatch(text, True, "bare answer")
    cue = _CUE.search(text)
    first = text.splitlines()[0].strip().rstrip(".!")
    given = _cue_value(text, cue).strip() if cue else first
    occ = _occurrences(text, expected)
    if not occ:
        return ClosedMatch(given[:80] or None, False, "answer not found")
    for s, e in occ:
        neg = _negated(text, s, e)
        if neg:
            return ClosedMatch(None, False, f"negated ({neg!r} before {text[s:e]!r})")
    s, e = occ[0]
    lo, hi = _clause(text, s, e)
    before, after = normalize(text[lo:s]).split(), normalize(text[e:hi]).split()
    if (after and after[0] in ("or", "nor")) or (before and before[-1] in ("or", "either", "nor")):
        return ClosedMatch(None, False, f"several answers ({' '.join(normalize(text[lo:hi]).split())!r})")
    hedge = _hedged(text, s, e) or _unsure(text)
    if hedge:
        return ClosedMatch(None, False, f"hedged ({hedge!r})")
    if cue and same_answer(given.rstrip(".!"), expected):
        return ClosedMatch(given, True, f"answer after cue {_cue_name(cue)!r}")
    head = _first_clause(text).strip()
    if same_answer(first, expected) or same_answer(head, expected):
        return ClosedMatch(head, True, "leading answer")
    if len(normalize(text).split()) <= VERBOSE_MAX_WORDS:
        return ClosedMatch(text[s:e], True, "answer in a short output")
    return ClosedMatch(None, False, "answer buried in a long output")


# ---------------------------------------------------------------- the match


@dataclass(frozen=True)
class MatchResult:
    passed: bool
    kind: MatchKind
    expected: str
    extracted: str | None
    detail: str
    rule: str = ""  # which rule decided it ("bare label", "several labels: billing, shipping", ...)


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
    """Score ``output`` against ``reference`` (see the module docstring). ``labels``: the task's label
    set (the expected label is always part of it)."""
    if kind == "choice":
        expected = multiple_choice_letter(reference, input_text) or (reference or "").strip()[:1].upper()
        c = match_choice(output)
        got, rule = c.letter, c.rule
        passed = got is not None and got == expected
    elif kind == "label":
        expected = label_of(reference)
        lm = match_label(output, [expected, *(labels or [])])
        got, rule = lm.label, lm.rule
        passed = got is not None and label_key(got) == label_key(expected)
    else:
        expected = (reference or "").strip()
        cm = match_closed(output, expected)
        got, rule, passed = cm.answer, cm.rule, cm.passed
    detail = f"exact match ({kind}, {rule}): expected {expected!r}, got {got!r}"
    return MatchResult(passed, kind, normalize(expected) if kind != "choice" else expected, got, detail, rule)
