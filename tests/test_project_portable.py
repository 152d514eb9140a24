"""A project folder that can be shared: a .gitignore for the regenerable and large state, paths to its own
runs stored relative to the folder (so a copy or a clone finds them), files written with the umask's mode,
and a NAME that is a path refused instead of opening a folder outside the projects folder."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core import store
from core.errors import BadInput, ProjectNotFound
from core.models.runs import TrainingRun
from core.project import GITIGNORE, GITIGNORE_TEXT, PROJECT_TOML, Project, list_projects

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- .gitignore


def test_a_new_project_has_a_commented_gitignore(projects_root: Path) -> None:
    p = Project.create("Git Bot", "answer questions about git")
    text = (p.folder / GITIGNORE).read_text(encoding="utf-8")
    assert text == GITIGNORE_TEXT
    lines = text.splitlines()
    patterns = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    for pattern in (".lock", ".cache/", "runs/*/model/", "data/scale/part-*.parquet", "evals/cache/"):
        assert pattern in patterns
    for i, ln in enumerate(lines):  # every pattern says what it is on the line above
        if ln in patterns:
            assert lines[i - 1].startswith("# "), ln


@pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")
def test_git_ignores_the_regenerable_state_and_keeps_the_artifacts(projects_root: Path) -> None:
    p = Project.create("Git Bot", "answer questions about git")
    f = p.folder
    files = {
        "ignored": [".lock", ".cache/llm.sqlite", ".cache/embeddings/x.npy", "runs/r1/model/model.safetensors",
                    "runs/r1/model/checkpoint-10/optimizer.pt", "runs/r1/checkpoint-5/x.bin",
                    "data/scale/part-00001.parquet", "evals/cache/abc.parquet", "knowledge/.interview.toml.x1.tmp"],
        "kept": ["project.toml", "knowledge/interview.toml", "knowledge/eval_set.parquet", "data/scale/state.toml",
                 "data/scale/review_sample.parquet", "data/training_dataset/train.parquet", "runs/r1/run.toml",
                 "runs/r1/train.log", "runs/r1/metrics.parquet", "evals/e1/eval.toml", "evals/e1/results.parquet",
                 "exports/eval_set.jsonl", ".gitignore"],
    }
    for rel in files["ignored"] + files["kept"]:
        (f / rel).parent.mkdir(parents=True, exist_ok=True)
        if not (f / rel).exists():
            (f / rel).write_text("x")
    subprocess.run(["git", "init", "-q"], cwd=f, check=True)
    out = subprocess.run(["git", "check-ignore", "--no-index", *files["ignored"], *files["kept"]], cwd=f,
                         capture_output=True, text=True)
    assert set(out.stdout.split()) == set(files["ignored"])


def test_a_users_own_gitignore_is_never_overwritten(projects_root: Path) -> None:
    p = Project.create("Git Bot", "answer questions about git")
    (p.folder / GITIGNORE).write_text("# mine\n*.parquet\n")
    p.save()
    Project.open("git-bot").save()
    assert (p.folder / GITIGNORE).read_text() == "# mine\n*.parquet\n"


def test_an_older_project_gets_one_when_opened_for_writing(projects_root: Path) -> None:
    p = Project.create("Old Bot", "answer questions")
    (p.folder / GITIGNORE).unlink()
    q = Project.open("old-bot")
    q.status_dict()  # reading writes nothing
    assert not (p.folder / GITIGNORE).exists()
    q.save()
    assert (p.folder / GITIGNORE).read_text() == GITIGNORE_TEXT


# ---------------------------------------------------------------- paths relative to the project


def _train_and_evaluate(project: Project, tiny: Path) -> tuple[str, str]:
    """A completed local run (its model a perturbed tiny model, output_model recorded the way the local
    backend records it: an absolute path) and an offline evaluation of it against the tiny base."""
    from core.evaluate.run import evaluate
    from core.train import runfolder as rf
    from tests.test_eval_run import FAST, add_knowledge, freeze, perturbed_copy

    add_knowledge(project)
    freeze(project)
    run_id = "20250101-000000-sft-beef"
    folder = rf.run_dir(project, run_id)
    folder.mkdir(parents=True)
    perturbed_copy(tiny, folder / rf.MODEL_DIR)
    rf.write_run(folder, TrainingRun(run_id=run_id, backend="local", method="sft", base_model=str(tiny),
                                     status="completed", created_at=NOW,
                                     output_model=str((folder / rf.MODEL_DIR).resolve()),
                                     config={"base_model": str(tiny), "output_dir": "model"}))
    outcome = evaluate(project, params=FAST)
    return run_id, outcome.eval_id


@pytest.fixture(scope="module")
def tiny() -> Path:
    from tests.fakes.tiny_model import tiny_model_path

    return Path(tiny_model_path()).resolve()


def test_a_copied_project_resolves_its_runs_and_models_in_the_new_place(tmp_path: Path, projects_root: Path,
                                                                         tiny: Path) -> None:
    from core.evaluate import evalfolder as ef
    from core.evaluate.inference import resolve_models
    from core.evaluate.run import decide_now
    from core.train import runfolder as rf

    project = Project.create("Move Bot", "answer device and billing questions", preset="standard")
    run_id, eval_id = _train_and_evaluate(project, tiny)
    old = project.folder.resolve()

    run_toml = tomllib.loads((old / "runs" / run_id / "run.toml").read_text())
    assert run_toml["output_model"] == f"runs/{run_id}/model"  # inside the project: relative
    assert run_toml["base_model"] == str(tiny) and run_toml["config"]["base_model"] == str(tiny)  # outside: absolute
    eval_toml = tomllib.loads((old / "evals" / eval_id / "eval.toml").read_text())
    assert eval_toml["candidate"]["model"] == f"runs/{run_id}/model"
    assert eval_toml["candidate"]["spec"] == f"runs/{run_id}/model"
    assert eval_toml["base"]["model"] == str(tiny)
    for f in old.rglob("*"):  # nothing the project wrote names where it is (the model's own files aside)
        if f.is_file() and "model" not in f.relative_to(old).parts and ".cache" not in f.parts:
            assert str(old).encode() not in f.read_bytes(), f

    elsewhere = tmp_path / "elsewhere" / "projects"
    shutil.copytree(old, elsewhere / "move-bot", ignore=shutil.ignore_patterns(".lock"))
    shutil.rmtree(old)  # nothing may point at the old place
    moved = Project.open("move-bot", elsewhere)
    new = moved.folder.resolve()

    run = rf.read_run(rf.run_dir(moved, run_id))
    assert Path(run.output_model) == new / "runs" / run_id / "model" and Path(run.output_model).is_dir()
    assert run.base_model == str(tiny)
    record = ef.read_record(moved, eval_id)  # as stored: relative, so reports and exports name no folder
    assert record.candidate.model == f"runs/{run_id}/model" and record.base.model == str(tiny)
    assert ef.model_path(moved, record.candidate) == new / "runs" / run_id / "model"
    assert ef.resolved_ref(moved, record.candidate).model == str(new / "runs" / run_id / "model")
    assert ef.model_path(moved, record.base) == tiny
    from core.evaluate.inference import Item, generate_outputs
    from tests.test_eval_run import FAST

    out = generate_outputs(record.candidate, [Item("q", "How do I reset my router?")], FAST, project=moved,
                           cache=tmp_path / "no-cache")  # the record's model loads from the new place
    assert set(out) == {"q"}
    base, cand = resolve_models(moved)
    assert Path(cand.model) == new / "runs" / run_id / "model" and cand.run_id == run_id
    decision = decide_now(moved)  # reads the record, the results and writes the report in the new place
    assert decision.verdict
    report = ef.path(moved, eval_id, ef.REPORT).read_text(encoding="utf-8")
    assert str(old) not in report

    ef.write_record(moved, record)  # a rewrite keeps the paths relative
    assert tomllib.loads(ef.path(moved, eval_id, ef.RECORD).read_text())["candidate"]["model"] == \
        f"runs/{run_id}/model"


def test_older_absolute_paths_still_load_and_outside_paths_stay_absolute(projects_root: Path, tmp_path: Path) -> None:
    from core.evaluate import evalfolder as ef
    from core.train import runfolder as rf

    project = Project.create("Old Paths", "answer questions")
    folder = rf.run_dir(project, "r1")
    folder.mkdir(parents=True)
    inside = str((folder / "model").resolve())
    outside = str((tmp_path / "models" / "base").resolve())
    (folder / "run.toml").write_text(  # as an older tunesmith wrote it: absolute
        f'schema_version = 1\nrun_id = "r1"\nbackend = "local"\nmethod = "sft"\nbase_model = "{outside}"\n'
        f'status = "completed"\ncreated_at = 2025-01-01T00:00:00Z\noutput_model = "{inside}"\n')
    run = rf.read_run(folder)
    assert run.output_model == inside and run.base_model == outside
    rf.write_run(folder, run)
    data = tomllib.loads((folder / "run.toml").read_text())
    assert data["output_model"] == "runs/r1/model" and data["base_model"] == outside
    assert rf.read_run(folder).output_model == str(Path(os.path.abspath(project.folder)) / "runs/r1/model")

    hub = rf.run_dir(project, "r2")
    hub.mkdir()
    rf.write_run(hub, TrainingRun(run_id="r2", backend="hf_jobs", method="sft", base_model="Qwen/Qwen2.5-0.5B",
                                  created_at=NOW, output_model="me/r2-model", hub_model_id="me/r2-model"))
    r2 = rf.read_run(hub)
    assert r2.output_model == "me/r2-model" and r2.base_model == "Qwen/Qwen2.5-0.5B"  # Hub ids are not paths

    rec = ef.EvalRecord(eval_id="e1", created_at=NOW, eval_set_hash="h",
                        base=ef.ModelRef(spec="hf:Qwen/Qwen2.5-0.5B", kind="hub", model="Qwen/Qwen2.5-0.5B"),
                        candidate=ef.ModelRef(spec=inside, kind="local", model=inside, run_id="r1",
                                              adapter_base=outside))
    ef.eval_dir(project, "e1").mkdir(parents=True)
    store.write_toml(ef.path(project, "e1", ef.RECORD), rec)  # older: absolute, written as is
    assert ef.read_record(project, "e1").candidate.model == inside
    ef.write_record(project, ef.read_record(project, "e1"))
    data = tomllib.loads(ef.path(project, "e1", ef.RECORD).read_text())
    assert data["candidate"]["model"] == "runs/r1/model" and data["candidate"]["adapter_base"] == outside
    assert data["base"]["model"] == "Qwen/Qwen2.5-0.5B"


# ---------------------------------------------------------------- the umask


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_written_with_the_umask(projects_root: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        assert store.current_umask() == umask
        p = Project.create("Mode Bot", "answer questions")
        assert _mode(p.folder / PROJECT_TOML) == expected
        assert _mode(p.folder / GITIGNORE) == expected
        store.write_parquet(p.folder / "knowledge" / "t.parquet", [{"a": 1}])
        assert _mode(p.folder / "knowledge" / "t.parquet") == expected
        store.atomic_write_text(p.folder / "notes.md", "hi")
        assert _mode(p.folder / "notes.md") == expected
    finally:
        os.umask(old)


def test_a_replaced_file_keeps_its_mode(projects_root: Path) -> None:
    old = os.umask(0o022)
    try:
        p = Project.create("Mode Bot", "answer questions")
        target = p.folder / PROJECT_TOML
        os.chmod(target, 0o640)
        p.save()
        assert _mode(target) == 0o640
        os.umask(0o077)  # a stricter umask later does not change a file that is already shared
        os.chmod(target, 0o664)
        p.save()
        assert _mode(target) == 0o664
    finally:
        os.umask(old)


# ---------------------------------------------------------------- a NAME that is a path


@pytest.mark.parametrize("name", ["../x", "/abs/x", "..", ".", "a/../b", "~/x", "..\\x", "sub/./x"])
def test_a_name_given_as_a_path_is_refused(projects_root: Path, tmp_path: Path, name: str) -> None:
    outside = tmp_path / "x"  # a project folder next to the projects folder: must not be opened
    outside.mkdir()
    (outside / PROJECT_TOML).write_text("schema_version = 1\n")
    with pytest.raises(BadInput, match=r"^NAME: .* is a path"):
        Project.open(name)
    with pytest.raises(BadInput, match=r"^name: .* is a path"):
        Project.create(name, "answer questions")


def test_a_name_with_a_slash_is_a_name_not_a_folder(projects_root: Path) -> None:
    p = Project.create("Support 24/7", "answer questions at any hour")
    assert p.slug == "support-24-7" and p.folder.parent == projects_root
    assert Project.open("Support 24/7").slug == "support-24-7"
    Project.create("Inner", "x", root=projects_root / "sub")
    with pytest.raises(ProjectNotFound):
        Project.open("sub/inner")  # not a nested folder of the projects folder


def test_a_name_over_200_characters_is_a_clear_error(projects_root: Path) -> None:
    with pytest.raises(BadInput, match=r"^name: a project name is at most 200 characters \(got 201\)"):
        Project.create("a" * 201, "answer questions")
    with pytest.raises(BadInput, match=r"^NAME: a project name is at most 200 characters \(got 300\)"):
        Project.open("b" * 300)
    assert Project.create("c" * 200, "answer questions").slug == "c" * 64
    assert list_projects() and all(s.error is None for s in list_projects())


def test_the_cli_refuses_a_path_name_with_exit_code_2(projects_root: Path, tmp_path: Path) -> None:
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TUNESMITH_PROJECTS": str(projects_root)}
    for args in (["status", "../x"], ["status", "/abs/x"], ["status", "n" * 300],
                 ["new", "x" * 201, "--task", "answer questions"]):
        out = subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=root, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and ("is a path" in out.stderr or "200 characters" in out.stderr)
