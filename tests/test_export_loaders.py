"""The exports load as people load them: exports/eval_set.jsonl and exports/detailed_results.jsonl with
`datasets.load_dataset("json")`, `pandas.read_json(lines=True)` and inspect_ai's `json_dataset`, one row per
example / result row; the dataset card's YAML with huggingface_hub's `DatasetCard`, license named and linked.

Everything runs on a copy of the shipped example project (projects/billing-support) exported afresh, with one
result turned into a wait for a human rating and one judged dimension added, so that both cases are loaded."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "projects" / "billing-support"
SLUG = "billing-support"

EVAL_COLUMNS = ["id", "input", "target", "category", "difficulty", "kind", "should_refuse", "rationale",
                "provenance"]
RESULT_COLUMNS = ["id", "example_id", "eval_id", "model_role", "model", "input", "target", "category",
                  "difficulty", "kind", "should_refuse", "output", "score", "passed", "pending", "refused",
                  "method", "judge_confidence", "flagged", "detail", "delta", "flags", "pairwise_winner"]

pytestmark = pytest.mark.skipif(not (SHIPPED / "project.toml").exists(),
                                reason="projects/billing-support is missing: python bench/make_example_project.py")


class Exported:
    def __init__(self, project, examples, results, written):
        self.project, self.examples, self.results, self.written = project, examples, results, written
        self.folder = project.folder / "exports"
        self.pending_id = results[0].example_id  # its candidate row waits for a human rating
        self.dim_id = results[1].example_id  # its candidate row has a judged dimension


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    from core.evaluate import evalfolder as ef
    from core.evaluate.export import export
    from core.extract.evalset import load_eval_set
    from core.models.runs import DimensionValue
    from core.project import Project

    root = tmp_path_factory.mktemp("projects")
    shutil.copytree(SHIPPED, root / SLUG, ignore=shutil.ignore_patterns(".cache", ".lock", "exports"))
    project = Project.open(SLUG, root=root)
    eid = ef.require_eval(project)
    rows = ef.read_results(project, eid)
    cand = [i for i, r in enumerate(rows) if r.model_role == "candidate"]
    rows[cand[0]] = rows[cand[0]].model_copy(update={"pending": True, "score": None, "passed": None,
                                                     "method": "human", "detail": "pending a human rating"})
    rows[cand[1]] = rows[cand[1]].model_copy(update={"dimensions": [DimensionValue(name="tone", score=0.75)]})
    ef.write_results(project, eid, rows)
    result = export(project)
    results = [rows[cand[0]], rows[cand[1]]]
    return Exported(project, load_eval_set(project), results, result)


def _load_dataset(path: Path, cache: Path):
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))


def test_written_and_listed(exported: Exported) -> None:
    names = [p.name for p in exported.written.written]
    assert {"eval_set.json", "eval_set.jsonl", "detailed_results.json", "detailed_results.jsonl"} <= set(names)
    assert names.index("eval_set.jsonl") == names.index("eval_set.json") + 1  # listed beside its JSON
    assert not list(exported.folder.glob(".*.tmp"))
    # the spec-named JSON files are kept as they were: an object wrapping its rows
    assert len(json.loads((exported.folder / "eval_set.json").read_text())["examples"]) == len(exported.examples)


def test_cli_lists_the_jsonl_files(exported: Exported, capsys: pytest.CaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cli import main

    monkeypatch.setenv("TUNESMITH_PROJECTS", str(exported.project.folder.parent))
    assert main(["export", SLUG]) == 0
    out = capsys.readouterr().out
    for name in ("eval_set.jsonl", "detailed_results.jsonl"):
        assert f"wrote {exported.folder / name}" in out


def test_eval_set_with_datasets_and_pandas(exported: Exported, tmp_path: Path) -> None:
    import pandas as pd

    path = exported.folder / "eval_set.jsonl"
    ds = _load_dataset(path, tmp_path)
    assert ds.num_rows == len(exported.examples) == 50
    assert ds.column_names == EVAL_COLUMNS
    assert ds["id"] == [e.id for e in exported.examples]
    assert ds["target"] == [e.reference for e in exported.examples]
    assert ds["should_refuse"] == [e.should_refuse for e in exported.examples]
    assert ds.features["should_refuse"].dtype == "bool"

    df = pd.read_json(path, lines=True, dtype=False)
    assert len(df) == 50 and list(df.columns) == EVAL_COLUMNS
    assert list(df["input"]) == [e.input for e in exported.examples]
    assert set(df["kind"]) == {e.kind for e in exported.examples}


def test_detailed_results_with_datasets_and_pandas(exported: Exported, tmp_path: Path) -> None:
    import pandas as pd

    from core.evaluate import evalfolder as ef

    eid = ef.require_eval(exported.project)
    rows = ef.read_results(exported.project, eid)
    path = exported.folder / "detailed_results.jsonl"
    ds = _load_dataset(path, tmp_path)
    assert ds.num_rows == len(rows) == 100
    assert ds.column_names == RESULT_COLUMNS + ["dim_tone"]
    assert sorted(zip(ds["example_id"], ds["model_role"])) == sorted((r.example_id, r.model_role) for r in rows)
    assert len(set(ds["id"])) == 100
    assert ds.features["score"].dtype == "float64" and ds.features["pending"].dtype == "bool"

    by_id = {r["id"]: r for r in ds}
    pending = by_id[f"{exported.pending_id}:candidate"]
    assert pending["pending"] is True and pending["score"] is None and pending["passed"] is None
    assert "needs a human rating" in pending["flags"]
    assert sum(ds["pending"]) == 1  # the only wait; every other row is scored
    assert all(r["score"] is not None for r in ds if not r["pending"])
    assert by_id[f"{exported.dim_id}:candidate"]["dim_tone"] == 0.75
    assert by_id[f"{exported.dim_id}:base"]["dim_tone"] is None
    base = {(r.example_id, r.model_role): r for r in rows}
    some = base[(exported.dim_id, "base")]
    assert by_id[f"{exported.dim_id}:base"]["output"] == some.output
    assert by_id[f"{exported.dim_id}:base"]["score"] == some.score

    df = pd.read_json(path, lines=True, dtype=False)
    assert len(df) == 100 and list(df.columns) == RESULT_COLUMNS + ["dim_tone"]
    scored = df[~df["pending"]]
    assert len(scored) == 99 and scored["score"].notna().all()
    assert df.loc[df["pending"], "score"].isna().all()
    # a mean over the column is a mean over scored rows (a wait is not a zero)
    assert df["score"].mean() == pytest.approx(sum(r.score for r in rows if not r.pending) / 99)


def test_inspect_ai_json_dataset(exported: Exported) -> None:
    from inspect_ai.dataset import FieldSpec, json_dataset

    spec = FieldSpec(input="input", target="target", id="id",
                     metadata=["category", "difficulty", "kind", "should_refuse"])
    samples = json_dataset(str(exported.folder / "eval_set.jsonl"), spec)
    assert len(samples) == len(exported.examples)
    for sample, example in zip(samples, exported.examples):
        assert sample.id == example.id and sample.input == example.input and sample.target == example.reference
        assert sample.metadata == {"category": example.category, "difficulty": example.difficulty,
                                   "kind": example.kind, "should_refuse": example.should_refuse}

    results = json_dataset(str(exported.folder / "detailed_results.jsonl"),
                           FieldSpec(input="input", target="target", id="id",
                                     metadata=["model_role", "output", "score", "pending"]))
    assert len(results) == 100
    pending = {s.id: s for s in results}[f"{exported.pending_id}:candidate"]
    assert pending.metadata["pending"] is True and pending.metadata["score"] is None


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _load_card(path: Path):
    from huggingface_hub import DatasetCard

    logs = _Records()
    hub = logging.getLogger("huggingface_hub")
    hub.addHandler(logs)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            card = DatasetCard.load(path)
    finally:
        hub.removeHandler(logs)
    assert [r.getMessage() for r in logs.records if r.levelno >= logging.WARNING] == []
    assert [str(w.message) for w in caught] == []
    return card


def test_dataset_card_loads_with_license_named_and_linked(exported: Exported) -> None:
    from core.generate import pipeline_state as ps
    from core.generate.report import LICENSE_LINK, LICENSE_NAME

    for path in (exported.project.path(ps.DATASET_CARD), exported.project.path(ps.DATASET_DIR) / "README.md",
                 exported.folder / "dataset_card.md"):
        card = _load_card(path)
        data = card.data.to_dict()
        assert data["license"] == "other"
        assert data["license_name"] == LICENSE_NAME == "tunesmith-synthetic"
        assert data["license_link"] == LICENSE_LINK
        assert data["task_categories"] == ["text-generation"]  # the example is instruction following
        assert data["pretty_name"] and data["size_categories"] == ["n<1K"]
        # the link is the card's own License section, and it says what the name means
        page, _, anchor = data["license_link"].partition("#")
        assert page == "README.md" and (exported.project.path(ps.DATASET_DIR) / page).exists()
        assert f"\n## {anchor.capitalize()}\n" in card.text
        section = card.text.split("\n## License\n", 1)[1]
        assert f"`{LICENSE_NAME}` is not a published license" in section


@pytest.mark.parametrize(("task_type", "expected"), [
    ("classification", ["text-classification", "text-generation"]),
    ("transformation", ["text-generation", "text2text-generation"]),
    ("instruction_following", ["text-generation"]),
    ("reasoning", ["text-generation"]),
    ("preference", ["text-generation"]),
])
def test_card_task_categories_follow_the_task_type(exported: Exported, tmp_path: Path, task_type: str,
                                                   expected: list[str]) -> None:
    from core.generate.report import card_text, read_summary
    from core.project import Project

    project = Project.open(SLUG, root=exported.project.folder.parent)  # a fresh copy of the metadata
    project.meta.task_type = task_type
    path = tmp_path / "README.md"
    path.write_text(card_text(project, read_summary(project)), encoding="utf-8")
    data = _load_card(path).data.to_dict()
    assert data["task_categories"] == expected
    assert data["license_name"] == "tunesmith-synthetic" and data["license_link"]
    assert task_type.replace("_", "-") in data["tags"]
