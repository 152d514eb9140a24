"""Prompt templates as reviewable files.

A template is a Markdown file in this folder with ``## system`` and ``## user`` sections (the system
section is optional). ``{{name}}`` placeholders are filled by :func:`render`; a missing value is an
error, so a template and its caller cannot silently drift apart. The first line may be an HTML comment
naming the pydantic schema the prompt expects back, e.g. ``<!-- schema: PersonaList -->``.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, str]:
    path = FOLDER / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        sections[parts[i]] = parts[i + 1].strip()
    if "user" not in sections:
        raise ValueError(f"{path}: a prompt template needs a '## user' section")
    return sections


@lru_cache(maxsize=None)
def version(name: str) -> str:
    """A short content hash: recorded with generated data as its prompt version (read once a process:
    it is asked for every generated example)."""
    text = (FOLDER / f"{name}.md").read_bytes()
    return f"{name}@{hashlib.sha256(text).hexdigest()[:8]}"


def _fill(template: str, values: dict[str, object], name: str) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"prompt {name!r} needs a value for {{{{{key}}}}}")
        return str(values[key])

    return _PLACEHOLDER.sub(sub, template)


def render(name: str, **values: object) -> list[dict[str, str]]:
    """The chat messages of template ``name`` with its placeholders filled."""
    sections = load(name)
    messages = []
    if "system" in sections:
        messages.append({"role": "system", "content": _fill(sections["system"], values, name)})
    messages.append({"role": "user", "content": _fill(sections["user"], values, name)})
    return messages


def bullet(items: list[str] | tuple[str, ...], empty: str = "(none yet)") -> str:
    """Items as a Markdown bullet list, for filling templates."""
    return "\n".join(f"- {item}" for item in items) if items else empty
