"""Bad responses for preference data (DPO rejected, KTO undesirable): the spec's five strategies.

    weak_model     the ``weak`` role answers the input (plain completion, template generate_weak)
    truncated      the good response cut early, at a sentence boundary near 40-60 % of its length (no call)
    off_topic      a model steers slightly off-topic      } one RejectedBatch call per batch
    verbose        a model adds unnecessary verbosity     } (generator_fast role, template
    tone_mismatch  a model writes it in the wrong tone    }  generate_rejected)

Each example's strategy is chosen round-robin from a seeded offset, so any five consecutive examples use
all five. When a strategy cannot be realised (a response too short to truncate, a call that failed, a
reply that is empty or equal to the good response) the example falls back to ``truncated`` and then to
``verbose``; the strategy recorded is the one that produced the text, and the failure is reported (in
``failures``: strategy -> why, which the generation report and the dataset card show), never replaced
silently. An example none can serve is dropped.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Sequence

from core import prompts
from core.errors import TunesmithError
from core.generate.generator_prompts import item_blocks
from core.generate.generator_schemas import RejectedBatch
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMNotConfigured
from core.models.data import REJECTED_STRATEGIES

FATAL = (CircuitOpen, BudgetExceeded, LLMNotConfigured)
DEGRADE_ROLE = "generator_fast"
WEAK_ROLE = "weak"
MODEL_STRATEGIES = ("off_topic", "verbose", "tone_mismatch")
_SENTENCE_END = re.compile(r"(?<=[.!?:;])[\"')\]]*\s+|\n+")


def assign(offset: int, indices: Sequence[int]) -> list[str]:
    """The strategy of each example index: round-robin over the five from ``offset``."""
    n = len(REJECTED_STRATEGIES)
    return [REJECTED_STRATEGIES[(offset + i) % n] for i in indices]


def truncate(text: str, low: float = 0.4, high: float = 0.6) -> str | None:
    """``text`` cut at the sentence boundary closest to half its length, within [low, high] of it (else
    within 25-75 %, else at a word boundary near half); None when the text is too short to cut."""
    text = text.strip()
    n = len(text)
    if n < 20:
        return None
    ends = [m.start() for m in _SENTENCE_END.finditer(text)]
    for lo, hi in ((low, high), (0.25, 0.75)):
        inside = [e for e in ends if lo * n <= e <= hi * n]
        if inside:
            cut = min(inside, key=lambda e: abs(e - n / 2))
            out = text[:cut].rstrip()
            return out if out and out != text else None
    spaces = [i for i, ch in enumerate(text) if ch == " " and 0.3 * n <= i <= 0.7 * n]
    if not spaces:
        return None
    cut = min(spaces, key=lambda i: abs(i - n / 2))
    return text[:cut].rstrip(" ,;:-") or None


def _usable(bad: str | None, good: str) -> bool:
    return bool(bad and bad.strip() and bad.strip() != good.strip())


async def _weak(gateway: Any, task: str, user: str, temperature: float,
                failures: dict[str, str]) -> str | None:
    messages = prompts.render("generate_weak", task=task, input=user)
    try:
        reply = await gateway.complete(WEAK_ROLE, messages, stage="generate", temperature=temperature,
                                       max_tokens=1024)
    except FATAL:
        raise
    except TunesmithError as exc:
        failures["weak_model"] = f"the weak model's call failed: {str(exc)[:160]}"
        return None
    return reply.text.strip() or None


async def _degrade(gateway: Any, task: str, items: list[tuple[str, str, str]], use_cache: bool,
                   failures: dict[str, str] | None = None) -> dict[int, str]:
    """Worse responses by a model for (input, good response, strategy) items; {item position: text}."""
    failures = {} if failures is None else failures
    if not items:
        return {}
    messages = prompts.render(
        "generate_rejected", task=task, total=len(items),
        items=item_blocks([(i, g) for i, g, _ in items], [s for _, _, s in items]),
    )
    try:
        batch = await gateway.structured(DEGRADE_ROLE, messages, RejectedBatch, stage="generate", temperature=0.7,
                                         use_cache=use_cache)
    except FATAL:
        raise
    except TunesmithError as exc:
        for _, _, strategy in items:
            failures[strategy] = f"the {DEGRADE_ROLE} model's call failed: {str(exc)[:160]}"
        return {}
    out: dict[int, str] = {}
    for r in batch.responses:
        if 1 <= r.index <= len(items) and r.index - 1 not in out and r.response.strip():
            out[r.index - 1] = r.response.strip()
    return out


async def make_rejected(
    gateway: Any,
    task: str,
    pairs: Sequence[tuple[str, str]],
    strategies: Sequence[str],
    *,
    use_cache: bool = True,
    temperature: float = 0.9,
    failures: dict[str, str] | None = None,
) -> list[tuple[str, str] | None]:
    """For each (input, good response) and wanted strategy: (strategy used, bad response), or None.
    ``failures`` collects, per strategy that could not be realised for some example, why."""
    failures = {} if failures is None else failures
    out: list[tuple[str, str] | None] = [None] * len(pairs)
    wanted = list(strategies)
    for k, (_, good) in enumerate(pairs):
        if wanted[k] == "truncated":
            cut = truncate(good)
            if _usable(cut, good):
                out[k] = ("truncated", cut)  # type: ignore[arg-type]
            else:
                failures.setdefault("truncated", "a good response was too short to cut")
                wanted[k] = "verbose"
    weak_idx = [k for k, s in enumerate(wanted) if s == "weak_model"]
    model_idx = [k for k, s in enumerate(wanted) if s in MODEL_STRATEGIES]
    weak_task = asyncio.gather(*(_weak(gateway, task, pairs[k][0], temperature, failures) for k in weak_idx))
    degrade_task = _degrade(gateway, task, [(pairs[k][0], pairs[k][1], wanted[k]) for k in model_idx], use_cache,
                            failures)
    weak_texts, degraded = await asyncio.gather(weak_task, degrade_task)
    for k, text in zip(weak_idx, weak_texts):
        if _usable(text, pairs[k][1]):
            out[k] = ("weak_model", text)
        else:
            failures.setdefault("weak_model", "the weak model's answer was empty or the same as the good response")
    for pos, k in enumerate(model_idx):
        text = degraded.get(pos)
        if _usable(text, pairs[k][1]):
            out[k] = (wanted[k], text)  # type: ignore[assignment]
        else:
            failures.setdefault(wanted[k], "the model's worse response was missing, empty or the same as the good one")
    # fallbacks: truncated, then verbose (one more call for whatever is still missing)
    missing = []
    for k, (_, good) in enumerate(pairs):
        if out[k] is None:
            cut = truncate(good)
            if _usable(cut, good):
                out[k] = ("truncated", cut)  # type: ignore[assignment]
            elif wanted[k] != "verbose":
                missing.append(k)
    if missing:
        more = await _degrade(gateway, task, [(pairs[k][0], pairs[k][1], "verbose") for k in missing], use_cache,
                              failures)
        for pos, k in enumerate(missing):
            if _usable(more.get(pos), pairs[k][1]):
                out[k] = ("verbose", more[pos])
    return out
