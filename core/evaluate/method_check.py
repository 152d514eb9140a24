"""Which evaluation method the eval set's references allow, checked on the eval set itself before any
model is trained.

Exact match can score an example only when its reference is a short label or a closed answer
(:func:`core.evaluate.scorers_match.match_kind`); everything else goes down the hierarchy to the
validated judge or a human. When the project asks for exact match (``config.evaluate.eval_method``) or
calls itself a classification task but its references are prose, evaluation would otherwise score every
output 0 without a word: this check says so, with the setting to change. The reverse (a task whose
references are nearly all labels but whose task type is not classification) is pointed out too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SHARE = 0.9  # the share of in-scope references that must fit exact match for the method to fit the task


@dataclass
class MethodCheck:
    methods: Counter = field(default_factory=Counter)  # method -> in-scope examples it would score
    closed: int = 0  # in-scope references exact match can score
    in_scope: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def closed_share(self) -> float:
        return self.closed / self.in_scope if self.in_scope else 0.0

    def line(self) -> str:
        parts = ", ".join(f"{m.replace('_', ' ')} {n}" for m, n in self.methods.most_common())
        return f"evaluation will score the {self.in_scope} in-scope examples by: {parts or 'nothing yet'}"


def check_methods(project: Any, examples: list[Any] | None = None) -> MethodCheck:
    """The check of the module docstring over the project's eval set (empty when there is none)."""
    from core.evaluate.scorers import choose_method
    from core.evaluate.scorers_match import match_kind

    if examples is None:
        from core.extract.evalset import load_eval_set
        from core.project import EVAL_SET

        examples = load_eval_set(project) if project.exists(EVAL_SET) else []
    meta = project.meta
    cfg = meta.config.evaluate
    out = MethodCheck()
    prose = []
    for e in examples:
        if e.should_refuse:
            continue
        out.in_scope += 1
        out.methods[choose_method(e, meta.task_type, cfg.eval_method, judge_usable=True)] += 1
        if match_kind(e.reference, e.input, meta.task_type) is not None:
            out.closed += 1
        else:
            prose.append(e)
    if not out.in_scope:
        return out
    asked = cfg.eval_method == "exact_match" or meta.task_type == "classification"
    if asked and out.closed_share < SHARE:
        why = ("config.evaluate.eval_method is exact_match" if cfg.eval_method == "exact_match"
               else "the task type is classification")
        example = prose[0].reference.strip().replace("\n", " ")[:80] if prose else ""
        out.warnings.append(
            f"{why}, but {len(prose)} of {out.in_scope} in-scope eval references are prose, not labels "
            f"(e.g. \"{example}…\"): exact match cannot score them, so they go to the validated judge or a "
            f"human. If the task is not a labeling task, set its type: tunesmith task-type {project.slug} "
            f"instruction_following" + (f"; or set config.evaluate.eval_method = \"auto\" in "
                                        f"{project.path('project.toml')}" if cfg.eval_method == "exact_match" else ""))
    if meta.task_type != "classification" and out.closed_share >= SHARE and out.in_scope >= 10:
        labels = sorted({e.reference.strip().lower() for e in examples if not e.should_refuse})
        if len(labels) <= 20:
            out.warnings.append(
                f"nearly every in-scope eval reference is a short label ({', '.join(labels[:8])}"
                f"{'…' if len(labels) > 8 else ''}) but the task type is {meta.task_type.replace('_', ' ')}: if "
                f"this is a labeling task, set: tunesmith task-type {project.slug} classification --labels "
                f"{','.join(labels)}")
    return out
