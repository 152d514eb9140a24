"""Adaptive concurrency (AIMD), Retry-After, jittered retries and a circuit breaker for model calls.

Back-pressure is what lowers the concurrency: a 429, and, from a self-hosted server, a timeout. A
server of our own (llama.cpp, vLLM, Ollama, LM Studio behind an ``api_base``) does not refuse work it
cannot serve now, it queues it: too many requests in flight show up as requests that time out, never as
429s (observed: 16 requests against a 4-slot llama.cpp server, most cancelled at 120 s, again and again).
So the gateway asks the limiter to treat such timeouts like a 429 (halve the limit once per congestion
event, then retry with backoff). A timeout while no other call was in flight says nothing about
concurrency and stays a plain transient failure. Calls whose retries run out are what the circuit
breaker counts, so sustained timeouts still open it, with the lowered limit in the message.
"""

from __future__ import annotations

import asyncio
import email.utils
import heapq
import itertools
import math
import random
import re
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, TypeVar

from core.llm.errors import CircuitOpen, LLMError, ReplyTooLarge, scrub

T = TypeVar("T")

_NOT_TRANSIENT = re.compile(r"(?i)missing credentials|insufficient_quota|exceeded your current quota|"
                            r"api_key client option must be set")
# litellm repeats the class and provider in its messages: "litellm.RateLimitError: RateLimitError: OpenAIException - ..."
_PREFIXES = re.compile(r"^(?:\s*(?:litellm\.)?\w*(?:Error|Exception|Timeout)(?::| -)\s*)+")
MAX_RETRY_AFTER_S = 300.0  # a longer Retry-After is honoured for this long, then retried
TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Take a cancelled call's outcome, so that asyncio does not warn that nobody did."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class Failure:
    """What went wrong with one call: HTTP status (if any), whether retrying may help, Retry-After."""

    status: int | None
    transient: bool
    retry_after: float | None
    message: str
    timeout: bool = False  # the request timed out (no answer in time), as opposed to being refused


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None) or {}
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def classify(exc: BaseException) -> Failure:
    """Sort an exception from litellm (or the network) into transient or not."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        status = status if isinstance(status, int) else None
    name = type(exc).__name__
    message = f"{name}: {_PREFIXES.sub('', str(exc)).strip() or 'no details'}"
    message = scrub(message)[:500]
    network = isinstance(exc, (TimeoutError, ConnectionError)) or "Timeout" in name or "Connection" in name
    timed_out = isinstance(exc, TimeoutError) or "Timeout" in name or status == 408
    if _NOT_TRANSIENT.search(message):  # reported as 429/500 by some providers, but retrying won't help
        return Failure(401 if "credential" in message.lower() else status, False, None, message)
    if status == 429 or name == "RateLimitError":
        return Failure(429, True, _retry_after(exc), message)
    if status is not None:
        transient = status in TRANSIENT_STATUS or (status >= 500 and status != 501) or network
        return Failure(status, transient, _retry_after(exc), message, timed_out)
    return Failure(None, network, None, message, timed_out)


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failed calls, or when more than ``ratio`` of the last
    ``window`` calls failed; an open circuit refuses calls until :meth:`reset`."""

    def __init__(self, threshold: int = 8, window: int = 20, ratio: float = 0.8):
        self.threshold = threshold
        self.ratio = ratio
        self.consecutive = 0
        self.recent: deque[bool] = deque(maxlen=window)
        self.reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def check(self) -> None:
        if self.reason is not None:
            raise CircuitOpen(self.reason)

    def record_success(self) -> None:
        self.consecutive = 0
        self.recent.append(True)

    def record_failure(self, last_error: str) -> None:
        self.consecutive += 1
        self.recent.append(False)
        failed = self.recent.count(False)
        if self.consecutive >= self.threshold:
            why = f"the provider has failed {self.consecutive} times in a row"
        elif len(self.recent) == self.recent.maxlen and failed / len(self.recent) > self.ratio:
            why = f"{failed} of the last {len(self.recent)} calls to the provider failed"
        else:
            return
        self.reason = scrub(f"paused: {why} (last error: {last_error}); fix it and resume")

    def open(self, why: str) -> None:
        """Open the circuit now, for ``why`` (a stall, a Retry-After too long to wait)."""
        if self.reason is None:
            self.reason = scrub(f"paused: {why}")

    def reset(self) -> None:
        self.reason = None
        self.consecutive = 0
        self.recent.clear()


