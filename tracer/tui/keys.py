"""Every action the main screen offers, once: its keys, the help screen's line and the command
palette's entry come from this table. Keys follow less/vim (and uftrace's TUI) where they fit."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class KeyAction:
    keys: str  # Textual key names, comma-separated
    action: str  # a MainScreen action, with arguments: "jump('syscall', 1)"
    title: str  # the palette's title and the help line
    group: str
    shown: str = ""  # how the help screen writes the keys, if not `keys`
    palette: bool = True


ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("j,down", "cursor('down')", "Next event", "move", "j ↓"),
    KeyAction("k,up", "cursor('up')", "Previous event", "move", "k ↑"),
    KeyAction("g,home", "cursor('first')", "First event", "move", "g Home"),
    KeyAction("G,end", "cursor('last')", "Last event", "move", "G End"),
    KeyAction("pagedown,space,ctrl+f", "cursor('page_down')", "Page down", "move", "PgDn Space ^f"),
    KeyAction("pageup,b,ctrl+b", "cursor('page_up')", "Page up", "move", "PgUp b ^b"),
    KeyAction("ctrl+d", "cursor('half_down')", "Half a page down", "move", "^d"),
    KeyAction("ctrl+u", "cursor('half_up')", "Half a page up", "move", "^u"),
    KeyAction("l,right", "summary(8)", "Scroll the summaries right", "move", "l →"),
    KeyAction("h,left", "summary(-8)", "Scroll the summaries left", "move", "h ←"),
    KeyAction("colon", "goto_prompt", "Go to event number (seq)", "move", ":"),
    KeyAction("percent_sign", "pair", "Jump between a syscall's entry and exit", "move", "%"),
    KeyAction("s", "jump('syscall', 1)", "Next syscall", "jump"),
    KeyAction("S", "jump('syscall', -1)", "Previous syscall", "jump"),
    KeyAction("t", "jump('segbase', 1)", "Next segment-base change (TLS switch)", "jump"),
    KeyAction("T", "jump('segbase', -1)", "Previous segment-base change (TLS switch)", "jump"),
    KeyAction("v", "jump('flagged', 1)", "Next violation / flagged event", "jump"),
    KeyAction("V", "jump('flagged', -1)", "Previous violation / flagged event", "jump"),
    KeyAction("w", "jump('msr', 1)", "Next MSR write or read", "jump"),
    KeyAction("W", "jump('msr', -1)", "Previous MSR write or read", "jump"),
    KeyAction("slash", "search_prompt", "Search forward (text or /regex/)", "search", "/"),
    KeyAction("n", "search_again(1)", "Next search match", "search"),
    KeyAction("N", "search_again(-1)", "Previous search match", "search"),
    KeyAction("f", "filter_prompt", "Filter: kind:, pid:, cpu:, sys:, text or /regex/", "filter"),
    KeyAction("F", "clear_filter", "Clear the filter", "filter"),
    KeyAction("p", "toggle_filter('pid')", "Only this process (toggle)", "filter"),
    KeyAction("c", "toggle_filter('cpu')", "Only this CPU (toggle)", "filter"),
    KeyAction("C", "cycle_cpu", "Cycle the CPUs shown: all, CPU 0, CPU 1, ...", "filter"),
    KeyAction("y", "toggle_filter('syscall')", "Only syscalls (toggle)", "filter"),
    KeyAction("i", "toggle_swapgs", "Show or fold the inferred swapgs rows (⇄)", "filter"),
    KeyAction("m", "mark_prompt", "Set a bookmark (then a letter)", "bookmarks"),
    KeyAction(
        "apostrophe",
        "jump_mark_prompt",
        "Jump to a bookmark (then a letter; ' = back)",
        "bookmarks",
        "'",
    ),
    KeyAction("1", "tab('cpu')", "Show the CPU panel", "panes"),
    KeyAction("2", "tab('ptregs')", "Show the pt_regs panel", "panes"),
    KeyAction("3", "tab('tls')", "Show the TLS panel", "panes"),
    KeyAction("4", "tab('entry')", "Show the syscall entry path", "panes"),
    KeyAction("5", "tab('console')", "Show the guest console", "panes"),
    KeyAction("6", "tab('findings')", "Show the findings", "panes"),
    KeyAction("7", "tab('graph')", "Show the function graph", "panes"),
    KeyAction("tab", "app.focus_next", "Focus the next pane", "panes", "Tab", palette=False),
    KeyAction("r", "follow", "Live: follow new events (toggle)", "live"),
    KeyAction("X", "stop_capture", "Live: stop the capture now", "live"),
    KeyAction("P", "pause_capture", "Live: pause or resume the guest", "live"),
    KeyAction(
        "full_stop", "step_capture", "Live: step one instruction (pauses first)", "live", "."
    ),
    KeyAction("z", "stop_at('syscall')", "Live: stop the capture at the next syscall", "live"),
    KeyAction("Z", "stop_at_prompt", "Live: stop the capture at a named syscall", "live"),
    KeyAction(
        "", "stop_at('segbase')", "Live: stop the capture at the next TLS switch", "live", "palette"
    ),
    KeyAction(
        "", "stop_at('flagged')", "Live: stop the capture at the next violation", "live", "palette"
    ),
    KeyAction("question_mark", "help", "Help: every key", "other", "?"),
    KeyAction("ctrl+p", "app.command_palette", "Command palette", "other", "^p", palette=False),
    KeyAction("q", "app.quit", "Quit", "other", palette=False),
)

GROUP_TITLES = {
    "move": "Move",
    "jump": "Jump",
    "search": "Search",
    "filter": "Filter",
    "bookmarks": "Bookmarks",
    "panes": "Panes",
    "live": "Live capture",
    "other": "Other",
}


MOTION_KEYS: dict[str, tuple[str, str]] = {
    "down": ("j,down", "down"),
    "up": ("k,up", "up"),
    "first": ("g,home", "first"),
    "last": ("G,end", "last"),
    "page_down": ("pagedown,space,ctrl+f", "page down"),
    "page_up": ("pageup,b,ctrl+b", "page up"),
    "half_down": ("ctrl+d", "half page down"),
    "half_up": ("ctrl+u", "half page up"),
}
"""The less/vim motions every scrolling view answers, by motion: (keys, description)."""


def motion_bindings(**actions: str) -> list[BindingType]:
    """Bindings for the motions a view offers: `motion_bindings(down="move(1)", ...)`."""
    return [
        Binding(MOTION_KEYS[motion][0], action, MOTION_KEYS[motion][1], show=False)
        for motion, action in actions.items()
    ]


def bindings() -> list[BindingType]:
    return [Binding(a.keys, a.action, a.title, show=False) for a in ACTIONS if a.keys]


def help_lines() -> list[tuple[str, str, str]]:
    """(group title, keys, description) in table order."""
    return [(GROUP_TITLES[a.group], a.shown or a.keys, a.title) for a in ACTIONS]
