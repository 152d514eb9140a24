"""Skill 2's pilot: generate ``pilot_size`` examples, filter them, report the pass rate, and retry with
adjusted prompts while the pass rate is below ``pass_rate_target``.

The pilot needs the approved boundaries and the approved, unchanged eval set (leakage is checked against
it). Cells from :func:`core.generate.plan.plan_cells` are generated concurrently (the gateway limits
concurrency), then filtered together. When fewer than ``pass_rate_target`` pass, the top rejection reasons
become instructions for the generator (one human-readable line per reason code) and the pilot is made
again, at most ``max_pilot_retries`` times. The reviewer's notes from a rejected spot-check
(``data/pilot/feedback.toml``) are in every prompt of the next pilot and of the scale-up.

Scale-up, projection and resume live in :mod:`core.generate.pipeline_scale`.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Iterable

from core.errors import TunesmithError
from core.generate import pipeline_state as ps
from core.generate.pipeline_common import (  # noqa: F401  (re-exported: the pipeline's public names)
    FATAL,
    GenerationProgress,
    Progress,
    category_stats,
    cell_key,
    cell_reporter,
    check_llm,
    check_ready,
    default_gateway,
    diversity_scores,
    example_of,
    failed_rows,
    generate_cells,
    load_feedback,
    merge_stats,
    needs_llm_message,
    rejection_counts,
    save_feedback,
    say,
    unique,
    usage_delta,
    usage_now,
)
from core.generate.pipeline_state import AttemptRecord, PilotFeedback, PilotRun
from core.models.data import GenerationReport, TrainingExample
from core.models.project import now
from core.project import Project

MAX_FEEDBACK_LINES = 12

# reason code (exact, else a word in it) -> the instruction the generator gets when many examples fail for it
REASON_INSTRUCTIONS: dict[str, str] = {
    # length
    "too_short": "Many responses were below the minimum length: give the complete response the task asks for, "
                 "never a fragment of it.",
    "too_long": "Many responses were too long: keep each response focused and well within the length limit.",
    # format
    "wrong_format": "Many examples were in the wrong format: follow the JSON schema exactly.",
    "wrong_keys": "Many examples had missing or extra fields: return exactly the fields the schema asks for.",
    "not_conversational": "Many examples were not proper conversations: give a user input and a response.",
    "bad_message": "Many examples had malformed messages: every input and response must be plain text.",
    "empty_content": "Many examples had an empty input or response: fill in every field with real text.",
    "bad_roles": "Many conversations had the wrong turn order: the user speaks first, the assistant answers.",
    "bad_label": "Many examples had a wrong label: use exactly the labels asked for.",
    "identical_pair": "Many good and bad responses were identical: make the bad response clearly different.",
    "template": "Many examples did not render with the model's chat template: write plain text without special "
                "tokens or markup that imitates chat formatting.",
    # completeness
    "missing_input": "Many examples had no user input: every example needs the user's message.",
    "missing_response": "Many examples had no response: every example needs a complete response.",
    "missing_rejected": "Many examples lacked the worse response: always write it.",
    "missing_reference": "Many examples lacked the reference answer: always write it.",
    "ends_mid_sentence": "Many responses stopped mid-sentence: finish every response with a complete sentence.",
    "missing_template_steps": "Many responses skipped steps of the response template: follow every template "
                              "step, in order, in every response.",
    # coherence
    "placeholder": "Many responses contained placeholders (like [NAME], <insert> or TODO): write concrete text, "
                   "never placeholders.",
    "boilerplate": "Many responses were boilerplate: avoid filler such as 'As an AI language model'; answer "
                   "directly.",
    "repetitive": "Many responses repeated themselves: never repeat sentences or phrases; vary the wording.",
    "truncated": "Many responses were cut off: keep responses short enough to finish, and always finish them.",
    "garbage": "Many responses were garbled: write clear, well-formed natural language.",
    # constraints
    "refusal_missing": "Many refusal examples did not really refuse: for out-of-scope requests, decline clearly, "
                       "say briefly why, and point to a better resource, without doing the task.",
    "unexpected_refusal": "Many in-scope requests were declined: answer every in-scope request fully; decline only "
                          "what is on the WILL NOT list.",
    "out_of_scope_content": "Many in-scope examples drifted out of scope: keep requests and answers strictly within "
                            "what the assistant WILL do.",
    "violates_never": "Many responses did something the model must NEVER do: respect every NEVER rule and hard "
                      "constraint.",
    # diversity and leakage
    "near_duplicate": "Many examples were near-duplicates of others: vary the situations, user personas, wording, "
                      "details and lengths much more.",
    "leak": "Many examples were too close to the held-out eval set: invent new situations instead of common "
            "textbook ones.",
    # safety
    "toxic": "Some examples contained harmful or toxic language: keep every example safe, respectful and "
             "appropriate for the audience.",
    "prohibited_topic": "Some examples touched prohibited topics: stay away from them entirely.",
    "inappropriate_for_audience": "Some examples were inappropriate for the audience: keep every example suitable "
                                  "for it.",
    # custom filters
    "empathy": "Many responses lacked empathy: acknowledge the user's feelings before helping.",
    "code": "Much of the code did not run: write complete, runnable code and check it carefully.",
    "factual": "Some responses contradicted the knowledge base: state only facts consistent with it.",
    "duplicate": "Many examples were near-duplicates of others: vary the situations and wording much more.",
}


def instruction_for(reason: str, filter_name: str = "", template: Any = None) -> str:
    """One human-readable instruction for a rejection reason code (the template's steps listed for a
    missing-steps rejection, so the retry asks for exactly what the filter checks)."""
    from core.generate.filters.chain import REASON_HINTS

    code = reason.lower()
    if code == "missing_template_steps" and template is not None:
        return (f"Many responses skipped steps of the {template.framework} response template: cover every one "
                f"of its steps, in this order, in every in-scope response: " + "; ".join(template.steps) + ".")
    if code in REASON_INSTRUCTIONS:
        return REASON_INSTRUCTIONS[code]
    if code in REASON_HINTS:
        hint = REASON_HINTS[code]
        return f"Many examples were rejected ({code.replace('_', ' ')}): {hint}."
    for key, text in REASON_INSTRUCTIONS.items():
        if key in code:
            return text
    where = f" the {filter_name} check" if filter_name else " a quality check"
    return f"Many examples failed{where} ({reason.replace('_', ' ')}): avoid that."


def reasons_of(top: Iterable[Any]) -> list[tuple[str, str, int]]:
    """Normalise FilterOutcome.top_reasons() items to (filter, reason, count)."""
    out: list[tuple[str, str, int]] = []
    for item in top:
        if isinstance(item, str):
            out.append(("", item, 0))
        elif isinstance(item, (tuple, list)):
            if len(item) >= 3:
                out.append((str(item[0]), str(item[1]), int(item[2])))
            elif len(item) == 2:
                a, b = item
                if isinstance(b, (int, float)):
                    f, _, r = str(a).rpartition(":")
                    out.append((f, r, int(b)))
                else:
                    out.append((str(a), str(b), 0))
        else:
            out.append((str(getattr(item, "filter", "")), str(getattr(item, "reason_code", item)),
                        int(getattr(item, "count", 0))))
    return out


# ---------------------------------------------------------------- the pilot


async def arun_pilot(project: Project, gateway: Any = None, *, progress: Progress | None = None,
                     embedder: Any = None, tokenizer: Any = None) -> GenerationReport:
    """Generate, filter and report the pilot (see the module docstring). Writes data/pilot/* and the
    pilot's quality-log rows; marks generate/pilot (withdrawing an earlier pilot's approval). The project's
    lock is held for the whole run."""
    with project.writing():
        return await _arun_pilot(project, gateway, progress=progress, embedder=embedder, tokenizer=tokenizer)


async def _arun_pilot(project: Project, gateway: Any, *, progress: Progress | None, embedder: Any,
                      tokenizer: Any) -> GenerationReport:
    from core.generate import report as rp
    from core.generate.filters.chain import build_context, run_filters
    from core.generate.generator import Generator
    from core.generate.plan import plan_cells
    from core.generate.strategy import strategy_for

    eval_hash = check_ready(project)
    cfg = project.meta.config.generate
    strategy = strategy_for(project)
    own_gw = gateway is None
    gw = default_gateway(project, cfg.budget_usd) if own_gw else gateway
    ctx = None
    own_ctx_embedder = False
    try:
        model = check_llm(project, gw, strategy)
        fb = load_feedback(project)
        previous = project.read_or(ps.PILOT_RUN, PilotRun)
        offsets = dict(previous.offsets) if previous else {}
        generator = Generator(project, gw, strategy, feedback=fb.lines(), avoid=[])
        ctx = build_context(project, gw, embedder=embedder, tokenizer=tokenizer)
        generator.avoid = ctx.avoid  # the diversity filter's near-misses: "avoid these" in the prompts
        own_ctx_embedder = embedder is None and ctx.embedder is not None
        started_at, t0 = now(), time.monotonic()
        before = usage_now(gw)
        notes = await run_notes(project, ctx, gw, strategy)
        notes.extend(expire_feedback(fb, ctx))
        generator.feedback[:] = fb.lines()
        for note in notes:
            say(progress, "pilot", f"note: {note}")
        say(progress, "pilot", "thresholds: " + "; ".join(settings_of(ctx)))
        say(progress, "pilot", f"pilot: {cfg.pilot_size} examples · strategy {strategy.name} ({strategy.reason}) · "
                               f"model {model}" + (f" · {len(fb.lines())} feedback notes" if fb.lines() else ""))
        attempts: list[AttemptRecord] = []
        errors: list[str] = []
        target = project.meta.config.generate.quality_thresholds.pass_rate_target
        for attempt in range(cfg.max_pilot_retries + 1):
            ctx.kept_vectors = None  # a retried pilot replaces the previous attempt entirely
            cells = plan_cells(project, cfg.pilot_size, seed=attempt)
            examples = unique(await generate_cells(generator, cells, "pilot", offsets, errors,
                                                   on_cell=cell_reporter(progress, "pilot", f"pilot attempt {attempt + 1}")))
            if not examples:
                raise TunesmithError(
                    "the generator produced no examples" + (f" (last error: {errors[-1]})" if errors else "")
                )
            outcome = await run_filters(examples, ctx, "pilot")
            rate = len(outcome.kept) / len(examples)
            top = reasons_of(outcome.top_reasons(3))
            record = AttemptRecord(attempt=attempt + 1, generated=len(examples), kept=len(outcome.kept),
                                   pass_rate=round(rate, 4), top_reasons=[f"{r} ({n})" for _, r, n in top])
            attempts.append(record)
            say(progress, "pilot", f"pilot attempt {attempt + 1}: {len(outcome.kept)}/{len(examples)} passed "
                                   f"({rate:.0%}; target {target:.0%})"
                                   + (f" · top reasons: {', '.join(record.top_reasons)}" if top else ""))
            if rate >= target or attempt == cfg.max_pilot_retries:
                break
            added = [instruction_for(r, f, strategy.template) for f, r, _ in top]
            added = [a for a in dict.fromkeys(added) if a not in fb.filter_instructions]
            causes = {instruction_for(r, f, strategy.template): feedback_cause(r, ctx) for f, r, _ in top}
            fb.filter_instructions = [*fb.filter_instructions, *added][-MAX_FEEDBACK_LINES:]
            fb.filter_causes = {a: fb.filter_causes.get(a) or causes.get(a, "") for a in fb.filter_instructions}
            record.instructions_added = added
            generator.feedback[:] = fb.lines()
            say(progress, "pilot", f"pass rate below {target:.0%}: retrying with adjusted prompts"
                                   + (": " + " ".join(added) if added else ""))
        used = usage_delta(before, usage_now(gw))
        kept = list(outcome.kept)
        rejected = [example_of(r) for r in outcome.rejected]
        rejected_ids = {ex.id for ex in rejected}
        report = GenerationReport(
            phase="pilot", strategy=strategy.name, training_method=project.meta.training_method,
            requested=cfg.pilot_size, generated=len(examples), kept=len(kept), pass_rate=round(rate, 4),
            retries=len(attempts) - 1, started_at=started_at, finished_at=now(),
            seconds=round(time.monotonic() - t0, 3), prompt_tokens=int(used["prompt_tokens"]),
            completion_tokens=int(used["completion_tokens"]), cost_usd=round(used["cost_usd"], 6),
        )
        merge_stats(report.filters, outcome.stats)
        category_stats(report.categories, kept, rejected)
        rejection_counts(report.rejections_by_reason, outcome.log_rows, rejected_ids)
        report.planned_by_kind = dict(Counter(c.kind for c in cells for _ in range(c.count)))
        report.kept_by_kind = dict(Counter(e.kind for e in kept))
        report.rejected_strategies = dict(sorted(Counter(e.rejected_strategy for e in kept
                                                         if e.rejected_strategy).items()))
        report.failed_strategies = dict(getattr(generator, "failed_strategies", {}) or {})
        report.notes = [*notes, *mix_notes(report)]
        report.settings = settings_of(ctx)
        scores = diversity_scores(outcome)
        if scores:
            report.diversity_mean_similarity = round(sum(scores) / len(scores), 4)
            report.diversity_max_similarity = round(max(scores), 4)
        run = PilotRun(
            pilot_id=ps.ids_hash([ex.id for ex in kept]), eval_hash=eval_hash, strategy=strategy.name,
            strategy_reason=strategy.reason, model=model, attempts=attempts, requests=int(used["calls"]),
            cache_hits=int(used["cache_hits"]), feedback=generator.feedback[:], offsets=offsets, finished_at=now(),
            failed_requests=len(errors) + int(generator.stats.get("failed_requests", 0)),
        )
        with project.writing():
            project.write_rows(ps.PILOT_EXAMPLES, kept, TrainingExample)
            project.write_rows(ps.PILOT_REJECTED, rejected, TrainingExample)
            rp.write_quality_log(project, "pilot", failed_rows(outcome.log_rows, rejected_ids))
            project.write(ps.PILOT_REPORT, report)
            project.write(ps.PILOT_RUN, run)
            save_feedback(project, fb)
            project.reload()
            if project.meta.is_done("generate", "pilot"):
                project.mark("generate", "pilot", done=False)  # a new pilot needs a new spot-check
            project.mark("generate", "pilot")
            rp.update_summary(project, pilot=report)
        return report
    finally:
        if own_ctx_embedder and ctx is not None:
            ctx.embedder.close()
        if own_gw:
            gw.close()


def run_pilot(project: Project, gateway: Any = None, **kwargs: Any) -> GenerationReport:
    """Synchronous :func:`arun_pilot` (for the CLI and worker threads)."""
    from core.llm.gateway import run_sync

    return run_sync(arun_pilot(project, gateway, **kwargs))


# ---------------------------------------------------------------- what a run must say


async def run_notes(project: Project, ctx: Any, gw: Any, strategy: Any) -> list[str]:
    """What a generation run tells the user before it starts: the judge's check against the eval set,
    the rule-based checks the eval set's references fail (not enforced), and when one model plays every
    role. (How the "auto" thresholds were set is :func:`settings_of`.)"""
    from core.generate.filters.calibrate import calibrate
    from core.generate.filters.judge_check import check_judge
    from core.llm.roles import same_model_notes

    notes: list[str] = []
    check = await check_judge(ctx)
    if check is not None and not check.trusted:
        notes.append(check.note)
    notes.extend(await calibrate(ctx))
    roles = ("generator", "weak", "judge") if project.meta.training_method in ("dpo", "kto") else ("generator", "judge")
    notes.extend(same_model_notes(project.meta.models, roles))
    return notes


def settings_of(ctx: Any) -> list[str]:
    """How the run's "auto" thresholds were set (core/generate/filters/thresholds.py)."""
    from core.generate.filters.chain import THRESHOLD_NOTES

    return list(ctx.extras.get(THRESHOLD_NOTES, []))


def mix_notes(report: GenerationReport) -> list[str]:
    """A kind of example the filters kept none (or far too few) of."""
    out = []
    for kind, want in report.planned_by_kind.items():
        got = report.kept_by_kind.get(kind, 0)
        if want and got < want / 2:
            out.append(f"{kind} examples: only {got} of {want} planned passed the filters")
    return out


def feedback_cause(code: str, ctx: Any) -> str:
    """What a filter instruction answers: the reason code and the settings that made the filter reject
    (when they change, the instruction's cause is gone)."""
    meta = ctx.project.meta
    t = ctx.thresholds
    setting = {
        "too_short": f"min_length={t.min_length}", "too_long": f"max_length={t.max_length}",
        "near_duplicate": f"diversity_threshold={t.diversity_threshold}",
        "missing_template_steps": "template=" + "|".join(ctx.template_steps),
        "low_framework_adherence": "template=" + "|".join(ctx.template_steps),
        "refusal_missing": f"refusal={ctx.refusal.message}", "unexpected_refusal": f"refusal={ctx.refusal.message}",
    }.get(code, "")
    return f"{code}|{meta.task_type}|{meta.training_method}|{setting}"


def expire_feedback(fb: PilotFeedback, ctx: Any) -> list[str]:
    """Drop the filter instructions whose cause is gone (the task type, method or the setting behind the
    rejection changed since they were added); returns a note per dropped one."""
    live, notes = [], []
    for line in fb.filter_instructions:
        cause = fb.filter_causes.get(line, "")
        code = cause.split("|", 1)[0]
        if cause and feedback_cause(code, ctx) != cause:
            notes.append(f"an earlier adjustment no longer applies (its settings changed) and was dropped: {line}")
        else:
            live.append(line)
    fb.filter_instructions = live
    fb.filter_causes = {k: v for k, v in fb.filter_causes.items() if k in live}
    return notes
