# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "trl==1.16.0",
#     "peft==0.21.2",
#     "transformers==5.24.0",
#     "datasets==5.2.0",
#     "accelerate==1.15.0",
#     "huggingface_hub>=1.0",
#     "pyarrow>=15",
#     "torch>=2.6",
#     "pydantic>=2.7,<3",
# ]
# ///
"""tunesmith's one training runner: SFT, DPO, GRPO or KTO with TRL, from a run's config.json.

Self-contained on purpose (it runs on Hugging Face Jobs with only the packages above): SFT, DPO and KTO
import nothing from tunesmith. GRPO's rewards are the one exception, by design: they must be the
evaluation's own rules (the project's refusal rule, exact / label match, the functional checks, the
validated judge), so the runner imports them (core/train/rewards.py) instead of keeping a second copy
that would drift. Two ways they arrive, one source of truth:

- locally (``python -m core.train.runner`` or the local backend), from the installed tunesmith;
- on Hugging Face Jobs, which receives this one file, from ``_BUNDLED``: core/train/bundle.py copies the
  source text of core.train.rewards and every tunesmith module it imports into that table when the job
  is submitted (the script shipped is runs/<run-id>/runner.py), and ``_BundledRules`` serves them to
  ``import``. The project's data for those rules (its refusal sentence, task type, label set, the judge's
  endpoint and prompt, never its key) travels in the config as ``reward_settings``.

Run it any of these ways::

    uv run runner.py --config runs/<run-id>/config.json
    python -m core.train.runner --config runs/<run-id>/config.json
    python runner.py --config-json '{"method": "sft", ...}' --run-dir /tmp/run

or import it: ``train(config: dict, run_dir=None) -> int``.

It writes into the run folder (the folder of config.json unless ``run_dir``/``--run-dir`` says otherwise):

    train.log        plain lines, flushed (and the same lines on stdout); a metric line reads
                     ``[metrics] step=3 epoch=0.5 loss=2.31 learning_rate=0.0002 ...`` (see parse_metric_line)
    metrics.jsonl    one row per logging step: step, epoch, loss, learning_rate, grad_norm, eval_loss,
                     tokens_per_second, time (seconds since the runner started)
    metrics.parquet  the same rows, written when the run ends
    status.json      written last: {"status": "completed"|"failed"|"canceled", "reason", "exit_code", ...}
    model/           the trained model or LoRA adapter, the tokenizer and a model card (README.md)

The exit code is 0 only when training completed (1 on failure, 143 when stopped by SIGTERM).

The config (every key but ``method``, ``base_model`` and ``dataset`` is optional)::

    method            "sft" | "dpo" | "grpo" | "kto"
    base_model        a Hub id or a local folder
    dataset           {"train": PATH, "validation": PATH} (Parquet, relative to the config's folder)
                      or {"hub_id": "user/name", "config": None, "train_split": "train",
                      "validation_split": "validation", "revision": None}
    column_mapping    {"instruction": "prompt", "output": "completion"}: columns renamed before training
    output_dir        where the model goes (default: model, relative to the run folder)
    use_lora          true | false;  lora: {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
    hyperparameters   num_train_epochs, learning_rate, max_length, per_device_train_batch_size,
                      gradient_accumulation_steps, lr_scheduler_type, warmup_ratio, max_steps,
                      logging_steps, eval_steps, seed
    trainer_args      any other field of the TRL config class, passed as-is
    rewards           GRPO reward functions by name (default: format, refusal, correctness; also
                      reference_overlap), see core/train/rewards.py
    reward_settings   what the rewards need of the project, decided by core/train/reward_plan.py:
                      task_type, eval_method, labels, single_label, refusal_message, code_timeout_s,
                      judge (model, api_base, key_env, messages, ...; None: prose is scored by overlap)
    push_to_hub, hub_model_id, hub_private   push the model (token from HF_TOKEN) with a model card
    run_id, project   {"name", "task"}, dataset_url: for the model card and the log
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

LOG = "train.log"
METRICS_JSONL = "metrics.jsonl"
METRICS_PARQUET = "metrics.parquet"
STATUS_JSON = "status.json"
MODEL_DIR = "model"
METRIC_FIELDS = ("step", "epoch", "loss", "learning_rate", "grad_norm", "eval_loss", "tokens_per_second", "time")
METRIC_TAG = "[metrics]"
PARQUET_SCHEMA_KEY = b"tunesmith.schema_version"  # tunesmith's store reads Parquet with this metadata
SCHEMA_VERSION = 1
EXIT_OK, EXIT_FAILED, EXIT_CANCELED = 0, 1, 143
METHODS = ("sft", "dpo", "grpo", "kto")
LORA_DEFAULTS = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}


# ================================================================ GRPO rewards: tunesmith's scoring rules
# GRPO's rewards are the evaluation's own rules (core/train/rewards.py over core.refusal,
# core.evaluate.scorers_match and core.evaluate.scorers_functional), imported, never re-typed here. Where
# tunesmith is installed (the local backend), they import from it. For Hugging Face Jobs,
# core/train/bundle.py ships this script with the modules' source text in _BUNDLED (the line below is
# replaced), and _BundledRules serves them to ``import``.

REWARDS_MODULE = "core.train.rewards"
_BUNDLED: dict[str, str] = {}  # core.train.bundle fills this in the script shipped to HF Jobs


class _BundledRules:
    """A meta-path finder and loader for the ``core`` package of a bundled script: the modules in
    _BUNDLED, and empty packages above them; any other ``core.*`` module is not there."""

    def find_spec(self, name: str, path: Any = None, target: Any = None):
        if name != "core" and not name.startswith("core."):
            return None
        import importlib.util

        if name in _BUNDLED:
            return importlib.util.spec_from_loader(name, self, origin=f"bundled:{name}", is_package=False)
        if any(m.startswith(name + ".") for m in _BUNDLED):
            return importlib.util.spec_from_loader(name, self, origin=f"bundled:{name}", is_package=True)
        raise ModuleNotFoundError(f"{name} is not bundled into this runner script", name=name)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        source = _BUNDLED.get(module.__name__)
        if source is not None:
            code = compile(source, f"<tunesmith bundle>/{module.__name__.replace('.', '/')}.py", "exec")
            exec(code, module.__dict__)  # noqa: S102 - tunesmith's own module text, embedded at submission


def load_rewards(config: dict[str, Any]) -> tuple[list[str], list[Callable[..., list]]]:
    """(names, reward functions) of a GRPO config: ``rewards`` (default format, refusal, correctness) set
    up with ``reward_settings``, from the bundled modules or the installed tunesmith."""
    import importlib

    if _BUNDLED and not any(isinstance(f, _BundledRules) for f in sys.meta_path):
        sys.meta_path.insert(0, _BundledRules())
    try:
        rewards = importlib.import_module(REWARDS_MODULE)
    except ImportError as exc:
        raise RuntimeError(
            f"GRPO's rewards are tunesmith's scoring rules ({REWARDS_MODULE}) and they cannot be imported here "
            f"({exc}): run this runner where tunesmith is installed, or ship the script core.train.bundle "
            f"builds (the HF Jobs backend does)") from exc
    names = list(config.get("rewards") or rewards.DEFAULT_REWARDS)
    return names, rewards.build_rewards(names, config.get("reward_settings"))


def describe_rewards(config: dict[str, Any], names: list[str]) -> str:
    settings = config.get("reward_settings") or {}
    parts = [", ".join(names)]
    if "correctness" in names:
        parts.append(f"task type {settings.get('task_type', 'instruction_following')}")
        if settings.get("labels"):
            parts.append(f"{len(settings['labels'])} labels" + (" (exactly one per answer)"
                                                                if settings.get("single_label") else ""))
        judge = settings.get("judge")
        parts.append(f"prose by the judge {judge['model']}" if judge else "prose by overlap with the reference")
    return "; ".join(parts)


# ================================================================ log and metrics


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class RunLog:
    """Plain lines to stdout and to train.log (flushed). When stdout already is train.log (the local
    backend redirects it there), each line is written once."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOG
        self.fh = None
        if not _stdout_is(self.path):
            self.fh = self.path.open("a", encoding="utf-8")

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for part in str(message).splitlines() or [""]:
            line = f"{stamp} {part}"
            try:
                print(line, flush=True)
            except (BrokenPipeError, OSError):
                pass
            if self.fh is not None:
                self.fh.write(line + "\n")
                self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _stdout_is(path: Path) -> bool:
    try:
        out = os.fstat(sys.stdout.fileno())
        target = os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return (out.st_dev, out.st_ino) == (target.st_dev, target.st_ino)


