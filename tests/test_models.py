"""Models of every artifact and the presets of the spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.models.config import Config, EvaluateConfig, ExtractConfig, GenerateConfig
from core.models.data import TrainingExample
from core.models.presets import PRESETS, get_preset


def test_defaults_follow_the_spec() -> None:
    c = Config()
    assert c.extract.eval_set_size == 100 and c.extract.out_of_scope_ratio == 0.10
    assert c.extract.spot_check_size == 10 and c.extract.framework_mode == "disabled"
    assert c.generate.target_size == 2000 and c.generate.pilot_size == 100
    assert c.generate.quality_thresholds.pass_rate_target == 0.70
    assert c.generate.quality_thresholds.toxicity_threshold == 0.01
    assert c.evaluate.spot_check_size == 15 and c.evaluate.improvement_threshold == 0.10
    assert c.evaluate.significance_level == 0.05
    assert [(d.name, d.weight) for d in c.evaluate.dimensions] == [
        ("accuracy", 0.40), ("safety", 0.30), ("consistency", 0.15), ("user_preference", 0.15)]


@pytest.mark.parametrize("model,field,value", [
    (ExtractConfig, "eval_set_size", 60),
    (ExtractConfig, "out_of_scope_ratio", 0.3),
    (ExtractConfig, "spot_check_size", 7),
    (GenerateConfig, "pilot_size", 75),
    (GenerateConfig, "target_size", 20000),
    (GenerateConfig, "generation_strategy", "magic"),
    (EvaluateConfig, "spot_check_size", 12),
    (EvaluateConfig, "improvement_threshold", 0.2),
    (EvaluateConfig, "significance_level", 0.1),
    (EvaluateConfig, "eval_method", "vibes"),
])
def test_allowed_values_are_enforced(model, field, value) -> None:
    with pytest.raises(ValidationError):
        model(**{field: value})


def test_weights_must_sum_to_one() -> None:
    dims = [d.model_dump() for d in EvaluateConfig().dimensions]
    dims[0]["weight"] = 0.9
    with pytest.raises(ValidationError, match="sum to 1"):
        EvaluateConfig(dimensions=dims)


def test_config_templates() -> None:
    minimal, standard, heavy = (get_preset(n).config() for n in ("minimal", "standard", "framework-heavy"))
    assert (minimal.extract.eval_set_size, minimal.extract.spot_check_size) == (50, 5)
    assert (minimal.generate.target_size, minimal.generate.pilot_size) == (1000, 50)
    assert minimal.generate.generation_strategy == "few_shot" and minimal.evaluate.eval_method == "exact_match"
    assert standard.generate.target_size == 3000 and standard.evaluate.spot_check_size == 15
    assert heavy.extract.framework_mode == "enabled"
    assert heavy.extract.framework_sources == ["CBT", "DBT", "ACT"]
    assert heavy.generate.generation_strategy == "template" and heavy.generate.target_size == 4000
    filters = {f.name: f for f in heavy.generate.quality_thresholds.custom_filters}
    assert filters["empathy_markers"].enabled and filters["empathy_markers"].threshold == 0.8
    assert filters["framework_adherence"].threshold == 0.9
    assert heavy.evaluate.eval_method == "llm_judge" and heavy.evaluate.improvement_threshold == 0.15
    assert heavy.evaluate.rubric_dimensions == ["appropriateness", "empathy", "framework_accuracy"]


def test_domain_presets() -> None:
    assert {"customer-support", "code-review", "writing-coach", "self-therapy-coach"} <= set(PRESETS)
    code = get_preset("code-review")
    assert code.sft_format == "prompt_completion"
    assert not any(hasattr(p, "task_type") for p in PRESETS.values()), "the task type comes from the task"
    assert code.config().evaluate.eval_method == "functional"
    assert {f.name: f.enabled for f in code.config().generate.quality_thresholds.custom_filters}["code_executability"]
    assert get_preset("customer-support").config().generate.target_size == 3000
    assert get_preset("writing-coach").config().evaluate.spot_check_size == 20
    therapy = get_preset("self-therapy-coach").config()
    assert therapy.extract.framework_sources == ["CBT", "DBT", "ACT"] and therapy.generate.target_size == 3000
    for preset in PRESETS.values():
        preset.config()  # every preset validates


def _example(fmt: str, record: dict) -> TrainingExample:
    return TrainingExample(id="x", format=fmt, record=record, category="c", difficulty="easy",
                           strategy="few_shot", model="m", prompt_version="v1")


def test_trl_formats() -> None:
    _example("sft_conversational", {"messages": [{"role": "user", "content": "hi"},
                                                 {"role": "assistant", "content": "hello"}]})
    _example("sft_prompt_completion", {"prompt": "2+2?", "completion": "4"})
    _example("dpo", {"prompt": "q", "chosen": "good", "rejected": "bad"})
    _example("grpo", {"prompt": [{"role": "user", "content": "q"}], "reference": "r"})
    _example("kto", {"prompt": "q", "completion": "a", "label": True})
    with pytest.raises(ValidationError, match="assistant"):
        _example("sft_conversational", {"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(ValidationError, match="differ"):
        _example("dpo", {"prompt": "q", "chosen": "same", "rejected": "same"})
    with pytest.raises(ValidationError):
        _example("kto", {"prompt": "q", "completion": "a"})
    with pytest.raises(ValidationError):
        _example("dpo", {"prompt": "q", "chosen": "a", "rejected": "b", "extra": 1})
