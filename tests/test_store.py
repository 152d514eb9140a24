"""The store: atomic writes, schema versions, clear errors that name file and field (the lock:
tests/test_project_lock.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import store
from core.errors import StoreError
from core.models.knowledge import EvalExample, ScopeBoundaries, Statement
from core.project import PROJECT_TOML, Project, list_projects


def make(root: Path, name: str = "Billing Bot") -> Project:
    return Project.create(name, "answer billing questions for our SaaS product", root=root)


def test_create_open_roundtrip(projects_root: Path) -> None:
    p = make(projects_root)
    assert (p.folder / PROJECT_TOML).read_text().startswith("schema_version = 1\n")
    for sub in ("knowledge", "data", "runs", "evals", "exports", ".cache"):
        assert (p.folder / sub).is_dir()
    again = Project.open("billing-bot", projects_root)
    assert again.meta == p.meta
    assert Project.open("Billing Bot", projects_root).slug == "billing-bot"
    assert not p.locked_here, "the lock is released after the write (tests/test_project_lock.py: the lock)"


def test_list_and_delete(projects_root: Path) -> None:
    make(projects_root, "a")
    make(projects_root, "b")
    assert [s.slug for s in list_projects(projects_root)] == ["a", "b"]
    Project.open("a", projects_root).delete()
    assert [s.slug for s in list_projects(projects_root)] == ["b"]


def test_duplicate_name_is_refused(projects_root: Path) -> None:
    make(projects_root)
    with pytest.raises(Exception, match="already exists"):
        make(projects_root)


def _corrupt(p: Project, old: str, new: str) -> tuple[Path, bytes]:
    path = p.folder / PROJECT_TOML
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path, path.read_bytes()


@pytest.mark.parametrize(
    "old,new,field,words",
    [
        ("schema_version = 1", "schema_version = 99", "schema_version", "unknown version 99"),
        ("schema_version = 1\n", "", "schema_version", "missing"),
        ('schema_version = 1', 'schema_version = "one"', "schema_version", "integer"),
        ('training_method = "sft"', 'training_method = "ppo"', "training_method", "sft"),
        ("eval_set_size = 100", "eval_set_size = 60", "config.extract.eval_set_size", "50"),
        ("out_of_scope_ratio = 0.1", "out_of_scope_ratio = 0.5", "config.extract.out_of_scope_ratio", "0.2"),
        ("pilot_size = 100", 'pilot_size = "lots"', "config.generate.pilot_size", ""),
        ('task_type = "instruction_following"', "task_type = 3", "task_type", ""),
        ("min_length = \"auto\"", "min_lenght = \"auto\"", "config.generate.quality_thresholds.min_lenght", "Extra"),
    ],
)
def test_bad_field_names_file_and_field(projects_root: Path, old: str, new: str, field: str, words: str) -> None:
    p = make(projects_root)
    path, before = _corrupt(p, old, new)
    with pytest.raises(StoreError) as err:
        Project.open("billing-bot", projects_root)
    assert err.value.path == path
    assert err.value.field == field
    assert str(path) in str(err.value) and field in str(err.value)
    assert words in str(err.value)
    assert path.read_bytes() == before, "a bad file is never rewritten"


def test_malformed_toml_names_the_file(projects_root: Path) -> None:
    p = make(projects_root)
    path = p.folder / PROJECT_TOML
    path.write_text("schema_version = 1\nname = \"unterminated\n")
    with pytest.raises(StoreError, match="not valid TOML") as err:
        Project.open("billing-bot", projects_root)
    assert err.value.path == path
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(StoreError, match="not UTF-8"):
        Project.open("billing-bot", projects_root)


def test_broken_project_is_listed_with_its_error(projects_root: Path) -> None:
    p = make(projects_root)
    (p.folder / PROJECT_TOML).write_text("schema_version = 2\n")
    [item] = list_projects(projects_root)
    assert item.error and "schema_version" in item.error


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.toml"
    store.write_toml(target, ScopeBoundaries(will=[Statement(text="answer questions")]))
    before = target.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.write_toml(target, ScopeBoundaries())
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.toml"], "no temp file is left behind"


def test_parquet_roundtrip_and_errors(tmp_path: Path) -> None:
    rows = [
        EvalExample(id=f"e{i}", input=f"q{i}", reference="a", category="billing", difficulty="easy", kind="common")
        for i in range(3)
    ]
    path = tmp_path / "eval_set.parquet"
    store.write_parquet(path, rows)
    assert store.read_parquet(path, EvalExample) == rows
    import polars as pl

    assert pl.read_parquet(path).height == 3

    # wrong type in a row: names the row and the field
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = pa.Table.from_pylist([{**rows[0].model_dump(), "difficulty": "extreme"}])
    bad = bad.replace_schema_metadata({b"tunesmith.schema_version": b"1"})
    pq.write_table(bad, path)
    with pytest.raises(StoreError) as err:
        store.read_parquet(path, EvalExample)
    assert err.value.field == "row 0: difficulty"

    pq.write_table(bad.replace_schema_metadata({b"tunesmith.schema_version": b"7"}), path)
    with pytest.raises(StoreError, match="unknown version 7"):
        store.read_parquet(path, EvalExample)
    pq.write_table(bad.replace_schema_metadata({}), path)
    with pytest.raises(StoreError, match="schema_version"):
        store.read_parquet(path, EvalExample)
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(StoreError, match="not a readable Parquet"):
        store.read_parquet(path, EvalExample)


def test_empty_parquet_keeps_columns(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    store.write_parquet(path, [], EvalExample)
    assert store.read_parquet(path, EvalExample) == []
    import pyarrow.parquet as pq

    assert "input" in pq.read_schema(path).names


def test_stage_state_moves_and_undo_cascades(projects_root: Path) -> None:
    p = make(projects_root)
    for step in ("persona", "interview", "artifacts", "boundaries_approved", "evalset", "evalset_approved"):
        p.mark("extract", step)
    p.mark("generate", "pilot")
    meta = Project.open("billing-bot", projects_root).meta
    assert meta.stages["extract"].status == "done"
    assert meta.current_stage() == "generate"
    assert meta.next_step() == ("generate", "pilot_approved")
    p.mark("extract", "boundaries_approved", done=False)
    meta = Project.open("billing-bot", projects_root).meta
    assert meta.stages["extract"].done == ["persona", "interview", "artifacts"]
    assert meta.stages["generate"].status == "pending"


def test_unknown_stage_or_step_is_an_error(projects_root: Path) -> None:
    p = make(projects_root)
    path = p.folder / PROJECT_TOML
    path.write_text(path.read_text().replace("[stages.extract]\nstatus = \"pending\"\ndone = []", "[stages.extract]\nstatus = \"pending\"\ndone = [\"nap\"]"))
    with pytest.raises(StoreError, match="unknown step 'nap'"):
        Project.open("billing-bot", projects_root)


def test_model_dump_has_no_none_values(projects_root: Path) -> None:
    p = make(projects_root)
    text = (p.folder / PROJECT_TOML).read_text()
    assert "None" not in text and "null" not in text
