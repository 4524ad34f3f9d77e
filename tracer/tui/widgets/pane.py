"""A tab that shows the selected moment; it redraws only when visible and the moment changed."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tracer.events import Event
from tracer.tui.open_trace import OpenTrace


def moment_title(trace: OpenTrace, event: Event) -> Text:
    cpu = getattr(event, "cpu", None)
    pid = getattr(event, "pid", None)
    parts = [f"#{event.seq}", f"{event.time_ns / 1e9:.6f} s"]
    if cpu is not None:
        parts.append(f"cpu{cpu}")
    if pid is not None:
        parts.append(trace.index.process_label(pid))
    parts.append(event.kind.value.replace("_", " "))
    return Text("  ".join(parts), style="bold")


class RenderedOnce:
    """A renderable drawn once per width. Textual draws a body twice after each update (once
    for its height, once for its lines): a table of a dozen rows costs ~4 ms a time."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._drawn: dict[tuple[object, ...], list[Segment]] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Not the height: these panes grow with their content, whatever height is offered.
        key = (options.max_width, options.justify, options.overflow, options.no_wrap)
        drawn = self._drawn.get(key)
        if drawn is None:
            drawn = self._drawn[key] = list(console.render(self.renderable, options))
        yield from drawn

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.renderable)


class MomentPane(VerticalScroll):
    """Subclasses implement `render_event` and return what the body shows."""

    def __init__(self, trace: OpenTrace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self._shown: tuple[int, int] | None = None  # (seq, generation)
        self.generation = 0  # bumped when what the pane depends on changes (kernel loaded...)
        self.body = Static(Text("no event selected", style="dim"), classes="pane-body")

    def compose(self) -> ComposeResult:
        yield self.body

    def show_event(self, event: Event | None) -> None:
        if event is None:
            return
        key = (event.seq, self.generation)
        if key == self._shown:
            return
        self._shown = key
        try:
            shown = self.render_event(event)
        except Exception as exc:  # a pane that cannot draw one moment says so and goes on
            shown = Text(
                f"cannot show #{event.seq} here: {type(exc).__name__}: {exc}", style="bold red"
            )
        self._update_body(shown)

    def _update_body(self, shown: RenderableType) -> None:
        """The body's new content, laid out again only when its height changes: a layout
        repaints every widget on the screen, where a same-height update repaints this one."""
        body = self.body
        before = body.size
        # A Text is measured without being drawn (and justified by Textual): left as it is.
        body.update(shown if isinstance(shown, Text) else RenderedOnce(shown), layout=False)
        if (
            not before.width
            or body.get_content_height(before, before, before.width) != before.height
        ):
            body.refresh(layout=True)

    def invalidate(self) -> None:
        self.generation += 1

    def render_event(self, event: Event) -> RenderableType:
        raise NotImplementedError
