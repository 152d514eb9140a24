"""Build the held-out eval set from the approved boundaries and the input taxonomy.

The plan (:mod:`core.extract.quotas`) fixes how many examples every (kind, category, difficulty[, WILL NOT
statement]) cell needs. Cells sharing kind, category and statement form a *group*; each group is asked for
its counts in batches of at most :data:`MAX_PER_REQUEST` (groups run concurrently; the gateway limits
concurrency) with the generator role and the :class:`EvalBatch` schema. Each reply is checked: empty fields
and difficulties the group no longer needs are dropped, and near-duplicates (cosine ≥ 0.92 to any example
kept so far, with the embeddings of :mod:`core.embed`) are removed. A group that is still short is asked
again for exactly the missing counts, with the inputs to avoid, up to :data:`MAX_ROUNDS` times.

Accepted examples are saved to ``.cache/evalset/progress.json`` after every batch, so an interrupted build
resumes without paying for them again. ``knowledge/eval_set.parquet`` is written once, atomically, when
every cell is full; otherwise the build fails naming the short cells and nothing is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal

import numpy as np
from pydantic import BaseModel, Field, create_model, field_validator

from core import prompts, store
from core.embed import DEFAULT_DUPLICATE_THRESHOLD, Embedder
from core.errors import BadInput, StageNotReady, TunesmithError
from core.llm.errors import BudgetExceeded, CircuitOpen, LLMNotConfigured
from core.extract.quotas import DEFAULT_DIFFICULTY_SHARES, Cell, QuotaPlan, plan_quotas
from core.models.config import ExtractConfig
from core.models.knowledge import (
    DIFFICULTIES,
    EvalExample,
    EvalReview,
    InputTaxonomy,
    KnowledgeBase,
    ScopeBoundaries,
    Statement,
)
from core.project import BOUNDARIES, EVAL_REVIEW, EVAL_SET, KNOWLEDGE_BASE, TAXONOMY, Project

ROLE = "generator"
MAX_PER_REQUEST = 10
MAX_ROUNDS = 4
MAX_ROUNDS_PRODUCTIVE = 12  # rounds in all while each one still adds examples
AVOID_LIMIT = 20
TEMPERATURE = 0.8
PROGRESS_FILE = "evalset/progress.json"
TEMPLATES = {
    "common": "evalset_common",
    "edge": "evalset_edge",
    "out_of_scope": "evalset_out_of_scope",
    "lookalike": "evalset_lookalike",
}
DEFAULT_DIFFICULTY_TEXT = {
    "easy": "a clear, typical request with everything needed to answer it",
    "medium": "needs some judgment, several steps or details the user left implicit",
    "hard": "complex, ambiguous or multi-part; an expert would have to think carefully",
}
_WILL_NOT_REF = re.compile(r"WILL NOT #(\d+)")

Progress = Callable[[str], None]


# ---------------------------------------------------------------- what the model returns


_DIFFICULTY_WORDS = {
    "easy": ("easy", "simple", "basic", "beginner", "low", "trivial", "straightforward", "1"),
    "medium": ("medium", "med", "moderate", "intermediate", "mid", "average", "normal", "2"),
    "hard": ("hard", "difficult", "complex", "advanced", "high", "challenging", "expert", "tough", "3"),
}


class EvalDraft(BaseModel):
    """One generated example, as the model writes it (checked and completed by the builder).

    The length bounds are in the schema only (a grammar-constrained model cannot write an empty input),
    not enforced here: an example too short is dropped by the builder, not the whole batch re-asked."""

    input: str = Field(description="the user's message, exactly as they would write it",
                       json_schema_extra={"minLength": 3})
    reference: str = Field(description="the reference answer, or for out-of-scope inputs the expected refusal",
                           json_schema_extra={"minLength": 1})
    difficulty: Literal["easy", "medium", "hard"] = Field(description="easy, medium or hard")
    rationale: str | None = Field("", description="why the example belongs to its kind and category at this difficulty")
    based_on: int | None = Field(0, description="number of the known edge case it builds on (0 if none)")

    @field_validator("difficulty", mode="before")
    @classmethod
    def _difficulty(cls, v: Any) -> Any:
        """'Easy', 'Moderate', 2 -> the level; anything else -> 'easy': the model's label is only a
        suggestion (the builder puts an example where its quota has room, the first level first)."""
        key = str(v if v is not None else "").strip().lower()
        for level, words in _DIFFICULTY_WORDS.items():
            if key in words or any(key.startswith(w) for w in words if len(w) > 2):
                return level
        return "easy"


@lru_cache(maxsize=32)
def labeled_eval_batch(labels: tuple[str, ...]) -> type[BaseModel]:
    """EvalBatch whose ``reference`` is one of a classification task's labels (an enum in the schema)."""
    draft = create_model("EvalDraft", __base__=EvalDraft,
                         reference=(Literal[labels], Field(description="the one label this input gets")))  # type: ignore[valid-type]
    return create_model("EvalBatch", examples=(list[draft], Field(min_length=1)))  # type: ignore[valid-type]


