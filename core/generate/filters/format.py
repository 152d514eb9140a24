"""Format compliance: the record is exactly what the target TRL trainer reads, and the target tokenizer's
chat template renders it.

Structure (always): the key set of the example's format, conversational lists of {"role", "content"}
messages with non-empty string contents, sensible roles (a system turn only first, then user and
assistant alternating, the prompt ending with the user, responses made of assistant turns, an SFT
conversation ending with the assistant), a boolean KTO label, DPO sides that differ.

Template (when the run has a tokenizer with a chat template): the record is rendered the way TRL renders
it (``trl.data_utils.apply_chat_template``; ``tokenizer.apply_chat_template(messages, tokenize=False)`` for
SFT conversations) and each response must come out in its rendered part. Without a tokenizer the
structure is still checked and ``detail`` says the template check was skipped.
"""

from __future__ import annotations

from typing import Any

from core.generate.filters.base import FilterContext, FilterResult, SimpleFilter, fail, ok
from core.generate.records import GRPO_EXTRA, format_for
from core.models.data import TrainingExample

NAME = "format"
KEYS: dict[str, frozenset[str]] = {
    "sft_conversational": frozenset({"messages"}),
    "sft_prompt_completion": frozenset({"prompt", "completion"}),
    "dpo": frozenset({"prompt", "chosen", "rejected"}),
    "grpo": frozenset({"prompt"}),
    "kto": frozenset({"prompt", "completion", "label"}),
}
OPTIONAL_KEYS: dict[str, frozenset[str]] = {"grpo": frozenset(GRPO_EXTRA)}
METHOD_OF = {"sft_conversational": "sft", "sft_prompt_completion": "sft", "dpo": "dpo", "grpo": "grpo", "kto": "kto"}
ROLES = ("system", "user", "assistant", "tool")
REASONS = ("wrong_format", "wrong_keys", "not_conversational", "bad_message", "empty_content", "bad_roles",
           "bad_label", "identical_pair", "template_error", "template_mismatch")


