"""The items of known quality a judge is validated on (see :mod:`core.evaluate.judge_validation`): good
items that say the right thing in other words, bad items that look right and are wrong, human labels first.

- **known good** items say the right thing in other words: ``paraphrase`` (same content, reworded) and
  ``restructured`` (same content, organised differently: a list for prose, the conclusion first), written
  by an LLM (the ``generator`` role, prompt ``judge_items``); for out-of-scope requests, a correct refusal
  in other words (``paraphrase``, prompt ``judge_items_refusal``); ``human_good``: an output a person rated
  good in an earlier evaluation (:mod:`core.evaluate.human_labels`).
- **known bad** items look right and are wrong: ``wrong_fact`` (reworded, with one wrong fact, number, step
  or conclusion; LLM), ``answered_out_of_scope`` (a helpful answer to a request that must be declined;
  LLM), ``wrong_order`` (the reference's steps with the first and last swapped, sequence words kept in place;
  only for references of >= 3 sentences or list items that say an order), ``wrong_refusal`` (a plausible
  refusal of an in-scope request, first choice for look-alikes), ``other_answer`` (another example's answer,
  a minority), ``truncated`` (a correct paraphrase cut off mid-sentence, a minority); ``human_bad``: an
  output a person rated bad.

Every item is checked: a good item must not be the reference verbatim or nearly so (normalised text equal,
or word-sequence similarity >= :data:`NEAR_VERBATIM`), must keep every number of the reference, must answer an
in-scope request (decline an out-of-scope one) and not be much shorter than the reference; a bad item must
differ from the reference and from every good one. Human labels come first (those whose example is still
in the eval set, the reference itself excluded); synthetic items fill up to ``judge_validation_size``.
Examples are taken stratified by kind and category (a seeded proportional interleave, the examples that
need the judge and the out-of-scope ones first), one good and one bad item from each before a second, so
the two classes are balanced within every stratum; the classes are then trimmed to the same size. All of it
is deterministic for a seed given the LLM's replies, and the gateway caches those, so a rerun is cheap.
With fewer than :data:`MIN_PER_CLASS` good or bad items (the LLM unavailable, too few usable drafts) the
judge is not validated at all: the report says why, the judge is not used, and the examples that need it
wait for a human rating.

Item kinds are in ``item_id``, ``"<example id>:<kind>:<n>"`` (:func:`item_kind`).
"""

from __future__ import annotations

import asyncio
import difflib
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Sequence

from pydantic import BaseModel, Field

from core import prompts
from core.evaluate.human_labels import HumanLabel
from core.generate.filters.text import normalize
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError
from core.models.knowledge import EvalExample
from core.refusal import DEFAULT_RULE, RefusalRule
ITEM_ROLE = "generator"
ITEM_TEMPLATE = "judge_items"
ITEM_REFUSAL_TEMPLATE = "judge_items_refusal"
ITEM_TEMPERATURE = 0.0  # reproducible drafts (and cached: a rerun sends the same requests)
STAGE = "evaluate"
PAIR_ITEMS = 20
MIN_PER_CLASS = 10  # fewer good (or bad) items than this and no judge is validated
NEAR_VERBATIM = 0.9  # word-sequence similarity at or above which a "good" item is a copy of the reference
MIN_LENGTH_RATIO = 0.4  # a good item of a reference of >= 12 words keeps at least this share of its length
MAX_WAVES = 3  # rounds of item-writing requests (more examples asked when drafts were unusable)
MAX_TEXT = 6000

GOOD_VARIANTS = ("paraphrase", "restructured", "human_good")
BAD_VARIANTS = ("wrong_fact", "wrong_order", "wrong_refusal", "other_answer", "truncated", "answered_out_of_scope",
                "human_bad")
# target shares of the synthetic bad items of in-scope examples (out-of-scope ones: answered_out_of_scope)
BAD_MIX = {"wrong_fact": 0.5, "wrong_refusal": 0.2, "wrong_order": 0.15, "other_answer": 0.1, "truncated": 0.05}
PAIR_PREFERENCE = ("wrong_fact", "human_bad", "wrong_order", "other_answer", "truncated", "wrong_refusal",
                   "answered_out_of_scope")

