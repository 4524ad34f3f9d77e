"""The function-graph tab: ftrace's function_graph lines (the call forest of
`tracer.analysis.callgraph`, drawn by `tracer.export.ftrace`) for the events around the
selected moment. Syscalls, switches and interrupts show even without function events."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tracer.analysis.callgraph import build_call_tree
from tracer.events import Event, EventKind
from tracer.export.ftrace import GraphOptions, graph_rows
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.lookup import row_of
from tracer.tui.widgets.lines import LinesView

FUNC_KINDS = (EventKind.FUNC_ENTRY, EventKind.FUNC_EXIT)
AROUND = 200
NO_FUNCTIONS = (
    "no function events in this trace: kernel calls appear here when the capture records them "
    "(tracer capture --graph FUNCS); syscalls, switches and interrupts show meanwhile"
)


def line_style(text: str) -> str:
    if "==========" in text:
        return "irq"
    if text.startswith(" ---") or "=>" in text:
        return "switch"
    if "/*" in text or text.startswith("["):
        return "comment"
    if text.rstrip().endswith("}"):
        return "close"
    return "func"


class GraphPanel(Vertical):
    class Jump(Message):
        """Enter on a line: the moment it stands for."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    COMPONENT_CLASSES = {
        f"graph--{style}" for style in ("func", "close", "comment", "irq", "switch")
    }

    def __init__(self, trace: OpenTrace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.head = Static(classes="pane-head")
        self.listing = LinesView(id="graph-listing")
        self._shown: int | None = None
        self._seqs: list[int | None] = []

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.listing

    def show_event(self, event: Event | None) -> None:
        if event is None or event.seq == self._shown:
            return
        self._shown = event.seq
        row = row_of(self.trace.source, event.seq) or 0
        start = max(0, row - AROUND)
        window = self.trace.source.page(start, 2 * AROUND + 1)
        forest = build_call_tree(window)
        lines = list(graph_rows(forest, GraphOptions(header=False), self.trace.symbolize))
        self._seqs = [line.seq for line in lines]
        here = max(
            (i for i, seq in enumerate(self._seqs) if seq is not None and seq <= event.seq),
            default=None,
        )
        note = "" if self.trace.source.count(kinds=FUNC_KINDS) else f"\n{NO_FUNCTIONS}"
        first, last = window[0].seq if window else 0, window[-1].seq if window else 0
        self.head.update(
            Text(f"function_graph of #{first}..#{last} around #{event.seq}{note}", style="dim")
        )
        style = self.get_component_rich_style
        self.listing.set_lines(
            [Text(line.text, style=style(f"graph--{line_style(line.text)}")) for line in lines],
            here,
        )

    def on_lines_view_chosen(self, message: LinesView.Chosen) -> None:
        message.stop()
        if 0 <= message.index < len(self._seqs):
            seq = self._seqs[message.index]
            if seq is not None:
                self.post_message(self.Jump(seq))
