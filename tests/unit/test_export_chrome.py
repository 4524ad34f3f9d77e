"""Chrome trace JSON: parsed back, slices balanced and nested per thread and per CPU."""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from typing import Any

from callgraph_demo import ScriptedTrace, hello_glibc

from tracer.analysis.callgraph import NodeKind, build_call_tree
from tracer.export.chrome import CPU_PID, CPU_TID, write_chrome
from tracer.export.timeline import CLOCK_NOTE, KERNEL_TASK_TID


def _export(trace: ScriptedTrace) -> dict[str, Any]:
    out = io.StringIO()
    count = write_chrome(trace.events, out, trace.symbolize, {"kernel": "kernel.elf"})
    data = json.loads(out.getvalue())
    assert count == len(data["traceEvents"])
    return data


def _two_tasks() -> ScriptedTrace:
    trace = ScriptedTrace(pid=1)
    trace.process("start", "a")
    with trace.syscall(0, (0, 0x1000, 4), 4):
        trace.enter("do_syscall_64")
        trace.enter("schedule")
        trace.switch(2, "a", "b")
        trace.process("start", "b")
        with trace.syscall(39, (), 2):
            trace.leaf("do_syscall_64", 50)
        trace.cpu = 1  # b moves to CPU 1, CPU 0 goes idle
        trace.leaf("b_work", 70)
        trace.cpu, trace.pid = 0, 0
        trace.leaf("default_idle", 90)
        trace.switch(1, "swapper", "a")
        trace.exit("schedule")
        trace.exit("do_syscall_64")
    trace.interrupt("entry", from_ring=3, rip=0x401000)
    trace.leaf("timer_interrupt", 30)
    trace.interrupt("exit")
    trace.enter("never_returns")
    return trace


def _check_begin_end_nesting(events: list[dict[str, Any]]) -> Counter[str]:
    """B/E balanced per thread, each E closing the innermost B, time never going back."""
    stacks: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    last_ts: dict[tuple[int, int], float] = {}
    begun: Counter[str] = Counter()
    for event in events:
        if event["ph"] not in "BE":
            continue
        key = (event["pid"], event["tid"])
        assert event["ts"] >= last_ts.get(key, 0.0)
        last_ts[key] = event["ts"]
        if event["ph"] == "B":
            stacks[key].append(event)
            begun[event["cat"]] += 1
        else:
            assert stacks[key], f"E without B on {key}"
            stacks[key].pop()
    assert all(not stack for stack in stacks.values())
    return begun


def _check_complete_nesting(events: list[dict[str, Any]]) -> int:
    """X slices on one thread either nest or are disjoint."""
    by_thread: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for event in events:
        if event["ph"] == "X":
            assert event["dur"] >= 0
            by_thread[(event["pid"], event["tid"])].append(
                (event["ts"], event["ts"] + event["dur"])
            )
    for spans in by_thread.values():
        spans.sort(key=lambda span: (span[0], -span[1]))
        open_ends: list[float] = []
        for start, end in spans:
            while open_ends and open_ends[-1] <= start and not (open_ends[-1] == start == end):
                open_ends.pop()
            if open_ends:
                assert end <= open_ends[-1] + 1e-9, (start, end, open_ends)
            open_ends.append(end)
    return sum(len(spans) for spans in by_thread.values())


def test_thread_slices_balance_nest_and_count_every_call_syscall_and_interrupt() -> None:
    for trace in (hello_glibc(), _two_tasks()):
        data = _export(trace)
        begun = _check_begin_end_nesting(data["traceEvents"])
        forest = build_call_tree(trace.events)
        kinds = Counter(
            node.kind.value for node in forest.walk() if node.kind is not NodeKind.COMMENT
        )
        assert begun == kinds


def test_cpu_tracks_hold_runs_with_the_calls_inside_them_nested() -> None:
    trace = _two_tasks()
    data = _export(trace)
    events = data["traceEvents"]
    assert _check_complete_nesting(events) > 0
    runs = [(e["tid"] - CPU_TID, e["name"]) for e in events if e["ph"] == "X" and e["cat"] == "run"]
    assert runs == [(0, "a-1"), (0, "b-2"), (0, "swapper-0"), (0, "a-1"), (1, "b-2")]
    on_cpu1 = [e["name"] for e in events if e["ph"] == "X" and e["tid"] == CPU_TID + 1]
    assert on_cpu1 == ["b-2", "b_work"]


def test_instants_counters_and_names() -> None:
    data = _export(hello_glibc())
    events = data["traceEvents"]
    instants = Counter(e["cat"] for e in events if e["ph"] == "i")
    assert instants == {"msr": 1, "tls": 2, "process": 1}
    msr = next(e for e in events if e["ph"] == "i" and e["cat"] == "msr")
    assert msr["name"] == "wrmsr FS_BASE 0x0" and msr["args"]["new"] == "0x4ca3c0"
    assert msr["s"] == "t" and msr["pid"] == 1 and msr["tid"] == 1
    fs = [e["args"]["FS_BASE"] for e in events if e["ph"] == "C" and e["name"] == "FS_BASE cpu0"]
    assert fs == [0, 0x4CA3C0]
    names = {
        (e["name"], e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and "name" in e["args"]
    }
    assert names[("process_name", 1, 1)] == "hello-glibc"
    assert names[("thread_name", 1, 1)] == "hello-glibc"
    assert names[("thread_name", CPU_PID, CPU_TID)] == "CPU 0"
    assert data["displayTimeUnit"] == "ns"
    assert data["otherData"] == {"clock": CLOCK_NOTE, "kernel": "kernel.elf"}


def test_calls_carry_guest_durations_or_say_unknown() -> None:
    for guest_time in (True, False):
        events = _export(hello_glibc(guest_time))["traceEvents"]
        brk = next(e for e in events if e["ph"] == "B" and e["name"] == "__x64_sys_brk")
        assert brk["args"]["guest_ns"] == (1_510 if guest_time else "unknown")
        assert brk["args"]["retval"] == "0x4cb000"


def test_kernel_thread_gets_one_thread_per_cpu() -> None:
    trace = ScriptedTrace(pid=0)
    trace.leaf("idle")
    trace.cpu = 1
    trace.leaf("idle")
    events = _export(trace)["traceEvents"]
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name" and e["pid"] == 0
    }
    assert threads == {(0, KERNEL_TASK_TID): "<idle>/0", (0, KERNEL_TASK_TID + 1): "<idle>/1"}


def test_unfinished_calls_end_at_the_tasks_last_event() -> None:
    events = _export(_two_tasks())["traceEvents"]
    begin = next(e for e in events if e["ph"] == "B" and e["name"] == "never_returns")
    assert begin["args"]["ending"] == "truncated"
