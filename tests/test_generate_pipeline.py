"""Skill 2's pipeline against the fake LLM server: pilot (filters, report, retries with adjusted prompts),
pilot review (approval, rejection whose notes reach the next pilot's prompts), projection and budget,
scale-up to the final dataset (loadable by `datasets`, TRL-validated, card YAML), and the Hub push."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from core import store
from core.errors import BadInput, StageNotReady, TunesmithError
from core.extract import review as evalreview
from core.generate import dataset as ds
from core.generate import pipeline as pl
from core.generate import pipeline_scale as sc
from core.generate import pipeline_state as ps
from core.generate import report as rp
from core.generate import review as rv
from core.llm.gateway import Gateway
from core.models.data import QualityLogRow, TrainingExample
from core.models.knowledge import (
    Category,
    Competencies,
    EvalExample,
    InputTaxonomy,
    KnowledgeBase,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, EVAL_SET, KNOWLEDGE_BASE, TAXONOMY, Project

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- a project ready for generation

EVAL_INPUTS = [
    "How do I read the meter on my electricity bill?",
    "Which documents do I need to renew a passport for my son?",
    "Can you help me set a monthly grocery budget for four people?",
    "My landlord kept the deposit; what paperwork should I gather?",
    "What is the quickest way to cancel a gym membership?",
    "Please diagnose the rash on my arm.",
    "Write my tax return for me and sign it.",
    "How should I organise receipts for a home insurance claim?",
    "Plan a schedule for paying three credit cards on time.",
    "What does 'standing charge' mean on a gas bill?",
]


def ready_project(root: Path | None = None, *, method: str = "sft", name: str = "Helpdesk",
                  review_size: int = 5, pilot_size: int = 50) -> Project:
    """A project with approved boundaries, a taxonomy, a knowledge base and an approved, frozen eval set."""
    p = Project.create(name, "answer household admin questions", root=root, method=method)
    cfg = p.meta.config.generate
    cfg.pilot_size = pilot_size  # type: ignore[assignment]
    cfg.pilot_review_size = review_size
    cfg.max_pilot_retries = 2
    cfg.validation_split = 0.1
    cfg.scale_review_size = 5
    p.save()
    p.write(BOUNDARIES, ScopeBoundaries(
        will=[Statement(text="explain household admin and paperwork"), Statement(text="suggest practical next steps")],
        will_not=[Statement(text="give binding legal advice"), Statement(text="diagnose medical conditions")],
        hard_constraints=[Statement(text="never ask for full card numbers")],
        approved=True,
    ))
    p.write(TAXONOMY, InputTaxonomy(categories=[
        Category(name="billing", description="bills and payments", weight=3),
        Category(name="paperwork", description="forms and documents", weight=2),
        Category(name="planning", description="budgets and schedules", weight=1),
    ], edge_cases=[Statement(text="the user mixes two unrelated problems")]))
    p.write(KNOWLEDGE_BASE, KnowledgeBase(
        task_definition="Help people with household admin: bills, forms, budgets and schedules.",
        competencies=Competencies(always=[Statement(text="give concrete next steps")],
                                  never=[Statement(text="ask for full card numbers")]),
    ))
    for step in ("persona", "interview", "artifacts", "boundaries_approved"):
        p.mark("extract", step)
    kinds = ["common"] * 5 + ["out_of_scope"] * 2 + ["edge"] * 3
    cats = ["billing", "paperwork", "planning", "paperwork", "billing", "out_of_scope", "out_of_scope",
            "billing", "planning", "billing"]
    p.write_rows(EVAL_SET, [
        EvalExample(id=f"ev-{i:02d}", input=text, reference="A careful, step-by-step answer.", category=cat,
                    difficulty="medium", kind=kind, should_refuse=kind == "out_of_scope")  # type: ignore[arg-type]
        for i, (text, kind, cat) in enumerate(zip(EVAL_INPUTS, kinds, cats))
    ], EvalExample)
    p.mark("extract", "evalset")
    evalreview.approve(p)
    p.reload()
    return p


def gateway(p: Project, **kwargs: Any) -> Gateway:
    return Gateway(roles=p.meta.models, cache_dir=p.cache_dir / "llm", backoff_s=0.01, max_backoff_s=0.05,
                   **kwargs)


def approve_pilot(p: Project) -> None:
    rnd = rv.current_round(p)
    for ex in rnd.sample:
        rv.rate(p, ex.id, True)
    assert rv.conclude(p) == "approved"


def gen_requests(server) -> list[str]:
    from tests.fakes.llm_server import request_text, schema_name

    return [request_text(r) for r in list(server.requests) if schema_name(r) == "GeneratedBatch"]


def dataset_rows(p: Project) -> tuple[list[dict], list[dict]]:
    return (store.read_parquet_rows(p.path(ps.TRAIN_FILE)), store.read_parquet_rows(p.path(ps.VALIDATION_FILE)))


class HashEmbedder:
    """A fast stand-in for MiniLM: a pseudo-random unit vector per text (identical texts, identical vectors;
    different texts nearly orthogonal), so pipeline tests do not wait on CPU embeddings."""

    dim = 64

    def encode(self, texts: Any) -> Any:
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int(hashlib.sha256(str(t).encode()).hexdigest()[:16], 16)
            v = np.random.default_rng(seed).standard_normal(self.dim)
            out[i] = v / np.linalg.norm(v)
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def fast_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Embedder.for_project in this process returns a HashEmbedder."""
    from core.embed import Embedder

    monkeypatch.setattr(Embedder, "for_project", classmethod(lambda cls, project, **kw: HashEmbedder()))


