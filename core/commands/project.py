"""`tunesmith new`, `list`, `status`."""

from __future__ import annotations

import argparse
import json

from core.models.config import TASK_TYPES, TRAINING_METHODS
from core.models.presets import DEFAULT_PRESET, PRESETS
from core.models.project import STAGE_STEPS, STAGES
from core.project import Project, list_projects
from core.task_type import describe


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="create a project")
    p.add_argument("name")
    p.add_argument("--task", required=True, help="what the model should do, in a sentence or two")
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--method", choices=TRAINING_METHODS, help="training method (default: the preset's)")
    p.add_argument("--task-type", choices=TASK_TYPES,
                   help="task type (default: inferred from the task text, by the model when one is configured)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("task-type", help="show or change a project's task type (and its labels)")
    p.add_argument("name")
    p.add_argument("type", nargs="?", choices=TASK_TYPES, help="the new task type (omit to show it)")
    p.add_argument("--labels", help="classification: the closed set of labels, comma-separated")
    p.add_argument("--reason", default="", help="why (kept with the choice)")
    p.add_argument("--infer", action="store_true",
                   help="infer it again from the task text and the interview (replaces your own choice)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_task_type)

    p = sub.add_parser("list", help="list projects")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("status", help="show a project's stages and the next step")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)


def _gateway(project: Project):
    from core.llm.gateway import Gateway

    return Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm")


def _configured(project: Project) -> bool:
    from core.llm.settings import resolve

    return resolve("interviewer", project.meta.models) is not None


def cmd_new(args: argparse.Namespace) -> int:
    project = Project.create(args.name, args.task, preset=args.preset, method=args.method, task_type=args.task_type)
    if args.task_type is None and _configured(project):
        refine_task_type(project, _gateway(project))
    m = project.meta
    print(f"created {m.slug} in {project.folder}")
    print(f"preset {m.preset} · method {m.training_method}")
    print(f"task type: {describe(m)}")
    print(f"  (change it with: tunesmith task-type {m.slug} TYPE)")
    print(f"next: {m.next_hint()}")
    return 0


def refine_task_type(project: Project, gateway, answers: str = "") -> bool:
    """Ask the model (grounded, else the heuristic) and store the result unless the user chose; True if changed."""
    from core import task_type as tt

    decision = tt.infer(project.meta.task, gateway, answers=answers, source="interview" if answers else "llm")
    with project.writing():
        project.reload()
        changed = tt.apply(project.meta, decision)
        project.save()
    return changed


def cmd_task_type(args: argparse.Namespace) -> int:
    from core import task_type as tt
    from core.errors import BadInput

    project = Project.open(args.name)
    if args.type and args.infer:
        raise BadInput("task-type: give a TYPE or --infer, not both")
    if args.labels is not None and (args.type or project.meta.task_type) != "classification":
        raise BadInput("--labels: only a classification task has labels")
    before = project.meta.task_type
    if args.infer:
        tt.reinfer(project, _gateway(project) if _configured(project) else None)
    elif args.type or args.labels is not None:
        labels = (tuple(dict.fromkeys(x.strip().lower() for x in args.labels.split(",") if x.strip()))
                  if args.labels is not None else tuple(project.meta.labels))
        new_type = args.type or project.meta.task_type
        if new_type != "classification":
            labels = ()
        with project.writing():
            project.reload()
            tt.apply(project.meta, tt.TaskTypeDecision(new_type, args.reason or "chosen by you", "user", labels))
            project.save()
    m = project.meta
    if args.json:
        print(json.dumps({"task_type": m.task_type, "reason": m.task_type_reason, "source": m.task_type_source,
                          "labels": list(m.labels)}, indent=2))
        return 0
    print(f"task type: {describe(m)}")
    if m.task_type != before:
        for line in tt.stale_after_change(project, before):
            print(f"note: {line}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    items = list_projects()
    if args.json:
        print(json.dumps([
            {"slug": s.slug, "name": s.name, "task": s.task, "stage": s.stage, "next": s.next_hint, "error": s.error}
            for s in items
        ], indent=2))
        return 0
    if not items:
        print("no projects yet: tunesmith new NAME --task TEXT")
        return 0
    width = max(len(s.slug) for s in items)
    for s in items:
        if s.error:
            print(f"{s.slug:<{width}}  BROKEN  {s.error}")
        else:
            print(f"{s.slug:<{width}}  {s.stage or 'complete':<8}  {s.name}")
    return 0


_MARK = {"done": "[x]", "in_progress": "[~]", "pending": "[ ]"}


def project_warnings(project: Project) -> list[str]:
    """What the user must know before going on: an evaluation method the eval set does not allow, one
    model in every role, a short training set (cheap: read from the project's files)."""
    from core.evaluate.method_check import check_methods
    from core.generate.report import read_summary
    from core.llm.roles import same_model_notes
    from core.project import EVAL_SET

    out = list(check_methods(project).warnings) if project.exists(EVAL_SET) else []
    summary = read_summary(project)
    if summary.scale is not None:
        out.extend(n for n in summary.scale.notes if not n.startswith("threshold:"))
    roles = ("generator", "weak", "judge") if project.meta.training_method in ("dpo", "kto") else ("generator", "judge")
    out.extend(same_model_notes(project.meta.models, roles))
    return list(dict.fromkeys(out))


def cmd_status(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    data = project.status_dict()
    data["warnings"] = project_warnings(project)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    m = project.meta
    print(f"{m.name} ({m.slug})")
    if m.illustration:
        print(f"illustration: {m.illustration}; its reports and exports are not a real evaluation")
    print(f"task: {m.task}")
    print(f"task type: {describe(m)}")
    print(f"method {m.training_method} · preset {m.preset}")
    for warning in project_warnings(project):
        print(f"warning: {warning}")
    for stage in STAGES:
        st = m.stages[stage]
        steps = ", ".join(s if s in st.done else f"({s})" for s in STAGE_STEPS[stage])
        print(f"{_MARK[st.status]} {stage:<9} {st.status:<11} {steps}")
    print(f"next: {m.next_hint()}")
    return 0
