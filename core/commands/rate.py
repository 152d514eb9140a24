"""`tunesmith rate NAME [--eval ID]`: rate the outputs that wait for a human, one line per output.

An output waits for a human when no automated method fits its example (``eval_method = "human"``, open
answers without a validated judge) or the judge failed validation. Each is printed blind (the request,
the reference and the output, not the model's name); then one line is read for it:

    line   := rating [note...] | u | undo | q | quit
    rating := y | yes | good | m | mixed | maybe | n | no | bad        (✓ good / ⚠ mixed / ✗ bad)

``u`` withdraws the previous rating (the output is asked again); ``q`` stops. Every rating is saved as it
is made, and a later run resumes with the first output not rated. The order is a sample in proportion to
the categories, so stopping after the number the statistics need (printed first, with why) still rates a
fair sample. A line that does not parse: on a terminal it is asked again; from a pipe the command stops
with exit 2 naming the line (the ratings before it are kept). At the end (or at end of input) the decision
is made again from the saved results (as ``tunesmith decide NAME`` does) and its verdict printed.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TextIO

from core.errors import BadInput
from core.project import Project

WORDS = {"y": "good", "yes": "good", "good": "good", "m": "mixed", "mixed": "mixed", "maybe": "mixed",
         "n": "bad", "no": "bad", "bad": "bad"}
UNDO = {"u", "undo"}
QUIT = {"q", "quit"}
GRAMMAR = "y|m|n [note]  (u: undo the previous, q: stop)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rate", help="rate the evaluation's outputs that wait for a human (stdin: y|m|n per line)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--eval", dest="eval_id", help="the evaluation id (default: the latest completed one)")
    p.set_defaults(func=cmd_rate)


def parse_line(line: str) -> tuple[str, str] | None:
    """(action, note): action is a rating, "undo" or "quit"; None when the line does not parse."""
    words = line.strip().split()
    if not words:
        return None
    head = words[0].lower()
    if head in UNDO and len(words) == 1:
        return "undo", ""
    if head in QUIT and len(words) == 1:
        return "quit", ""
    if head in WORDS:
        return WORDS[head], " ".join(words[1:])
    return None


def _block(label: str, text: str, width: int = 96) -> str:
    body = "\n".join(textwrap.fill(p, width, initial_indent="    ", subsequent_indent="    ") if p.strip() else ""
                     for p in (text or "").splitlines()) or "    (empty)"
    return f"  {label}:\n{body}"


def show(item, position: int, total: int) -> None:
    ex = item.example
    where = f"{ex.category} · {ex.difficulty} · {ex.kind}" if ex else "(example missing from the eval set)"
    refuse = " · must refuse" if ex is not None and ex.should_refuse else ""
    print(f"\n[{position}/{total}] {where}{refuse} · {item.example_id}")
    if ex is not None:
        print(_block("request", ex.input))
        print(_block("reference", ex.reference))
    print(_block("output (model not shown)", item.result.output))


def cmd_rate(args: argparse.Namespace) -> int:
    return rate_from(Project.open(args.name), sys.stdin, args.eval_id)


def _finish(project: Project, eval_id: str) -> None:
    from core.evaluate import human
    from core.evaluate.run import decide_now

    state = human.load(project, eval_id)
    left = len(state.todo)
    print(f"\n{state.rated} of {state.total} rated" + (f"; {left} still wait: tunesmith rate {project.slug}"
                                                        if left else ""))
    decision = decide_now(project, eval_id)
    print(f"decision: {decision.verdict.upper()} (weighted score {decision.weighted_score:.2f})")
    for line in decision.reasons or decision.rules_fired[:6]:
        print(f"  {line}")
    if decision.passed_checks:
        print(f"  ({len(decision.passed_checks)} checks passed)")
    from core.evaluate import evalfolder as ef

    print(f"the report: {ef.eval_dir(project, eval_id) / ef.REPORT}")

def rate_from(project: Project, stdin: TextIO, eval_id: str | None = None) -> int:
    from core.evaluate import human

    state = human.load(project, eval_id)
    eid = state.eval_id
    if not state.todo:
        print(f"evaluation {eid}: nothing waits for a human rating ({state.rated} rated here)")
        return 0
    interactive = stdin.isatty()
    print(f"human rating of evaluation {eid}: {len(state.todo)} of {state.total} outputs to rate")
    for line in state.lines():
        print(f"  {line}")
    print(f"answer per output: {GRAMMAR}")
    line_no = 0
    history: list[str] = []  # keys rated in this run, for undo
    k = state.next_index()
    while k is not None:
        item = state.items[k]
        show(item, k + 1, state.total)
        while True:
            if interactive:
                print("  rate (y|m|n [note], u, q): ", end="", flush=True)
            raw = stdin.readline()
            if raw == "":
                _finish(project, eid)
                return 0
            line_no += 1
            parsed = parse_line(raw)
            if parsed is not None:
                break
            if not interactive:
                raise BadInput(f"stdin line {line_no}: {raw.strip()!r} is not '{GRAMMAR}' (output {item.key}); "
                               f"the ratings before it are saved")
            print(f"  type {GRAMMAR}")
        action, note = parsed
        if action == "quit":
            break
        undone = None
        if action == "undo":
            undone = human.undo(project, eid, history.pop() if history else None)
            print(f"  undone: {undone}" if undone else "  nothing to undo")
        else:
            human.rate(project, eid, item.key, action, note)
            history.append(item.key)
            print(f"  {human.describe(action)}{': ' + note if note else ''} · saved")
        state = human.load(project, eid)
        k = _index_of(state, undone) if undone else state.next_index()
    _finish(project, eid)
    return 0


def _index_of(state, key: str | None) -> int | None:
    for k, item in enumerate(state.items):
        if item.key == key:
            return k
    return state.next_index()