class Pacer:
    """Spaces out the starts of calls so that a burst of free slots does not start every call at once.

    Each call costs the event loop some CPU (litellm builds the request and parses the reply, the
    caller filters the result). When many slots free up together, as they do when replies come back
    together, starting every call at once makes the loop work through the whole burst while replies
    wait in its queue, and with a steady latency the bursts repeat every round. Starting calls one
    ``gap`` apart, where the gap is the loop's measured CPU per call, spreads the work out: the loop
    could not start them faster anyway. The gap is never more than half a call's latency shared out
    among the slots, so pacing can never be what limits throughput, and it is 0 until measured.
    """

    WINDOW = 8  # completed calls per CPU measurement
    ALPHA = 0.3  # weight of the newest measurement
    MAX_GAP_S = 0.02

    def __init__(self) -> None:
        self.cpu_per_call = 0.0  # seconds of the loop thread's CPU per completed call (EWMA)
        self.latency = 0.0  # seconds per successful call (EWMA)
        self._next_start = 0.0
        self._done = 0
        self._cpu_mark: float | None = None

    def reset(self) -> None:
        """A new event loop (and maybe a new thread): measurements from the old one do not apply."""
        self._next_start, self._done, self._cpu_mark = 0.0, 0, None

    def gap(self, capacity: int) -> float:
        if self.latency <= 0:
            return 0.0
        return min(self.cpu_per_call, self.latency / (2 * max(1, capacity)), self.MAX_GAP_S)

    async def wait_turn(self, capacity: int) -> None:
        """Sleep until this call's start time (now, or one gap after the previous start)."""
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = after = start + self.gap(capacity)
        if start > now:
            try:
                await asyncio.sleep(start - now)
            except asyncio.CancelledError:
                if self._next_start == after:  # nobody queued behind: hand the turn back
                    self._next_start = start
                raise

    def record(self, latency: float) -> None:
        """One call finished successfully after ``latency`` seconds."""
        self.latency = latency if self.latency <= 0 else self.latency + self.ALPHA * (latency - self.latency)
        cpu = time.thread_time()  # the loop's own thread: the CPU that the loop spends per call
        if self._cpu_mark is None:
            self._cpu_mark, self._done = cpu, 0
            return
        self._done += 1
        if self._done >= self.WINDOW:
            per_call = (cpu - self._cpu_mark) / self._done
            self.cpu_per_call = per_call if self.cpu_per_call <= 0 else (
                self.cpu_per_call + self.ALPHA * (per_call - self.cpu_per_call))
            self._cpu_mark, self._done = cpu, 0


