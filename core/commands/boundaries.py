"""`tunesmith boundaries NAME [--approve] [edits]`: show, edit and approve the scope boundaries."""

from __future__ import annotations

import argparse

from core.errors import BadInput
from core.extract import boundaries as ops
from core.project import BOUNDARIES, CRITERIA, KNOWLEDGE_BASE, TAXONOMY, Project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("boundaries", help="show, edit and approve what the model will and will not do")
    p.add_argument("name")
    p.add_argument("--approve", action="store_true", help="approve the boundaries as they stand")
    p.add_argument("--redraft", action="store_true", help="draft the artifacts again from the interview")
    p.add_argument("--add", nargs=2, metavar=("LIST", "TEXT"), action="append", default=[],
                   help="add a statement to will, will_not or hard_constraints")
    p.add_argument("--edit", nargs=3, metavar=("LIST", "N", "TEXT"), action="append", default=[])
    p.add_argument("--delete", nargs=2, metavar=("LIST", "N"), action="append", default=[])
    p.add_argument("--move", nargs=2, metavar=("LIST", "N"), action="append", default=[],
                   help="move item N between WILL and WILL NOT")
    p.add_argument("--refusal", metavar="TEXT",
                   help="the sentence every refusal opens with (it must say plainly that it declines)")
    p.set_defaults(func=cmd_boundaries)


def _n(value: str, what: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise BadInput(f"{what}: N must be a number (got {value!r})") from None
    return n - 1


def _gateway(project: Project):
    from core.llm.gateway import Gateway

    return Gateway(roles=project.meta.models, cache_dir=project.cache_dir / "llm")


def cmd_boundaries(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    with project.writing():
        if args.redraft or not project.exists(BOUNDARIES):
            from core.extract.artifacts import draft_artifacts

            drafted = draft_artifacts(project, _gateway(project))
            print(f"drafted the knowledge base, boundaries, taxonomy and quality criteria "
                  f"({'by the model' if drafted.source == 'llm' else 'from your answers'})")
            if drafted.note:
                print(f"note: {drafted.note}")
        b = ops.load(project)
        edited = False
        for name, text in args.add:
            ops.add(b, name, text)
            edited = True
        for name, n, text in args.edit:
            ops.edit(b, name, _n(n, f"--edit {name}"), text)
            edited = True
        for name, n in args.delete:
            ops.delete(b, name, _n(n, f"--delete {name}"))
            edited = True
        for name, n in args.move:
            ops.move(b, name, _n(n, f"--move {name}"))
            edited = True
        if args.refusal is not None:
            from core.refusal import recognised

            if not recognised(args.refusal):
                raise BadInput("--refusal: the sentence must decline plainly (e.g. \"I'm sorry, but I can't help "
                               "with that here: I only …\"), so that every stage recognises it as a refusal")
            b.refusal_message = " ".join(args.refusal.split())
            edited = True
        if edited:
            ops.save(project, b)
        if args.approve:
            b = ops.approve(project, b)
        print(ops.render_text(b))
        _summary(project)
        project.reload()
        print(f"next: {project.meta.next_hint()}")
    return 0


def _summary(project: Project) -> None:
    from core.models.knowledge import InputTaxonomy, KnowledgeBase, QualityCriteria

    kb = project.read_or(KNOWLEDGE_BASE, KnowledgeBase)
    tax = project.read_or(TAXONOMY, InputTaxonomy)
    qc = project.read_or(CRITERIA, QualityCriteria)
    if kb:
        c = kb.competencies
        fw = ", ".join(f.name for f in kb.frameworks) or "none"
        print(f"knowledge base: {project.meta.task_type}; always {len(c.always)}, never {len(c.never)}, "
              f"gray areas {len(c.gray_areas)}, common errors {len(c.common_errors)}; frameworks: {fw}")
    if tax:
        cats = ", ".join(f"{c.name} ({c.weight:g})" for c in tax.categories)
        print(f"taxonomy: {cats}; {len(tax.edge_cases)} edge cases")
    if qc:
        print(f"quality criteria: {len(qc.good_output)} statements; dimensions: "
              + ", ".join(d.name for d in qc.dimensions))
    print(f"edit any of them in {project.folder / 'knowledge'}")
