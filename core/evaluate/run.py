"""Skill 4's orchestration: evaluate base vs fine-tuned on the frozen eval set, then decide.

    outcome = evaluate(project, gateway, base=None, candidate=None, progress=print)   # evals/<id>/...
    decision = decide_now(project)                                                    # decision.toml + report

:func:`evaluate`:

1. checks the eval set is approved and unchanged since (``verify_frozen``) and resolves the two models
   (:func:`core.evaluate.inference.resolve_models`: by default the latest completed run vs its base model);
2. paraphrases (consistency): with an LLM (generator role), :data:`PARAPHRASES_PER_INPUT` rewrites of each of
   up to :data:`PARAPHRASE_SAMPLE` in-scope inputs (those an automated method can score first); offline this
   is skipped and noted;
3. inference of both models on the eval set and the paraphrases (cached per model under evals/cache/);
4. judge validation when an example needs the judge (no functional check or exact match fits it): the
   judge must pass :func:`validate_judge` before any judge score counts, on items that say the right thing
   in other words or look right and are wrong (human-confirmed labels of earlier evaluations first:
   :mod:`core.evaluate.human_labels`); rows and summary are saved. With
   no LLM configured validation is skipped and those examples wait for a human;
5. scoring of both models (the method hierarchy, per example), pairwise base-vs-candidate verdicts with
   position swap when the judge's pairwise verdicts were validated, and the metrics;
6. writes evals/<id>/ (see :mod:`core.evaluate.evalfolder`): results, judge validation, pairwise,
   paraphrases, metrics, comparison analysis, the spot-check worksheet and a preliminary report; marks the
   ``evaluated`` step (a new evaluation withdraws an earlier spot-check and decision step).

:func:`decide_now` recomputes the metrics from the saved rows (deterministic), reads the spot-check if
any, applies the decision rules and writes decision.toml, evaluation_report.md and the refreshed
comparison analysis and worksheet; it marks ``decided``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

from pydantic import BaseModel, Field

from core import prompts
from core.errors import TunesmithError
from core.evaluate import evalfolder as ef
from core.evaluate import report as rp
from core.evaluate.inference import DecodingParams, Inference, Item, items_hash, resolve_models
from core.models.knowledge import EvalExample
from core.models.runs import Decision, EvalResult

Progress = Callable[[str], None]
STAGE = "evaluate"
PARAPHRASE_SAMPLE = 10
PARAPHRASES_PER_INPUT = 2
PARAPHRASE_SEP = ef.PARAPHRASE_SEP

class Paraphrases(BaseModel):
    paraphrases: list[str] = Field(min_length=1, description="the rewrites of the message, each a complete user message",
                                   json_schema_extra={"items": {"type": "string", "minLength": 1}})


@dataclass
class EvalOutcome:
    eval_id: str
    folder: Path
    record: ef.EvalRecord
    metrics: Any  # MetricsReport
    judge_report: Any = None  # JudgeReport | None
    headline: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


def _counted(progress: Progress | None, label: str, unit: str, every_pct: float = 10.0):
    """An ``on_scored(done, total)`` saying "label: 12/40 unit · about 3 min left" (core.progress.Eta, the
    step's measured pace) at most once per ``every_pct`` percent, and at the end."""
    if progress is None:
        return None
    from core.progress import Eta

    eta = Eta(total=0)
    shown = [-100.0]

    def on_done(done: int, total: int) -> None:
        eta.update(done, total)
        pct = 100.0 * done / total if total else 100.0
        if pct - shown[0] >= every_pct or done >= total:
            shown[0] = pct
            progress(f"{label}: {eta.line(unit)}")

    return on_done


# ---------------------------------------------------------------- which examples need what


def needs_judge(example: EvalExample, task_type: str, config_method: str = "auto") -> bool:
    """Only a judge (or a human) can score this example: no functional check or exact match fits it."""
    from core.evaluate.scorers import choose_method

    with_judge = choose_method(example, task_type, config_method, judge_usable=True)
    without = choose_method(example, task_type, config_method, judge_usable=False)
    return with_judge == "llm_judge" and without == "human"


def paraphrase_sample(examples: Sequence[EvalExample], task_type: str, n: int, seed: str) -> list[EvalExample]:
    """Up to ``n`` in-scope examples, those an automated method scores first (their variance is
    measurable without a judge), in a seeded order."""
    from core.evaluate.scorers import choose_method

    rng = random.Random(seed)
    pool = [e for e in examples if not e.should_refuse and e.kind != "out_of_scope"]
    rng.shuffle(pool)
    pool.sort(key=lambda e: choose_method(e, task_type) == "human")
    return pool[:n]


async def _paraphrase_all(gateway: Any, sample: Sequence[EvalExample], k: int) -> tuple[dict[str, list[str]], int]:
    """{example id: up to k paraphrases}; the number of examples whose request failed."""
    import asyncio

    from core.llm.errors import BudgetExceeded, CircuitOpen, LLMError

    async def one(e: EvalExample) -> tuple[str, list[str] | None]:
        messages = prompts.render("evaluate_paraphrase", n=k, input=e.input)
        try:
            reply = await gateway.structured("generator", messages, Paraphrases, stage=STAGE, temperature=0.7)
        except (BudgetExceeded, CircuitOpen):
            raise
        except LLMError:
            return e.id, None
        seen = {e.input.strip().lower()}
        texts = []
        for t in reply.paraphrases:
            t = (t or "").strip()
            if t and t.lower() not in seen:
                seen.add(t.lower())
                texts.append(t)
        return e.id, texts[:k]

    got = await asyncio.gather(*(one(e) for e in sample))
    return {i: t for i, t in got if t}, sum(t is None for _, t in got)


def paraphrase_examples(examples: Sequence[EvalExample], paras: dict[str, list[str]]) -> list[EvalExample]:
    by_id = {e.id: e for e in examples}
    out = []
    for eid, texts in paras.items():
        for j, text in enumerate(texts, 1):
            out.append(by_id[eid].model_copy(update={"id": f"{eid}{PARAPHRASE_SEP}{j}", "input": text,
                                                     "provenance": f"paraphrase {j} of {eid}"}))
    return out


def paraphrase_groups(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r.get("model_role") == "candidate":
            groups.setdefault(r["group"], [r["group"]]).append(r["example_id"])
    return groups


# ---------------------------------------------------------------- metrics from saved rows


def _pairwise_objects(rows: Sequence[dict[str, Any]]) -> list[Any]:
    from core.evaluate.judge import PairwiseResult

    return [PairwiseResult(str(r["example_id"]), str(r["winner"]), float(r.get("confidence") or 0.0),
                           bool(r.get("consistent")), tuple(r.get("orders") or ("tie", "tie")), [],  # type: ignore[arg-type]
                           str(r.get("reason") or "")) for r in rows]


def _read_rows(project: Any, eval_id: str, name: str) -> list[dict[str, Any]]:
    from core import store

    p = ef.path(project, eval_id, name)
    return store.read_parquet_rows(p) if p.exists() else []


def _para_results(rows: Sequence[dict[str, Any]], role: str) -> list[EvalResult]:
    out = []
    for r in rows:
        if r.get("model_role") != role:
            continue
        data = {k: v for k, v in r.items() if k not in ("group", "input")}
        out.append(EvalResult.model_validate(data))
    return out


def compute(project: Any, record: ef.EvalRecord, examples: Sequence[EvalExample], results: Sequence[EvalResult],
            pairwise_rows: Sequence[dict[str, Any]], para_rows: Sequence[dict[str, Any]]) -> Any:
    """The MetricsReport of an evaluation (the same numbers at evaluate and at decide time)."""
    from core.evaluate.metrics import compute_metrics

    base = [r for r in results if r.model_role == "base"] + _para_results(para_rows, "base")
    cand = [r for r in results if r.model_role == "candidate"] + _para_results(para_rows, "candidate")
    return compute_metrics(
        examples, base, cand, task_type=record.task_type, judge_usable=record.judge_usable,
        pairwise=_pairwise_objects(pairwise_rows) if pairwise_rows else None,
        pairwise_usable=record.judge_pairwise_usable,
        paraphrase_groups=paraphrase_groups(para_rows) or None,
        config=project.meta.config.evaluate,
    )


def load_metrics(project: Any, eval_id: str | None = None) -> tuple[ef.EvalRecord, Any, list[EvalExample],
                                                                       list[EvalResult], list[dict[str, Any]]]:
    """(record, metrics, examples, results, pairwise rows) of a completed evaluation."""
    from core.extract.evalset import load_eval_set
    from core.extract.review import EvalSetChanged, eval_set_hash

    eval_id = ef.require_eval(project, eval_id)
    record = ef.read_record(project, eval_id)
    now_hash = eval_set_hash(project)
    if now_hash != record.eval_set_hash:
        raise EvalSetChanged(f"the eval set changed after evaluation {eval_id} (sha256 {record.eval_set_hash[:12]}… "
                             f"then, {now_hash[:12]}… now): evaluate again: tunesmith evaluate {project.slug}")
    examples = load_eval_set(project)
    results = ef.read_results(project, eval_id)
    pairwise_rows = _read_rows(project, eval_id, ef.PAIRWISE)
    para_rows = _read_rows(project, eval_id, ef.PARAPHRASES)
    metrics = compute(project, record, examples, results, pairwise_rows, para_rows)
    return record, metrics, examples, results, pairwise_rows


# ---------------------------------------------------------------- evaluate


def evaluate(project: Any, gateway: Any = None, *, base: str | None = None, candidate: str | None = None,
             progress: Progress | None = None, params: DecodingParams | None = None,
             paraphrase_n: int = PARAPHRASE_SAMPLE) -> EvalOutcome:
    """Evaluate base vs candidate on the frozen eval set; see the module docstring."""
    from core.extract.evalset import default_gateway, load_eval_set
    from core.extract.review import verify_frozen

    frozen = verify_frozen(project)
    examples = load_eval_set(project)
    base_ref, cand_ref = resolve_models(project, base, candidate)
    params = params or DecodingParams()
    cfg = project.meta.config.evaluate
    task_type = project.meta.task_type
    eval_id = ef.new_eval_id()
    record = ef.EvalRecord(eval_id=eval_id, created_at=datetime.now(timezone.utc), eval_set_hash=frozen,
                           n_examples=len(examples), base=base_ref, candidate=cand_ref,
                           decoding={"max_new_tokens": params.max_new_tokens, "temperature": params.temperature,
                                     **({"top_p": params.top_p, "seed": params.seed} if params.temperature > 0
                                        else {})},
                           task_type=task_type, **ef.owner_fields())
    ef.write_record(project, record)
    _say(progress, f"evaluation {eval_id}: base {base_ref.model} vs candidate {cand_ref.model} "
                   f"on {len(examples)} examples")
    own = gateway is None
    gw = default_gateway(project) if own else gateway
    try:
        outcome = _evaluate(project, gw, record, examples, params, cfg, task_type, progress, paraphrase_n)
    except BaseException as exc:
        record.status = "failed"
        record.finished_at = datetime.now(timezone.utc)
        record.failure_reason = (str(exc) or exc.__class__.__name__)[:500] if not isinstance(exc, KeyboardInterrupt) \
            else "interrupted"
        try:
            ef.write_record(project, record)
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise
    finally:
        if own:
            gw.close()
    return outcome


def _evaluate(project: Any, gw: Any, record: ef.EvalRecord, examples: list[EvalExample], params: DecodingParams,
              cfg: Any, task_type: str, progress: Progress | None, paraphrase_n: int) -> EvalOutcome:
    from core.evaluate.judge import compare_all
    from core.evaluate.judge_validation import validate_judge
    from core.evaluate.scorers import score_all
    from core.llm.gateway import run_sync
    from core.models.knowledge import QualityCriteria
    from core.project import CRITERIA

    eval_id = record.eval_id
    has_generator = gw.configured("generator")
    has_judge = gw.configured("judge") or has_generator
    from core.llm.roles import same_model_notes
    from core.evaluate.method_check import check_methods

    record.notes.extend(same_model_notes(project.meta.models, ("judge",)))
    record.notes.extend(check_methods(project, examples).warnings)

    # 2. paraphrases
    paras: dict[str, list[str]] = {}
    if paraphrase_n > 0 and has_generator:
        sample = paraphrase_sample(examples, task_type, paraphrase_n, record.eval_set_hash)
        if sample:
            _say(progress, f"writing {PARAPHRASES_PER_INPUT} paraphrases of {len(sample)} inputs (consistency)")
            paras, failed = run_sync(_paraphrase_all(gw, sample, PARAPHRASES_PER_INPUT))
            if failed:
                record.notes.append(f"paraphrases: {failed} of {len(sample)} requests failed; consistency is "
                                    f"measured on the rest")
    elif paraphrase_n > 0:
        record.notes.append("consistency not measured: paraphrases are written by an LLM (generator role) and "
                            "none is configured")
    para_examples = paraphrase_examples(examples, paras)
    record.paraphrase_groups = len(paras)

    # 3. inference
    items = [Item(e.id, e.input) for e in examples]
    para_items = [Item(e.id, e.input) for e in para_examples]
    outputs: dict[str, dict[str, str]] = {}
    para_outputs: dict[str, dict[str, str]] = {}
    for role, ref in (("base", record.base), ("candidate", record.candidate)):
        inf = Inference(ref, params, project=project, gateway=gw, progress=progress)
        try:
            outputs[role] = inf.outputs(items, record.eval_set_hash, label=role)
            para_outputs[role] = inf.outputs(para_items, items_hash(para_items), label=f"{role} paraphrases") \
                if para_items else {}
        finally:
            inf.close()

    # 4. the judge, only when needed
    judge_report = None
    judge = None
    need = [e for e in examples if needs_judge(e, task_type, cfg.eval_method)]
    if not need:
        record.judge_status = "not_needed"
    elif not has_judge:
        record.judge_status = "no_llm"
        record.judge_reason = (f"{len(need)} examples need an LLM judge and no LLM is configured: they wait for a "
                               f"human rating")
        record.notes.append(record.judge_reason)
    else:
        criteria = project.read_or(CRITERIA, QualityCriteria)
        _say(progress, f"{len(need)} examples need the judge: validating it on {cfg.judge_validation_size} items "
                       f"of known quality")
        from core.evaluate.judge import structure_of
        from core.response_template import template_for

        from core.evaluate.human_labels import collect as human_labels
        from core.refusal import rule_for

        judge_report = run_sync(validate_judge(gw, examples, criteria, cfg, task=project.meta.task,
                                               pairwise=cfg.compare_pairs,
                                               structure=structure_of(template_for(project)),
                                               human=human_labels(project, examples),
                                               prefer={e.id for e in need}, rule=rule_for(project)))
        if getattr(judge_report, "items", None) is not None:
            record.notes.extend(judge_report.items.notes)
        from core import store

        with project.writing():
            store.write_parquet(ef.path(project, eval_id, ef.JUDGE_VALIDATION), judge_report.rows)
        ef.write_toml_dict(project, eval_id, ef.JUDGE_SUMMARY, judge_report.summary())
        record.judge_usable = bool(judge_report.usable)
        record.judge_pairwise_usable = bool(judge_report.pairwise_usable)
        record.judge_reason = judge_report.reason
        record.judge_status = "validated" if judge_report.usable else "failed"
        if judge_report.usable:
            judge = judge_report.judge
            record.judge_model = judge.model
            _say(progress, f"judge validated: {judge_report.reason}")
        else:
            _say(progress, f"judge not used: {judge_report.reason}")

    # 5. scoring, pairwise, metrics
    _say(progress, "scoring")
    results: list[EvalResult] = []
    para_rows: list[dict[str, Any]] = []
    from core.refusal import rule_for

    shared = {"task_type": task_type, "config": cfg, "judge": judge, "rule": rule_for(project),
              "labels": list(project.meta.labels) or None}
    for role, ref in (("base", record.base), ("candidate", record.candidate)):
        shown = ef.portable_model(project, ref)  # results name a model in the project relative to it
        on_scored = _counted(progress, f"scoring {role}" + (" (judge)" if judge is not None else ""), "outputs")
        rows = run_sync(score_all(examples, outputs[role], model_role=role, model=shown,  # type: ignore[arg-type]
                                  on_scored=on_scored, **shared))
        results.extend(rows)
        if para_examples:
            prow = run_sync(score_all(para_examples, para_outputs[role], model_role=role,  # type: ignore[arg-type]
                                      model=shown, **shared))
            for r in prow:
                group = r.example_id.rsplit(PARAPHRASE_SEP, 1)[0]
                src = next(e for e in para_examples if e.id == r.example_id)
                para_rows.append({"group": group, "input": src.input, **r.model_dump(mode="json")})
    pairwise_rows: list[dict[str, Any]] = []
    if judge is not None and record.judge_pairwise_usable and cfg.compare_pairs:
        todo = [e for e in examples if needs_judge(e, task_type, cfg.eval_method)]
        if todo:
            _say(progress, f"pairwise comparison (both orders) on {len(todo)} examples")
            pairwise_rows = [r.to_dict() for r in run_sync(compare_all(judge, todo, outputs["base"],
                                                                       outputs["candidate"]))]

    from core import store

    ef.write_results(project, eval_id, results)
    with project.writing():
        if pairwise_rows:
            store.write_parquet(ef.path(project, eval_id, ef.PAIRWISE), pairwise_rows)
        if para_rows:
            store.write_parquet(ef.path(project, eval_id, ef.PARAPHRASES), para_rows)
    metrics = compute(project, record, examples, results, pairwise_rows, para_rows)
    ef.write_json(project, eval_id, ef.METRICS, metrics.to_dict())
    ef.write_toml_dict(project, eval_id, ef.COMPARISON,
                       rp.comparison_analysis(metrics, ef.portable_record(project, record), pairwise=pairwise_rows))
    record.status = "completed"
    record.finished_at = datetime.now(timezone.utc)
    ef.write_record(project, record)
    _write_worksheet(project, record, examples, results)
    _write_report(project, record, metrics, None)
    with project.writing():
        project.reload()
        for step in ("spot_checked", "decided"):  # they were about an earlier evaluation
            if project.meta.is_done(STAGE, step):
                project.mark(STAGE, step, done=False)
        project.mark(STAGE, "evaluated")
    folder = ef.eval_dir(project, eval_id)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    _say(progress, f"evaluation {eval_id} done")
    return EvalOutcome(eval_id, folder, record, metrics, judge_report, rp.headline(metrics), files)


# ---------------------------------------------------------------- files


def _write_worksheet(project: Any, record: ef.EvalRecord, examples: Sequence[EvalExample],
                     results: Sequence[EvalResult]) -> None:
    from core import store

    src = rp.worksheet_items(project, record.eval_id, examples, results)
    text = rp.worksheet(project.meta.name, project.slug, ef.portable_record(project, record), examples, results,
                        src.items, src.source)
    from core import illustration

    text = illustration.markdown(text, project)
    with project.writing():
        store.atomic_write_text(ef.path(project, record.eval_id, ef.WORKSHEET), text)


def _agreement_line(project: Any, eval_id: str) -> str | None:
    try:
        from core.evaluate import spot_check
    except ImportError:
        return None
    try:
        saved = spot_check.read_agreement(project, eval_id)
        return spot_check.agreement_line(saved) if saved else None
    except (AttributeError, TunesmithError):
        return None


def _write_report(project: Any, record: ef.EvalRecord, metrics: Any, decision: Decision | None) -> str:
    from core import store

    text = rp.render_report(
        project_name=project.meta.name, slug=project.slug, record=ef.portable_record(project, record),
        metrics=metrics, decision=decision,
        spot=ef.read_spot_check(project, record.eval_id),
        judge=ef.read_toml_dict(project, record.eval_id, ef.JUDGE_SUMMARY),
        agreement=_agreement_line(project, record.eval_id), config=project.meta.config.evaluate,
    )
    from core import illustration

    text = illustration.markdown(text, project)
    with project.writing():
        store.atomic_write_text(ef.path(project, record.eval_id, ef.REPORT), text)
    return text


# ---------------------------------------------------------------- decide


def judge_report_of(record: ef.EvalRecord) -> Any:
    """What :func:`core.evaluate.decision.decide` needs of the judge report (None: no judge was tried)."""
    if record.judge_status not in ("validated", "failed"):
        return None
    return SimpleNamespace(usable=bool(record.judge_usable), reason=record.judge_reason)


def decide_now(project: Any, eval_id: str | None = None, *, now: datetime | None = None) -> Decision:
    """The deployment decision of an evaluation (the latest completed one by default): writes
    decision.toml, evaluation_report.md, comparison_analysis.toml and the worksheet; marks ``decided``."""
    from core.evaluate.decision import decide
    from core.models.knowledge import ScopeBoundaries
    from core.project import BOUNDARIES

    record, metrics, examples, results, pairwise_rows = load_metrics(project, eval_id)
    spot = ef.read_spot_check(project, record.eval_id)
    decision = decide(metrics, project.meta.config.evaluate, spot_check=spot, judge_report=judge_report_of(record),
                      examples=examples, boundaries=project.read_or(BOUNDARIES, ScopeBoundaries),
                      project=project.slug, now=now)
    ef.write_decision(project, record.eval_id, decision)
    ef.write_toml_dict(project, record.eval_id, ef.COMPARISON,
                       rp.comparison_analysis(metrics, ef.portable_record(project, record), spot=spot,
                                              pairwise=pairwise_rows))
    _write_worksheet(project, record, examples, results)
    _write_report(project, record, metrics, decision)
    if ef.latest_eval(project) == record.eval_id:
        project.mark(STAGE, "decided")
    return decision
