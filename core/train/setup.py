"""Choosing the base model, and the training plan in plain words (for the app's training set-up).

    names = recent_base_models(project)          # the configured one first, then those earlier runs used
    check_base_model("Qwen/Qwen2.5-0.5B")        # BadInput naming it when it cannot be found
    save_base_model(project, name, "local")      # config.train.base_model (what `tunesmith train` reads)
    lines = plan_words(plan)                     # "about 1.5 billion parameters", "on this computer", ...

The base model chosen here is stored where :func:`core.train.service.resolve_base_model` reads it, so the
CLI and the app share one decision; nothing here imports a UI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.evaluate.hub_models import is_hub_id

BACKEND_WORDS = {"local": "this computer", "hf_jobs": "Hugging Face Jobs"}


def recent_base_models(project: Any, limit: int = 8) -> list[str]:
    """The configured base model first, then the base models of earlier runs (newest first), once each."""
    from core.train import runfolder as rf

    names: list[str] = []
    for name in (project.meta.config.train.base_model, project.meta.models.base_model):
        if name:
            names.append(name)
    try:
        runs = rf.list_runs(project)
    except Exception:  # noqa: BLE001 - a broken run folder must not hide the choices
        runs = []
    names.extend(r.base_model for r in runs if r.base_model)
    out: list[str] = []
    for name in names:
        name = name.strip()
        if name and name not in out:
            out.append(name)
    return out[:limit]


def _offline() -> bool:
    """HF_HUB_OFFLINE as it is set now (huggingface_hub reads it once, at its import)."""
    return (os.environ.get("HF_HUB_OFFLINE") or "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def _in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except Exception:  # noqa: BLE001 - not a valid repo id, no cache
        return False


def check_base_model(name: str, backend: str = "local") -> str:
    """``name`` cleaned (a local folder resolved), or BadInput that names it and says why it cannot be used:
    a path with no folder, a folder with no model in it, not a Hub id, or a Hub id that is not in the
    local cache while offline (HF_HUB_OFFLINE=1). Nothing is downloaded."""
    name = (name or "").strip()
    if not name:
        raise BadInput("base model: none given: type a Hub id (e.g. Qwen/Qwen2.5-0.5B) or a local model folder")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BadInput(f"base model {name!r}: {path} is a file; give the model's folder (with config.json)")
        if not (path / "config.json").exists() and not (path / "adapter_config.json").exists():
            raise BadInput(f"base model {name!r}: no model in {path.resolve()} (no config.json there)")
        return str(path.resolve())
    if _looks_like_path(name) or not is_hub_id(name):
        raise BadInput(f"base model {name!r} not found: there is no folder {path} and it is not a Hub id "
                       f"(owner/name, e.g. Qwen/Qwen2.5-0.5B)")
    if _in_hub_cache(name):
        return name
    if _offline():
        if backend == "local":
            raise BadInput(f"base model {name!r} not found: it is not in the local Hugging Face cache and the Hub "
                           f"is offline (HF_HUB_OFFLINE=1): download it on a machine with network "
                           f"(hf download {name}) or give a local folder")
        return name
    problem = hub_problem(name)
    if problem:
        raise BadInput(f"base model {name!r} not found: {problem}")
    return name


def hub_problem(name: str, timeout: float = 5.0) -> str | None:
    """Why the Hub says there is no model ``name`` (missing, gated, private), or None when it has it or
    cannot be asked (no network: the run finds out, nothing is decided here). The token, if any, is the
    environment's (HF_TOKEN); it is never stored."""
    try:
        from huggingface_hub import model_info
        from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError
    except ImportError:
        return None
    try:
        model_info(name, timeout=timeout)
    except GatedRepoError:
        return "it is a gated model: accept its terms on huggingface.co and set HF_TOKEN"
    except RepositoryNotFoundError:
        return "there is no such model on the Hugging Face Hub (or it is private: set HF_TOKEN)"
    except Exception:  # noqa: BLE001 - no network, a timeout: not a verdict on the model
        return None
    return None


def save_base_model(project: Any, name: str, backend: str | None = None) -> None:
    """Store the choice in project.toml (config.train.base_model, and the backend when given): the value
    `tunesmith train` and `tunesmith evaluate` read when no --base-model / --base is passed."""
    with project.writing():
        project.reload()
        train = project.meta.config.train
        changed = train.base_model != name or (backend is not None and train.backend != backend)
        if not changed:
            return
        train.base_model = name
        if backend is not None:
            train.backend = backend
        project.save()


# ---------------------------------------------------------------- the plan in words


def size_words(params_b: float | None) -> str:
    """'about 1.5 billion parameters', 'about 135 million parameters', 'size not known'."""
    if params_b is None:
        return "size not known (no config.json found and none in its name)"
    from core.words import parameters

    return parameters(params_b)


def duration_words(hours: float) -> str:
    minutes = max(1, int(round(hours * 60)))
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    h, m = divmod(minutes, 60)
    if h < 10 and m >= 10:
        return f"about {h} h {m:02d} min"
    return f"about {h + (1 if m >= 30 else 0)} hours" if h >= 1 else "about an hour"


def plan_words(plan: Any) -> list[str]:
    """The plan in plain words, one line per fact (model, where, how, time and cost, data, output)."""
    lines = [f"Model: {plan.base_model}, {size_words(plan.parameters_b)}"]
    if plan.backend == "local":
        lines.append(f"Where: on this computer ({plan.device})")
    else:
        lines.append(f"Where: on Hugging Face Jobs, {plan.device}")
    how = ("LoRA: small adapter weights are trained, the base model stays frozen" if plan.use_lora
           else "full fine-tune: every weight of the model is trained")
    lines.append(f"How: {plan.method.upper()}, {how} ({plan.lora_reason})")
    length = f"{plan.max_steps} steps" if plan.max_steps else f"{plan.epochs:g} passes over the data ({plan.steps:,} steps)"
    lines.append(f"Data: {plan.train_rows:,} training and {plan.validation_rows:,} validation examples; {length}")
    cost = ("free (it runs here)" if not plan.usd_per_hour
            else f"about ${plan.estimated_cost_usd:,.2f} (${plan.usd_per_hour:.2f} an hour)")
    lines.append(f"Time: {duration_words(plan.estimated_hours)}; cost: {cost}")
    if plan.push_to_hub:
        lines.append(f"Result: pushed to the Hub as {plan.hub_model_id}" if plan.hub_model_id
                     else "Result: pushed to the Hub under your namespace")
    else:
        lines.append("Result: saved in the run's folder (model/)")
    lines.extend(plan.objective_lines)
    lines.extend(f"Note: {n}" for n in plan.notes)
    return lines
