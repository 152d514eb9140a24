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