class EvalBatch(BaseModel):
    """At least one example: an empty reply (``{}``, as a grammar that allows it produces) is re-asked."""

    examples: list[EvalDraft] = Field(min_length=1)


# ---------------------------------------------------------------- errors


class EvalSetShort(TunesmithError):
    """The model did not fill every quota cell after every re-ask; the cells are named."""

    def __init__(self, short: list[tuple[Cell, int]], note: str = ""):
        self.short = short
        cells = "; ".join(f"{c.label()}: {missing} of {c.count} missing" for c, missing in short)
        total = sum(m for _, m in short)
        super().__init__(
            f"the quotas were not met ({total} example{'s' if total != 1 else ''} short after {MAX_ROUNDS} "
            f"attempts per cell): {cells}{note}. Progress is kept: run the command again to retry the short cells"
        )


class EvalSetFrozen(TunesmithError):
    pass


def needs_llm_message(project: Project) -> str:
    return (
        f"building the eval set needs an LLM (generator role): set TUNESMITH_MODEL (e.g. "
        f"anthropic/claude-sonnet-4-5 or openai/gpt-4o-mini; for a local server also TUNESMITH_API_BASE) or "
        f"[models].generator in {project.path('project.toml')}. Nothing was invented"
    )


# ---------------------------------------------------------------- inputs


