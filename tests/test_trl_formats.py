"""Each training format trains for a few steps with the matching real TRL trainer on a tiny model.

The datasets are the Generator's own output against the fake LLM server (tests/fakes/generate_replies),
converted with ``datasets.Dataset.from_list([ex.record ...])``, so a format change that TRL rejects fails
here. TRL's own format rules (trl.data_utils) are checked on the same records first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.generate.plan import Cell
from core.generate.strategy import strategy_for
from core.models.data import TrainingExample
from tests.fakes.generate_replies import install
from tests.fakes.tiny_model import tiny_model_path
from tests.test_generate_formats import make_project, run_generate

pytestmark = pytest.mark.slow

CELLS = [Cell("common", "billing", "easy", 4, "give concrete next steps"),
         Cell("edge", "paperwork", "medium", 2, "the user's numbers do not add up"),
         Cell("refusal", "out_of_scope", "hard", 2, "give binding legal advice")]


@pytest.fixture(scope="module")
def tiny() -> Path:
    return tiny_model_path()


def examples_for(root: Path, server: Any, method: str, sft_format: str = "conversational") -> list[TrainingExample]:
    p = make_project(root, method=method, sft_format=sft_format, name=f"{method}-{sft_format}")
    install(server, method=method)
    examples = run_generate(p, CELLS, strategy=strategy_for(p))
    assert len(examples) == sum(c.count for c in CELLS)
    return examples


def dataset(examples: list[TrainingExample]):
    from datasets import Dataset

    return Dataset.from_list([ex.record for ex in examples])


def common_args(tmp_path: Path) -> dict[str, Any]:
    return dict(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2,
                gradient_accumulation_steps=1, learning_rate=1e-3, report_to="none", use_cpu=True,
                save_strategy="no", logging_steps=1, dataloader_num_workers=0, disable_tqdm=True, seed=0)


def tokenizer_and_model(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)


def check_trl_rules(examples: list[TrainingExample], tokenizer: Any) -> None:
    """TRL's own format rules: conversational, and its chat-template application works per record."""
    from trl.data_utils import apply_chat_template, is_conversational

    for ex in examples:
        record = {k: v for k, v in ex.record.items() if k in ("messages", "prompt", "completion", "chosen",
                                                               "rejected", "label")}
        assert is_conversational(record), ex.id
        rendered = apply_chat_template(record, tokenizer)
        assert rendered and all(isinstance(v, (str, bool)) for v in rendered.values())


def assert_trained(trainer: Any) -> None:
    result = trainer.train()
    assert trainer.state.global_step == 2
    assert result.training_loss == result.training_loss  # not NaN


@pytest.mark.parametrize("sft_format", ["conversational", "prompt_completion"])
def test_sft_trainer(tmp_path: Path, projects_root: Path, fake_llm, tiny: Path, sft_format: str) -> None:
    from trl import SFTConfig, SFTTrainer

    examples = examples_for(projects_root, fake_llm, "sft", sft_format)
    tokenizer, model = tokenizer_and_model(tiny)
    check_trl_rules(examples, tokenizer)
    args = SFTConfig(**common_args(tmp_path), max_length=256,
                     assistant_only_loss=sft_format == "conversational")
    assert_trained(SFTTrainer(model=model, args=args, train_dataset=dataset(examples), processing_class=tokenizer))


def test_dpo_trainer(tmp_path: Path, projects_root: Path, fake_llm, tiny: Path) -> None:
    from trl import DPOConfig, DPOTrainer

    examples = examples_for(projects_root, fake_llm, "dpo")
    assert {ex.rejected_strategy for ex in examples} >= {"weak_model", "truncated", "off_topic", "verbose"}
    tokenizer, model = tokenizer_and_model(tiny)
    check_trl_rules(examples, tokenizer)
    args = DPOConfig(**common_args(tmp_path), max_length=256)
    assert_trained(DPOTrainer(model=model, args=args, train_dataset=dataset(examples), processing_class=tokenizer))


def test_kto_trainer(tmp_path: Path, projects_root: Path, fake_llm, tiny: Path) -> None:
    from trl import KTOConfig, KTOTrainer

    examples = examples_for(projects_root, fake_llm, "kto")
    labels = [ex.record["label"] for ex in examples]
    assert True in labels and False in labels
    tokenizer, model = tokenizer_and_model(tiny)
    check_trl_rules(examples, tokenizer)
    args = KTOConfig(**common_args(tmp_path), max_length=256)
    assert_trained(KTOTrainer(model=model, args=args, train_dataset=dataset(examples), processing_class=tokenizer))


def test_grpo_trainer_with_reward_columns(tmp_path: Path, projects_root: Path, fake_llm, tiny: Path) -> None:
    from trl import GRPOConfig, GRPOTrainer

    examples = examples_for(projects_root, fake_llm, "grpo")
    seen: dict[str, list] = {}

    def reward(completions, reference, should_refuse, category, difficulty, **_: Any) -> list[float]:
        seen.setdefault("reference", []).extend(reference)
        seen.setdefault("should_refuse", []).extend(should_refuse)
        seen.setdefault("category", []).extend(category)
        out = []
        for completion, ref, refuse in zip(completions, reference, should_refuse):
            text = completion[0]["content"] if isinstance(completion, list) else str(completion)
            overlap = len(set(text.lower().split()) & set(ref.lower().split()))
            out.append(float(overlap) + (1.0 if refuse and "sorry" in text.lower() else 0.0))
        return out

    tokenizer, model = tokenizer_and_model(tiny)
    check_trl_rules(examples, tokenizer)
    args = GRPOConfig(**common_args(tmp_path), num_generations=2, max_completion_length=8)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=dataset(examples),
                          processing_class=tokenizer)
    assert_trained(trainer)
    assert seen["reference"] and all(isinstance(r, str) and r for r in seen["reference"])
    assert set(seen["should_refuse"]) <= {True, False}
    assert set(seen["category"]) <= {"billing", "paperwork", "out_of_scope"}
