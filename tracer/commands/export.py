"""Write a recorded trace as Chrome trace-event JSON (chrome://tracing, ui.perfetto.dev), a
Perfetto protobuf trace, or one JSON object per event. Timestamps are the host capture clock;
calls carry their guest-time durations in args."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tracer.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail
from tracer.commands.kernel_option import kernel_symbolizer, trace_command, trace_kernel
from tracer.commands.report import add_trace_argument, trace_filter

FORMATS = ("chrome", "perfetto", "jsonl")


def add_parser(sub: Any) -> None:
    p = trace_command(
        sub, "export", "write a trace for other viewers (Chrome, Perfetto, JSONL)", __doc__
    )
    p.add_argument("--format", "-f", choices=FORMATS, required=True)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write ('-' for standard output, except perfetto)",
    )
    p.add_argument("--pid", type=int, default=None, help="only this process")
    add_trace_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tracer.store import TraceReader

    if args.format == "perfetto":
        from tracer.export.perfetto import load_protos

        try:
            load_protos()
        except ImportError as exc:
            return fail(str(exc), EXIT_FAILURE)
        if args.output == "-" and sys.stdout.isatty():
            return fail("a perfetto trace is binary: give -o FILE", EXIT_USAGE)
    reader = TraceReader.open(args.trace)  # a damaged trace: one line and exit 2, see `cli`
    try:
        with reader:
            kernel = trace_kernel(args.kernel, reader.meta, args.trace)
            events = reader.events(pid=args.pid) if args.pid is not None else reader.events()
            events = trace_filter(args, events)
            count = _write(args, events, kernel_symbolizer(kernel), reader.meta)
    except OSError as exc:
        return fail(f"{args.output}: {exc.strerror or exc}", EXIT_FAILURE)
    if args.output != "-":
        print(f"tracer: wrote {count} {_unit(args.format)} to {args.output}", file=sys.stderr)
    return EXIT_OK


def _unit(fmt: str) -> str:
    return {"chrome": "trace events", "perfetto": "packets", "jsonl": "events"}[fmt]


def _write(args: argparse.Namespace, events: Any, symbolize: Any, meta: dict[str, str]) -> int:
    """Write to a temporary file beside the output and rename it, so a failed export leaves
    no half-written file behind."""
    from tracer.export.chrome import write_chrome
    from tracer.export.jsonl import write_jsonl
    from tracer.export.perfetto import write_perfetto

    if args.output == "-":
        if args.format == "perfetto":
            return write_perfetto(events, sys.stdout.buffer, symbolize)
        if args.format == "chrome":
            return write_chrome(events, sys.stdout, symbolize, meta)
        return write_jsonl(events, sys.stdout)
    target = Path(args.output)
    partial = target.with_name(f".{target.name}.partial")
    try:
        if args.format == "perfetto":
            with open(partial, "wb") as binary:
                count = write_perfetto(events, binary, symbolize)
        else:
            with open(partial, "w", encoding="utf-8") as text:
                count = (
                    write_chrome(events, text, symbolize, meta)
                    if args.format == "chrome"
                    else write_jsonl(events, text)
                )
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return count
