"""Small modal screens: a one-line prompt, and a wait for one letter (bookmarks)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; Enter returns it (after `check` accepts it), Escape returns None."""

    BINDINGS = [Binding("escape", "cancel", "cancel", show=False)]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        hint: str = "",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(Text(self.title_text), id="prompt-title")
            yield Input(self.value, id="prompt-input", select_on_focus=False)
            yield Label(Text(self.hint), id="prompt-hint")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        message.stop()
        error = self.check(message.value) if self.check else None
        if error:
            self.query_one("#prompt-hint", Label).update(Text(error, style="bold red"))
            return
        self.dismiss(message.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class LetterScreen(ModalScreen[str | None]):
    """Wait for one key: a letter (or ' for "back"); anything else cancels."""

    def __init__(self, title: str, marks: dict[str, int]) -> None:
        super().__init__()
        self.title_text = title
        self.marks = marks

    def compose(self) -> ComposeResult:
        known = "  ".join(f"{letter}:#{seq}" for letter, seq in sorted(self.marks.items()))
        with Vertical(id="prompt"):
            yield Label(Text(self.title_text), id="prompt-title")
            yield Label(Text(known or "no bookmarks yet"), id="prompt-hint")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        char = event.character or ""
        self.dismiss(char if (char.isalnum() or char == "'") and len(char) == 1 else None)
