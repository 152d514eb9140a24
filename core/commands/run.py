"""`tunesmith run NAME [--approve-all]`: the whole pipeline, headless, from wherever the project stands.

Each step runs the same command a person would type (so output, files and exit codes are the same),
in the order of the project's stage state. The run stops at each human touchpoint (boundary approval,
eval-set review, pilot review, evaluation spot-check) and says which command continues, unless
--approve-all is given. Approving never invents a human rating: with --approve-all the eval set and the
pilot are approved as they stand, and the evaluation spot-check is left for a person (the decision then
says it is pending, which rules out DEPLOY).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, TextIO

from core.commands.evalset import SIZES as EVAL_SET_SIZES
from core.project import Project

STOP = -1  # a touchpoint: the run stops here, successfully


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the whole pipeline, stopping at each human touchpoint unless --approve-all")
    p.add_argument("name")
    p.add_argument("--approve-all", action="store_true",
                   help="approve boundaries, eval set and pilot as they stand; interview answers missing from "
                        "stdin take the first suggestion")
    p.add_argument("--base-model", help="the model to fine-tune (a Hub id or a local path)")
    p.add_argument("--backend", choices=("local", "hf_jobs"), default=None)
    p.add_argument("--persona", type=int, default=None, help="the interview persona (default: the top-ranked)")
    p.add_argument("--target", type=int, default=None, help="scale-up size (default: the project's target_size)")
    p.add_argument("--size", type=int, default=None, choices=EVAL_SET_SIZES,
                   help="eval set size (default: the project's eval_set_size)")
    p.set_defaults(func=cmd_run)


class _ThenSuggestions:
    """stdin's lines, then empty lines forever (an empty answer takes the first suggestion)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.done = False

    def readline(self) -> str:
        if not self.done:
            line = self.stream.readline()
            if line:
                return line
            self.done = True
        return "\n"

    def isatty(self) -> bool:
        return False


def _cli(*argv: str) -> int:
    from core.cli import main

    print(f"\n$ tunesmith {' '.join(argv)}", flush=True)
    return main(list(argv))


def _touchpoint(what: str, command: str) -> int:
    print(f"\nstopped at a human touchpoint: {what}")
    print(f"continue with: {command}   (or: tunesmith run NAME --approve-all)")
    return STOP


def cmd_run(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    name = project.slug
    steps: dict[str, Callable[[], int]] = {
        "persona": lambda: _interview(args, name),
        "interview": lambda: _interview(args, name),
        "artifacts": lambda: _cli("boundaries", name),
        "boundaries_approved": lambda: _cli("boundaries", name, "--approve") if args.approve_all else _touchpoint(
            "approve the scope boundaries", f"tunesmith boundaries {name} --approve"),
        "evalset": lambda: _cli("evalset", name, *(["--size", str(args.size)] if args.size else [])),
        "evalset_approved": lambda: _cli("evalset", name, "--approve") if args.approve_all else _touchpoint(
            "spot-check the eval set", f"tunesmith review {name} evalset"),
        "pilot": lambda: _cli("generate", name, "--pilot"),
        "pilot_approved": lambda: _approve_pilot(project) if args.approve_all else _touchpoint(
            "spot-check the pilot", f"tunesmith review {name} pilot"),
        "scale": lambda: _scale(project, args),
        "validated": lambda: _scale(project, args),
        "planned": lambda: _train(args, name),
        "trained": lambda: _train(args, name),
        "evaluated": lambda: _cli("evaluate", name),
        "spot_checked": lambda: _spot_check(args, name),
        "decided": lambda: _cli("decide", name),
    }
    seen: dict[str, int] = {}
    while True:
        project.reload()
        nxt = project.meta.next_step()
        if nxt is None:
            break
        stage, step = nxt
        if args.approve_all and step == "spot_checked":
            step = "decided" if not project.meta.is_done("evaluate", "decided") else None
            if step is None:
                break
        seen[step] = seen.get(step, 0) + 1
        if seen[step] > 2:  # the step ran and did not mark itself done: say so instead of looping
            print(f"tunesmith run: the step '{step}' of {stage} did not complete; see the output above",
                  file=sys.stderr)
            return 1
        code = steps[step]()
        if code == STOP:
            return 0
        if code != 0:
            return code
    code = _cli("export", name)
    project.reload()
    waiting = _waiting_for_a_human(project)
    if waiting:
        print(f"\n{waiting} evaluation outputs wait for a human rating: tunesmith rate {name}")
    if not project.meta.is_done("evaluate", "spot_checked"):
        print(f"\nthe evaluation spot-check is the one step left for a person: tunesmith spot-check {name}, "
              f"then tunesmith decide {name}")
    else:
        print("\npipeline complete")
    return code


def _waiting_for_a_human(project) -> int:
    from core.evaluate import evalfolder as ef

    eval_id = ef.latest_eval(project)
    if eval_id is None or not ef.path(project, eval_id, ef.RESULTS).exists():
        return 0
    return sum(r.pending for r in ef.read_results(project, eval_id))


def _interview(args: argparse.Namespace, name: str) -> int:
    argv = ["interview", name] + (["--persona", str(args.persona)] if args.persona else [])
    if not args.approve_all:
        code = _cli(*argv)
        project = Project.open(name)
        if code == 0 and not project.meta.is_done("extract", "interview"):
            return _touchpoint("finish the interview", f"tunesmith interview {name}")
        return code
    real = sys.stdin
    sys.stdin = _ThenSuggestions(real)  # type: ignore[assignment]
    try:
        return _cli(*argv)
    finally:
        sys.stdin = real


def _approve_pilot(project: Project) -> int:
    from core.generate import review

    review.approve(project)
    print("\npilot approved as it stands (--approve-all)")
    return 0


def _scale(project: Project, args: argparse.Namespace) -> int:
    argv = ["generate", project.slug, "--scale", "--yes"]
    if args.target:
        argv += ["--target", str(args.target)]
    state = project.folder / "data" / "scale" / "state.toml"
    finished = (project.folder / "data" / "training_dataset" / "train.parquet").exists()
    if state.exists() and (not project.meta.is_done("generate", "scale") or finished):
        # a finished dataset that is not validated yet is continued, never replaced without a --replace
        argv = ["generate", project.slug, "--resume"]
    return _cli(*argv)


def _train(args: argparse.Namespace, name: str) -> int:
    argv = ["train", name, "--yes", "--follow"]
    if args.backend:
        argv += ["--backend", args.backend]
    if args.base_model:
        argv += ["--base-model", args.base_model]
    return _cli(*argv)


def _spot_check(args: argparse.Namespace, name: str) -> int:
    return _touchpoint("spot-check the evaluation", f"tunesmith spot-check {name}")
