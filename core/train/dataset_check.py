"""The dataset check before any spend: is the dataset usable by the trainer of each method, and how long
are its rows in the base model's tokens?

Column rules are the hf-llm-trainer skill's (huggingface/skills, scripts/dataset_inspector.py):

    SFT   READY: messages, or text, or prompt + completion.
          NEEDS MAPPING: a prompt-like column (prompt, instruction, question, input) and a response-like one
          (response, completion, output, answer) -> renamed to prompt / completion; a prompt-like column alone
          -> renamed to text.
    DPO   READY: prompt, chosen, rejected (DPO is strict about the names).
          NEEDS MAPPING: prompt-like + chosen-like (chosen, preferred, winner) + rejected-like (rejected,
          dispreferred, loser) columns -> renamed.
    GRPO  READY: prompt and no chosen / rejected columns.  NEEDS MAPPING: a prompt-like column, no chosen /
          rejected -> renamed to prompt.
    KTO   READY: prompt, completion, label.  (Our one extension: prompt-like + response-like columns and a
          label column -> renamed, NEEDS MAPPING; the skill calls that INCOMPATIBLE.)
    Anything else is INCOMPATIBLE for that method.

Then, for the project's method, the mapping is applied and every row goes through the base model's chat
template (``trl.data_utils.apply_chat_template`` for conversational rows; prompt + completion text for
plain ones), loaded offline from a local folder or the Hugging Face cache; the token lengths give
min / median / p95 / max and how many rows ``max_length`` would truncate. Without the tokenizer offline the
template pass is skipped (said so) and the lengths are counted with tunesmith's fallback counter.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["READY", "NEEDS MAPPING", "INCOMPATIBLE"]
METHODS = ("sft", "dpo", "grpo", "kto")

PROMPT_LIKE = ("prompt", "instruction", "question", "input")
RESPONSE_LIKE = ("response", "completion", "output", "answer")
CHOSEN_LIKE = ("chosen", "preferred", "winner")
REJECTED_LIKE = ("rejected", "dispreferred", "loser")
TRL_KEYS = ("messages", "text", "prompt", "completion", "chosen", "rejected", "label")
MAX_ERRORS = 5


def _find(columns: list[str], patterns: tuple[str, ...], exclude: tuple[str, ...] = ()) -> str | None:
    """The first column whose name contains a pattern (patterns in priority order), as the skill does."""
    for pattern in patterns:
        for c in columns:
            low = c.lower()
            if pattern in low and not any(x in low for x in exclude):
                return c
    return None


@dataclass
class MethodVerdict:
    method: str
    verdict: Verdict
    reason: str
    mapping: dict[str, str] = field(default_factory=dict)  # source column -> TRL column

    def describe(self) -> str:
        text = f"{self.method.upper():<5} {self.verdict}: {self.reason}"
        if self.mapping:
            text += " (" + ", ".join(f"{k} -> {v}" for k, v in self.mapping.items()) + ")"
        return text


def verdict_for(method: str, columns: list[str]) -> MethodVerdict:
    """READY / NEEDS MAPPING / INCOMPATIBLE for ``method`` by the skill's column rules."""
    cols = list(columns)
    has = set(cols)
    if method == "sft":
        if "messages" in has:
            return MethodVerdict(method, "READY", "has messages")
        if "prompt" in has and "completion" in has:
            return MethodVerdict(method, "READY", "has prompt + completion")
        if "text" in has:
            return MethodVerdict(method, "READY", "has text")
        p = _find(cols, PROMPT_LIKE)
        r = _find([c for c in cols if c != p], RESPONSE_LIKE)
        if p and r:
            return MethodVerdict(method, "NEEDS MAPPING", "prompt and response columns under other names",
                                 {p: "prompt", r: "completion"})
        if p:
            return MethodVerdict(method, "NEEDS MAPPING", "only a prompt-like column: trained as plain text",
                                 {p: "text"})
        return MethodVerdict(method, "INCOMPATIBLE", "needs messages, text, or prompt + completion")
    if method == "dpo":
        if {"prompt", "chosen", "rejected"} <= has:
            return MethodVerdict(method, "READY", "has prompt, chosen, rejected")
        c = _find(cols, CHOSEN_LIKE)
        rj = _find([x for x in cols if x != c], REJECTED_LIKE)
        p = _find([x for x in cols if x not in (c, rj)], PROMPT_LIKE)
        if p and c and rj:
            return MethodVerdict(method, "NEEDS MAPPING", "preference columns under other names",
                                 {p: "prompt", c: "chosen", rj: "rejected"})
        return MethodVerdict(method, "INCOMPATIBLE", "needs prompt + chosen + rejected")
    if method == "grpo":
        if "chosen" in has or "rejected" in has:
            return MethodVerdict(method, "INCOMPATIBLE", "GRPO is prompt-only (the dataset has chosen/rejected)")
        if "prompt" in has:
            return MethodVerdict(method, "READY", "has prompt")
        p = _find(cols, PROMPT_LIKE)
        if p:
            return MethodVerdict(method, "NEEDS MAPPING", "the prompt column has another name", {p: "prompt"})
        return MethodVerdict(method, "INCOMPATIBLE", "needs a prompt column")
    if method == "kto":
        if {"prompt", "completion", "label"} <= has:
            return MethodVerdict(method, "READY", "has prompt, completion, label")
        if "label" in has:
            p = _find(cols, PROMPT_LIKE)
            r = _find([c for c in cols if c != p], RESPONSE_LIKE)
            if p and r:
                mapping = {k: v for k, v in ((p, "prompt"), (r, "completion")) if k != v}
                return MethodVerdict(method, "NEEDS MAPPING", "prompt and completion columns under other names",
                                     mapping)
        return MethodVerdict(method, "INCOMPATIBLE", "needs prompt + completion + label")
    raise ValueError(f"unknown training method {method!r}")


