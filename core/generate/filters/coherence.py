"""Coherence: a basic NLP quality check, without a model.

Checked on the user input and the good response (the DPO rejected side and a KTO undesirable completion
are bad on purpose, so only placeholders are looked for there):
- placeholders left by the generator ("[insert …]", "<placeholder>", "lorem ipsum", "TODO", "XXX", "{{" in
  prose, "[Your Name]"-style slots);
- boilerplate ("As an AI language model", a reply that is only "I hope this helps!", generator preambles
  such as "Sure! Here is …");
- repetition (the share of repeated word 3-grams, and repeated lines);
- truncation (an unclosed code fence, a reply ending on "...");
- language garbage (replacement characters, mojibake, long runs of one character, a low share of
  letters, digits and punctuation in prose, over-long "words", vowel-less letter soup).

Score: a 0..1 quality estimate, the lowest of the component scores (1 - repetition share, share of clean
characters, 0 for placeholders / boilerplate, 0.2 for truncation).
"""

from __future__ import annotations

import re
from collections import Counter

from core.generate.filters.base import FilterContext, FilterResult, SimpleFilter, fail, ok
from core.generate.filters.text import strip_code, unclosed_fence
from core.generate.records import bad_response, good_response, user_text
from core.models.data import TrainingExample

NAME = "coherence"
REASONS = ("placeholder", "boilerplate", "repetitive", "truncated", "garbage")

NGRAM = 3
MAX_REPEAT = 0.35  # share of repeated 3-grams (texts of ≥ 24 words) or lines above which a text is repetitive
MIN_CLEAN_SHARE = 0.85  # clean characters among the non-space characters of the prose
_WORD = re.compile(r"\w+(?:'\w+)?")

_PLACEHOLDER = re.compile(
    r"\[\s*(?:insert|your|add|enter|placeholder|name of|company name|customer name|user name|product name|"
    r"link|date|xx)\b[^\]\n]{0,60}\]"
    r"|<\s*(?:placeholder|insert[^>\n]{0,40}|your[ _-][^>\n]{0,30})\s*>"
    r"|\blorem ipsum\b",
    re.IGNORECASE,
)
_PLACEHOLDER_CS = re.compile(r"\bTODO\b|\bTBD\b|\bXXX+\b|\bFIXME\b")
_MUSTACHE = re.compile(r"\{\{[^{}\n]{0,60}\}\}|\{\{")
_BOILER_ANY = re.compile(
    r"\bas an ai(?: language)? model\b|\bas a large language model\b|\bi am an ai (?:language )?model\b"
    r"|\bi(?:'m| am) just an ai\b|\bmy (?:knowledge|training) cut-?off\b",
    re.IGNORECASE,
)
_BOILER_START = re.compile(
    r"^\s*(?:sure|certainly|absolutely)[!,.]?\s+here(?:'s| is| are)\b"
    r"|^\s*here(?:'s| is) (?:a|an|the) (?:possible |sample |example |suggested )?(?:response|answer|reply|example)\b",
    re.IGNORECASE,
)
_BOILER_ONLY = re.compile(
    r"^\s*(?:i hope (?:this|that) helps|hope (?:this|that) helps|let me know if you have any (?:other |more )?"
    r"questions|is there anything else i can help (?:you )?with)[.!?]*\s*$",
    re.IGNORECASE,
)
_RUN = re.compile(r"(\S)\1{14,}")
_LONG_WORD = re.compile(r"\b[^\s/\\=:]{60,}\b")
_URL = re.compile(r"https?://\S+|www\.\S+")


def repetition(text: str) -> float:
    """The larger of: the share of word 3-grams that repeat an earlier one (texts of ≥ 24 words), and
    the share of non-trivial lines (≥ 20 characters) that repeat an earlier line."""
    words = [w.lower() for w in _WORD.findall(text)]
    ngram_rep = 0.0
    if len(words) >= 8 * NGRAM:
        grams = list(zip(*(words[i:] for i in range(NGRAM))))
        ngram_rep = 1.0 - len(set(grams)) / len(grams)
    lines = [ln.strip().lower() for ln in text.splitlines() if len(ln.strip()) >= 20]
    line_rep = 0.0
    if len(lines) >= 3:
        counts = Counter(lines)
        line_rep = sum(c - 1 for c in counts.values()) / len(lines)
    return max(ngram_rep, line_rep)


