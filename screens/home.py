"""Home: every project with its stage and next step; create, open, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from tui.messages import LlmStatus, ProjectDeleted, ProjectsLoaded
from tui.widgets.key_bar import KeyBar
from tui.widgets.llm_banner import LLMBanner
from tui.workers import background

if TYPE_CHECKING:
    from core.project import Project, ProjectSummary
    from tui.app import TunesmithApp

# core.project (pydantic models) is imported by the worker that lists the projects, after the
# first frame is drawn: nothing above needs it.


def short_hint(hint: str) -> str:
    """'answer the interview (15-25 questions): tunesmith interview x' -> the part before the command."""
    return hint.split(": tunesmith", 1)[0]


def cell(value: str | Text, width: int) -> Text:
    """One line, cut with an ellipsis to the column's width."""
    text = value if isinstance(value, Text) else Text(value)
    text.truncate(width, overflow="ellipsis")
    text.no_wrap = True
    return text


def stage_label(summary: "ProjectSummary") -> Text:
    from core.models.project import STAGES

    if summary.error:
        return Text("broken", style="bold red")
    if summary.stage is None:
        return Text("complete", style="green")
    return Text(f"{STAGES.index(summary.stage) + 1} {summary.stage}")


class HomeScreen(Screen):
    TITLE = "tunesmith"
    SUB_TITLE = "projects"

    BINDINGS = [
        Binding("n", "new", "New", id="home.new", priority=True,  # the form is ready before the next key
                tooltip="Create a project: name, task, preset, method"),
        Binding("o", "open", "Open", id="home.open", tooltip="Open the highlighted project's dashboard (or enter)"),
        Binding("d", "delete", "Delete", id="home.delete", tooltip="Delete the highlighted project (asks first)"),
        Binding("r", "refresh", "Refresh", id="home.refresh", tooltip="Read the projects folder again"),
        Binding("q", "app.quit", "Quit", id="home.quit", tooltip="Quit tunesmith (ctrl+q anywhere)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list["ProjectSummary"] = []
        self.loaded = False

    @property
    def tunesmith(self) -> "TunesmithApp":
        return cast("TunesmithApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield LLMBanner(id="llm-banner")
        yield Static("Reading projects…", id="home-empty", markup=False)
        yield DataTable(id="projects", cursor_type="row", zebra_stripes=True)
        yield Static(id="project-detail", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#projects", DataTable).display = False
        self.call_after_refresh(self.refresh_projects)
        self.call_after_refresh(self.query_one(LLMBanner).check)

    # ------------------------------------------------------------ loading

    def refresh_projects(self) -> None:
        self.load_projects()

    @background("home-projects")
    def load_projects(self) -> None:
        from core.project import list_projects

        self.post_message(ProjectsLoaded(list_projects(self.tunesmith.projects_root)))

    def on_projects_loaded(self, message: ProjectsLoaded) -> None:
        self.loaded = True
        self.summaries = message.summaries
        keep = self.selected_slug()
        table = self.fill_table()
        empty = self.query_one("#home-empty", Static)
        if not self.summaries:
            empty.update(
                f"No projects yet in {self.tunesmith.projects_root}.\n\n"
                "Press n to create one: give it a name, describe the task in a sentence or two, "
                "and pick a preset."
            )
        empty.display = not self.summaries
        table.display = bool(self.summaries)
        if self.summaries:
            slugs = [s.slug for s in self.summaries]
            if keep in slugs:
                table.move_cursor(row=slugs.index(keep))
            table.focus()
        self.show_detail()

    def fill_table(self) -> DataTable:
        """(Re)build the table with columns that fit the screen's width: no sideways scrolling."""
        table = self.query_one("#projects", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        width = max(self.size.width, 60) - 2  # room for the vertical scrollbar
        name_w, stage_w = 16, 10
        rest = width - name_w - stage_w - 4 * 2  # every column has one cell of padding each side
        task_w = max(12, rest * 2 // 5)
        next_w = max(12, rest - task_w)
        table.add_column("Project", key="name", width=name_w)
        table.add_column("Stage", key="stage", width=stage_w)
        table.add_column("Task", key="task", width=task_w)
        table.add_column("Next step", key="next", width=next_w)
        for s in self.summaries:
            name = s.name if not s.error else s.slug
            nxt = Text(s.error, style="red") if s.error else Text(short_hint(s.next_hint))
            task = " ".join(s.task.split())
            table.add_row(cell(name, name_w), stage_label(s), cell(task, task_w), cell(nxt, next_w), key=s.slug)
        if row and row < len(self.summaries):
            table.move_cursor(row=row)
        return table

    def on_resize(self) -> None:
        if self.loaded:
            self.fill_table()

    def on_llm_status(self, message: LlmStatus) -> None:
        self.sub_title = f"projects · LLM {message.model}" if message.configured and message.model else "projects"

    # ------------------------------------------------------------ selection

    def selected(self) -> "ProjectSummary | None":
        table = self.query_one("#projects", DataTable)
        if not self.summaries or table.cursor_row is None:
            return None
        row = table.cursor_row
        return self.summaries[row] if 0 <= row < len(self.summaries) else None

    def selected_slug(self) -> str | None:
        s = self.selected()
        return s.slug if s else None

    def show_detail(self) -> None:
        detail = self.query_one("#project-detail", Static)
        s = self.selected()
        if s is None:
            detail.update("")
            detail.display = False
            return
        detail.display = True
        if s.error:
            detail.update(f"{s.slug}: {s.error}")
        else:
            from screens.registry import key_hint

            lead, command = key_hint(s.next_hint)
            task = cell(f"{s.name}: {' '.join(s.task.split())}", max(20, self.size.width - 2))  # one line
            detail.update(Text.assemble(task, f"\nNext: open it (enter), then {lead}",  # wraps, never cut
                                        *((("\nCLI: " + command, "dim"),) if command else ())))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    # ------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self.refresh_projects()

    async def action_new(self) -> None:
        """Open the form and wait until it is mounted with the name field focused: the keys typed right
        after n are the name's (see tui.keys)."""
        from screens.new_project import NewProjectScreen

        def created(project: "Project | None") -> None:
            self.refresh_projects()
            if project is not None:
                self.tunesmith.open_project(project.slug, created=True)  # it says the inferred task type

        await self.app.push_screen(NewProjectScreen(), created)

    def action_open(self) -> None:
        s = self.selected()
        if s is None:
            self.notify("No project to open: press n to create one.", severity="warning")
            return
        self.tunesmith.open_project(s.slug)

    def action_delete(self) -> None:
        from tui.dialogs import ConfirmDialog

        s = self.selected()
        if s is None:
            self.notify("No project to delete.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_project(s.slug)

        folder = self.tunesmith.projects_root / s.slug
        self.app.push_screen(
            ConfirmDialog(f"Delete project {s.name!r} and everything in {folder}?\nThis cannot be undone.",
                          yes="Delete", no="Keep", title="Delete project"),
            answered,
        )

    @background("home-delete")
    def delete_project(self, slug: str) -> None:
        from core.project import Project

        Project.open(slug, self.tunesmith.projects_root).delete()
        self.post_message(ProjectDeleted(slug))

    def on_project_deleted(self, message: ProjectDeleted) -> None:
        self.notify(f"Deleted {message.slug}.")
        self.refresh_projects()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.refresh_projects()