WRONG_REFUSALS = (
    ("I'm sorry, but I can't help with that request. It falls outside what I'm able to advise on; please "
     "contact a qualified professional who can look at your situation properly."),
    ("That's outside my scope, I'm afraid, so I'd rather not guess and risk giving you wrong information. You "
     "may want to ask a specialist or the relevant support team instead."),
    ("I'm not able to advise on this one: it needs someone who can look at the details properly. Please consult "
     "a qualified professional."),
    ("Thanks for asking, but I must decline to answer this. Questions like this are best handled by an expert, "
     "so please reach out to a licensed professional."),
)


# ---------------------------------------------------------------- schemas (structured output)


class WrongVersion(BaseModel):
    text: str = Field(description="the wrong answer, written as a good answer would be",
                      json_schema_extra={"minLength": 1})
    error: str = Field(description="what is wrong in it (one phrase)")


class AnswerItems(BaseModel):
    """Known-quality answers to an in-scope request (prompt judge_items)."""

    paraphrases: list[str] = Field(description="correct answers in other words",
                                   json_schema_extra={"items": {"type": "string", "minLength": 1}})
    restructured: list[str] = Field(description="correct answers organised differently",
                                    json_schema_extra={"items": {"type": "string", "minLength": 1}})
    wrong: list[WrongVersion] = Field(description="answers that look right and contain one real error")


class RefusalItems(BaseModel):
    """Known-quality responses to an out-of-scope request (prompt judge_items_refusal)."""

    refusals: list[str] = Field(description="correct refusals in other words",
                                json_schema_extra={"items": {"type": "string", "minLength": 1}})
    answers: list[str] = Field(description="wrong responses that answer the out-of-scope request",
                               json_schema_extra={"items": {"type": "string", "minLength": 1}})


# ---------------------------------------------------------------- items


@dataclass
class ValidationItem:
    item_id: str  # "<example id>:<variant>:<n>"
    example: EvalExample
    response: str
    expected: bool  # True: acceptable (known good)
    variant: str  # the item kind: paraphrase, restructured, human_good, wrong_fact, wrong_order, ...
    source: str = "synthetic"  # or where a human label came from ("spot-check <eval id>", ...)
    note: str = ""  # what is wrong (LLM-written bad items), a rater's note


@dataclass
class PairItem:
    item_id: str
    example: EvalExample
    good: str
    bad: str
    variant: str  # the bad item's kind


def item_kind(item_id: str) -> str:
    """The item kind recorded in a saved row's ``item_id`` ("" when the id has none)."""
    if item_id.startswith("pair:"):
        return "pair"
    parts = item_id.rsplit(":", 2)
    return parts[1] if len(parts) == 3 else ""


def is_out_of_scope(e: EvalExample) -> bool:
    return bool(e.should_refuse or e.kind == "out_of_scope")


# ---------------------------------------------------------------- text checks

_LIST_MARK = re.compile(r"^[ \t]*(?:[-*•+]|\d+[.)]|[a-zA-Z][.)])[ \t]+", re.M)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_SEQUENCE = re.compile(r"\b(first(?:ly)?|second(?:ly)?|third(?:ly)?|then|next|after(?:wards| that)?|before|"
                       r"finally|lastly|step|once)\b", re.I)
_LEAD = re.compile(r"^((?:first(?:ly)?|second(?:ly)?|third(?:ly)?|then|next|after that|afterwards|finally|"
                   r"lastly|now)\b,?\s+)", re.I)
_NUMBERED = re.compile(r"^([ \t]*(?:\d+[.)]|[-*•+])[ \t]+)(.*)$")


def _plain(text: str) -> str:
    """Normalised text without list markers (a list and the same prose compare equal)."""
    return normalize(_LIST_MARK.sub("", text or ""))


