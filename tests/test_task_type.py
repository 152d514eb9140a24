"""The task type comes from the task, not the preset (issue 11): heuristic, grounded model answers, the
interview's refinement, the user's choice, and the CLI that shows and changes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import task_type as tt
from core.models.presets import PRESETS
from core.project import Project

SQL = "Explain SQL queries in plain English to business analysts, and refuse requests outside analytics"


@pytest.mark.parametrize("task,expected,labels", [
    ("route tickets to billing, shipping or login", "classification", ("billing", "shipping", "login")),
    ("Label each review as positive, negative or neutral", "classification", ("positive", "negative", "neutral")),
    ("Triage incoming bug reports into crash, ui, performance and docs", "classification",
     ("crash", "ui", "performance", "docs")),
    ("Decide whether an email is a phishing attempt", "classification", ()),
    (SQL, "instruction_following", ()),
    ("answer billing questions for our SaaS customers", "instruction_following", ()),
    ("Help customers send invoices to clients, partners or suppliers", "instruction_following", ()),
    ("Summarize legal clauses in plain English for small business owners", "transformation", ()),
    ("Translate support macros into Spanish", "transformation", ()),
    ("extract invoice fields into JSON", "transformation", ()),
    ("Tutor kids in maths word problems", "reasoning", ()),
    ("a CBT skills coach", "instruction_following", ()),
])
def test_heuristic(task: str, expected: str, labels: tuple[str, ...]) -> None:
    d = tt.heuristic(task)
    assert (d.task_type, d.labels) == (expected, labels), d.reason
    assert d.reason and d.source == "heuristic"


def test_a_model_decides_only_when_it_quotes_the_task() -> None:
    grounded = tt.TaskTypeGuess(task_type="classification", evidence="to billing, shipping or login",
                                labels=["billing", "shipping", "login", "invented"], reason="three labels")
    d = tt.from_guess(grounded, "route tickets to billing, shipping or login", "llm")
    assert d is not None and d.task_type == "classification" and d.labels == ("billing", "shipping", "login")
    nonsense = tt.TaskTypeGuess(task_type="preference", evidence="Gu invoice mohuto pivaka", labels=[],
                                reason="Bififave change bo")
    assert tt.from_guess(nonsense, SQL, "llm") is None


def test_presets_never_set_the_task_type(projects_root: Path) -> None:
    """The defect: the minimal preset made the SQL explainer a classification task, scored by exact match."""
    for name in PRESETS:
        p = Project.create(f"SQL {name}", SQL, preset=name, root=projects_root)
        assert p.meta.task_type == "instruction_following", name
        assert p.meta.task_type_source == "heuristic" and "Explain" in p.meta.task_type_reason
    router = Project.create("Router", "route tickets to billing, shipping or login", preset="standard",
                            root=projects_root)
    assert router.meta.task_type == "classification" and router.meta.labels == ["billing", "shipping", "login"]


def test_a_user_choice_is_never_overridden(projects_root: Path) -> None:
    p = Project.create("Mine", SQL, task_type="reasoning", root=projects_root)
    assert (p.meta.task_type, p.meta.task_type_source) == ("reasoning", "user")
    assert not tt.apply(p.meta, tt.TaskTypeDecision("classification", "x", "interview", ("a", "b")))
    assert p.meta.task_type == "reasoning"


def test_cli_shows_and_changes_it(projects_root: Path, capsys: pytest.CaptureFixture) -> None:
    from core.cli import main

    assert main(["new", "Router", "--task", "route tickets to billing, shipping or login"]) == 0
    out = capsys.readouterr().out
    assert "task type: classification (from the task text)" in out and "labels: billing, shipping, login" in out
    assert main(["task-type", "router", "instruction_following", "--reason", "answers, not labels"]) == 0
    assert main(["task-type", "router", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown == {"task_type": "instruction_following", "reason": "answers, not labels", "source": "user",
                     "labels": []}
    assert main(["task-type", "router", "--labels", "a,b"]) == 2  # labels belong to classification only
    assert main(["task-type", "router", "classification", "--labels", "billing, shipping"]) == 0
    p = Project.open("router", projects_root)
    assert p.meta.labels == ["billing", "shipping"] and p.meta.task_type_source == "user"
    assert main(["task-type", "router", "--infer"]) == 0
    assert Project.open("router", projects_root).meta.task_type_source == "heuristic"


def test_the_interview_refines_it(projects_root: Path) -> None:
    from core.extract.artifacts import Artifacts, ScopeDraft, refine_decisions
    from core.models.knowledge import InputTaxonomy, KnowledgeBase, QualityCriteria, Question, ScopeBoundaries

    p = Project.create("Support", "Help our support team with incoming tickets", root=projects_root)
    assert p.meta.task_type == "instruction_following"
    answers = [Question(id="q1", round="variation", text="What are the kinds of ticket?",
                        answer="We route each one to billing, delivery or account.")]
    draft = ScopeDraft.model_construct(task_type="classification", task_type_evidence="to billing, delivery or account",
                                       labels=["billing", "delivery", "account"],
                                       refusal_message="Not a refusal at all.")
    arts = Artifacts(KnowledgeBase(task_definition="t"), ScopeBoundaries(), InputTaxonomy(), QualityCriteria(),
                     "llm", scope_draft=draft)
    refine_decisions(p, arts, answers)
    p.reload()
    assert (p.meta.task_type, p.meta.task_type_source) == ("classification", "interview")
    assert p.meta.labels == ["billing", "delivery", "account"] and arts.knowledge_base.task_type == "classification"
    from core.refusal import DEFAULT_MESSAGE

    assert arts.boundaries.refusal_message == DEFAULT_MESSAGE  # a sentence the rule does not recognise
