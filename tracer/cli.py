"""The `tracer` command: one small module per subcommand under tracer/commands/."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tracer import __version__
from tracer.commands import capture, check, doctor, export, report, tui
from tracer.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    fail,
    internal_error,
    quiet_broken_pipe,
    sigterm_raises,
)
from tracer.store.api import TraceFileError
from tracer.target.errors import Terminated

COMMANDS = {
    "capture": capture,
    "report": report,
    "export": export,
    "check": check,
    "doctor": doctor,
    "tui": tui,  # imports textual only when run
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracer",
        description="Watch an x86-64 kernel cross the user/kernel boundary, through QEMU and gdb.",
    )
    parser.add_argument("--version", action="version", version=f"tracer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    try:
        from tracer.commands import bench
    except ImportError:
        return parser
    bench.add_parser(sub)  # not kept in COMMANDS: main() may run more than once per process
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 ok, 1 a failed capture or guest, 2 bad input; 130/143 on SIGINT/SIGTERM.
    No exception ends in a traceback unless TRACER_DEBUG=1."""
    with sigterm_raises():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help(sys.stderr)
                return EXIT_USAGE
            return int(args.run(args) or 0)
        except (UsageError, TraceFileError) as exc:  # TraceFileError: also damage found late
            return fail(str(exc), EXIT_USAGE)
        except Terminated:
            return fail("terminated", EXIT_TERMINATED)
        except KeyboardInterrupt:
            return fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            quiet_broken_pipe()
            return 0
        except Exception as exc:
            return internal_error(exc)


if __name__ == "__main__":
    sys.exit(main())
