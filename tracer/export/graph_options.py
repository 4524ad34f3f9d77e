"""function_graph options (ftrace's funcgraph-* flags, max_graph_depth, tracing_thresh) and
their command-line arguments for `tracer report --graph`."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GraphOptions:
    """ftrace's function_graph options. Times are nanoseconds; `time_range` is [start, end) on
    the trace's common clock (host time since the capture started), like `--pid` a filter
    applied to events before the tree is built."""

    cpu: bool = True  # funcgraph-cpu
    duration: bool = True  # funcgraph-duration
    overhead: bool = True  # funcgraph-overhead: the + ! # * @ $ markers
    abstime: bool = False  # funcgraph-abstime
    proc: bool = False  # funcgraph-proc
    tail: bool = False  # funcgraph-tail
    retval: bool = False  # funcgraph-retval
    irqs: bool = True  # funcgraph-irqs
    max_depth: int = 0  # max_graph_depth; 0 means no limit
    min_duration_ns: int = 0  # tracing_thresh; 0 shows every call
    pid: int | None = None
    time_range: tuple[int | None, int | None] | None = None
    header: bool = True
    folded: frozenset[int] = frozenset()  # calls drawn as `f() { ... }`, by their entry's seq


# -- command-line options ----------------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s)?\s*$")


def parse_time(text: str, default_unit: str = "s") -> int:
    """`1.5ms`, `200us`, `3` (in `default_unit`) -> nanoseconds."""
    match = _TIME.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (e.g. 250us, 1.5ms, 2s)")
    return round(float(match.group(1)) * _UNITS[match.group(2) or default_unit])


def parse_time_range(text: str) -> tuple[int | None, int | None]:
    """`START:END` in seconds unless suffixed (ns, us, ms, s); either end may be empty."""
    start, sep, end = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"not a time range: {text!r} (START:END, e.g. 1ms:5ms)")
    return (parse_time(start) if start.strip() else None, parse_time(end) if end.strip() else None)


def _min_duration(text: str) -> int:
    return parse_time(text, "us")


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """ftrace's function_graph options, for `tracer report --graph`. The caller's `--pid`
    (when it has one) is read by `options_from_args` too."""
    group = parser.add_argument_group("function graph (--graph)")
    group.add_argument(
        "--abstime", action="store_true", help="absolute time column (funcgraph-abstime)"
    )
    group.add_argument("--proc", action="store_true", help="comm-pid column (funcgraph-proc)")
    group.add_argument(
        "--tail",
        action="store_true",
        help="name the function at each closing brace (funcgraph-tail)",
    )
    group.add_argument("--retval", action="store_true", help="return values (funcgraph-retval)")
    group.add_argument(
        "--no-irqs", dest="irqs", action="store_false", help="hide interrupts (funcgraph-irqs=0)"
    )
    group.add_argument(
        "--no-overhead",
        dest="overhead",
        action="store_false",
        help="no + ! # * @ $ duration markers (funcgraph-overhead=0)",
    )
    group.add_argument(
        "--max-depth",
        type=int,
        default=0,
        metavar="N",
        help="show N levels of calls (max_graph_depth; 0: all)",
    )
    group.add_argument(
        "--min-duration",
        type=_min_duration,
        default=0,
        metavar="TIME",
        help="only calls at least this long, in guest time, e.g. 10us "
        "(tracing_thresh; calls without guest time stay)",
    )
    group.add_argument(
        "--time-range",
        type=parse_time_range,
        default=None,
        metavar="START:END",
        help="only events in this range of capture time (seconds unless suffixed: 1.5ms:3ms)",
    )


def options_from_args(args: argparse.Namespace) -> GraphOptions:
    return GraphOptions(
        abstime=args.abstime,
        proc=args.proc,
        tail=args.tail,
        retval=args.retval,
        irqs=args.irqs,
        overhead=args.overhead,
        max_depth=max(0, args.max_depth),
        min_duration_ns=args.min_duration,
        time_range=args.time_range,
        pid=getattr(args, "pid", None),
    )
