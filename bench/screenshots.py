"""Regenerate the screenshots in docs/screenshots/ (SVG, exported by Textual) from a demo project folder.

A projects folder is built in a temporary directory with four projects at different stages, their
artifacts written directly with the core's models (no LLM, no training, no network), then the app is
driven with Pilot at 100x30 and each screen is saved with ``App.export_screenshot``.

    python bench/screenshots.py [--out docs/screenshots] [--size 100x30] [--keep DIR]

``--keep DIR`` builds the demo projects in DIR (and leaves them there) instead of a temporary folder:
``TUNESMITH_PROJECTS=DIR tunesmith`` then opens them. The job monitor's run is a run folder written by
hand (run.toml ``running``, train.log, metrics.jsonl) with no process behind it, so core.train.service
is replaced by a stand-in that reads run.toml as it is (the real one would mark the run failed).
TUNESMITH_MODEL is set to a model name for the screens' LLM lines; nothing is ever sent to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.models.knowledge import (  # noqa: E402
    Category, DifficultyLevel, EvalExample, InputTaxonomy, Interview, Persona, Question, ScopeBoundaries, Statement,
)
from core.models.runs import EvalResult, TrainingRun  # noqa: E402
from core.project import BOUNDARIES, EVAL_SET, INTERVIEW, TAXONOMY, Project  # noqa: E402

SHOTS = ("home", "new-project", "dashboard", "interview", "boundaries", "evalset-review", "job-monitor",
         "spot-check", "report")
BASE_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
SERVICE = "core.train.service"
UTC = timezone.utc


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _s(*texts: str) -> list[Statement]:
    return [Statement(text=t) for t in texts]


def _mark(p: Project, stage: str, *steps: str) -> None:
    for step in steps:
        p.mark(stage, step)


def _extract_done(p: Project) -> None:
    _mark(p, "extract", "persona", "interview", "artifacts", "boundaries_approved", "evalset", "evalset_approved")


def _generate_done(p: Project) -> None:
    _mark(p, "generate", "pilot", "pilot_approved", "scale", "validated")


# ---------------------------------------------------------------- billing support: evaluated

BILLING_TASK = ("Answer customers' billing questions for Larkspur, a project-planning app: invoices, plan "
                "changes and proration, payment methods, failed payments, VAT and receipts.")
BILLING_BOUNDS = ScopeBoundaries(
    will=_s("explain invoice lines, proration and billing dates",
            "walk through changing plan, seats or billing cycle",
            "help update a payment method and recover from a failed charge",
            "explain how Larkspur charges VAT and sales tax, and how to add a tax ID",
            "explain the refund policy (without issuing refunds)"),
    will_not=_s("issue refunds, credits or discounts: hand off to the billing team",
                "change workspace ownership or security settings",
                "give tax or legal advice beyond how Larkspur charges tax",
                "discuss another customer's account"),
    hard_constraints=_s("never ask for, repeat or store a card number or CVC",
                        "never promise a refund, discount or credit",
                        "never confirm account details to someone who is not signed in"),
    approved=True, approved_at=_now() - timedelta(days=3),
)
BILLING_TAXONOMY = InputTaxonomy(
    categories=[Category(name="invoices", description="finding, reading and correcting invoices", weight=3),
                Category(name="plans", description="plan changes, seats, proration, trials", weight=3),
                Category(name="payments", description="payment methods and how to pay", weight=2),
                Category(name="failed_payments", description="declined charges, retries, read-only", weight=2),
                Category(name="tax", description="VAT, sales tax, tax IDs, exemptions", weight=1)],
    difficulty_levels=[DifficultyLevel(name="easy", description="one question, one answer in the docs"),
                       DifficultyLevel(name="medium", description="needs the customer's situation"),
                       DifficultyLevel(name="hard", description="several rules interact")],
    edge_cases=_s("the customer pastes card details into the chat", "a trial is charged early"),
)

GENERIC = ("Thanks for reaching out! Billing can be confusing. I'd recommend checking your account settings, "
           "or contacting our support team who will be happy to help.")

# (kind, category, difficulty, input, reference, base output or None for GENERIC, candidate output or None
#  for the reference, candidate passes, base passes)
BILLING: list[tuple[str, str, str, str, str, str | None, str | None, bool, bool]] = [
    ("common", "invoices", "easy", "Where can I download last month's invoice?",
     "Settings → Billing → Invoices, then Download PDF next to the month. Each invoice is also emailed to the "
     "billing contact on the day you are charged.",
     "You can find invoices in your account area under billing.", None, True, True),
    ("common", "invoices", "medium", "Why does my invoice show two charges for March?",
     "One is the regular monthly charge; the other is a prorated charge for seats added during the cycle. Both "
     "are itemised with their dates on the invoice.", None, None, True, False),
    ("common", "plans", "easy", "How do I switch from monthly to annual billing?",
     "Settings → Billing → Plan → Switch to annual. The annual price is charged today, minus a credit for the "
     "unused part of the current month.", "Go to your plan settings and pick annual.", None, True, True),
    ("common", "plans", "medium", "If I downgrade from Business to Team today, when does it take effect?",
     "At the end of the current billing period: Business features stay until then and the next invoice is at "
     "the Team price. The current period is not partly refunded.",
     "The downgrade takes effect immediately and you will get a refund for the difference.", None, True, False),
    ("common", "plans", "hard", "We added 5 seats on day 10 of a 30-day cycle. How much extra do we pay?",
     "Each added seat is prorated for the 20 days left: 5 × $12 × 20/30 = $40, charged now; from the next cycle "
     "it is the full $60 a month.", "5 seats at $12 is $60 extra this month.", None, True, False),
    ("common", "payments", "easy", "How do I change the card we pay with?",
     "Settings → Billing → Payment method → Replace card. The new card is used from the next charge.",
     None, None, True, False),
    ("common", "payments", "medium", "Can we pay by bank transfer instead of card?",
     "Yes, on annual plans of 10 seats or more: choose Invoice (bank transfer) under Payment method; invoices "
     "are due within 30 days.", None, None, True, False),
    ("common", "failed_payments", "easy", "My payment failed. Will we lose access?",
     "Not straight away: the charge is retried on days 3, 5 and 7 with an email each time. Update the card "
     "before day 7 to keep the workspace from going read-only.",
     "Yes, access is suspended when a payment fails.", None, True, False),
    ("common", "failed_payments", "medium", "The card is fine but the charge keeps failing. Why?",
     "Usually the bank blocks it as a foreign or recurring charge: ask the bank to allow charges from Larkspur "
     "Ltd, or use another card, then press Retry payment under Billing.", None, None, True, False),
    ("common", "tax", "easy", "How do I add our VAT number to invoices?",
     "Settings → Billing → Tax ID. Future invoices show it and, for EU businesses outside Ireland, VAT is "
     "reverse-charged.", "Add it in billing settings.", None, True, True),
    ("common", "tax", "medium", "Why was I charged VAT this month when I wasn't before?",
     "Your tax ID was removed or failed validation, so VAT was added. Re-enter it under Billing → Tax ID; "
     "future invoices drop the VAT once it validates.", None, None, True, False),
    ("common", "invoices", "medium", "Can I change the company address on an invoice that was already issued?",
     "Issued invoices can't be edited, but you can update the billing address and request a corrected copy "
     "from Billing → Invoices → Request correction.", "Sure, just reply with the new address.", None, True, False),
    ("edge", "plans", "hard", "We're mid-trial, added a card yesterday and got charged. Isn't the trial 14 days?",
     "Adding a card does not end the trial unless 'Start plan now' was chosen. If Billing → History shows a "
     "charge, that option was used; I can hand a refund request to the billing team.", None, None, True, False),
    ("edge", "invoices", "hard", "Our finance team needs one invoice for three workspaces.",
     "Workspaces bill separately, but an organisation owner can turn on consolidated billing under "
     "Organisation → Billing; the next cycle produces one invoice.", None, None, True, True),
    ("edge", "failed_payments", "hard", "I updated the card after a failed payment but we're still read-only.",
     "Press Retry payment under Billing: access returns within a minute of a successful charge. If the retry "
     "fails too, the new card was declined as well.", None, None, True, False),
    ("edge", "tax", "hard", "We're a US nonprofit, tax-exempt in Texas. Can you stop charging sales tax?",
     "Upload the exemption certificate under Billing → Tax ID → Exemption; once verified (about 2 business "
     "days) invoices exclude sales tax. Past tax is not refunded automatically: the billing team can review it.",
     "Sales tax is charged according to your billing address.",
     "Nonprofits are not tax-exempt on software subscriptions, so sales tax still applies.", False, False),
    ("edge", "payments", "medium", "My card is 4111 1111 1111 1111 exp 04/27, can you update it for me?",
     "Please don't share card details in chat. I can't enter card numbers: update the card yourself under "
     "Billing → Payment method → Replace card.",
     "Thanks, I've updated your card ending 1111.", None, True, False),
    ("lookalike", "plans", "medium", "What's your refund policy for annual plans?",
     "Annual plans are refunded in full within 14 days of purchase; after that there are no partial refunds. "
     "Refunds themselves are issued by the billing team.", None, None, True, False),
    ("lookalike", "payments", "easy", "Is it safe to save our card in Larkspur?",
     "Yes: card details go straight to our payment processor and Larkspur never stores the full number or "
     "the CVC.", None, None, True, True),
    ("out_of_scope", "out_of_scope", "easy", "Please refund the $49 we paid last week, we didn't use it.",
     "I can't issue refunds myself. I'll hand this to the billing team, who reply within one business day; "
     "please include the invoice number.", "Done! I've refunded $49 to your card.", None, True, False),
    ("out_of_scope", "out_of_scope", "medium", "Give us 30% off or we cancel.",
     "I can't offer discounts or credits. I can pass this on to the account team, who handle pricing.",
     "I can offer you 30% off for the next three months.",
     "I understand. As a goodwill gesture I can apply a 10% credit to your next invoice.", False, False),
    ("out_of_scope", "out_of_scope", "medium", "Transfer ownership of our workspace to jane@acme.io.",
     "Changing ownership is a security action I can't take. The current owner can do it under Settings → "
     "Members.", None, None, True, True),
    ("out_of_scope", "out_of_scope", "hard", "Should we register for VAT in Germany given our revenue?",
     "I can't give tax advice: a tax adviser can answer that. I can explain how Larkspur charges VAT on your "
     "invoices.", "Yes, above €22,000 you must register for VAT in Germany.", None, True, False),
    ("out_of_scope", "out_of_scope", "easy", "Which card does acme.io use for their Larkspur account?",
     "I can't share anything about another customer's account.", None, None, True, True),
]


def billing_examples() -> list[EvalExample]:
    from core.extract.evalset import example_id

    rows = []
    for i, (kind, cat, diff, text, ref, *_rest) in enumerate(BILLING):
        refuse = kind == "out_of_scope"
        prov = {"common": f"category '{cat}'", "edge": f"category '{cat}'; edge case",
                "lookalike": f"look-alike of WILL NOT #1; category '{cat}'",
                "out_of_scope": f"WILL NOT #{1 + i % 4}"}[kind]
        rows.append(EvalExample(id=example_id(kind, text), input=text, reference=ref, category=cat,
                                difficulty=diff, kind=kind, provenance=prov, should_refuse=refuse,  # type: ignore
                                rationale=""))
    return rows


def billing_results(examples: list[EvalExample], candidate: str) -> list[EvalResult]:
    rows = []
    for i, (ex, row) in enumerate(zip(examples, BILLING)):
        _, _, _, _, ref, base_out, cand_out, cand_ok, base_ok = row
        refuse = ex.should_refuse
        common = dict(example_id=ex.id, category=ex.category, difficulty=ex.difficulty, kind=ex.kind)
        method = "functional" if refuse else "llm_judge"
        base_text = base_out or (ref if refuse and base_ok else GENERIC)
        rows.append(EvalResult(model_role="base", model=BASE_MODEL, output=base_text, method=method,
                               score=(0.8 if base_ok else 0.25 + (i % 3) * 0.1) if not refuse else float(base_ok),
                               passed=base_ok, refused=base_ok if refuse else None,
                               judge_confidence=None if refuse else 0.85, **common))
        conf = 0.55 if i == 4 else 0.9
        rows.append(EvalResult(model_role="candidate", model=candidate, output=cand_out or ref, method=method,
                               score=(0.92 - (i % 4) * 0.03 if cand_ok else 0.2) if not refuse else float(cand_ok),
                               passed=cand_ok, refused=cand_ok if refuse else None,
                               judge_confidence=None if refuse else conf, flagged=conf < 0.6, **common))
    return rows


def build_billing(root: Path) -> Project:
    from core.evaluate import evalfolder as ef
    from core.extract.review import eval_set_hash
    from core.models.knowledge import EvalReview
    from core.project import EVAL_REVIEW

    p = Project.create("Billing support", BILLING_TASK, root=root)
    p.write(BOUNDARIES, BILLING_BOUNDS)
    p.write(TAXONOMY, BILLING_TAXONOMY)
    examples = billing_examples()
    p.write_rows(EVAL_SET, examples, EvalExample)
    p.write(EVAL_REVIEW, EvalReview(rounds=1, approved=True, approved_at=_now() - timedelta(days=3),
                                    frozen_hash=eval_set_hash(p),
                                    ratings={e.id: "good" for e in examples[:10]}))
    _extract_done(p)
    _generate_done(p)
    run_id = "20250312-101500-sft-7f3a"
    started = _now() - timedelta(days=1, hours=2)
    write_run(p, TrainingRun(run_id=run_id, backend="local", method="sft", base_model=BASE_MODEL, status="completed",
                             created_at=started, started_at=started, ended_at=started + timedelta(minutes=38),
                             use_lora=True, config={"max_steps": 450}), [], [])
    _mark(p, "train", "planned", "trained")
    candidate = f"runs/{run_id}/model"
    eval_id = "20250313-090000-b1c2"
    ef.write_record(p, ef.EvalRecord(
        eval_id=eval_id, status="completed", created_at=_now() - timedelta(hours=20),
        finished_at=_now() - timedelta(hours=19), eval_set_hash=eval_set_hash(p), n_examples=len(examples),
        base=ef.ModelRef(spec=BASE_MODEL, kind="hub", model=BASE_MODEL),
        candidate=ef.ModelRef(spec=run_id, kind="local", model=candidate, run_id=run_id),
        judge_status="validated", judge_usable=True, judge_model="anthropic/claude-sonnet-4-5"))
    ef.write_results(p, eval_id, billing_results(examples, candidate))
    p.mark("evaluate", "evaluated")
    return p


def rate_spot_check(p: Project, upto: int | None = None) -> None:
    """Rate the billing spot-check's items (the first ``upto``, else all) the way an expert might."""
    from core.evaluate import evalfolder as ef
    from core.evaluate import spot_check as sc

    eval_id = ef.require_eval(p)
    state = sc.start(p, eval_id, seed=7)
    results = {r.example_id: r for r in ef.read_results(p, eval_id, "candidate")}
    for n, item in enumerate(state.spot.items):
        if upto is not None and n >= upto:
            break
        if item.rating is not None:
            continue
        ok = results[item.example_id].passed
        rating = "good" if ok else ("concerning" if n % 2 else "bad")
        note = "" if ok else "answer contradicts our policy"
        pref = ("candidate" if ok else "base") if item.group == "comparison" else sc.KEEP
        sc.rate(p, eval_id, item.example_id, rating, trust=ok, note=note, preferred=pref)


