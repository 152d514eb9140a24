"""`tunesmith generate NAME --pilot | --scale [--target N] [--budget USD] [--yes] | --resume` and
`tunesmith review NAME pilot`: output, questions read from stdin, exit codes (0 / 1 / 2)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.generate import pipeline_state as ps
from core.generate import report as rp
from core.generate import review as rv
from core.models.data import GenerationReport
from core.project import Project
from tests.test_generate_pipeline import dataset_rows, fast_embeddings, ready_project  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


class Piped(io.StringIO):
    def isatty(self) -> bool:
        return False


def run(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str,
        stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", Piped(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def project(projects_root: Path, fast_embeddings) -> Project:
    return ready_project(projects_root)


def test_generate_needs_an_llm_and_ready_stages(capsys, monkeypatch, project: Project,
                                                projects_root: Path) -> None:
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--pilot")
    assert code == 1 and "needs an LLM (generator role): set TUNESMITH_MODEL" in err and "Traceback" not in err
    code, _, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale")
    assert code == 1 and "tunesmith review helpdesk pilot" in err
    code, _, err = run(capsys, monkeypatch, "generate", "helpdesk", "--resume")
    assert code == 1 and "pilot is not approved" in err
    code, _, err = run(capsys, monkeypatch, "review", "helpdesk", "pilot")
    assert code == 1 and "tunesmith generate helpdesk --pilot" in err
    Project.create("Raw", "t", root=projects_root)
    code, _, err = run(capsys, monkeypatch, "generate", "raw", "--pilot")
    assert code == 1 and "boundaries" in err
    assert run(capsys, monkeypatch, "generate", "nobody", "--pilot")[0] == 2


def test_usage_errors_exit_2(capsys, monkeypatch, project: Project) -> None:
    for argv in (["generate", "helpdesk"], ["generate", "helpdesk", "--pilot", "--scale"],
                 ["generate", "helpdesk", "--scale", "--target", "lots"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    code, _, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "0")
    assert code == 2 and "--target: must be at least 1" in err
    code, _, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--budget", "-1")
    assert code == 2 and "--budget" in err


def test_pilot_review_and_scale_from_the_cli(fake_llm, capsys, monkeypatch, project: Project) -> None:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--pilot")
    assert code == 0, err
    assert "pilot: 50 examples" in out and "pilot attempt 1:" in out and "examples passed the filters" in out
    assert "next: spot-check the pilot: tunesmith review helpdesk pilot" in out
    thresholds = [ln for ln in out.splitlines() if "thresholds: " in ln]
    assert thresholds and "min_length" in thresholds[0] and "diversity_threshold" in thresholds[0]
    assert "warning: threshold" not in out, "how a threshold was set is a setting, not a warning"
    pilot_report = project.read(ps.PILOT_REPORT, GenerationReport)
    assert pilot_report.settings and not any("min_length" in n for n in pilot_report.notes)

    code, out, err = run(capsys, monkeypatch, "review", "helpdesk", "pilot", stdin="y\nmaybe\n")
    assert code == 2 and "stdin line 2: 'maybe'" in err and "saved (1/5)" in out
    code, out, _ = run(capsys, monkeypatch, "review", "helpdesk", "pilot", stdin="y\n")
    assert code == 0 and "3 examples left to rate" in out and "[2/5]" in out
    code, out, _ = run(capsys, monkeypatch, "review", "helpdesk", "pilot", stdin="n name the bill's due date\ny\ny\n")
    assert code == 0 and "rejected: 4 of 5 rated good (80%)" in out and "generate helpdesk --pilot" in out
    assert "next: generate the pilot" in out

    code, out, _ = run(capsys, monkeypatch, "generate", "helpdesk", "--pilot")
    assert code == 0
    code, out, _ = run(capsys, monkeypatch, "review", "helpdesk", "pilot", stdin="y\n" * 5)
    assert code == 0 and "approved: 5 of 5 rated good (100%)" in out and "next: scale up" in out

    code, out, _ = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "30", stdin="n\n")
    assert code == 1 and "projection: 30 more examples" in out and "scale-up not started" in out
    code, out, _ = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "30")  # EOF: no
    assert code == 1 and "not started" in out and not project.exists(ps.SCALE_STATE)

    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "30", stdin="y\n")
    assert code == 0, err
    lines = out.splitlines()
    parts = [ln for ln in lines if ln.startswith("scale part ")]
    assert len(parts) >= 3 and "/30 kept" in parts[0] and "examples/s" in parts[0] and "tokens" in parts[0]
    assert len(lines) < 30  # one line per part, not a flood
    assert "dataset: 30 examples (train 27, validation 3)" in out and "TRL format validation passed" in out
    assert "next: plan the training run" in out
    train, val = dataset_rows(project)
    assert len(train) + len(val) == 30
    assert "thresholds: min_length" in out
    assert "- Thresholds: min_length" in rp.write_dataset_card(project)

    code, out, _ = run(capsys, monkeypatch, "generate", "helpdesk", "--resume")  # finished: harmless
    assert code == 0 and "dataset: 30 examples" in out
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "20", "--yes")
    assert code == 1 and "--replace" in err  # a finished dataset is replaced only when that is confirmed
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "20", "--yes",
                         "--replace")
    assert code == 0 and "dataset: 20 examples" in out  # a finished scale-up may be replaced


def test_refusal_sentence_from_the_cli(capsys, monkeypatch, project: Project) -> None:
    from core.extract import boundaries as bd
    from core.refusal import rule_for

    code, out, err = run(capsys, monkeypatch, "boundaries", "helpdesk", "--refusal", "Sure, here is a poem.")
    assert code == 2 and "--refusal" in err and "decline plainly" in err
    sentence = "I'm sorry, but I can't help with that here: I only answer   helpdesk questions."
    code, out, err = run(capsys, monkeypatch, "boundaries", "helpdesk", "--refusal", sentence)
    assert code == 0, err
    assert "REFUSAL SENTENCE" in out and "I only answer helpdesk questions." in out
    reopened = Project.open("helpdesk", project.folder.parent)
    assert rule_for(reopened).message == "I'm sorry, but I can't help with that here: I only answer helpdesk questions."
    assert bd.load(reopened).refusal_message == rule_for(reopened).message


def test_budget_flag_and_cap(fake_llm, capsys, monkeypatch, project: Project) -> None:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    assert run(capsys, monkeypatch, "generate", "helpdesk", "--pilot")[0] == 0
    assert run(capsys, monkeypatch, "review", "helpdesk", "pilot", stdin="y\n" * 5)[0] == 0
    report = project.read(ps.PILOT_REPORT, GenerationReport)
    project.write(ps.PILOT_REPORT, report.model_copy(update={"cost_usd": 0.5}))  # $0.01 per example
    project.reload()
    project.meta.config.generate.budget_usd = 1.0
    project.save()
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "200", "--yes")
    assert code == 1 and "above the budget cap of $1.00" in err and "--budget" in err
    assert "projection: 200 more examples" in out and not project.exists(ps.SCALE_STATE)
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "200",
                         "--budget", "25", stdin="n\n")
    assert code == 1 and "budget $25.00" in out and "not started" in out  # within the cap: asked, declined
    project.reload()
    assert project.meta.config.generate.budget_usd == 25.0


def test_paused_run_says_how_to_resume(fake_llm, capsys, monkeypatch, project: Project) -> None:
    from core.llm.errors import CircuitOpen
    from tests.fakes.generate_replies import install

    install(fake_llm)
    assert run(capsys, monkeypatch, "generate", "helpdesk", "--pilot")[0] == 0
    assert run(capsys, monkeypatch, "review", "helpdesk", "pilot", stdin="y\n" * 5)[0] == 0

    def boom(*a, **kw):
        raise CircuitOpen("paused: the provider has failed 8 times in a row (last error: 500); fix it and resume")

    monkeypatch.setattr("core.generate.pipeline_scale.run_scale", boom)
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "10", "--yes")
    assert code == 1 and "failed 8 times" in err and "tunesmith generate helpdesk --resume" in err


@pytest.mark.slow
def test_cli_in_a_subprocess(fake_llm, project: Project) -> None:
    """The real entry point, piping the answers."""
    from tests.fakes.generate_replies import install

    install(fake_llm)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, cwd=ROOT,
                              env=dict(os.environ), input=stdin, timeout=300)

    from core.generate.pipeline import run_pilot
    from tests.test_generate_pipeline import gateway

    run_pilot(project, gateway(project))  # in-process (fast embeddings); the subprocesses use MiniLM
    r = cli("review", "helpdesk", "pilot", stdin="y\n" * 5)
    assert r.returncode == 0 and "approved" in r.stdout, r.stderr[-2000:]
    r = cli("generate", "helpdesk", "--scale", "--target", "12", stdin="y\n")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "dataset: 12 examples" in r.stdout and "Traceback" not in r.stderr
    summary = rp.read_summary(project)
    assert summary.scale.kept == 12 and summary.pilot_review.outcome == "approved"  # type: ignore[union-attr]
    assert rv.current_round(project).approved
