"""One writer, always: the project's ``.lock`` is an OS-level lock (core/lock.py).

Processes racing for it never both hold it; it ends with its holder (kill -9 included, and a forked
child does not keep it); the message names the holder's pid and host; it is re-entrant and shared by
every Project of a folder in a process; the TUI holds it while a project is open, so a CLI writing
command fails clearly and changes nothing; an interview written on disk behind the screen's back is
read again, never overwritten.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import lock as core_lock
from core.errors import InterviewChanged, LockedError
from core.extract.interview import InterviewSession
from core.lock import ProjectLock
from core.models.knowledge import Interview
from core.project import INTERVIEW, Project

ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()
CHESS = "Coach amateur chess players on their openings."


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def locked_elsewhere(folder: Path) -> bool:
    """Whether some process (this one included) holds the folder's lock: a fresh open file cannot take it."""
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


# ---------------------------------------------------------------- processes racing

RACER = r"""
import os, sys, time
from pathlib import Path
from core.errors import LockedError
from core.lock import ProjectLock

folder, log, t0, trials, gap = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
lock = ProjectLock(folder)
out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(trials):
    wait = t0 + i * gap - time.time()
    if wait > 0:
        time.sleep(wait)
    try:
        lock.acquire()
    except LockedError:
        continue
    os.write(out, f"start {i} {os.getpid()}\n".encode())
    time.sleep(gap / 4)
    os.write(out, f"end {i} {os.getpid()}\n".encode())
    lock.release()
"""


def test_racing_processes_never_hold_it_together(tmp_path: Path) -> None:
    """Four processes try at the same instants, 60 times (the pid-file lock let two in 6 of 80)."""
    folder = tmp_path / "p"
    folder.mkdir()
    log = tmp_path / "holders.log"
    trials, gap = 60, 0.04
    t0 = time.time() + 2.0  # every racer is started and waiting by then
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(folder), str(log), str(t0), str(trials), str(gap)],
                               cwd=ROOT, env=env()) for _ in range(4)]
    for racer in racers:
        assert racer.wait(timeout=60) == 0
    events = log.read_text().splitlines()
    holder = None
    won = set()
    for line in events:
        kind, trial, pid = line.split()
        if kind == "start":
            assert holder is None, f"{pid} took the lock while {holder} held it (trial {trial})"
            holder = pid
            won.add(trial)
        else:
            assert holder == pid
            holder = None
    assert holder is None
    assert len(won) >= trials // 2, "the racers hardly ever got the lock: the race did not run"
    assert (folder / ".lock").exists(), "the lock file is never deleted"


# ---------------------------------------------------------------- ends with its holder; the message

HOLDER = r"""
import sys, time
from pathlib import Path
from core.lock import ProjectLock
ProjectLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_kill_9_releases_it_and_the_message_names_the_holder(projects_root: Path) -> None:
    p = Project.create("Billing Bot", "answer billing questions", root=projects_root)
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(p.folder)], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env())
    try:
        assert child.stdout.readline().strip() == "locked"
        assert (p.folder / ".lock").read_text() == f"{child.pid} {HOST}\n"
        with pytest.raises(LockedError, match=rf"billing-bot is in use by another tunesmith "
                                              rf"\(pid {child.pid} on {re.escape(HOST)}\)"):
            p.save()
        with pytest.raises(LockedError):
            p.hold_lock()
        assert not p.locked_here
        # what the file says is only for the message: empty or garbled, the lock still holds, and says so
        (p.folder / ".lock").write_text("")
        with pytest.raises(LockedError, match="in use by another tunesmith .*not recorded yet"):
            p.save()
        (p.folder / ".lock").write_text("\x00garbled")
        with pytest.raises(LockedError, match="in use by another tunesmith .*not known.*garbled"):
            p.save()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    p.save()  # the kernel ended the lock with its process: no stale-lock guessing
    assert (p.folder / ".lock").exists() and not p.locked_here


def test_a_leftover_lock_file_is_not_a_lock(projects_root: Path) -> None:
    """A .lock left by a process that died, here or on another host, or by a reused pid, locks nothing."""
    p = Project.create("Billing Bot", "answer billing questions", root=projects_root)
    for text in (f"{os.getpid() + 1} {HOST}\n", "12345 some-other-host\n", f"{os.getpid()} {HOST}\n", ""):
        (p.folder / ".lock").write_text(text)
        p.mark("extract", "persona")
    assert Project.open("billing-bot", projects_root).meta.is_done("extract", "persona")


# ---------------------------------------------------------------- in one process

def test_reentrant_and_shared_by_every_project_of_the_folder(projects_root: Path) -> None:
    Project.create("Billing Bot", "answer billing questions", root=projects_root)
    a = Project.open("billing-bot", projects_root)
    b = Project.open("Billing Bot", projects_root)
    link = projects_root.parent / "linked"
    link.symlink_to(projects_root)
    c = Project.open("billing-bot", link)  # the same folder by another path
    assert not locked_elsewhere(a.folder)
    a.hold_lock()
    a.hold_lock()  # once per Project: a second call is no second hold
    assert a.locked_here and b.locked_here and c.locked_here and locked_elsewhere(a.folder)
    with b.writing():
        b.mark("extract", "persona")  # re-entrant: the same process's writes go through
        with c.writing():
            c.save()
    b.release_lock()  # b took no hold: nothing to end
    assert a.locked_here
    a.release_lock()
    assert not (a.locked_here or b.locked_here or c.locked_here) and not locked_elsewhere(a.folder)
    with a.writing():
        assert b.locked_here and locked_elsewhere(a.folder)
    assert not locked_elsewhere(a.folder)
    assert (a.folder / ".lock").read_text() == "", "released: no holder recorded"


def test_a_command_keeps_the_lock_from_its_first_write_to_its_end(projects_root: Path) -> None:
    from core.lock import kept_until_done

    p = Project.create("Billing Bot", "answer billing questions", root=projects_root)
    with kept_until_done():
        p.read(INTERVIEW, Interview) if p.exists(INTERVIEW) else None
        assert not locked_elsewhere(p.folder), "reading takes no lock"
        p.mark("extract", "persona")
        assert p.locked_here and locked_elsewhere(p.folder), "kept between two writes"
        with Project.open("billing-bot", projects_root).writing():
            pass
        assert locked_elsewhere(p.folder)
    assert not p.locked_here and not locked_elsewhere(p.folder)


FORKER = r"""
import os, sys, time
from pathlib import Path
from core.errors import LockedError
from core.lock import ProjectLock

