"""The runner shipped to HF Jobs with tunesmith's scoring rules embedded (core/train/bundle.py): the module
closure, the guard against imports the job cannot install, and the bundled script in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.train import bundle


def test_the_closure_is_the_rewards_and_what_they_import() -> None:
    sources, third_party = bundle.closure()
    assert {"core.train.rewards", "core.refusal", "core.evaluate.scorers_match", "core.evaluate.scorers_functional",
            "core.generate.filters.text", "core.llm.jsonrepair"} <= set(sources)
    assert not any(name.endswith("__init__") for name in sources)
    assert "core.evaluate.scorers" not in sources and "core.llm.gateway" not in sources  # no LLM stack
    assert third_party <= bundle._dependency_names(bundle.RUNNER)  # the job installs every one of them


def _fake_core(root: Path, files: dict[str, str]) -> Path:
    for name, text in {"core/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_import_the_job_cannot_install_fails_at_submission(tmp_path: Path) -> None:
    root = _fake_core(tmp_path, {"core/x.py": "import json\nimport litellm\nfrom core.y import f\n",
                                 "core/y.py": "def f():\n    import torch  # only when called\n"})
    sources, third_party = bundle.closure(("core.x",), tmp_path)
    assert set(sources) == {"core.x", "core.y"} and third_party == {"litellm"}
    with pytest.raises(bundle.BundleError, match="litellm"):
        bundle.build_script(roots=("core.x",), root=root)


def test_names_from_a_package_init_cannot_be_bundled(tmp_path: Path) -> None:
    _fake_core(tmp_path, {"core/x.py": "from core.pkg import helper\n", "core/pkg/__init__.py": "helper = 1\n"})
    with pytest.raises(bundle.BundleError, match="from the package core.pkg"):
        bundle.closure(("core.x",), tmp_path)
    _fake_core(tmp_path, {"core/x.py": "from core.pkg import mod\n", "core/pkg/mod.py": "VALUE = 2\n"})
    assert set(bundle.closure(("core.x",), tmp_path)[0]) == {"core.x", "core.pkg.mod"}


def test_the_marker_must_be_there_once(tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text("# /// script\n# dependencies = []\n# ///\nprint('no table')\n")
    with pytest.raises(bundle.BundleError, match="exactly once"):
        bundle.build_script(runner)


def test_the_bundled_script_serves_only_its_modules(tmp_path: Path) -> None:
    script = bundle.write_script(tmp_path)
    assert script.read_text().startswith("# /// script\n") and bundle.MARKER not in script.read_text()
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("shipped", {str(script)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
assert not any(k == "core" or k.startswith("core.") for k in sys.modules)  # nothing before GRPO asks
names, funcs = m.load_rewards({{"method": "grpo"}})
print(names, sys.modules["core.train.rewards"].__spec__.origin)
try:
    import core.evaluate.scorers
except ModuleNotFoundError as exc:
    print("refused:", exc)
"""
    res = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "['format', 'refusal', 'correctness'] bundled:core.train.rewards" in res.stdout
    assert "refused: core.evaluate.scorers is not bundled into this runner script" in res.stdout