class AdaptiveLimiter:
    """Runs calls with at most ``limit`` in flight; the limit halves on back-pressure (a 429; a timeout
    when the caller says timeouts are back-pressure) and grows by 1/limit per success up to
    ``max_concurrency``, which :meth:`cap` can lower (a server that says how many requests it serves).
    Transient failures are retried with jittered exponential backoff. Call starts are paced (see
    :class:`Pacer`)."""

    def __init__(
        self,
        max_concurrency: int = 16,
        max_retries: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        breaker: CircuitBreaker | None = None,
        stall_s: float | None = None,
    ):
        self.max_concurrency = max(1, int(max_concurrency))
        self.stall_s = stall_s  # no call succeeded this long while calls were out: pause (None: never)
        self.progress_at = 0.0  # monotonic time of the last success, or of the start of a busy spell
        self._running = 0  # calls inside run() now (waiting, out or between retries)
        self.limit = float(self.max_concurrency)
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.breaker = breaker or CircuitBreaker()
        self.in_flight = 0
        self.resume_at = 0.0  # monotonic time before which no call starts (Retry-After)
        self.retries = 0
        self.rate_limited = 0
        self.timed_out = 0  # timeouts taken as back-pressure
        self._last_cut = 0.0
        self.pacer = Pacer()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # heap: (-priority, arrival, future)
        self._arrivals = itertools.count()
        self._live = 0  # waiters not yet served nor cancelled
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (e.g. another run_sync): nothing carries over
            self._loop, self.in_flight, self._waiters, self._live = loop, 0, [], 0
            self.pacer.reset()
        return loop

    @property
    def capacity(self) -> int:
        """Calls allowed in flight now (the integer part of the adaptive limit, at least 1)."""
        return max(1, math.floor(self.limit))

    @property
    def waiting(self) -> int:
        """Calls waiting for a slot."""
        return self._live

    async def acquire(self, priority: int = 0) -> None:
        """Take a slot. When none is free, wait: higher ``priority`` first, then first come first served."""
        loop = self._bind()
        if self.in_flight < self.capacity and not self.waiting:
            self.in_flight += 1
            return
        fut: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (-priority, next(self._arrivals), fut))
        self._live += 1
        try:
            await fut  # the slot is handed over by _wake, already counted in in_flight
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # handed a slot, then cancelled: pass it on
                self.release()
            else:  # its heap entry is skipped when it comes up
                self._live -= 1
            raise

    def release(self) -> None:
        self._bind()
        self.in_flight = max(0, self.in_flight - 1)
        self._wake()

    def _wake(self) -> None:
        """Hand free slots to the waiters that come first."""
        while self._waiters and self.in_flight < self.capacity:
            *_, fut = heapq.heappop(self._waiters)
            if fut.done():  # cancelled while waiting
                continue
            self._live -= 1
            self.in_flight += 1
            fut.set_result(None)

    async def _wait_retry_after(self) -> None:
        delay = self.resume_at - time.monotonic()
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self.resume_at - time.monotonic()

    async def _watch(self, call: Callable[[], Awaitable[T]], label: str) -> T:
        """Await ``call()``, but give up (opening the breaker) once no call of this limiter has succeeded for
        ``stall_s`` seconds while calls were out: a provider that never answers, or trickles a reply a byte at
        a time, pauses the run in bounded time instead of being retried timeout after timeout."""
        assert self.stall_s is not None
        task = asyncio.ensure_future(call())
        try:
            while True:
                left = self.progress_at + self.stall_s - time.monotonic()
                if left <= 0:
                    break
                done, _ = await asyncio.wait({task}, timeout=left)
                if done:
                    return task.result()
            task.cancel()
            task.add_done_callback(_retrieve)
            self.breaker.open(f"no reply from the provider for {self.stall_s:.0f} s ({label}: nothing answered "
                              f"in that time, or answers trickled in too slowly); check the provider or the "
                              f"network, then resume")
            raise CircuitOpen(self.breaker.reason or "paused")
        except asyncio.CancelledError:
            task.cancel()
            task.add_done_callback(_retrieve)
            raise

    def on_success(self) -> None:
        self.progress_at = time.monotonic()
        self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)

    def on_rate_limit(self, started: float, retry_after: float | None) -> None:
        """Halve the limit once per congestion event: 429s of calls started before the last cut are
        echoes of the same event. Every caller waits out Retry-After."""
        self.rate_limited += 1
        self._cut(started)
        if retry_after and self.stall_s is not None and retry_after > self.stall_s:
            self.breaker.open(f"the provider asks to wait {retry_after:.0f} s before the next call (Retry-After), "
                              f"longer than the {self.stall_s:.0f} s a run waits without progress; resume later")
        if retry_after:
            self.resume_at = max(self.resume_at, time.monotonic() + retry_after)

    def on_timeout(self, started: float) -> None:
        """A call to a self-hosted server timed out while others were in flight: the server is queueing
        more than it can serve in time. Handled as a 429 without Retry-After (the retry backs off)."""
        self.timed_out += 1
        self._cut(started)

    def _cut(self, started: float) -> None:
        now = time.monotonic()
        if started >= self._last_cut:
            self.limit = max(1.0, self.limit / 2)
            self._last_cut = now

    def cap(self, slots: int) -> None:
        """Never run more than ``slots`` calls at once (e.g. a llama.cpp server's ``total_slots``)."""
        self.max_concurrency = max(1, min(self.max_concurrency, int(slots)))
        self.limit = min(self.limit, float(self.max_concurrency))

    def backoff(self, attempt: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(delay / 2, delay)

    async def run(self, call: Callable[[], Awaitable[T]], label: str = "model call", retries: int | None = None,
                  priority: int = 0, timeouts_are_backpressure: bool = False) -> T:
        """Await ``call()`` under the limit, retrying transient failures; raise LLMError when it fails.
        Calls waiting for a slot go by ``priority`` (higher first), then in arrival order.
        ``timeouts_are_backpressure``: the call goes to a self-hosted server (see the module docstring)."""
        if self._running == 0:  # a busy spell starts: the idle time before it is no stall
            self.progress_at = time.monotonic()
        self._running += 1
        try:
            return await self._run(call, label, retries, priority, timeouts_are_backpressure)
        finally:
            self._running -= 1

    async def _run(self, call: Callable[[], Awaitable[T]], label: str, retries: int | None, priority: int,
                   timeouts_are_backpressure: bool) -> T:
        max_retries = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            self.breaker.check()
            await self._wait_retry_after()
            await self.acquire(priority)
            started = time.monotonic()
            try:
                await self._wait_retry_after()  # a 429 may have come while this call waited for its slot
                await self.pacer.wait_turn(self.capacity)
                started = time.monotonic()
                result = await (call() if self.stall_s is None else self._watch(call, label))
            except (asyncio.CancelledError, KeyboardInterrupt, CircuitOpen):
                self.release()
                raise
            except Exception as exc:  # classified below; anything unknown is not retried
                failure = classify(exc)
                alongside = self.in_flight - 1  # other calls still out when this one failed
                if failure.status == 429:
                    self.on_rate_limit(started, failure.retry_after)
                elif failure.timeout and timeouts_are_backpressure and alongside > 0:
                    self.on_timeout(started)
                    failure = replace(failure, message=f"{failure.message} (with {alongside + 1} calls in "
                                                        f"flight; concurrency lowered to {self.capacity})")
                elif failure.timeout and timeouts_are_backpressure:
                    failure = replace(failure, message=f"{failure.message} (no other call was in flight: the "
                                                        f"server is stuck or slower than the timeout)")
                self.release()  # after the cut: a lowered limit hands the slot to no one new
                if failure.transient and attempt < max_retries:
                    attempt += 1
                    self.retries += 1
                    if failure.retry_after is None or failure.status != 429:
                        await asyncio.sleep(self.backoff(attempt - 1))
                    continue
                self.breaker.record_failure(failure.message)
                if isinstance(exc, ReplyTooLarge):  # its own message says what to change
                    raise
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise LLMError(f"{label} failed{tries}: {failure.message}", status=failure.status) from None
            self.pacer.record(time.monotonic() - started)
            self.on_success()
            self.release()  # after on_success: a limit that grew lets one more waiter start
            self.breaker.record_success()
            return result
