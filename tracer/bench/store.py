"""Trace-file benchmark: write a synthetic trace, then time what a viewer does first.

    python -m tracer.bench.store [--events 1000000] [--path trace.db [--reuse]] [--keep]

Prints figures only; nothing here asserts a time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from tracer.bench.synthetic import bench_trace_path, trace_file_parser, write_synthetic
from tracer.events import Event, EventKind
from tracer.store.reader import TraceReader


def _timed(label: str, action: Callable[[], Any], note: Callable[[Any], str] = str) -> Any:
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    print(f"  {label:<38} {elapsed * 1000:10.1f} ms   {note(result)}")
    return result


def run(count: int, path: str, write: bool = True) -> None:
    if write:
        print(f"writing {count:,} synthetic events to {path}")
        start = time.perf_counter()
        write_synthetic(path, count, source="tracer.bench.store")
        elapsed = time.perf_counter() - start
        size = os.path.getsize(path)
        print(f"  write + close {elapsed:8.2f} s   {count / elapsed:,.0f} events/s")
        print(f"  file size     {size / 1e6:8.1f} MB  {size / count:,.0f} bytes/event")
    print(f"reading {path}")
    reader = _timed("open", lambda: TraceReader.open(path), lambda r: f"schema v{r.schema_version}")
    with reader:
        _time_reads(reader)


def _time_reads(reader: TraceReader) -> None:
    total = _timed("count()", reader.count)
    _timed("page(0, 100)", lambda: reader.page(0, 100), _seqs)
    _timed("page(last 100)", lambda: reader.page(max(0, total - 100), 100), _seqs)
    exits = EventKind.SYSCALL_EXIT
    n_exits = _timed("count(kinds=syscall_exit)", lambda: reader.count(kinds=exits))
    _timed(
        "page(last 100, syscall_exit), cold",
        lambda: reader.page(max(0, n_exits - 100), 100, kinds=exits),
        _seqs,
    )
    _timed(
        "page(last-1 100, syscall_exit), warm",
        lambda: reader.page(max(0, n_exits - 200), 100, kinds=exits),
        _seqs,
    )
    rare = (EventKind.MSR_WRITE, EventKind.PROCESS)
    n_rare = _timed("count(kinds=msr_write|process)", lambda: reader.count(kinds=rare))
    _timed(
        "page(last 10, msr_write|process)",
        lambda: reader.page(max(0, n_rare - 10), 10, kinds=rare),
        _seqs,
    )
    msr = EventKind.MSR_WRITE
    n_msr = _timed("count(kinds=msr_write, cpu=1)", lambda: reader.count(kinds=msr, cpu=1))
    _timed(
        "page(last 10, msr_write, cpu=1)",
        lambda: reader.page(max(0, n_msr - 10), 10, kinds=msr, cpu=1),
        _seqs,
    )
    _timed("count(cpu=1)", lambda: reader.count(cpu=1))
    _timed("count(pid=2, kinds=syscall_exit)", lambda: reader.count(pid=2, kinds=exits))
    middle = _timed("seq_at_time(middle)", lambda: reader.seq_at_time(_middle_time(reader)))
    _timed("index_of(middle, cpu=0, nearest)", lambda: reader.index_of(middle, cpu=0, nearest=True))
    _timed(
        "kinds(), cpus(), pids()",
        lambda: (reader.kinds(), reader.cpus(), reader.pids()),
        lambda found: f"{len(found[0])} kinds, cpus {found[1]}, pids {found[2]}",
    )
    _timed("events(): stream 100,000", lambda: sum(1 for _ in reader.events(limit=100_000)))


def _middle_time(reader: TraceReader) -> int:
    return int(reader.meta.get("end_time_ns", "0")) // 2


def _seqs(events: list[Event]) -> str:
    return f"seq {events[0].seq}..{events[-1].seq}" if events else "empty"


def main(argv: list[str] | None = None) -> None:
    parser = trace_file_parser("python -m tracer.bench.store", __doc__)
    parser.add_argument("--keep", action="store_true", help="keep the temp file")
    options = parser.parse_args(argv)
    with bench_trace_path(options.path, options.keep) as path:
        run(options.events, path, write=not (options.path and options.reuse))


if __name__ == "__main__":
    main()
