"""Which roles share one model, said out loud: a run where one model plays every role works, but its
checks are weaker than they look, and the user must know it.

- the weak model IS the strong one: the "weak_model" rejected responses of DPO / KTO are written by
  the same model as the chosen ones, so the pairs differ less than a real weak model would make them;
- the judge IS the generator: the filters' and the evaluation's judge grades its own model's work.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from core.llm.settings import resolve


def same_model_notes(roles: Any, which: Sequence[str] = ("generator", "weak", "judge"),
                     env: Mapping[str, str] | None = None) -> list[str]:
    """One line per pair of roles in ``which`` that resolve to the same model (nothing when unconfigured)."""
    models = {role: resolve(role, roles, env) for role in ("generator", "weak", "judge")}
    gen = models["generator"]
    if gen is None:
        return []
    out = []
    if "weak" in which and models["weak"] == gen:
        out.append(f"one model ({gen.model}) is both the strong and the weak model: the weak-model rejected "
                   f"responses come from the same model as the good ones; set [models].weak (or "
                   f"TUNESMITH_WEAK_MODEL) to a smaller model for clearer preference pairs")
    if "judge" in which and models["judge"] == gen:
        out.append(f"one model ({gen.model}) is both the generator and the judge: it grades its own work; set "
                   f"[models].judge (or TUNESMITH_JUDGE_MODEL) to another model for an independent check")
    return out