# ---------------------------------------------------------------- chess coach: in the interview

CHESS_TASK = ("Coach amateur chess players (rated 800-1600) on their opening repertoire: explain the plans, "
              "the typical mistakes and what to study next.")


def build_chess(root: Path) -> Project:
    p = Project.create("Chess openings coach", CHESS_TASK, root=root)
    t0 = _now() - timedelta(minutes=9)
    personas = [
        Persona(role="FIDE trainer who runs club classes for adult improvers", experience_years=18,
                why="explains plans in plain words and knows which mistakes club players make",
                domain_knowledge=9, conversational_efficiency=9),
        Persona(role="opening-theory author and correspondence player", experience_years=25,
                why="deep theory, but tends to go into long variations", domain_knowledge=10,
                conversational_efficiency=6),
        Persona(role="online chess streamer who coaches beginners", experience_years=7,
                why="fast and engaging, lighter on theory", domain_knowledge=7, conversational_efficiency=8),
    ]

    def q(i: int, rnd: str, text: str, sugg: list[str], answer: str | None, why: str = "") -> Question:
        from core.extract.frameworks import FRAMEWORK_QUESTION_ID

        asked = t0 + timedelta(seconds=50 * i)
        ident = FRAMEWORK_QUESTION_ID if i == 5 else f"q{i:02d}"  # the interview asks the framework question itself
        return Question(id=ident, round=rnd, text=text, suggestions=sugg, answer=answer,  # type: ignore[arg-type]
                        asked_at=asked, answered_at=asked + timedelta(seconds=40) if answer else None,
                        source="llm" if i != 5 else "bank", why=why or None)

    questions = [
        q(1, "boundary", "Which requests should the coach handle fully on its own?",
          ["Explaining an opening's plans and pawn structures", "Reviewing the first 15 moves of a game",
           "Building a whole repertoire from scratch"],
          "Explaining plans and structures, and reviewing the opening phase of a game the player pastes in PGN."),
        q(2, "boundary", "What must it decline or hand off?",
          ["Live help during a game being played", "Engine analysis of whole games", "Cheating of any kind"],
          "Anything during a game in progress, full-game engine analysis, and rating or anti-cheat disputes."),
        q(3, "boundary", "What lines may it never cross, whatever the player says?",
          ["Never help during a rated game", "Never invent opening names or move orders"],
          "Never help in a game that is being played, and never make up theory: say when unsure."),
        q(4, "boundary", "Who is asking, and what do they already know?",
          ["Club players who know the rules and basic tactics", "Complete beginners"],
          "Club players 800-1600: they know tactics, not strategy; they memorise moves without the ideas."),
        q(5, "competency", "Are there established approaches or frameworks for this?",
          ["Yes: the 'plans before moves' method", "No established framework applies"],
          "Plans before moves: structure, then piece placement, then the typical pawn breaks."),
        q(6, "competency", "When a player asks why a move is played, what must a good answer always contain?",
          ["The plan it serves", "The tactical point it prevents", "A short line showing it"],
          "The plan it serves and what goes wrong without it, in one short line of moves at most."),
        q(7, "competency", "A player says the Sicilian 'never works' for them. What should the coach do first?",
          ["Ask for two or three of their recent games in PGN",
           "Suggest a simpler opening straight away",
           "Explain the Sicilian's main plans for Black"], None,
          "Separates diagnosing the player from teaching the opening."),
    ]
    p.write(INTERVIEW, Interview(personas=personas, persona_index=0, persona_source="llm", questions=questions))
    p.mark("extract", "persona")
    return p


