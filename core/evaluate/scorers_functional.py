"""Functional correctness: code run against tests, structured output parsed and compared, format checks.

What an example calls for is read from its reference and input (:func:`functional_spec`):

- ``code``: python tests are found (top-level ``assert`` statements or ``test_*`` functions in a ```python
  block of the input or the reference). The output's python code (its fenced blocks, or the whole output
  when it parses as python) runs followed by the tests, in the generate filters' sandbox
  (:func:`core.generate.filters.code_exec.run_python`: a subprocess with a timeout and no network).
- ``json``: the reference is a JSON object or array. The output's JSON (fences and prose tolerated) must
  hold every key of the reference with an equal value (strings normalised, numbers with a tolerance);
  the score is the share of the reference's leaves matched. Extra keys are allowed and reported.
- ``regex``: the reference is a format rule ``regex: <pattern>`` (or ``/<pattern>/``); the stripped output
  must match it in full.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from core.generate.filters.code_exec import run_python
from core.generate.filters.text import code_blocks, normalize
from core.llm.jsonrepair import parse_json

CODE_TIMEOUT_S = 10.0
_REGEX_REF = re.compile(r"^\s*(?:regex|pattern|format)\s*:\s*(.+?)\s*$", re.S | re.I)
_SLASHED = re.compile(r"^\s*/(.+)/\s*$", re.S)
_FENCED = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n\s*```\s*$", re.S)


@dataclass
class FunctionalSpec:
    kind: Literal["code", "json", "regex"]
    tests: str = ""
    expected: Any = None
    pattern: str = ""


@dataclass
class FunctionalResult:
    score: float
    passed: bool
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


def _tests_in(source: str) -> list[str]:
    """Top-level asserts, test_* functions (called afterwards) and the imports they may need."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    imports, tests, calls = [], [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(ast.unparse(node))
        elif isinstance(node, ast.Assert):
            tests.append(ast.unparse(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            tests.append(ast.unparse(node))
            if not isinstance(node, ast.AsyncFunctionDef) and not node.args.args:
                calls.append(f"{node.name}()")
    return imports + tests + calls if tests else []


def find_tests(*texts: str) -> str:
    lines: list[str] = []
    for text in texts:
        for block in code_blocks(text or ""):
            for line in _tests_in(block):
                if line not in lines:
                    lines.append(line)
    return "\n".join(lines)


def _json_value(text: str) -> Any:
    body = (text or "").strip()
    m = _FENCED.match(body)
    if m:
        body = m.group(1).strip()
    if body[:1] not in "{[":
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def regex_of(reference: str) -> str | None:
    m = _REGEX_REF.match(reference or "") or _SLASHED.match(reference or "")
    if not m:
        return None
    try:
        re.compile(m.group(1))
    except re.error:
        return None
    return m.group(1)


def functional_spec(input_text: str, reference: str) -> FunctionalSpec | None:
    """What functional check the example allows, if any."""
    pattern = regex_of(reference)
    if pattern:
        return FunctionalSpec("regex", pattern=pattern)
    expected = _json_value(reference)
    if expected is not None:
        return FunctionalSpec("json", expected=expected)
    tests = find_tests(input_text, reference)
    if tests:
        return FunctionalSpec("code", tests=tests)
    return None


# ---------------------------------------------------------------- checks


def check_regex(output: str, pattern: str) -> FunctionalResult:
    ok = re.fullmatch(pattern, (output or "").strip(), re.S) is not None
    return FunctionalResult(1.0 if ok else 0.0, ok, f"format {'matches' if ok else 'does not match'} /{pattern}/")


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out.extend(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out or [(path, {})]
    if isinstance(value, list):
        out = []
        for i, v in enumerate(value):
            out.extend(_leaves(v, f"{path}[{i}]"))
        return out or [(path, [])]
    return [(path, value)]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):
        return normalize(a) == normalize(b)
    return a == b


def check_json(output: str, expected: Any) -> FunctionalResult:
    try:
        got = parse_json(output or "", expect="{" if isinstance(expected, dict) else "[")
    except ValueError as exc:
        return FunctionalResult(0.0, False, f"output is not valid JSON ({str(exc)[:120]})")
    if type(got) is not type(expected):
        return FunctionalResult(0.0, False, f"expected a JSON {type(expected).__name__}, got {type(got).__name__}")
    want = dict(_leaves(expected))
    have = dict(_leaves(got))
    missing = [k for k in want if k not in have]
    wrong = [k for k in want if k in have and not _equal(have[k], want[k])]
    extra = [k for k in have if k not in want]
    matched = len(want) - len(missing) - len(wrong)
    score = matched / len(want) if want else 1.0
    passed = not missing and not wrong
    parts = [f"JSON: {matched}/{len(want)} fields match"]
    if missing:
        parts.append(f"missing {', '.join(missing[:5])}")
    if wrong:
        parts.append(f"wrong {', '.join(wrong[:5])}")
    if extra:
        parts.append(f"extra {', '.join(extra[:5])}")
    return FunctionalResult(score, passed, "; ".join(parts), {"missing": missing, "wrong": wrong, "extra": extra})


def candidate_code(output: str) -> str:
    blocks = code_blocks(output or "")
    if blocks:
        return "\n\n".join(blocks)
    text = (output or "").strip()
    m = _FENCED.match(text)
    if m:
        text = m.group(1)
    try:
        ast.parse(text)
    except SyntaxError:
        return ""
    return text


async def check_code(output: str, tests: str, timeout_s: float = CODE_TIMEOUT_S) -> FunctionalResult:
    code = candidate_code(output)
    if not code.strip():
        return FunctionalResult(0.0, False, "code: no python code in the output", {"executed": False})
    program = f"{code}\n\n# ---- tests ----\n{tests}\n"
    result = await run_python(program, timeout_s)
    if result.ok:
        return FunctionalResult(1.0, True, "code: tests pass", {"executed": True})
    return FunctionalResult(0.0, False, f"code: {result.reason}: {result.detail}",
                            {"executed": result.reason != "code_timeout", "reason": result.reason})
