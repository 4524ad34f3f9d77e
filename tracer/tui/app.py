"""The Textual app: opens the main (or live) screen on a trace and offers every action in the
command palette. Thin on purpose: screens and widgets hold the behaviour."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.screen import Screen

from tracer.tui.keys import ACTIONS
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.main import MainScreen


class TracerApp(App[None]):
    CSS_PATH = "tracer.tcss"
    TITLE = "tracer"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, trace: OpenTrace, screen: Screen[None] | None = None) -> None:
        super().__init__()
        self.trace = trace
        self._first_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._first_screen or MainScreen(self.trace))

    async def action_quit(self) -> None:
        for screen in self.screen_stack:
            before_quit = getattr(screen, "before_quit", None)
            if before_quit is not None:
                await before_quit()
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, MainScreen):
            for action in ACTIONS:
                if action.palette:
                    keys = action.shown or action.keys
                    yield SystemCommand(
                        action.title, f"key: {keys}", partial(screen.run_action, action.action)
                    )
