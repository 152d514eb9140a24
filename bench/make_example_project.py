"""Regenerate the shipped example project projects/billing-support deterministically.

    python bench/make_example_project.py [--root projects]

Every artifact of the four skills is written with the core's models and functions (no LLM, no training, no
network): the interview, knowledge base, approved boundaries, taxonomy, criteria, a 50-example eval set
approved and frozen (core.extract.review), the pilot and its spot-check (core.generate.review), the training
dataset validated by core.generate.dataset, a completed training run folder (no weights: see WEIGHTS_NOTE),
an evaluation with its spot-check rated (core.evaluate.spot_check), the decision and report
(core.evaluate.run.decide_now) and the exports (core.evaluate.export). Timestamps come from a fixed clock,
so two runs write the same files.
"""

from __future__ import annotations

TASK = ("Answer customers' billing questions for Larkspur, a project-planning SaaS: invoices, plan changes and "
        "proration, seats, payment methods, failed payments, VAT and sales tax, and the refund policy. Hand "
        "refunds, credits, discounts and account-security changes to people.")

SYSTEM = ("You are Larkspur's billing assistant. Answer billing questions accurately and briefly, with the exact "
          "menu path when there is one. Never ask for or repeat card numbers. You cannot issue refunds, credits "
          "or discounts: hand those to the billing team. Do not give tax or legal advice.")

GENERIC = ("Thanks for reaching out! Billing can be confusing. I'd recommend checking your account settings, "
           "or contacting our support team who will be happy to help.")

# ---------------------------------------------------------------- interview (19 questions)

PERSONAS = [
    ("billing operations lead at a B2B SaaS company, owns the billing support queue", 11,
     "has answered thousands of billing tickets and writes the macros the support team uses", 9, 9),
    ("revenue accountant who closes the books and handles VAT filings", 14,
     "knows the tax and invoicing rules precisely, less used to customer wording", 10, 6),
    ("customer success manager for mid-size accounts", 6,
     "knows what customers actually ask, lighter on the invoicing details", 7, 8),
]

# (round, question, suggestions, answer, why)
INTERVIEW_QA: list[tuple[str, str, list[str], str, str]] = [
    ("boundary", "Which billing requests should the assistant handle fully on its own?",
     ["Explaining invoices and charges", "Walking through plan and seat changes", "Updating payment methods"],
     "Explaining any invoice line, proration, plan and seat changes, switching billing cycle, how to update a "
     "card or pay by bank transfer, what happens after a failed payment, and how VAT and tax IDs work.",
     "Sets the WILL list."),
    ("boundary", "What must it decline or hand off to a person?",
     ["Refunds and credits", "Discounts and custom pricing", "Ownership and security changes"],
     "Refunds, credits and discounts go to the billing team; pricing negotiations to the account team; "
     "ownership transfers and security settings to the workspace owner. It never discusses another "
     "customer's account.", "Sets the WILL NOT list."),
    ("boundary", "Which lines may it never cross, whatever the customer says?",
     ["Never handle card numbers", "Never promise a refund", "Never confirm details to a stranger"],
     "Never ask for, repeat or store a card number or CVC; never promise a refund, discount or credit; never "
     "confirm account details to someone who is not signed in as a member of the workspace.",
     "Hard constraints."),
    ("boundary", "Who writes in, and what do they usually know already?",
     ["Workspace admins", "Finance or accounts-payable staff", "Individual members"],
     "Mostly workspace admins and finance staff. Admins know the product but not billing terms; finance people "
     "know invoicing and VAT but not where things are in Larkspur.", "Audience and register."),
    ("competency", "Are there established approaches or frameworks for this?",
     ["Yes: acknowledge, answer, next step", "No established framework applies"],
     "We use acknowledge → answer with the menu path → say what happens next (date or amount). No formal "
     "framework beyond that.", "Framework question from the bank."),
    ("competency", "What must every good answer contain?",
     ["The exact menu path", "The amount or date that applies", "What happens next"],
     "The exact menu path, the amount or the date that applies to this customer, and what happens next. "
     "Two to four sentences.", "Quality criteria."),
    ("competency", "How should proration be explained?",
     ["Show the arithmetic", "Point to the invoice line", "Give only the total"],
     "Show the arithmetic once: seats × price × days left / days in the cycle, then the total, and say the "
     "full price applies from the next cycle.", "Common error: totals without the working."),
    ("competency", "What is the most common mistake a new support agent makes?",
     ["Promising refunds", "Vague 'check your settings' answers", "Confusing downgrade timing"],
     "Saying a downgrade is immediate and refunded. Downgrades take effect at the end of the period and the "
     "current period is never partly refunded.", "Common error."),
    ("competency", "When a payment fails, what should the customer hear first?",
     ["That access is not lost yet", "How to update the card", "The retry schedule"],
     "That nothing is lost yet: we retry on days 3, 5 and 7 with an email each time, and the workspace goes "
     "read-only only after the last retry fails. Then how to update the card and press Retry payment.",
     "Failed-payment playbook."),
    ("competency", "How far may it go on tax questions?",
     ["Explain how Larkspur charges tax", "Help add a tax ID", "Advise on registration"],
     "It explains how Larkspur charges VAT and US sales tax, how to add a tax ID or exemption certificate, "
     "and why tax appeared. Whether a company must register for VAT is tax advice: refer to an adviser.",
     "Gray area: tax."),
    ("variation", "A customer pastes their full card number into the chat. What now?",
     ["Tell them not to share it", "Point to Replace card", "Ignore the number"],
     "Ask them not to share card details, never repeat the number, and point to Billing → Payment method → "
     "Replace card. Flag the conversation so the transcript gets redacted.", "Edge case."),
    ("variation", "Someone asks for a refund for an annual plan bought 10 days ago.",
     ["Explain the 14-day rule and hand off", "Issue the refund", "Decline"],
     "Explain that annual plans are refundable in full within 14 days, and hand the request to the billing "
     "team with the invoice number. Never say the refund is done.", "Look-alike of a refusal."),
    ("variation", "A trial customer was charged before day 14.",
     ["Check if 'Start plan now' was used", "Refund at once", "Say trials can't be charged"],
     "Adding a card does not end the trial; only 'Start plan now' does. If Billing → History shows the "
     "charge, explain that and offer to pass a refund request to the billing team.", "Edge case."),
    ("variation", "Finance wants one invoice for several workspaces.",
     ["Consolidated billing", "Merge the workspaces", "Not possible"],
     "An organisation owner can turn on consolidated billing under Organisation → Billing; the next cycle "
     "produces one invoice with a line per workspace.", "Edge case."),
    ("variation", "A customer threatens to cancel unless they get a discount.",
     ["Hand to the account team", "Offer a small credit", "Explain cancellation"],
     "No discounts or credits from the assistant. Acknowledge, offer to pass it to the account team, and "
     "explain how cancellation works if they ask.", "Out of scope, emotional."),
    ("validation", "Is this a good answer to 'why two charges in March?': 'One is your monthly plan, the "
     "other a prorated charge for seats added mid-cycle; both are itemised on the invoice.'",
     ["Yes", "Needs the menu path", "Needs the amounts"],
     "Good, but better with where to see it: Billing → Invoices → the March invoice lists both lines with "
     "dates.", "Validation."),
    ("validation", "Is this acceptable: 'Your downgrade takes effect today and we refund the difference.'",
     ["No: wrong timing and a refund promise", "Yes"],
     "No. Wrong on both counts: downgrades apply at the end of the period and it promises a refund.",
     "Validation."),
    ("validation", "What would make you stop trusting the assistant?",
     ["A refund promise", "Made-up prices", "Sharing another account's data"],
     "Any refund or discount promise, invented prices or dates, or anything about another customer's "
     "account. One of those and I would switch it off.", "Minimum acceptable."),
    ("validation", "How long should a typical reply be?",
     ["Two to four sentences", "One line", "A full page"],
     "Two to four sentences; a short list only for step-by-step changes.", "Style."),
]

