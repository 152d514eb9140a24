"""Evaluate any model the user has: Hub ids downloaded with the real huggingface_hub client from a local fake
Hub (tests/fake_hub_files.py) into a temporary HF_HOME, with progress, and loaded for inference (a run trained
on HF Jobs: its LoRA adapter and its base, both on the Hub); offline, a clear message that says what to do
(the CLI exits 1, no traceback); gated and private repos; and OpenAI-compatible servers
(``openai:<model>@<url>``, ``--base-api-base`` / ``--candidate-api-base``) as base and candidate through the
gateway, against the fake LLM server: outputs stored, the second run from the cache, the key never stored."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.errors import BadInput
from core.evaluate import evalfolder as ef
from core.evaluate.inference import (
    DecodingParams,
    Inference,
    InferenceError,
    Item,
    ModelNotFound,
    ModelUnavailable,
    cache_key,
    classify,
    generate_outputs,
    hub_folder,
    model_ref,
    resolve_models,
    with_api_base,
)
from core.models.runs import TrainingRun
from core.project import Project
from core.train import runfolder as rf
from tests.fake_hub_files import FakeHubFiles

ROOT = Path(__file__).resolve().parent.parent
ITEMS = [
    Item("a", "How do I cancel my subscription before the renewal date?"),
    Item("b", "Hi"),
    Item("c", "My printer keeps jamming when I print double-sided pages. What should I check?"),
]
FAST = DecodingParams(max_new_tokens=8, batch_size=4)
TOKEN = FakeHubFiles().tokens[0]


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return tiny_model_path()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The fake Hub, reachable: HF_ENDPOINT at it, the network allowed, an empty HF_HOME of the test's own."""
    from huggingface_hub import constants

    with FakeHubFiles() as server:
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "no-token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "no-tokens"))
        for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        yield server


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _adapter(tiny: Path, dest: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(dest)
    return dest


# ---------------------------------------------------------------- model specs


def test_openai_compatible_specs_and_api_base_options(projects_root: Path) -> None:
    ref = model_ref("openai:qwen2.5:0.5b@http://localhost:11434/v1")
    assert (ref.kind, ref.model, ref.api_base) == ("litellm", "openai/qwen2.5:0.5b", "http://localhost:11434/v1")
    ref = model_ref("openai:Qwen/Qwen2.5-0.5B-Instruct@https://gpu.lan:8000/v1")
    assert (ref.model, ref.api_base) == ("openai/Qwen/Qwen2.5-0.5B-Instruct", "https://gpu.lan:8000/v1")
    # a bare name at a URL is an OpenAI-compatible server; a provider prefix and litellm: stay as given
    assert model_ref("my-org/model@http://localhost:8000/v1").model == "openai/my-org/model"
    assert model_ref("hosted_vllm/m@http://localhost:8000/v1").model == "hosted_vllm/m"
    assert model_ref("litellm:ollama_chat/llama3@http://localhost:11434").model == "ollama_chat/llama3"
    assert classify("openai:x") == "litellm" and classify("hf:openai/gpt-oss-20b") == "hub"
    assert model_ref("hf:org/name@v2").model == "org/name@v2"

    with pytest.raises(BadInput, match="no model name"):
        model_ref("openai:@http://localhost:1/v1")
    with pytest.raises(BadInput, match="user name or password") as err:
        model_ref("openai:m@http://user:sk-secret-123@localhost:1/v1")
    assert "sk-secret-123" not in str(err.value)
    with pytest.raises(BadInput, match="not an http"):
        with_api_base("m", "ftp://host/v1", "--base-api-base")

    url = "http://127.0.0.1:9/v1"
    assert with_api_base("cand-bot", url, "--candidate-api-base") == f"openai:cand-bot@{url}"
    assert with_api_base("openai:cand-bot", url, "--candidate-api-base") == f"openai:cand-bot@{url}"
    assert with_api_base("litellm:hosted_vllm/m", url, "--base-api-base") == f"litellm:hosted_vllm/m@{url}"
    assert with_api_base("Qwen/Qwen2.5-0.5B", url, "--base-api-base") == f"openai:Qwen/Qwen2.5-0.5B@{url}"
    assert with_api_base("m", None, "--base-api-base") == "m"
    with pytest.raises(BadInput, match="give the model too"):
        with_api_base(None, url, "--candidate-api-base")
    with pytest.raises(BadInput, match="already names its server"):
        with_api_base(f"openai:m@{url}", url, "--base-api-base")
    with pytest.raises(BadInput, match="not served"):
        with_api_base("hf:org/name", url, "--base-api-base")
    with pytest.raises(BadInput, match="not served"):
        with_api_base(str(projects_root), url, "--base-api-base")
    project = Project.create("spec-bot", "answer questions", preset="standard")
    folder = rf.run_dir(project, "20250101-000000-sft-abcd")
    folder.mkdir(parents=True)
    rf.write_run(folder, TrainingRun(run_id="20250101-000000-sft-abcd", backend="local", method="sft",
                                     base_model="b", status="completed", created_at=datetime.now(timezone.utc)))
    with pytest.raises(BadInput, match="is a training run"):
        with_api_base("20250101-000000-sft-abcd", url, "--candidate-api-base", project)


def test_a_training_base_is_a_hub_model_even_when_its_org_is_a_provider(projects_root: Path) -> None:
    project = Project.create("gpt-oss-bot", "answer questions", preset="standard")
    project.meta.config.train.base_model = "openai/gpt-oss-20b"
    base, cand = resolve_models(project, candidate="openai:served@http://localhost:1/v1")
    assert (base.kind, base.model) == ("hub", "openai/gpt-oss-20b")
    assert cand.kind == "litellm"
    base, _ = resolve_models(project, base="openai/gpt-4o-mini", candidate="openai:served@http://localhost:1/v1")
    assert base.kind == "litellm"  # given with --base: a provider model


def test_not_a_folder_nor_a_hub_id_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="no such folder, and not a Hugging Face Hub id") as err:
        generate_outputs(model_ref(str(tmp_path / "no" / "such" / "model")), ITEMS[:1], FAST)
    assert err.value.exit_code == 2


