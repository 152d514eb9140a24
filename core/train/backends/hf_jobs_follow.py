"""The HF Jobs log follower: a daemon thread per run folder that streams the job's log into train.log.

Every connection to the Jobs log stream replays the log from its first line, so the lines already in
train.log are counted and skipped: a dropped stream, a restarted TUI or another process re-attaches without
duplicating a line (huggingface_hub's own retry logic makes the same assumption). Lines are appended and
flushed one by one with the token scrubbed; the runner's ``[metrics] step=...`` lines also become
metrics.jsonl rows. A second thread keeps run.toml's status fresh. When the job is final and its whole log
has been read, metrics.parquet is written and the thread ends.

One follower per run: a registry in this process, and a lock file (flock) that other processes respect.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import store
from core.models.runs import MetricRow, TrainingRun
from core.train import hub
from core.train.runfolder import FINAL, LOG, METRICS_JSONL, METRICS_PARQUET, read_metrics, read_run
from core.train.runner import METRIC_TAG, parse_metric_line

if TYPE_CHECKING:
    from core.train.backends.hf_jobs import HFJobsBackend

FOLLOW_LOCK = ".hf_jobs_follow.lock"
NOTE_PREFIX = "[hf_jobs] "  # lines the backend adds to train.log; every other line is the job's own
METRIC_PREFIX = METRIC_TAG  # the runner prints "HH:MM:SS [metrics] step=3 loss=2.31 ..." (runner.parse_metric_line)


_FOLLOWERS: dict[str, "_Follower"] = {}
_REGISTRY_LOCK = threading.Lock()


def parse_metric(line: str) -> MetricRow | None:
    row = parse_metric_line(line)
    if row is None:
        return None
    try:
        return MetricRow.model_validate({k: v for k, v in row.items() if k in MetricRow.model_fields})
    except ValueError:
        return None


def note(folder: Path, text: str, token: str | None = None) -> None:
    """Append one line of ours to train.log (prefixed, so log followers do not count it)."""
    stamp = time.strftime("%H:%M:%S")
    with (Path(folder) / LOG).open("a", encoding="utf-8") as fh:
        fh.write(f"{NOTE_PREFIX}{stamp} {hub.scrub(text, token)}\n")


def start_follower(backend: "HFJobsBackend", folder: Path, run: TrainingRun) -> None:
    key = str(folder.resolve())
    with _REGISTRY_LOCK:
        current = _FOLLOWERS.get(key)
        if current is not None and current.is_alive():
            return
        lock = _take_lock(folder / FOLLOW_LOCK)
        if lock is None:
            return  # another process follows this run
        thread = _Follower(backend, folder, run, lock)
        _FOLLOWERS[key] = thread
        thread.start()


def follower(folder: Path) -> threading.Thread | None:
    """The live follower thread of a run folder in this process, if any."""
    found = _FOLLOWERS.get(str(Path(folder).resolve()))
    return found if found is not None and found.is_alive() else None


def stop_following(folder: Path, timeout: float = 5.0) -> None:
    found = follower(folder)
    if found is not None:
        found.stop.set()
        found.join(timeout)


def _take_lock(path: Path):
    """An exclusive, non-blocking lock held as long as the returned file stays open (None: taken)."""
    fh = path.open("a+", encoding="utf-8")
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # no fcntl (Windows): the in-process registry is all there is
        pass
    except OSError:
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}@{socket.gethostname()}\n")
    fh.flush()
    return fh


def count_job_lines(path: Path) -> int:
    """Lines of the job's log already in train.log (our notes excluded). A torn last line is cut off."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        os.truncate(path, cut)
        data = data[:cut]
    prefix = NOTE_PREFIX.encode()
    return sum(1 for line in data.splitlines() if not line.startswith(prefix))


class _LogSink:
    """Appends job lines to train.log and metric rows to metrics.jsonl, flushed per line."""

    def __init__(self, folder: Path, token: str | None):
        self.token = token
        self.count = count_job_lines(folder / LOG)
        path = folder / METRICS_JSONL
        self.metrics_seen = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
        self.log = (folder / LOG).open("a", encoding="utf-8")
        self.metrics = path.open("a", encoding="utf-8")

    def add(self, line: str) -> None:
        line = hub.scrub(line.rstrip("\r\n").replace("\n", " "), self.token)
        if line.startswith(NOTE_PREFIX):
            line = " " + line  # keep the job's lines countable
        row = parse_metric(line)
        if row is not None:
            text = row.model_dump_json(exclude_none=True)
            if text not in self.metrics_seen:  # metric first: a crash in between re-reads the line, deduped here
                self.metrics.write(text + "\n")
                self.metrics.flush()
                self.metrics_seen.add(text)
        self.log.write(line + "\n")
        self.log.flush()
        self.count += 1

    def close(self) -> None:
        self.log.close()
        self.metrics.close()


