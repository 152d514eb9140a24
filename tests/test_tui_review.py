"""The eval-set review screen, driven only by keys at 80x24: build with g, rate with the shared rater
(saved as made), undo, conclude (approve and freeze, or regenerate against the fake LLM), approve all."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from textual.widgets import Static

from core.embed import load_model
from core.extract import evalset as ev
from core.models.knowledge import EvalExample, EvalReview
from core.project import EVAL_REVIEW, EVAL_SET, Project
from screens.review import ReviewScreen
from tests.test_evalset import ScriptedModel, approve_inputs
from tui.app import TunesmithApp
from tui.dialogs import ConfirmDialog
from tui.errors import ErrorDialog
from tui.widgets.key_bar import KeyBar, key_items
from tui.widgets.rater import Rater

SIZE = (80, 24)


@pytest.fixture(scope="module")
def _model():
    load_model()  # the bundled MiniLM, once per module (regeneration and builds embed)


def _project(root: Path, name: str = "Helpdesk") -> Project:
    p = Project.create(name, "answer household admin questions", root=root)
    p.meta.config.extract.eval_set_size = 50
    p.meta.config.extract.spot_check_size = 5
    p.save()
    approve_inputs(p)
    return p


def _ex(i: int, kind: str, category: str, difficulty: str, provenance: str) -> EvalExample:
    refuse = kind == "out_of_scope"
    text = f"How do I sort out my {category} problem number {i}?"
    return EvalExample(
        id=ev.example_id(kind, text), input=text,
        reference=("I can't help with that here; please ask a lawyer." if refuse
                   else f"Step one, step two, done ({i})."),
        category=category, difficulty=difficulty, kind=kind,  # type: ignore[arg-type]
        rationale=f"a {kind} example", provenance=provenance, should_refuse=refuse)


def write_small_set(p: Project) -> list[EvalExample]:
    """Eight examples over the test taxonomy (approve_inputs), written as the build would."""
    rows = [
        _ex(1, "common", "billing", "easy", "category 'billing'"),
        _ex(2, "common", "billing", "medium", "category 'billing'"),
        _ex(3, "common", "paperwork", "easy", "category 'paperwork'"),
        _ex(4, "edge", "paperwork", "hard", "category 'paperwork'; edge case #1"),
        _ex(5, "edge", "planning", "medium", "category 'planning'; edge case #2"),
        _ex(6, "out_of_scope", "out_of_scope", "easy", "WILL NOT #1 'give binding legal advice'"),
        _ex(7, "out_of_scope", "out_of_scope", "medium", "WILL NOT #2 'handle medical emergencies'"),
        _ex(8, "lookalike", "billing", "medium",
            "look-alike of WILL NOT #1 'give binding legal advice'; category 'billing'"),
    ]
    p.write_rows(EVAL_SET, rows, EvalExample)
    p.mark("extract", "evalset")
    return rows


async def settle(pilot, app: TunesmithApp) -> None:
    """Let every worker finish and every message they posted be handled."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def open_review(pilot, app: TunesmithApp, p: Project, kind: str = "evalset") -> ReviewScreen:
    assert app.open_screen("evalset_review" if kind == "evalset" else "pilot_review", p)
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    return screen


