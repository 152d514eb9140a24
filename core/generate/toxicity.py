"""An offline toxicity classifier: a small weighted lexicon, no model download.

The lexicon (``toxicity_lexicon.toml`` beside this module) groups terms and patterns into categories
(profanity, insult, slur, violence, self-harm instructions, sexual content involving minors), each with a
weight: the probability that one match makes the text toxic. Matching is case-insensitive on whole words
and phrases, after folding curly apostrophes and light obfuscation (``f*ck``, ``sh1t``, ``@ss``).
Insults are not counted after a negation or a reported thought ("that doesn't mean you're stupid").

Score (calibrated 0..1, a noisy-or): ``1 - prod(1 - weight)`` over every match, so a clean text scores
0.0, one profanity 0.30, two 0.51, one slur 0.95. With the spec's default ``toxicity_threshold`` of 0.01
any match rejects; raising the threshold to, say, 0.35 tolerates one mild profanity.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

LEXICON = Path(__file__).with_name("toxicity_lexicon.toml")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_OBFUSCATED = re.compile(r"\b\w*[a-z][\w@$!*]*[0134579@$!*][\w@$!*]*\b|\b[@$][a-z]\w*", re.IGNORECASE)
_NEGATION = re.compile(
    r"(?:\bnot|n't|\bnever|\bno one|\bnobody|\bdoesn't mean|\bdon't mean|\bfeel(?:s|ing)? like|\bthink(?:ing)?|"
    r"\bbelieve|\btell(?:ing)? yourself|\bthoughts? (?:like|that)|\bcall(?:ing)? yourself|\bsaying)[\s'\"]+(?:\w+\s+)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Category:
    name: str
    weight: float
    regex: re.Pattern[str]
    negatable: bool = False


@dataclass
class ToxicityResult:
    score: float
    matches: list[tuple[str, str]] = field(default_factory=list)  # (category, matched text)

    @property
    def categories(self) -> list[str]:
        return sorted({c for c, _ in self.matches})

    def describe(self, limit: int = 4) -> str:
        if not self.matches:
            return "no lexicon match"
        shown = ", ".join(f"{c}: {t!r}" for c, t in self.matches[:limit])
        more = f" and {len(self.matches) - limit} more" if len(self.matches) > limit else ""
        return f"{shown}{more}"


def _term_regex(term: str) -> str:
    words = [re.escape(w) for w in term.lower().split()]
    # one vowel per word may be masked with * (f*ck, sh*t)
    masked = [re.sub(r"[aeiou]", lambda m: f"[{m.group(0)}*]", w, count=0) for w in words]
    return r"\b" + r"\s+".join(masked) + r"\b"


@lru_cache(maxsize=4)
def load_lexicon(path: str | None = None) -> tuple[Category, ...]:
    data = tomllib.loads(Path(path or LEXICON).read_text(encoding="utf-8"))
    cats = []
    for name, spec in data.get("categories", {}).items():
        parts = [_term_regex(t) for t in spec.get("terms", [])] + list(spec.get("patterns", []))
        if not parts:
            continue
        regex = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)
        cats.append(Category(name, float(spec["weight"]), regex, bool(spec.get("negatable", False))))
    return tuple(cats)


def fold(text: str) -> str:
    """Lower case, curly apostrophes straightened, leetspeak folded inside words that mix letters and
    digits or symbols (``sh1t`` -> ``shit``), ``*`` kept (terms match one masked vowel)."""
    t = (text or "").replace("\u2019", "'").replace("\u2018", "'").lower()
    return _OBFUSCATED.sub(lambda m: m.group(0).translate(_LEET), t)


def classify(text: str, lexicon: tuple[Category, ...] | None = None) -> ToxicityResult:
    t = fold(text)
    matches: list[tuple[str, str]] = []
    keep = 1.0
    for cat in lexicon or load_lexicon():
        for m in cat.regex.finditer(t):
            if cat.negatable and _NEGATION.search(t[max(0, m.start() - 40):m.start()]):
                continue
            matches.append((cat.name, m.group(0)))
            keep *= 1.0 - cat.weight
    return ToxicityResult(score=round(1.0 - keep, 6), matches=matches)


def toxicity(text: str) -> float:
    """The calibrated 0..1 toxicity score of ``text`` (see the module docstring)."""
    return classify(text).score
