"""The generation screen, driven only by keys at 80x24: the pilot's error without an LLM, then a pilot
against the fake LLM server with the live progress view, the pass rate and the kept count."""

from __future__ import annotations

from pathlib import Path

from textual.geometry import Region
from textual.widgets import ProgressBar, Static

from core.generate import pipeline_state as ps
from core.models.data import GenerationReport
from screens.generation import GenerationScreen, GenProgress
from tests.test_generate_pipeline import fast_embeddings, ready_project  # noqa: F401  (fixture)
from tui.app import TunesmithApp
from tui.errors import ErrorDialog
from tui.widgets.key_bar import KeyBar

SIZE = (80, 24)


async def settle(pilot, app: TunesmithApp) -> None:
    """Let every worker finish and every message they posted be handled."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def shown(widget) -> str:
    """The text a widget draws on screen, line by line."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join("".join(seg.text for seg in strip) for strip in lines)


async def open_generation(pilot, app: TunesmithApp, project) -> GenerationScreen:
    assert app.open_screen("generation", project)
    await settle(pilot, app)
    screen = app.screen
    assert isinstance(screen, GenerationScreen)
    return screen


async def test_pilot_without_an_llm_shows_the_error(projects_root: Path, fast_embeddings) -> None:  # noqa: F811
    project = ready_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        assert "Pilot not run" in text(screen, "#gen-stage")
        assert "Pilot" in str(screen.query_one(KeyBar).render())
        await pilot.press("p")
        await settle(pilot, app)
        assert isinstance(app.screen, ErrorDialog)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "needs an LLM (generator role): set TUNESMITH_MODEL" in message
        assert "press ctrl+l to set the LLM provider" in str(app.screen.query_one("#error-provider").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.busy == ""
        assert "pilot failed" in text(screen, "#gen-status")
        assert not project.exists(ps.PILOT_REPORT)


async def test_pilot_runs_with_live_progress(fake_llm, projects_root: Path, fast_embeddings) -> None:  # noqa: F811
    from tests.fakes.generate_replies import install

    install(fake_llm, method="sft")
    project = ready_project(projects_root, pilot_size=50)
    app = TunesmithApp(projects_root)
    applied: list[tuple[object, str]] = []  # (event, what the screen was doing when it was applied)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        original = screen.apply_progress

        def spy(event) -> None:
            applied.append((event, screen.busy))
            original(event)

        screen.apply_progress = spy  # type: ignore[method-assign]
        await pilot.press("p")
        assert screen.query_one("#gen-live").display
        await settle(pilot, app)
        assert not isinstance(app.screen, ErrorDialog), app.screen
        assert applied and screen.progress_applied == len(applied)
        assert all(busy == "pilot" for _, busy in applied)  # applied while the pilot was running
        assert any("pilot attempt 1" in e.line() for e, _ in applied)  # type: ignore[attr-defined]
        report = project.read(ps.PILOT_REPORT, GenerationReport)
        stage = text(screen, "#gen-stage")
        assert f"Pilot: {report.kept}/{report.generated} kept ({report.pass_rate:.0%})" in stage
        assert "v reviews it" in stage
        body = shown(screen.query_one("#gen-report-text"))
        assert f"{report.kept}/{report.generated} kept" in body and "format" in body
        bar = screen.query_one("#gen-bar", ProgressBar)
        assert bar.total == report.kept and bar.progress == report.kept
        assert f"{report.kept} of {report.generated}" in text(screen, "#gen-status")
        assert GenProgress  # the typed message the worker posts


async def test_scale_shows_the_projection_then_runs(fake_llm, projects_root: Path, fast_embeddings) -> None:  # noqa: F811
    from core.generate import pipeline as pl
    from tests.fakes.generate_replies import install
    from tests.test_generate_pipeline import approve_pilot
    from tui.dialogs import ConfirmDialog

    install(fake_llm, method="sft")
    project = ready_project(projects_root, pilot_size=50)
    pl.run_pilot(project)
    approve_pilot(project)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        assert "review approved" in text(screen, "#gen-stage")
        screen.scale_target = 60  # config target_size is at least 1,000: too slow for a test
        report = project.read(ps.PILOT_REPORT, GenerationReport)  # a priced pilot, over a $0.10 cap: refused
        project.write(ps.PILOT_REPORT, report.model_copy(update={"cost_usd": 0.5}))
        project.meta.config.generate.budget_usd = 0.1
        project.save()
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, ErrorDialog)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "over the budget cap" in message and "projection:" in message and "$0.10" in message
        await pilot.press("escape")
        assert not project.exists(ps.SCALE_STATE)
        project.meta.config.generate.budget_usd = None
        project.save()
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmDialog)
        assert "requests" in app.screen.question and "cost" in app.screen.question
        await pilot.press("y")
        await settle(pilot, app)
        assert app.screen is screen, app.screen
        assert screen.progress_applied > 0
        assert "Scale-up done: 60 examples" in text(screen, "#gen-stage")
        assert screen.query_one("#gen-bar", ProgressBar).progress == 60

        # a second scale-up would replace the finished dataset: the dialog says so, "n" keeps it
        before = project.path(ps.TRAIN_FILE).read_bytes()
        screen.scale_target = 20
        await pilot.press("s")
        await settle(pilot, app)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.title_text == "Replace the finished dataset?"
        assert "finished dataset (60 examples) will be replaced" in app.screen.question
        await pilot.press("n")
        await settle(pilot, app)
        assert app.screen is screen and "finished dataset is untouched" in text(screen, "#gen-status")
        assert project.path(ps.TRAIN_FILE).read_bytes() == before
        await pilot.press("s")
        await settle(pilot, app)
        await pilot.press("y")
        await settle(pilot, app)
        assert app.screen is screen, app.screen
        assert "Scale-up done: 20 examples" in text(screen, "#gen-stage")
        assert not project.exists("data/.previous")


