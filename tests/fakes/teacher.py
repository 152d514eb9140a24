"""A rule-based teacher: a fake model that answers every stage of one learnable task consistently.

The task routes an online bookshop's support tickets to ``billing``, ``delivery`` or ``account`` by the
words they contain, and declines anything that is not a bookshop ticket. The teacher answers the
interview (questions whose first suggestion is the expert's answer), drafts the knowledge artifacts,
writes the eval set and the training data from the quota line of each prompt, judges constraints by the
same refusal rule tunesmith uses, and paraphrases eval inputs. A tiny model trained on its data can learn
the task, so an end-to-end run shows the fine-tuned model beating its base for real.

    install(server)   # routes every structured request of a FakeLLMServer to the teacher
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

from tests.fakes.prompt_reading import read_request

TASK = ("Route customer support tickets for an online bookshop to billing, delivery or account, and decline "
        "requests that are not bookshop support tickets")
LABELS = ("billing", "delivery", "account")
REFUSAL = "I'm sorry, but I can't help with that: I only route bookshop support tickets."
CUES = {
    "billing": ["invoice", "refund", "charge", "payment", "receipt", "bill", "price"],
    "delivery": ["package", "delivery", "parcel", "courier", "shipping", "address", "tracking"],
    "account": ["password", "login", "email", "username", "profile", "account", "sign in"],
}
OFF_TOPIC = ["weather", "recipe", "football", "garden", "homework", "holiday", "horoscope", "car repair"]
OPENERS = ["Hi,", "Hello,", "Hey team,", "Good morning,", "Quick question:", "Urgent:", "Please help,", ""]
TICKET = [
    "I have a problem with the {cue} for my order {n}.",
    "something is wrong with my {cue}, order {n}.",
    "can you check the {cue} on order number {n}?",
    "my {cue} for order {n} does not look right.",
    "I need help with a {cue} issue, order {n}.",
    "what happened to the {cue}? It is about order {n}.",
]
OFF = [
    "what is the {cue} going to be like this weekend {n}?",
    "can you give me ideas about {cue} for next week {n}?",
    "tell me something about {cue}, item {n}.",
    "I want advice on my {cue} plans {n}.",
]


def _rng(request: dict[str, Any], salt: str = "") -> random.Random:
    text = "\n".join(str(m.get("content", "")) for m in request.get("messages") or [])
    return random.Random(int(hashlib.sha256((text + salt).encode()).hexdigest()[:16], 16))


def text_of(request: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in request.get("messages") or [])


def ticket(label: str, rng: random.Random) -> str:
    opener = rng.choice(OPENERS)
    body = rng.choice(TICKET).format(cue=rng.choice(CUES[label]), n=rng.randint(1000, 99999))
    return f"{opener} {body}".strip()


def off_topic(rng: random.Random) -> str:
    return f"{rng.choice(OPENERS)} {rng.choice(OFF).format(cue=rng.choice(OFF_TOPIC), n=rng.randint(10, 9999))}".strip()


def _label_of(category: str) -> str:
    low = category.lower()
    return next((lab for lab in LABELS if lab in low), LABELS[0])


# ---------------------------------------------------------------- the stages


def task_type(request: dict) -> dict:
    return {"task_type": "classification", "evidence": "to billing, delivery or account",
            "labels": list(LABELS), "reason": "every ticket gets exactly one of three labels"}


def personas(request: dict) -> dict:
    return {"personas": [
        {"role": "Support team lead at an online bookshop", "experience_years": 9,
         "why": "triages every incoming ticket and writes the routing rules", "domain_knowledge": 9,
         "conversational_efficiency": 9},
        {"role": "Billing specialist", "experience_years": 6, "why": "handles payment tickets daily",
         "domain_knowledge": 7, "conversational_efficiency": 7},
        {"role": "Delivery coordinator", "experience_years": 5, "why": "knows the courier problems",
         "domain_knowledge": 6, "conversational_efficiency": 7},
    ]}


QUESTIONS: dict[str, list[tuple[str, str]]] = {
    "boundary": [
        ("What is in scope for the router?", "Route each bookshop support ticket to billing, delivery or account."),
        ("What is explicitly out of scope?", "Anything that is not a bookshop support ticket: weather, recipes, "
                                             "homework, football or holiday questions."),
        ("Which hard constraints apply?", "Never answer the ticket itself and never ask for card numbers."),
        ("Who writes the tickets?", "Bookshop customers writing short messages about an order."),
    ],
    "competency": [
        ("What must the router always get right?", "Reply with exactly one label: billing, delivery or account."),
        ("What must it never do?", "Never answer the customer's question or add an explanation."),
        ("Which tickets need judgment?", "A ticket mentioning two topics goes to the one the customer asks about."),
        ("What are common routing mistakes?", "Sending refund questions to delivery because they mention an order."),
        ("What should it do with an off-topic request?", "Decline it with the fixed refusal sentence."),
    ],
    "variation": [
        ("What are the main kinds of ticket, and how often?", "billing, about 40 percent; delivery, 35%; "
                                                              "account, 25%"),
        ("What makes a ticket easy or hard?", "Easy names the problem directly; hard ones are vague or long."),
        ("Which edge cases worry you?", "Tickets with typos; tickets that mention two topics."),
        ("How do tickets vary?", "Short or long, polite or urgent, with or without an order number."),
        ("What formats arrive?", "Plain English text, one message per ticket."),
    ],
    "validation": [
        ("How do you know a routing is correct?", "The label matches the team that resolves the ticket."),
        ("Which measure matters most?", "Routing accuracy on real tickets."),
        ("What is the minimum acceptable accuracy?", "At least 80 percent of tickets routed right."),
    ],
}


def next_question(request: dict) -> dict:
    text = text_of(request)
    m = re.search(r"round (\d) of 4, (\w+)", text)
    rnd = m.group(2) if m else "boundary"
    asked = text.count(f"({rnd})")
    pool = QUESTIONS.get(rnd, QUESTIONS["boundary"])
    saturated = asked >= len(pool)
    q, a = pool[min(asked, len(pool) - 1)]
    return {"candidates": [{"text": q, "suggestions": [a, "I am not sure"], "why": "routing rule",
                            "impact": 0.9, "informs": "knowledge_base"}],
            "round_saturated": saturated, "saturation_reason": "covered" if saturated else ""}


def _cited(*texts: str) -> list[dict]:
    return [{"text": t, "sources": []} for t in texts]


def scope(request: dict) -> dict:
    return {
        "task_definition": "Route each support ticket of an online bookshop to the team that resolves it.",
        "task_type": "classification", "task_type_evidence": "to billing, delivery or account",
        "labels": list(LABELS), "refusal_message": REFUSAL,
        "constraints": _cited("Never ask for card numbers."),
        "always": _cited("Replies with exactly one label: billing, delivery or account."),
        "never": _cited("Never answers the ticket itself."),
        "gray_areas": _cited("A ticket with two topics goes to the one asked about."),
        "common_errors": _cited("Routing refund questions to delivery."),
        "will": _cited("Routes billing tickets to billing.", "Routes delivery tickets to delivery.",
                       "Routes account tickets to account."),
        "will_not": _cited("Answer requests that are not bookshop support tickets (weather, recipes, homework)."),
        "hard_constraints": _cited("Never asks for payment card numbers."),
    }


def taxonomy(request: dict) -> dict:
    return {
        "categories": [{"name": "billing", "description": "invoices, refunds, charges", "weight": 0.4},
                       {"name": "delivery", "description": "packages, couriers, addresses", "weight": 0.35},
                       {"name": "account", "description": "passwords, logins, emails", "weight": 0.25}],
        "difficulty": {"easy": "names the problem directly", "medium": "some extra words",
                       "hard": "vague or long"},
        "edge_cases": _cited("A ticket with a typo in the key word.", "A ticket that mentions two topics."),
        "good_output": _cited("Exactly one label."),
        "metrics": _cited("Routing accuracy."), "minimum_acceptable": _cited("80 percent routed right."),
        "dimensions": [{"name": "accuracy", "description": "the right team", "weight": 1.0}],
    }


def eval_batch(request: dict) -> dict:
    text = text_of(request)
    q = read_request(text)
    rng = _rng(request, "eval")
    out = []
    for diff in ("easy", "medium", "hard"):
        for _ in range(int(q.get(diff, 0) or 0)):
            if q.get("kind") == "out_of_scope":
                out.append({"input": off_topic(rng), "reference": "Please ask a general assistant instead.",
                            "difficulty": diff, "rationale": "not a bookshop ticket", "based_on": 0})
            else:
                label = _label_of(q.get("category", ""))
                out.append({"input": ticket(label, rng), "reference": label, "difficulty": diff,
                            "rationale": f"mentions a {label} word", "based_on": 0})
    return {"examples": out}


def generated_batch(request: dict) -> dict:
    text = text_of(request)
    q = read_request(text)
    rng = _rng(request, "train")
    n = int(q.get("total", 1) or 1)
    out = []
    for _ in range(n):
        if q.get("kind") == "refusal":
            out.append({"input": off_topic(rng), "response": "Please ask a general assistant instead."})
        else:
            label = _label_of(q.get("category", ""))
            out.append({"input": ticket(label, rng), "response": label})
    return {"examples": out}


def constraint_verdicts(request: dict) -> dict:
    from core.refusal import RefusalRule

    rule = RefusalRule(REFUSAL)
    text = text_of(request)
    out = []
    for block in re.split(r"### Example ", text)[1:]:
        idx = int(re.match(r"(\d+)", block).group(1))
        kind = (re.search(r"Kind: (\w+)", block) or [None, "common"])[1]
        resp = block.split("Response:", 1)[1] if "Response:" in block else ""
        out.append({"index": idx, "in_scope": kind != "refusal", "refuses": rule.refuses_upfront(resp.strip()),
                    "violates": None, "reason": ""})
    return {"verdicts": out}


def paraphrases(request: dict) -> dict:
    text = text_of(request)
    m = re.search(r"<<<\n?(.*?)\n?>>>", text, re.S) or re.search(r"\n\n(.+)\n\nReturn", text, re.S)
    base = (m.group(1) if m else "").strip() or "hello"
    n = int((re.search(r"in (\d+) different ways", text) or [0, 2])[1])
    return {"paraphrases": [f"{p} {base}" for p in ("Hello again:", "One more thing:", "Hi there,", "Also:")][:n]}


def verification(request: dict) -> dict:
    count = len(re.findall(r"### Example \d+", text_of(request)))
    return {"verdicts": [{"index": i, "passed": True, "reason": ""} for i in range(1, count + 1)]}


def critique(request: dict) -> dict:
    return {"revisions": []}


def judge_verdict(request: dict) -> dict:
    text = text_of(request)
    ref = (re.search(r"<reference>\n(.*?)\n</reference>", text, re.S) or [None, ""])[1].strip().lower()
    resp = (re.search(r"<response>\n(.*?)\n</response>", text, re.S) or [None, ""])[1].strip().lower()
    ok = bool(ref) and ref == resp
    names = re.findall(r"^- (\w+)", (re.search(r"Rubric.*?\n(.*?)\n\n", text, re.S) or [None, ""])[1], re.M)
    return {"dimensions": [{"name": n, "score": 5 if ok else 1, "reason": "matches" if ok else "differs"}
                           for n in (names or ["accuracy"])],
            "refused": resp.startswith("i'm sorry"), "passed": ok, "reason": "label check"}


REPLIES = {
    "TaskTypeGuess": task_type, "PersonaProposals": personas, "QuestionCandidates": next_question,
    "ScopeDraft": scope, "TaxonomyDraft": taxonomy, "EvalBatch": eval_batch, "GeneratedBatch": generated_batch,
    "ConstraintVerdicts": constraint_verdicts, "Paraphrases": paraphrases, "VerificationBatch": verification,
    "CritiqueBatch": critique, "JudgeVerdict": judge_verdict,
}


def install(server: Any) -> Any:
    """Answer every structured request the teacher knows (by schema name); others get schema-valid
    nonsense so that nothing hangs."""
    from tests.fakes.schema_faker import fake_instance, wants_schema

    for name, reply in REPLIES.items():
        server.on_schema(name, reply)
    server.on(wants_schema, fake_instance)
    return server
