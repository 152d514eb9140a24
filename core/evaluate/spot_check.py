"""The strategic spot-check of an evaluation (spec SKILL 4 §3): a few items chosen for signal, rated by a
person, saved as rated, fed back into the judge-agreement estimate.

Selection (:func:`select`, deterministic for a seed; :func:`start` seeds it with the eval id):

- groups: ``common``, ``edge`` (edge cases and in-scope look-alikes) and ``out_of_scope``, each
  ``round(spot_check_size / 3)`` items (10 → 4/3/3, 15 → 5/5/5, 20 → 7/7/6, 30 → 10/10/10), plus as many
  base-vs-fine-tuned ``comparison`` pairs as one group when ``evaluate.compare_pairs`` is on (15 → 5 pairs,
  20 items in all). Slots a small pool cannot fill go to the other groups (common first, then edge).
- comparison pairs are chosen first, from in-scope examples, so that regressions are seen side by side;
  each example appears once.
- within a pool the order of preference is: regressions (the candidate scored below the base; for a
  refusal: the base declined and the candidate answers), low judge confidence, flagged by the scorer,
  the judge and the refusal heuristic disagreeing, a failed automated check; then random picks spread
  over the categories. Every item records ``why`` it was chosen.

Ratings (:func:`rate`, :func:`undo`): ✓ good / ⚠ concerning / ✗ bad, "would you trust this?" yes/no, a
note; for comparison items, which output is better (base / candidate / same). Every change is written to
``evals/<id>/spot_check.toml`` at once (atomically, under the project lock), so the check resumes where it
stopped. When the last item is rated the check is finished: ``finished`` and ``finished_at`` are set, the
``evaluate/spot_checked`` step is marked and the judge agreement is saved; undoing a rating of a finished
check withdraws both.

A rating of a candidate output that waits for a human (no automated method fits it, or the judge failed
validation) is also that output's human score (:func:`core.evaluate.human.from_spot_check`): ✓ good,
⚠ mixed, ✗ bad; undoing the rating withdraws it.

Judge agreement (:func:`judge_agreement`): Cohen's kappa of the judge's pass/fail against the human's
good / not good, on the candidate outputs that the judge scored and the human rated. It is saved to
``evals/<id>/judge_agreement.toml`` (not into spot_check.toml: that file is a strict ``SpotCheck`` that
every reader validates) and shown by the CLI and the report.
"""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from core.errors import BadInput, StageNotReady
from core.evaluate import evalfolder as ef
from core.models.knowledge import EvalExample
from core.models.runs import EvalResult, SpotCheck, SpotCheckItem

if TYPE_CHECKING:
    from core.evaluate.judge_validation import Agreement
    from core.project import Project

AGREEMENT = "judge_agreement.toml"  # evals/<id>/judge_agreement.toml
GROUPS: tuple[str, ...] = ("common", "edge", "out_of_scope", "comparison")
RATINGS: tuple[str, ...] = ("good", "concerning", "bad")
PREFERENCES: tuple[str, ...] = ("base", "candidate", "same")
SYMBOL = {"good": "✓", "concerning": "⚠", "bad": "✗"}
LOW_CONFIDENCE = 0.67  # core.evaluate.judge.LOW_CONFIDENCE (not imported: it pulls in the LLM gateway)
_TOL = 1e-9


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # rate(): leave this field as it is


# ---------------------------------------------------------------- selection


def group_sizes(size: int = 15, compare_pairs: bool = True) -> dict[str, int]:
    """How many items each group gets for a spot_check_size (see the module docstring)."""
    per = max(1, round(size / 3))
    sizes = {"common": per, "edge": per, "out_of_scope": max(0, size - 2 * per)}
    if compare_pairs:
        sizes["comparison"] = per
    return sizes


def pool_of(example: EvalExample) -> str:
    if example.should_refuse or example.kind == "out_of_scope":
        return "out_of_scope"
    return "edge" if example.kind in ("edge", "lookalike") else "common"


@dataclass(frozen=True)
class Signal:
    tier: int  # 0 regression, 1 low judge confidence, 2 flagged, 3 disagreement, 4 failed, 5 random
    strength: float  # smaller sorts first within a tier
    text: str


def _pending(r: EvalResult) -> bool:
    return bool(r.pending)


