"""Human rating of the results that wait for a person (no automated method fits, or the judge failed
validation): the queue, the sample size the statistics need, ratings saved as made, undo, resume.

    state = load(project)                         # evals/<latest>/human_ratings.toml, created the first time
    state.plan.lines()                            # how many to rate, and why
    rate(project, state.eval_id, key, "good")     # key: "candidate:ex-12"; ratings: good / mixed / bad
    undo(project, state.eval_id)                  # the last rating made here

A rating turns the pending row of ``results.parquet`` into a scored one: method ``human``, score 1 (good),
0.5 (mixed) or 0 (bad), passed only when good, detail ``human rating: good ...``; the rating (with the row's
pending detail, for undo) is logged in ``human_ratings.toml``. The results file is the truth of what is
rated; the log is the history. Nothing else changes until the decision is made again
(:func:`core.evaluate.run.decide_now`), which recomputes every number from the saved rows.

Paraphrases of eval inputs (``paraphrases.parquet``, what consistency is measured on) that wait for a human
are rated the same way, queued after the eval set's results.

The queue is fixed the first time: pending requests ordered so that every prefix is a sample in proportion
to the categories (stopping early still rates a fair sample), both outputs of a request next to each other
in a seeded order, shown without the model's name (blind). Spot-check ratings of a candidate output that
waits for a human count as its rating (:func:`from_spot_check`; ✓ good, ⚠ mixed, ✗ bad), unless that output
was already rated here.

Sample size (:func:`sample_plan`): the pairs needed to detect the improvement threshold with 80% power at
the significance level (paired t-test, normal approximation, :func:`core.evaluate.stats.n_for_effect`),
with the spread of the differences of the pairs already scored (or 0.5 when fewer than 5 are: about one
request in four changing by a whole point); the requests to rate are those pairs minus the pairs already
scored.
"""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence

from core.errors import BadInput, StageNotReady
from core.evaluate import evalfolder as ef
from core.models.knowledge import EvalExample
from core.models.runs import HUMAN_PREFIX, EvalResult, HumanRating, HumanRatings

if TYPE_CHECKING:
    from core.project import Project

RATINGS: dict[str, tuple[float, bool]] = {"good": (1.0, True), "mixed": (0.5, False), "bad": (0.0, False)}
SPOT_RATING = {"good": "good", "concerning": "mixed", "bad": "bad"}
ASSUMED_SD = 0.5
MIN_PAIRS_FOR_SD = 5
POWER = 0.80


def key_of(role: str, example_id: str) -> str:
    return f"{role}:{example_id}"


def split_key(key: str) -> tuple[str, str]:
    role, _, example_id = key.partition(":")
    if role not in ("base", "candidate") or not example_id:
        raise BadInput(f"{key!r} is not a result key (role:example_id, role base or candidate)")
    return role, example_id


# ---------------------------------------------------------------- the sample size


@dataclass
class SamplePlan:
    pending_requests: int  # eval examples with at least one output waiting
    pending_outputs: int
    scored_pairs: int  # examples already scored for both models
    effect: float  # the improvement to detect (score points, 0..1)
    sd_diff: float
    sd_source: str
    alpha: float
    needed_pairs: int | None
    rate_at_least: int
    detectable_if_all: float | None  # the effect detectable when every pending request is rated

    def lines(self) -> list[str]:
        if not self.pending_requests:
            return ["nothing waits for a human rating"]
        head = (f"{self.pending_outputs} outputs of {self.pending_requests} requests wait for a human rating "
                f"({self.scored_pairs} requests are already scored for both models)")
        why = (f"{self.needed_pairs} scored pairs detect a {self.effect * 100:.0f}-point improvement with "
               f"{POWER:.0%} power at α = {self.alpha:g} (paired test; spread of the differences "
               f"{self.sd_diff:.2f}, {self.sd_source})") if self.needed_pairs else ""
        if self.needed_pairs is None:
            ask = "rate them all: the sample size cannot be estimated"
        elif self.rate_at_least >= self.pending_requests and self.scored_pairs + self.pending_requests < self.needed_pairs:
            mde = f"about {self.detectable_if_all * 100:.0f} points" if self.detectable_if_all else "less"
            ask = (f"rate all {self.pending_requests}: even then the eval set has "
                   f"{self.scored_pairs + self.pending_requests} pairs and detects {mde}, not "
                   f"{self.effect * 100:.0f}")
        elif self.rate_at_least == 0:
            ask = "the pairs already scored are enough for the statistics; rating the rest still makes the " \
                  "numbers cover every request"
        else:
            ask = (f"rate at least {self.rate_at_least} of the {self.pending_requests} requests (both outputs "
                   f"of each); every request left unrated is left out of the numbers")
        return [head, ask] + ([f"why: {why}"] if why else [])