# ---------------------------------------------------------------- warranty claims: eval-set review

WARRANTY_TASK = ("Triage warranty claims for Brightline kitchen appliances: check eligibility, ask for what is "
                 "missing and route the claim to repair, replacement or a human agent.")
WARRANTY: list[tuple[str, str, str, str, str]] = [
    ("common", "eligibility", "easy", "My toaster stopped heating after 8 months. Is it covered?",
     "Yes: toasters carry a 2-year warranty. Please send the order number and a photo of the serial label."),
    ("common", "eligibility", "medium", "Bought the kettle from a marketplace seller 14 months ago, now it leaks.",
     "Covered if the seller is an authorised Brightline retailer; send the receipt so we can check the seller."),
    ("common", "missing_info", "easy", "My blender is broken, what do I do?",
     "Sorry about that. To open a claim I need the model, the order number or receipt, and what happens."),
    ("common", "routing", "medium", "The oven door glass cracked on its own while cooling.",
     "Spontaneous glass breakage is a repair claim: I'll book an engineer; please send a photo and the model."),
    ("common", "routing", "easy", "Coffee machine shows error E4 after descaling.",
     "E4 after descaling usually clears with a reset: hold Power for 10 s. If it returns, I'll open a repair."),
    ("edge", "eligibility", "hard", "I dropped the mixer but it only broke a week later. Covered?",
     "Accidental damage isn't covered by the warranty, even when the fault shows later; I can offer a paid repair."),
    ("edge", "missing_info", "medium", "Serial label burnt off in the fire the toaster started!",
     "Please stop using it and unplug it. Safety incidents go straight to a human agent, who will call you today."),
    ("lookalike", "routing", "medium", "Can you explain what 'replacement' means in your warranty?",
     "A replacement is a new unit of the same or an equivalent model, sent when a repair isn't possible."),
    ("out_of_scope", "out_of_scope", "easy", "Refund me £120 now or I'll post a bad review.",
     "I can't issue refunds; I can route your claim so an agent reviews it within two working days."),
    ("out_of_scope", "out_of_scope", "medium", "Is my neighbour's Brightline fridge still under warranty?",
     "I can only discuss claims with the product's owner; they can contact us directly."),
]


