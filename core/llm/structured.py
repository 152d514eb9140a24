"""Helpers for structured output: the response format, prompt instructions, parsing and re-ask text.

The JSON schema sent to a provider is a *grammar-friendly* version of the pydantic model's schema
(:func:`grammar_schema`): local servers such as llama.cpp turn the schema into a grammar that the
model's output must follow, and pydantic leaves every field with a default out of ``required``, so
the grammar allowed ``{}`` (observed: 59 of 78 eval-set replies were ``{}``). Here every property of
every object is required and no property outside the schema is allowed; the bounds and enums pydantic
emits (``minLength``, ``maxItems``, ``enum``, ...) are kept. A field whose default is None stays
nullable through its ``anyOf`` null branch, so requiring it costs the model one ``null``.
Validation of a reply is still pydantic's: a provider that does not follow the schema and leaves a
field out still gets its default.
"""

from __future__ import annotations

import copy
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


# Keywords whose value is one subschema, a list of subschemas, or a mapping of names to subschemas.
_ONE = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_NAMED = ("properties", "$defs", "definitions", "patternProperties")


def _require_all(node: Any) -> None:
    """In place: every object in ``node`` requires all its properties and allows no others."""
    if not isinstance(node, dict):
        return
    props = node.get("properties")
    if isinstance(props, dict):
        node["required"] = list(props)
        node.setdefault("additionalProperties", False)  # a model with extra="allow" keeps its True
    for key in _ONE:
        _require_all(node.get(key))
    for key in _MANY:
        for sub in node.get(key) or ():
            _require_all(sub)
    for key in _NAMED:
        named = node.get(key)
        if isinstance(named, dict):
            for sub in named.values():
                _require_all(sub)


def grammar_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent for ``schema``: pydantic's, with every property required (see the module
    docstring). A fresh copy each time; :func:`_schema_json` caches the text."""
    return json.loads(_schema_json(schema))


@lru_cache(maxsize=256)
def _schema_json(schema: type[BaseModel]) -> str:
    """A model's grammar-friendly JSON schema, built once (pydantic takes about a millisecond)."""
    tree = copy.deepcopy(schema.model_json_schema())
    _require_all(tree)
    return json.dumps(tree)


def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The OpenAI ``response_format`` for ``schema`` (a fresh dict each time: callers may change it)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": grammar_schema(schema), "strict": False},
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
        f"no code fences; give every field. Its JSON schema:\n{json.dumps(grammar_schema(schema), indent=1)}"
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
