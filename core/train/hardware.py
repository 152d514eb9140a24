"""Model size, hardware flavor, LoRA, and the time / cost estimate of a training run.

The flavor table and the LoRA rule are the hf-llm-trainer skill's (huggingface/skills,
skills/huggingface-llm-trainer/SKILL.md, "Hardware Selection"):

    model size    flavors (first choice first)        notes
    < 1B          t4-small                           demos, quick tests
    1-3B          t4-medium, l4x1                    development
    3-7B          a10g-small, a10g-large             production
    7-13B         a10g-large, a100-large             use LoRA
    13B+          a100-large, a10g-largex2, ...      use LoRA (multi-GPU flavors handled by TRL/Accelerate)

Within a row the first flavor whose GPU memory holds the run is chosen (memory need below); when none
does, ``use_lora = "auto"`` switches to LoRA, and a forced full fine-tune steps up to the first bigger
flavor that fits. LoRA is used when ``use_lora = "yes"``, or with ``"auto"`` from 7B up (the skill: "use
LoRA/PEFT for models >7B"; its 7-13B row says "use LoRA") or when a full fine-tune does not fit the row.

Prices are Hugging Face's published per-hour Jobs/Spaces prices (huggingface.co/docs/hub/jobs-pricing and
spaces-gpus; billed per minute). They change: keep them in FLAVORS only.

Time estimate (an assumption, stated in the plan): training costs about 6 x parameters FLOPs per token
(4 x with LoRA: no weight gradients for the frozen base), run at the flavor's *achieved* throughput below
(about 30-35 % of the GPUs' dense bf16/fp16 peak; 90 % scaling per extra GPU), times a per-method factor
(DPO and KTO also run a reference model: 1.33 / 1.5; GRPO generates its completions token by token: 3),
plus 15 minutes for start-up, model download, saving and pushing (1 minute on the local backend). The timeout is the estimate x 1.3, and
never under one hour (the skill: "always add 20-30% buffer", "minimum 1-2 hours").
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Flavor:
    name: str
    gpu: str
    gpus: int
    vram_gb: float  # total over its GPUs
    usd_per_hour: float
    achieved_tflops: float  # sustained training throughput assumed for the estimate (all GPUs)


FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (
        Flavor("t4-small", "Nvidia T4", 1, 16, 0.40, 20),
        Flavor("t4-medium", "Nvidia T4", 1, 16, 0.60, 20),
        Flavor("l4x1", "Nvidia L4", 1, 24, 0.80, 40),
        Flavor("l4x4", "4x Nvidia L4", 4, 96, 3.80, 4 * 40 * 0.9),
        Flavor("a10g-small", "Nvidia A10G", 1, 24, 1.00, 35),
        Flavor("a10g-large", "Nvidia A10G", 1, 24, 1.50, 35),
        Flavor("a10g-largex2", "2x Nvidia A10G", 2, 48, 3.00, 2 * 35 * 0.9),
        Flavor("a10g-largex4", "4x Nvidia A10G", 4, 96, 5.00, 4 * 35 * 0.9),
        Flavor("a100-large", "Nvidia A100 80GB", 1, 80, 4.00, 100),
    )
}

# (from B, to B, flavors in order of preference): the skill's table.
SIZE_TABLE: tuple[tuple[float, float, tuple[str, ...]], ...] = (
    (0.0, 1.0, ("t4-small",)),
    (1.0, 3.0, ("t4-medium", "l4x1")),
    (3.0, 7.0, ("a10g-small", "a10g-large")),
    (7.0, 13.0, ("a10g-large", "a100-large")),
    (13.0, math.inf, ("a100-large", "a10g-largex2", "a10g-largex4")),
)
LORA_THRESHOLD_B = 7.0
LORA_FROM_ROW = 7.0  # rows from this size on say "use LoRA"
METHOD_FACTOR = {"sft": 1.0, "dpo": 1.33, "kto": 1.5, "grpo": 3.0}
OVERHEAD_HOURS = 0.25
LOCAL_OVERHEAD_HOURS = 1 / 60  # loading the libraries and the model, saving it: no download, no push
TIMEOUT_FACTOR = 1.3
MIN_TIMEOUT_S = 3600
LOCAL_CPU_TFLOPS_PER_CORE = 0.02  # assumption for the local CPU estimate
LOCAL_GPU_TFLOPS = 40.0  # assumption for an unknown local GPU


# ---------------------------------------------------------------- model size


_SIZE_RE = re.compile(r"(?<![a-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?![a-z])", re.IGNORECASE)


def size_from_name(name: str) -> float | None:
    """Parameters in billions read from a model name ("Qwen2.5-0.5B", "Llama-2-7b-hf", "SmolLM2-135M",
    "Mixtral-8x7B"); the largest figure when there are several ("Qwen3-30B-A3B" -> 30)."""
    best = None
    for experts, number, unit in _SIZE_RE.findall(Path(name).name.replace("_", "-")):
        value = float(number) * (int(experts) if experts else 1)
        value = value / 1000 if unit.lower() == "m" else value
        best = value if best is None else max(best, value)
    return best


def _safetensors_params(folder: Path) -> int | None:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        try:
            with path.open("rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                if size <= 0 or size > 100_000_000:
                    return None
                header = json.loads(fh.read(size))
        except (OSError, ValueError, struct.error):
            return None
        for key, info in header.items():
            if key == "__metadata__" or not isinstance(info, dict):
                continue
            total += math.prod(info.get("shape") or [1])
    return total or None


def _config_params(cfg: dict[str, Any]) -> int | None:
    """A decoder-only transformer's parameter count from its config (embeddings, attention, gated MLP)."""
    if isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg, **cfg["text_config"]}
    h = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers")
    vocab = cfg.get("vocab_size")
    if not (h and layers and vocab):
        return None
    heads = cfg.get("num_attention_heads") or cfg.get("n_head") or 1
    head_dim = cfg.get("head_dim") or h // heads
    kv = cfg.get("num_key_value_heads") or heads
    inter = cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * h
    gated = cfg.get("hidden_act", cfg.get("activation_function", "silu")) in ("silu", "swiglu", "gelu_pytorch_tanh",
                                                                             "geglu") or "intermediate_size" in cfg
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or 1
    moe_inter = cfg.get("moe_intermediate_size") or inter
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = (3 if gated else 2) * h * (moe_inter if experts > 1 else inter) * experts
    embed = vocab * h * (1 if cfg.get("tie_word_embeddings", True) else 2)
    return int(embed + layers * (attn + mlp + 2 * h))


