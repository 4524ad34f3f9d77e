"""TUI benchmark: a synthetic trace file, then the time to open it and to answer each key.

    python -m tracer.bench.tui [--events 1000000] [--path FILE [--reuse]] [--size 120x40]

Open = TraceReader.open + the index of rare events + the app mounted and its first frame
painted (the timeline and the first moment's CPU panel). A key's cost is the CPU time from the
press to the screen settled (handlers, workers and the refresh), measured after the background
owner scan has finished; the wall time printed beside it includes the test pilot's own idle
waits (about 60-100 ms whatever the key). Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from tracer.bench.synthetic import bench_trace_path, trace_file_parser, write_synthetic
from tracer.store import TraceReader

KEYS = (
    ("j", "next event"),
    ("k", "previous event"),
    ("pagedown", "page down"),
    ("ctrl+d", "half page down"),
    ("G", "last event"),
    ("g", "first event"),
    ("s", "next syscall"),
    ("S", "previous syscall"),
    ("t", "next segbase change"),
    ("w", "next MSR event"),
    ("W", "previous MSR event"),
    ("v", "next flagged event"),
    ("percent_sign", "entry <-> exit"),
    ("2", "pt_regs tab"),
    ("3", "TLS tab"),
    ("1", "CPU tab"),
    ("n", "next search match"),
)
REPEAT = 5


def write_trace(path: str, count: int) -> float:
    start = time.perf_counter()
    write_synthetic(path, count, source="tracer.bench.tui")
    return time.perf_counter() - start


async def measure(path: str, size: tuple[int, int]) -> None:
    from tracer.tui.app import TracerApp
    from tracer.tui.open_trace import OpenTrace

    start = time.perf_counter()
    reader = TraceReader.open(path)
    trace = OpenTrace(reader, path)
    opened = time.perf_counter()
    app = TracerApp(trace)
    async with app.run_test(size=size) as pilot:
        while getattr(app.screen, "painted_at", None) is None:
            await asyncio.sleep(0.001)
        mounted = app.screen.painted_at  # type: ignore[attr-defined]
        print(f"  open (reader + rare-kind index)   {1000 * (opened - start):9.1f} ms")
        print(
            f"  open + mount, first frame painted {1000 * (mounted - start):9.1f} ms"
            f"   ({reader.count():,} events)"
        )
        scan_start = time.perf_counter()
        await app.workers.wait_for_complete()
        print(f"  owners + checks (background)      {time.perf_counter() - scan_start:9.2f} s")
        screen: Any = app.screen
        screen.search = _matcher("write")
        await pilot.press("G")
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        print(f"  {'key':<14}{'action':<22}{'cpu ms':>8}{'max':>7}{'wall ms':>9}")
        for key, label in KEYS:
            cpu, wall = [], []
            for _ in range(REPEAT):
                begin, begin_cpu = time.perf_counter(), time.process_time()
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
                cpu.append(1000 * (time.process_time() - begin_cpu))
                wall.append(1000 * (time.perf_counter() - begin))
            print(
                f"  {key:<14}{label:<22}{statistics.median(cpu):8.1f}{max(cpu):7.1f}"
                f"{statistics.median(wall):9.1f}"
            )
        await pilot.press("G")
        await pilot.pause()
        begin, begin_cpu = time.perf_counter(), time.process_time()
        await pilot.press("S")
        await app.workers.wait_for_complete()
        await pilot.pause()
        print(
            f"  {'S from the end':<36}{1000 * (time.process_time() - begin_cpu):8.1f}"
            f"{1000 * (time.perf_counter() - begin):16.1f}"
        )
    reader.close()


def _matcher(text: str) -> Any:
    from tracer.tui.view_models.filters import TextMatcher

    return TextMatcher(text)


def main(argv: list[str] | None = None) -> None:
    parser = trace_file_parser("python -m tracer.bench.tui", __doc__)
    parser.add_argument("--size", default="120x40", help="terminal size, e.g. 80x24")
    options = parser.parse_args(argv)
    width, height = (int(part) for part in options.size.split("x"))
    with bench_trace_path(options.path) as path:
        if not (options.path and options.reuse):
            print(f"writing {options.events:,} synthetic events to {path}")
            print(f"  written in {write_trace(path, options.events):.1f} s")
        print(f"TUI on {path} at {width}x{height}")
        asyncio.run(measure(path, (width, height)))


if __name__ == "__main__":
    main()
