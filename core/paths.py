"""Paths a project records about itself, stored relative to the project folder so it can move.

A path inside the project folder is written relative to it (``runs/<id>/model``, POSIX separators); any
other path (a base model elsewhere on disk) stays absolute, and a name that is not a path (a Hub id, a
litellm model string) is left alone. On read, a relative path is resolved against the project folder,
so a copied or cloned project finds its own runs; older files with absolute paths still load as they are.
"""

from __future__ import annotations

import os
from pathlib import Path


def to_stored(value: str | None, project_folder: Path) -> str | None:
    """``value`` as a project file records it: relative to ``project_folder`` when it is an absolute path
    inside it, otherwise unchanged."""
    if not value:
        return value
    p = Path(value).expanduser()
    if not p.is_absolute():
        return value
    root = Path(os.path.abspath(project_folder))
    for candidate, base in ((Path(os.path.abspath(p)), root), (_real(p), _real(root))):
        try:
            rel = candidate.relative_to(base)
        except ValueError:
            continue
        return rel.as_posix() or "."
    return value


def from_stored(value: str | None, project_folder: Path, *, always: bool = False) -> str | None:
    """``value`` as read from a project file: a relative path resolved against ``project_folder``.

    With ``always`` (a field that is known to hold a path) a relative value is always resolved; otherwise
    only when it names something that exists in the project (so a Hub id such as ``org/model`` is kept)."""
    if not value:
        return value
    p = Path(value)
    if p.is_absolute() or value.startswith("~"):
        return value
    target = Path(os.path.abspath(Path(project_folder) / p))
    if always or target.exists():
        return str(target)
    return value


def _real(p: Path) -> Path:
    try:
        return Path(os.path.realpath(p))
    except OSError:
        return p
