"""The CPU panel: RIP, ring, CR3, the syscall MSRs decoded and the bases with their owners."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracer.events import Event
from tracer.tui.view_models.cpu import cpu_rows, every_cpu_rows
from tracer.tui.view_models.moment import bases_by_cpu, build_moments
from tracer.tui.widgets.pane import MomentPane, moment_title


class CpuPanel(MomentPane):
    COMPONENT_CLASSES = {
        "cpu--changed", "cpu--unknown", "cpu--name", "cpu--source", "cpu--current",
    }  # fmt: skip

    def render_event(self, event: Event) -> RenderableType:
        loaded = self.trace.kernel_loaded() and self.trace.kernel_image() is not None
        now, before = build_moments(
            self.trace.source,
            self.trace.index,
            event.seq,
            kernel_section=self.trace.kernel_section if loaded else None,
        )
        if now is None:
            return Text("this event is not in the trace", style="dim")
        style = self.get_component_rich_style
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True, pad_edge=False)
        table.add_column("name", no_wrap=True, width=14)
        table.add_column("value", no_wrap=True, width=16)
        table.add_column("detail", ratio=3, overflow="ellipsis", no_wrap=True)
        table.add_column("source", ratio=1, overflow="ellipsis", no_wrap=True)
        for row in cpu_rows(now, before, self.trace.symbolize):
            value_style = (
                style("cpu--changed")
                if row.changed
                else (style("cpu--unknown") if not row.known else "")
            )
            name = Text(row.name + (" *" if row.changed else ""), style=style("cpu--name"))
            table.add_row(
                name,
                Text(row.value, style=value_style),
                Text(row.detail),
                Text(row.source, style=style("cpu--source")),
            )
        title = moment_title(self.trace, event)
        hint = Text("   * changed", style="dim")
        if not self.trace.index.owner_scan_done and event.seq > self.trace.index.owners_scanned_to:
            hint.append("  owners: still indexing", style="dim italic")
        cpus = self.trace.source.cpus()
        if len(cpus) < 2:
            return Group(title + hint, table)
        return Group(title + hint, table, Text(""), self.every_cpu(event, cpus))

    def every_cpu(self, event: Event, cpus: list[int]) -> RenderableType:
        """Each CPU's bases at this moment, side by side; the event's own CPU highlighted."""
        style = self.get_component_rich_style
        entries = bases_by_cpu(self.trace.source, self.trace.index, event.seq, cpus)
        here = getattr(event, "cpu", None)
        table = Table(box=None, padding=(0, 1), expand=True, pad_edge=False)
        table.add_column(Text("every CPU", style=style("cpu--name")), no_wrap=True, width=14)
        for entry in entries:
            current = entry.cpu == here
            name = f"cpu{entry.cpu}" + (" (this event)" if current else "")
            table.add_column(
                Text(name, style=style("cpu--current" if current else "cpu--name")),
                no_wrap=True,
                overflow="ellipsis",
                ratio=1,
            )
        for name, cells in every_cpu_rows(entries):
            row = [Text(name, style=style("cpu--name"))]
            for entry, cell in zip(entries, cells, strict=True):
                text = Text(cell.value, style="" if cell.known else style("cpu--unknown"))
                if entry.cpu == here:
                    text.stylize("bold")
                if cell.owner:
                    text.append(f"\n{cell.owner}", style=style("cpu--source"))
                row.append(text)
            table.add_row(*row)
        return table
