"""GRPO rewards built from the evaluation's own rules, so training pushes toward what the evaluation counts.

The runner (core/train/runner.py) imports this module when it trains GRPO: from the installed tunesmith
locally, from the copy that core/train/bundle.py embeds in the script shipped to Hugging Face Jobs. Every
rule here is imported from the module that owns it, never re-typed:

    format       (kept as it was) well-formed answer: not empty, no chat-template tokens or role prefixes
                 leaking, ends like a finished sentence, not a wall of repeated words
    refusal      the project's refusal rule (core.refusal, the filters' and the evaluation's rule):
                 should_refuse rows: 1 when the answer declines up front, 0.5 when it declines only later
                 (the evaluation counts it, but flags it as ambiguous), 0 otherwise (empty included);
                 in-scope rows: 0 when the answer is empty or declines up front (the evaluation fails it),
                 1 otherwise; None where the row has no should_refuse
    correctness  in-scope rows with a reference, scored the way the evaluation will score that row
                 (:func:`row_method` mirrors core.evaluate.scorers.choose_method; a test pins the two):
                 functional  regex / JSON / code-test references (core.evaluate.scorers_functional;
                             the JSON score is the share of the reference's fields matched)
                 exact_match labels, multiple-choice letters, short closed answers
                             (core.evaluate.scorers_match); for a single-label task the answer must
                             also name exactly one of the labels (a hedge naming two earns 0)
                 llm_judge   the validated judge, one OpenAI-compatible chat call per completion
                             (:class:`JudgeClient`; the key is read from the environment at run time)
                 overlap     no validated judge: word-level F1 with the reference (the evaluation would
                             leave such rows to a human)
                 an empty answer, or one that declines an in-scope request up front, earns 0; refusal
                 rows (should_refuse) are None here: the refusal reward scores them
    reference_overlap   word-level F1 against ``reference`` (the old default; still accepted by name)

Each reward takes TRL's reward-function arguments (``prompts``, ``completions`` and every extra dataset
column as a keyword: ``reference``, ``should_refuse``, ...) and returns one float in [0, 1] per
completion, or None where the row carries no signal for it (TRL ignores those).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any, Callable, Sequence

from core.evaluate.scorers_functional import check_code, check_json, check_regex, functional_spec
from core.evaluate.scorers_match import exact_match, match_kind
from core.generate.filters.text import normalize
from core.llm.jsonrepair import parse_json
from core.refusal import DEFAULT_RULE, RefusalRule

EVAL_METHODS = ("functional", "exact_match", "llm_judge", "human")  # core.evaluate.scorers.METHODS
DEFAULT_REWARDS = ("format", "refusal", "correctness")
DEFAULT_SETTINGS: dict[str, Any] = {
    "task_type": "instruction_following",
    "eval_method": "auto",
    "labels": [],
    "single_label": False,
    "refusal_message": DEFAULT_RULE.message,
    "judge": None,
    "code_timeout_s": 5.0,
}
JUDGE_WORKERS = 8
JUDGE_TIMEOUT_S = 60.0

_ROLE_LEAK = re.compile(r"<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>|^\s*(?:user|assistant|system)\s*:",
                        re.IGNORECASE | re.MULTILINE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


# ---------------------------------------------------------------- texts


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the content of its (assistant) messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "\n".join(completion_text(m) for m in completion)
    return "" if completion is None else str(completion)


def prompt_text(prompt: Any) -> str:
    """The user's request in a prompt: its last user message (conversational), else the text itself."""
    if isinstance(prompt, (list, tuple)):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return completion_text(users[-1]) if users else completion_text(prompt)
    return completion_text(prompt)