def apply_mapping(rows: list[dict[str, Any]], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """Rows with columns renamed by ``mapping`` (a renamed column replaces one of the same target name)."""
    if not mapping:
        return rows
    out = []
    for row in rows:
        new = {k: v for k, v in row.items() if k not in mapping and k not in mapping.values()}
        for src, dst in mapping.items():
            if src in row:
                new[dst] = row[src]
        out.append(new)
    return out


@dataclass
class TokenStats:
    rows: int
    min: int
    median: float
    p95: int
    max: int
    max_length: int
    truncated: int
    counter: str
    measured: str  # what was counted (e.g. "prompt + longer answer")

    def describe(self) -> str:
        head = (f"tokens per row ({self.measured}, {self.counter}): min {self.min}, median {self.median:g}, "
                f"p95 {self.p95}, max {self.max}")
        if self.truncated:
            pct = self.truncated / self.rows if self.rows else 0.0
            return head + f"; {self.truncated} rows ({pct:.0%}) longer than max_length {self.max_length} " \
                          "would be truncated"
        return head + f"; none longer than max_length {self.max_length}"


@dataclass
class DatasetCheck:
    method: str
    columns: list[str]
    rows: dict[str, int]  # split -> rows
    verdicts: dict[str, MethodVerdict]
    tokenizer: str | None = None  # whose chat template was applied; None: not available offline
    template_rows: int = 0  # rows the chat template was applied to without error
    template_errors: list[str] = field(default_factory=list)
    tokens: TokenStats | None = None
    total_tokens: int = 0  # training split, after the chat template (for the time estimate)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> MethodVerdict:
        return self.verdicts[self.method]

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.verdict.mapping)

    @property
    def ok(self) -> bool:
        return self.verdict.verdict != "INCOMPATIBLE" and not self.template_errors and self.rows.get("train", 0) > 0

    def describe(self) -> str:
        splits = ", ".join(f"{k} {n}" for k, n in self.rows.items())
        lines = [f"dataset check: {splits} rows; columns {', '.join(self.columns) or 'none'}"]
        for m in METHODS:
            mark = "*" if m == self.method else " "
            lines.append(f" {mark} {self.verdicts[m].describe()}")
        if self.tokenizer:
            bad = len(self.template_errors)
            lines.append(f"  chat template of {self.tokenizer}: applied to {self.template_rows} rows"
                         + (f", FAILED on {bad}+" if bad else ", no errors"))
            lines.extend(f"    {e}" for e in self.template_errors[:MAX_ERRORS])
        if self.tokens:
            lines.append("  " + self.tokens.describe())
        lines.extend(f"  note: {n}" for n in self.notes)
        if self.verdict.verdict == "INCOMPATIBLE":
            lines.append(f"  {self.method.upper()} cannot train on this dataset: {self.verdict.reason}")
        return "\n".join(lines)


# ---------------------------------------------------------------- the chat-template pass