class _Bad(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _messages(value: Any, column: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        raise _Bad("not_conversational", f"{column} is a plain string; every record here is conversational")
    if not isinstance(value, list) or not value:
        raise _Bad("bad_message", f"{column} must be a non-empty list of messages")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise _Bad("bad_message", f"{column}[{i}] must be a dict with 'role' and 'content'")
        if m["role"] not in ROLES:
            raise _Bad("bad_roles", f"{column}[{i}] has unknown role {m['role']!r}")
        if not isinstance(m["content"], str):
            raise _Bad("bad_message", f"{column}[{i}].content must be a string")
        if not m["content"].strip():
            raise _Bad("empty_content", f"{column}[{i}] ({m['role']}) is empty")
    return value


def _check_dialogue(msgs: list[dict[str, Any]], column: str, *, last: str) -> None:
    """System only first; then user first, user/assistant alternating (tool turns after an assistant
    turn); the last turn's role is ``last``."""
    roles = [m["role"] for m in msgs]
    if "system" in roles[1:]:
        raise _Bad("bad_roles", f"{column}: a system turn may only come first")
    turns = roles[1:] if roles[0] == "system" else roles
    if not turns:
        raise _Bad("bad_roles", f"{column} has only a system turn")
    if turns[0] != "user":
        raise _Bad("bad_roles", f"{column}: the first turn after the system prompt must be the user's")
    prev = None
    for i, r in enumerate(turns):
        if r == "tool":
            if prev not in ("assistant", "tool"):
                raise _Bad("bad_roles", f"{column}: a tool turn must follow an assistant turn")
        elif r == prev:
            raise _Bad("bad_roles", f"{column}: two {r} turns in a row")
        elif prev == "tool" and r != "assistant":
            raise _Bad("bad_roles", f"{column}: a tool result must be answered by the assistant")
        prev = r
    if roles[-1] != last:
        raise _Bad("bad_roles", f"{column} must end with a {last} turn (ends with {roles[-1]})")


def _check_response(msgs: list[dict[str, Any]], column: str) -> None:
    roles = [m["role"] for m in msgs]
    if any(r not in ("assistant", "tool") for r in roles) or roles[-1] != "assistant":
        raise _Bad("bad_roles", f"{column} must be assistant turns only (got {', '.join(roles)})")


def check_structure(example: TrainingExample, expected_format: str | None = None, method: str | None = None) -> None:
    """Raise :class:`_Bad` on the first structural problem."""
    fmt, rec = example.format, example.record
    if expected_format and fmt != expected_format:
        raise _Bad("wrong_format", f"format {fmt} but this run trains with {expected_format}")
    if method and METHOD_OF.get(fmt) != method:
        raise _Bad("wrong_format", f"format {fmt} is not a {method} format")
    keys = set(rec)
    required, optional = KEYS[fmt], OPTIONAL_KEYS.get(fmt, frozenset())
    if not required <= keys or not keys <= required | optional:
        missing, extra = sorted(required - keys), sorted(keys - required - optional)
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"] if extra else [])
        raise _Bad("wrong_keys", f"{fmt} needs exactly {', '.join(sorted(required))}: {'; '.join(parts)}")
    if fmt == "sft_conversational":
        msgs = _messages(rec["messages"], "messages")
        _check_dialogue(msgs, "messages", last="assistant")
        return
    prompt = _messages(rec["prompt"], "prompt")
    _check_dialogue(prompt, "prompt", last="user")
    for col in ("completion", "chosen", "rejected"):
        if col in rec:
            _check_response(_messages(rec[col], col), col)
    if fmt == "kto" and not isinstance(rec["label"], bool):
        raise _Bad("bad_label", "label must be true or false")
    if fmt == "dpo" and _contents(rec["chosen"]).strip() == _contents(rec["rejected"]).strip():
        raise _Bad("identical_pair", "chosen and rejected are the same text")


def _contents(msgs: list[dict[str, Any]]) -> str:
    return "\n".join(m["content"] for m in msgs)


def has_chat_template(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def check_template(example: TrainingExample, tokenizer: Any) -> None:
    """Render the record as TRL will and check each response comes out in its part."""
    rec = example.record
    try:
        if example.format == "sft_conversational":
            text = tokenizer.apply_chat_template(rec["messages"], tokenize=False)
            rendered = {"messages": text}
        else:
            from trl.data_utils import apply_chat_template

            cols = {k: rec[k] for k in KEYS[example.format]}
            rendered = apply_chat_template(cols, tokenizer)
    except Exception as exc:  # jinja errors, raise_exception() in templates, TRL key errors
        raise _Bad("template_error", f"{type(exc).__name__}: {str(exc)[:240]}") from None
    if example.format == "sft_conversational":
        last = rec["messages"][-1]["content"].strip()
        if not rendered["messages"] or last not in rendered["messages"]:
            raise _Bad("template_mismatch", "the chat template dropped or altered the final assistant turn")
        return
    if not rendered.get("prompt"):
        raise _Bad("template_mismatch", "the chat template rendered an empty prompt")
    for col in ("completion", "chosen", "rejected"):
        if col in rec:
            want = rec[col][-1]["content"].strip()
            if want not in (rendered.get(col) or ""):
                raise _Bad("template_mismatch", f"the rendered {col} does not contain the {col} text")


class FormatFilter(SimpleFilter):
    name = NAME

    def check(self, example: TrainingExample, ctx: FilterContext) -> FilterResult:
        expected = ctx.extras.get("format")
        method = None if expected else (ctx.method if ctx.method in ("sft", "dpo", "grpo", "kto") else None)
        try:
            check_structure(example, expected, method)
            tok = ctx.tokenizer
            if not has_chat_template(tok):
                why = "no tokenizer" if tok is None else "the tokenizer has no chat template"
                return ok(NAME, 1.0, f"structure ok; chat-template check skipped ({why})")
            check_template(example, tok)
        except _Bad as bad:
            return fail(NAME, bad.reason, 0.0, bad.detail)
        return ok(NAME, 1.0, "structure ok; chat template applied")


def expected_format(method: str, sft_format: str = "conversational") -> str:
    return format_for(method, sft_format)
