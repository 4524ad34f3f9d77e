"""A moment pane lays itself out again only when its body's height changes, and draws a
renderable once per width."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult

from tracer.tui.widgets.pane import MomentPane, RenderedOnce


@dataclass
class Moment:
    seq: int
    lines: int


class LinesPane(MomentPane):
    """Shows `lines` numbered lines for a moment."""

    def render_event(self, event: Any) -> RenderableType:
        return Text("\n".join(f"#{event.seq} line {n}" for n in range(event.lines)))


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LinesPane(None, id="pane")  # type: ignore[arg-type]  # the trace is not read


async def test_the_body_follows_its_content_height() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 30)) as pilot:
        pane = app.query_one(LinesPane)
        heights = []
        for moment in (Moment(1, 3), Moment(2, 10), Moment(3, 10), Moment(4, 2)):
            pane.show_event(moment)  # type: ignore[arg-type]
            await pilot.pause()
            heights.append(pane.body.size.height)
            shown = pane.body.render_lines(pane.body.region.reset_offset)
            assert shown[0].text.startswith(f"#{moment.seq} line 0")
        assert heights == [3, 10, 10, 2]


async def test_a_layout_only_when_the_height_changes() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 30)) as pilot:
        pane = app.query_one(LinesPane)
        pane.show_event(Moment(1, 4))  # type: ignore[arg-type]
        await pilot.pause()
        before = pane.body._layout_updates  # Textual's count of layouts asked for (pinned)
        pane.show_event(Moment(2, 4))  # type: ignore[arg-type]
        assert pane.body._layout_updates == before
        pane.show_event(Moment(3, 5))  # type: ignore[arg-type]
        assert pane.body._layout_updates == before + 1
        await pilot.pause()
        assert pane.body.size.height == 5


class CountedDraws:
    """Draws a line as wide as it is offered; counts how often it is drawn."""

    def __init__(self) -> None:
        self.draws = 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.draws += 1
        yield Segment("x" * options.max_width)


def test_drawn_once_per_width_and_the_same_as_the_renderable() -> None:
    console = Console(width=80, file=io.StringIO())
    inner = CountedDraws()
    once = RenderedOnce(inner)
    for width in (10, 10, 20, 10):
        lines = console.render_lines(once, console.options.update_width(width))
        assert Segment.get_line_length(lines[0]) == width
    assert inner.draws == 2

    table = Table("name", "value", box=None, expand=True)
    table.add_row("fs_base", "0x4c9380")
    table.add_row("gs_base", Text("0xffff888000000000", style="bold"))
    options = console.options.update_width(41)
    assert console.render_lines(RenderedOnce(table), options) == console.render_lines(
        table, options
    )
