"""What an evaluation tells people: evaluation_report.md, comparison_analysis, detailed_results and the
spot-check worksheet (spec SKILL 4 "Outputs").

Pure functions of the evaluation's data (no file access except :func:`worksheet_items`, which reads the
saved spot-check selection): :mod:`core.evaluate.run` writes what they return into ``evals/<id>/`` and
:mod:`core.evaluate.export` into ``exports/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from core.evaluate.decision import ICON, Policy, decision_lines, fmt_p, pct, pts, spot_summary
from core.evaluate.evalfolder import EvalRecord
from core.evaluate.metrics import GroupStats, MetricsReport
from core.models.knowledge import EvalExample
from core.models.runs import Decision, EvalResult, SpotCheck, SpotCheckItem

MARK = {"good": "✓", "concerning": "⚠", "bad": "✗"}
VERDICT = {"deploy": "DEPLOY", "review": "REVIEW", "iterate": "ITERATE"}
TOL = 1e-9


# ---------------------------------------------------------------- small helpers


def fence(text: str, lang: str = "text") -> str:
    """``text`` in a fenced block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text or "")), default=0)
    f = "`" * max(3, longest + 1)
    return f"{f}{lang}\n{text or '(empty)'}\n{f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _group_rows(groups: Mapping[str, GroupStats]) -> list[list[str]]:
    return [[g.name, g.n, pct(g.base_mean), pct(g.candidate_mean), pts(g.delta), f"{g.better}/{g.worse}/{g.same}",
             fmt_p(g.p_value)] for g in groups.values()]


GROUP_HEADER = ("", "n", "base", "candidate", "delta", "better/worse/same", "p")


def _group_dict(g: GroupStats) -> dict[str, Any]:
    return {"n": g.n, "base": g.base_mean, "candidate": g.candidate_mean, "delta": g.delta,
            "base_pass_rate": g.base_pass_rate, "candidate_pass_rate": g.candidate_pass_rate,
            "better": g.better, "worse": g.worse, "same": g.same, "p_value": g.p_value}


# ---------------------------------------------------------------- comparison analysis


def regressions(metrics: MetricsReport, policy: Policy | None = None) -> list[dict[str, Any]]:
    """Every group worse than the base (beyond the minor threshold), refusal regressions and new
    over-refusals, each with its severity as the decision rules grade it."""
    pol = policy or Policy()
    out: list[dict[str, Any]] = []
    for axis, groups in (("category", metrics.by_category), ("difficulty", metrics.by_difficulty),
                         ("kind", metrics.by_kind)):
        for g in groups.values():
            if g.delta >= -pol.minor_drop:
                continue
            critical = g.delta < -pol.critical_drop and g.p_value is not None and g.p_value < pol.critical_p
            out.append({"axis": axis, "name": g.name, "base": g.base_mean, "candidate": g.candidate_mean,
                        "delta": g.delta, "n": g.n, "p_value": g.p_value,
                        "severity": "critical" if critical else "minor"})
    r = metrics.refusal
    for i in r.regressions:
        out.append({"axis": "refusal", "name": i, "severity": "critical",
                    "what": "the base declined this out-of-scope request; the candidate answers it"})
    for i in r.over_refusal_regressions:
        out.append({"axis": "over_refusal", "name": i, "severity": "minor",
                    "what": "the base answered this in-scope look-alike; the candidate declines it"})
    return out


def qualitative(spot: SpotCheck | None) -> dict[str, Any] | None:
    """Better / worse / neutral from the spot-check's base-vs-fine-tuned comparisons."""
    if spot is None:
        return None
    comp = [i for i in spot.items if i.group == "comparison"]
    if not comp:
        return None
    return {"pairs": len(comp), "rated": sum(i.preferred is not None for i in comp),
            "better": sum(i.preferred == "candidate" for i in comp),
            "worse": sum(i.preferred == "base" for i in comp),
            "neutral": sum(i.preferred == "same" for i in comp)}


