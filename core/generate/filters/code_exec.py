"""code_executability: every ```python block of the good response runs.

Each block runs in its own ``python -I`` subprocess (isolated mode: no user site, no PYTHON* variables)
in a fresh temporary folder, with stdin closed, a wall-clock timeout (5 s by default) after which the
whole process group is killed, a bare environment (no proxies, no keys), resource limits set inside
the child before the code runs (CPU seconds, address space, file size, open files) and the network
blocked: ``socket.socket``, ``create_connection``, ``getaddrinfo`` and friends raise before the code
starts. Where the machine allows it (``unshare -n``, checked once), the child also runs in a network
namespace of its own, with no interface but loopback. This keeps generated examples honest; it is not a
security boundary against hostile code. Examples without python code pass with detail "no code". Score: the share of blocks that ran.
Reason codes: ``code_error``, ``code_timeout``, ``code_network``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Sequence

from core.generate.filters.base import FilterContext, FilterResult, fail, ok
from core.generate.filters.text import code_blocks
from core.generate.records import good_response
from core.models.data import TrainingExample

NAME = "code_executability"
REASONS = ("code_error", "code_timeout", "code_network")
TIMEOUT_S = 5.0
MEMORY_BYTES = 1 << 30  # address space (1 GiB)
FILE_BYTES = 16 << 20
CONCURRENCY = max(1, min(4, os.cpu_count() or 1))
NETWORK_MARK = "tunesmith-sandbox: network access is disabled"

# Runs in the child before the example's code: limits, no network, then the code as __main__.
_WRAPPER = f"""
import resource, socket, sys
def _limit(which, value):
    try:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):
        pass
_limit(resource.RLIMIT_CPU, {{cpu}})
_limit(resource.RLIMIT_AS, {MEMORY_BYTES})
_limit(resource.RLIMIT_FSIZE, {FILE_BYTES})
_limit(resource.RLIMIT_NOFILE, 64)
_limit(resource.RLIMIT_CORE, 0)
def _blocked(*args, **kwargs):
    raise OSError({NETWORK_MARK!r})
class _BlockedSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        _blocked()
socket.socket = _BlockedSocket
socket.SocketType = _BlockedSocket
for _name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
              "gethostbyaddr", "socketpair", "fromfd"):
    setattr(socket, _name, _blocked)
import _socket
_socket.socket = _BlockedSocket
_socket.getaddrinfo = _blocked
_socket.gethostbyname = _blocked
del _name, _limit
source = sys.stdin.read()
sys.stdin = open("/dev/null")
sys.argv = ["example.py"]
code = compile(source, "example.py", "exec")
exec(code, {{"__name__": "__main__", "__builtins__": __builtins__}})
"""


@dataclass
class RunResult:
    ok: bool
    reason: str = ""
    detail: str = ""


def sandbox_env(home: str) -> dict[str, str]:
    """A bare environment: no proxies, no keys, nothing inherited but a PATH and a locale."""
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
            "NO_PROXY": "*", "no_proxy": "*"}


_NETNS: list[list[str]] = []


def netns_prefix() -> list[str]:
    """``["unshare", "-n"]`` (or ``-rn`` when not root) if that works here, else [] (checked once)."""
    if not _NETNS:
        prefix: list[str] = []
        exe = shutil.which("unshare")
        if exe and sys.platform.startswith("linux"):
            cand = [exe, "-n"] if os.geteuid() == 0 else [exe, "-rn"]
            try:
                done = subprocess.run([*cand, "true"], capture_output=True, timeout=5)
                prefix = cand if done.returncode == 0 else []
            except (OSError, subprocess.SubprocessError):
                prefix = []
        _NETNS.append(prefix)
    return _NETNS[0]


async def run_python(code: str, timeout_s: float = TIMEOUT_S) -> RunResult:
    """Run ``code`` as a script in the sandbox; kill it after ``timeout_s`` seconds."""
    cpu = max(1, int(timeout_s) + 1)
    prefix = await asyncio.to_thread(netns_prefix)
    with tempfile.TemporaryDirectory(prefix="tunesmith-code-") as home:
        proc = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, "-I", "-c", _WRAPPER.replace("{cpu}", str(cpu)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            cwd=home, env=sandbox_env(home), start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(code.encode("utf-8")), timeout_s)
        except asyncio.TimeoutError:
            _kill(proc)
            await proc.wait()
            return RunResult(False, "code_timeout", f"still running after {timeout_s:g} s")
        except asyncio.CancelledError:
            _kill(proc)
            raise
    if proc.returncode == 0:
        return RunResult(True)
    text = err.decode("utf-8", "replace").strip()
    if NETWORK_MARK in text:
        return RunResult(False, "code_network", "the code tried to use the network")
    if proc.returncode is not None and proc.returncode < 0:
        sig = -proc.returncode
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return RunResult(False, "code_timeout", f"killed by signal {sig} (CPU limit)")
        return RunResult(False, "code_error", f"killed by signal {sig}")
    last = text.splitlines()[-1] if text else f"exit status {proc.returncode}"
    return RunResult(False, "code_error", last[:240])


def _kill(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class CodeExecutabilityFilter:
    name = NAME

    def __init__(self, timeout_s: float = TIMEOUT_S, concurrency: int = CONCURRENCY):
        self.timeout_s = timeout_s
        self.concurrency = concurrency

    async def check_batch(self, examples: Sequence[TrainingExample], ctx: FilterContext) -> list[FilterResult]:
        sem = asyncio.Semaphore(self.concurrency)

        async def run(code: str) -> RunResult:
            async with sem:
                return await run_python(code, self.timeout_s)

        async def one(e: TrainingExample) -> FilterResult:
            blocks = code_blocks(good_response(e.record) or "")
            if not blocks:
                return ok(NAME, 1.0, "no code")
            results = await asyncio.gather(*(run(b) for b in blocks))
            passed = sum(r.ok for r in results)
            score = passed / len(results)
            for i, r in enumerate(results, 1):
                if not r.ok:
                    return fail(NAME, r.reason, score, f"block {i} of {len(results)}: {r.detail}")
            return ok(NAME, score, f"{len(results)} code block{'s' if len(results) != 1 else ''} ran")

        return list(await asyncio.gather(*(one(e) for e in examples)))
