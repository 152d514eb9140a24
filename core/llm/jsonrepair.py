"""Pull a JSON value out of a model's reply and repair the faults models commonly make.

Handled: ``` fences, prose around the value, trailing commas, // and /* */ comments, single-quoted
strings, unquoted keys, Python literals (True/False/None), smart quotes and raw newlines in strings.
Truncated values are not completed: a cut-off reply is re-asked, not guessed.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON|javascript|js)?[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_SMART = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def strip_fences(text: str) -> str:
    """The body of the first ``` fenced block that holds a JSON value, else the text unchanged."""
    for m in _FENCE.finditer(text):
        body = m.group(1).strip()
        if body[:1] in "{[":
            return body
    return text


def extract_json(text: str, expect: str | None = None) -> str:
    """The outermost JSON object or array in ``text`` (to the end of text if it never closes).
    ``expect`` ("{" or "[") prefers a value of that kind when the text holds one."""
    start = text.find(expect) if expect else -1
    if start < 0:
        start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return text.strip()
    stack: list[str] = []
    in_str: str | None = None
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == in_str:
                in_str = None
            continue
        if ch in "\"'":
            in_str = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if stack and stack[-1] == ch:
                stack.pop()
            if not stack:
                return text[start : i + 1]
    return text[start:]


def _skip_comment(text: str, i: int) -> int:
    if text.startswith("//", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    end = text.find("*/", i + 2)
    return len(text) if end < 0 else end + 2


def _read_string(text: str, i: int, quote: str) -> tuple[str, int]:
    """Read a string starting at text[i] == quote; return it re-encoded as a JSON string."""
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("'" if nxt == "'" else ch + nxt)
            i += 2
            continue
        if ch == quote:
            return '"' + "".join(out) + '"', i + 1
        if ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(ch)
        i += 1
    return '"' + "".join(out), i  # unterminated: left for json to reject


def repair(text: str) -> str:
    """Rewrite near-JSON into JSON (see the module docstring for what is fixed)."""
    text = text.translate(_SMART)
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            s, i = _read_string(text, i, ch)
            out.append(s)
            continue
        if text.startswith("//", i) or text.startswith("/*", i):
            i = _skip_comment(text, i)
            continue
        if ch in "}]":
            while out and (out[-1].isspace() or out[-1] == ","):  # trailing comma
                if out.pop() == ",":
                    break
            out.append(ch)
            i += 1
            continue
        if ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            word = text[i:j]
            k = j
            while k < n and text[k] in " \t":
                k += 1
            if word in _PY_LITERALS:
                out.append(_PY_LITERALS[word])
            elif k < n and text[k] == ":" and word not in ("true", "false", "null"):
                out.append(json.dumps(word))  # unquoted key
            else:
                out.append(word)
            i = j
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_json(text: str, expect: str | None = None) -> Any:
    """Parse a model's reply as JSON, repairing it if needed; raise ValueError saying what is wrong.
    ``expect`` ("{" or "[") says which kind of value to look for in surrounding prose."""
    if text is None or not str(text).strip():
        raise ValueError("the reply is empty; expected a JSON value")
    text = str(text).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    candidate = extract_json(strip_fences(text), expect)
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        pass
    fixed = repair(candidate)
    try:
        return json.loads(fixed)
    except json.JSONDecodeError as exc:
        near = fixed[max(0, exc.pos - 30) : exc.pos + 30].replace("\n", " ")
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at character {exc.pos}, near {near!r})") from None