# ---------------------------------------------------------------- the eval set: 50 examples

# (kind, category, difficulty, input, reference, base output or None for GENERIC, candidate output or None
#  for the reference, candidate passes, base passes) -- the 24 rows of bench/screenshots.py's BILLING first
EXTRA_EVAL: list[tuple[str, str, str, str, str, str | None, str | None, bool, bool]] = [
    ("common", "invoices", "easy", "Who receives the invoice emails?",
     "The billing contact set under Settings → Billing → Billing contact; you can add up to three addresses "
     "there.", "The workspace owner receives invoices.", None, True, False),
    ("common", "invoices", "easy", "Can I get invoices in euros instead of dollars?",
     "Yes for new subscriptions: choose EUR when you start the plan. An existing subscription keeps its "
     "currency; the billing team can switch it at renewal.", None, None, True, False),
    ("common", "plans", "easy", "How much is the Business plan per seat?",
     "Business is $24 per seat per month, or $240 per seat per year on annual billing.",
     "Business is $24 per seat per month.", None, True, True),
    ("common", "plans", "medium", "We removed 3 seats today. Do we get money back?",
     "Removed seats stay paid until the end of the cycle and are not refunded; the next invoice is for the "
     "lower seat count.", "Yes, you'll be refunded for the 3 seats.", None, True, False),
    ("common", "plans", "medium", "When does my trial end and what happens then?",
     "The trial lasts 14 days from signup; Billing → Plan shows the end date. With a card on file the plan "
     "starts then; without one the workspace becomes read-only until you choose a plan.", None, None, True,
     False),
    ("common", "payments", "easy", "Do you accept American Express?",
     "Yes: Visa, Mastercard and American Express, plus bank transfer on eligible annual plans.",
     "We accept all major cards.", None, True, True),
    ("common", "payments", "medium", "Can two workspaces share one card?",
     "Yes, enter the same card in each workspace's Billing → Payment method; each workspace is still "
     "charged and invoiced separately.", None, None, True, False),
    ("common", "failed_payments", "medium", "Why is our workspace read-only?",
     "All three retries of the last charge failed. Update the card under Billing → Payment method and press "
     "Retry payment; full access returns within a minute of a successful charge.", None, None, True, False),
    ("common", "tax", "medium", "Why is there sales tax on our invoice? We're in Oregon.",
     "Oregon has no sales tax, so check the billing address under Billing → Address: tax is based on it. "
     "Once corrected, future invoices are recalculated.", "Sales tax applies in all US states.", None, True,
     False),
    ("common", "tax", "easy", "Is VAT included in the price shown on the pricing page?",
     "No: prices exclude VAT. VAT is added at checkout and on invoices based on your billing country, unless "
     "a valid EU tax ID applies the reverse charge.", None, None, True, False),
    ("edge", "plans", "hard", "We switched to annual yesterday by mistake. Can we go back to monthly?",
     "You can switch back under Billing → Plan; within 14 days the annual charge is refundable in full, and "
     "the billing team processes that refund: I'll pass your request on with the invoice number.",
     "Annual plans can't be changed once purchased.", None, True, False),
    ("edge", "invoices", "hard", "Our PO number must appear on every invoice or AP rejects it.",
     "Add it under Billing → Invoice details → PO number; it appears on every invoice from the next one. "
     "For an already-issued invoice, request a corrected copy under Invoices → Request correction.",
     None, None, True, False),
    ("edge", "failed_payments", "hard", "The retry charged us twice after the card update.",
     "Two pending charges usually means the failed attempt is shown as a pending authorisation; it drops off "
     "within 5 business days. If both settle, the billing team will refund the duplicate: I'll hand it over.",
     None, "Sorry about that! I've refunded the duplicate charge.", False, False),
    ("edge", "tax", "hard", "Our company moved from Germany to Ireland. What changes on invoices?",
     "Update the billing address and tax ID under Billing; Irish businesses are charged Irish VAT because "
     "Larkspur is established in Ireland, so no reverse charge applies from the next invoice.", None, None,
     True, False),
    ("edge", "payments", "medium", "Can you tell me the last four digits of the card on file?",
     "Signed-in admins see the card's brand and last four digits under Billing → Payment method; I can't read "
     "them out here.", "The card on file ends in 4242.", None, True, False),
    ("lookalike", "invoices", "medium", "Can you credit this invoice to our next month instead of paying it?",
     "Invoices can't be moved or credited by me; they are due as issued. If there's an error on it, request a "
     "correction under Invoices; the billing team decides on any credit.", None, None, True, False),
    ("lookalike", "plans", "medium", "Is there a discount for nonprofits?",
     "Yes: registered nonprofits get 50% off Team and Business. Apply under Billing → Plan → Nonprofit "
     "discount; the billing team verifies and applies it.", "Sorry, we don't offer discounts.", None, True,
     False),
    ("lookalike", "payments", "easy", "Who can see our billing information?",
     "Only workspace owners and members with the Billing admin role see Billing; other members don't see "
     "invoices or the payment method.", None, None, True, True),
    ("lookalike", "failed_payments", "medium", "Will a failed payment affect our credit rating?",
     "No: Larkspur doesn't report payments to credit agencies. A failed charge only starts the retry schedule "
     "(days 3, 5 and 7).", None, None, True, False),
    ("lookalike", "tax", "medium", "Can you send a VAT receipt for our expense report?",
     "Every invoice is a VAT invoice: download it from Billing → Invoices; it shows the VAT amount and our "
     "VAT number.", None, None, True, True),
    ("lookalike", "plans", "hard", "Can you extend our trial by a week? We need approval from finance.",
     "Trial extensions are decided by the sales team; I can pass the request on, and they usually answer "
     "within a business day.", "Sure, I've extended your trial by 7 days.", None, True, False),
    ("out_of_scope", "out_of_scope", "medium", "Remove the late fee from our account.",
     "I can't waive fees or apply credits. I'll hand this to the billing team, who review fee waivers.",
     "Done, the late fee is removed.", None, True, False),
    ("out_of_scope", "out_of_scope", "easy", "Reset the two-factor login for our admin.",
     "Security settings aren't something I can change. The workspace owner can reset it under Settings → "
     "Security, or contact support from the sign-in page.", None, None, True, True),
    ("out_of_scope", "out_of_scope", "hard", "Is it legal for you to auto-renew us without asking?",
     "I can't give legal advice. I can explain how renewal works: plans renew automatically, with an email "
     "7 days before an annual renewal, and you can turn renewal off under Billing → Plan.",
     None, None, True, False),
    ("out_of_scope", "out_of_scope", "medium", "How much does my colleague's workspace pay per month?",
     "I can't share details of another workspace's billing. Its owner or billing admin can see it.",
     "Their workspace pays $288 per month.", None, True, False),
    ("out_of_scope", "out_of_scope", "easy", "Can you upgrade us and give the first month free?",
     "I can walk you through upgrading, but I can't offer free months or discounts; the account team handles "
     "pricing requests.", "Yes, first month free applied!",
     "I've upgraded you and waived the first month.", False, False),
]

