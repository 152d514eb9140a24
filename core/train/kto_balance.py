"""KTO's class weights from the training set's balance, as TRL recommends.

TRL's KTO documentation: when desirable and undesirable examples are unbalanced, choose the weights so
that ``desirable_weight * n_desirable / (undesirable_weight * n_undesirable)`` lies in [1, 4/3] (the
KTO paper's Eq. 8; KTOTrainer warns otherwise). tunesmith counts the ``label`` column of the training
split and, unless the user set ``desirable_weight`` or ``undesirable_weight`` in ``trainer_args``, keeps
``undesirable_weight`` at 1 and sets ``desirable_weight`` so that the ratio is 7/6, the middle of the range
(a balanced set keeps 1 and 1). The result goes into the run config (``trainer_args`` and ``kto_balance``)
and the plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LOW, HIGH = 1.0, 4 / 3
TARGET = (LOW + HIGH) / 2


def count_labels(path: Path) -> tuple[int, int]:
    """(desirable, undesirable) rows of a KTO Parquet file (its boolean ``label`` column)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists() or "label" not in pq.read_schema(path).names:
        return 0, 0
    labels = pq.read_table(path, columns=["label"]).column("label").to_pylist()
    good = sum(1 for v in labels if v is not None and bool(v))
    return good, sum(1 for v in labels if v is not None) - good


def balance(n_desirable: int, n_undesirable: int, trainer_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """The weights to train with and why: {n_desirable, n_undesirable, desirable_weight, undesirable_weight,
    ratio, in_range, source ("trainer_args" | "class balance" | "default")}."""
    args = trainer_args or {}
    user = "desirable_weight" in args or "undesirable_weight" in args
    d = float(args.get("desirable_weight", 1.0))
    u = float(args.get("undesirable_weight", 1.0))
    source = "trainer_args" if user else "default"
    if not user and n_desirable and n_undesirable:
        ratio = d * n_desirable / (u * n_undesirable)
        if not LOW <= ratio <= HIGH:
            d = float(f"{TARGET * n_undesirable / n_desirable:.4g}")
            source = "class balance"
    ratio = d * n_desirable / (u * n_undesirable) if n_desirable and n_undesirable else None
    return {"n_desirable": int(n_desirable), "n_undesirable": int(n_undesirable), "desirable_weight": d,
            "undesirable_weight": u, "ratio": round(ratio, 4) if ratio is not None else None,
            "in_range": ratio is not None and LOW - 1e-9 <= ratio <= HIGH + 1e-9, "source": source}


def describe(b: dict[str, Any]) -> str:
    """One plan line."""
    head = (f"KTO       desirable_weight {b['desirable_weight']:g}, undesirable_weight {b['undesirable_weight']:g} "
            f"({b['n_desirable']:,} desirable / {b['n_undesirable']:,} undesirable rows")
    if b["ratio"] is None:
        return head + "; one class is missing, so there is nothing to balance)"
    where = {"class balance": "set from the class balance", "trainer_args": "as set in trainer_args",
             "default": "the defaults"}[b["source"]]
    verdict = "within" if b["in_range"] else "OUTSIDE"
    return (head + f"; {where}): weighted ratio {b['ratio']:.3g}, {verdict} TRL's recommended range 1 to 4/3")


def kto_settings(project: Any, trainer_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`balance` of the project's training split."""
    from core.generate import pipeline_state as ps

    good, bad = count_labels(project.path(ps.TRAIN_FILE))
    return balance(good, bad, trainer_args)
