"""The framework library, lookup, suggestion, mapping a task onto a framework, and what gets loaded."""

from __future__ import annotations

import pytest

from core.extract import frameworks as fw
from core.extract.frameworks import FRAMEWORK_QUESTION_ID, FrameworkMapping, NO_FRAMEWORK
from core.models.knowledge import Interview, Question
from core.project import INTERVIEW, Project

REQUIRED = ["CBT", "DBT", "ACT", "MECE", "PEP 8", "Clean Code", "Classic writing principles",
            "Customer support escalation model"]


def test_library_has_the_required_frameworks_in_full() -> None:
    names = fw.names()
    for name in REQUIRED:
        assert name in names
    for f in fw.library():
        assert f.summary and f.label, f.name
        assert len(f.components) >= 4 and len(f.terminology) >= 5 and len(f.template) >= 4, f.name
    assert list(fw.find("CBT").template) == [
        "Empathetic reflection", "Identify pattern", "Teach technique", "Practice prompt", "Encouragement"]
    support = fw.find("customer support")
    assert list(support.template) == [
        "Acknowledge issue", "Show understanding", "Provide solution steps", "Confirm understanding",
        "Offer additional help"]
    assert any("L1" in c for c in support.components) and any("L3" in c for c in support.components)
    assert "escalation" in support.terminology


@pytest.mark.parametrize("query,name", [
    ("pep8", "PEP 8"), ("PEP-8", "PEP 8"), ("clean code", "Clean Code"), ("Clean-Code principles", "Clean Code"),
    ("cbt", "CBT"), ("Cognitive Behavioural Therapy", "CBT"), ("act", "ACT"), ("dbt", "DBT"), ("mece", "MECE"),
    ("Strunk and White", "Classic writing principles"), ("classic writing", "Classic writing principles"),
    ("L1/L2/L3", "Customer support escalation model"), ("tiered support", "Customer support escalation model"),
])
def test_find_is_tolerant(query: str, name: str) -> None:
    assert fw.find(query).name == name


def test_find_unknown() -> None:
    assert fw.find("ITIL") is None and fw.find("") is None and fw.find("code") is None


def test_mentioned_in_free_text() -> None:
    assert [f.name for f in fw.mentioned("Yes: CBT and ACT, mostly CBT")] == ["CBT", "ACT"]
    assert fw.mentioned("we act fast and keep things solid") == []  # ordinary words are not acronyms
    assert [f.name for f in fw.mentioned("pep 8 plus clean-code")] == ["PEP 8", "Clean Code"]
    assert fw.mentioned(NO_FRAMEWORK) == []


@pytest.mark.parametrize("task,first", [
    ("A CBT-based self-help coach for everyday stress", "CBT"),
    ("Review Python pull requests for style problems", "PEP 8"),
    ("Customer support chatbot for billing and refunds", "Customer support escalation model"),
    ("Help consultants structure a market-entry analysis", "MECE"),
    ("Give feedback on essay drafts", "Classic writing principles"),
])
def test_suggest_by_keywords(task: str, first: str) -> None:
    assert fw.suggest(task)[0].name == first


def test_framework_question_suggestions() -> None:
    s = fw.framework_suggestions("Review Python pull requests for style problems")
    assert 2 <= len(s) <= 4 and s[-1] == NO_FRAMEWORK and "PEP 8" in s[0]
    for text in s[:-1]:  # each suggestion names exactly one framework
        assert len(fw.mentioned(text)) == 1, text
    s = fw.framework_suggestions("Self-help coach for stress", ["CBT", "DBT", "ACT"])
    assert s[0] == "Yes: CBT, DBT and ACT"
    s = fw.framework_suggestions("Invent names for pet hamsters")
    assert 2 <= len(s) <= 4 and s[0] == NO_FRAMEWORK


def test_is_negative() -> None:
    assert fw.is_negative(NO_FRAMEWORK) and fw.is_negative("No, none really")
    assert not fw.is_negative("No formal one, but we loosely follow MECE")
    assert not fw.is_negative("Yes: CBT")


# ---------------------------------------------------------------- loading and mapping


def _project(name: str, task: str, preset: str = "standard") -> Project:
    return Project.create(name, task, preset=preset)


def _interview(answer: str | None) -> Interview:
    questions = [Question(id="q01", round="boundary", text="What is in scope?", suggestions=["a", "b"],
                          answer="Stress and worry, never crises")]
    if answer is not None:
        questions.append(Question(id=FRAMEWORK_QUESTION_ID, round="competency", text=fw.FRAMEWORK_QUESTION,
                                  suggestions=["a", "b"], answer=answer))
    return Interview(questions=questions, persona_index=0)


def test_nothing_loads_when_disabled_and_not_named() -> None:
    project = _project("Bot", "Customer support chatbot for billing")
    assert fw.load_frameworks(project, _interview(None)) == []
    assert fw.load_frameworks(project, _interview(NO_FRAMEWORK)) == []
    assert fw.load_frameworks(project, _interview("No.")) == []


