"""Read what a generation or eval-set prompt asks for from its prose, as a real model would.

The production prompts carry no machine-readable lines for the fakes; this reads the sentences every
prompt already has ("Write COMMON examples", "Input category: billing: ...", "Difficulty: easy: ...",
"Write exactly 5 examples, with these difficulties: 2 easy, 3 hard.") and returns them as a dict:

    ask = read_request(text)
    ask["kind"]        common | edge | refusal | lookalike | out_of_scope | critique | verify | rejected
    ask["category"]    the input category ("out_of_scope" for refusals), "" when the prompt names none
    ask["difficulty"]  the one difficulty of a training cell ("" for eval-set prompts)
    ask["easy"], ask["medium"], ask["hard"]   eval-set counts (0 when not stated)
    ask["total"]       how many examples are asked for

An empty dict means the prompt asks for none of these.
"""

from __future__ import annotations

import re
from typing import Any

KINDS = (
    (re.compile(r"^Write COMMON examples", re.M), "common"),
    (re.compile(r"^Write EDGE(?:-CASE examples| CASES)", re.M), "edge"),
    (re.compile(r"^Write REFUSAL examples", re.M), "refusal"),
    (re.compile(r"^Write IN-SCOPE LOOK-ALIKES", re.M), "lookalike"),
    (re.compile(r"^Write OUT-OF-SCOPE examples", re.M), "out_of_scope"),
    (re.compile(r"^Review these \d+ examples", re.M), "critique"),
    (re.compile(r"^Verify these \d+ examples", re.M), "verify"),
    (re.compile(r"^Write one worse response for each of these \d+ examples", re.M), "rejected"),
)
CATEGORY = re.compile(r"^Input category: (.*?): ", re.M)
DIFFICULTY = re.compile(r"^Difficulty: (easy|medium|hard)\b", re.M)
TOTAL = re.compile(r"^(?:Write exactly|Review these|Verify these|Write one worse response for each of these) "
                   r"(\d+) examples", re.M)
COUNTS = re.compile(r"with these difficulties: ([^.\n]*)")
COUNT = re.compile(r"(\d+) (easy|medium|hard)")
REFUSING = ("refusal", "out_of_scope")


def read_request(text: str) -> dict[str, Any]:
    kind = next((name for rx, name in KINDS if rx.search(text)), "")
    if not kind:
        return {}
    total = TOTAL.search(text)
    category = CATEGORY.search(text)
    difficulty = DIFFICULTY.search(text)
    counts = {"easy": 0, "medium": 0, "hard": 0}
    stated = COUNTS.search(text)
    if stated:
        for n, diff in COUNT.findall(stated.group(1)):
            counts[diff] = int(n)
    return {
        "kind": kind,
        "category": "out_of_scope" if kind in REFUSING else (category.group(1) if category else ""),
        "difficulty": difficulty.group(1) if difficulty else "",
        "total": int(total.group(1)) if total else 0,
        **counts,
    }
