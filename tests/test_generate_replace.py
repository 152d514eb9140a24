"""A finished dataset is never deleted without a confirmation (issue 13 item 5): `generate --scale` over
one needs --replace (or a "y" in a terminal; --yes is not enough); a replacement sets the old data aside
and puts it back, byte for byte, when the new run fails; the set-aside copy goes once the new dataset is
finalised."""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.generate import pipeline_state as ps
from core.generate import previous
from core.project import Project
from tests.test_generate_pipeline import dataset_rows, fast_embeddings, ready_project  # noqa: F401


class Piped(io.StringIO):
    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(capsys, monkeypatch, *args: str, stdin: str = "", tty: bool = False) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", (Terminal if tty else Piped)(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def digest(project: Project) -> dict[str, str]:
    """Every file of data/ with its hash, and the generate stage's marks."""
    folder = project.path("data")
    files = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    project.reload()
    marks = {m: project.meta.is_done("generate", m) for m in ("scale", "validated")}
    return {**files, **{f"mark:{k}": str(v) for k, v in marks.items()}}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A project whose scale-up finished (a 20-example dataset), built once per module."""
    from tests.conftest import _LLM_ENV  # noqa: F401 (the variables the autouse fixture clears)
    from tests.fakes import fake_env
    from tests.fakes.generate_replies import install
    from tests.fakes.llm_server import FakeLLMServer
    from tests.test_generate_pipeline import HashEmbedder
    from core.embed import Embedder

    root = tmp_path_factory.mktemp("replace") / "projects"
    root.mkdir()
    with FakeLLMServer() as server, pytest.MonkeyPatch.context() as mp:
        install(server)
        for key, value in fake_env(server.base_url).items():
            mp.setenv(key, value)
        mp.setenv("TUNESMITH_PROJECTS", str(root))
        mp.setattr(Embedder, "for_project", classmethod(lambda cls, project, **kw: HashEmbedder()))
        ready_project(root)
        for argv, stdin in ((["generate", "helpdesk", "--pilot"], ""), (["review", "helpdesk", "pilot"], "y\n" * 5),
                            (["generate", "helpdesk", "--scale", "--target", "20", "--yes"], "")):
            mp.setattr(sys, "stdin", Piped(stdin))
            assert main(argv) == 0, argv
    return root / "helpdesk"


@pytest.fixture
def finished(template: Path, fake_llm, projects_root: Path, fast_embeddings) -> Project:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    shutil.copytree(template, projects_root / "helpdesk")
    return Project.open("helpdesk", projects_root)


def test_without_replace_the_finished_dataset_stays(finished: Project, capsys, monkeypatch) -> None:
    before = digest(finished)
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "12", "--yes")
    assert code == 1, out + err
    assert "--replace" in err and "finished dataset (20 examples)" in err and "Nothing was changed" in err
    assert "Traceback" not in err and "projection:" not in out  # refused before anything else
    assert digest(finished) == before
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--restart", "--yes")
    assert code == 1 and "--replace" in err and digest(finished) == before
    # the core refuses too (the TUI and scripts go through it)
    from core.generate.pipeline_scale import run_scale

    with pytest.raises(previous.DatasetExists, match="--replace"):
        run_scale(finished, target=12)
    assert digest(finished) == before


def test_in_a_terminal_the_question_decides(finished: Project, capsys, monkeypatch) -> None:
    before = digest(finished)
    code, out, _ = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "12", "--yes",
                       stdin="n\n", tty=True)
    assert code == 1 and "replace it?" in out and "finished dataset is untouched" in out
    assert digest(finished) == before
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "12", "--yes",
                         stdin="y\n", tty=True)
    assert code == 0 and "dataset: 12 examples" in out, err


def test_replace_succeeds_and_drops_the_set_aside_copy(finished: Project, capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "12", "--yes",
                         "--replace")
    assert code == 0, err
    assert "is set aside in" in out and "dataset: 12 examples" in out
    train, val = dataset_rows(finished)
    assert len(train) + len(val) == 12
    assert not finished.exists(previous.PREVIOUS_DIR)
    finished.reload()
    assert finished.meta.is_done("generate", "scale")


def test_a_failed_replacement_puts_the_old_dataset_back(finished: Project, capsys, monkeypatch) -> None:
    """A budget cap reached after the new run wrote a part: everything of the old data comes back."""
    from core.generate import pipeline_run
    from core.llm.errors import BudgetExceeded

    before = digest(finished)
    real = pipeline_run.ScaleRun._write
    seen: dict[str, object] = {}

    def write_then_cap(self, number, *a):
        real(self, number, *a)
        seen["aside"] = finished.exists(previous.MANIFEST) and not finished.exists(ps.TRAIN_FILE)
        raise BudgetExceeded("paused: the budget cap of $1.00 is spent ($1.00 so far)")

    monkeypatch.setattr(pipeline_run.ScaleRun, "_write", write_then_cap)
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "40", "--yes",
                         "--replace")
    assert code == 1 and "budget cap" in err and "previous dataset (20 examples) is back" in err, err
    assert "--scale --replace" in err and "--resume" not in err
    assert seen["aside"] is True  # the new run ran with the old data set aside
    assert digest(finished) == before
    assert not finished.exists(previous.PREVIOUS_DIR)


def test_a_provider_that_fails_puts_the_old_dataset_back(finished: Project, fake_llm, capsys,
                                                         monkeypatch) -> None:
    """Every generation request of the new run fails at the fake server: the run stops, the data is back."""
    from core.generate import pipeline_run

    monkeypatch.setattr(pipeline_run, "MAX_EMPTY_TASKS", 3)
    before = digest(finished)
    fake_llm.inject("server_error", times=10_000, status=400)
    try:
        code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "12", "--yes",
                             "--replace")
    finally:
        fake_llm.reset()
    assert code == 1 and "previous dataset (20 examples) is back" in err, out + err
    assert digest(finished) == before


def test_a_killed_replacement_is_recovered_by_the_next_command(finished: Project, capsys, monkeypatch) -> None:
    before = digest(finished)
    with finished.writing():
        previous.set_aside(finished)
        finished.mark("generate", "scale", done=False)
    (finished.path(ps.SCALE_DIR)).mkdir(parents=True)  # what a killed new run left behind
    finished.path(ps.SCALE_STATE).write_text("half a state")
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--scale", "--target", "12", "--yes")
    assert "did not finish: the previous dataset (20 examples) is back" in out
    assert code == 1 and "--replace" in err  # and the finished dataset is refused as usual
    assert digest(finished) == before


def test_resume_needs_no_replace(finished: Project, capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "generate", "helpdesk", "--resume")
    assert code == 0 and "dataset: 20 examples" in out, err
    code, _, err = run(capsys, monkeypatch, "generate", "helpdesk", "--resume", "--replace")
    assert code == 2 and "--replace: only with --scale" in err
