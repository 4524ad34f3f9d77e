"""Chrome trace-event JSON (chrome://tracing, Perfetto's UI, speedscope): per thread, nested
B/E slices for calls, syscalls and interrupts; per CPU, complete (X) slices for each task's run
with the calls inside it; instants for MSR writes and TLS switches; FS/GS/KERNEL_GS_BASE
counters per CPU; process and thread names."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tracer.analysis.callgraph import build_call_tree
from tracer.events import Event, Symbolizer
from tracer.export.timeline import CLOCK_NOTE, Args, Slice, Timeline, build_timeline

CPU_PID = 1 << 23  # the pseudo-process holding one track per CPU
CPU_TID = 1 << 23  # + cpu


def _us(ns: int) -> float:
    return round(ns / 1000, 3)


def _args(args: Args) -> dict[str, Any]:
    return dict(args)


def chrome_events(timeline: Timeline) -> Iterator[dict[str, Any]]:
    """Trace events: metadata first, then each track's events in nesting order."""
    for pid, name in sorted(timeline.processes.items()):
        yield {"ph": "M", "name": "process_name", "pid": pid, "tid": pid, "args": {"name": name}}
    for thread in timeline.threads:
        yield {
            "ph": "M",
            "name": "thread_name",
            "pid": thread.pid,
            "tid": thread.tid,
            "args": {"name": thread.name},
        }
    if timeline.cpu_slices or timeline.counters:
        yield {
            "ph": "M",
            "name": "process_name",
            "pid": CPU_PID,
            "tid": CPU_TID,
            "args": {"name": "CPUs"},
        }
    for cpu in sorted(timeline.cpu_slices):
        yield {
            "ph": "M",
            "name": "thread_name",
            "pid": CPU_PID,
            "tid": CPU_TID + cpu,
            "args": {"name": f"CPU {cpu}"},
        }
        yield {
            "ph": "M",
            "name": "thread_sort_index",
            "pid": CPU_PID,
            "tid": CPU_TID + cpu,
            "args": {"sort_index": cpu},
        }
    pids = {thread.tid: thread.pid for thread in timeline.threads}
    for tid, slices in timeline.thread_slices.items():
        for piece in slices:
            yield from _begin_end(piece, pids[tid], tid)
    for tid, instants in timeline.thread_instants.items():
        for instant in instants:
            yield {
                "ph": "i",
                "s": "t",
                "name": instant.name,
                "cat": instant.category,
                "pid": pids[tid],
                "tid": tid,
                "ts": _us(instant.time_ns),
                "args": _args(instant.args),
            }
    for cpu, runs in sorted(timeline.cpu_slices.items()):
        for run in runs:
            for _depth, piece in run.walk():
                yield {
                    "ph": "X",
                    "name": piece.name,
                    "cat": piece.category,
                    "pid": CPU_PID,
                    "tid": CPU_TID + cpu,
                    "ts": _us(piece.start_ns),
                    "dur": _us(piece.end_ns - piece.start_ns),
                    "args": _args(piece.args),
                }
    for (name, cpu), series in sorted(timeline.counters.items()):
        last = None
        for time_ns, value in series:
            if value == last:
                continue
            last = value
            yield {
                "ph": "C",
                "name": f"{name} cpu{cpu}",
                "pid": CPU_PID,
                "ts": _us(time_ns),
                "args": {name: value},
            }


def _begin_end(piece: Slice, pid: int, tid: int) -> Iterator[dict[str, Any]]:
    yield {
        "ph": "B",
        "name": piece.name,
        "cat": piece.category,
        "pid": pid,
        "tid": tid,
        "ts": _us(piece.start_ns),
        "args": _args(piece.args),
    }
    for child in piece.children:
        yield from _begin_end(child, pid, tid)
    yield {"ph": "E", "pid": pid, "tid": tid, "ts": _us(piece.end_ns)}


def write_chrome(
    events: Iterable[Event],
    out: IO[str],
    symbolize: Symbolizer | None = None,
    meta: dict[str, str] | None = None,
) -> int:
    """Write a trace's events as Chrome JSON; returns the number of trace events written."""
    timeline = build_timeline(build_call_tree(events), symbolize)
    other = {"clock": CLOCK_NOTE, **(meta or {})}
    out.write('{"displayTimeUnit":"ns","otherData":')
    out.write(json.dumps(other, separators=(",", ":")))
    out.write(',"traceEvents":[\n')
    count = 0
    for event in chrome_events(timeline):
        if count:
            out.write(",\n")
        out.write(json.dumps(event, separators=(",", ":")))
        count += 1
    out.write("\n]}\n")
    return count
