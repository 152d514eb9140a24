"""`tunesmith evaluate NAME [--base M] [--candidate RUN|M] [--base-api-base URL] [--candidate-api-base URL]`,
`tunesmith decide NAME`, `tunesmith export NAME`. The model forms ``M`` may take: :data:`MODEL_FORMS`
(core.evaluate.inference describes each)."""

from __future__ import annotations

import argparse
import sys

from core.commands import jsonout
from core.commands.jsonout import add_flag
from core.errors import BadInput
from core.project import Project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="evaluate the fine-tuned model against its base on the frozen eval set",
        description="Evaluate the fine-tuned model (the candidate) against its base on the frozen eval set.",
        epilog=MODEL_FORMS, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--base", metavar="M", help="the base model, any model form below (default: the candidate run's "
                                               "base model, else config.train.base_model)")
    p.add_argument("--candidate", metavar="RUN|M", help="a training run id (or part of one, or 'latest') or any "
                                                        "model form below (default: the latest completed run)")
    p.add_argument("--base-api-base", metavar="URL", help="serve --base from this OpenAI-compatible server "
                                                          "(same as --base openai:M@URL)")
    p.add_argument("--candidate-api-base", metavar="URL", help="serve --candidate from this OpenAI-compatible "
                                                               "server (same as --candidate openai:M@URL)")
    p.add_argument("--max-new-tokens", type=int, default=256, metavar="N",
                   help="longest output generated per example (default 256)")
    p.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (default)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="local inference batch size (default 8)")
    p.add_argument("--summary", action="store_true",
                   help="evaluate nothing: show the summary of a completed evaluation (the latest, or --eval ID)")
    p.add_argument("--eval", dest="eval_id", metavar="ID", help="with --summary: an evaluation id (default: the latest)")
    add_flag(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("decide", help="the deployment decision (DEPLOY / REVIEW / ITERATE) of the latest evaluation")
    p.add_argument("name")
    p.add_argument("--eval", dest="eval_id", metavar="ID", help="an evaluation id (default: the latest)")
    add_flag(p)
    p.set_defaults(func=cmd_decide)

    p = sub.add_parser("export", help="write every file the spec names, for all four skills, into exports/")
    p.add_argument("name")
    p.set_defaults(func=cmd_export)


MODEL_FORMS = """\
model forms (--base M, --candidate M):
  ./path/to/folder              a local model folder (transformers); a LoRA adapter folder loads on its base
  RUN                           a training run id, part of one, or 'latest': its runs/<id>/model, or the
                                Hub model it pushed (HF Jobs)
  org/name, hf:org/name[@rev]   a Hugging Face Hub model, run here with transformers: taken from the
                                Hugging Face cache, else downloaded (needs the network; HF_TOKEN for a
                                gated or private model); hf: when the org is also a provider name
                                (hf:openai/gpt-oss-20b)
  openai:MODEL@URL              a model served by an OpenAI-compatible server (vLLM, Ollama, llama.cpp,
                                LM Studio), e.g. openai:qwen2.5:0.5b@http://localhost:11434/v1; the key, if
                                any, from OPENAI_API_KEY (never stored)
  litellm:MODEL[@URL]           any litellm model string, e.g. litellm:hosted_vllm/my-model@http://gpu:8000/v1
                                or litellm:anthropic/claude-sonnet-4-5
  provider/model[@URL]          the same for a litellm provider prefix (openai/, anthropic/, ollama/, ...)

A served model without a URL uses TUNESMITH_EVAL_API_BASE, else [models].api_base, else TUNESMITH_API_BASE;
TUNESMITH_EVAL_CONCURRENCY (default 8) caps the requests sent at once. Offline (HF_HUB_OFFLINE=1 or no
network) a Hub model must already be in the Hugging Face cache: `hf download org/name` on a machine with
network and copy ~/.cache/huggingface/hub, or pass a local folder."""


def cmd_evaluate(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)
    if getattr(args, "summary", False):
        return _summary(args, as_json)
    if getattr(args, "eval_id", None):
        raise BadInput("--eval: only with --summary (a new evaluation gets a new id)")
    if args.max_new_tokens < 1:
        raise BadInput("--max-new-tokens: must be at least 1")
    if args.temperature < 0:
        raise BadInput("--temperature: must be 0 (greedy) or more")
    if args.batch_size < 1:
        raise BadInput("--batch-size: must be at least 1")
    project = Project.open(args.name)
    from core.evaluate.inference import DecodingParams, with_api_base
    from core.evaluate.run import evaluate

    base = with_api_base(args.base, args.base_api_base, "--base-api-base", project)
    candidate = with_api_base(args.candidate, args.candidate_api_base, "--candidate-api-base", project)
    params = DecodingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            batch_size=args.batch_size)
    with jsonout.human_to_stderr(as_json):
        from core.progress import line_printer

        outcome = evaluate(project, None, base=base, candidate=candidate, progress=line_printer(sys.stdout),
                           params=params)
    if as_json:
        jsonout.emit(evaluation_json(project, outcome.record, outcome.metrics, outcome.headline, outcome.folder,
                                     outcome.files))
        return 0
    print()
    _print_summary(project, outcome.record, outcome.headline, outcome.folder, outcome.files)
    return 0


