"""The new-project form, driven only by keys at 80x24."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select, Static

from core.project import Project
from screens.dashboard import DashboardScreen
from screens.home import HomeScreen
from screens.new_project import NewProjectScreen, field_of
from tui.app import TunesmithApp


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_form(pilot) -> NewProjectScreen:
    await settle(pilot)
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(pilot.app.screen, NewProjectScreen)
    return pilot.app.screen


async def test_creates_project_with_chosen_preset_and_method(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await pilot.press(*"Therapy helper", "enter")  # enter moves on to the task
        await pilot.press(*"Teach CBT skills for everyday stress.", "tab")
        assert form.focused is form.query_one("#preset")
        await pilot.press("enter")  # open the preset list: standard is highlighted
        await pilot.pause()
        await pilot.press("down", "enter")  # framework-heavy
        await pilot.pause()
        assert form.query_one("#preset", Select).value == "framework-heavy"
        assert "Therapy, consulting" in str(form.query_one("#preset-summary", Static).render())
        assert form.query_one("#method", Select).value == "sft"  # the preset's method
        await pilot.press("tab", "enter")
        await pilot.pause()
        await pilot.press("down", "enter")  # sft -> dpo
        await pilot.pause()
        assert form.query_one("#method", Select).value == "dpo"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        project = Project.open("therapy-helper", projects_root)
        assert project.meta.preset == "framework-heavy"
        assert project.meta.training_method == "dpo"
        assert project.meta.task == "Teach CBT skills for everyday stress."
        assert project.meta.config.extract.framework_mode == "enabled"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert app.screen.summaries[0].slug == "therapy-helper"


async def test_enter_on_create_button_creates(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot)
        await pilot.press(*"Minimal one", "tab", *"Classify tickets.", "tab", "tab", "tab", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        meta = Project.open("minimal-one", projects_root).meta
        assert (meta.preset, meta.training_method) == ("standard", "sft")


async def test_bad_name_shows_inline_error_and_creates_nothing(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await pilot.press(*"!!!", "tab", *"Some task.", "ctrl+s")
        await pilot.pause()
        assert app.screen is form
        error = form.query_one("#name-error", Static)
        assert error.display
        assert str(error.render()).startswith("Name: '!!!' has no letters or digits")
        assert form.focused is form.query_one("#name")
        assert not form.query_one("#task-error", Static).display
        assert list(projects_root.iterdir()) == []


async def test_missing_task_names_the_task_field(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await pilot.press(*"Good name", "ctrl+s")
        await pilot.pause()
        error = form.query_one("#task-error", Static)
        assert error.display and str(error.render()).startswith("Task:")
        assert not form.query_one("#name-error", Static).display
        assert list(projects_root.iterdir()) == []


async def test_existing_name_is_an_inline_name_error(projects_root: Path) -> None:
    Project.create("Taken", "A task.", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        await pilot.press(*"Taken", "tab", *"Another task.", "ctrl+s")
        await pilot.pause()
        error = form.query_one("#name-error", Static)
        assert error.display and "already exists" in str(error.render())
        assert Project.open("taken", projects_root).meta.task == "A task."


async def test_escape_cancels(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot)
        await pilot.press(*"Half done", "escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert list(projects_root.iterdir()) == []


def test_error_prefixes_map_to_fields() -> None:
    assert field_of("name: must not be empty") == ("name", "must not be empty")
    assert field_of("--task: describe the task") == ("task", "describe the task")
    assert field_of("--method: must be one of sft") == ("method", "must be one of sft")
    assert field_of("a project named 'x' already exists at /p")[0] == "name"
    assert field_of("something else") == (None, "something else")


def burst(app: TunesmithApp, text: str | list[str]) -> None:
    """Queue every key at once (a fast typist on a busy CPU): none waits for the one before."""
    from textual import events

    names = {" ": "space", "\t": "tab", "\n": "enter", ".": "full_stop", ",": "comma", "!": "exclamation_mark"}
    chars = {"tab": "\t", "enter": "\r", "ctrl+s": None, "shift+tab": None}
    for key in (list(text) if isinstance(text, str) else text):
        if key in chars:
            app.post_message(events.Key(key, chars[key]))
        else:
            app.post_message(events.Key(names.get(key, key), key))


async def test_fast_typing_from_home_loses_no_key(projects_root: Path) -> None:
    """n, the name, enter, the task, ctrl+s, all queued at once: each key lands in its field, in order."""
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "nSupport bot\nAnswer printer questions, briefly.")
        burst(app, ["ctrl+s"])
        await settle(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        meta = Project.open("support-bot", projects_root).meta
        assert meta.task == "Answer printer questions, briefly."


async def test_fast_tabbing_back_and_forth_keeps_every_key(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot)
        burst(app, list("Quick") + ["tab"] + list("Sort mail.") + ["shift+tab"] + list(" one"))
        await settle(pilot)
        assert form.values()["name"] == "Quick one" and form.values()["task"] == "Sort mail."
        assert form.focused is form.query_one("#name")
