"""A live log panel: Textual's ``Log`` fed from a run's train.log by a tailer thread.

    panel = LogPanel(id="log")
    panel.attach(run_folder)      # (re)starts tailing from the start of the file
    panel.follow = False          # or the `f` key of the screen: stop following the end

One thread per panel wakes every ``interval`` seconds, reads the new whole lines from the last byte
offset (``core.train.runfolder.read_log_from``) and posts them in one :class:`LogPanel.Lines`
message; the UI writes them with ONE ``Log.write_lines`` call. The work per tick is bounded, so a
runner printing 100,000 lines a second (or a re-attach to a 1 GB log) costs the UI one batch of at
most ``max_lines`` lines per tick:

- never more than ``max_bytes`` are read per tick: when more is waiting, the tailer jumps to the last
  ``max_bytes`` of the file and a marker line says how much was skipped;
- of the lines read, only the last ``max_lines`` are written (the Log keeps ``max_lines`` anyway);
- the next read waits until the UI has written the previous batch, so batches never pile up in the
  message queue when the UI is busy; the next batch is simply larger (and capped).

Carriage returns (progress bars) keep only what a terminal would show; ANSI escapes are removed.
The panel follows the end of the log unless the user scrolls up (scrolling back to the end, or
``follow = True``, follows again); while not following, pruned lines do not move the view.
"""

from __future__ import annotations

import re
import textwrap
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from rich.cells import cell_len
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Log

from core.train.runfolder import LOG, read_log_from
from tui.workers import background

MAX_LINES = 5_000
INTERVAL = 0.25
MAX_BYTES = 2 * 1024 * 1024  # per tick; ~20,000 lines of a typical trainer log

_TOTAL_STEPS = re.compile(r"(?: of=|training started: )(\d+)")  # the runner's "[metrics] ... of=N" lines
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass
class LogBatch:
    """New whole lines of train.log, ready to write."""

    lines: list[str] = field(default_factory=list)
    read: int = 0  # lines read from the file this tick (before the cap)
    skipped_bytes: int = 0  # bytes jumped over without reading (more than max_bytes was waiting)
    dropped: int = 0  # lines read but not written (more than max_lines arrived)
    total_steps: int | None = None  # the trainer's step count, when a line of this batch says it
    width: int = 0  # the widest line, in cells (measured here, off the UI thread)
    offset: int = 0  # the byte offset in train.log after this batch


def clean_lines(text: str) -> list[str]:
    """Whole lines of ``text`` (which ends with a newline) as a terminal would show them."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    lines = text.split("\n")
    lines.pop()  # the empty string after the last newline
    if "\r" in text:
        lines = [line.rstrip("\r").rsplit("\r", 1)[-1] if "\r" in line else line for line in lines]
    return lines


class LogTailer:
    """Reads new whole lines of ``folder/train.log`` from a byte offset; no UI, usable from a thread."""

    def __init__(self, folder: Path, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOG
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.offset = 0
        self.lines_read = 0

    def read(self) -> LogBatch | None:
        """The lines appended since the last call, capped; None when nothing new (a stat only)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if size < self.offset:  # truncated or replaced: start again
            self.offset = 0
        if size == self.offset:
            return None
        start, skipped = self.offset, 0
        if size - start > self.max_bytes:
            start = size - self.max_bytes
            skipped = start - self.offset
        text, new_offset = read_log_from(self.folder, start)
        if not text:
            return None  # no whole line yet
        self.offset = new_offset
        total = None
        for marker in (" of=", "training started: "):  # the runner's progress lines (core.train.runner)
            at = text.rfind(marker)
            if at >= 0:
                found = _TOTAL_STEPS.match(text, at)
                if found:
                    total = int(found.group(1))
                    break
        lines = clean_lines(text)
        if skipped and lines:
            lines.pop(0)  # the jump landed inside a line
        read = len(lines)
        self.lines_read += read
        dropped = max(0, read - self.max_lines)
        if dropped:
            lines = lines[-self.max_lines:]
        width = max(map(cell_len, map(Log._process_line, lines)), default=0)
        return LogBatch(lines, read, skipped, dropped, total, width, self.offset)


