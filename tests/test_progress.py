"""core.progress: the Eta from measured throughput, and the CLI bar (tty vs pipe)."""

from __future__ import annotations

import io

import pytest

from core.progress import CliBar, Eta, bar, duration


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_eta_from_measured_rate() -> None:
    clock = Clock()
    eta = Eta(total=2000, clock=clock)
    assert eta.remaining_s() is None
    assert eta.line() == "0/2,000 · measuring the time left"
    clock.t = 10.0
    eta.update(100)  # 10 per second
    assert eta.remaining_s() == pytest.approx(190.0)
    assert eta.line() == "100/2,000 · about 4 min left"
    clock.t = 20.0
    eta.update(200)
    assert eta.rate == pytest.approx(10.0)
    eta.update(2000, now=200.0)
    assert eta.remaining_text() == "done"


def test_eta_ignores_the_warmup_and_follows_a_slowdown() -> None:
    clock = Clock()
    eta = Eta(total=100, warmup=5, clock=clock)
    clock.t = 60.0  # a slow start (model load)
    eta.update(5)
    assert not eta.measured
    clock.t = 65.0
    eta.update(10)  # 1 per second after the warm-up
    assert eta.rate == pytest.approx(1.0)
    assert eta.remaining_s() == pytest.approx(90.0)
    clock.t = 75.0
    eta.update(15)  # slower: 0.5 per second; the mean moves towards it
    assert 0.5 < eta.rate < 1.0


def test_eta_prior_rate_until_measured() -> None:
    eta = Eta(total=100, prior_rate=2.0, warmup=3, clock=lambda: 0.0)
    assert eta.remaining_s() == pytest.approx(50.0)
    assert eta.remaining_text() == "about 50 s left (planned)"


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (59.2, "1 min"), (61, "2 min"), (3600, "1 h"),
                                           (3900, "1 h 05 min")], ids=["zero", "under-a-minute", "minutes",
                                                                       "an-hour", "hour-and-minutes"])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_bar() -> None:
    assert bar(0.5, 10) == "█████░░░░░"
    assert bar(2.0, 4) == "████"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_bar_on_a_tty_redraws_in_place() -> None:
    clock = Clock()
    out = Tty()
    cli = CliBar("scale", Eta(total=10, clock=clock), out, clock=clock)
    clock.t = 1.0
    cli.update(1)
    clock.t = 2.0
    cli.update(2)
    cli.close()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "█" in text and "2/10 · about 8 s left" in text


def test_cli_bar_on_a_pipe_prints_rate_limited_lines() -> None:
    clock = Clock()
    out = io.StringIO()
    cli = CliBar("judge", Eta(total=1000, clock=clock), out, every_s=10.0, every_pct=50.0, clock=clock)
    for i in range(1, 101):  # 100 updates over 10 s, 10% of the way
        clock.t = i * 0.1
        cli.update(i)
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 2
    assert all(line.startswith("judge: ") for line in lines)
    assert "\r" not in out.getvalue() and "█" not in out.getvalue()
    cli.close()
    assert out.getvalue().splitlines()[-1].startswith("judge: 100/1,000 · about")


def test_count_in_reads_plain_and_eta_lines() -> None:
    from core.progress import count_in

    assert count_in("candidate model: 3/12") == (3, 12)
    assert count_in("base m: 1,200/2,000 outputs · about 3 min left") == (1200, 2000)
    assert count_in("never: 2/3 · 40/60 examples · measuring the time left") == (40, 60)
    assert count_in("scoring") is None and count_in("odd 5/0") is None


def test_line_printer_tty_redraws_counted_lines_pipe_prints_all() -> None:
    from core.progress import line_printer

    tty = Tty()
    say = line_printer(tty)
    say("loading m")
    say("base m: 5/10 outputs · about 5 s left")
    say("base m: 10/10 outputs · done")
    say("scoring")
    text = tty.getvalue()
    assert text.count("\r") >= 2 and "█" in text and text.endswith("scoring\n")
    pipe = io.StringIO()
    say = line_printer(pipe)
    for line in ("loading m", "base m: 5/10 outputs · about 5 s left", "scoring"):
        say(line)
    assert pipe.getvalue() == "loading m\nbase m: 5/10 outputs · about 5 s left\nscoring\n"