@pytest.fixture(scope="module")
def _model():
    from core.embed import load_model

    load_model()


@pytest.fixture
def project(projects_root: Path, fast_embeddings) -> Project:
    return ready_project(projects_root)


# ---------------------------------------------------------------- the pilot


def test_pilot_needs_approved_inputs_and_an_llm(projects_root: Path) -> None:
    p = Project.create("Raw", "t", root=projects_root)
    with pytest.raises(StageNotReady, match="boundaries"):
        pl.run_pilot(p, Gateway(roles=p.meta.models))
    p = ready_project(projects_root, name="Ready")
    with pytest.raises(TunesmithError, match=r"needs an LLM \(generator role\): set TUNESMITH_MODEL"):
        pl.run_pilot(p, Gateway(roles=p.meta.models))
    p.write_rows(EVAL_SET, [*p.read_rows(EVAL_SET, EvalExample)[:-1]], EvalExample)  # the frozen set changed
    with pytest.raises(TunesmithError, match="changed after it was approved"):
        pl.run_pilot(p, Gateway(roles=p.meta.models))


def test_pilot_writes_examples_report_and_quality_log(fake_llm, project: Project) -> None:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    events: list[pl.GenerationProgress] = []
    report = pl.run_pilot(project, gateway(project), progress=events.append)
    assert report.phase == "pilot" and report.requested == 50 and report.generated >= 45
    assert report.kept == len(project.read_rows(ps.PILOT_EXAMPLES, TrainingExample)) > 0
    assert report.pass_rate >= 0.7 and report.retries == 0
    assert set(report.filters) >= {"format", "length", "completeness", "coherence", "leakage", "diversity"}
    assert sum(c.checked for c in report.categories.values()) == report.generated
    assert report.prompt_tokens > 0 and report.completion_tokens > 0 and report.seconds > 0
    rejected = project.read_rows(ps.PILOT_REJECTED, TrainingExample)
    assert len(rejected) == report.generated - report.kept
    log = project.read_rows(ps.QUALITY_LOG, QualityLogRow)
    assert {r.example_id for r in log} == {ex.id for ex in rejected}
    assert all(r.phase == "pilot" and not r.passed and r.reason_code != "ok" for r in log)
    assert sum(report.rejections_by_reason.values()) == len(rejected)
    run = project.read(ps.PILOT_RUN, ps.PilotRun)
    assert run.requests > 0 and len(run.attempts) == 1 and run.model == "openai/fake-model"
    summary = rp.read_summary(project)
    assert summary.pilot == report and summary.strategy == report.strategy
    assert any("pilot attempt 1" in str(e) for e in events)
    project.reload()
    assert project.meta.is_done("generate", "pilot") and not project.meta.is_done("generate", "pilot_approved")


