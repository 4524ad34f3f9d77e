"""The `tracer` command: one small module per subcommand under tracer/commands/."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tracer import __version__
from tracer.commands import capture, doctor, export, report, tui
from tracer.commands.common import EXIT_USAGE, UsageError, fail

COMMANDS = {
    "capture": capture,
    "report": report,
    "export": export,
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
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    try:
        from tracer.commands import bench

        bench.add_parser(sub)
        COMMANDS["bench"] = bench
    except ImportError:
        pass
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        return fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