def text(screen: ReviewScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def info_text(screen: ReviewScreen) -> str:
    static = screen.query_one("#review-info-text", Static)
    return "\n".join(line.text for line in static.render_lines(static.region.reset_offset))


def rater_of(screen: ReviewScreen) -> Rater:
    rater = screen.rater
    assert rater is not None
    return rater


def saved_review(p: Project) -> EvalReview:
    return p.read_or(EVAL_REVIEW, EvalReview) or EvalReview()


def fits(screen: ReviewScreen) -> None:
    width, height = SIZE
    for widget in screen.query("*"):
        if widget.display and widget.region.area:
            assert widget.region.right <= width and widget.region.bottom <= height, widget
    bar = screen.query_one(KeyBar)
    assert bar.region.bottom == height and bar.region.height >= 1


# ---------------------------------------------------------------- rating


async def test_all_good_approves_and_freezes(projects_root: Path, _model) -> None:
    p = _project(projects_root)
    write_small_set(p)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p)
        rater = rater_of(screen)
        assert len(rater.items) == 5
        assert "8 examples" in text(screen, "#review-summary") and "out-of-scope 2" in text(screen, "#review-summary")
        first = rater.items[0]
        assert " · " in first.title and first.body.plain.startswith("Input\n") and "Why" in first.body
        fits(screen)
        shown = {desc for _k, desc, _e in key_items(screen)}
        assert {"✓ Good", "✗ Bad", "Undo", "Note", "Approve all", "Back"} <= shown and "Build" not in shown
        await pilot.press("y", "y", "y", "y")
        await pilot.pause()
        assert len(saved_review(p).ratings) == 4  # saved as made
        assert "4/5 rated" in text(screen, "#review-status")
        await pilot.press("y")
        await settle(pilot, app)
        review = saved_review(p)
        assert review.approved and review.frozen_hash
        p.reload()
        assert p.meta.is_done("extract", "evalset_approved") and ev.is_frozen(p)
        assert screen.rater is None
        assert "Eval set approved and frozen" in info_text(screen)
        assert "Approve all" not in {desc for _k, desc, _e in key_items(screen)}
        fits(screen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReviewScreen)


async def test_undo_withdraws_the_saved_rating(projects_root: Path) -> None:
    p = _project(projects_root)
    write_small_set(p)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p)
        rater = rater_of(screen)
        first, second = rater.items[0].id, rater.items[1].id
        await pilot.press("y", "c", *"vague", "enter", "n")
        await pilot.pause()
        review = saved_review(p)
        assert review.ratings == {first: "good", second: "bad"} and review.notes == {second: "vague"}
        await pilot.press("u")
        await pilot.pause()
        assert saved_review(p).ratings == {first: "good"} and saved_review(p).notes == {}
        assert rater.current is not None and rater.current.id == second
        await pilot.press("backspace")
        await pilot.pause()
        assert saved_review(p).ratings == {}
        assert rater.current.id == first
        # leaving and coming back resumes on the saved ratings
        await pilot.press("y", "escape")
        await pilot.pause()
        screen = await open_review(pilot, app, p)
        assert rater_of(screen).current.id == second
        assert "1/5 rated" in text(screen, "#review-status")
        # escape first drops a note being typed, then leaves
        await pilot.press("c", *"hm", "escape")
        await pilot.pause()
        assert app.screen is screen and saved_review(p).notes == {}
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReviewScreen)


async def test_a_bad_rating_regenerates_and_the_next_round_reviews_the_replacement(
        projects_root: Path, fake_llm, _model) -> None:
    model = ScriptedModel(seed=5)
    fake_llm.on_schema("EvalBatch", model)
    p = _project(projects_root)
    write_small_set(p)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p)
        rejected = rater_of(screen).items[0].id
        await pilot.press("c", *"the reference misses the deadline", "enter", "n")
        await pilot.press("y", "y", "y", "y")
        await settle(pilot, app)
        assert any("the reference misses the deadline" in q["prompt"] for q in model.asked)
        rows = p.read_rows(EVAL_SET, EvalExample)
        assert rejected not in {ex.id for ex in rows} and len(rows) == 8
        new = next(ex for ex in rows if "replaces " + rejected in ex.provenance)
        rater = rater_of(screen)
        assert [it.id for it in rater.items] == [new.id]
        assert rater.current is not None and rater.current.id == new.id
        assert "review round 2" in text(screen, "#review-status")
        assert not saved_review(p).approved
        await pilot.press("y")
        await settle(pilot, app)
        p.reload()
        assert ev.is_frozen(p) and saved_review(p).ratings[rejected] == "bad"
        assert "approved and frozen" in info_text(screen)


async def test_approve_all_asks_first(projects_root: Path) -> None:
    p = _project(projects_root)
    write_small_set(p)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and not saved_review(p).approved
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, app)
        p.reload()
        assert ev.is_frozen(p) and p.meta.is_done("extract", "evalset_approved")
        assert "approved and frozen" in info_text(screen)


# ---------------------------------------------------------------- building