# ---------------------------------------------------------------- a finished scale-up, written directly

REFUSAL_PROBLEM = ("the refusal examples are short of the plan: 12 of 20 kept (rejected for: judge_low 6), so the "
                   "model would not learn to decline out-of-scope requests")


def dpo_example(i: int, kind: str = "common", phase: str = "scale"):
    from core.models.data import TrainingExample

    return TrainingExample(
        id=f"sc-{i:04d}", format="dpo", category=("billing", "paperwork")[i % 2], difficulty="easy", kind=kind,
        strategy="direct", model="fake", prompt_version="v1", phase=phase, rejected_strategy="weak_model",
        record={"prompt": [{"role": "user", "content": f"scale question {i}: what is *this* <b>charge</b>?"}],
                "chosen": [{"role": "assistant", "content": f"# Step 1\nread the bill {i}."}],
                "rejected": [{"role": "assistant", "content": f"no idea {i}"}]})


def scaled_project(root: Path, *, sample: int = 4, feedback: bool = True, validated: bool = False):
    """A DPO project whose pilot is approved and whose scale-up finished with its refusals short of the
    plan (not validated), a review sample of ``sample`` examples and, if asked, prompt adjustments."""
    from core.generate import pipeline as pl
    from core.generate import report as rp
    from core.generate.report import ValidationSummary

    project = ready_project(root, method="dpo")
    project.write(ps.PILOT_RUN, ps.PilotRun(pilot_id="pilot-1", eval_hash="0" * 12, strategy="direct"))
    project.write(ps.PILOT_REPORT, GenerationReport(
        phase="pilot", strategy="direct", training_method="dpo", requested=50, generated=50, kept=40, pass_rate=0.8,
        planned_by_kind={"common": 30, "edge": 10, "refusal": 10}, kept_by_kind={"common": 30, "edge": 6, "refusal": 4},
        rejected_strategies={"weak_model": 30, "truncated": 10}))
    project.mark("generate", "pilot")
    project.mark("generate", "pilot_approved")
    scale = GenerationReport(
        phase="scale", strategy="direct", training_method="dpo", requested=200, generated=260, kept=192,
        pass_rate=0.74, planned_by_kind={"common": 150, "edge": 30, "refusal": 20},
        kept_by_kind={"common": 150, "edge": 30, "refusal": 12}, short_cells={"refusal|out_of_scope|medium|": 8},
        rejected_strategies={"weak_model": 120, "truncated": 40, "verbose": 32},
        failed_strategies={"off_topic": "the weak model returned the same answer as the strong one"},
        notes=[f"refusal examples: 12 of 20 planned kept (rejected for: judge_low 6)",
               "one model (openai/fake) is both the generator and the judge: it grades its own work"])
    project.write(ps.SCALE_STATE, ps.ScaleState(target=200, status="complete", kept=192, checked=260))
    rp.update_summary(project, scale=scale, validation=ValidationSummary(ok=True, format="dpo", trainer="DPOTrainer"),
                      splits={"train": 173, "validation": 19})
    project.mark("generate", "scale")
    if validated:
        project.mark("generate", "validated")
    if sample:
        project.write_rows(ps.SCALE_REVIEW_SAMPLE, [dpo_example(i) for i in range(sample)], type(dpo_example(0)))
    if feedback:
        pl.save_feedback(project, ps.PilotFeedback(
            review_notes=["answers are too terse: give the steps"],
            filter_instructions=["keep every answer under 200 words", "never ask for a card number"]))
    project.reload()
    return project


