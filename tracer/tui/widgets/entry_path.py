"""The entry-path tab: the syscall entry stub disassembled, probe sites and swapgs marked, and
the instruction the selected event came from."""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tracer.events import Event
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.entry_path import (
    EntryLine,
    entry_lines,
    here_line,
    path_summary,
    watched_sites,
)
from tracer.tui.widgets.lines import LinesView

LINE_STYLES = ("insn", "swapgs", "probe", "exit", "push", "gs", "label", "addr", "here")
StyleOf = Callable[[str], Style]


def render_line(line: EntryLine, style: StyleOf) -> Text:
    if line.addr is None:
        return Text(line.text, style=style("label"))
    text = Text("▶ " if line.here else "  ", style=style("here") if line.here else "")
    text.append(f"{line.addr:016x}  ", style=style("addr"))
    text.append(f"{line.text:<30}", style=style(line.style))
    if line.marks:
        text.append(" ; " + "; ".join(line.marks), style=style(line.style))
    return text


class EntryPathPanel(Vertical):
    class FindPc(Message):
        """Enter on an instruction: go to the next event that stopped there."""

        def __init__(self, addr: int) -> None:
            super().__init__()
            self.addr = addr

    COMPONENT_CLASSES = {f"entry--{name}" for name in LINE_STYLES}

    def __init__(self, trace: OpenTrace, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.summary = Static(Text("loading the kernel image…", style="dim"), classes="pane-head")
        self.listing = LinesView(id="entry-listing")
        self._lines: list[EntryLine] = []
        self._loaded = False
        self._pc: int | None = None

    def compose(self) -> ComposeResult:
        yield self.summary
        yield self.listing

    def kernel_ready(self) -> None:
        """The kernel image and its entry path were analysed (in a worker)."""
        path, fields, error = self.trace.entry_path()
        self._loaded = True
        if path is None:
            self.summary.update(Text(f"entry path unavailable: {error}", style="dim"))
            self.listing.set_lines([])
            return
        watched = watched_sites(self.trace.meta)
        self._lines = entry_lines(path, fields, self._pc, self.trace.symbolize, watched)
        head = Text("\n".join(path_summary(path, fields)), style="dim")
        self.summary.update(head)
        self._show_lines()

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"entry--{name}")

    def _show_lines(self) -> None:
        lines = [render_line(line, self._style) for line in self._lines]
        self.listing.set_lines(lines, here_line(self._lines))

    def show_event(self, event: Event | None) -> None:
        pc = getattr(event, "pc", None) if event is not None else None
        if pc == self._pc and self._loaded:
            return
        self._pc = pc
        if not self._lines:
            return
        self._lines = [
            EntryLine(
                line.addr, line.text, line.marks, line.style, line.addr == pc and pc is not None
            )
            for line in self._lines
        ]
        self._show_lines()

    def on_lines_view_chosen(self, message: LinesView.Chosen) -> None:
        message.stop()
        if 0 <= message.index < len(self._lines):
            addr = self._lines[message.index].addr
            if addr is not None:
                self.post_message(self.FindPc(addr))
