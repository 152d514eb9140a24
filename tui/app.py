"""The tunesmith App: the screens, the command palette, and the one place errors become dialogs.

Start-up stays light: before the first frame only textual and this package's own modules are
imported. Even core.project (pydantic models) is first imported by the home screen's worker
thread, after the first paint; torch, litellm, datasets and sentence-transformers are imported
by the workers of the screens that need them.
"""

from __future__ import annotations

import gc
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.registry import STAGE_SCREENS
from tui.errors import ErrorDialog, describe_error
from tui.messages import WorkFailed

if TYPE_CHECKING:
    from core.project import Project

STYLES = Path(__file__).resolve().parent.parent / "styles"


def style_paths() -> list[Path]:
    """base.tcss first, then one file per screen (a new screen just adds styles/<screen>.tcss)."""
    files = sorted(STYLES.glob("*.tcss"))
    return sorted(files, key=lambda p: p.name != "base.tcss")


class TunesmithApp(App[None]):
    TITLE = "tunesmith"
    NOTIFICATION_TIMEOUT = 4  # seconds: a toast covers the content below it for no longer (dialogs stay)
    SUB_TITLE = ""  # the home screen says "projects"; a stage screen's own sub-title fits at 80 columns
    CSS_PATH = style_paths()

    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", id="app.help",
                tooltip="Show every key of this screen"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit", tooltip="Quit tunesmith", show=False),
        Binding("ctrl+l", "llm_provider", "LLM provider", id="app.llm_provider", show=False,
                tooltip="Set the LLM provider (model string, API base) for this session; the key stays in "
                        "the environment"),
    ]

    def __init__(self, projects_root: Path | str | None = None) -> None:
        super().__init__()
        self._projects_root_arg = projects_root
        self._projects_root: Path | None = None

    @property
    def projects_root(self) -> Path:
        """The projects folder: the argument, else TUNESMITH_PROJECTS, else ./projects."""
        if self._projects_root is None:
            from core.project import projects_root

            self._projects_root = projects_root(self._projects_root_arg)
        return self._projects_root

    def on_mount(self) -> None:
        # Long-lived objects (textual, and later litellm / torch) make full garbage collections slow;
        # freezing what exists after the first paint keeps the UI from stalling on them.
        self.set_timer(1.0, gc.freeze)

    def get_default_screen(self) -> Screen:
        from screens.home import HomeScreen

        return HomeScreen()

    # ------------------------------------------------------------ errors: the one place

    def report_error(self, error: BaseException, title: str = "Something went wrong") -> None:
        """Show an error in a modal dialog (safe to call from the UI thread only; from a thread
        use ``app.call_from_thread(app.report_error, exc)`` or a background worker)."""
        from tui.errors import needs_llm

        self.log.error(repr(error))
        self.push_screen(ErrorDialog(describe_error(error), title, offer_provider=needs_llm(error)))

    def on_work_failed(self, message: WorkFailed) -> None:
        """Every background worker's failure arrives here (see tui.workers.background)."""
        message.stop()
        self.report_error(message.error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Workers the App itself runs with exit_on_error=False."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            if not getattr(event.worker.error, "_tunesmith_reported", False):
                self.report_error(event.worker.error)

    # ------------------------------------------------------------ navigation

    def open_project(self, slug: str, created: bool = False) -> None:
        """The project's dashboard; ``created``: just made, so it says what was inferred (task type).

        The app holds the project's lock for as long as the dashboard is open (the dashboard releases it
        when it closes): no other tunesmith writes under the screens' in-memory state. A project another
        process has open is not opened; the error names that process (pid and host)."""
        from core.project import Project
        from screens.dashboard import DashboardScreen

        try:
            project = Project.open(slug, self.projects_root)
            project.hold_lock()
        except Exception as exc:
            self.report_error(exc, "Could not open the project")
            return
        self.push_screen(DashboardScreen(project, created=created))

    def open_screen(self, name: str, project: "Project") -> bool:
        """Push the stage screen registered as ``name`` (screens.registry) for a project.
        Returns False, after saying which skill brings it, when it is not built yet."""
        spec = STAGE_SCREENS[name]
        try:
            screen_cls = spec.load()
        except Exception as exc:
            self.report_error(exc, f"Could not open {spec.title}")
            return False
        if screen_cls is None:
            self.notify(spec.not_built_message(), title=spec.title, severity="warning")
            return False
        self.open_stage(screen_cls(project, **spec.kwargs))
        return True

    def open_stage(self, screen: Screen) -> None:
        """Push a stage screen over the project's dashboard: a stage screen opened from another stage
        screen replaces it (and any stage screens under it), so one esc always goes back to the dashboard,
        as every stage screen's key bar says, and screens never pile up. Dialogs are never popped."""
        from textual.screen import ModalScreen

        from screens.dashboard import DashboardScreen

        stack = self.screen_stack
        if any(isinstance(s, DashboardScreen) for s in stack):
            while len(self.screen_stack) > 1 and not isinstance(self.screen, (DashboardScreen, ModalScreen)):
                self.pop_screen()
        self.push_screen(screen)

    def action_help(self) -> None:
        from tui.dialogs import HelpDialog

        if isinstance(self.screen, HelpDialog):
            return
        title = f"Keys: {self.screen.title or self.title}" if self.screen.title else "Keys"
        self.push_screen(HelpDialog(self.screen, title))

    def action_llm_provider(self) -> None:
        """The provider dialog; once applied, every LLM banner of the current screen looks again."""
        from tui.provider_dialog import ProviderDialog
        from tui.widgets.llm_banner import LLMBanner

        if isinstance(self.screen, ProviderDialog):
            return

        def applied(done: bool | None) -> None:
            if not done:
                return
            project = getattr(self.screen, "project", None)
            roles = getattr(getattr(project, "meta", None), "models", None)
            for banner in self.screen.query(LLMBanner):
                banner.check(roles)

        self.push_screen(ProviderDialog(), applied)

    # ------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own commands, then every action bound on the current screen, by name."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Set the LLM provider (model) for this session",
                            "Model string and API base, kept in this process only; the key is read from the "
                            "environment (key ctrl+l)", self.action_llm_provider)
        yield from screen_commands(self, screen)


