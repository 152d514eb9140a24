"""The spec's three configuration templates and its four domain examples, as presets.

A preset fills a new project's configuration (sizes, strategies, evaluation settings) and default
training method; every value can still be changed in project.toml afterwards. A preset never sets the
task type: that comes from the task itself (core/task_type.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.models.config import Config, Dimension


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    overrides: dict[str, Any]
    training_method: str = "sft"
    sft_format: str = "conversational"  # or "prompt_completion"
    expert_hint: str = ""
    quality_filters: tuple[str, ...] = field(default_factory=tuple)

    def config(self) -> Config:
        base = Config().model_dump()
        return Config.model_validate(_merge(base, self.overrides))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _dims(*names: str) -> list[str]:
    return list(names)


MINIMAL = Preset(
    name="minimal",
    summary="Fast, simple tasks: 50 eval examples, 1K training examples, few-shot generation",
    overrides={
        "extract": {"eval_set_size": 50, "spot_check_size": 5, "framework_mode": "disabled"},
        "generate": {"target_size": 1000, "pilot_size": 50, "generation_strategy": "few_shot"},
        "evaluate": {"eval_method": "exact_match", "spot_check_size": 10, "improvement_threshold": 0.10},
    },
)

STANDARD = Preset(
    name="standard",
    summary="Most tasks: 100 eval examples, 3K training examples, strategy and evaluation chosen automatically",
    overrides={
        "extract": {"eval_set_size": 100, "spot_check_size": 10, "framework_mode": "disabled"},
        "generate": {"target_size": 3000, "pilot_size": 100, "generation_strategy": "auto"},
        "evaluate": {"eval_method": "auto", "spot_check_size": 15, "improvement_threshold": 0.10},
    },
)

FRAMEWORK_HEAVY = Preset(
    name="framework-heavy",
    summary="Therapy, consulting and other framework-grounded tasks: templates, validated judge, higher bar",
    overrides={
        "extract": {"eval_set_size": 100, "spot_check_size": 10, "framework_mode": "enabled",
                    "framework_sources": ["CBT", "DBT", "ACT"]},
        "generate": {
            "target_size": 4000, "pilot_size": 100, "generation_strategy": "template", "framework_mode": True,
            "quality_thresholds": {"custom_filters": [
                {"name": "empathy_markers", "enabled": True, "threshold": 0.8},
                {"name": "framework_adherence", "enabled": True, "threshold": 0.9},
                {"name": "code_executability", "enabled": False},
                {"name": "factual_accuracy", "enabled": False, "verification_source": "knowledge_base"},
            ]},
        },
        "evaluate": {"eval_method": "llm_judge", "spot_check_size": 20, "improvement_threshold": 0.15,
                     "rubric_dimensions": _dims("appropriateness", "empathy", "framework_accuracy")},
    },
)

CUSTOMER_SUPPORT = Preset(
    name="customer-support",
    summary="Support chatbot: troubleshoot common issues, escalate complex ones; few-shot SFT, judged on tone",
    overrides={
        "extract": {"framework_mode": "disabled"},
        "generate": {"target_size": 3000, "generation_strategy": "few_shot"},
        "evaluate": {"eval_method": "llm_judge", "spot_check_size": 15,
                     "rubric_dimensions": _dims("helpfulness", "accuracy", "tone")},
    },
    expert_hint="Senior support agent, product manager",
    quality_filters=("tone", "accuracy", "boundaries"),
)

CODE_REVIEW = Preset(
    name="code-review",
    summary="Code review assistant: before/after templates, prompt-completion SFT, functional evaluation",
    overrides={
        "extract": {"framework_mode": "enabled", "framework_sources": ["PEP 8", "Clean Code"]},
        "generate": {
            "target_size": 2000, "generation_strategy": "template", "framework_mode": True,
            "quality_thresholds": {"custom_filters": [
                {"name": "empathy_markers", "enabled": False, "threshold": 0.8},
                {"name": "code_executability", "enabled": True},
                {"name": "factual_accuracy", "enabled": False, "verification_source": "knowledge_base"},
            ]},
        },
        "evaluate": {"eval_method": "functional", "spot_check_size": 15,
                     "rubric_dimensions": _dims("correctness", "helpfulness", "style")},
    },
    sft_format="prompt_completion",
    expert_hint="Senior engineer, tech lead",
    quality_filters=("code_executability", "style_adherence"),
)

WRITING_COACH = Preset(
    name="writing-coach",
    summary="Writing coach: feedback templates grounded in classic writing principles; coaches, never ghostwrites",
    overrides={
        "extract": {"framework_mode": "enabled", "framework_sources": ["Classic writing principles"]},
        "generate": {"target_size": 4000, "generation_strategy": "template", "framework_mode": True},
        "evaluate": {"eval_method": "llm_judge", "spot_check_size": 20,
                     "rubric_dimensions": _dims("helpfulness", "specificity", "tone")},
    },
    expert_hint="Professional editor, writing instructor",
    quality_filters=("constructive_tone", "specific_suggestions"),
)

SELF_THERAPY_COACH = Preset(
    name="self-therapy-coach",
    summary="CBT/DBT/ACT skills coach for everyday stress; teaches skills, never handles crises",
    overrides={
        **FRAMEWORK_HEAVY.overrides,
        "generate": {**FRAMEWORK_HEAVY.overrides["generate"], "target_size": 3000},
        "evaluate": {**FRAMEWORK_HEAVY.overrides["evaluate"], "spot_check_size": 15},
    },
    expert_hint="Therapist / counselor",
    quality_filters=("empathy", "framework_adherence", "boundaries"),
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (MINIMAL, STANDARD, FRAMEWORK_HEAVY, CUSTOMER_SUPPORT, CODE_REVIEW, WRITING_COACH, SELF_THERAPY_COACH)
}
DEFAULT_PRESET = "standard"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise KeyError(f"unknown preset '{name}' (known: {known})") from None


__all__ = ["Preset", "PRESETS", "DEFAULT_PRESET", "get_preset", "Dimension"]