def _summary(args: argparse.Namespace, as_json: bool) -> int:
    """`evaluate NAME --summary [--eval ID]`: the summary of a completed evaluation, nothing run."""
    project = Project.open(args.name)
    from core.evaluate import evalfolder as ef
    from core.evaluate.report import headline
    from core.evaluate.run import load_metrics

    with jsonout.human_to_stderr(as_json):
        record, metrics, _examples, _results, _pairwise = load_metrics(project, args.eval_id)
        folder = ef.eval_dir(project, record.eval_id)
        files = sorted(p for p in folder.iterdir() if p.is_file())
        lines = headline(metrics)
    if as_json:
        jsonout.emit(evaluation_json(project, record, metrics, lines, folder, files))
        return 0
    _print_summary(project, record, lines, folder, files)
    return 0


def _judge_text(rec) -> str:
    return {"not_needed": "not needed (every example has a functional check or exact match)",
            "no_llm": "not used: no LLM configured",
            "failed": "not used: failed validation",
            "validated": f"validated ({rec.judge_model})"}.get(rec.judge_status, rec.judge_status)


def _print_summary(project: Project, rec, lines, folder, files) -> None:
    print(f"evaluation {rec.eval_id}: candidate {rec.candidate.model}"
          + (f" (run {rec.candidate.run_id})" if rec.candidate.run_id else "") + f" vs base {rec.base.model}")
    for line in lines:
        print(f"  {line}")
    print(f"  judge: {_judge_text(rec)}")
    for note in rec.notes:
        if note != rec.judge_reason:
            print(f"  note: {note}")
    print(f"files: {folder}/ ({', '.join(p.name for p in files)})")
    print(f"next: spot-check the outputs: tunesmith spot-check {project.slug}; then tunesmith decide {project.slug}")


def _model_json(ref) -> dict:
    return {"spec": ref.spec, "kind": ref.kind, "model": ref.model, "run_id": ref.run_id,
            "adapter_base": ref.adapter_base, "api_base": ref.api_base}


