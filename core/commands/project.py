"""`tunesmith new`, `list`, `status`."""

from __future__ import annotations

import argparse
import json

from core.models.config import TASK_TYPES, TRAINING_METHODS
from core.models.presets import DEFAULT_PRESET, PRESETS
from core.models.project import STAGE_STEPS, STAGES
from core.project import Project, list_projects


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="create a project")
    p.add_argument("name")
    p.add_argument("--task", required=True, help="what the model should do, in a sentence or two")
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"one of: {', '.join(PRESETS)}")
    p.add_argument("--method", choices=TRAINING_METHODS, help="training method (default: the preset's)")
    p.add_argument("--task-type", choices=TASK_TYPES, help="task type (default: the preset's)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("list", help="list projects")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("status", help="show a project's stages and the next step")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)


def cmd_new(args: argparse.Namespace) -> int:
    project = Project.create(args.name, args.task, preset=args.preset, method=args.method, task_type=args.task_type)
    m = project.meta
    print(f"created {m.slug} in {project.folder}")
    print(f"preset {m.preset} · method {m.training_method} · task type {m.task_type}")
    print(f"next: {m.next_hint()}")
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


def cmd_status(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    data = project.status_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    m = project.meta
    print(f"{m.name} ({m.slug})")
    print(f"task: {m.task}")
    print(f"task type {m.task_type} · method {m.training_method} · preset {m.preset}")
    for stage in STAGES:
        st = m.stages[stage]
        steps = ", ".join(s if s in st.done else f"({s})" for s in STAGE_STEPS[stage])
        print(f"{_MARK[st.status]} {stage:<9} {st.status:<11} {steps}")
    print(f"next: {m.next_hint()}")
    return 0
