"""TUI benchmark: a synthetic trace file, then the time to open it and to answer each key.

    python -m tracer.bench.tui [--events 1000000] [--path FILE [--reuse]] [--size 120x40] [--old]

Open = TraceReader.open + the index of rare events + the app mounted and its first frame
painted (the timeline and the first moment's CPU panel). Analysed = from the same start until
the owners and the findings are ready (read from the file, which stores them since the writer
analyses as it writes; `--old` writes a trace without them, as an older tracer did: its
first open analyses it and stores the result, the next open reads it). A key's cost is the
CPU time from the press to the screen settled (handlers, workers and the refresh), measured
after the background owner scan has finished; the wall time printed beside it includes the
test pilot's own idle waits (about 60-100 ms whatever the key). Prints figures; asserts nothing.
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
    ("T", "prev segbase change"),
    ("w", "next MSR event"),
    ("W", "previous MSR event"),
    ("v", "next flagged event"),
    ("V", "prev flagged event"),
    ("percent_sign", "entry <-> exit"),
    ("2", "pt_regs tab"),
    ("3", "TLS tab"),
    ("1", "CPU tab"),
    ("n", "next search match"),
)
REPEAT = 5
GOAL_FIRST_FRAME_MS = 300.0
GOAL_ANALYSED_S = 5.0
GOAL_KEY_MS = 50.0


def write_trace(path: str, count: int, analyse: bool = True) -> float:
    start = time.perf_counter()
    write_synthetic(path, count, source="tracer.bench.tui", analyse=analyse)
    return time.perf_counter() - start


def goal(value: float, limit: float) -> str:
    return f"{value / limit:5.2f}x of the goal ({'met' if value <= limit else 'NOT met'})"


async def measure(path: str, size: tuple[int, int]) -> dict[str, float]:
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
        stored = reader.stored_analysis() is not None
        print(f"  open (reader + rare-kind index)   {1000 * (opened - start):9.1f} ms")
        first_ms = 1000 * (mounted - start)
        print(
            f"  open + mount, first frame painted {first_ms:9.1f} ms   "
            f"{goal(first_ms, GOAL_FIRST_FRAME_MS)}   ({reader.count():,} events)"
        )
        screen: Any = app.screen
        while not _analysed(screen, trace):
            await asyncio.sleep(0.005)
        analysed = time.perf_counter() - start
        how = "stored in the file" if stored else "analysed now, then stored"
        print(
            f"  owners + findings ready           {analysed:9.2f} s    "
            f"{goal(analysed, GOAL_ANALYSED_S)}   ({len(screen.findings.lines):,} findings, {how})"
        )
        await app.workers.wait_for_complete()
        print(
            f"  every background job done         {time.perf_counter() - start:9.2f} s    "
            "(the timeline's own filter scan too)"
        )
        screen.search = _matcher("write")
        await pilot.press("G")
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        print(f"  {'key':<14}{'action':<22}{'cpu ms':>8}{'max':>7}{'wall ms':>9}")
        worst = 0.0
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
            worst = max(worst, statistics.median(cpu))
        await pilot.press("G")
        await pilot.pause()
        begin, begin_cpu = time.perf_counter(), time.process_time()
        await pilot.press("S")
        await app.workers.wait_for_complete()
        await pilot.pause()
        from_end = 1000 * (time.process_time() - begin_cpu)
        print(
            f"  {'S from the end':<36}{from_end:8.1f}{1000 * (time.perf_counter() - begin):16.1f}"
        )
        worst = max(worst, from_end)
        print(f"  slowest key (median cpu)          {worst:9.1f} ms   {goal(worst, GOAL_KEY_MS)}")
    reader.close()
    return {"first_frame_ms": first_ms, "analysed_s": analysed, "key_ms": worst}


def _analysed(screen: Any, trace: Any) -> bool:
    findings = getattr(screen, "findings", None)
    return findings is not None and findings.done and trace.index.owner_scan_done


def _matcher(text: str) -> Any:
    from tracer.tui.view_models.filters import TextMatcher

    return TextMatcher(text)


def main(argv: list[str] | None = None) -> None:
    parser = trace_file_parser("python -m tracer.bench.tui", __doc__)
    parser.add_argument("--size", default="120x40", help="terminal size, e.g. 80x24")
    parser.add_argument(
        "--old",
        action="store_true",
        help="write the trace without its analysis, then open it twice",
    )
    options = parser.parse_args(argv)
    width, height = (int(part) for part in options.size.split("x"))
    with bench_trace_path(options.path) as path:
        if not (options.path and options.reuse):
            print(f"writing {options.events:,} synthetic events to {path}")
            seconds = write_trace(path, options.events, analyse=not options.old)
            print(f"  written in {seconds:.1f} s")
        print(f"TUI on {path} at {width}x{height}")
        asyncio.run(measure(path, (width, height)))
        if options.old:
            print(f"TUI on {path} again (its analysis now stored)")
            asyncio.run(measure(path, (width, height)))


if __name__ == "__main__":
    main()