def evaluation_json(project: Project, rec, metrics, lines, folder, files) -> dict:
    """The `evaluate --json` document (docs/json.md)."""
    m = metrics
    st = m.stats
    r = m.refusal
    return jsonout.document(
        "evaluate", project=project.slug, eval_id=rec.eval_id, status=rec.status,
        created_at=rec.created_at, finished_at=rec.finished_at,
        base=_model_json(rec.base), candidate=_model_json(rec.candidate),
        n_examples=m.n_examples, n_paired=m.n_paired, n_pending=m.n_pending, n_judge_excluded=m.n_judge_excluded,
        base_score=m.base_overall, candidate_score=m.candidate_overall,
        improvement=m.improvement_abs, improvement_relative=m.improvement_rel,
        base_pass_rate=m.base_pass_rate, candidate_pass_rate=m.candidate_pass_rate,
        better=m.better, worse=m.worse, same=m.same,
        p_value=st.p_value if st is not None else None,
        test=st.primary_test if st is not None else None,
        ci_low=st.ci_low if st is not None else None, ci_high=st.ci_high if st is not None else None,
        refusal_accuracy=r.candidate_accuracy, base_refusal_accuracy=r.base_accuracy,
        n_should_refuse=r.n_should_refuse, leaked=list(r.leaked),
        judge_status=rec.judge_status, judge_model=rec.judge_model, judge_usable=rec.judge_usable,
        notes=[n for n in rec.notes if n != rec.judge_reason], headline=list(lines),
        folder=str(folder), files=[p.name for p in files],
    )


def cmd_decide(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    from core.evaluate import evalfolder as ef
    from core.evaluate.decision import ICON
    from core.evaluate.report import VERDICT
    from core.evaluate.run import decide_now

    with jsonout.human_to_stderr(getattr(args, "json", False)):  # stdout: only the document
        decision = decide_now(project, args.eval_id)
        eval_id = ef.require_eval(project, args.eval_id)
    if getattr(args, "json", False):
        d = decision
        jsonout.emit(jsonout.document(
            "decide", project=project.slug, eval_id=eval_id, verdict=d.verdict, weighted_score=d.weighted_score,
            reasons=d.reasons, passed_checks=d.passed_checks, details=d.details, next_steps=d.next_steps,
            rules_fired=d.rules_fired, improvement=d.improvement, improvement_relative=d.improvement_relative,
            improvement_unit=d.improvement_unit, p_value=d.p_value, refusal_accuracy=d.refusal_accuracy,
            concerning=d.concerning, pending=d.pending, dimensions=d.dimensions,
            missing_dimensions=d.missing_dimensions, missing_why=d.missing_why, weight_covered=d.weight_covered,
            judge_usable=d.judge_usable, decided_at=d.decided_at,
            files={"decision": ef.path(project, eval_id, ef.DECISION), "report": ef.path(project, eval_id, ef.REPORT)}))
        return 0
    print(f"{ICON[decision.verdict]} {VERDICT[decision.verdict]}  (weighted score {decision.weighted_score:.2f}; "
          f"evaluation {eval_id})")
    if decision.pending:
        print(f"pending: {', '.join(decision.pending)}")
    print("rules that fired:")
    for rule in decision.rules_fired:
        print(f"  - {rule}")
    if decision.next_steps:
        print("next steps:")
        for i, step in enumerate(decision.next_steps, 1):
            print(f"  {i}. {step}")
    print(f"files: {ef.path(project, eval_id, ef.DECISION)}, {ef.path(project, eval_id, ef.REPORT)}")
    print(f"export everything: tunesmith export {project.slug}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    from core.evaluate.export import export

    result = export(project)
    for path in result.written:
        print(f"wrote {path}")
    for name, why in result.skipped.items():
        print(f"skipped {name}: {why}")
    for name, where in result.stale.items():
        print(f"moved the earlier {name} to {where}: it no longer matches the project")
    print(f"{len(result.written)} files in {result.folder}"
          + (f" (evaluation {result.eval_id})" if result.eval_id else "")
          + (f"; {len(result.skipped)} skipped" if result.skipped else ""))
    for name, why in result.unreadable.items():
        print(f"tunesmith export: {name} not exported: {why}", file=sys.stderr)
    if not result.written:
        print(f"tunesmith export: nothing to export yet for {project.slug}", file=sys.stderr)
        return 1
    return 1 if result.unreadable else 0
