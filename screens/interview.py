"""The interview: choose the expert persona, then answer 15-25 questions in four rounds.

Three steps on one screen:

* persona: the three ranked personas; 1-3 or enter choose one, e edits the highlighted one (and then
  interviews as it), r asks the model again.
* question: the round and how many questions remain, the question, its 2-4 suggestions and an
  answer field. While the field is empty a digit picks that suggestion at once; otherwise digits are
  text. Enter saves the typed answer (an empty enter takes the highlighted suggestion, the first
  unless moved with up/down), tab or ctrl+e copies the highlighted suggestion into the field for
  editing, ctrl+s/F2 skips, ctrl+b/alt+left goes back, escape leaves.
* summary: the rounds' counts; the knowledge artifacts are drafted from the transcript; b opens the
  boundary editor.

Every call that may reach the interviewer model (proposing personas, fetching the next question after
an answer, drafting the artifacts) runs in a background worker and reports back with a typed message;
a spinner line says what it is waiting for. The session saves knowledge/interview.toml after every
answer, skip and back, so leaving at any time loses nothing and the screen resumes where it stopped.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Header, Input, LoadingIndicator, OptionList, Static

from core.project import BOUNDARIES, Project
from screens.interview_widgets import AnswerInput, PersonaDialog, PersonaList, SuggestionList
from tui.messages import WorkFailed
from tui.widgets.key_bar import KeyBar
from tui.widgets.literal import literal
from tui.workers import background

if TYPE_CHECKING:
    from core.extract.interview import InterviewSession, Progress
    from core.models.knowledge import Persona, Question
    from tui.app import TunesmithApp

ROUND_COUNT = 4
MAX_PICKS = 4
MAX_PERSONAS = 3

PICK = Binding.Group("Pick", compact=True)  # one digit, one meaning: the n-th option on screen
MOVE = Binding.Group("Highlight", compact=True)

# One lock per project folder: a worker holds it for every session call, so a screen opened again
# while the previous one's worker is still saving waits for that save before reading the transcript.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def session_lock(project: Project) -> threading.Lock:
    key = str(project.folder.resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


BANK_PHRASES = (
    ", so the interview runs on the built-in question bank",
    "; the rest of this interview runs on the built-in question bank",
)


def notice_text(notice: str) -> str:
    """A session notice as one short line: 'offline: no LLM is configured, so the interview runs on the
    built-in question bank (set ...)' -> 'Running on the built-in question bank: no LLM is configured (set ...)'."""
    body = notice.strip()
    if not body.startswith("offline:"):
        return body[:1].upper() + body[1:]
    body = body.removeprefix("offline:").strip()
    for phrase in BANK_PHRASES:
        body = body.replace(phrase, "")
    if "continues on the built-in question bank" in body:
        body = "this interview started offline and stays so"
    return f"Running on the built-in question bank: {body}"


def progress_text(progress: "Progress", question: "Question") -> Text:
    return Text.assemble(
        (f"Round {progress.round_number}/{ROUND_COUNT} · {progress.round}", "bold"),
        f" · question {progress.asked}",
        (f" · at most {progress.remaining} left", "dim"),
        (" · built-in bank" if question.source == "bank" else "", "dim"),
    )


# ---------------------------------------------------------------- messages from the workers


class PersonasReady(Message):
    def __init__(self, personas: list["Persona"], source: str, notices: list[str], offline: bool) -> None:
        super().__init__()
        self.personas = personas
        self.source = source
        self.notices = notices
        self.offline = offline


class QuestionReady(Message):
    def __init__(self, question: "Question", progress: "Progress", notices: list[str], echo: str,
                 offline: bool, persona: str) -> None:
        super().__init__()
        self.question = question
        self.progress = progress
        self.notices = notices
        self.echo = echo
        self.offline = offline
        self.persona = persona


class InterviewDone(Message):
    """The interview is finished; ``counts`` is the session's per-round (answered, asked)."""

    def __init__(self, counts: dict[str, tuple[int, int]], persona: str, offline: bool, frameworks: str,
                 notices: list[str], drafted: bool, skipped: int) -> None:
        super().__init__()
        self.counts = counts
        self.persona = persona
        self.offline = offline
        self.frameworks = frameworks
        self.notices = notices
        self.drafted = drafted
        self.skipped = skipped