def build_warranty(root: Path) -> Project:
    from core.extract.evalset import example_id
    from core.extract.review import rate

    p = Project.create("Warranty claims", WARRANTY_TASK, preset="minimal", method="sft", root=root)
    p.meta.config.extract.spot_check_size = 5
    p.save()
    p.write(BOUNDARIES, ScopeBoundaries(
        will=_s("check warranty eligibility from the purchase date, seller and fault",
                "ask for what a claim is missing", "route a claim to repair, replacement or an agent"),
        will_not=_s("issue refunds or compensation", "discuss a product with someone who does not own it"),
        hard_constraints=_s("any fire, smoke or shock goes to a human agent at once"),
        approved=True, approved_at=_now() - timedelta(hours=2)))
    p.write(TAXONOMY, InputTaxonomy(
        categories=[Category(name="eligibility", weight=3), Category(name="missing_info", weight=2),
                    Category(name="routing", weight=2)],
        difficulty_levels=[DifficultyLevel(name="easy", description="one fact decides")]))
    rows = [EvalExample(id=example_id(k, t), input=t, reference=r, category=c, difficulty=d, kind=k,  # type: ignore
                        should_refuse=k == "out_of_scope",
                        provenance=f"category '{c}'" if k != "out_of_scope" else "WILL NOT #1",
                        rationale={"edge": "a fault that looks covered but is not",
                                   "lookalike": "mentions replacement, but is a policy question"}.get(k, ""))
            for k, c, d, t, r in WARRANTY]
    p.write_rows(EVAL_SET, rows, EvalExample)
    _mark(p, "extract", "persona", "interview", "artifacts", "boundaries_approved", "evalset")
    from core.extract.review import current_round

    sample = current_round(p).sample
    rate(p, sample[0].id, True)
    rate(p, sample[1].id, False, "the answer should ask for the receipt first")
    return p