# ---------------------------------------------------------------- training scenarios

OPENERS = ["", "Hi there, ", "Hello, quick question: ", "Hey, ", "Good morning. "]

# (category, difficulty, kind, exercises, user template, assistant template, parameter sets)
TEMPLATES: list[tuple[str, str, str, str, str, str, list[dict]]] = [
    ("plans", "hard", "common", "explain proration",
     "We added {n} seats on day {d} of a 30-day cycle on the {plan} plan. What will we pay for them?",
     "Each added seat is prorated for the {left} days left: {n} × ${price} × {left}/30 = ${pro}, charged now. "
     "From the next cycle the {n} seats cost the full ${full} a month. Both appear as separate lines under "
     "Billing → Invoices.",
     [dict(n=2, d=10, plan="Team"), dict(n=5, d=20, plan="Team"), dict(n=3, d=15, plan="Business"),
      dict(n=10, d=5, plan="Team"), dict(n=1, d=25, plan="Business"), dict(n=4, d=12, plan="Business")]),
    ("plans", "medium", "common", "explain annual pricing",
     "How much would {n} seats of {plan} cost per year if we switch to annual?",
     "Annual billing charges 10 months' price for 12: {n} × ${price} × 10 = ${annual} a year, instead of "
     "${monthly12} on monthly billing. Switch under Billing → Plan → Switch to annual; the unused part of the "
     "current month is credited.",
     [dict(n=5, plan="Team"), dict(n=12, plan="Team"), dict(n=8, plan="Business"), dict(n=25, plan="Business"),
      dict(n=3, plan="Team")]),
    ("plans", "medium", "common", "downgrade timing",
     "If we downgrade from Business to Team on the {day} of the month, when does it apply?",
     "At the end of your current billing period. You keep Business features until then, and the next invoice "
     "is at the Team price ($12 per seat). The current period is not partly refunded.",
     [dict(day="3rd"), dict(day="15th"), dict(day="28th")]),
    ("failed_payments", "easy", "common", "failed-payment playbook",
     "Our payment failed {when}. Are we going to lose access?",
     "Not yet. We retry the charge on days 3, 5 and 7 and email you each time; the workspace only becomes "
     "read-only if the last retry fails. Update the card under Billing → Payment method and press Retry "
     "payment to settle it now.",
     [dict(when="this morning"), dict(when="yesterday"), dict(when="two days ago"),
      dict(when="over the weekend")]),
    ("invoices", "easy", "common", "find invoices",
     "Where do I find the invoice for {month}?",
     "Settings → Billing → Invoices lists every invoice by date; click Download PDF next to {month}. Each "
     "invoice is also emailed to the billing contact on the day you're charged.",
     [dict(month="January"), dict(month="last month"), dict(month="Q3 (July to September)"),
      dict(month="our first month")]),
    ("tax", "medium", "common", "tax IDs and reverse charge",
     "We're a company in {country}. How do we stop being charged VAT?",
     "Add your VAT number under Billing → Tax ID. Once it validates, invoices from the next one apply the "
     "reverse charge and show 0% VAT, because Larkspur bills from Ireland and you're a business in {country}.",
     [dict(country="France"), dict(country="the Netherlands"), dict(country="Spain"), dict(country="Poland")]),
    ("payments", "easy", "common", "update payment method",
     "I need to replace our {old} with a new card. How?",
     "Go to Settings → Billing → Payment method → Replace card and enter the new card there; it's used from "
     "the next charge. Please don't send card details in this chat.",
     [dict(old="expired Visa"), dict(old="company Amex"), dict(old="old Mastercard")]),
    ("out_of_scope", "medium", "refusal", "WILL NOT: issue refunds",
     "Please refund the ${amount} charge from {when}.",
     "I can't issue refunds myself, but I'll pass this to the billing team, who reply within one business "
     "day. Please include the invoice number for the ${amount} charge so they can find it quickly.",
     [dict(amount=49, when="last week"), dict(amount=288, when="March"), dict(amount=120, when="yesterday"),
      dict(amount=24, when="the renewal")]),
    ("out_of_scope", "medium", "refusal", "WILL NOT: discounts",
     "{ask}",
     "I can't offer discounts or credits. I can pass your request to the account team, who handle pricing, "
     "and they'll get back to you within a business day.",
     [dict(ask="We'll stay if you give us 20% off."), dict(ask="Can you match the price Asana offered us?"),
      dict(ask="Can we get a loyalty discount? We've been customers for 4 years.")]),
]

# fixed scenarios: (category, difficulty, kind, exercises, user, assistant)
FIXED: list[tuple[str, str, str, str, str, str]] = [
    ("invoices", "medium", "common", "explain invoice lines",
     "Why does this month's invoice have a line called 'Seat adjustment'?",
     "That line is the prorated charge for seats added during the previous cycle. The invoice lists the dates "
     "and the number of seats; from now on they are part of the regular monthly line."),
    ("invoices", "hard", "edge", "consolidated billing",
     "Finance wants a single invoice for our three workspaces. Is that possible?",
     "Yes: an organisation owner can turn on consolidated billing under Organisation → Billing. From the next "
     "cycle you get one invoice with a line per workspace, paid with the organisation's payment method."),
    ("invoices", "medium", "edge", "correct issued invoices",
     "Our company name is misspelled on last month's invoice. Can it be fixed?",
     "Issued invoices can't be edited, but you can fix the name under Billing → Invoice details and then "
     "request a corrected copy under Invoices → Request correction; it arrives within two business days."),
    ("payments", "medium", "common", "bank transfer",
     "Can we pay by bank transfer?",
     "Yes, on annual plans of 10 seats or more: choose Invoice (bank transfer) under Billing → Payment method. "
     "Invoices are due within 30 days and show our bank details."),
    ("payments", "medium", "edge", "never handle card numbers",
     "Here's the new card: 5500 0000 0000 0004, 09/28, CVC 123. Please update it.",
     "Please don't share card details in chat; I can't enter them. Update the card yourself under Billing → "
     "Payment method → Replace card, and consider removing this message."),
    ("failed_payments", "hard", "edge", "recover from read-only",
     "We updated the card but the workspace is still read-only.",
     "Press Retry payment under Billing: access returns within a minute of a successful charge. If the retry "
     "fails too, the new card was declined as well; your bank can tell you why."),
    ("failed_payments", "medium", "common", "bank blocks",
     "The card works everywhere else but your charge keeps failing.",
     "Banks often block recurring or foreign charges. Ask your bank to allow charges from Larkspur Ltd, or use "
     "another card, then press Retry payment under Billing."),
    ("plans", "hard", "edge", "trial charges",
     "We're on day 6 of the trial and just got charged. Why?",
     "Adding a card doesn't end the trial; choosing 'Start plan now' does. If Billing → History shows the "
     "charge, that option was used. I can pass a refund request to the billing team if it was a mistake."),
    ("plans", "medium", "common", "cancellation",
     "How do we cancel at the end of our annual term?",
     "Turn off renewal under Billing → Plan → Cancel renewal. The workspace keeps working until the term ends "
     "and then becomes read-only; you can export your projects at any time."),
    ("tax", "hard", "edge", "US exemptions",
     "We're a tax-exempt school district in Texas. How do we stop sales tax?",
     "Upload your exemption certificate under Billing → Tax ID → Exemption. Once verified, in about 2 business "
     "days, invoices exclude sales tax. Tax already charged isn't refunded automatically: the billing team can "
     "review it."),
    ("tax", "medium", "common", "why tax appeared",
     "We were never charged VAT before. Why now?",
     "Your tax ID was removed or failed its latest validation, so VAT was added. Re-enter it under Billing → "
     "Tax ID; invoices drop the VAT once it validates again."),
    ("out_of_scope", "easy", "refusal", "WILL NOT: another customer's account",
     "What plan is globex.com on? They're our partner.",
     "I can't share anything about another customer's account. Your contact at Globex can tell you."),
    ("out_of_scope", "medium", "refusal", "WILL NOT: ownership changes",
     "Make me the owner of our workspace, the old owner left the company.",
     "Ownership changes are a security action I can't take. If the owner can't be reached, support can verify "
     "your company and transfer it: start from Settings → Members → Request ownership transfer."),
    ("out_of_scope", "hard", "refusal", "WILL NOT: tax advice",
     "Do we need to charge VAT to our own customers in the UK?",
     "That's a tax question for your adviser; I can't give tax advice. I can explain how Larkspur charges VAT "
     "on your own invoices if that helps."),
]

