"""16 colours at 80x24, as over SSH to a basic terminal: every built screen renders, says what it should,
emits nothing but the 16 standard colours, and keeps its text legible.

Textual picks the colour system once, when an App is made: App.__init__ builds ``app.console`` with
``textual.constants.COLOR_SYSTEM``, which textual.constants reads from TEXTUAL_COLOR_SYSTEM when textual
is first imported ("auto" lets Rich detect the terminal). run_test's headless driver writes nothing, so
each frame is rendered here through ``app.console`` the way the real driver writes it to the terminal.

The projects are the screenshot demo's (bench/screenshots.py), so the screens are seen with real
content: billing-support (evaluated), chess-openings-coach (mid-interview), warranty-claims (eval-set
review in progress), contract-clause-triage (a running training run).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from rich.color import ColorSystem, ColorType
from rich.segment import Segment
from textual import constants
from textual.screen import Screen

from screens.dashboard import DashboardScreen
from screens.registry import STAGE_SCREENS
from tui.app import TunesmithApp
from tui.errors import ErrorDialog
from tui.widgets.key_bar import KeyBar

ROOT = Path(__file__).resolve().parent.parent
SIZE = (80, 24)
SGR = re.compile(r"\x1b\[([0-9;]*)m")
STANDARD_CODES = {*range(0, 10), *range(21, 30), *range(30, 38), 39, *range(40, 48), 49,
                  *range(90, 98), *range(100, 108)}


def _demo():
    spec = importlib.util.spec_from_file_location("tunesmith_screenshots", ROOT / "bench" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _demo()


@pytest.fixture
def sixteen_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTUAL_COLOR_SYSTEM", "standard")  # what a child process would read
    monkeypatch.setattr(constants, "COLOR_SYSTEM", "standard")  # what App.__init__ reads in this one


@pytest.fixture
def projects(projects_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    demo.build_demo(projects_root)
    monkeypatch.setitem(sys.modules, demo.SERVICE, demo.fake_train_service())  # the run has no process
    return projects_root


# ---------------------------------------------------------------- one frame, as the terminal gets it


class Frame:
    def __init__(self, app: TunesmithApp) -> None:
        update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
        self.segments: list[list[Segment]] = [[seg for strip in line for seg in strip] for line in update.strips]
        self.lines = ["".join(seg.text for seg in line) for line in self.segments]
        self.ansi = "".join("".join(strip.render(app.console) for strip in line) + "\n" for line in update.strips)
        self.text = "\n".join(self.lines)

    def sgr_codes(self) -> list[list[int]]:
        return [[int(p or 0) for p in m.group(1).split(";")] for m in SGR.finditer(self.ansi)]

    def truecolor_styles(self) -> int:
        return sum(1 for line in self.segments for seg in line if seg.style and seg.style.color
                   and seg.style.color.type == ColorType.TRUECOLOR)

    def invisible(self) -> list[str]:
        """Text whose foreground and background become the same colour at 16 colours."""
        found = []
        for y, line in enumerate(self.segments):
            for seg in line:
                style = seg.style
                if not seg.text.strip() or style is None or style.color is None or style.bgcolor is None:
                    continue
                if style.reverse:
                    continue
                fg = style.color.downgrade(ColorSystem.STANDARD)
                bg = style.bgcolor.downgrade(ColorSystem.STANDARD)
                if fg.number is not None and fg.number == bg.number:
                    found.append(f"row {y}: {seg.text.strip()!r}")
        return found

    def background_of(self, needle: str) -> set[int]:
        for line, text in zip(self.segments, self.lines):
            if needle in text:
                return {seg.style.bgcolor.downgrade(ColorSystem.STANDARD).number  # type: ignore[union-attr]
                        for seg in line if seg.style and seg.style.bgcolor and needle[:4] in seg.text}
        raise AssertionError(f"{needle!r} is not on screen")


def check_frame(app: TunesmithApp, *expected: str) -> Frame:
    """No error dialog, the expected text visible, only the 16 standard colours, legible, fits 80x24."""
    errors = [s for s in app.screen_stack if isinstance(s, ErrorDialog)]
    assert not errors, f"an error dialog is open on {type(app.screen).__name__}"
    frame = Frame(app)
    assert len(frame.lines) == SIZE[1] and all(len(line) <= SIZE[0] for line in frame.lines)
    for text in expected:
        assert text in frame.text, f"{text!r} not visible on {type(app.screen).__name__}:\n{frame.text}"
    codes = frame.sgr_codes()
    extended = [c for c in codes if 38 in c or 48 in c]
    assert not extended, f"256-colour or truecolor codes on {type(app.screen).__name__}: {extended[:3]}"
    assert {p for c in codes for p in c} <= STANDARD_CODES
    assert any(30 <= p <= 37 or 90 <= p <= 97 for c in codes for p in c), "no colour at all"
    assert frame.truecolor_styles(), "nothing was downgraded: the check would be vacuous"
    assert not frame.invisible(), f"text lost at 16 colours on {type(app.screen).__name__}: {frame.invisible()}"
    bars = list(app.screen.query(KeyBar))
    if bars:
        assert bars[0].region.bottom == SIZE[1], "the key bar is not on the last row"
    return frame


# ---------------------------------------------------------------- driving


async def settle(pilot, until: Callable[[], bool] = lambda: True, *, workers: bool = True,
                 timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while True:
        for _ in range(3):
            if workers:
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if until():
            return
        assert time.monotonic() < end, f"{type(pilot.app.screen).__name__} did not get ready"
        await pilot.pause(0.05)


async def to_dashboard(pilot, slug: str, workers: bool = True) -> DashboardScreen:
    app = pilot.app
    while len(app.screen_stack) > 1:
        app.pop_screen()
    await settle(pilot, workers=workers)
    app.open_project(slug)
    await settle(pilot, lambda: isinstance(app.screen, DashboardScreen), workers=workers)
    return app.screen


async def open_stage(pilot, slug: str, key: str, until: Callable[[Screen], bool] = lambda s: True,
                     workers: bool = True) -> Screen:
    dash = await to_dashboard(pilot, slug)
    await pilot.press(key)
    await settle(pilot, lambda: pilot.app.screen is not dash and until(pilot.app.screen), workers=workers)
    return pilot.app.screen


def test_the_colour_system_comes_from_textual_constants(sixteen_colours) -> None:
    app = TunesmithApp()
    assert app.console.color_system == "standard"


async def test_every_screen_at_16_colours_and_80x24(sixteen_colours, projects: Path) -> None:
    from core.evaluate.run import decide_now
    from core.project import Project

    billing = Project.open("billing-support", projects)
    demo.rate_spot_check(billing, upto=3)
    app = TunesmithApp(projects)
    async with app.run_test(size=SIZE) as pilot:
        assert app.console.color_system == "standard"
        await settle(pilot, lambda: getattr(app.screen, "loaded", False))
        home = check_frame(app, "Billing support", "Warranty claims", "Next step", "New")
        # the highlighted row stands out from the others at 16 colours
        assert home.background_of("Billing support") != home.background_of("Chess openings")

        await pilot.press("n")
        await settle(pilot)
        check_frame(app, "Name", "Task", "Preset", "Method", "Create (ctrl+s)")
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("enter")  # the first project: billing-support
        await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))
        check_frame(app, "Billing support", "1 Knowledge extraction", "4 Evaluation", "Next ▸")

        await open_stage(pilot, "billing-support", "b", lambda s: getattr(s, "bounds", None) is not None)
        check_frame(app, "WILL NOT", "HARD CONSTRAINTS", "issue refunds")
        await open_stage(pilot, "billing-support", "e")
        check_frame(app, "Eval set approved and frozen")
        pilot_screen = await open_stage(pilot, "billing-support", "p")
        assert type(pilot_screen).__name__ == "ReviewScreen"
        check_frame(app, "pilot review")

        await open_stage(pilot, "billing-support", "s", lambda s: getattr(s, "rater", None) is not None)
        check_frame(app, "spot-check", "3/20 rated", "rate")

        decide_now(billing)
        await open_stage(pilot, "billing-support", "t",
                         lambda s: getattr(getattr(s, "data", None), "decision", None) is not None)
        check_frame(app, "ITERATE", "What keeps it from DEPLOY", "Checks that passed")

        await open_stage(pilot, "chess-openings-coach", "i", lambda s: getattr(s, "step", "") == "question")
        check_frame(app, "Round 2/4", "Sicilian", "1. Ask for two or three")

        await open_stage(pilot, "warranty-claims", "e", lambda s: getattr(s, "rater", None) is not None)
        check_frame(app, "review round 1: 2/5 rated", "Reference answer", "Good")

        await open_stage(pilot, "contract-clause-triage", "j",
                         lambda s: getattr(s, "mode", "") == "run" and s.log_panel.lines_ingested > 0
                         and len(s.chart.rows) > 0, workers=False)
        check_frame(app, "running", "step 215/460", "train.log", "[metrics] step=215")
        # the loss chart, a compact one below the log at 80 columns (no g needed)
        await settle(pilot, lambda: app.screen.chart.display and app.screen.chart.redraws > 0, workers=False)
        check_frame(app, "loss")

        # last, as its workers are not waited for: the generation screen (skill 2), if it is built yet
        generation = STAGE_SCREENS["generation"]
        dash = await to_dashboard(pilot, "billing-support", workers=False)
        await pilot.press("g")
        await settle(pilot, workers=False)
        await pilot.pause(0.3)
        if generation.is_built():
            assert app.screen is not dash
            check_frame(app)
        else:
            assert app.screen is dash
            assert any("Generation is not built yet" in n.message for n in app._notifications)
            check_frame(app)
        while len(app.screen_stack) > 1:
            app.pop_screen()
        await pilot.pause()
