"""The CPU panel: RIP, ring, CR3, the syscall MSRs decoded and the bases with their owners."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracer.events import Event
from tracer.tui.view_models.cpu import cpu_rows
from tracer.tui.view_models.moment import build_moments
from tracer.tui.widgets.pane import MomentPane, moment_title


class CpuPanel(MomentPane):
    COMPONENT_CLASSES = {"cpu--changed", "cpu--unknown", "cpu--name", "cpu--source"}

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
        for row in cpu_rows(now, before, self.trace.symbolize, self.trace.kaslr_slide):
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
        return Group(title + hint, table)
