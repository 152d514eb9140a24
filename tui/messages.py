"""Typed messages that workers post back to the UI.

Workers run blocking core calls in a thread (see tui.workers.background) and report by posting
one of these; ``post_message`` is safe to call from any thread. Every message bubbles, so a
screen, or the App, can handle what a widget's worker posts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from core.project import Project, ProjectSummary


class WorkFailed(Message):
    """A background worker raised. The App turns this into an error dialog."""

    def __init__(self, error: BaseException, group: str = "") -> None:
        super().__init__()
        self.error = error
        self.group = group


class ProjectsLoaded(Message):
    """The projects under the projects folder, as listed by core.project.list_projects."""

    def __init__(self, summaries: list["ProjectSummary"]) -> None:
        super().__init__()
        self.summaries = summaries


class ProjectDeleted(Message):
    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug


class ProjectLoaded(Message):
    """A project was (re)read from its folder; ``number`` tells reads apart (0: not counted)."""

    def __init__(self, project: "Project", number: int = 0) -> None:
        super().__init__()
        self.project = project
        self.number = number


class LlmStatus(Message):
    """Whether an LLM is configured for a role; ``model`` is its litellm string when it is."""

    def __init__(self, configured: bool, model: str | None = None, choice: Any = None) -> None:
        super().__init__()
        self.configured = configured
        self.model = model
        self.choice = choice