def _short_until_told(replies, instruction: str, share: float = 0.7):
    """A GeneratedBatch rule: most responses are one word until the prompt carries ``instruction``."""
    from tests.fakes.llm_server import request_text

    def reply(request: dict) -> dict:
        payload = replies.batch(request)
        if instruction not in request_text(request):
            rng = random.Random(request_text(request))
            for ex in payload["examples"]:
                if rng.random() < share:
                    ex["response"] = "Sure."
        return payload

    return reply


def test_pilot_retries_with_adjusted_prompts_when_the_pass_rate_is_low(fake_llm, project: Project) -> None:
    from tests.fakes.generate_replies import install

    hint = pl.REASON_INSTRUCTIONS["too_short"]
    replies = install(fake_llm)
    fake_llm.reset()
    fake_llm.on_schema("GeneratedBatch", _short_until_told(replies, hint))
    fake_llm.on_schema("CritiqueBatch", {"revisions": []})  # self-critique changes nothing
    install(fake_llm)  # the other schemas as usual
    report = pl.run_pilot(project, gateway(project))
    run = project.read(ps.PILOT_RUN, ps.PilotRun)
    assert report.retries == 1 and len(run.attempts) == 2
    first, second = run.attempts
    assert first.pass_rate < 0.7 and first.top_reasons[0].startswith("too_short")
    assert hint in first.instructions_added
    assert second.pass_rate >= 0.7 and report.pass_rate == second.pass_rate
    assert hint in project.read(ps.PILOT_FEEDBACK, ps.PilotFeedback).filter_instructions
    assert any(hint in text for text in gen_requests(fake_llm))
    # the instruction answers the length setting: once that changes, it expires (the defect: a "several
    # sentences" hint outlived the setting that caused it and reached the scale-up's prompts)
    with project.writing():
        project.reload()
        project.meta.config.generate.quality_thresholds.min_length = 3
        project.save()
    fake_llm.reset()
    install(fake_llm)
    report = pl.run_pilot(project, gateway(project))
    assert hint not in project.read(ps.PILOT_FEEDBACK, ps.PilotFeedback).filter_instructions
    assert any("no longer applies" in n for n in report.notes)


def test_pilot_retries_are_bounded(fake_llm, project: Project) -> None:
    from tests.fakes.generate_replies import install

    replies = install(fake_llm)
    fake_llm.reset()
    fake_llm.on_schema("GeneratedBatch", _short_until_told(replies, "never-sent", share=0.8))
    fake_llm.on_schema("CritiqueBatch", {"revisions": []})
    install(fake_llm)
    project.meta.config.generate.max_pilot_retries = 1
    project.save()
    report = pl.run_pilot(project, gateway(project))
    assert report.retries == 1 and report.pass_rate < 0.7
    assert len(project.read(ps.PILOT_RUN, ps.PilotRun).attempts) == 2


# ---------------------------------------------------------------- the pilot review


def test_review_rejection_feeds_notes_into_the_next_pilot(fake_llm, project: Project) -> None:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    pl.run_pilot(project, gateway(project))
    rnd = rv.current_round(project)
    assert rnd.number == 1 and len(rnd.sample) == 5 and rnd.rated == 0
    assert len({ex.category for ex in rnd.sample}) >= 3  # spread over the categories
    with pytest.raises(BadInput):
        rv.rate(project, "nope", True)
    assert rv.conclude(project) == "pending"
    first, second, *rest = rnd.sample
    rv.rate(project, first.id, False, "always mention the payment deadline")
    rv.rate(project, second.id, True)
    rv.undo(project, second.id)
    assert rv.current_round(project).rated == 1
    rv.rate(project, second.id, False, "too generic, name the form")
    for ex in rest:
        rv.rate(project, ex.id, True)
    assert rv.conclude(project) == "rejected"  # 3/5 good
    project.reload()
    assert not project.meta.is_done("generate", "pilot")
    assert "generate the pilot" in project.meta.next_hint()
    fb = project.read(ps.PILOT_FEEDBACK, ps.PilotFeedback)
    assert any("always mention the payment deadline" in n for n in fb.review_notes)
    with pytest.raises(BadInput, match="concluded"):
        rv.rate(project, first.id, True)
    with pytest.raises(StageNotReady, match="pilot is not approved"):
        sc.run_scale(project, gateway(project), target=10)

    fake_llm.requests.clear()
    pl.run_pilot(project, gateway(project))
    prompts = gen_requests(fake_llm)
    assert prompts and all("always mention the payment deadline" in t and "name the form" in t for t in prompts)
    rnd = rv.current_round(project)
    assert rnd.number == 2 and rnd.outcome is None and rnd.rated == 0
    approve_pilot(project)
    project.reload()
    assert project.meta.is_done("generate", "pilot_approved")
    review = project.read(ps.PILOT_REVIEW, rv.PilotReview)
    assert [h.outcome for h in review.history] == ["rejected", "approved"]
    assert rp.read_summary(project).pilot_review.outcome == "approved"  # type: ignore[union-attr]


