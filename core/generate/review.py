"""The pilot spot-check: the reviewer rates ``pilot_review_size`` passing pilot examples ✓ / ✗ (each rating
saved as it is made). A good-rate above ``pilot_approval_rate`` (more than 80% by default: 9 of 10)
approves the scale-up (marks generate/pilot_approved). Otherwise the pilot is rejected: the reviewer's
notes become generator feedback (``data/pilot/feedback.toml``) for the next pilot, and generate/pilot is
withdrawn so the next step is ``tunesmith generate NAME --pilot``.

Mirrors :mod:`core.extract.review`: :func:`current_round`, :func:`rate`, :func:`undo`, :func:`conclude`.
One review round per pilot: the round is tied to the pilot's id, so a new pilot starts a new round.
The sample is deterministic (seeded by the project and the pilot), spread over categories.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from core.errors import BadInput, StageNotReady
from core.generate import pipeline_state as ps
from core.generate.records import user_text
from core.models.config import Strict
from core.models.data import TrainingExample
from core.models.project import now
from core.project import Project


class RoundRecord(Strict):
    round: int
    pilot_id: str
    rated: int
    good: int
    good_rate: float
    outcome: Literal["approved", "rejected"]
    notes: list[str] = Field(default_factory=list)
    concluded_at: datetime | None = None


class PilotReview(Strict):
    """data/pilot/review.toml: the current round's ratings and the concluded rounds."""

    pilot_id: str = ""
    round: int = 0
    sample: list[str] = Field(default_factory=list)
    ratings: dict[str, Literal["good", "bad"]] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)
    outcome: Literal["approved", "rejected"] | None = None
    good_rate: float | None = None
    concluded_at: datetime | None = None
    history: list[RoundRecord] = Field(default_factory=list)


def approval_rule(rate: float) -> str:
    return f"scale-up is approved when more than {rate:.0%} of the sample is rated good"


@dataclass
class PilotRound:
    number: int
    sample: list[TrainingExample]
    review: PilotReview
    approval_rate: float

    def rating(self, example_id: str) -> str | None:
        return self.review.ratings.get(example_id)

    @property
    def pending(self) -> list[TrainingExample]:
        return [ex for ex in self.sample if ex.id not in self.review.ratings]

    @property
    def rated(self) -> int:
        return len(self.sample) - len(self.pending)

    @property
    def good(self) -> int:
        return sum(1 for ex in self.sample if self.review.ratings.get(ex.id) == "good")

    @property
    def good_rate(self) -> float:
        return self.good / len(self.sample) if self.sample else 0.0

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def outcome(self) -> str | None:
        return self.review.outcome

    @property
    def approved(self) -> bool:
        return self.review.outcome == "approved"

    @property
    def rejected(self) -> list[tuple[TrainingExample, str]]:
        return [(ex, self.review.notes.get(ex.id, "")) for ex in self.sample if self.review.ratings.get(ex.id) == "bad"]

    def describe(self) -> str:
        if self.outcome:
            return (f"pilot review round {self.number}: {self.outcome} ({self.good}/{len(self.sample)} good, "
                    f"{self.good_rate:.0%})")
        return f"pilot review round {self.number}: {self.rated}/{len(self.sample)} rated, {self.good} good"


def _review(project: Project) -> PilotReview:
    return project.read_or(ps.PILOT_REVIEW, PilotReview) or PilotReview()


def load_pilot(project: Project) -> tuple[list[TrainingExample], ps.PilotRun]:
    run = project.read_or(ps.PILOT_RUN, ps.PilotRun)
    if run is None or not project.exists(ps.PILOT_EXAMPLES):
        raise StageNotReady(f"no pilot yet: tunesmith generate {project.slug} --pilot")
    return project.read_rows(ps.PILOT_EXAMPLES, TrainingExample), run


def sample_pilot(examples: list[TrainingExample], n: int, seed: str) -> list[TrainingExample]:
    """``n`` examples spread over categories (round-robin over shuffled categories), deterministic."""
    rng = random.Random(seed)
    by_cat: dict[str, list[TrainingExample]] = {}
    for ex in examples:
        by_cat.setdefault(ex.category, []).append(ex)
    for items in by_cat.values():
        rng.shuffle(items)
    cats = sorted(by_cat)
    rng.shuffle(cats)
    out: list[TrainingExample] = []
    i = 0
    while len(out) < min(n, len(examples)):
        for c in cats:
            if i < len(by_cat[c]) and len(out) < n:
                out.append(by_cat[c][i])
        i += 1
    return out


