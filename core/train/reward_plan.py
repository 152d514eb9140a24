"""Which GRPO rewards a run uses and what they need of the project, decided before the run and shown in
the plan, so the rewards score each row the way the evaluation will.

    plan = plan_rewards(project, backend="local")
    config["rewards"], config["reward_settings"] = plan.rewards, plan.settings
    print("\\n".join(plan.lines))

From the project: its task type and the evaluation's ``eval_method`` (which method scores each row:
core.train.rewards.row_method, the evaluation's hierarchy), its refusal rule (core.refusal.rule_for: the
approved refusal sentence), the label set of a classification task (the eval set's labels, as the
evaluation extracts them; else project.meta.labels; else the training references'), and a validated judge:
the newest completed evaluation whose judge passed validation, when the judge role still resolves to that
model with that prompt version and speaks the OpenAI wire format at an address the run can reach. Then
prose rows are graded by the judge (its key is read from the environment at run time, never written);
otherwise the plan says "no validated judge: prose answers are rewarded by overlap with the reference".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

REWARDS = ["format", "refusal", "correctness"]
NO_JUDGE = "no validated judge: prose answers are rewarded by overlap with the reference"
OPENAI_WIRE = ("openai", "hosted_vllm", "ollama", "ollama_chat")
LOCAL_HOSTS = ("localhost", "0.0.0.0", "::1", "host.docker.internal")
METHOD_NAMES = {"functional": "functional", "exact_match": "exact match", "llm_judge": "the validated judge",
                "overlap": "overlap with the reference"}


@dataclass
class RewardPlan:
    rewards: list[str]
    settings: dict[str, Any]  # the run config's reward_settings
    methods: dict[str, int] = field(default_factory=dict)  # training rows per correctness method
    judge_note: str = NO_JUDGE
    lines: list[str] = field(default_factory=list)  # for the plan text


# ---------------------------------------------------------------- the pieces


def training_rows(project: Any) -> list[dict[str, Any]]:
    """The GRPO training rows' prompt, reference and should_refuse (whatever of them the file has)."""
    import pyarrow.parquet as pq

    from core.generate import pipeline_state as ps

    path = project.path(ps.TRAIN_FILE)
    if not path.exists():
        return []
    names = set(pq.read_schema(path).names)
    wanted = [c for c in ("prompt", "reference", "should_refuse") if c in names]
    return pq.read_table(path, columns=wanted).to_pylist() if wanted else []


def labels_for(project: Any, rows: list[dict[str, Any]]) -> tuple[list[str], str]:
    """(label set, where it came from) of a classification project."""
    from core.evaluate.scorers_match import label_of
    from core.project import EVAL_SET

    if project.exists(EVAL_SET):
        from core.evaluate.scorers import classification_labels
        from core.extract.evalset import load_eval_set

        labels = classification_labels(load_eval_set(project))
        if labels:
            return labels, "the eval set"
    if project.meta.labels:
        return list(project.meta.labels), "project.toml"
    refs = {label_of(str(r.get("reference") or "")) for r in rows if not r.get("should_refuse")}
    return sorted(refs - {""}), "the training references"


def openai_endpoint(model: str, api_base: str | None) -> tuple[str, str] | None:
    """(API base, model name on the wire) where ``model`` speaks the OpenAI chat format, else None."""
    from core.llm.settings import provider_of

    provider = provider_of(model)
    name = model.split("/", 1)[1] if "/" in model else model
    if provider not in OPENAI_WIRE:
        return None
    if provider == "openai":
        return (api_base or "https://api.openai.com/v1").rstrip("/"), name
    if not api_base:
        return None
    base = api_base.rstrip("/")
    if provider.startswith("ollama") and not base.endswith("/v1"):
        base += "/v1"  # litellm's ollama base is the server root; its OpenAI-compatible API is under /v1
    return base, name