def signals(example: EvalExample, cand: EvalResult, base: EvalResult | None = None) -> list[Signal]:
    """Why this example is worth a human's look, strongest first (empty: nothing special)."""
    out: list[Signal] = []
    if base is not None and not _pending(base) and not _pending(cand):
        if pool_of(example) == "out_of_scope" and base.refused and not cand.refused:
            out.append(Signal(0, -1.0, "regression: the base declined, the candidate answers"))
        elif cand.score < base.score - _TOL:
            drop = base.score - cand.score
            out.append(Signal(0, -drop, f"regression: candidate {cand.score:.2f} < base {base.score:.2f}"))
    if cand.judge_confidence is not None and cand.judge_confidence < LOW_CONFIDENCE:
        out.append(Signal(1, cand.judge_confidence, f"low judge confidence ({cand.judge_confidence:.2f})"))
    elif cand.flagged or (base is not None and base.flagged):
        who = "candidate" if cand.flagged else "base"
        detail = (cand if cand.flagged else base).detail  # type: ignore[union-attr]
        reason = (detail.split(";")[0].strip()[:70]) if detail else ""
        out.append(Signal(2, 0.0, f"flagged by the scorer ({who}{': ' + reason if reason else ''})"))
    if cand.method == "llm_judge" and cand.refused is not None:
        from core.evaluate.refusal import detect_refusal

        heuristic = detect_refusal(cand.output)
        if heuristic.refused != bool(cand.refused):
            say = lambda r: "declines" if r else "answers"  # noqa: E731
            out.append(Signal(3, 0.0, f"judge and refusal heuristic disagree (judge: {say(cand.refused)}, "
                                      f"heuristic: {say(heuristic.refused)})"))
    if not cand.passed and not _pending(cand):
        out.append(Signal(4, cand.score or 0.0, f"failed the automated check ({cand.method})"))
    return out


def _rank(ids: Sequence[str], sig: Mapping[str, list[Signal]], cats: Mapping[str, str],
          rng: random.Random) -> list[str]:
    """Signal-bearing ids by (tier, strength), then the rest in a seeded order spread over categories."""
    noise = {i: rng.random() for i in ids}
    strong = sorted((i for i in ids if sig[i]), key=lambda i: (sig[i][0].tier, sig[i][0].strength, noise[i]))
    rest = sorted((i for i in ids if not sig[i]), key=lambda i: noise[i])
    seen: dict[str, int] = defaultdict(int)
    turn: dict[str, int] = {}
    for i in rest:  # the k-th pick of each category before the (k+1)-th of any
        turn[i] = seen[cats[i]]
        seen[cats[i]] += 1
    rest.sort(key=lambda i: turn[i])  # stable: keeps the seeded order within a turn
    return strong + rest


def _why(ids_signals: list[Signal], example: EvalExample, group: str) -> str:
    if ids_signals:
        return "; ".join(s.text for s in ids_signals[:3])
    if group == "comparison":
        return f"random pair (category {example.category!r})"
    return f"random pick, representative of category {example.category!r}"


def select(
    examples: Sequence[EvalExample],
    results: Iterable[EvalResult],
    *,
    size: int = 15,
    compare_pairs: bool = True,
    seed: int | str = 0,
) -> list[SpotCheckItem]:
    """The spot-check items for one evaluation (see the module docstring). Only examples with a
    candidate result can be chosen; comparison pairs need a base result as well."""
    rows = list(results)
    cand = {r.example_id: r for r in rows if r.model_role == "candidate"}
    base = {r.example_id: r for r in rows if r.model_role == "base"}
    usable = [e for e in examples if e.id in cand]
    by_id = {e.id: e for e in usable}
    cats = {e.id: e.category for e in usable}
    rng = random.Random(seed if isinstance(seed, int) else zlib.crc32(str(seed).encode()))
    sig = {e.id: signals(e, cand[e.id], base.get(e.id)) for e in usable}
    want = group_sizes(size, compare_pairs)
    picked: list[SpotCheckItem] = []
    taken: set[str] = set()

    if want.get("comparison"):
        pool = [e.id for e in usable if e.id in base and pool_of(e) != "out_of_scope"]
        pair_sig = {i: [s for s in sig[i] if s.tier != 4] for i in pool}  # failing alone is no pair signal
        for i in pool:
            if not pair_sig[i] and not (cand[i].pending or base[i].pending) \
                    and abs(cand[i].score - base[i].score) > _TOL:
                pair_sig[i] = [Signal(4, -abs(cand[i].score - base[i].score),
                                      f"the models differ (base {base[i].score:.2f}, candidate {cand[i].score:.2f})")]
        for i in _rank(pool, pair_sig, cats, rng)[: want["comparison"]]:
            why = _why(pair_sig[i], by_id[i], "comparison")
            picked.append(SpotCheckItem(example_id=i, group="comparison", why=why))
            taken.add(i)

    pools: dict[str, list[str]] = {g: [] for g in ("common", "edge", "out_of_scope")}
    for e in usable:
        if e.id not in taken:
            pools[pool_of(e)].append(e.id)
    ranked = {g: _rank(ids, sig, cats, rng) for g, ids in pools.items()}
    quota = {g: min(want[g], len(ranked[g])) for g in pools}
    spare = sum(want[g] for g in pools) - sum(quota.values())
    for g in ("common", "edge", "out_of_scope"):  # a small pool's slots go to the others
        extra = min(spare, len(ranked[g]) - quota[g])
        quota[g] += extra
        spare -= extra
    groups = {g: [SpotCheckItem(example_id=i, group=g, why=_why(sig[i], by_id[i], g))  # type: ignore[arg-type]
                  for i in ranked[g][: quota[g]]] for g in pools}
    return groups["common"] + groups["edge"] + groups["out_of_scope"] + picked


