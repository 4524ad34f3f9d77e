"""ftrace's function_graph columns (kernel/trace/trace_functions_graph.c): duration and its
overhead marks, comm-pid, absolute time, return values. Pure text, no tree."""

from __future__ import annotations

PROC_WIDTH = 14  # TRACE_GRAPH_PROCINFO_LENGTH
COMM_LEN = 7  # ftrace cuts comm to 7 characters in this column
UNKNOWN_DURATION = "  ? us        |  "
MARKS = (
    (1_000_000_000, "$"),
    (100_000_000, "@"),
    (10_000_000, "*"),
    (1_000_000, "#"),
    (100_000, "!"),
    (10_000, "+"),
)


def duration_mark(ns: int) -> str:
    """trace_find_mark: `$` > 1 s, `@` > 100 ms, `*` > 10 ms, `#` > 1 ms, `!` > 100 us,
    `+` > 10 us, else a space."""
    for threshold, mark in MARKS:
        if ns > threshold:
            return mark
    return " "


def format_duration(ns: int) -> str:
    """trace_print_graph_duration: `1.382 us    `, `1837.709 us `, `33998.59 us `, padded to
    eight characters of number (at most seven digits before the point)."""
    usecs, nsecs = divmod(ns, 1000)
    text = str(usecs)
    length = len(text)
    if length < 7:
        fraction = f"{nsecs:03d}"[: min(5, 8 - length) - 1]
        text += "." + fraction
        length += len(fraction) + 1
    return text + " us " + " " * max(0, 8 - length)


def duration_column(ns: int | None, overhead: bool = True) -> str:
    if ns is None or ns < 0:
        return UNKNOWN_DURATION
    mark = duration_mark(ns) if overhead else " "
    return f"{mark} {format_duration(ns)}|  "


def proc_column(comm: str, pid: int) -> str:
    """print_graph_proc: `comm-pid` centred in 14 columns, comm cut to 7 characters."""
    text = f"{comm[:COMM_LEN]}-{pid}"
    spaces = max(0, PROC_WIDTH - len(text))
    return " " * (spaces // 2) + text + " " * (spaces - spaces // 2)


def abstime_column(ns: int | None) -> str:
    if ns is None:
        return " " * 16
    secs, rem = divmod(ns, 1_000_000_000)
    return f"{secs:5d}.{rem // 1000:06d} |  "


def retval_text(retval: int) -> str:
    """funcgraph-retval: an error code (-4095..-1, also as a sign-extended int) in decimal,
    anything else in hex."""
    value = retval & (1 << 64) - 1
    if value & (1 << 31) and value >> 32 == 0:
        value |= ((1 << 32) - 1) << 32
    signed = value - (1 << 64) if value >= 1 << 63 else value
    return str(signed) if -4095 <= signed < 0 else f"{retval & (1 << 64) - 1:#x}"