def _on_this_machine(api_base: str) -> bool:
    host = (urlparse(api_base).hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


def validated_judge(project: Any, backend: str) -> tuple[dict[str, Any] | None, str]:
    """(the judge spec for core.train.rewards.JudgeClient, or None; a sentence for the plan)."""
    from core import prompts
    from core.evaluate import evalfolder as ef
    from core.evaluate.judge import GRADE_TEMPLATES, MAX_TEXT, JudgeVerdict, build_rubric, expected_behaviour
    from core.llm.settings import key_env_for, resolve
    from core.llm.structured import response_format
    from core.models.knowledge import QualityCriteria
    from core.project import CRITERIA

    tried = [r for r in ef.list_evals(project, completed_only=True) if r.judge_status in ("validated", "failed")]
    if not tried or not tried[0].judge_usable or not tried[0].judge_model:
        return None, NO_JUDGE
    record = tried[0]
    chosen = (ef.read_toml_dict(project, record.eval_id, ef.JUDGE_SUMMARY) or {}).get("chosen") or {}
    role = chosen.get("role") or "judge"
    version = str(chosen.get("prompt_version") or "")
    template = version.split("@", 1)[0] or GRADE_TEMPLATES[0]
    why = f"the judge validated in evaluation {record.eval_id} ({record.judge_model})"
    if template not in GRADE_TEMPLATES or prompts.version(template) != version:
        return None, f"{why} used prompt {version or '(unknown)'}, which has changed since; {NO_JUDGE}"
    choice = resolve(role, project.meta.models)
    if choice is None or choice.model != record.judge_model:
        return None, (f"{why}: the {role} role is now {choice.model if choice else 'not configured'}; "
                      f"{NO_JUDGE}")
    endpoint = openai_endpoint(choice.model, choice.api_base)
    if endpoint is None:
        return None, f"{why} has no OpenAI-compatible endpoint for the training run to call; {NO_JUDGE}"
    api_base, name = endpoint
    if backend != "local" and _on_this_machine(api_base):
        return None, f"{why} is served on this machine ({api_base}), out of reach of a {backend} run; {NO_JUDGE}"
    evaluate = project.meta.config.evaluate
    rubric = build_rubric(project.read_or(CRITERIA, QualityCriteria), evaluate)
    keep = {k: "{{" + k + "}}" for k in ("input", "reference", "response", "expected_behaviour")}
    messages = prompts.render(template, task=project.meta.task or "(not given)", rubric=rubric.render(),
                              dimension_names=", ".join(d.name for d in rubric.dimensions), sample_note="", **keep)
    spec = {
        "model": name, "litellm_model": choice.model, "api_base": api_base, "key_env": key_env_for(choice.model),
        "role": role, "prompt_version": version, "validated_in": record.eval_id,
        "messages": messages,
        "expected_behaviour": {  # the judge's own sentence for an in-scope and an out-of-scope row
            "in_scope": expected_behaviour(SimpleNamespace(should_refuse=False, kind="common")),  # type: ignore
            "refuse": expected_behaviour(SimpleNamespace(should_refuse=True, kind="out_of_scope")),  # type: ignore
        },
        "response_format": response_format(JudgeVerdict),
        "weights": [[d.name, d.weight] for d in rubric.dimensions],
        "max_chars": MAX_TEXT,
    }
    return spec, (f"prose answers are graded by {why}, at {api_base} (one call per completion, key from "
                  f"${spec['key_env']} at run time)")


# ---------------------------------------------------------------- the plan


def plan_rewards(project: Any, backend: str = "local", rows: list[dict[str, Any]] | None = None,
                 num_generations: int = 4) -> RewardPlan:
    """The rewards of a GRPO run of ``project`` and the lines the plan shows about them."""
    from core.refusal import rule_for
    from core.train.rewards import DEFAULT_SETTINGS, completion_text, prompt_text, row_method

    rows = training_rows(project) if rows is None else rows
    task_type = project.meta.task_type
    settings: dict[str, Any] = {**DEFAULT_SETTINGS, "task_type": task_type,
                                "eval_method": project.meta.config.evaluate.eval_method,
                                "refusal_message": rule_for(project).message}
    label_note = ""
    if task_type == "classification":
        labels, source = labels_for(project, rows)
        settings["labels"], settings["single_label"] = labels, bool(labels)
        label_note = (f"labels from {source}: {', '.join(labels[:8])}{' …' if len(labels) > 8 else ''}; an "
                      f"answer must name exactly one of them" if labels else
                      "no label set found: labels are extracted from the answer's first line")
    judge, judge_note = validated_judge(project, backend)
    settings["judge"] = judge

    counts: Counter[str] = Counter()
    for r in rows:
        ref = completion_text(r.get("reference")).strip() if r.get("reference") is not None else ""
        if r.get("should_refuse"):
            counts["refusal rows (the refusal reward)"] += 1
        elif not ref:
            counts["no reference (no correctness signal)"] += 1
        else:
            method, kind = row_method(prompt_text(r.get("prompt")), ref, task_type, settings["eval_method"],
                                      judge is not None)
            counts[METHOD_NAMES[method] + (f" ({kind})" if kind else "")] += 1
    lines = [f"rewards   {', '.join(REWARDS)}: the evaluation's rules; refusal by the project's refusal rule "
             f"(an empty or declining in-scope answer earns 0)"]
    if counts:
        lines.append("          correctness per row, as the evaluation scores it: "
                     + ", ".join(f"{name} {n}" for name, n in counts.most_common()))
    if label_note:
        lines.append(f"          {label_note}")
    prose = counts.get(METHOD_NAMES["llm_judge"], 0) + counts.get(METHOD_NAMES["overlap"], 0)
    if judge is not None:
        lines.append(f"          {judge_note}; ~{prose * num_generations:,} judge calls per epoch")
    elif prose or not rows:
        lines.append(f"          {judge_note}")
    return RewardPlan(rewards=list(REWARDS), settings=settings, methods=dict(counts), judge_note=judge_note,
                      lines=lines)


def recorded(settings: dict[str, Any]) -> dict[str, Any]:
    """``reward_settings`` as run.toml records it: the judge by model, endpoint and validation, not its prompt."""
    out = dict(settings)
    judge = out.get("judge")
    if judge:
        out["judge"] = {k: judge[k] for k in ("litellm_model", "api_base", "key_env", "prompt_version",
                                              "validated_in") if judge.get(k) is not None}
    return out