def listed(binding: Binding) -> bool:
    """Bindings that are actions of the app (shown in the key bar), not a widget's cursor keys."""
    return bool(binding.description) and binding.show and not binding.system


def screen_label(screen: Screen) -> str:
    """'Dashboard' for DashboardScreen; a screen may set COMMAND_PREFIX instead."""
    label = getattr(screen, "COMMAND_PREFIX", None)
    if label:
        return label
    name = type(screen).__name__.removesuffix("Screen")
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def command_name(node: object, binding: Binding) -> str:
    """The palette's name for a binding: the node's COMMAND_NAMES[binding id] when it has one (a
    longer name than the key bar's), else the binding's description."""
    names = getattr(node, "COMMAND_NAMES", None) or {}
    return names.get(binding.id or "", binding.description)


def screen_commands(app: App, screen: Screen) -> Iterable[SystemCommand]:
    seen: set[tuple[int, str]] = set()
    keys: dict[tuple[int, str], list[str]] = {}
    found = []
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not listed(binding) or binding.action in ("command_palette", "quit"):
            continue
        ident = (id(active.node), binding.action)
        keys.setdefault(ident, []).append(binding.key_display or app.get_key_display(binding))
        if ident in seen:
            continue
        seen.add(ident)
        found.append((ident, active))
    where = screen_label(screen)
    for ident, active in found:
        binding = active.binding
        help_text = active.tooltip or binding.tooltip or binding.description
        help_text = f"{help_text} (key {'/'.join(keys[ident])})"
        yield SystemCommand(f"{where}: {command_name(active.node, binding)}", help_text,
                            partial(app.run_action, binding.action, active.node))


def run_app(projects_root: Path | str | None = None) -> None:
    """Entry point used by ``tunesmith`` with no arguments."""
    TunesmithApp(projects_root).run()


if __name__ == "__main__":
    run_app()
