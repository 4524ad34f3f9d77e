"""A scrolling list of pre-rendered text lines with a cursor (entry path, console, findings)."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer.tui.keys import motion_bindings


class LinesView(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"lines--cursor", "lines--here"}

    BINDINGS = [
        *motion_bindings(down="move(1)", up="move(-1)", first="jump(0)", last="jump(-1)"),
        Binding("pagedown,ctrl+d", "page(1)", "page down", show=False),
        Binding("pageup,ctrl+u", "page(-1)", "page up", show=False),
        Binding("enter", "choose", "go to", show=False),
        Binding("h,left", "scroll_columns(-8)", "left", show=False),
        Binding("l,right", "scroll_columns(8)", "right", show=False),
    ]

    cursor: reactive[int] = reactive(0, init=False)

    class Chosen(Message):
        """Enter on a line."""

        def __init__(self, view: LinesView, index: int) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> LinesView:
            return self.view

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[Text] = []
        self.here: int | None = None
        self._strips: dict[tuple[int, int], list[Segment]] = {}

    def set_lines(
        self, lines: list[Text], here: int | None = None, *, cursor: int | None = None
    ) -> None:
        """New lines, `here` marked; the view centres on it unless a `cursor` line is given
        (a redraw in place, such as a fold, keeps the view where it is)."""
        self.lines = lines
        self._strips.clear()
        self.virtual_size = Size(max((line.cell_len for line in lines), default=0), len(lines))
        if cursor is None:
            self.set_here(here)
        else:
            self.here = here
            self.cursor = cursor
        self.refresh()

    def set_here(self, here: int | None) -> None:
        """Mark one line (the selected event's) and bring it into view."""
        self.here = here
        if here is not None:
            self.cursor = here
            self._center(here)
            self.call_after_refresh(self._center, here)  # again once laid out (a hidden tab)
        self.refresh()

    def _center(self, index: int) -> None:
        height = self.scrollable_content_region.height or self.size.height or 1
        self.scroll_to(y=max(0, index - height // 3), animate=False, immediate=True)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.lines) - 1))

    def watch_cursor(self, value: int) -> None:
        height = self.scrollable_content_region.height or 1
        top = int(self.scroll_y)
        if value < top:
            self.scroll_to(y=value, animate=False, immediate=True)
        elif value >= top + height:
            self.scroll_to(y=value - height + 1, animate=False, immediate=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_jump(self, where: int) -> None:
        self.cursor = where if where >= 0 else len(self.lines) - 1

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_scroll_columns(self, delta: int) -> None:
        self.scroll_to(x=max(0, self.scroll_x + delta), animate=False, immediate=True)

    def action_choose(self) -> None:
        if self.lines:
            self.post_message(self.Chosen(self, self.cursor))

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width or self.size.width
        if index >= len(self.lines):
            return Strip.blank(width, self.rich_style)
        segments = list(
            Segment.apply_style(self.lines[index].render(self.app.console), style=self.rich_style)
        )
        strip = Strip(segments).crop(int(self.scroll_x), int(self.scroll_x) + width)
        fill = self.rich_style
        for applies, name in (
            (index == self.here, "lines--here"),
            (index == self.cursor and self.has_focus, "lines--cursor"),
        ):
            if applies:
                post = self.get_component_rich_style(name)
                strip = Strip(Segment.apply_style(list(strip), post_style=post))
                fill = fill + post
        return strip.adjust_cell_length(width, fill)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
