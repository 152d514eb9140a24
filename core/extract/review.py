"""The eval set spot-check: sample, rate (saved as made), approve and freeze, or regenerate the rejected.

Rounds. Round 1 samples ``spot_check_size`` examples stratified over the kinds (in proportion to the kinds'
sizes, with at least one out-of-scope, one edge case and one look-alike when the set has them; spread over
categories). The sample is deterministic (seeded by the project), so an interrupted review resumes on
the same examples. Each rating goes to ``knowledge/eval_review.toml`` the moment it is made.

Approval rule: a round passes when every sampled example is rated and **none is rated bad**. Then the set
is approved: ``evalset_approved`` is marked, the time recorded and ``frozen_hash`` (sha256 of the Parquet's
rows) stored, so later stages can check with :func:`verify_frozen` that the set never changed.
If any example is rated bad, the rejected ones are regenerated in their own quota cell with the reviewer's
notes in the prompt, replaced in place (their provenance says which example they replace, in which round
and why), and the next round reviews exactly those replacements.

The round number is read from the set itself (the highest "rejected in review round N" marker, plus one),
so the Parquet file stays the single source of truth even if a run stops between two writes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from core import store
from core.errors import BadInput, StageNotReady, TunesmithError
from core.extract.evalset import aregenerate, default_gateway, load_eval_set
from core.extract.quotas import largest_remainder
from core.models.knowledge import EVAL_KINDS, EvalExample, EvalReview
from core.models.project import now
from core.project import EVAL_REVIEW, EVAL_SET, Project

APPROVAL_RULE = "approve when every sampled example is rated and none is rated bad"
_REPLACED = re.compile(r"; replaces ev-[0-9a-f]+ rejected in review round (\d+)")
GUARANTEED_KINDS = ("out_of_scope", "edge", "lookalike")


class EvalSetChanged(TunesmithError):
    """The approved eval set's file no longer matches its frozen hash."""


# ---------------------------------------------------------------- hashing


def rows_hash(rows: list[dict[str, Any]]) -> str:
    canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def eval_set_hash(project: Project) -> str:
    """sha256 of the eval set's rows, as stored in knowledge/eval_set.parquet."""
    if not project.exists(EVAL_SET):
        raise StageNotReady(f"no eval set yet: tunesmith evalset {project.slug}")
    return rows_hash(store.read_parquet_rows(project.path(EVAL_SET)))


def edited_since_frozen(project: Project) -> bool:
    """True when the eval set was approved and frozen and its rows have changed since."""
    review = _review(project)
    return bool(review.approved and review.frozen_hash and project.exists(EVAL_SET)
                and eval_set_hash(project) != review.frozen_hash)


def verify_frozen(project: Project) -> str:
    """Check that the eval set is approved and unchanged since; return its hash. Raises otherwise."""
    review = project.read_or(EVAL_REVIEW, EvalReview)
    project.reload()
    if (review is None or not review.approved or not review.frozen_hash
            or not project.meta.is_done("extract", "evalset_approved")):
        raise StageNotReady(f"the eval set is not approved yet: tunesmith review {project.slug} evalset")
    actual = eval_set_hash(project)
    if actual != review.frozen_hash:
        raise EvalSetChanged(
            f"{project.path(EVAL_SET)} changed after it was approved (frozen sha256 {review.frozen_hash[:12]}…, "
            f"now {actual[:12]}…); results against it would not be comparable. Restore it, or build and "
            f"approve a new one: tunesmith evalset {project.slug} --force"
        )
    return actual


# ---------------------------------------------------------------- sampling


def replacement_round(example: EvalExample) -> int | None:
    """The review round in which the example this one replaces was rejected (None for an original)."""
    m = _REPLACED.search(example.provenance)
    return int(m.group(1)) if m else None


