"""Skill 2's outputs: data/generation_report.toml, data/quality_log.parquet, data/dataset_card.md, and
the optional push of the dataset to the Hugging Face Hub.

``generation_report.toml`` holds a :class:`GenerationSummary`: the pilot's and the scale-up's
GenerationReport (pass rate per filter and per category, rejections by reason, diversity, tokens, $ cost
from the gateway's "generate" usage, timings, retries), the pilot spot-check, the TRL validation, the
split sizes and the scale-up's review sample.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from core import store
from core.generate import pipeline_state as ps
from core.models.config import Strict
from core.models.data import GenerationReport, QualityLogRow
from core.models.project import now
from core.project import Project


class PilotReviewSummary(Strict):
    round: int
    rated: int
    good: int
    good_rate: float
    approval_rate: float
    outcome: str  # approved | rejected | pending


class ValidationSummary(Strict):
    ok: bool
    format: str
    trainer: str
    columns: list[str] = Field(default_factory=list)
    rows: int = 0
    tokenizer: str | None = None
    errors: list[str] = Field(default_factory=list)
    note: str = ""


class GenerationSummary(Strict):
    illustration: bool | None = None  # true for an illustration project (core/illustration.py)
    model: str = ""
    strategy: str = ""
    strategy_reason: str = ""
    training_method: str = ""
    pilot: GenerationReport | None = None
    pilot_review: PilotReviewSummary | None = None
    scale: GenerationReport | None = None
    validation: ValidationSummary | None = None
    splits: dict[str, int] = Field(default_factory=dict)
    scale_review_sample: list[str] = Field(default_factory=list)
    eval_hash: str = ""
    updated_at: datetime | None = None


# ---------------------------------------------------------------- the report


def read_summary(project: Project) -> GenerationSummary:
    return project.read_or(ps.GENERATION_REPORT, GenerationSummary) or GenerationSummary()


def update_summary(project: Project, **fields: Any) -> GenerationSummary:
    """Set some fields of data/generation_report.toml (the rest kept) and write it atomically."""
    with project.writing():
        s = read_summary(project)
        run = project.read_or(ps.PILOT_RUN, ps.PilotRun)
        if run is not None:
            s.model, s.strategy, s.strategy_reason = run.model, run.strategy, run.strategy_reason
        s.training_method = project.meta.training_method
        for key, value in fields.items():
            if key == "validation" and value is not None and not isinstance(value, ValidationSummary):
                value = ValidationSummary(ok=value.ok, format=value.format, trainer=value.trainer,
                                          columns=list(value.columns), rows=value.rows, tokenizer=value.tokenizer,
                                          errors=list(value.errors), note=value.note)
            if key == "pilot":  # a new pilot: the review and the later results belong to the old one
                s.pilot_review = None
            setattr(s, key, value)
        from core import illustration

        s.illustration = illustration.flag(project)
        s.updated_at = now()
        project.write(ps.GENERATION_REPORT, s)
        return s


# ---------------------------------------------------------------- the quality log


def write_quality_log(project: Project, phase: str, rows: list[QualityLogRow]) -> None:
    """Replace ``phase``'s rows of data/quality_log.parquet with ``rows`` (one atomic write)."""
    with project.writing():
        old = project.read_rows(ps.QUALITY_LOG, QualityLogRow) if project.exists(ps.QUALITY_LOG) else []
        keep = [r for r in old if r.phase != phase]
        project.write_rows(ps.QUALITY_LOG, [*keep, *rows], QualityLogRow)


def scale_log_rows(project: Project) -> list[QualityLogRow]:
    """The quality-log rows of every part written so far (data/scale/log-NNNNN.parquet)."""
    folder = project.path(ps.SCALE_DIR)
    rows: list[QualityLogRow] = []
    for part in sorted(folder.glob(ps.PART_GLOB)) if folder.is_dir() else []:
        log = folder / part.name.replace("part-", "log-")
        if log.exists():
            rows.extend(store.read_parquet(log, QualityLogRow))
    return rows


# ---------------------------------------------------------------- the dataset card


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


TASK_CATEGORIES = {  # the Hub's task ids for each task type (any other type: text-generation)
    "classification": ["text-classification", "text-generation"],
    "transformation": ["text-generation", "text2text-generation"],
}

# `license: other` needs a name and a link on the Hub; the link is the card's own License section, which
# says what the name means (the card is README.md in data/training_dataset/ and in a pushed repo)
LICENSE_NAME = "tunesmith-synthetic"
LICENSE_LINK = "README.md#license"


