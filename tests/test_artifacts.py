"""Knowledge artifacts drafted from the interview, and the boundary edits and approval."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import BadInput, StageNotReady
from core.extract import boundaries as ops
from core.extract.artifacts import draft_artifacts, split_items
from core.llm.gateway import Gateway
from core.models.knowledge import (
    InputTaxonomy,
    Interview,
    KnowledgeBase,
    Persona,
    QualityCriteria,
    Question,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, CRITERIA, INTERVIEW, KNOWLEDGE_BASE, TAXONOMY, Project

ROOT = Path(__file__).resolve().parent.parent

ANSWERS = [
    ("q1", "boundary", "What IS in scope for this assistant?",
     "Explaining invoices; updating payment methods; plan changes"),
    ("q2", "boundary", "What is explicitly OUT of scope?", "Processing refunds; legal advice about contracts"),
    ("q3", "boundary", "What hard constraints (legal, technical, ethical) apply?",
     "Never reveal full card numbers; PCI rules apply"),
    ("q4", "competency", "What should it ALWAYS do correctly?", "Quote the exact invoice amount and due date"),
    ("q5", "competency", "What should it NEVER do?", "Promise credits it cannot grant"),
    ("q6", "competency", "Which gray areas need judgment?", "Partial refunds after a service outage"),
    ("q7", "competency", "What common errors should it avoid?", "Confusing proration with a discount"),
    ("q8", "variation", "What are the main input categories?", "invoices, payment methods, plan changes"),
    ("q9", "variation", "What makes an input easy vs hard?", "Hard ones mix two accounts or currencies"),
    ("q10", "variation", "What are the edge cases?", "Customer with two workspaces; a disputed charge"),
    ("q11", "validation", "How do you know if an output is correct?", "Amounts match the invoice exactly"),
    ("q12", "validation", "Which metrics matter?", "First-contact resolution"),
    ("q13", "validation", "What is the minimum acceptable performance?", "No wrong amounts, ever"),
]


def _project(projects_root: Path) -> Project:
    p = Project.create("Billing Bot", "a support assistant for our billing product", root=projects_root)
    interview = Interview(
        personas=[Persona(role="Senior billing support agent", experience_years=9, why="explains plainly",
                          domain_knowledge=9, conversational_efficiency=8)],
        persona_index=0,
        questions=[Question(id=i, round=r, text=t, answer=a, source="bank") for i, r, t, a in ANSWERS],
        finished=True,
    )
    p.write(INTERVIEW, interview)
    p.mark("extract", "persona")
    p.mark("extract", "interview")
    return p


def test_requires_answers(projects_root: Path) -> None:
    p = Project.create("Empty", "anything", root=projects_root)
    with pytest.raises(StageNotReady, match="tunesmith interview empty"):
        draft_artifacts(p, None)


def test_offline_draft_routes_answers_with_provenance(projects_root: Path) -> None:
    p = _project(projects_root)
    art = draft_artifacts(p, Gateway())
    assert art.source == "answers" and "no LLM configured" in art.note
    b = p.read(BOUNDARIES, ScopeBoundaries)
    assert [s.text for s in b.will] == ["Explaining invoices", "updating payment methods", "plan changes"]
    assert [s.text for s in b.will_not] == ["Processing refunds", "legal advice about contracts"]
    assert b.will_not[0].provenance == ["q2"]
    assert b.hard_constraints[0].provenance == ["q3"]
    kb = p.read(KNOWLEDGE_BASE, KnowledgeBase)
    assert kb.drafted_offline and kb.competencies.never[0].text == "Promise credits it cannot grant"
    assert kb.competencies.gray_areas[0].provenance == ["q6"]
    tax = p.read(TAXONOMY, InputTaxonomy)
    assert [c.name for c in tax.categories] == ["invoices", "payment methods", "plan changes"]
    assert {e.provenance[0] for e in tax.edge_cases} == {"q10"}
    qc = p.read(CRITERIA, QualityCriteria)
    assert qc.metrics[0].provenance == ["q12"] and qc.minimum_acceptable[0].provenance == ["q13"]
    assert p.meta.is_done("extract", "artifacts") or Project.open("billing-bot", projects_root).meta.is_done(
        "extract", "artifacts")


def _scope_reply(req):
    return {
        "task_definition": "Answers billing questions for customers of a SaaS product.",
        "task_type": "instruction_following",
        "constraints": [{"text": "PCI rules apply", "sources": ["q3"]}],
        "always": [{"text": "Quotes exact amounts", "sources": ["q4", "q99"]}],
        "never": [{"text": "Promises credits", "sources": ["q5"]}],
        "gray_areas": [], "common_errors": [],
        "will": [{"text": "Explains invoices", "sources": ["q1"]}, {"text": "Changes plans", "sources": ["q1"]}],
        "will_not": [{"text": "Processes refunds", "sources": ["q2"]}],
        "hard_constraints": [{"text": "Never shows full card numbers", "sources": ["q3"]}],
    }


TAXONOMY_REPLY = {
    "categories": [{"name": "Invoices", "description": "reading bills", "weight": 3, "sources": ["q8"]},
                   {"name": "Payment methods", "weight": 1, "sources": ["q8"]},
                   {"name": "invoices", "weight": 1}],
    "difficulty": {"easy": "one question", "medium": "needs account context", "hard": "two workspaces"},
    "edge_cases": [{"text": "disputed charge", "sources": ["q10"]}],
    "good_output": [{"text": "exact amounts", "sources": ["q11"]}],
    "metrics": [], "minimum_acceptable": [],
    "dimensions": [{"name": "accuracy", "weight": 2}, {"name": "tone", "weight": 1}],
}


def test_llm_draft_keeps_only_real_provenance(projects_root: Path, fake_llm) -> None:
    fake_llm.on_schema("ScopeDraft", _scope_reply).on_schema("TaxonomyDraft", TAXONOMY_REPLY)
    p = _project(projects_root)
    art = draft_artifacts(p, Gateway(roles=p.meta.models, cache_dir=p.cache_dir / "llm"))
    assert art.source == "llm"
    kb = p.read(KNOWLEDGE_BASE, KnowledgeBase)
    assert kb.competencies.always[0].provenance == ["q4"], "an id the interview never had is dropped"
    tax = p.read(TAXONOMY, InputTaxonomy)
    assert [c.name for c in tax.categories] == ["Invoices", "Payment methods"], "duplicates are merged"
    assert p.read(CRITERIA, QualityCriteria).dimensions[0].weight == 2


def test_unusable_model_output_falls_back_to_answers(projects_root: Path, fake_llm) -> None:
    fake_llm.on_schema("ScopeDraft", "I cannot do that.").on_schema("TaxonomyDraft", {"categories": []})
    p = _project(projects_root)
    gw = Gateway(roles=p.meta.models, cache_dir=p.cache_dir / "llm", max_retries=0)
    art = draft_artifacts(p, gw)
    assert art.source == "answers" and "unusable" in art.note
    assert p.read(BOUNDARIES, ScopeBoundaries).will_not


def test_split_items() -> None:
    assert split_items("ab; cd\n- ef") == ["ab", "cd", "ef"]
    assert split_items("xx, yy and zz", commas=True) == ["xx", "yy", "zz"]


def test_boundary_edits() -> None:
    b = ScopeBoundaries(will=[Statement(text="a"), Statement(text="b")], will_not=[Statement(text="c")],
                        approved=True)
    ops.add(b, "will", "d")
    assert not b.approved and [s.text for s in b.will] == ["a", "b", "d"]
    ops.edit(b, "will", 0, "A")
    b, j = ops.reorder(b, "will", 2, -1)
    assert [s.text for s in b.will] == ["A", "d", "b"] and j == 1
    b, j = ops.move(b, "will", 0)
    assert [s.text for s in b.will_not] == ["c", "A"] and j == 1
    ops.delete(b, "will_not", 0)
    assert [s.text for s in b.will_not] == ["A"]
    with pytest.raises(BadInput, match="no item 5"):
        ops.delete(b, "will", 4)
    with pytest.raises(BadInput, match="cannot be empty"):
        ops.add(b, "will", "  ")
    with pytest.raises(BadInput, match="must be one of"):
        ops.add(b, "maybe", "x")


def test_approve_then_edit_withdraws_approval(projects_root: Path) -> None:
    p = _project(projects_root)
    draft_artifacts(p, None)
    b = ops.approve(p)
    assert b.approved and b.approved_at
    p.reload()
    assert p.meta.is_done("extract", "boundaries_approved")
    ops.save(p, ops.add(b, "will_not", "give tax advice"))
    p.reload()
    assert not p.meta.is_done("extract", "boundaries_approved")
    assert not p.read(BOUNDARIES, ScopeBoundaries).approved


def test_approve_needs_both_lists(projects_root: Path) -> None:
    p = _project(projects_root)
    p.write(BOUNDARIES, ScopeBoundaries(will=[Statement(text="x")]))
    with pytest.raises(BadInput, match="will_not"):
        ops.approve(p)


def test_cli_boundaries(projects_root: Path) -> None:
    _project(projects_root)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "core.cli", "boundaries", "billing-bot", *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    r = run()
    assert r.returncode == 0, r.stderr
    assert "from your answers" in r.stdout and "WILL NOT (2)" in r.stdout and "not approved" in r.stdout
    r = run("--add", "will_not", "give tax advice", "--move", "will", "3", "--approve")
    assert r.returncode == 0, r.stderr
    assert "WILL NOT (4)" in r.stdout and "approved 20" in r.stdout
    assert "tunesmith evalset billing-bot" in r.stdout
    r = run("--delete", "will", "9")
    assert r.returncode == 2 and "no item 9" in r.stderr and "Traceback" not in r.stderr


def test_every_core_bank_question_feeds_an_artifact() -> None:
    from core.extract.artifacts import route
    from core.extract.question_bank import bank

    slots = {}
    for i, bq in enumerate(bank()):
        if not bq.core:
            continue
        q = Question(id=f"b{i}", round=bq.round, text=bq.text, why=bq.why, source="bank")
        slots[bq.text[:40]] = route(q)
    found = set(slots.values())
    assert {"will", "will_not", "hard_constraints", "always", "never", "categories", "edge_cases",
            "good_output", "minimum_acceptable"} <= found, slots


# ---------------------------------------------------------------- routing every bank question

SQL_TASK = "Explain SQL queries in plain English to business analysts, and refuse requests outside analytics"
# tasks whose words would misroute a question that quotes them
HOSTILE_TASKS = [
    SQL_TASK,
    "Summarise legal contracts; never give legal advice and decline anything out of scope",
    "Grade hard maths exercises, easy ones too, and list the error types and metrics",
]

# the start of every bank question -> the slot its text asks for
BANK_SLOTS = {
    "For \"{task}\": which requests must the model handle fully": "will",
    "What is explicitly OUT of scope": "will_not",
    "What hard constraints apply": "hard_constraints",
    "Who will be asking": "audience",
    "When a request falls outside the scope": "refusal",
    "Are there requests that look out of scope but that the model SHOULD answer": "lookalike",
    "What must the model ALWAYS get right": "always",
    "What should the model NEVER do": "never",
    "Describe a gray area": "gray_areas",
    "What are the most common mistakes": "common_errors",
    "What does a great answer look like": "always",
    "When the model is unsure": "always",
    "When being helpful and being cautious": "gray_areas",
    "What are the main categories of input": "categories",
    "What makes an input easy versus hard": "difficulty",
    "Which edge cases worry you most": "edge_cases",
    "How should the answer change with context": "context",
    "What does a typical, everyday input": "input",
    "Which input formats or languages": "input",
    "Is it one message in and one answer out": "input",
    "How would you tell, at a glance": "good_output",
    "Which measures matter most": "metrics",
    "What is the minimum acceptable performance": "minimum_acceptable",
    "What single failure would make you pull the model": "deal_breaker",
    "Before trusting it, which inputs would you test": "edge_cases",
}


def _bank_slot(text: str) -> str:
    (slot,) = [s for start, s in BANK_SLOTS.items() if text.startswith(start)]
    return slot


@pytest.mark.parametrize("task", HOSTILE_TASKS)
def test_every_bank_question_routes_where_its_text_says(task: str) -> None:
    from core.extract.artifacts import route
    from core.extract.question_bank import bank

    for i, bq in enumerate(bank()):
        expected = _bank_slot(bq.text)
        for source in ("bank", "llm"):  # an LLM question worded like the bank's routes the same way
            q = Question(id=f"b{i}", round=bq.round, text=bq.render(task), why=bq.why, source=source)
            assert route(q, task) == expected, (bq.text, task)
        if "{task}" not in bq.text:
            assert route(Question(id="x", round=bq.round, text=bq.text, source="llm")) == expected, bq.text


@pytest.mark.parametrize("round_,text,slot", [
    ("boundary", "What IS in scope for this task?", "will"),
    ("boundary", "What is in scope for this task, and what is out of scope?", "will"),
    ("boundary", "What is explicitly OUT of scope?", "will_not"),
    ("boundary", "Which requests should it refuse or hand off to a human?", "will_not"),
    ("boundary", "What are hard constraints? (legal, technical, ethical)", "hard_constraints"),
    ("competency", "What should the model ALWAYS do correctly?", "always"),
    ("competency", "What should it NEVER do?", "never"),
    ("competency", "What are gray areas requiring judgment?", "gray_areas"),
    ("competency", "What are common errors to avoid?", "common_errors"),
    ("variation", "What are the main input categories?", "categories"),
    ("variation", "What makes an input \"easy\" vs \"hard\"?", "difficulty"),
    ("variation", "What are edge cases?", "edge_cases"),
    ("variation", "How does output vary by context?", "context"),
    ("validation", "How do you know if output is correct?", "good_output"),
    ("validation", "What metrics matter?", "metrics"),
    ("validation", "What's the minimum acceptable performance?", "minimum_acceptable"),
])
def test_spec_questions_route_by_their_text(round_: str, text: str, slot: str) -> None:
    from core.extract.artifacts import route

    assert route(Question(id="x", round=round_, text=text, source="llm")) == slot


def _sql_project(projects_root: Path, answers: list[tuple[str, str, str, str]], offline: bool = True,
                 preset: str = "minimal") -> Project:
    p = Project.create("Sql Explainer", SQL_TASK, preset=preset, root=projects_root)
    p.write(INTERVIEW, Interview(
        personas=[Persona(role="Analytics engineer", experience_years=8, why="explains SQL daily",
                          domain_knowledge=9, conversational_efficiency=8)],
        persona_index=0, offline=offline, finished=True,
        questions=[Question(id=i, round=r, text=t, answer=a, source="bank") for i, r, t, a in answers]))
    return p


def test_an_in_scope_answer_goes_to_will(projects_root: Path) -> None:
    from core.extract.question_bank import for_round

    in_scope, out_scope = for_round("boundary")[:2]
    p = _sql_project(projects_root, [
        ("q01", "boundary", in_scope.render(SQL_TASK), "Explaining SELECT queries; explaining joins"),
        ("q02", "boundary", out_scope.render(SQL_TASK), "Writing new queries; database administration"),
    ])
    art = draft_artifacts(p, None)
    assert [s.text for s in art.boundaries.will] == ["Explaining SELECT queries", "explaining joins"]
    assert [s.text for s in art.boundaries.will_not] == ["Writing new queries", "database administration"]


def test_category_items_keep_their_qualifiers_and_shares(projects_root: Path) -> None:
    answer = "billing questions, about 40 percent; shipping, 30%; login problems (rare)"
    assert split_items(answer, commas=True) == ["billing questions, about 40 percent", "shipping, 30%",
                                                "login problems (rare)"]
    assert split_items("invoices, payment methods and plan changes", commas=True) == [
        "invoices", "payment methods", "plan changes"]
    assert split_items("refunds (late, lost or damaged parcels), order status (most common), e.g. where is my "
                       "parcel, and account access", commas=True) == [
        "refunds (late, lost or damaged parcels)", "order status (most common), e.g. where is my parcel",
        "account access"]
    p = _sql_project(projects_root, [
        ("q01", "variation", "What are the main categories of input the model will see, and roughly how often "
                             "does each come up?", answer)])
    cats = draft_artifacts(p, None).taxonomy.categories
    assert [c.name for c in cats] == ["billing questions", "shipping", "login problems"]
    assert cats[0].weight == pytest.approx(0.4) and cats[1].weight == pytest.approx(0.3)
    assert 0 < cats[2].weight <= 0.3 and "rare" in cats[2].description
    assert "about 40 percent" in cats[0].description and all(c.provenance == ["q01"] for c in cats)


def test_a_picked_shape_suggestion_is_not_a_category(projects_root: Path) -> None:
    from core.extract.question_bank import for_round

    q = for_round("variation")[0]
    p = _sql_project(projects_root, [("q01", "variation", q.text, q.suggestions[1])])
    (cat,) = draft_artifacts(p, None).taxonomy.categories
    assert cat.name == "general" and cat.description == q.suggestions[1] and cat.provenance == ["q01"]


# ---------------------------------------------------------------- the model drafts even after a bank interview

SQL_ANSWERS = [
    ("q01", "boundary", "What IS in scope for this task?", "Explaining SELECT queries"),
    ("q02", "boundary", "What is explicitly OUT of scope?", "Anything outside analytics"),
    ("frameworks", "competency", "Are there established approaches or frameworks for this?",
     "No established framework applies; build a custom taxonomy from this conversation"),
    ("q03", "variation", "What are the main categories of input?", "joins, about 50%; aggregates, 50%"),
]


def _sql_scope_reply(req):
    return {
        "task_definition": "Explains SQL queries in plain English for business analysts.",
        "task_type": "transformation",
        "always": [{"text": "Explains every clause", "sources": ["q01"]}],
        "never": [{"text": "Writes new queries", "sources": ["q02"]}],
        "will": [{"text": "Explains SELECT queries", "sources": ["q01"]}, {"text": "Explains joins", "sources": []}],
        "will_not": [{"text": "Answers non-analytics requests", "sources": ["q02"]}],
        # what the model must not decide: the framework choice comes from the answer and the config
        "framework_mode": "enabled",
        "frameworks": [{"name": "Classic writing principles", "template": ["Name what works in the draft"]}],
    }


SQL_TAXONOMY_REPLY = {
    "categories": [{"name": "Joins", "weight": 1, "sources": ["q03"]}, {"name": "Aggregates", "weight": 1}],
    "difficulty": {"easy": "one table", "medium": "two joins", "hard": "window functions"},
    "edge_cases": [{"text": "a query with a syntax error", "sources": []}],
    "good_output": [{"text": "every clause explained", "sources": ["q01"]}],
    "dimensions": [{"name": "accuracy", "weight": 1}],
    "framework_mode": "enabled",
}


def test_a_bank_interview_still_drafts_with_a_configured_model(projects_root: Path, fake_llm) -> None:
    fake_llm.on_schema("ScopeDraft", _sql_scope_reply).on_schema("TaxonomyDraft", SQL_TAXONOMY_REPLY)
    p = _sql_project(projects_root, SQL_ANSWERS, offline=True)
    art = draft_artifacts(p, None)  # what an interview session that fell back to the bank passes
    assert art.source == "llm", art.note
    assert [c.name for c in p.read(TAXONOMY, InputTaxonomy).categories] == ["Joins", "Aggregates"]
    kb = p.read(KNOWLEDGE_BASE, KnowledgeBase)
    assert kb.framework_mode == "disabled" and kb.frameworks == []  # nothing the model says sets the mode


def test_a_bank_interview_maps_named_frameworks_with_the_model(projects_root: Path, fake_llm) -> None:
    fake_llm.on_schema("ScopeDraft", _sql_scope_reply).on_schema("TaxonomyDraft", SQL_TAXONOMY_REPLY)
    fake_llm.on_schema("FrameworkMapping", {"mappings": [
        {"component": "Pyramid principle", "statement": "Lead with what the query returns", "question_ids": ["q01"]}]})
    answers = [a if a[0] != "frameworks" else (*a[:3], "Yes: MECE") for a in SQL_ANSWERS]
    p = _sql_project(projects_root, answers, offline=True)
    draft_artifacts(p, Gateway(roles=p.meta.models, cache_dir=p.cache_dir / "llm"))
    kb = p.read(KNOWLEDGE_BASE, KnowledgeBase)
    assert kb.framework_mode == "enabled" and [f.name for f in kb.frameworks] == ["MECE"]
    assert kb.frameworks[0].mapping and kb.frameworks[0].mapping[0].provenance == ["q01"]


def test_a_bank_interview_with_an_unusable_model_drafts_from_the_answers(projects_root: Path, fake_llm) -> None:
    fake_llm.on_text(".*", "I am a teapot. {not json")
    p = _sql_project(projects_root, SQL_ANSWERS, offline=True)
    art = draft_artifacts(p, None)
    assert art.source == "answers" and "unusable" in art.note
    assert [c.name for c in art.taxonomy.categories] == ["joins", "aggregates"]
    assert art.knowledge_base.framework_mode == "disabled"


def test_without_a_model_the_draft_comes_from_the_answers(projects_root: Path) -> None:
    p = _sql_project(projects_root, SQL_ANSWERS, offline=True)
    art = draft_artifacts(p, None)
    assert art.source == "answers" and "no LLM configured" in art.note


def test_first_suggestions_of_the_whole_bank_land_where_their_questions_say(projects_root: Path) -> None:
    """The issue-11 run: every bank question answered with an empty line (= its first suggestion)."""
    from core.extract.question_bank import bank

    answers = [(f"b{i:02d}", bq.round, bq.render(SQL_TASK), bq.suggestions[0]) for i, bq in enumerate(bank())]
    p = _sql_project(projects_root, answers)
    by_start = {_bank_slot(bq.text): bq.suggestions[0] for bq in bank() if _bank_slot(bq.text) not in (
        "always", "gray_areas", "edge_cases", "input", "minimum_acceptable")}
    art = draft_artifacts(p, None)
    kb, b, tax, qc = art.knowledge_base, art.boundaries, art.taxonomy, art.criteria
    texts = lambda items: [s.text for s in items]  # noqa: E731
    assert by_start["will"] in texts(b.will) and by_start["will"] not in texts(b.will_not)
    assert texts(b.will_not) == [by_start["will_not"]]
    assert texts(b.hard_constraints) == [by_start["hard_constraints"]] == texts(kb.constraints)
    assert "When a request is out of scope: decline in one sentence and say who can help" in texts(
        kb.competencies.always)
    assert "General, educational questions about a sensitive topic (explain, don't advise)" in texts(b.will)
    assert "Adapts to context: the same answer for everyone" in " ".join(texts(kb.competencies.always))
    assert "Audience: Members of the public" in kb.task_definition and "Inputs: A short question" in kb.task_definition
    assert [c.name for c in tax.categories] == ["general"]  # "Mostly one kind of request..." names no category
    assert any(t.startswith("Never acceptable: a confidently wrong answer") for t in texts(qc.minimum_acceptable))
    assert texts(qc.metrics) == [by_start["metrics"]]
    assert kb.framework_mode == "disabled" and kb.frameworks == []


def test_no_look_alikes_is_a_judgement_call_not_a_capability(projects_root: Path) -> None:
    from core.extract.question_bank import for_round

    q = next(q for q in for_round("boundary") if q.text.startswith("Are there requests that look out of scope"))
    p = _sql_project(projects_root, [("q01", "boundary", q.text, q.suggestions[-1])])
    art = draft_artifacts(p, None)
    assert [s.text for s in art.knowledge_base.competencies.gray_areas] == ["No: when in doubt it should decline"]
    assert [s.text for s in art.boundaries.will] == [SQL_TASK]  # nothing in scope was said: the task itself


def test_nothing_the_drafting_model_returns_sets_the_framework_mode(projects_root: Path, fake_llm) -> None:
    fake_llm.on_schema("ScopeDraft", _sql_scope_reply).on_schema("TaxonomyDraft", SQL_TAXONOMY_REPLY)
    for preset, answer, mode, names in (("minimal", NO_FW, "disabled", []), ("minimal", "No.", "disabled", []),
                                        ("minimal", "Yes: MECE (mutually exclusive, collectively exhaustive "
                                                    "problem breakdown)", "enabled", ["MECE"]),
                                        ("framework-heavy", NO_FW, "enabled", ["CBT", "DBT", "ACT"])):
        answers = [a if a[0] != "frameworks" else (*a[:3], answer) for a in SQL_ANSWERS]
        p = _sql_project(projects_root / preset / str(len(answer)), answers, offline=False, preset=preset)
        art = draft_artifacts(p, Gateway(roles=p.meta.models, cache_dir=p.cache_dir / "llm"))
        assert art.source == "llm"
        kb = p.read(KNOWLEDGE_BASE, KnowledgeBase)
        assert kb.framework_mode == mode and [f.name for f in kb.frameworks] == names, (preset, answer)


NO_FW = "No established framework applies; build a custom taxonomy from this conversation"