@dataclass
class Sources:
    """The artifacts the examples are built from."""

    task: str
    boundaries: ScopeBoundaries
    taxonomy: InputTaxonomy
    knowledge: KnowledgeBase | None = None
    # the project's decisions, read from their one source each (core/task_type.py, core/refusal.py,
    # core/response_template.py), so the references are what the training data and the scoring expect
    labels: tuple[str, ...] = ()
    refusal: Any = None  # core.refusal.RefusalRule
    template: Any = None  # core.response_template.ResponseTemplate or None

    @classmethod
    def load(cls, project: Project) -> "Sources":
        b = project.read_or(BOUNDARIES, ScopeBoundaries)
        if b is None or not b.approved:
            what = "drafted" if b is None else "approved"
            raise StageNotReady(
                f"the scope boundaries are not {what} yet; the eval set is built from approved boundaries: "
                f"tunesmith boundaries {project.slug} --approve"
            )
        if not b.will_not:
            raise StageNotReady(
                f"{project.path(BOUNDARIES)}: field 'will_not': add at least one WILL NOT statement "
                f"(out-of-scope examples are built from them): tunesmith boundaries {project.slug}"
            )
        tax = project.read_or(TAXONOMY, InputTaxonomy)
        if tax is None or not tax.categories:
            raise StageNotReady(
                f"no input taxonomy with categories yet ({project.path(TAXONOMY)}): "
                f"draft it with tunesmith boundaries {project.slug}"
            )
        kb = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
        from core.refusal import RefusalRule, message_or_default
        from core.response_template import template_for

        labels = tuple(project.meta.labels) if project.meta.task_type == "classification" else ()
        return cls(task=project.meta.task, boundaries=b, taxonomy=tax, knowledge=kb, labels=labels,
                   refusal=RefusalRule(message_or_default(b.refusal_message)), template=template_for(project, kb))

    def category(self, name: str):
        for c in self.taxonomy.categories:
            if c.name == name:
                return c
        raise KeyError(name)

    def fingerprint(self, plan: QuotaPlan) -> str:
        data = {
            "task": self.task,
            "cells": [(c.key, c.count) for c in plan.cells],
            "will": [s.text for s in self.boundaries.will],
            "will_not": [s.text for s in self.boundaries.will_not],
            "hard": [s.text for s in self.boundaries.hard_constraints],
            "categories": [(c.name, c.description) for c in self.taxonomy.categories],
            "edge_cases": [s.text for s in self.taxonomy.edge_cases],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def plan_for(project: Project, sources: Sources | None = None, size: int | None = None) -> QuotaPlan:
    """The quota plan for this project (size defaults to config.extract.eval_set_size)."""
    sources = sources or Sources.load(project)
    cfg = project.meta.config.extract
    if size is not None:
        allowed = ExtractConfig.model_fields["eval_set_size"].annotation.__args__  # type: ignore[union-attr]
        if size not in allowed:
            raise BadInput(f"--size: must be one of {', '.join(map(str, allowed))} (got {size})")
    try:
        return plan_quotas(
            size or cfg.eval_set_size,
            cfg.out_of_scope_ratio,
            [(c.name, c.weight) for c in sources.taxonomy.categories],
            len(sources.boundaries.will_not),
            DEFAULT_DIFFICULTY_SHARES,
        )
    except ValueError as exc:
        raise BadInput(f"{project.path(TAXONOMY)}: {exc}") from None


# ---------------------------------------------------------------- prompt pieces


def _cite(st: Statement) -> str:
    return f" (answers {', '.join(st.provenance)})" if st.provenance else ""


def _bullets(items: Iterable[Statement], numbered: bool = False) -> str:
    items = list(items)
    if not items:
        return "(none)"
    if numbered:
        return "\n".join(f"{i}. {s.text}" for i, s in enumerate(items, 1))
    return prompts.bullet([s.text for s in items])


def _knowledge_text(src: Sources) -> str:
    kb = src.knowledge
    if kb is None:
        return ""
    parts = [f"Task definition: {kb.task_definition}"]
    comp = kb.competencies
    for title, items in (("The model must always", comp.always), ("It must never", comp.never),
                         ("Common errors to avoid", comp.common_errors)):
        if items:
            parts.append(f"{title}:\n{_bullets(items)}")
    if kb.frameworks:
        parts.append("Frameworks the answers draw on: " + ", ".join(f.name for f in kb.frameworks))
    if src.template is not None:
        parts.append(f"Every in-scope reference follows the {src.template.framework} response template, its "
                     f"steps in this order:\n{src.template.numbered()}")
    if src.labels:
        parts.append("This is a labeling task: every in-scope reference is exactly one of these labels, written "
                     "exactly so: " + ", ".join(src.labels) + ".")
    if src.refusal is not None:
        parts.append(f'Every expected refusal opens with this sentence, word for word: "{src.refusal.message}"')
    return "\n" + "\n\n".join(parts) + "\n"


def _difficulty_text(src: Sources) -> str:
    given = {d.name: d.description for d in src.taxonomy.difficulty_levels}
    return "\n".join(f"- {d}: {given.get(d) or DEFAULT_DIFFICULTY_TEXT[d]}" for d in DIFFICULTIES)


def fragment(name: str, **values: object) -> str:
    """The user section of a fragment template, filled (for the {{notes}} slot of the evalset prompts)."""
    return prompts.render(name, **values)[-1]["content"]


# ---------------------------------------------------------------- groups


@dataclass
class Group:
    """Cells of one kind, category and WILL NOT statement: asked for together, difficulties mixed."""

    kind: str
    category: str
    will_not: int | None
    cells: dict[str, Cell] = field(default_factory=dict)
    feedback: list[tuple[EvalExample, str]] = field(default_factory=list)  # rejected examples and reasons
    duplicates: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.category}|{self.will_not}"

    def label(self) -> str:
        wn = "" if self.will_not is None else f" (WILL NOT #{self.will_not + 1})"
        return f"{self.kind} / {self.category}{wn}"