def sample_plan(results: Sequence[EvalResult], config: Any) -> SamplePlan:
    from core.evaluate.stats import mde_continuous, n_for_effect

    base = {r.example_id: r for r in results if r.model_role == "base"}
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    both = [i for i in cand if i in base]
    waiting = [i for i in both if base[i].pending or cand[i].pending]
    scored = [i for i in both if not (base[i].pending or cand[i].pending)]
    diffs = [float(cand[i].score) - float(base[i].score) for i in scored]  # type: ignore[arg-type]
    if len(diffs) >= MIN_PAIRS_FOR_SD:
        import statistics

        sd = statistics.stdev(diffs)
        source = f"from the {len(diffs)} pairs scored so far"
    else:
        sd, source = 0.0, ""
    if sd <= 0:
        sd, source = ASSUMED_SD, "assumed: too few pairs scored to measure it" if len(diffs) < MIN_PAIRS_FOR_SD \
            else "assumed: the scored pairs do not vary"
    alpha = float(getattr(config, "significance_level", 0.05))
    effect = float(getattr(config, "improvement_threshold", 0.10))
    if getattr(config, "improvement_unit", "points") == "percent":
        b_scores = [float(base[i].score) for i in scored]  # type: ignore[arg-type]
        b_mean = sum(b_scores) / len(b_scores) if b_scores else 0.0
        effect = effect * b_mean if b_mean > 0 else effect
    need = n_for_effect(effect, sd, alpha, POWER)
    pending_outputs = sum(r.pending for r in results if r.example_id in base and r.example_id in cand)
    at_least = len(waiting) if need is None else max(0, min(len(waiting), need - len(scored)))
    total = len(scored) + len(waiting)
    return SamplePlan(len(waiting), pending_outputs, len(scored), effect, sd, source, alpha, need, at_least,
                      mde_continuous(sd, total, alpha, POWER) if total >= 2 else None)


# ---------------------------------------------------------------- the queue


def order_queue(examples: Sequence[EvalExample], results: Sequence[EvalResult], seed: str) -> list[str]:
    """Keys of the pending results: requests in an order whose every prefix is proportional to the
    categories, both outputs of a request together in a seeded (blind) order."""
    rng = random.Random(zlib.crc32(seed.encode()))
    pending: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.pending:
            pending[r.example_id].append(r.model_role)
    cat = {e.id: e.category for e in examples}
    by_cat: dict[str, list[str]] = defaultdict(list)
    for eid in sorted(pending):
        by_cat[cat.get(eid, "")].append(eid)
    placed: list[tuple[float, float, str]] = []
    for ids in by_cat.values():
        rng.shuffle(ids)
        for k, eid in enumerate(ids):
            placed.append(((k + 0.5) / len(ids), rng.random(), eid))
    keys: list[str] = []
    for _, _, eid in sorted(placed):
        roles = sorted(pending[eid])
        rng.shuffle(roles)
        keys.extend(key_of(role, eid) for role in roles)
    return keys


@dataclass
class RateItem:
    key: str
    example: EvalExample | None
    result: EvalResult
    rating: HumanRating | None  # the latest rating of this output, if any

    @property
    def role(self) -> str:
        return self.result.model_role

    @property
    def example_id(self) -> str:
        return self.result.example_id

    @property
    def done(self) -> bool:
        return not self.result.pending


@dataclass
class RateState:
    eval_id: str
    items: list[RateItem] = field(default_factory=list)
    plan: SamplePlan | None = None

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def rated(self) -> int:
        return sum(i.done for i in self.items)

    @property
    def todo(self) -> list[RateItem]:
        return [i for i in self.items if not i.done]

    def next_index(self) -> int | None:
        return next((k for k, i in enumerate(self.items) if not i.done), None)

    def lines(self) -> list[str]:
        """How many to rate and why: the eval set's sample plan, then the paraphrases that wait."""
        out = self.plan.lines() if self.plan else []
        paras = sum(1 for i in self.todo if ef.is_paraphrase(i.example_id))
        if paras:
            if not (self.plan and self.plan.pending_requests):
                out = ["the eval set's outputs are all scored"]
            out.append(f"{'then ' if len(out) > 1 else ''}{paras} outputs of paraphrased requests: they measure "
                       f"consistency (whether a right answer survives rephrasing)")
        return out


def read_ratings(project: "Project", eval_id: str) -> HumanRatings | None:
    from core import store

    p = ef.path(project, eval_id, ef.HUMAN_RATINGS)
    return store.read_toml(p, HumanRatings) if p.exists() else None


