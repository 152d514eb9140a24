"""The session LLM provider: with no model configured the banner offers ctrl+l; the dialog sets
TUNESMITH_MODEL / TUNESMITH_API_BASE in this process only, names the key's variable, and writes nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import pytest
from textual.widgets import Input

from core.llm.settings import resolve, set_session_provider
from core.project import Project
from tui.app import TunesmithApp
from tui.provider_dialog import ProviderDialog
from tui.widgets.llm_banner import LLMBanner

SECRET = "sk-test-0123456789abcdefghijklmnop"


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting for the screen"
        await pilot.pause(0.05)


@pytest.fixture
def restored_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make monkeypatch put TUNESMITH_MODEL / _API_BASE back (absent) after the test."""
    for name in ("TUNESMITH_MODEL", "TUNESMITH_API_BASE"):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def test_set_session_provider_only_touches_the_environment(restored_env: None) -> None:
    env: dict[str, str] = {"TUNESMITH_API_BASE": "http://old"}
    assert set_session_provider(" anthropic/claude-sonnet-4-5 ", "", env) == "ANTHROPIC_API_KEY"
    assert env == {"TUNESMITH_MODEL": "anthropic/claude-sonnet-4-5"}
    with pytest.raises(ValueError):
        set_session_provider("", None, env)


async def test_the_dialog_sets_the_provider_for_the_session_and_stores_no_key(
        projects_root: Path, tmp_path: Path, restored_env: None) -> None:
    project = Project.create("Chatty", "answer billing questions", root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.open_project(project.slug)
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DashboardScreen"
                       and bool(app.screen.query(LLMBanner)))
        banner = app.screen.query_one(LLMBanner)
        await wait_for(pilot, lambda: banner.configured is False)
        assert "ctrl+l" in str(banner.render()) and banner.has_class("-shown")
        dashboard = app.screen
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ProviderDialog))
        dialog = app.screen
        dialog.query_one("#provider-model", Input).value = "openai/my-model"
        await pilot.pause()
        key = str(dialog.query_one("#provider-key").render())
        assert "OPENAI_API_KEY" in key and "set" in key and SECRET not in key
        await pilot.press("enter")  # to the API base
        dialog.query_one("#provider-base", Input).value = "http://localhost:9/v1"
        await pilot.press("enter")  # applied
        await wait_for(pilot, lambda: app.screen is dashboard)
        assert os.environ["TUNESMITH_MODEL"] == "openai/my-model"
        assert os.environ["TUNESMITH_API_BASE"] == "http://localhost:9/v1"
        assert resolve("interviewer", project.meta.models).model == "openai/my-model"
        await wait_for(pilot, lambda: banner.configured is True and not banner.has_class("-shown"))
    # nothing written anywhere: not the key, not even the model
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert b"openai/my-model" not in data, path


async def test_escape_changes_nothing(projects_root: Path, restored_env: None) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ProviderDialog))
        app.screen.query_one("#provider-model", Input).value = "anthropic/claude-sonnet-4-5"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProviderDialog))
        assert "TUNESMITH_MODEL" not in os.environ


async def test_a_needs_an_llm_error_offers_the_provider_dialog(projects_root: Path, restored_env: None) -> None:
    from core.errors import TunesmithError
    from tui.errors import ErrorDialog

    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.report_error(TunesmithError("generating training data needs an LLM (generator role): set TUNESMITH_MODEL"))
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog) and bool(app.screen.query("#error-close")))
        assert "ctrl+l" in str(app.screen.query_one("#error-provider").render())
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, ProviderDialog))
        assert not any(isinstance(s, ErrorDialog) for s in app.screen_stack)
        app.report_error(ValueError("something else"))
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorDialog) and bool(app.screen.query("#error-close")))
        assert not app.screen.query("#error-provider")