# ---------------------------------------------------------------- what a screen or the CLI shows


@dataclass
class ItemView:
    item: SpotCheckItem
    example: EvalExample | None
    candidate: EvalResult | None
    base: EvalResult | None

    @property
    def id(self) -> str:
        return self.item.example_id

    @property
    def is_comparison(self) -> bool:
        return self.item.group == "comparison"


@dataclass
class SpotState:
    eval_id: str
    spot: SpotCheck
    views: list[ItemView] = field(default_factory=list)
    candidate_model: str = ""
    base_model: str = ""

    @property
    def total(self) -> int:
        return len(self.spot.items)

    @property
    def rated(self) -> int:
        return sum(i.rating is not None for i in self.spot.items)

    @property
    def pending(self) -> list[ItemView]:
        return [v for v in self.views if v.item.rating is None]


def spot_path(project: "Project", eval_id: str):
    return ef.path(project, eval_id, ef.SPOT_CHECK)


def load_examples(project: "Project") -> list[EvalExample]:
    from core.project import EVAL_SET

    if not project.exists(EVAL_SET):
        raise StageNotReady(f"no eval set: {project.path(EVAL_SET)} is missing")
    return project.read_rows(EVAL_SET, EvalExample)


def _views(spot: SpotCheck, examples: Sequence[EvalExample], results: Sequence[EvalResult]) -> list[ItemView]:
    ex = {e.id: e for e in examples}
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    base = {r.example_id: r for r in results if r.model_role == "base"}
    return [ItemView(i, ex.get(i.example_id), cand.get(i.example_id), base.get(i.example_id)) for i in spot.items]


def _state(project: "Project", eval_id: str, spot: SpotCheck, examples: Sequence[EvalExample] | None = None,
           results: Sequence[EvalResult] | None = None) -> SpotState:
    examples = load_examples(project) if examples is None else examples
    results = ef.read_results(project, eval_id) if results is None else results
    models = {r.model_role: r.model for r in results}
    return SpotState(eval_id, spot, _views(spot, examples, results), models.get("candidate", ""),
                     models.get("base", ""))


def load(project: "Project", eval_id: str | None = None) -> SpotState | None:
    """The saved spot-check of an evaluation (the latest completed one by default), or None."""
    eval_id = ef.require_eval(project, eval_id)
    spot = ef.read_spot_check(project, eval_id)
    return None if spot is None else _state(project, eval_id, spot)


def start(project: "Project", eval_id: str | None = None, *, seed: int | str | None = None) -> SpotState:
    """The spot-check of an evaluation, selecting and saving its items the first time (resumable)."""
    eval_id = ef.require_eval(project, eval_id)
    examples = load_examples(project)
    results = ef.read_results(project, eval_id)
    with project.writing():
        spot = ef.read_spot_check(project, eval_id)
        if spot is None:
            cfg = project.meta.config.evaluate
            items = select(examples, results, size=cfg.spot_check_size, compare_pairs=cfg.compare_pairs,
                           seed=eval_id if seed is None else seed)
            if not items:
                raise StageNotReady(f"evaluation {eval_id} has no candidate results to spot-check")
            spot = SpotCheck(items=items)
            ef.write_spot_check(project, eval_id, spot)
    return _state(project, eval_id, spot, examples, results)


# ---------------------------------------------------------------- ratings, saved as made


