"""Browse a trace file: timeline, CPU state, pt_regs, TLS, entry path. Without a file, boot the
guest (options as for `capture`) and watch live.

  tracer tui trace.db                      replay a recorded trace
  tracer tui [--kernel K --program P ...]  capture (options as for `tracer capture`) and watch
  tracer tui trace.db --screenshots DIR    write screenshots of every pane and exit
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tracer.commands.common import EXIT_FAILURE, EXIT_OK, UsageError, fail


def _capture_options_parser() -> argparse.ArgumentParser:
    """`tracer capture`'s own options, so live mode takes exactly what capture takes."""
    from tracer.commands import capture

    holder = argparse.ArgumentParser(add_help=False)
    sub = holder.add_subparsers()
    capture.add_parser(sub, command=False)
    return sub.choices["capture"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "tui",
        help="browse a trace in a terminal UI (or capture live into it)",
        parents=[_capture_options_parser()],
        add_help=False,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("trace", type=Path, nargs="?", help="trace file to browse (omit for live)")
    p.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="write SVG and PNG screenshots of every pane to DIR and exit",
    )
    p.set_defaults(run=run)


def _need_textual() -> None:
    try:
        import textual  # noqa: F401
    except ImportError:
        raise UsageError("the TUI needs textual: pip install 'tracer[tui]'") from None


def run(args: argparse.Namespace) -> int:
    _need_textual()
    if args.trace is not None:
        _not_a_program(args.trace)
        return _replay(args)
    if args.screenshots is not None:
        raise UsageError("--screenshots needs a trace file")
    return _live(args)


def _not_a_program(path: Path) -> None:
    """`tracer tui ./a.out` as one would write `tracer capture ./a.out`: say how to watch it."""
    from tracer.image.elf import is_elf

    if is_elf(path):
        raise UsageError(
            f"{path}: an executable, not a trace file; to capture it and watch live: "
            f"tracer tui --program {path}"
        )


def _replay(args: argparse.Namespace) -> int:
    from tracer.store import TraceReader

    with TraceReader.open(args.trace) as reader:
        if args.screenshots is not None:
            from tracer.tui.screenshots import write_screenshots

            for path in write_screenshots(args.trace, args.screenshots, kernel=args.kernel):
                print(path)
            return EXIT_OK
        from tracer.tui.app import TracerApp
        from tracer.tui.open_trace import OpenTrace

        TracerApp(OpenTrace(reader, args.trace, kernel=args.kernel)).run()
    return EXIT_OK


def _live(args: argparse.Namespace) -> int:
    from tracer.commands.capture import build_options
    from tracer.tui.live import run_live

    if not sys.stdout.isatty():
        raise UsageError("live mode needs a terminal; use `tracer capture` without one")
    options = build_options(args)
    result = run_live(options)
    if result is None:
        return EXIT_OK
    if result.error:
        return fail(result.error, EXIT_FAILURE)
    print(f"{result.stats.events} events -> {result.output} [{result.reason}]", file=sys.stderr)
    return EXIT_OK
