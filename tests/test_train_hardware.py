"""Model size, the hf-llm-trainer flavor table, LoRA, and the time / cost / timeout estimate."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.models.config import TrainConfig
from core.train import hardware as hw
from core.train.dataset_check import check_rows
from core.train.plan import build_plan
from tests.test_train_common import rows_for


@pytest.mark.parametrize("params_b,flavor,lora,row", [
    (0.1, "t4-small", False, ("t4-small",)),
    (1.5, "t4-medium", True, ("t4-medium", "l4x1")),  # a full fine-tune of 1.5B needs ~26 GB: LoRA
    (3.0, "a10g-small", True, ("a10g-small", "a10g-large")),
    (7.0, "a10g-large", True, ("a10g-large", "a100-large")),
    (13.0, "a100-large", True, ("a100-large", "a10g-largex2", "a10g-largex4")),
    (70.0, "a10g-largex4", True, ("a100-large", "a10g-largex2", "a10g-largex4")),
])
def test_flavor_table(params_b: float, flavor: str, lora: bool, row: tuple[str, ...]) -> None:
    assert hw.size_row(params_b) == row
    choice = hw.choose_hardware(params_b, "auto")
    assert choice.flavor == flavor and choice.use_lora is lora
    assert choice.flavor in row


def test_70b_says_it_will_not_fit() -> None:
    choice = hw.choose_hardware(70.0, "auto")
    assert FLAVOR_GPUS(choice.flavor) > 1  # a multi-GPU flavor, with LoRA
    assert any("out-of-memory" in n for n in choice.notes) and any("sharded" in n for n in choice.notes)


def FLAVOR_GPUS(name: str) -> int:  # noqa: N802
    return hw.FLAVORS[name].gpus


def test_lora_rules() -> None:
    assert hw.choose_hardware(0.1, "yes").use_lora is True
    assert hw.choose_hardware(13.0, "no").use_lora is False
    assert hw.choose_hardware(0.5, "auto").use_lora is False
    assert hw.choose_hardware(7.0, "auto").use_lora is True and "7 billion" in hw.choose_hardware(7.0, "auto").lora_reason
    forced = hw.choose_hardware(1.5, "no")  # full fine-tune forced: steps up to a single GPU that holds it
    assert forced.flavor == "a100-large" and any("stepped up" in n for n in forced.notes)


def test_unknown_size_is_planned_as_1b() -> None:
    choice = hw.choose_hardware(None)
    assert choice.flavor in hw.size_row(1.0) and any("unknown" in n for n in choice.notes)


@pytest.mark.parametrize("name,size", [
    ("Qwen/Qwen2.5-0.5B-Instruct", 0.5), ("meta-llama/Llama-2-7b-hf", 7.0), ("HuggingFaceTB/SmolLM2-135M", 0.135),
    ("Qwen/Qwen2.5-1.5b", 1.5), ("mistralai/Mixtral-8x7B-v0.1", 56.0), ("Qwen/Qwen3-30B-A3B", 30.0),
    ("meta-llama/Llama-3.1-70B", 70.0), ("gpt2", None),
])
def test_size_from_name(name: str, size: float | None) -> None:
    assert hw.size_from_name(name) == size


def test_size_from_safetensors_config_and_name(tmp_path: Path) -> None:
    from tests.fakes.tiny_model import tiny_model_path

    tiny = tiny_model_path()
    params, source = hw.model_size(str(tiny))
    assert source == "safetensors"
    import torch  # noqa: F401
    from transformers import AutoModelForCausalLM

    exact = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny).parameters())
    assert params == pytest.approx(exact / 1e9)

    folder = tmp_path / "Some-Model-3B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({  # Llama-2-7B's shape, no weights on disk
        "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000, "num_attention_heads": 32,
        "intermediate_size": 11008, "tie_word_embeddings": False}))
    params, source = hw.model_size(str(folder))
    assert source == "config" and params == pytest.approx(6.74, abs=0.01)
    assert hw.model_size("org/Unknown-Model-3B") == (3.0, "name")
    assert hw.model_size("org/unknown") == (None, "unknown")


def test_timeout_is_estimate_times_1_3_and_at_least_an_hour() -> None:
    assert hw.timeout_seconds(0.1) == 3600
    assert hw.timeout_seconds(2.0) == 2 * 3600 * 1.3
    assert hw.timeout_seconds(10.0) >= 10 * 3600 * 1.3


def test_estimate_scales_with_tokens_size_and_method() -> None:
    base = hw.estimate_hours(1e7, 3, 1.0, 35, "sft", False) - hw.OVERHEAD_HOURS
    assert hw.estimate_hours(2e7, 3, 1.0, 35, "sft", False) - hw.OVERHEAD_HOURS == pytest.approx(2 * base)
    assert hw.estimate_hours(1e7, 3, 2.0, 35, "sft", False) - hw.OVERHEAD_HOURS == pytest.approx(2 * base)
    assert hw.estimate_hours(1e7, 3, 1.0, 35, "sft", True) < hw.estimate_hours(1e7, 3, 1.0, 35, "sft", False)
    assert hw.estimate_hours(1e7, 3, 1.0, 35, "grpo", False) > hw.estimate_hours(1e7, 3, 1.0, 35, "dpo", False)
    # 6 FLOPs per parameter per token at 35 TFLOPs: 1B model -> ~5,833 tokens/s
    assert hw.tokens_per_second(1.0, 35, False) == pytest.approx(35e12 / 6e9)


def _check(method: str = "sft", rows: int = 200):
    from tests.fakes.tiny_model import build_tokenizer

    return check_rows({"train": rows_for(method, rows), "validation": rows_for(method, 10)}, method,
                      build_tokenizer(), max_length=2048)


def test_plan_for_hf_jobs_prices_the_flavor() -> None:
    train = TrainConfig(hf_namespace="acme")
    plan = build_plan(project="bot", method="sft", backend="hf_jobs", base_model="Qwen/Qwen2.5-7B-Instruct",
                      check=_check(), train=train)
    assert plan.parameters_b == 7.0 and plan.size_source == "name"
    assert plan.flavor == "a10g-large" and plan.use_lora and plan.usd_per_hour == hw.FLAVORS["a10g-large"].usd_per_hour
    assert plan.estimated_cost_usd == pytest.approx(plan.estimated_hours * plan.usd_per_hour, abs=0.01)
    assert plan.timeout_s == hw.timeout_seconds(plan.estimated_hours) >= 3600
    assert plan.push_to_hub and plan.hub_model_id == "acme/bot-sft"
    assert plan.steps == (200 + 15) // 16 * 3
    text = plan.render()
    for part in ("SFT on Qwen/Qwen2.5-7B-Instruct", "a10g-large", "LoRA      yes (r 16, alpha 32, dropout 0.05",
                 "timeout", "pushed to the Hub as acme/bot-sft", "$"):
        assert part in text


def test_plan_for_local_costs_nothing_and_respects_max_steps() -> None:
    train = TrainConfig(max_steps=5, per_device_train_batch_size=2, gradient_accumulation_steps=1)
    plan = build_plan(project="bot", method="dpo", backend="local", base_model="x/Model-0.5B", check=_check("dpo"),
                      train=train, local_device=("local CPU (2 cores)", 0.04))
    assert plan.flavor is None and plan.estimated_cost_usd == 0 and plan.steps == 5
    assert "no charge (local)" in plan.render() and "5 steps (max_steps)" in plan.render()
    assert not plan.push_to_hub


def test_plan_notes_truncation() -> None:
    from tests.fakes.tiny_model import build_tokenizer

    check = check_rows({"train": rows_for("sft", 20)}, "sft", build_tokenizer(), max_length=40)
    plan = build_plan(project="bot", method="sft", backend="hf_jobs", base_model="m-0.5B", check=check,
                      train=SimpleNamespace(**{**TrainConfig(max_length=40).model_dump()}))
    assert any("truncated" in n for n in plan.notes)


def test_grpo_steps_count_completions_as_trl_does() -> None:
    """Seen on a real local GRPO run: the plan said 24 steps, TRL ran 84 (its batch counts completions)."""
    from core.train.plan import steps_for

    assert steps_for(114, 4, 4, 3.0, None, generations=4) == 84
    assert steps_for(114, 4, 4, 3.0, None) == 24  # SFT, DPO, KTO: rows per batch
    assert steps_for(114, 6, 1, 1.0, None, generations=4) == 57  # the batch is rounded up to 8 completions
    assert steps_for(3, 4, 4, 1.0, None, generations=4) == 1
    train = TrainConfig(per_device_train_batch_size=4, gradient_accumulation_steps=4, num_train_epochs=3.0)
    plan = build_plan(project="bot", method="grpo", backend="local", base_model="x/Model-0.5B",
                      check=_check("grpo"), train=train, local_device=("local CPU (2 cores)", 0.04))
    rows = _check("grpo").rows["train"]
    assert plan.steps == steps_for(rows, 4, 4, 3.0, None, generations=4)
