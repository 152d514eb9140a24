"""Strategy selection (the spec's table and its overrides) and the exact quotas of plan_cells."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from core.errors import StageNotReady
from core.extract.quotas import largest_remainder, round_half_up
from core.generate.plan import CELL_SIZE, Cell, plan_cells, split_cells
from core.generate.strategy import STRATEGIES, StrategyPlan, choose_strategy, strategy_for
from core.models.knowledge import Category, FrameworkUse, InputTaxonomy, KnowledgeBase, ScopeBoundaries, Statement
from core.response_template import decide
from core.project import BOUNDARIES, TAXONOMY, Project
from tests.test_generate_formats import make_project

CBT = {"name": "CBT", "template": ["Empathetic reflection", "Identify pattern", "Teach technique",
                                   "Practice prompt", "Encouragement"]}

# ---------------------------------------------------------------- the table


@pytest.mark.parametrize("task_type,name,role,critique,verify,contrastive", [
    ("classification", "few_shot", "generator_fast", False, False, False),
    ("instruction_following", "seed_diversification", "generator", True, False, False),
    ("transformation", "seed_diversification", "generator", False, True, False),
    ("preference", "contrastive", "generator", False, False, True),
    ("reasoning", "cot", "generator", False, True, False),
])
def test_auto_follows_the_spec_table(task_type, name, role, critique, verify, contrastive) -> None:
    plan = choose_strategy(task_type, "auto", "sft")
    assert (plan.name, plan.role, plan.self_critique, plan.verify, plan.contrastive) == (
        name, role, critique, verify, contrastive)
    assert plan.template_steps == ()
    assert plan.reason.startswith(f"auto for {task_type.replace('_', '-')}") and "\n" not in plan.reason
    assert plan.name in STRATEGIES


@pytest.mark.parametrize("method", ["dpo", "kto"])
@pytest.mark.parametrize("task_type", ["classification", "instruction_following", "reasoning"])
def test_preference_methods_make_auto_contrastive(task_type: str, method: str) -> None:
    plan = choose_strategy(task_type, "auto", method)
    assert plan.name == "contrastive" and plan.contrastive and plan.role == "generator"
    assert method.upper() in plan.reason
    # the task type's checks stay
    assert plan.verify == (task_type == "reasoning")
    assert plan.self_critique == (task_type == "instruction_following")


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_non_preference_methods_are_not_contrastive(method: str) -> None:
    assert not choose_strategy("instruction_following", "auto", method).contrastive


def test_overrides() -> None:
    few = choose_strategy("reasoning", "few_shot", "sft")
    assert (few.name, few.role, few.verify) == ("few_shot", "generator", True)
    assert "generation_strategy" in few.reason
    assert choose_strategy("classification", "few_shot", "sft").role == "generator_fast"
    cot = choose_strategy("classification", "cot", "sft")
    assert (cot.name, cot.role, cot.verify) == ("cot", "generator", True)
    con = choose_strategy("instruction_following", "contrastive", "sft")
    assert (con.name, con.contrastive, con.self_critique) == ("contrastive", True, True)
    # a contrastive method keeps the overridden prompt style, with rejected responses
    cot_dpo = choose_strategy("reasoning", "cot", "dpo")
    assert (cot_dpo.name, cot_dpo.contrastive) == ("cot", True)


def _kb(mode: str, *frameworks: dict) -> KnowledgeBase:
    return KnowledgeBase(task_definition="t", framework_mode=mode,
                         frameworks=[FrameworkUse(name=f["name"], template=f["template"]) for f in frameworks])


def test_template_mode_is_one_decision() -> None:
    on = decide(_kb("enabled", CBT), "auto", False)
    auto_on = choose_strategy("instruction_following", "auto", "sft", on)
    assert auto_on.name == "seed_diversification" and auto_on.template_steps == tuple(CBT["template"])
    assert "CBT template" in auto_on.reason
    assert decide(_kb("disabled", CBT), "auto", True) is not None  # config framework_mode
    assert decide(_kb("disabled", CBT), "auto", False) is None
    assert decide(_kb("disabled", {"name": "X", "template": []}, CBT), "template", False).steps == tuple(CBT["template"])
    forced = choose_strategy("transformation", "template", "sft", decide(_kb("disabled", CBT), "template", False))
    assert forced.name == "template" and forced.template_steps == tuple(CBT["template"]) and forced.verify
    missing = choose_strategy("instruction_following", "template", "sft", decide(_kb("enabled"), "template", True))
    assert missing.name == "seed_diversification" and missing.template_steps == ()
    assert "no framework template" in missing.reason
    # an explicit few-shot strategy in framework mode still follows the template: the filters check it
    few = choose_strategy("classification", "few_shot", "sft", decide(_kb("enabled", CBT), "few_shot", False))
    assert few.template_steps == tuple(CBT["template"])


def test_unknown_values_are_errors() -> None:
    with pytest.raises(ValueError, match="task_type"):
        choose_strategy("poetry", "auto", "sft")
    with pytest.raises(ValueError, match="generation_strategy"):
        choose_strategy("reasoning", "magic", "sft")


def test_plan_is_frozen_and_strategy_for_reads_the_project(projects_root: Path) -> None:
    plan = choose_strategy("reasoning", "auto", "sft")
    assert isinstance(plan, StrategyPlan)
    with pytest.raises(AttributeError):
        plan.name = "x"  # type: ignore[misc]
    p = make_project(projects_root, method="kto", task_type="classification", framework=True)
    s = strategy_for(p)
    assert s.name == "contrastive" and len(s.template_steps) == 3
    p.meta.config.generate.generation_strategy = "cot"
    assert strategy_for(p).name == "cot"


# ---------------------------------------------------------------- plan_cells


def _totals(cells: list[Cell]) -> Counter:
    out: Counter = Counter()
    for c in cells:
        out[c.kind] += c.count
        out[c.difficulty] += c.count
        out[("cat", c.category)] += c.count
    return out


@pytest.mark.parametrize("n", [1, 7, 50, 100, 200, 333, 1000, 2000, 10000])
@pytest.mark.parametrize("cats", [
    [("billing", 3.0), ("paperwork", 2.0), ("planning", 1.0)],
    [("only", 1.0)],
    [(f"c{i}", float(i % 4 + 1)) for i in range(11)],
])
def test_split_cells_exact(n: int, cats: list[tuple[str, float]]) -> None:
    dist = [0.3, 0.5, 0.2]
    cells = split_cells(n, cats, complexity=dist, edge_case_ratio=0.15, out_of_scope_ratio=0.10,
                        competencies=["a", "b", "c"], edge_cases=["e1", "e2"], will_not=["w1", "w2", "w3"], seed=3)
    assert sum(c.count for c in cells) == n and all(c.count > 0 for c in cells)
    t = _totals(cells)
    refusal = round_half_up(n, 0.10)
    edge = min(n - refusal, round_half_up(n, 0.15))
    assert (t["refusal"], t["edge"], t["common"]) == (refusal, edge, n - refusal - edge)
    assert [t["easy"], t["medium"], t["hard"]] == largest_remainder(n, dist)
    # in-scope kinds follow the category weights (largest remainder per kind)
    for kind in ("common", "edge"):
        per = Counter()
        for c in cells:
            if c.kind == kind:
                per[c.category] += c.count
        want = dict(zip([c for c, _ in cats], largest_remainder(t[kind], [w for _, w in cats])))
        assert {k: v for k, v in want.items() if v} == dict(per)
    assert len({c.key for c in cells}) == len(cells)
    assert {c.exercises for c in cells if c.kind == "refusal"} <= {"w1", "w2", "w3"}
    assert {c.exercises for c in cells if c.kind == "edge"} <= {"e1", "e2"}
    assert {c.exercises for c in cells if c.kind == "common"} <= {"a", "b", "c"}
    assert all(c.category == "out_of_scope" for c in cells if c.kind == "refusal")


def test_split_cells_spreads_what_is_exercised() -> None:
    cells = split_cells(2000, [("a", 1.0), ("b", 1.0)], competencies=[f"k{i}" for i in range(6)],
                        edge_cases=["e1", "e2", "e3"], will_not=["w1", "w2"])
    per = Counter()
    for c in cells:
        per[c.exercises] += c.count
    assert min(per[f"k{i}"] for i in range(6)) > 150
    assert min(per[e] for e in ("e1", "e2", "e3")) > 60
    assert per["w1"] == per["w2"] == 100
    # chunks of CELL_SIZE rotate the pool; chunks with the same key merge, so keys stay unique
    assert len(cells) <= 2 * 3 * 6 + 2 * 3 * 3 + 2 * 3 and len({c.key for c in cells}) == len(cells)
    small = split_cells(30, [("a", 1.0)], competencies=[f"k{i}" for i in range(6)], edge_cases=[], will_not=[])
    assert max(c.count for c in small) <= CELL_SIZE


def test_split_cells_seed_and_edge_cases() -> None:
    cats = [("a", 1.0), ("b", 2.0)]
    kw = dict(competencies=["x", "y", "z"], edge_cases=["e1", "e2"], will_not=["w"])
    assert split_cells(100, cats, seed=1, **kw) == split_cells(100, cats, seed=1, **kw)
    assert {c.count for c in split_cells(100, cats, seed=2, **kw)}
    assert split_cells(0, cats, **kw) == []
    none = split_cells(40, cats, competencies=[], edge_cases=[], will_not=[])
    assert not any(c.kind == "refusal" for c in none) and sum(c.count for c in none) == 40
    assert all(c.exercises for c in none)
    all_edge = split_cells(10, cats, edge_case_ratio=1.0, out_of_scope_ratio=0.2, will_not=["w"])
    assert _totals(all_edge)["refusal"] == 2 and _totals(all_edge)["edge"] == 8
    with pytest.raises(ValueError):
        split_cells(10, [])


def test_plan_cells_from_project(projects_root: Path) -> None:
    p = make_project(projects_root)
    p.meta.config.generate.complexity_distribution = [0.5, 0.5, 0.0]
    p.meta.config.generate.edge_case_ratio = 0.2
    p.meta.config.extract.out_of_scope_ratio = 0.05
    p.save()
    for n in (50, 100, 2000):
        cells = plan_cells(p, n, seed=n)
        t = _totals(cells)
        assert sum(c.count for c in cells) == n
        assert t["hard"] == 0 and t["easy"] + t["medium"] == n
        assert t["refusal"] == round_half_up(n, 0.05) and t["edge"] == round_half_up(n, 0.2)
        assert {c.exercises for c in cells if c.kind == "common"} <= {
            "give concrete next steps", "state assumptions when details are missing"}
        assert {c.exercises for c in cells if c.kind == "refusal"} == {
            "give binding legal advice", "handle medical emergencies"}
        assert t[("cat", "billing")] > t[("cat", "paperwork")] > t[("cat", "planning")]


def test_plan_cells_needs_a_taxonomy(projects_root: Path) -> None:
    p = Project.create("Bare", "t", root=projects_root)
    with pytest.raises(StageNotReady, match="tunesmith boundaries bare"):
        plan_cells(p, 10)
    p.write(TAXONOMY, InputTaxonomy(categories=[Category(name="x")]))
    cells = plan_cells(p, 10)  # no boundaries: no refusals; no competencies: generic exercises
    assert sum(c.count for c in cells) == 10 and not any(c.kind == "refusal" for c in cells)
    p.write(BOUNDARIES, ScopeBoundaries(will=[Statement(text="help with x")], will_not=[Statement(text="y")]))
    cells = plan_cells(p, 10)
    assert {c.exercises for c in cells if c.kind == "common"} == {"help with x"}
    assert sum(c.count for c in cells if c.kind == "refusal") == 1
