"""One writer per project: an OS-level lock on ``<project>/.lock``.

The lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on an open ``.lock`` file,
so there is no check-then-act: taking it is one atomic call, and the kernel drops it when the holding
process ends however it ends (``kill -9`` included). A leftover ``.lock`` file from a dead process is
therefore simply not locked. The file is never deleted (a deleted lock file lets two processes lock
two different files); the holder writes ``pid host`` into it only so that the next one to try can say
who has the project open.

Within a process the lock is re-entrant and shared: every :class:`ProjectLock` of the same folder (two
``Project`` objects, a screen's and its worker's) shares one hold and one depth. A child made by
``fork`` does not inherit the hold: its copy of the file is closed and its registry emptied (the parent
keeps the lock).

A CLI command runs inside :func:`kept_until_done`: its first write takes the lock and it keeps it to the
command's end, so nobody writes between two of its writes; the terminal app holds it for as long as a
project is open (``Project.hold_lock``).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.errors import LockedError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"
_BUSY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK)
_WIN_OFFSET = 1 << 30  # Windows locks a byte range (and blocks reads of it): lock one byte far past the text


@dataclass
class _Hold:
    fd: int
    depth: int
    pid: int


_HOLDS: dict[str, _Hold] = {}
_GUARD = threading.RLock()
_KEEP = 0  # inside kept_until_done(): a lock released to depth 0 stays taken until the block ends


def _after_fork_in_child() -> None:
    """A forked child shares the parent's open lock files: close its copies (the parent's lock stays)
    and forget the holds, so the child never takes itself for the writer."""
    global _GUARD, _KEEP
    _GUARD = threading.RLock()
    _KEEP = 0
    for hold in _HOLDS.values():
        try:
            os.close(hold.fd)
        except OSError:
            pass
    _HOLDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _this_host() -> str:
    return socket.gethostname()


def holder_text(path: Path) -> str:
    """Who holds the lock at ``path``, in words: 'pid N on HOST', or why it cannot be told."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(300)
    except OSError as exc:
        return f"its {LOCK_NAME} cannot be read: {exc.strerror}"
    text = raw.decode("utf-8", errors="replace").strip()
    parts = text.split()
    if len(parts) == 2 and parts[0].isdigit():
        return f"pid {parts[0]} on {parts[1]}"
    if not text:
        return f"which process is not recorded yet: its {LOCK_NAME} is empty"
    return f"which process is not known: its {LOCK_NAME} reads {text[:60]!r}"


def _try_lock(fd: int) -> bool:
    """Take the lock on ``fd`` without waiting: True if taken, False if another process has it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in _BUSY or isinstance(exc, BlockingIOError):
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass  # closing the file releases it anyway


def _open(path: Path) -> int:
    flags = os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        return os.open(path, os.O_RDWR | flags, 0o644)  # never O_TRUNC: the holder's text stays readable
    except PermissionError:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))  # a read-only copy can still be locked


def _record(fd: int) -> None:
    """Say who holds the lock (best effort: a read-only file keeps the lock without the text)."""
    line = f"{os.getpid()} {_this_host()}\n".encode()
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, line)
    except OSError:
        pass


@contextmanager
def kept_until_done() -> Iterator[None]:
    """Within the block, a project lock once taken stays taken until the block ends (a CLI command:
    from its first write to its end), so no other tunesmith can step in between two of its writes."""
    global _KEEP
    with _GUARD:
        _KEEP += 1
    try:
        yield
    finally:
        with _GUARD:
            _KEEP -= 1
            if not _KEEP:
                for key, hold in list(_HOLDS.items()):
                    if hold.depth <= 0 and hold.pid == os.getpid():
                        del _HOLDS[key]
                        _let_go(hold)


def _let_go(hold: _Hold) -> None:
    try:
        os.ftruncate(hold.fd, 0)  # no stale 'pid host' for the next reader
    except OSError:
        pass
    _unlock(hold.fd)
    os.close(hold.fd)


class ProjectLock:
    """The writer lock of a project folder (re-entrant, shared by every ProjectLock of that folder in a
    process). ``acquire`` never waits: another process's hold is a :class:`LockedError` naming it."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME

    def _key(self) -> str:
        return os.path.realpath(self.path)

    def _mine(self) -> _Hold | None:
        hold = _HOLDS.get(self._key())
        return hold if hold is not None and hold.pid == os.getpid() else None

    @property
    def depth(self) -> int:
        with _GUARD:
            hold = self._mine()
            return hold.depth if hold else 0

    @property
    def held_here(self) -> bool:
        """This process holds the lock (through this or another ProjectLock of the same folder)."""
        with _GUARD:
            return self._mine() is not None

    def acquire(self) -> None:
        with _GUARD:
            hold = self._mine()
            if hold is not None:
                hold.depth += 1
                return
            fd = _open(self.path)
            try:
                taken = _try_lock(fd)
            except OSError as exc:
                os.close(fd)
                raise LockedError(f"{self.path.parent.name}: cannot lock {self.path} ({exc.strerror}); "
                                  f"the file system may not support locks") from None
            if not taken:
                os.close(fd)
                raise LockedError(
                    f"{self.path.parent.name} is in use by another tunesmith ({holder_text(self.path)}); "
                    f"close the project there or let that command finish (the lock ends when that process does)"
                )
            _record(fd)
            _HOLDS[self._key()] = _Hold(fd, 1, os.getpid())

    def release(self) -> None:
        with _GUARD:
            hold = self._mine()
            if hold is None:
                return
            if hold.depth <= 0:
                return  # kept (kept_until_done) after its last release
            hold.depth -= 1
            if hold.depth > 0 or _KEEP:
                return
            del _HOLDS[self._key()]
            _let_go(hold)

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
