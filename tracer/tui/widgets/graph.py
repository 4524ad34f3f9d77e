"""The function-graph tab: ftrace-style lines around the selected moment, on its CPU. Traces
without function events (no graph probes yet: issue 5) get a note saying so."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tracer.events import Event, EventKind
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.graph import graph_lines
from tracer.tui.view_models.lookup import row_of
from tracer.tui.widgets.lines import LinesView

PLACEHOLDER = """\
function graph: this trace has no function entry/exit events

The ftrace-style call graph (kernel functions called inside each syscall, with durations and
markers, synchronised with the timeline) needs function events, which captures record with
the graph probes of issue 5. With them, this tab shows the calls around the selected moment:

   0)               |  do_syscall_64() {
   0)   0.412 us    |    ksys_write();
   0)   1.020 us    |  }
"""
FUNC_KINDS = (EventKind.FUNC_ENTRY, EventKind.FUNC_EXIT)
AROUND = 200


class GraphPanel(Vertical):
    COMPONENT_CLASSES = {"graph--func", "graph--leaf", "graph--close", "graph--comment"}

    def __init__(self, trace: OpenTrace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.head = Static(classes="pane-head")
        self.listing = LinesView(id="graph-listing")
        self._shown: int | None = None

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.listing

    def on_mount(self) -> None:
        if not self.has_functions():
            self.head.update(Text(PLACEHOLDER, style="dim"))
            self.listing.display = False

    def has_functions(self) -> bool:
        return self.trace.source.count(kinds=FUNC_KINDS) > 0

    def show_event(self, event: Event | None) -> None:
        if event is None or event.seq == self._shown or not self.has_functions():
            return
        self._shown = event.seq
        self.listing.display = True
        cpu = getattr(event, "cpu", None)
        row = row_of(self.trace.source, event.seq) or 0
        start = max(0, row - AROUND)
        window = self.trace.source.page(start, 2 * AROUND + 1)
        events = [e for e in window if getattr(e, "cpu", cpu) == cpu]
        lines = graph_lines(events, self.trace.symbolize)
        here = max((i for i, line in enumerate(lines) if line.seq <= event.seq), default=None)
        style = self.get_component_rich_style
        self.head.update(Text(f"cpu{cpu}: {len(lines)} lines around #{event.seq}", style="dim"))
        self.listing.set_lines(
            [Text(line.text, style=style(f"graph--{line.style}")) for line in lines], here
        )