def _model_folder(base_model: str) -> Path | None:
    p = Path(base_model).expanduser()
    if p.is_dir():
        return p
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(base_model, "config.json")
    except Exception:  # noqa: BLE001 - not a valid repo id, no cache: fall back to the name
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def model_size(base_model: str) -> tuple[float | None, str]:
    """(parameters in billions, how it was found): from the safetensors headers of a local or cached copy,
    else its config.json, else its name; (None, "unknown") when none tells."""
    folder = _model_folder(base_model)
    if folder is not None:
        n = _safetensors_params(folder)
        if n:
            return n / 1e9, "safetensors"
        cfg_path = folder / "config.json"
        if cfg_path.exists():
            try:
                n = _config_params(json.loads(cfg_path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                n = None
            if n:
                return n / 1e9, "config"
    by_name = size_from_name(base_model)
    if by_name is not None:
        return by_name, "name"
    return None, "unknown"


# ---------------------------------------------------------------- flavor and LoRA


def memory_need_gb(params_b: float, lora: bool) -> float:
    """GPU memory a run needs (assumption): LoRA keeps bf16 weights (2 bytes/param) + 20 % for adapters,
    their optimizer state and buffers; a full fine-tune keeps weights, gradients and Adam state (16
    bytes/param). Plus 2 GB for activations at modest batch sizes."""
    return params_b * (2 * 1.2 if lora else 16) + 2


def size_row(params_b: float) -> tuple[str, ...]:
    for lo, hi, flavors in SIZE_TABLE:
        if lo <= params_b < hi:
            return flavors
    return SIZE_TABLE[-1][2]


@dataclass
class HardwareChoice:
    flavor: str
    alternatives: list[str]
    use_lora: bool
    lora_reason: str
    need_gb: float
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> Flavor:
        return FLAVORS[self.flavor]


def choose_hardware(params_b: float | None, use_lora: str = "auto") -> HardwareChoice:
    """The flavor and LoRA decision for a model of ``params_b`` billion parameters (see the module doc)."""
    notes: list[str] = []
    if params_b is None:
        params_b = 1.0
        notes.append("model size unknown: planned as a 1B model (the skill's default)")
    row = list(size_row(params_b))
    fits = lambda name, lora: FLAVORS[name].vram_gb >= memory_need_gb(params_b, lora)  # noqa: E731
    if use_lora == "yes":
        lora, reason = True, "asked for in the project (use_lora = yes)"
    elif use_lora == "no":
        lora, reason = False, "asked for in the project (use_lora = no)"
    elif params_b >= LORA_THRESHOLD_B:
        lora, reason = True, f"a model of {LORA_THRESHOLD_B:g} billion parameters or more trains best with adapters"
    elif not any(fits(f, False) for f in row):
        lora, reason = True, (f"a full fine-tune needs ~{memory_need_gb(params_b, False):.0f} GB, more than "
                              f"{' / '.join(row)} have")
    else:
        lora, reason = False, "the model is small enough to train every weight"
    need = memory_need_gb(params_b, lora)
    chosen = next((f for f in row if fits(f, lora)), None)
    if chosen is None:
        bigger = [f for _, _, fl in SIZE_TABLE for f in fl if f not in row and fits(f, lora)]
        bigger = sorted(dict.fromkeys(bigger), key=lambda f: (FLAVORS[f].gpus, FLAVORS[f].usd_per_hour))
        if bigger and not lora:
            chosen = bigger[0]
            notes.append(f"a full fine-tune needs ~{need:.0f} GB: stepped up from {' / '.join(row)} to {chosen}")
        else:
            chosen = max(row, key=lambda f: FLAVORS[f].vram_gb)
            notes.append(f"~{need:.0f} GB of GPU memory needed, more than {chosen} has "
                         f"({FLAVORS[chosen].vram_gb:g} GB): expect out-of-memory; use a smaller model, shorter "
                         "max_length, or a bigger multi-GPU flavor")
    if FLAVORS[chosen].gpus > 1:
        notes.append(f"{chosen} has {FLAVORS[chosen].gpus} GPUs: their memory adds up only with a sharded launch "
                     "(FSDP or DeepSpeed ZeRO-3 through an accelerate config)")
    return HardwareChoice(flavor=chosen, alternatives=[f for f in row if f != chosen], use_lora=lora,
                          lora_reason=reason, need_gb=round(need, 1), notes=notes)


# ---------------------------------------------------------------- time and cost


def tokens_per_second(params_b: float, tflops: float, lora: bool) -> float:
    flops_per_token = (4 if lora else 6) * max(params_b, 1e-6) * 1e9
    return tflops * 1e12 / flops_per_token


def estimate_hours(train_tokens: float, epochs: float, params_b: float | None, tflops: float, method: str,
                   lora: bool, max_steps_tokens: float | None = None, overhead_hours: float = OVERHEAD_HOURS) -> float:
    """Training hours: the tokens the run will see / the assumed throughput x the method's factor, plus
    the fixed start-up / saving overhead."""
    tokens = train_tokens * max(epochs, 0.0)
    if max_steps_tokens is not None:
        tokens = min(tokens, max_steps_tokens) if tokens else max_steps_tokens
    rate = tokens_per_second(params_b or 1.0, tflops, lora)
    return tokens * METHOD_FACTOR.get(method, 1.0) / rate / 3600 + overhead_hours


def timeout_seconds(hours: float) -> int:
    return max(MIN_TIMEOUT_S, int(math.ceil(hours * TIMEOUT_FACTOR * 3600 / 60.0)) * 60)


def local_device() -> tuple[str, float]:
    """(what the local backend trains on, its assumed achieved TFLOPs)."""
    import os

    try:
        import torch

        if torch.cuda.is_available():
            return f"local GPU ({torch.cuda.get_device_name(0)})", LOCAL_GPU_TFLOPS
    except Exception:  # noqa: BLE001
        pass
    cores = os.cpu_count() or 1
    return f"local CPU ({cores} cores)", cores * LOCAL_CPU_TFLOPS_PER_CORE