def test_named_frameworks_load_even_when_disabled() -> None:
    project = _project("Bot", "Customer support chatbot for billing")
    loaded = fw.load_frameworks(project, _interview("Yes: our tiered support (L1/L2/L3) and MECE"))
    assert [f.name for f in loaded] == ["MECE", "Customer support escalation model"]
    assert loaded[1].template[0] == "Acknowledge issue" and loaded[1].mapping == []


def test_enabled_mode_loads_the_configured_sources() -> None:
    project = _project("Coach", "Self-help coach for everyday stress", preset="framework-heavy")
    loaded = fw.load_frameworks(project, _interview(None))
    assert [f.name for f in loaded] == ["CBT", "DBT", "ACT"]
    assert loaded[0].components and loaded[0].terminology
    # the answer adds to the configured sources, without duplicates
    loaded = fw.load_frameworks(project, _interview("Yes: CBT and Motivational Interviewing"))
    assert [f.name for f in loaded] == ["CBT", "Motivational Interviewing", "DBT", "ACT"]


def test_enabled_mode_without_sources_suggests_from_the_task() -> None:
    project = _project("Reviewer", "Review Python pull requests for style problems")
    project.meta.config.extract.framework_mode = "enabled"
    project.save()
    assert [f.name for f in fw.load_frameworks(project, _interview(None))] == ["PEP 8", "Clean Code"]


def test_load_reads_the_saved_interview() -> None:
    project = _project("Bot", "Support bot")
    project.write(INTERVIEW, _interview("Yes: DBT"))
    assert [f.name for f in fw.load_frameworks(project)] == ["DBT"]


def test_unknown_configured_source_is_kept_by_name() -> None:
    project = _project("Ops", "Help IT staff handle incidents")
    project.meta.config.extract.framework_mode = "enabled"
    project.meta.config.extract.framework_sources = ["ITIL"]
    project.save()
    (loaded,) = fw.load_frameworks(project, _interview(None))
    assert loaded.name == "ITIL" and loaded.components == []


def test_map_to_task_offline_copies_the_components() -> None:
    use = fw.map_to_task(None, "cbt", _interview("Yes: CBT"))
    assert use.name == "CBT" and list(use.components) == list(fw.find("CBT").components) and use.mapping == []


def test_map_to_task_with_the_model(fake_llm) -> None:
    fake_llm.on_schema("FrameworkMapping", {"mappings": [
        {"component": "Cognitive restructuring", "statement": "Helps users test worried thoughts against evidence",
         "question_ids": ["q01", "q99"]},
        {"component": "Thought records", "statement": "Suggests a short thought record", "question_ids": "frameworks"},
        {"component": "Exposure", "statement": "  "},
    ], "components": ["ignored for a library framework"]})
    project = _project("Coach", "Self-help coach for everyday stress", preset="framework-heavy")
    from core.extract.interview_llm import make_gateway

    gateway = make_gateway(project)
    use = fw.map_to_task(gateway, "CBT", _interview("Yes: CBT"), task=project.meta.task)
    assert use.components == list(fw.find("CBT").components)
    assert [m.provenance for m in use.mapping] == [["q01"], ["frameworks"]]  # unknown ids dropped
    assert use.mapping[0].text.startswith("Cognitive restructuring: ")
    assert "Self-help coach for everyday stress" in str(fake_llm.requests[-1]["messages"])
    loaded = fw.load_frameworks(project, _interview(None), gateway)
    assert len(loaded) == 3 and all(f.mapping for f in loaded)


def test_map_to_task_with_a_garbage_model_stays_offline(fake_llm) -> None:
    fake_llm.on_text(".*", "no json here")
    project = _project("Coach", "Self-help coach", preset="framework-heavy")
    from core.extract.interview_llm import make_gateway

    use = fw.map_to_task(make_gateway(project), "DBT", _interview("Yes"))
    assert use.name == "DBT" and use.components and use.mapping == []
    assert FrameworkMapping.__name__ == "FrameworkMapping"


# ---------------------------------------------------------------- real matches first, weak ones after "no framework"

SQL_TASK = "Explain SQL queries in plain English to business analysts, and refuse requests outside analytics"