_TYPOGRAPHIC = set("“”‘’–—…•·×÷°€£¥±≤≥≈→←½¼¾§¶©®™✓✔")
_MOJIBAKE = re.compile("Ã[\x80-\xbf]|â€|Â[\xa0-\xbf]")
_LATIN_WORD = re.compile(r"\b[a-zA-Z]{4,}\b")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_ASCII_SPACE = re.compile(r"[ \t\n\r\x0b\x0c\x1c-\x1f]")  # what str.isspace() calls space, in ASCII
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")  # ASCII that is neither space nor printable


def clean_share(text: str) -> tuple[float, str]:
    """(share of clean characters in the prose, what is wrong when it is low). Clean: letters, digits,
    ASCII punctuation and common typographic marks; control, private-use and stray symbol characters
    are not. Mojibake, replacement characters, long runs of one character, over-long "words" and
    vowel-less letter soup also count as garbage."""
    if "\ufffd" in text:
        return 0.0, "replacement characters (\\ufffd)"
    m = _MOJIBAKE.search(text)
    if m:
        return 0.1, f"mojibake {m.group(0)!r}"
    m = _RUN.search(text)
    if m:
        return 0.2, f"a run of one character: {m.group(0)[:20]}…"
    prose = _URL.sub(" ", strip_code(text))
    if _LONG_WORD.search(prose):
        return 0.3, "an over-long word"
    if prose.isascii():  # every printable ASCII character is clean: count only the control characters
        total = len(prose) - len(_ASCII_SPACE.findall(prose))
        clean = total - len(_ASCII_CONTROL.findall(prose))
    else:
        chars = [c for c in prose if not c.isspace()]
        total = len(chars)
        clean = sum(1 for c in chars if c.isalnum() or (c.isascii() and c.isprintable()) or c in _TYPOGRAPHIC)
    if total < 20:
        return 1.0, ""
    share = clean / total
    if share < MIN_CLEAN_SHARE:
        return share, f"only {share:.0%} of the characters are letters, digits or punctuation"
    words = _LATIN_WORD.findall(prose)
    if len(words) >= 8:
        soup = sum(1 for w in words if not _VOWEL.search(w)) / len(words)
        if soup > 0.3:
            return 1.0 - soup, f"{soup:.0%} of the words have no vowel"
    return share, ""


def placeholder(text: str) -> str | None:
    m = _PLACEHOLDER.search(text) or _PLACEHOLDER_CS.search(text) or _MUSTACHE.search(strip_code(text))
    return m.group(0) if m else None


def assess(text: str, *, response: bool) -> tuple[str | None, float, str]:
    """(reason or None, 0..1 score, detail) for one text."""
    ph = placeholder(text)
    if ph:
        return "placeholder", 0.0, f"placeholder {ph!r}"
    if response:
        m = _BOILER_ANY.search(text) or _BOILER_START.search(text)
        if m:
            return "boilerplate", 0.0, f"boilerplate {m.group(0).strip()!r}"
        if _BOILER_ONLY.match(text):
            return "boilerplate", 0.0, "the whole reply is a sign-off"
        if unclosed_fence(text):
            return "truncated", 0.2, "a code block is never closed"
        if text.rstrip().endswith(("...", "…")) and not text.rstrip().endswith(("....", "……")):
            return "truncated", 0.2, "the reply trails off with an ellipsis"
    rep = repetition(text)
    clean, why = clean_share(text)
    score = max(0.0, min(1.0 - rep, clean))
    if rep > MAX_REPEAT:
        return "repetitive", score, f"{rep:.0%} of the phrases or lines repeat"
    if why:
        return "garbage", score, why
    return None, score, ""


class CoherenceFilter(SimpleFilter):
    name = NAME

    def check(self, example: TrainingExample, ctx: FilterContext) -> FilterResult:
        rec = example.record
        good = good_response(rec)
        checks: list[tuple[str, str, bool]] = [("input", user_text(rec), False)]
        if good is not None:
            checks.append(("response", good, True))
        worst = 1.0
        for label, text, is_response in checks:
            reason, score, detail = assess(text, response=is_response)
            if reason:
                return fail(NAME, reason, score, f"{label}: {detail}")
            worst = min(worst, score)
        bad = bad_response(rec)
        if bad is not None:
            ph = placeholder(bad)
            if ph:
                return fail(NAME, "placeholder", 0.0, f"rejected/undesirable response: placeholder {ph!r}")
        return ok(NAME, round(worst, 4))
