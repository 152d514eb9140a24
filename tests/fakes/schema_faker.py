"""Answers any JSON-schema request with a plausible instance of that schema.

An unscripted model: it knows nothing about the task, but its output is valid JSON of the requested
shape with varied text. Tests use it to show that every stage copes with answers nobody scripted.

    server.on(wants_schema, fake_instance)
"""

from __future__ import annotations

import itertools
import json
import random
import re
from typing import Any

WORDS = ("customer account invoice plan request answer policy detail option step reason example "
         "context issue result change review update question record limit case note summary").split()

_counter = itertools.count()


def wants_schema(request: dict[str, Any]) -> bool:
    rf = request.get("response_format") or {}
    return isinstance(rf, dict) and rf.get("type") == "json_schema"


def _word(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(WORDS)
    return "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(1, 4)))


def _sentence(rng: random.Random, n: int = 8) -> str:
    words = [_word(rng) for _ in range(n)]
    return (" ".join(words)).capitalize() + f" {next(_counter)}."


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        schema = root.get("$defs", root.get("definitions", {}))[name]
    return schema


def instance(schema: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, root).get("type") != "null"] or schema[key]
            return instance(options[0], root, rng, depth)
    if "allOf" in schema:
        return instance(schema["allOf"][0], root, rng, depth)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "string")
    if typ == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: instance(v, root, rng, depth + 1) for k, v in props.items()}
    if typ == "array":
        lo = schema.get("minItems", 1)
        hi = schema.get("maxItems", max(lo, 3))
        n = max(lo, min(hi, 3))
        return [instance(schema.get("items", {"type": "string"}), root, rng, depth + 1) for _ in range(n)]
    if typ == "integer":
        lo = int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1 if "exclusiveMinimum" in schema else 1))
        hi = int(schema.get("maximum", lo + 9))
        return rng.randint(lo, max(lo, hi))
    if typ == "number":
        lo = float(schema.get("minimum", 0.0))
        hi = float(schema.get("maximum", 1.0))
        return round(rng.uniform(lo, hi), 2)
    if typ == "boolean":
        return rng.random() < 0.5
    text = _sentence(rng, 6 + rng.randint(0, 8))
    lo, hi = schema.get("minLength", 0), schema.get("maxLength")
    while len(text) < lo:
        text += " " + _sentence(rng)
    return text[:hi] if hi else text


def fake_instance(request: dict[str, Any]) -> str:
    rf = request["response_format"]["json_schema"]
    schema = rf.get("schema", {})
    seed = int(re.sub(r"\D", "", json.dumps(request.get("messages", ""))[-12:]) or 0) + next(_counter)
    return json.dumps(instance(schema, schema, random.Random(seed)))