def stratified_sample(examples: list[EvalExample], n: int, seed: str) -> list[EvalExample]:
    """``n`` examples in proportion to the kinds' sizes (largest remainder), lifting each guaranteed kind
    present (out-of-scope, edge, look-alike) to at least one; within a kind spread over categories.
    Deterministic for a given seed and set."""
    n = min(n, len(examples))
    rng = random.Random(seed)
    by_kind: dict[str, list[EvalExample]] = {k: [] for k in EVAL_KINDS}
    for ex in examples:
        by_kind[ex.kind].append(ex)
    for kind, items in by_kind.items():
        rng.shuffle(items)
        seen: dict[str, int] = {}
        rank = []
        for ex in items:  # round-robin over categories: the i-th of each category before any (i+1)-th
            rank.append(seen.get(ex.category, 0))
            seen[ex.category] = rank[-1] + 1
        by_kind[kind] = [ex for _, _, ex in sorted(zip(rank, range(len(items)), items), key=lambda t: t[:2])]
    sizes = [len(by_kind[k]) for k in EVAL_KINDS]
    alloc = dict(zip(EVAL_KINDS, largest_remainder(n, sizes) if n else [0] * len(sizes)))
    for k in GUARANTEED_KINDS:  # at least one of each guaranteed kind, taken from the largest share
        if by_kind[k] and alloc[k] == 0:
            donor = max((d for d in EVAL_KINDS if alloc[d] > 1 or (alloc[d] == 1 and d not in GUARANTEED_KINDS)),
                        key=lambda d: alloc[d], default=None)
            if donor is not None:
                alloc[donor] -= 1
                alloc[k] = 1
    picked = [ex for k in EVAL_KINDS for ex in by_kind[k][: alloc[k]]]
    rng.shuffle(picked)
    return picked


# ---------------------------------------------------------------- the round


@dataclass
class ReviewRound:
    number: int
    sample: list[EvalExample]
    review: EvalReview

    @property
    def approved(self) -> bool:
        return self.review.approved

    def rating(self, example_id: str) -> str | None:
        return self.review.ratings.get(example_id)

    @property
    def pending(self) -> list[EvalExample]:
        return [ex for ex in self.sample if ex.id not in self.review.ratings]

    @property
    def rated(self) -> int:
        return len(self.sample) - len(self.pending)

    @property
    def rejected(self) -> list[tuple[EvalExample, str]]:
        return [(ex, self.review.notes.get(ex.id, "")) for ex in self.sample
                if self.review.ratings.get(ex.id) == "bad"]

    @property
    def complete(self) -> bool:
        return not self.pending

    def describe(self) -> str:
        if self.approved:
            return "approved and frozen"
        bad = len(self.rejected)
        return (f"review round {self.number}: {self.rated}/{len(self.sample)} rated"
                + (f", {bad} rejected" if bad else ""))


def _review(project: Project) -> EvalReview:
    """The review record, read strictly (it is written back: a hand edit that does not parse must stop the
    command with the file and field named, never be replaced)."""
    from core.extract.strict import read_strict_or

    return read_strict_or(project, EVAL_REVIEW, EvalReview) or EvalReview()


def current_round(project: Project, examples: list[EvalExample] | None = None) -> ReviewRound:
    """The review round in progress (or the last one, when approved)."""
    examples = load_eval_set(project) if examples is None else examples
    project.reload()  # another process (the CLI, the TUI) may have moved the stage on
    if not project.meta.is_done("extract", "evalset"):
        raise StageNotReady(f"the eval set is not complete: tunesmith evalset {project.slug}")
    review = _review(project)
    rounds = [r for r in (replacement_round(ex) for ex in examples) if r is not None]
    number = max(rounds, default=0) + 1
    if number == 1:
        size = project.meta.config.extract.spot_check_size
        sample = stratified_sample(examples, size, seed=f"{project.slug}:evalset")
    else:
        sample = [ex for ex in examples if replacement_round(ex) == number - 1]
    return ReviewRound(number, sample, review)


