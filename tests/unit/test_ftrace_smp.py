"""function_graph on several CPUs, as ftrace prints it: a CPU column on every line, `------`
switch blocks per CPU, and each CPU's nesting kept apart however the CPUs' events interleave."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from callgraph_demo import ScriptedTrace

from tracer.analysis.callgraph import build_call_tree
from tracer.events import ContextSwitch, Event, FuncEntry
from tracer.export.ftrace import SEPARATOR, GraphLine, GraphOptions, graph_lines, graph_rows
from tracer.store import TraceReader


def _interleaved() -> ScriptedTrace:
    """Task 1 on CPU 0 and task 2 on CPU 1, each in nested calls, with the kernel's own idle
    thread (pid 0, one per CPU) taking interrupts on both; their events alternate by seq."""
    trace = ScriptedTrace(pid=1)
    trace.process("start", "one")
    trace.cpu, trace.pid = 1, 2
    trace.process("start", "two")

    def on(cpu: int, pid: int) -> ScriptedTrace:
        trace.cpu, trace.pid = cpu, pid
        return trace

    on(0, 1).enter("outer_a")
    on(1, 2).enter("outer_b")
    on(0, 1).enter("middle_a")
    on(1, 2).leaf("leaf_b", 300)
    on(0, 1).leaf("leaf_a", 200)
    on(1, 2).enter("middle_b")
    on(0, 1).exit("middle_a")
    on(1, 2).leaf("deep_b", 50)
    on(0, 1).exit("outer_a")
    on(1, 2).exit("middle_b")
    on(1, 2).exit("outer_b")
    on(0, 1).switch(0, "one", "swapper")
    on(1, 2).switch(0, "two", "swapper")
    on(0, 0).interrupt("entry")
    on(1, 0).interrupt("entry")
    on(0, 0).enter("timer_a")
    on(1, 0).enter("timer_b")
    on(0, 0).leaf("tick_a", 30)
    on(1, 0).leaf("tick_b", 40)
    on(0, 0).exit("timer_a")
    on(1, 0).exit("timer_b")
    on(0, 0).interrupt("exit")
    on(1, 0).interrupt("exit")
    return trace


def _by_cpu(lines: list[GraphLine]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for line in lines:
        grouped[line.cpu].append(line.text)
    return dict(grouped)


def _rows(events: list[Event], trace: ScriptedTrace) -> list[GraphLine]:
    return list(graph_rows(build_call_tree(events), GraphOptions(), trace.symbolize))


def test_each_cpu_reads_as_if_it_ran_alone() -> None:
    """Interleaving two CPUs changes no CPU's lines: the same depth, the same switch blocks,
    the same order as a graph of that CPU's events alone."""
    trace = _interleaved()
    together = _by_cpu(_rows(trace.events, trace))
    assert set(together) == {0, 1}
    for cpu, lines in together.items():
        alone = [e for e in trace.events if getattr(e, "cpu", None) == cpu]
        assert lines == _by_cpu(_rows(alone, trace))[cpu]


def test_every_line_carries_its_cpu_and_depths_do_not_leak() -> None:
    trace = _interleaved()
    lines = [line for line in _rows(trace.events, trace) if line.text.strip()]
    for line in lines:
        if line.text != SEPARATOR:
            assert line.text.startswith(f" {line.cpu}) ")
    text = {line.text.split("|")[-1].strip(): line.cpu for line in lines if "|" in line.text}
    assert text["outer_a() {"] == 0 and text["outer_b() {"] == 1
    assert text["timer_a() {"] == 0 and text["timer_b() {"] == 1

    def indent(name: str) -> int:
        line = next(line.text for line in lines if line.text.rstrip().endswith(name))
        body = line.split("|")[-1]
        return len(body) - len(body.lstrip())

    # Both CPUs' idle threads are pid 0: each nests from its own CPU's depth, not the other's.
    assert indent("timer_a() {") == indent("timer_b() {") == indent("outer_a() {")
    assert indent("tick_a();") == indent("tick_b();") == indent("middle_a() {")
    assert indent("deep_b();") == indent("leaf_a();")


