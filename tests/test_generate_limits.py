"""Sizes out of range are refused before anything is read, deleted or spent (a finished dataset stays)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "projects"
    shutil.copytree(ROOT / "projects" / "billing-support", root / "billing-support")
    return root


def _cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "TUNESMITH_ALLOW_LARGE_TARGET"}
    full.update({"TUNESMITH_PROJECTS": str(root), "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env})
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=full,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("target", ["1000000000000", "99999999999999999999", "10001"])
def test_a_huge_target_is_refused_and_the_finished_dataset_stays(example: Path, target: str) -> None:
    folder = example / "billing-support"
    before = _digest(folder / "data")
    r = _cli(example, "generate", "billing-support", "--scale", "--target", target, "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "--target: at most 10,000 examples" in r.stderr and "TUNESMITH_ALLOW_LARGE_TARGET=1" in r.stderr
    assert _digest(folder / "data") == before


def test_the_override_raises_the_limit_but_not_without_bound(example: Path) -> None:
    r = _cli(example, "generate", "billing-support", "--scale", "--target", "99999999999999999999", "--yes",
             TUNESMITH_ALLOW_LARGE_TARGET="1")
    assert r.returncode == 2 and "at most 1,000,000 examples" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("budget", ["nan", "-1", "inf"])
def test_a_budget_that_is_not_an_amount_is_refused(example: Path, budget: str) -> None:
    r = _cli(example, "generate", "billing-support", "--scale", "--budget", budget, "--yes")
    assert r.returncode == 2 and "--budget: must be a dollar amount" in r.stderr and "Traceback" not in r.stderr


def test_run_scale_checks_the_target_first() -> None:
    from core.errors import BadInput
    from core.generate.pipeline_scale import MAX_TARGET, check_target

    check_target(MAX_TARGET)
    with pytest.raises(BadInput):
        check_target(MAX_TARGET + 1)
    with pytest.raises(BadInput):
        check_target(0)