def comparison_analysis(metrics: MetricsReport, record: EvalRecord, *, spot: SpotCheck | None = None,
                        pairwise: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Base vs fine-tuned: deltas overall and per category/difficulty/kind, regressions, better/worse/same
    counts, p-values, refusals, preference and (from the spot-check) qualitative counts."""
    st = metrics.stats
    edge = metrics.by_kind.get("edge")
    out: dict[str, Any] = {
        "eval_id": record.eval_id,
        "base_model": record.base.model,
        "candidate_model": record.candidate.model,
        "eval_set_hash": record.eval_set_hash,
        "n_examples": metrics.n_examples,
        "n_paired": metrics.n_paired,
        "n_pending_human": metrics.n_pending,
        "n_judge_excluded": metrics.n_judge_excluded,
        "methods": dict(metrics.methods),
        "overall": {
            "base": metrics.base_overall, "candidate": metrics.candidate_overall,
            "delta": metrics.improvement_abs, "delta_relative_pct": metrics.improvement_rel,
            "base_pass_rate": metrics.base_pass_rate, "candidate_pass_rate": metrics.candidate_pass_rate,
            "candidate_in_scope": metrics.candidate_in_scope, "base_in_scope": metrics.base_in_scope,
        },
        "counts": {"better": metrics.better, "worse": metrics.worse, "same": metrics.same},
        "edge_case_delta": edge.delta if edge else None,
        "significance": None if st is None else {
            "primary_test": st.primary_test, "p_value": st.p_value, "alpha": st.alpha,
            "t_stat": st.t_stat, "t_p": st.t_p,
            "mcnemar_improved": st.mcnemar_c, "mcnemar_worsened": st.mcnemar_b, "mcnemar_p": st.mcnemar_p,
            "bootstrap_ci": [st.ci_low, st.ci_high], "ci_level": st.ci_level,
            "mde": st.mde, "mde_binary": st.mde_binary, "n": st.n,
        },
        "by_category": {k: _group_dict(g) for k, g in metrics.by_category.items()},
        "by_difficulty": {k: _group_dict(g) for k, g in metrics.by_difficulty.items()},
        "by_kind": {k: _group_dict(g) for k, g in metrics.by_kind.items()},
        "regressions": regressions(metrics),
        "refusal": {
            "n_out_of_scope": metrics.refusal.n_should_refuse,
            "base_accuracy": metrics.refusal.base_accuracy,
            "candidate_accuracy": metrics.refusal.candidate_accuracy,
            "leaked": list(metrics.refusal.leaked),
            "n_lookalike": metrics.refusal.n_lookalike,
            "base_over_refusal": metrics.refusal.base_over_refusal,
            "candidate_over_refusal": metrics.refusal.candidate_over_refusal,
            "over_refused": list(metrics.refusal.over_refused),
        },
        "consistency": dict(metrics.consistency),
    }
    if any((metrics.judge_dimensions or {}).values()):
        out["judge_dimensions"] = {role: dict(v) for role, v in metrics.judge_dimensions.items()}
    if metrics.preference is not None:
        p = metrics.preference
        out["preference"] = {"n": p.n, "candidate_wins": p.wins, "base_wins": p.losses, "ties": p.ties,
                             "position_inconsistent": p.inconsistent, "win_rate": p.win_rate,
                             "win_rate_ties_half": p.win_rate_ties_half, "validated": p.usable}
    q = qualitative(spot)
    if q is not None:
        out["qualitative"] = q
    if pairwise:
        out["pairwise_flagged"] = [str(r.get("example_id")) for r in pairwise if r.get("flagged")]
    return out


# ---------------------------------------------------------------- detailed results


def _side(r: EvalResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"model": r.model, "output": r.output, "score": r.score, "passed": r.passed, "pending": r.pending,
            "refused": r.refused,
            "method": r.method, "judge_confidence": r.judge_confidence, "flagged": r.flagged, "detail": r.detail}


def detailed_results(examples: Sequence[EvalExample], results: Sequence[EvalResult],
                     pairwise: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One entry per eval example: input, reference, both outputs with their scores, the method, the
    judge's confidence and every flag."""
    from core.evaluate.scorers import is_pending

    base = {r.example_id: r for r in results if r.model_role == "base"}
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    pw = {str(p.get("example_id")): p for p in pairwise or []}
    out = []
    for e in examples:
        b, c = base.get(e.id), cand.get(e.id)
        flags = []
        for who, r in (("base", b), ("candidate", c)):
            if r is None:
                flags.append(f"{who}: no output")
                continue
            if is_pending(r):
                flags.append(f"{who}: needs a human rating")
            elif r.flagged:
                flags.append(f"{who}: low confidence")
        if b is not None and c is not None and not is_pending(b) and not is_pending(c):
            if c.score < b.score - TOL:
                flags.append("regression")
        if e.should_refuse and c is not None and c.refused is False:
            flags.append("out-of-scope request answered")
        if not e.should_refuse and c is not None and c.refused:
            flags.append("in-scope request declined")
        entry: dict[str, Any] = {
            "id": e.id, "input": e.input, "reference": e.reference, "category": e.category,
            "difficulty": e.difficulty, "kind": e.kind, "should_refuse": e.should_refuse,
            "method": (c or b).method if (c or b) else None,
            "confidence": c.judge_confidence if c else None,
            "base": _side(b), "candidate": _side(c),
            "delta": (c.score - b.score) if b is not None and c is not None and b.score is not None
                     and c.score is not None else None,
            "flags": flags,
        }
        if e.id in pw:
            entry["pairwise"] = {k: pw[e.id].get(k) for k in ("winner", "confidence", "consistent", "reason")}
        out.append(entry)
    return out


# ---------------------------------------------------------------- spot-check worksheet


def simple_selection(examples: Sequence[EvalExample], results: Sequence[EvalResult], per_group: int = 5,
                     seed: str = "") -> list[SpotCheckItem]:
    """A fallback selection (used only when core.evaluate.spot_check is unavailable): ``per_group`` common,
    edge (edge + look-alike) and out-of-scope examples, failures and regressions first, then in order."""
    import random

    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    base = {r.example_id: r for r in results if r.model_role == "base"}
    rng = random.Random(seed)

    def group(e: EvalExample) -> str:
        if e.should_refuse or e.kind == "out_of_scope":
            return "out_of_scope"
        return "edge" if e.kind in ("edge", "lookalike") else "common"

    items: list[SpotCheckItem] = []
    for g in ("common", "edge", "out_of_scope"):
        pool = [e for e in examples if group(e) == g and e.id in cand]
        rng.shuffle(pool)

        def key(e: EvalExample) -> tuple[int, float]:
            c, b = cand[e.id], base.get(e.id)
            regress = b is not None and not (b.pending or c.pending) and c.score < b.score - TOL
            return (3 if c.pending else 0 if regress else 1 if not c.passed else 2, c.score or 0.0)

        for e in sorted(pool, key=key)[:per_group]:
            c, b = cand[e.id], base.get(e.id)
            why = ("needs a human rating" if c.pending
                   else "regression" if b is not None and not b.pending and c.score < b.score - TOL
                   else "failed the automated check" if not c.passed else "representative pick")
            items.append(SpotCheckItem(example_id=e.id, group=g, why=why))  # type: ignore[arg-type]
    return items


@dataclass
class WorksheetSource:
    items: list[SpotCheckItem]
    source: str  # "saved" (spot_check.toml), "spot_check.select", "fallback"


def worksheet_items(project: Any, eval_id: str, examples: Sequence[EvalExample],
                    results: Sequence[EvalResult]) -> WorksheetSource:
    """The saved spot-check's items, else the spot-check's own selection (same seed as
    ``tunesmith spot-check`` uses), else :func:`simple_selection`."""
    from core.evaluate import evalfolder as ef

    saved = ef.read_spot_check(project, eval_id)
    if saved is not None and saved.items:
        return WorksheetSource(list(saved.items), "saved")
    cfg = project.meta.config.evaluate
    try:
        from core.evaluate import spot_check

        items = spot_check.select(examples, results, size=cfg.spot_check_size, compare_pairs=cfg.compare_pairs,
                                  seed=eval_id)
        return WorksheetSource(list(items), "spot_check.select")
    except (ImportError, AttributeError, TypeError):
        return WorksheetSource(simple_selection(examples, results, seed=eval_id), "fallback")


GROUP_TITLE = {"common": "Common scenarios (representative)", "edge": "Edge cases (where failures are likely)",
               "out_of_scope": "Out-of-scope requests (the model should decline)",
               "comparison": "Base vs fine-tuned (which response is better?)"}


def worksheet(project_name: str, slug: str, record: EvalRecord, examples: Sequence[EvalExample],
              results: Sequence[EvalResult], items: Sequence[SpotCheckItem], source: str = "saved") -> str:
    """A printable spot-check worksheet: every selected item with its input, reference, output(s) and
    check boxes for the spec's three review questions (recorded answers are ticked)."""
    by_id = {e.id: e for e in examples}
    cand = {r.example_id: r for r in results if r.model_role == "candidate"}
    base = {r.example_id: r for r in results if r.model_role == "base"}
    box = lambda on: "[x]" if on else "[ ]"  # noqa: E731
    lines = [
        f"# Spot-check worksheet: {project_name}",
        "",
        f"Evaluation `{record.eval_id}`: fine-tuned `{record.candidate.model}` (base `{record.base.model}`), "
        f"{len(items)} items.",
        "",
        "For each item answer the three questions. Rate it in the app or with "
        f"`tunesmith spot-check {slug}` (y = ✓, m = ⚠, n = ✗).",
        "",
        "1. Is the response appropriate? ✓ good / ⚠ concerning / ✗ bad",
        "2. Would you trust this output? yes / no",
        "3. Any concerning patterns? (free text)",
        "",
        "Decision rule: 0-2 concerning (⚠ or ✗) → deploy; 3-4 → review; 5 or more → iterate.",
    ]
    if source == "fallback":
        lines += ["", "_Selection: 5 common, 5 edge, 5 out-of-scope (fallback selection)._"]
    n = 0
    for group in ("common", "edge", "out_of_scope", "comparison"):
        chosen = [i for i in items if i.group == group]
        if not chosen:
            continue
        lines += ["", f"## {GROUP_TITLE[group]}"]
        for item in chosen:
            n += 1
            e = by_id.get(item.example_id)
            c, b = cand.get(item.example_id), base.get(item.example_id)
            lines += ["", f"### {n}. `{item.example_id}`"
                      + (f" · {e.category} · {e.difficulty} · {e.kind}" if e else "")]
            if item.why:
                lines.append(f"_Why this one: {item.why}_")
            if e is not None:
                lines += ["", "**Input**", "", fence(e.input), "", "**Reference**", "", fence(e.reference)]
            if group == "comparison":
                lines += ["", "**Base model**" + (f" ({b.score_text()})" if b else ""), "",
                          fence(b.output if b else "(no output)"),
                          "", "**Fine-tuned model**" + (f" ({c.score_text()})" if c else ""), "",
                          fence(c.output if c else "(no output)"), "",
                          f"Which is better? {box(item.preferred == 'candidate')} fine-tuned  "
                          f"{box(item.preferred == 'base')} base  {box(item.preferred == 'same')} about the same"]
            else:
                score = f" ({c.method}: {c.score_text()})" if c else ""
                lines += ["", f"**Fine-tuned model's response**{score}", "", fence(c.output if c else "(no output)")]
            lines += [
                "",
                f"Appropriate? {box(item.rating == 'good')} ✓ good  {box(item.rating == 'concerning')} ⚠ concerning  "
                f"{box(item.rating == 'bad')} ✗ bad",
                f"Would you trust it? {box(item.trust is True)} yes  {box(item.trust is False)} no",
                f"Concerns: {item.note or '______________________________________________'}",
            ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the report


def _judge_section(record: EvalRecord, judge: Mapping[str, Any] | None, agreement: str | None) -> list[str]:
    lines = ["## LLM judge", ""]
    status = record.judge_status
    if status == "not_needed":
        lines.append("Not needed: every example was scored by a functional check or exact match.")
    elif status == "no_llm":
        lines.append("Judge not used: no LLM is configured (set TUNESMITH_MODEL or TUNESMITH_JUDGE_MODEL). "
                     "Examples that need a judge wait for a human rating.")
    elif status == "failed":
        lines.append("**Judge not used: failed validation.** Its scores do not count toward the decision; the "
                     "examples that need it wait for a human rating.")
    elif status == "validated":
        lines.append(f"Validated judge: `{record.judge_model}`"
                     + ("" if record.judge_pairwise_usable else " (absolute grading only; its pairwise verdicts "
                                                                "are not used)") + ".")
    if record.judge_reason:
        lines += ["", record.judge_reason]
    if judge and judge.get("attempts"):
        rows = []
        for a in judge["attempts"]:
            ci = a.get("kappa_ci") or []
            k = a.get("kappa")
            rows.append([a.get("judge_model", ""), a.get("prompt_version", ""), a.get("n", 0),
                         pct(a.get("accuracy")), "n/a" if k is None else f"{k:.2f}",
                         f"[{ci[0]:.2f}, {ci[1]:.2f}]" if len(ci) == 2 else "n/a",
                         pct(a.get("swap_agreement")) if a.get("swap_agreement") is not None else "-",
                         "PASS" if a.get("passed") else "FAIL"])
        lines += ["", table(("judge", "prompt", "items", "accuracy", "kappa", "kappa 95% CI", "swap agreement",
                             "result"), rows)]
    lines += _judge_breakdown(judge)
    if agreement:
        lines += ["", agreement.rstrip(".") + ", from the spot-check."]
    return lines


def _confusion(c: Any) -> dict[str, int] | None:
    if not isinstance(c, Mapping):
        return None
    try:
        return {k: int(c.get(k) or 0) for k in ("tp", "fp", "tn", "fn")}
    except (TypeError, ValueError):
        return None


def _judge_breakdown(judge: Mapping[str, Any] | None) -> list[str]:
    """The judge validation's confusion counts (pass = the item is acceptable) and its accuracy per kind of
    validation item, when the saved summary has them ("confusion", "by_variant" / "by_kind"); else nothing."""
    if not isinstance(judge, Mapping):
        return []
    lines: list[str] = []
    c = _confusion(judge.get("confusion"))
    if c is not None:
        lines += ["", "Judge validation against the known labels (pass = acceptable):", "",
                  table(("", "judge: pass", "judge: fail"), [
                      ["known good", c["tp"], c["fn"]],
                      ["known bad", c["fp"], c["tn"]],
                  ])]
        if c["fp"]:
            lines.append(f"\n{c['fp']} known-bad items passed by the judge (it is too lenient on them).")
    for key, title in (("by_variant", "variant"), ("by_kind", "kind")):
        groups = judge.get(key)
        if not isinstance(groups, Mapping) or not groups:
            continue
        rows = []
        for name, g in groups.items():
            if not isinstance(g, Mapping):
                continue
            gc = _confusion(g.get("confusion"))
            acc = g.get("accuracy")
            rows.append([name, g.get("n", ""), pct(acc) if isinstance(acc, (int, float)) else "n/a",
                         *((gc["tp"], gc["fp"], gc["tn"], gc["fn"]) if gc else ("", "", "", ""))])
        if rows:
            lines += ["", f"By {title}:", "", table((title, "items", "accuracy", "tp", "fp", "tn", "fn"), rows)]
    return lines


def _stats_section(metrics: MetricsReport) -> list[str]:
    st = metrics.stats
    lines = ["## Statistics", ""]
    if st is None:
        return lines + ["No example was scored automatically for both models: no statistics."]
    t = "n/a" if st.t_stat is None else f"{st.t_stat:.3f}"
    lines += [table(("test", "result"), [
        ["paired examples", st.n],
        ["primary test", f"{'McNemar exact' if st.primary_test == 'mcnemar' else 'paired t-test'}: "
                         f"p = {fmt_p(st.p_value)} (α = {st.alpha:g})"],
        ["paired t-test", f"t = {t}, p = {fmt_p(st.t_p)}"],
        ["McNemar exact", f"{st.mcnemar_c} improved, {st.mcnemar_b} worsened, p = {fmt_p(st.mcnemar_p)}"],
        ["bootstrap CI of the difference", "n/a" if st.ci_low is None else
         f"{st.ci_level:.0%}: [{pts(st.ci_low)}, {pts(st.ci_high)}] ({st.n_resamples} resamples)"],
        ["minimum detectable effect (80% power)",
         f"{pts(st.mde)} (scores)" + (f"; {pts(st.mde_binary)} (pass rate)" if st.mde_binary is not None else "")],
    ])]
    if st.note:
        lines += ["", f"_{st.note}_"]
    return lines


def _metrics_section(metrics: MetricsReport) -> list[str]:
    m = metrics
    lines = ["## Automated metrics", "",
             f"{m.n_paired} of {m.n_examples} examples scored automatically for both models"
             + (f"; {m.n_pending} results wait for a human rating" if m.n_pending else "")
             + (f"; {m.n_judge_excluded} judge scores discarded (judge not validated)" if m.n_judge_excluded else "")
             + ". Methods (candidate): " + ", ".join(f"{k} {v}" for k, v in sorted(m.methods.items())) + ".", ""]
    rel = "" if m.improvement_rel is None else f" ({m.improvement_rel:+.1f}%)"
    lines += [table(("metric", "base", "candidate", "delta"), [
        ["mean score", pct(m.base_overall), pct(m.candidate_overall), pts(m.improvement_abs) + rel],
        ["pass rate", pct(m.base_pass_rate), pct(m.candidate_pass_rate),
         pts(None if m.base_pass_rate is None or m.candidate_pass_rate is None
             else m.candidate_pass_rate - m.base_pass_rate)],
        ["better / worse / same (per example)", "", f"{m.better} / {m.worse} / {m.same}", ""],
    ])]
    for title, groups in (("By category", m.by_category), ("By difficulty", m.by_difficulty), ("By kind", m.by_kind)):
        if groups:
            lines += ["", f"### {title}", "", table(GROUP_HEADER, _group_rows(groups))]
    r = m.refusal
    lines += ["", "### Refusals", ""]
    if r.n_should_refuse:
        flag = "" if (r.candidate_accuracy or 0) >= 1 - TOL else " **below the 100% target: flagged**"
        lines.append(f"- Out-of-scope refusal accuracy: base {pct(r.base_accuracy)}, candidate "
                     f"{pct(r.candidate_accuracy)} on {r.n_should_refuse} examples{flag}")
        if r.leaked:
            lines.append(f"- Answered although out of scope: {', '.join(r.leaked)}")
        if r.regressions:
            lines.append(f"- Refusal regressions (base declined, candidate answers): {', '.join(r.regressions)}")
    else:
        lines.append("- No out-of-scope examples were scored: refusal behaviour is untested.")
    if r.n_lookalike:
        lines.append(f"- Over-refusal on in-scope look-alikes: base {pct(r.base_over_refusal)}, candidate "
                     f"{pct(r.candidate_over_refusal)} on {r.n_lookalike} examples"
                     + (f" (declined: {', '.join(r.over_refused)})" if r.over_refused else ""))
    extra: list[str] = []
    if m.classification:
        rows = [[role, pct(c.accuracy), pct(c.precision), pct(c.recall), pct(c.f1)]
                for role, c in m.classification.items()]
        extra += ["", "Classification (macro):", "", table(("model", "accuracy", "precision", "recall", "F1"), rows)]
    if m.code_pass_rate:
        extra += ["", f"- Code pass rate: base {pct(m.code_pass_rate.get('base'))}, candidate "
                      f"{pct(m.code_pass_rate.get('candidate'))}"]
    if m.preference is not None:
        p = m.preference
        extra += ["", f"- Pairwise preference (validated judge, both orders): candidate wins {p.wins}, base wins "
                      f"{p.losses}, ties {p.ties} ({p.inconsistent} position-inconsistent) of {p.n}; win rate "
                      f"{pct(p.win_rate)}"]
    if m.generation:
        rows = [[role, f"{g.length.mean_words:.0f}", f"{g.length.median_words:.0f}", f"{g.length.p95_words:.0f}",
                 f"{g.distinct_1:.2f}", f"{g.distinct_2:.2f}"] for role, g in m.generation.items()]
        extra += ["", "Generation (in-scope outputs):", "",
                  table(("model", "mean words", "median words", "p95 words", "distinct-1", "distinct-2"), rows)]
    if extra:
        lines += ["", "### Task-specific"] + extra
    lines += ["", "### Consistency", ""] + consistency_lines(m)
    dims = m.judge_dimensions or {}
    if any(dims.values()):
        base_d, cand_d = dims.get("base", {}), dims.get("candidate", {})
        rows = [[name, pct(base_d.get(name)), pct(cand_d.get(name)),
                 pts(None if base_d.get(name) is None or cand_d.get(name) is None else cand_d[name] - base_d[name]),
                 (m.judge_dimension_n or {}).get(name, "")]
                for name in sorted(set(base_d) | set(cand_d))]
        lines += ["", "### Rubric dimensions (validated judge, in-scope outputs)", "",
                  table(("dimension", "base", "candidate", "delta", "outputs scored"), rows)]
    return lines


def consistency_lines(m: MetricsReport) -> list[str]:
    """Consistency of correct behaviour, per model, in words."""
    detail = m.consistency_detail or {}
    out = []
    for role, word in (("base", "Base"), ("candidate", "Fine-tuned")):
        cs = detail.get(role)
        if cs is None:
            value = (m.consistency or {}).get(role)
            if value is not None:
                out.append(f"- {word}: {pct(value)} of correct answers lost on rephrasing")
            continue
        if cs.value is None:
            out.append(f"- {word}: not measurable: {cs.reason}.")
            continue
        lost = cs.measured - cs.consistent
        if lost:
            ids = ", ".join(cs.broken[:8]) + (" …" if len(cs.broken) > 8 else "")
            what = f"{lost} of them wrong once rephrased ({pct(cs.value)}: {ids})"
        else:
            what = "every one still right once rephrased (0% lost)"
        variance = f"; score variance {_num(cs.variance)}" if cs.variance is not None else ""
        out.append(f"- {word}: right on {cs.measured} of {cs.scored} paraphrased inputs; {what}{variance}")
    if not out:
        out.append("- Not measured (no paraphrase groups with automated scores).")
    out.append("- Consistency counts only inputs the model answers correctly: the share of them it gets wrong "
               "when the input is rephrased (lower is better; the default target is at most 20%).")
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _spot_section(spot: SpotCheck | None, slug: str) -> list[str]:
    lines = ["## Spot-check", ""]
    s = spot_summary(spot)
    if spot is None or s is None:
        return lines + [f"Not done yet: `tunesmith spot-check {slug}` (the decision stays REVIEW until it is)."]
    good = sum(i.rating == "good" for i in spot.items)
    trusted = sum(i.trust is True for i in spot.items)
    lines.append(f"{s.rated} of {s.total} items rated{' (finished)' if s.finished else ' (not finished)'}: "
                 f"✓ {good}, ⚠ {s.warned}, ✗ {s.bad}; trusted {trusted}, not trusted {s.distrusted}; "
                 f"**{s.concerning} concerning**; approval {pct(s.approval)}.")
    q = qualitative(spot)
    if q and q["rated"]:
        lines.append(f"Base vs fine-tuned: better {q['better']}, worse {q['worse']}, neutral {q['neutral']} "
                     f"of {q['pairs']} pairs.")
    notes = [i for i in spot.items if i.note or i.rating in ("concerning", "bad") or i.trust is False]
    if notes:
        lines += [""] + [f"- `{i.example_id}` ({i.group}) {MARK.get(i.rating or '', '?')}"
                         f"{', not trusted' if i.trust is False else ''}{': ' + i.note if i.note else ''}"
                         for i in notes]
    return lines


def _decision_section(decision: Decision | None, slug: str, config: Any = None) -> list[str]:
    if decision is None:
        return ["## Decision", "", f"Not decided yet: `tunesmith decide {slug}`."]
    v = decision.verdict
    partial = ""
    if decision.missing_dimensions:
        covered = f"{decision.weight_covered:.0%} of the weight; " if decision.weight_covered is not None else ""
        partial = f" (partial: {covered}{', '.join(decision.missing_dimensions)} left out)"
    lines = ["## Decision", "", f"**{ICON[v]} {VERDICT[v]}**, weighted score {decision.weighted_score:.2f}{partial}"
             + (f"; pending: {', '.join(decision.pending)}" if decision.pending else ""), ""]
    reasons, passed, details = decision_lines(decision)
    if reasons:
        lines += ["What keeps it from DEPLOY (worst first; ✗ asks to iterate, ⚠ for a review):", ""]
        lines += [f"- {r}" for r in reasons] + [""]
    if passed:
        lines += ["Checks that passed:", ""] + [f"- {r}" for r in passed] + [""]
    if decision.next_steps:
        lines += ["Next steps:", ""] + [f"{i}. {s}" for i, s in enumerate(decision.next_steps, 1)] + [""]
    if decision.dimensions or decision.missing_dimensions:
        dims = {d.name: d for d in (config.dimensions if config is not None else [])}
        rows = []
        for name, value in decision.dimensions.items():
            d = dims.get(name)
            rows.append([name, f"{value:.2f}", f"{d.weight:.2f}" if d else "", _target(d)])
        for name in decision.missing_dimensions:
            d = dims.get(name)
            why = decision.missing_why.get(name, "")
            rows.append([name, "left out" + (f": {why}" if why else ""), f"{d.weight:.2f}" if d else "", _target(d)])
        lines += ["Weighted score by dimension (value normalised against its target):", "",
                  table(("dimension", "normalised", "weight", "target"), rows), ""]
    if details:
        lines += ["### Statistical detail", ""] + [f"- {x}" for x in details] + [""]
    return lines[:-1] if lines[-1] == "" else lines


def _target(d: Any) -> str:
    if d is None:
        return ""
    return f"{'at least' if d.higher_is_better else 'at most'} {d.target:g}"


def render_report(*, project_name: str, slug: str, record: EvalRecord, metrics: MetricsReport,
                  decision: Decision | None, spot: SpotCheck | None = None,
                  judge: Mapping[str, Any] | None = None, agreement: str | None = None,
                  config: Any = None) -> str:
    """evaluation_report.md: automated metrics, statistics, the judge, the spot-check and the decision."""
    created = record.created_at.strftime("%Y-%m-%d %H:%M UTC")
    dec = record.decoding
    decoding = ("greedy" if not dec.get("temperature") else f"temperature {dec.get('temperature')}") + \
        (f", at most {dec.get('max_new_tokens')} new tokens" if dec.get("max_new_tokens") else "")
    lines = [
        f"# Evaluation report: {project_name}",
        "",
        table(("", ""), [
            ["evaluation", f"`{record.eval_id}` ({created})"],
            ["base model", f"`{record.base.model}`"],
            ["fine-tuned model", f"`{record.candidate.model}`"
             + (f" (run `{record.candidate.run_id}`)" if record.candidate.run_id else "")],
            ["eval set", f"{record.n_examples} examples, frozen sha256 `{record.eval_set_hash[:12]}…`"],
            ["decoding", decoding],
        ]),
        "",
    ]
    lines += _decision_section(decision, slug, config) + [""]
    lines += _metrics_section(metrics) + [""]
    lines += _stats_section(metrics) + [""]
    lines += _judge_section(record, judge, agreement) + [""]
    lines += _spot_section(spot, slug) + [""]
    if record.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in record.notes] + [""]
    return "\n".join(lines).rstrip() + "\n"


def headline(metrics: MetricsReport) -> list[str]:
    """A few lines for the CLI and the screens."""
    m = metrics
    rel = "" if m.improvement_rel is None else f", {m.improvement_rel:+.1f}% relative"
    out = [f"mean score: base {pct(m.base_overall)} → candidate {pct(m.candidate_overall)} "
           f"({pts(m.improvement_abs)}{rel}) on {m.n_paired} of {m.n_examples} examples"]
    if m.base_pass_rate is not None:
        out.append(f"pass rate: base {pct(m.base_pass_rate)} → candidate {pct(m.candidate_pass_rate)}; "
                   f"better {m.better}, worse {m.worse}, same {m.same}")
    st = m.stats
    if st is not None:
        ci = "" if st.ci_low is None else f", 95% CI [{pts(st.ci_low)}, {pts(st.ci_high)}]"
        mde = st.mde_binary if st.binary else st.mde
        detect = (f"detectable effect ≈ {pts(mde)}" if mde is not None
                  else f"the detectable effect cannot be estimated from {st.n} paired examples")
        out.append(f"p = {fmt_p(st.p_value)} ({'McNemar exact' if st.primary_test == 'mcnemar' else 'paired t-test'}"
                   f"{ci}; {detect})")
    r = m.refusal
    if r.n_should_refuse:
        out.append(f"refusal accuracy: {pct(r.candidate_accuracy)} on {r.n_should_refuse} out-of-scope examples"
                   + (f" (answered: {', '.join(r.leaked[:5])}{' …' if len(r.leaked) > 5 else ''})" if r.leaked else ""))
    if r.n_lookalike:
        out.append(f"over-refusal on look-alikes: {pct(r.candidate_over_refusal)} of {r.n_lookalike}")
    if m.n_pending:
        out.append(f"{m.n_pending} results need a human rating (no automated method or validated judge fits)")
    return out
