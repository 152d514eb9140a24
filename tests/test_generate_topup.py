"""How the scale-up decides how much more to generate, and when it filters what has arrived at once."""

from __future__ import annotations

import math
from collections import deque

from core.generate.pipeline_run import RECENT_CHECKED, SAFETY_SIGMAS, ScaleRun
from core.generate.pipeline_state import PartInfo, ScaleState, part_name
from core.models.project import now


def parts(*kept_checked: tuple[int, int]) -> list[PartInfo]:
    return [PartInfo(name=part_name(i + 1), kept=k, checked=c, written_at=now()) for i, (k, c) in enumerate(kept_checked)]


def scale_run(*, target: int, kept: int, checked: int, prior: float, in_flight: list[int],
              buffered: int = 0, queued: int = 0, done: list[PartInfo] | None = None) -> ScaleRun:
    """A ScaleRun with only the counters the estimates read (no project, gateway or tasks)."""
    run = ScaleRun.__new__(ScaleRun)
    run.state = ScaleState(target=target, kept=kept, checked=checked,
                           parts=done if done is not None else parts((kept, checked)))
    run.prior_rate = prior
    run.buffer = [object()] * buffered  # type: ignore[list-item]
    run.flushing = {}
    run.inflight = {object(): n for n in in_flight}  # type: ignore[misc]
    run.queue = deque(range(queued))
    return run


def test_nothing_more_is_needed_when_the_pass_rate_is_certain():
    run = scale_run(target=100, kept=60, checked=60, prior=1.0, in_flight=[8] * 5)
    assert run.rate() == 1.0
    assert run.needed() == 0  # 60 kept + 40 in flight that will all pass


def test_work_in_flight_is_counted_with_a_margin():
    """At a 70 % pass rate, 40 examples in flight keep 28 on average; relying on exactly that would leave
    the run short about half the time, so the margin asks for about two standard deviations more."""
    run = scale_run(target=100, kept=42, checked=60, prior=0.7, in_flight=[8] * 5)
    rate, pending = run.rate(), 40
    assert abs(rate - 0.7) < 1e-9
    shortfall = 100 - 42 - rate * pending  # 30 examples still missing on average
    margin = SAFETY_SIGMAS * math.sqrt(pending * rate * (1 - rate))
    assert run.needed() == math.ceil((shortfall + margin) / rate)
    assert run.needed() > math.ceil(shortfall / rate)


def test_the_margin_shrinks_as_the_work_in_flight_does():
    big = scale_run(target=1000, kept=500, checked=700, prior=0.7, in_flight=[8] * 40)
    small = scale_run(target=1000, kept=500, checked=700, prior=0.7, in_flight=[8] * 2)
    margin_big = big.needed() - math.ceil((1000 - 500 - big.rate() * 320) / big.rate())
    margin_small = small.needed() - math.ceil((1000 - 500 - small.rate() * 16) / small.rate())
    assert margin_big > margin_small >= 0


def test_the_pass_rate_follows_the_recent_parts():
    """Early parts passed everything; lately the diversity filter rejects a third: the estimate follows."""
    history = parts(*[(100, 100)] * 8, (66, 100), (67, 100))
    run = scale_run(target=2000, kept=933, checked=1000, prior=1.0, in_flight=[8], done=history)
    assert RECENT_CHECKED == 200
    assert abs(run.rate() - (133 + 20) / (200 + 20)) < 1e-9  # not 933/1000
    assert scale_run(target=10, kept=0, checked=0, prior=0.8, in_flight=[], done=[]).rate() == 0.8


def test_winding_down_only_when_nothing_more_will_start():
    ending = scale_run(target=100, kept=90, checked=90, prior=1.0, in_flight=[8, 8])
    assert ending.needed() == 0 and ending.winding_down()
    assert not scale_run(target=100, kept=90, checked=90, prior=1.0, in_flight=[8, 8], queued=3).winding_down()
    assert not scale_run(target=100, kept=90, checked=90, prior=1.0, in_flight=[]).winding_down()
    assert not scale_run(target=100, kept=50, checked=50, prior=1.0, in_flight=[8, 8]).winding_down()
