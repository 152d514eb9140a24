"""The approved eval set is the expert's standard: a rule-based check that rejects most of its in-scope
references is not that standard, and must not decide which training examples are kept.

Before a generation run, the rule-based content checks (length, completeness, coherence, empathy markers,
framework adherence, code execution) look at every in-scope eval reference as if it were a training
response. A reason code that rejects at least :data:`SHARE` of them is *not enforced* in this run: an
example failing only for it is kept, its quality-log detail says why, and the run's report says which
checks were relaxed and what to change. Examples: a task whose good answers are one line (``too_short``,
``ends_mid_sentence``), an expert who approved references that express empathy in words the marker
lexicon does not list (``low_empathy``), or references that do not follow a framework template the
project switched on (``missing_template_steps``: switch template mode off, or rebuild the eval set).

Never relaxed: format, safety, leakage, the constraint and refusal checks, and diversity.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SHARE = 0.5
MIN_REFERENCES = 5
CALIBRATED = frozenset({
    "too_short", "ends_mid_sentence", "missing_template_steps", "placeholder", "boilerplate", "repetitive",
    "truncated", "garbage", "low_empathy", "low_framework_adherence", "code_error", "code_timeout",
    "code_network",
})
DEMOTED = "demoted_reasons"  # ctx.extras: reason code -> share of the eval references it rejects

FIX = {
    "missing_template_steps": "switch template mode off (config.generate.framework_mode, generation_strategy) or "
                              "rebuild the eval set so its references follow the template",
    "low_framework_adherence": "switch template mode off or rebuild the eval set so its references follow it",
    "low_empathy": "disable the empathy_markers custom filter or lower its threshold",
    "too_short": "lower config.generate.quality_thresholds.min_length",
}


def _as_training(example: Any) -> Any:
    from core.generate import records
    from core.models.data import TrainingExample

    kind = "edge" if example.kind == "edge" else "common"
    rec = records.build("sft_conversational", records.prompt_messages(example.input), example.reference)
    return TrainingExample(id=f"ref-{example.id}", format="sft_conversational", record=rec,
                           category=example.category, difficulty=example.difficulty, kind=kind,
                           strategy="eval_reference", model="", prompt_version="")


async def calibrate(ctx: Any) -> list[str]:
    """Check the rule-based filters against the eval set's in-scope references (see the module
    docstring); records the relaxed reason codes in ``ctx.extras[DEMOTED]`` and returns the notes."""
    from core.generate.filters.chain import enabled_filters
    from core.generate.filters.judge_check import EVAL_EXAMPLES

    refs = [e for e in ctx.extras.get(EVAL_EXAMPLES) or [] if not e.should_refuse]
    if len(refs) < MIN_REFERENCES:
        return []
    examples = []
    for e in refs:
        try:
            examples.append(_as_training(e))
        except ValueError:
            continue
    rule_based = {"length", "completeness", "coherence", "empathy_markers", "framework_adherence",
                  "code_executability"}
    fails: Counter = Counter()
    for f in enabled_filters(ctx):
        if f.name not in rule_based:
            continue
        for r in await f.check_batch(examples, ctx):
            if not r.passed and r.reason_code in CALIBRATED:
                fails[r.reason_code] += 1
    demoted = {code: n / len(examples) for code, n in fails.items() if n / len(examples) >= SHARE}
    ctx.extras[DEMOTED] = demoted
    notes = []
    for code, share in sorted(demoted.items()):
        fix = FIX.get(code, "change the setting behind it or the eval set")
        notes.append(f"the {code} check rejects {share:.0%} of the approved eval set's own references, so it "
                     f"is not enforced in this run (examples failing only it are kept); to enforce it, {fix}")
    return notes
