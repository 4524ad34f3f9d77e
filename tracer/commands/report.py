"""Print a recorded trace: strace-like syscall lines with CPU and pid prefixes by default."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tracer.commands.common import EXIT_OK, UsageError
from tracer.commands.kernel_option import kernel_symbolizer, trace_command, trace_kernel


def add_trace_argument(p: Any) -> None:
    p.add_argument(
        "--trace",
        "-e",
        dest="trace_spec",
        default=None,
        metavar="NAME,...",
        help="only these syscalls (strace's -e trace=): write,brk, or !write for all but it",
    )


def trace_filter(args: argparse.Namespace, events: Any) -> Any:
    """`--trace` applied to an event stream (the syscalls left out go with their insides)."""
    if not args.trace_spec:
        return events
    from tracer.decode.strace_filter import TraceSpecError, parse_trace_spec
    from tracer.event_filter import only_syscalls

    spec = args.trace_spec.removeprefix("trace=")
    try:
        chosen = parse_trace_spec(spec)
    except TraceSpecError as exc:
        raise UsageError(str(exc)) from None
    return only_syscalls(events, chosen)


def add_parser(sub: Any) -> None:
    p = trace_command(sub, "report", "print a trace (strace-like by default)", __doc__)
    view = p.add_mutually_exclusive_group()
    view.add_argument("--msr", action="store_true", help="the MSR timeline (writes and reads)")
    view.add_argument(
        "--segbase",
        action="store_true",
        help="FS/GS/KERNEL_GS_BASE changes and values at each crossing",
    )
    view.add_argument(
        "--graph", action="store_true", help="the function graph in Linux's function_graph format"
    )
    view.add_argument(
        "--tls",
        action="store_true",
        help="the TLS switch timeline: every FS/GS/KGS change with its owners",
    )
    view.add_argument("--json", action="store_true", help="every event as a JSON line")
    view.add_argument(
        "-c",
        "--summary",
        action="store_true",
        help="strace -c's table: time, calls and errors per syscall, and a total",
    )
    p.add_argument("--pid", type=int, default=None, help="only this process")
    add_trace_argument(p)
    p.add_argument(
        "--swapgs",
        action="store_true",
        help="show the inferred swapgs changes of every crossing (folded by default)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing; the exit status says whether the whole trace reads",
    )
    from tracer.export.graph_options import add_graph_arguments

    add_graph_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tracer.store import TraceReader

    # A damaged file (at open or past the header) is a one-line error and exit 2: see `cli`.
    with TraceReader.open(args.trace) as reader:
        _print(args, reader)
    return EXIT_OK


def _print(args: argparse.Namespace, reader: Any) -> None:
    from tracer import report

    kernel = trace_kernel(args.kernel, reader.meta, args.trace)
    events = reader.events(pid=args.pid) if args.pid is not None else reader.events()
    events = trace_filter(args, events)
    if not args.swapgs and not args.json:
        from tracer.event_filter import fold_inferred_swapgs

        events = fold_inferred_swapgs(events)
    if args.quiet:
        for _ in events:
            pass
        return
    if args.msr:
        symbolize = kernel_symbolizer(kernel)
        lines = report.msr_lines(events, symbolize, kernel.running(symbolize))
    elif args.segbase:
        lines = report.segbase_lines(events, kernel_symbolizer(kernel))
    elif args.tls:
        lines = report.tls_lines(events, kernel_symbolizer(kernel))
    elif args.graph:
        from tracer.export.ftrace import graph_lines
        from tracer.export.graph_options import options_from_args

        lines = graph_lines(events, options_from_args(args), kernel_symbolizer(kernel))
    elif args.json:
        from tracer.export.jsonl import json_lines

        lines = json_lines(events)
    elif args.summary:
        from tracer.summary import summary_lines, syscall_stats

        lines = summary_lines(syscall_stats(events))
    else:
        lines = report.strace_lines(events)
    out = sys.stdout
    for line in lines:
        out.write(line + "\n")