folder = Path(sys.argv[1])
lock = ProjectLock(folder)
lock.acquire()
r, w = os.pipe()
pid = os.fork()
if pid == 0:  # the child: it does not hold its parent's lock, and cannot take it while the parent lives
    ok = not lock.held_here and ProjectLock(folder).depth == 0
    try:
        ProjectLock(folder).acquire()
        ok = False
    except LockedError as exc:
        ok = ok and f"pid {os.getppid()} on" in str(exc)
    os.write(w, b"ok" if ok else b"bad")
    time.sleep(30)
    os._exit(0)
print(pid, os.read(r, 10).decode(), flush=True)
os.kill(os.getpid(), 9)  # the parent dies holding the lock; the child lives on
"""


def test_a_forked_child_does_not_hold_or_keep_the_lock(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", FORKER, str(folder)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env=env())
    child_pid, verdict = parent.stdout.readline().split()
    try:
        assert verdict == "ok"
        parent.wait(timeout=20)
        os.kill(int(child_pid), 0)  # the child is still alive ...
        assert not locked_elsewhere(folder)  # ... and the lock ended with its holder
    finally:
        os.kill(int(child_pid), signal.SIGKILL)


def test_holds_are_forgotten_in_a_fork_child(tmp_path: Path) -> None:
    """The registry's own fork hook (run here without forking): a child has no hold and no open file."""
    lock = ProjectLock(tmp_path)
    lock.acquire()
    try:
        saved = dict(core_lock._HOLDS)
        fds = [h.fd for h in saved.values()]
        dup = {fd: os.dup(fd) for fd in fds}  # the hook closes the child's copies; keep ours open
        core_lock._HOLDS.clear()
        core_lock._HOLDS.update({k: core_lock._Hold(dup[v.fd], v.depth, v.pid) for k, v in saved.items()})
        core_lock._after_fork_in_child()
        assert core_lock._HOLDS == {} and not lock.held_here
        for fd in dup.values():
            with pytest.raises(OSError):
                os.fstat(fd)
        core_lock._HOLDS.update(saved)
        assert lock.held_here
    finally:
        lock.release()
    assert not locked_elsewhere(tmp_path)


# ---------------------------------------------------------------- the TUI against the CLI

def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env(), timeout=60)


async def settle(pilot) -> None:
    for _ in range(200):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not getattr(pilot.app.screen, "busy", False):
            return
    raise AssertionError("the screen stayed busy")


