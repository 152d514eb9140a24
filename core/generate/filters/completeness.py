"""Completeness: every required component is there, without asking a model.

A non-empty user input; a non-empty response (GRPO has none); both DPO sides; a GRPO reference, when
the column is there, that is not empty; a good response that does not stop mid-sentence (a DPO rejected
side made with the "truncated" strategy may, by design); and in template mode, every template step
(found by the step's name as a heading or label, its content words, or cue phrases — see
:func:`core.generate.filters.text.step_positions`). Refusals are not held to the template.
Score: the share of template steps present (1.0 outside template mode), 0.0 for a missing component.
"""

from __future__ import annotations

from core.generate.filters.base import FilterContext, FilterResult, SimpleFilter, fail, ok
from core.generate.filters.text import ends_mid_sentence, step_coverage
from core.generate.records import bad_response, good_response, user_text
from core.models.data import TrainingExample

NAME = "completeness"
REASONS = ("missing_input", "missing_response", "missing_rejected", "missing_reference", "ends_mid_sentence",
           "missing_template_steps")


def template_applies(example: TrainingExample, ctx: FilterContext) -> bool:
    return bool(ctx.template_steps) and example.kind != "refusal" and example.format != "grpo"


class CompletenessFilter(SimpleFilter):
    name = NAME

    def check(self, example: TrainingExample, ctx: FilterContext) -> FilterResult:
        rec = example.record
        if not user_text(rec).strip():
            return fail(NAME, "missing_input", 0.0, "no user input")
        if example.format == "grpo":
            if "reference" in rec and not str(rec["reference"] or "").strip():
                return fail(NAME, "missing_reference", 0.0, "the reference column is empty")
            return ok(NAME, 1.0)
        good, bad = good_response(rec), bad_response(rec)
        main = good if good is not None else bad
        if main is None or not main.strip():
            return fail(NAME, "missing_response", 0.0, "no response")
        if example.format == "dpo" and (bad is None or not bad.strip()):
            return fail(NAME, "missing_rejected", 0.0, "the rejected side is empty")
        deliberately_cut = good is None and example.rejected_strategy == "truncated"  # a KTO undesirable one
        if not deliberately_cut and ends_mid_sentence(main):
            tail = main.rstrip()[-40:].replace("\n", " ")
            return fail(NAME, "ends_mid_sentence", 0.0, f"the response stops mid-sentence: …{tail}")
        if (example.format == "dpo" and example.rejected_strategy != "truncated" and bad is not None
                and ends_mid_sentence(bad)):
            tail = bad.rstrip()[-40:].replace("\n", " ")
            return fail(NAME, "ends_mid_sentence", 0.0, f"the rejected side stops mid-sentence: …{tail}")
        if template_applies(example, ctx) and good is not None:
            coverage, _, missing = step_coverage(ctx.template_steps, good)
            if missing:
                return fail(NAME, "missing_template_steps", coverage,
                            f"template steps not found: {'; '.join(missing)}")
            return ok(NAME, coverage, f"all {len(ctx.template_steps)} template steps present")
        return ok(NAME, 1.0)
