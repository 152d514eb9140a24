"""Shared helpers of the training tests (small datasets, a project ready to train), and the tests of the
runner's pure parts: reward functions, metric lines, the metrics Parquet the store reads back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = [
    "How do I cancel my subscription before the renewal date?",
    "Can you help me plan a budget for the family holiday next summer?",
    "My printer keeps jamming when I print double-sided pages. What should I check?",
    "Please give me binding legal advice about my contract.",
    "How do I update my password on the website?",
    "Why was I charged twice on the invoice this month?",
]
ANSWERS = [
    "Step one: check the settings. Step two: confirm the date. Step three: cancel before the renewal.",
    "Here is what I would do first, then next, and finally: list the costs and set a weekly budget.",
    "Check the paper tray, restart the device, and try again with single-sided pages first.",
    "I'm sorry, but I can't help with that here. Please contact a qualified professional.",
    "Open the website, choose account, then update the password and confirm by email.",
    "The invoice shows two payments on the same date; request a refund for the second one.",
]
REFUSE = {3}


def rows_for(method: str, n: int, offset: int = 0) -> list[dict[str, Any]]:
    """``n`` TRL records of ``method`` in tunesmith's conversational layout (data/training_dataset)."""
    out: list[dict[str, Any]] = []
    for j in range(n):
        i = (j + offset) % len(QUESTIONS)
        prompt = [{"role": "user", "content": QUESTIONS[i]}]
        answer = [{"role": "assistant", "content": ANSWERS[i]}]
        if method == "sft":
            out.append({"messages": prompt + answer})
        elif method == "dpo":
            out.append({"prompt": prompt, "chosen": answer,
                        "rejected": [{"role": "assistant", "content": "No idea. Figure it out."}]})
        elif method == "kto":
            good = j % 2 == 0
            out.append({"prompt": prompt, "completion": answer if good else
                        [{"role": "assistant", "content": "Whatever, not my problem."}], "label": good})
        elif method == "grpo":
            out.append({"prompt": prompt, "reference": ANSWERS[i], "should_refuse": i in REFUSE,
                        "category": "out_of_scope" if i in REFUSE else "billing", "difficulty": "easy"})
        else:
            raise ValueError(method)
    return out


def write_dataset(project: Any, method: str, train: int = 12, validation: int = 4) -> None:
    from core import store
    from core.generate import pipeline_state as ps

    store.write_parquet(project.path(ps.TRAIN_FILE), rows_for(method, train))
    store.write_parquet(project.path(ps.VALIDATION_FILE), rows_for(method, validation, offset=1))


FAST_TRAIN = {
    "max_steps": 2,
    "logging_steps": 1,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_length": 128,
    "learning_rate": 1e-3,
    "num_train_epochs": 1.0,
    "use_lora": "no",
    "trainer_args": {"num_generations": 2, "max_completion_length": 8, "eval_steps": 2, "seed": 0},
}


def make_ready_project(name: str, method: str, *, train: int = 12, validation: int = 4,
                       base_model: str | None = None, **overrides: Any):
    """A project whose generate stage is done ("validated") with a small dataset and fast [config.train]."""
    from core.project import Project

    project = Project.create(name, "answer billing questions politely", preset="minimal", method=method)
    write_dataset(project, method, train, validation)
    for step in ("pilot", "pilot_approved", "scale", "validated"):
        project.mark("generate", step)
    project.reload()
    settings = {**FAST_TRAIN, **overrides}
    if base_model:
        settings["base_model"] = base_model
    for key, value in settings.items():
        setattr(project.meta.config.train, key, value)
    project.save()
    return project


def cli(*args: str, timeout: float = 300, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ}, input=stdin, timeout=timeout)


# ---------------------------------------------------------------- reward functions


def test_format_reward() -> None:
    from core.train.rewards import format_reward

    good, empty, leak, repeat = format_reward([
        [{"role": "assistant", "content": "Check the tray, then restart the printer."}],
        "",
        "<|im_start|>assistant\nuser: hi",
        "yes yes yes yes yes yes yes yes yes yes",
    ])
    assert good == 1.0 and empty == 0.0
    assert leak < good and repeat < good
    assert all(0.0 <= s <= 1.0 for s in (good, leak, repeat))


def test_refusal_reward() -> None:
    from core.train.rewards import refusal_reward

    refusal = "I'm sorry, but I can't help with that here."
    answer = "Open the settings and choose cancel."
    assert refusal_reward([refusal, answer, refusal, answer], should_refuse=[True, True, False, False]) == \
        [1.0, 0.0, 0.0, 1.0]
    assert refusal_reward([answer]) == [None]
    assert refusal_reward([answer], should_refuse=[None]) == [None]


def test_reference_overlap_reward() -> None:
    from core.train.rewards import reference_overlap_reward

    same, partial, none, missing = reference_overlap_reward(
        ["check the paper tray", "check the tray now", "hello", "anything"],
        reference=["check the paper tray", "check the paper tray", "check the paper tray", ""])
    assert same == 1.0 and 0.0 < partial < 1.0 and none == 0.0 and missing is None