def wrap_lines(lines: list[str], width: int) -> list[str]:
    """Lines longer than ``width`` wrapped at spaces (a long word is cut), continuations indented: a log
    line is read whole, not cut at the panel's edge (Textual's Log does not wrap)."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width or cell_len(line) <= width:
            out.append(line)
            continue
        out.extend(textwrap.wrap(line.expandtabs(), width, subsequent_indent="  ", drop_whitespace=True,
                                 replace_whitespace=False) or [line[:width]])
    return out


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB"


class LogPanel(Log):
    """Textual's ``Log`` that tails a run folder's train.log (see the module docstring)."""

    DEFAULT_CSS = """
    LogPanel {
        border: round $panel;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 0;  /* a row more for the log at 80x24; left/right still scroll */
    }
    LogPanel:focus { border: round $accent; }
    """

    follow: reactive[bool] = reactive(True, init=False)
    """Keep the end of the log in view as lines arrive."""

    class Lines(Message):
        """A batch from the tailer thread (handled by the panel itself)."""

        def __init__(self, generation: int, batch: LogBatch) -> None:
            super().__init__()
            self.generation = generation
            self.batch = batch

    def __init__(self, *, max_lines: int = MAX_LINES, interval: float = INTERVAL, max_bytes: int = MAX_BYTES,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, highlight=False, id=id, classes=classes)
        self.interval = interval
        self.max_bytes = max_bytes
        self.folder: Path | None = None
        self.lines_ingested = 0  # lines read from the file since attach (written or dropped)
        self.lines_written = 0
        self.batches = 0
        self.bytes_in = 0  # bytes of train.log taken in (read or skipped)
        self.total_steps: int | None = None  # from the runner's "of=N" / "training started: N steps" lines
        self._generation = 0
        self._stop = threading.Event()
        self._drained = threading.Event()
        self._raw: deque[str] = deque(maxlen=max_lines or MAX_LINES)  # as read, for a re-wrap on resize
        self._wrap = 0  # the width the lines shown were wrapped to (0: not wrapped)
        self.border_title = "train.log"

    # ------------------------------------------------------------ tailing

    def attach(self, folder: Path) -> None:
        """Show ``folder``'s train.log from its start (or its last ``max_bytes``) and follow it."""
        self.detach()
        self.clear()
        self.folder = Path(folder)
        self.lines_ingested = self.lines_written = self.batches = self.bytes_in = 0
        self.total_steps = None
        self._generation += 1
        self._stop = threading.Event()
        self._drained = threading.Event()
        self._drained.set()
        self.follow = True
        self._show_state()
        tailer = LogTailer(self.folder, self.max_lines or MAX_LINES, self.max_bytes)
        self._raw.clear()
        self._tail(self._generation, tailer, self._stop, self._drained)

    def detach(self) -> None:
        self._stop.set()

    def on_unmount(self) -> None:
        self._stop.set()

    @background("log-tail", exclusive=False)
    def _tail(self, generation: int, tailer: LogTailer, stop: threading.Event, drained: threading.Event) -> None:
        """The tailer thread: one read per tick, one message per batch, one batch in flight at most."""
        while not stop.is_set():
            if drained.is_set():
                batch = tailer.read()
                if batch is not None:
                    drained.clear()
                    self.post_message(self.Lines(generation, batch))
            stop.wait(self.interval)

    def on_log_panel_lines(self, message: Lines) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        try:
            self.write_batch(message.batch)
        finally:
            self._drained.set()

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        """Log measures each write's widest line in a new thread worker; the tailer thread has
        measured it already (LogBatch.width), so write_batch sets it (no thread per batch)."""

    def write_batch(self, batch: LogBatch) -> None:
        """Write one batch with one ``write_lines`` call, keeping the view still when not following."""
        lines = batch.lines
        if batch.skipped_bytes or batch.dropped:
            what = []
            if batch.skipped_bytes:
                what.append(f"{_size(batch.skipped_bytes)} skipped")
            if batch.dropped:
                what.append(f"{batch.dropped:,} lines skipped")
            lines = [f"… {', '.join(what)} (arriving faster than shown; the file has every line) …", *lines]
        self.lines_ingested += batch.read
        self.bytes_in = batch.offset
        if batch.total_steps:
            self.total_steps = batch.total_steps
        self.batches += 1
        if not lines:
            return
        self._raw.extend(lines)
        wrap = self._wrap = self.wrap_width()
        if wrap and any(len(line) > wrap for line in lines):  # Log does not wrap: a long line is read whole
            lines = wrap_lines(lines, wrap)
        cap = self.max_lines or len(lines)
        if len(lines) > cap:
            lines = lines[-cap:]
        pruned = max(0, len(self._lines) + len(lines) - cap)
        keep_y = None if self.follow else max(0, round(self.scroll_y) - pruned)
        width = min(batch.width, wrap) if wrap else batch.width
        if width > self._width:
            self._width = width  # before write_lines, which sets the virtual size once
        self.write_lines(lines, scroll_end=self.follow)
        self.lines_written += len(lines)
        if self.follow:  # write_lines scrolls only if the view was at the end; a resize may have moved it
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif pruned:
            self.scroll_to(y=keep_y, animate=False, immediate=True)
        # Log.refresh_lines() marks the new lines' rows; once the Log is full those rows are past
        # the end (the old ones were pruned), so repaint the visible rows (only those are rendered).
        self.refresh()
        self._show_state()

    # ------------------------------------------------------------ following

    def watch_follow(self, follow: bool) -> None:
        self.auto_scroll = follow
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self._show_state()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = self.is_vertical_scroll_end
        if self.follow != at_end and (new_value < old_value or at_end):
            self.follow = at_end  # the user scrolled up (stop following) or back to the end (follow)

    def wrap_width(self) -> int:
        """The cells a line may take before it is wrapped: the panel's width less the scrollbar (0: the
        panel has no size yet, or is too narrow to wrap sensibly)."""
        width = self.scrollable_content_region.width - 1
        return width if width >= 20 else 0

    def rewrap(self) -> None:
        """Write the lines kept (at most max_lines) again, wrapped to the panel's new width."""
        wrap = self.wrap_width()
        if wrap == self._wrap or not self._raw:
            return
        self._wrap = wrap
        lines = wrap_lines(list(self._raw), wrap) if wrap else list(self._raw)
        cap = self.max_lines or len(lines)
        self.clear()
        self._width = min(max(map(cell_len, lines), default=0), wrap or 10**6)
        self.write_lines(lines[-cap:], scroll_end=self.follow)

    def on_resize(self) -> None:
        self.rewrap()
        if self.follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    def toggle_follow(self) -> bool:
        self.follow = not self.follow
        return self.follow

    def _show_state(self) -> None:
        state = "following" if self.follow else "paused · f follows"
        self.border_subtitle = f"{self.lines_ingested:,} lines · {state}"
