"""LLM-free text heuristics the filters share: normalisation, refusals, sentence ends, code blocks,
template steps and empathy markers. All pure functions, fast enough for 10,000 examples."""

from __future__ import annotations

import re
import unicodedata

from core.refusal import DEFAULT_RULE

# ---------------------------------------------------------------- normalising


_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]")


def normalize(text: str) -> str:
    """Lower case, accents folded, punctuation dropped, whitespace collapsed: for exact-match checks."""
    text = text or ""
    if not text.isascii():  # ASCII has nothing to fold (and is most text: skip the per-character pass)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return _WS.sub(" ", _NON_WORD.sub(" ", text.lower())).strip()


_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_CODE_BLOCK = re.compile(r"(?ms)^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$")


def strip_code(text: str) -> str:
    """The text without its fenced code blocks (closed ones), for checks meant for prose."""
    return _CODE_BLOCK.sub(" ", text)


def code_blocks(text: str, languages: tuple[str, ...] = ("python", "py", "python3")) -> list[str]:
    """The fenced code blocks of ``text`` whose info string names one of ``languages``."""
    return [body for lang, body in _CODE_BLOCK.findall(text or "") if lang.lower() in languages]


def unclosed_fence(text: str) -> bool:
    return len(_FENCE.findall(text or "")) % 2 == 1


# ---------------------------------------------------------------- refusals

# The refusal rule lives in core/refusal.py (one rule for filters, rewards and evaluation); these are the
# generic phrases' checks, without a project's own refusal sentence.


def refusal_spans(text: str) -> list[tuple[int, int]]:
    return DEFAULT_RULE.spans(text)


def refuses(text: str) -> bool:
    """Does the response decline the request (anywhere)?"""
    return DEFAULT_RULE.refuses(text)


def refuses_upfront(text: str, window: int = 160) -> bool:
    """Does the response open by declining (a refusal phrase in its first ``window`` characters)?"""
    return DEFAULT_RULE.refuses_upfront(text, window)


# ---------------------------------------------------------------- sentence ends

_TERMINAL = set(".!?…:;。！？")
_CLOSERS = "\"'”’)]}*_`»>"
_LIST_ITEM = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|[a-zA-Z][.)])\s+\S")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_URL_END = re.compile(r"https?://\S+$")
_DANGLING = re.compile(r"(?:,|\band|\bor|\bbut|\bthe|\ba|\ban|\bto|\bof|\bwith|\bfor|\bthat|\bbecause|\bif)\s*$",
                       re.IGNORECASE)


def ends_mid_sentence(text: str) -> bool:
    """True when the text stops in the middle of a sentence: no terminal punctuation after its last
    words, and its last line is not a list item, table row, heading, code block or link. Short
    single-line answers (a label, a number, up to six words) count as complete."""
    t = (text or "").rstrip()
    if not t:
        return True
    if t.endswith(("```", "~~~")):
        return unclosed_fence(t)
    last_line = t.splitlines()[-1]
    if "\n" not in t and len(t.split()) <= 6 and not t.endswith((",", ":")):
        return False
    if _DANGLING.search(last_line):
        return True
    if _LIST_ITEM.match(last_line) or _TABLE_ROW.match(last_line) or _HEADING.match(last_line):
        return False
    if _URL_END.search(last_line):
        return False
    core = t.rstrip(_CLOSERS + " ")
    if not core:
        return False
    last = core[-1]
    if last in _TERMINAL:
        return False
    # an emoji or other symbol at the very end ends a sentence as well
    return unicodedata.category(last)[0] in "LNP" and last not in "-–—/\\"


# ---------------------------------------------------------------- template steps

_STOP = frozenset(
    "a an the and or of to for in on with your you their them it its this that be is are as at by from into "
    "step steps then any other additional provide give show offer make".split()
)
# Cue phrases for common template steps (CBT, customer support and the like): a step whose name
# shares a stem with a key counts as present when any of the cues appear.
_CUES: dict[str, tuple[str, ...]] = {
    "empath": ("sounds like", "i hear", "i understand", "that must", "makes sense", "i'm sorry", "it's understandable",
               "that's really", "you're not alone", "feeling", "i can imagine", "it's okay", "that's hard"),
    "reflect": ("sounds like", "it seems", "what i'm hearing", "you feel", "you're feeling", "you've been", "you said"),
    "acknowledg": ("sorry", "thank you for", "thanks for", "i see", "i understand", "i can see", "i hear",
                   "you're right", "frustrat"),
    "understand": ("i understand", "i see", "makes sense", "i can see", "understandable", "i hear", "frustrat",
                   "that must"),
    "identif": ("pattern", "notice", "tend to", "thought", "whenever", "seems like", "it looks like", "the cause",
                "the issue", "the problem"),
    "pattern": ("pattern", "notice", "tend to", "whenever", "each time", "every time", "often"),
    "teach": ("try", "technique", "exercise", "strategy", "one way", "method", "here's how", "you can"),
    "techniqu": ("try", "technique", "exercise", "strategy", "one way", "method", "breath", "reframe"),
    "practic": ("practice", "practise", "this week", "next time", "try", "could you", "exercise", "homework"),
    "prompt": ("could you", "would you", "what", "how", "try", "?"),
    "encourag": ("you can", "progress", "proud", "keep", "well done", "you've got", "great job", "step forward",
                 "you're doing", "it's okay", "be gentle", "you've already"),
    "solut": ("step", "1.", "first", "then", "try", "you can", "to fix", "here's how", "go to", "click"),
    "confirm": ("does that", "let me know if", "make sense", "did that", "is that", "to confirm", "just to check",
                "are you able"),
    "help": ("anything else", "happy to help", "let me know", "feel free", "reach out", "here if you need"),
    "summar": ("in short", "to summarise", "to summarize", "overall", "in summary", "so,"),
    "explain": ("because", "this means", "the reason", "works by", "that is", "in other words"),
    "question": ("?",),
    "clarif": ("?", "could you", "do you mean", "can you tell me"),
}
_WORD = re.compile(r"[a-z][a-z']+")
_SUFFIXES = ("ations", "ation", "ively", "ness", "ment", "ings", "ing", "ies", "ive", "ic", "ed", "es", "ly", "s",
             "e", "y")


