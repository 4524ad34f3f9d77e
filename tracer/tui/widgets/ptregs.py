"""The pt_regs panel: entry and exit side by side, changes highlighted, call and return decoded."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracer.events import Event
from tracer.tui.view_models.ptregs import build_ptregs_view, find_syscall
from tracer.tui.widgets.pane import MomentPane


def _hex(value: int | None) -> str:
    return "—" if value is None else f"{value:016x}"


class PtRegsPanel(MomentPane):
    COMPONENT_CLASSES = {"ptregs--changed", "ptregs--call", "ptregs--note"}

    def render_event(self, event: Event) -> RenderableType:
        entry, exit_, context = find_syscall(self.trace.source, event)
        view = build_ptregs_view(entry, exit_, context)
        if view is None:
            return Text("no syscall before this event on its CPU", style="dim")
        style = self.get_component_rich_style
        head = Text(view.call, style=style("ptregs--call"))
        sub = Text(view.status, style="dim")
        if view.entry is not None:
            sub.append(f"  entry #{view.entry.seq}", style="dim")
        if view.exit is not None:
            sub.append(f"  exit #{view.exit.seq}", style="dim")
        if view.regs_addr:
            sub.append(f"  pt_regs @ {view.regs_addr:#x}", style="dim")
        if view.context:
            sub.append(f"\n{view.context}", style="italic dim")
        table = Table(
            box=None, padding=(0, 1), expand=True, pad_edge=False, header_style="bold dim"
        )
        table.add_column("field", no_wrap=True, width=8)
        table.add_column("entry", no_wrap=True, width=16)
        table.add_column("exit", no_wrap=True, width=16)
        table.add_column("", overflow="ellipsis", no_wrap=True, ratio=1)
        for row in view.rows:
            changed = style("ptregs--changed") if row.changed else ""
            name = Text(row.name + ("*" if row.changed else ""))
            table.add_row(
                name,
                _hex(row.entry),
                Text(_hex(row.exit), style=changed),
                Text(row.note, style=style("ptregs--note")),
            )
        if not view.rows:
            table.add_row("", Text("not recorded"), "", "")
        return Group(head, sub, table)