# ---------------------------------------------------------------- the Hub: download, cache, offline


def test_a_hub_model_is_downloaded_with_progress_then_loaded_from_the_cache(
        hub: FakeHubFiles, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {p.name: p.read_bytes() for p in tiny.iterdir() if p.is_file()}
    files.update({"README.md": b"# card", "training_args.bin": b"pickle", "original/consolidated.pth": b"x" * 64,
                  "onnx/model.onnx": b"onnx", "tokenizer.json.bak": b"{}",
                  "pytorch_model.bin": b"the same weights again, not fetched when there are safetensors"})
    hub.add("alice/support-bot", files)
    expected = generate_outputs(model_ref(str(tiny)), ITEMS, FAST)  # the same weights, loaded from the folder

    lines: list[str] = []
    ref = model_ref("alice/support-bot")
    assert ref.kind == "hub"
    inf = Inference(ref, FAST, cache=tmp_path / "cache", progress=lines.append)
    assert inf.outputs(ITEMS) == expected
    inf.close()
    got = set(hub.downloads())
    assert got == {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                   "tokenizer_config.json", "chat_template.jinja"}, got  # what transformers needs, nothing else
    text = "\n".join(lines)
    assert "downloading alice/support-bot from the Hugging Face Hub" in text and "6 files" in text
    assert "downloading alice/support-bot: 6/6 files" in text and "downloaded alice/support-bot" in text
    snapshots = tmp_path / "hf-home" / "hub" / "models--alice--support-bot" / "snapshots"
    assert snapshots.is_dir() and f"into {tmp_path / 'hf-home' / 'hub'}" in text

    # now offline: the cached copy is used without the network
    _offline(monkeypatch)
    asked = len(hub.requests)
    folder = hub_folder("alice/support-bot")
    assert folder.parent == snapshots and len(hub.requests) == asked
    again = generate_outputs(ref, ITEMS[:1], DecodingParams(max_new_tokens=8, batch_size=1))
    assert again == {"a": expected["a"]} and len(hub.requests) == asked


def test_a_run_trained_on_hf_jobs_is_evaluated_from_the_hub(hub: FakeHubFiles, tiny: Path, tmp_path: Path,
                                                            projects_root: Path) -> None:
    hub.add_folder("acme/tiny-base", tiny)
    hub.add_folder("alice/bot-lora", _adapter(tiny, tmp_path / "adapter"), private=True)
    project = Project.create("jobs-bot", "answer questions", preset="standard")
    run_id = "20250101-000000-sft-f00d"
    folder = rf.run_dir(project, run_id)
    folder.mkdir(parents=True)
    rf.write_run(folder, TrainingRun(run_id=run_id, backend="hf_jobs", method="sft", base_model="acme/tiny-base",
                                     status="completed", created_at=datetime.now(timezone.utc), use_lora=True,
                                     hub_model_id="alice/bot-lora", job_id="j1", namespace="alice"))
    base, cand = resolve_models(project)
    assert (cand.kind, cand.model, cand.adapter_base, cand.run_id) == ("hub", "alice/bot-lora", "acme/tiny-base",
                                                                       run_id)
    assert (base.kind, base.model) == ("hub", "acme/tiny-base")
    # the run id is part of the cache key: a later run pushing to the same repo is not mistaken for this one
    other = cand.model_copy(update={"run_id": "20250102-000000-sft-beef"})
    assert cache_key(cand, FAST, "h") != cache_key(other, FAST, "h")

    # a private repo without a token: what to do, and no token is ever printed
    with pytest.raises(ModelUnavailable, match="was not found on the Hugging Face Hub") as err:
        generate_outputs(cand, ITEMS[:1], FAST)
    assert "HF_TOKEN" in str(err.value)

    os.environ["HF_TOKEN"] = TOKEN  # the hub fixture's monkeypatch removes it again
    try:
        lines: list[str] = []
        out = generate_outputs(cand, ITEMS, FAST, progress=lines.append)
        base_out = generate_outputs(base, ITEMS, FAST)
    finally:
        del os.environ["HF_TOKEN"]
    assert set(out) == {"a", "b", "c"} and set(base_out) == set(out)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(hub.downloads())
    assert any("downloading alice/bot-lora" in line for line in lines)
    assert any("downloading acme/tiny-base" in line for line in lines)  # the adapter's base, too
    assert not any(TOKEN in line for line in lines)
    assert all(had_token for m, p, had_token in hub.requests if p.startswith("/alice/bot-lora/resolve/"))


def test_offline_a_missing_hub_model_says_exactly_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _offline(monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with pytest.raises(ModelUnavailable) as err:
        generate_outputs(model_ref("org/name"), ITEMS[:1], FAST)
    msg = str(err.value)
    assert "model org/name is not in the local Hugging Face cache" in msg and str(tmp_path / "hf-home" / "hub") in msg
    assert "HF_HUB_OFFLINE is set" in msg and "`hf download org/name`" in msg and "huggingface-cli download" in msg
    assert "--local-dir DIR" in msg and "openai:<model>@http://host:port/v1" in msg and "unset HF_HUB_OFFLINE" in msg
    assert isinstance(err.value, InferenceError) and err.value.exit_code == 1


def test_no_network_a_missing_hub_model_says_exactly_what_to_do(hub: FakeHubFiles,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", dead)
    with pytest.raises(ModelUnavailable) as err:
        hub_folder("org/name")
    msg = str(err.value)
    assert f"cannot connect to {dead}" in msg and "not in the local Hugging Face cache" in msg
    assert "`hf download org/name`" in msg and "unset HF_HUB_OFFLINE" not in msg


def test_gated_and_missing_repos(hub: FakeHubFiles, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add_folder("meta/gated-model", tiny, gated=True)
    with pytest.raises(ModelUnavailable, match="is gated on the Hugging Face Hub") as err:
        hub_folder("meta/gated-model")
    assert f"{hub.url}/meta/gated-model" in str(err.value) and "set HF_TOKEN" in str(err.value)

    wrong = "hf_wrong_token_that_must_never_be_printed"
    monkeypatch.setenv("HF_TOKEN", wrong)
    with pytest.raises(ModelUnavailable, match="is gated") as err:
        hub_folder("meta/gated-model")
    assert wrong not in str(err.value) and "the token set here" in str(err.value)

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert (hub_folder("meta/gated-model") / "model.safetensors").is_file()

    with pytest.raises(ModelUnavailable, match="was not found on the Hugging Face Hub"):
        hub_folder("nobody/no-such-model")
    with pytest.raises(ModelNotFound, match="revision 'v9' does not exist"):
        hub_folder("meta/gated-model@v9")
    hub.add("someone/gguf-only", {"config.json": b"{}", "model-q4.gguf": b"gguf"})
    with pytest.raises(ModelNotFound, match="GGUF files: serve it with llama.cpp"):
        hub_folder("someone/gguf-only")


def test_cli_offline_exits_1_with_the_message_and_no_traceback(projects_root: Path, tmp_path: Path) -> None:
    from tests.test_eval_run import freeze

    project = Project.create("offline-hub-bot", "answer device and billing questions", preset="standard")
    freeze(project)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "core.cli", "evaluate", project.slug, "--base", "hf:nobody/base-model",
                        "--candidate", "nobody/tuned-model", "--max-new-tokens", "4"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert "tunesmith evaluate: model nobody/base-model is not in the local Hugging Face cache" in r.stderr
    assert "`hf download nobody/base-model`" in r.stderr and "openai:<model>@" in r.stderr
    (record,) = ef.list_evals(project)
    assert record.status == "failed" and "nobody/base-model" in (record.failure_reason or "")


# ---------------------------------------------------------------- OpenAI-compatible servers


def test_openai_compatible_servers_as_base_and_candidate(projects_root: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    from core.cli import main
    from tests.fakes.llm_server import FakeLLMServer, request_text
    from tests.test_eval_run import freeze

    secret = "sk-endpoint-key-that-must-never-be-stored"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("TUNESMITH_EVAL_CONCURRENCY", "3")
    project = Project.create("served-bot", "answer device and billing questions", preset="standard")
    examples = freeze(project)
    with FakeLLMServer(latency=0.02) as server:
        server.on(lambda req: req.get("model") == "cand-bot", lambda req: f"candidate: {request_text(req)[:30]}")
        server.on(lambda req: req.get("model") == "base-bot", lambda req: f"base: {request_text(req)[:30]}")
        url = server.base_url
        args = ["evaluate", project.slug, "--base", f"openai:base-bot@{url}", "--candidate", "cand-bot",
                "--candidate-api-base", url, "--max-new-tokens", "8"]
        assert main(args) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        n = len(server.requests)
        assert n == 2 * len(examples)  # no LLM role is configured: only the two served models are asked
        assert server.max_in_flight <= 3
        assert {r["model"] for r in server.requests} == {"base-bot", "cand-bot"}
        assert all(r["temperature"] == 0.0 and r["max_tokens"] == 8 for r in server.requests)
        assert "candidate openai/cand-bot" in out and "vs base openai/base-bot" in out

        eval_id = ef.latest_eval(project)
        record = ef.read_record(project, eval_id)
        assert (record.base.kind, record.base.model, record.base.api_base) == ("litellm", "openai/base-bot", url)
        assert (record.candidate.model, record.candidate.api_base) == ("openai/cand-bot", url)
        results = ef.read_results(project, eval_id)
        by_role = {(r.model_role, r.example_id): r.output for r in results}
        first = examples[0]
        assert by_role[("candidate", first.id)] == f"candidate: {first.input[:30]}".strip()
        assert by_role[("base", first.id)] == f"base: {first.input[:30]}".strip()

        # the second evaluation generates nothing: every output comes from the cache
        assert main(args) == 0
        out = capsys.readouterr().out
        assert len(server.requests) == n
        assert f"base openai/base-bot: {len(examples)} outputs from the cache" in out
        assert f"candidate openai/cand-bot: {len(examples)} outputs from the cache" in out
        assert ef.latest_eval(project) != eval_id

        # bad combinations are bad input (exit 2)
        assert main(["evaluate", project.slug, "--base-api-base", url]) == 2
        assert "give the model too" in capsys.readouterr().err
    for path in ef.evals_dir(project).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_download_progress_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.evaluate import hub_models as inference

    monkeypatch.setattr(inference, "BYTES_EVERY_S", 0.0)
    lines: list[str] = []
    bars = inference._progress_bars(lines.append, "org/name")
    with bars(desc="Fetching 2 files", total=2) as files:
        files.update(1)
    big = bars(desc="Reconstructing (incomplete total...)", total=2_500_000_000, unit="B", unit_scale=True)
    big.update(1_200_000_000)
    bars(desc="Downloading bytes", total=10, unit="B").update(5)  # Xet's network bytes: not reported twice
    assert lines == ["downloading org/name: 1/2 files", "downloading org/name: 1.2 GB of 2.5 GB"]
    quiet: list[str] = []
    with inference._progress_bars(quiet.append, "org/name", quiet=True)(total=1) as bar:
        bar.update(1)
    assert quiet == []
