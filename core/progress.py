"""Progress and remaining time of a long step, from the step's own measured throughput.

    eta = Eta(total=2000)                 # a clock can be injected: Eta(total, clock=fake)
    eta.update(412)                       # done so far (absolute), timed by the clock or ``now=``
    eta.remaining_s()                     # None until enough was measured, then seconds
    eta.line()                            # "412/2,000 · about 3 min left"

The rate is an exponentially weighted mean of the recent updates' items per second; the first
``warmup`` items (start-up, model load, a cold cache) are measured but not trusted alone. Until a rate is
measured, a prior rate (from a plan or an earlier run) may stand in.

``CliBar`` draws an Eta on a terminal: one line redrawn in place (``\\r``) when the stream is a tty, plain
lines at most every ``every_s`` seconds (or ``every_pct`` percent) otherwise, so that logs stay short.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
import time
from typing import Callable, TextIO

SMOOTHING = 0.3  # weight of the newest rate in the running mean


def duration(seconds: float) -> str:
    """"40 s", "3 min", "1 h 05 min" (rounded up: a remaining time is never shown short)."""
    seconds = max(0, int(math.ceil(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = int(math.ceil(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if m else f"{h} h"


class Eta:
    """Done / total of a step, its measured rate and the time left (see the module docstring)."""

    def __init__(self, total: int, *, done: int = 0, warmup: int = 0, prior_rate: float | None = None,
                 clock: Callable[[], float] = time.monotonic, start: float | None = None) -> None:
        self.total = max(0, int(total))
        self.clock = clock
        self.started = clock() if start is None else start
        self.first_done = self.done = int(done)
        self.warmup = max(0, int(warmup))
        self.prior_rate = prior_rate
        self.rate: float | None = None  # items per second, measured
        self._last: tuple[float, int] | None = None  # (time, done) of the last update past the warm-up
        self.now = self.started

    def update(self, done: int, total: int | None = None, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.now = now
        if total is not None:
            self.total = max(0, int(total))
        done = int(done)
        if done < self.done:  # a restart: measure afresh
            self._last, self.rate = None, None
        self.done = done
        if done - self.first_done < self.warmup:
            return
        if self._last is None:
            if done - self.first_done > 0 and now > self.started and not self.warmup:
                self.rate = (done - self.first_done) / (now - self.started)
            self._last = (now, done)
            return
        t0, d0 = self._last
        if now <= t0 or done <= d0:
            return
        fresh = (done - d0) / (now - t0)
        self.rate = fresh if self.rate is None else SMOOTHING * fresh + (1 - SMOOTHING) * self.rate
        self._last = (now, done)

    @property
    def measured(self) -> bool:
        return self.rate is not None

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.now - self.started)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def remaining_s(self) -> float | None:
        """Seconds left at the measured rate (a prior rate until one is measured); None when unknown."""
        rate = self.rate or self.prior_rate
        if not self.total or not rate or rate <= 0:
            return None
        return max(0, self.total - self.done) / rate

    def remaining_text(self) -> str:
        if self.total and self.done >= self.total:
            return "done"
        left = self.remaining_s()
        if left is None:
            return "measuring the time left"
        return f"about {duration(left)} left" + ("" if self.measured else " (planned)")

    def line(self, unit: str = "") -> str:
        count = f"{self.done:,}/{self.total:,}" if self.total else f"{self.done:,}"
        return f"{count}{' ' + unit if unit else ''} · {self.remaining_text()}"


def bar(fraction: float, width: int = 20) -> str:
    """A text bar: "████████░░░░" of ``width`` cells."""
    fraction = min(1.0, max(0.0, fraction))
    full = int(round(fraction * width))
    return "█" * full + "░" * (width - full)


class CliBar:
    """An Eta on a stream: a bar redrawn in place on a tty, plain rate-limited lines otherwise."""

    def __init__(self, label: str, eta: Eta, stream: TextIO | None = None, *, unit: str = "",
                 every_s: float = 10.0, every_pct: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.eta, self.unit = label, eta, unit
        self.stream = stream if stream is not None else sys.stdout
        self.every_s, self.every_pct, self.clock = every_s, every_pct, clock
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown_at: float | None = None
        self._shown_pct = -1.0
        self._drawn = False

    def text(self, width: int | None = None) -> str:
        tail = self.eta.line(self.unit)
        if not self.tty:
            return f"{self.label}: {tail}"
        width = width or shutil.get_terminal_size((80, 24)).columns
        pct = f"{self.eta.fraction:4.0%}" if self.eta.total else ""
        room = width - len(self.label) - len(tail) - len(pct) - 6
        cells = max(0, min(30, room))
        body = f"{self.label} {bar(self.eta.fraction, cells)} {pct} {tail}" if cells >= 5 else f"{self.label} {pct} {tail}"
        return body[: max(1, width - 1)]

    def show(self, force: bool = False) -> None:
        """Draw the current state (a tty: always, in place; a pipe: when enough time or progress passed)."""
        if self.tty:
            self.stream.write("\r\x1b[K" + self.text())
            self.stream.flush()
            self._drawn = True
            return
        now = self.clock()
        pct = self.eta.fraction * 100
        due = (force or self._shown_at is None or now - self._shown_at >= self.every_s
               or pct - self._shown_pct >= self.every_pct)
        if due:
            self.stream.write(self.text() + "\n")
            self.stream.flush()
            self._shown_at, self._shown_pct = now, pct

    def update(self, done: int, total: int | None = None, now: float | None = None) -> None:
        self.eta.update(done, total, now)
        self.show()

    def message(self, text: str) -> None:
        """A line of its own (the bar is redrawn after it on a tty)."""
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        if self.tty and self._drawn:
            self.stream.write(self.text())
        self.stream.flush()

    def close(self) -> None:
        """End the bar: its last state on a line of its own."""
        if self.tty:
            if self._drawn:
                self.stream.write("\r\x1b[K" + self.text() + "\n")
                self.stream.flush()
        else:
            self.show(force=self._shown_pct < self.eta.fraction * 100)
        self._drawn = False


class InPlace:
    """A status line redrawn in place on a tty (a bar in front when the fraction is known), printed as plain
    lines otherwise; ``message`` prints a line of its own above it. For steps whose own events already
    come rate-limited (the generation pipeline's)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = ""

    def show(self, text: str, fraction: float | None = None) -> None:
        if not self.tty:
            self.stream.write(text + "\n")
            self.stream.flush()
            return
        width = shutil.get_terminal_size((80, 24)).columns
        head = f"{bar(fraction, 12)} {fraction:4.0%} " if fraction is not None and width >= 40 else ""
        self._last = (head + text)[: max(1, width - 1)]
        self.stream.write("\r\x1b[K" + self._last)
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.tty and self._last:
            self.stream.write("\r\x1b[K" + text + "\n" + self._last)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
        self._last = ""


# "…: 12/40" or, from Eta.line, "…: 1,200/2,000 outputs · about 3 min left"
COUNT_RE = re.compile(r"(\d[\d,]*)\s*/\s*(\d[\d,]*)(?:\s+[a-z][a-z ]*)?(?:\s+·\s+([^/]+))?\s*$")


def count_in(line: str) -> tuple[int, int] | None:
    """(done, total) from a progress line that ends with a count (or an Eta line), else None."""
    m = COUNT_RE.search(line.strip())
    if not m:
        return None
    done, total = int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))
    return (done, total) if total > 0 and done <= total else None


def line_printer(stream: TextIO | None = None) -> Callable[[str], None]:
    """A ``progress(line)`` for the CLI: a line with a count redrawn in place with a bar on a tty (the
    others printed above it); every line printed as it is in a pipe."""
    live = InPlace(stream)

    def say(line: str) -> None:
        counted = count_in(line) if live.tty else None
        if counted is None:
            live.message(line)
            return
        live.show(line, counted[0] / counted[1])
        if counted[0] >= counted[1]:
            live.close()

    return say
