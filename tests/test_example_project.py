"""The shipped example project (projects/billing-support): every file opens with the core, the CLI works on
it, and the app opens each built screen on it at 80x24 without an error dialog. Everything runs on a copy in
tmp: the shipped folder is never modified (checked at the end by hashing it before and after)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import store

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "projects" / "billing-support"
SLUG = "billing-support"

pytestmark = pytest.mark.skipif(not (SHIPPED / "project.toml").exists(),
                                reason="projects/billing-support is missing: python bench/make_example_project.py")


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock"):  # the lock: not content
        h.update(str(f.relative_to(folder)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def shipped_digest() -> str:
    return _digest(SHIPPED)


@pytest.fixture
def copy(projects_root: Path, shipped_digest: str):
    """A copy of the projects folder holding the example; the shipped one is checked unchanged afterwards."""
    shutil.copytree(SHIPPED, projects_root / SLUG, ignore=shutil.ignore_patterns(".cache", ".lock"))
    yield projects_root
    assert _digest(SHIPPED) == shipped_digest, "a test modified the shipped example project"


def test_small_and_not_ignored_by_git() -> None:
    files = [p for p in SHIPPED.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2 * 1024 * 1024
    assert not any(p.suffix in (".safetensors", ".bin", ".pt") for p in files), "model weights are not shipped"
    if shutil.which("git") and (ROOT / ".git").exists():
        rels = [str(p.relative_to(ROOT)) for p in files if ".cache" not in p.parts and p.name != ".lock"]
        out = subprocess.run(["git", "check-ignore", "--no-index", *rels], cwd=ROOT, capture_output=True, text=True)
        assert out.stdout.strip() == "", f"ignored by git: {out.stdout}"


def test_every_file_opens_with_the_core(copy: Path) -> None:
    from core.evaluate import evalfolder as ef
    from core.evaluate.spot_check import AGREEMENT
    from core.extract.review import verify_frozen
    from core.generate import pipeline_state as ps
    from core.generate.report import GenerationSummary
    from core.generate.review import PilotReview
    from core.models.data import GenerationReport, QualityLogRow, TrainingExample
    from core.models.knowledge import (
        EvalExample, EvalReview, InputTaxonomy, Interview, KnowledgeBase, QualityCriteria, ScopeBoundaries,
    )
    from core.models.data import SFTConversational
    from core.models.runs import MetricRow
    from core.project import (
        BOUNDARIES, CRITERIA, EVAL_REVIEW, EVAL_SET, INTERVIEW, KNOWLEDGE_BASE, TAXONOMY, Project,
    )
    from core.train import runfolder as rf
    from core.train.dataset_check import check_dataset

    p = Project.open(SLUG, copy)
    assert p.meta.next_step() is None, "every stage is done"
    seen: set[Path] = {p.path("project.toml")}

    def toml(rel: str, model):
        seen.add(p.path(rel))
        return p.read(rel, model)

    def rows(rel: str, model):
        seen.add(p.path(rel))
        return p.read_rows(rel, model)

    interview = toml(INTERVIEW, Interview)
    assert 18 <= len(interview.answered()) <= 20 and interview.finished and interview.persona is not None
    toml(KNOWLEDGE_BASE, KnowledgeBase)
    assert toml(BOUNDARIES, ScopeBoundaries).approved
    toml(TAXONOMY, InputTaxonomy)
    toml(CRITERIA, QualityCriteria)
    examples = rows(EVAL_SET, EvalExample)
    assert len(examples) == 50 and {e.kind for e in examples} == {"common", "edge", "lookalike", "out_of_scope"}
    review = toml(EVAL_REVIEW, EvalReview)
    assert review.approved and review.frozen_hash == verify_frozen(p)

    pilot = rows(ps.PILOT_EXAMPLES, TrainingExample)
    rows(ps.PILOT_REJECTED, TrainingExample)
    toml(ps.PILOT_REPORT, GenerationReport)
    toml(ps.PILOT_RUN, ps.PilotRun)
    toml(ps.PILOT_FEEDBACK, ps.PilotFeedback)
    assert toml(ps.PILOT_REVIEW, PilotReview).outcome == "approved"
    toml(ps.SCALE_STATE, ps.ScaleState)
    summary = toml(ps.GENERATION_REPORT, GenerationSummary)
    assert summary.validation is not None and summary.validation.ok
    rows(ps.QUALITY_LOG, QualityLogRow)
    split_rows = {}
    for name, rel in (("train", ps.TRAIN_FILE), ("validation", ps.VALIDATION_FILE)):
        seen.add(p.path(rel))
        split_rows[name] = store.read_parquet_rows(p.path(rel))
        for r in split_rows[name]:
            SFTConversational.model_validate(r)
    assert 60 <= sum(map(len, split_rows.values())) <= 120 and pilot
    assert split_rows["train"] and split_rows["validation"]
    check = check_dataset(p, tokenizer=None, base_model="")
    assert check.verdict.verdict != "INCOMPATIBLE"
    for rel in (ps.DATASET_CARD, f"{ps.DATASET_DIR}/README.md"):
        seen.add(p.path(rel))
        assert p.path(rel).read_text(encoding="utf-8").startswith("---")

    runs = rf.list_runs(p)
    assert [r.status for r in runs] == ["completed"]
    folder = rf.run_dir(p, runs[0].run_id)
    seen |= {folder / rf.RUN_TOML, folder / rf.LOG, folder / rf.METRICS_JSONL, folder / rf.METRICS_PARQUET,
             folder / rf.CONFIG_JSON, folder / rf.STATUS_JSON}
    assert store.read_parquet(folder / rf.METRICS_PARQUET, MetricRow) and rf.read_metrics(folder)
    assert json.loads((folder / rf.CONFIG_JSON).read_text())["weights_shipped"] is False
    assert rf.read_status(folder)["status"] == "completed"
    assert not (folder / rf.MODEL_DIR).exists()

    eid = ef.require_eval(p)
    record = ef.read_record(p, eid)
    assert record.eval_set_hash == review.frozen_hash and record.n_examples == 50
    results = ef.read_results(p, eid)
    assert len(results) == 100
    spot = ef.read_spot_check(p, eid)
    assert spot is not None and spot.finished and all(i.rating for i in spot.items)
    assert len(spot.items) == 20 and sum(i.group == "comparison" for i in spot.items) == 5
    assert ef.read_decision(p, eid) is not None
    assert ef.read_toml_dict(p, eid, ef.COMPARISON) is not None
    assert ef.read_toml_dict(p, eid, AGREEMENT) is not None
    seen |= {ef.path(p, eid, n) for n in (ef.RECORD, ef.RESULTS, ef.SPOT_CHECK, ef.DECISION, ef.COMPARISON,
                                          AGREEMENT, ef.REPORT, ef.WORKSHEET)}
    assert "# " in ef.path(p, eid, ef.REPORT).read_text(encoding="utf-8")

    for f in p.path("exports").iterdir():
        seen.add(f)
        if f.suffix == ".json":
            json.loads(f.read_text(encoding="utf-8"))
        elif f.suffix == ".jsonl":  # records beside the spec's JSON: one per example / result row
            records = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
            assert len(records) == {"eval_set.jsonl": 50, "detailed_results.jsonl": 100}[f.name]
        else:
            assert f.read_text(encoding="utf-8").strip()
    from core.project import GITIGNORE, GITIGNORE_TEXT

    seen.add(p.path(GITIGNORE))
    assert p.path(GITIGNORE).read_text(encoding="utf-8") == GITIGNORE_TEXT  # .cache, .lock, weights, shards
    every = {f for f in p.folder.rglob("*") if f.is_file() and ".cache" not in f.parts and f.name != ".lock"}
    assert every - seen == set(), f"files no check reads: {sorted(str(f.relative_to(p.folder)) for f in every - seen)}"


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TUNESMITH_PROJECTS": str(root)}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_status_and_export_on_a_copy(copy: Path) -> None:
    out = _cli(copy, "status", SLUG, "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["slug"] == SLUG
    assert "without any model run" in status["illustration"]
    out = _cli(copy, "status", SLUG)
    assert out.returncode == 0 and "illustration:" in out.stdout.splitlines()[1], out.stdout
    shutil.rmtree(copy / SLUG / "exports")
    out = _cli(copy, "export", SLUG)
    assert out.returncode == 0, out.stderr
    names = {f.name for f in (copy / SLUG / "exports").iterdir()}
    assert {"evaluation_report.md", "deployment_decision.json", "eval_set.json", "dataset_card.md",
            "spot_check_worksheet.md"} <= names
    assert names == {f.name for f in (SHIPPED / "exports").iterdir()}


def test_regenerates_identically(tmp_path: Path) -> None:
    """bench/make_example_project.py writes the shipped files byte for byte (fixed clock and ids)."""
    out = subprocess.run([sys.executable, "bench/make_example_project.py", "--root", str(tmp_path / "regen")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert _digest(tmp_path / "regen" / SLUG) == _digest(SHIPPED)


async def _settle(pilot, until=None, timeout: float = 20.0, workers: bool = True) -> None:
    end = time.monotonic() + timeout
    while True:
        for _ in range(3):
            if workers:
                await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if until is None or until():
            return
        if time.monotonic() > end:
            raise TimeoutError(f"{type(pilot.app.screen).__name__} did not get ready")
        await pilot.pause(0.1)


async def test_app_opens_every_built_screen_at_80x24(copy: Path) -> None:
    from screens.dashboard import DashboardScreen
    from screens.registry import STAGE_SCREENS
    from tui.app import TunesmithApp
    from tui.errors import ErrorDialog

    app = TunesmithApp(copy)
    opened: list[str] = []

    def no_error() -> None:
        errors = [s for s in app.screen_stack if isinstance(s, ErrorDialog)]
        assert not errors, f"error dialog on {opened[-1:]}: {errors[0].query_one('*').render() if errors else ''}"

    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, lambda: getattr(app.screen, "loaded", True))
        await pilot.press("enter")
        await _settle(pilot, lambda: isinstance(app.screen, DashboardScreen))
        no_error()
        assert "Illustration" in str(app.screen.query_one("#project-info").render())
        for spec in STAGE_SCREENS.values():
            if not spec.is_built():
                continue
            await pilot.press(spec.key)
            monitor = spec.name == "job_monitor"
            await _settle(pilot, lambda: not isinstance(app.screen, DashboardScreen), workers=not monitor)
            await pilot.pause(0.3)
            opened.append(spec.name)
            no_error()
            assert type(app.screen).__name__ == spec.cls
            await pilot.press("escape")
            await _settle(pilot, lambda: isinstance(app.screen, DashboardScreen), workers=not monitor)
            no_error()
    assert {"interview", "boundaries", "evalset_review", "pilot_review", "spot_check", "report"} <= set(opened)


# ---------------------------------------------------------------- the example says it is an illustration

MARKDOWN_REPORTS = ("data/dataset_card.md", "data/training_dataset/README.md")
TOML_REPORTS = ("data/generation_report.toml",)
EVAL_TOML_REPORTS = ("decision.toml", "comparison_analysis.toml", "judge_agreement.toml")


def _marks(folder: Path) -> dict[str, bool]:
    """Every report and export of a project folder -> whether it carries the illustration mark."""
    from core import illustration

    out: dict[str, bool] = {}
    evals = sorted((folder / "evals").iterdir())
    md = [folder / r for r in MARKDOWN_REPORTS] + [e / n for e in evals for n in ("evaluation_report.md",
                                                                                   "spot_check_worksheet.md")]
    toml_files = [folder / r for r in TOML_REPORTS] + [e / n for e in evals for n in EVAL_TOML_REPORTS]
    md += [f for f in (folder / "exports").glob("*.md") if f.name != illustration.NOTE_FILE]
    for f in md:
        out[str(f.relative_to(folder))] = illustration.is_marked(f.read_text(encoding="utf-8"))
    for f in toml_files:
        out[str(f.relative_to(folder))] = store.load_toml_dict(f).get("illustration") is True
    for f in (folder / "exports").glob("*.json"):
        data = json.loads(f.read_text(encoding="utf-8"))
        out[str(f.relative_to(folder))] = data.get("illustration") is True and bool(data.get("illustration_reason"))
    note = folder / "exports" / illustration.NOTE_FILE
    jsonl = sorted(f.name for f in (folder / "exports").glob("*.jsonl"))
    out["exports/ILLUSTRATION.md"] = note.is_file() and all(f"`{n}`" in note.read_text() for n in jsonl)
    return out


def test_every_report_and_export_says_it_is_an_illustration() -> None:
    from core.models.project import ProjectFile

    meta = store.read_toml(SHIPPED / "project.toml", ProjectFile)
    assert meta.illustration and "without any model run" in meta.illustration
    marks = _marks(SHIPPED)
    assert len(marks) >= 20 and all(marks.values()), [k for k, v in marks.items() if not v]
    head = (SHIPPED / "evals").glob("*/evaluation_report.md").__next__().read_text(encoding="utf-8")
    assert head.startswith("> **Illustration**") and "not a real evaluation" in head.splitlines()[0]
    card = (SHIPPED / "data" / "dataset_card.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")  # the banner goes after the Hub's YAML front matter
    run = next((SHIPPED / "runs").iterdir())
    assert json.loads((run / "status.json").read_text())["illustration"] is True
    assert "illustration" in (run / "train.log").read_text().splitlines()[0]


def test_export_and_decide_keep_the_marks_and_a_real_project_has_none(copy: Path) -> None:
    from core.evaluate.export import export
    from core.evaluate.run import decide_now
    from core.generate.report import update_summary, write_dataset_card
    from core.project import Project

    p = Project.open(SLUG, copy)
    decide_now(p)
    export(p)
    assert all(_marks(p.folder).values())
    # the same project, made real: every rewritten file loses the mark
    p.meta.illustration = None
    p.save()
    assert "illustration" not in p.path("project.toml").read_text(encoding="utf-8")
    write_dataset_card(p, update_summary(p))
    from core.evaluate import evalfolder as ef
    from core.evaluate.spot_check import save_agreement

    save_agreement(p, ef.require_eval(p))  # written by the spot-check
    decide_now(p)
    result = export(p)
    assert not any(_marks(p.folder).values()), [k for k, v in _marks(p.folder).items() if v]
    assert not (p.folder / "exports" / "ILLUSTRATION.md").exists()
    assert all("illustration" not in json.loads(f.read_text()) for f in result.written if f.suffix == ".json")


def test_figures_agree_with_its_own_settings() -> None:
    import math

    from core.evaluate import evalfolder as ef
    from core.evaluate import stats
    from core.extract.quotas import DEFAULT_DIFFICULTY_SHARES, kind_totals, largest_remainder
    from core.generate import pipeline_state as ps
    from core.generate.filters.leakage import LEAK_THRESHOLD
    from core.generate.report import GenerationSummary
    from core.models.knowledge import DIFFICULTIES, EvalExample, KnowledgeBase
    from core.models.project import ProjectFile
    from core.train.plan import steps_for

    meta = store.read_toml(SHIPPED / "project.toml", ProjectFile)
    cfg = meta.config
    # skill 1: the eval set is the size and mix its settings plan
    examples = store.read_parquet(SHIPPED / "knowledge" / "eval_set.parquet", EvalExample)
    assert len(examples) == cfg.extract.eval_set_size
    oos = sum(e.kind == "out_of_scope" for e in examples)
    assert oos / len(examples) == pytest.approx(cfg.extract.out_of_scope_ratio)
    want = kind_totals(len(examples), cfg.extract.out_of_scope_ratio)
    assert {k: sum(e.kind == k for e in examples) for k in want} == want
    shares = [DEFAULT_DIFFICULTY_SHARES[d] for d in DIFFICULTIES]
    assert [sum(e.difficulty == d for e in examples) for d in DIFFICULTIES] == largest_remainder(len(examples), shares)
    kb = store.read_toml(SHIPPED / "knowledge" / "knowledge_base.toml", KnowledgeBase)
    assert (kb.framework_mode == "enabled") == bool(kb.frameworks) == (cfg.extract.framework_mode == "enabled") \
        == cfg.generate.framework_mode
    # skill 2: sizes within the spec's ranges, the early stop said; thresholds held; cost from litellm's prices
    summary = store.read_toml(SHIPPED / ps.GENERATION_REPORT, GenerationSummary)
    pilot, scale = summary.pilot, summary.scale
    assert pilot.requested == cfg.generate.pilot_size and pilot.kept <= cfg.generate.pilot_size
    assert 1000 <= cfg.generate.target_size <= 10000
    assert scale.kept < cfg.generate.target_size and any(str(cfg.generate.target_size) in n for n in scale.notes)
    assert sum(summary.splits.values()) == scale.kept
    setting = next(s for s in scale.settings if s.startswith("diversity_threshold"))
    threshold = float(setting.split()[1].rstrip(":"))
    min_len = int(next(s for s in scale.settings if s.startswith("min_length")).split()[1])
    for rep in (pilot, scale):
        assert rep.diversity_max_similarity < threshold and rep.diversity_mean_similarity < threshold
        assert rep.pass_rate == pytest.approx(rep.kept / rep.generated, abs=1e-4)
    log = store.read_parquet_rows(SHIPPED / ps.QUALITY_LOG)
    for row in log:
        if row["filter"] == "dedup":
            assert row["score"] > threshold
        elif row["filter"] == "leakage":
            assert row["score"] >= LEAK_THRESHOLD
        elif row["filter"] == "length":
            assert row["score"] < min_len
    import litellm

    for rep in (pilot, scale):
        cost = sum(litellm.cost_per_token(model=summary.model, prompt_tokens=rep.prompt_tokens,
                                          completion_tokens=rep.completion_tokens))
        assert rep.cost_usd == pytest.approx(cost, abs=1e-4)
    # skill 3: the steps the trainer would take for these rows and settings, logged as configured
    run = next((SHIPPED / "runs").iterdir())
    config = json.loads((run / "config.json").read_text())
    t = cfg.train
    n_train = summary.splits["train"]
    total = steps_for(n_train, t.per_device_train_batch_size, t.gradient_accumulation_steps, t.num_train_epochs, None)
    assert config["max_steps"] == total and config["gradient_accumulation_steps"] == t.gradient_accumulation_steps
    assert config["per_device_train_batch_size"] == t.per_device_train_batch_size
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if "loss" in r]
    assert train_steps == [s for s in range(1, total + 1) if s % t.logging_steps == 0 or s == total]
    assert rows[-1]["epoch"] == math.ceil(t.num_train_epochs)
    # skill 4: the statistics are the stats functions' on its own per-example scores
    eid = next((SHIPPED / "evals").iterdir()).name
    results = store.read_parquet_rows(SHIPPED / "evals" / eid / ef.RESULTS)
    score = {(r["example_id"], r["model_role"]): r["score"] for r in results}
    base = [score[(e.id, "base")] for e in examples]
    cand = [score[(e.id, "candidate")] for e in examples]
    test = stats.paired_ttest(base, cand)
    decision = store.load_toml_dict(SHIPPED / "evals" / eid / "decision.toml")
    assert decision["p_value"] == pytest.approx(test.p, rel=1e-6)
    report = (SHIPPED / "evals" / eid / "evaluation_report.md").read_text(encoding="utf-8")
    assert f"t = {test.t:.3f}" in report
    lo, hi = stats.bootstrap_ci([c - b for b, c in zip(base, cand)])
    assert f"[{lo * 100:+.1f} pts, {hi * 100:+.1f} pts]" in report
    assert decision["improvement"] == pytest.approx(sum(cand) / len(cand) - sum(base) / len(base))
