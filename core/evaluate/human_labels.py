"""Human-confirmed labels of model outputs from the project's earlier evaluations, for judge validation.

    labels = collect(project, examples)     # [HumanLabel(example_id, response, good, source, note)], oldest first

A judge is validated on items of known quality (:mod:`core.evaluate.judge_validation`); an item a person
rated is known better than any synthetic one, so these come first. Where they come from:

- **spot-check ratings** (``evals/<id>/spot_check.toml``): the rating is of the candidate's output (its row in
  ``evals/<id>/results.parquet``; for comparison items too, as the rater asks "rate the CANDIDATE").
  ✓ good counts as good unless the rater said they would not trust it (``trust`` False: ambiguous, skipped);
  ✗ bad counts as bad; ⚠ concerning is skipped (neither label). On a comparison item the base output gets a
  label only where the preference implies one: the base preferred to a candidate output rated good → good;
  a candidate output rated bad and still preferred to the base → the base is bad too. "About the same"
  gives nothing (both could be mediocre).
- **human ratings of pending results** (``tunesmith rate``, the TUI rater): rows of ``results.parquet``
  with method ``human``, not pending, whose detail reads ``human rating: good`` (good) or ``human rating:
  bad`` (bad); ``mixed`` is skipped. Both models' rows count. Rows are read as plain dicts (``.get``), so
  files written before or after a change of :class:`~core.models.runs.EvalResult` read the same.
- **eval-set reviews** (``knowledge/eval_review.toml``): nothing usable. A review rates an example as a whole
  (its input and reference) good or bad; a good rating confirms the reference itself, which is never a
  validation item (the judge sees it in its prompt), and a rejected example is replaced and its text is
  not kept. So the review contributes no label of a *response*.

Only labels whose example is still in the current eval set count. The same response to the same example
rated in several places counts once; rated both good and bad (a person changed their mind, or two people
disagree) it is dropped: it is not of known quality. A file that cannot be read is skipped and logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from core.errors import TunesmithError
from core.models.knowledge import EvalExample

if TYPE_CHECKING:
    from core.project import Project

log = logging.getLogger(__name__)

HUMAN_RATING = re.compile(r"^\s*human rating:\s*(good|mixed|bad)\b", re.IGNORECASE)


@dataclass(frozen=True)
class HumanLabel:
    example_id: str
    response: str
    good: bool
    source: str  # "spot-check <eval id>", "spot-check comparison <eval id>", "human rating <eval id>"
    note: str = ""


def _key(example_id: str, response: str) -> tuple[str, str]:
    return example_id, " ".join((response or "").split()).lower()


def from_results(eval_id: str, rows: Iterable[dict[str, Any]]) -> list[HumanLabel]:
    """Labels from the human-rated rows of one evaluation's results (plain dict rows)."""
    out = []
    for r in rows:
        if r.get("method") != "human" or r.get("pending") is True:
            continue
        m = HUMAN_RATING.match(str(r.get("detail") or ""))
        output = str(r.get("output") or "")
        if not m or not output.strip() or not r.get("example_id"):
            continue
        rating = m.group(1).lower()
        if rating == "mixed":
            continue
        out.append(HumanLabel(str(r["example_id"]), output, rating == "good",
                              f"human rating {eval_id} ({r.get('model_role') or '?'})",
                              str(r.get("detail") or "")[m.end():].strip()))
    return out


def from_spot_check(eval_id: str, spot: Any, rows: Iterable[dict[str, Any]]) -> list[HumanLabel]:
    """Labels from one evaluation's spot-check (a SpotCheck) and its result rows (plain dicts)."""
    outputs: dict[tuple[str, str], str] = {}
    for r in rows:
        if r.get("example_id") and r.get("model_role") in ("base", "candidate"):
            outputs[(str(r.get("model_role")), str(r["example_id"]))] = str(r.get("output") or "")
    out = []
    for item in getattr(spot, "items", None) or []:
        rating = getattr(item, "rating", None)
        if rating not in ("good", "bad"):
            continue  # unrated or concerning
        if rating == "good" and getattr(item, "trust", None) is False:
            continue  # "good, but I would not trust it": not a clear label
        eid, note = item.example_id, getattr(item, "note", "") or ""
        cand = outputs.get(("candidate", eid), "")
        if cand.strip():
            out.append(HumanLabel(eid, cand, rating == "good", f"spot-check {eval_id}", note))
        preferred = getattr(item, "preferred", None)
        base = outputs.get(("base", eid), "")
        if getattr(item, "group", "") == "comparison" and base.strip():
            if preferred == "base" and rating == "good":
                out.append(HumanLabel(eid, base, True, f"spot-check comparison {eval_id}",
                                      "preferred to a candidate output rated good"))
            elif preferred == "candidate" and rating == "bad":
                out.append(HumanLabel(eid, base, False, f"spot-check comparison {eval_id}",
                                      "worse than a candidate output rated bad"))
    return out


def merge(labels: Iterable[HumanLabel], example_ids: Iterable[str] | None = None) -> list[HumanLabel]:
    """One label per (example, response), first source kept; contradictory labels dropped; only the given
    examples (None: all)."""
    keep = None if example_ids is None else set(example_ids)
    first: dict[tuple[str, str], HumanLabel] = {}
    conflict: set[tuple[str, str]] = set()
    for lab in labels:
        if keep is not None and lab.example_id not in keep:
            continue
        k = _key(lab.example_id, lab.response)
        if k in first:
            if first[k].good != lab.good:
                conflict.add(k)
            continue
        first[k] = lab
    if conflict:
        log.info("human labels: %d responses were rated both good and bad; they are not used", len(conflict))
    return [lab for k, lab in first.items() if k not in conflict]


def collect(project: "Project", examples: Sequence[EvalExample] | None = None) -> list[HumanLabel]:
    """Every human-confirmed label of an output in the project's evaluations, oldest evaluation first, for
    the examples of ``examples`` (default: the current eval set)."""
    from core import store
    from core.evaluate import evalfolder as ef

    if examples is None:
        from core.project import EVAL_SET

        examples = project.read_rows(EVAL_SET, EvalExample) if project.exists(EVAL_SET) else []
    ids = {e.id for e in examples}
    base = ef.evals_dir(project)
    if not ids or not base.is_dir():
        return []
    found: list[HumanLabel] = []
    for folder in sorted(d for d in base.iterdir() if d.is_dir() and d.name != ef.CACHE):
        eval_id = folder.name
        results = folder / ef.RESULTS
        if not results.exists():
            continue
        try:
            rows = store.read_parquet_rows(results)
        except TunesmithError as exc:
            log.warning("human labels: %s skipped: %s", results, exc)
            continue
        found.extend(from_results(eval_id, rows))
        try:
            spot = ef.read_spot_check(project, eval_id)
        except TunesmithError as exc:
            log.warning("human labels: the spot-check of %s skipped: %s", eval_id, exc)
            spot = None
        if spot is not None:
            found.extend(from_spot_check(eval_id, spot, rows))
    return merge(found, ids)
