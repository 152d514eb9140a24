"""`tunesmith evalset NAME [--size N] [--approve] [--force]` and `tunesmith review NAME evalset|pilot`."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from typing import TextIO

from core.errors import BadInput, TunesmithError
from core.models.knowledge import DIFFICULTIES, EVAL_KINDS, EvalExample, EvalReview
from core.project import EVAL_REVIEW, EVAL_SET, Project

SIZES = (50, 75, 100, 200)
_LINE = re.compile(r"^\s*(y|yes|n|no)\b\s*(.*?)\s*$", re.IGNORECASE)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evalset", help="build, show or approve the held-out eval set")
    p.add_argument("name")
    p.add_argument("--size", type=int, choices=SIZES, help="number of examples (default: config.extract.eval_set_size)")
    p.add_argument("--approve", action="store_true", help="approve and freeze the set without the spot-check")
    p.add_argument("--force", action="store_true",
                   help="build a new set even if one exists or is approved (withdraws the approval and later steps); "
                        "with --approve on a frozen set edited since: approve the edited set as it stands")
    p.set_defaults(func=cmd_evalset)

    p = sub.add_parser("review", help="spot-check the eval set, the pilot or the scale-up sample (stdin: y, or n and a note, "
                                          "per example)")
    p.add_argument("name")
    p.add_argument("what", choices=("evalset", "pilot", "scale"))
    p.set_defaults(func=cmd_review)


# ---------------------------------------------------------------- evalset


def _line(title: str, counts: dict[str, int], order: tuple[str, ...] = ()) -> str:
    keys = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return f"  {title:<11} " + " · ".join(f"{k} {counts[k]}" for k in keys)


def print_summary(project: Project, examples: list[EvalExample]) -> None:
    from core.extract.evalset import summary

    s = summary(examples)
    print(f"eval set: {len(examples)} examples ({project.path(EVAL_SET)})")
    print(_line("kind", s["kind"], EVAL_KINDS))
    print(_line("category", s["category"]))
    print(_line("difficulty", s["difficulty"], DIFFICULTIES))
    review = project.read_or(EVAL_REVIEW, EvalReview)
    if review and review.approved:
        when = review.approved_at.isoformat() if review.approved_at else "?"
        print(f"status: approved and frozen at {when} (sha256 {(review.frozen_hash or '')[:12]}…)")
    elif project.meta.is_done("extract", "evalset"):
        from core.extract.review import current_round

        print(f"status: not approved; {current_round(project, examples).describe()}")


def cmd_evalset(args: argparse.Namespace) -> int:
    from core.extract import evalset as ev
    from core.extract import review as rv

    project = Project.open(args.name)
    with project.writing():
        built = project.exists(EVAL_SET) and project.meta.is_done("extract", "evalset")
        # --approve --force on a frozen set edited by hand approves the edit (it does not build a new set)
        approve_edit = built and args.approve and args.force and rv.edited_since_frozen(project)
        if built and (not args.force or approve_edit):
            examples = ev.load_eval_set(project)
            if args.size and args.size != len(examples):
                frozen = " (it is approved and frozen)" if ev.is_frozen(project) else ""
                raise TunesmithError(
                    f"the eval set has {len(examples)} examples{frozen}; to build one of {args.size} instead: "
                    f"tunesmith evalset {project.slug} --size {args.size} --force"
                )
        else:
            if args.size and args.size != project.meta.config.extract.eval_set_size and (
                    args.force or not ev.is_frozen(project)):  # (a frozen set without --force: the build refuses)
                project.reload()
                project.meta.config.extract.eval_set_size = args.size
                project.save()
            from core.progress import line_printer

            examples = ev.build_eval_set(project, None, args.size, force=args.force,
                                         progress=line_printer(sys.stdout))
            project.reload()
        if args.approve:
            review = rv.approve(project, force=args.force)
            print(f"approved: the eval set is frozen (sha256 {review.frozen_hash[:12]}…)")  # type: ignore[index]
            project.reload()
        print_summary(project, examples)
        print(f"next: {_next(project)}")
    return 0


def _next(project: Project) -> str:
    from core.models.project import STEP_HINTS

    if not project.meta.is_done("extract", "evalset_approved"):
        return STEP_HINTS["evalset_approved"].replace("NAME", project.slug)
    return project.meta.next_hint()


# ---------------------------------------------------------------- review


def _show(ex: EvalExample, i: int, n: int, rnd: int) -> None:
    def block(label: str, text: str) -> str:
        body = "\n".join(textwrap.fill(p, 96, initial_indent="    ", subsequent_indent="    ") if p.strip() else ""
                         for p in text.splitlines()) or "    "
        return f"  {label}:\n{body}"

    refuse = " · must refuse" if ex.should_refuse else ""
    print(f"\n[{i}/{n}] round {rnd} · {ex.kind} · {ex.category} · {ex.difficulty}{refuse} · {ex.id}")
    print(block("input", ex.input))
    print(block("reference", ex.reference))
    if ex.rationale:
        print(block("why", ex.rationale))


def ask_rating(stdin: TextIO, interactive: bool, line_no: int) -> tuple[int, tuple[bool, str] | None]:
    """Read one 'y' / 'n [note]' answer: (lines read so far, (good, note)), or None at end of input.

    On a terminal a bad line asks again; from a pipe it is bad input naming the line (exit 2).
    """
    while True:
        if interactive:
            print("  rate (y / n note): ", end="", flush=True)
        raw = stdin.readline()
        if raw == "":
            return line_no, None
        line_no += 1
        parsed = parse_rating(raw)
        if parsed is not None:
            return line_no, parsed
        if not interactive:
            raise BadInput(f"stdin line {line_no}: {raw.strip()!r} is not 'y' or 'n' (optionally "
                           f"followed by a note); the ratings before it are saved")
        print("  type y (good) or n (bad), optionally followed by a note")


def parse_rating(line: str) -> tuple[bool, str] | None:
    """'y' / 'n' with an optional note after the letter; None when the line is neither."""
    m = _LINE.match(line)
    if not m:
        return None
    return m.group(1).lower().startswith("y"), m.group(2)


def cmd_review(args: argparse.Namespace) -> int:
    if args.what == "pilot":
        from core.commands.generate import review_pilot

        return review_pilot(Project.open(args.name), sys.stdin)
    if args.what == "scale":
        from core.commands.generate import review_scale

        return review_scale(Project.open(args.name), sys.stdin)
    return review_evalset(Project.open(args.name), sys.stdin)


def review_evalset(project: Project, stdin: TextIO) -> int:
    from core.extract import review as rv

    interactive = stdin.isatty()
    line_no = 0
    with project.writing():
        while True:
            rnd = rv.current_round(project)
            if rnd.approved:
                print(f"the eval set is approved and frozen ({len(rv.load_eval_set(project))} examples); "
                      f"next: {_next(project)}")
                return 0
            if rnd.complete:
                bad = len(rnd.rejected)
                if bad:
                    print(f"round {rnd.number}: {bad} example{'s' if bad != 1 else ''} rejected; "
                          f"regenerating {'them' if bad != 1 else 'it'} with your notes…", flush=True)
                outcome = rv.conclude(project, progress=lambda m: print(f"  {m}", flush=True))
                project.reload()
                if outcome == "approved":
                    review = project.read(EVAL_REVIEW, EvalReview)
                    print(f"approved: every sampled example was rated good; the eval set is frozen "
                          f"(sha256 {(review.frozen_hash or '')[:12]}…)")
                    print(f"next: {_next(project)}")
                    return 0
                continue
            pending = rnd.pending
            print(f"review round {rnd.number}: {len(pending)} of {len(rnd.sample)} examples to rate "
                  f"(y = good, n [note] = bad; {rv.APPROVAL_RULE})")
            for ex in pending:
                _show(ex, rnd.rated + 1, len(rnd.sample), rnd.number)
                line_no, parsed = ask_rating(stdin, interactive, line_no)
                if parsed is None:
                    left = len(rv.current_round(project).pending)
                    print(f"\nsaved; {left} example{'s' if left != 1 else ''} left to rate in round "
                          f"{rnd.number}: tunesmith review {project.slug} evalset")
                    return 0
                good, note = parsed
                rnd = rv.rate(project, ex.id, good, note)
                print(f"  {'✓ good' if good else '✗ bad'}{(': ' + note) if note else ''} "
                      f"· saved ({rnd.rated}/{len(rnd.sample)})")
