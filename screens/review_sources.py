"""What the review screen reviews: one small adapter per kind ("evalset", "pilot").

The screen (:mod:`screens.review`) only draws; a source knows the core calls behind it:

    source = source_for(project, "evalset")
    snap = source.load()                      # blocking: call it from a worker thread
    source.rate(item_id, "good" | "bad", note)  # saved at once
    source.undo(item_id)
    result = source.conclude(progress)        # blocking, may call the LLM: worker thread
    snap = source.approve()                   # approve the whole thing without the spot-check
    source.build(progress)                    # only when source.can_build

A :class:`Snapshot` is everything the screen shows: which state the review is in (``unbuilt``,
``reviewing``, ``approved``, ``concluded`` (closed without approval) or ``unavailable``), the summary
and status lines, a Markdown body for the states without a rater, and the current round's items with
the ratings already saved.

The pilot (skill 2) plugs in the same way: :func:`pilot_source` gives :class:`PilotSource` (over
``core.generate.review``) when that module exists, and otherwise a state that says which skill
brings it; "scale" is the optional review of the scale-up's random sample (:class:`ScaleSource`, over
``core.generate.scale_review``). Training examples are shown as literal text (:func:`example_body`),
never as Markdown. Importing this module imports no core module: each adapter imports what it drives when
it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from rich.console import RenderableType
from rich.text import Text

from core import words
from tui.widgets.literal import labelled, literal, md_escape, stack
from tui.widgets.rater import RaterItem, Rating

if TYPE_CHECKING:
    from core.models.knowledge import EvalExample
    from core.project import Project

Progress = Callable[[str], None]

UNBUILT, REVIEWING, APPROVED, CONCLUDED, UNAVAILABLE = "unbuilt", "reviewing", "approved", "concluded", "unavailable"

KIND_LABELS = {
    "common": "common",
    "edge": "edge case",
    "out_of_scope": "out of scope",
    "lookalike": "in-scope look-alike",
}
KIND_SHORT = {"common": "common", "edge": "edge", "out_of_scope": "out-of-scope", "lookalike": "look-alike"}


def next_line(project: "Project") -> str:
    """The project's next step for a Markdown page: the dashboard's key first (esc goes back to it), the
    CLI command second."""
    from screens.registry import key_hint

    if project.meta.next_step() is None:
        return (f"**Next:** the pipeline is complete: export the results (e on the report)  \n"
                f"CLI: `tunesmith export {project.slug}`")
    lead, command = key_hint(project.meta.next_hint())
    where = " on the dashboard (esc)" if lead.startswith("press ") else ""
    return f"**Next:** {md_escape(lead)}{where}" + (f"  \nCLI: `{command}`" if command else "")


@dataclass
class Snapshot:
    """What the screen shows for a review at one moment."""

    state: str
    summary: str = ""  # one or two short lines: counts
    status: str = ""  # one line: where the review stands
    body: str = ""  # the app's own Markdown, for the states without a rater (stored text in it: md_escape)
    round: int = 0
    items: list[RaterItem] = field(default_factory=list)
    ratings: dict[str, Rating] = field(default_factory=dict)
    rejected: int = 0  # items of this round rated bad

    @property
    def complete(self) -> bool:
        return bool(self.items) and all(it.id in self.ratings for it in self.items)


@dataclass
class Conclusion:
    outcome: str  # evalset: "approved" | "regenerated" | "pending"; pilot: "approved" | "rejected" | "pending"
    replaced: int  # how many rejected items were replaced
    snapshot: Snapshot
    note: str = ""  # what the screen tells the user (a notification)


class ReviewSource:
    """The base adapter: nothing to review. Subclasses fill in what their kind can do."""

    kind = ""
    title = "Review"
    noun = "item"
    can_build = False
    can_approve = True  # "approve all without the spot-check" (a gate); False where nothing is gated
    can_conclude = True  # "r concludes a finished round"; False where a review has no conclusion
    approved_note = "Approved."

    def __init__(self, project: "Project") -> None:
        self.project = project

    def load(self) -> Snapshot:
        return Snapshot(UNAVAILABLE, body="Nothing to review.")

    def build(self, progress: Progress | None = None) -> Snapshot:
        raise NotImplementedError

    def rate(self, item_id: str, rating: str, note: str | None = None) -> None:
        raise NotImplementedError

    def undo(self, item_id: str) -> None:
        raise NotImplementedError

    def conclude(self, progress: Progress | None = None) -> Conclusion:
        raise NotImplementedError

    def approve(self) -> Snapshot:
        raise NotImplementedError

    def approve_question(self, snap: Snapshot) -> str:
        return f"Approve every {self.noun} without finishing the spot-check?"

    def round_status(self, snap: Snapshot, rated: int, total: int, bad: int) -> str:
        """The status line after each rating."""
        return (f"review round {snap.round}: {rated}/{total} rated" + (f", {bad} rejected" if bad else "")
                + " · saved")

    def complete_status(self, snap: Snapshot) -> str:
        """The status line of a finished round that was not concluded."""
        return f"{snap.status} · round complete: r concludes it, u changes a rating"

    def conclude_text(self, snap: Snapshot) -> str:
        """The status line while a finished round is being concluded."""
        if snap.rejected:
            s = "s" if snap.rejected != 1 else ""
            return f"round {snap.round}: replacing {snap.rejected} rejected {self.noun}{s} with your notes…"
        return f"round {snap.round}: every {self.noun} rated good, approving…"


class NotYetSource(ReviewSource):
    """A kind whose core part is not built yet: the screen says so and offers nothing else."""

    def __init__(self, project: "Project", kind: str, title: str, message: str) -> None:
        super().__init__(project)
        self.kind = kind
        self.title = title
        self.message = message

    def load(self) -> Snapshot:
        return Snapshot(UNAVAILABLE, status="not available yet", body=self.message)


class RoundSource(ReviewSource):
    """A review in rounds driven by a core module with the API of :mod:`core.extract.review`:
    ``current_round(project)`` (.number, .sample, .review.ratings/.notes, .rejected, .approved,
    .describe()), ``rate(project, id, good, note)``, ``undo(project, id)``,
    ``conclude(project, gateway, progress)`` and ``approve(project)``."""

    module_name = ""

    def __init__(self, project: "Project", module: Any = None) -> None:
        super().__init__(project)
        self._module = module

    @property
    def core(self) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self.module_name)
        return self._module

    # ------------------------------------------------------------ what subclasses shape

    def render(self, item: Any) -> RaterItem:
        """A rater item for one sampled item (generic: every field, as literal text)."""
        data = item.model_dump() if hasattr(item, "model_dump") else dict(vars(item))
        ident = str(data.get("id", ""))
        body = stack(_block(k, str(v)) for k, v in data.items() if k != "id" and v not in ("", None))
        return RaterItem(ident, ident or self.noun, body)

    def summary(self) -> str:
        return ""

    def approved_body(self) -> str:
        return f"## ✓ {self.title}: approved\n"

    # ------------------------------------------------------------ the round API

    def round_snapshot(self, rnd: Any, summary: str | None = None) -> Snapshot:
        summary = self.summary() if summary is None else summary
        if rnd.approved:
            return Snapshot(APPROVED, summary, "approved and frozen", self.approved_body(), rnd.number)
        ids = {ex.id for ex in rnd.sample}
        review = rnd.review
        ratings = {k: Rating(v, review.notes.get(k) or None) for k, v in review.ratings.items() if k in ids}
        return Snapshot(REVIEWING, summary, rnd.describe(), "", rnd.number,
                        [self.render(ex) for ex in rnd.sample], ratings, len(rnd.rejected))

    def load(self) -> Snapshot:
        return self.round_snapshot(self.core.current_round(self.project))

    def rate(self, item_id: str, rating: str, note: str | None = None) -> None:
        self.core.rate(self.project, item_id, rating == "good", note or "")

    def undo(self, item_id: str) -> None:
        self.core.undo(self.project, item_id)

    def conclude(self, progress: Progress | None = None) -> Conclusion:
        before = self.core.current_round(self.project)
        rejected = len(before.rejected)
        outcome = self._conclude(progress)
        self.project.reload()
        result = Conclusion(outcome, rejected if outcome == "regenerated" else 0, self.load())
        result.note = self.conclusion_note(result)
        return result

    def _conclude(self, progress: Progress | None) -> str:
        return self.core.conclude(self.project, None, progress)

    def conclusion_note(self, result: Conclusion) -> str:
        if result.outcome == "approved":
            return f"{self.title.removesuffix(' review')} approved."
        return ""

    def approve(self) -> Snapshot:
        self.core.approve(self.project)
        self.project.reload()
        return self.load()


# ---------------------------------------------------------------- the eval set


def _block(label: str, text: str) -> RenderableType:
    """A bold label, then the text exactly as it is (no Markdown, no markup: an example is shown as
    written; a fenced code block in it is highlighted as code)."""
    return labelled(label, text)


def _inline(label: str, text: str) -> RenderableType:
    """'Label text' on one line: a bold label, then the stored text literally."""
    return stack([Text(label, style="bold"), literal(text)], sep="")


def _counts(counts: dict[str, int], order: tuple[str, ...] = (), labels: dict[str, str] | None = None) -> str:
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order and counts[k])
    labels = labels or {}
    return " · ".join(f"{labels.get(k, k)} {counts[k]}" for k in keys)


def eval_summary(examples: list["EvalExample"]) -> str:
    """Two lines: the total and the kinds; the difficulties and how many categories."""
    from core.extract.evalset import summary
    from core.models.knowledge import DIFFICULTIES, EVAL_KINDS

    s = summary(examples)
    cats = len([c for c in s["category"] if c != "out_of_scope"])
    first = f"{len(examples)} examples · " + _counts(s["kind"], EVAL_KINDS, KIND_SHORT)
    second = _counts(s["difficulty"], DIFFICULTIES) + f" · {cats} categor{'y' if cats == 1 else 'ies'}"
    return f"{first}\n{second}"


def eval_item(ex: "EvalExample") -> RaterItem:
    """A rater item for one eval example, its input and reference shown literally (not as Markdown)."""
    refuse = " · must refuse" if ex.should_refuse else ""
    title = f"{KIND_LABELS.get(ex.kind, ex.kind)} · {ex.category} · {ex.difficulty}{refuse}  ({ex.id})"
    if ex.should_refuse:
        answer = "Expected refusal"
    elif ex.kind == "lookalike":
        answer = "Reference answer (close to the WILL NOT line, but must be answered)"
    else:
        answer = "Reference answer"
    parts = [_block("Input", ex.input), _block(answer, ex.reference)]
    if ex.rationale.strip():
        parts.append(_inline("Why ", ex.rationale.strip()))
    if ex.provenance.strip():
        parts.append(Text(f"From: {ex.provenance.strip()}", style="dim italic"))
    return RaterItem(ex.id, title, stack(parts))


class EvalSetSource(RoundSource):
    """The held-out eval set: build it from the plan, spot-check it in rounds, approve (freeze) it."""

    kind = "evalset"
    title = "Eval-set review"
    noun = "example"
    can_build = True
    approved_note = "Eval set approved and frozen."
    module_name = "core.extract.review"

    def __init__(self, project: "Project") -> None:
        super().__init__(project)
        self._examples: list["EvalExample"] | None = None

    def render(self, item: Any) -> RaterItem:
        return eval_item(item)

    def summary(self) -> str:
        return eval_summary(self._examples or [])

    def built(self) -> bool:
        from core.project import EVAL_SET

        self.project.reload()
        return self.project.exists(EVAL_SET) and self.project.meta.is_done("extract", "evalset")

    def load(self) -> Snapshot:
        if not self.built():
            return self.plan_snapshot()
        from core.extract.evalset import load_eval_set

        examples = load_eval_set(self.project)
        self._examples = examples
        return self.round_snapshot(self.core.current_round(self.project, examples))

    def plan_snapshot(self) -> Snapshot:
        from core.errors import TunesmithError
        from core.extract import evalset as ev
        from core.models.knowledge import DIFFICULTIES

        cfg = self.project.meta.config.extract
        slug = self.project.slug
        lines = ["## No eval set yet", ""]
        try:
            plan = ev.plan_for(self.project)
        except TunesmithError as exc:
            lines += [f"The plan cannot be made yet: {md_escape(exc)}", ""]
            summary = f"eval set: {cfg.eval_set_size} examples planned"
        else:
            k = plan.by_kind()
            lines += [
                f"**Plan:** {plan.size} held-out examples in {len(plan.cells)} quota cells",
                "",
                f"- {k['common']} common, {k['edge']} edge cases",
                f"- {k['out_of_scope']} out of scope (must be refused), "
                f"{k['lookalike']} in-scope look-alikes (must be answered)",
                "- by category: " + _counts({c: n for c, n in plan.by_category().items() if c != "out_of_scope"}),
                "- by difficulty: " + _counts(plan.by_difficulty(), DIFFICULTIES),
                "",
            ]
            summary = f"eval set: {plan.size} examples planned · out-of-scope ratio {cfg.out_of_scope_ratio:.2f}"
        progress = self.project.cache_dir / ev.PROGRESS_FILE
        if progress.exists():
            lines += ["An interrupted build left its progress: **g** resumes it without paying again.", ""]
        lines += [
            f"Press **g** to build it with the generator LLM; then spot-check {cfg.spot_check_size} "
            f"examples here. Approval freezes the set. (CLI: `tunesmith evalset {slug}`)",
        ]
        return Snapshot(UNBUILT, summary, "no eval set yet · g builds it", "\n".join(lines))

    def build(self, progress: Progress | None = None) -> Snapshot:
        from core.extract.evalset import build_eval_set

        build_eval_set(self.project, None, None, progress=progress)
        self.project.reload()
        return self.load()

    def approved_body(self) -> str:
        from core.models.knowledge import EvalReview
        from core.project import EVAL_REVIEW

        review = self.project.read_or(EVAL_REVIEW, EvalReview)
        when = review.approved_at.strftime("%Y-%m-%d %H:%M UTC") if review and review.approved_at else "?"
        digest = (review.frozen_hash or "")[:12] if review else ""
        n = len(self._examples or [])
        return "\n".join([
            "## ✓ Eval set approved and frozen",
            "",
            f"{n} examples, approved {when} (fingerprint {digest}…). Later stages use it exactly as it is; "
            "no training example may copy one of its questions.",
            "",
            next_line(self.project),
        ])

    def conclusion_note(self, result: Conclusion) -> str:
        if result.outcome == "approved":
            return "Eval set approved and frozen."
        if result.outcome == "regenerated":
            n, s = result.replaced, "s" if result.replaced != 1 else ""
            return (f"Replaced {n} rejected example{s}; round {result.snapshot.round} reviews the "
                    f"replacement{s}.")
        return ""

    def approve_question(self, snap: Snapshot) -> str:
        n = len(self._examples or [])
        left = sum(1 for it in snap.items if it.id not in snap.ratings)
        spot = f" ({left} of {len(snap.items)} spot-check examples are not rated yet)" if left else ""
        return (f"Approve and freeze all {n} examples without finishing the spot-check{spot}?\n"
                "Later stages rely on the frozen set never changing.")


# ---------------------------------------------------------------- the pilot (skill 2)

PILOT_CORE = "core.generate.review"  # the core module the pilot review drives (skill 2)

PILOT_NOT_YET = (
    "## The pilot review arrives with skill 2\n\n"
    "Skill 2 generates a pilot batch of training data; this screen will spot-check it with the "
    "same keys as the eval-set review (y ✓, n ✗, c note, u undo), before the data is scaled up.\n\n"
    "Meanwhile: build and approve the eval set (**e** on the dashboard)."
)


def example_body(ex: Any) -> RenderableType:
    """One TrainingExample as literal text: what it asks, its response(s), why it exists."""
    from core.generate.records import prompt_of, responses

    parts = []
    for m in prompt_of(ex.record):
        role = str(m.get("role", "")).capitalize() or "Prompt"
        parts.append(_block(role, str(m.get("content", ""))))
    for column, text in responses(ex.record).items():
        label = column.capitalize()
        if column == "rejected" and getattr(ex, "rejected_strategy", None):
            label += f" (made as {words.strategy(ex.rejected_strategy)})"
        parts.append(_block(label, text))
    if "label" in ex.record:
        parts.append(_inline("Label ", str(ex.record["label"])))
    if ex.exercises:
        parts.append(_inline("Exercises ", ex.exercises))
    said = words.strategy_with_name(ex.strategy)
    parts.append(Text(f"{said[:1].upper()}{said[1:]} · {ex.model} · prompt {ex.prompt_version}", style="dim italic"))
    return stack(parts)


def pilot_item(ex: Any) -> RaterItem:
    """A rater item for one pilot (or scale-up) TrainingExample, its text shown literally."""
    title = f"{ex.kind} · {ex.category} · {ex.difficulty} · {ex.format}  ({ex.id})"
    return RaterItem(ex.id, title, example_body(ex))


class PilotSource(RoundSource):
    """The pilot's spot-check, over ``core.generate.review``: one round per pilot; above the approval
    rate the scale-up is approved, otherwise the notes go to the generator for the next pilot."""

    kind = "pilot"
    title = "Pilot review"
    noun = "example"
    module_name = "core.generate.review"
    approved_note = "Pilot approved without the spot-check: the scale-up may start."

    def render(self, item: Any) -> RaterItem:
        return pilot_item(item)

    def load(self) -> Snapshot:
        from core.errors import StageNotReady

        try:
            rnd = self.core.current_round(self.project)
        except StageNotReady as exc:
            return Snapshot(UNAVAILABLE, "", "no pilot to review yet",
                            f"## No pilot to review yet\n\n{md_escape(exc)}\n\nThe generation screen makes it "
                            f"(**g** on the dashboard).")
        summary = (f"pilot review: {len(rnd.sample)} sampled examples · "
                   + self.core.approval_rule(rnd.approval_rate))
        if rnd.outcome == "approved":
            body = "\n".join(["## ✓ Pilot approved", "", md_escape(rnd.describe()), "",
                              next_line(self.project)])
            return Snapshot(APPROVED, summary, rnd.describe(), body, rnd.number)
        if rnd.outcome:
            body = "\n".join([
                f"## ✗ Pilot {md_escape(rnd.outcome)}", "", md_escape(rnd.describe()), "",
                "Your notes go to the generator as feedback for the next pilot.", "",
                next_line(self.project)])
            return Snapshot(CONCLUDED, summary, rnd.describe(), body, rnd.number)
        return self.round_snapshot(rnd, summary)

    def _conclude(self, progress: Progress | None) -> str:
        return self.core.conclude(self.project)

    def conclude_text(self, snap: Snapshot) -> str:
        return f"pilot review round {snap.round}: concluding…"

    def conclusion_note(self, result: Conclusion) -> str:
        if result.outcome == "approved":
            return "Pilot approved: the scale-up may start."
        if result.outcome == "rejected":
            return "Pilot rejected: your notes go to the generator; regenerate the pilot."
        return ""

    def approve_question(self, snap: Snapshot) -> str:
        left = sum(1 for it in snap.items if it.id not in snap.ratings)
        spot = f" ({left} of {len(snap.items)} are not rated yet)" if left else ""
        return f"Approve the scale-up without finishing the pilot spot-check{spot}?"


# ---------------------------------------------------------------- the scale-up sample (optional)


class ScaleSource(ReviewSource):
    """The optional review of a random sample of the final dataset, over ``core.generate.scale_review``
    (``tunesmith review NAME scale``): ✓ / ✗ with a note, each saved as rated, undo withdraws; nothing is
    gated on it, so there is no approve-all and no conclusion beyond the verdict line."""

    kind = "scale"
    title = "Scale-up review"
    noun = "example"
    can_approve = False
    can_conclude = False

    def __init__(self, project: "Project") -> None:
        super().__init__(project)
        from core.generate import scale_review

        self.core = scale_review

    def load(self) -> Snapshot:
        from core.errors import StageNotReady

        try:
            rnd = self.core.current_round(self.project)
        except StageNotReady as exc:
            return Snapshot(UNAVAILABLE, "", "no scale-up sample yet",
                            f"## No scale-up sample to review yet\n\n{md_escape(exc)}\n\nThe generation screen's scale-up "
                            f"writes it (**g** on the dashboard).")
        if not rnd.sample:
            return Snapshot(UNAVAILABLE, "", rnd.describe(), f"## Nothing to review\n\n{md_escape(rnd.describe())}.")
        bar = self.project.meta.config.generate.pilot_approval_rate
        summary = (f"scale-up review: a random {len(rnd.sample)} of the final dataset · optional, nothing waits "
                   f"on it · below {bar:.0%} good, read your notes before training")
        ratings = {ex.id: Rating(r, rnd.review.notes.get(ex.id) or None)
                   for ex in rnd.sample if (r := rnd.rating(ex.id)) is not None}
        bad = sum(1 for r in ratings.values() if r.rating == "bad")
        return Snapshot(REVIEWING, summary, rnd.describe(), "", 1, [pilot_item(ex) for ex in rnd.sample],
                        ratings, bad)

    def rate(self, item_id: str, rating: str, note: str | None = None) -> None:
        self.core.rate(self.project, item_id, rating == "good", note or "")

    def undo(self, item_id: str) -> None:
        self.core.rate(self.project, item_id, None)

    def conclude(self, progress: Progress | None = None) -> Conclusion:
        """Nothing to conclude: the verdict line, read again."""
        rnd = self.core.current_round(self.project)
        return Conclusion("reviewed", 0, self.load(), rnd.describe()[:1].upper() + rnd.describe()[1:])

    def round_status(self, snap: Snapshot, rated: int, total: int, bad: int) -> str:
        return f"scale-up review: {rated}/{total} rated" + (f", {bad} bad" if bad else "") + " · saved"

    def complete_status(self, snap: Snapshot) -> str:
        return f"{snap.status} · u changes a rating"

    def conclude_text(self, snap: Snapshot) -> str:
        return "scale-up review: every example rated…"


def pilot_source(project: "Project") -> ReviewSource:
    if importlib.util.find_spec(PILOT_CORE) is None:
        return NotYetSource(project, "pilot", "Pilot review", PILOT_NOT_YET)
    return PilotSource(project)


SOURCES: dict[str, Callable[["Project"], ReviewSource]] = {
    "evalset": EvalSetSource,
    "pilot": pilot_source,
    "scale": ScaleSource,
}


def source_for(project: "Project", kind: str) -> ReviewSource:
    try:
        factory = SOURCES[kind]
    except KeyError:
        raise ValueError(f"no review of kind {kind!r} (known: {', '.join(SOURCES)})") from None
    return factory(project)
