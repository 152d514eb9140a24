"""The training plan shown before any spend: dataset check, model size, hardware, LoRA, time, cost, timeout."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from core.progress import duration as _duration
from core.train import hardware as hw
from core.train.dataset_check import DatasetCheck


@dataclass
class TrainingPlan:
    project: str
    method: str
    backend: str
    base_model: str
    parameters_b: float | None
    size_source: str
    device: str  # what trains: "t4-small (Nvidia T4, 16 GB)" or "local CPU (2 cores)"
    flavor: str | None  # HF Jobs flavor (None on the local backend)
    alternatives: list[str]
    use_lora: bool
    lora_reason: str
    need_gb: float
    train_rows: int
    validation_rows: int
    train_tokens: int  # per epoch, after the chat template
    epochs: float
    max_steps: int | None
    steps: int
    tokens_per_second: float
    estimated_hours: float
    usd_per_hour: float
    estimated_cost_usd: float
    timeout_s: int
    push_to_hub: bool
    hub_model_id: str | None
    namespace: str | None
    check: DatasetCheck
    overhead_hours: float = hw.OVERHEAD_HOURS
    settings: dict[str, Any] = field(default_factory=dict)  # the TrainConfig values the run uses
    notes: list[str] = field(default_factory=list)
    # what the method optimises, decided from the project (core.train.reward_plan, core.train.kto_balance)
    rewards: list[str] = field(default_factory=list)  # GRPO reward functions
    reward_settings: dict[str, Any] = field(default_factory=dict)  # GRPO: the run config's reward_settings
    kto_balance: dict[str, Any] | None = None  # KTO: class counts and the weights used
    objective_lines: list[str] = field(default_factory=list)  # the plan's lines about the above
    planned_tokens: int = 0  # tokens the run sees, all epochs (the estimate's numerator)
    calibrated: Any = None  # core.train.timing.Calibration: the earlier run the estimate is measured on

    @property
    def ok(self) -> bool:
        """Whether the run may be submitted (the dataset check passed for the method)."""
        return self.check.ok

    def render(self) -> str:
        from core import words

        size = (f"{words.parameters(self.parameters_b)}, from its {self.size_source}" if self.parameters_b is not None
                else "size unknown")
        length = (f"{self.max_steps} steps (max_steps)" if self.max_steps
                  else f"{self.epochs:g} epochs ({self.steps:,} steps)")
        lines = [
            f"training plan: {self.method.upper()} on {self.base_model} ({size})",
            f"  data      {self.train_rows:,} train / {self.validation_rows:,} validation rows, "
            f"{self.train_tokens:,} tokens per epoch; {length}",
            f"  hardware  {self.backend}: {self.device}; needs ~{self.need_gb:g} GB"
            + (f"; alternatives {', '.join(self.alternatives)}" if self.alternatives else ""),
            f"  LoRA      {'yes (r {lora_r}, alpha {lora_alpha}, dropout {lora_dropout}, all-linear)'.format(**self.settings) if self.use_lora else 'no'}"
            f": {self.lora_reason}",
        ]
        lines.extend(f"  {line}" for line in self.objective_lines)
        cost = (f"~${self.estimated_cost_usd:,.2f} at ${self.usd_per_hour:.2f}/h" if self.usd_per_hour
                else "no charge (local)")
        if self.calibrated is not None:
            basis = (f"from a previous run's measurement: ~{self.tokens_per_second:,.0f} tokens/s and "
                     f"{_duration(self.overhead_hours * 3600)} start-up, {self.calibrated.note()}")
        else:
            basis = f"assumes ~{self.tokens_per_second:,.0f} tokens/s and {self.overhead_hours * 60:.0f} min start-up"
        lines.append(f"  estimate  ~{_duration(self.estimated_hours * 3600)} ({basis}); {cost}; timeout "
                     f"{_duration(self.timeout_s)}")
        if self.push_to_hub:
            lines.append(f"  output    pushed to the Hub as {self.hub_model_id or '<namespace>/' + self.project + '-' + self.method}")
        else:
            lines.append("  output    the run folder (model/)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)




def steps_for(rows: int, batch: int, accum: int, epochs: float, max_steps: int | None,
              generations: int = 1) -> int:
    """Optimizer steps, as the trainers count them. For GRPO (``generations`` > 1) the batch counts
    completions, not prompts: each step takes batch x accumulation / generations prompts (the batch rounded
    up to a multiple of ``generations``, as the runner does), and TRL's sampler drops an incomplete last
    group of prompts (114 rows, batch 4 x 4, 4 generations, 3 epochs: 84 steps, as a real run took)."""
    if max_steps:
        return int(max_steps)
    if generations > 1:
        if batch % generations:
            batch = (batch // generations + 1) * generations
        per_epoch = max(1, rows * generations // max(1, batch * accum))
    else:
        per_epoch = math.ceil(rows / max(1, batch * accum))
    return max(1, per_epoch * max(1, math.ceil(epochs)))


def build_plan(*, project: str, method: str, backend: str, base_model: str, check: DatasetCheck,
               train: Any, params: tuple[float | None, str] | None = None,
               local_device: tuple[str, float] | None = None, past: Any = None) -> TrainingPlan:
    """The plan for ``method`` on ``base_model`` with the TrainConfig ``train`` (pydantic or similar).
    ``past`` (core.train.timing.Calibration): an earlier run's measured throughput and start-up, used
    instead of the assumed ones."""
    params_b, source = params if params is not None else hw.model_size(base_model)
    choice = hw.choose_hardware(params_b, train.use_lora)
    notes = list(choice.notes) + list(check.notes)
    rows = check.rows.get("train", 0)
    per_row = check.total_tokens / rows if rows else 0.0
    gens = int((train.trainer_args or {}).get("num_generations", 4)) if method == "grpo" else 1
    steps = steps_for(rows, train.per_device_train_batch_size, train.gradient_accumulation_steps,
                      train.num_train_epochs, train.max_steps, generations=gens)
    cap = None
    if train.max_steps:
        cap = train.max_steps * train.per_device_train_batch_size * train.gradient_accumulation_steps * per_row
    if method == "grpo":
        completion = int((train.trainer_args or {}).get("max_completion_length", 256))
        train_tokens = check.total_tokens * gens + rows * gens * completion
        if train.max_steps:  # a step's batch is completions, each with its prompt
            cap = (train.max_steps * train.per_device_train_batch_size * train.gradient_accumulation_steps
                   * (per_row + completion))
    else:
        train_tokens = check.total_tokens
    if backend == "local":
        device, tflops = local_device or hw.local_device()
        flavor, price = None, 0.0
        notes = [n for n in notes if "GB of GPU memory" not in n and "stepped up" not in n and "GPUs:" not in n]
    else:
        spec = choice.spec
        flavor, price, tflops = spec.name, spec.usd_per_hour, spec.achieved_tflops
        device = f"{spec.name} ({spec.gpu}, {spec.vram_gb:g} GB, ${spec.usd_per_hour:.2f}/h)"
    overhead = hw.LOCAL_OVERHEAD_HOURS if backend == "local" else hw.OVERHEAD_HOURS
    hours = hw.estimate_hours(train_tokens, train.num_train_epochs, params_b, tflops, method, choice.use_lora,
                              max_steps_tokens=cap, overhead_hours=overhead)
    rate = hw.tokens_per_second(params_b or 1.0, tflops, choice.use_lora) / hw.METHOD_FACTOR.get(method, 1.0)
    seen = train_tokens * max(train.num_train_epochs, 0.0)
    if cap is not None:
        seen = min(seen, cap) if seen else cap
    if past is not None and past.tokens_per_second > 0:
        rate, overhead = past.tokens_per_second, past.startup_seconds / 3600
        hours = seen / rate / 3600 + overhead
    if check.tokens and check.tokens.truncated:
        notes.append(f"{check.tokens.truncated} rows exceed max_length {train.max_length} and will be truncated")
    push = bool(train.push_to_hub) or backend == "hf_jobs"
    hub_id = train.hub_model_id
    if push and not hub_id and train.hf_namespace:
        hub_id = f"{train.hf_namespace}/{project}-{method}"
    if backend == "hf_jobs" and not train.push_to_hub:
        notes.append("HF Jobs machines are ephemeral: the model is pushed to the Hub")
    settings = {k: getattr(train, k) for k in ("lora_r", "lora_alpha", "lora_dropout", "num_train_epochs",
                                               "learning_rate", "max_length", "per_device_train_batch_size",
                                               "gradient_accumulation_steps", "lr_scheduler_type", "warmup_ratio",
                                               "max_steps", "logging_steps")}
    settings["trainer_args"] = dict(train.trainer_args or {})
    return TrainingPlan(
        project=project, method=method, backend=backend, base_model=base_model, parameters_b=params_b,
        size_source=source, device=device, flavor=flavor, alternatives=choice.alternatives if flavor else [],
        use_lora=choice.use_lora, lora_reason=choice.lora_reason, need_gb=choice.need_gb, train_rows=rows,
        validation_rows=check.rows.get("validation", 0), train_tokens=int(train_tokens),
        epochs=train.num_train_epochs, max_steps=train.max_steps, steps=steps, tokens_per_second=rate,
        estimated_hours=round(hours, 3), usd_per_hour=price, estimated_cost_usd=round(hours * price, 2),
        timeout_s=hw.timeout_seconds(hours), push_to_hub=push, hub_model_id=hub_id,
        namespace=train.hf_namespace, check=check, overhead_hours=overhead, settings=settings, notes=notes,
        planned_tokens=int(seen), calibrated=past,
    )