def current_round(project: Project) -> PilotRound:
    """The review round of the current pilot (concluded or not)."""
    project.reload()
    examples, run = load_pilot(project)
    if not examples:
        raise StageNotReady(f"the pilot kept no examples; regenerate it: tunesmith generate {project.slug} --pilot")
    cfg = project.meta.config.generate
    review = _review(project)
    if review.pilot_id != run.pilot_id:  # a new pilot: a new round
        review = PilotReview(pilot_id=run.pilot_id, round=review.round + 1, history=review.history)
    by_id = {ex.id: ex for ex in examples}
    if review.sample and all(i in by_id for i in review.sample):
        sample = [by_id[i] for i in review.sample]
    else:
        sample = sample_pilot(examples, cfg.pilot_review_size, seed=f"{project.slug}:pilot:{run.pilot_id}")
    return PilotRound(review.round, sample, review, cfg.pilot_approval_rate)


def _save(project: Project, rnd: PilotRound) -> None:
    rnd.review.sample = [ex.id for ex in rnd.sample]
    project.write(ps.PILOT_REVIEW, rnd.review)


def rate(project: Project, example_id: str, good: bool, note: str = "") -> PilotRound:
    """Record one rating (saved at once); it can change until the round is concluded."""
    with project.writing():
        rnd = current_round(project)
        if rnd.outcome:
            raise BadInput(f"pilot review round {rnd.number} is already concluded ({rnd.outcome})")
        if example_id not in {ex.id for ex in rnd.sample}:
            raise BadInput(f"example {example_id!r} is not in pilot review round {rnd.number}")
        review = rnd.review
        review.ratings = {**review.ratings, example_id: "good" if good else "bad"}
        notes = {k: v for k, v in review.notes.items() if k != example_id}
        if note.strip():
            notes[example_id] = note.strip()
        review.notes = notes
        _save(project, rnd)
    return rnd


def undo(project: Project, example_id: str) -> PilotRound:
    """Withdraw a rating of the current round (the rater's undo key)."""
    with project.writing():
        rnd = current_round(project)
        if rnd.outcome:
            raise BadInput(f"pilot review round {rnd.number} is already concluded ({rnd.outcome})")
        review = rnd.review
        review.ratings = {k: v for k, v in review.ratings.items() if k != example_id}
        review.notes = {k: v for k, v in review.notes.items() if k != example_id}
        _save(project, rnd)
    return rnd


def feedback_lines(rnd: PilotRound) -> list[str]:
    """The reviewer's verdicts as instructions for the next pilot (notes on bad examples first)."""
    out = []
    for ex, note in rnd.rejected:
        asked = " ".join(user_text(ex.record).split())[:160]
        reason = note or "no reason given; avoid examples like it"
        out.append(f"The domain expert rejected a {ex.kind} '{ex.category}' example (asked: \"{asked}\"): {reason}")
    for ex in rnd.sample:
        note = rnd.review.notes.get(ex.id, "")
        if note and rnd.review.ratings.get(ex.id) == "good":
            out.append(f"The domain expert's note on a good '{ex.category}' example: {note}")
    return out


def conclude(project: Project) -> str:
    """Close the round once every sampled example is rated: "approved", "rejected" or "pending"."""
    from core.generate import report as rp
    from core.generate.pipeline import load_feedback, save_feedback

    with project.writing():
        rnd = current_round(project)
        if rnd.outcome:
            return rnd.outcome
        if not rnd.complete:
            return "pending"
        review = rnd.review
        approved = rnd.good_rate > rnd.approval_rate + 1e-12
        review.outcome = "approved" if approved else "rejected"
        review.good_rate = round(rnd.good_rate, 4)
        review.concluded_at = now()
        lines = feedback_lines(rnd)
        review.history = [*review.history, RoundRecord(
            round=rnd.number, pilot_id=review.pilot_id, rated=rnd.rated, good=rnd.good,
            good_rate=review.good_rate, outcome=review.outcome, notes=lines, concluded_at=review.concluded_at)]
        _save(project, rnd)
        if approved:
            project.mark("generate", "pilot_approved")
        else:
            fb = load_feedback(project)
            fb.review_notes = [*fb.review_notes, *(ln for ln in lines if ln not in fb.review_notes)]
            save_feedback(project, fb)
            project.reload()
            if project.meta.is_done("generate", "pilot"):
                project.mark("generate", "pilot", done=False)  # next: regenerate the pilot with the notes
        rp.update_summary(project, pilot_review=rp.PilotReviewSummary(
            round=rnd.number, rated=rnd.rated, good=rnd.good, good_rate=round(rnd.good_rate, 4),
            approval_rate=rnd.approval_rate, outcome=review.outcome))
        return review.outcome


def approve(project: Project) -> None:
    """Approve the scale-up without a spot-check (``tunesmith run --approve-all``); recorded as such."""
    with project.writing():
        rnd = current_round(project)
        if rnd.outcome == "approved":
            return
        review = rnd.review
        review.outcome = "approved"
        review.concluded_at = now()
        review.history = [*review.history, RoundRecord(
            round=rnd.number, pilot_id=review.pilot_id, rated=rnd.rated, good=rnd.good, good_rate=rnd.good_rate,
            outcome="approved", notes=["approved without a spot-check"], concluded_at=review.concluded_at)]
        _save(project, rnd)
        project.mark("generate", "pilot", done=True)
        project.mark("generate", "pilot_approved")
