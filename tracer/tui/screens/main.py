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

from tracer.events import Event
from tracer.tui.keys import bindings
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.help import HelpScreen
from tracer.tui.screens.navigation import NavigationActions
from tracer.tui.view_models.filters import (
    TextMatcher,
    ViewFilter,
)
from tracer.tui.view_models.findings import FindingsScan
from tracer.tui.view_models.timeline import TimelineRows
from tracer.tui.widgets.console import ConsolePanel
from tracer.tui.widgets.cpu import CpuPanel
from tracer.tui.widgets.entry_path import EntryPathPanel
from tracer.tui.widgets.findings import FindingsPanel
from tracer.tui.widgets.graph import GraphPanel
from tracer.tui.widgets.pane import MomentPane
from tracer.tui.widgets.ptregs import PtRegsPanel
from tracer.tui.widgets.status import StatusBar, TraceBar
from tracer.tui.widgets.timeline import Timeline, TimelineHeader, cpu_column_width
from tracer.tui.widgets.tls import TlsPanel

TABS = (
    ("cpu", "CPU"), ("ptregs", "pt_regs"), ("tls", "TLS"), ("entry", "Entry path"),
    ("console", "Console"), ("findings", "Findings"), ("graph", "Graph"),
)  # fmt: skip
WIDE = 150  # columns from which the panes sit beside the timeline
_SLICE = 0.02  # seconds of work between two looks at the keyboard


class MainScreen(NavigationActions, Screen[None]):
    BINDINGS = bindings()

    def __init__(self, trace: OpenTrace) -> None:
        super().__init__()
        self.trace = trace
        self.view_filter = ViewFilter()
        self.timeline = Timeline(self.rows_for(self.view_filter), id="timeline")
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
        scan = self.timeline.rows.scan
        if scan is not None and not scan.step():  # the first rows at once, the rest in the
            self.run_filter_scan(self.timeline.rows, None)  # background
        self.timeline.grew()
        if self.timeline.rows.count():
            self.timeline.cursor = 0
        self.update_position()
        self.call_after_refresh(self._painted)
        self.load_kernel()
        self.scan_owners()
        self.scan_marks()
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
        source = self.trace.source
        self.bar.show(
            self.trace.name,
            source.count(),
            kernel,
            self.trace_state(),
            source.cpus(),
            self.view_filter.cpu,
        )
        if self.timeline.set_cpu_lanes(source.cpus()):
            header = self.query_one(TimelineHeader)
            header.set_cpu_width(cpu_column_width(self.timeline.cpu_lanes))

    def trace_state(self) -> str:
        if self.trace.live:
            return "live"
        return "complete" if self.trace.meta.get("complete") == "1" else "incomplete"

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
        if isinstance(pane, GraphPanel):
            pane.show_event(self.selected, self.view_filter.show_swapgs, self.view_filter.cpu)
        elif isinstance(pane, MomentPane | EntryPathPanel):
            pane.show_event(self.selected)
        # Beside the CPU tab the CPU panel would show the same moment twice: it steps aside.
        self.cpu_side.set_class(pane is self.panes["cpu"], "-tab-shows-cpu")
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
        self.findings = self.trace.findings_scan(checker)
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

    @work(exclusive=True, group="marks")
    async def scan_marks(self) -> None:
        """A trace that stores no jump marks: make them, so that t and v need no walk."""
        await self.run_sliced(self.trace.mark_steps(), "marking", percent=True)

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

    # Panes, help, live.

    def action_summary(self, delta: int) -> None:
        self.timeline.scroll_summary(delta)

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

    def action_pause_capture(self) -> None:
        self.say("not a live capture")

    def action_step_capture(self) -> None:
        self.say("not a live capture")

    def action_stop_at_prompt(self) -> None:
        self.say("not a live capture")