def _write_ratings(project: "Project", eval_id: str, book: HumanRatings) -> None:
    from core import store

    store.write_toml(ef.path(project, eval_id, ef.HUMAN_RATINGS), book)


def _latest(book: HumanRatings) -> dict[str, HumanRating]:
    out: dict[str, HumanRating] = {}
    for r in book.ratings:
        out[key_of(r.model_role, r.example_id)] = r
    return out


def _load_examples(project: "Project") -> list[EvalExample]:
    from core.project import EVAL_SET

    return project.read_rows(EVAL_SET, EvalExample) if project.exists(EVAL_SET) else []


def _para_result(row: dict[str, Any]) -> EvalResult:
    return EvalResult.model_validate({k: v for k, v in row.items() if k not in ("group", "input")})


def _para_queue(para: Sequence[dict[str, Any]], seed: str) -> list[str]:
    """Keys of the pending paraphrase results (consistency), after the eval set's: by original, both
    models' outputs of a paraphrase together in a seeded (blind) order."""
    rng = random.Random(zlib.crc32(f"{seed}:paraphrases".encode()))
    pending: dict[str, list[str]] = defaultdict(list)
    for r in para:
        if r.get("pending"):
            pending[str(r["example_id"])].append(str(r["model_role"]))
    keys: list[str] = []
    for eid in sorted(pending):
        roles = sorted(pending[eid])
        rng.shuffle(roles)
        keys.extend(key_of(role, eid) for role in roles)
    return keys


def _paraphrase_example(original: EvalExample | None, row: dict[str, Any]) -> EvalExample | None:
    if original is None:
        return None
    return original.model_copy(update={"id": str(row["example_id"]), "input": str(row.get("input") or ""),
                                       "provenance": f"paraphrase of {original.id}"})


def load(project: "Project", eval_id: str | None = None) -> RateState:
    """The rating state of an evaluation (the latest completed one by default); the first call fixes and
    saves the queue. Every pending result is in the queue (the eval set's first, then the paraphrases that
    measure consistency), and so is every result rated here."""
    eval_id = ef.require_eval(project, eval_id)
    examples = _load_examples(project)
    with project.writing():
        results = ef.read_results(project, eval_id)
        para = ef.read_paraphrase_rows(project, eval_id)
        book = read_ratings(project, eval_id) or HumanRatings()
        queued = set(book.queue)
        extra = [k for k in order_queue(examples, results, eval_id) + _para_queue(para, eval_id) if k not in queued]
        if extra or book.started_at is None:
            book.queue = list(book.queue) + extra
            book.started_at = book.started_at or datetime.now(timezone.utc)
            if book.queue:
                _write_ratings(project, eval_id, book)
    by_id = {e.id: e for e in examples}
    rows = {key_of(r.model_role, r.example_id): (r, by_id.get(r.example_id)) for r in results}
    for p in para:
        r = _para_result(p)
        rows[key_of(r.model_role, r.example_id)] = (r, _paraphrase_example(by_id.get(str(p.get("group"))), p))
    latest = _latest(book)
    items = [RateItem(k, rows[k][1], rows[k][0], latest.get(k) if not rows[k][0].pending else None)
             for k in book.queue if k in rows]
    return RateState(eval_id, items, sample_plan(results, project.meta.config.evaluate))


def _find(project: "Project", eval_id: str, role: str, example_id: str
          ) -> tuple[EvalResult, Callable[[EvalResult], None]] | None:
    """The result of one output and a function that stores its replacement (results.parquet, or
    paraphrases.parquet for a paraphrase)."""
    if ef.is_paraphrase(example_id):
        para = ef.read_paraphrase_rows(project, eval_id)
        k = next((k for k, r in enumerate(para) if r.get("model_role") == role and r.get("example_id") == example_id),
                 None)
        if k is None:
            return None

        def put_para(new: EvalResult) -> None:
            para[k] = {"group": para[k].get("group"), "input": para[k].get("input"), **new.model_dump(mode="json")}
            ef.write_paraphrase_rows(project, eval_id, para)

        return _para_result(para[k]), put_para
    results = ef.read_results(project, eval_id)
    i = next((i for i, r in enumerate(results) if r.model_role == role and r.example_id == example_id), None)
    if i is None:
        return None

    def put(new: EvalResult) -> None:
        results[i] = new
        ef.write_results(project, eval_id, results)

    return results[i], put


# ---------------------------------------------------------------- ratings, saved as made


