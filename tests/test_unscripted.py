"""The CLI contract end to end against a model nobody scripted.

The fake server answers every structured request with a random but schema-valid instance
(tests/fakes/schema_faker.py): nonsense text of the right shape, as an unfamiliar model might give.
Every command must still finish with a clear result and a consistent project folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import fake_env
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.schema_faker import fake_instance, wants_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_skill_one_against_an_unscripted_model(tmp_path: Path) -> None:
    with FakeLLMServer() as srv:
        srv.on(wants_schema, fake_instance)
        env = {**os.environ, **fake_env(srv.base_url), "TUNESMITH_PROJECTS": str(tmp_path)}

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
            r = subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True,
                               env=env, input=stdin, cwd=ROOT, timeout=600)
            assert "Traceback" not in r.stderr, r.stderr
            return r

        assert run("new", "Tax Helper", "--task", "help freelancers prepare a quarterly VAT return").returncode == 0
        r = run("interview", "tax-helper", "--persona", "2", stdin="\n" * 40)
        assert r.returncode == 0 and "interview complete" in r.stdout
        r = run("boundaries", "tax-helper", "--approve")
        assert r.returncode == 0 and "approved" in r.stdout
        r = run("evalset", "tax-helper", "--size", "50")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        r = run("review", "tax-helper", "evalset", stdin="y\n" * 30)
        assert r.returncode == 0 and "frozen" in r.stdout
        r = run("status", "tax-helper", "--json")
        assert '"status": "done"' in r.stdout
