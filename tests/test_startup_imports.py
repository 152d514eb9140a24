"""Start-up stays light: the core imports no UI, and the TUI paints before any heavy library loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "litellm", "datasets", "sentence_transformers", "transformers", "trl")


def run_python(code: str, tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TUNESMITH_PROJECTS": str(tmp_path / "projects")}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_imports_no_ui_and_no_heavy_library(tmp_path: Path) -> None:
    found = run_python(
        """
        import importlib, importlib.util, json, pkgutil, sys
        import core, core.project, core.store, core.errors
        import core.models
        for m in pkgutil.iter_modules(core.models.__path__):
            importlib.import_module("core.models." + m.name)
        if importlib.util.find_spec("core.cli"):
            importlib.import_module("core.cli")
        watch = ("textual", "rich.live", "tui", "screens", "torch", "litellm")
        print(json.dumps({"loaded": [m for m in watch if m in sys.modules]}))
        """,
        tmp_path,
    )
    assert found["loaded"] == []


def test_tui_first_paint_imports_no_heavy_library(tmp_path: Path) -> None:
    found = run_python(
        f"""
        import asyncio, json, sys
        from tui.app import TunesmithApp

        HEAVY = {HEAVY!r}
        seen = {{}}

        class Probe(TunesmithApp):
            def on_mount(self) -> None:
                self.call_after_refresh(self.painted)

            def painted(self) -> None:
                seen["screen"] = type(self.screen).__name__
                seen["at_first_paint"] = [m for m in HEAVY if m in sys.modules]

        async def main() -> None:
            app = Probe()
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                seen["settled"] = [m for m in HEAVY if m in sys.modules]

        asyncio.run(main())
        print(json.dumps(seen))
        """,
        tmp_path,
    )
    assert found["screen"] == "HomeScreen"
    assert found["at_first_paint"] == [], found
    # the home screen settles (projects listed, LLM settings read) still without them
    assert found["settled"] == [], found


def test_tui_package_imports_no_textual(tmp_path: Path) -> None:
    found = run_python(
        """
        import json, sys
        import tui, screens, screens.registry
        print(json.dumps({"loaded": [m for m in ("textual", "rich") if m in sys.modules]}))
        """,
        tmp_path,
    )
    assert found["loaded"] == []
