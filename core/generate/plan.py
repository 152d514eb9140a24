"""Exact quotas for training data: kind × category × difficulty × what each example exercises.

For ``n`` examples (every rounding exact, every cell an integer, the cells sum to ``n``):

1. ``refusal = round_half_up(n · out_of_scope_ratio)`` (config.extract.out_of_scope_ratio) when the scope
   boundaries have WILL NOT statements, else 0: inputs the model must refuse politely.
2. ``edge = round_half_up(n · edge_case_ratio)`` (config.generate.edge_case_ratio), at most what is left;
   ``common`` is the rest.
3. Difficulties: ``n`` is split by config.generate.complexity_distribution (easy, medium, hard) with the
   largest-remainder method, and a controlled rounding fills kinds × difficulties with exactly those column
   totals. Per kind a second controlled rounding fills rows × difficulties: the taxonomy categories split by
   weight for common and edge; the WILL NOT statements split evenly for refusal (category "out_of_scope").
4. Each (kind, row, difficulty) count is cut into cells of at most :data:`CELL_SIZE`, and each cell gets one
   thing to exercise, round-robin from an offset chosen by ``seed``: common cells a competency the model must
   ALWAYS show (else a WILL statement, else the category), edge cells an edge case of the taxonomy, refusal
   cells their WILL NOT statement. Cells with the same key are merged, so the plan has at most
   kinds × rows × difficulties × exercises cells whatever ``n`` is.

The planning is arithmetic: its time and memory grow with the number of cells, never with ``n`` (a
target of 10^12 plans in milliseconds; the cut into cells of :data:`CELL_SIZE` is counted, not built).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

from core.errors import StageNotReady
from core.extract.quotas import OUT_OF_SCOPE_CATEGORY, controlled_rounding, largest_remainder, round_half_up
from core.models.knowledge import DIFFICULTIES

KINDS: tuple[str, ...] = ("common", "edge", "refusal")
REFUSAL_CATEGORY = OUT_OF_SCOPE_CATEGORY
CELL_SIZE = 10
GENERIC_EDGE = "an unusual, ambiguous or incomplete input of this category that still deserves a full answer"


@dataclass(frozen=True)
class Cell:
    kind: str  # "common" | "edge" | "refusal"
    category: str
    difficulty: str  # easy | medium | hard
    count: int
    exercises: str  # the competency / edge case / WILL NOT statement this cell exercises

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.category}|{self.difficulty}|{self.exercises}"

    def label(self) -> str:
        return f"{self.kind} / {self.category} / {self.difficulty}"


def kind_totals(n: int, edge_case_ratio: float, out_of_scope_ratio: float, can_refuse: bool) -> dict[str, int]:
    """How many examples of each kind: steps 1-2 of the module's rule."""
    if n < 0:
        raise ValueError("n must not be negative")
    refusal = min(n, round_half_up(n, out_of_scope_ratio)) if can_refuse else 0
    edge = min(n - refusal, round_half_up(n, edge_case_ratio))
    return {"common": n - refusal - edge, "edge": edge, "refusal": refusal}


