"""The two one-line bars: what trace is open (top) and where the cursor is (bottom)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class TraceBar(Static):
    """`tracer  trace.db  12,345 events  kernel.elf  complete`"""

    def show(self, name: str, events: int, kernel: str, state: str) -> None:
        text = Text(" tracer", style="bold")
        text.append(f" {name}", style="bold")
        text.append(f"  {events:,} events", style="")
        if kernel:
            text.append(f"  {kernel}", style="dim")
        text.append(f"  {state}", style="italic")
        self.update(text)


class StatusBar(Static):
    """Row position, the filter, and a message (search results, errors)."""

    position: reactive[str] = reactive("")
    view: reactive[str] = reactive("")
    message: reactive[str] = reactive("")
    busy: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text(f" {self.position}", style="bold")
        if self.view:
            text.append(f"  filter: {self.view}", style="")
        if self.busy:
            text.append(f"  {self.busy}", style="italic")
        if self.message:
            text.append(f"  {self.message}", style="")
        hint = "? help  ^p commands "
        width = self.size.width
        if width and text.cell_len + len(hint) < width:
            text.append(" " * (width - text.cell_len - len(hint)))
            text.append(hint, style="dim")
        return text