def groups_of(plan: QuotaPlan) -> list[Group]:
    groups: dict[str, Group] = {}
    for cell in plan.cells:
        g = Group(cell.kind, cell.category, cell.will_not)
        g = groups.setdefault(g.key, g)
        g.cells[cell.difficulty] = cell
    return list(groups.values())


def _chunks(needs: dict[str, int], limit: int = MAX_PER_REQUEST) -> list[dict[str, int]]:
    """Split difficulty counts into requests of at most ``limit`` examples."""
    out: list[dict[str, int]] = []
    cur: dict[str, int] = {}
    room = limit
    for d in DIFFICULTIES:
        n = needs.get(d, 0)
        while n > 0:
            take = min(n, room)
            cur[d] = cur.get(d, 0) + take
            n -= take
            room -= take
            if room == 0:
                out.append(cur)
                cur, room = {}, limit
    if cur:
        out.append(cur)
    return out


def example_id(kind: str, text: str) -> str:
    return "ev-" + hashlib.sha256(f"{kind}\x00{text.strip()}".encode("utf-8")).hexdigest()[:10]


def will_not_index(example: EvalExample) -> int | None:
    """The WILL NOT statement (0-based) an out-of-scope example or a look-alike was built from."""
    if example.kind not in ("out_of_scope", "lookalike"):
        return None
    m = _WILL_NOT_REF.search(example.provenance)
    return int(m.group(1)) - 1 if m else None


# ---------------------------------------------------------------- the builder