def test_switch_blocks_are_per_cpu() -> None:
    trace = _interleaved()
    lines = list(graph_lines(trace.events, GraphOptions(header=False), trace.symbolize))
    switches = [line for line in lines if " => " in line]
    assert [s.split(")")[0].strip() for s in switches] == ["0", "1"]
    assert "one-1" in switches[0] and "swapper-0" in switches[0]
    assert "two-2" in switches[1] and "swapper-0" in switches[1]
    for at, line in enumerate(lines):
        if " => " in line:
            assert lines[at - 1] == lines[at + 1] == SEPARATOR


def test_a_task_that_moves_to_another_cpu_closes_its_call_there() -> None:
    """schedule() entered on CPU 0 returns on CPU 1: not a leaf `schedule();` (it was switched
    out), its `}` on CPU 1 at the depth of its `{`, after a switch block there, named."""
    trace = ScriptedTrace(pid=1)
    trace.process("start", "mover")
    trace.enter("do_work")
    trace.enter("schedule")
    trace.switch(0, "mover", "swapper")
    trace.cpu, trace.pid = 1, 0
    trace.interrupt("entry")
    trace.interrupt("exit")
    trace.switch(1, "swapper", "mover")
    trace.exit("schedule")
    trace.exit("do_work")
    lines = list(graph_lines(trace.events, GraphOptions(header=False), trace.symbolize))
    opening = next(line for line in lines if "schedule() {" in line)
    closing = next(line for line in lines if "} /* schedule */" in line)  # CPU 1 never saw `{`
    assert opening.startswith(" 0)") and closing.startswith(" 1)")
    assert opening.index("schedule") == closing.index("}")
    assert lines.index(closing) > lines.index(" 1)   swapper-0    =>    mover-1    ")
    assert not any("still running" in line for line in lines)


def test_the_header_names_the_cpu_column_by_default() -> None:
    trace = _interleaved()
    header = [line for line in graph_lines(trace.events, symbolize=trace.symbolize)][:6]
    assert header[-2].startswith("# CPU")
    no_cpu = list(graph_lines(trace.events, GraphOptions(cpu=False), trace.symbolize))
    numbered = [line for line in no_cpu if line.startswith((" 0)", " 1)"))]
    assert numbered and all(" => " in line for line in numbered)  # ftrace's verif_pid always
    # names the CPU in a switch block; funcgraph-cpu only takes the column off the others


# -- a real capture: pthread-musl's threads on two vCPUs, do_syscall_64 graphed by breakpoints

SMP_TRACE = Path(__file__).resolve().parents[1] / "tui" / "fixtures" / "smp-musl.db"


def test_a_real_two_cpu_capture() -> None:
    """Every line is on its event's CPU, both CPUs show, each context switch is a block on its
    own CPU, and every do_syscall_64 sits at depth 0 of its own CPU's syscall (a frame left open
    on the other CPU would indent it)."""
    with TraceReader.open(SMP_TRACE) as reader:
        events = list(reader.events())
    by_seq = {event.seq: event for event in events}
    rows = list(graph_rows(build_call_tree(events), GraphOptions()))
    assert {row.cpu for row in rows} == {0, 1}
    calls = 0
    for row in rows:
        event = by_seq.get(row.seq) if row.seq is not None else None
        if event is None or row.text in (SEPARATOR, ""):
            continue
        assert row.text.startswith(f" {getattr(event, 'cpu', row.cpu)}) "), row.text
        if isinstance(event, ContextSwitch) and " => " in row.text:
            assert f"-{event.prev_pid} " in row.text and f"-{event.next_pid} " in row.text
        if isinstance(event, FuncEntry):
            calls += 1
            body = row.text.split("|")[-1]
            assert body.startswith("  0x") and not body.startswith("   "), row.text
    switches = [e for e in events if isinstance(e, ContextSwitch)]
    blocks = [row for row in rows if " => " in row.text]
    assert len(blocks) >= len(switches) > 0
    assert calls == sum(isinstance(e, FuncEntry) for e in events) > 0
