"""`--json` output for the CLI (the schema of every document: docs/json.md).

With ``--json`` stdout carries exactly one JSON document, printed last; the human lines a command prints
while it works (progress, prompts, item text) go to stderr instead, and errors go to stderr as always with
the usual exit code (then nothing is printed on stdout). Every document is an object with
``schema_version`` (:data:`SCHEMA_VERSION`, raised only when a key changes meaning or goes away; new keys
may be added without it) and ``command``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def add_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document on stdout (human lines go to stderr); schema: docs/json.md")


def _plain(value: Any) -> Any:
    """JSON-safe: paths and datetimes as strings, NaN/inf as null, pydantic models and tuples unwrapped."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"))
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _plain(value.item())
    return value


def document(command: str, **fields: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "command": command, **_plain(fields)}


def emit(doc: dict[str, Any]) -> None:
    """Print the document on stdout (call it after :func:`human_to_stderr`'s block, not inside)."""
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def human_to_stderr(enabled: bool = True) -> Iterator[None]:
    """While the block runs, what is printed on stdout goes to stderr (when ``enabled``)."""
    if not enabled:
        yield
        return
    saved = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        try:
            yield
        finally:
            sys.stdout.flush()
    saved.flush()
