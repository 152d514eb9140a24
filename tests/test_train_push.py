"""The runner pushes the trained model to the Hub with a model card that links the dataset and the run
config: the real huggingface_hub client against the local fake Hub (tests/fakes/hf_jobs_server.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_train_common import ROOT, rows_for


@pytest.mark.slow
def test_runner_pushes_model_and_card(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.fakes.hf_jobs_server import FakeHFJobsServer
    from tests.fakes.tiny_model import tiny_model_path

    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_pylist(rows_for("kto", 8)), data / "train.parquet")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = {
        "run_id": "20260101-000000-kto-abcd", "method": "kto", "base_model": str(tiny_model_path()),
        "dataset": {"train": "../data/train.parquet"}, "use_lora": True,
        "hyperparameters": {"max_steps": 1, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1,
                            "logging_steps": 1, "max_length": 96},
        "push_to_hub": True, "hub_model_id": "alice/billing-bot-kto", "hub_private": True,
        "dataset_url": "https://huggingface.co/datasets/alice/billing-bot-data",
        "project": {"name": "Billing Bot", "task": "Answer billing questions politely."},
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    with FakeHFJobsServer(user="alice") as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_" + "f" * 34, "HF_HUB_OFFLINE": "0",
               "HF_HUB_DISABLE_TELEMETRY": "1"}
        r = subprocess.run([sys.executable, str(ROOT / "core/train/runner.py"), "--config", str(run_dir / "config.json")],
                           capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, (run_dir / "train.log").read_text()[-3000:]
        repo = hub.repos["models/alice/billing-bot-kto"]
    assert repo.private
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json",
            "tunesmith_run.json"} <= set(repo.files)
    card = repo.files["README.md"].decode()
    assert "https://huggingface.co/datasets/alice/billing-bot-data" in card
    assert "## Run configuration" in card and '"method": "kto"' in card and "LoRA (r 16, alpha 32" in card
    assert "Answer billing questions politely." in card
    assert "hf_fff" not in card and "hf_fff" not in repo.files["tunesmith_run.json"].decode()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "completed" and status["hub_url"].endswith("alice/billing-bot-kto")
    assert "pushed the model to" in (run_dir / "train.log").read_text()


def test_push_without_a_repo_id_fails_before_training(tmp_path: Path) -> None:
    from core.train.runner import train

    code = train({"method": "sft", "base_model": "x", "dataset": {"train": "d.parquet"}, "push_to_hub": True},
                 run_dir=tmp_path)
    assert code == 1
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and "hub_model_id" in status["reason"]