class ArtifactsDrafted(Message):
    def __init__(self, ok: bool, note: str, next_hint: str) -> None:
        super().__init__()
        self.ok = ok
        self.note = note
        self.next_hint = next_hint


class Resynced(Message):
    """The transcript changed on disk and the session read it again (nothing was written over it)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


RESYNC_TEXT = ("↻ the interview changed on disk (answers given elsewhere, or a hand edit) and was read again; "
               "nothing was lost, but your last step was not saved: give it again if it is still needed")


class Nudge(Message):
    """Nothing changed (e.g. back on the first question): say so."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


# ---------------------------------------------------------------- the screen


def _keys(keys: tuple[str, str], action: str, description: str, ident: str, tooltip: str) -> list[Binding]:
    """One action on two keys, shown once as 'tab/^e' (the second key works but is not listed twice)."""
    first, second = keys
    shown = "/".join(_display(k) for k in keys)
    return [
        Binding(first, action, description, id=ident, priority=True, key_display=shown, tooltip=tooltip),
        Binding(second, action, description, id=f"{ident}.alt", priority=True, show=False, tooltip=tooltip),
    ]


def _display(key: str) -> str:
    return {"ctrl+e": "^e", "ctrl+s": "^s", "ctrl+b": "^b", "f2": "F2", "alt+left": "alt+←"}.get(key, key)