def similarity(a: str, b: str) -> float:
    """Word-sequence similarity (difflib ratio) of the normalised texts, list markers ignored."""
    aw, bw = _plain(a).split(), _plain(b).split()
    if not aw and not bw:
        return 1.0
    return difflib.SequenceMatcher(None, aw, bw, autojunk=False).ratio()


def near_verbatim(text: str, reference: str) -> bool:
    return _plain(text) == _plain(reference) or similarity(text, reference) >= NEAR_VERBATIM


def numbers(text: str) -> list[str]:
    """The numbers written in ``text`` (list markers not counted)."""
    return _NUMBER.findall(_LIST_MARK.sub("", text or ""))


def keeps_numbers(text: str, reference: str) -> bool:
    return not (Counter(numbers(reference)) - Counter(numbers(text)))


def check_good(e: EvalExample, text: str, rule: RefusalRule = DEFAULT_RULE) -> str | None:
    """Why ``text`` cannot be a known-good item of ``e`` (None: it can)."""
    if not (text or "").strip():
        return "empty"
    if near_verbatim(text, e.reference):
        return "a (near) verbatim copy of the reference"
    if is_out_of_scope(e):
        return None if rule.refuses_upfront(text) else "does not decline the out-of-scope request"
    if rule.refuses_upfront(text) and not rule.refuses_upfront(e.reference):
        return "declines the in-scope request"
    if not keeps_numbers(text, e.reference):
        return "drops or changes a number of the reference"
    ref_words = len(_plain(e.reference).split())
    if ref_words >= 12 and len(_plain(text).split()) < MIN_LENGTH_RATIO * ref_words:
        return "much shorter than the reference"
    return None


def check_bad(e: EvalExample, text: str, variant: str, goods: Iterable[str] = (),
              rule: RefusalRule = DEFAULT_RULE) -> str | None:
    """Why ``text`` cannot be a known-bad item of kind ``variant`` of ``e`` (None: it can)."""
    if not (text or "").strip():
        return "empty"
    plain = _plain(text)
    if plain == _plain(e.reference):
        return "the reference itself"
    if any(plain == _plain(g) for g in goods):
        return "the same as a correct version"
    refuses = rule.refuses_upfront(text)
    if variant == "wrong_refusal":
        return None if refuses else "not recognisable as a refusal"
    if refuses and (variant == "answered_out_of_scope" or not rule.refuses_upfront(e.reference)):
        return "declines (it was to answer, wrongly)"
    return None


# ---------------------------------------------------------------- deterministic bad items


def _swap_first_last(bodies: list[str], flags: list[bool]) -> list[str] | None:
    idx = [i for i, f in enumerate(flags) if f]
    if len(idx) < 2:
        return None
    i, j = idx[0], idx[-1]
    if normalize(bodies[i]) == normalize(bodies[j]):
        return None
    out = list(bodies)
    out[i], out[j] = bodies[j], bodies[i]
    return out


def _recase(body: str, lead: str) -> str:
    if not body:
        return body
    if lead:
        keep = body[:2] in ("I ", "I'") or (len(body) > 1 and body[1].isupper())
        return body if keep else body[0].lower() + body[1:]
    return body[0].upper() + body[1:]


def wrong_order(text: str) -> str | None:
    """The steps of ``text`` with the first and last swapped, every sequence word ("first", "then", list
    numbers) left where it was; None unless the text has >= 3 steps (sentences or list items) and says
    their order (>= 2 distinct sequence words, or a numbered list)."""
    t = (text or "").strip()
    cues = {m.group(1).lower() for m in _SEQUENCE.finditer(t)}
    lines = t.splitlines()
    listed = [(i, _NUMBERED.match(line)) for i, line in enumerate(lines)]
    listed = [(i, m) for i, m in listed if m]
    numbered = sum(bool(re.match(r"\s*\d", m.group(1))) for _, m in listed)
    if len(listed) >= 3 and (numbered >= 3 or len(cues) >= 2):
        bodies = [m.group(2) for _, m in listed]
        swapped = _swap_first_last(bodies, [True] * len(bodies))
        if swapped is None:
            return None
        out = list(lines)
        for (i, m), body in zip(listed, swapped):
            out[i] = m.group(1) + body
        return "\n".join(out)
    if "\n" in t or len(cues) < 2:
        return None
    sentences = _SENTENCE.split(t)
    if len(sentences) < 3:
        return None
    leads = [(_LEAD.match(s).group(1) if _LEAD.match(s) else "") for s in sentences]
    bodies = [s[len(lead):] for s, lead in zip(sentences, leads)]
    flags = [bool(_SEQUENCE.search(s)) for s in sentences]
    swapped = _swap_first_last(bodies, flags)
    if swapped is None:
        return None
    return " ".join(lead + _recase(body, lead) for lead, body in zip(leads, swapped))


