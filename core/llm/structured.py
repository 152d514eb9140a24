"""Helpers for structured output: the response format, prompt instructions, parsing and re-ask text."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, RootModel, ValidationError

from core.llm.jsonrepair import parse_json
from core.llm.settings import ModelChoice

M = TypeVar("M", bound=BaseModel)

# Providers that speak the OpenAI wire format; with a custom api_base we assume json_schema works
# (vLLM, llama.cpp, LM Studio, Ollama's /v1 and most proxies accept it or ignore it harmlessly).
OPENAI_COMPATIBLE = ("openai", "hosted_vllm", "lm_studio", "llamafile", "openai_like")


@lru_cache(maxsize=256)
def _schema_json(schema: type[BaseModel]) -> str:
    """A model's JSON schema, built once (pydantic takes about a millisecond to build it)."""
    return json.dumps(schema.model_json_schema())


def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI ``response_format`` for ``schema`` (a fresh dict each time: callers may change it)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": json.loads(_schema_json(schema)), "strict": False},
    }


def supports_schema(choice: ModelChoice) -> bool:
    """Whether to send a JSON-schema response format for this model (else: instructions in the prompt)."""
    if choice.api_base and choice.provider in OPENAI_COMPATIBLE:
        return True
    import litellm  # already imported by the gateway before this is called

    try:
        return bool(litellm.supports_response_schema(model=choice.model))
    except Exception:  # unknown model: litellm raises instead of answering
        return False


@lru_cache(maxsize=256)
def schema_instructions(schema: type[BaseModel]) -> str:
    return (
        f"Reply with one JSON object that is a valid {schema.__name__} and nothing else: no prose, "
        f"no code fences. Its JSON schema:\n{json.dumps(schema.model_json_schema(), indent=1)}"
    )


def with_instructions(messages: list[dict[str, Any]], schema: type[BaseModel]) -> list[dict[str, Any]]:
    """A copy of ``messages`` with the schema instructions added to the system message."""
    text = schema_instructions(schema)
    out = [dict(m) for m in messages]
    if out and out[0].get("role") == "system" and isinstance(out[0].get("content"), str):
        out[0]["content"] = f"{out[0]['content']}\n\n{text}"
    else:
        out.insert(0, {"role": "system", "content": text})
    return out


def explain_validation(exc: ValidationError, limit: int = 6) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def parse_reply(text: str, schema: type[M]) -> M:
    """Parse and validate a reply; raise ValueError with a message fit to show the model."""
    data = parse_json(text, expect=None if issubclass(schema, RootModel) else "{")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"the JSON does not match the {schema.__name__} schema: {explain_validation(exc)}") from None


def reask_invalid(schema: type[BaseModel], error: str) -> str:
    return (
        f"Your reply was not a valid {schema.__name__}: {error}. "
        f"Reply again with only the corrected JSON object, matching the schema exactly."
    )


def reask_truncated(schema: type[BaseModel]) -> str:
    return (
        f"Your reply was cut off before the {schema.__name__} JSON was complete (it hit the token limit). "
        f"Reply again with the complete JSON object; keep string values concise."
    )
