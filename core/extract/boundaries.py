"""Editing and approving the scope boundaries (WILL / WILL NOT / hard constraints).

Pure operations on a ScopeBoundaries value, plus load/save/approve on a project. Any edit of an
approved set withdraws the approval (and with it every later step), because what was approved changed.
"""

from __future__ import annotations

from typing import Literal

from core.errors import BadInput, StageNotReady
from core.models.knowledge import ScopeBoundaries, Statement
from core.models.project import now
from core.project import BOUNDARIES, Project

ListName = Literal["will", "will_not", "hard_constraints"]
LISTS: tuple[str, ...] = ("will", "will_not", "hard_constraints")
LABELS = {"will": "WILL", "will_not": "WILL NOT", "hard_constraints": "HARD CONSTRAINTS"}
OTHER = {"will": "will_not", "will_not": "will", "hard_constraints": "will_not"}


def _list(b: ScopeBoundaries, name: str) -> list[Statement]:
    if name not in LISTS:
        raise BadInput(f"list: must be one of {', '.join(LISTS)} (got {name!r})")
    return getattr(b, name)


def _index(items: list[Statement], i: int, name: str) -> int:
    if not 0 <= i < len(items):
        raise BadInput(f"{name}: no item {i + 1} (it has {len(items)})")
    return i


def _changed(b: ScopeBoundaries) -> ScopeBoundaries:
    b.approved = False
    b.approved_at = None
    return b


def add(b: ScopeBoundaries, name: str, text: str, at: int | None = None) -> ScopeBoundaries:
    text = text.strip()
    if not text:
        raise BadInput("text: a boundary statement cannot be empty")
    items = list(_list(b, name))
    items.insert(len(items) if at is None else max(0, min(at, len(items))), Statement(text=text))
    setattr(b, name, items)
    return _changed(b)


def edit(b: ScopeBoundaries, name: str, i: int, text: str) -> ScopeBoundaries:
    text = text.strip()
    if not text:
        raise BadInput("text: a boundary statement cannot be empty; delete it instead")
    items = list(_list(b, name))
    _index(items, i, name)
    items[i] = Statement(text=text, provenance=items[i].provenance)
    setattr(b, name, items)
    return _changed(b)


def delete(b: ScopeBoundaries, name: str, i: int) -> ScopeBoundaries:
    items = list(_list(b, name))
    del items[_index(items, i, name)]
    setattr(b, name, items)
    return _changed(b)


def move(b: ScopeBoundaries, name: str, i: int, to: str | None = None) -> tuple[ScopeBoundaries, int]:
    """Move item i to another list (default: WILL <-> WILL NOT). Returns the new index there."""
    target = to or OTHER[name]
    src = list(_list(b, name))
    dst = list(_list(b, target))
    item = src.pop(_index(src, i, name))
    dst.append(item)
    setattr(b, name, src)
    setattr(b, target, dst)
    return _changed(b), len(dst) - 1


def reorder(b: ScopeBoundaries, name: str, i: int, delta: int) -> tuple[ScopeBoundaries, int]:
    """Move item i up (delta<0) or down (delta>0) within its list. Returns its new index."""
    items = list(_list(b, name))
    _index(items, i, name)
    j = max(0, min(len(items) - 1, i + delta))
    if j == i:
        return b, i
    items.insert(j, items.pop(i))
    setattr(b, name, items)
    return _changed(b), j


# ---------------------------------------------------------------- on a project


def load(project: Project) -> ScopeBoundaries:
    """The boundaries, read strictly (every field there, no coercion): they are edited and written back, so
    a hand edit that does not parse stops the command with the file and field named, the file untouched."""
    from core.extract.strict import read_strict_or

    b = read_strict_or(project, BOUNDARIES, ScopeBoundaries)
    if b is None:
        raise StageNotReady(f"no boundaries drafted yet: finish the interview (tunesmith interview {project.slug})")
    return b


def save(project: Project, b: ScopeBoundaries) -> None:
    """Save an edited set; an unapproved save withdraws an earlier approval and everything after it."""
    with project.writing():
        project.write(BOUNDARIES, b)
        if not b.approved and project.meta.is_done("extract", "boundaries_approved"):
            project.mark("extract", "boundaries_approved", done=False)


def approve(project: Project, b: ScopeBoundaries | None = None) -> ScopeBoundaries:
    b = b or load(project)
    if not b.will:
        raise BadInput(f"{project.path(BOUNDARIES)}: field 'will': add at least one WILL statement before approving")
    if not b.will_not:
        raise BadInput(
            f"{project.path(BOUNDARIES)}: field 'will_not': add at least one WILL NOT statement before approving "
            "(out-of-scope examples are built from them)"
        )
    b.approved = True
    b.approved_at = now()
    with project.writing():
        project.write(BOUNDARIES, b)
        project.mark("extract", "boundaries_approved")
    return b


def render_text(b: ScopeBoundaries) -> str:
    lines = []
    for name in LISTS:
        items = getattr(b, name)
        lines.append(f"{LABELS[name]} ({len(items)})")
        for i, s in enumerate(items, 1):
            src = f"  [{', '.join(s.provenance)}]" if s.provenance else ""
            lines.append(f"  {i:>2}. {s.text}{src}")
    from core.refusal import message_or_default

    lines.append(f"REFUSAL SENTENCE (every refusal opens with it)\n  {message_or_default(b.refusal_message)}")
    state = f"approved {b.approved_at:%Y-%m-%d %H:%M} UTC" if b.approved and b.approved_at else "not approved"
    lines.append(state)
    return "\n".join(lines)
