"""One place turns worker errors into an error dialog; the app keeps running."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from core.errors import LockedError
from screens.home import HomeScreen
from tui.app import TunesmithApp
from tui.errors import ErrorDialog, describe_error
from tui.messages import ProjectLoaded
from tui.workers import background


class Boom(Screen):
    BINDINGS = [Binding("b", "boom", "Boom"), Binding("k", "crash", "Crash"), Binding("a", "async_boom", "Async")]

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("boom screen")

    def action_boom(self) -> None:
        self.fail_clearly()

    def action_crash(self) -> None:
        self.fail_badly()

    def action_async_boom(self) -> None:
        self.fail_async()

    @background("boom")
    def fail_clearly(self) -> None:
        raise LockedError("project 'x' is being written by pid 42 on host h; try again when it finishes")

    @background("boom")
    def fail_badly(self) -> None:
        raise KeyError("missing")

    @background("boom")
    async def fail_async(self) -> None:
        raise ValueError("bad value")


def message_of(app) -> str:
    return str(app.screen.query_one("#error-message", Static).render())


async def test_worker_error_becomes_error_dialog(projects_root: Path) -> None:
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = Boom()
        app.push_screen(screen)
        await pilot.pause()
        await pilot.press("b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert message_of(app).startswith("project 'x' is being written")  # plain: no type name
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and app.is_running
        await pilot.press("k")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert message_of(app) == "KeyError: 'missing'"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert message_of(app) == "ValueError: bad value"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_report_error_helper_and_open_errors(projects_root: Path) -> None:
    (projects_root / "bad").mkdir()
    (projects_root / "bad" / "project.toml").write_text("name = 1\n")
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")  # opening a broken project
        await pilot.pause()
        assert isinstance(app.screen, ErrorDialog)
        assert "project.toml" in message_of(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        app.report_error(RuntimeError("by hand"))
        await pilot.pause()
        assert message_of(app) == "RuntimeError: by hand"


def test_describe_error() -> None:
    assert describe_error(LockedError("held")) == "held"
    assert describe_error(OSError("disk full")) == "OSError: disk full"
    assert describe_error(RuntimeError()) == "RuntimeError"


def test_messages_are_typed() -> None:
    assert ProjectLoaded.handler_name == "on_project_loaded"


async def test_error_from_a_screen_that_has_gone_still_shows(projects_root: Path) -> None:
    import threading

    gate = threading.Event()
    started = threading.Event()

    class Slow(Screen):
        def compose(self) -> ComposeResult:
            yield Static("slow")

        @background("slow")
        def work(self) -> None:
            started.set()
            gate.wait(5)
            raise LockedError("still reported")

    app = TunesmithApp(projects_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = Slow()
        app.push_screen(screen)
        await pilot.pause()
        screen.work()
        # the worker must be running before its screen goes (a worker cancelled before it starts never runs)
        for _ in range(100):
            if started.is_set():
                break
            await pilot.pause(0.05)
        assert started.is_set()
        app.pop_screen()
        await pilot.pause()
        gate.set()
        await app.workers.wait_for_complete()
        for _ in range(50):  # the message crosses from the worker thread; allow for a busy machine
            await pilot.pause(0.1)
            if isinstance(app.screen, ErrorDialog):
                break
        assert isinstance(app.screen, ErrorDialog)
        assert message_of(app) == "still reported"