async def test_build_with_g_against_the_fake_llm(projects_root: Path, fake_llm, _model) -> None:
    fake_llm.on_schema("EvalBatch", ScriptedModel(seed=11))
    p = _project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p)
        assert screen.rater is None
        plan = info_text(screen)
        assert "No eval set yet" in plan and "50 held-out examples" in plan and "out of scope" in plan
        assert "Build" in {desc for _k, desc, _e in key_items(screen)}
        fits(screen)
        await pilot.press("g")
        await settle(pilot, app)
        rows = p.read_rows(EVAL_SET, EvalExample)
        assert len(rows) == 50
        p.reload()
        assert p.meta.is_done("extract", "evalset")
        assert "50 examples" in text(screen, "#review-summary")
        assert len(rater_of(screen).items) == 5
        assert "review round 1" in text(screen, "#review-status")


async def test_build_errors_reach_the_error_dialog(projects_root: Path) -> None:
    p = _project(projects_root)  # no LLM configured in tests
    q = Project.create("Unapproved", "t", root=projects_root)
    approve_inputs(q, approved=False)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p)
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, ErrorDialog)
        assert "needs an LLM" in app.screen.message
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and "g tries again" in text(screen, "#review-status")
        await pilot.press("escape")
        await pilot.pause()

        screen = await open_review(pilot, app, q)
        assert "not approved yet" in info_text(screen)
        await pilot.press("g")
        await settle(pilot, app)
        assert isinstance(app.screen, ErrorDialog)
        assert "not approved yet" in app.screen.message and "--approve" in app.screen.message


# ---------------------------------------------------------------- the pilot

HAS_PILOT_CORE = importlib.util.find_spec("core.generate.review") is not None


async def test_pilot_kind_without_its_core_says_it_arrives_with_skill_2(
        projects_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import screens.review_sources as sources

    monkeypatch.setattr(sources, "PILOT_CORE", "core.generate.no_such_review")
    p = _project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p, kind="pilot")
        assert screen.rater is None
        assert "arrives with skill 2" in info_text(screen)
        shown = {desc for _k, desc, _e in key_items(screen)}
        assert "Build" not in shown and "Approve all" not in shown and "Back" in shown
        fits(screen)


def write_pilot(p: Project, n: int = 4) -> list:
    from core.generate import pipeline_state as ps
    from core.models.data import TrainingExample

    p.reload()
    p.meta.config.generate.pilot_review_size = n
    p.save()
    p.write(ps.PILOT_RUN, ps.PilotRun(pilot_id="pilot-1", eval_hash="0" * 12, strategy="direct"))
    rows = [TrainingExample(
        id=f"tr-{i:04d}", format="sft_conversational", category=("billing", "paperwork")[i % 2],
        difficulty="easy", strategy="direct", model="fake", prompt_version="v1",
        record={"messages": [{"role": "user", "content": f"pilot question {i}?"},
                             {"role": "assistant", "content": f"pilot answer {i}."}]})
        for i in range(n)]
    p.write_rows(ps.PILOT_EXAMPLES, rows, TrainingExample)
    p.mark("generate", "pilot")
    return rows


@pytest.mark.skipif(not HAS_PILOT_CORE, reason="the pilot review's core (skill 2) is not there")
async def test_pilot_review_approves_the_scale_up(projects_root: Path) -> None:
    p = _project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p, kind="pilot")
        assert screen.rater is None and "No pilot to review yet" in info_text(screen)
        await pilot.press("escape")
        await pilot.pause()
        write_pilot(p)
        screen = await open_review(pilot, app, p, kind="pilot")
        rater = rater_of(screen)
        assert len(rater.items) == 4 and "pilot question" in rater.items[0].body
        fits(screen)
        await pilot.press("y", "u", "y", "y", "y", "y")
        await settle(pilot, app)
        p.reload()
        assert p.meta.is_done("generate", "pilot_approved")
        assert screen.rater is None and "Pilot approved" in info_text(screen)


