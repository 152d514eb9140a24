"""TRL records: build them for each training method, and read their texts back.

Every record is conversational (lists of {"role", "content"} messages), which every TRL trainer
accepts and which lets the target tokenizer's chat template be applied to check it.

    method  format                 columns
    sft     sft_conversational     messages
    sft     sft_prompt_completion  prompt, completion
    dpo     dpo                    prompt, chosen, rejected
    grpo    grpo                   prompt (+ extra columns the reward functions read)
    kto     kto                    prompt, completion, label
"""

from __future__ import annotations

from typing import Any

Messages = list[dict[str, str]]

# Extra GRPO columns the project's reward functions read (passed by TRL as keyword arguments).
GRPO_EXTRA = ("reference", "should_refuse", "category", "difficulty")


def format_for(method: str, sft_format: str = "conversational") -> str:
    if method == "sft":
        return "sft_prompt_completion" if sft_format == "prompt_completion" else "sft_conversational"
    if method in ("dpo", "grpo", "kto"):
        return method
    raise ValueError(f"unknown training method {method!r}")


def prompt_messages(user: str, system: str | None = None, history: Messages | None = None) -> Messages:
    msgs: Messages = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.extend(history or [])
    msgs.append({"role": "user", "content": user})
    return msgs


def assistant(text: str) -> Messages:
    return [{"role": "assistant", "content": text}]


def build(
    fmt: str,
    prompt: Messages,
    response: str | None = None,
    *,
    rejected: str | None = None,
    label: bool | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The TRL record for one example of format ``fmt``."""
    if fmt == "sft_conversational":
        return {"messages": [*prompt, *assistant(_need(response, "response"))]}
    if fmt == "sft_prompt_completion":
        return {"prompt": prompt, "completion": assistant(_need(response, "response"))}
    if fmt == "dpo":
        return {"prompt": prompt, "chosen": assistant(_need(response, "chosen")),
                "rejected": assistant(_need(rejected, "rejected"))}
    if fmt == "grpo":
        return {"prompt": prompt, **{k: v for k, v in (extra or {}).items() if k in GRPO_EXTRA}}
    if fmt == "kto":
        if label is None:
            raise ValueError("kto records need a label")
        return {"prompt": prompt, "completion": assistant(_need(response, "completion")), "label": bool(label)}
    raise ValueError(f"unknown format {fmt!r}")


def _need(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise ValueError(f"a {what} text is required")
    return value


# ---------------------------------------------------------------- reading texts back


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return ""


def prompt_of(record: dict[str, Any]) -> Messages:
    """The messages before the response (for SFT conversational: all but the final assistant turn)."""
    if "messages" in record:
        msgs = list(record["messages"])
        return msgs[:-1] if msgs and msgs[-1].get("role") == "assistant" else msgs
    p = record.get("prompt")
    return p if isinstance(p, list) else [{"role": "user", "content": str(p or "")}]


def user_text(record: dict[str, Any]) -> str:
    """The last user turn: what the example asks."""
    for m in reversed(prompt_of(record)):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


def responses(record: dict[str, Any]) -> dict[str, str]:
    """Every response text in the record, by column: assistant, completion, chosen, rejected."""
    if "messages" in record:
        msgs = record["messages"]
        return {"assistant": _text(msgs[-1:])} if msgs and msgs[-1].get("role") == "assistant" else {}
    return {k: _text(record[k]) for k in ("completion", "chosen", "rejected") if k in record}


def good_response(record: dict[str, Any]) -> str | None:
    """The response that should be good (SFT answer, DPO chosen, KTO desirable completion); None if none."""
    r = responses(record)
    if "assistant" in r:
        return r["assistant"]
    if "chosen" in r:
        return r["chosen"]
    if "completion" in r and record.get("label", True):
        return r["completion"]
    return None


def bad_response(record: dict[str, Any]) -> str | None:
    """The deliberately worse response (DPO rejected, KTO undesirable completion); None if none."""
    r = responses(record)
    if "rejected" in r:
        return r["rejected"]
    if "completion" in r and record.get("label") is False:
        return r["completion"]
    return None


def all_text(record: dict[str, Any]) -> str:
    """Everything in the record as one text (for embeddings and leakage checks)."""
    parts = [_text(prompt_of(record))]
    good = good_response(record)
    if good:
        parts.append(good)
    return "\n".join(p for p in parts if p)