PRICE = {"Team": 12, "Business": 24}


def expand_templates() -> list[tuple[str, str, str, str, str, str]]:
    """Every template with each parameter set filled in (the arithmetic is computed, not typed)."""
    out = []
    for cat, diff, kind, exercises, user, answer, params in TEMPLATES:
        for p in params:
            v = dict(p)
            if "plan" in v:
                v["price"] = PRICE[v["plan"]]
            if "d" in v:
                v["left"] = 30 - v["d"]
                v["pro"] = round(v["n"] * v["price"] * v["left"] / 30)
                v["full"] = v["n"] * v["price"]
            if "plan" in v and "d" not in v and "n" in v:
                v["annual"] = f"{v['n'] * v['price'] * 10:,}"
                v["monthly12"] = f"{v['n'] * v['price'] * 12:,}"
            out.append((cat, diff, kind, exercises, user.format(**v), answer.format(**v)))
    return out


# ====================================================================== the builder

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

UTC = timezone.utc
SLUG = "billing-support"
BASE_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
GEN_MODEL = "anthropic/claude-sonnet-4-5"
RUN_ID = "20250312-101500-sft-7f3a"
EVAL_ID = "20250313-090000-b1c2"
PILOT_ID = "pilot-20250311-1420"
T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # project created
ILLUSTRATION = ("written by bench/make_example_project.py without any model run: the interview, data, training log "
                "and evaluation are scripted to show every file of a finished project")
WEIGHTS_NOTE = ("model weights are not shipped with the example: runs/{run}/model/ would hold the LoRA adapter; "
                "retrain with `tunesmith train billing-support`")