def _rated_row(row: EvalResult, rating: str, note: str, source: str) -> EvalResult:
    score, passed = RATINGS[rating]
    detail = f"{HUMAN_PREFIX} {rating}" + (f" ({note})" if note else "") + f" [{source}]"
    data = row.model_dump()
    data.update(method="human", score=score, passed=passed, pending=False, flagged=False, judge_confidence=None,
                detail=detail, dimensions=[])
    return EvalResult.model_validate(data)


def _pending_row(row: EvalResult, was: HumanRating | None) -> EvalResult:
    data = row.model_dump()
    data.update(method="human", score=None, passed=None, pending=True, flagged=True if was is None else was.was_flagged,
                judge_confidence=None, detail=(was.was_detail if was and was.was_detail
                                               else "pending: needs a human rating (rating withdrawn)"),
                dimensions=[])
    return EvalResult.model_validate(data)


def rate(project: "Project", eval_id: str, key: str, rating: str, note: str = "", *,
         source: str = "rate") -> EvalResult:
    """Rate one output that waits for a human (or change a rating made earlier) and save at once."""
    if rating not in RATINGS:
        raise BadInput(f"rating: must be one of {', '.join(RATINGS)} (got {rating!r})")
    role, example_id = split_key(key)
    with project.writing():
        book = read_ratings(project, eval_id) or HumanRatings(started_at=datetime.now(timezone.utc))
        latest = _latest(book)
        found = _find(project, eval_id, role, example_id)
        if found is None:
            raise BadInput(f"{key}: evaluation {eval_id} has no such result")
        row, put = found
        prior = latest.get(key)
        if not row.pending and not (prior is not None and row.detail.startswith(HUMAN_PREFIX)):
            raise BadInput(f"{key}: this output was scored by {row.method.replace('_', ' ')}; only outputs waiting "
                           f"for a human are rated here")
        was_detail = row.detail if row.pending else (prior.was_detail if prior else "")
        was_flagged = row.flagged if row.pending else (prior.was_flagged if prior else True)
        book.ratings.append(HumanRating(example_id=example_id, model_role=role, rating=rating,  # type: ignore[arg-type]
                                        note=(note or "").strip(), source=source,  # type: ignore[arg-type]
                                        rated_at=datetime.now(timezone.utc), was_detail=was_detail,
                                        was_flagged=was_flagged))
        if key not in book.queue:
            book.queue.append(key)
        _write_ratings(project, eval_id, book)
        new = _rated_row(row, rating, (note or "").strip(), source)
        put(new)
        return new


def undo(project: "Project", eval_id: str, key: str | None = None, *, source: str | None = "rate") -> str | None:
    """Withdraw the latest rating (of ``key``, else the last one made by ``source``): the output waits for a
    human again. Returns the key undone, or None when there was nothing to undo."""
    with project.writing():
        book = read_ratings(project, eval_id)
        if book is None or not book.ratings:
            return None
        pick = None
        for k in range(len(book.ratings) - 1, -1, -1):
            r = book.ratings[k]
            if (key is None or key_of(r.model_role, r.example_id) == key) and (source is None or r.source == source):
                pick = k
                break
        if pick is None:
            return None
        gone = book.ratings.pop(pick)
        gone_key = key_of(gone.model_role, gone.example_id)
        found = _find(project, eval_id, gone.model_role, gone.example_id)
        earlier = _latest(book).get(gone_key)
        _write_ratings(project, eval_id, book)
        if found is not None and found[0].detail.startswith(HUMAN_PREFIX):
            row, put = found
            put(_rated_row(row, earlier.rating, earlier.note, earlier.source) if earlier else _pending_row(row, gone))
        return gone_key


def from_spot_check(project: "Project", eval_id: str, example_id: str, spot_rating: str | None,
                    note: str = "") -> bool:
    """A spot-check rating of a candidate output counts as its human score when that output waits for a
    human (or was scored by an earlier spot-check rating); ``None`` withdraws it. True when a row changed."""
    key = key_of("candidate", example_id)
    with project.writing():
        results = ef.read_results(project, eval_id, "candidate")
        row = next((r for r in results if r.example_id == example_id), None)
        if row is None:
            return False
        book = read_ratings(project, eval_id)
        prior = _latest(book).get(key) if book else None
        by_spot = prior is not None and prior.source == "spot-check" and not row.pending
        if spot_rating is None:
            if by_spot:
                undo(project, eval_id, key, source="spot-check")
                return True
            return False
        if not (row.pending or by_spot):
            return False
        rate(project, eval_id, key, SPOT_RATING[spot_rating], note, source="spot-check")
        return True


def describe(rating: str) -> str:
    return {"good": "✓ good", "mixed": "⚠ mixed", "bad": "✗ bad"}[rating]
