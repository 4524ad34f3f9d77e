"""The findings tab: until `tracer check` exists, what the capture itself flagged (gaps,
warnings, base changes of unknown cause), each a jump to its moment."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tracer.events import Event, EventKind
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.rows import is_flagged, summarize
from tracer.tui.widgets.lines import LinesView

PLACEHOLDER = (
    "invariant checks (`tracer check`) are not built yet; listed here is what the capture "
    "flagged itself. Enter jumps to the event."
)
_LIMIT = 2000


class FindingsPanel(Vertical):
    class Jump(Message):
        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, trace: OpenTrace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.head = Static(classes="pane-head")
        self.listing = LinesView(id="findings-listing")
        self.seqs: list[int] = []

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.listing

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        kinds = (EventKind.GAP, EventKind.NOTE)
        found: list[Event] = []
        for event in self.trace.source.events(kinds=kinds):
            if is_flagged(event):
                found.append(event)
                if len(found) >= _LIMIT:
                    break
        self.seqs = [event.seq for event in found]
        count = f"{len(found)} flagged event{'s' if len(found) != 1 else ''}"
        self.head.update(Text(f"{PLACEHOLDER}\n{count}", style="dim"))
        lines = []
        for event in found:
            summary, _style = summarize(event)
            line = Text(f"#{event.seq:<8} {event.time_ns / 1e9:10.6f} s  ", style="dim")
            line.append(f"{event.kind.value:<6} ", style="bold red")
            line.append(summary)
            lines.append(line)
        self.listing.set_lines(lines)

    def on_lines_view_chosen(self, message: LinesView.Chosen) -> None:
        message.stop()
        if 0 <= message.index < len(self.seqs):
            self.post_message(self.Jump(self.seqs[message.index]))
