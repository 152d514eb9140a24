"""`tunesmith export NAME`: every file the spec names, for all four skills, into ``exports/``.

    skill 1  knowledge_base.json  scope_boundaries.json  eval_set.json  input_taxonomy.json  quality_criteria.json
    skill 2  generation_report.json  quality_log.json  dataset_card.md
    skill 4  evaluation_report.md  deployment_decision.json  detailed_results.json  comparison_analysis.json
             spot_check_worksheet.md

Beside two of them, records that load as people load them (``datasets.load_dataset("json", ...)``,
``pandas.read_json(..., lines=True)``, inspect_ai's ``json_dataset``), one flat JSON object a line:

    eval_set.jsonl           one record per eval example: id, input, target (the reference), category,
                             difficulty, kind, should_refuse, rationale, provenance
    detailed_results.jsonl   one record per result row (an example x base/candidate): the example's fields,
                             the model's output, score (null while a human rating is pending), pending, ...

(The spec-named JSON files wrap their rows in an object with the totals, which those readers take for one row.)

(Skill 2's ``training_dataset/`` stays in data/training_dataset/ and skill 3's output is the model itself,
runs/<id>/model/ or the Hub repo: neither is a file to export.)

An illustration project (project.toml's ``illustration``, the shipped example) gets the mark of
:mod:`core.illustration` on every file, and ``ILLUSTRATION.md`` beside the JSONL records, which cannot carry
it; a real project gets neither.

Only files whose source exists are written; every other one is listed as skipped with the reason and
the command that makes its source. A source that exists but cannot be read (malformed, or a
``schema_version`` this tunesmith does not know) is never copied: it is listed in ``unreadable`` too,
and the command exits 1 naming it. A copy an earlier export left of a file that is skipped now is moved to
``exports/stale/`` (so exports/ holds only what matches the project; nothing is deleted), and removed from
there once the file is exported again. Skill 4's files come from the latest completed evaluation. JSON is
pretty-printed and written atomically; every string goes through :func:`core.llm.errors.scrub`, so no key
or token (none should be there) can leave the project.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from core import illustration, store
from core.errors import StoreError, TunesmithError
from core.evaluate import evalfolder as ef

EXPORTS = "exports"

SKILL_FILES: dict[str, tuple[str, ...]] = {
    "skill 1 (knowledge)": ("knowledge_base.json", "scope_boundaries.json", "eval_set.json", "input_taxonomy.json",
                            "quality_criteria.json"),
    "skill 2 (data)": ("generation_report.json", "quality_log.json", "dataset_card.md"),
    "skill 4 (evaluation)": ("evaluation_report.md", "deployment_decision.json", "detailed_results.json",
                             "comparison_analysis.json", "spot_check_worksheet.md"),
}
ALL_FILES: tuple[str, ...] = tuple(f for files in SKILL_FILES.values() for f in files)
# JSON Lines records written beside a spec-named file, from the same source (skipped when it is)
COMPANIONS: dict[str, str] = {"eval_set.json": "eval_set.jsonl", "detailed_results.json": "detailed_results.jsonl"}


@dataclass
class ExportResult:
    folder: Path
    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why
    # file name -> why its source exists but cannot be read (also in ``skipped``): the export is incomplete
    unreadable: dict[str, str] = field(default_factory=dict)
    # file name -> where the copy an earlier export left was moved (exports/stale/): it no longer matches
    stale: dict[str, Path] = field(default_factory=dict)
    eval_id: str | None = None


STALE = "stale"


def set_aside(folder: Path, name: str) -> Path:
    """Move a file an earlier export wrote, whose source is now gone or unreadable, to exports/stale/: a
    reader of exports/ never takes it for the project's current state, and nothing is lost."""
    target = folder / STALE / name
    target.parent.mkdir(parents=True, exist_ok=True)
    (folder / name).replace(target)
    return target


class Skip(Exception):
    """This export's source does not exist (the message says what makes it)."""


# ---------------------------------------------------------------- writing


def scrub_value(value: Any) -> Any:
    """Every string scrubbed of anything that looks like a key; NaN/inf (not JSON) become null / strings."""
    from core.llm.errors import scrub

    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(scrub_value(data), indent=2, ensure_ascii=False, allow_nan=False, default=str)
    store.atomic_write_text(path, text + "\n")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """One compact JSON object a line (JSON Lines), scrubbed like every export, written atomically."""
    lines = [json.dumps(scrub_value(r), ensure_ascii=False, allow_nan=False, default=str) for r in records]
    store.atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_text(path: Path, text: str) -> None:
    from core.llm.errors import scrub

    store.atomic_write_text(path, scrub(text))


# ---------------------------------------------------------------- skill 1


