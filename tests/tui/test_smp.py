"""The TUI on several CPUs: the CPU view cycled with C, a lane per CPU in the timeline, every
CPU's bases in the CPU pane, and the graph pane on one CPU. View models on a trace built in
code; the app on smp-musl.db, a real capture of pthread-musl's threads on two vCPUs."""

from __future__ import annotations

from pathlib import Path

from tests.tui.conftest import FIXTURES, settle
from tests.tui.test_app import press, screen_of, text_of
from tests.tui.test_live import FakeCapture, live_app, wait_until
from tracer.decode.msr import MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE
from tracer.events import (
    ContextSwitch,
    Event,
    MsrWrite,
    Note,
    SegBaseChange,
    SegCause,
    SyscallEntry,
)
from tracer.export.ftrace import GraphLine
from tracer.store import MemoryTrace, TraceReader
from tracer.tui.app import TracerApp
from tracer.tui.capture_feed import CaptureFeed
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.cpu import every_cpu_rows
from tracer.tui.view_models.filters import next_cpu
from tracer.tui.view_models.moment import bases_by_cpu
from tracer.tui.view_models.trace_index import TraceIndex
from tracer.tui.widgets.graph import here_line
from tracer.tui.widgets.timeline import LANE_MARK, cpu_column_width

SMP = FIXTURES / "smp-musl.db"
PERCPU = {0: 0xFFFF_FFFF_8012_0100, 1: 0xFFFF_FFFF_8013_0A00}
TCB = {1: 0x40_D8D8, 2: 0x7FFF_F7FF_CF38}
PC = 0xFFFF_FFFF_8010_7F60


def two_cpus() -> list[Event]:
    """Each CPU gets its own per-CPU area, then its own thread's TCB; CPU 0's thread enters
    the kernel (swapgs) while CPU 1's stays in user mode."""
    return [
        MsrWrite(0, 10, 0, 0, MSR_GS_BASE, 0, PERCPU[0], PC),
        MsrWrite(1, 20, 1, 0, MSR_GS_BASE, 0, PERCPU[1], PC),
        ContextSwitch(2, 30, 0, 0, 1, "swapper", "one", PC),
        MsrWrite(3, 40, 0, 1, MSR_FS_BASE, 0, TCB[1], PC),
        ContextSwitch(4, 50, 1, 0, 2, "swapper", "two", PC),
        SegBaseChange(5, 60, 1, 2, "fs", 0, TCB[2], SegCause.CONTEXT_SWITCH, PC),
        # back to user mode on both: GS 0, KERNEL_GS_BASE the per-CPU area
        MsrWrite(6, 70, 0, 1, MSR_KERNEL_GS_BASE, 0, PERCPU[0], PC),
        SegBaseChange(7, 80, 0, 1, "gs", PERCPU[0], 0, SegCause.SWAPGS, PC),
        SegBaseChange(8, 90, 1, 2, "gs", PERCPU[1], 0, SegCause.SWAPGS, PC),
        SegBaseChange(9, 100, 1, 2, "kgs", 0, PERCPU[1], SegCause.SWAPGS, PC),
        SegBaseChange(10, 110, 0, 1, "gs", 0, PERCPU[0], SegCause.SWAPGS, PC),  # CPU 0 enters
        SegBaseChange(11, 120, 0, 1, "kgs", PERCPU[0], 0, SegCause.SWAPGS, PC),
    ]


def _index(events: list[Event]) -> TraceIndex:
    index = TraceIndex()
    index.feed_live(events)
    return index


def test_next_cpu_cycles_all_then_each_cpu() -> None:
    assert next_cpu([1, 0], None) == 0
    assert next_cpu([0, 1], 0) == 1
    assert next_cpu([0, 1], 1) is None
    assert next_cpu([0, 2, 3], 0) == 2  # a CPU without events is skipped
    assert next_cpu([0], 0) is None


