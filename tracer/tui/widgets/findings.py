"""The findings tab: the checker's violations and what the capture flagged (gaps, warnings),
each line a jump to its moment (Enter)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tracer.tui.view_models.findings import FindingsScan
from tracer.tui.widgets.lines import LinesView

_SHOWN = 5000


class FindingsPanel(Vertical):
    COMPONENT_CLASSES = {"findings--rule", "findings--seq", "findings--where"}

    class Jump(Message):
        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.head = Static(
            Text("checking waits for the kernel image…", style="dim"), classes="pane-head"
        )
        self.listing = LinesView(id="findings-listing")
        self.seqs: list[int] = []
        self._shown_count = -1

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.listing

    def show_scan(self, scan: FindingsScan, progress: float | None = None) -> None:
        count = len(scan.lines)
        state = (
            "checked"
            if scan.done
            else (f"checking {progress:.0%}" if progress is not None else "checking")
        )
        noun = "finding" if count == 1 else "findings"
        self.head.update(
            Text(f"tracer check: {count} {noun} ({state}); Enter jumps to one", style="dim")
        )
        if count == self._shown_count:
            return
        self._shown_count = count
        style = self.get_component_rich_style
        lines = []
        for line in scan.lines[:_SHOWN]:
            text = Text(f"#{line.seq:<7} ", style=style("findings--seq"))
            text.append(f"{line.rule:<18} ", style=style("findings--rule"))
            if line.where:
                text.append(f"{line.where}: ", style=style("findings--where"))
            text.append(line.message)
            lines.append(text)
        self.seqs = [line.seq for line in scan.lines[:_SHOWN]]
        cursor = self.listing.cursor
        self.listing.set_lines(lines)
        self.listing.cursor = min(cursor, max(0, len(lines) - 1))

    def on_lines_view_chosen(self, message: LinesView.Chosen) -> None:
        message.stop()
        if 0 <= message.index < len(self.seqs):
            self.post_message(self.Jump(self.seqs[message.index]))