async def test_the_tui_holds_the_lock_while_a_project_is_open(projects_root: Path) -> None:
    from screens.dashboard import DashboardScreen
    from tui.app import TunesmithApp

    project = Project.create("Chess Coach", CHESS, root=projects_root)
    before = digest(project.folder)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.open_project("chess-coach")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and app.screen.opened.locked_here
        assert locked_elsewhere(project.folder)
        assert (project.folder / ".lock").read_text() == f"{os.getpid()} {HOST}\n"

        # a writing command from the CLI: refused, clearly, and nothing changes
        out = await asyncio.to_thread(cli, "interview", "chess-coach", "--persona", "1", stdin="a\nb\nc\n")
        assert out.returncode == 1, out.stderr
        assert f"chess-coach is in use by another tunesmith (pid {os.getpid()} on {HOST})" in out.stderr
        assert "Traceback" not in out.stderr
        assert digest(project.folder) == before
        # reading commands still work
        out = await asyncio.to_thread(cli, "status", "chess-coach")
        assert out.returncode == 0, out.stderr
        assert digest(project.folder) == before

        # the same process (the TUI's screens and workers, any Project object) writes as usual
        Project.open("chess-coach", projects_root).mark("extract", "persona", False)

        # a second tunesmith app opening it is told who has it
        other = Project.open("chess-coach", projects_root)
        assert other.locked_here  # same process: shared

        await pilot.press("escape")  # close the project: back to the list
        await settle(pilot)
        assert not isinstance(app.screen, DashboardScreen)
        assert not locked_elsewhere(project.folder)
        out = await asyncio.to_thread(cli, "interview", "chess-coach", "--persona", "1", stdin="a\nb\nc\n")
        assert out.returncode == 0, out.stderr
    answers = [q.answer for q in project.read(INTERVIEW, Interview).questions if q.answer]
    assert answers == ["a", "b", "c"]


async def test_the_tui_does_not_open_a_project_another_process_holds(projects_root: Path) -> None:
    from screens.dashboard import DashboardScreen
    from tui.app import TunesmithApp
    from tui.errors import ErrorDialog

    project = Project.create("Chess Coach", CHESS, root=projects_root)
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(project.folder)], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env())
    try:
        assert child.stdout.readline().strip() == "locked"
        app = TunesmithApp(projects_root)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            app.open_project("chess-coach")
            await settle(pilot)
            assert isinstance(app.screen, ErrorDialog)
            assert f"in use by another tunesmith (pid {child.pid} on {HOST})" in app.screen.message
            assert not any(isinstance(s, DashboardScreen) for s in app.screen_stack)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


async def test_an_interview_changed_on_disk_is_read_again_not_overwritten(projects_root: Path) -> None:
    """The lost-answers case: the screen open without the lock (an older tunesmith, a hand edit); three
    answers given on the CLI meanwhile survive the screen's next answer."""
    from screens.interview import InterviewScreen
    from tui.app import TunesmithApp

    project = Project.create("Chess Coach", CHESS, root=projects_root)
    app = TunesmithApp(projects_root)
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(InterviewScreen(project))  # straight in: no dashboard, no hold
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InterviewScreen) and screen.step == "persona"
        await pilot.press("1")
        await settle(pilot)
        first = screen.question
        assert first is not None and not project.locked_here

        out = await asyncio.to_thread(cli, "interview", "chess-coach", stdin="A1\nA2\nA3\n")
        assert out.returncode == 0, out.stderr
        on_disk = project.read(INTERVIEW, Interview).questions
        assert [q.answer for q in on_disk[:3]] == ["A1", "A2", "A3"] and on_disk[0].id == first.id

        await pilot.press("2")  # the screen still shows question 1: its answer must not win
        await settle(pilot)
        after = project.read(INTERVIEW, Interview).questions
        assert [q.answer for q in after[:3]] == ["A1", "A2", "A3"]
        assert screen.question is not None and screen.question.id == on_disk[3].id
        status = str(screen.query_one("#iv-status-text").render())
        assert "changed on disk" in status
        assert any("changed on disk" in str(n.message) for n in app._notifications)

        await pilot.press("1")  # from the file's state on: saved as usual
        await settle(pilot)
        latest = project.read(INTERVIEW, Interview).questions
        assert [q.answer for q in latest[:3]] == ["A1", "A2", "A3"] and latest[3].answer


def test_a_session_never_writes_over_a_changed_file(projects_root: Path) -> None:
    project = Project.create("Chess Coach", CHESS, root=projects_root)
    mine = InterviewSession.open(project)
    mine.propose_personas()
    mine.choose_persona(1)
    q = mine.current()
    theirs = InterviewSession.open(Project.open("chess-coach", projects_root))
    theirs.answer("theirs")
    with pytest.raises(InterviewChanged, match="interview.toml: changed on disk"):
        mine.answer("mine")
    assert project.read(INTERVIEW, Interview).questions[0].answer == "theirs"
    mine.reload()
    assert mine.interview.questions[0].id == q.id and mine.interview.questions[0].answer == "theirs"
    mine.current()  # goes on from the file's state
