"""`tracer bench`: the tool's stop rate beside the bare-gdb ceiling and an MI round trip."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from tracer.commands.common import EXIT_OK, builtin_program, ensure_guest_built


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="measure stops per second against the bare-gdb ceiling",
        description="Boot the built-in guest with the syscall fuzzer several "
        "times and print, side by side: the tracer's stops/s, a bare gdb "
        "Python-breakpoint loop's stops/s (the ceiling), one MI round trip per "
        "stop, stops per syscall and syscalls traced per second.",
    )
    p.add_argument("--syscalls", type=int, default=3000, help="fuzzer syscalls per run")
    p.add_argument("--mi-stops", type=int, default=1500, help="stops for the MI round-trip run")
    p.add_argument(
        "--graph",
        action="store_true",
        help="benchmark the function-graph ring buffer instead: events per second "
        "of guest time, slowdown with tracing on vs off, drain vs bare read_memory",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def _span_s(reader: Any) -> float:
    times = [e.time_ns for e in reader.events(kinds="syscall_entry")]
    return (times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0


def run_graph(args: argparse.Namespace) -> int:
    """The ring buffer's figures, measured side by side on the same workload."""
    from tracer.capture import CaptureOptions, Program, capture
    from tracer.commands.common import BUILTIN_KERNEL, find_boot_image
    from tracer.events import FuncEntry, FuncExit
    from tracer.store import TraceReader

    ensure_guest_built()
    program = Program(builtin_program("fuzzer"), (str(args.syscalls), "1"))
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        spans = {}
        for name, ftrace in (("off", False), ("on", True)):
            options = CaptureOptions(
                kernel=BUILTIN_KERNEL,
                boot_image=find_boot_image(BUILTIN_KERNEL),
                programs=[program],
                output=Path(tmp) / f"{name}.db",
                read_msrs=False,
                idle_timeout=120,
                ftrace=ftrace,
                measure_read=ftrace,
            )
            capture(options)
            with TraceReader.open(options.output) as reader:
                spans[name] = _span_s(reader)
                if ftrace:
                    meta = reader.meta
                    funcs = [
                        e
                        for e in reader.events(kinds=("func_entry", "func_exit"))
                        if isinstance(e, FuncEntry | FuncExit) and e.guest_ns is not None
                    ]
    guest_s = (funcs[-1].guest_ns - funcs[0].guest_ns) / 1e9 if len(funcs) > 1 else 0.0
    drain = int(meta.get("agent_drain_bytes", 0)) / max(int(meta.get("agent_drain_ns", 1)), 1)
    bare = int(meta.get("bare_read_bytes", 0)) / max(int(meta.get("bare_read_ns", 1)), 1)
    figures: dict[str, Any] = {
        "function_events": len(funcs),
        "events_per_guest_second": round(len(funcs) / guest_s, 1) if guest_s else None,
        "capture_seconds_tracing_off": round(spans["off"], 3),
        "capture_seconds_tracing_on": round(spans["on"], 3),
        "slowdown_on_vs_off": round(spans["on"] / spans["off"], 2) if spans["off"] else None,
        "drain_MB_per_s": round(drain * 1e3, 2),
        "bare_read_memory_MB_per_s": round(bare * 1e3, 2),
        "drain_vs_bare_read": round(drain / bare, 2) if bare else None,
    }
    if args.json:
        print(json.dumps(figures))
        return EXIT_OK
    print(f"workload: fuzzer {args.syscalls} on the built-in guest, TCG, ring buffer on/off")
    for key, value in figures.items():
        print(f"  {key.replace('_', ' '):40} {value}")
    print("  goals: slowdown under 3x; drain at least 0.8x the bare read_memory bandwidth")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.graph:
        return run_graph(args)
    from tracer.capture import CaptureOptions, Program, capture
    from tracer.commands.common import BUILTIN_KERNEL, find_boot_image
    from tracer.store import TraceReader
    from tracer.target.bench import bare_gdb_rate, mi_roundtrip_rate

    ensure_guest_built()
    kernel = BUILTIN_KERNEL
    program = Program(builtin_program("fuzzer"), (str(args.syscalls), "1"))
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        scratch = Path(tmp)
        options = CaptureOptions(
            kernel=kernel,
            boot_image=find_boot_image(kernel),
            programs=[program],
            output=scratch / "bench.db",
            read_msrs=False,
            idle_timeout=120,
        )
        result = capture(options)
        probe_addrs = [
            p.addr for p in result.plan.probes if p.kind in ("syscall_entry", "syscall_exit")
        ]
        with TraceReader.open(options.output) as reader:
            entries = [e for e in reader.events(kinds="syscall_entry")]
            exits = [e for e in reader.events(kinds="syscall_exit")]
        times = sorted(e.time_ns for e in entries + exits)
        span = (times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0
        tool_stops = len(entries) + len(exits)
        config = options.qemu_config()
        bare = bare_gdb_rate(kernel, config, probe_addrs, scratch)
        mi = mi_roundtrip_rate(kernel, config, probe_addrs, max_stops=args.mi_stops)
    tool_rate = tool_stops / span if span else 0.0
    figures = {
        "syscalls_traced": len(entries),
        "tracer_stops_per_s": round(tool_rate, 1),
        "bare_gdb_stops_per_s": round(bare.per_second, 1),
        "mi_roundtrip_stops_per_s": round(mi.per_second, 1),
        "per_stop_cost_vs_bare_gdb": round(bare.per_second / tool_rate, 3) if tool_rate else None,
        "stops_per_syscall": round(tool_stops / len(entries), 3) if entries else None,
        "syscalls_per_s": round(len(entries) / span, 1) if span else 0.0,
        "bare_gdb_stops": bare.stops,
        "mi_stops": mi.stops,
    }
    if args.json:
        print(json.dumps(figures))
        return EXIT_OK
    print(f"workload: fuzzer {args.syscalls} on the built-in guest, TCG, same probe sites")
    print(f"  tracer (agent reads pt_regs, bases, buffers) {tool_rate:9.1f} stops/s")
    print(f"  bare gdb Python breakpoint (ceiling)         {bare.per_second:9.1f} stops/s")
    print(f"  MI round trip per stop                       {mi.per_second:9.1f} stops/s")
    ratio = figures["per_stop_cost_vs_bare_gdb"]
    print(f"  per-stop cost vs ceiling                     {ratio}x   (goal <= 1.1x)")
    print(
        f"  stops per syscall                            {figures['stops_per_syscall']}"
        "     (goal <= 2)"
    )
    print(f"  syscalls traced per second                   {figures['syscalls_per_s']}")
    return EXIT_OK