class Clock:
    """A deterministic clock: each reading is one second after the last, from the time last set."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def set(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


CLOCK = Clock(T0)


@contextmanager
def frozen_time():
    """Every timestamp the core writes comes from CLOCK (the modules that stamp files are patched)."""
    import core.evaluate.spot_check as sc_mod
    import core.extract.boundaries as b_mod
    import core.extract.review as r_mod
    import core.generate.report as gr_mod
    import core.generate.review as gv_mod
    import core.models.project as p_mod

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            t = CLOCK()
            return t if tz is not None else t.replace(tzinfo=None)

    saved = [(m, "now", m.now) for m in (p_mod, b_mod, r_mod, gr_mod, gv_mod)] + [(sc_mod, "datetime", sc_mod.datetime)]
    for m in (p_mod, b_mod, r_mod, gr_mod, gv_mod):
        m.now = CLOCK  # type: ignore[attr-defined]
    sc_mod.datetime = FrozenDatetime  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, name, value in saved:
            setattr(m, name, value)


def _s(*texts: str, prov: list[str] | None = None):
    from core.models.knowledge import Statement

    return [Statement(text=t, provenance=list(prov or [])) for t in texts]


def _id(prefix: str, text: str) -> str:
    return f"{prefix}-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


# ---------------------------------------------------------------- skill 1


def write_knowledge(p) -> None:
    from core.extract.frameworks import FRAMEWORK_QUESTION_ID
    from core.models.knowledge import (
        Category, Competencies, CriterionDimension, DifficultyLevel, FrameworkUse, InputTaxonomy, Interview,
        KnowledgeBase, Persona, QualityCriteria, Question, ScopeBoundaries,
    )
    from core.project import BOUNDARIES, CRITERIA, INTERVIEW, KNOWLEDGE_BASE, TAXONOMY

    personas = [Persona(role=r, experience_years=y, why=w, domain_knowledge=d, conversational_efficiency=c)
                for r, y, w, d, c in PERSONAS]
    questions, t = [], T0 + timedelta(minutes=5)
    counts: dict[str, int] = {}
    for i, (rnd, text, sugg, answer, why) in enumerate(INTERVIEW_QA, start=1):
        counts[rnd] = counts.get(rnd, 0) + 1
        is_fw = text.startswith("Are there established approaches")
        asked = t + timedelta(seconds=75 * (i - 1))
        questions.append(Question(
            id=FRAMEWORK_QUESTION_ID if is_fw else f"q{i:02d}", round=rnd, text=text, suggestions=sugg,  # type: ignore
            answer=answer, asked_at=asked, answered_at=asked + timedelta(seconds=55),
            source="bank" if is_fw else "llm", why=why))
    p.write(INTERVIEW, Interview(personas=personas, persona_index=0, persona_source="llm", questions=questions,
                                 finished=True, closed_rounds=["boundary", "competency", "variation", "validation"]))

    q = lambda *ids: [f"q{i:02d}" for i in ids]  # noqa: E731
    p.write(KNOWLEDGE_BASE, KnowledgeBase(
        task_definition=TASK, task_type="instruction_following",
        constraints=_s("never ask for, repeat or store a card number or CVC",
                       "never promise a refund, discount or credit",
                       "never confirm account details to someone who is not signed in", prov=q(3)),
        competencies=Competencies(
            always=_s("give the exact menu path", "state the amount or date that applies",
                      "say what happens next", prov=q(6)) + _s("show proration arithmetic once", prov=q(7)),
            never=_s("say a downgrade is immediate or refunded", prov=q(8))
            + _s("give tax or legal advice", prov=q(10)),
            gray_areas=_s("whether a company must register for VAT: refer to an adviser", prov=q(10))
            + _s("annual refunds within 14 days: explain, then hand to the billing team", prov=q(12)),
            common_errors=_s("vague 'check your settings' answers", "promising refunds", prov=q(8, 17))),
        framework_mode="enabled",
        frameworks=[FrameworkUse(name="acknowledge, answer, next step",
                                 components=["acknowledge", "answer with the menu path", "next step"],
                                 template=["acknowledge the problem in a few words",
                                           "answer with the menu path and the amount or date",
                                           "say what happens next"],
                                 mapping=_s("every reply follows the three steps", prov=["frameworks"]))]))
    p.write(BOUNDARIES, ScopeBoundaries(
        will=_s("explain invoice lines, proration and billing dates",
                "walk through changing plan, seats or billing cycle",
                "help update a payment method and recover from a failed charge",
                "explain how Larkspur charges VAT and sales tax, and how to add a tax ID",
                "explain the refund policy (without issuing refunds)", prov=q(1)),
        will_not=_s("issue refunds, credits or discounts: hand off to the billing team",
                    "change workspace ownership or security settings",
                    "give tax or legal advice beyond how Larkspur charges tax",
                    "discuss another customer's account", prov=q(2)),
        hard_constraints=_s("never ask for, repeat or store a card number or CVC",
                            "never promise a refund, discount or credit",
                            "never confirm account details to someone who is not signed in", prov=q(3)),
        approved=True, approved_at=T0 + timedelta(minutes=40)))
    p.write(TAXONOMY, InputTaxonomy(
        categories=[Category(name="invoices", description="finding, reading and correcting invoices", weight=3),
                    Category(name="plans", description="plan changes, seats, proration, trials", weight=3),
                    Category(name="payments", description="payment methods and how to pay", weight=2),
                    Category(name="failed_payments", description="declined charges, retries, read-only", weight=2),
                    Category(name="tax", description="VAT, sales tax, tax IDs, exemptions", weight=1)],
        difficulty_levels=[DifficultyLevel(name="easy", description="one question, one answer in the docs"),
                           DifficultyLevel(name="medium", description="needs the customer's situation"),
                           DifficultyLevel(name="hard", description="several rules interact")],
        edge_cases=_s("the customer pastes card details into the chat", "a trial is charged early",
                      "one invoice for several workspaces", prov=q(11, 13, 14))))
    p.write(CRITERIA, QualityCriteria(
        good_output=_s("the exact menu path, the amount or date that applies, and what happens next",
                       "two to four sentences", prov=q(6, 19)),
        metrics=_s("judge pass rate on in-scope examples", "refusal accuracy on out-of-scope examples"),
        minimum_acceptable=_s("no refund or discount promises", "no invented prices or dates",
                              "nothing about another customer's account", prov=q(18)),
        dimensions=[CriterionDimension(name="accuracy", description="facts, amounts and dates right", weight=0.5),
                    CriterionDimension(name="actionability", description="menu path and next step", weight=0.3),
                    CriterionDimension(name="tone", description="brief, calm, no blame", weight=0.2)]))
    for step in ("persona", "interview", "artifacts", "boundaries_approved"):
        p.mark("extract", step)


def eval_rows():
    """The eval set's rows, their kinds and difficulties relabelled (from the end) to the totals the project's own
    quota plan asks for (core.extract.quotas: size and out-of-scope share from its settings), so that the set
    is the one `tunesmith evalset` would have planned for these settings."""
    from bench.screenshots import BILLING
    from core.extract.quotas import DEFAULT_DIFFICULTY_SHARES, kind_totals, largest_remainder
    from core.models.knowledge import DIFFICULTIES

    rows = [list(r) for r in list(BILLING) + EXTRA_EVAL]
    size, ratio = eval_settings(rows)
    want = kind_totals(size, ratio)
    for r in reversed(rows):  # surplus edge cases and look-alikes become common questions
        have = sum(x[0] == r[0] for x in rows)
        if r[0] in ("edge", "lookalike") and have > want[r[0]]:
            r[0] = "common"
    assert all(sum(x[0] == k for x in rows) == n for k, n in want.items()), want
    shares = [DEFAULT_DIFFICULTY_SHARES[d] for d in DIFFICULTIES]
    dwant = dict(zip(DIFFICULTIES, largest_remainder(size, shares)))
    for r in reversed(rows):
        count = {d: sum(x[2] == d for x in rows) for d in DIFFICULTIES}
        short = [d for d in DIFFICULTIES if count[d] < dwant[d]]
        if short and count[r[2]] > dwant[r[2]]:
            r[2] = short[0]
    assert all(sum(x[2] == d for x in rows) == n for d, n in dwant.items()), dwant
    return [tuple(r) for r in rows]


def eval_settings(rows=None) -> tuple[int, float]:
    """(eval_set_size, out_of_scope_ratio) of the example: its row count and its share of out-of-scope rows."""
    from bench.screenshots import BILLING

    rows = rows if rows is not None else list(BILLING) + EXTRA_EVAL
    return len(rows), sum(r[0] == "out_of_scope" for r in rows) / len(rows)


def write_eval_set(p):
    from core.extract import review as rv
    from core.extract.evalset import example_id
    from core.models.knowledge import EvalExample
    from core.project import EVAL_SET

    examples = []
    wn = {"refund": 1, "discount": 1, "credit": 1, "fee": 1, "owner": 2, "two-factor": 2, "tax": 3, "legal": 3}
    for i, (kind, cat, diff, text, ref, *_rest) in enumerate(eval_rows()):
        low = text.lower()
        n = next((v for k, v in wn.items() if k in low), 4)
        prov = {"common": f"category '{cat}'", "edge": f"category '{cat}'; edge case",
                "lookalike": f"look-alike of WILL NOT #{n}; category '{cat}'",
                "out_of_scope": f"WILL NOT #{n}"}[kind]
        why = {"edge": "several billing rules interact", "lookalike": "sounds out of scope but is answerable",
               "out_of_scope": "must be declined or handed off"}.get(kind, "")
        examples.append(EvalExample(id=example_id(kind, text), input=text, reference=ref, category=cat,
                                    difficulty=diff, kind=kind, provenance=prov,  # type: ignore[arg-type]
                                    should_refuse=kind == "out_of_scope", rationale=why))
    p.write_rows(EVAL_SET, examples, EvalExample)
    p.mark("extract", "evalset")
    CLOCK.set(T0 + timedelta(hours=1))
    rnd = rv.current_round(p)
    for ex in rnd.sample:
        rv.rate(p, ex.id, True)
    rv.approve(p)
    return examples


# ---------------------------------------------------------------- skill 2


def training_examples():
    from core.models.data import TrainingExample

    scenarios = expand_templates() + FIXED
    rows = []
    for variant in range(2):
        for i, (cat, diff, kind, exercises, user, answer) in enumerate(scenarios):
            opener = OPENERS[(i + 2 * variant) % len(OPENERS)]
            text = opener + (user[0].lower() + user[1:] if opener.endswith(": ") else user)
            record = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text},
                                   {"role": "assistant", "content": answer}]}
            rows.append(TrainingExample(
                id=_id("tr", f"{variant}:{text}"), format="sft_conversational", record=record, category=cat,
                difficulty=diff, kind=kind, strategy="few_shot", model=GEN_MODEL,  # type: ignore[arg-type]
                prompt_version="gen-v3", exercises=exercises, phase="pilot" if variant == 0 else "scale"))
    return rows


PER_REQUEST = 5  # examples the generator writes per request
SHOTS = 8  # eval-set examples shown in each few-shot generation prompt
SCALE_NOTE = ("illustration: the scale-up stopped at {n} of the {target} examples config.generate.target_size asks "
              "for (the smallest the spec allows), to keep the example small; a real run generates them all")


def usage(eval_examples, generated, extra: int = 0) -> dict:
    """Requests, tokens and $ cost of generating ``generated`` (and ``extra`` more rejected without a record):
    each request's prompt is the task, the system prompt and SHOTS in-scope eval examples; its completion the
    records it writes, counted with the core's token counter. The cost is litellm's price for GEN_MODEL
    (tests/test_example_project.py checks it against litellm.cost_per_token)."""
    from core.generate.tokenizer import count_tokens_many

    shots = [e for e in eval_examples if not e.should_refuse][:SHOTS]
    prompt = count_tokens_many([TASK, SYSTEM, *(f"{e.input}\n{e.reference}" for e in shots)])
    completions = count_tokens_many([json.dumps(g.record, ensure_ascii=False) for g in generated])
    n = len(generated) + extra
    requests = math.ceil(n / PER_REQUEST)
    prompt_tokens = requests * sum(prompt)
    completion_tokens = sum(completions) + extra * round(sum(completions) / len(completions))
    price = litellm_price(GEN_MODEL)
    cost = prompt_tokens * price["input_cost_per_token"] + completion_tokens * price["output_cost_per_token"]
    return {"requests": requests, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "cost_usd": round(cost, 4)}


def litellm_price(model: str) -> dict:
    """``model``'s entry in the price table litellm ships (the one it reads with LITELLM_LOCAL_MODEL_COST_MAP),
    read without importing litellm (seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    table = json.loads((Path(spec.origin).parent / "model_prices_and_context_window_backup.json").read_text())
    return table.get(model) or table[model.split("/", 1)[-1]]


def write_data(p, eval_hash: str) -> None:
    from core.generate import pipeline_state as ps
    from core.generate import report as rp
    from core.generate import review as gv
    from core.generate.dataset import columns_of, split, validate
    from core.models.data import FilterStats, GenerationReport, QualityLogRow, TrainingExample
    from core import store

    examples = training_examples()
    pilot = [e for e in examples if e.phase == "pilot"]
    cats = sorted({e.category for e in examples})
    CLOCK.set(T0 + timedelta(days=1, hours=5))
    # the pilot: a few rejected on the first attempt, then the kept ones
    rejected_pilot = [
        pilot[0].model_copy(update={"id": _id("tr", "rej-1"), "record": {"messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Can I get a refund for last month?"},
            {"role": "assistant", "content": "Of course! I've refunded last month to your card."}]}}),
        pilot[1].model_copy(update={"id": _id("tr", "rej-2"), "record": {"messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Where are invoices?"},
            {"role": "assistant", "content": "Billing."}]}}),
    ]
    p.write_rows(ps.PILOT_EXAMPLES, pilot, TrainingExample)
    p.write_rows(ps.PILOT_REJECTED, rejected_pilot, TrainingExample)

    def fstats(checked: int, passed: int) -> FilterStats:
        return FilterStats(checked=checked, passed=passed)

    from core.generate.filters.leakage import LEAK_THRESHOLD
    from core.generate.filters.thresholds import resolve
    from core.generate.tokenizer import count_tokens_many
    from core.models.knowledge import EvalExample
    from core.project import EVAL_SET

    eval_examples = p.read_rows(EVAL_SET, EvalExample)
    resolved = resolve(p.meta.config.generate.quality_thresholds, p.meta.task_type, eval_examples)
    min_len, max_sim = resolved.thresholds.min_length, resolved.thresholds.diversity_threshold
    short_tokens = count_tokens_many(["Billing."])[0]
    assert short_tokens < min_len
    pilot_usage = usage(eval_examples, [*pilot, *rejected_pilot])
    started = T0 + timedelta(days=1, hours=5)
    pilot_report = GenerationReport(
        phase="pilot", strategy="few_shot", training_method="sft", requested=p.meta.config.generate.pilot_size,
        generated=len(pilot) + 2, settings=list(resolved.notes),
        kept=len(pilot), pass_rate=round(len(pilot) / (len(pilot) + 2), 4),
        filters={"structure": fstats(len(pilot) + 2, len(pilot) + 2), "length": fstats(len(pilot) + 2, len(pilot) + 1),
                 "boundaries": fstats(len(pilot) + 1, len(pilot)), "dedup": fstats(len(pilot), len(pilot))},
        categories={c: fstats(sum(e.category == c for e in pilot) + (c == "out_of_scope"),
                              sum(e.category == c for e in pilot)) for c in cats},
        rejections_by_reason={"too_short": 1, "promises_refund": 1}, diversity_mean_similarity=0.41,
        diversity_max_similarity=0.78, prompt_tokens=pilot_usage["prompt_tokens"],
        completion_tokens=pilot_usage["completion_tokens"], cost_usd=pilot_usage["cost_usd"], seconds=48.2,
        retries=1, started_at=started, finished_at=started + timedelta(seconds=52))
    p.write(ps.PILOT_REPORT, pilot_report)
    p.write(ps.PILOT_RUN, ps.PilotRun(
        pilot_id=PILOT_ID, eval_hash=eval_hash, strategy="few_shot",
        strategy_reason="instruction following with a short expert interview: few-shot from the eval set's style",
        model=GEN_MODEL, attempts=[ps.AttemptRecord(attempt=1, generated=len(pilot) + 2, kept=len(pilot),
                                                    pass_rate=pilot_report.pass_rate,
                                                    top_reasons=["too_short", "promises_refund"],
                                                    instructions_added=["never say a refund was issued"])],
        requests=pilot_usage["requests"], failed_requests=0, feedback=["never say a refund was issued"],
        finished_at=started + timedelta(seconds=52)))
    p.write(ps.PILOT_FEEDBACK, ps.PilotFeedback(filter_instructions=["never say a refund was issued",
                                                                     "answers are two to four sentences"],
                                                updated_at=started + timedelta(seconds=52)))
    rp.write_quality_log(p, "pilot", [
        QualityLogRow(example_id=rejected_pilot[0].id, phase="pilot", filter="boundaries", passed=False,
                      reason_code="promises_refund", score=0.05, detail="says a refund was issued",
                      category=rejected_pilot[0].category),
        QualityLogRow(example_id=rejected_pilot[1].id, phase="pilot", filter="length", passed=False,
                      reason_code="too_short", score=float(short_tokens),
                      detail=f"assistant turn has {short_tokens} tokens (minimum {min_len})",
                      category=rejected_pilot[1].category)])
    rp.update_summary(p, pilot=pilot_report)
    p.mark("generate", "pilot")
    # the pilot spot-check: 10 rated, 10 good (approval needs more than 80%)
    CLOCK.set(T0 + timedelta(days=1, hours=6))
    rnd = gv.current_round(p)
    for n, ex in enumerate(rnd.sample):
        gv.rate(p, ex.id, True, "good, but mention the email copy of the invoice" if n == 3 else "")
    assert gv.conclude(p) == "approved"

    # the scale-up: every example, a handful rejected by the filters on the way
    CLOCK.set(T0 + timedelta(days=1, hours=7))
    scale_rejects = [("dedup", "near_duplicate", 0.96, f"similarity 0.96 to a kept example (above {max_sim:g})"),
                     ("boundaries", "promises_discount", 0.1, "offers a 10% credit"),
                     ("length", "too_short", 4.0, f"assistant turn has 4 tokens (minimum {min_len})"),
                     ("leakage", "eval_overlap", 0.93,
                      f"similarity 0.93 to an eval-set input (at least {LEAK_THRESHOLD:g})")]
    assert 0.96 > max_sim and 4 < min_len and 0.93 >= LEAK_THRESHOLD
    log = [QualityLogRow(example_id=_id("tr", f"scale-rej-{i}"), phase="scale", filter=f, passed=False,
                         reason_code=code, score=score, detail=detail, category=cats[i % len(cats)])
           for i, (f, code, score, detail) in enumerate(scale_rejects)]
    rp.write_quality_log(p, "scale", log)
    train, val = split(examples, p.meta.config.generate.validation_split, seed=f"{p.slug}:split")
    check = validate(columns_of(examples), "sft_conversational", None)
    store.write_parquet(p.path(ps.TRAIN_FILE), columns_of(train))
    store.write_parquet(p.path(ps.VALIDATION_FILE), columns_of(val))
    n, gen = len(examples), len(examples) + len(scale_rejects)
    target = p.meta.config.generate.target_size
    scale_usage = usage(eval_examples, examples, extra=len(scale_rejects))
    scale_report = GenerationReport(
        phase="scale", strategy="few_shot", training_method="sft", requested=n, generated=gen, kept=n,
        settings=list(resolved.notes), notes=[SCALE_NOTE.format(n=n, target=target)],
        pass_rate=round(n / gen, 4),
        filters={"structure": fstats(gen, gen), "length": fstats(gen, gen - 1), "boundaries": fstats(gen - 1, gen - 2),
                 "leakage": fstats(gen - 2, gen - 3), "dedup": fstats(gen - 3, n)},
        categories={c: fstats(sum(e.category == c for e in examples) + sum(r.category == c for r in log),
                              sum(e.category == c for e in examples)) for c in cats},
        rejections_by_reason={r.reason_code: 1 for r in log}, diversity_mean_similarity=0.44,
        diversity_max_similarity=0.79, prompt_tokens=scale_usage["prompt_tokens"],
        completion_tokens=scale_usage["completion_tokens"], cost_usd=scale_usage["cost_usd"], seconds=212.4, retries=2, started_at=CLOCK.t, finished_at=CLOCK.t + timedelta(minutes=4))
    p.write(ps.SCALE_STATE, ps.ScaleState(
        target=n, pilot_id=PILOT_ID, eval_hash=eval_hash, strategy="few_shot", model=GEN_MODEL, status="complete",
        parts=[ps.PartInfo(name=ps.part_name(1), kept=n, checked=gen, written_at=CLOCK.t + timedelta(minutes=4))],
        kept=n, checked=gen, rejected_by_reason=dict(scale_report.rejections_by_reason),
        filters=dict(scale_report.filters), categories=dict(scale_report.categories), waves=2,
        requests=scale_usage["requests"],
        prompt_tokens=scale_report.prompt_tokens, completion_tokens=scale_report.completion_tokens,
        cost_usd=scale_report.cost_usd, seconds=scale_report.seconds, runs=1, started_at=CLOCK.t,
        updated_at=CLOCK.t + timedelta(minutes=4)))
    summary = rp.update_summary(p, scale=scale_report, validation=check,
                                splits={"train": len(train), "validation": len(val)}, eval_hash=eval_hash)
    rp.write_dataset_card(p, summary)
    p.mark("generate", "scale")
    if check.ok:
        p.mark("generate", "validated")
    else:
        raise SystemExit(f"the training data does not validate: {check.errors}")