def test_every_cpus_bases_at_a_moment() -> None:
    events = two_cpus()
    source, index = MemoryTrace(events), _index(events)
    at_end = {entry.cpu: entry for entry in bases_by_cpu(source, index, 11, [0, 1])}
    assert at_end[0].pid == 1 and at_end[1].pid == 2
    assert {w: b.value for w, b in at_end[0].bases.items()} == {
        "fs": TCB[1], "gs": PERCPU[0], "kgs": 0,
    }  # fmt: skip
    assert {w: b.value for w, b in at_end[1].bases.items()} == {
        "fs": TCB[2], "gs": 0, "kgs": PERCPU[1],
    }  # fmt: skip
    assert at_end[0].bases["gs"].seq == 10 and at_end[1].bases["kgs"].seq == 9
    # Earlier, CPU 1 had no thread and no FS yet; CPU 0 already had both.
    early = {entry.cpu: entry for entry in bases_by_cpu(source, index, 3, [0, 1])}
    assert early[1].bases["fs"].value is None and early[1].bases["gs"].value == PERCPU[1]
    assert early[0].bases["fs"].value == TCB[1] and early[0].pid == 1


def test_every_cpu_rows_hold_a_cell_per_cpu() -> None:
    events = two_cpus()
    entries = bases_by_cpu(MemoryTrace(events), _index(events), 3, [0, 1])
    rows = dict(every_cpu_rows(entries))
    assert list(rows) == ["task", "FS base", "GS base", "KERNEL_GS_BASE"]
    assert [cell.value for cell in rows["GS base"]] == [f"{PERCPU[0]:016x}", f"{PERCPU[1]:016x}"]
    assert rows["FS base"][1].value == "not recorded" and not rows["FS base"][1].known
    assert all(len(cells) == 2 for cells in rows.values())


def test_the_graph_highlights_a_line_of_the_events_own_cpu() -> None:
    lines = [
        GraphLine(5, 1, 2, " 1) a"),
        GraphLine(6, 0, 1, " 0) b"),
        GraphLine(9, 0, 1, " 0) c"),
    ]
    event = MsrWrite(7, 0, 1, 2, MSR_FS_BASE, 0, 1, PC)
    assert here_line(lines, event) == 0  # not line 1, of CPU 0, though it is later
    other = MsrWrite(7, 0, 3, 2, MSR_FS_BASE, 0, 1, PC)
    assert here_line(lines, other) == 1  # no line of its CPU: the last one before it


def test_the_cpu_column_has_a_lane_per_cpu() -> None:
    assert cpu_column_width([0]) == 3
    assert cpu_column_width([0, 1]) == 3
    assert cpu_column_width([0, 1, 2, 3]) == 7
    assert cpu_column_width(list(range(12))) == 12 * 3 - 1


# The app on the real two-CPU capture.


def smp_app(path: Path = SMP) -> TracerApp:
    return TracerApp(OpenTrace(TraceReader.open(path), path))


def _first_entry_on(cpu: int) -> SyscallEntry:
    with TraceReader.open(SMP) as reader:
        return next(
            e
            for e in reader.events(kinds="syscall_entry")
            if isinstance(e, SyscallEntry) and e.cpu == cpu and e.pid not in (0, 1)
        )


async def test_c_cycles_the_cpus_and_the_bar_says_which() -> None:
    app = smp_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert "CPU  all   0   1" in text_of(screen.bar)
        seen = []
        for _ in range(3):
            await press(pilot, "C")
            seen.append(screen.view_filter.cpu)
            rows = screen.timeline.rows
            cpus = {getattr(rows.event(i), "cpu", None) for i in range(min(rows.count(), 300))}
            cpus.discard(None)  # notes name no CPU
            if screen.view_filter.cpu is not None:
                assert cpus == {screen.view_filter.cpu}
                assert f"cpu:{screen.view_filter.cpu}" in screen.status.view
            else:
                assert cpus == {0, 1}
        assert seen == [0, 1, None]
        assert screen.status.view == ""


async def test_each_cpu_has_its_lane_in_the_timeline() -> None:
    app = smp_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert screen.timeline.cpu_lanes == [0, 1]
        for y in range(10):
            event = screen.timeline.rows.event(int(screen.timeline.scroll_y) + y)
            text = screen.timeline.render_line(y).text
            column = text[12:16]  # after the flag and the time
            lanes = {0: f"0 {LANE_MARK} ", 1: f"{LANE_MARK} 1 ", None: f"{LANE_MARK} {LANE_MARK} "}
            assert column == lanes[getattr(event, "cpu", None)], text