def license_section(model: str) -> list[str]:
    """The card's License section: what ``tunesmith-synthetic`` means."""
    return ["## License", "",
            f"`{LICENSE_NAME}` is not a published license: it marks synthetic data that tunesmith generated for "
            f"this project with a language model (`{model}`) from the project's own expert interview, scope "
            "boundaries and taxonomy (tunesmith copies no third-party text into it). The project's owner sets "
            "the terms of reuse. Before publishing it or training a model others will use, check the terms of "
            "service of the provider of the generating model (some restrict using outputs to train other "
            "models).", ""]


def _pct(stats: Any) -> str:
    return f"{stats.pass_rate:.0%} ({stats.passed}/{stats.checked})"


def meta_notes(project: Project) -> list[str]:
    """The task type decision, as the card states it."""
    from core.task_type import describe

    return [f"Task type: {describe(project.meta)}"]


def card_text(project: Project, s: GenerationSummary) -> str:
    from huggingface_hub import DatasetCardData

    meta = project.meta
    method = meta.training_method
    total = sum(s.splits.values())
    data = DatasetCardData(
        language=["en"],
        license="other",
        license_name=LICENSE_NAME,
        license_link=LICENSE_LINK,
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        pretty_name=f"{meta.name} ({method.upper()} training data)",
        task_categories=TASK_CATEGORIES.get(meta.task_type, ["text-generation"]),
        size_categories=[_size_category(total)],
        tags=["synthetic", "tunesmith", "trl", method, meta.task_type.replace("_", "-")],
        configs=[{"config_name": "default", "data_files": [
            {"split": "train", "path": "train.parquet"},
            {"split": "validation", "path": "validation.parquet"}]}],
    )
    v, sc, pi, rv = s.validation, s.scale, s.pilot, s.pilot_review
    lines = [f"---\n{data.to_yaml()}\n---", "", f"# {meta.name}: {method.upper()} training data", "",
             "Synthetic training data generated with tunesmith from a domain expert's interview, approved scope "
             "boundaries and input taxonomy.", "", "## Task", "", meta.task, "",
             "## Format", ""]
    if v is not None:
        lines += [f"TRL {v.format.replace('_', ' ')} format for `{v.trainer}`: columns "
                  + ", ".join(f"`{c}`" for c in v.columns) + ". Every message is a `{role, content}` dict.",
                  "", f"Validation: {'passed' if v.ok else 'FAILED'}; "
                  + (f"the chat template of `{v.tokenizer}` was applied to all {v.rows} rows."
                     if v.tokenizer else f"the structure of all {v.rows} rows was checked ({v.note})."), ""]
    lines += ["```python", "from datasets import load_dataset",
              'ds = load_dataset("parquet", data_files={"train": "train.parquet", "validation": "validation.parquet"})',
              "```", "", "## Sizes", "", "| split | examples |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in s.splits.items()] + [f"| total | {total} |", ""]
    lines += ["## Generation", "", f"- Strategy: {s.strategy} — {s.strategy_reason}", f"- Model: `{s.model}`"]
    from core.refusal import rule_for
    from core.response_template import template_for

    template = template_for(project)
    if template is not None:
        lines += [f"- Response template ({template.reason}): " + "; ".join(
            f"{i}. {step}" for i, step in enumerate(template.steps, 1))]
    else:
        lines += ["- Response template: none (responses follow no framework template)"]
    lines += [f"- Refusals open with the project's refusal sentence or another refusal phrase: "
              f"\"{rule_for(project).message}\""]
    for note in meta_notes(project):
        lines += [f"- {note}"]
    if (s.scale or s.pilot) is not None and (s.scale or s.pilot).settings:
        lines += ["- Thresholds: " + "; ".join((s.scale or s.pilot).settings)]
    if sc is not None:
        tokens = sc.prompt_tokens + sc.completion_tokens
        lines += [f"- Scale-up: {sc.generated} generated and filtered ({sc.pass_rate:.0%} passed), {sc.kept} in the "
                  f"dataset; {tokens:,} tokens, ${sc.cost_usd:,.2f}, {sc.seconds / 60:.1f} min"]
        if sc.diversity_mean_similarity is not None:
            lines += [f"- Diversity: mean similarity to the nearest earlier kept example "
                      f"{sc.diversity_mean_similarity:.2f} (max {sc.diversity_max_similarity:.2f})"]
    if pi is not None:
        lines += [f"- Pilot: {pi.generated} generated, {pi.kept} kept ({pi.pass_rate:.0%}), {pi.retries} "
                  f"retr{'y' if pi.retries == 1 else 'ies'} with adjusted prompts"]
    if sc is not None and sc.planned_by_kind:
        lines += ["", "## Mix", "", "| kind | planned | kept |", "|---|---|---|"]
        lines += [f"| {k} | {n} | {sc.kept_by_kind.get(k, 0)} |" for k, n in sc.planned_by_kind.items()]
    rep = sc or pi
    if rep is not None and rep.rejected_strategies:
        total = sum(rep.rejected_strategies.values())
        lines += ["", "Rejected responses (DPO / KTO) were made by: " + ", ".join(
            f"{k} {n} ({n / total:.0%})" for k, n in rep.rejected_strategies.items()) + "."]
        lines += [f"The {k} strategy failed: {why}." for k, why in rep.failed_strategies.items()]
    if rep is not None and rep.notes:
        lines += ["", "## Warnings", ""] + [f"- {n}" for n in rep.notes]
    lines += ["", "## Quality filters", ""]
    if sc is not None and sc.filters:
        lines += ["| filter | pass rate |", "|---|---|"] + [f"| {k} | {_pct(f)} |" for k, f in sc.filters.items()]
        lines += [""]
        if sc.rejections_by_reason:
            top = sorted(sc.rejections_by_reason.items(), key=lambda kv: -kv[1])[:8]
            lines += ["Top rejection reasons: " + ", ".join(f"{k} ({n})" for k, n in top) + ".", ""]
        if sc.categories:
            lines += ["| category | pass rate |", "|---|---|"] + [f"| {k} | {_pct(c)} |"
                                                                   for k, c in sc.categories.items()] + [""]
    lines += ["## Pilot spot-check", ""]
    if rv is not None:
        lines += [f"Review round {rv.round}: {rv.good} of {rv.rated} pilot examples rated good by the domain expert "
                  f"({rv.good_rate:.0%}; approval needs more than {rv.approval_rate:.0%}): {rv.outcome}.", ""]
    else:
        lines += ["No spot-check recorded.", ""]
    lines += ["## Limitations", "",
              f"- Synthetic data: every example was written by a language model (`{s.model}`), not by people; it "
              "inherits that model's blind spots and style. Automated filters and a small expert spot-check are "
              "not a full review.",
              "- Language: assumed English; the card does not detect it.",
              "- Eval-set leakage: near-duplicates of the held-out eval set were rejected during generation, and "
              f"the final rows were re-checked against the frozen eval set (sha256 `{s.eval_hash[:12]}`).",
              "- Scope: the data follows the approved scope boundaries; inputs outside them are refusal examples.",
              ""]
    lines += license_section(s.model)
    return "\n".join(lines)


def write_dataset_card(project: Project, summary: GenerationSummary | None = None) -> str:
    """data/dataset_card.md, and the same text as data/training_dataset/README.md (the Hub's card)."""
    from core import illustration

    text = illustration.markdown(card_text(project, summary or read_summary(project)), project)
    store.atomic_write_text(project.path(ps.DATASET_CARD), text)
    store.atomic_write_text(project.path(ps.DATASET_DIR) / "README.md", text)
    return text


# ---------------------------------------------------------------- the Hub


def push_dataset(project: Project, repo_id: str, token: str | None = None, *, private: bool = True,
                 api: Any = None) -> str:
    """Upload data/training_dataset (Parquet splits + card) to a dataset repo; private by default. The token
    is passed to the Hub client only, never written anywhere. Returns the repo's URL."""
    from core.errors import BadInput, StageNotReady

    project.reload()
    if not project.meta.is_done("generate", "validated"):
        raise StageNotReady(f"the dataset is not finished and validated yet: tunesmith generate {project.slug} --scale")
    if "/" not in repo_id or repo_id.count("/") != 1:
        raise BadInput(f"repo id: must be 'namespace/name' (got {repo_id!r})")
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(project.path(ps.DATASET_DIR)), repo_id=repo_id, repo_type="dataset",
                      allow_patterns=["*.parquet", "README.md"],
                      commit_message=f"tunesmith: {project.meta.name} training data")
    return str(url) if url else f"https://huggingface.co/datasets/{repo_id}"