async def test_mix_notes_and_strategies_are_shown(projects_root: Path) -> None:
    from screens.generation import WARN, mix_text
    from tui.app import screen_commands
    from tui.widgets.key_bar import key_items

    project = scaled_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        stage = text(screen, "#gen-stage")
        assert "Scale-up done: 192 examples" in stage and "not ready for training" in stage
        assert "ready to train" not in stage
        body = shown(screen.query_one("#gen-report-text"))
        assert "mix planned → kept: common 150/150 · edge 30/30 · refusal 12/20 ⚠" in body
        assert "1 cell short of quota: refusal/out_of_scope/medium −8" in body
        flat = " ".join(body.split())  # the lines wrap at the screen's width
        assert ("how the worse answers were made: a weaker model's answer 120 · a cut-short answer 40 · a padded, "
                "wordy answer 32") in flat
        assert "⚠ an answer that misses the point (off_topic) failed: the weak model returned the same answer" in flat
        panel = shown(screen.query_one("#gen-warnings"))
        assert "⚠ refusal examples: 12 of 20 planned kept" in panel
        assert "⚠ one model (openai/fake) is both the generator and the judge" in panel
        keys = {desc for _k, desc, _e in key_items(screen)}
        assert {"Resume", "Sample review", "Clear adjustments"} <= keys
        names = [c.title for c in screen_commands(app, screen)]
        assert "Generation: Review the scale-up sample" in names
        assert "Generation: Clear the prompt adjustments of earlier pilots" in names
        for widget in screen.children:  # the screen's parts fit; the report scrolls inside its own
            if widget.display and widget.region.area:
                assert widget.region.right <= SIZE[0] and widget.region.bottom <= SIZE[1], widget
        assert screen.query_one("#gen-report").region.height >= 8  # room left for the report itself
    report = project.read(ps.PILOT_REPORT, GenerationReport)
    line = mix_text(report)
    assert line is not None and line.plain == "mix planned → kept: common 30/30 · edge 6/10 ⚠ · refusal 4/10 ⚠"
    styled = {line.plain[span.start:span.end] for span in line.spans if span.style == WARN}
    assert "edge 6/10" in styled and "refusal 4/10" in styled and "common 30/30" not in styled


async def test_clear_feedback_asks_first_and_counts(projects_root: Path) -> None:
    from core.generate import pipeline as pl
    from tui.dialogs import ConfirmDialog
    from tui.widgets.key_bar import key_items

    project = scaled_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        question = app.screen.question
        assert "Clear the 3 prompt adjustments" in question and "answers are too terse: give the steps" in question
        await pilot.press("n")
        await settle(pilot, app)
        assert len(pl.load_feedback(project).lines()) == 3
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot, app)
        assert app.screen is screen
        assert pl.load_feedback(project).lines() == []
        assert any("Cleared 3 prompt adjustments" in n.message for n in app._notifications)
        assert "Clear adjustments" not in {desc for _k, desc, _e in key_items(screen)}
        assert "Prompt adjustments from earlier pilots" not in shown(screen.query_one("#gen-report-text"))


async def test_refusals_short_is_a_clear_message_with_the_warnings(fake_llm, projects_root: Path,
                                                                   monkeypatch) -> None:
    from core.generate import pipeline_scale
    from core.generate.dataset import DatasetInvalid
    from core.generate.pipeline_common import GenerationProgress

    project = scaled_project(projects_root)
    problem = (f"{REFUSAL_PROBLEM}. See the quality log; then try a stronger generator ([models].generator), and "
               f"continue with: tunesmith generate helpdesk --resume")
    calls: list[dict] = []

    def short_scale(project, gateway=None, **kwargs):
        calls.append(kwargs)
        progress = kwargs["progress"]
        progress(GenerationProgress(phase="scale", message="note: the judge passed its check against the eval set"))
        progress(GenerationProgress(phase="scale", message="warning: refusal examples: 12 of 20 planned kept"))
        progress(GenerationProgress(phase="scale", message="dataset validated for DPOTrainer"))
        raise DatasetInvalid(problem)

    monkeypatch.setattr(pipeline_scale, "run_scale", short_scale)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        await pilot.press("r")  # finished but not ready: r continues it, as the message says
        await settle(pilot, app)
        assert calls and calls[0]["resume"] is True
        dialog = app.screen
        assert isinstance(dialog, ErrorDialog) and dialog.title_text == "The dataset is not ready for training"
        message = str(dialog.query_one("#error-message", Static).render())
        assert message == problem  # as written: no exception type, no traceback
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.busy == ""
        assert "not ready for training" in text(screen, "#gen-status")
        panel = shown(screen.query_one("#gen-warnings")).splitlines()
        assert panel[0].startswith(" ⚠ not ready for training: the refusal examples are short of the plan")
        assert panel[1].startswith(" ⚠ refusal examples: 12 of 20 planned kept")
        assert "more in the report below" in panel[-1]
        said = shown(screen.query_one("#gen-run-notes"))  # this run's lines in full, above the report
        assert "This run said" in said and "· note: the judge passed its check against the eval set" in said
        assert "[models].generator), and continue with: tunesmith generate helpdesk --resume" in " ".join(
            line.strip() for line in said.splitlines())


async def test_warning_progress_lines_stay_visible_while_running(projects_root: Path) -> None:
    from core.generate.pipeline_common import GenerationProgress

    project = ready_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_generation(pilot, app, project)
        screen.apply_progress(GenerationProgress(phase="pilot", message="warning: only 3 refusal examples of 5"))
        screen.apply_progress(GenerationProgress(phase="pilot", message="pilot attempt 1: generating"))
        screen.apply_progress(GenerationProgress(phase="pilot", message="note: a prompt adjustment expired"))
        await pilot.pause()
        panel = shown(screen.query_one("#gen-warnings"))
        assert "⚠ only 3 refusal examples of 5" in panel and "· note: a prompt adjustment expired" in panel
        assert text(screen, "#gen-status") == "note: a prompt adjustment expired"  # the status: the last line only