class _Builder:
    def __init__(
        self,
        project: Project,
        gateway: Any,
        src: Sources,
        plan: QuotaPlan,
        embedder: Embedder,
        progress: Progress | None = None,
        fingerprint: str | None = None,
        threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
        use_cache: bool = True,
    ):
        self.project = project
        self.gw = gateway
        self.src = src
        self.plan = plan
        self.embedder = embedder
        self.progress = progress
        self.eta: Any = None  # core.progress.Eta of the running build
        self.fingerprint = fingerprint
        self.threshold = threshold
        self.use_cache = use_cache
        # attempts per group across runs: a resumed build numbers its batches on, so it never replays a
        # cached reply that was already used, while a round cut off mid-flight replays from the cache
        self.attempts: dict[str, int] = {}
        self.accepted: dict[str, list[EvalExample]] = {c.key: [] for c in plan.cells}
        self.kept_vecs: np.ndarray | None = None
        self.stats = {"requests": 0, "failed_requests": 0, "duplicates": 0, "off_quota": 0, "invalid": 0}
        self.last_error = ""

    # ------------------------------------------------------------ state

    def need(self, cell: Cell) -> int:
        return cell.count - len(self.accepted[cell.key])

    def have(self) -> int:
        return sum(len(v) for v in self.accepted.values())

    def keep_vectors(self, texts: list[str]) -> None:
        """Add inputs every new example must differ from (existing or rejected examples)."""
        if not texts:
            return
        vecs = self.embedder.encode(texts)
        self.kept_vecs = vecs if self.kept_vecs is None else np.vstack([self.kept_vecs, vecs])

    def load_progress(self) -> int:
        path = self.project.cache_dir / PROGRESS_FILE
        if self.fingerprint is None or not path.exists():
            return 0
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") != self.fingerprint:
                return 0
            items = [(row["cell"], EvalExample.model_validate(row["example"])) for row in data["examples"]]
            self.attempts = {str(k): int(v) for k, v in (data.get("attempts") or {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return 0  # a damaged progress file is only a lost cache
        texts = []
        for key, ex in items:
            if key in self.accepted and len(self.accepted[key]) < self.plan.cell(key).count:
                self.accepted[key].append(ex)
                texts.append(ex.input)
        self.keep_vectors(texts)
        return len(texts)

    def save_progress(self) -> None:
        if self.fingerprint is None:
            return
        rows = [{"cell": key, "example": ex.model_dump(mode="json")}
                for key, exs in self.accepted.items() for ex in exs]
        store.atomic_write_text(self.project.cache_dir / PROGRESS_FILE,
                                json.dumps({"fingerprint": self.fingerprint, "examples": rows,
                                            "attempts": self.attempts}, ensure_ascii=False))

    def _say(self, msg: str) -> None:
        if self.progress is not None:
            self.progress(msg)

    def _eta(self):
        """The build's progress over the examples kept, timed from this run's start (core.progress)."""
        if self.eta is None:
            from core.progress import Eta

            self.eta = Eta(total=self.plan.total(), done=self.have())
        return self.eta

    # ------------------------------------------------------------ prompts

    def messages(self, group: Group, counts: dict[str, int], batch: str) -> list[dict[str, str]]:
        src = self.src
        b = src.boundaries
        values: dict[str, object] = {
            "task": src.task,
            "knowledge": _knowledge_text(src),
            "will": _bullets(b.will),
            "will_not": _bullets(b.will_not),
            "hard_constraints": _bullets(b.hard_constraints),
            "difficulty_levels": _difficulty_text(src),
            "category": group.category,
            "counts_text": ", ".join(f"{counts[d]} {d}" for d in DIFFICULTIES if counts.get(d)),
            "total": sum(counts.values()),
            "batch": batch,
            "notes": self.notes(group),
            **{d: counts.get(d, 0) for d in DIFFICULTIES},
        }
        if group.kind != "out_of_scope":
            values["category_description"] = src.category(group.category).description or "(no description)"
        if group.will_not is not None:
            values["statement"] = b.will_not[group.will_not].text
        if group.kind == "edge":
            values["edge_cases"] = _bullets(src.taxonomy.edge_cases, numbered=True)
        return prompts.render(TEMPLATES[group.kind], **values)

    def notes(self, group: Group) -> str:
        parts = []
        have = [ex.input for c in group.cells.values() for ex in self.accepted[c.key]]
        avoid = (have + group.duplicates)[-AVOID_LIMIT:]
        if avoid:
            parts.append(fragment("evalset_avoid", inputs=prompts.bullet([_short(t) for t in avoid])))
        if group.feedback:
            rejected = "\n".join(
                f"- input: {_short(ex.input, 300)}\n  reference: {_short(ex.reference, 300)}\n"
                f"  difficulty: {ex.difficulty}\n  reviewer's reason: {note or '(no reason given)'}"
                for ex, note in group.feedback
            )
            parts.append(fragment("evalset_feedback", rejected=rejected))
        return ("\n" + "\n\n".join(parts) + "\n") if parts else ""

    # ------------------------------------------------------------ asking

    async def _ask(self, group: Group, counts: dict[str, int], batch: str) -> EvalBatch:
        self.stats["requests"] += 1
        labeled = self.src.labels and group.kind != "out_of_scope"
        return await self.gw.structured(
            ROLE, self.messages(group, counts, batch), labeled_eval_batch(self.src.labels) if labeled else EvalBatch,
            stage="extract", temperature=TEMPERATURE, use_cache=self.use_cache,
        )

    async def fill(self, group: Group) -> None:
        """Ask until the group's cells are full: up to MAX_ROUNDS rounds that add nothing, and while
        rounds keep adding examples, up to MAX_ROUNDS_PRODUCTIVE in all."""
        barren = 0
        for _ in range(MAX_ROUNDS_PRODUCTIVE):
            needs = {d: self.need(c) for d, c in group.cells.items() if self.need(c) > 0}
            if not needs or barren >= MAX_ROUNDS:
                return
            before = sum(needs.values())
            attempt = self.attempts.get(group.key, 0) + 1
            chunks = _chunks(needs)
            replies = await asyncio.gather(
                *(self._ask(group, chunk, f"{attempt}.{i}") for i, chunk in enumerate(chunks, 1)),
                return_exceptions=True,
            )
            for reply in replies:
                if isinstance(reply, BaseException):
                    fatal = isinstance(reply, (CircuitOpen, BudgetExceeded, LLMNotConfigured))
                    if fatal or not isinstance(reply, TunesmithError):
                        raise reply  # stop the build (progress is saved); other failures are retried
                    self.stats["failed_requests"] += 1
                    self.last_error = str(reply)
                    continue
                self.accept(group, reply)
            self.attempts[group.key] = attempt
            self.save_progress()
            after = sum(self.need(c) for c in group.cells.values())
            barren = barren + 1 if after >= before else 0
            got = sum(len(self.accepted[c.key]) for c in group.cells.values())
            want = sum(c.count for c in group.cells.values())
            eta = self._eta()
            eta.update(self.have(), self.plan.total())
            self._say(f"{group.label()}: {got}/{want} · {eta.line('examples')}")

    def accept(self, group: Group, batch: EvalBatch) -> None:
        drafts = []
        for d in batch.examples:
            text, ref, diff = d.input.strip(), str(d.reference).strip(), d.difficulty.strip().lower()
            if len(text) < 3 or not ref:
                self.stats["invalid"] += 1
                continue
            if group.kind == "out_of_scope" and self.src.refusal is not None:
                ref = self.src.refusal.opening(ref)  # the one refusal rule recognises every expected refusal
            drafts.append((d, text, ref, diff))
        if not drafts:
            return
        vecs = self.embedder.encode([t for _, t, _, _ in drafts])
        prior = self.kept_vecs if self.kept_vecs is not None else np.zeros((0, vecs.shape[1]), np.float32)
        sims_prior = prior @ vecs.T if prior.shape[0] else np.full((0, len(drafts)), -1.0, np.float32)
        inner = vecs @ vecs.T
        taken: list[int] = []
        for i, (d, text, ref, diff) in enumerate(drafts):
            cell = self.cell_for(group, diff)
            if cell is None:
                self.stats["off_quota"] += 1
                continue
            diff = cell.difficulty
            too_close = (sims_prior.shape[0] and sims_prior[:, i].max() >= self.threshold) or (
                taken and inner[i, taken].max() >= self.threshold)
            if too_close:
                self.stats["duplicates"] += 1
                group.duplicates.append(text)
                continue
            taken.append(i)
            self.accepted[cell.key].append(self.example(cell, d, text, ref, diff))
        if taken:
            self.kept_vecs = np.vstack([prior, vecs[taken]])

    def cell_for(self, group: Group, difficulty: str) -> Cell | None:
        """The cell an example goes to: the difficulty the model gave it while that cell has room,
        else the first of the group's cells that still needs examples (the model's label is a
        suggestion; the quota is what we asked for). None when the group is full."""
        cell = group.cells.get(difficulty)
        if cell is not None and self.need(cell) > 0:
            return cell
        return next((c for d in DIFFICULTIES if (c := group.cells.get(d)) is not None and self.need(c) > 0), None)

    def example(self, cell: Cell, d: EvalDraft, text: str, ref: str, diff: str) -> EvalExample:
        return EvalExample(
            id=example_id(cell.kind, text),
            input=text,
            reference=ref,
            category=cell.category,
            difficulty=diff,  # type: ignore[arg-type]
            kind=cell.kind,  # type: ignore[arg-type]
            rationale=(d.rationale or "").strip(),
            provenance=self.provenance(cell, d.based_on or 0),
            should_refuse=cell.kind == "out_of_scope",
        )

    def provenance(self, cell: Cell, based_on: int) -> str:
        src = self.src
        parts = []
        if cell.will_not is not None:
            st = src.boundaries.will_not[cell.will_not]
            ref = f"WILL NOT #{cell.will_not + 1} '{_short(st.text, 120)}'{_cite(st)}"
            parts.append(ref if cell.kind == "out_of_scope" else f"look-alike of {ref}")
        if cell.kind != "out_of_scope":
            cat = src.category(cell.category)
            cites = f" (answers {', '.join(cat.provenance)})" if cat.provenance else ""
            parts.append(f"category '{cell.category}'{cites}")
        if cell.kind == "edge" and 1 <= based_on <= len(src.taxonomy.edge_cases):
            st = src.taxonomy.edge_cases[based_on - 1]
            parts.append(f"edge case #{based_on} '{_short(st.text, 120)}'{_cite(st)}")
        parts.append(f"prompt {prompts.version(TEMPLATES[cell.kind])}")
        return "; ".join(parts)

    async def run(self, groups: list[Group]) -> None:
        self.eta = None
        self._eta()  # timed from here: the examples a resumed build already had are not this run's pace
        results = await asyncio.gather(*(self.fill(g) for g in groups), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    def shortfalls(self) -> list[tuple[Cell, int]]:
        return [(c, self.need(c)) for c in self.plan.cells if self.need(c) > 0]

    def fail_short(self) -> None:
        short = self.shortfalls()
        if short:
            s = self.stats
            note = (f" ({s['requests']} requests, {s['duplicates']} near-duplicates removed, "
                    f"{s['off_quota']} off-quota, {s['invalid']} incomplete, {s['failed_requests']} failed")
            note += f"; last error: {self.last_error})" if self.last_error else ")"
            raise EvalSetShort(short, note)

    def examples(self) -> list[EvalExample]:
        return [ex for c in self.plan.cells for ex in self.accepted[c.key]]


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- public API


def default_gateway(project: Project) -> Any:
    from core.llm.gateway import Gateway

    return Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm")


def is_frozen(project: Project) -> bool:
    """Approved (and not withdrawn since, e.g. by re-approving changed boundaries)."""
    review = project.read_or(EVAL_REVIEW, EvalReview)
    return bool(review and review.approved and project.exists(EVAL_SET)
                and project.meta.is_done("extract", "evalset_approved"))


def unfreeze(project: Project) -> None:
    """Withdraw the eval set's approval: un-marks "evalset" (and every later step and stage)."""
    with project.writing():
        if project.exists(EVAL_REVIEW):
            project.path(EVAL_REVIEW).unlink()
        project.reload()
        if project.meta.is_done("extract", "evalset") or project.meta.is_done("extract", "evalset_approved"):
            project.mark("extract", "evalset", done=False)


def load_eval_set(project: Project) -> list[EvalExample]:
    if not project.exists(EVAL_SET):
        raise StageNotReady(f"no eval set yet: tunesmith evalset {project.slug}")
    return project.read_rows(EVAL_SET, EvalExample)


async def abuild_eval_set(
    project: Project,
    gateway: Any = None,
    size: int | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> list[EvalExample]:
    """Build (or resume building) the eval set and write it; see the module docstring."""
    src = Sources.load(project)
    plan = plan_for(project, src, size)
    if is_frozen(project):
        if not force:
            raise EvalSetFrozen(
                f"the eval set is approved and frozen; later stages rely on it never changing. To build a new "
                f"one (which also withdraws the approval and every later step): tunesmith evalset {project.slug} "
                f"--force"
            )
    if force:
        unfreeze(project)
        (project.cache_dir / PROGRESS_FILE).unlink(missing_ok=True)
    own_gw = gateway is None
    gw = default_gateway(project) if own_gw else gateway
    own_emb = embedder is None
    emb = embedder or Embedder.for_project(project)
    try:
        if not gw.configured(ROLE):
            raise TunesmithError(needs_llm_message(project))
        builder = _Builder(project, gw, src, plan, emb, progress, fingerprint=src.fingerprint(plan))
        resumed = builder.load_progress()
        if progress is not None:
            progress(f"plan: {plan.describe()}")
            if resumed:
                progress(f"resuming: {resumed} examples kept from the interrupted build")
        await builder.run(groups_of(plan))
        builder.fail_short()
        examples = builder.examples()
        with project.writing():
            project.write_rows(EVAL_SET, examples, EvalExample)
            project.path(EVAL_REVIEW).unlink(missing_ok=True)  # a new set starts a new review
            project.mark("extract", "evalset")
        (project.cache_dir / PROGRESS_FILE).unlink(missing_ok=True)
        if progress is not None:
            s = builder.stats
            progress(f"built {len(examples)} examples with {s['requests']} requests "
                     f"({s['duplicates']} near-duplicates removed)")
        return examples
    finally:
        if own_gw:
            gw.close()
        if own_emb:
            emb.close()


def build_eval_set(project: Project, gateway: Any = None, size: int | None = None, **kwargs: Any) -> list[EvalExample]:
    """Synchronous :func:`abuild_eval_set` (for the CLI and worker threads)."""
    from core.llm.gateway import run_sync

    return run_sync(abuild_eval_set(project, gateway, size, **kwargs))


async def aregenerate(
    project: Project,
    gateway: Any,
    rejected: list[tuple[EvalExample, str]],
    examples: list[EvalExample],
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict[str, EvalExample]:
    """New examples for the rejected ones (same cell), with the reviewer's notes in the prompt.

    Returns old id -> replacement. Every replacement differs (cosine < 0.92) from every example of the
    set, the rejected ones included. Raises :class:`EvalSetShort` if a replacement could not be made;
    nothing is written here.
    """
    if not rejected:
        return {}
    if gateway is None or not gateway.configured(ROLE):
        raise TunesmithError(needs_llm_message(project).replace("building the eval set", "replacing rejected examples"))
    src = Sources.load(project)
    counts: dict[tuple[str, str, str, int | None], list[tuple[EvalExample, str]]] = {}
    for ex, note in rejected:
        wn = will_not_index(ex)
        if ex.kind in ("out_of_scope", "lookalike") and (wn is None or not 0 <= wn < len(src.boundaries.will_not)):
            raise StageNotReady(
                f"the scope boundaries changed since example {ex.id} was built; rebuild the eval set: "
                f"tunesmith evalset {project.slug} --force"
            )
        if ex.kind != "out_of_scope":
            try:
                src.category(ex.category)
            except KeyError:
                raise StageNotReady(
                    f"category {ex.category!r} of example {ex.id} is no longer in the taxonomy; rebuild the eval "
                    f"set: tunesmith evalset {project.slug} --force"
                ) from None
        counts.setdefault((ex.kind, ex.category, ex.difficulty, wn), []).append((ex, note))
    plan = QuotaPlan(size=len(rejected), out_of_scope_ratio=0.0,
                     cells=[Cell(k, c, d, len(v), wn) for (k, c, d, wn), v in counts.items()])
    own_emb = embedder is None
    emb = embedder or Embedder.for_project(project)
    try:
        # replacements bypass the response cache: a retried review must not replay a reply that failed
        builder = _Builder(project, gateway, src, plan, emb, progress, fingerprint=None, use_cache=False)
        builder.keep_vectors([ex.input for ex in examples])
        groups = groups_of(plan)
        for g in groups:
            for cell in g.cells.values():
                g.feedback.extend(counts[(cell.kind, cell.category, cell.difficulty, cell.will_not)])
        await builder.run(groups)
        builder.fail_short()
        out: dict[str, EvalExample] = {}
        for cell in plan.cells:
            olds = counts[(cell.kind, cell.category, cell.difficulty, cell.will_not)]
            for (old, note), new in zip(olds, builder.accepted[cell.key]):
                out[old.id] = new
        return out
    finally:
        if own_emb:
            emb.close()


def summary(examples: list[EvalExample]) -> dict[str, dict[str, int]]:
    """Counts per kind, category and difficulty."""
    out: dict[str, dict[str, int]] = {"kind": {}, "category": {}, "difficulty": {}}
    for ex in examples:
        for key in out:
            value = getattr(ex, key)
            out[key][value] = out[key].get(value, 0) + 1
    return out