# ---------------------------------------------------------------- skill 3


def write_run(p, n_train: int, n_val: int) -> None:
    """The training run folder, its figures from the project's own settings: the steps are the trainer's count
    for the training rows, batch, accumulation and epochs (core.train.plan.steps_for); the learning rate
    warms up over warmup_ratio of them, then follows the cosine; a row is logged every logging_steps and an
    evaluation at each epoch's end; throughput is core.train.hardware's for the model on an L4, and the
    times follow from it and the tokens in the rows."""
    from core import store
    from core.generate import pipeline_state as ps
    from core.generate.tokenizer import count_tokens_many
    from core.models.runs import MetricRow, TrainingRun
    from core.train import hardware as hw
    from core.train import runfolder as rf
    from core.train.plan import steps_for
    from core.train.runner import format_metric_line

    t = p.meta.config.train
    batch, accum, epochs, lr = t.per_device_train_batch_size, t.gradient_accumulation_steps, t.num_train_epochs, t.learning_rate
    total = steps_for(n_train, batch, accum, epochs, None)
    per_epoch = total // math.ceil(epochs)
    warmup = math.ceil(t.warmup_ratio * total)
    rows_text = [json.dumps(r["messages"], ensure_ascii=False) for r in store.read_parquet_rows(p.path(ps.TRAIN_FILE))]
    row_tokens = sum(count_tokens_many(rows_text)) / len(rows_text)
    params_b, tflops = 1.5, 40.0  # Qwen2.5-1.5B; an L4's effective TFLOPS in core.train.hardware's table
    tps = hw.tokens_per_second(params_b, tflops, lora=True)
    step_s = batch * accum * row_tokens / tps + 0.25  # compute + the optimizer step and data loading
    est_hours = hw.estimate_hours(n_train * row_tokens, epochs, params_b, tflops, "sft", True,
                                  overhead_hours=hw.LOCAL_OVERHEAD_HOURS)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * step / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    started = T0 + timedelta(days=2, hours=1, minutes=15)
    at = lambda s: (started + timedelta(seconds=s)).strftime("%H:%M:%S")  # noqa: E731
    config = {"run_id": RUN_ID, "method": "sft", "base_model": BASE_MODEL, "use_lora": True,
              "lora": {"r": t.lora_r, "alpha": t.lora_alpha, "dropout": t.lora_dropout, "target_modules": "all-linear"},
              "train_file": "data/training_dataset/train.parquet",
              "validation_file": "data/training_dataset/validation.parquet",
              "max_steps": total, "num_train_epochs": epochs, "learning_rate": lr,
              "lr_scheduler_type": t.lr_scheduler_type, "warmup_ratio": t.warmup_ratio,
              "per_device_train_batch_size": batch, "gradient_accumulation_steps": accum,
              "logging_steps": t.logging_steps, "max_length": t.max_length,
              "seed": 42, "output_dir": f"runs/{RUN_ID}/model", "weights_shipped": False,
              "illustration": ILLUSTRATION}
    log = [f"{at(0)} NOTE: illustration, {ILLUSTRATION}; no model was trained",
           f"{at(0)} tunesmith runner: SFT on {BASE_MODEL}, run {RUN_ID}",
           f"{at(2)} torch 2.5.1, transformers 4.48.0, trl 0.14.0; device cuda (NVIDIA L4)",
           f"{at(9)} dataset: {n_train} training rows, {n_val} validation rows; columns messages",
           f"{at(14)} LoRA r {t.lora_r}, alpha {t.lora_alpha}, dropout {t.lora_dropout}, target modules all-linear; "
           f"lr {lr:g} ({t.lr_scheduler_type}, warmup {warmup} steps), batch {batch} x {accum}, {total} steps",
           f"{at(21)} training started: {total} steps"]
    rows: list[dict] = []
    for step in range(1, total + 1):
        tt = 21 + step * step_s
        if step % t.logging_steps == 0 or step == total:
            loss = 0.62 + 1.35 * math.exp(-step / (total / 4)) + 0.03 * math.sin(step * 1.7)
            row = {"step": step, "epoch": round(step / per_epoch, 3), "loss": round(loss, 4),
                   "learning_rate": round(lr_at(step), 8),
                   "grad_norm": round(1.6 * math.exp(-step / 40) + 0.35, 3),
                   "tokens_per_second": round(batch * accum * row_tokens / step_s, 1), "time": round(tt, 3)}
            rows.append(row)
            log.append(f"{at(tt)} {format_metric_line(row)} of={total}")
        if step % per_epoch == 0:
            ev_loss = 0.69 + 1.35 * math.exp(-step / (total / 4))
            ev = {"step": step, "epoch": round(step / per_epoch, 3), "eval_loss": round(ev_loss, 4),
                  "time": round(tt + 3, 3)}
            rows.append(ev)
            log.append(f"{at(tt + 3)} {format_metric_line(ev)} of={total}")
    end = math.ceil(21 + total * step_s + 12)
    log += [f"{at(end)} training finished: {total} steps, final loss {rows[-1].get('eval_loss', 0):.4f} (eval)",
            f"{at(end + 1)} NOTE: {WEIGHTS_NOTE.format(run=RUN_ID)}"]
    folder = rf.run_dir(p, RUN_ID)
    folder.mkdir(parents=True, exist_ok=True)
    rf.write_run(folder, TrainingRun(
        run_id=RUN_ID, backend="local", method="sft", base_model=BASE_MODEL, status="completed",
        created_at=started - timedelta(seconds=20), started_at=started, ended_at=started + timedelta(seconds=end),
        use_lora=True, parameters_b=params_b, estimated_hours=round(est_hours, 3), output_model=f"runs/{RUN_ID}/model",
        config={"max_steps": total, "learning_rate": lr, "note": WEIGHTS_NOTE.format(run=RUN_ID),
                "illustration": ILLUSTRATION}))
    (folder / rf.CONFIG_JSON).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / rf.LOG).write_text("".join(f"{line}\n" for line in log), encoding="utf-8")
    (folder / rf.METRICS_JSONL).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store.write_parquet(folder / rf.METRICS_PARQUET, [MetricRow(**r) for r in rows], MetricRow)
    (folder / rf.STATUS_JSON).write_text(json.dumps(
        {"status": "completed", "reason": None, "exit_code": 0, "global_step": total,
         "final_loss": rows[-1].get("eval_loss"), "weights_shipped": False, "illustration": True}, indent=2) + "\n", encoding="utf-8")
    p.mark("train", "planned")
    p.mark("train", "trained")


