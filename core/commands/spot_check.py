"""`tunesmith spot-check NAME [--eval ID]`: rate the evaluation's spot-check items, one line per item.

Each item is printed (group, why it was chosen, input, reference, the candidate's output, and the base's
for comparison items); then one line is read for it:

    line       := rating [preference] [trust] [note...]        (any item)
                | preference rating [trust] [note...]          (comparison items)
    rating     := y | yes | good | m | maybe | concerning | n | no | bad       (✓ / ⚠ / ✗)
    preference := b | base | c | candidate | s | same          (comparison items only: which output is better)
    trust      := trust | distrust                             ("would you trust this output?")
    note       := the rest of the line

Words are case-insensitive; ``y trust``, ``n distrust made up a fee``, ``c y``, ``y b distrust worse
than before``. A preference word is only recognised on comparison items (elsewhere it starts the note).
Every rating is saved as it is made. A line that does not parse: on a terminal the item is asked again;
from a pipe the command stops with exit 2 naming the line (the ratings before it are kept). End of input
saves and exits 0 saying how many items remain; when every item is rated the counts are printed with the
next step (``tunesmith decide NAME``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass
from typing import TextIO

from core.errors import BadInput
from core.project import Project

RATING_WORDS = {"y": "good", "yes": "good", "good": "good", "m": "concerning", "maybe": "concerning",
                "concerning": "concerning", "n": "bad", "no": "bad", "bad": "bad"}
PREFERENCE_WORDS = {"b": "base", "base": "base", "c": "candidate", "candidate": "candidate",
                    "s": "same", "same": "same"}
TRUST_WORDS = {"trust": True, "distrust": False}
GRAMMAR = "y|m|n [trust|distrust] [note]"
GRAMMAR_COMPARISON = "y|m|n [b|c|s] [trust|distrust] [note]  (b/c/s: base, candidate or same is better)"
MARK = {"good": "✓ good", "concerning": "⚠ concerning", "bad": "✗ bad"}


@dataclass
class Answer:
    rating: str
    trust: bool | None = None
    preferred: str | None = None
    note: str = ""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spot-check", help=f"spot-check the evaluation (stdin: {GRAMMAR} per item)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--eval", dest="eval_id", help="the evaluation id (default: the latest completed one)")
    from core.commands.jsonout import add_flag

    add_flag(p)
    p.set_defaults(func=cmd_spot_check)


def parse_line(line: str, comparison: bool = False) -> Answer | None:
    """One answer line (see the module docstring); None when it does not parse."""
    words = line.strip().split()
    if not words:
        return None
    low = [w.lower() for w in words]
    i = 0
    preferred = None
    if comparison and low[0] in PREFERENCE_WORDS:
        preferred, i = PREFERENCE_WORDS[low[0]], 1
    if i >= len(low) or low[i] not in RATING_WORDS:
        return None
    rating = RATING_WORDS[low[i]]
    i += 1
    if comparison and preferred is None and i < len(low) and low[i] in PREFERENCE_WORDS:
        preferred = PREFERENCE_WORDS[low[i]]
        i += 1
    trust = None
    if i < len(low) and low[i] in TRUST_WORDS:
        trust = TRUST_WORDS[low[i]]
        i += 1
    return Answer(rating, trust, preferred, " ".join(words[i:]))


def _block(label: str, text: str, width: int = 96) -> str:
    body = "\n".join(textwrap.fill(p, width, initial_indent="    ", subsequent_indent="    ") if p.strip() else ""
                     for p in (text or "").splitlines()) or "    (empty)"
    return f"  {label}:\n{body}"


def _scored(r) -> str:
    bits = [f"{r.method}", "pending a human rating" if r.pending else f"score {r.score:.2f}"] + (
        [] if r.pending else ["pass" if r.passed else "fail"])
    if r.judge_confidence is not None:
        bits.append(f"judge confidence {r.judge_confidence:.2f}")
    return ", ".join(bits)


def show(view, i: int, n: int, state) -> None:
    ex, item = view.example, view.item
    where = f"{ex.category} · {ex.difficulty}" if ex else "(example missing from the eval set)"
    refuse = " · must refuse" if ex is not None and ex.should_refuse else ""
    print(f"\n[{i}/{n}] {item.group.replace('_', '-')} · {where}{refuse} · {item.example_id}")
    print(f"  why: {item.why}")
    if ex is not None:
        print(_block("input", ex.input))
        print(_block("reference", ex.reference))
    if view.is_comparison and view.base is not None:
        print(_block(f"base output ({state.base_model}; {_scored(view.base)})", view.base.output))
    if view.candidate is not None:
        label = "candidate output" if view.is_comparison else "output"
        print(_block(f"{label} ({state.candidate_model}; {_scored(view.candidate)})", view.candidate.output))


def describe(a: Answer) -> str:
    bits = [MARK[a.rating]]
    if a.trust is not None:
        bits.append("trusted" if a.trust else "not trusted")
    if a.preferred:
        bits.append("same" if a.preferred == "same" else f"{a.preferred} better")
    return " · ".join(bits) + (f": {a.note}" if a.note else "")


def cmd_spot_check(args: argparse.Namespace) -> int:
    project = Project.open(args.name)
    if not getattr(args, "json", False):
        return spot_check(project, sys.stdin, args.eval_id)
    # --json: rate from stdin exactly as without it (items and prompts on stderr), then print the summary;
    # with no input (< /dev/null) nothing is rated and the current summary is printed
    from core.commands import jsonout

    with jsonout.human_to_stderr():
        state_before = _rated_now_base(project, args.eval_id)
        rc = spot_check(project, sys.stdin, args.eval_id)
        doc = summary_json(project, state_before[0], state_before[1])
    jsonout.emit(doc)
    return rc


def _rated_now_base(project: Project, eval_id: str | None) -> tuple[str, int]:
    """(the evaluation id, items rated before this command): selects the items the first time, as rating does."""
    from core.evaluate import spot_check as sc

    state = sc.start(project, eval_id)
    return state.eval_id, state.rated


def summary_json(project: Project, eval_id: str, rated_before: int = 0) -> dict:
    """The `spot-check --json` document (docs/json.md)."""
    from core.commands import jsonout
    from core.evaluate import evalfolder as ef
    from core.evaluate import spot_check as sc
    from core.models.runs import SpotCheck

    spot = ef.read_spot_check(project, eval_id) or SpotCheck()
    c = sc.counts(spot)
    agreement = sc.read_agreement(project, eval_id)
    if agreement is not None:
        agreement = {k: agreement.get(k) for k in ("n", "accuracy", "kappa", "kappa_se", "ci_low", "ci_high")}
    finished = bool(spot.finished)
    return jsonout.document(
        "spot-check", project=project.slug, eval_id=eval_id, total=c.total, rated=c.rated, remaining=c.remaining,
        rated_now=max(0, c.rated - rated_before), concerning=c.concerning + c.bad,
        by_rating={"good": c.good, "concerning": c.concerning, "bad": c.bad}, trusted=c.trusted, distrusted=c.distrusted,
        comparisons=c.comparisons, preferred=dict(c.prefer), finished=finished, agreement=agreement,
        items=[{"example_id": i.example_id, "group": i.group, "why": i.why, "rating": i.rating, "trust": i.trust,
                "preferred": i.preferred, "note": i.note} for i in spot.items],
        file=ef.path(project, eval_id, ef.SPOT_CHECK),
        next=f"tunesmith decide {project.slug}" if finished else f"tunesmith spot-check {project.slug}",
    )


def finished_text(project: Project, eval_id: str) -> list[str]:
    from core.evaluate import evalfolder as ef
    from core.evaluate import spot_check as sc

    spot = ef.read_spot_check(project, eval_id)
    lines = [f"spot-check finished: {sc.counts(spot).line()}" if spot else "no spot-check"]
    agreement = sc.read_agreement(project, eval_id)
    if agreement:
        lines.append(sc.agreement_line(agreement))
    lines.append(f"next: tunesmith decide {project.slug}")
    return lines


def spot_check(project: Project, stdin: TextIO, eval_id: str | None = None) -> int:
    from core.evaluate import spot_check as sc

    state = sc.start(project, eval_id)
    eid = state.eval_id
    if not state.pending:
        if not state.spot.finished:
            sc.finish(project, eid)
        print("\n".join(finished_text(project, eid)))
        return 0
    interactive = stdin.isatty()
    print(f"spot-check of evaluation {eid}: {len(state.pending)} of {state.total} items to rate "
          f"({sc.counts(state.spot).line()})")
    print(f"answer per item: {GRAMMAR}; comparison items: {GRAMMAR_COMPARISON}")
    line_no = 0
    rated = state.rated
    for view in state.pending:
        show(view, rated + 1, state.total, state)
        grammar = GRAMMAR_COMPARISON if view.is_comparison else GRAMMAR
        while True:
            if interactive:
                print(f"  rate ({grammar.split('  ')[0]}): ", end="", flush=True)
            raw = stdin.readline()
            if raw == "":
                left = state.total - rated
                print(f"\nsaved; {left} item{'s' if left != 1 else ''} left to rate: "
                      f"tunesmith spot-check {project.slug}")
                return 0
            line_no += 1
            answer = parse_line(raw, view.is_comparison)
            if answer is not None:
                break
            if not interactive:
                raise BadInput(f"stdin line {line_no}: {raw.strip()!r} is not '{grammar.split('  ')[0]}' "
                               f"(item {view.id}); the ratings before it are saved")
            print(f"  type {grammar}")
        sc.rate(project, eid, view.id, answer.rating, trust=answer.trust, note=answer.note,
                preferred=answer.preferred if view.is_comparison else sc.KEEP)
        rated += 1
        print(f"  {describe(answer)} · saved ({rated}/{state.total})")
    print()
    print("\n".join(finished_text(project, eid)))
    return 0
