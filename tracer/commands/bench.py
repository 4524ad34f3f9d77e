"""Boot the built-in guest with the syscall fuzzer several times and print, side by side: the
tracer's stops/s, a bare gdb Python-breakpoint loop's stops/s (the ceiling), the tracer's agent
alone in gdb (no tracer process), one MI round trip per stop, stops per syscall and syscalls
traced per second."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tracer.commands.common import EXIT_OK, EXIT_USAGE

# The measuring lives in `tracer.bench.stops`.


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench", help="measure stops per second against the bare-gdb ceiling", description=__doc__
    )
    p.add_argument("--syscalls", type=int, default=3000, help="fuzzer syscalls per run")
    p.add_argument("--mi-stops", type=int, default=1500, help="stops for the MI round-trip run")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the tracer, the bare loop and the agent alone in turns this many times (the median "
        "round shows)",
    )
    p.add_argument(
        "--graph",
        action="store_true",
        help="benchmark the function-graph ring buffer instead: events per second "
        "of guest time, slowdown with tracing on vs off, drain vs bare read_memory",
    )
    p.add_argument(
        "--smp",
        type=int,
        default=None,
        metavar="N",
        help="measure on N CPUs (2-4) instead: stop rate and stops per syscall, overall and "
        "per CPU, beside the same threaded workload on one CPU",
    )
    p.add_argument(
        "--icount",
        default=None,
        metavar="SPEC",
        help="QEMU -icount for the tracer's and the bare loop's runs alike (e.g. shift=0): "
        "guest time by instructions, so both see the same timer ticks for the same work",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tracer.bench import stops
    from tracer.capture.options import icount_refusal

    if args.smp is not None and not 2 <= args.smp <= 4:
        print(f"tracer bench: --smp must be 2..4, not {args.smp}", file=sys.stderr)
        return EXIT_USAGE
    if args.rounds < 1:
        print(f"tracer bench: --rounds must be at least 1, not {args.rounds}", file=sys.stderr)
        return EXIT_USAGE
    if args.icount is not None and (args.smp is not None or args.graph):
        print("tracer bench: --icount is for the per-stop figures only", file=sys.stderr)
        return EXIT_USAGE
    refusal = icount_refusal(args.icount, 1)  # the per-stop figures run on one vCPU
    if refusal is not None:
        print(f"tracer bench: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    if args.smp is not None and args.graph:
        print("tracer bench: --smp and --graph measure different things: pick one", file=sys.stderr)
        return EXIT_USAGE
    if args.smp is not None:
        figures = stops.smp_figures(args.syscalls, args.smp)
        show = stops.print_smp_figures
    elif args.graph:
        figures = stops.graph_figures(args.syscalls)
        show = stops.print_graph_figures
    else:
        figures = stops.stop_figures(args.syscalls, args.mi_stops, args.rounds, args.icount)
        show = stops.print_stop_figures
    if args.json:
        print(json.dumps(figures))
    else:
        show(figures, args.syscalls)
    return EXIT_OK