def test_review_needs_more_than_the_approval_rate(fake_llm, project: Project) -> None:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    pl.run_pilot(project, gateway(project))
    rnd = rv.current_round(project)
    for i, ex in enumerate(rnd.sample):
        rv.rate(project, ex.id, i > 0)  # 4 of 5 good: exactly 80% is not more than 80%
    assert rv.conclude(project) == "rejected"
    assert "The domain expert rejected" in project.read(ps.PILOT_FEEDBACK, ps.PilotFeedback).review_notes[0]


# ---------------------------------------------------------------- projection and budget


def test_projection_and_budget(fake_llm, project: Project) -> None:
    from tests.fakes.generate_replies import install

    install(fake_llm)
    report = pl.run_pilot(project, gateway(project))
    p = sc.projection(project, target=1000)
    run = project.read(ps.PILOT_RUN, ps.PilotRun)
    assert p.examples_needed == pytest.approx(1000 / report.pass_rate, abs=1)
    per = p.examples_needed / sum(a.generated for a in run.attempts)
    assert p.requests == pytest.approx((run.requests + run.cache_hits) * per, abs=1)
    assert p.tokens == pytest.approx((report.prompt_tokens + report.completion_tokens) * per, rel=0.01)
    assert p.seconds > 0 and "projection: 1000 more examples" in p.describe()
    # a priced pilot: $0.50 for its examples makes 1,000 cost ~$10
    project.write(ps.PILOT_REPORT, report.model_copy(update={"cost_usd": 0.5}))
    p = sc.projection(project, target=1000, budget_usd=5.0)
    assert p.cost_usd == pytest.approx(0.5 * per, rel=0.01) and p.over_budget
    with pytest.raises(sc.BudgetTooLow, match="--budget"):
        sc.check_budget(p)
    sc.check_budget(sc.projection(project, target=1000, budget_usd=100.0))
    approve_pilot(project)
    with pytest.raises(sc.BudgetTooLow):
        sc.run_scale(project, gateway(project), target=1000, budget_usd=5.0)
    assert not project.exists(ps.SCALE_STATE)


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
def test_pilot_review_scale_end_to_end(fake_llm, projects_root: Path, _model) -> None:
    """With the real MiniLM embeddings."""
    project = ready_project(projects_root)
    from tests.fakes.generate_replies import install

    install(fake_llm)
    pl.run_pilot(project, gateway(project))
    approve_pilot(project)
    events: list[pl.GenerationProgress] = []
    report = sc.run_scale(project, gateway(project), target=60, progress=events.append)
    assert report.phase == "scale" and report.kept == 60 and report.requested == 60
    assert report.generated >= 60 and 0 < report.pass_rate <= 1
    train, val = dataset_rows(project)
    assert len(train) + len(val) == 60 and len(val) == 6
    assert all(set(r) == {"messages"} for r in train + val)
    parts = [e for e in events if e.part]
    assert parts and parts[-1].kept >= 60 and parts[-1].target == 60 and "examples/s" in str(parts[-1])
    project.reload()
    assert project.meta.is_done("generate", "scale") and project.meta.is_done("generate", "validated")

    import datasets

    loaded = datasets.load_dataset("parquet", data_files={"train": str(project.path(ps.TRAIN_FILE)),
                                                          "validation": str(project.path(ps.VALIDATION_FILE))},
                                   cache_dir=str(project.cache_dir / "hf"))
    assert loaded["train"].num_rows == 54 and loaded["validation"].num_rows == 6
    assert loaded["train"].column_names == ["messages"]
    assert loaded["train"][0]["messages"][-1]["role"] == "assistant"

    import yaml

    card = project.path(ps.DATASET_CARD).read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["task_categories"] == ["text-generation"] and meta["size_categories"] == ["n<1K"]
    assert {f["split"] for f in meta["configs"][0]["data_files"]} == {"train", "validation"}
    assert "synthetic" in meta["tags"] and "sft" in meta["tags"]
    for heading in ("## Task", "## Format", "## Sizes", "## Quality filters", "## Pilot spot-check",
                    "## Limitations"):
        assert heading in card
    assert "5 of 5 pilot examples rated good" in card and "openai/fake-model" in card
    assert (project.path(ps.DATASET_DIR) / "README.md").read_text() == card

    summary = rp.read_summary(project)
    assert summary.scale == report and summary.splits == {"train": 54, "validation": 6}
    assert summary.validation.ok and summary.validation.trainer == "SFTTrainer"  # type: ignore[union-attr]
    assert len(summary.scale_review_sample) == 5
    log = project.read_rows(ps.QUALITY_LOG, QualityLogRow)
    assert {r.phase for r in log} <= {"pilot", "scale"}
    assert sum(1 for r in log if r.phase == "scale") == report.generated - sc.load_state(project).kept
    # a finished scale-up can be resumed harmlessly, and another --scale starts afresh only when asked
    assert sc.run_scale(project, gateway(project), resume=True).kept == 60


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dpo", "kto", "grpo"])
def test_other_formats_end_to_end(fake_llm, projects_root: Path, fast_embeddings, method: str) -> None:
    from tests.fakes.generate_replies import install
    from tests.fakes.tiny_model import tiny_model_path
    from transformers import AutoTokenizer

    install(fake_llm, method=method)
    p = ready_project(projects_root, method=method)
    pl.run_pilot(p, gateway(p))
    approve_pilot(p)
    tok = AutoTokenizer.from_pretrained(tiny_model_path())
    report = sc.run_scale(p, gateway(p), target=20, tokenizer=tok)
    assert report.kept == 20
    train, val = dataset_rows(p)
    expected = {"dpo": {"prompt", "chosen", "rejected"}, "kto": {"prompt", "completion", "label"},
                "grpo": {"prompt", "reference", "should_refuse", "category", "difficulty"}}[method]
    assert len(train) + len(val) == 20 and all(set(r) == expected for r in train + val)
    v = rp.read_summary(p).validation
    assert v.ok and v.tokenizer and v.rows == 20  # type: ignore[union-attr]


