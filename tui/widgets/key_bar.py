"""A footer that wraps: every key of the screen stays visible at 80 columns.

Textual's Footer is one line that scrolls sideways, so on a screen with many keys some are out
of sight at 80×24. KeyBar shows the same bindings (those with ``show=True`` and a description,
grouped like the Footer groups them) and wraps onto a second or third line when it must.
Use it in place of ``Footer()``.
"""

from __future__ import annotations

from textual.app import RenderResult
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

SEP = "  "


def key_items(screen: Screen) -> list[tuple[str, str, bool]]:
    """(keys shown, description, enabled) for every binding the footer would show, in order."""
    app = screen.app
    seen: set[str] = set()
    items: list[tuple[str, str, bool]] = []
    group_of: list[object] = []
    palette = None
    for _key, active in screen.active_bindings.items():
        binding = active.binding
        if binding.action == "command_palette" and app.ENABLE_COMMAND_PALETTE:
            palette = (app.get_key_display(binding), "palette", active.enabled)
            continue
        if not binding.show or not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        shown = app.get_key_display(binding)
        if binding.group is not None and group_of and group_of[-1] is binding.group:
            keys, desc, enabled = items[-1]
            sep = "" if binding.group.compact else " "
            items[-1] = (keys + sep + shown, desc, enabled or active.enabled)
            continue
        desc = binding.group.description if binding.group is not None else binding.description
        items.append((shown, desc, active.enabled))
        group_of.append(binding.group)
    if palette:
        items.append(palette)
    return items


class KeyBar(Widget, can_focus=False):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Screen) -> None:
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Content]:
        width = max(width, 10)
        lines: list[Content] = []
        line = Content("")
        for keys, desc, enabled in key_items(self.screen):
            key_style = "bold $footer-key-foreground" if enabled else "dim"
            piece = Content.assemble((keys, key_style), (" " + desc, "" if enabled else "dim"))
            if line.cell_length and line.cell_length + len(SEP) + piece.cell_length > width:
                lines.append(line)
                line = Content("")
            line = line + SEP + piece if line.cell_length else piece
        if line.cell_length:
            lines.append(line)
        return lines

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[override]
        return max(1, len(self._lines(width)))

    def render(self) -> RenderResult:
        return Content("\n").join(self._lines(self.content_region.width or self.size.width))
