"""Horizontal bars, base vs candidate, one pair per group (category, difficulty, kind).

    bars = CategoryBars([BarRow("billing", 0.52, 0.78, n=12, p_value=0.01), ...], id="by-category")
    bars.rows = [...]            # redraws

Each group takes two lines: the base's bar, then the candidate's with the difference and its p-value;
the candidate's bar is green when it is at least the base, red when it is below. The bars stretch with
the widget: names are cut to fit, and at 80 columns a bar is still 20+ cells wide. Values are 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

FULL, EMPTY = "█", "░"
PARTS = " ▏▎▍▌▋▊▉"  # eighths of a cell
MAX_BAR = 60


@dataclass(frozen=True)
class BarRow:
    name: str
    base: float | None
    candidate: float | None
    n: int = 0
    p_value: float | None = None

    @property
    def delta(self) -> float | None:
        if self.base is None or self.candidate is None:
            return None
        return self.candidate - self.base


def bar(value: float | None, width: int) -> str:
    """A bar of ``width`` cells for a value in 0..1, in eighths of a cell."""
    if width <= 0:
        return ""
    if value is None:
        return " " * width
    eighths = round(max(0.0, min(1.0, value)) * width * 8)
    full, part = divmod(eighths, 8)
    text = FULL * full + (PARTS[part] if part and full < width else "")
    return text + EMPTY * (width - len(text))


def _pct(x: float | None) -> str:
    return " n/a" if x is None else f"{x * 100:3.0f}%"


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return " p<0.001" if p < 0.001 else f" p={p:.3f}" if p < 0.01 else f" p={p:.2f}"


def bar_lines(rows: Sequence[BarRow], width: int) -> list[Text]:
    """Two lines per row, each at most ``width`` cells."""
    if not rows:
        return [Text("no scored groups", style="dim")]
    width = max(width, 40)
    suffix_w = 17  # " +100.0 pts p=0.05"
    name_w = min(max(len(r.name) + len(f" ({r.n})") for r in rows), max(10, width // 4))
    bar_w = min(MAX_BAR, max(8, width - name_w - 1 - 5 - 5 - suffix_w))
    lines: list[Text] = []
    for r in rows:
        label = f"{r.name} ({r.n})" if r.n else r.name
        if len(label) > name_w:
            label = label[: name_w - 1] + "…"
        d = r.delta
        cand_style = "green" if d is None or d >= -1e-9 else "red"
        base_line = Text.assemble((f"{label:<{name_w}} ", "bold"), ("base ", "dim"),
                                  (bar(r.base, bar_w), "blue"), (_pct(r.base), ""))
        delta = "" if d is None else f" {d * 100:+.1f} pts"
        cand_line = Text.assemble((" " * (name_w + 1), ""), ("cand ", "dim"), (bar(r.candidate, bar_w), cand_style),
                                  (_pct(r.candidate), "bold"), (delta, cand_style), (_p(r.p_value), "dim"))
        for line in (base_line, cand_line):
            line.truncate(width)
            lines.append(line)
    return lines


def rows_from_groups(groups: Iterable[object]) -> list[BarRow]:
    """BarRows from core.evaluate.metrics.GroupStats (mean scores per model)."""
    return [BarRow(g.name, g.base_mean, g.candidate_mean, g.n, g.p_value) for g in groups]  # type: ignore[attr-defined]


class CategoryBars(Widget):
    DEFAULT_CSS = """
    CategoryBars { height: auto; width: 1fr; }
    """

    rows: reactive[list[BarRow]] = reactive(list, layout=True)

    def __init__(self, rows: Sequence[BarRow] = (), *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(CategoryBars.rows, list(rows))

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[override]
        return max(1, 2 * len(self.rows))

    def render(self) -> RenderResult:
        return Text("\n").join(bar_lines(self.rows, self.content_region.width or self.size.width or 80))
