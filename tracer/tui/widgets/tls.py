"""The TLS panel: FS base and owner, whether fs:0 points to itself, thread-local variables."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracer.events import Event, EventKind, TlsSnapshot
from tracer.tui.view_models.lookup import last_at_or_before
from tracer.tui.view_models.moment import build_moments
from tracer.tui.view_models.tls import NOT_RECORDED, TlsVariable, build_tls_view
from tracer.tui.widgets.pane import MomentPane, moment_title


def _variables(image: object) -> tuple[TlsVariable, ...]:
    if image is None:
        return ()
    symbols = image.tls_symbols()  # type: ignore[attr-defined]
    return tuple(TlsVariable(s.name, s.tp_offset, s.size) for s in symbols)


def _offset(value: int | None) -> str:
    return "?" if value is None else f"fs:{value:#x}" if value >= 0 else f"fs:-{-value:#x}"


class TlsPanel(MomentPane):
    COMPONENT_CLASSES = {"tls--label", "tls--unknown"}

    def render_event(self, event: Event) -> RenderableType:
        now, _ = build_moments(self.trace.source, self.trace.index, event.seq)
        if now is None:
            return Text("this event is not in the trace", style="dim")
        name = self.trace.index.names.get(now.pid or -1, "")
        program_path = self.trace.program_path(name) if name else None
        kernel = self.trace.kernel_image() if self.trace.kernel_loaded() else None
        program = self.trace.image(program_path) if program_path else None
        snapshot = last_at_or_before(
            self.trace.source, event.seq, kinds=EventKind.TLS_SNAPSHOT, cpu=now.cpu
        )
        view = build_tls_view(
            now,
            _variables(kernel),
            _variables(program),
            name,
            snapshot if isinstance(snapshot, TlsSnapshot) else None,
        )
        style = self.get_component_rich_style
        lines = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False, expand=True)
        lines.add_column(width=16, no_wrap=True, style=style("tls--label"))
        lines.add_column(ratio=1, overflow="fold")
        for label, base in (("FS base", view.fs), ("GS base", view.gs)):
            if base.value is None:
                lines.add_row(label, Text("not recorded", style=style("tls--unknown")))
            else:
                # Text, not str: owner labels like app-tcb[tls-musl:2] are not Rich markup.
                lines.add_row(label, Text(f"{base.value:#018x}  {base.owner or 'owner unknown'}"))
        unknown = view.self_pointer == "not recorded"
        lines.add_row(
            "fs:0 == FS base",
            Text(view.self_pointer, style=style("tls--unknown") if unknown else ""),
        )
        parts: list[RenderableType] = [moment_title(self.trace, event), lines]
        for title, variables, missing in (
            (
                f"{view.program or 'program'} __thread variables",
                view.program_variables,
                _program_missing(name, program_path),
            ),
            (
                "kernel __thread variables",
                view.kernel_variables,
                "kernel image not loaded yet" if kernel is None else "none in the kernel image",
            ),
        ):
            parts.append(Text(title, style="bold"))
            if not variables:
                parts.append(Text(f"  {missing}", style="dim"))
                continue
            table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
            table.add_column(no_wrap=True)
            table.add_column(no_wrap=True, style="dim")
            table.add_column(no_wrap=True)
            for variable in variables[:40]:
                unknown = variable.value == NOT_RECORDED
                table.add_row(
                    Text(f"  {variable.name}"),
                    Text(f"{_offset(variable.tp_offset)} ({variable.size} bytes)"),
                    Text(variable.value, style=style("tls--unknown") if unknown else ""),
                )
            parts.append(table)
        parts.extend(Text(note, style="dim italic") for note in view.notes)
        return Group(*parts)


def _program_missing(name: str, path: Path | None) -> str:
    if not name:
        return "no process at this moment"
    if path is None:
        return f"the trace does not name {name}'s file"
    return "no TLS symbols in the program"