def split_cells(
    n: int,
    categories: Sequence[tuple[str, float]],
    *,
    complexity: Sequence[float] = (0.3, 0.5, 0.2),
    edge_case_ratio: float = 0.15,
    out_of_scope_ratio: float = 0.10,
    competencies: Sequence[str] = (),
    edge_cases: Sequence[str] = (),
    will_not: Sequence[str] = (),
    seed: int = 0,
    cell_size: int = CELL_SIZE,
) -> list[Cell]:
    """The cells for ``n`` examples from plain inputs (see the module docstring)."""
    cats = [(str(c), float(w)) for c, w in categories]
    if not cats:
        raise ValueError("the taxonomy has no input categories")
    if len(complexity) != 3:
        raise ValueError("complexity_distribution needs three shares (easy, medium, hard)")
    totals = kind_totals(n, edge_case_ratio, out_of_scope_ratio, bool(will_not))
    if n == 0:
        return []
    shares = [float(s) for s in complexity] if sum(complexity) > 0 else [1.0, 1.0, 1.0]
    kind_diff = dict(zip(KINDS, controlled_rounding([totals[k] for k in KINDS], largest_remainder(n, shares))))
    rng = random.Random(seed)
    cells: list[Cell] = []
    names, weights = [c for c, _ in cats], [w for _, w in cats]
    for kind in KINDS:
        if not totals[kind]:
            continue
        if kind == "refusal":
            rows = largest_remainder(totals[kind], [1.0] * len(will_not))
            row_names = [REFUSAL_CATEGORY] * len(will_not)
        else:
            rows = largest_remainder(totals[kind], weights)
            row_names = names
        matrix = controlled_rounding(rows, kind_diff[kind])
        pool = list(competencies if kind == "common" else edge_cases)
        start = rng.randrange(len(pool)) if pool else 0
        k = 0
        for r, (row, row_total) in enumerate(zip(row_names, matrix)):
            for diff, count in zip(DIFFICULTIES, row_total):
                if count <= 0:
                    continue
                pieces = -(-count // cell_size)  # cells of at most cell_size, each its own exercise
                if kind == "refusal" or not pool:
                    what = (will_not[r] if kind == "refusal" else
                            f"a typical {row} request answered well" if kind == "common" else GENERIC_EDGE)
                    cells.append(Cell(kind, row, diff, count, what))
                else:
                    cells.extend(Cell(kind, row, diff, take, pool[(start + k + o) % len(pool)])
                                 for o, take in _round_robin(count, pieces, len(pool), cell_size))
                k += pieces
    assert sum(c.count for c in cells) == n, (sum(c.count for c in cells), n)
    return _merge(cells)


def _round_robin(count: int, pieces: int, pool: int, cell_size: int) -> list[tuple[int, int]]:
    """``count`` cut into ``pieces`` cells of ``cell_size`` (the last one takes the rest), dealt
    round-robin over ``pool`` exercises: (offset in the pool, examples) for each offset dealt to, in
    the order first dealt. Arithmetic, so a cell count of any size costs O(pool), not O(count)."""
    last = count - (pieces - 1) * cell_size
    out = []
    for o in range(min(pool, pieces)):
        times = (pieces - 1 - o) // pool + 1  # pieces j < pieces with j % pool == o
        take = times * cell_size - ((cell_size - last) if (pieces - 1) % pool == o else 0)
        out.append((o, take))
    return out


def _merge(cells: list[Cell]) -> list[Cell]:
    """Cells with the same key (a small pool reused round-robin) become one, order kept."""
    out: dict[str, Cell] = {}
    for c in cells:
        have = out.get(c.key)
        out[c.key] = c if have is None else Cell(c.kind, c.category, c.difficulty, have.count + c.count, c.exercises)
    return list(out.values())


def _texts(items: Any) -> list[str]:
    return [s.text.strip() for s in items or () if getattr(s, "text", "").strip()]


def plan_cells(project: Any, n: int, seed: int = 0) -> list[Cell]:
    """Exact integer quotas summing to ``n`` for this project (see the module docstring)."""
    from core.models.knowledge import InputTaxonomy, KnowledgeBase, ScopeBoundaries
    from core.project import BOUNDARIES, KNOWLEDGE_BASE, TAXONOMY

    tax = project.read_or(TAXONOMY, InputTaxonomy)
    if tax is None or not tax.categories:
        raise StageNotReady(
            f"no input taxonomy with categories yet ({project.path(TAXONOMY)}): training data is generated per "
            f"category; draft it with: tunesmith boundaries {project.slug}"
        )
    bounds = project.read_or(BOUNDARIES, ScopeBoundaries)
    kb = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
    competencies = _texts(kb.competencies.always) if kb else []
    if not competencies and bounds is not None:
        competencies = _texts(bounds.will)
    cfg = project.meta.config
    return split_cells(
        n,
        [(c.name, c.weight) for c in tax.categories],
        complexity=cfg.generate.complexity_distribution,
        edge_case_ratio=cfg.generate.edge_case_ratio,
        out_of_scope_ratio=cfg.extract.out_of_scope_ratio,
        competencies=competencies,
        edge_cases=_texts(tax.edge_cases),
        will_not=_texts(bounds.will_not) if bounds else [],
        seed=seed,
    )


def summary(cells: Sequence[Cell]) -> dict[str, dict[str, int]]:
    """Counts per kind, category and difficulty."""
    out: dict[str, dict[str, int]] = {"kind": {}, "category": {}, "difficulty": {}}
    for c in cells:
        for key in out:
            value = getattr(c, key)
            out[key][value] = out[key].get(value, 0) + c.count
    return out