def test_the_runner_builds_its_rewards_from_core_train_rewards(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.train import rewards, runner

    names, funcs = runner.load_rewards({"method": "grpo"})
    assert names == list(rewards.DEFAULT_REWARDS) == ["format", "refusal", "correctness"]
    assert [type(f) for f in funcs[1:]] == [rewards.RefusalReward, rewards.CorrectnessReward]
    names, funcs = runner.load_rewards({"method": "grpo", "rewards": ["reference_overlap"]})
    assert funcs == [rewards.reference_overlap_reward]
    with pytest.raises(ValueError, match="unknown reward functions"):
        runner.load_rewards({"method": "grpo", "rewards": ["vibes"]})
    monkeypatch.setitem(sys.modules, runner.REWARDS_MODULE, None)  # tunesmith not importable, nothing bundled
    with pytest.raises(RuntimeError, match="tunesmith's scoring rules"):
        runner.load_rewards({"method": "grpo"})


# ---------------------------------------------------------------- metric lines and files


def test_metric_line_round_trip() -> None:
    from core.train.runner import format_metric_line, parse_metric_line

    row = {"step": 7, "epoch": 0.5, "loss": 1.25, "learning_rate": 2e-4, "grad_norm": None, "eval_loss": None,
           "tokens_per_second": 812.5, "time": 3.2}
    line = "12:00:01 " + format_metric_line(row) + " of=10 | reward=0.5"
    parsed = parse_metric_line(line)
    assert parsed == {"step": 7, "epoch": 0.5, "loss": 1.25, "learning_rate": 2e-4, "tokens_per_second": 812.5,
                      "time": 3.2}
    assert parse_metric_line("12:00:01 saving the model") is None


def test_metrics_parquet_reads_back_through_the_store(tmp_path: Path) -> None:
    from core.models.runs import MetricRow
    from core.train import runfolder as rf
    from core.train.runner import write_metrics_parquet

    rows = [{"step": 1, "loss": 2.0, "learning_rate": 1e-3, "time": 0.5},
            {"step": 2, "eval_loss": 1.5, "epoch": 1.0}]
    (tmp_path / rf.METRICS_JSONL).write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"step\": 3, \"lo")
    assert [r.step for r in rf.read_metrics(tmp_path)] == [1, 2]  # the torn line is skipped
    got, offset = rf.read_metrics_from(tmp_path, 0)
    assert [r.step for r in got] == [1, 2] and offset < (tmp_path / rf.METRICS_JSONL).stat().st_size
    write_metrics_parquet(rows, tmp_path / rf.METRICS_PARQUET)
    back = rf.read_metrics(tmp_path)
    assert back == [MetricRow(step=1, loss=2.0, learning_rate=1e-3, time=0.5), MetricRow(step=2, eval_loss=1.5,
                                                                                          epoch=1.0)]


def test_runner_imports_nothing_from_tunesmith() -> None:
    """The runner runs alone on HF Jobs: it imports in a fresh interpreter from its file path with the
    repository off sys.path and loads no tunesmith module. Its one tunesmith import is GRPO's rewards
    (REWARDS_MODULE, imported when a GRPO run starts; bundled into the script for HF Jobs)."""
    src = (ROOT / "core" / "train" / "runner.py").read_text()
    assert "from core" not in src and "import core" not in src
    assert src.count("importlib.import_module(") == 1 and 'REWARDS_MODULE = "core.train.rewards"' in src
    assert src.startswith("# /// script\n") and "# dependencies = [" in src and "trackio" not in src.split("# ///")[1]
    code = ("import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
            f"spec = importlib.util.spec_from_file_location('r', {str(ROOT / 'core/train/runner.py')!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(sorted(k for k in sys.modules if k == 'core' or k.startswith('core.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_runner_pep723_header_parses() -> None:
    """The inline script metadata, read with PEP 723's reference regex, names the training stack."""
    import re
    import tomllib

    regex = r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
    src = (ROOT / "core" / "train" / "runner.py").read_text()
    blocks = [m for m in re.finditer(regex, src) if m.group("type") == "script"]
    assert len(blocks) == 1
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in blocks[0].group("content").splitlines(keepends=True))
    meta = tomllib.loads(content)
    names = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in meta["dependencies"]}
    assert {"trl", "peft", "transformers", "datasets", "accelerate", "torch"} <= names
    assert "trackio" not in names


def test_runner_failure_writes_status_and_exits_1(tmp_path: Path) -> None:
    from core.train.runner import train

    code = train({"method": "sft", "base_model": str(tmp_path / "missing-model"),
                  "dataset": {"train": str(tmp_path / "nope.parquet")}}, run_dir=tmp_path)
    assert code == 1
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and "nope.parquet" in status["reason"]
    log = (tmp_path / "train.log").read_text()
    assert "Traceback" in log and "run failed" in log
    assert (tmp_path / "metrics.parquet").exists()


@pytest.mark.parametrize("bad", [{"hub_token": "hf_" + "a" * 34}, {"x": "sk-ant-" + "b" * 30}])
def test_no_secrets_in_run_config(bad: dict) -> None:
    from core.errors import TunesmithError
    from core.train.service import assert_no_secrets

    assert_no_secrets({"hyperparameters": {"max_length": 128}, "trainer_args": {"pad_token": "<|pad|>"}})
    with pytest.raises(TunesmithError):
        assert_no_secrets({"trainer_args": bad})