class InterviewScreen(Screen):
    BINDINGS = [
        # a digit takes the n-th option shown: a persona on the persona step, a suggestion on a question
        *[Binding(str(n), f"option({n})", f"Pick {n}", id=f"interview.pick{n}", group=PICK, priority=True,
                  tooltip=f"Persona {n} (persona step) · suggestion {n}, while the answer field is empty (question)")
          for n in range(1, max(MAX_PERSONAS, MAX_PICKS) + 1)],
        # persona step
        Binding("e", "edit_persona", "Edit", id="interview.edit_persona",
                tooltip="Edit the highlighted persona's role, years and why, then interview as it"),
        Binding("r", "repropose", "Ask again", id="interview.repropose",
                tooltip="Ask the interviewer model for three new personas"),
        # question step
        Binding("up", "move(-1)", "Up", id="interview.up", group=MOVE,
                tooltip="Highlight the previous suggestion"),
        Binding("down", "move(1)", "Down", id="interview.down", group=MOVE,
                tooltip="Highlight the next suggestion"),
        *_keys(("tab", "ctrl+e"), "edit_suggestion", "Edit suggestion", "interview.edit_suggestion",
               "Copy the highlighted suggestion into the answer field to edit it"),
        *_keys(("ctrl+s", "f2"), "skip", "Skip", "interview.skip",
               "Skip this question (it still counts toward the maximum)"),
        *_keys(("ctrl+b", "alt+left"), "back", "Back", "interview.back",
               "Re-open the previous question for a new answer"),
        # summary step
        Binding("b", "boundaries", "Boundaries", id="interview.boundaries",
                tooltip="Open the boundary editor: review and approve WILL / WILL NOT"),
        Binding("a", "answers", "Answers", id="interview.answers",
                tooltip="Read every question and your answer (read-only)"),
        Binding("d", "draft", "Draft again", id="interview.draft",
                tooltip="Draft the knowledge base, boundaries, taxonomy and criteria again"),
        Binding("escape", "leave", "Leave", id="interview.leave",
                tooltip="Back to the dashboard; every answer is saved and the interview resumes here"),
        Binding("f1", "help", "Help", id="interview.help",
                tooltip="Show every key of this screen (? does too, except while typing an answer)"),
    ]

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.title = project.meta.name
        self.sub_title = "interview"
        self.session: "InterviewSession | None" = None
        self.lock = session_lock(project)
        self.step = "loading"  # loading | persona | question | summary
        self.busy = False
        self.personas: list["Persona"] = []
        self.persona_source = ""
        self.offline = False
        self.question: "Question | None" = None
        self.drafted = False  # the artifacts exist (drafted now or earlier)
        self.draft_failed = False

    @property
    def tunesmith(self) -> "TunesmithApp":
        return cast("TunesmithApp", self.app)

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="♪")
        yield Static("", id="iv-notice", markup=False)
        with ContentSwitcher(initial="iv-loading", id="iv-steps"):
            yield Static("", id="iv-loading")
            with Vertical(id="iv-persona"):
                yield Static("", id="iv-persona-title")
                yield PersonaList(id="iv-personas")
            with Vertical(id="iv-question"):
                yield Static("", id="iv-progress")
                with VerticalScroll(id="iv-body"):
                    yield Static("", id="iv-text", markup=False)
                    yield Static("", id="iv-why", markup=False)
                    yield SuggestionList(id="iv-suggestions")
                yield AnswerInput(placeholder="type your own answer · a digit picks while this is empty",
                                  id="iv-answer", max_length=2000)
                yield Static("", id="iv-answer-full", markup=False)  # a long answer, whole, to reread
            with VerticalScroll(id="iv-summary"):
                yield Static("", id="iv-summary-text")
        with Horizontal(id="iv-status"):
            yield LoadingIndicator(id="iv-spinner")
            yield Static("", id="iv-status-text", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#iv-notice", Static).display = False
        self.set_busy("opening the interview…")
        self.load()

    def on_unmount(self) -> None:
        session, lock = self.session, self.lock
        gateway = getattr(session, "gateway", None)
        if gateway is None or not hasattr(gateway, "close"):
            return

        def close() -> None:  # after any call still running in a worker
            with lock:
                try:
                    gateway.close()
                except Exception:
                    pass

        threading.Thread(target=close, name="interview-gateway-close", daemon=True).start()

    # ------------------------------------------------------------ state shown

    def set_busy(self, text: str | None) -> None:
        """Show the spinner and what it waits for (text), or stop it (None)."""
        self.busy = text is not None
        self.query_one("#iv-spinner").display = self.busy
        if text is not None:
            self.query_one("#iv-status-text", Static).update(text)
        answer = self.query_one(AnswerInput)
        answer.disabled = self.busy
        if not self.busy and self.step == "question":
            answer.focus()
        self.refresh_bindings()

    def say(self, text: str) -> None:
        self.query_one("#iv-status-text", Static).update(text)

    def show_notices(self, notices: list[str], offline: bool) -> None:
        self.offline = offline
        box = self.query_one("#iv-notice", Static)
        if notices:
            box.update("⚠ " + notice_text(notices[-1]))
        elif offline and not str(box.content).strip():
            box.update("⚠ Running on the built-in question bank: questions are not tailored to your answers")
        box.display = offline or bool(notices)

    def switch(self, step: str) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = f"iv-{step}"
        if step == "persona":
            self.query_one(PersonaList).focus()
        elif step == "question":
            self.query_one(AnswerInput).focus()
        else:
            self.set_focus(None)
        self.refresh_bindings()

    # ------------------------------------------------------------ workers (all under the project's lock)

    @background("interview")
    def load(self) -> None:
        from core.extract.interview import InterviewSession

        with self.lock:
            session = InterviewSession.open(self.project)
            self.session = session
            self.post_state(session)

    @background("interview")
    def propose(self, force: bool) -> None:
        from core.errors import InterviewChanged

        session = self.require_session()
        with self.lock:
            try:
                session.propose_personas(force=force)
                self.post_personas(session)
            except InterviewChanged:
                self.resync(session)

    @background("interview")
    def advance(self, op: str, arg: Any = None) -> None:
        """One step of the interview (saved at once), then fetch the question that follows."""
        from core.errors import InterviewChanged

        session = self.require_session()
        with self.lock:
            try:
                self._advance(session, op, arg)
            except InterviewChanged:  # written elsewhere meanwhile: take that up, write nothing over it
                self.resync(session)

    def _advance(self, session: "InterviewSession", op: str, arg: Any) -> None:
        echo = ""
        if op == "choose":
            echo = f"interviewing as persona {arg}: {session.choose_persona(arg).role}"
        elif op == "edit":
            n, fields = arg
            session.edit_persona(n, **fields)
            echo = f"interviewing as persona {n}: {session.choose_persona(n).role} (edited)"
        elif op == "pick":
            q = session.pick(arg)
            echo = f"✓ {q.id} saved: {q.answer}"
        elif op == "answer":
            q = session.answer(arg)
            echo = f"✓ {q.id} saved: {q.answer}"
        elif op == "skip":
            q = session.skip()
            echo = f"↷ {q.id} skipped"
        elif op == "back":
            q = session.back()
            if q is None:
                self.post_message(Nudge("this is the first question: nothing to go back to"))
                return
            echo = f"↶ back to {q.id}: answer it again"
        self.post_current(session, echo=echo)

    @background("interview-draft")
    def draft(self) -> None:
        from core.errors import TunesmithError
        from core.extract.artifacts import draft_artifacts

        session = self.require_session()
        with self.lock:
            try:
                artifacts = draft_artifacts(self.project, session.gateway)
            except TunesmithError as exc:
                self.post_message(ArtifactsDrafted(False, str(exc), ""))
                return
            self.project.mark("extract", "artifacts")
            self.project.reload()
            self.post_message(ArtifactsDrafted(True, artifacts.note, self.project.meta.next_hint()))

    # helpers the workers call (in their thread, holding the lock)

    def post_state(self, session: "InterviewSession", echo: str = "") -> None:
        """Show where the session stands: the summary, the personas, or the current question."""
        if session.finished:
            self.post_done(session, first_time=False, echo=echo)
        elif session.persona is None:
            self.post_personas(session)
        else:
            self.post_current(session, echo=echo or f"resuming the interview as {session.persona.role}")

    def resync(self, session: "InterviewSession") -> None:
        """The transcript changed on disk (InterviewChanged): read it again, say so, show where it is."""
        session.reload()
        self.post_message(Resynced(RESYNC_TEXT))
        self.post_state(session, echo=RESYNC_TEXT)

    def require_session(self) -> "InterviewSession":
        if self.session is None:
            raise RuntimeError("the interview is not open yet")
        return self.session

    def post_personas(self, session: "InterviewSession") -> None:
        personas = session.propose_personas()
        self.post_message(PersonasReady([p.model_copy() for p in personas], session.interview.persona_source,
                                        session.drain_notices(), session.offline))

    def post_current(self, session: "InterviewSession", echo: str = "") -> None:
        q = session.current()
        if q is None:
            self.post_done(session, first_time=True, echo=echo)
            return
        persona = session.persona.role if session.persona else ""
        self.post_message(QuestionReady(q.model_copy(), session.progress(), session.drain_notices(), echo,
                                        session.offline, persona))

    def post_done(self, session: "InterviewSession", first_time: bool, echo: str = "") -> None:
        from core.extract.frameworks import framework_answer

        iv = session.interview
        self.project.reload()
        for step in ("persona", "interview"):  # as the CLI does for an interview finished elsewhere
            if not self.project.meta.is_done("extract", step):
                self.project.mark("extract", step)
        drafted = self.project.meta.is_done("extract", "artifacts") or self.project.exists(BOUNDARIES)
        self.post_message(InterviewDone(
            session.counts(), iv.persona.role if iv.persona else "", iv.offline, framework_answer(iv) or "",
            session.drain_notices() + ([echo] if echo else []), drafted and not first_time,
            sum(1 for q in iv.questions if q.skipped),
        ))

    # ------------------------------------------------------------ messages

    def on_work_failed(self, message: WorkFailed) -> None:
        """A worker failed: stop the spinner; the App shows the error (the message bubbles on)."""
        if message.group == "interview-draft":
            self.draft_failed = True
            self.show_summary_footer("✗ The artifacts could not be drafted: d drafts again, "
                                     "or b drafts them in the boundary editor.")
        if self.step == "loading":
            self.query_one("#iv-loading", Static).update("The interview could not be opened. esc goes back.")
        self.set_busy(None)
        self.say("✗ that did not work; nothing was lost, try again")

    def on_personas_ready(self, message: PersonasReady) -> None:
        self.personas = message.personas
        self.persona_source = message.source
        self.show_notices(message.notices, message.offline)
        note = " (drafted offline from the task and preset)" if message.source == "bank" else ""
        self.query_one("#iv-persona-title", Static).update(Text.assemble(
            ("Who should the interviewer talk to?", "bold"),
            f" Expert personas ranked by domain knowledge × clarity{note}.",
            ("\n1-3 or enter chooses · e edits the highlighted one first", "dim"),
        ))
        self.query_one(PersonaList).show(self.personas)
        self.switch("persona")
        self.set_busy(None)
        self.say("choose the expert to interview as")

    def on_question_ready(self, message: QuestionReady) -> None:
        q = message.question
        self.question = q
        self.show_notices(message.notices, message.offline)
        if message.persona:
            self.sub_title = f"interview as {message.persona}"
        self.query_one("#iv-progress", Static).update(progress_text(message.progress, q))
        self.query_one("#iv-text", Static).update(literal(q.text))
        why = self.query_one("#iv-why", Static)
        why.update(f"why: {q.why}" if q.why else "")
        why.display = bool(q.why)
        self.query_one(SuggestionList).show(q.suggestions)
        answer = self.query_one(AnswerInput)
        answer.pick_count = len(q.suggestions)
        answer.value = ""
        self.query_one("#iv-body", VerticalScroll).scroll_home(animate=False)
        self.switch("question")
        self.set_busy(None)
        self.say(message.echo or "a digit picks · enter saves your answer (empty: the highlighted suggestion)")

    def on_interview_done(self, message: InterviewDone) -> None:
        self.question = None
        self.show_notices([], False)
        answered = sum(a for a, _ in message.counts.values())
        asked = sum(n for _, n in message.counts.values())
        head = Text.assemble(
            ("Interview complete", "bold"), f" · as {message.persona}" if message.persona else "",
            (" · built-in question bank" if message.offline else "", "dim"),
            (f"\n{answered} answered, {message.skipped} skipped, {asked} questions", "dim"),
        )
        rounds = Table.grid(padding=(0, 2))
        rounds.add_column(no_wrap=True)
        rounds.add_column(no_wrap=True)
        rounds.add_column()
        for i, (rnd, (a, n)) in enumerate(message.counts.items(), 1):
            rounds.add_row(f"  Round {i}/{ROUND_COUNT}", Text(rnd, style="bold"), f"{a} answered of {n} asked")
        if message.frameworks:
            rounds.add_row("  Frameworks", "", Text(str(message.frameworks)))  # stored text, not markup
        self.summary_head = Group(head, rounds)
        self.switch("summary")
        self.sub_title = "interview complete"
        if message.drafted:
            self.drafted = True
            self.set_busy(None)
            self.show_summary_footer("✓ The knowledge artifacts are drafted (in knowledge/).\n"
                                     "Next: b opens the boundary editor to review and approve them.")
            self.say("interview complete")
        else:
            self.show_summary_footer("Drafting the knowledge base, scope boundaries, input taxonomy and "
                                     "quality criteria from your answers…")
            self.set_busy("drafting the knowledge artifacts…")
            self.draft()

    def show_summary_footer(self, text: str) -> None:
        head = getattr(self, "summary_head", Text())
        self.query_one("#iv-summary-text", Static).update(Group(head, Text(""), Text(text)))

    def on_artifacts_drafted(self, message: ArtifactsDrafted) -> None:
        self.set_busy(None)
        if message.ok:
            self.drafted = True
            self.draft_failed = False
            text = "✓ Drafted: knowledge base, scope boundaries, input taxonomy, quality criteria (in knowledge/)."
            if message.note:
                text += f"\nNote: {message.note}"
            text += "\nNext: press b to review and approve the scope boundaries."
            self.show_summary_footer(text)
            self.say("artifacts drafted · b opens the boundary editor")
        else:
            self.draft_failed = True
            self.show_summary_footer(f"✗ The artifacts could not be drafted: {message.note}\n"
                                     "d drafts again; b opens the boundary editor, which drafts them too.")
            self.say("drafting failed")
        self.refresh_bindings()

    def on_resynced(self, message: Resynced) -> None:
        self.notify(message.text, title="Interview read again", severity="warning", timeout=10, markup=False)

    def on_nudge(self, message: Nudge) -> None:
        self.set_busy(None)
        self.say(message.text)
        self.notify(message.text, severity="warning", markup=False)

    # ------------------------------------------------------------ which keys work now

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "option":
            action = {"persona": "choose", "question": "pick"}.get(self.step, "")
            if not action:
                return False
        steps = {
            "choose": "persona", "edit_persona": "persona", "repropose": "persona",
            "pick": "question", "move": "question", "edit_suggestion": "question", "skip": "question",
            "back": "question", "help": "question", "boundaries": "summary", "draft": "summary",
            "answers": "summary",
        }
        step = steps.get(action)
        if step is None:
            return True
        if step != self.step:
            return False
        if action == "choose":
            return int(cast(int, parameters[0])) <= len(self.personas) and (None if self.busy else True)
        if action == "repropose" and (self.offline or self.persona_source == "bank"):
            return False
        if action == "pick":
            q = self.question
            n = int(cast(int, parameters[0]))
            if q is None or n > len(q.suggestions):
                return False
            if self.query_one(AnswerInput).value:
                return False  # digits are text once the answer holds some
        if action == "draft" and not self.draft_failed:
            return False
        return None if self.busy else True

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, AnswerInput):
            self.refresh_bindings()  # the pick keys come and go with an empty field
            self.show_whole_answer(event.value)

    def show_whole_answer(self, value: str) -> None:
        """An answer longer than the field is shown whole below it, wrapped, while it is typed and edited
        (the field scrolls sideways; ←/→, home/end move in it)."""
        full = self.query_one("#iv-answer-full", Static)
        width = max(10, self.query_one(AnswerInput).content_size.width - 1)
        long = len(value) > width
        full.display = long
        if long:
            full.update(Text.assemble((f"your answer, {len(value)} characters · enter saves it\n", "dim"), value))

    def action_option(self, n: int) -> None:
        """A digit: the n-th option shown (persona, or suggestion)."""
        if self.step == "persona":
            self.action_choose(n)
        elif self.step == "question" and self.check_action("option", (n,)):
            self.action_pick(n)

    # ------------------------------------------------------------ persona actions

    def action_choose(self, n: int) -> None:
        if self.busy or not 1 <= n <= len(self.personas):
            return
        self.query_one(PersonaList).highlighted = n - 1
        self.set_busy(f"starting the interview as {self.personas[n - 1].role}…")
        self.advance("choose", n)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if isinstance(event.option_list, PersonaList):
            self.action_choose(event.option_index + 1)
        elif isinstance(event.option_list, SuggestionList) and self.step == "question":
            self.action_pick(event.option_index + 1)

    def action_edit_persona(self) -> None:
        if self.busy or not self.personas:
            return
        i = self.query_one(PersonaList).highlighted or 0
        n = i + 1

        def done(fields: dict[str, Any] | None) -> None:
            if fields is None:
                return
            self.set_busy(f"starting the interview as {fields['role']}…")
            self.advance("edit", (n, fields))

        self.app.push_screen(PersonaDialog(n, self.personas[i]), done)

    def action_repropose(self) -> None:
        if self.busy:
            return
        self.set_busy("asking the interviewer model for expert personas…")
        self.propose(True)

    # ------------------------------------------------------------ question actions

    def thinking(self) -> str:
        return "saving · choosing the next question…" if not self.offline else "saving…"

    def action_pick(self, n: int) -> None:
        q = self.question
        if self.busy or q is None or not 1 <= n <= len(q.suggestions):
            return
        self.query_one(SuggestionList).highlighted = n - 1
        self.set_busy(self.thinking())
        self.advance("pick", n)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not isinstance(event.input, AnswerInput) or self.busy or self.question is None:
            return
        text = event.value.strip()
        if not text:  # empty enter: the highlighted suggestion, the first unless moved (as in the CLI)
            self.action_pick((self.query_one(SuggestionList).highlighted or 0) + 1)
            return
        self.set_busy(self.thinking())
        self.advance("answer", text)

    def action_answers(self) -> None:
        from screens.browse import BrowseScreen

        self.app.push_screen(BrowseScreen(self.project, "interview"))

    def action_move(self, delta: int) -> None:
        suggestions = self.query_one(SuggestionList)
        if suggestions.option_count:
            current = suggestions.highlighted or 0
            suggestions.highlighted = max(0, min(suggestions.option_count - 1, current + delta))

    def action_edit_suggestion(self) -> None:
        q = self.question
        if self.busy or q is None or not q.suggestions:
            return
        i = self.query_one(SuggestionList).highlighted or 0
        answer = self.query_one(AnswerInput)
        answer.value = q.suggestions[i]
        answer.cursor_position = len(answer.value)
        answer.focus()
        self.say(f"suggestion {i + 1} copied: edit it, then enter saves")

    def action_skip(self) -> None:
        if self.busy or self.question is None:
            return
        self.set_busy(self.thinking())
        self.advance("skip")

    def action_back(self) -> None:
        if self.busy or self.question is None:
            return
        self.set_busy("re-opening the previous question…")
        self.advance("back")

    # ------------------------------------------------------------ summary and leaving

    def action_boundaries(self) -> None:
        if self.busy:
            return
        self.tunesmith.open_screen("boundaries", self.project)

    def action_draft(self) -> None:
        if self.busy:
            return
        self.set_busy("drafting the knowledge artifacts…")
        self.show_summary_footer("Drafting the knowledge artifacts again…")
        self.draft()

    def action_help(self) -> None:
        self.tunesmith.action_help()

    def action_leave(self) -> None:
        self.app.pop_screen()