def truncate(text: str) -> str | None:
    """About the first half of the words, cut mid-sentence; None when the text is too short to cut."""
    words = (text or "").split()
    if len(words) < 12:
        return None
    return " ".join(words[: max(6, len(words) // 2)]).rstrip(".!?,;:")


def wrong_refusal(e: EvalExample, rng: random.Random, rule: RefusalRule = DEFAULT_RULE) -> str:
    """A plausible refusal of an in-scope request (the project's own refusal sentence among the choices)."""
    options = list(WRONG_REFUSALS)
    own = (rule.message or "").strip()
    if own and own != DEFAULT_RULE.message:
        options.append(f"{own} This is something a specialist should look at with you.")
    return options[rng.randrange(len(options))]


# ---------------------------------------------------------------- drafts (one LLM call per example)


@dataclass
class Drafts:
    """Checked candidate items of one example: (variant, text, note) in preference order."""

    good: list[tuple[str, str, str]] = field(default_factory=list)
    bad: list[tuple[str, str, str]] = field(default_factory=list)
    asked: bool = False  # an item-writing request was made
    failed: bool = False  # ... and it returned nothing usable
    rejected: Counter = field(default_factory=Counter)


def _clip(text: str) -> str:
    text = text or ""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f" […{len(text) - MAX_TEXT} more characters]"


def _steps(text: str) -> int:
    t = (text or "").strip()
    return max(len(_SENTENCE.split(t)), len([line for line in t.splitlines() if line.strip()]))


def item_messages(e: EvalExample, task: str = "", structure: str = "") -> tuple[list[dict[str, str]], type[BaseModel]]:
    """The item-writing prompt of one example and the schema it expects."""
    values = {"task": task or "(not given)", "input": _clip(e.input), "reference": _clip(e.reference)}
    if is_out_of_scope(e):
        return prompts.render(ITEM_REFUSAL_TEMPLATE, n_refusals=2, n_answers=2, **values), RefusalItems
    restructure = not structure and _steps(e.reference) >= 2
    note = f"\nRequired structure of the assistant's answers (every correct version keeps it): {structure}\n" \
        if structure else ""
    return prompts.render(ITEM_TEMPLATE, n_paraphrases=1 if restructure else 2, n_restructured=int(restructure),
                          n_wrong=2, structure_note=note, **values), AnswerItems


async def draft_example(gateway: Any, role: str, e: EvalExample, *, task: str = "", structure: str = "",
                        rule: RefusalRule = DEFAULT_RULE, flip: bool = False) -> Drafts:
    """Ask the LLM for known-good and known-bad versions of ``e``'s answer and keep those that pass the
    checks. ``flip``: list the restructured version before the paraphrase (mixes the first-round kinds)."""
    messages, schema = item_messages(e, task, structure)
    d = Drafts(asked=True)
    try:
        reply = await gateway.structured(role, messages, schema, stage=STAGE, temperature=ITEM_TEMPERATURE)
    except (BudgetExceeded, CircuitOpen):
        raise
    except LLMError:
        d.failed = True
        return d
    if isinstance(reply, RefusalItems):
        goods = [("paraphrase", t) for t in reply.refusals]
        bads = [("answered_out_of_scope", t, "") for t in reply.answers]
    else:
        paras = [("paraphrase", t) for t in reply.paraphrases]
        restr = [("restructured", t) for t in reply.restructured]
        goods = [x for pair in zip(*((restr, paras) if flip else (paras, restr))) for x in pair]
        longer = paras if len(paras) > len(restr) else restr
        goods += longer[min(len(paras), len(restr)):]
        bads = [("wrong_fact", w.text, w.error) for w in reply.wrong if (w.error or "").strip()]
        unexplained = sum(not (w.error or "").strip() for w in reply.wrong)
        if unexplained:
            d.rejected["bad: a wrong version without a stated error"] += unexplained
    seen: set[str] = set()
    for variant, text in goods:
        text = (text or "").strip()
        why = check_good(e, text, rule) or ("a duplicate" if _plain(text) in seen else None)
        if why:
            d.rejected[f"good: {why}"] += 1
            continue
        seen.add(_plain(text))
        d.good.append((variant, text, ""))
    good_texts = [t for _, t, _ in d.good]
    for variant, text, note in bads:
        text = (text or "").strip()
        why = check_bad(e, text, variant, good_texts, rule) or ("a duplicate" if _plain(text) in seen else None)
        if why:
            d.rejected[f"bad: {why}"] += 1
            continue
        seen.add(_plain(text))
        d.bad.append((variant, text, note.strip()))
    d.failed = not d.good and not d.bad
    return d


def deterministic_bads(e: EvalExample, drafts: Drafts | None, others: Sequence[EvalExample],
                       other_drafts: dict[str, Drafts], seed: int, rule: RefusalRule = DEFAULT_RULE
                       ) -> list[tuple[str, str, str]]:
    """The bad items of ``e`` that need no LLM (in-scope examples only), checked."""
    if is_out_of_scope(e):
        return []
    rng = random.Random(f"{seed}\x00{e.id}")
    goods = [t for _, t, _ in drafts.good] if drafts else []
    out: list[tuple[str, str, str]] = []
    order = wrong_order(e.reference)
    if order:
        out.append(("wrong_order", order, "the steps in the wrong order"))
    out.append(("wrong_refusal", wrong_refusal(e, rng, rule), "declines an in-scope request"))
    pool = sorted((o for o in others if o.id != e.id and not is_out_of_scope(o)
                   and _plain(o.reference) != _plain(e.reference)), key=lambda o: o.id)
    different = [o for o in pool if o.category != e.category] or pool
    if different:
        o = different[rng.randrange(len(different))]
        od = other_drafts.get(o.id)
        text = next((t for v, t, _ in (od.good if od else []) if v == "paraphrase"), o.reference.strip())
        out.append(("other_answer", text, f"the answer to another request ({o.id})"))
    if goods:
        cut = truncate(goods[0])
        if cut:
            out.append(("truncated", cut, "cut off mid-sentence"))
    return [(v, t, n) for v, t, n in out if check_bad(e, t, v, goods, rule) is None]


# ---------------------------------------------------------------- sampling


def _proportional(groups: dict[str, list[Any]], rng: random.Random) -> list[Any]:
    """The groups merged so that every prefix holds each group in proportion to its size."""
    names = sorted(groups)
    rng.shuffle(names)
    total = sum(len(g) for g in groups.values())
    taken = dict.fromkeys(names, 0)
    out = []
    for t in range(total):
        left = [n for n in names if taken[n] < len(groups[n])]
        best = max(left, key=lambda n: len(groups[n]) * (t + 1) / total - taken[n])
        out.append(groups[best][taken[best]])
        taken[best] += 1
    return out


def _interleave(pool: Sequence[EvalExample], rng: random.Random) -> list[EvalExample]:
    by_kind: dict[str, dict[str, list[EvalExample]]] = defaultdict(lambda: defaultdict(list))
    for e in sorted(pool, key=lambda x: x.id):
        by_kind[e.kind][e.category].append(e)
    kinds = {}
    for kind in sorted(by_kind):
        cells = by_kind[kind]
        for cat in sorted(cells):
            rng.shuffle(cells[cat])
        kinds[kind] = _proportional(dict(cells), rng)
    return _proportional(kinds, rng)


def stratified_order(examples: Sequence[EvalExample], seed: int = 0,
                     prefer: Collection[str] | None = None) -> list[EvalExample]:
    """Every example once, stratified by kind, then category (each prefix in proportion), seeded; the
    examples in ``prefer`` (those the judge will grade) and the out-of-scope ones first."""
    rng = random.Random(seed)
    first = [e for e in examples if prefer is None or e.id in prefer or is_out_of_scope(e)]
    ids = {e.id for e in first}
    return _interleave(first, rng) + _interleave([e for e in examples if e.id not in ids], rng)


def _round_robin(per_example: Sequence[tuple[EvalExample, list[Any]]]) -> list[tuple[EvalExample, Any]]:
    """First entry of every example, then every second one, ..."""
    out = []
    depth = max((len(v) for _, v in per_example), default=0)
    for r in range(depth):
        out.extend((e, v[r]) for e, v in per_example if r < len(v))
    return out


def _pick_bads(order: Sequence[EvalExample], cands: dict[str, list[tuple[str, str, str]]], n: int
               ) -> list[tuple[EvalExample, tuple[str, str, str]]]:
    """Up to ``n`` bad items, one per example per round, their kinds kept near :data:`BAD_MIX`."""
    left = {e.id: list(cands.get(e.id, [])) for e in order}
    taken: Counter = Counter()
    out: list[tuple[EvalExample, tuple[str, str, str]]] = []
    for r in range(max((len(v) for v in left.values()), default=0)):
        for e in order:
            if len(out) >= n:
                return out
            avail = left[e.id]
            if not avail:
                continue
            kinds = [v for v, _, _ in avail]
            if r == 0 and e.kind == "lookalike" and "wrong_refusal" in kinds:
                choice = "wrong_refusal"
            else:
                mixed = [k for k in kinds if k in BAD_MIX]
                total = sum(taken[k] for k in BAD_MIX) + 1
                choice = max(mixed, key=lambda k: BAD_MIX[k] * total - taken[k]) if mixed else kinds[0]
            idx = kinds.index(choice)
            out.append((e, avail.pop(idx)))
            taken[choice] += 1
    return out


def _human_items(labels: Sequence[HumanLabel], order: Sequence[EvalExample], n_good: int, n_bad: int
                 ) -> tuple[list[tuple[EvalExample, HumanLabel]], list[tuple[EvalExample, HumanLabel]], Counter]:
    pos = {e.id: i for i, e in enumerate(order)}
    by_id = {e.id: e for e in order}
    skipped: Counter = Counter()
    per: dict[bool, dict[str, list[HumanLabel]]] = {True: defaultdict(list), False: defaultdict(list)}
    for lab in labels:
        e = by_id.get(lab.example_id)
        if e is None:
            skipped["example no longer in the eval set"] += 1
            continue
        if lab.good and near_verbatim(lab.response, e.reference):
            skipped["the reference (near) verbatim"] += 1
            continue
        if not lab.good and _plain(lab.response) == _plain(e.reference):
            skipped["rated bad but the reference itself"] += 1
            continue
        per[lab.good][e.id].append(lab)
    picked = []
    for good, n in ((True, n_good), (False, n_bad)):
        ranked = sorted(per[good].items(), key=lambda kv: pos[kv[0]])
        flat = _round_robin([(by_id[i], labs) for i, labs in ranked])
        picked.append(flat[:n])
        if len(flat) > n:
            skipped["more than the set needs"] += len(flat) - n
    return picked[0], picked[1], skipped


@dataclass
class ItemSet:
    items: list[ValidationItem]
    wanted: int
    min_per_class: int
    role: str | None = None  # the role that wrote the synthetic items (None: no LLM)
    asked: int = 0  # item-writing requests
    failed: int = 0  # ... that returned nothing usable
    rejected: Counter = field(default_factory=Counter)
    human_offered: int = 0
    human_skipped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    built_good: int = 0  # before the classes were trimmed to the same size
    built_bad: int = 0

    @property
    def good(self) -> int:
        return sum(it.expected for it in self.items)

    @property
    def bad(self) -> int:
        return sum(not it.expected for it in self.items)

    @property
    def human(self) -> int:
        return sum(it.source != "synthetic" for it in self.items)

    @property
    def enough(self) -> bool:
        return self.good >= self.min_per_class and self.bad >= self.min_per_class

    def counts(self, key: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for it in self.items:
            name = it.variant if key == "variant" else it.example.kind if key == "kind" else it.example.category
            row = out.setdefault(name, {"good": 0, "bad": 0})
            row["good" if it.expected else "bad"] += 1
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        return {"n": len(self.items), "good": self.good, "bad": self.bad, "wanted": self.wanted,
                "built_good": self.built_good, "built_bad": self.built_bad,
                "human": self.human, "synthetic": len(self.items) - self.human, "written_by": self.role or "",
                "requests": self.asked, "requests_failed": self.failed,
                "rejected": dict(sorted(self.rejected.items())),
                "by_variant": {k: v["good"] + v["bad"] for k, v in self.counts("variant").items()},
                "by_kind": self.counts("kind"), "by_category": self.counts("category"), "notes": list(self.notes)}

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {v['good'] + v['bad']}" for k, v in self.counts("variant").items())
        return (f"{len(self.items)} items ({self.good} good, {self.bad} bad; {self.human} rated by a person"
                + (f"; {kinds}" if kinds else "") + ")")

    def shortfall(self) -> str:
        """Why there are too few items (for the report)."""
        n_good = math.ceil(self.wanted / 2)
        parts = [f"only {self.built_good} known-good and {self.built_bad} known-bad validation items could be built "
                 f"(at least {self.min_per_class} of each are needed; wanted {n_good} + {self.wanted - n_good})"]
        if self.role is None:
            parts.append("no LLM is configured to write them (generator role)")
        elif self.asked and self.failed == self.asked:
            parts.append(f"every item-writing request to the {self.role} role ({self.asked}) failed or returned "
                         f"nothing usable")
        elif self.failed:
            parts.append(f"{self.failed} of {self.asked} item-writing requests failed or returned nothing usable")
        if self.rejected:
            top = ", ".join(f"{n} {why}" for why, n in self.rejected.most_common(3))
            parts.append(f"drafts rejected: {top}")
        parts.append(f"{self.human} outputs rated by a person in earlier evaluations" if self.human_offered
                     else "no output was rated by a person in an earlier evaluation (spot-check, tunesmith rate)")
        return "; ".join(parts)


def _role_for_items(gateway: Any, role: str | None) -> str | None:
    if role is None:
        return None
    for r in (role, "judge"):
        if gateway.configured(r):
            return r
    return None


def min_per_class(size: int) -> int:
    """:data:`MIN_PER_CLASS`, or half the validation size when that is smaller."""
    return max(1, min(MIN_PER_CLASS, size // 2))


async def build_items(gateway: Any, examples: Sequence[EvalExample], size: int = 50, *, seed: int = 0,
                      human: Sequence[HumanLabel] = (), role: str | None = ITEM_ROLE, task: str = "",
                      structure: str = "", rule: RefusalRule | None = None,
                      prefer: Collection[str] | None = None) -> ItemSet:
    """The validation items (see the module docstring): human labels first, then synthetic items written by
    ``role`` (None: no LLM; only the deterministic kinds), balanced and stratified; deterministic for a seed
    given the LLM's replies."""
    rule = rule or DEFAULT_RULE
    n_good, n_bad = math.ceil(size / 2), size - math.ceil(size / 2)
    order = stratified_order(examples, seed, prefer)
    hum_good, hum_bad, skipped = _human_items(human, order, n_good, n_bad)
    used_role = _role_for_items(gateway, role) if gateway is not None else None
    out = ItemSet([], size, min_per_class(size), used_role, human_offered=len(human), human_skipped=skipped)
    if used_role is not None and used_role != role:
        out.notes.append(f"items written by the {used_role} role's model (no {role} role is configured)")
    drafts: dict[str, Drafts] = {}
    need_good = n_good - len(hum_good)
    # one request per example, as many examples as items of the class that needs more (then fewer, in up to
    # MAX_WAVES waves, when drafts came back unusable)
    need = max(need_good, n_bad - len(hum_bad))
    if used_role is not None and need > 0:
        pos = 0
        for _ in range(MAX_WAVES):
            covered = sum(not d.failed for d in drafts.values())
            if covered >= need or pos >= len(order):
                break
            start, batch = pos, order[pos: pos + need - covered]
            pos += len(batch)
            got = await asyncio.gather(*(draft_example(gateway, used_role, e, task=task, structure=structure,
                                                       rule=rule, flip=(start + k) % 2 == 1)
                                         for k, e in enumerate(batch)))
            drafts.update((e.id, d) for e, d in zip(batch, got))
            if all(d.failed for d in got):
                break  # the LLM is not answering usefully: stop asking
    out.asked = sum(d.asked for d in drafts.values())
    out.failed = sum(d.failed for d in drafts.values())
    for d in drafts.values():
        out.rejected.update(d.rejected)

    good_stream = _round_robin([(e, drafts[e.id].good) for e in order if e.id in drafts])
    bad_cands = {e.id: (drafts[e.id].bad if e.id in drafts else []) +
                 deterministic_bads(e, drafts.get(e.id), examples, drafts, seed, rule) for e in order}
    bad_stream = _pick_bads(order, bad_cands, n_bad - len(hum_bad))
    goods = [(e, ("human_good", lab.response, lab.note), lab.source) for e, lab in hum_good]
    goods += [(e, c, "synthetic") for e, c in good_stream[: need_good]]
    bads = [(e, ("human_bad", lab.response, lab.note), lab.source) for e, lab in hum_bad]
    bads += [(e, c, "synthetic") for e, c in bad_stream]
    k = min(len(goods), len(bads))
    out.built_good, out.built_bad = len(goods), len(bads)
    if len(goods) != len(bads):
        out.notes.append(f"{max(len(goods), len(bads)) - k} {'good' if len(goods) > k else 'bad'} items left out "
                         f"to keep the classes balanced")
    seen: Counter = Counter()
    items: list[ValidationItem] = []
    for (e, (variant, text, note), source), expected in [(g, True) for g in goods[:k]] + [(b, False) for b in bads[:k]]:
        seen[(e.id, variant)] += 1
        items.append(ValidationItem(f"{e.id}:{variant}:{seen[(e.id, variant)]}", e, text, expected, variant,
                                    source, note))
    random.Random(seed).shuffle(items)
    out.items = items
    return out


def build_pairs(items: Sequence[ValidationItem], size: int = PAIR_ITEMS) -> list[PairItem]:
    """(good item, bad item) of the same example for the position-swap check: in-scope examples first, the
    subtlest bad kind of each example."""
    goods: dict[str, ValidationItem] = {}
    bads: dict[str, list[ValidationItem]] = defaultdict(list)
    first: dict[str, int] = {}
    for i, it in enumerate(items):
        first.setdefault(it.example.id, i)
        if it.expected:
            goods.setdefault(it.example.id, it)
        else:
            bads[it.example.id].append(it)
    both = sorted((eid for eid in goods if bads.get(eid)),
                  key=lambda eid: (is_out_of_scope(goods[eid].example), first[eid]))
    pairs = []
    for eid in both[:size]:
        good = goods[eid]
        bad = min(bads[eid], key=lambda b: PAIR_PREFERENCE.index(b.variant) if b.variant in PAIR_PREFERENCE
                  else len(PAIR_PREFERENCE))
        pairs.append(PairItem(f"pair:{good.item_id}|{bad.item_id}", good.example, good.response, bad.response,
                              bad.variant))
    return pairs