def _toml_model(project: Any, rel: str, model: type, hint: str) -> dict[str, Any]:
    if not project.exists(rel):
        raise Skip(f"{rel} does not exist yet ({hint})")
    from core.extract.strict import read_strict

    # strictly (every field there, no coercion): an export must not pass off a default as what a file says
    return {"schema_version": store.SCHEMA_VERSION, **read_strict(project, rel, model).model_dump(mode="json")}


def knowledge_base(project: Any) -> dict[str, Any]:
    from core.models.knowledge import KnowledgeBase
    from core.project import KNOWLEDGE_BASE

    data = _toml_model(project, KNOWLEDGE_BASE, KnowledgeBase, f"tunesmith boundaries {project.slug}")
    return {"project": project.meta.name, "task": project.meta.task, **data, "task_type": project.meta.task_type}


def scope_boundaries(project: Any) -> dict[str, Any]:
    from core.models.knowledge import ScopeBoundaries
    from core.project import BOUNDARIES

    return _toml_model(project, BOUNDARIES, ScopeBoundaries, f"tunesmith boundaries {project.slug}")


def input_taxonomy(project: Any) -> dict[str, Any]:
    from core.models.knowledge import InputTaxonomy
    from core.project import TAXONOMY

    return _toml_model(project, TAXONOMY, InputTaxonomy, f"tunesmith boundaries {project.slug}")


def quality_criteria(project: Any) -> dict[str, Any]:
    from core.models.knowledge import QualityCriteria
    from core.project import CRITERIA

    return _toml_model(project, CRITERIA, QualityCriteria, f"tunesmith boundaries {project.slug}")


def eval_set(project: Any) -> dict[str, Any]:
    from core.extract.evalset import load_eval_set, summary
    from core.models.knowledge import EvalReview
    from core.project import EVAL_REVIEW, EVAL_SET

    if not project.exists(EVAL_SET):
        raise Skip(f"{EVAL_SET} does not exist yet (tunesmith evalset {project.slug})")
    examples = load_eval_set(project)
    from core.extract.strict import read_strict_or

    review = read_strict_or(project, EVAL_REVIEW, EvalReview)
    in_scope = sum(not e.should_refuse for e in examples)
    return {
        "schema_version": store.SCHEMA_VERSION,
        "approved": bool(review and review.approved),
        "frozen_sha256": review.frozen_hash if review else None,
        "size": len(examples),
        "in_scope": in_scope,
        "out_of_scope": len(examples) - in_scope,
        "counts": summary(examples),
        "examples": [e.model_dump(mode="json") for e in examples],
    }


def eval_set_records(data: dict[str, Any]) -> list[dict[str, Any]]:
    """eval_set.jsonl: one flat record per example, ``target`` the reference (inspect_ai's and most eval
    harnesses' name for it)."""
    return [{"id": e["id"], "input": e["input"], "target": e["reference"], "category": e["category"],
             "difficulty": e["difficulty"], "kind": e["kind"], "should_refuse": bool(e.get("should_refuse")),
             "rationale": e.get("rationale", ""), "provenance": e.get("provenance", "")}
            for e in data["examples"]]


# ---------------------------------------------------------------- skill 2


def generation_report(project: Any) -> dict[str, Any]:
    from core.generate import pipeline_state as ps

    if not project.exists(ps.GENERATION_REPORT):
        raise Skip(f"{ps.GENERATION_REPORT} does not exist yet (tunesmith generate {project.slug} --scale)")
    path = project.path(ps.GENERATION_REPORT)
    data = store.load_toml_dict(path)
    # copied as it is, so it must be a version this tunesmith writes (a newer one could mean anything)
    store.check_schema_version(path, data.get("schema_version"))
    from core.extract.strict import validate_strict
    from core.generate.report import GenerationSummary
    from core.models.data import GenerationReport

    fields = {k: v for k, v in data.items() if k != "schema_version"}
    try:  # the summary of every phase, or (as a single phase leaves it) that phase's report
        validate_strict(path, fields, GenerationSummary)
    except StoreError:
        if "phase" not in fields:
            raise
        validate_strict(path, fields, GenerationReport)
    return data


def quality_log(project: Any) -> dict[str, Any]:
    from core.generate import pipeline_state as ps

    if not project.exists(ps.QUALITY_LOG):
        raise Skip(f"{ps.QUALITY_LOG} does not exist yet (tunesmith generate {project.slug} --pilot)")
    rows = store.read_parquet_rows(project.path(ps.QUALITY_LOG))
    by_filter: dict[str, dict[str, Any]] = {}
    for r in rows:
        f = by_filter.setdefault(str(r.get("filter")), {"checked": 0, "passed": 0, "failed": 0, "by_reason": {}})
        f["checked"] += 1
        if r.get("passed"):
            f["passed"] += 1
        else:
            f["failed"] += 1
            reason = str(r.get("reason_code") or "unspecified")
            f["by_reason"][reason] = f["by_reason"].get(reason, 0) + 1
    return {"schema_version": store.SCHEMA_VERSION, "rows": len(rows), "by_filter": by_filter, "log": rows}


