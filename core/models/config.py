"""Every configuration option of the spec, with its allowed values and default."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TaskType = Literal["classification", "instruction_following", "transformation", "preference", "reasoning"]
TASK_TYPES: tuple[str, ...] = ("classification", "instruction_following", "transformation", "preference", "reasoning")
TrainingMethod = Literal["sft", "dpo", "grpo", "kto"]
TRAINING_METHODS: tuple[str, ...] = ("sft", "dpo", "grpo", "kto")


class Strict(BaseModel):
    """Base for on-disk models: unknown keys are an error (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ExtractConfig(Strict):
    framework_mode: Literal["enabled", "disabled"] = "disabled"
    framework_sources: list[str] = Field(default_factory=list)
    eval_set_size: Literal[50, 75, 100, 200] = 100
    out_of_scope_ratio: float = Field(0.10, ge=0.05, le=0.20)
    spot_check_size: Literal[5, 10, 20] = 10
    min_questions: int = Field(15, ge=1, le=25)
    max_questions: int = Field(25, ge=1, le=25)

    @model_validator(mode="after")
    def _question_bounds(self) -> "ExtractConfig":
        if self.min_questions > self.max_questions:
            raise ValueError("min_questions must not exceed max_questions")
        return self


class CustomFilter(Strict):
    name: str
    enabled: bool = True
    threshold: float | None = None
    verification_source: str | None = None


class QualityThresholds(Strict):
    """The filters' thresholds. ``"auto"`` (the default of a new project) fits the task: see
    core/generate/filters/thresholds.py for the rule; a number is used as given."""

    min_length: int | Literal["auto"] = Field("auto", description="tokens; auto: from the task type and the "
                                                                  "eval set's references")
    max_length: int = Field(4096, ge=1, description="tokens")
    diversity_threshold: float | Literal["auto"] = Field(
        "auto", description="max cosine similarity to kept examples; auto: 0.8, or above the eval set's own "
                            "similarity between inputs")
    toxicity_threshold: float = Field(0.01, ge=0.0, le=1.0)
    pass_rate_target: float = Field(0.70, ge=0.0, le=1.0)
    custom_filters: list[CustomFilter] = Field(
        default_factory=lambda: [
            CustomFilter(name="empathy_markers", enabled=False, threshold=0.8),
            CustomFilter(name="code_executability", enabled=False),
            CustomFilter(name="factual_accuracy", enabled=False, verification_source="knowledge_base"),
        ]
    )

    @model_validator(mode="after")
    def _lengths(self) -> "QualityThresholds":
        if isinstance(self.min_length, int) and not 0 <= self.min_length <= self.max_length:
            raise ValueError("min_length must be between 0 and max_length (or \"auto\")")
        if isinstance(self.diversity_threshold, float) and not 0.0 < self.diversity_threshold <= 1.0:
            raise ValueError("diversity_threshold must be in (0, 1] (or \"auto\")")
        return self


class GenerateConfig(Strict):
    generation_strategy: Literal["auto", "few_shot", "template", "contrastive", "cot"] = "auto"
    target_size: int = Field(2000, ge=1000, le=10000)
    pilot_size: Literal[50, 100, 200] = 100
    framework_mode: bool = False
    quality_thresholds: QualityThresholds = Field(default_factory=QualityThresholds)
    complexity_distribution: list[float] = Field(default_factory=lambda: [0.3, 0.5, 0.2])
    edge_case_ratio: float = Field(0.15, ge=0.0, le=1.0)
    pilot_approval_rate: float = Field(0.80, ge=0.0, le=1.0)
    pilot_review_size: int = Field(10, ge=1, le=200)
    scale_review_size: int = Field(50, ge=0, le=500)
    max_pilot_retries: int = Field(3, ge=0, le=10)
    validation_split: float = Field(0.05, ge=0.0, le=0.5)
    budget_usd: float | None = Field(None, ge=0.0)

    @field_validator("complexity_distribution")
    @classmethod
    def _three_shares(cls, v: list[float]) -> list[float]:
        if len(v) != 3 or any(x < 0 for x in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError("must be three non-negative shares (easy, medium, hard) summing to 1")
        return v


class Dimension(Strict):
    """One dimension of the weighted deployment score."""

    name: str
    metric: str
    target: float
    weight: float = Field(ge=0.0)
    higher_is_better: bool = True


def default_dimensions() -> list[Dimension]:
    return [
        Dimension(name="accuracy", metric="% correct or quality score", target=0.80, weight=0.40),
        Dimension(name="safety", metric="refusal accuracy on out-of-scope", target=1.00, weight=0.30),
        Dimension(name="consistency", metric="variance across similar inputs", target=0.20, weight=0.15,
                  higher_is_better=False),
        Dimension(name="user_preference", metric="human spot-check approval rate", target=0.80, weight=0.15),
    ]


class EvaluateConfig(Strict):
    """Skill 4's options. ``dimensions`` are the weighted deployment score's: accuracy, safety, consistency
    and user_preference are measured by the evaluation itself; any other name (e.g. ``empathy``) is scored
    by the validated LLM judge as one more rubric dimension (its ``metric`` text tells the judge what to
    look for) and is left out, with a REVIEW reason naming it, when no validated judge scored it."""

    eval_method: Literal["auto", "functional", "exact_match", "llm_judge", "human"] = "auto"
    spot_check_size: Literal[10, 15, 20, 30] = 15
    improvement_threshold: Literal[0.05, 0.10, 0.15] = Field(
        0.10, description="the spec's \">10% improvement\" deploy rule: the fine-tuned model's mean score must beat "
                          "the base's by more than this, read in improvement_unit (0.10 = 10 points, or 10% of "
                          "the base's score); more than 5 (points or %) but not above it asks for a review")
    improvement_unit: Literal["points", "percent"] = Field(
        "points", description="how improvement_threshold is read: \"points\" = absolute score points (61% -> "
                              "72% is +11 points); \"percent\" = relative to the base's score (61% -> 72% is "
                              "+18%)")
    significance_level: Literal[0.05, 0.01] = 0.05
    dimensions: list[Dimension] = Field(default_factory=default_dimensions)
    rubric_dimensions: list[str] = Field(default_factory=lambda: ["accuracy", "helpfulness", "boundaries"])
    judge_accuracy_threshold: float = Field(0.80, ge=0.0, le=1.0)
    judge_validation_size: int = Field(50, ge=10, le=500)
    judge_samples: int = Field(3, ge=1, le=9)
    refusal_target: float = Field(1.0, ge=0.0, le=1.0)
    compare_pairs: bool = True

    @field_validator("dimensions")
    @classmethod
    def _weights(cls, v: list[Dimension]) -> list[Dimension]:
        total = sum(d.weight for d in v)
        if v and abs(total - 1.0) > 1e-6:
            raise ValueError(f"dimension weights must sum to 1 (they sum to {total:g})")
        return v


class TrainConfig(Strict):
    backend: Literal["local", "hf_jobs"] = "local"
    base_model: str | None = None
    use_lora: Literal["auto", "yes", "no"] = "auto"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    num_train_epochs: float = 3.0
    learning_rate: float = 2e-4
    max_length: int = 2048
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    hub_model_id: str | None = None
    hf_namespace: str | None = None
    push_to_hub: bool = False
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    logging_steps: int = Field(10, ge=1)
    trainer_args: dict[str, Any] = Field(
        default_factory=dict,
        description="extra TRL config fields passed as-is (e.g. eval_steps, seed, num_generations, "
                    "max_completion_length, beta)")


class Config(Strict):
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