@pytest.mark.skipif(not HAS_PILOT_CORE, reason="the pilot review's core (skill 2) is not there")
async def test_pilot_review_rejects_with_notes(projects_root: Path) -> None:
    p = _project(projects_root)
    write_pilot(p)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_review(pilot, app, p, kind="pilot")
        await pilot.press("c", *"too terse", "enter", "n", "y", "y", "y")
        await settle(pilot, app)
        p.reload()
        assert not p.meta.is_done("generate", "pilot_approved") and not p.meta.is_done("generate", "pilot")
        assert screen.rater is None and "Pilot rejected" in info_text(screen)


# ---------------------------------------------------------------- the scale-up sample (optional review)


def rated_on_disk(p: Project) -> tuple[dict, dict]:
    from core.generate.scale_review import SCALE_REVIEW, ScaleReview

    review = p.read_or(SCALE_REVIEW, ScaleReview) or ScaleReview()
    return dict(review.ratings), dict(review.notes)


def rater_text(screen: ReviewScreen) -> str:
    static = screen.query_one("#rater-body-text", Static)
    return "\n".join(line.text for line in static.render_lines(static.region.reset_offset))


async def test_scale_review_rates_undoes_and_resumes(projects_root: Path) -> None:
    from screens.generation import GenerationScreen
    from tests.test_tui_generation import scaled_project, shown

    p = scaled_project(projects_root, sample=4)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        assert app.open_screen("generation", p)
        await settle(pilot, app)
        generation = app.screen
        assert isinstance(generation, GenerationScreen)
        await pilot.press("d")
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.kind == "scale"
        assert "scale-up review: a random 4 of the final dataset · optional" in text(screen, "#review-summary")
        rater = rater_of(screen)
        assert [it.id for it in rater.items] == ["sc-0000", "sc-0001", "sc-0002", "sc-0003"]
        body = rater_text(screen)  # literal: no Markdown heading, emphasis or HTML
        assert "*this* <b>charge</b>" in body and "# Step 1" in body
        assert "Rejected (made as a weaker model's answer)" in body
        shown_keys = {desc for _k, desc, _e in key_items(screen)}
        assert {"✓ Good", "✗ Bad", "Undo"} <= shown_keys
        assert "Approve all" not in shown_keys and "Conclude" not in shown_keys
        fits(screen)

        await pilot.press("y", "c", *"too vague", "enter", "n")
        await pilot.pause()
        assert rated_on_disk(p) == ({"sc-0000": "good", "sc-0001": "bad"}, {"sc-0001": "too vague"})
        assert "scale-up review: 2/4 rated, 1 bad · saved" in text(screen, "#review-status")
        await pilot.press("u")  # withdraws the last rating, on disk too
        await pilot.pause()
        assert rated_on_disk(p) == ({"sc-0000": "good"}, {})
        assert rater.index == 1
        await pilot.press("escape")  # leave mid-way: resumable
        await settle(pilot, app)
        assert app.screen is generation
        assert "Scale-up sample review: 1/4 rated, 1 good" in shown(generation.query_one("#gen-report-text"))

        await pilot.press("d")
        await settle(pilot, app)
        screen = app.screen
        rater = rater_of(screen)
        assert rater.index == 1 and set(rater.ratings) == {"sc-0000"}
        await pilot.press("y", "y", "backspace", "y", "n")  # backspace undoes too
        await settle(pilot, app)
        assert rated_on_disk(p)[0] == {"sc-0000": "good", "sc-0001": "good", "sc-0002": "good", "sc-0003": "bad"}
        status = text(screen, "#review-status")
        assert "scale-up review: 4/4 rated, 3 good (75%: below the 80% bar" in status
        assert any("Scale-up review: 4/4 rated, 3 good" in n.message for n in app._notifications)
        assert screen.rater is not None  # still there: u changes a rating
        await pilot.press("u")
        await pilot.pause()
        assert "sc-0003" not in rated_on_disk(p)[0]


def test_shown_from_generation_module_helpers() -> None:
    from screens.review_sources import example_body
    from tests.test_tui_generation import dpo_example

    body = example_body(dpo_example(7))
    assert body.plain.startswith("User\nscale question 7: what is *this* <b>charge</b>?")
    assert not body.spans or all(span.style in ("bold", "dim italic") for span in body.spans)