# ---------------------------------------------------------------- dataset pieces


def _ex(i: int, category: str, fmt: str = "sft_conversational", record: dict | None = None) -> TrainingExample:
    rec = record or {"messages": [{"role": "user", "content": f"question {i}?"},
                                  {"role": "assistant", "content": f"answer {i}."}]}
    return TrainingExample(id=f"x{i}", format=fmt, record=rec, category=category,  # type: ignore[arg-type]
                           difficulty="easy", strategy="few_shot", model="m", prompt_version="v")


def test_split_is_stratified_seeded_and_keeps_order() -> None:
    examples = [_ex(i, "a" if i < 60 else "b" if i < 90 else "c") for i in range(100)]
    train, val = ds.split(examples, 0.1, seed="s")
    assert len(val) == 10 and len(train) == 90
    assert [e.category for e in val].count("a") == 6 and [e.category for e in val].count("b") == 3
    assert ds.split(examples, 0.1, seed="s") == (train, val)
    assert [e.id for e in train] == sorted((e.id for e in train), key=lambda s: int(s[1:]))
    assert ds.split(examples[:3], 0.05, seed="s")[1] and ds.split(examples[:1], 0.5, seed="s")[1] == []
    assert ds.split(examples, 0.0, seed="s")[1] == []


def test_validation_catches_bad_rows_with_and_without_a_tokenizer() -> None:
    from tests.fakes.tiny_model import tiny_model_path
    from transformers import AutoTokenizer

    good = ds.columns_of([_ex(i, "a") for i in range(3)])
    v = ds.validate(good, "sft_conversational")
    assert v.ok and v.tokenizer is None and "structure" in v.describe() and v.note
    tok = AutoTokenizer.from_pretrained(tiny_model_path())
    v = ds.validate(good, "sft_conversational", tok)
    assert v.ok and v.tokenizer and "chat template" in v.describe()
    bad = good + [{"messages": [{"role": "user", "content": "only a question"}]}, {"prompt": "plain"}]
    v = ds.validate(bad, "sft_conversational", tok)
    assert not v.ok and any("row 3" in e for e in v.errors) and any("unexpected columns" in e for e in v.errors)
    assert not ds.validate(good, "dpo").ok  # wrong columns for the trainer
    grpo = ds.columns_of([_ex(1, "a", "grpo", {"prompt": [{"role": "user", "content": "q?"}], "reference": "r",
                                                "should_refuse": False, "category": "a", "difficulty": "easy"})])
    assert ds.validate(grpo, "grpo", tok).ok