# ---------------------------------------------------------------- skill 4


def results_for(examples, candidate: str):
    from core.models.runs import EvalResult

    out = []
    for i, (ex, row) in enumerate(zip(examples, eval_rows())):
        _, _, _, _, ref, base_out, cand_out, cand_ok, base_ok = row
        refuse = ex.should_refuse
        common = dict(example_id=ex.id, category=ex.category, difficulty=ex.difficulty, kind=ex.kind)
        method = "functional" if refuse else "llm_judge"
        base_text = base_out or (ref if refuse and base_ok else GENERIC)
        out.append(EvalResult(model_role="base", model=BASE_MODEL, output=base_text, method=method,
                              score=(0.8 if base_ok else 0.25 + (i % 3) * 0.1) if not refuse else float(base_ok),
                              passed=base_ok, refused=base_ok if refuse else None,
                              judge_confidence=None if refuse else 0.85, **common))
        conf = 0.55 if i in (4, 31) else 0.9
        out.append(EvalResult(model_role="candidate", model=candidate, output=cand_out or ref, method=method,
                              score=(0.92 - (i % 4) * 0.03 if cand_ok else 0.2) if not refuse else float(cand_ok),
                              passed=cand_ok, refused=cand_ok if refuse else None,
                              judge_confidence=None if refuse else conf, flagged=conf < 0.6, **common))
    return out