class _Follower(threading.Thread):
    def __init__(self, backend: "HFJobsBackend", folder: Path, run: TrainingRun, lock: Any):
        super().__init__(name=f"hf-jobs-follow-{run.run_id}", daemon=True)
        self.backend, self.folder, self.run_ = backend, folder, run
        self.lock_file = lock
        self.stop = threading.Event()
        self.final = threading.Event()

    def run(self) -> None:
        token = None
        sink = None
        try:
            token = self.backend.token
            sink = _LogSink(self.folder, token)
            watcher = threading.Thread(target=self._watch_status, name=f"{self.name}-status", daemon=True)
            watcher.start()
            was_final = self.run_.status in FINAL
            self._stream(sink, token)
            self.final.set()
            self._finish(token, announce=not was_final)
        except Exception as exc:  # noqa: BLE001 - a follower must not die silently
            try:
                note(self.folder, f"log follower stopped: {type(exc).__name__}: {exc}", token)
            except OSError:
                pass
        finally:
            self.final.set()
            if sink is not None:
                sink.close()
            with _REGISTRY_LOCK:
                if _FOLLOWERS.get(str(self.folder.resolve())) is self:
                    _FOLLOWERS.pop(str(self.folder.resolve()), None)
            self.lock_file.close()

    def _stream(self, sink: _LogSink, token: str) -> None:
        """Stream until the job is final and one connection has replayed its whole log."""
        api, run = self.backend.api, self.run_
        delay, errors_after_end, last_problem = self.backend.retry_delay, 0, ""
        while not self.stop.is_set():
            clean, seen = False, 0
            try:
                for line in api.fetch_job_logs(job_id=run.job_id, namespace=run.namespace, follow=True, token=token):
                    seen += 1
                    if seen > sink.count:  # every connection replays the log from its first line
                        sink.add(line)
                    if self.stop.is_set():
                        return
                clean, last_problem = True, ""
            except Exception as exc:  # noqa: BLE001 - dropped stream, HTTP error: reconnect
                problem = f"log stream interrupted ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                if problem != last_problem:  # a long outage is one line in train.log, not one per retry
                    note(self.folder, f"{problem}; reconnecting", token)
                    last_problem = problem
            try:
                final = self.backend.refresh(self.folder).status in FINAL
            except Exception:  # noqa: BLE001 - the Hub is unreachable for now
                final = False
            if final:
                if clean:
                    return
                errors_after_end += 1
                if errors_after_end > 5:
                    note(self.folder, "the job has ended but its log could not be read to the end", token)
                    return
            if self.stop.wait(delay):
                return
            delay = self.backend.retry_delay if clean else min(delay * 2, 30.0)

    def _watch_status(self) -> None:
        while not self.final.wait(self.backend.poll_interval):
            try:
                if self.backend.refresh(self.folder).status in FINAL:
                    return
            except Exception:  # noqa: BLE001 - try again next tick
                continue

    def _finish(self, token: str | None, announce: bool) -> None:
        run = read_run(self.folder)
        if run.status in FINAL:
            finish(self.folder, run.job_id, run.status, run.failure_reason, token, announce)


def finish(folder: Path, job_id: str | None, status: str, reason: str | None, token: str | None,
           announce: bool = True) -> None:
    """The job has ended and its whole log is in: metrics.parquet from metrics.jsonl, a closing note."""
    rows = read_metrics(folder) if not (folder / METRICS_PARQUET).exists() else []
    if rows:
        store.write_parquet(folder / METRICS_PARQUET, rows, MetricRow)
    if announce:
        note(folder, f"job {job_id} {status}" + (f": {reason}" if reason else ""), token)


def complete_log(backend: "HFJobsBackend", folder: Path, run: TrainingRun, timeout: float = 30.0) -> bool:
    """Called when a poll first sees the job final, before run.toml says so: make sure train.log holds the
    job's whole log, so whoever reads a final run.toml (service.follow, the monitor) finds every line.
    A follower in this process is waited for; with none anywhere, the log is replayed here once (then True:
    the caller finishes the run folder with finish())."""
    current = follower(folder)
    if current is threading.current_thread():
        return False  # the follower itself polling: it has just read the log to its end
    if current is not None:  # (its status watcher waits too: the follower never waits for it)
        current.join(timeout)
        return False
    lock = _take_lock(folder / FOLLOW_LOCK)
    if lock is None:
        return False  # another process follows this run and will complete it
    token = backend._known_token()
    sink = None
    try:
        sink = _LogSink(folder, token)
        seen = 0
        for line in backend.api.fetch_job_logs(job_id=run.job_id, namespace=run.namespace, follow=False,
                                               token=token):
            seen += 1
            if seen > sink.count:
                sink.add(line)
    except Exception as exc:  # noqa: BLE001 - the status still gets recorded
        note(folder, f"could not read the job's log to the end ({type(exc).__name__}: {exc})", token)
    finally:
        if sink is not None:
            sink.close()
        lock.close()
    return True
