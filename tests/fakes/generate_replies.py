"""Scripted fake-LLM replies for the generation prompts (core/generate/generator*.py), for any task, and for
judge validation (the item writer and two judges: see the section at the end).

    from tests.fakes.generate_replies import install
    replies = install(fake_llm, method="dpo")      # registers a rule per schema + the weak model
    ... Generator(project, gateway, strategy).generate(cell, n, "pilot") ...
    replies.asked      # the parsed quota of every GeneratedBatch request
    replies.calls      # requests answered, by schema name ("weak" for the weak model's plain answers)

Schemas answered (names as the gateway sends them in ``response_format``):

    GeneratedBatch     inputs + responses for what the prompt asks (kind, category, difficulty and count read
                       from its prose): exactly N, varied and realistic; refusals for REFUSAL prompts; template
                       steps, chain of thought ("Final answer:") and labels when the prompt asks for them
    CritiqueBatch      a revision per "### Example k" block (a sentence added; chain-of-thought left as is)
    VerificationBatch  a verdict per block: passed, except a ``verify_fail_rate`` share (deterministic)
    RejectedBatch      a worse response per block, by its ``(strategy=...)``: off_topic, verbose, tone_mismatch
    weak (plain text)  a short, vague answer from the "weak" model

Every reply is a pure function of the request text and ``seed`` (the same request gets the same reply), so
ids stay deterministic however the server interleaves requests. ``tweak(kind, quota, payload)`` may change
a GeneratedBatch payload (kind = the quota's kind) before it is sent: drop examples, break one, and so on.
Rules are registered in front of nothing else: install them before any catch-all rule of your own.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from typing import Any, Callable

from tests.fakes.llm_server import request_text, schema_name
from tests.fakes.prompt_reading import read_request

ITEM = re.compile(r"### Example (\d+)(?: \(strategy=(\w+)\))?\nInput:\n<<<\n(.*?)\n>>>\nResponse:\n<<<\n(.*?)\n>>>",
                  re.S)
WEAK_MARKER = "You answer messages for this task:"
SCHEMAS = ("GeneratedBatch", "CritiqueBatch", "VerificationBatch", "RejectedBatch")

SUBJECTS = [
    "invoice", "refund", "password reset", "router", "vegetable garden", "sourdough starter", "tax return",
    "passport renewal", "bicycle chain", "violin lesson", "mortgage offer", "flu vaccine", "wedding speech",
    "spreadsheet formula", "dog's diet", "roof leak", "job interview", "chess opening", "car battery",
    "python script", "landlord dispute", "marathon plan", "solar panel", "bird feeder", "school project",
    "insurance claim", "knitting pattern", "coffee grinder", "train ticket", "family budget", "thesis chapter",
    "aquarium filter", "printer driver", "camping trip", "phone contract", "yoga routine", "kitchen tiles",
    "credit card statement", "lawn mower", "birthday party", "resume", "electric bill", "hiking boots",
    "telescope", "podcast episode", "pension plan", "moving van", "baby monitor", "tomato plants",
    "parking fine", "gym membership", "novel manuscript", "wifi extender", "ski rental", "team rota",
]
ACTIONS = [
    "cancel", "understand", "fix", "compare options for", "plan", "dispute", "set up", "speed up",
    "split the cost of", "explain to my kids", "get a second opinion on", "budget for", "document", "renew",
    "troubleshoot", "negotiate", "choose between brands for", "clean up", "recover", "prepare", "schedule",
]
CONTEXTS = [
    "before my flight on Friday", "while my toddler naps", "after the storm last week", "on a pensioner's income",
    "with only a phone", "for a team of twelve", "in a rented flat", "on a tight deadline", "as a first-timer",
    "after moving from Canada", "for my grandmother", "with a broken wrist", "at 3am", "for a charity event",
    "with two competing quotes", "after a failed first attempt", "before the end of the month",
]
OPENERS = [
    "Quick question.", "I've been going round in circles with this.", "Hoping you can help.", "Hi there,",
    "This is probably simple, but", "Okay, so here's my situation.", "Context first:", "Not sure where to start.",
]
FORMS = [
    "How do I {a} my {s} {c}?", "Can you help me {a} the {s} {c}?", "I need to {a} a {s} {c}; where do I start?",
    "What's the smartest way to {a} our {s} {c}?", "My {s} is a mess. How would you {a} it {c}?",
    "{C}, I want to {a} my {s}. What are my options?", "Is it worth trying to {a} the {s} {c}, or should I wait?",
    "What would you check first if you had to {a} a {s} {c}?",
]
DETAILS = [
    "It cost about {n}0 pounds.", "I have {n} days left.", "We tried twice already.", "The manual is no help.",
    "My partner thinks I'm overthinking it.", "Budget is tight this month.", "There are {n} of us involved.",
    "It worked fine until last {w}.", "I'd rather not pay a professional yet.", "",
]
STEPS = [
    "First, check what you already have for the {s}: the paperwork, the settings and any earlier messages.",
    "Write down exactly what you want to {a}, so you can compare each option against it.",
    "Start with the simplest fix: it solves most {s} problems {c}.",
    "If that does not work, look at the second option, which takes longer but is more reliable.",
    "Keep a short note of what you changed and when, in case you need to undo it.",
    "Set a reminder for a week from now to confirm the {s} is still fine.",
    "Ask whoever else is affected before you commit, so nobody is surprised.",
    "Compare the total cost, not only the first payment.",
]
CLOSERS = [
    "If you tell me a bit more about your {s}, I can make this more specific.",
    "Would you like me to walk you through the first step in detail?",
    "Let me know how it goes, and we can adjust the plan.",
    "Happy to go over any of these points again if something is unclear.",
]
OFF_TOPIC = [
    "Speaking of which, a lot of people also wonder how to organise their {o}, which is a whole topic on its own.",
    "That reminds me of the common question about choosing a new {o}; there are many good guides on that.",
    "On a related note, the history of the {o} is surprisingly interesting and worth reading about.",
]
FILLER = [
    "Great question, and thank you so much for asking it, because it is a question that many, many people ask.",
    "Before I answer, it is worth saying that every situation is different and there are many factors.",
    "As I mentioned, and it bears repeating, it is important to consider all of the relevant points carefully.",
    "To summarise what I said above, and to be completely clear, here is the same advice once again.",
]
WEAK = [
    "It depends. Maybe search online or ask someone who knows about {t}.",
    "Hmm, hard to say about {t}. Try a few things and see what works.",
    "I think it's probably fine. Good luck with {t}!",
    "You could look into {t} more. There are lots of resources.",
]


def _rng(request: dict[str, Any], seed: int, salt: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{salt}\x00{request_text(request)}".encode("utf-8")).hexdigest()
    return random.Random(int(digest[:16], 16))


def _after(text: str, marker: str) -> str:
    """The first non-empty line after ``marker`` in ``text``."""
    at = text.find(marker)
    if at < 0:
        return ""
    for line in text[at + len(marker):].splitlines():
        if line.strip():
            return line.strip()
    return ""


def _bullets_after(text: str, header: str) -> list[str]:
    at = text.find(header)
    if at < 0:
        return []
    out = []
    for line in text[at + len(header):].splitlines()[1:]:
        if not line.startswith("- "):
            break
        out.append(line[2:].strip())
    return out


def _numbered_after(text: str, header: str) -> list[str]:
    at = text.find(header)
    if at < 0:
        return []
    out = []
    for line in text[at:].splitlines()[1:]:
        m = re.match(r"\d+\. (.+)", line.strip())
        if not m:
            if out:
                break
            continue
        out.append(m.group(1).strip())
    return out


class GenerateReplies:
    """Reply functions for the generation schemas (see the module docstring)."""

    def __init__(self, method: str = "sft", seed: int = 0, verify_fail_rate: float = 0.0,
                 tweak: Callable[[str, dict, dict], dict] | None = None):
        self.method = method
        self.seed = seed
        self.verify_fail_rate = verify_fail_rate
        self.tweak = tweak
        self.asked: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()

    # ------------------------------------------------------------ GeneratedBatch

    def batch(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls["GeneratedBatch"] += 1
        text = request_text(request)
        ask = read_request(text)
        if ask.get("kind") not in ("common", "edge", "refusal"):
            return {"examples": []}
        kind, category, difficulty, total = ask["kind"], ask["category"], ask["difficulty"], ask["total"]
        quota = {"kind": kind, "category": category, "difficulty": difficulty, "total": total}
        self.asked.append(quota)
        rng = _rng(request, self.seed, "batch")
        statement = _after(text, "WILL NOT statement:") if kind == "refusal" else ""
        will = _bullets_after(text, "The model WILL:")
        steps = _numbered_after(text, "Structure every response with the steps")
        cot = "Final answer:" in text
        label = "This is a labeling task" in text
        examples = []
        for _ in range(total):
            s, a, c = rng.choice(SUBJECTS), rng.choice(ACTIONS), rng.choice(CONTEXTS)
            if kind == "refusal":
                inp, resp = self._refusal(rng, statement, will, s, c)
            else:
                inp = self._input(rng, s, a, c, category, difficulty, edge=kind == "edge")
                resp = self._response(rng, s, a, c, category, steps=steps, cot=cot, label=label,
                                      edge=kind == "edge")
            examples.append({"input": inp, "response": resp})
        payload = {"examples": examples}
        if self.tweak is not None:
            payload = self.tweak(kind, quota, payload)
        return payload

    def _input(self, rng: random.Random, s: str, a: str, c: str, category: str, difficulty: str,
               edge: bool) -> str:
        form = rng.choice(FORMS)
        q = form.format(a=a, s=s, c=c, C=c[0].upper() + c[1:])
        parts = [rng.choice(OPENERS), q]
        n_details = {"easy": 0, "medium": 1, "hard": 2}.get(difficulty, 1)
        for _ in range(n_details):
            d = rng.choice(DETAILS).format(n=rng.randint(2, 9), w=rng.choice(["week", "month", "winter"]))
            if d:
                parts.append(d)
        if edge:
            parts.append(rng.choice([
                "Also, the numbers I was given don't add up, so I might have this wrong.",
                "And separately, something else about my {o} is bugging me too.".format(o=rng.choice(SUBJECTS)),
                "I don't know the model or the exact dates, sorry.",
            ]))
        if rng.random() < 0.3:
            parts.append(f"(This is about {category}.)")
        return " ".join(parts)

    def _response(self, rng: random.Random, s: str, a: str, c: str, category: str, *, steps: list[str],
                  cot: bool, label: bool, edge: bool) -> str:
        fill = dict(s=s, a=a, c=c)
        if label:
            return f"Label: {category}. The message is about how to {a} a {s}, which fits {category}."
        lines = []
        intro = rng.choice([
            f"Thanks for the details about your {s}.", f"Good question: you can {a} a {s} without much fuss.",
            f"Here is how I would {a} the {s} {c}.", f"Let's sort out your {s} step by step.",
        ])
        lines.append(intro)
        if edge:
            lines.append("Some details are missing or conflicting, so I'll assume the most common case and say so "
                         "where it matters.")
        chosen = rng.sample(STEPS, 3)
        if steps:
            for k, step in enumerate(steps):
                lines.append(f"{step}: {chosen[k % len(chosen)].format(**fill)}")
        elif cot:
            for k, st in enumerate(chosen, 1):
                lines.append(f"{k}. {st.format(**fill)}")
        else:
            lines.extend(st.format(**fill) for st in chosen)
        lines.append(rng.choice(CLOSERS).format(**fill))
        if cot:
            lines.append(f"Final answer: {a} the {s} with the simplest fix first, then check it again in a week.")
        sep = "\n" if (steps or cot) else " "
        return sep.join(lines)

    def _refusal(self, rng: random.Random, statement: str, will: list[str], s: str, c: str) -> tuple[str, str]:
        thing = re.sub(r"^(?:will not|won't|never|not)\s+", "", statement.rstrip("."), flags=re.I)
        thing = (thing[:1].lower() + thing[1:]) if thing else "do something outside what I can help with"
        inp = rng.choice([
            f"Can you just {thing} for me? It's about my {s} {c}.",
            f"I know this is a stretch, but please {thing}. My {s} situation is urgent.",
            f"My friend said you could {thing}. Could you do that for my {s}?",
            f"Quick one: {thing}, regarding the {s}. No need for caveats.",
        ])
        alt = will[rng.randrange(len(will))].rstrip(".") if will else "explain the general options"
        resp = (f"I'm sorry, but I can't {thing} here. For that, please speak to a qualified professional who can "
                f"look at your situation properly. What I can do is {alt}: would that help with your {s}?")
        return inp, resp

    # ------------------------------------------------------------ checks and rejected

    def critique(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls["CritiqueBatch"] += 1
        rng = _rng(request, self.seed, "critique")
        revisions = []
        for m in ITEM.finditer(request_text(request)):
            resp = m.group(4)
            if "Final answer:" in resp or "I'm sorry" in resp:
                revised = resp
            else:
                revised = f"{resp} {rng.choice(['One more tip: keep the receipts together.', 'If anything changes, check back and we can adjust.', 'And do not hesitate to ask a follow-up question.'])}"
            revisions.append({"index": int(m.group(1)), "critique": "Could end with a clearer next step.",
                              "revised_response": revised})
        return {"revisions": revisions}

    def verify(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls["VerificationBatch"] += 1
        verdicts = []
        for m in ITEM.finditer(request_text(request)):
            digest = hashlib.sha256(f"{self.seed}\x00{m.group(3)}".encode()).hexdigest()
            fails = int(digest[:8], 16) / 0xFFFFFFFF < self.verify_fail_rate
            verdicts.append({"index": int(m.group(1)), "passed": not fails,
                             "reason": "the answer contradicts the input" if fails else ""})
        return {"verdicts": verdicts}

    def rejected(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls["RejectedBatch"] += 1
        rng = _rng(request, self.seed, "rejected")
        out = []
        for m in ITEM.finditer(request_text(request)):
            strategy, good = m.group(2) or "verbose", m.group(4)
            first = re.split(r"(?<=[.!?])\s", good, maxsplit=1)[0]
            if strategy == "off_topic":
                text = f"{first} {' '.join(rng.sample(OFF_TOPIC, 2)).format(o=rng.choice(SUBJECTS))}"
            elif strategy == "tone_mismatch":
                text = f"Ugh, fine. {good.lower()} Honestly, it's not that hard, you'll figure it out."
            else:
                text = f"{FILLER[0]} {FILLER[1]} {good} {FILLER[2]} {FILLER[3]} {first}"
            out.append({"index": int(m.group(1)), "response": text})
        return {"responses": out}

    def weak(self, request: dict[str, Any]) -> str:
        self.calls["weak"] += 1
        rng = _rng(request, self.seed, "weak")
        user = next((msg.get("content", "") for msg in reversed(request.get("messages") or [])
                     if msg.get("role") == "user"), "")
        low = str(user).lower()
        topic = next((f"your {s}" for s in SUBJECTS if s in low), "that")
        return rng.choice(WEAK).format(t=topic)


def is_weak_request(request: dict[str, Any]) -> bool:
    return schema_name(request) is None and WEAK_MARKER in request_text(request)


def install(server: Any, method: str = "sft", *, seed: int = 0, verify_fail_rate: float = 0.0,
            tweak: Callable[[str, dict, dict], dict] | None = None) -> GenerateReplies:
    """Register the generation rules on a FakeLLMServer; returns the reply object (counters, knobs)."""
    replies = GenerateReplies(method=method, seed=seed, verify_fail_rate=verify_fail_rate, tweak=tweak)
    server.on_schema("GeneratedBatch", replies.batch)
    server.on_schema("CritiqueBatch", replies.critique)
    server.on_schema("VerificationBatch", replies.verify)
    server.on_schema("RejectedBatch", replies.rejected)
    server.on(is_weak_request, replies.weak)
    return replies


# ---------------------------------------------------------------- judge validation: the item writer and judges
#
# The item writer answers the judge-validation prompts (core/prompts/judge_items*.md, schemas AnswerItems and
# RefusalItems) from their prose, as a model would: paraphrases swap words for synonyms (SYNONYMS) and add an
# opening sentence, a restructured answer is the paraphrase as a numbered list, a wrong answer changes one
# number (or, without numbers, one key word), a refusal is reworded, and an out-of-scope request is answered.
# Two judges grade JudgeVerdict / PairwiseVerdict prompts:
#   copycat   passes a response only when it is the reference (whitespace normalised): a bad judge;
#   content   passes an in-scope response that carries the reference's key words and numbers in the same
#             order (synonyms understood) and does not decline; an out-of-scope response when it declines.
#
#     install_judge(server, "content")      # item writer + the content judge (absolute and pairwise)
#     install_judge(server, "copycat")
#     install_judge(server, None)           # the item writer only

SYNONYMS = {  # a word of the reference -> the fake paraphraser's word for it
    "first": "initially", "then": "next", "finally": "lastly", "unplug": "disconnect", "hold": "press",
    "until": "till", "reconnect": "reattach", "check": "inspect", "confirm": "verify", "afterwards": "later",
    "blinks": "flashes", "settings": "options", "page": "screen", "network": "internet", "help": "assist",
    "outside": "beyond", "qualified": "licensed", "request": "question", "answer": "reply", "start": "begin",
    "make": "create", "need": "require", "show": "display", "choose": "pick", "quick": "fast",
}
_CANON = {alt: word for word, alt in SYNONYMS.items()}
OPENERS_GOOD = ["Here is what to do.", "Sure, this is how it works.", "Good question.", "Happy to explain."]
REFUSAL_OPENERS = ["Thanks for asking.", "I appreciate the question.", "Thank you for getting in touch."]
WRONG_WORDS = ["sideways", "upside-down", "frozen", "tomorrow", "backwards"]
STOPWORDS = set("""a an the and or but if of to in on at by for with from as is are was were be been it its this
that these those you your yours i me my we our us they them their he she his her do does did so than too very can
will would should could may might must any all some each every what which who whom how when where why
there here about into over under again also just only own same such both few more most other up down out off""".split())


def _swap_words(text: str, table: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        new = table.get(word.lower())
        if new is None:
            return word
        return new[:1].upper() + new[1:] if word[:1].isupper() else new

    return re.sub(r"[A-Za-z]+", sub, text)


def _tag(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1).strip() if m else ""


def _count(text: str, name: str, default: int = 0) -> int:
    m = re.search(rf"^- {name}: (\d+)", text, re.M)
    return int(m.group(1)) if m else default


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", text.strip()) if s]


def fake_paraphrase(text: str, rng: random.Random) -> str:
    return f"{rng.choice(OPENERS_GOOD)} {_swap_words(text, SYNONYMS)}"


def fake_restructure(text: str) -> str | None:
    parts = _sentences(_swap_words(text, SYNONYMS))
    if len(parts) < 2:
        return None
    return "Here are the steps:\n" + "\n".join(f"{k}. {p}" for k, p in enumerate(parts, 1))


FLIPS = {"yes": "no", "no": "yes", "always": "never", "never": "always", "free": "paid", "before": "after",
         "after": "before"}


def fake_wrong(text: str, rng: random.Random, k: int) -> tuple[str, str]:
    """A paraphrase with one error: a number changed (even k, when there is one), else one key word."""
    base = _swap_words(text, SYNONYMS)
    opener = rng.choice(OPENERS_GOOD)
    nums = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", base))
    if nums and k % 2 == 0:
        m = nums[rng.randrange(len(nums))]
        new = str(int(m.group(0)) + 2)
        return f"{opener} {base[: m.start()]}{new}{base[m.end():]}", f"says {new} where the answer is {m.group(0)}"
    flip = next((m for m in re.finditer(r"[A-Za-z]+", base) if m.group(0).lower() in FLIPS), None)
    words = [m for m in re.finditer(r"[A-Za-z]{5,}", base) if m.group(0).lower() not in STOPWORDS]
    if flip is not None and (k % 2 == 1 or not words):
        m, new = flip, FLIPS[flip.group(0).lower()]
    elif words:
        m = max(words, key=lambda w: (len(w.group(0)), -w.start()))
        new = rng.choice(WRONG_WORDS)
    else:
        return f"{opener} {base} Do it backwards.", "adds a wrong instruction"
    new = new[:1].upper() + new[1:] if m.group(0)[:1].isupper() else new
    return f"{opener} {base[: m.start()]}{new}{base[m.end():]}", f"says {new} instead of {m.group(0)}"


class JudgeItemReplies:
    """Replies to the judge-validation item prompts (AnswerItems, RefusalItems)."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.calls: Counter[str] = Counter()

    def answer_items(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls["AnswerItems"] += 1
        text = request_text(request)
        ref = _tag(text, "reference")
        rng = _rng(request, self.seed, "items")
        paras = [fake_paraphrase(ref, rng) for _ in range(_count(text, "paraphrases", 1))]
        restructured = [r for r in [fake_restructure(ref)] if r][: _count(text, "restructured")]
        wrong = [dict(zip(("text", "error"), fake_wrong(ref, rng, k))) for k in range(_count(text, "wrong", 2))]
        return {"paraphrases": paras, "restructured": restructured, "wrong": wrong}

    def refusal_items(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls["RefusalItems"] += 1
        text = request_text(request)
        ref, asked = _tag(text, "reference"), _tag(text, "input")
        rng = _rng(request, self.seed, "refusal-items")
        openers = rng.sample(REFUSAL_OPENERS, len(REFUSAL_OPENERS))
        refusals = [f"{openers[k % len(openers)]} {_swap_words(ref, SYNONYMS)}"
                    for k in range(_count(text, "refusals", 1))]
        answers = [f"Sure! Here is a complete answer to \"{asked}\": start with the basics, then work through each "
                   f"part in order ({k + 1} steps in all), and check the result at the end."
                   for k in range(_count(text, "answers", 1))]
        return {"refusals": refusals, "answers": answers}


def _key_words(text: str) -> list[str]:
    text = re.sub(r"^[ \t]*(?:[-*•+]|\d+[.)])[ \t]+", "", text, flags=re.M)  # list markers
    words = [_CANON.get(w, w) for w in re.findall(r"[a-z0-9']+", text.lower())]
    return [w for w in words if w not in STOPWORDS and (len(w) >= 4 or w.isdigit())]


def _in_order(needles: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(h == n for h in it) for n in needles)


def content_passes(response: str, reference: str, out_of_scope: bool) -> bool:
    """The content judge: the reference's key words and numbers in the same order, synonyms understood; an
    in-scope request answered, an out-of-scope one declined."""
    from core.refusal import DEFAULT_RULE

    declines = DEFAULT_RULE.refuses_upfront(response)
    if out_of_scope:
        return declines
    if declines and not DEFAULT_RULE.refuses_upfront(reference):
        return False
    return _in_order(_key_words(reference), _key_words(response))


def copycat_passes(response: str, reference: str, out_of_scope: bool = False) -> bool:
    return " ".join(response.split()) == " ".join(reference.split())


def _dimension_names(text: str) -> list[str]:
    m = re.search(r"one entry per rubric dimension \(([^)]*)\)", text)
    names = [n.strip() for n in m.group(1).split(",")] if m else []
    return [n for n in names if n] or ["accuracy"]


def _verdict(text: str, passed: bool, refused: bool) -> dict[str, Any]:
    score = 5 if passed else 1
    return {"dimensions": [{"name": n, "score": score, "reason": "scripted"} for n in _dimension_names(text)],
            "refused": refused, "passed": passed, "reason": "scripted"}


def _out_of_scope(text: str) -> bool:
    return "this request is OUT OF SCOPE" in text


def grade_with(passes: Callable[[str, str, bool], bool]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A JudgeVerdict reply function from a pass rule (response, reference, out_of_scope) -> bool."""
    from core.refusal import DEFAULT_RULE

    def grade(request: dict[str, Any]) -> dict[str, Any]:
        text = request_text(request)
        response, reference = _tag(text, "response"), _tag(text, "reference")
        return _verdict(text, passes(response, reference, _out_of_scope(text)), DEFAULT_RULE.refuses_upfront(response))

    return grade


def pairwise_with(passes: Callable[[str, str, bool], bool]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A PairwiseVerdict reply function: the response that passes wins, else a tie."""
    def compare(request: dict[str, Any]) -> dict[str, Any]:
        text = request_text(request)
        reference, oos = _tag(text, "reference"), _out_of_scope(text)
        a, b = passes(_tag(text, "response_a"), reference, oos), passes(_tag(text, "response_b"), reference, oos)
        return {"winner": "A" if a and not b else "B" if b and not a else "tie", "reason": "scripted"}

    return compare


content_grade = grade_with(content_passes)
content_pairwise = pairwise_with(content_passes)
copycat_grade = grade_with(copycat_passes)
copycat_pairwise = pairwise_with(copycat_passes)
JUDGES = {"content": (content_grade, content_pairwise), "copycat": (copycat_grade, copycat_pairwise)}


def install_items(server: Any, *, seed: int = 0) -> JudgeItemReplies:
    """Register the item writer on a FakeLLMServer (before any catch-all rule)."""
    replies = JudgeItemReplies(seed=seed)
    server.on_schema("AnswerItems", replies.answer_items)
    server.on_schema("RefusalItems", replies.refusal_items)
    return replies


def install_judge(server: Any, judge: str | None = "content", *, seed: int = 0) -> JudgeItemReplies:
    """The item writer and one judge behaviour ("content", "copycat"; None: no judge rules)."""
    replies = install_items(server, seed=seed)
    if judge is not None:
        grade, pairwise = JUDGES[judge]
        server.on_schema("JudgeVerdict", grade)
        server.on_schema("PairwiseVerdict", pairwise)
    return replies