def test_push_dataset_calls_the_hub_with_a_private_repo(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict]] = []

    class StubApi:
        def create_repo(self, repo_id: str, **kw: Any) -> str:
            calls.append(("create_repo", {"repo_id": repo_id, **kw}))
            return f"https://huggingface.co/datasets/{repo_id}"

        def upload_folder(self, **kw: Any) -> None:
            calls.append(("upload_folder", kw))

    with pytest.raises(StageNotReady):
        rp.push_dataset(project, "me/helpdesk", api=StubApi())
    project.mark("generate", "pilot")
    project.mark("generate", "pilot_approved")
    project.mark("generate", "scale")
    project.mark("generate", "validated")
    with pytest.raises(BadInput):
        rp.push_dataset(project, "no-namespace", api=StubApi())
    url = rp.push_dataset(project, "me/helpdesk", token="hf_secretsecretsecret", api=StubApi())
    assert url == "https://huggingface.co/datasets/me/helpdesk"
    (name, create), (_, upload) = calls
    assert create == {"repo_id": "me/helpdesk", "repo_type": "dataset", "private": True, "exist_ok": True}
    assert upload["folder_path"] == str(project.path(ps.DATASET_DIR)) and upload["repo_type"] == "dataset"
    assert "*.parquet" in upload["allow_patterns"] and "README.md" in upload["allow_patterns"]
    for path in project.folder.rglob("*"):
        if path.is_file():
            assert b"hf_secretsecretsecret" not in path.read_bytes()
    # without a stub the token goes to HfApi(token=...) only
    made: list[dict] = []

    class FakeHfApi(StubApi):
        def __init__(self, **kw: Any) -> None:
            made.append(kw)

    monkeypatch.setattr("huggingface_hub.HfApi", FakeHfApi)
    rp.push_dataset(project, "me/helpdesk", token="hf_secretsecretsecret", private=False)
    assert made == [{"token": "hf_secretsecretsecret"}] and calls[-2][1]["private"] is False


def test_instruction_for_every_reason_code() -> None:
    from core.generate.filters.chain import REASON_CODES

    for codes in REASON_CODES.values():
        for code in codes:
            text = pl.instruction_for(code)
            assert text.endswith(".") and len(text) > 20, code
    assert "unknown thing" in pl.instruction_for("unknown_thing", "custom")
    assert pl.reasons_of([("too_short", 3)]) == [("", "too_short", 3)]


# ---------------------------------------------------------------- the planned mix (issue 11)