async def test_the_cpu_pane_shows_every_cpu_with_the_events_own_highlighted() -> None:
    entry = _first_entry_on(1)
    app = smp_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.go_to_seq(entry.seq)
        await press(pilot, "1")
        shown = text_of(screen.panes["cpu"])
        assert "every CPU" in shown and "cpu0" in shown and "cpu1 (this event)" in shown
        every = shown[shown.index("every CPU") :].splitlines()
        gs_row = next(line for line in every if line.startswith("GS base")).split()
        assert gs_row[-1] == f"{entry.bases.gs_base:016x}"  # cpu1's column: the event's own
        assert gs_row[-2] != gs_row[-1]  # cpu0 is on its own per-CPU area, or in user mode
        await press(pilot, "j")  # the next event: the highlight follows its CPU
        after = screen.selected
        assert after is not None
        shown = text_of(screen.panes["cpu"])
        assert f"cpu{after.cpu} (this event)" in shown


async def test_the_graph_pane_follows_the_cpu_view() -> None:
    entry = _first_entry_on(1)
    app = smp_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.go_to_seq(entry.seq)
        await press(pilot, "7")
        graph = screen.panes["graph"]
        assert {line.cpu for line in graph._lines} == {0, 1}
        await press(pilot, "C", "C")
        assert screen.view_filter.cpu == 1
        assert {line.cpu for line in graph._lines} == {1}
        assert "CPU 1," in text_of(graph.head)
        assert graph.listing.here is not None
        assert graph._lines[graph.listing.here].cpu == 1


# Live: paused, the CPU pane shows every vCPU as gdb reads it; a step goes to the CPU view's CPU.


async def test_live_paused_shows_every_vcpu_and_steps_the_cpu_in_view() -> None:
    fake = FakeCapture(pause_after=5)
    app, screen = live_app(fake)
    rip = {0: 0xFFFF_FFFF_8011_2024, 1: 0xFFFF_FFFF_8010_A240}
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: screen.source.count() == 5)
        await pilot.press("P", "1")
        control = fake.control
        assert control.take() == ["pause"]
        assert "vCPUs now" not in text_of(screen.panes["cpu"])  # nothing read yet
        control.paused = True  # what the capture loop does once every vCPU stopped
        control.vcpus = {
            cpu: {"rip": rip[cpu], "cr3": 0x1000, "fs_base": 0, "gs_base": PERCPU[cpu]}
            for cpu in (0, 1)
        }
        screen.post_message(CaptureFeed.Batch([Note(5, 10**9, "paused at somewhere")]))
        await wait_until(pilot, lambda: "vCPUs now" in text_of(screen.panes["cpu"]))
        shown = text_of(screen.panes["cpu"])
        assert f"{rip[0]:016x}" in shown and f"{rip[1]:016x}" in shown
        assert f"{PERCPU[1]:016x}" in shown and "not read" in shown  # no k_gs_base given

        await pilot.press("C")  # the CPU view names the vCPU to step (no settle: the feed runs)
        await pilot.press("full_stop")
        assert control.take() == [f"step:{screen.view_filter.cpu}"]
        assert f"of CPU {screen.view_filter.cpu}" in screen.status.message
        control.stepped = screen.view_filter.cpu
        screen.post_message(CaptureFeed.Batch([Note(6, 10**9, "step: rip somewhere")]))
        await wait_until(pilot, lambda: "(stepped)" in text_of(screen.panes["cpu"]))
        assert f"cpu{control.stepped} (stepped)" in text_of(screen.panes["cpu"])

        await pilot.press("P")  # resumed: the vCPUs run, the pane stops showing them
        assert control.take() == ["resume"]
        await wait_until(pilot, lambda: "vCPUs now" not in text_of(screen.panes["cpu"]))
        await pilot.press("X")
        await wait_until(pilot, screen.feed.finished.is_set)