def _flag(value: Any) -> bool | None:
    """A should_refuse cell as a bool (None / NaN / "" are missing)."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    return bool(value)


def _column(values: Sequence[Any] | None, n: int) -> list[Any]:
    return list(values) if values is not None else [None] * n


# ---------------------------------------------------------------- format (as it was)


def format_reward(completions: list[Any], **_: Any) -> list[float]:
    """Well-formed answers: not empty, no chat-template tokens or role prefixes leaking into the text,
    ends like a finished sentence, not a wall of repeated words."""
    out = []
    for c in completions:
        text = completion_text(c).strip()
        if not text:
            out.append(0.0)
            continue
        score = 0.4
        if not _ROLE_LEAK.search(text):
            score += 0.3
        if text[-1] in ".!?)\"'`*:" or text.endswith("```"):
            score += 0.15
        words = _WORD.findall(text.lower())
        if len(words) < 4 or len(set(words)) / len(words) >= 0.3:
            score += 0.15
        out.append(round(score, 4))
    return out


# ---------------------------------------------------------------- refusal


class RefusalReward:
    """The refusal reward under one project's refusal rule (see the module docstring)."""

    __name__ = "refusal"

    def __init__(self, rule: RefusalRule = DEFAULT_RULE):
        self.rule = rule

    def __call__(self, completions: list[Any], should_refuse: Sequence[Any] | None = None,
                 **_: Any) -> list[float | None]:
        out: list[float | None] = []
        for c, want in zip(completions, _column(should_refuse, len(completions))):
            want = _flag(want)
            if want is None:
                out.append(None)
                continue
            check = self.rule.check(completion_text(c))
            if want:
                out.append(1.0 if check.where == "upfront" else 0.5 if check.refused else 0.0)
            else:
                out.append(0.0 if check.where in ("empty", "upfront") else 1.0)
        return out


refusal_reward = RefusalReward()


# ---------------------------------------------------------------- overlap


def overlap_f1(a: str, b: str) -> float:
    """Word-level F1 between two texts (0 when either has no words)."""
    wa, wb = _WORD.findall(a.lower()), _WORD.findall(b.lower())
    if not wa or not wb:
        return 0.0
    counts: dict[str, int] = {}
    for w in wb:
        counts[w] = counts.get(w, 0) + 1
    same = 0
    for w in wa:
        if counts.get(w, 0) > 0:
            counts[w] -= 1
            same += 1
    if not same:
        return 0.0
    precision, recall = same / len(wa), same / len(wb)
    return 2 * precision * recall / (precision + recall)


def reference_overlap_reward(completions: list[Any], reference: Sequence[Any] | None = None,
                             **_: Any) -> list[float | None]:
    """Word-level F1 between the answer and the row's reference answer (None where there is none)."""
    refs = _column(reference, len(completions))
    return [None if not ref else round(overlap_f1(completion_text(c), completion_text(ref)), 4)
            for c, ref in zip(completions, refs)]


# ---------------------------------------------------------------- the evaluation's method per row


def row_method(input_text: str, reference: str, task_type: str, eval_method: str = "auto",
               judge_usable: bool = False) -> tuple[str, str | None]:
    """(method, flavour) the evaluation would use for an in-scope row: core.evaluate.scorers.choose_method's
    hierarchy (functional -> exact_match -> llm_judge -> human, starting at a configured ``eval_method``),
    with "overlap" standing in for "human". The flavour: the functional kind (regex, json, code) or the
    exact-match kind (label, choice, closed)."""
    spec = functional_spec(input_text, reference)
    kind = match_kind(reference, input_text, task_type)
    feasible = {"functional": spec is not None, "exact_match": kind is not None, "llm_judge": judge_usable}
    start = EVAL_METHODS.index(eval_method) if eval_method in EVAL_METHODS else 0
    for method in EVAL_METHODS[start:]:
        if feasible.get(method):
            return method, (spec.kind if method == "functional" and spec else kind if method == "exact_match"
                            else None)
    return "overlap", None


def labels_named(output: str, labels: Sequence[str]) -> list[str]:
    """The known labels an output names (normalised; a label inside a longer one that is named counts
    once, as the longer one)."""
    text = normalize(output)
    known = sorted({normalize(label) for label in labels if normalize(label)}, key=len, reverse=True)
    found: list[str] = []
    for label in known:
        rx = re.compile(rf"(?<!\w){re.escape(label)}(?!\w)")
        if rx.search(text):
            found.append(label)
            text = rx.sub(" | ", text)
    return found


# ---------------------------------------------------------------- the judge


