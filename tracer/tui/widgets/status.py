"""The two one-line bars: what trace is open (top) and where the cursor is (bottom)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class TraceBar(Static):
    """`tracer  trace.db  12,345 events  kernel.elf  complete   CPU all 0 1`: on a trace of
    several CPUs, which of them the timeline shows (C cycles), the shown one in reverse."""

    def show(
        self,
        name: str,
        events: int,
        kernel: str,
        state: str,
        cpus: list[int] | None = None,
        cpu: int | None = None,
    ) -> None:
        text = Text(" tracer", style="bold")
        text.append(f" {name}", style="bold")
        text.append(f"  {events:,} events", style="")
        if kernel:
            text.append(f"  {kernel}", style="dim")
        text.append(f"  {state}", style="italic")
        if cpus and (len(cpus) > 1 or cpu is not None):
            text.append("   CPU", style="bold")
            for label, value in [("all", None), *((str(c), c) for c in cpus)]:
                text.append(" ")
                text.append(f" {label} ", style="bold reverse" if value == cpu else "dim")
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