def _is_conversational(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _segments(row: dict[str, Any], method: str, tokenizer: Any) -> tuple[str, list[str]]:
    """(prompt text, [answer texts]) of a (mapped) row, rendered with the chat template where conversational."""
    if tokenizer is not None and any(_is_conversational(row.get(k)) for k in TRL_KEYS):
        from trl.data_utils import apply_chat_template

        example = {k: row[k] for k in TRL_KEYS if k in row and row[k] is not None}
        if method == "kto" and "label" in example:
            example["label"] = bool(example["label"])
        out = apply_chat_template(example, tokenizer)
        if "text" in out:
            return out["text"], []
        if "messages" in out:
            return out["messages"], []
        answers = [out[k] for k in ("completion", "chosen", "rejected") if isinstance(out.get(k), str)]
        return str(out.get("prompt", "")), answers
    if "messages" in row:
        return _plain(row["messages"]), []
    if "text" in row:
        return str(row["text"]), []
    answers = [_plain(row[k]) for k in ("completion", "chosen", "rejected") if k in row]
    return _plain(row.get("prompt", "")), answers


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return "" if value is None else str(value)


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    k = max(0, min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


def check_rows(rows_by_split: dict[str, list[dict[str, Any]]], method: str, tokenizer: Any = None,
               max_length: int = 2048, tokenizer_name: str | None = None) -> DatasetCheck:
    """The check of rows already in memory (``{"train": [...], "validation": [...]}``)."""
    from core.generate.tokenizer import count_tokens_many, counter_name

    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r}")
    all_rows = [r for rows in rows_by_split.values() for r in rows]
    columns = sorted({k for r in all_rows for k in r})
    verdicts = {m: verdict_for(m, columns) for m in METHODS}
    check = DatasetCheck(method=method, columns=columns, rows={k: len(v) for k, v in rows_by_split.items()},
                         verdicts=verdicts)
    if tokenizer is not None:
        check.tokenizer = tokenizer_name or getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    if check.verdict.verdict == "INCOMPATIBLE" or not all_rows:
        return check
    prompts: list[str] = []
    answers: list[list[str]] = []
    is_train: list[bool] = []
    bad = 0
    for split, rows in rows_by_split.items():
        for i, row in enumerate(apply_mapping(rows, check.mapping)):
            try:
                p, a = _segments(row, method, tokenizer)
            except Exception as exc:  # noqa: BLE001 - any template failure is a finding, not a crash
                bad += 1
                if len(check.template_errors) < MAX_ERRORS:
                    check.template_errors.append(f"{split} row {i}: {type(exc).__name__}: {str(exc)[:160]}")
                continue
            prompts.append(p)
            answers.append(a)
            is_train.append(split == "train")
    if bad > MAX_ERRORS:
        check.template_errors.append(f"{bad} rows in all")
    if tokenizer is not None:
        check.template_rows = len(prompts)
    else:
        check.notes.append("the base model's tokenizer is not available offline: the chat template was not "
                           "applied (the runner applies it when training starts); lengths are estimates")
    if not prompts:
        return check
    flat = prompts + [a for group in answers for a in group]
    counts = count_tokens_many(flat, tokenizer)
    p_counts, rest = counts[: len(prompts)], counts[len(prompts):]
    lengths: list[int] = []
    train_tokens = 0
    at = 0
    for p_n, group, train in zip(p_counts, answers, is_train):
        a_counts = rest[at: at + len(group)]
        at += len(group)
        if method == "dpo" and a_counts:
            length = p_n + max(a_counts)
            seen = p_n * 2 + sum(a_counts)  # the trainer runs prompt + chosen and prompt + rejected
        else:
            length = p_n + sum(a_counts)
            seen = length
        lengths.append(length)
        if train:
            train_tokens += seen
    ordered = sorted(lengths)
    mapped = set(check.columns) - set(check.mapping) | set(check.mapping.values())
    sft_measured = "whole conversation" if "messages" in mapped else (
        "prompt + completion" if "completion" in mapped else "whole text")
    measured = {"dpo": "prompt + the longer answer", "grpo": "prompt only", "kto": "prompt + completion"}.get(
        method, sft_measured)
    check.tokens = TokenStats(rows=len(lengths), min=ordered[0], median=float(statistics.median(ordered)),
                              p95=_percentile(ordered, 0.95), max=ordered[-1], max_length=max_length,
                              truncated=sum(1 for n in lengths if n > max_length),
                              counter=counter_name(tokenizer), measured=measured)
    check.total_tokens = train_tokens
    return check


def read_split(path: Path) -> list[dict[str, Any]]:
    from core import store

    return store.read_parquet_rows(path) if Path(path).exists() else []


def check_dataset(project: Any, method: str | None = None, base_model: str | None = None,
                  max_length: int | None = None, tokenizer: Any = None) -> DatasetCheck:
    """The check of the project's final dataset (data/training_dataset/{train,validation}.parquet)."""
    from core.generate import pipeline_state as ps
    from core.generate.tokenizer import base_model_name, load_tokenizer_named

    method = method or project.meta.training_method
    name = base_model or base_model_name(project)
    if tokenizer is None and name:
        tokenizer = load_tokenizer_named(name)
    rows = {"train": read_split(project.path(ps.TRAIN_FILE)), "validation": read_split(project.path(ps.VALIDATION_FILE))}
    length = max_length or project.meta.config.train.max_length
    check = check_rows(rows, method, tokenizer, length, tokenizer_name=name if tokenizer is not None else None)
    if not rows["train"]:
        check.notes.append(f"no training rows in {project.path(ps.TRAIN_FILE)}")
    return check
