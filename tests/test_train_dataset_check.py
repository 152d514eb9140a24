"""The dataset check: the hf-llm-trainer column rules per method, the mapping, the chat-template pass and the
token-length statistics against max_length."""

from __future__ import annotations

from typing import Any

import pytest

from core.train.dataset_check import apply_mapping, check_dataset, check_rows, verdict_for
from tests.test_train_common import make_ready_project, rows_for


@pytest.fixture(scope="module")
def tokenizer():
    from tests.fakes.tiny_model import build_tokenizer

    return build_tokenizer()


@pytest.mark.parametrize("method,columns", [
    ("sft", ["messages"]), ("sft", ["text"]), ("sft", ["prompt", "completion"]),
    ("dpo", ["prompt", "chosen", "rejected"]), ("grpo", ["prompt", "reference", "should_refuse"]),
    ("kto", ["prompt", "completion", "label"]),
])
def test_ready(method: str, columns: list[str]) -> None:
    v = verdict_for(method, columns)
    assert v.verdict == "READY" and v.mapping == {}


@pytest.mark.parametrize("method,columns,mapping", [
    ("sft", ["instruction", "output"], {"instruction": "prompt", "output": "completion"}),
    ("sft", ["question", "answer"], {"question": "prompt", "answer": "completion"}),
    ("sft", ["instruction"], {"instruction": "text"}),
    ("dpo", ["instruction", "chosen_response", "rejected_response"],
     {"instruction": "prompt", "chosen_response": "chosen", "rejected_response": "rejected"}),
    ("dpo", ["question", "preferred", "dispreferred"],
     {"question": "prompt", "preferred": "chosen", "dispreferred": "rejected"}),
    ("grpo", ["question", "reference"], {"question": "prompt"}),
    ("kto", ["instruction", "output", "label"], {"instruction": "prompt", "output": "completion"}),
])
def test_needs_mapping(method: str, columns: list[str], mapping: dict[str, str]) -> None:
    v = verdict_for(method, columns)
    assert v.verdict == "NEEDS MAPPING"
    assert v.mapping == mapping


@pytest.mark.parametrize("method,columns", [
    ("sft", ["chosen", "rejected"]),
    ("dpo", ["messages"]),
    ("dpo", ["prompt", "completion"]),
    ("grpo", ["prompt", "chosen", "rejected"]),
    ("grpo", ["messages"]),
    ("kto", ["prompt", "completion"]),
])
def test_incompatible(method: str, columns: list[str]) -> None:
    assert verdict_for(method, columns).verdict == "INCOMPATIBLE"


def test_mapping_is_applied_before_the_template_pass(tokenizer: Any) -> None:
    rows = [{"instruction": f"How do I cancel order {i}?", "output": "Open the order and choose cancel.",
             "id": str(i)} for i in range(5)]
    check = check_rows({"train": rows}, "sft", tokenizer, max_length=512)
    assert check.verdict.verdict == "NEEDS MAPPING" and check.ok
    assert check.template_rows == 5 and not check.template_errors
    mapped = apply_mapping(rows, check.mapping)
    assert mapped[0] == {"prompt": "How do I cancel order 0?", "completion": "Open the order and choose cancel.",
                         "id": "0"}
    assert "NEEDS MAPPING" in check.describe() and "instruction -> prompt" in check.describe()


def test_incompatible_dataset_is_not_ok(tokenizer: Any) -> None:
    check = check_rows({"train": rows_for("sft", 4)}, "dpo", tokenizer)
    assert not check.ok and check.tokens is None
    assert "DPO cannot train on this dataset" in check.describe()


@pytest.mark.parametrize("method", ["sft", "dpo", "grpo", "kto"])
def test_template_pass_and_token_stats(tokenizer: Any, method: str) -> None:
    rows = {"train": rows_for(method, 12), "validation": rows_for(method, 4, offset=1)}
    check = check_rows(rows, method, tokenizer, max_length=4096)
    assert check.verdict.verdict == "READY" and check.ok
    assert check.template_rows == 16 and check.template_errors == []
    stats = check.tokens
    assert stats is not None and stats.rows == 16 and stats.truncated == 0
    assert 0 < stats.min <= stats.median <= stats.p95 <= stats.max
    # the template adds its role markers: every row is longer than its bare words
    assert stats.min > 5
    tight = check_rows(rows, method, tokenizer, max_length=int(stats.median))
    assert 0 < tight.tokens.truncated < 16
    assert "would be truncated" in tight.describe()
    assert check.total_tokens > 0


def test_token_lengths_are_the_chat_template_lengths(tokenizer: Any) -> None:
    rows = rows_for("sft", 3)
    check = check_rows({"train": rows}, "sft", tokenizer, max_length=4096)
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    expected = sorted(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    assert (check.tokens.min, check.tokens.max) == (expected[0], expected[-1])


def test_a_broken_row_is_reported_not_raised(tokenizer: Any) -> None:
    rows = rows_for("dpo", 4)
    rows[2]["chosen"] = [{"role": "assistant"}]  # no content: the template fails on it
    check = check_rows({"train": rows}, "dpo", tokenizer)
    assert not check.ok and check.template_errors and "train row 2" in check.template_errors[0]


def test_without_a_tokenizer_lengths_are_estimated() -> None:
    check = check_rows({"train": rows_for("kto", 6)}, "kto", None, max_length=4096)
    assert check.ok and check.tokenizer is None and check.template_rows == 0
    assert check.tokens.max > 0
    assert any("not available offline" in n for n in check.notes)


def test_check_dataset_reads_the_projects_final_dataset(projects_root, tiny_model) -> None:
    project = make_ready_project("check-bot", "grpo")
    check = check_dataset(project, base_model=str(tiny_model), max_length=64)
    assert check.rows == {"train": 12, "validation": 4}
    assert check.verdict.verdict == "READY" and check.tokenizer == str(tiny_model)
    assert check.template_rows == 16


@pytest.fixture(scope="module")
def tiny_model():
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()
