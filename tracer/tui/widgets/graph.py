"""The function-graph tab: ftrace's function_graph lines (the call forest of
`tracer.analysis.callgraph`, drawn by `tracer.export.ftrace`) for the events around the
selected moment. Syscalls, switches and interrupts show even without function events.
A call's `f() {` line folds to `f() { ... }` (Enter, `o` or space, as in uftrace's TUI)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tracer.analysis.callgraph import build_call_tree
from tracer.event_filter import fold_inferred_swapgs
from tracer.events import Event, EventKind
from tracer.export.ftrace import GraphLine, GraphOptions, graph_rows
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
    if text.rstrip().endswith("{ ... }"):
        return "folded"
    if "==========" in text:
        return "irq"
    if text.startswith(" ---") or "=>" in text:
        return "switch"
    if "/*" in text or text.startswith("["):
        return "comment"
    if text.rstrip().endswith("}"):
        return "close"
    return "func"


def here_line(lines: list[GraphLine], event: Event) -> int | None:
    """The line that stands for `event`: the last one at or before it, on its own CPU when
    the graph has lines of that CPU (other CPUs' lines interleave by seq)."""
    cpu = getattr(event, "cpu", None)
    before = [i for i, line in enumerate(lines) if line.seq is not None and line.seq <= event.seq]
    own = [i for i in before if lines[i].cpu == cpu]
    return max(own or before, default=None)


class GraphListing(LinesView):
    BINDINGS = [Binding("o,space", "fold", "fold/unfold", show=False)]

    class Fold(Message):
        """`o` or space on a line: fold or unfold the call it opens."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def action_fold(self) -> None:
        if self.lines:
            self.post_message(self.Fold(self.cursor))


class GraphPanel(Vertical):
    class Jump(Message):
        """Enter on a line: the moment it stands for."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    COMPONENT_CLASSES = {
        f"graph--{style}" for style in ("func", "close", "folded", "comment", "irq", "switch")
    }

    def __init__(self, trace: OpenTrace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.head = Static(classes="pane-head")
        self.listing = GraphListing(id="graph-listing")
        self.folded: set[int] = set()  # entry seqs of the folded calls, kept across moments
        self._event: Event | None = None
        self._lines: list[GraphLine] = []
        self.show_swapgs = False
        self.cpu: int | None = None

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.listing

    def show_event(
        self, event: Event | None, show_swapgs: bool = False, cpu: int | None = None
    ) -> None:
        """Draw the graph around `event`; inferred swapgs comments only when `show_swapgs`;
        only one CPU's events when `cpu` is given (the timeline's CPU filter)."""
        if event is None:
            return
        if self._event is not None and (event.seq, show_swapgs, cpu) == (
            self._event.seq,
            self.show_swapgs,
            self.cpu,
        ):
            return
        self._event = event
        self.show_swapgs = show_swapgs
        self.cpu = cpu
        self._draw()

    def toggle_fold(self, index: int) -> bool:
        """Fold or unfold the call line `index` opens; False if it opens none."""
        if not 0 <= index < len(self._lines) or not self._lines[index].opens:
            return False
        seq = self._lines[index].seq
        assert seq is not None
        self.folded.symmetric_difference_update({seq})
        self._draw(cursor=index)
        return True

    def _draw(self, cursor: int | None = None) -> None:
        event = self._event
        assert event is not None
        window = self._window(event)
        shown = window if self.show_swapgs else list(fold_inferred_swapgs(window))
        forest = build_call_tree(shown)
        options = GraphOptions(header=False, folded=frozenset(self.folded))
        self._lines = lines = list(graph_rows(forest, options, self.trace.symbolize))
        here = here_line(lines, event)
        note = "" if self.trace.source.count(kinds=FUNC_KINDS) else f"\n{NO_FUNCTIONS}"
        first, last = window[0].seq if window else 0, window[-1].seq if window else 0
        which = "" if self.cpu is None else f"CPU {self.cpu}, "
        self.head.update(
            Text(
                f"function_graph of {which}#{first}..#{last} around #{event.seq}{note}",
                style="dim",
            )
        )
        style = self.get_component_rich_style
        self.listing.set_lines(
            [Text(line.text, style=style(f"graph--{line_style(line.text)}")) for line in lines],
            here,
            cursor=cursor,
        )

    def _window(self, event: Event) -> list[Event]:
        """The events around `event`, of one CPU when the view is filtered to one."""
        source = self.trace.source
        if self.cpu is None:
            row = row_of(source, event.seq) or 0
            start = max(0, row - AROUND)
            return source.page(start, 2 * AROUND + 1)
        found = source.index_of(event.seq, nearest=True, cpu=self.cpu)
        row = found if found is not None else source.count(cpu=self.cpu) - 1
        start = max(0, row - AROUND)
        return source.page(start, 2 * AROUND + 1, cpu=self.cpu)

    def on_graph_listing_fold(self, message: GraphListing.Fold) -> None:
        message.stop()
        self.toggle_fold(message.index)

    def on_lines_view_chosen(self, message: LinesView.Chosen) -> None:
        """Enter: fold or unfold a call's line, and move every pane to the line's moment."""
        message.stop()
        if 0 <= message.index < len(self._lines):
            self.toggle_fold(message.index)
            seq = self._lines[message.index].seq
            if seq is not None:
                self.post_message(self.Jump(seq))