def dataset_card(project: Any) -> str:
    from core.generate import pipeline_state as ps

    if not project.exists(ps.DATASET_CARD):
        raise Skip(f"{ps.DATASET_CARD} does not exist yet (tunesmith generate {project.slug} --scale)")
    return project.path(ps.DATASET_CARD).read_text(encoding="utf-8")


# ---------------------------------------------------------------- skill 4


class _Eval:
    """The latest completed evaluation's data, loaded once."""

    def __init__(self, project: Any):
        self.project = project
        self.eval_id = ef.latest_eval(project)
        self._loaded: tuple | None = None

    def need(self) -> str:
        if self.eval_id is None:
            raise Skip(f"no completed evaluation yet (tunesmith evaluate {self.project.slug})")
        return self.eval_id

    def loaded(self) -> tuple:
        if self._loaded is None:
            from core.evaluate.run import load_metrics

            self._loaded = load_metrics(self.project, self.need())
        return self._loaded


def _evaluation_report(ev: _Eval) -> str:
    eid = ev.need()
    p = ef.path(ev.project, eid, ef.REPORT)
    if not p.exists():
        raise Skip(f"evals/{eid}/{ef.REPORT} is missing (tunesmith decide {ev.project.slug})")
    return p.read_text(encoding="utf-8")


def _decision(ev: _Eval) -> dict[str, Any]:
    from core.evaluate.report import VERDICT

    eid = ev.need()
    decision = ef.read_decision(ev.project, eid)
    if decision is None:
        raise Skip(f"evaluation {eid} has no decision yet (tunesmith decide {ev.project.slug})")
    record = ef.read_record(ev.project, eid)
    return {
        "schema_version": store.SCHEMA_VERSION,
        "eval_id": eid,
        "recommendation": VERDICT[decision.verdict],
        "base_model": record.base.model,
        "candidate_model": record.candidate.model,
        "candidate_run": record.candidate.run_id,
        "reasoning": list(decision.rules_fired),
        **decision.model_dump(mode="json", exclude={"illustration"}),  # the mark goes first (core/illustration)
    }


def _detailed(ev: _Eval) -> dict[str, Any]:
    from core.evaluate.report import detailed_results

    record, _metrics, examples, results, pairwise = ev.loaded()
    return {"schema_version": store.SCHEMA_VERSION, "eval_id": record.eval_id, "base_model": record.base.model,
            "candidate_model": record.candidate.model, "examples": detailed_results(examples, results, pairwise)}


def _side_flags(flags: list[str], role: str) -> str:
    """The example's flags that are about ``role``'s output ("base: ..." / "candidate: ..."; the rest, a
    regression or a refusal wrongly given or not, are about the candidate), joined by "; "."""
    mine = []
    for flag in flags:
        who, sep, what = flag.partition(": ")
        if sep and who in ("base", "candidate"):
            if who == role:
                mine.append(what)
        elif role == "candidate":
            mine.append(flag)
    return "; ".join(mine)


def detailed_records(data: dict[str, Any], results: list[Any] | None = None) -> list[dict[str, Any]]:
    """detailed_results.jsonl: one flat record per result row (an example's base or candidate output), in the
    eval set's order, base first, from ``data`` (detailed_results.json's content). ``score`` and ``passed``
    are null while ``pending`` (a human rating is awaited), never 0, so a mean over the column is a mean over
    scored rows. Every record has the same keys: each judged dimension of ``results`` (the EvalResult rows) is
    a ``dim_<name>`` column, null where a row has none."""
    values: dict[tuple[str, str], dict[str, float]] = {}
    dims: list[str] = []
    for r in results or []:
        values[(r.example_id, r.model_role)] = {d.name: d.score for d in r.dimensions}
        dims += [d.name for d in r.dimensions if d.name not in dims]
    out = []
    for e in data["examples"]:
        pw = e.get("pairwise") or {}
        for role in ("base", "candidate"):
            side = e.get(role)
            if side is None:
                continue
            scores = values.get((e["id"], role), {})
            out.append({
                "id": f"{e['id']}:{role}", "example_id": e["id"], "eval_id": data["eval_id"], "model_role": role,
                "model": side["model"], "input": e["input"], "target": e["reference"], "category": e["category"],
                "difficulty": e["difficulty"], "kind": e["kind"], "should_refuse": bool(e["should_refuse"]),
                "output": side["output"], "score": side["score"], "passed": side["passed"],
                "pending": bool(side["pending"]), "refused": side["refused"], "method": side["method"],
                "judge_confidence": side["judge_confidence"], "flagged": bool(side["flagged"]),
                "detail": side["detail"], "delta": e.get("delta"), "flags": _side_flags(e.get("flags") or [], role),
                "pairwise_winner": pw.get("winner"),
                **{f"dim_{name}": scores.get(name) for name in dims},
            })
    return out