def stem(word: str) -> str:
    w = word.lower().strip("'")
    for suf in _SUFFIXES:
        if len(w) - len(suf) >= 4 and w.endswith(suf):
            return w[: -len(suf)]
    return w


def step_keywords(step: str) -> list[str]:
    """Content-word stems of a template step's name ("Empathetic reflection" -> ["empathet", "reflect"])."""
    return [stem(w) for w in _WORD.findall(step.lower()) if w not in _STOP and len(w) > 2]


def _step_cues(step: str) -> list[str]:
    cues: list[str] = []
    for kw in step_keywords(step):
        for key, phrases in _CUES.items():
            if kw.startswith(key) or key.startswith(kw):
                cues.extend(phrases)
    return cues


def step_positions(steps: list[str], response: str) -> list[int | None]:
    """For each step, the character offset where the response covers it (None if it does not): a line
    naming the step (heading, bold label or numbered item), a content word of its name, or a cue phrase."""
    low = (response or "").lower().replace("\u2019", "'")
    words = [(m.start(), stem(m.group())) for m in _WORD.finditer(low)]
    out: list[int | None] = []
    for step in steps:
        name = step.lower().strip()
        pos = low.find(name) if name else -1
        if pos < 0:
            kws = step_keywords(step)
            hits = [i for i, s in words if any(s.startswith(k) or k.startswith(s) for k in kws if len(s) >= 4)]
            pos = min(hits) if hits else -1
        if pos < 0:
            cue_hits = [low.find(c) for c in _step_cues(step)]
            cue_hits = [p for p in cue_hits if p >= 0]
            pos = min(cue_hits) if cue_hits else -1
        out.append(pos if pos >= 0 else None)
    return out


def step_coverage(steps: list[str], response: str) -> tuple[float, float, list[str]]:
    """(share of steps present, share of consecutive present steps in template order, missing steps)."""
    if not steps:
        return 1.0, 1.0, []
    pos = step_positions(steps, response)
    present = [p for p in pos if p is not None]
    missing = [s for s, p in zip(steps, pos) if p is None]
    coverage = len(present) / len(steps)
    if len(present) < 2:
        order = 1.0 if present else 0.0
    else:
        order = sum(1 for a, b in zip(present, present[1:]) if a <= b) / (len(present) - 1)
    return coverage, order, missing


# ---------------------------------------------------------------- empathy

EMPATHY_MARKERS: tuple[str, ...] = (
    "that sounds", "it sounds like", "sounds really", "sounds like you", "i hear you", "i hear that",
    "i understand", "i can understand", "it makes sense", "that makes sense", "makes sense that", "that must be",
    "that must have", "must be really", "must feel", "i'm sorry you", "i'm sorry to hear", "i'm so sorry",
    "sorry you're going through", "it's understandable", "that's understandable", "completely understandable",
    "you're not alone", "thank you for sharing", "thanks for sharing", "thank you for telling me",
    "thank you for opening up", "your feelings are valid", "that's valid", "it's valid", "it's okay to",
    "it's ok to", "it's normal to", "it's natural to", "i can see why", "i can see how", "i can imagine",
    "that's a lot to", "that's really hard", "that's hard", "that's tough", "that's difficult",
    "i appreciate you", "you've been through", "it took courage", "that takes courage", "be gentle with yourself",
    "you're doing your best", "anyone would feel", "of course you feel", "no wonder you",
)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def empathy_markers(text: str) -> tuple[list[str], bool]:
    """(the distinct markers found, whether one is in the first two sentences)."""
    low = (text or "").lower().replace("\u2019", "'")
    found = [m for m in EMPATHY_MARKERS if m in low]
    sentences = _SENTENCE.findall(low)
    opening = "".join(sentences[:2])
    return found, any(m in opening for m in found)


def empathy_score(text: str) -> float:
    """0..1: 0.6 for any validating phrase, +0.2 when the response opens with one, +0.2 for a second
    distinct one. One early marker scores 0.8 (the spec's default threshold); one late marker 0.6."""
    found, early = empathy_markers(text)
    if not found:
        return 0.0
    return min(1.0, 0.6 + (0.2 if early else 0.0) + (0.2 if len(found) >= 2 else 0.0))
