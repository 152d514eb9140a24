"""The loss chart: training loss and eval loss against the step, from a run folder's metrics.

    chart = LossChart(id="chart")
    chart.attach(run_folder)

A thread reads the metrics every ``interval`` seconds (0.5 s: at most two redraws a second) and
posts :class:`LossChart.Rows` only when new rows arrived; the chart then redraws once. While the
run is live the rows come from metrics.jsonl, read incrementally from a byte offset
(``runfolder.read_metrics_from``: whole lines only, so a row being written is read on the next
tick); once metrics.parquet exists (the run has ended) the rows are replaced once by
``runfolder.read_metrics``. The message bubbles, so the screen can show the latest row too.
Long runs are drawn from at most ~2 points per column (bucket means).
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual.message import Message
from textual_plotext import PlotextPlot

from core.models.runs import MetricRow
from core.train.runfolder import METRICS_JSONL, METRICS_PARQUET, read_metrics, read_metrics_from
from tui.workers import background

INTERVAL = 0.5


class MetricsTailer:
    """New metric rows since the last call; no UI, usable from a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.offset = 0
        self.final = False  # rows came from metrics.parquet: nothing more will arrive

    def read(self) -> tuple[list[MetricRow], bool] | None:
        """(rows, replace) or None when nothing new. ``replace``: these rows are all the rows."""
        if self.final:
            return None
        if (self.folder / METRICS_PARQUET).exists():
            self.final = True
            return read_metrics(self.folder), True
        try:
            if (self.folder / METRICS_JSONL).stat().st_size <= self.offset:
                return None  # a stat per tick while nothing new arrives
        except FileNotFoundError:
            return None
        rows, self.offset = read_metrics_from(self.folder, self.offset)
        return (rows, False) if rows else None


def bucket_means(xs: list[float], ys: list[float], buckets: int) -> tuple[list[float], list[float]]:
    """At most ``buckets`` points: the mean x and y of consecutive runs of points."""
    n = len(xs)
    if n <= buckets or buckets < 1:
        return xs, ys
    out_x, out_y = [], []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if hi > lo:
            out_x.append(sum(xs[lo:hi]) / (hi - lo))
            out_y.append(sum(ys[lo:hi]) / (hi - lo))
    return out_x, out_y


class LossChart(PlotextPlot):
    """loss and eval_loss vs step for one run folder."""

    class Rows(Message):
        """New metric rows (bubbles to the screen after the chart has drawn them)."""

        def __init__(self, generation: int, rows: list[MetricRow], replace: bool) -> None:
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.replace = replace

    def __init__(self, *, interval: float = INTERVAL, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.interval = interval
        self.rows: list[MetricRow] = []
        self.redraws = 0
        self._generation = 0
        self._stop = threading.Event()
        self._drawn_for: tuple[int, int] | None = None
        self.border_title = "loss vs step"

    @property
    def latest(self) -> MetricRow | None:
        return self.rows[-1] if self.rows else None

    def points(self) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """(step, loss) and (step, eval_loss) pairs."""
        loss = [(r.step, r.loss) for r in self.rows if r.loss is not None]
        evals = [(r.step, r.eval_loss) for r in self.rows if r.eval_loss is not None]
        return loss, evals

    def attach(self, folder: Path) -> None:
        self._stop.set()
        self.rows = []
        self._generation += 1
        self._stop = threading.Event()
        self._replot()
        self._poll(self._generation, MetricsTailer(folder), self._stop)

    def on_unmount(self) -> None:
        self._stop.set()

    @background("loss-poll", exclusive=False)
    def _poll(self, generation: int, tailer: MetricsTailer, stop: threading.Event) -> None:
        while not stop.is_set():
            got = tailer.read()
            if got is not None:
                self.post_message(self.Rows(generation, *got))
            if tailer.final:
                return
            stop.wait(self.interval)

    def on_loss_chart_rows(self, message: Rows) -> None:
        if message.generation != self._generation:
            message.stop()
            return
        self.rows = list(message.rows) if message.replace else self.rows + message.rows
        self._replot()

    def on_resize(self) -> None:
        self._replot()

    def _replot(self) -> None:
        """Set the plot's data (plotext builds it when the widget renders)."""
        width = max(self.size.width, 20)
        key = (len(self.rows), width)
        if key == self._drawn_for:
            return
        self._drawn_for = key
        self.redraws += 1
        plt = self.plt
        plt.clear_data()
        loss, evals = self.points()
        if loss:
            xs, ys = bucket_means([float(s) for s, _ in loss], [v for _, v in loss], width * 2)
            plt.plot(xs, ys, label="loss", marker="braille", color="cyan")
        if evals:
            xs, ys = bucket_means([float(s) for s, _ in evals], [v for _, v in evals], width)
            plt.plot(xs, ys, label="eval_loss", marker="braille", color="orange")
            if len(xs) <= width // 4:
                plt.scatter(xs, ys, marker="●", color="orange")
        if loss or evals:
            now = f"step {self.rows[-1].step}"
            if loss:
                now += f" · loss {loss[-1][1]:.4g}"
            if evals:
                now += f" · eval {evals[-1][1]:.4g}"
            self.border_subtitle = now
        else:
            self.border_subtitle = "no metrics yet"
        self.refresh()