def _comparison(ev: _Eval) -> dict[str, Any]:
    from core.evaluate.report import comparison_analysis

    record, metrics, _examples, _results, pairwise = ev.loaded()
    spot = ef.read_spot_check(ev.project, record.eval_id)
    return {"schema_version": store.SCHEMA_VERSION,
            **comparison_analysis(metrics, record, spot=spot, pairwise=pairwise)}


def _worksheet(ev: _Eval) -> str:
    """Rendered afresh: the ratings recorded since the last evaluate/decide are ticked."""
    eid = ev.need()
    from core.evaluate import report as rp

    record, _metrics, examples, results, _pw = ev.loaded()
    src = rp.worksheet_items(ev.project, eid, examples, results)
    return rp.worksheet(ev.project.meta.name, ev.project.slug, record, examples, results, src.items, src.source)


# ---------------------------------------------------------------- export


def export(project: Any, progress: Callable[[str], None] | None = None) -> ExportResult:
    """Write every export whose source exists into ``exports/``; see the module docstring."""
    folder = project.folder / EXPORTS
    folder.mkdir(parents=True, exist_ok=True)
    ev = _Eval(project)
    result = ExportResult(folder, eval_id=ev.eval_id)
    makers: dict[str, Callable[[], Any]] = {
        "knowledge_base.json": lambda: knowledge_base(project),
        "scope_boundaries.json": lambda: scope_boundaries(project),
        "eval_set.json": lambda: eval_set(project),
        "input_taxonomy.json": lambda: input_taxonomy(project),
        "quality_criteria.json": lambda: quality_criteria(project),
        "generation_report.json": lambda: generation_report(project),
        "quality_log.json": lambda: quality_log(project),
        "dataset_card.md": lambda: dataset_card(project),
        "evaluation_report.md": lambda: _evaluation_report(ev),
        "deployment_decision.json": lambda: _decision(ev),
        "detailed_results.json": lambda: _detailed(ev),
        "comparison_analysis.json": lambda: _comparison(ev),
        "spot_check_worksheet.md": lambda: _worksheet(ev),
    }
    records_of: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
        "eval_set.json": eval_set_records,
        "detailed_results.json": lambda data: detailed_records(data, ev.loaded()[3]),
    }
    def skip(name: str, why: str, unreadable: bool = False) -> None:
        result.skipped[name] = why
        if unreadable:
            result.unreadable[name] = why
        for each in (name, COMPANIONS.get(name)):
            if each and (folder / each).is_file():
                result.stale[each] = set_aside(folder, each)

    with project.writing():
        for name in ALL_FILES:
            try:
                data = makers[name]()
            except Skip as why:
                skip(name, str(why))
                continue
            except StoreError as exc:  # one broken source must not stop the other exports
                skip(name, f"its source is unreadable: {exc}", unreadable=True)
                continue
            except OSError as exc:  # a text source that is a directory, unreadable, not UTF-8 ...
                why = exc.strerror or type(exc).__name__
                skip(name, f"its source is unreadable: {getattr(exc, 'filename', None) or name}: {why}", True)
                continue
            except UnicodeDecodeError as exc:
                skip(name, f"its source is unreadable: it is not UTF-8 text (byte {exc.start})", unreadable=True)
                continue
            except TunesmithError as exc:
                skip(name, str(exc))
                continue
            target = folder / name
            if name.endswith(".json"):
                write_json(target, illustration.json_doc(data, project))
            else:
                write_text(target, illustration.markdown(data, project))
            written = [target]
            if name in COMPANIONS:
                records = records_of[name](data)
                write_jsonl(folder / COMPANIONS[name], records)
                written.append(folder / COMPANIONS[name])
            for path in written:
                (folder / STALE / path.name).unlink(missing_ok=True)  # superseded by the current one
                result.written.append(path)
                if progress is not None:
                    progress(f"wrote {path}")
        note = folder / illustration.NOTE_FILE
        if illustration.reason_of(project) is not None:
            rows = sorted(p.name for p in folder.iterdir() if p.suffix in (".jsonl", ".parquet"))
            write_text(note, illustration.note_text(project, rows))
            result.written.append(note)
            if progress is not None:
                progress(f"wrote {note}")
        elif note.is_file():  # no longer an illustration: its note would say so of real files
            note.unlink()
    return result

