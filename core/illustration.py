"""The mark an illustration project's reports and exports carry, in one place.

A project whose project.toml has ``illustration = "why"`` (the shipped example, written by
bench/make_example_project.py without any model run) is not a real evaluation: every report and export
written for it says so, in the form its format allows, and says it again when export or decide rewrites it.

    markdown   a banner line at the top, after the YAML front matter when there is one
    JSON       ``"illustration": true`` and ``"illustration_reason"`` first at the top level
    TOML       ``illustration = true`` at the top level (the models that are written as TOML have the field)
    JSONL /    rows cannot carry it: :data:`NOTE_FILE` is written beside them (exports/ILLUSTRATION.md)
    Parquet

A real project (no ``illustration`` in project.toml) gets none of it: every function returns its input
unchanged and :func:`flag` returns None (a None field is not written).
"""

from __future__ import annotations

from typing import Any

NOTE_FILE = "ILLUSTRATION.md"
BANNER_START = "> **Illustration**"
HOW_TO_REAL = "the README's \"Make a real example\" section shows how to produce a real one with a local model"


def reason_of(project: Any) -> str | None:
    """Why ``project`` is an illustration (project.toml's ``illustration``), or None for a real project."""
    meta = getattr(project, "meta", project)
    reason = getattr(meta, "illustration", None)
    return reason.strip() if isinstance(reason, str) and reason.strip() else None


def flag(project: Any) -> bool | None:
    """True for an illustration project, None (a field left out of the file) for a real one."""
    return True if reason_of(project) else None


def banner(reason: str) -> str:
    return (f"{BANNER_START} — {reason.rstrip('.')}. This is not a real evaluation: no model was run, and its "
            f"figures only show what the files look like; {HOW_TO_REAL}.")


def is_marked(text: str) -> bool:
    return BANNER_START in text[:4000]


def markdown(text: str, project: Any) -> str:
    """``text`` with the banner at the top (after a ``---`` front matter block); unchanged when the project is
    real or the banner is already there."""
    reason = reason_of(project)
    if reason is None or is_marked(text):
        return text
    line = banner(reason)
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            cut = text.find("\n", end + 4)
            cut = len(text) if cut == -1 else cut + 1
            head, rest = text[:cut], text[cut:]
            return f"{head}\n{line}\n\n{rest.lstrip(chr(10))}"
    return f"{line}\n\n{text}"


def json_doc(data: Any, project: Any) -> Any:
    """A JSON document (a dict) with ``illustration: true`` and the reason first; anything else unchanged."""
    reason = reason_of(project)
    if reason is None or not isinstance(data, dict):
        return data
    rest = {k: v for k, v in data.items() if k not in ("illustration", "illustration_reason")}
    return {"illustration": True, "illustration_reason": reason, **rest}


def toml_dict(data: dict[str, Any], project: Any) -> dict[str, Any]:
    """A plain dict written as TOML, with ``illustration = true`` first."""
    if reason_of(project) is None:
        return data
    return {"illustration": True, **{k: v for k, v in data.items() if k != "illustration"}}


def note_text(project: Any, files: list[str]) -> str:
    """exports/ILLUSTRATION.md: the mark for the files whose rows cannot carry one (JSONL, Parquet)."""
    reason = reason_of(project) or ""
    lines = [banner(reason), "", "# This folder is an illustration", "",
             "Every file here was written for an illustration project, not from a real run. The JSON documents "
             "say `\"illustration\": true` at the top level and the markdown files open with the line above; "
             "these files hold one record a line and cannot carry the mark themselves:", ""]
    lines += [f"- `{name}`" for name in files] or ["- (none)"]
    return "\n".join(lines) + "\n"
