"""Inference for evaluation: what a model spec means, which models a project's runs resolve to, local
transformers inference of the tiny model (greedy, deterministic, cached per model), a LoRA adapter through
peft on its base, and a served (litellm) model against the fake LLM server."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.errors import BadInput, StageNotReady
from core.evaluate.inference import (
    DecodingParams,
    Inference,
    Item,
    cache_key,
    classify,
    generate_outputs,
    items_hash,
    model_ref,
    resolve_models,
)
from core.models.runs import TrainingRun
from core.project import Project
from core.train import runfolder as rf

ITEMS = [
    Item("a", "How do I cancel my subscription before the renewal date?"),
    Item("b", "Hi"),
    Item("c", "My printer keeps jamming when I print double-sided pages. What should I check?"),
    Item("d", "Can you help me plan a budget for the family holiday next summer?"),
    Item("e", "Why was I charged twice on the invoice this month?"),
]
FAST = DecodingParams(max_new_tokens=12, batch_size=2)


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


# ---------------------------------------------------------------- specs


def test_classify_model_specs(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    assert classify(str(folder)) == "local"
    assert classify("litellm:hosted_vllm/my-model") == "litellm"
    assert classify("openai/gpt-4o-mini") == "litellm"
    assert classify("anthropic/claude-sonnet-4-5") == "litellm"
    assert classify("hosted_vllm/org/model") == "litellm"
    assert classify("Qwen/Qwen2.5-0.5B-Instruct") == "hub"
    assert classify("hf:openai/gpt-oss-20b") == "hub"  # an org that is also a provider name
    assert classify("my-org/model@http://localhost:8000/v1") == "litellm"

    ref = model_ref("litellm:hosted_vllm/m@http://127.0.0.1:9/v1")
    assert (ref.kind, ref.model, ref.api_base) == ("litellm", "hosted_vllm/m", "http://127.0.0.1:9/v1")
    assert model_ref("hf:openai/gpt-oss-20b").model == "openai/gpt-oss-20b"
    with pytest.raises(BadInput):
        model_ref("  ")


def test_served_model_api_base_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESMITH_API_BASE", "http://roles:1/v1")
    assert model_ref("openai/x").api_base == "http://roles:1/v1"
    monkeypatch.setenv("TUNESMITH_EVAL_API_BASE", "http://eval:2/v1")
    assert model_ref("openai/x").api_base == "http://eval:2/v1"
    assert model_ref("openai/x@http://given:3/v1").api_base == "http://given:3/v1"


# ---------------------------------------------------------------- resolving a project's runs


def _run(project: Project, run_id: str, *, status: str = "completed", minutes: int = 0, model_dir: Path | None = None,
         hub: str | None = None, base: str = "base/model") -> TrainingRun:
    folder = rf.run_dir(project, run_id)
    folder.mkdir(parents=True)
    run = TrainingRun(run_id=run_id, backend="local", method="sft", base_model=base, status=status,
                      created_at=datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minutes),
                      hub_model_id=hub)
    rf.write_run(folder, run)
    if model_dir is not None:
        shutil.copytree(model_dir, folder / rf.MODEL_DIR)
    return run


def test_resolve_models_from_runs(projects_root: Path, tmp_path: Path) -> None:
    project = Project.create("resolve-bot", "answer billing questions", preset="standard")
    with pytest.raises(StageNotReady, match="no completed training run"):
        resolve_models(project)
    fake_model = tmp_path / "weights"
    fake_model.mkdir()
    (fake_model / "config.json").write_text("{}")
    _run(project, "20250101-000000-sft-aaaa", minutes=0, model_dir=fake_model, base=str(tmp_path / "base"))
    _run(project, "20250101-001000-sft-bbbb", minutes=10, status="failed")
    _run(project, "20250101-002000-sft-cccc", minutes=20, hub="me/bot-v2", base="Qwen/Qwen2.5-0.5B")

    base, cand = resolve_models(project)  # the latest COMPLETED run
    assert cand.run_id == "20250101-002000-sft-cccc" and cand.kind == "hub" and cand.model == "me/bot-v2"
    assert base.model == "Qwen/Qwen2.5-0.5B" and base.kind == "hub"

    base, cand = resolve_models(project, candidate="aaaa")  # a unique part of a run id
    assert cand.kind == "local" and cand.model == str(rf.run_dir(project, "20250101-000000-sft-aaaa") / "model")
    assert cand.run_id == "20250101-000000-sft-aaaa"
    assert base.model == str(tmp_path / "base")  # the run's base model (not a folder here: a Hub id)

    with pytest.raises(StageNotReady, match="failed"):
        resolve_models(project, candidate="bbbb")
    with pytest.raises(BadInput, match="matches 3 runs"):
        resolve_models(project, candidate="20250101")

    # a model given directly: the base comes from --base or the project's config
    with pytest.raises(BadInput, match="no base model"):
        resolve_models(project, candidate="litellm:openai/served")
    project.meta.config.train.base_model = "Qwen/Qwen2.5-0.5B"
    base, cand = resolve_models(project, candidate="litellm:openai/served")
    assert cand.kind == "litellm" and cand.run_id is None and base.model == "Qwen/Qwen2.5-0.5B"
    base, _ = resolve_models(project, base="hf:other/base", candidate="latest")
    assert base.model == "other/base"


# ---------------------------------------------------------------- local inference


def test_tiny_model_greedy_outputs_are_deterministic_and_cached(tiny: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ref = model_ref(str(tiny))
    assert ref.kind == "local" and ref.adapter_base is None
    lines: list[str] = []
    first = Inference(ref, FAST, cache=cache, progress=lines.append)
    out1 = first.outputs(ITEMS)
    first.close()
    assert list(out1) == [i.id for i in ITEMS] and first.generated == len(ITEMS) and first.hits == 0
    assert all(isinstance(v, str) for v in out1.values())
    assert not any("<|im_start|>" in v or i.input in v for i, v in zip(ITEMS, out1.values()))  # only new tokens
    assert any("loading" in line for line in lines)

    again = Inference(ref, FAST, cache=cache)
    assert again.outputs(ITEMS) == out1
    assert again.generated == 0 and again.hits == len(ITEMS) and again.runner is None  # never loaded

    # without a cache: generated afresh, the same greedy outputs (another batch size too)
    fresh = generate_outputs(ref, ITEMS, DecodingParams(max_new_tokens=12, batch_size=5))
    assert fresh == out1

    # another decoding parameter is another cache entry
    assert cache_key(ref, FAST, items_hash(ITEMS)) != cache_key(ref, DecodingParams(max_new_tokens=13),
                                                                  items_hash(ITEMS))
    assert len(list(cache.glob("*.parquet"))) == 1


def test_cache_resumes_partial_progress_and_notices_a_changed_model(tiny: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    cache = tmp_path / "cache"
    ref = model_ref(str(model))
    params = DecodingParams(max_new_tokens=12, batch_size=8)
    inf = Inference(ref, params, cache=cache)
    inf.outputs(ITEMS[:3], inputs_hash="h")
    inf.close()
    more = Inference(ref, params, cache=cache)
    more.outputs(ITEMS, inputs_hash="h")  # the same inputs hash: the first three come from the cache
    assert more.hits == 3 and more.generated == 2
    more.close()

    cfg = model / "config.json"
    data = json.loads(cfg.read_text())
    cfg.write_text(json.dumps(data, indent=1))  # "retrained" into the same folder
    os.utime(cfg, ns=(1, 1))
    changed = Inference(model_ref(str(model)), params, cache=cache)
    changed.outputs(ITEMS, inputs_hash="h")
    changed.close()
    assert changed.hits == 0 and changed.generated == len(ITEMS)


def test_lora_adapter_loads_on_its_base(tiny: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    torch.manual_seed(1)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    assert (adapter / "adapter_config.json").exists()
    ref = model_ref(str(adapter))
    assert ref.adapter_base == str(Path(tiny).resolve())  # read from adapter_config.json
    out = generate_outputs(ref, ITEMS[:2], FAST)
    assert set(out) == {"a", "b"}
    # the run's base model takes precedence over the adapter's record
    assert model_ref(str(adapter), adapter_base="other/base").adapter_base == "other/base"


def test_a_missing_hub_model_is_a_clear_error(tmp_path: Path) -> None:
    from core.evaluate.inference import InferenceError

    with pytest.raises(InferenceError, match="not in the local Hugging Face cache"):
        generate_outputs(model_ref("hf:nobody/no-such-model-xyz"), ITEMS[:1], FAST)


# ---------------------------------------------------------------- a served model


def test_litellm_model_against_the_fake_server(fake_llm, tmp_path: Path) -> None:
    from tests.fakes.llm_server import request_text

    fake_llm.on(lambda req: "subscription" in request_text(req), "Open the account page and choose cancel.")
    fake_llm.on(lambda req: True, lambda req: f"echo: {request_text(req)[:20]}")
    ref = model_ref("litellm:openai/served-bot")
    assert ref.kind == "litellm" and ref.api_base == fake_llm.base_url
    cache = tmp_path / "cache"
    inf = Inference(ref, FAST, cache=cache)
    out = inf.outputs(ITEMS)
    assert out["a"] == "Open the account page and choose cancel." and out["b"] == "echo: Hi"
    assert len(fake_llm.requests) == len(ITEMS)
    req = fake_llm.requests[0]
    assert req["model"] == "served-bot" and req["temperature"] == 0.0 and req["max_tokens"] == 12
    assert [m["role"] for m in req["messages"]] == ["user"]
    again = Inference(ref, FAST, cache=cache)
    assert again.outputs(ITEMS) == out and again.hits == len(ITEMS)
    assert len(fake_llm.requests) == len(ITEMS)  # nothing asked twice
