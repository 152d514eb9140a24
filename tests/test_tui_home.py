"""The home screen, driven only by keys: listing, empty state, the LLM banner, delete, help, palette."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from core.project import Project
from screens.dashboard import DashboardScreen
from screens.home import HomeScreen
from screens.new_project import NewProjectScreen
from tui.app import TunesmithApp
from tui.dialogs import ConfirmDialog, HelpDialog
from tui.widgets.llm_banner import LLMBanner


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def row_texts(table: DataTable) -> list[list[str]]:
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


def make_two(root: Path) -> None:
    p = Project.create("Support bot", "Answer billing questions politely.", preset="customer-support", root=root)
    p.mark("extract", "persona")
    p.mark("extract", "interview")
    Project.create("Code reviewer", "Review Python pull requests.", preset="code-review", method="dpo", root=root)


async def test_lists_projects_with_stage_and_next_step(projects_root: Path) -> None:
    make_two(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        table = app.screen.query_one("#projects", DataTable)
        rows = row_texts(table)
        assert [r[0] for r in rows] == ["Code reviewer", "Support bot"]
        assert rows[0][1] == "1 extract"
        assert rows[1][3].startswith("draft the knowledge")
        assert rows[0][2].startswith("Review Python")
        # the highlighted project's task and full next step are spelled out below the table
        detail = str(app.screen.query_one("#project-detail", Static).render())
        assert "tunesmith interview code-reviewer --persona N" in detail.replace("\n", " ")
        await pilot.press("down")
        detail = str(app.screen.query_one("#project-detail", Static).render())
        assert "tunesmith boundaries support-bot" in detail.replace("\n", " ")


async def test_projects_root_from_environment(projects_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_PROJECTS", str(projects_root))
    Project.create("Env project", "A task.", root=projects_root)
    app = TunesmithApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.projects_root == projects_root
        assert app.screen.query_one("#projects", DataTable).row_count == 1


async def test_empty_state_explains_n(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        empty = app.screen.query_one("#home-empty", Static)
        assert empty.display
        assert "Press n to create one" in str(empty.render())
        assert not app.screen.query_one("#projects", DataTable).display
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NewProjectScreen)


async def test_no_llm_banner_says_what_to_configure(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(LLMBanner)
        assert banner.configured is False
        assert banner.display and banner.has_class("-shown")
        text = str(banner.render())
        assert "No LLM configured: press ctrl+l to set the provider for this session" in text
        assert text.index("ctrl+l") < text.index("CLI: set TUNESMITH_MODEL")
        assert "TUNESMITH_API_BASE" in text and "built-in question bank" in text


async def test_open_with_enter_and_o_and_back_with_escape(projects_root: Path) -> None:
    make_two(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.screen.project.slug == "code-reviewer"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("down", "o")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.screen.project.slug == "support-bot"


async def test_delete_asks_first(projects_root: Path) -> None:
    make_two(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert (projects_root / "code-reviewer").exists()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert not (projects_root / "code-reviewer").exists()
        assert (projects_root / "support-bot").exists()
        rows = row_texts(app.screen.query_one("#projects", DataTable))
        assert [r[0] for r in rows] == ["Support bot"]


async def test_refresh_picks_up_new_projects(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        Project.create("Late one", "A task.", root=projects_root)
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.query_one("#projects", DataTable).row_count == 1


async def test_broken_project_is_listed_with_its_error(projects_root: Path) -> None:
    make_two(projects_root)
    (projects_root / "support-bot" / "project.toml").write_text("name = 3\n")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        rows = row_texts(app.screen.query_one("#projects", DataTable))
        assert rows[1][1] == "broken"


async def test_help_lists_keys_and_palette_runs_actions(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("?")
        await pilot.pause()
        assert isinstance(app.screen, HelpDialog)
        texts = [str(c) for c in app.screen.table.columns[1].cells]
        assert {"New", "Open", "Delete", "Refresh", "Quit"} <= set(texts)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("?", "?")  # ? again closes it: one meaning, the help on and off
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        # every screen action is a command-palette entry
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Home: New", "Home: Open", "Home: Delete", "Home: Refresh", "Home: Help"} <= set(titles)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Home: New")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NewProjectScreen)


async def test_quit_with_q(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 or app.return_code is None
    assert not app.is_running


async def test_large_terminal(projects_root: Path) -> None:
    make_two(projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#projects", DataTable)
        assert table.row_count == 2
        next_width = [c for c in table.columns.values() if str(c.key.value) == "next"][0].width
        assert next_width > 40  # the columns use the room
        rows = row_texts(table)
        assert rows[0][3] == "pick the expert persona the interviewer will speak to"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        stages = app.screen.query_one("#stages")
        assert stages.max_scroll_y == 0


async def test_configured_llm_hides_banner(projects_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNESMITH_MODEL", "ollama/llama3.1")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(LLMBanner)
        assert banner.configured is True and not banner.has_class("-shown")
        assert "ollama/llama3.1" in app.screen.sub_title
