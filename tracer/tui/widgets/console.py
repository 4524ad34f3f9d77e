"""The guest console tab: what the guest printed, when the trace (or a live capture) has it."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tracer.tui.widgets.lines import LinesView

# Escape sequences (SeaBIOS clears the screen on the serial port) and other control
# characters would drive the real terminal the TUI draws on: they are dropped or shown.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_]|c)")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(text: str) -> str:
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


NO_CONSOLE = (
    "this trace holds no guest console output (a capture may store it in the trace meta "
    "'console' later; a live capture shows it here when it ends)"
)


class ConsolePanel(Vertical):
    def __init__(self, text: str | None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.head = Static(classes="pane-head")
        self.listing = LinesView(id="console-listing")
        self._text = text

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.listing

    def on_mount(self) -> None:
        self.set_text(self._text)

    def set_text(self, text: str | None) -> None:
        self._text = text
        if not text:
            self.head.update(Text(NO_CONSOLE, style="dim"))
            self.listing.set_lines([])
            return
        lines = printable(text).rstrip("\n").split("\n")
        self.head.update(Text(f"guest console: {len(lines)} lines", style="dim"))
        self.listing.set_lines([Text(line) for line in lines])
