"""Boundary editing: WILL / WILL NOT / hard constraints, edited in place and approved with one key.

Every edit is saved at once (atomically); editing an approved set withdraws the approval.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Header, Input, Label, ListItem, ListView, Static

from core.errors import TunesmithError
from core.extract import boundaries as ops
from core.models.knowledge import ScopeBoundaries
from core.project import BOUNDARIES, Project
from tui.widgets.key_bar import KeyBar
from tui.workers import background


class TextDialog(ModalScreen[str | None]):
    """One line of text: enter saves, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="text.cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.title_text, classes="dialog-title")
            yield Input(self.value, id="text-input")
            yield Static("enter saves · escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Drafted(Message):
    def __init__(self, boundaries: ScopeBoundaries, note: str) -> None:
        super().__init__()
        self.boundaries = boundaries
        self.note = note


class StatementList(ListView):
    """One of the three lists; its id is the list's name in ScopeBoundaries."""


class BoundariesScreen(Screen):
    BINDINGS = [
        Binding("y", "approve", "Approve", id="boundaries.approve", tooltip="Approve the boundaries as they stand"),
        Binding("n", "add", "New", id="boundaries.add", tooltip="Add a statement to the focused list"),
        Binding("e,enter", "edit", "Edit", id="boundaries.edit", tooltip="Edit the selected statement"),
        Binding("d,delete", "delete", "Delete", id="boundaries.delete", tooltip="Delete the selected statement"),
        Binding("u,ctrl+z", "undo", "Undo delete", id="boundaries.undo",
                tooltip="Put the last deleted statement back where it was"),
        Binding("m", "move", "Move", id="boundaries.move",
                tooltip="Move the selected statement between WILL and WILL NOT"),
        Binding("shift+up", "reorder(-1)", "Up", id="boundaries.up", tooltip="Move the statement up"),
        Binding("shift+down", "reorder(1)", "Down", id="boundaries.down", tooltip="Move the statement down"),
        Binding("left,right", "switch_list", "", show=False),
        Binding("escape", "back", "Back", id="boundaries.back", tooltip="Back to the dashboard"),
    ]

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "boundaries"
        self.bounds: ScopeBoundaries | None = None
        self.deleted: list[tuple[str, int, Any]] = []  # (list, index, Statement) of each delete, for u

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("", id="bounds-state")
        with Horizontal(id="bounds-columns"):
            for name in ("will", "will_not"):
                with Vertical(classes="bounds-col"):
                    yield Label(ops.LABELS[name], classes="bounds-label")
                    yield StatementList(id=name)
        with Vertical(id="bounds-hard"):
            yield Label(ops.LABELS["hard_constraints"], classes="bounds-label")
            yield StatementList(id="hard_constraints")
        yield KeyBar()

    def on_mount(self) -> None:
        if self.project.exists(BOUNDARIES):
            try:
                self.bounds = ops.load(self.project)
            except TunesmithError as exc:  # a hand edit that does not parse: say which file and field, edit nothing
                self.app.pop_screen()
                self.app.report_error(exc, "The boundaries cannot be opened")  # type: ignore[attr-defined]
                return
            self.refresh_lists()
        else:
            self.query_one("#bounds-state", Static).update("drafting the boundaries from the interview…")
            self.draft()
        self.query_one("#will", StatementList).focus()

    @background("draft")
    def draft(self) -> None:
        from core.extract.artifacts import draft_artifacts
        from core.llm.gateway import Gateway

        gateway = Gateway(roles=self.project.meta.models, cache_dir=self.project.cache_dir / "llm")
        artifacts = draft_artifacts(self.project, gateway)
        self.post_message(Drafted(artifacts.boundaries, artifacts.note))

    def on_drafted(self, message: Drafted) -> None:
        self.bounds = message.boundaries
        if message.note:
            self.notify(message.note, title="Boundaries drafted", markup=False)
        self.refresh_lists()

    # ------------------------------------------------------------ display

    def refresh_lists(self, focus: tuple[str, int] | None = None) -> None:
        b = self.bounds
        if b is None:
            return
        for name in ops.LISTS:
            view = self.query_one(f"#{name}", StatementList)
            keep = view.index
            view.clear()
            items = getattr(b, name)
            view.extend(ListItem(Label(f"{i}. {s.text}", markup=False)) for i, s in enumerate(items, 1))
            if focus and focus[0] == name:
                view.index = focus[1]
                view.focus()
            elif items:
                view.index = min(keep or 0, len(items) - 1)
        state = "✓ approved" if b.approved else "not approved · y approves"
        self.query_one("#bounds-state", Static).update(
            f"{state} · WILL {len(b.will)} · WILL NOT {len(b.will_not)} · hard {len(b.hard_constraints)}")

    def focused_list(self) -> tuple[str, int | None]:
        focused = self.focused
        name = focused.id if isinstance(focused, StatementList) and focused.id else "will"
        view = self.query_one(f"#{name}", StatementList)
        return name, view.index

    def save(self, focus: tuple[str, int] | None = None) -> None:
        assert self.bounds is not None
        ops.save(self.project, self.bounds)
        self.refresh_lists(focus)

    # ------------------------------------------------------------ actions

    def action_add(self) -> None:
        if self.bounds is None:
            return
        name, _ = self.focused_list()

        def done(text: str | None) -> None:
            if text and text.strip():
                ops.add(self.bounds, name, text)
                self.save((name, len(getattr(self.bounds, name)) - 1))

        self.app.push_screen(TextDialog(f"New {ops.LABELS[name]} statement"), done)

    def action_edit(self) -> None:
        name, i = self.focused_list()
        if self.bounds is None or i is None or not getattr(self.bounds, name):
            return

        def done(text: str | None) -> None:
            if text is not None and text.strip():
                ops.edit(self.bounds, name, i, text)
                self.save((name, i))

        current = getattr(self.bounds, name)[i].text
        self.app.push_screen(TextDialog(f"Edit {ops.LABELS[name]} {i + 1}", current), done)

    def action_delete(self) -> None:
        name, i = self.focused_list()
        if self.bounds is None or i is None or not getattr(self.bounds, name):
            return
        statement = getattr(self.bounds, name)[i]
        ops.delete(self.bounds, name, i)
        self.deleted.append((name, i, statement))
        left = len(getattr(self.bounds, name))
        self.save((name, max(0, min(i, left - 1))) if left else None)
        self.notify(f"Deleted {ops.LABELS[name]} {i + 1}: u puts it back.", title="Boundaries", timeout=4,
                    markup=False)

    def action_undo(self) -> None:
        """The last deleted statement back at its place (its provenance kept)."""
        if self.bounds is None:
            return
        if not self.deleted:
            self.notify("Nothing to undo: u puts back a deleted statement.", title="Boundaries", timeout=3)
            return
        name, i, statement = self.deleted.pop()
        items = list(getattr(self.bounds, name))
        at = max(0, min(i, len(items)))
        items.insert(at, statement)
        setattr(self.bounds, name, items)
        self.bounds.approved = False
        self.bounds.approved_at = None
        self.save((name, at))
        self.notify(f"Put back {ops.LABELS[name]} {at + 1}.", title="Boundaries", timeout=3)

    def action_move(self) -> None:
        name, i = self.focused_list()
        if self.bounds is None or i is None or not getattr(self.bounds, name):
            return
        target = ops.OTHER[name]
        _, j = ops.move(self.bounds, name, i, target)
        self.save((target, j))

    def action_reorder(self, delta: int) -> None:
        name, i = self.focused_list()
        if self.bounds is None or i is None or not getattr(self.bounds, name):
            return
        _, j = ops.reorder(self.bounds, name, i, delta)
        self.save((name, j))

    def action_switch_list(self) -> None:
        name, _ = self.focused_list()
        self.query_one(f"#{ops.OTHER[name] if name != 'hard_constraints' else 'will'}", StatementList).focus()

    def action_approve(self) -> None:
        if self.bounds is None:
            return
        try:
            self.bounds = ops.approve(self.project, self.bounds)
        except Exception as exc:  # shown in the one error dialog
            self.app.report_error(exc, "Cannot approve yet")  # type: ignore[attr-defined]
            return
        self.refresh_lists()
        self.notify("Boundaries approved. Next: build the eval set (e on the dashboard).", title="Approved")

    def action_back(self) -> None:
        self.app.pop_screen()