def _item(spot: SpotCheck, example_id: str) -> SpotCheckItem:
    for item in spot.items:
        if item.example_id == example_id:
            return item
    raise BadInput(f"{example_id!r} is not an item of this spot-check")


def rate(project: "Project", eval_id: str, example_id: str, rating: str | None = KEEP, *,
         trust: bool | None = KEEP, note: str | None = KEEP, preferred: str | None = KEEP) -> SpotCheck:
    """Set any of an item's answers (KEEP leaves one as it is) and save at once. Rating the last open
    item finishes the check (see :func:`finish`)."""
    if rating is not KEEP and rating is not None and rating not in RATINGS:
        raise BadInput(f"rating: must be one of {', '.join(RATINGS)} (got {rating!r})")
    if preferred is not KEEP and preferred is not None and preferred not in PREFERENCES:
        raise BadInput(f"preferred: must be one of {', '.join(PREFERENCES)} (got {preferred!r})")
    with project.writing():
        spot = ef.read_spot_check(project, eval_id)
        if spot is None:
            raise StageNotReady(f"no spot-check for evaluation {eval_id}: tunesmith spot-check {project.slug}")
        item = _item(spot, example_id)
        if preferred not in (KEEP, None) and item.group != "comparison":
            raise BadInput(f"{example_id}: only comparison items take a preference (base/candidate/same)")
        changes: dict[str, Any] = {}
        if rating is not KEEP:
            changes["rating"] = rating
        if trust is not KEEP:
            changes["trust"] = trust
        if note is not KEEP:
            changes["note"] = (note or "").strip()
        if preferred is not KEEP:
            changes["preferred"] = preferred
        for key, value in changes.items():
            setattr(item, key, value)
        if rating is not KEEP:  # the rating of an output that waits for a human is its human score
            from core.evaluate.human import from_spot_check

            from_spot_check(project, eval_id, example_id, rating, item.note)
        was = spot.finished
        complete = bool(spot.items) and all(i.rating is not None for i in spot.items)
        if complete and not was:
            spot.finished, spot.finished_at = True, datetime.now(timezone.utc)
        elif not complete and was:
            spot.finished, spot.finished_at = False, None
        ef.write_spot_check(project, eval_id, spot)
        if complete and not was:
            _on_finished(project, eval_id)
        elif was and not complete:
            _on_reopened(project, eval_id)
        elif complete and rating is not KEEP:
            save_agreement(project, eval_id)  # a changed rating of a finished check
    return spot


def undo(project: "Project", eval_id: str, example_id: str) -> SpotCheck:
    """Clear an item's rating, trust, note and preference (the rater's undo)."""
    return rate(project, eval_id, example_id, None, trust=None, note="", preferred=None)


def finish(project: "Project", eval_id: str) -> SpotCheck:
    """Mark a fully rated check finished (idempotent; :func:`rate` does this by itself)."""
    with project.writing():
        spot = ef.read_spot_check(project, eval_id)
        if spot is None or not spot.items or any(i.rating is None for i in spot.items):
            raise StageNotReady("the spot-check is not fully rated yet")
        if not spot.finished:
            spot.finished, spot.finished_at = True, datetime.now(timezone.utc)
            ef.write_spot_check(project, eval_id, spot)
        _on_finished(project, eval_id)
    return spot


def _on_finished(project: "Project", eval_id: str) -> None:
    if ef.latest_eval(project) == eval_id:
        project.mark("evaluate", "spot_checked")
    save_agreement(project, eval_id)


def _on_reopened(project: "Project", eval_id: str) -> None:
    project.reload()
    if ef.latest_eval(project) == eval_id and project.meta.is_done("evaluate", "spot_checked"):
        project.mark("evaluate", "spot_checked", False)
    p = ef.path(project, eval_id, AGREEMENT)
    if p.exists():
        p.unlink()


# ---------------------------------------------------------------- summaries and judge agreement


@dataclass
class SpotCounts:
    total: int
    rated: int
    good: int
    concerning: int
    bad: int
    trusted: int
    distrusted: int
    prefer: dict[str, int]  # base / candidate / same among comparison items
    comparisons: int
    finished: bool

    @property
    def remaining(self) -> int:
        return self.total - self.rated

    def line(self) -> str:
        text = (f"{self.rated}/{self.total} rated · ✓ {self.good} good · ⚠ {self.concerning} concerning · "
                f"✗ {self.bad} bad")
        if self.trusted or self.distrusted:
            text += f" · trusted {self.trusted}, not trusted {self.distrusted}"
        if self.comparisons:
            p = self.prefer
            text += (f" · comparisons: candidate better {p['candidate']}, base better {p['base']}, "
                     f"same {p['same']}")
        return text


