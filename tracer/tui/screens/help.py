"""`?`: every key, grouped, from the same table as the bindings and the command palette."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tracer.tui.keys import help_lines, motion_bindings

FILTER_HELP = (
    "Filter words (all must hold): kind:syscall,entry,exit,msr,segbase,process,gap,note "
    "pid:N cpu:N sys:write,openat, plain text, or /regex/.  Search (/) takes text or /regex/."
)
PANE_HELP = (
    "In a focused pane (Tab): Enter moves every pane to the line's moment.  Graph: Enter, o or "
    "Space on `f() {` folds the call to `f() { ... }` with its duration, and unfolds it."
)


def help_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column(style="cyan", no_wrap=True, min_width=14)
    table.add_column(ratio=1)
    previous = None
    for group, keys, description in help_lines():
        if group != previous:
            table.add_row(Text(group, style="bold underline"), "")
            previous = group
        table.add_row(Text(f"  {keys}"), Text(description))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "close", show=False),
        *motion_bindings(
            down="scroll(1)",
            up="scroll(-1)",
            page_down="scroll(10)",
            page_up="scroll(-10)",
            half_down="scroll(10)",
            half_up="scroll(-10)",
        ),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("tracer: keys  (Esc or q closes)", style="bold"))
            yield Static(help_table())
            yield Static(Text(FILTER_HELP, style="dim"))
            yield Static(Text(PANE_HELP, style="dim"))

    def action_scroll(self, lines: int) -> None:
        box = self.query_one("#help", VerticalScroll)
        box.scroll_to(y=box.scroll_y + lines, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