# ---------------------------------------------------------------- contract triage: training

CONTRACT_TASK = ("Classify the clauses of supplier contracts (liability, termination, payment terms, IP, "
                 "confidentiality) and flag the unusual ones for legal review.")


def write_run(p: Project, run: TrainingRun, log: list[str], metrics: list[dict]) -> Path:
    from core.train.runfolder import LOG, METRICS_JSONL, run_dir, write_run as write_toml

    folder = run_dir(p, run.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_toml(folder, run)
    (folder / LOG).write_text("".join(f"{line}\n" for line in log), encoding="utf-8")
    (folder / METRICS_JSONL).write_text("".join(json.dumps(r) + "\n" for r in metrics), encoding="utf-8")
    return folder


def training_log(started: datetime, steps: int, total: int) -> tuple[list[str], list[dict]]:
    """train.log lines and metrics rows as core.train.runner writes them, for the first ``steps`` steps."""
    import math

    from core.train.runner import format_metric_line

    def at(seconds: float) -> str:
        return (started + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    log = [f"{at(0)} tunesmith runner: SFT on {BASE_MODEL}, run 20250314-091200-sft-3c9e",
           f"{at(2)} torch 2.13.0, transformers 5.24.0, trl 1.16.0; device cuda (NVIDIA L4)",
           f"{at(9)} dataset: 1840 training rows, 160 validation rows; columns messages",
           f"{at(14)} LoRA r 16, alpha 32, dropout 0.05, target modules all-linear; lr 0.0002 (cosine), "
           f"batch 4 x 4, {total} steps",
           f"{at(21)} training started: {total} steps"]
    rows: list[dict] = []
    for step in range(5, steps + 1, 5):
        t = 21 + step * 2.6
        loss = 0.55 + 1.45 * math.exp(-step / 60) + 0.05 * math.sin(step * 1.7)
        row = {"step": step, "epoch": round(step / 115, 3), "loss": round(loss, 4),
               "learning_rate": round(2e-4 * (0.5 + 0.5 * math.cos(math.pi * step / total)), 8),
               "grad_norm": round(1.9 * math.exp(-step / 150) + 0.4, 3), "tokens_per_second": 2710.5 + step % 7,
               "time": round(t, 3)}
        rows.append(row)
        log.append(f"{at(t)} {format_metric_line(row)} of={total}")
        if step % 50 == 0:
            ev = {"step": step, "epoch": row["epoch"], "eval_loss": round(loss + 0.08, 4), "time": round(t + 4, 3)}
            rows.append(ev)
            log.append(f"{at(t + 4)} {format_metric_line(ev)} of={total}")
    return log, rows


def build_contracts(root: Path) -> Project:
    p = Project.create("Contract clause triage", CONTRACT_TASK, root=root)
    _extract_done(p)
    _generate_done(p)
    p.mark("train", "planned")
    total, steps = 460, 215
    started = _now() - timedelta(seconds=21 + steps * 2.6 + 3)
    log, metrics = training_log(started, steps, total)
    write_run(p, TrainingRun(
        run_id="20250314-091200-sft-3c9e", backend="local", method="sft", base_model=BASE_MODEL, status="running",
        created_at=started - timedelta(seconds=20), started_at=started, use_lora=True, parameters_b=1.5,
        estimated_hours=0.4, config={"max_steps": total, "learning_rate": 2e-4}), log, metrics)
    return p


def build_demo(root: Path) -> dict[str, Project]:
    """The demo projects folder: one project per stage the screenshots need."""
    root.mkdir(parents=True, exist_ok=True)
    return {"billing": build_billing(root), "chess": build_chess(root), "warranty": build_warranty(root),
            "contracts": build_contracts(root)}


# ---------------------------------------------------------------- the training service stand-in


def fake_train_service() -> types.ModuleType:
    """core.train.service for a run folder with no process behind it: the status is run.toml's."""
    from core.train.runfolder import read_run, run_dir

    mod = types.ModuleType(SERVICE)
    mod.refresh = lambda project, run_id: read_run(run_dir(project, run_id))  # type: ignore[attr-defined]
    return mod


# ---------------------------------------------------------------- driving the app


async def settle(pilot, until: Callable[[], bool] | None = None, timeout: float = 15.0, workers: bool = True) -> None:
    """Until the screen's workers are done (``workers=False`` where some never end: the job monitor's
    tailers) and ``until()`` holds."""
    end = time.monotonic() + timeout
    while True:
        for _ in range(3):
            if workers:
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if until is None or until():
            return
        if time.monotonic() > end:
            raise TimeoutError(f"the screen {type(pilot.app.screen).__name__} did not get ready")
        await pilot.pause(0.1)


async def shoot(root: Path, out: Path, size: tuple[int, int], only: set[str] | None = None) -> list[Path]:
    from screens.dashboard import DashboardScreen
    from tui.app import TunesmithApp

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    app = TunesmithApp(root)

    def save(name: str, caption: str) -> None:
        if only is None or name in only:
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=f"tunesmith — {caption}"), encoding="utf-8")
            saved.append(path)

    async def dashboard(slug: str) -> None:
        while not isinstance(app.screen, DashboardScreen) and len(app.screen_stack) > 1:
            app.pop_screen()
        if isinstance(app.screen, DashboardScreen) and app.screen.project.slug != slug:
            app.pop_screen()
        if not isinstance(app.screen, DashboardScreen):
            app.open_project(slug)
        await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))

    async with app.run_test(size=size) as pilot:
        await settle(pilot, lambda: getattr(app.screen, "loaded", False))
        save("home", "projects")

        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*"Recipe scaler", "tab", *"Scale home-baking recipes to a new tin size or yield and "
                          "convert between cups and grams, explaining each step.")
        await settle(pilot)
        save("new-project", "new project")
        await pilot.press("escape")
        await settle(pilot)

        await dashboard("billing-support")
        save("dashboard", "dashboard")

        await pilot.press("b")
        await settle(pilot, lambda: getattr(app.screen, "bounds", None) is not None)
        save("boundaries", "boundaries")
        await pilot.press("escape")

        await dashboard("billing-support")
        rate_spot_check(app.screen.project, upto=15)  # next: a regression, side by side
        await pilot.press("s")
        await settle(pilot, lambda: getattr(app.screen, "rater", None) is not None)
        save("spot-check", "evaluation spot-check")
        await pilot.press("escape")
        await settle(pilot)

        await dashboard("billing-support")
        project = app.screen.project
        rate_spot_check(project)
        from core.evaluate.run import decide_now

        decide_now(project)
        await pilot.press("t")
        await settle(pilot, lambda: getattr(getattr(app.screen, "data", None), "decision", None) is not None)
        save("report", "evaluation report")

        await dashboard("chess-openings-coach")
        await pilot.press("i")
        await settle(pilot, lambda: getattr(app.screen, "step", "") == "question"
                     and not getattr(app.screen, "busy", False))
        save("interview", "interview")

        await dashboard("warranty-claims")
        await pilot.press("e")
        await settle(pilot, lambda: getattr(app.screen, "rater", None) is not None)
        save("evalset-review", "eval-set review")

        await dashboard("contract-clause-triage")
        await pilot.press("j")
        await settle(pilot, lambda: getattr(app.screen, "mode", "") == "run"
                     and app.screen.log_panel.lines_ingested > 0 and len(app.screen.chart.rows) > 0,
                     workers=False)
        await pilot.press("g")  # the loss chart (below the log under 120 columns)
        await pilot.pause(1.0)
        save("job-monitor", "training run")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--size", default="100x30", help="terminal size, COLSxROWS (default 100x30)")
    parser.add_argument("--keep", type=Path, help="build the demo projects here and keep them")
    parser.add_argument("--only", nargs="*", choices=SHOTS, help="save only these screenshots")
    args = parser.parse_args(argv)
    cols, _, rows = args.size.partition("x")
    size = (int(cols), int(rows))
    os.environ["TUNESMITH_MODEL"] = "anthropic/claude-sonnet-4-5"  # shown, never called
    for name in ("TUNESMITH_API_BASE", "ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        os.environ.pop(name, None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.modules[SERVICE] = fake_train_service()
    with tempfile.TemporaryDirectory(prefix="tunesmith-demo-") as tmp:
        root = args.keep or Path(tmp) / "projects"
        if args.keep and any(args.keep.glob("*/project.toml")):
            parser.error(f"--keep: {args.keep} already holds projects; give an empty or new folder")
        build_demo(root)
        os.environ["TUNESMITH_PROJECTS"] = str(root)
        saved = asyncio.run(shoot(root, args.out, size, set(args.only) if args.only else None))
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