def rate(project: Project, example_id: str, good: bool, note: str = "") -> ReviewRound:
    """Record one rating (saved at once). A rating can be changed until the round is concluded."""
    with project.writing():
        rnd = current_round(project)
        if rnd.approved:
            raise BadInput("the eval set is already approved and frozen; ratings can no longer change")
        if example_id not in {ex.id for ex in rnd.sample}:
            raise BadInput(f"example {example_id!r} is not in review round {rnd.number}")
        review = rnd.review
        review.ratings = {**review.ratings, example_id: "good" if good else "bad"}
        notes = dict(review.notes)
        if note.strip():
            notes[example_id] = note.strip()
        else:
            notes.pop(example_id, None)
        review.notes = notes
        review.rounds = rnd.number
        project.write(EVAL_REVIEW, review)
    return rnd


def undo(project: Project, example_id: str) -> ReviewRound:
    """Withdraw a rating of the current round (the rater's undo key)."""
    with project.writing():
        rnd = current_round(project)
        if rnd.approved:
            raise BadInput("the eval set is already approved and frozen; ratings can no longer change")
        review = rnd.review
        review.ratings = {k: v for k, v in review.ratings.items() if k != example_id}
        review.notes = {k: v for k, v in review.notes.items() if k != example_id}
        project.write(EVAL_REVIEW, review)
    return rnd


def approve(project: Project, force: bool = False) -> EvalReview:
    """Approve and freeze the eval set as it stands (with or without a finished spot-check).

    An empty set is never approved. A set edited after it was frozen (its rows no longer match the frozen
    hash) is approved again only with ``force``: results against the old and the new set are not comparable.
    """
    with project.writing():
        examples = load_eval_set(project)
        project.reload()
        if not project.meta.is_done("extract", "evalset"):
            raise StageNotReady(f"the eval set is not complete: tunesmith evalset {project.slug}")
        if not examples:
            raise BadInput(f"{project.path(EVAL_SET)}: the eval set has no examples; an empty set cannot be "
                           f"approved (build one: tunesmith evalset {project.slug} --force)")
        review = _review(project)
        actual = eval_set_hash(project)
        if review.approved and review.frozen_hash and review.frozen_hash != actual and not force:
            raise EvalSetChanged(
                f"{project.path(EVAL_SET)} changed after it was approved (frozen sha256 {review.frozen_hash[:12]}…, "
                f"now {actual[:12]}…); results against the old and the edited set are not comparable. To "
                f"approve the edited set as it stands: tunesmith evalset {project.slug} --approve --force"
            )
        review.approved = True
        review.approved_at = now()
        review.frozen_hash = actual
        review.rounds = max(review.rounds, 1)
        project.write(EVAL_REVIEW, review)
        project.mark("extract", "evalset_approved")
    return review


async def aconclude(project: Project, gateway: Any = None, progress: Callable[[str], None] | None = None) -> str:
    """Close the current round once every sampled example is rated.

    Returns "approved" (no example rated bad: the set is approved and frozen), "regenerated" (the rejected
    examples were replaced; a new round over the replacements begins) or "pending" (ratings missing).
    """
    with project.writing():
        examples = load_eval_set(project)
        rnd = current_round(project, examples)
        if rnd.approved:
            return "approved"
        if not rnd.complete:
            return "pending"
        if not rnd.rejected:
            approve(project)
            return "approved"
        own = gateway is None
        gw = default_gateway(project) if own else gateway
        try:
            new = await aregenerate(project, gw, rnd.rejected, examples, progress=progress)
        finally:
            if own:
                gw.close()
        notes = {ex.id: note for ex, note in rnd.rejected}
        replaced = []
        for ex in examples:
            repl = new.get(ex.id)
            if repl is None:
                replaced.append(ex)
                continue
            why = " ".join(notes.get(ex.id, "").split())
            mark = f"; replaces {ex.id} rejected in review round {rnd.number}" + (f": {why}" if why else "")
            replaced.append(repl.model_copy(update={"provenance": repl.provenance + mark}))
        project.write_rows(EVAL_SET, replaced, EvalExample)
        review = _review(project)
        review.rounds = rnd.number + 1
        project.write(EVAL_REVIEW, review)
        return "regenerated"


def conclude(project: Project, gateway: Any = None, progress: Callable[[str], None] | None = None) -> str:
    from core.llm.gateway import run_sync

    return run_sync(aconclude(project, gateway, progress))