def counts(spot: SpotCheck) -> SpotCounts:
    rated = [i for i in spot.items if i.rating is not None]
    comp = [i for i in spot.items if i.group == "comparison"]
    return SpotCounts(
        total=len(spot.items), rated=len(rated),
        good=sum(i.rating == "good" for i in rated), concerning=sum(i.rating == "concerning" for i in rated),
        bad=sum(i.rating == "bad" for i in rated),
        trusted=sum(i.trust is True for i in rated), distrusted=sum(i.trust is False for i in rated),
        prefer={p: sum(i.preferred == p for i in comp) for p in PREFERENCES}, comparisons=len(comp),
        finished=spot.finished or (bool(spot.items) and len(rated) == len(spot.items)),
    )


def agreement_pairs(spot: SpotCheck, results: Sequence[EvalResult]) -> list[tuple[str, bool, bool]]:
    """(example id, human says good, judge passed) for the rated items whose candidate output the judge scored."""
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    out = []
    for item in spot.items:
        r = cand.get(item.example_id)
        if item.rating is None or r is None or r.method != "llm_judge":
            continue
        out.append((item.example_id, item.rating == "good", bool(r.passed)))
    return out


def judge_agreement(project: "Project", eval_id: str) -> "Agreement | None":
    """Cohen's kappa of the judge's pass/fail against the human's good / not good on the items that have
    both; None when there is no such item."""
    spot = ef.read_spot_check(project, eval_id)
    if spot is None:
        return None
    pairs = agreement_pairs(spot, ef.read_results(project, eval_id, "candidate"))
    if not pairs:
        return None
    from core.evaluate.judge_validation import cohen_kappa

    return cohen_kappa([h for _, h, _ in pairs], [j for _, _, j in pairs])


def save_agreement(project: "Project", eval_id: str) -> "Agreement | None":
    """Compute :func:`judge_agreement` and write it to evals/<id>/judge_agreement.toml (removed when None)."""
    agreement = judge_agreement(project, eval_id)
    p = ef.path(project, eval_id, AGREEMENT)
    if agreement is None:
        if p.exists():
            p.unlink()
        return None
    from dataclasses import asdict

    spot = ef.read_spot_check(project, eval_id)
    ids = [i for i, _, _ in agreement_pairs(spot, ef.read_results(project, eval_id, "candidate"))] if spot else []
    ef.write_toml_dict(project, eval_id, AGREEMENT, {
        **asdict(agreement), "items": ids, "computed_at": datetime.now(timezone.utc),
        "about": "Cohen's kappa: the judge's pass/fail against the spot-check's good / not good (candidate outputs)",
    })
    return agreement


def read_agreement(project: "Project", eval_id: str) -> dict[str, Any] | None:
    """The saved judge agreement (n, accuracy, kappa, kappa_se, ci_low, ci_high, items), or None."""
    return ef.read_toml_dict(project, eval_id, AGREEMENT)


def agreement_line(agreement: Any) -> str:
    """One line for a saved (dict) or computed (Agreement) judge agreement."""
    get = (lambda k: agreement.get(k)) if isinstance(agreement, dict) else (lambda k: getattr(agreement, k, None))
    n, acc, kappa = get("n"), get("accuracy"), get("kappa")
    if not n:
        return "judge agreement: no rated item was scored by the judge"
    lo, hi = get("ci_low"), get("ci_high")
    ci = f", 95% CI {lo:.2f} to {hi:.2f}" if lo is not None and hi is not None else ""
    k = "Cohen's κ n/a: one kind of rating only" if kappa is None else f"Cohen's κ {kappa:.2f}{ci}"
    return (f"the judge agrees with you on {acc * 100:.0f}% of {n} items, {_beyond_chance(kappa)} "
            f"({k})")


def _beyond_chance(kappa: float | None) -> str:
    """Cohen's kappa in words (Landis and Koch's bands)."""
    if kappa is None:
        return "how much beyond chance cannot be told"
    for floor, words in ((0.8, "almost always beyond chance"), (0.6, "mostly beyond chance"),
                         (0.4, "moderately beyond chance"), (0.2, "a little beyond chance")):
        if kappa > floor:
            return words
    return "hardly more than chance"
