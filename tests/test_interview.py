"""The interview (skill 1): personas, the four rounds and their limits, offline bank, resume, skip/back, CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import BadInput
from core.extract import question_bank
from core.extract.frameworks import FRAMEWORK_QUESTION, FRAMEWORK_QUESTION_ID
from core.extract.interview import InterviewSession, QuestionCandidates
from core.extract.personas import PersonaProposals, bank_personas, edit_persona, propose_personas
from core.models.knowledge import ROUND_LIMITS, ROUNDS, Interview
from core.project import INTERVIEW, Project
from tests.fakes import fake_env
from tests.fakes.llm_server import request_text

ROOT = Path(__file__).resolve().parent.parent
TASK = "Answer billing questions for customers of a SaaS product. Escalate refunds over $500 to a human."

# Distinct topics, so scripted candidate questions never look like repeats of each other.
TOPICS = [
    "refund requests", "angry customers", "duplicate charges", "expired cards", "tax invoices", "plan upgrades",
    "account deletion", "chargebacks", "currency conversion", "trial endings", "coupon codes", "failed payments",
    "VAT numbers", "annual billing", "seat counts", "proration", "receipts", "payment methods", "bank transfers",
    "late fees", "discount abuse", "family plans", "student pricing", "gift cards", "reseller accounts",
    "enterprise contracts", "nonprofit discounts", "invoice disputes", "dunning emails", "usage overages",
]

PERSONAS = {"personas": [
    {"role": "Billing operations lead", "experience_years": 9, "why": "owns the billing runbook",
     "domain_knowledge": 7, "conversational_efficiency": 7},
    {"role": "Senior support agent", "experience_years": "8 years", "why": "answers these tickets daily",
     "domain_knowledge": 9, "conversational_efficiency": 9},
    {"role": "Product manager", "experience_years": 6, "why": "knows what the product can do",
     "domain_knowledge": 8, "conversational_efficiency": 6},
]}


def _round_of(request: dict) -> str:
    m = re.search(r"Now: round \d of 4, (\w+)\.", request_text(request))
    assert m, "the next-question prompt names the round"
    return m.group(1)


def _asked_count(request: dict) -> int:
    return len(re.findall(r"^\[(?:q\d+|frameworks)\]", request_text(request), re.M))


def candidates(saturated=False, impact: float = 0.8):
    """A scripted QuestionCandidates reply: two fresh questions about the next topics."""

    def reply(request: dict) -> dict:
        n = _asked_count(request)
        sat = saturated(request) if callable(saturated) else saturated
        return {
            "candidates": [
                {"text": f"How should the model handle {TOPICS[n]}?",
                 "suggestions": ["Explain the policy", "Escalate to a human", "Decline politely"],
                 "why": "decides the policy line", "impact": impact, "informs": "scope_boundaries"},
                {"text": f"What tone fits {TOPICS[(n + 11) % len(TOPICS)]} cases?",
                 "suggestions": ["Formal", "Friendly and brief"], "why": "tone", "impact": impact / 2,
                 "informs": "quality criteria"},
            ],
            "round_saturated": sat,
            "saturation_reason": "covered" if sat else "more to learn",
        }

    return reply


def new_project(name: str = "Billing Bot", task: str = TASK, preset: str = "standard", **extract) -> Project:
    project = Project.create(name, task, preset=preset)
    if extract:
        for key, value in extract.items():
            setattr(project.meta.config.extract, key, value)
        project.save()
    return project


def start(project: Project, persona: int = 1) -> InterviewSession:
    session = InterviewSession.open(project)
    session.propose_personas()
    session.choose_persona(persona)
    return session


def run_through(session: InterviewSession, limit: int = 40) -> list:
    asked = []
    for _ in range(limit):
        q = session.current()
        if q is None:
            break
        assert 2 <= len(q.suggestions) <= 4, q
        asked.append(q)
        session.pick(1)
    assert session.finished
    return asked


def per_round(interview: Interview) -> dict[str, int]:
    return {r: sum(1 for q in interview.questions if q.round == r) for r in ROUNDS}


def assert_rounds_in_order(interview: Interview) -> None:
    order = [ROUNDS.index(q.round) for q in interview.questions]
    assert order == sorted(order)


# ---------------------------------------------------------------- personas


@pytest.mark.parametrize("task,preset,expect", [
    ("Answer patients' questions about cold symptoms", "standard", "physician"),
    ("Review Python pull requests", "code-review", "engineer"),
    ("Support chatbot for a bike shop", "customer-support", "support agent"),
    ("Suggest names for a pet hamster", "minimal", "practitioner"),
    ("", "standard", "practitioner"),
])
def test_bank_personas_for_any_task(task: str, preset: str, expect: str) -> None:
    personas = bank_personas(task, preset)
    assert len(personas) == 3
    assert len({p.role for p in personas}) == 3
    scores = [p.score for p in personas]
    assert scores == sorted(scores, reverse=True)
    assert any(expect in p.role.lower() for p in personas)


def test_personas_from_the_model_are_ranked_by_us(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    project = new_project()
    from core.extract.interview_llm import make_gateway

    personas, source = propose_personas(make_gateway(project), project.meta.task, project.meta.preset)
    assert source == "llm"
    assert [p.role for p in personas] == ["Senior support agent", "Billing operations lead", "Product manager"]
    assert personas[0].experience_years == 8


def test_too_few_personas_are_topped_up(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", {"personas": [PERSONAS["personas"][0]]})
    session = InterviewSession.open(new_project())
    personas = session.propose_personas()
    assert len(personas) == 3 and session.interview.persona_source == "llm"
    assert "Billing operations lead" in [p.role for p in personas]


def test_edit_persona() -> None:
    project = new_project()
    session = InterviewSession.open(project)
    session.propose_personas()
    edited = session.edit_persona(2, role="Head of billing", experience_years="20", why="wrote the refund policy")
    assert edited.role == "Head of billing" and edited.experience_years == 20
    saved = project.read(INTERVIEW, Interview)
    assert saved.personas[1].role == "Head of billing" and saved.persona_source == "user"
    with pytest.raises(BadInput, match="experience_years"):
        edit_persona(edited, experience_years="lots")
    with pytest.raises(BadInput, match="persona"):
        session.edit_persona(7, role="x")


# ---------------------------------------------------------------- the LLM interview


def test_model_that_never_saturates_fills_every_round(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=False))
    project = new_project()
    session = start(project)
    asked = run_through(session)
    iv = project.read(INTERVIEW, Interview)
    assert per_round(iv) == {r: ROUND_LIMITS[r][1] for r in ROUNDS}  # 5 + 7 + 7 + 5 = 24
    assert 15 <= len(asked) <= 25 and not iv.offline and iv.finished
    assert_rounds_in_order(iv)
    fw = [q for q in iv.questions if q.id == FRAMEWORK_QUESTION_ID]
    assert len(fw) == 1 and fw[0].round == "competency" and fw[0].text == FRAMEWORK_QUESTION
    assert {q.source for q in iv.questions if q.id not in (FRAMEWORK_QUESTION_ID, "example")} == {"llm"}
    # the highest-impact candidate was asked each time, tailored to the answers so far
    assert iv.questions[0].text == f"How should the model handle {TOPICS[0]}?"
    assert all(q.answer == q.suggestions[0] for q in iv.questions)
    project.reload()
    assert project.meta.is_done("extract", "persona") and project.meta.is_done("extract", "interview")
    # the prompt carried the task, the persona and the earlier answers
    last = [r for r in fake_llm.requests if (r.get("response_format") or {}).get("json_schema", {}).get("name")
            == "QuestionCandidates"][-1]
    text = request_text(last)
    assert "Escalate refunds over $500" in text and "Senior support agent" in text and "Explain the policy" in text


def test_model_that_saturates_at_once_gets_each_round_minimum(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=True))
    project = new_project()
    run_through(start(project))
    iv = project.read(INTERVIEW, Interview)
    assert per_round(iv) == {r: ROUND_LIMITS[r][0] for r in ROUNDS}  # 3 + 5 + 5 + 3 = 16
    assert len(iv.questions) >= 15
    assert iv.closed_rounds == list(ROUNDS)


def test_low_impact_candidates_close_a_round_after_its_minimum(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=False, impact=0.05))
    project = new_project()
    run_through(start(project))
    assert per_round(project.read(INTERVIEW, Interview)) == {r: ROUND_LIMITS[r][0] for r in ROUNDS}


def test_saturation_in_one_round_only(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=lambda req: _round_of(req) == "variation"))
    project = new_project()
    run_through(start(project))
    assert per_round(project.read(INTERVIEW, Interview)) == {"boundary": 5, "competency": 7, "variation": 5,
                                                             "validation": 5}


def test_skipped_questions_do_not_meet_a_minimum_but_count_toward_the_maximum(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=True))
    project = new_project()
    session = start(project)
    session.skip()  # q01
    session.skip()  # q02
    for _ in range(3):
        assert session.current().round == "boundary"
        session.pick(2)
    # 3 answered now: the saturated round closes after 5 asked, the 2 skips included
    assert session.current().round == "competency"
    iv = project.read(INTERVIEW, Interview)
    assert [q.skipped for q in iv.questions[:5]] == [True, True, False, False, False]
    assert iv.questions[2].answer == "Escalate to a human"
    assert len(iv.answered()) == 3

    project2 = new_project("Skipper")
    fake_llm.reset()
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=True))
    session = start(project2)
    for _ in range(5):
        assert session.current().round == "boundary"
        session.skip()
    assert session.current().round == "competency"  # the round's maximum ends it, answered or not


def test_near_repeats_and_bad_candidates_are_not_asked(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)

    def reply(request: dict) -> dict:
        n = _asked_count(request)
        return {"candidates": [
            {"text": "Which edge cases worry you the most?", "suggestions": ["a", "b"], "impact": 0.99},
            {"text": f"Which refund case about {TOPICS[n]} is hardest?", "suggestions": ["only one"], "impact": 0.95},
            {"text": f"How should the model treat {TOPICS[n]}?", "suggestions": ["1. Refund", "2) Refund", "Refuse",
                                                                                  "Escalate", "Ignore", "Ask"],
             "impact": "0.7"},
        ], "round_saturated": False}

    fake_llm.on_schema("QuestionCandidates", reply)
    project = new_project()
    session = start(project)
    first = session.current()
    assert first.text == "Which edge cases worry you the most?"
    session.answer("Contradictory requests")
    second = session.current()
    assert second.text == f"How should the model treat {TOPICS[1]}?"  # not the repeat, not the 1-suggestion one
    assert second.suggestions == ["Refund", "Refuse", "Escalate", "Ignore"]  # cleaned, deduplicated, at most 4


def test_max_questions_from_config_is_never_exceeded(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=False))
    project = new_project(max_questions=18)
    asked = run_through(start(project))
    counts = per_round(project.read(INTERVIEW, Interview))
    assert len(asked) == 18
    assert all(counts[r] >= ROUND_LIMITS[r][0] for r in ROUNDS), counts
    assert all(counts[r] <= ROUND_LIMITS[r][1] for r in ROUNDS), counts


def test_malformed_and_truncated_replies_are_repaired_by_the_gateway(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=True))
    project = new_project()
    session = InterviewSession.open(project)
    fake_llm.inject("malformed_json")
    session.propose_personas()
    assert session.interview.persona_source == "llm"
    session.choose_persona(1)
    fake_llm.inject("truncated")
    fake_llm.inject("malformed_json", text='```json\n{"candidates": [{"text": "Who pays for failed renewals?", '
                                           '"suggestions": ["The customer", "We do",], "impact": 0.9,}]}\n```')
    q = session.current()
    assert q.source == "llm" and not session.offline
    assert q.text in ("Who pays for failed renewals?", f"How should the model handle {TOPICS[0]}?")
    run_through(session)
    iv = project.read(INTERVIEW, Interview)
    assert not iv.offline and 15 <= len(iv.questions) <= 25


def test_garbage_model_falls_back_to_the_bank(fake_llm) -> None:
    fake_llm.on_text(".*", "I am a teapot. {not json")  # every reply is garbage
    project = new_project()
    notices: list[str] = []
    session = InterviewSession.open(project, notify=notices.append)
    personas = session.propose_personas()
    assert len(personas) == 3 and session.interview.persona_source == "bank"
    assert session.offline and any("built-in question bank" in n for n in notices)
    calls = len(fake_llm.requests)
    session.choose_persona(1)
    asked = run_through(session)
    assert len(fake_llm.requests) == calls  # offline for the rest of the session
    iv = project.read(INTERVIEW, Interview)
    assert iv.offline and 15 <= len(asked) <= 25 and {q.source for q in iv.questions} == {"bank"}


def test_model_that_breaks_mid_interview_switches_once(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    state = {"n": 0}

    def flaky(request: dict):
        state["n"] += 1
        return candidates()(request) if _asked_count(request) < 2 else {"candidates": []}

    fake_llm.on_schema("QuestionCandidates", flaky)
    project = new_project()
    notices: list[str] = []
    session = InterviewSession.open(project, notify=notices.append)
    session.propose_personas()
    session.choose_persona(1)
    asked = run_through(session)
    iv = project.read(INTERVIEW, Interview)
    assert iv.offline and iv.persona_source == "llm"
    assert [q.source for q in iv.questions[:3]] == ["llm", "llm", "bank"]
    assert len([n for n in notices if n.startswith("offline")]) == 1
    assert 15 <= len(asked) <= 25
    assert per_round(iv)["boundary"] >= 3 and all(per_round(iv)[r] >= ROUND_LIMITS[r][0] for r in ROUNDS)


def test_empty_candidate_lists_and_wrong_json_go_offline(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", {"personas": []})
    fake_llm.on_schema("QuestionCandidates", {"questions": ["What?"]})
    project = new_project()
    session = start(project)
    assert session.interview.persona_source == "bank" and session.offline
    run_through(session)


# ---------------------------------------------------------------- offline, resume, skip, back


def test_offline_interview_runs_the_bank() -> None:
    project = new_project(task="Coach amateur chess players on their openings.")
    session = InterviewSession.open(project)
    assert session.gateway is None and session.offline
    assert any("no LLM is configured" in n for n in session.drain_notices())
    session.propose_personas()
    session.choose_persona(2)
    asked = run_through(session)
    iv = project.read(INTERVIEW, Interview)
    assert iv.offline and iv.persona_index == 1 and iv.persona_source == "bank"
    assert len(asked) == sum(question_bank.OFFLINE_TARGET.values()) == 18
    assert all(ROUND_LIMITS[r][0] <= n <= ROUND_LIMITS[r][1] for r, n in per_round(iv).items())
    assert_rounds_in_order(iv)
    assert "Coach amateur chess players on their openings" in iv.questions[0].text
    assert iv.questions[4].id == FRAMEWORK_QUESTION_ID  # first of the competency round
    assert len({q.id for q in iv.questions}) == len(iv.questions)
    project.reload()
    assert project.meta.stages["extract"].done[:2] == ["persona", "interview"]


def test_offline_respects_a_higher_minimum() -> None:
    project = new_project(min_questions=22)
    asked = run_through(start(project))
    assert len(asked) >= 22


def test_every_bank_question_is_well_formed() -> None:
    for rnd in ROUNDS:
        qs = question_bank.for_round(rnd)
        assert len(qs) + (rnd == "competency") >= ROUND_LIMITS[rnd][1]
        for q in qs:
            assert 2 <= len(q.suggestions) <= 4 and q.why
            assert len({question_bank.normalise(s) for s in q.suggestions}) == len(q.suggestions)


def test_resume_continues_at_the_right_question(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates())
    project = new_project()
    session = start(project)
    for _ in range(4):
        session.current()
        session.pick(2)
    pending = session.current()
    calls = len(fake_llm.requests)
    del session

    again = InterviewSession.open(Project.open(project.slug))
    q = again.current()
    assert (q.id, q.text) == (pending.id, pending.text)
    assert len(fake_llm.requests) == calls  # the waiting question was saved, not asked again
    assert again.progress() == ("boundary", 1, 5, 19)
    again.answer("Only with a manager's approval")
    iv = Project.open(project.slug).read(INTERVIEW, Interview)
    assert iv.questions[4].answer == "Only with a manager's approval"


def test_skip_back_and_saving_after_every_step() -> None:
    project = new_project()
    session = start(project)
    assert session.back() is None  # nothing before the first question
    q1 = session.current()
    session.pick(3)
    assert project.read(INTERVIEW, Interview).questions[0].answer == q1.suggestions[2]
    q2 = session.current()
    session.skip()
    saved = project.read(INTERVIEW, Interview)
    assert saved.questions[1].skipped and saved.questions[1].answer is None
    q3 = session.current()
    reopened = session.back()  # q3 is discarded, q2 re-opened
    assert reopened.id == q2.id and session.current().id == q2.id
    saved = project.read(INTERVIEW, Interview)
    assert len(saved.questions) == 2 and not saved.questions[1].skipped
    session.answer("Only internal tools")
    assert session.current().text == q3.text  # the bank asks it again
    with pytest.raises(BadInput):
        session.answer("   ")
    with pytest.raises(BadInput, match="suggestion"):
        session.pick(9)
    assert session.progress().asked == 3


def test_back_reopens_an_early_closed_round() -> None:
    project = new_project()
    session = start(project)
    for _ in range(4):
        session.current()
        session.pick(1)
    assert session.current().id == FRAMEWORK_QUESTION_ID
    assert session.interview.closed_rounds == ["boundary"]
    back = session.back()
    assert back.round == "boundary" and session.interview.closed_rounds == []
    session.pick(1)
    assert session.current().id == FRAMEWORK_QUESTION_ID


def test_choosing_a_persona_is_required() -> None:
    session = InterviewSession.open(new_project())
    session.propose_personas()
    with pytest.raises(BadInput, match="persona"):
        session.current()
    with pytest.raises(BadInput, match="between 1 and 3"):
        session.choose_persona(4)


def test_schema_names_used_in_structured_calls() -> None:
    assert PersonaProposals.__name__ == "PersonaProposals"
    assert QuestionCandidates.__name__ == "QuestionCandidates"
    reply = QuestionCandidates.model_validate({"candidates": [
        {"text": "Q?", "suggestions": "A; B", "impact": 8, "informs": "taxonomy"}], "round_saturated": "yes"})
    c = reply.candidates[0]
    assert c.suggestions == ["A", "B"] and c.impact == 0.8 and c.informs == "input_taxonomy"
    assert reply.round_saturated is True


# ---------------------------------------------------------------- the CLI


def cli(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, input=stdin, timeout=120)


def test_cli_offline_with_piped_answers_eof_and_resume() -> None:
    assert cli("new", "Chess Coach", "--task", "Coach amateur chess players on their openings.").returncode == 0
    r = cli("interview", "chess-coach", "--persona", "1", stdin="\n2\n/skip\nOnly opening theory, no endgames\n")
    assert r.returncode == 0, r.stderr
    assert "offline" in r.stdout and "built-in question bank" in r.stdout
    assert "1. " in r.stdout and "interviewing as persona 1" in r.stdout
    assert "Round 1/4 · boundary · question 1 · at most 23 left" in r.stdout
    assert "interview saved after 3 answers; resume with: tunesmith interview chess-coach" in r.stdout
    iv = Project.open("chess-coach").read(INTERVIEW, Interview)
    assert [q.skipped for q in iv.questions[:4]] == [False, False, True, False]
    assert iv.questions[1].answer == iv.questions[1].suggestions[1]
    assert iv.questions[3].answer == "Only opening theory, no endgames"

    r = cli("interview", "chess-coach", stdin="/back\nMembers of a chess club\n")
    assert r.returncode == 0, r.stderr
    assert "resuming the interview" in r.stdout and "question 5" in r.stdout
    iv = Project.open("chess-coach").read(INTERVIEW, Interview)
    assert iv.questions[3].answer == "Members of a chess club"

    r = cli("interview", "chess-coach", stdin="\n" * 30)
    assert r.returncode == 0, r.stderr
    assert "interview complete" in r.stdout
    assert "tunesmith boundaries chess-coach" in r.stdout
    project = Project.open("chess-coach")
    assert project.meta.is_done("extract", "interview")
    iv = project.read(INTERVIEW, Interview)
    assert iv.finished and 15 <= len(iv.questions) <= 25

    r = cli("interview", "chess-coach")
    assert r.returncode == 0 and "is complete" in r.stdout and "Round 4/4" in r.stdout


def test_cli_without_persona_on_a_pipe_takes_the_first() -> None:
    assert cli("new", "Poems", "--task", "Write short poems about any topic the user names.").returncode == 0
    r = cli("interview", "poems", stdin="")
    assert r.returncode == 0
    assert "no --persona given and stdin is not a terminal: interviewing as persona 1" in r.stdout
    assert "interview saved after 0 answers" in r.stdout
    assert Project.open("poems").read(INTERVIEW, Interview).persona_index == 0


def test_cli_persona_out_of_range_exits_2() -> None:
    assert cli("new", "Poems", "--task", "Write short poems.").returncode == 0
    r = cli("interview", "poems", "--persona", "5")
    assert r.returncode == 2 and "--persona" in r.stderr and "Traceback" not in r.stderr
    r = cli("interview", "nope", "--persona", "1")
    assert r.returncode == 2 and "no project" in r.stderr


def test_cli_against_the_fake_model(fake_llm) -> None:
    fake_llm.on_schema("PersonaProposals", PERSONAS)
    fake_llm.on_schema("QuestionCandidates", candidates(saturated=True))
    env = fake_env(fake_llm.base_url)
    assert cli("new", "Billing Bot", "--task", TASK, env=env).returncode == 0
    r = cli("interview", "billing-bot", "--persona", "2", stdin="1\n2\n\nIt depends on the plan\n", env=env)
    assert r.returncode == 0, r.stderr
    assert "1. Senior support agent" in r.stdout and "interviewing as persona 2: Billing operations lead" in r.stdout
    assert f"How should the model handle {TOPICS[0]}?" in r.stdout
    assert "interview saved after 4 answers" in r.stdout and "offline" not in r.stdout
    r = cli("interview", "billing-bot", stdin="\n" * 30, env=env)
    assert r.returncode == 0, r.stderr
    assert "interview complete: 16 answered" in r.stdout
    iv = Project.open("billing-bot").read(INTERVIEW, Interview)
    assert iv.questions[3].answer == "It depends on the plan" and iv.persona.role == "Billing operations lead"
    assert not iv.offline


def test_cli_with_an_unscripted_model_finishes_offline(fake_llm) -> None:
    env = fake_env(fake_llm.base_url)  # the fake answers "{}" to every structured request
    assert cli("new", "Any Task", "--task", "Translate recipes into plain Spanish.", env=env).returncode == 0
    r = cli("interview", "any-task", stdin="\n" * 40, env=env)
    assert r.returncode == 0, r.stderr
    assert "offline:" in r.stdout and "interview complete" in r.stdout
    from tests.fakes.llm_server import schema_name

    drafting = [q for q in fake_llm.requests if schema_name(q) in ("ScopeDraft", "TaxonomyDraft")]
    assert len(fake_llm.requests) - len(drafting) <= 6  # the interview gave up on the model quickly
    # drafting still tried the model (the interview fell back to the bank, the model is configured), boundedly
    assert 2 <= len(drafting) <= 6 and "drafted:" in r.stdout
    from core.models.knowledge import KnowledgeBase
    from core.project import KNOWLEDGE_BASE

    assert Project.open("any-task").read(KNOWLEDGE_BASE, KnowledgeBase).drafted_offline  # "{}" is unusable


def test_empty_answers_on_a_new_domain_build_no_framework() -> None:
    """Issue 11: answers piped as empty lines (= first suggestion) on a task with no framework."""
    from core.extract.artifacts import draft_artifacts
    from core.extract.frameworks import NO_FRAMEWORK
    from core.models.knowledge import KnowledgeBase
    from core.project import KNOWLEDGE_BASE

    project = new_project("Sql Explainer", "Explain SQL queries in plain English to business analysts, and refuse "
                                           "requests outside analytics", preset="minimal")
    session = start(project)
    asked = run_through(session)
    fq = next(q for q in asked if q.id == FRAMEWORK_QUESTION_ID)
    assert fq.suggestions[0] == NO_FRAMEWORK and fq.answer == NO_FRAMEWORK
    draft_artifacts(project, session.gateway)
    kb = project.read(KNOWLEDGE_BASE, KnowledgeBase)
    assert kb.framework_mode == "disabled" and kb.frameworks == []
    first = asked[0]  # "which requests must the model handle ... squarely in scope" quotes a task with "refuse"
    from core.models.knowledge import ScopeBoundaries
    from core.project import BOUNDARIES

    b = project.read(BOUNDARIES, ScopeBoundaries)
    assert first.answer in [s.text for s in b.will] and first.answer not in [s.text for s in b.will_not]
