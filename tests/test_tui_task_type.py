"""The task type in the app, driven only by keys at 80x24: the dashboard's line (type, who decided, why,
labels), the dialog that changes it (c), the stale notes after a change, and after creating a project
what was inferred, refined by the model in a worker when one is configured."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.widgets import Input, OptionList, Static

from core.project import Project
from screens.dashboard import DashboardScreen
from screens.task_type import TaskTypeDialog, parse_labels, task_type_line
from tests.test_generate_pipeline import ready_project
from tui.app import TunesmithApp, screen_commands
from tui.widgets.key_bar import key_items

SIZE = (80, 24)


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_dashboard(pilot) -> DashboardScreen:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DashboardScreen)
    return pilot.app.screen


def info(dash: DashboardScreen) -> str:
    return str(dash.query_one("#project-info", Static).render())


def fits(screen) -> None:
    width, height = SIZE
    for widget in screen.query("*"):
        if widget.display and widget.region.area:
            assert widget.region.right <= width and widget.region.bottom <= height, widget


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_change_task_type_to_classification_with_labels(projects_root: Path) -> None:
    project = ready_project(projects_root)  # an eval set exists: it was built for the old type
    assert project.meta.task_type == "instruction_following"
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        dash = await open_dashboard(pilot)
        assert "Task type instruction following (from the task text)" in info(dash)
        assert "the task says 'answer'" in info(dash)
        assert ("c", "Task type", True) in key_items(dash)
        names = [c.title for c in screen_commands(app, dash)]
        assert "Dashboard: Change task type" in names

        await pilot.press("c")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TaskTypeDialog)
        fits(dialog)
        assert "Now: instruction following (from the task text)" in str(dialog.query_one("#tt-current").render())
        assert dialog.highlighted == "instruction_following"
        assert not dialog.query_one("#tt-labels-field").display
        await pilot.press("up")  # classification: its labels appear
        await pilot.pause()
        assert dialog.highlighted == "classification"
        assert dialog.query_one("#tt-labels-field").display
        await pilot.press("enter")  # enter on classification goes to the labels
        await pilot.pause()
        assert dialog.focused is dialog.query_one("#tt-labels", Input)
        await pilot.press(*"Billing, paperwork,, billing", "enter")
        await settle(pilot)

        assert app.screen is dash
        meta = Project.open(project.slug, projects_root).meta
        assert (meta.task_type, meta.task_type_source, meta.labels) == ("classification", "user",
                                                                         ["billing", "paperwork"])
        assert "Task type classification (set by you) · labels: billing, paperwork" in info(dash)
        stale = "the eval set was built for an instruction following task"
        assert any(stale in m and "tunesmith evalset helpdesk --force" in m for m in messages(app))
        warnings = dash.query_one("#warnings", Static)
        assert warnings.display and stale in str(warnings.render())
        fits(dash)


async def test_one_label_is_refused_and_escape_keeps_the_type(projects_root: Path) -> None:
    project = ready_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        dash = await open_dashboard(pilot)
        await pilot.press("c")
        await pilot.pause()
        dialog = app.screen
        await pilot.press("up", "enter", *"billing", "enter")
        await pilot.pause()
        assert app.screen is dialog
        error = dialog.query_one("#tt-error", Static)
        assert error.display and "two or more labels" in str(error.render())
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is dash
        assert Project.open(project.slug, projects_root).meta.task_type_source == "heuristic"


async def test_pick_another_type_with_the_keyboard(projects_root: Path) -> None:
    project = Project.create("Ticket router", "Route support tickets to billing, shipping or login.",
                             root=projects_root)
    assert (project.meta.task_type, project.meta.labels) == ("classification", ["billing", "shipping", "login"])
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        dash = await open_dashboard(pilot)
        assert "labels: billing, shipping, login" in info(dash)
        await pilot.press("c")
        await pilot.pause()
        assert app.screen.query_one("#tt-labels", Input).value == "billing, shipping, login"
        await pilot.press("down", "down", "enter")  # classification -> instruction following -> transformation
        await settle(pilot)
        meta = Project.open(project.slug, projects_root).meta
        assert (meta.task_type, meta.task_type_source, meta.labels) == ("transformation", "user", [])
        assert "Task type transformation (set by you)" in info(dash)
        assert not dash.query_one("#warnings", Static).display  # nothing was built yet: nothing stale


async def test_infer_again_replaces_your_own_choice(projects_root: Path) -> None:
    project = Project.create("Ticket router", "Route support tickets to billing, shipping or login.",
                             root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        dash = await open_dashboard(pilot)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "enter")  # instruction following, set by you
        await settle(pilot)
        assert Project.open(project.slug, projects_root).meta.task_type_source == "user"
        await pilot.press("c")
        await pilot.pause()
        fits(app.screen)
        assert app.screen.query_one("#tt-infer").display
        await pilot.press("ctrl+r")  # no model configured: the heuristic, from the task text
        await settle(pilot)
        assert app.screen is dash
        meta = Project.open(project.slug, projects_root).meta
        assert (meta.task_type, meta.task_type_source, meta.labels) == ("classification", "heuristic",
                                                                         ["billing", "shipping", "login"])
        assert "Task type classification (from the task text)" in info(dash)


async def test_dialog_fits_a_large_terminal(projects_root: Path) -> None:
    ready_project(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(160, 50)) as pilot:
        await open_dashboard(pilot)
        await pilot.press("c")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TaskTypeDialog)
        types = dialog.query_one("#tt-types", OptionList)
        assert types.option_count == 5 and types.max_scroll_y == 0


async def test_new_project_says_what_was_inferred(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"Ticket router", "tab", *"Route support tickets to billing, shipping or login.", "ctrl+s")
        await settle(pilot)
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        note = [n for n in app._notifications if n.title == "Created ticket-router"]
        assert note and "Task type classification (from the task text)" in note[0].message
        assert "labels: billing, shipping, login" in note[0].message and "c changes it" in note[0].message
        assert "asking the model" not in info(dash)  # no model configured: nothing to ask
        assert "labels: billing, shipping, login" in info(dash)


async def test_new_project_refines_with_the_model_in_a_worker(fake_llm, projects_root: Path) -> None:
    gate = threading.Event()

    def guess(_request):
        gate.wait(20)  # the model answers only when the test says so
        return {"task_type": "instruction_following", "evidence": "Help customers with their billing questions",
                "labels": [], "reason": "it answers billing questions in free text"}

    fake_llm.on_schema("TaskTypeGuess", guess)
    app = TunesmithApp(projects_root)
    task = "Help customers with their billing questions and decide whether each one is urgent."
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"Billing helper", "tab", *task, "ctrl+s")
        for _ in range(5):  # the dashboard paints and answers keys while the model is asked
            await pilot.pause(0.05)
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        assert "Task type classification (from the task text)" in info(dash)  # the heuristic's, meanwhile
        assert "asking the model…" in info(dash)
        assert ("c", "Task type", False) in key_items(dash)  # no change while the model decides
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpDialog"
        await pilot.press("escape")
        gate.set()
        await settle(pilot)
        meta = Project.open("billing-helper", projects_root).meta
        assert (meta.task_type, meta.task_type_source) == ("instruction_following", "llm")
        assert "Task type instruction following (the model, from the task text)" in info(dash)
        assert "asking the model" not in info(dash)
        assert any("The model refined the task type" in m for m in messages(app))


def test_labels_and_line() -> None:
    assert parse_labels(" Billing, shipping ,,login, billing ") == ("billing", "shipping", "login")

    class Meta:
        task_type, task_type_source, task_type_reason, labels = "classification", "user", "chosen by you", ["a", "b"]

    assert task_type_line(Meta()).plain == "Task type classification (set by you) · labels: a, b · chosen by you"