def format_metric_line(row: dict[str, Any]) -> str:
    parts = [METRIC_TAG]
    for key in METRIC_FIELDS:
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, float):
            value = f"{value:.6g}"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def parse_metric_line(line: str) -> dict[str, Any] | None:
    """The metrics row of a ``[metrics] key=value ...`` log line (for followers that only see the log,
    like the HF Jobs log stream); None for any other line."""
    at = line.find(METRIC_TAG)
    if at < 0:
        return None
    row: dict[str, Any] = {}
    for item in line[at + len(METRIC_TAG):].split():
        key, sep, value = item.partition("=")
        if not sep or key not in METRIC_FIELDS:
            continue
        try:
            row[key] = int(value) if key == "step" else float(value)
        except ValueError:
            continue
    return row if "step" in row else None


def write_metrics_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field("step", pa.int64())] + [pa.field(k, pa.float64()) for k in METRIC_FIELDS[1:]],
                       metadata={PARQUET_SCHEMA_KEY: str(SCHEMA_VERSION).encode()})
    columns = {k: [r.get(k) for r in rows] for k in METRIC_FIELDS}
    table = pa.table(columns, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_status(run_dir: Path, status: dict[str, Any]) -> None:
    tmp = run_dir / f".{STATUS_JSON}.tmp"
    tmp.write_text(json.dumps(status, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, run_dir / STATUS_JSON)


def make_metrics_callback(run_dir: Path, log: RunLog, started: float, rows: list[dict[str, Any]]):
    """A transformers TrainerCallback writing each log event as a metrics row (JSONL, flushed) and a line."""
    from transformers import TrainerCallback

    class MetricsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.fh = (run_dir / METRICS_JSONL).open("w", encoding="utf-8")  # a rerun starts over
            self.last_time = time.time()
            self.last_tokens = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.last_time = time.time()
            log(f"training started: {state.max_steps} steps")

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            now = time.time()
            row: dict[str, Any] = {"step": int(state.global_step), "epoch": _num(logs.get("epoch", state.epoch))}
            for key in ("loss", "learning_rate", "grad_norm", "eval_loss"):
                row[key] = _num(logs.get(key))
            tokens = int(logs.get("num_tokens") or getattr(state, "num_input_tokens_seen", 0) or 0)
            if "eval_loss" not in logs and tokens > self.last_tokens and now > self.last_time:
                row["tokens_per_second"] = round((tokens - self.last_tokens) / (now - self.last_time), 2)
                self.last_tokens, self.last_time = tokens, now
            row["time"] = round(now - started, 3)
            extras = {k: v for k, v in logs.items() if k not in row and isinstance(v, (int, float))
                      and k not in ("epoch", "total_flos")}
            if all(row.get(k) is None for k in ("loss", "learning_rate", "grad_norm", "eval_loss")):
                if extras:
                    log("summary " + " ".join(f"{k}={_fmt(v)}" for k, v in sorted(extras.items())))
                return
            rows.append(row)
            self.fh.write(json.dumps(row) + "\n")
            self.fh.flush()
            total = int(state.max_steps or 0)
            line = format_metric_line(row)
            if total:
                line += f" of={total}"
            shown = {k: v for k, v in extras.items() if k in ("reward", "reward_std", "kl", "rewards/chosen",
                                                              "rewards/rejected", "rewards/margins",
                                                              "rewards/accuracies", "mean_token_accuracy",
                                                              "num_tokens", "entropy")
                     or (k.startswith("rewards/") and k.endswith("/mean"))}  # GRPO: each reward's mean
            if shown:
                line += " | " + " ".join(f"{k}={_fmt(v)}" for k, v in sorted(shown.items()))
            log(line)

        def on_evaluate(self, args, state, control, **kwargs):
            self.last_time = time.time()  # evaluation time is not training throughput

        def on_train_end(self, args, state, control, **kwargs):
            self.fh.close()

    return MetricsCallback()


def _cpu_seconds() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return round(sum(u.ru_utime + u.ru_stime for u in usage), 3)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# ================================================================ data


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


def _read_parquet(path: Path):
    import pyarrow.parquet as pq
    from datasets import Dataset

    table = pq.read_table(path)
    if table.num_rows == 0:
        return None
    return Dataset.from_list(table.to_pylist())


def load_splits(config: dict[str, Any], base: Path):
    """(train, validation or None) as datasets.Dataset, column mapping applied, only the columns the
    method reads kept (GRPO keeps every extra column: its reward functions read them)."""
    spec = config["dataset"]
    if isinstance(spec, str):
        spec = {"hub_id": spec}
    if spec.get("hub_id"):
        from datasets import load_dataset

        data = load_dataset(spec["hub_id"], spec.get("config"), revision=spec.get("revision"))
        train = data[spec.get("train_split", "train")]
        val_name = spec.get("validation_split", "validation")
        val = data[val_name] if val_name in data and len(data[val_name]) else None
    else:
        train = _read_parquet(_resolve(spec["train"], base))
        if train is None:
            raise ValueError(f"the training split {spec['train']} has no rows")
        val = None
        if spec.get("validation"):
            vpath = _resolve(spec["validation"], base)
            val = _read_parquet(vpath) if vpath.exists() else None
    mapping = {k: v for k, v in (config.get("column_mapping") or {}).items() if k != v}
    method = config["method"]
    out = []
    for ds in (train, val):
        if ds is None:
            out.append(None)
            continue
        present = {k: v for k, v in mapping.items() if k in ds.column_names}
        clash = [v for v in present.values() if v in ds.column_names and v not in present]
        if clash:
            ds = ds.remove_columns(clash)
        if present:
            ds = ds.rename_columns(present)
        keep = method_columns(method, ds.column_names)
        drop = [c for c in ds.column_names if c not in keep]
        if drop and method != "grpo":
            ds = ds.remove_columns(drop)
        if method == "kto" and "label" in ds.column_names:
            ds = ds.map(lambda r: {"label": bool(r["label"])})
        out.append(ds)
    return out[0], out[1]


def method_columns(method: str, columns: Iterable[str]) -> list[str]:
    cols = set(columns)
    if method == "sft":
        if "messages" in cols:
            return ["messages"]
        if "prompt" in cols and "completion" in cols:
            return ["prompt", "completion"]
        if "text" in cols:
            return ["text"]
        raise ValueError(f"SFT needs messages, text or prompt + completion columns (has {sorted(cols)})")
    need = {"dpo": ["prompt", "chosen", "rejected"], "kto": ["prompt", "completion", "label"],
            "grpo": ["prompt"]}[method]
    missing = [c for c in need if c not in cols]
    if missing:
        raise ValueError(f"{method.upper()} needs columns {need}; missing {missing} (has {sorted(cols)})")
    return need if method != "grpo" else sorted(cols)


# ================================================================ trainer


def _config_class(method: str):
    import trl

    return {"sft": trl.SFTConfig, "dpo": trl.DPOConfig, "grpo": trl.GRPOConfig, "kto": trl.KTOConfig}[method]


def _trainer_class(method: str):
    import trl

    return {"sft": trl.SFTTrainer, "dpo": trl.DPOTrainer, "grpo": trl.GRPOTrainer, "kto": trl.KTOTrainer}[method]


def build_args(config: dict[str, Any], output_dir: Path, has_eval: bool, n_train: int, tokenizer: Any):
    """The TRL config for the method: the skill's defaults, the config's hyper-parameters, its trainer_args."""
    import dataclasses

    import torch

    method = config["method"]
    cls = _config_class(method)
    fields = {f.name for f in dataclasses.fields(cls)}
    hp = dict(config.get("hyperparameters") or {})
    batch = int(hp.get("per_device_train_batch_size", 4))
    accum = int(hp.get("gradient_accumulation_steps", 4))
    epochs = float(hp.get("num_train_epochs", 3.0))
    max_steps = hp.get("max_steps") or -1
    # optimizer steps (core.train.plan.steps_for says the same to the user): GRPO's batch counts completions
    gens = int((config.get("trainer_args") or {}).get("num_generations", 4)) if method == "grpo" else 1
    if max_steps and max_steps > 0:
        steps = int(max_steps)
    elif gens > 1:
        steps = max(1, n_train * gens // (-(-batch // gens) * gens * accum)) * math.ceil(epochs)
    else:
        steps = max(1, math.ceil(n_train / (batch * accum)) * math.ceil(epochs))
    args: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": epochs,
        "max_steps": int(max_steps),
        "learning_rate": float(hp.get("learning_rate", 2e-4)),
        "per_device_train_batch_size": batch,
        "per_device_eval_batch_size": batch,
        "gradient_accumulation_steps": accum,
        "lr_scheduler_type": hp.get("lr_scheduler_type", "cosine"),
        "logging_steps": int(hp.get("logging_steps", 10)),
        "logging_first_step": True,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": int(hp.get("seed", 42)),
        "max_length": int(hp.get("max_length", 1024)),
        "push_to_hub": False,  # pushed once at the end, with the model card
    }
    warmup = float(hp.get("warmup_ratio", 0.1))
    if "warmup_ratio" in fields:
        args["warmup_ratio"] = warmup
    elif warmup > 0:
        args["warmup_steps"] = warmup if warmup < 1 else int(warmup)
    if method != "grpo":
        args["include_num_input_tokens_seen"] = "non_padding"
    if has_eval and method != "grpo":  # GRPO's evaluation generates (slow) and has no eval loss
        eval_steps = int(hp.get("eval_steps") or max(1, steps // 10))
        args.update(eval_strategy="steps", eval_steps=eval_steps)
    ckpt = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            args["bf16"] = True
        else:
            args["fp16"] = True
        args[ckpt] = True
        if config.get("use_lora"):
            args[f"{ckpt}_kwargs"] = {"use_reentrant": False}
    else:
        args["use_cpu"] = not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        args[ckpt] = False  # no GPU memory to save; it only slows the steps
    if method == "sft":
        template = getattr(tokenizer, "chat_template", None) or ""
        args["assistant_only_loss"] = "{% generation %}" in template or "{%- generation %}" in template
    if method == "grpo":
        args.setdefault("num_generations", 4)
        args.setdefault("max_completion_length", 256)
    args.update(config.get("trainer_args") or {})
    if method == "grpo":
        _fit_grpo_batch(args)
    unknown = sorted(k for k in args if k not in fields)
    for k in unknown:
        args.pop(k)
    return cls(**args), unknown, steps


def _fit_grpo_batch(args: dict[str, Any]) -> None:
    """GRPO needs the generation batch (per-device batch x steps per generation) to be a multiple of
    num_generations: round the per-device batch up to one."""
    n = int(args.get("num_generations") or 8)
    b = int(args["per_device_train_batch_size"])
    if b % n:
        args["per_device_train_batch_size"] = ((b // n) + 1) * n
    e = int(args.get("per_device_eval_batch_size") or b)
    if e % n:
        args["per_device_eval_batch_size"] = ((e // n) + 1) * n
    args.setdefault("num_generations_eval", n)


def peft_config(config: dict[str, Any]):
    if not config.get("use_lora"):
        return None
    from peft import LoraConfig

    lora = {**LORA_DEFAULTS, **(config.get("lora") or {})}
    return LoraConfig(r=int(lora["r"]), lora_alpha=int(lora["alpha"]), lora_dropout=float(lora["dropout"]),
                      target_modules=lora["target_modules"], task_type="CAUSAL_LM", bias="none")


# ================================================================ model card and push


def model_card(config: dict[str, Any], result: dict[str, Any]) -> str:
    method = config["method"].upper()
    base = config["base_model"]
    project = config.get("project") or {}
    ds = config.get("dataset") or {}
    if isinstance(ds, dict) and ds.get("hub_id"):
        dataset_link = f"[{ds['hub_id']}](https://huggingface.co/datasets/{ds['hub_id']})"
        dataset_tag = f"datasets:\n- {ds['hub_id']}\n"
    else:
        dataset_link = config.get("dataset_url") or "a local tunesmith dataset (data/training_dataset)"
        dataset_tag = ""
    lora = "LoRA (r {r}, alpha {alpha}, dropout {dropout}, target modules {target_modules})".format(
        **{**LORA_DEFAULTS, **(config.get("lora") or {})}) if config.get("use_lora") else "full fine-tune"
    base_tag = f"base_model: {base}\n" if not Path(base).exists() else ""
    shown = {k: v for k, v in config.items() if k not in ("project",)}
    return (
        "---\n"
        f"{base_tag}{dataset_tag}"
        "library_name: " + ("peft" if config.get("use_lora") else "transformers") + "\n"
        f"tags:\n- trl\n- {config['method']}\n- tunesmith\n"
        "---\n\n"
        f"# {config.get('hub_model_id') or project.get('name') or 'tunesmith model'}\n\n"
        f"{project.get('task', '').strip()}\n\n"
        f"Fine-tuned from `{base}` with TRL {method} ({lora}) by tunesmith.\n\n"
        f"- Dataset: {dataset_link}\n"
        f"- Run: `{config.get('run_id', '')}`, {result.get('global_step', 0)} steps, "
        f"final training loss {_fmt(result.get('final_loss')) if result.get('final_loss') is not None else 'n/a'}\n\n"
        "## Run configuration\n\n```json\n" + json.dumps(shown, indent=2, default=str) + "\n```\n"
    )


def push(config: dict[str, Any], output_dir: Path, log: RunLog) -> str:
    from huggingface_hub import HfApi

    repo = config["hub_model_id"]
    api = HfApi()
    api.create_repo(repo, private=bool(config.get("hub_private", True)), exist_ok=True)
    api.upload_folder(repo_id=repo, folder_path=str(output_dir),
                      commit_message=f"tunesmith run {config.get('run_id', '')}".strip())
    url = f"https://huggingface.co/{repo}"
    log(f"pushed the model to {url}")
    return url


# ================================================================ the run


class Canceled(BaseException):
    """SIGTERM arrived: stop training, record the run as canceled."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise Canceled()


def train(config: dict[str, Any], run_dir: Path | str | None = None, config_dir: Path | str | None = None) -> int:
    """Train from ``config``; write the run folder; return the exit code (0 only when completed).

    Relative dataset paths resolve against ``config_dir`` (default: the run folder); the model goes to
    ``config["output_dir"]`` (default ``model``) relative to the run folder."""
    started = time.time()
    run_dir = Path(run_dir or config.get("run_dir") or ".").resolve()
    config_dir = Path(config_dir).resolve() if config_dir else run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STATUS_JSON).unlink(missing_ok=True)
    log = RunLog(run_dir)
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {"status": "failed", "reason": None, "exit_code": EXIT_FAILED,
                              "run_id": config.get("run_id"), "started_at": _now()}
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        _train(config, run_dir, config_dir, log, rows, result, started)
        result.update(status="completed", exit_code=EXIT_OK)
    except Canceled:
        result.update(status="canceled", reason="stopped by SIGTERM (canceled)", exit_code=EXIT_CANCELED)
        log("canceled: stopped by SIGTERM")
    except KeyboardInterrupt:
        result.update(status="canceled", reason="interrupted", exit_code=EXIT_CANCELED)
        log("canceled: interrupted")
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded, then the exit code says it
        result.update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:500], exit_code=EXIT_FAILED)
        log("training failed:")
        log(traceback.format_exc().rstrip())
    finally:
        if previous is not None:
            try:
                signal.signal(signal.SIGTERM, previous)
            except ValueError:
                pass
    try:
        write_metrics_parquet(rows, run_dir / METRICS_PARQUET)
    except Exception as exc:  # noqa: BLE001
        log(f"could not write {METRICS_PARQUET}: {exc}")
    result["ended_at"] = _now()
    result["seconds"] = round(time.time() - started, 3)
    result["cpu_seconds"] = _cpu_seconds()
    write_status(run_dir, result)
    log(f"run {result['status']} in {result['seconds']:.1f} s" + (f": {result['reason']}" if result["reason"] else ""))
    log.close()
    return int(result["exit_code"])


def _train(config: dict[str, Any], run_dir: Path, base: Path, log: RunLog, rows: list[dict[str, Any]],
           result: dict[str, Any], started: float) -> None:
    method = config.get("method")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    base_model = config.get("base_model")
    if not base_model:
        raise ValueError("base_model is required")
    if config.get("push_to_hub") and not config.get("hub_model_id"):
        raise ValueError("push_to_hub is set but hub_model_id is not (the Hub repo to push to)")
    output_dir = _resolve(config.get("output_dir") or MODEL_DIR, run_dir)
    log(f"tunesmith runner: {method.upper()} on {base_model}" + (f", run {config['run_id']}" if config.get("run_id") else ""))

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    import datasets
    import torch
    import transformers
    import trl
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_warning()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}; device {device}")

    train_ds, val_ds = load_splits(config, base)
    log(f"dataset: {len(train_ds)} training rows, {len(val_ds) if val_ds is not None else 0} validation rows; "
        f"columns {', '.join(train_ds.column_names)}")
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    args, ignored, _ = build_args(config, output_dir, val_ds is not None, len(train_ds), tokenizer)
    if ignored:
        log(f"ignored settings the {type(args).__name__} of this TRL does not have: {', '.join(ignored)}")
    lora = peft_config(config)
    log(("LoRA r {r}, alpha {lora_alpha}, dropout {lora_dropout}, target modules {target_modules}".format(
        **lora.to_dict()) if lora is not None else "full fine-tune")
        + f"; lr {args.learning_rate:g} ({getattr(args.lr_scheduler_type, 'value', args.lr_scheduler_type)}), batch {args.per_device_train_batch_size} x "
          f"{args.gradient_accumulation_steps}, "
        + (f"{args.max_steps} steps" if args.max_steps and args.max_steps > 0 else f"{args.num_train_epochs:g} epochs"))

    callback = make_metrics_callback(run_dir, log, started, rows)
    kwargs: dict[str, Any] = dict(model=base_model, args=args, train_dataset=train_ds, processing_class=tokenizer,
                                  callbacks=[callback], peft_config=lora)
    if val_ds is not None:
        kwargs["eval_dataset"] = val_ds
    if method == "grpo":
        names, kwargs["reward_funcs"] = load_rewards(config)
        log(f"rewards: {describe_rewards(config, names)}")
    trainer = _trainer_class(method)(**kwargs)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; MetricsCallback writes the lines
    output = trainer.train()
    result["global_step"] = int(trainer.state.global_step)
    losses = [r["loss"] for r in rows if r.get("loss") is not None]
    result["final_loss"] = losses[-1] if losses else _num(getattr(output, "training_loss", None))
    evals = [r["eval_loss"] for r in rows if r.get("eval_loss") is not None]
    result["final_eval_loss"] = evals[-1] if evals else None

    log(f"saving the model to {output_dir}")
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    (output_dir / "README.md").write_text(model_card(config, result), encoding="utf-8")
    (output_dir / "tunesmith_run.json").write_text(json.dumps(config, indent=2, default=str), encoding="utf-8")
    result["model_dir"] = str(output_dir)
    result["adapter"] = lora is not None
    if config.get("push_to_hub"):
        result["hub_url"] = push(config, output_dir, log)


# ================================================================ command line


def load_config(path: str | None = None, text: str | None = None) -> tuple[dict[str, Any], Path | None]:
    if text is not None:
        return json.loads(text), None
    if path is None:
        raise ValueError("give --config PATH or --config-json TEXT")
    p = Path(path).expanduser().resolve()
    return json.loads(p.read_text(encoding="utf-8")), p.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tunesmith's TRL training runner (SFT, DPO, GRPO, KTO)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="the run's config.json (its folder is the run folder)")
    src.add_argument("--config-json", help="the config as JSON text (for jobs that only pass arguments)")
    parser.add_argument("--run-dir", help="where train.log, metrics and status.json go (default: the config's folder)")
    ns = parser.parse_args(argv)
    config, folder = load_config(ns.config, ns.config_json)
    run_dir = ns.run_dir or config.get("run_dir") or folder or "."
    return train(config, run_dir, config_dir=folder)


if __name__ == "__main__":
    sys.exit(main())
