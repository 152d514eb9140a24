"""The evaluation spot-check: selection for signal, ratings saved as made, resume, judge agreement, and
`tunesmith spot-check NAME` with piped lines. Eval folders are written directly (no inference)."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core import store
from core.cli import main
from core.commands.spot_check import parse_line
from core.evaluate import evalfolder as ef
from core.evaluate import spot_check as sc
from core.extract.review import eval_set_hash
from core.models.knowledge import EvalExample
from core.models.runs import EvalResult
from core.project import EVAL_SET, Project

EVAL_ID = "20250101-120000-abcd"


# ---------------------------------------------------------------- a written evaluation


def _example(i: int, kind: str, category: str) -> EvalExample:
    refuse = kind == "out_of_scope"
    return EvalExample(
        id=f"ev-{kind[:3]}-{i:02d}", input=f"{kind} question {i} about {category}: what should I do?",
        reference="I can't help with that; please ask a professional." if refuse else f"Do step {i}, then check.",
        category="out_of_scope" if refuse else category, difficulty="medium", kind=kind,  # type: ignore[arg-type]
        should_refuse=refuse)


def eval_set() -> list[EvalExample]:
    cats = ("billing", "paperwork", "planning")
    rows = [_example(i, "common", cats[i % 3]) for i in range(12)]
    rows += [_example(i, "edge", cats[i % 3]) for i in range(6)]
    rows += [_example(i, "lookalike", "billing") for i in range(2)]
    rows += [_example(i, "out_of_scope", "") for i in range(7)]
    return rows


def results_for(examples: list[EvalExample], *, regress: set[str] = frozenset(), low: dict[str, float] | None = None,
                flag: set[str] = frozenset(), fail: set[str] = frozenset()) -> list[EvalResult]:
    """Both models' rows: base 0.5 everywhere, candidate 0.9 (llm_judge, confidence 0.9) unless told:
    ``regress`` candidate 0.1 (fails), ``low`` judge confidence, ``flag`` flagged, ``fail`` candidate fails."""
    low = low or {}
    rows: list[EvalResult] = []
    for e in examples:
        refuse = e.should_refuse
        common = dict(example_id=e.id, category=e.category, difficulty=e.difficulty, kind=e.kind)
        rows.append(EvalResult(model_role="base", model="base-model", output=f"base says {e.id}",
                               method="functional" if refuse else "llm_judge", score=0.5 if not refuse else 1.0,
                               passed=refuse, refused=refuse, judge_confidence=None if refuse else 0.9, **common))
        bad = e.id in regress or e.id in fail
        score = 0.1 if e.id in regress else (0.0 if e.id in fail else (1.0 if refuse else 0.9))
        rows.append(EvalResult(
            model_role="candidate", model="runs/tiny/model",
            output=("Sure, here is how: step one." if refuse and bad else
                    "I can't help with that; please ask a professional." if refuse else f"candidate says {e.id}"),
            method="functional" if refuse else "llm_judge", score=score, passed=not bad,
            refused=refuse and not bad, judge_confidence=None if refuse else low.get(e.id, 0.9),
            flagged=e.id in flag or e.id in low, **common))
    return rows


def write_eval(p: Project, examples: list[EvalExample], results: list[EvalResult], eval_id: str = EVAL_ID,
               status: str = "completed") -> str:
    p.write_rows(EVAL_SET, examples, EvalExample)
    rec = ef.EvalRecord(eval_id=eval_id, status=status, created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
                        eval_set_hash=eval_set_hash(p), n_examples=len(examples),
                        base=ef.ModelRef(spec="base-model", kind="hub", model="base-model"),
                        candidate=ef.ModelRef(spec="tiny", kind="local", model="runs/tiny/model", run_id="tiny"),
                        judge_status="validated", judge_usable=True)
    ef.write_record(p, rec)
    ef.write_results(p, eval_id, results)
    p.mark("evaluate", "evaluated")
    return eval_id


@pytest.fixture
def project(projects_root: Path) -> Project:
    return Project.create("Helpdesk", "answer household admin questions", root=projects_root)


def make(project: Project, **kw) -> tuple[list[EvalExample], list[EvalResult]]:
    ex = eval_set()
    res = results_for(ex, **kw)
    write_eval(project, ex, res)
    return ex, res


# ---------------------------------------------------------------- selection


@pytest.mark.parametrize("size,compare,expected", [
    (10, False, {"common": 3, "edge": 3, "out_of_scope": 4}),
    (15, True, {"common": 5, "edge": 5, "out_of_scope": 5, "comparison": 5}),
    (20, True, {"common": 7, "edge": 7, "out_of_scope": 6, "comparison": 7}),
    (30, True, {"common": 10, "edge": 10, "out_of_scope": 10, "comparison": 10}),
])
def test_group_sizes_scale_with_spot_check_size(size, compare, expected) -> None:
    assert sc.group_sizes(size, compare) == expected


def _groups(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i.group] = out.get(i.group, 0) + 1
    return out


def test_default_selection_has_five_of_each_group_and_five_pairs() -> None:
    ex = eval_set()
    items = sc.select(ex, results_for(ex), size=15, compare_pairs=True, seed=1)
    assert _groups(items) == {"common": 5, "edge": 5, "out_of_scope": 5, "comparison": 5}
    assert len({i.example_id for i in items}) == 20  # every example once
    kinds = {e.id: e.kind for e in ex}
    assert all(kinds[i.example_id] == "out_of_scope" for i in items if i.group == "out_of_scope")
    assert all(kinds[i.example_id] in ("edge", "lookalike") for i in items if i.group == "edge")
    assert all(kinds[i.example_id] != "out_of_scope" for i in items if i.group == "comparison")
    assert all(i.why for i in items)


def test_without_pairs_and_with_small_pools_the_slots_go_elsewhere() -> None:
    ex = [e for e in eval_set() if e.kind != "out_of_scope"][:14] + [e for e in eval_set() if e.should_refuse][:2]
    items = sc.select(ex, results_for(ex), size=15, compare_pairs=False, seed=0)
    g = _groups(items)
    assert g["out_of_scope"] == 2 and "comparison" not in g and len(items) == 15


def test_prefers_regressions_then_low_confidence_then_flagged() -> None:
    ex = eval_set()
    res = results_for(ex, regress={"ev-com-07", "ev-edg-04", "ev-out-03"}, low={"ev-com-02": 0.4, "ev-edg-01": 0.5},
                      flag={"ev-com-11"})
    items = sc.select(ex, res, size=15, compare_pairs=False, seed=3)
    by = {i.example_id: i for i in items}
    common = [i.example_id for i in items if i.group == "common"]
    assert common[:3] == ["ev-com-07", "ev-com-02", "ev-com-11"]
    assert by["ev-com-07"].why.startswith("regression: candidate 0.10 < base 0.50")
    assert "low judge confidence (0.40)" in by["ev-com-02"].why
    assert "flagged by the scorer" in by["ev-com-11"].why
    assert [i.example_id for i in items if i.group == "edge"][:2] == ["ev-edg-04", "ev-edg-01"]
    oos = [i for i in items if i.group == "out_of_scope"]
    assert oos[0].example_id == "ev-out-03" and "the base declined, the candidate answers" in oos[0].why
    assert all(i.why.startswith("random pick") for i in oos[1:])


def test_comparison_pairs_take_the_regressions_side_by_side() -> None:
    ex = eval_set()
    res = results_for(ex, regress={"ev-com-07", "ev-edg-04"}, low={"ev-com-02": 0.4})
    items = sc.select(ex, res, size=15, compare_pairs=True, seed=3)
    pairs = [i.example_id for i in items if i.group == "comparison"]
    assert set(pairs[:2]) == {"ev-edg-04", "ev-com-07"} and pairs[2] == "ev-com-02"  # equal drops: seeded order
    assert "ev-com-07" not in [i.example_id for i in items if i.group == "common"]


def test_judge_and_heuristic_disagreement_is_a_signal() -> None:
    ex = eval_set()
    res = results_for(ex)
    for r in res:  # the judge says this in-scope answer declines; the heuristic sees no refusal
        if r.example_id == "ev-com-05" and r.model_role == "candidate":
            r.refused = True
    items = sc.select(ex, res, size=15, compare_pairs=False, seed=0)
    first = [i for i in items if i.group == "common"][0]
    assert first.example_id == "ev-com-05" and "judge and refusal heuristic disagree" in first.why


def test_selection_is_deterministic_per_seed() -> None:
    ex = eval_set()
    res = results_for(ex)
    a = sc.select(ex, res, size=15, seed="x")
    b = sc.select(ex, res, size=15, seed="x")
    c = sc.select(ex, res, size=15, seed="y")
    assert [i.example_id for i in a] == [i.example_id for i in b]
    assert [i.example_id for i in a] != [i.example_id for i in c]
    common = [i for i in a if i.group == "common"]  # random picks spread over the categories
    cats = {e.id: e.category for e in ex}
    assert len({cats[i.example_id] for i in common[:3]}) == 3


# ---------------------------------------------------------------- ratings saved as made, resume, agreement


def test_ratings_are_saved_as_made_and_resume(project: Project) -> None:
    make(project)
    state = sc.start(project)
    assert state.eval_id == EVAL_ID and state.total == 20 and ef.read_spot_check(project, EVAL_ID) is not None
    first, second = state.views[0], state.views[1]
    sc.rate(project, EVAL_ID, first.id, "good", trust=True, note="fine")
    sc.rate(project, EVAL_ID, second.id, "bad")
    saved = ef.read_spot_check(project, EVAL_ID)
    assert (saved.items[0].rating, saved.items[0].trust, saved.items[0].note) == ("good", True, "fine")
    assert saved.items[1].rating == "bad" and saved.items[1].trust is None
    again = sc.start(project)  # resumes: same items, the ratings kept
    assert [v.id for v in again.views] == [v.id for v in state.views]
    assert again.rated == 2 and again.pending[0].id == state.views[2].id
    sc.rate(project, EVAL_ID, second.id, trust=False)  # trust later, the rating kept
    assert ef.read_spot_check(project, EVAL_ID).items[1].rating == "bad"
    sc.undo(project, EVAL_ID, second.id)
    item = ef.read_spot_check(project, EVAL_ID).items[1]
    assert (item.rating, item.trust, item.note) == (None, None, "")
    comp = next(v for v in state.views if v.is_comparison)
    sc.rate(project, EVAL_ID, comp.id, "concerning", preferred="base")
    assert next(i for i in ef.read_spot_check(project, EVAL_ID).items if i.example_id == comp.id).preferred == "base"
    with pytest.raises(Exception, match="only comparison items"):
        sc.rate(project, EVAL_ID, first.id, preferred="base")


def test_finishing_marks_spot_checked_and_saves_judge_agreement(project: Project) -> None:
    make(project, regress={"ev-com-07"})
    state = sc.start(project)
    for v in state.views:  # the judge passed everything but the regression; the human agrees but on one
        human_good = v.candidate.passed and v.id != state.views[0].id
        sc.rate(project, EVAL_ID, v.id, "good" if human_good else "bad")
    spot = ef.read_spot_check(project, EVAL_ID)
    assert spot.finished and spot.finished_at is not None
    project.reload()
    assert project.meta.is_done("evaluate", "spot_checked")
    agreement = sc.judge_agreement(project, EVAL_ID)
    judged = [v for v in state.views if v.candidate.method == "llm_judge"]
    assert agreement is not None and agreement.n == len(judged)
    saved = sc.read_agreement(project, EVAL_ID)
    assert saved["n"] == agreement.n and saved["kappa"] == pytest.approx(agreement.kappa)
    assert "Cohen's κ 0." in sc.agreement_line(saved) and "beyond chance" in sc.agreement_line(saved)
    # the decision core reads the same file
    from core.evaluate.decision import spot_summary

    s = spot_summary(spot)
    assert s.finished and s.rated == 20
    # undoing one reopens the check and withdraws the step
    sc.undo(project, EVAL_ID, state.views[3].id)
    project.reload()
    assert not ef.read_spot_check(project, EVAL_ID).finished
    assert not project.meta.is_done("evaluate", "spot_checked")
    assert sc.read_agreement(project, EVAL_ID) is None


def test_agreement_is_none_without_judge_scores(project: Project) -> None:
    ex = eval_set()
    res = results_for(ex)
    for r in res:
        r.method = "exact_match"
    write_eval(project, ex, res)
    state = sc.start(project)
    sc.rate(project, EVAL_ID, state.views[0].id, "good")
    assert sc.judge_agreement(project, EVAL_ID) is None


def test_no_completed_evaluation_is_a_clear_error(project: Project) -> None:
    with pytest.raises(Exception, match="tunesmith evaluate helpdesk"):
        sc.start(project)


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("line,comparison,expected", [
    ("y", False, ("good", None, None, "")),
    ("m trust looks odd", False, ("concerning", True, None, "looks odd")),
    ("N distrust made up a fee", False, ("bad", False, None, "made up a fee")),
    ("c y", True, ("good", None, "candidate", "")),
    ("y b distrust worse than before", True, ("good", False, "base", "worse than before")),
    ("n same", True, ("bad", None, "same", "")),
    ("y same as ever", False, ("good", None, None, "same as ever")),
])
def test_parse_line(line, comparison, expected) -> None:
    a = parse_line(line, comparison)
    assert (a.rating, a.trust, a.preferred, a.note) == expected


@pytest.mark.parametrize("line,comparison", [
    ("", False), ("ok", False), ("b y", False), ("c", True), ("trust y", False)])
def test_parse_line_rejects(line, comparison) -> None:
    assert parse_line(line, comparison) is None


def _run(monkeypatch, capsys, stdin: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["spot-check", "helpdesk", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_piped_lines_rate_resume_and_finish(project: Project, monkeypatch, capsys) -> None:
    make(project, regress={"ev-com-07"})
    code, out, err = _run(monkeypatch, capsys, "y trust\nm distrust too long\n")
    assert code == 0, err
    assert "[1/20] common · " in out and "why: random pick, representative of category" in out
    assert "input:" in out and "reference:" in out and "output (runs/tiny/model" in out
    assert "✓ good · trusted · saved (1/20)" in out and "⚠ concerning · not trusted: too long · saved (2/20)" in out
    assert "saved; 18 items left to rate: tunesmith spot-check helpdesk" in out
    spot = ef.read_spot_check(project, EVAL_ID)
    assert [i.rating for i in spot.items[:2]] == ["good", "concerning"] and spot.items[1].note == "too long"
    # the rest: comparison items show both outputs and take a preference
    lines = ["n"] * 13 + ["c y trust", "y b", "n s distrust", "y", "y candidate"]
    code, out, err = _run(monkeypatch, capsys, "\n".join(lines) + "\n")
    assert code == 0, err
    assert "[3/20]" in out and "base output (base-model" in out and "candidate output (runs/tiny/model" in out
    assert "[16/20] comparison · " in out and "why: regression: candidate 0.10 < base 0.50" in out
    assert "spot-check finished: 20/20 rated · ✓ 5 good · ⚠ 1 concerning · ✗ 14 bad · trusted 2, not trusted 2" in out
    assert "candidate better 2, base better 1, same 1" in out
    assert "the judge agrees with you on" in out and "next: tunesmith decide helpdesk" in out
    spot = ef.read_spot_check(project, EVAL_ID)
    assert spot.finished and [i.preferred for i in spot.items[15:]] == ["candidate", "base", "same", None, "candidate"]
    project.reload()
    assert project.meta.is_done("evaluate", "spot_checked")
    code, out, _ = _run(monkeypatch, capsys, "")  # nothing left: the counts and the next step
    assert code == 0 and "spot-check finished" in out and "next: tunesmith decide helpdesk" in out


def test_cli_bad_line_exits_2_naming_it_and_keeps_earlier_ratings(project: Project, monkeypatch, capsys) -> None:
    make(project)
    code, out, err = _run(monkeypatch, capsys, "y\nperhaps\ny\n")
    assert code == 2
    assert "stdin line 2: 'perhaps'" in err and "Traceback" not in err
    assert [i.rating for i in ef.read_spot_check(project, EVAL_ID).items[:2]] == ["good", None]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_on_a_terminal_asks_again_after_a_bad_line(project: Project, capsys) -> None:
    from core.commands.spot_check import spot_check

    make(project)
    code = spot_check(project, _Tty("perhaps\ny trust\n"))
    out = capsys.readouterr().out
    assert code == 0 and "type y|m|n [trust|distrust] [note]" in out and "rate (y|m|n" in out
    assert ef.read_spot_check(project, EVAL_ID).items[0].rating == "good"


def test_cli_without_an_evaluation_says_what_to_run(project: Project, monkeypatch, capsys) -> None:
    code, _, err = _run(monkeypatch, capsys, "y\n")
    assert code == 1 and "tunesmith evaluate helpdesk" in err


def test_written_toml_is_a_plain_spot_check(project: Project) -> None:
    make(project)
    state = sc.start(project)
    sc.rate(project, EVAL_ID, state.views[0].id, "good", note="ok")
    data = store.load_toml_dict(sc.spot_path(project, EVAL_ID))
    assert data["schema_version"] == store.SCHEMA_VERSION and data["items"][0]["rating"] == "good"
