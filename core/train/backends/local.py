"""The local backend: the runner as a detached subprocess on this machine.

    submit  starts ``python core/train/runner.py --config runs/<id>/config.json`` in a new session (its own
            process group) with stdout and stderr appended to train.log; run.toml records the pid.
    poll    the process is alive (``os.kill(pid, 0)``, not a zombie, and /proc/<pid>/cmdline still names this
            run, so a reused pid is not mistaken for it) -> running; once it has exited, the final status
            comes from the status.json the runner writes last; no status.json -> failed (killed or crashed).
    cancel  SIGTERM to the process group (the runner records "canceled"), SIGKILL after a grace period.

Everything is read from the run folder, so any process (a restarted TUI, ``tunesmith runs``) can poll or
cancel a run another process started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from core.models.runs import TrainingRun
from core.train import runfolder as rf

RUNNER = Path(__file__).resolve().parent.parent / "runner.py"
GRACE_S = 10.0  # SIGTERM -> SIGKILL
EXIT_WAIT_S = 30.0  # status.json written but the process still alive after this long: take the status

# Popen objects of runs this process started: polled so that finished children are reaped, not left as
# zombies that os.kill(pid, 0) would still report as alive.
_CHILDREN: dict[int, subprocess.Popen] = {}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _proc_state(pid: int) -> str | None:
    """The process state letter from /proc (R, S, D, Z, ...); None where /proc is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    except OSError:
        return None
    tail = stat.rsplit(")", 1)[-1].split()
    return tail[0] if tail else None


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""
    except OSError:
        return None


def process_alive(pid: int | None, run_id: str) -> bool:
    """Whether the runner of ``run_id`` is still running as ``pid``."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: check its command line below
    state = _proc_state(pid)
    if state in ("Z", "X", "gone"):
        return False
    cmd = _cmdline(pid)
    if cmd is not None and run_id not in cmd:
        return False  # the pid was reused by another program
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend:
    name = "local"

    def __init__(self, python: str | None = None, grace_s: float = GRACE_S):
        self.python = python or sys.executable
        self.grace_s = grace_s

    def command(self, folder: Path) -> list[str]:
        return [self.python, str(RUNNER), "--config", str(Path(folder).resolve() / rf.CONFIG_JSON)]

    def submit(self, folder: Path, run: TrainingRun) -> TrainingRun:
        folder = Path(folder)
        env = dict(os.environ)
        env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
        with (folder / rf.LOG).open("ab") as log:
            proc = subprocess.Popen(self.command(folder), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=str(folder), env=env, start_new_session=True,
                                    close_fds=True)
        _CHILDREN[proc.pid] = proc
        run.pid = proc.pid
        run.status = "running"
        run.started_at = _now()
        run.output_model = str((folder / rf.MODEL_DIR).resolve())
        return run

    def poll(self, folder: Path, run: TrainingRun) -> TrainingRun:
        if run.status in rf.FINAL:
            return run
        folder = Path(folder)
        alive = process_alive(run.pid, run.run_id)
        status = rf.read_status(folder)
        if alive:
            if status is None or time.time() - _mtime(folder / rf.STATUS_JSON) < EXIT_WAIT_S:
                if run.status != "running":
                    run.status = "running"
                return run  # still training, or writing its last lines before it exits
        if status is None:
            run.status = "failed"
            run.failure_reason = ("the training process ended without recording a result (killed, out of memory, "
                                  "or crashed): see train.log")
        else:
            run.status = status["status"]
            run.failure_reason = status.get("reason") if status["status"] != "completed" else None
        run.ended_at = _parse_time(status.get("ended_at")) if status else _now()
        return run

    def cancel(self, folder: Path, run: TrainingRun) -> TrainingRun:
        run = self.poll(folder, run)
        if run.status in rf.FINAL:
            return run
        pid = run.pid
        if pid and process_alive(pid, run.run_id):
            _signal_group(pid, signal.SIGTERM)
            deadline = time.time() + self.grace_s
            while time.time() < deadline and process_alive(pid, run.run_id):
                time.sleep(0.1)
            if process_alive(pid, run.run_id) or _group_alive(pid):
                _signal_group(pid, signal.SIGKILL)
                deadline = time.time() + 5.0
                while time.time() < deadline and process_alive(pid, run.run_id):
                    time.sleep(0.05)
        child = _CHILDREN.pop(pid, None) if pid else None
        if child is not None:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        run.status = "canceled"
        run.failure_reason = "canceled by the user"
        run.ended_at = _now()
        return run

    def follow(self, folder: Path, run: TrainingRun) -> None:
        """Nothing to do: the runner appends to train.log and metrics.jsonl itself."""
        return None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _parse_time(text: str | None) -> datetime:
    if text:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return _now()