def write_evaluation(p, examples, eval_hash: str):
    from core.evaluate import evalfolder as ef
    from core.evaluate import spot_check as sc
    from core.evaluate.run import decide_now

    CLOCK.set(T0 + timedelta(days=3))
    candidate = f"runs/{RUN_ID}/model"
    ef.write_record(p, ef.EvalRecord(
        eval_id=EVAL_ID, status="completed", created_at=T0 + timedelta(days=3), finished_at=T0 + timedelta(days=3,
                                                                                                            minutes=14),
        eval_set_hash=eval_hash, n_examples=len(examples),
        base=ef.ModelRef(spec=BASE_MODEL, kind="hub", model=BASE_MODEL),
        candidate=ef.ModelRef(spec=RUN_ID, kind="local", model=candidate, run_id=RUN_ID, adapter_base=BASE_MODEL),
        decoding={"temperature": 0.0, "max_new_tokens": 256}, judge_status="validated", judge_usable=True,
        judge_model=GEN_MODEL, notes=[WEIGHTS_NOTE.format(run=RUN_ID)]))
    results = results_for(examples, candidate)
    ef.write_results(p, EVAL_ID, results)
    p.mark("evaluate", "evaluated")
    # the spot-check, rated the way the billing lead would
    CLOCK.set(T0 + timedelta(days=3, hours=2))
    state = sc.start(p, EVAL_ID, seed=7)
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    for n, item in enumerate(state.spot.items):
        ok = cand[item.example_id].passed
        rating = "good" if ok else ("concerning" if n % 2 else "bad")
        note = "" if ok else "promises something only the billing team can do"
        pref = ("candidate" if ok else "base") if item.group == "comparison" else sc.KEEP
        sc.rate(p, EVAL_ID, item.example_id, rating, trust=ok, note=note, preferred=pref)
    decision = decide_now(p, EVAL_ID, now=T0 + timedelta(days=3, hours=3))
    return decision


def configure(p) -> None:
    """The example's own settings, chosen so that its files agree with them: the eval set's size and
    out-of-scope share are its rows', the framework it follows is enabled, the pilot and target sizes are the
    smallest the spec allows (the scale-up stops early: see SCALE_NOTE), and training logs every 5 of its
    steps with no gradient accumulation (a dataset of 100 rows would otherwise take a handful of steps)."""
    size, ratio = eval_settings()
    cfg = p.meta.config
    cfg.extract.eval_set_size = size
    cfg.extract.out_of_scope_ratio = ratio
    cfg.extract.framework_mode = "enabled"
    cfg.generate.framework_mode = True
    cfg.generate.pilot_size = 50
    cfg.generate.target_size = 1000
    cfg.train.gradient_accumulation_steps = 1
    cfg.train.logging_steps = 5


def build(out_root: Path) -> Path:
    from core.evaluate.export import export
    from core.extract.review import verify_frozen
    from core.generate import pipeline_state as ps
    from core.project import Project

    folder = out_root / SLUG
    if folder.exists():
        shutil.rmtree(folder)
    CLOCK.set(T0)
    with frozen_time():
        p = Project.create("Billing support", TASK, root=out_root)
        p.meta.created_at = T0
        p.meta.models.base_model = BASE_MODEL
        p.meta.illustration = ILLUSTRATION
        configure(p)
        p.save()
        write_knowledge(p)
        examples = write_eval_set(p)
        eval_hash = verify_frozen(p)
        write_data(p, eval_hash)
        from core import store

        n_train = len(store.read_parquet_rows(p.path(ps.TRAIN_FILE)))
        n_val = len(store.read_parquet_rows(p.path(ps.VALIDATION_FILE)))
        CLOCK.set(T0 + timedelta(days=2, hours=1))
        write_run(p, n_train, n_val)
        decision = write_evaluation(p, examples, eval_hash)
        CLOCK.set(T0 + timedelta(days=3, hours=4))
        result = export(p)
    shutil.rmtree(p.cache_dir, ignore_errors=True)
    (folder / ".lock").unlink(missing_ok=True)
    print(f"built {folder}: {len(examples)} eval examples, {n_train}+{n_val} training rows, "
          f"decision {decision.verdict} ({decision.weighted_score:.2f}), {len(result.written)} exports"
          + (f", skipped: {result.skipped}" if result.skipped else ""))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the example project projects/billing-support.")
    parser.add_argument("--root", type=Path, default=ROOT / "projects", help="projects folder (default ./projects)")
    args = parser.parse_args(argv)
    folder = build(args.root)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print(f"{sum(1 for f in folder.rglob('*') if f.is_file())} files, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