def test_refusals_the_filters_keep_rejecting_keep_the_dataset_from_being_ready(fake_llm, project: Project) -> None:
    """The defect: a 200-row set came out with 0 refusals and was marked validated. Here every refusal
    repeats an eval-set input (eval_leak): the refusal cells are topped up, adjusted, given up on, and the
    dataset is written but not ready, with the setting to change named."""
    from core.generate.dataset import DatasetInvalid
    from tests.fakes.generate_replies import install

    leaked = EVAL_INPUTS[5]  # an out-of-scope eval input

    def tweak(kind: str, quota: dict, payload: dict) -> dict:
        if kind == "refusal":
            for e in payload["examples"]:
                e["input"] = leaked
        return payload

    install(fake_llm, tweak=tweak)
    pl.run_pilot(project, gateway(project))
    approve_pilot(project)
    with pytest.raises(DatasetInvalid, match="refusal examples are short of the plan") as err:
        sc.run_scale(project, gateway(project), target=60)
    assert "eval_leak" in str(err.value) and "tunesmith generate helpdesk --resume" in str(err.value)
    project.reload()
    assert project.meta.is_done("generate", "scale") and not project.meta.is_done("generate", "validated")
    state = sc.load_state(project)
    assert state.exhausted and all(k.startswith("refusal|") for k in state.exhausted)
    assert any(k.startswith("refusal|") for k in state.cell_feedback), "the failing cells got their own adjustment"
    summary = rp.read_summary(project)
    assert summary.scale.kept_by_kind.get("refusal", 0) < summary.scale.planned_by_kind["refusal"]
    assert summary.scale.kept_by_kind["common"] == summary.scale.planned_by_kind["common"]
    assert any("refusal examples" in n for n in summary.scale.notes)


def test_the_scale_up_sample_is_reviewable_from_the_cli(fake_llm, project: Project, capsys) -> None:
    from core.cli import main
    from core.generate import scale_review as sr
    from tests.fakes.generate_replies import install
    from tests.test_generate_cli import Piped

    install(fake_llm)
    pl.run_pilot(project, gateway(project))
    approve_pilot(project)
    sc.run_scale(project, gateway(project), target=40)
    import sys

    old = sys.stdin
    sys.stdin = Piped("y\nn too generic\n")
    try:
        assert main(["review", project.slug, "scale"]) == 0
    finally:
        sys.stdin = old
    out = capsys.readouterr().out
    assert "2/5 rated, 1 good" in out and "too generic" in out
    rnd = sr.current_round(project)
    assert rnd.rated == 2 and len(rnd.pending) == 3  # resumable: the next run asks for the other three


@pytest.mark.timeout(240)
def test_a_cell_whose_examples_come_back_again_ends_short_instead_of_hanging(fake_llm, project: Project) -> None:
    """The defect (seen in bench/generation_throughput.py): examples generated again were dropped as
    duplicates but still counted as on their way, so the run stopped asking for their cell yet never
    finished, spinning at 2004/2000 kept. Repeats now count against the cell's attempts."""
    from tests.fakes.generate_replies import install

    def tweak(kind: str, quota: dict, payload: dict) -> dict:
        if kind == "edge":  # the same one example for the cell, however often it is asked
            payload["examples"] = [
                {"input": f"An odd {quota['category']} case ({quota['difficulty']}), number {i}: the statement "
                          f"shows two balances for the same month and I do not know which one to pay",
                 "response": f"Pay the balance marked 'due' ({i}); the other is last month's, shown for reference. "
                             f"If both are marked due, call us and we will merge them before the due date."}
                for i in range(1)]
        return payload

    install(fake_llm, tweak=tweak)
    pl.run_pilot(project, gateway(project))
    approve_pilot(project)
    report = sc.run_scale(project, gateway(project), target=60)
    state = sc.load_state(project)
    assert state.status == "complete" and state.duplicate_ids > 0
    two = [k for k, n in state.quotas.items() if k.startswith("edge|") and n >= 2]
    assert two and set(two) <= set(state.exhausted), "a cell that cannot fill is given up on, not asked forever"
    assert all(state.cell_reasons[k].get("near_duplicate") for k in two)
    assert report.kept_by_kind.get("edge", 0) < report.planned_by_kind["edge"]
    assert report.kept_by_kind["common"] == report.planned_by_kind["common"]
