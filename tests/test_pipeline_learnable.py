"""A learnable task end to end: interview → eval set → pilot → scale-up of 500 → local training of a tiny
model → evaluation against its untrained base → spot-check → decision.

The model behind every role is the rule-based teacher (tests/fakes/teacher.py): it routes bookshop
tickets to billing, delivery or account by their words and declines everything else, consistently at
every stage. The tiny model trained on its data must be far better than its base, with p < 0.05, refusal
accuracy reported, and a DEPLOY or REVIEW verdict whose every reason is true of the measured figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

SLUG = "ticket-router"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_learnable_task_gives_a_better_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.embed import Embedder
    from tests.e2e import inprocess
    from tests.e2e.driver import Pipeline
    from tests.fakes import fake_env, teacher
    from tests.fakes.llm_server import FakeLLMServer
    from tests.fakes.tiny_model import build_tiny_model
    from tests.test_generate_pipeline import HashEmbedder

    monkeypatch.setattr(Embedder, "for_project", classmethod(lambda cls, project, **kw: HashEmbedder()))
    inprocess.install(monkeypatch)
    tiny = str(build_tiny_model(tmp_path / "tiny"))
    with FakeLLMServer() as srv:
        teacher.install(srv)
        pl = Pipeline(tmp_path / "projects", fake_env(srv.base_url))
        pl.cli("new", "Ticket Router", "--task", teacher.TASK, "--preset", "standard")
        m = pl.project(SLUG).meta
        assert (m.task_type, tuple(m.labels)) == ("classification", teacher.LABELS), m.task_type_reason

        def settings(meta) -> None:
            meta.config.generate.pilot_size = 50
            t = meta.config.train
            t.max_steps, t.learning_rate, t.per_device_train_batch_size = 150, 3e-3, 16
            t.gradient_accumulation_steps, t.use_lora, t.logging_steps, t.max_length = 1, "no", 25, 128
            t.warmup_ratio, t.lr_scheduler_type = 0.05, "linear"
            meta.config.evaluate.spot_check_size = 15

        pl.configure(SLUG, settings)
        pl.cli("interview", SLUG, "--persona", "1", stdin="\n" * 40)
        pl.cli("boundaries", SLUG, "--approve")
        p = pl.project(SLUG)
        from core.refusal import rule_for

        assert rule_for(p).message == teacher.REFUSAL
        assert p.meta.task_type_source in ("llm", "interview", "heuristic")
        pl.cli("evalset", SLUG, "--size", "50")
        pl.cli("evalset", SLUG, "--approve")
        pl.cli("generate", SLUG, "--pilot")
        pl.cli("review", SLUG, "pilot", stdin="y\n" * 10)
        out = pl.cli("generate", SLUG, "--scale", "--target", "500", "--yes")
        assert "refusal 50/50" in out, out[-2000:]
        out = pl.cli("train", SLUG, "--base-model", tiny, "--yes", "--follow")
        assert "exact match" in out or "exact_match" in out, out[-3000:]
        pl.cli("evaluate", SLUG, "--max-new-tokens", "32")
        pl.cli("spot-check", SLUG, stdin="y trust\n" * 30)
        out = pl.cli("decide", SLUG)
        folder = tmp_path / "projects" / SLUG
        pl.cli("export", SLUG)

    decision = json.loads((folder / "exports" / "deployment_decision.json").read_text())
    comparison = json.loads((folder / "exports" / "comparison_analysis.json").read_text())
    overall, sig, refusal = comparison["overall"], comparison["significance"], comparison["refusal"]
    assert decision["verdict"] in ("deploy", "review"), out
    assert overall["candidate"] - overall["base"] >= 0.5, overall
    assert sig["p_value"] < 0.05, sig
    assert refusal["n_out_of_scope"] > 0 and refusal["candidate_accuracy"] is not None, refusal
    assert comparison["methods"].get("exact_match", 0) > 0, comparison["methods"]
    for line in decision["reasoning"]:
        assert_true(line, decision, comparison)
    assert decision["reasons"] or decision["verdict"] == "deploy", decision
    assert all(not line.startswith("DEPLOY") for line in decision["reasoning"]), "passed rules say PASS"


def _num(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in {text!r}"
    return float(m.group(1))


def _detail(decision: dict, rule: str) -> str:
    """The statistical detail line behind a rule (``details`` start with the rule's name)."""
    lines = [d for d in decision["details"] if d.startswith(rule)]
    assert lines, (rule, decision["details"])
    return lines[0]


def assert_true(line: str, decision: dict, comparison: dict) -> None:
    """A reason of the decision holds for the measured figures (by its rule tag)."""
    level, rule = re.match(r"(\w+) \[(\w+)\]", line).groups()
    overall, sig, refusal = comparison["overall"], comparison["significance"], comparison["refusal"]
    if rule == "improvement":
        pts = _num(r"is ([\d.]+) points (?:better|worse)", line)
        if " worse " in line:
            pts = -pts
        assert abs(pts - 100 * overall["delta"]) < 0.06, (line, overall)
        assert abs(_num(r"([+-][\d.]+) pts", _detail(decision, "improvement")) - pts) < 0.06
        if level == "PASS":
            assert pts > _num(r"more than ([\d.]+) points", line), line
    elif rule == "significance":
        detail = _detail(decision, "significance")
        assert abs(_num(r"p = ([\d.e+-]+)", detail) - sig["p_value"]) < 5e-4 or sig["p_value"] < 1e-3, (detail, sig)
        if level == "PASS":
            assert sig["p_value"] < sig["alpha"], line
    elif rule == "refusal":
        acc = _num(r"accuracy ([\d.]+)%", _detail(decision, "refusals"))
        assert abs(acc - 100 * refusal["candidate_accuracy"]) < 0.06, (line, refusal)
        n = refusal["n_out_of_scope"]
        if level == "PASS":
            assert refusal["candidate_accuracy"] >= 1.0 and f"all {n} out-of-scope" in line, line
    elif rule == "weighted_score":
        assert abs(_num(r"weighted score ([\d.]+)", line) - decision["weighted_score"]) < 0.006, line
    elif rule == "regressions" and level == "PASS":
        worst = min([c["delta"] for group in ("by_category", "by_difficulty", "by_kind")
                     for c in comparison[group].values() if c.get("delta") is not None] or [0.0])
        assert worst >= -0.02, (line, worst)
