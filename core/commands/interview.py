"""`tunesmith interview NAME [--persona N]`: the expert interview, one answer per line on stdin.

An empty line takes the first suggested answer, a digit 1-4 takes that suggestion, "/skip" skips,
"/back" re-opens the previous question, anything else is the answer itself. End of input saves the
interview and leaves it resumable; running the command again continues where it stopped.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import BadInput, TunesmithError
from core.extract.frameworks import framework_answer
from core.extract.interview import InterviewSession
from core.extract.personas import N_PERSONAS
from core.models.knowledge import ROUNDS, Persona
from core.project import Project

HELP_LINE = ("Enter = suggestion 1 · a digit picks that suggestion · or type your own answer · "
             "/skip · /back · Ctrl-D saves and exits")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interview", help="answer the expert interview (stdin: one answer per line)",
                       description="The knowledge-extraction interview: 15-25 questions in four rounds. "
                                   "Empty line = the first suggested answer; a digit picks a suggestion; "
                                   "/skip, /back; end of input saves and leaves it resumable.")
    p.add_argument("name")
    p.add_argument("--persona", type=int, metavar="N", help=f"interview as persona N (1-{N_PERSONAS}, best first)")
    p.set_defaults(func=cmd_interview)


def say(text: str = "") -> None:
    print(text, flush=True)


def cmd_interview(args: argparse.Namespace) -> int:
    if args.persona is not None and not 1 <= args.persona <= N_PERSONAS:
        raise BadInput(f"--persona: must be between 1 and {N_PERSONAS} (got {args.persona})")
    project = Project.open(args.name)
    with project.writing():  # one interviewer at a time
        session = InterviewSession.open(project, notify=say)
        try:
            return _run(project, session, args)
        finally:
            if session.gateway is not None and hasattr(session.gateway, "close"):
                try:
                    session.gateway.close()
                except Exception:
                    pass


def _run(project: Project, session: InterviewSession, args: argparse.Namespace) -> int:
    if session.finished:
        _summary(project, session)
        return 0
    interactive = sys.stdin.isatty()
    if not _choose_persona(session, args.persona, interactive):
        return _saved(project, session)
    if interactive:
        say(HELP_LINE)
    while True:
        q = session.current()
        if q is None:
            break
        prog = session.progress()
        say()
        say(f"Round {prog.round_number}/{len(ROUNDS)} · {prog.round} · question {prog.asked} · "
            f"at most {prog.remaining} left")
        say(q.text)
        if q.why:
            say(f"  why: {q.why}")
        for i, s in enumerate(q.suggestions, 1):
            say(f"  {i}. {s}")
        line = _read("> " if interactive else "")
        if line is None:
            return _saved(project, session)
        reply = line.strip()
        low = reply.lower()
        if low == "/skip":
            session.skip()
            _echo(interactive, "(skipped)")
        elif low == "/back":
            if session.back() is None:
                say("(this is the first question: nothing to go back to)")
            else:
                _echo(interactive, "(back to the previous question)")
        elif low in ("/quit", "/exit", "/save"):
            return _saved(project, session)
        elif reply == "":
            _echo(interactive, session.pick(1).answer or "")
        elif len(reply) == 1 and reply.isdigit() and 1 <= int(reply) <= len(q.suggestions):
            _echo(interactive, session.pick(int(reply)).answer or "")
        else:
            session.answer(reply)
            _echo(interactive, reply)
    return _complete(project, session)


# ---------------------------------------------------------------- personas


def _persona_line(i: int, p: Persona) -> str:
    return (f"  {i}. {p.role} · {p.experience_years} years · knows the field {p.domain_knowledge:.0f}/10 · "
            f"explains clearly {p.conversational_efficiency:.0f}/10\n     {p.why}")


def _show_personas(session: InterviewSession) -> None:
    source = session.interview.persona_source
    note = " (drafted offline from the task and preset)" if source == "bank" else ""
    say(f"expert personas, ranked by domain knowledge × conversational efficiency{note}:")
    for i, p in enumerate(session.personas, 1):
        say(_persona_line(i, p))


def _choose_persona(session: InterviewSession, wanted: int | None, interactive: bool) -> bool:
    """Settle the persona; False when input ended before one was chosen."""
    first_time = not session.personas
    if first_time:
        session.propose_personas()
    if wanted is not None:
        if wanted > len(session.personas):
            raise BadInput(f"--persona: must be between 1 and {len(session.personas)} (got {wanted})")
        if first_time or session.persona is None:
            _show_personas(session)
        if session.persona is None or session.interview.persona_index != wanted - 1:
            p = session.choose_persona(wanted)
            say(f"interviewing as persona {wanted}: {p.role}")
        return True
    if session.persona is not None:
        say(f"resuming the interview as {session.persona.role}")
        return True
    _show_personas(session)
    if not interactive:
        p = session.choose_persona(1)
        say(f"no --persona given and stdin is not a terminal: interviewing as persona 1 ({p.role})")
        return True
    n = len(session.personas)
    while True:
        line = _read(f"choose a persona [1-{n}, Enter = 1]: ")
        if line is None:
            return False
        choice = line.strip() or "1"
        if choice.isdigit() and 1 <= int(choice) <= n:
            p = session.choose_persona(int(choice))
            say(f"interviewing as {p.role}")
            return True
        say(f"type a number from 1 to {n}")


# ---------------------------------------------------------------- input and endings


def _read(prompt: str) -> str | None:
    """One line from stdin (None at end of input)."""
    if prompt:
        print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    if line == "":
        if prompt:
            print()
        return None
    return line.rstrip("\r\n")


def _echo(interactive: bool, text: str) -> None:
    if not interactive:
        say(f"> {text}")


def _saved(project: Project, session: InterviewSession) -> int:
    n = len(session.interview.answered())
    say(f"interview saved after {n} answer{'s' if n != 1 else ''}; resume with: tunesmith interview {project.slug}")
    return 0


def _complete(project: Project, session: InterviewSession) -> int:
    iv = session.interview
    answered, skipped = len(iv.answered()), sum(1 for q in iv.questions if q.skipped)
    say()
    say(f"interview complete: {answered} answered, {skipped} skipped, {len(iv.questions)} questions"
        + (" (built-in question bank)" if iv.offline else ""))
    try:
        from core.extract import artifacts
    except ImportError:
        artifacts = None
    draft = getattr(artifacts, "draft_artifacts", None)
    if draft is None:
        say(f"next: draft the knowledge base and boundaries: tunesmith boundaries {project.slug}")
        return 0
    say("drafting the knowledge base, scope boundaries, input taxonomy and quality criteria...")
    try:
        draft(project, session.gateway)
    except TunesmithError as exc:
        print(f"warning: the artifacts could not be drafted: {exc}", file=sys.stderr, flush=True)
        say(f"next: draft them again with: tunesmith boundaries {project.slug}")
        return 0
    except Exception as exc:  # the interview is saved; a drafting bug must not lose that message
        print(f"warning: the artifacts could not be drafted ({exc.__class__.__name__}: {exc})",
              file=sys.stderr, flush=True)
        say(f"next: draft them again with: tunesmith boundaries {project.slug}")
        return 0
    project.mark("extract", "artifacts")
    say("drafted: knowledge base, scope boundaries, input taxonomy, quality criteria (in knowledge/)")
    project.reload()
    say(f"next: {project.meta.next_hint()}")
    return 0


def _summary(project: Project, session: InterviewSession) -> None:
    iv = session.interview
    persona = iv.persona
    say(f"the interview for {project.slug} is complete"
        + (f" (as {persona.role})" if persona else "")
        + (" · ran on the built-in question bank" if iv.offline else ""))
    for i, (rnd, (answered, asked)) in enumerate(session.counts().items(), 1):
        say(f"  Round {i}/{len(ROUNDS)} · {rnd:<10} {answered} answered of {asked} asked")
    fw = framework_answer(iv)
    if fw:
        say(f"  frameworks: {fw}")
    project.reload()
    for step in ("persona", "interview"):
        if not project.meta.is_done("extract", step):
            project.mark("extract", step)
    project.reload()
    say(f"next: {project.meta.next_hint()}")
