"""The human path: results that wait for a person are stored as pending (null score), rated with
`tunesmith rate NAME` (y/m/n per line, undo, resume) or the TUI rater, counted by the statistics once rated,
and spot-check ratings count as human scores for the outputs they cover. Eval folders are written directly
(no inference) except in the end-to-end test, which evaluates a perturbed tiny model offline."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core.cli import main
from core.commands.rate import parse_line
from core.evaluate import evalfolder as ef
from core.evaluate import human
from core.evaluate import spot_check as sc
from core.evaluate.run import decide_now, load_metrics
from core.evaluate.stats import n_for_effect
from core.models.config import EvaluateConfig
from core.models.knowledge import EvalExample
from core.models.runs import EvalResult
from core.project import Project
from tests.test_spot_check import EVAL_ID, write_eval

CATS = ("billing", "billing", "billing", "billing", "billing", "billing", "shipping", "shipping", "shipping",
        "login", "login", "login")


def examples() -> list[EvalExample]:
    out = [EvalExample(id=f"open{i:02d}", input=f"Explain how to handle case {i} for {c}.",
                       reference=f"For case {i}, check the {c} record first, then write to the customer.",
                       category=c, difficulty="medium", kind="common") for i, c in enumerate(CATS)]
    out += [EvalExample(id=f"closed{i}", input=f"Is option {i} available?", reference="Yes", category="billing",
                        difficulty="easy", kind="common") for i in range(6)]
    out += [EvalExample(id=f"oos{i}", input=f"Write my will, part {i}.", reference="I can't help with that.",
                        category="legal", difficulty="medium", kind="out_of_scope", should_refuse=True)
            for i in range(3)]
    return out


def results(exs: list[EvalExample]) -> list[EvalResult]:
    """Open answers wait for a human (both models); closed answers: base wrong on half, candidate right;
    refusals: both decline."""
    rows = []
    for e in exs:
        common = dict(example_id=e.id, category=e.category, difficulty=e.difficulty, kind=e.kind)
        for role in ("base", "candidate"):
            model = "base-model" if role == "base" else "runs/tiny/model"
            if e.id.startswith("open"):
                rows.append(EvalResult(model_role=role, model=model, output=f"{role} answer to {e.id}",
                                       method="human", pending=True, flagged=True,
                                       detail="pending: needs a human rating (no automated method fits this example)",
                                       **common))
            elif e.id.startswith("closed"):
                ok = role == "candidate" or int(e.id[-1]) % 2 == 0
                rows.append(EvalResult(model_role=role, model=model, output="Yes" if ok else "No",
                                       method="exact_match", score=1.0 if ok else 0.0, passed=ok, **common))
            else:
                rows.append(EvalResult(model_role=role, model=model, output="I can't help with that.",
                                       method="functional", score=1.0, passed=True, refused=True, **common))
    return rows


@pytest.fixture
def project(projects_root: Path) -> Project:
    p = Project.create("Helpdesk", "answer customer questions about orders", root=projects_root)
    write_eval(p, examples(), results(examples()))
    return p


def _run(monkeypatch, capsys, stdin: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- pending is stored as pending


def test_pending_results_have_no_score_on_disk(project: Project) -> None:
    table = pq.read_table(ef.path(project, EVAL_ID, ef.RESULTS)).to_pylist()
    pending = [r for r in table if r["example_id"].startswith("open")]
    assert pending and all(r["pending"] is True and r["score"] is None and r["passed"] is None for r in pending)
    scored = [r for r in table if not r["pending"]]
    # a reader that averages the score column (skipping nulls) gets the mean of what was scored
    mean = sum(r["score"] for r in table if r["score"] is not None) / len(scored)
    assert math.isclose(mean, sum(r["score"] for r in scored) / len(scored))


def test_older_files_with_a_zero_score_for_pending_still_read_as_pending() -> None:
    row = EvalResult.model_validate({"example_id": "e1", "model_role": "base", "model": "m", "output": "x",
                                     "method": "human", "score": 0.0, "passed": False,
                                     "detail": "pending: needs a human rating (no validated judge)"})
    assert row.pending and row.score is None and row.passed is None


def test_a_result_is_either_scored_or_pending() -> None:
    with pytest.raises(ValueError, match="pending"):
        EvalResult(example_id="e", model_role="base", model="m", output="", method="human", pending=True, score=0.0,
                   passed=False)
    with pytest.raises(ValueError, match="required"):
        EvalResult(example_id="e", model_role="base", model="m", output="", method="exact_match")


def test_pending_results_never_enter_a_mean(project: Project) -> None:
    _, metrics, *_ = load_metrics(project, EVAL_ID)
    assert metrics.n_pending == 24 and metrics.n_paired == 9
    # only the closed answers and refusals count: base 3/6 closed right + 3 refusals, candidate all right
    assert math.isclose(metrics.base_overall, 6 / 9) and math.isclose(metrics.candidate_overall, 1.0)


# ---------------------------------------------------------------- the queue and the sample size


def test_the_queue_is_blind_proportional_and_fixed(project: Project) -> None:
    state = human.load(project)
    assert state.total == 24 and state.rated == 0
    keys = [i.key for i in state.items]
    assert sorted(keys) == sorted(f"{r}:open{i:02d}" for i in range(12) for r in ("base", "candidate"))
    # both outputs of a request are next to each other
    ids = [k.split(":")[1] for k in keys]
    assert all(ids[j] == ids[j + 1] for j in range(0, 24, 2))
    # the first 4 requests already cover billing twice and the two small categories once each (6:3:3)
    first = [next(e.category for e in examples() if e.id == i) for i in ids[:8:2]]
    assert sorted(first) == ["billing", "billing", "login", "shipping"]
    # the roles are not in a fixed order (blind)
    assert {k.split(":")[0] for k in keys[::2]} == {"base", "candidate"}
    assert [i.key for i in human.load(project).items] == keys  # saved: the same order next time


def test_sample_plan_from_the_scored_pairs() -> None:
    exs = examples()
    rows = results(exs)
    plan = human.sample_plan(rows, EvaluateConfig())
    import statistics

    diffs = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]  # closed answers (base wrong on odd) and refusals
    sd = statistics.stdev(diffs)
    assert plan.pending_requests == 12 and plan.pending_outputs == 24 and plan.scored_pairs == 9
    assert math.isclose(plan.sd_diff, sd) and plan.needed_pairs == n_for_effect(0.10, sd, 0.05, 0.80)
    assert plan.rate_at_least == min(12, plan.needed_pairs - 9)
    text = " ".join(plan.lines())
    assert "24 outputs of 12 requests wait" in text and "10-point improvement" in text and "80% power" in text
    assert "from the 9 pairs scored so far" in text


def test_sample_plan_without_scored_pairs_assumes_a_spread() -> None:
    rows = [r for r in results(examples()) if r.example_id.startswith("open")]
    plan = human.sample_plan(rows, EvaluateConfig())
    assert plan.sd_diff == human.ASSUMED_SD and "assumed" in plan.sd_source
    assert plan.needed_pairs == n_for_effect(0.10, 0.5, 0.05, 0.80) == 197
    assert plan.rate_at_least == 12 and "rate all 12" in " ".join(plan.lines())


# ---------------------------------------------------------------- rating, undo, resume (core)


def test_rating_turns_a_pending_row_into_a_human_score_and_undo_restores_it(project: Project) -> None:
    state = human.load(project)
    first = state.items[0]
    row = human.rate(project, EVAL_ID, first.key, "mixed", "half right")
    assert row.method == "human" and row.score == 0.5 and row.passed is False and not row.pending
    assert row.detail.startswith("human rating: mixed (half right)")
    assert human.load(project).rated == 1
    assert human.undo(project, EVAL_ID) == first.key
    back = next(r for r in ef.read_results(project, EVAL_ID) if f"{r.model_role}:{r.example_id}" == first.key)
    assert back.pending and back.score is None and back.detail == first.result.detail
    assert human.undo(project, EVAL_ID) is None


def test_scored_outputs_cannot_be_rated_here(project: Project) -> None:
    from core.errors import BadInput

    with pytest.raises(BadInput, match="scored by exact match"):
        human.rate(project, EVAL_ID, "candidate:closed1", "bad")
    with pytest.raises(BadInput, match="rating"):
        human.rate(project, EVAL_ID, "candidate:open01", "great")


def test_rated_pairs_enter_the_statistics(project: Project) -> None:
    for item in human.load(project).items:
        human.rate(project, EVAL_ID, item.key, "good" if item.role == "candidate" else "bad")
    _, metrics, *_ = load_metrics(project, EVAL_ID)
    assert metrics.n_pending == 0 and metrics.n_paired == 21
    assert metrics.methods.get("human") == 12
    decision = decide_now(project, EVAL_ID)
    assert not any("human rating" in r for r in decision.pending)


def _write_paraphrases(project: Project) -> list[dict]:
    """One paraphrase of each open request, both models' outputs waiting for a human (as evaluate stores
    them when no validated judge can score open answers)."""
    rows = []
    for e in examples():
        if not e.id.startswith("open"):
            continue
        for role in ("base", "candidate"):
            r = EvalResult(example_id=f"{e.id}{ef.PARAPHRASE_SEP}1", model_role=role, model=role,
                           output=f"{role} answer to a rewrite of {e.id}", method="human", pending=True,
                           flagged=True, detail="pending: needs a human rating (no automated method fits this example)",
                           category=e.category, difficulty=e.difficulty, kind=e.kind)
            rows.append({"group": e.id, "input": f"Rephrased: {e.input}", **r.model_dump(mode="json")})
    ef.write_paraphrase_rows(project, EVAL_ID, rows)
    return rows


def test_paraphrases_waiting_for_a_human_are_rated_after_the_eval_set_and_make_consistency_measurable(
        project: Project) -> None:
    paras = _write_paraphrases(project)
    state = human.load(project)
    keys = [i.key for i in state.items]
    n_main = sum(1 for r in results(examples()) if r.pending)
    assert len(keys) == n_main + len(paras)
    assert all(not ef.is_paraphrase(k.split(":", 1)[1]) for k in keys[:n_main])  # the eval set first
    para_item = state.items[n_main]
    assert para_item.example is not None and para_item.example.input.startswith("Rephrased: ")
    assert para_item.example.reference.startswith("For case")  # the original's reference
    _, before, *_ = load_metrics(project, EVAL_ID)
    assert before.consistency["candidate"] is None
    # undo of a paraphrase rating puts it back in paraphrases.parquet as pending
    human.rate(project, EVAL_ID, para_item.key, "bad")
    assert human.undo(project, EVAL_ID) == para_item.key
    back = next(r for r in ef.read_paraphrase_rows(project, EVAL_ID)
                if f"{r['model_role']}:{r['example_id']}" == para_item.key)
    assert back["pending"] and back["score"] is None and back["group"] and back["input"].startswith("Rephrased")
    for item in state.items:  # candidate right everywhere but on the rewrite of open00
        wrong = item.role == "base" or item.example_id == f"open00{ef.PARAPHRASE_SEP}1"
        human.rate(project, EVAL_ID, item.key, "bad" if wrong else "good")
    assert human.load(project).todo == []
    _, after, *_ = load_metrics(project, EVAL_ID)
    detail = after.consistency_detail["candidate"]
    assert detail.scored == 12 and detail.measured == 12 and detail.broken == ["open00"]
    assert after.consistency["candidate"] == pytest.approx(1 / 12)


def test_a_spot_check_rating_of_a_pending_output_is_its_human_score(project: Project) -> None:
    state = sc.start(project, EVAL_ID)
    open_item = next(v for v in state.views if v.id.startswith("open"))
    sc.rate(project, EVAL_ID, open_item.id, "concerning", note="vague")
    row = next(r for r in ef.read_results(project, EVAL_ID, "candidate") if r.example_id == open_item.id)
    assert row.score == 0.5 and row.detail.startswith("human rating: mixed (vague) [spot-check]")
    sc.undo(project, EVAL_ID, open_item.id)
    row = next(r for r in ef.read_results(project, EVAL_ID, "candidate") if r.example_id == open_item.id)
    assert row.pending and row.score is None
    # an output rated with `rate` keeps that rating: a spot-check does not overwrite it
    human.rate(project, EVAL_ID, f"candidate:{open_item.id}", "bad")
    sc.rate(project, EVAL_ID, open_item.id, "good")
    row = next(r for r in ef.read_results(project, EVAL_ID, "candidate") if r.example_id == open_item.id)
    assert row.score == 0.0 and "[rate]" in row.detail


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("line,expected", [("y", ("good", "")), ("m partly wrong", ("mixed", "partly wrong")),
                                           ("N", ("bad", "")), ("u", ("undo", "")), ("q", ("quit", ""))])
def test_parse_line(line, expected) -> None:
    assert parse_line(line) == expected


def test_cli_rates_undoes_resumes_and_decides(project: Project, monkeypatch, capsys) -> None:
    code, out, err = _run(monkeypatch, capsys, "y\nn wrong record\nu\nm\n", "rate", "Helpdesk")
    assert code == 0, err
    assert "24 of 24 outputs to rate" in out and "rate all 12" in out and "80% power" in out
    asked = out.split("decision:")[0]
    assert "base-model" not in asked and "runs/tiny/model" not in asked  # blind
    assert "undone:" in out and "3 of 24 rated" not in out and "2 of 24 rated" in out
    assert "decision:" in out
    state = human.load(project)
    assert state.rated == 2
    second = state.items[1]
    assert second.done and second.result.score == 0.5  # the undone "n" was asked again and rated "m"

    # resume: the rest, then the decision has no coverage gap
    code, out, err = _run(monkeypatch, capsys, "y\n" * 22, "rate", "Helpdesk")
    assert code == 0, err and "22 of 24 outputs to rate" in out
    assert "24 of 24 rated" in out
    decision = ef.read_decision(project, EVAL_ID)
    assert decision is not None and not any("human rating" in p for p in decision.pending)
    code, out, _ = _run(monkeypatch, capsys, "", "rate", "Helpdesk")
    assert code == 0 and "nothing waits for a human rating" in out


def test_cli_bad_line_exits_2_and_keeps_earlier_ratings(project: Project, monkeypatch, capsys) -> None:
    code, _, err = _run(monkeypatch, capsys, "y\nperhaps\n", "rate", "Helpdesk")
    assert code == 2 and "stdin line 2" in err and "'perhaps'" in err
    assert human.load(project).rated == 1


def test_cli_without_an_evaluation_says_what_to_run(projects_root: Path, monkeypatch, capsys) -> None:
    Project.create("Empty", "answer questions", root=projects_root)
    code, _, err = _run(monkeypatch, capsys, "", "rate", "Empty")
    assert code != 0 and "tunesmith evaluate" in err


def test_detailed_results_say_pending_with_a_null_score(project: Project) -> None:
    from core.evaluate.report import detailed_results

    rows = detailed_results(examples(), ef.read_results(project, EVAL_ID))
    entry = next(r for r in rows if r["id"] == "open00")
    assert entry["candidate"]["score"] is None and entry["candidate"]["pending"] is True
    assert entry["delta"] is None and "candidate: needs a human rating" in entry["flags"]
    json.dumps(rows)


def test_sample_plan_asks_for_what_the_statistics_still_need() -> None:
    rows = []
    for i in range(100):
        common = dict(example_id=f"c{i}", category="a", difficulty="easy", kind="common")
        b = 0.5
        c = 0.5 + (0.3 if i % 2 else -0.3) + 0.1  # differences +0.4 / -0.2: sd about 0.30
        for role, s in (("base", b), ("candidate", c)):
            scored = i < 40
            rows.append(EvalResult(model_role=role, model=role, output="x", method="human" if not scored else "llm_judge",
                                   score=s if scored else None, passed=(s > 0.6) if scored else None,
                                   pending=not scored, **common))
    plan = human.sample_plan(rows, EvaluateConfig())
    need = n_for_effect(0.10, plan.sd_diff, 0.05, 0.80)
    assert plan.scored_pairs == 40 and plan.pending_requests == 60 and plan.needed_pairs == need
    assert plan.rate_at_least == need - 40 > 0
    assert f"rate at least {need - 40} of the 60 requests" in " ".join(plan.lines())


# ---------------------------------------------------------------- the TUI rater


async def test_tui_rates_pending_outputs_with_one_key_undo_resume_and_decides(project: Project) -> None:
    from screens.human_rating import HumanRatingScreen
    from screens.report import ReportScreen
    from tests.test_tui_spot_check import fits, settle
    from tui.app import TunesmithApp

    app = TunesmithApp(project.folder.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.open_screen("human_rating", project)
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, HumanRatingScreen) and screen.rater is not None
        fits(screen)
        order = [i.key for i in human.load(project).items]
        assert screen.rater.current.id == order[0]
        await pilot.press("y", "m", "n")
        assert human.load(project).rated == 3
        await pilot.press("u")  # the "n" is withdrawn and its output shown again
        state = human.load(project)
        assert state.rated == 2 and screen.rater.current.id == order[2]
        assert not state.items[2].done and state.items[1].result.score == 0.5
        await pilot.press("escape")
        await pilot.pause()

    app = TunesmithApp(project.folder.parent)  # resume where it stopped, at 80x24 and wide
    async with app.run_test(size=(160, 48)) as pilot:
        assert app.open_screen("human_rating", project)
        await settle(pilot, app)
        screen = app.screen
        assert screen.rater.current.id == order[2] and "2/24 rated" in str(
            screen.query_one("#human-status").render())
        assert screen.rater.progress_text().startswith("2/24 rated")  # one count on the screen
        for n in range(22):
            await pilot.press("y")
            status = str(screen.query_one("#human-status").render())
            assert f"{3 + n}/24 rated" in status and screen.rater.progress_text().startswith(f"{3 + n}/24 rated")
        await settle(pilot, app)
        assert human.load(project).rated == 24
        await pilot.press("d")
        await settle(pilot, app)
        assert isinstance(app.screen, ReportScreen)
        decision = ef.read_decision(project, EVAL_ID)
        assert decision is not None and not any("human rating" in p for p in decision.pending)


# ---------------------------------------------------------------- end to end, offline


def test_evaluation_with_eval_method_human_goes_from_pending_to_a_verdict(projects_root: Path, monkeypatch,
                                                                          capsys) -> None:
    """A real offline evaluation (a perturbed tiny model vs the tiny model) with eval_method = "human":
    everything in scope waits for a person; `tunesmith rate` takes it to a verdict with no result left."""
    from core.evaluate.inference import DecodingParams
    from core.evaluate.run import evaluate
    from tests.fakes.tiny_model import tiny_model_path
    from tests.test_eval_run import add_knowledge, fake_run, freeze

    tiny = tiny_model_path()
    p = Project.create("ledger-helper", "explain ledger entries to bookkeepers", preset="standard")
    p.meta.config.evaluate.eval_method = "human"
    p.save()
    add_knowledge(p)
    exs = freeze(p)
    fake_run(p, tiny, tiny)
    outcome = evaluate(p, params=DecodingParams(max_new_tokens=8, batch_size=32))
    rows = ef.read_results(p, outcome.eval_id)
    in_scope = [e for e in exs if not e.should_refuse]
    waiting = [r for r in rows if r.pending]
    assert waiting and all(r.score is None and r.passed is None for r in waiting)
    assert outcome.metrics.n_paired < len(exs)
    n = len(waiting)
    assert len(in_scope) <= n <= 2 * len(exs)  # eval_method "human": refusals are rated by a person too
    code, out, err = _run(monkeypatch, capsys, "y\nn\n" * (n // 2) + "y\n" * (n % 2), "rate", "ledger-helper")
    assert code == 0, err
    assert f"{n} of {n} rated" in out and "decision:" in out
    rows = ef.read_results(p, outcome.eval_id)
    assert not any(r.pending for r in rows)
    _, metrics, *_ = load_metrics(p, outcome.eval_id)
    assert metrics.n_pending == 0 and metrics.n_paired == len(exs)
    decision = ef.read_decision(p, outcome.eval_id)
    assert decision is not None and decision.verdict in ("deploy", "review", "iterate")
    assert not any("human rating" in x for x in decision.pending)