# (task, what the framework question's first suggestion names: a framework, or None for NO_FRAMEWORK)
FIRST_SUGGESTION = [
    (SQL_TASK, None),  # issue 11: "plain English" and "business" alone are no framework
    ("Route incoming support tickets to the right team: billing, shipping or technical", None),
    ("Scale recipes to a different number of servings and convert between metric and imperial units", None),
    ("Summarise the key clauses of commercial lease contracts in plain English for small-business owners", None),
    ("Extract invoice numbers, dates and totals from scanned invoices into JSON", None),
    ("Tutor children aged 8 to 11 in maths with hints rather than answers", None),
    ("Rewrite marketing copy so it is shorter and punchier for social media", None),
    ("Translate product descriptions from English into German", None),
    ("Summarise customer support conversations for the weekly report", None),
    ("Classify product reviews by sentiment", None),
    ("Explain stress-test results to bank risk analysts", None),
    ("Write unit tests for Python functions", None),
    ("Teach CBT skills for everyday stress", "CBT"),
    ("Teach CBT/DBT skills for everyday stress", "CBT"),
    ("A self-help coach for anxiety and worry", "CBT"),
    ("Review Python pull requests for style problems", "PEP 8"),
    ("Review Python code, suggest improvements", "PEP 8"),
    ("Review TypeScript pull requests for maintainability", "Clean Code"),
    ("Coach writers on their drafts", "Classic writing principles"),
    ("Give feedback on essay drafts", "Classic writing principles"),
    ("Customer support agent that troubleshoots common issues and escalates complex ones", 
     "Customer support escalation model"),
    ("Help consultants structure a market-entry analysis", "MECE"),
    ("Help job seekers answer behavioural interview questions", "STAR"),
    ("Answer tenants' legal questions about their rights under a lease", "IRAC"),
    ("Help nurses structure patient handovers", "SBAR"),
    ("Help people quit smoking using motivational interviewing", "Motivational Interviewing"),
]


@pytest.mark.parametrize("task,first", FIRST_SUGGESTION)
def test_framework_question_first_suggestion(task: str, first: str | None) -> None:
    s = fw.framework_suggestions(task)
    assert 2 <= len(s) <= 4 and NO_FRAMEWORK in s, s
    if first is None:
        assert s[0] == NO_FRAMEWORK, s  # an empty answer (= first suggestion) builds a custom taxonomy
    else:
        assert s[0].startswith(f"Yes: {first}") and fw.mentioned(s[0])[0].name == first, s
    for text in s:  # every "Yes" names exactly one framework
        if text.startswith("Yes"):
            assert len(fw.mentioned(text)) == 1, text


def test_weak_matches_are_offered_after_no_framework() -> None:
    s = fw.framework_suggestions(SQL_TASK)
    assert s[0] == NO_FRAMEWORK
    later = [f.name for text in s[1:] for f in fw.mentioned(text)]
    assert later == ["MECE"]  # "business" + "analysts": still offered, just not first
    assert [f.name for f in fw.suggest(SQL_TASK)] == ["MECE", "Classic writing principles"]
    assert fw.suggest(SQL_TASK, strong_only=True) == []
    assert fw.framework_suggestions("Coach writers on their drafts")[:2] == [
        "Yes: Classic writing principles (clear, concise, concrete prose in the active voice)", NO_FRAMEWORK]


def test_configured_sources_still_come_first() -> None:
    s = fw.framework_suggestions(SQL_TASK, ["CBT", "DBT", "ACT"])
    assert s[0] == "Yes: CBT, DBT and ACT" and s.index(NO_FRAMEWORK) >= 1


@pytest.mark.parametrize("text", [
    "Explain it in plain English", "plain language, please", "it is plain customer support", "support",
    "writing", "business", "we row with oars", "we keep the code clean and readable",
])
def test_mentioned_ignores_generic_words(text: str) -> None:
    assert fw.mentioned(text) == [], text


def test_mentioned_still_finds_real_names() -> None:
    assert [f.name for f in fw.mentioned("We follow OARS and MI")] == ["Motivational Interviewing"]
    assert [f.name for f in fw.mentioned("our writing principles")] == ["Classic writing principles"]
    assert [f.name for f in fw.mentioned("a tiered support model (L1/L2/L3)")] == [
        "Customer support escalation model"]
    assert [f.name for f in fw.mentioned("pep8 and SOLID")] == ["PEP 8", "Clean Code"]
    assert fw.find("customer support").name == "Customer support escalation model"  # still a lookup name
    assert fw.find("plain English").name == "Classic writing principles"
    assert fw.is_negative("No framework; it is plain customer support in plain English")


def test_a_yes_answer_with_its_label_loads_only_that_framework() -> None:
    project = _project("Any", SQL_TASK, preset="minimal")
    for f in fw.library():
        answer = f"Yes: {f.name} ({f.label})"
        assert [x.name for x in fw.selected_frameworks(project, _interview(answer))] == [f.name], answer
    for answer in (NO_FRAMEWORK, "No", "None really; we explain in plain English"):
        assert fw.selected_frameworks(project, _interview(answer)) == [], answer


def test_enabled_mode_without_sources_loads_only_real_matches() -> None:
    project = _project("Sql", SQL_TASK)
    project.meta.config.extract.framework_mode = "enabled"
    project.save()
    assert fw.selected_frameworks(project, _interview(None)) == []
