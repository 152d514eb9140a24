"""The optional review of the scale-up (SKILL 2, Phase 3: "Optional: 50-example random sample for review").

``finalise`` writes a seeded random sample of ``scale_review_size`` examples of the finished dataset to
``data/scale/review_sample.parquet``; the expert rates them ✓ / ✗ (with a note) here, each rating saved
as it is made in ``data/scale/review.toml``, so a review can stop and continue. Nothing is gated on it:
the dataset is already validated. When the sample's good-rate falls below ``pilot_approval_rate`` the
summary says so, with the reviewer's notes, and the generation report records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from core.errors import BadInput, StageNotReady
from core.generate import pipeline_state as ps
from core.models.config import Strict
from core.models.data import TrainingExample
from core.models.project import now
from core.project import Project

SCALE_REVIEW = "data/scale/review.toml"


class ScaleReview(Strict):
    sample: list[str] = Field(default_factory=list)
    ratings: dict[str, Literal["good", "bad"]] = Field(default_factory=dict)
    notes: dict[str, str] = Field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass
class ScaleRound:
    sample: list[TrainingExample]
    review: ScaleReview
    approval_rate: float

    @property
    def pending(self) -> list[TrainingExample]:
        return [ex for ex in self.sample if ex.id not in self.review.ratings]

    @property
    def rated(self) -> int:
        return sum(1 for ex in self.sample if ex.id in self.review.ratings)

    @property
    def good(self) -> int:
        return sum(1 for ex in self.sample if self.review.ratings.get(ex.id) == "good")

    @property
    def good_rate(self) -> float:
        return self.good / self.rated if self.rated else 0.0

    def rating(self, example_id: str) -> str | None:
        return self.review.ratings.get(example_id)

    def describe(self) -> str:
        if not self.sample:
            return "no scale-up review sample (config.generate.scale_review_size is 0)"
        head = f"scale-up review: {self.rated}/{len(self.sample)} rated, {self.good} good"
        if self.rated and not self.pending:
            verdict = ("looks good" if self.good_rate >= self.approval_rate else
                       f"below the {self.approval_rate:.0%} bar: look at the notes before training")
            head += f" ({self.good_rate:.0%}: {verdict})"
        return head


def current_round(project: Project) -> ScaleRound:
    if not project.exists(ps.SCALE_REVIEW_SAMPLE):
        raise StageNotReady(f"the scale-up has not finished yet, so there is no sample to review: "
                            f"tunesmith generate {project.slug} --scale")
    sample = project.read_rows(ps.SCALE_REVIEW_SAMPLE, TrainingExample)
    review = project.read_or(SCALE_REVIEW, ScaleReview) or ScaleReview()
    ids = [ex.id for ex in sample]
    if review.sample != ids:  # a new dataset: a new review
        review = ScaleReview(sample=ids)
    return ScaleRound(sample, review, project.meta.config.generate.pilot_approval_rate)


def rate(project: Project, example_id: str, good: bool | None, note: str = "") -> ScaleRound:
    """Record (``good`` True/False) or withdraw (None) one rating; saved at once."""
    with project.writing():
        rnd = current_round(project)
        if example_id not in rnd.review.sample:
            raise BadInput(f"example {example_id!r} is not in the scale-up review sample")
        ratings = {k: v for k, v in rnd.review.ratings.items() if k != example_id}
        notes = {k: v for k, v in rnd.review.notes.items() if k != example_id}
        if good is not None:
            ratings[example_id] = "good" if good else "bad"
            if note.strip():
                notes[example_id] = note.strip()
        rnd.review.ratings, rnd.review.notes, rnd.review.updated_at = ratings, notes, now()
        project.write(SCALE_REVIEW, rnd.review)
    return rnd
