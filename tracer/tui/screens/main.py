"""The main screen: the timeline on top, the panes of the selected moment below (or beside it
on a wide terminal), a bar on each edge. Every pane follows the timeline's cursor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from tracer.events import Event, EventKind, SyscallEntry, SyscallExit
from tracer.tui.keys import bindings
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.help import HelpScreen
from tracer.tui.screens.prompt import LetterScreen, PromptScreen
from tracer.tui.view_models.filters import (
    KIND_ALIASES,
    SYSCALL_KINDS,
    FilterError,
    TextMatcher,
    ViewFilter,
    parse_filter,
)
from tracer.tui.view_models.findings import FindingsScan
from tracer.tui.view_models.rows import is_flagged
from tracer.tui.view_models.timeline import TimelineRows
from tracer.tui.widgets.console import ConsolePanel
from tracer.tui.widgets.cpu import CpuPanel
from tracer.tui.widgets.entry_path import EntryPathPanel
from tracer.tui.widgets.findings import FindingsPanel
from tracer.tui.widgets.graph import GraphPanel
from tracer.tui.widgets.pane import MomentPane
from tracer.tui.widgets.ptregs import PtRegsPanel
from tracer.tui.widgets.status import StatusBar, TraceBar
from tracer.tui.widgets.timeline import Timeline, TimelineHeader
from tracer.tui.widgets.tls import TlsPanel

TABS = (
    ("cpu", "CPU"), ("ptregs", "pt_regs"), ("tls", "TLS"), ("entry", "Entry path"),
    ("console", "Console"), ("findings", "Findings"), ("graph", "Graph"),
)  # fmt: skip
JUMP_KINDS: dict[str, tuple[frozenset[str], Callable[[Event], bool]]] = {
    "syscall": (frozenset({EventKind.SYSCALL_ENTRY.value}), lambda e: True),
    "segbase": (KIND_ALIASES["segbase"], lambda e: True),
    "msr": (KIND_ALIASES["msr"], lambda e: True),
    "flagged": (frozenset({"gap", "note", "segbase"}), is_flagged),
}
WIDE = 150  # columns from which the panes sit beside the timeline
_SLICE = 0.02  # seconds of work between two looks at the keyboard


class MainScreen(Screen[None]):
    BINDINGS = bindings()

    def __init__(self, trace: OpenTrace) -> None:
        super().__init__()
        self.trace = trace
        self.view_filter = ViewFilter()
        self.timeline = Timeline(self.rows_for(ViewFilter()), id="timeline")
        self.status = StatusBar(id="status")
        self.bar = TraceBar(id="tracebar")
        self.panes: dict[str, Any] = {
            "cpu": CpuPanel(trace, id="cpu-panel"),
            "ptregs": PtRegsPanel(trace, id="ptregs-panel"),
            "tls": TlsPanel(trace, id="tls-panel"),
            "entry": EntryPathPanel(trace, id="entry-panel"),
            "console": ConsolePanel(trace.console(), id="console-panel"),
            "findings": FindingsPanel(id="findings-panel"),
            "graph": GraphPanel(trace, id="graph-panel"),
        }
        # On a wide terminal the CPU panel stays in view above the tabs.
        self.cpu_side = CpuPanel(trace, id="cpu-side")
        self.marks: dict[str, int] = {}
        self.last_jump_from: int | None = None
        self.search: TextMatcher | None = None
        self.selected: Event | None = None
        self.painted_at: float | None = None  # perf_counter of the first frame (bench)
        self.findings: FindingsScan | None = None

    def rows_for(self, view_filter: ViewFilter) -> TimelineRows:
        return TimelineRows(self.trace.source, self.trace.index, view_filter, self.trace.symbolize)

    def compose(self) -> ComposeResult:
        yield self.bar
        with Vertical(id="body"):
            with Vertical(id="timeline-box"):
                yield TimelineHeader(id="timeline-header")
                yield self.timeline
            with Vertical(id="side"):
                yield self.cpu_side
                with TabbedContent(id="tabs"):
                    for key, title in TABS:
                        with TabPane(title, id=f"tab-{key}"):
                            yield self.panes[key]
        yield self.status

    def on_mount(self) -> None:
        self.update_bar()
        self.timeline.focus()
        self.timeline.grew()
        if self.timeline.rows.count():
            self.timeline.cursor = 0
        self.update_position()
        self.call_after_refresh(self._painted)
        self.load_kernel()
        self.scan_owners()
        if not self.trace.live and self.trace.meta.get("complete") == "0":
            self._known_count = self.trace.source.count()
            self.set_interval(1.0, self.follow_file)

    def follow_file(self) -> None:
        """A trace file still being written (a capture running elsewhere): show what arrived."""
        count = self.trace.source.count()
        if count != self._known_count:
            self._known_count = count
            self.timeline.grew()
            self.update_bar()
            self.update_position()
            if self.findings is not None and self.findings.done:
                self.run_findings()

    def _painted(self) -> None:
        self.painted_at = time.perf_counter()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")
        self.show_active_pane()

    # The bars.

    def update_bar(self) -> None:
        kernel = self.trace.kernel_path.name if self.trace.kernel_path else ""
        if self.trace.live:
            state = "live"
        else:
            state = "complete" if self.trace.meta.get("complete") == "1" else "incomplete"
        self.bar.show(self.trace.name, self.trace.source.count(), kernel, state)

    def update_position(self) -> None:
        total = self.timeline.rows.count()
        event = self.selected
        where = f"row {self.timeline.cursor + 1:,}/{total:,}" if total else "no events"
        if event is not None:
            where += f"  #{event.seq}"
        self.status.position = where
        self.status.view = self.view_filter.describe()

    def say(self, message: str) -> None:
        self.status.message = message

    # Selection moves every pane.

    def on_timeline_selected(self, message: Timeline.Selected) -> None:
        self.selected = message.event
        self.update_position()
        self.show_active_pane()

    def active_pane(self) -> Any:
        active = self.query_one(TabbedContent).active
        return self.panes.get(active.removeprefix("tab-"))

    def show_active_pane(self) -> None:
        pane = self.active_pane()
        if isinstance(pane, MomentPane | EntryPathPanel | GraphPanel):
            pane.show_event(self.selected)
        if self.has_class("-wide") and pane is not self.panes["cpu"]:
            self.cpu_side.show_event(self.selected)

    def on_tabbed_content_tab_activated(self, message: TabbedContent.TabActivated) -> None:
        self.show_active_pane()

    def on_findings_panel_jump(self, message: FindingsPanel.Jump) -> None:
        self.go_to_seq(message.seq)
        self.timeline.focus()

    def on_graph_panel_jump(self, message: GraphPanel.Jump) -> None:
        self.go_to_seq(message.seq)

    @work(exclusive=True, group="search")
    async def on_entry_path_panel_find_pc(self, message: EntryPathPanel.FindPc) -> None:
        addr = message.addr
        steps = self.timeline.rows.search(
            self.timeline.cursor, True, lambda event, row: getattr(event, "pc", None) == addr
        )
        found = await self.run_sliced(steps, f"looking for the next stop at {addr:#x}")
        if found is None:
            self.say(f"no later event stopped at {addr:#x}")
        else:
            self.timeline.cursor = found
            self.say(f"the next stop at {addr:#x}")

    # Background work: the kernel image, the owner index.

    @work(thread=True, exclusive=True, group="kernel")
    def load_kernel(self) -> None:
        self.trace.kernel_image()
        self.trace.entry_path()
        checker = self.trace.checker()
        self.app.call_from_thread(self.kernel_ready, checker)

    def kernel_ready(self, checker: Any) -> None:
        self.timeline.rows.reformat()  # function names in func rows
        self.timeline.refresh()
        for pane in (self.panes["cpu"], self.panes["tls"], self.cpu_side):
            pane.invalidate()
        self.panes["entry"].kernel_ready()
        self.show_active_pane()
        self.findings = FindingsScan(self.trace.source, checker)
        self.run_findings()

    @work(exclusive=True, group="findings")
    async def run_findings(self) -> None:
        scan = self.findings
        assert scan is not None
        last = 0.0
        progress: list[float] = [0.0]

        def steps() -> Iterator[float]:
            for fraction in scan.steps():
                progress[0] = fraction
                yield fraction

        def on_slice() -> None:
            nonlocal last
            if time.perf_counter() - last > 0.25:
                last = time.perf_counter()
                self.show_findings(progress[0])

        await self.run_sliced(steps(), "checking", percent=True, on_slice=on_slice)
        self.show_findings(None)

    def show_findings(self, progress: float | None) -> None:
        if self.findings is None:
            return
        self.panes["findings"].show_scan(self.findings, progress)
        self.timeline.violations = set(self.findings.seqs)
        self.timeline.refresh()

    @work(exclusive=True, group="owners")
    async def scan_owners(self) -> None:
        await self.run_sliced(self.trace.owner_scan(), "indexing owners", percent=True)
        for pane in (self.panes["cpu"], self.panes["tls"], self.cpu_side):
            pane.invalidate()
        self.show_active_pane()

    async def run_sliced(
        self,
        steps: Iterator[Any],
        label: str,
        percent: bool = False,
        on_slice: Callable[[], None] | None = None,
    ) -> Any:
        """Drive a generator a slice of time at a time, keeping the keyboard answered."""
        while True:
            deadline = time.perf_counter() + _SLICE
            progress: Any = None
            try:
                while time.perf_counter() < deadline:
                    progress = next(steps)
            except StopIteration as stop:
                self.status.busy = ""
                return stop.value
            if percent and isinstance(progress, float):
                self.status.busy = f"{label} {progress:.0%}"
            else:
                self.status.busy = f"{label}…"
            if on_slice is not None:
                on_slice()
            await asyncio.sleep(0)

    # Moving.

    def action_cursor(self, how: str) -> None:
        getattr(self.timeline, f"action_{how}")()

    def go_to_seq(self, seq: int) -> None:
        here = self.selected.seq if self.selected else None
        if not self.timeline.select_seq(seq):
            self.say(f"#{seq} is not in this view")
            return
        if here is not None and here != seq:
            self.last_jump_from = here
        landed = self.timeline.selected_event
        if landed is not None and landed.seq != seq:
            self.say(f"#{seq} is hidden by the filter; at #{landed.seq}")

    def action_goto_prompt(self) -> None:
        def check(text: str) -> str | None:
            return None if text.strip().lstrip("#").isdigit() else "an event number (seq)"

        def done(text: str | None) -> None:
            if text:
                self.go_to_seq(int(text.strip().lstrip("#")))

        self.app.push_screen(PromptScreen("go to event #", hint="seq number", check=check), done)

    def action_pair(self) -> None:
        event = self.selected
        if isinstance(event, SyscallExit) and event.entry_seq is not None:
            self.go_to_seq(event.entry_seq)
        elif isinstance(event, SyscallEntry):
            from tracer.tui.view_models.ptregs import find_syscall

            _, exit_, _ = find_syscall(self.trace.source, event)
            if exit_ is None:
                self.say("no exit recorded for this syscall")
            else:
                self.go_to_seq(exit_.seq)
        else:
            self.say("% pairs a syscall's entry and exit")

    @work(exclusive=True, group="search")
    async def action_jump(self, what: str, direction: int) -> None:
        kinds, predicate = JUMP_KINDS[what]
        start = self.timeline.cursor
        way = "next" if direction > 0 else "previous"
        checked = what == "flagged" and self.findings is not None and self.findings.done
        found = None
        if not checked:  # the checker has not seen it all: look for what the capture flagged
            steps = self.timeline.rows.find(start, direction > 0, kinds, predicate)
            found = await self.run_sliced(steps, f"looking for the {way} {what}")
        if what == "flagged":
            found = self._nearer_finding(found, direction > 0)
        if found is None:
            self.say(f"no {way} {what} in this view")
        else:
            self.say("")
            self.timeline.cursor = found

    def _nearer_finding(self, found: int | None, forward: bool) -> int | None:
        """Between a row found by kind and the checker's next finding, the nearer row."""
        here = self.timeline.selected_event
        if self.findings is None or here is None:
            return found
        seq = self.findings.next_after(here.seq, forward)
        row = self.timeline.rows.index_of(seq, nearest=False) if seq is not None else None
        if row is None:
            return found
        if found is None:
            return row
        return min(found, row) if forward else max(found, row)

    # Search.

    def action_search_prompt(self) -> None:
        def check(text: str) -> str | None:
            try:
                TextMatcher.parse(text)
            except FilterError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text:
                self.search = TextMatcher.parse(text)
                self.run_search(1)

        value = str(self.search) if self.search else ""
        self.app.push_screen(
            PromptScreen(
                "search /", value=value, hint="text, or /regex/; n and N repeat", check=check
            ),
            done,
        )

    def action_search_again(self, direction: int) -> None:
        if self.search is None:
            self.say("no search yet: / to search")
            return
        self.run_search(direction)

    @work(exclusive=True, group="search")
    async def run_search(self, direction: int) -> None:
        matcher = self.search
        assert matcher is not None
        steps = self.timeline.rows.search(
            self.timeline.cursor, direction > 0, lambda event, row: matcher.matches(row.text)
        )
        found = await self.run_sliced(steps, f"searching {matcher}")
        if found is None:
            self.say(f"{matcher}: no {'more' if direction > 0 else 'earlier'} matches")
        else:
            self.say(f"{matcher}: found")
            self.timeline.cursor = found

    # Filters.

    def action_filter_prompt(self) -> None:
        def check(text: str) -> str | None:
            try:
                parse_filter(text)
            except FilterError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is not None:
                self.apply_filter(parse_filter(text))

        self.app.push_screen(
            PromptScreen(
                "filter",
                value=self.view_filter.describe(),
                check=check,
                hint="kind:syscall,segbase,msr pid:N cpu:N sys:write text /regex/ (empty: all)",
            ),
            done,
        )

    def action_clear_filter(self) -> None:
        self.apply_filter(ViewFilter())

    def action_toggle_filter(self, what: str) -> None:
        event = self.selected
        current = self.view_filter
        if what == "syscall":
            self.apply_filter(
                current.replace(kinds=None if current.kinds == SYSCALL_KINDS else SYSCALL_KINDS)
            )
            return
        value = getattr(event, what, None) if event is not None else None
        if getattr(current, what) is not None:
            self.apply_filter(current.replace(**{what: None}))
        elif value is None:
            self.say(f"this event has no {what}")
        else:
            self.apply_filter(current.replace(**{what: value}))

    def apply_filter(self, view_filter: ViewFilter) -> None:
        keep = self.selected.seq if self.selected else None
        self.view_filter = view_filter
        rows = self.rows_for(view_filter)
        self.timeline.set_rows(rows, keep)
        self.update_position()
        if rows.scan is not None:
            self.run_filter_scan(rows, keep)
        elif rows.count() == 0:
            self.say("nothing matches this filter")
        else:
            self.say("")

    @work(exclusive=True, group="filter")
    async def run_filter_scan(self, rows: TimelineRows, keep: int | None) -> None:
        scan = rows.scan
        assert scan is not None
        placed = False

        def steps() -> Iterator[float]:
            total = max(1, self.trace.source.count(**scan.view_filter.store_query()))  # type: ignore[arg-type]
            while not scan.step():
                yield min(1.0, scan.examined / total)

        def on_slice() -> None:
            nonlocal placed
            self.timeline.grew()
            if not placed and keep is not None and scan.seqs and scan.seqs[-1] >= keep:
                placed = self.timeline.select_seq(keep)
            self.update_position()

        await self.run_sliced(steps(), "filtering", percent=True, on_slice=on_slice)
        on_slice()
        if not placed and keep is not None:
            self.timeline.select_seq(keep)
        self.say("" if rows.count() else "nothing matches this filter")
        self.update_position()

    # Bookmarks.

    def action_mark_prompt(self) -> None:
        def done(letter: str | None) -> None:
            if letter and letter != "'" and self.selected is not None:
                self.marks[letter] = self.selected.seq
                self.timeline.marks = {seq: name for name, seq in self.marks.items()}
                self.timeline.refresh()
                self.say(f"bookmark {letter} at #{self.selected.seq}")

        self.app.push_screen(LetterScreen("bookmark: press a letter", self.marks), done)

    def action_jump_mark_prompt(self) -> None:
        def done(letter: str | None) -> None:
            if letter == "'":
                if self.last_jump_from is None:
                    self.say("no earlier position")
                else:
                    self.go_to_seq(self.last_jump_from)
            elif letter in self.marks:
                self.go_to_seq(self.marks[letter])
            elif letter:
                self.say(f"no bookmark {letter}")

        self.app.push_screen(
            LetterScreen("jump to bookmark: a letter, or ' to go back", self.marks), done
        )

    # Panes, help, live.

    def action_tab(self, key: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{key}"
        self.show_active_pane()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_follow(self) -> None:
        self.say("not a live capture")

    def action_stop_capture(self) -> None:
        self.say("not a live capture")

    def action_stop_at(self, what: str) -> None:
        self.say("not a live capture")

    def action_stop_at_prompt(self) -> None:
        self.say("not a live capture")
