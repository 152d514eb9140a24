"""Length in tokens, counted with the target tokenizer (else cl100k_base, else an estimate).

``min_length`` applies to the response the model learns from (the SFT answer, the DPO chosen side, the
KTO completion; for GRPO, which has no response, the prompt). ``max_length`` applies to what the
trainer sees in one sequence: the prompt plus its longest response. Score: the measured token count.
"""

from __future__ import annotations

import asyncio
from typing import Sequence

from core.generate.filters.base import FilterContext, FilterResult, fail, ok
from core.generate.records import bad_response, good_response, prompt_of, responses, user_text
from core.generate.tokenizer import count_tokens_many
from core.models.data import TrainingExample

NAME = "length"
REASONS = ("too_short", "too_long")
_THREAD_OVER = 64  # batches larger than this are counted off the event loop


def _texts(example: TrainingExample) -> tuple[str, str, str, list[str]]:
    rec = example.record
    prompt = "\n".join(str(m.get("content", "")) for m in prompt_of(rec))
    if example.format == "grpo":
        return "prompt", user_text(rec) or prompt, prompt, []
    good = good_response(rec)
    label, main = ("response", good) if good is not None else ("completion", bad_response(rec) or "")
    return label, main, prompt, list(responses(rec).values())


class LengthFilter:
    name = NAME

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        parts = [_texts(e) for e in examples]
        flat: list[str] = []
        for _, main, prompt, resps in parts:
            flat.extend([main, prompt, *resps])
        if len(examples) > _THREAD_OVER:
            counts = await asyncio.to_thread(count_tokens_many, flat, ctx.tokenizer)
        else:
            counts = count_tokens_many(flat, ctx.tokenizer)
        lo, hi = ctx.thresholds.min_length, ctx.thresholds.max_length
        if lo == "auto":  # a context built without build_context (which resolves it: filters/thresholds.py)
            from core.generate.filters.thresholds import DEFAULT_MIN_LENGTH as lo
        out: list[FilterResult] = []
        i = 0
        for label, _, _, resps in parts:
            main_n, prompt_n = counts[i], counts[i + 1]
            resp_n = counts[i + 2:i + 2 + len(resps)]
            i += 2 + len(resps)
            total = prompt_n + (max(resp_n) if resp_n else 0)
            if main_n < lo:
                out.append(fail(NAME, "too_short", float(main_n), f"{label}: {main_n} tokens, minimum {lo}"))
            elif total > hi:
                out.append(fail(NAME, "too_long", float(total),
                                f"prompt + longest response: {total} tokens, maximum {hi}"))
            else:
                out.append(ok(NAME, float(main_n), f"{label}: {main_n} tokens; sequence {total}"))
        return out
