"""Pacing of call starts in the adaptive limiter: measured, bounded, and never leaking a slot."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.llm.limiter import AdaptiveLimiter, Pacer


def busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_no_gap_until_measured():
    pacer = Pacer()
    assert pacer.gap(capacity=8) == 0.0
    pacer.record(0.25)  # the first call only sets the CPU mark
    assert pacer.cpu_per_call == 0.0 and pacer.gap(8) == 0.0


def test_gap_is_the_loops_cpu_per_call():
    pacer = Pacer()
    pacer.record(0.25)
    for _ in range(Pacer.WINDOW):
        busy(0.002)
        pacer.record(0.25)
    assert 0.0015 < pacer.cpu_per_call < 0.01
    assert pacer.gap(capacity=4) == pytest.approx(pacer.cpu_per_call)


def test_gap_never_limits_throughput():
    """However costly a call looks, the gap stays under half a latency shared among the slots."""
    pacer = Pacer()
    pacer.cpu_per_call, pacer.latency = 0.05, 0.1
    assert pacer.gap(capacity=10) == pytest.approx(0.1 / 20)
    pacer.latency = 10.0
    assert pacer.gap(capacity=1) == Pacer.MAX_GAP_S


def test_idle_time_is_not_counted():
    """Waiting on the network costs no CPU, so a slow provider does not widen the gap."""
    pacer = Pacer()
    pacer.record(0.01)
    for _ in range(Pacer.WINDOW):
        time.sleep(0.005)
        pacer.record(0.01)
    assert pacer.cpu_per_call < 0.001


async def test_a_burst_of_free_slots_starts_one_gap_apart():
    lim = AdaptiveLimiter(max_concurrency=8)
    lim.pacer.cpu_per_call, lim.pacer.latency = 0.01, 1.0
    starts: list[float] = []

    async def call() -> None:
        starts.append(time.monotonic())
        await asyncio.sleep(0.01)

    await asyncio.gather(*(lim.run(call) for _ in range(8)))
    assert len(starts) == 8
    assert 0.069 <= starts[-1] - starts[0] < 0.5  # seven gaps: spread out, not serialised


async def test_calls_spaced_by_themselves_are_not_delayed():
    lim = AdaptiveLimiter(max_concurrency=1)
    lim.pacer.MAX_GAP_S, lim.pacer.cpu_per_call, lim.pacer.latency = 1.0, 0.2, 10.0

    async def call() -> str:
        return "ok"

    await lim.run(call)
    await asyncio.sleep(0.25)  # longer than the gap
    begin = time.monotonic()
    await lim.run(call)
    assert time.monotonic() - begin < 0.1


async def test_cancelled_while_paced_gives_the_slot_back():
    lim = AdaptiveLimiter(max_concurrency=1)
    lim.pacer.MAX_GAP_S, lim.pacer.cpu_per_call, lim.pacer.latency = 1.0, 0.3, 100.0

    async def call() -> str:
        return "ok"

    await lim.run(call)  # the next start is now one gap away
    task = asyncio.create_task(lim.run(call))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lim.in_flight == 0
    begin = time.monotonic()
    assert await asyncio.wait_for(lim.run(call), 2) == "ok"  # with the slot leaked, this would hang
    assert time.monotonic() - begin < 0.4  # the cancelled call's turn was handed back


async def test_pacer_learns_from_real_calls():
    lim = AdaptiveLimiter(max_concurrency=4)

    async def call() -> None:
        busy(0.001)
        await asyncio.sleep(0.02)

    for _ in range(3):
        await asyncio.gather(*(lim.run(call) for _ in range(8)))
    assert lim.pacer.latency == pytest.approx(0.02, abs=0.02)
    assert 0.0005 < lim.pacer.cpu_per_call < 0.02
    assert 0 < lim.pacer.gap(lim.capacity) <= lim.pacer.latency / (2 * lim.capacity)


# ---------------------------------------------------------------- slots: priority and hand-over


async def test_waiting_calls_go_by_priority_then_arrival():
    lim = AdaptiveLimiter(max_concurrency=1)
    order: list[str] = []
    gate = asyncio.Event()

    async def first() -> None:
        await gate.wait()

    def call(name: str):
        async def run() -> None:
            order.append(name)
        return run

    holder = asyncio.create_task(lim.run(first))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(lim.run(call(name), priority=prio))
               for name, prio in [("gen-1", 0), ("judge-1", 4), ("gen-2", 0), ("critique", 2), ("judge-2", 4)]]
    await asyncio.sleep(0.01)
    assert lim.waiting == 5 and order == []
    gate.set()
    await asyncio.gather(holder, *waiters)
    assert order == ["judge-1", "judge-2", "critique", "gen-1", "gen-2"]
    assert lim.in_flight == 0 and lim.waiting == 0


async def test_a_cancelled_waiter_neither_holds_nor_loses_a_slot():
    lim = AdaptiveLimiter(max_concurrency=1)
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    async def quick() -> str:
        return "ok"

    holder = asyncio.create_task(lim.run(hold))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(lim.run(quick, priority=9))
    later = asyncio.create_task(lim.run(quick))
    await asyncio.sleep(0.01)
    doomed.cancel()
    await asyncio.sleep(0)
    assert lim.waiting == 1
    gate.set()
    assert await asyncio.wait_for(later, 1) == "ok"
    await holder
    assert doomed.cancelled() and lim.in_flight == 0 and lim.waiting == 0


async def test_new_calls_do_not_overtake_waiting_ones():
    lim = AdaptiveLimiter(max_concurrency=2)
    lim.limit = 1.0  # after a 429: one slot
    order: list[int] = []
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    def call(i: int):
        async def run() -> None:
            order.append(i)
        return run

    holder = asyncio.create_task(lim.run(hold))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(lim.run(call(i))) for i in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(holder, *tasks)
    assert order == [0, 1, 2]
