"""The eval set: build against the fake LLM server (quotas, re-asks, duplicates, faults, resume), the
spot-check review (ratings saved as made, regeneration with notes, approval freezes), and the CLI."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from core import store
from core.embed import Embedder, load_model
from core.errors import StageNotReady, TunesmithError
from core.extract import evalset as ev
from core.extract import review as rv
from core.llm.gateway import Gateway
from core.models.knowledge import (
    Category,
    DifficultyLevel,
    EvalExample,
    EvalReview,
    InputTaxonomy,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, EVAL_REVIEW, EVAL_SET, TAXONOMY, Project
from tests.fakes.prompt_reading import read_request

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- a scripted generator

SUBJECTS = [
    "invoice", "refund", "password", "router", "vegetable garden", "sourdough recipe", "tax return", "passport",
    "bicycle chain", "violin lesson", "mortgage", "flu vaccine", "wedding speech", "spreadsheet formula",
    "dog's diet", "roof leak", "job interview", "chess opening", "car battery", "python script",
    "landlord dispute", "marathon plan", "solar panel", "bird feeder", "piano tuning", "school project",
    "insurance claim", "knitting pattern", "coffee grinder", "train ticket", "family budget", "thesis chapter",
    "aquarium filter", "wine pairing", "printer driver", "camping trip", "guitar amp", "phone contract",
    "yoga routine", "kitchen tiles", "credit card statement", "museum visit", "lawn mower", "birthday party",
    "resume", "electric bill", "hiking boots", "telescope", "podcast episode", "pension plan", "moving truck",
    "baby monitor", "tomato plants", "parking fine", "gym membership", "allergy medication", "novel manuscript",
    "wifi extender", "ski rental", "cat litter",
]
ACTIONS = [
    "cancel", "understand", "fix", "compare options for", "plan", "dispute", "set up", "speed up",
    "split the cost of", "explain to my kids", "get a second opinion on", "budget for", "document", "renew",
    "troubleshoot", "negotiate", "choose between brands for", "clean", "recover", "prepare", "insure",
    "translate", "schedule", "organise",
]
CONTEXTS = [
    "before my flight to Lisbon on Friday", "while my toddler naps", "after the storm flooded the basement",
    "on a pensioner's income", "with only a phone and no laptop", "for a team of twelve", "in a rented flat",
    "without telling my boss", "during Ramadan", "in freezing weather", "as a first-time buyer",
    "on a tight deadline", "after moving from Canada", "for my grandmother who is hard of hearing",
    "with a broken wrist", "at 3am", "when the manual is in German", "for a charity bake sale",
    "with two competing quotes", "after a failed first attempt",
]
FORMS = [
    "How do I {a} my {s} {c}?", "Can you help me {a} the {s} {c}", "I need to {a} a {s} {c}; where do I start?",
    "What's the smartest way to {a} our {s} {c}?", "My {s} is a mess - how would you {a} it {c}?",
    "{c}, I want to {a} my {s}. Ideas?",
]


class ScriptedModel:
    """Answers EvalBatch requests from the counts the prompt states in words, with varied inputs."""

    def __init__(self, seed: int = 7, tweak: Callable[[dict, list[dict]], list[dict]] | None = None):
        self.rng = random.Random(seed)
        self.subjects = itertools.cycle(self.rng.sample(SUBJECTS, len(SUBJECTS)))
        self.tweak = tweak
        self.asked: list[dict[str, Any]] = []  # parsed quota of every request

    def text(self) -> str:
        r = self.rng
        return r.choice(FORMS).format(a=r.choice(ACTIONS), s=next(self.subjects), c=r.choice(CONTEXTS))

    def __call__(self, request: dict) -> dict:
        first_user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        ask = read_request(first_user)
        assert ask, "every evalset prompt says in words what it asks for"
        assert "Quota:" not in first_user, "production prompts carry no lines written only for the fakes"
        kind, category = ask["kind"], ask["category"]
        counts = {"easy": ask["easy"], "medium": ask["medium"], "hard": ask["hard"]}
        assert sum(counts.values()) == ask["total"] <= ev.MAX_PER_REQUEST
        q = {"kind": kind, "category": category, **counts, "prompt": first_user}
        self.asked.append(q)
        examples = []
        for diff, n in counts.items():
            for _ in range(n):
                inp = self.text()
                ref = (f"I can't help with that here; please contact a specialist instead. ({inp[:20]})"
                       if kind == "out_of_scope" else f"Here is how: step one, step two, for '{inp[:30]}'.")
                examples.append({"input": inp, "reference": ref, "difficulty": diff,
                                 "rationale": f"{kind} example for {category}", "based_on": 1})
        if self.tweak is not None:
            examples = self.tweak(q, examples)
        return {"examples": examples}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def _model():
    load_model()  # the bundled MiniLM, once per module


@pytest.fixture
def project(projects_root: Path, _model) -> Project:
    p = Project.create("Helpdesk", "answer household admin questions", root=projects_root)
    p.meta.config.extract.eval_set_size = 50
    p.meta.config.extract.spot_check_size = 5
    p.save()
    approve_inputs(p)
    return p


def approve_inputs(p: Project, approved: bool = True, taxonomy: bool = True) -> None:
    p.write(BOUNDARIES, ScopeBoundaries(
        will=[Statement(text="explain household admin and paperwork", provenance=["q1"]),
              Statement(text="suggest practical next steps")],
        will_not=[Statement(text="give binding legal advice", provenance=["q2"]),
                  Statement(text="handle medical emergencies")],
        hard_constraints=[Statement(text="never ask for full card numbers")],
        approved=approved,
    ))
    if taxonomy:
        p.write(TAXONOMY, InputTaxonomy(
            categories=[Category(name="billing", description="bills and payments", weight=3, provenance=["q5"]),
                        Category(name="paperwork", description="forms and documents", weight=2),
                        Category(name="planning", description="budgets and schedules", weight=1)],
            difficulty_levels=[DifficultyLevel(name="easy", description="one clear question")],
            edge_cases=[Statement(text="the user mixes two unrelated problems", provenance=["q9"]),
                        Statement(text="the user's numbers do not add up")],
        ))
    if approved:
        p.mark("extract", "boundaries_approved")


def gateway(p: Project) -> Gateway:
    return Gateway(roles=p.meta.models, cache_dir=p.cache_dir / "llm", backoff_s=0.01, max_backoff_s=0.05)


def build(p: Project, **kwargs: Any) -> list[EvalExample]:
    gw = gateway(p)
    try:
        return ev.build_eval_set(p, gw, **kwargs)
    finally:
        gw.close()


def evalbatch_requests(server) -> list[dict]:
    return [r for r in server.requests if (r.get("response_format") or {}).get("json_schema", {}).get("name")
            == "EvalBatch"]


def assert_meets_plan(p: Project, examples: list[EvalExample]) -> None:
    plan = ev.plan_for(p)
    got: dict[tuple, int] = {}
    for ex in examples:
        key = (ex.kind, ex.category, ex.difficulty, ev.will_not_index(ex))
        got[key] = got.get(key, 0) + 1
    want = {(c.kind, c.category, c.difficulty, c.will_not): c.count for c in plan.cells}
    assert got == want
    assert len({ex.id for ex in examples}) == len(examples) == plan.size


# ---------------------------------------------------------------- preconditions


def test_refuses_without_approved_boundaries_taxonomy_or_llm(projects_root: Path) -> None:
    p = Project.create("Pre", "t", root=projects_root)
    with pytest.raises(StageNotReady, match="tunesmith boundaries pre"):
        ev.build_eval_set(p)
    approve_inputs(p, approved=False)
    with pytest.raises(StageNotReady, match="not approved yet.*boundaries pre --approve"):
        ev.build_eval_set(p)
    (p.folder / TAXONOMY).unlink()
    approve_inputs(p, approved=True, taxonomy=False)
    with pytest.raises(StageNotReady, match="no input taxonomy"):
        ev.build_eval_set(p)
    approve_inputs(p)
    with pytest.raises(TunesmithError, match=r"needs an LLM \(generator role\): set TUNESMITH_MODEL") as info:
        ev.build_eval_set(p)
    assert info.value.exit_code == 1
    assert not p.exists(EVAL_SET)


# ---------------------------------------------------------------- building


def test_build_meets_every_quota(fake_llm, project: Project) -> None:
    model = ScriptedModel()
    fake_llm.on_schema("EvalBatch", model)
    lines: list[str] = []
    examples = build(project, progress=lines.append)

    assert_meets_plan(project, examples)
    assert project.read_rows(EVAL_SET, EvalExample) == examples
    project.reload()
    assert project.meta.is_done("extract", "evalset")
    assert not (project.cache_dir / ev.PROGRESS_FILE).exists()
    assert lines[0].startswith("plan: 50 examples") and lines[-1].startswith("built 50 examples")

    for ex in examples:
        assert ex.input and ex.reference and ex.rationale
        assert "prompt evalset_" in ex.provenance
        assert ex.should_refuse == (ex.kind == "out_of_scope")
    oos = [ex for ex in examples if ex.kind == "out_of_scope"]
    assert {ex.category for ex in oos} == {"out_of_scope"}
    assert all(ex.provenance.startswith("WILL NOT #") for ex in oos)
    assert any("'give binding legal advice' (answers q2)" in ex.provenance for ex in oos)
    looks = [ex for ex in examples if ex.kind == "lookalike"]
    assert looks and all(ex.provenance.startswith("look-alike of WILL NOT #") for ex in looks)
    edges = [ex for ex in examples if ex.kind == "edge"]
    assert all("edge case #1 'the user mixes two unrelated problems' (answers q9)" in ex.provenance for ex in edges)
    assert any("category 'billing' (answers q5)" in ex.provenance for ex in examples)

    vecs = Embedder().encode([ex.input for ex in examples])
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.92

    prompts = [q["prompt"] for q in model.asked]
    assert all("Hard constraints:\n- never ask for full card numbers" in t for t in prompts)
    oos_prompt = next(q["prompt"] for q in model.asked if q["kind"] == "out_of_scope")
    assert "where to go instead" in oos_prompt
    look_prompt = next(q["prompt"] for q in model.asked if q["kind"] == "lookalike")
    assert "is within scope" not in look_prompt and "it does not refuse" in look_prompt


def test_too_few_and_duplicates_are_asked_again(fake_llm, project: Project) -> None:
    seen: set[tuple[str, str]] = set()

    def stingy(q: dict, examples: list[dict]) -> list[dict]:
        key = (q["kind"], q["category"])
        if key not in seen and len(examples) >= 2:  # the first answer for a group: too few, one repeated
            seen.add(key)
            half = examples[: len(examples) // 2]
            return half + [dict(half[0])]
        return examples

    model = ScriptedModel(seed=11, tweak=stingy)
    fake_llm.on_schema("EvalBatch", model)
    examples = build(project)
    assert_meets_plan(project, examples)
    reasks = [q for q in model.asked if "These inputs already exist" in q["prompt"]]
    assert reasks, "short groups are asked again, with the inputs to avoid"
    assert all("(batch 1." in q["prompt"] for q in model.asked if q not in reasks)
    assert any("(batch 2." in q["prompt"] for q in reasks)


def test_model_repeating_itself_is_deduplicated(fake_llm, project: Project) -> None:
    """A model that paraphrases an earlier input is told to avoid it, and the set stays duplicate-free."""
    earlier: list[str] = []

    def parrot(q: dict, examples: list[dict]) -> list[dict]:
        if earlier and q["kind"] == "common" and len(examples) >= 2:
            examples[0]["input"] = earlier[0].rstrip("?") + " please?"  # near-duplicate of an accepted one
        earlier.extend(e["input"] for e in examples)
        return examples

    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=3, tweak=parrot))
    examples = build(project)
    assert_meets_plan(project, examples)
    vecs = Embedder().encode([ex.input for ex in examples])
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, 0)
    assert sims.max() < 0.92


def test_malformed_and_truncated_replies_are_repaired(fake_llm, project: Project) -> None:
    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=5))
    fake_llm.inject("malformed_json", times=2, text='{"examples": [{"input": "oops"')
    fake_llm.inject("truncated", times=2)
    fake_llm.inject("server_error", times=1)
    examples = build(project)
    assert_meets_plan(project, examples)
    assert fake_llm.pending_faults == 0
    retried = [r for r in evalbatch_requests(fake_llm) if any("not a valid EvalBatch" in (m.get("content") or "")
                                                            or "cut off" in (m.get("content") or "")
                                                            for m in r["messages"])]
    assert retried


def test_short_cells_fail_clearly_then_resume(fake_llm, project: Project) -> None:
    def no_hard(q: dict, examples: list[dict]) -> list[dict]:
        return [e for e in examples if e["difficulty"] != "hard"]

    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=9, tweak=no_hard))
    with pytest.raises(ev.EvalSetShort) as info:
        build(project)
    msg = str(info.value)
    assert "quotas were not met" in msg and "/ hard:" in msg and "missing" in msg and "/ easy" not in msg
    assert not project.exists(EVAL_SET)
    progress = json.loads((project.cache_dir / ev.PROGRESS_FILE).read_text())
    kept = len(progress["examples"])
    plan = ev.plan_for(project)
    assert kept == plan.size - plan.by_difficulty()["hard"]

    fake_llm.reset()
    model = ScriptedModel(seed=10)
    fake_llm.on_schema("EvalBatch", model)
    examples = build(project)
    assert_meets_plan(project, examples)
    # the resumed build asked only for the missing hard examples
    assert model.asked and all(q["easy"] == q["medium"] == 0 and q["hard"] > 0 for q in model.asked)


def test_approval_freezes_and_force_rebuilds(fake_llm, project: Project) -> None:
    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=12))
    build(project)
    review = rv.approve(project)
    project.reload()
    assert project.meta.is_done("extract", "evalset_approved") and review.frozen_hash
    assert rv.verify_frozen(project) == review.frozen_hash
    with pytest.raises(ev.EvalSetFrozen, match="--force"):
        build(project)
    project.mark("generate", "pilot")
    examples = build(project, force=True)
    project.reload()
    assert len(examples) == 50
    assert project.meta.is_done("extract", "evalset") and not project.meta.is_done("extract", "evalset_approved")
    assert project.meta.stages["generate"].done == []  # later stages were withdrawn too
    assert not project.exists(EVAL_REVIEW)
    with pytest.raises(StageNotReady, match="not approved"):
        rv.verify_frozen(project)


# ---------------------------------------------------------------- review


def _examples(counts: dict[str, int]) -> list[EvalExample]:
    out = []
    for kind, n in counts.items():
        for i in range(n):
            out.append(EvalExample(id=f"ev-{kind[:3]}{i:04d}", input=f"{kind} {i}", reference="r",
                                   category="out_of_scope" if kind == "out_of_scope" else f"c{i % 3}",
                                   difficulty="medium", kind=kind))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("n", [5, 10, 20])
def test_stratified_sample(n: int) -> None:
    examples = _examples({"common": 65, "edge": 20, "lookalike": 5, "out_of_scope": 10})
    sample = rv.stratified_sample(examples, n, seed="x")
    assert len(sample) == n == len({ex.id for ex in sample})
    kinds = [ex.kind for ex in sample]
    assert {"out_of_scope", "edge", "lookalike", "common"} <= set(kinds)
    assert kinds.count("common") >= kinds.count("edge") >= 1
    assert rv.stratified_sample(examples, n, seed="x") == sample
    common = [ex for ex in sample if ex.kind == "common"]
    assert len({ex.category for ex in common}) == min(3, len(common))  # spread over categories


def test_review_flow_regenerates_with_notes_then_freezes(fake_llm, project: Project) -> None:
    model = ScriptedModel(seed=21)
    fake_llm.on_schema("EvalBatch", model)
    build(project)
    rnd = rv.current_round(project)
    assert rnd.number == 1 and len(rnd.sample) == 5
    assert {"out_of_scope", "edge"} <= {ex.kind for ex in rnd.sample}

    bad = rnd.sample[1]
    for i, ex in enumerate(rnd.sample):
        good = ex.id != bad.id
        rv.rate(project, ex.id, good, "" if good else "the reference ignores the deadline")
        saved = project.read(EVAL_REVIEW, EvalReview)  # saved as made
        assert len(saved.ratings) == i + 1
        if i < 4:
            assert rv.conclude(project) == "pending"
    assert project.read(EVAL_REVIEW, EvalReview).notes == {bad.id: "the reference ignores the deadline"}
    before = project.read_rows(EVAL_SET, EvalExample)

    model.asked.clear()
    gw = gateway(project)
    try:
        assert rv.conclude(project, gw) == "regenerated"
    finally:
        gw.close()
    assert len(model.asked) >= 1
    assert all("the reference ignores the deadline" in q["prompt"] and "rejected these earlier" in q["prompt"]
               for q in model.asked)
    after = project.read_rows(EVAL_SET, EvalExample)
    assert len(after) == len(before)
    pos = [ex.id for ex in before].index(bad.id)
    new = after[pos]
    assert new.id != bad.id and bad.id not in {ex.id for ex in after}
    assert (new.kind, new.category, new.difficulty) == (bad.kind, bad.category, bad.difficulty)
    assert ev.will_not_index(new) == ev.will_not_index(bad)
    assert f"replaces {bad.id} rejected in review round 1: the reference ignores the deadline" in new.provenance
    assert [ex for i, ex in enumerate(after) if i != pos] == [ex for i, ex in enumerate(before) if i != pos]

    rnd2 = rv.current_round(project)
    assert rnd2.number == 2 and [ex.id for ex in rnd2.sample] == [new.id]
    assert project.read(EVAL_REVIEW, EvalReview).rounds == 2
    rv.rate(project, new.id, True)
    assert rv.conclude(project) == "approved"
    project.reload()
    review = project.read(EVAL_REVIEW, EvalReview)
    assert review.approved and review.approved_at and project.meta.is_done("extract", "evalset_approved")
    assert review.ratings[bad.id] == "bad"  # history kept
    assert rv.verify_frozen(project) == review.frozen_hash

    with pytest.raises(TunesmithError, match="already approved"):
        rv.rate(project, new.id, False)
    tampered = [ex.model_copy(update={"reference": "changed"}) if i == 0 else ex for i, ex in enumerate(after)]
    store.write_parquet(project.path(EVAL_SET), tampered, EvalExample)
    with pytest.raises(rv.EvalSetChanged, match="changed after it was approved"):
        rv.verify_frozen(project)


def test_undo_and_regeneration_without_llm(fake_llm, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=31))
    build(project)
    rnd = rv.current_round(project)
    rv.rate(project, rnd.sample[0].id, False, "wrong")
    rv.undo(project, rnd.sample[0].id)
    assert project.read(EVAL_REVIEW, EvalReview).ratings == {}
    with pytest.raises(TunesmithError, match="not in review round 1"):
        rv.rate(project, "ev-nope", True)
    for ex in rnd.sample:
        rv.rate(project, ex.id, ex.id != rnd.sample[0].id, "too vague")
    monkeypatch.delenv("TUNESMITH_MODEL")
    with pytest.raises(TunesmithError, match="needs an LLM"):
        rv.conclude(project)
    # nothing changed: the round is still complete with one rejection, ready to retry
    again = rv.current_round(project)
    assert again.number == 1 and again.complete and len(again.rejected) == 1


# ---------------------------------------------------------------- CLI


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), input=stdin, timeout=180)


@pytest.mark.slow
def test_cli_build_and_review(fake_llm, project: Project) -> None:
    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=41))
    r = cli("evalset", "helpdesk")
    assert r.returncode == 0, r.stderr
    assert "plan: 50 examples" in r.stdout and "eval set: 50 examples" in r.stdout
    assert "out_of_scope 5" in r.stdout and "next: spot-check and approve the eval set" in r.stdout
    assert project.exists(EVAL_SET)

    r = cli("evalset", "helpdesk")  # an existing set: shown, not rebuilt
    assert r.returncode == 0 and "plan:" not in r.stdout and "review round 1: 0/5 rated" in r.stdout

    r = cli("review", "helpdesk", "evalset", stdin="y\nY looks right\n")
    assert r.returncode == 0, r.stderr
    assert "[1/5]" in r.stdout and "saved (2/5)" in r.stdout and "3 examples left to rate" in r.stdout
    assert project.read(EVAL_REVIEW, EvalReview).notes == {rv.current_round(project).sample[1].id: "looks right"}

    r = cli("review", "helpdesk", "evalset", stdin="y\nmaybe\n")
    assert r.returncode == 2 and "stdin line 2: 'maybe'" in r.stderr and "Traceback" not in r.stderr
    assert len(project.read(EVAL_REVIEW, EvalReview).ratings) == 3

    r = cli("review", "helpdesk", "evalset", stdin="y\ny\n")
    assert r.returncode == 0, r.stderr
    assert "approved: every sampled example was rated good" in r.stdout
    project.reload()
    assert project.meta.is_done("extract", "evalset_approved")
    rv.verify_frozen(project)

    r = cli("evalset", "helpdesk", "--size", "75")
    assert r.returncode == 1 and "--force" in r.stderr


def test_cli_review_regenerates_in_the_same_session(fake_llm, project: Project) -> None:
    from core.commands.evalset import review_evalset

    model = ScriptedModel(seed=51)
    fake_llm.on_schema("EvalBatch", model)
    build(project)
    import io

    class Piped(io.StringIO):
        def isatty(self) -> bool:
            return False

    model.asked.clear()
    code = review_evalset(project, Piped("y\nn the refusal should name a helpline\ny\ny\ny\ny\n"))
    assert code == 0
    assert any("name a helpline" in q["prompt"] for q in model.asked)
    project.reload()
    review = project.read(EVAL_REVIEW, EvalReview)
    assert review.approved and review.rounds == 2 and list(review.ratings.values()).count("bad") == 1


def test_cli_errors(project: Project, projects_root: Path) -> None:
    from core.cli import main

    assert main(["review", "helpdesk", "pilot"]) == 1
    r = cli("review", "helpdesk", "pilot")
    assert r.returncode == 1 and "generate helpdesk --pilot" in r.stderr and "Traceback" not in r.stderr
    r = cli("evalset", "helpdesk")
    assert r.returncode == 1 and "needs an LLM (generator role)" in r.stderr and "Traceback" not in r.stderr
    assert main(["review", "helpdesk", "evalset"]) == 1  # no eval set yet
    with pytest.raises(SystemExit) as info:
        main(["evalset", "helpdesk", "--size", "60"])
    assert info.value.code == 2
    Project.create("Raw", "t", root=projects_root)
    assert main(["evalset", "raw"]) == 1
    assert main(["evalset", "raw", "--approve"]) == 1
