"""The CPU panel: RIP, ring, CR3, the syscall MSRs decoded and the bases with their owners."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracer.events import Event
from tracer.tui.view_models.cpu import CpuCell, cpu_rows, every_cpu_rows, vcpu_rows
from tracer.tui.view_models.moment import bases_by_cpu, build_moments
from tracer.tui.widgets.pane import MomentPane, moment_title


class CpuPanel(MomentPane):
    """Live and paused, it also shows every vCPU as the pause (or the last step) left it."""

    COMPONENT_CLASSES = {
        "cpu--changed", "cpu--unknown", "cpu--name", "cpu--source", "cpu--current",
    }  # fmt: skip

    paused_vcpus: Callable[[], tuple[dict[int, dict[str, int]], int | None]] | None = None
    """Live mode: each vCPU's registers now and the CPU last stepped, ({}, None) if running."""

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
        parts: list[RenderableType] = [title + hint]
        vcpus, stepped = self.paused_vcpus() if self.paused_vcpus is not None else ({}, None)
        if vcpus:
            rows = vcpu_rows(vcpus, self.trace.symbolize)
            here = stepped if stepped is not None else getattr(event, "cpu", None)
            label = "stepped" if stepped is not None else "this event"
            parts += [self.cpu_columns("vCPUs now", sorted(vcpus), rows, here, label), Text("")]
        parts.append(table)
        cpus = self.trace.source.cpus()
        if len(cpus) > 1:
            parts += [Text(""), self.every_cpu(event, cpus)]
        return Group(*parts)

    def every_cpu(self, event: Event, cpus: list[int]) -> RenderableType:
        """Each CPU's bases at this moment, side by side; the event's own CPU highlighted."""
        entries = bases_by_cpu(self.trace.source, self.trace.index, event.seq, cpus)
        here = getattr(event, "cpu", None)
        return self.cpu_columns(
            "every CPU", [e.cpu for e in entries], every_cpu_rows(entries), here, "this event"
        )

    def cpu_columns(
        self,
        title: str,
        cpus: list[int],
        rows: list[tuple[str, list[CpuCell]]],
        here: int | None,
        here_label: str,
    ) -> RenderableType:
        """A table with a column per CPU, `here`'s column highlighted and labelled."""
        style = self.get_component_rich_style
        table = Table(box=None, padding=(0, 1), expand=True, pad_edge=False)
        table.add_column(Text(title, style=style("cpu--name")), no_wrap=True, width=14)
        for cpu in cpus:
            current = cpu == here
            name = f"cpu{cpu}" + (f" ({here_label})" if current else "")
            table.add_column(
                Text(name, style=style("cpu--current" if current else "cpu--name")),
                no_wrap=True,
                overflow="ellipsis",
                ratio=1,
            )
        for name, cells in rows:
            row = [Text(name, style=style("cpu--name"))]
            for cpu, cell in zip(cpus, cells, strict=True):
                text = Text(cell.value, style="" if cell.known else style("cpu--unknown"))
                if cpu == here:
                    text.stylize("bold")
                if cell.owner:
                    text.append(f"\n{cell.owner}", style=style("cpu--source"))
                row.append(text)
            table.add_row(*row)
        return table