def weighted_score(weights: Sequence[Sequence[Any]], scores: dict[str, int]) -> float | None:
    """The rubric's weighted mean of 1..5 scores mapped to 0..1: core.evaluate.judge.Rubric.weighted over
    (name, weight) pairs (a test pins the two)."""
    known = {str(n).lower(): float(w) for n, w in weights}
    pairs = [(known[n.lower()], s) for n, s in scores.items() if n.lower() in known]
    total = sum(w for w, _ in pairs)
    if not pairs:
        if not scores:
            return None
        return sum((s - 1) / 4 for s in scores.values()) / len(scores)
    if total <= 0:
        return sum((s - 1) / 4 for _, s in pairs) / len(pairs)
    return sum(w * (s - 1) / 4 for w, s in pairs) / total


class JudgeClient:
    """The validated judge as an OpenAI-compatible chat endpoint (``spec`` from core.train.reward_plan:
    model, api_base, key_env, messages with {{input}} {{reference}} {{response}} {{expected_behaviour}}
    left to fill, expected_behaviour per row kind, response_format, weights, max_chars). One sample at
    temperature 0 per completion; a failed call is None (no signal), never a score."""

    def __init__(self, spec: dict[str, Any], opener: Callable[..., Any] | None = None):
        self.spec = spec
        self.url = str(spec["api_base"]).rstrip("/") + "/chat/completions"
        self.opener = opener or urllib.request.urlopen
        self.failures = 0

    def messages(self, input_text: str, reference: str, output: str, should_refuse: bool) -> list[dict[str, str]]:
        limit = int(self.spec.get("max_chars") or 6000)

        def clip(text: str) -> str:
            return text if len(text) <= limit else text[:limit] + f" […{len(text) - limit} more characters]"

        values = {"input": clip(input_text), "reference": clip(reference), "response": clip(output),
                  "expected_behaviour": self.spec["expected_behaviour"]["refuse" if should_refuse else "in_scope"]}
        out = []
        for m in self.spec["messages"]:
            content = re.sub(r"\{\{(input|reference|response|expected_behaviour)\}\}",
                             lambda x: values[x.group(1)], m["content"])
            out.append({"role": m["role"], "content": content})
        return out

    def grade(self, input_text: str, reference: str, output: str, should_refuse: bool = False) -> float | None:
        body: dict[str, Any] = {"model": self.spec["model"], "temperature": 0,
                                "messages": self.messages(input_text, reference, output, should_refuse)}
        if self.spec.get("response_format"):
            body["response_format"] = self.spec["response_format"]
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.spec.get("key_env") or "", "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers)
        try:
            with self.opener(request, timeout=float(self.spec.get("timeout_s") or JUDGE_TIMEOUT_S)) as response:
                reply = json.loads(response.read().decode("utf-8"))
            verdict = parse_json(reply["choices"][0]["message"]["content"] or "", expect="{")
        except (OSError, ValueError, KeyError, IndexError, TypeError, urllib.error.URLError) as exc:
            self._failed(exc)
            return None
        if not isinstance(verdict, dict) or "passed" not in verdict:
            self._failed(ValueError("the reply is not a verdict"))
            return None
        if verdict.get("refused") and not should_refuse:
            return 0.0  # the evaluation fails an in-scope answer the judge sees declining
        dims = {str(d.get("name")): int(d.get("score")) for d in verdict.get("dimensions") or []
                if isinstance(d, dict) and isinstance(d.get("score"), (int, float))}
        score = weighted_score(self.spec.get("weights") or [], dims)
        return round(min(1.0, max(0.0, score if score is not None else float(bool(verdict["passed"])))), 4)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures in (1, 10, 100) or self.failures % 1000 == 0:
            print(f"[rewards] the judge call failed ({self.failures} so far; those completions get no "
                  f"correctness signal): {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- correctness


def _run(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from inside an event loop
        return pool.submit(asyncio.run, coro).result()


class CorrectnessReward:
    """Each in-scope row scored with the method the evaluation will use for it (see the module docstring)."""

    __name__ = "correctness"

    def __init__(self, settings: dict[str, Any] | None = None, rule: RefusalRule | None = None,
                 judge: JudgeClient | None = None):
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.rule = rule or RefusalRule(self.settings["refusal_message"] or DEFAULT_RULE.message)
        spec = self.settings.get("judge")
        self.judge = judge or (JudgeClient(spec) if spec else None)
        self.labels = list(self.settings.get("labels") or [])
        self._methods: dict[tuple[str, str], tuple[str, str | None]] = {}

    def method(self, input_text: str, reference: str) -> tuple[str, str | None]:
        key = (input_text, reference)
        if key not in self._methods:
            self._methods[key] = row_method(input_text, reference, self.settings["task_type"],
                                            self.settings["eval_method"], self.judge is not None)
        return self._methods[key]

    def __call__(self, completions: list[Any], prompts: Sequence[Any] | None = None,
                 reference: Sequence[Any] | None = None, should_refuse: Sequence[Any] | None = None,
                 **_: Any) -> list[float | None]:
        n = len(completions)
        out: list[float | None] = [None] * n
        code: list[tuple[int, Any]] = []
        judged: list[tuple[int, str, str, str]] = []
        for i, (c, p, ref, want) in enumerate(zip(completions, _column(prompts, n), _column(reference, n),
                                                   _column(should_refuse, n))):
            ref = completion_text(ref).strip() if ref is not None else ""
            if not ref or _flag(want):
                continue  # no reference, or a refusal row (the refusal reward's)
            text = completion_text(c)
            check = self.rule.check(text)
            if check.where in ("empty", "upfront"):
                out[i] = 0.0  # empty, or declines an in-scope request: the evaluation fails it
                continue
            inp = prompt_text(p)
            method, kind = self.method(inp, ref)
            if method == "functional":
                spec = functional_spec(inp, ref)
                if spec is None:
                    continue
                if spec.kind == "regex":
                    out[i] = check_regex(text, spec.pattern).score
                elif spec.kind == "json":
                    out[i] = round(check_json(text, spec.expected).score, 4)
                else:
                    code.append((i, check_code(text, spec.tests, float(self.settings["code_timeout_s"]))))
            elif method == "exact_match":
                single = self.settings["single_label"] and kind == "label" and self.labels
                if single and len(labels_named(text, self.labels)) != 1:
                    out[i] = 0.0  # a single-label task: the answer names no label, or hedges between several
                    continue
                m = exact_match(text, ref, kind or "closed", input_text=inp, labels=self.labels or None)
                out[i] = 1.0 if m.passed else 0.0
            elif method == "llm_judge" and self.judge is not None:
                judged.append((i, inp, ref, text))
            else:
                out[i] = round(overlap_f1(text, ref), 4)
        if code:
            async def run_all() -> list[Any]:
                return list(await asyncio.gather(*(coro for _, coro in code)))

            for (i, _), res in zip(code, _run(run_all())):
                out[i] = res.score
        if judged and self.judge is not None:
            judge = self.judge
            with concurrent.futures.ThreadPoolExecutor(min(JUDGE_WORKERS, len(judged))) as pool:
                grades = list(pool.map(lambda row: judge.grade(row[1], row[2], row[3]), judged))
            for (i, *_), grade in zip(judged, grades):
                out[i] = grade
        return out


correctness_reward = CorrectnessReward()


# ---------------------------------------------------------------- by name

REWARD_NAMES = ("format", "refusal", "correctness", "reference_overlap")


def build_rewards(names: Sequence[str] | None = None,
                  settings: dict[str, Any] | None = None) -> list[Callable[..., list]]:
    """The reward functions a run config names (``rewards``), set up with its ``reward_settings``."""
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    names = list(names or DEFAULT_REWARDS)
    unknown = [n for n in names if n not in REWARD_NAMES]
    if unknown:
        raise ValueError(f"unknown reward functions {unknown} (known: {', '.join(REWARD_NAMES)})")
    rule = RefusalRule(settings["refusal_message"] or DEFAULT_RULE.message)
    made: dict[str, Callable[..., list]] = {
        "format": format_reward,
        "refusal": RefusalReward(rule),
        "reference_overlap": reference_overlap_reward,
    }
    if "correctness" in names:
        made["correctness"] = CorrectnessReward(settings, rule)
    return [made[n] for n in names]
