"""Asking the judge about many examples at once: one structured call per batch of ~10, batches run
concurrently (the gateway limits concurrency), each verdict matched back by its index.

A batch whose call fails (invalid output after the re-asks, or a provider error after the retries)
yields no verdicts, with the error, and the filter falls back to its offline heuristics. A spent budget
or an open circuit is not swallowed: those pause the whole run.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence, TypeVar

from pydantic import BaseModel

from core import prompts
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError

ROLE = "judge"
STAGE = "generate"
BATCH_SIZE = 10
PRIORITY = 4  # ahead of generation and its self-critique (see core.generate.generator.PRIORITY_CHECK)
MAX_TEXT = 2400  # characters of one text shown to the judge

B = TypeVar("B", bound=BaseModel)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f" […{len(text) - limit} more characters]"


def block(index: int, fields: list[tuple[str, str]]) -> str:
    """One example as the judge sees it: a numbered block of labelled fields."""
    lines = [f"### Example {index}"]
    for label, value in fields:
        lines.append(f"{label}:\n{clip(value)}" if "\n" in (value or "") or len(value or "") > 80
                     else f"{label}: {value}")
    return "\n".join(lines)


async def ask_batches(
    gateway: Any,
    template: str,
    schema: type[B],
    items: Sequence[Any],
    render: Callable[[int, Any], str],
    verdicts_of: Callable[[B], Sequence[Any]],
    *,
    batch_size: int = BATCH_SIZE,
    **values: object,
) -> tuple[list[Any | None], list[str]]:
    """For each item, its verdict (an element of ``verdicts_of(reply)`` whose ``index`` is the item's
    number within its batch, counted from 1) or None; plus the errors of failed batches."""
    out: list[Any | None] = [None] * len(items)
    errors: list[str] = []

    async def one(start: int) -> None:
        chunk = items[start:start + batch_size]
        text = "\n\n".join(render(i + 1, item) for i, item in enumerate(chunk))
        messages = prompts.render(template, examples=text, count=len(chunk), **values)
        try:
            reply = await gateway.structured(ROLE, messages, schema, stage=STAGE, temperature=0.0, priority=PRIORITY)
        except (BudgetExceeded, CircuitOpen):
            raise
        except LLMError as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            return
        for verdict in verdicts_of(reply):
            idx = getattr(verdict, "index", None)
            if isinstance(idx, int) and 1 <= idx <= len(chunk) and out[start + idx - 1] is None:
                out[start + idx - 1] = verdict

    await asyncio.gather(*(one(s) for s in range(0, len(items), batch_size)))
    return out, errors
