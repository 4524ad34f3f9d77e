"""`tracer capture`: boot a kernel with static programs under QEMU and record a trace."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from tracer.commands.common import (
    BUILTIN_KERNEL,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    builtin_program,
    ensure_guest_built,
    fail,
    find_boot_image,
)


class _ProgramAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        programs = list(getattr(namespace, "programs", None) or [])
        programs.append([values, []])
        namespace.programs = programs


class _ArgsAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        programs = getattr(namespace, "programs", None)
        if not programs:
            parser.error("--args must follow a --program")
        programs[-1][1].extend(shlex.split(values))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("capture", help="boot the guest and record a trace",
                       description="Boot a kernel under QEMU with static x86-64 programs and "
                       "record every syscall, MSR write and segment-base change to a trace file.")
    p.add_argument("--kernel", type=Path, help="kernel ELF with symbols (default: built-in guest)")
    p.add_argument("--boot-image", type=Path, help="what QEMU boots if not the ELF itself")
    p.add_argument("--cmdline", default=None, help="kernel command line")
    p.add_argument("--program", action=_ProgramAction, metavar="PATH", dest="programs",
                   help="a static x86-64 executable to run (repeatable)")
    p.add_argument("--args", action=_ArgsAction, metavar="'ARGS'",
                   help="arguments for the preceding --program (one shell-quoted string)")
    p.add_argument("-o", "--output", type=Path, default=Path("trace.db"))
    p.add_argument("--probes", default="syscall,msr,segbase",
                   help="comma-separated: syscall, msr, segbase")
    p.add_argument("--mode", choices=("default", "exhaustive"), default="default",
                   help="default: ~2 stops per syscall; exhaustive: stop at every site")
    p.add_argument("--until", default="exit",
                   help="exit (guest powers off) or syscall:NAME (stop at the first such call)")
    p.add_argument("--max-events", type=int, default=None)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole capture")
    p.add_argument("--idle-timeout", type=float, default=60.0,
                   help="seconds with no event before the guest is declared hung")
    p.add_argument("--icount", default=None, help="QEMU -icount value, e.g. shift=0")
    p.add_argument("--memory", type=int, default=256, help="guest memory in MiB")
    p.add_argument("--no-msr-read", action="store_true",
                   help="skip the on-demand rdmsr snapshot at the first syscall")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=run, programs=None)


def _check_program(path: Path) -> None:
    from tracer.image import ElfImage, ImageError

    try:
        image = ElfImage.open(path)
    except ImageError as exc:
        raise UsageError(str(exc)) from None
    if image.interp is not None:
        raise UsageError(f"{path}: dynamically linked (needs {image.interp}); build it with -static")


def build_options(args: argparse.Namespace) -> Any:
    from tracer.capture import CaptureOptions, Program
    from tracer.image import ElfImage, ImageError
    from tracer.probes.plan import ALL_PROBES, Mode

    builtin = args.kernel is None
    if builtin or not args.programs:
        ensure_guest_built(args.quiet)
    kernel = args.kernel or BUILTIN_KERNEL
    if not kernel.exists():
        raise UsageError(f"{kernel}: no such file")
    try:
        ElfImage.open(kernel)
    except ImageError as exc:
        raise UsageError(str(exc)) from None
    boot_image = args.boot_image or find_boot_image(kernel)
    raw_programs = args.programs or [[str(builtin_program("hello-glibc")), []]]
    programs = []
    for path_text, prog_args in raw_programs:
        path = Path(path_text)
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        _check_program(path)
        programs.append(Program(path, tuple(prog_args)))
    probes = frozenset(p.strip() for p in args.probes.split(",") if p.strip())
    unknown = probes - ALL_PROBES
    if unknown:
        raise UsageError(f"unknown probe(s): {', '.join(sorted(unknown))}")
    if args.until != "exit" and not args.until.startswith("syscall:"):
        raise UsageError("--until takes exit or syscall:NAME")
    cmdline = args.cmdline if args.cmdline is not None else ""
    return CaptureOptions(
        kernel=kernel, boot_image=boot_image, programs=programs, output=args.output,
        cmdline=cmdline, probes=probes, mode=Mode(args.mode), until=args.until,
        max_events=args.max_events, timeout=args.timeout, idle_timeout=args.idle_timeout,
        icount=args.icount, read_msrs=not args.no_msr_read, memory_mb=args.memory,
    )


def run(args: argparse.Namespace) -> int:
    from tracer.capture import capture
    from tracer.commands.progress import CaptureProgress
    from tracer.store import TraceFileError
    from tracer.target.errors import TargetError

    options = build_options(args)
    show = not args.quiet and sys.stderr.isatty()
    try:
        with CaptureProgress(enabled=show) as progress:
            result = capture(options, progress=progress.update)
    except (TargetError, TraceFileError, FileExistsError, OSError) as exc:
        return fail(str(exc), EXIT_FAILURE)
    summary = {
        "output": str(result.output),
        "events": result.stats.events,
        "syscalls": result.stats.syscalls,
        "stops": result.stats.hits,
        "seconds": round(result.stats.elapsed, 3),
        "reason": result.reason,
        "guest_status": result.guest_status,
        "error": result.error,
    }
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        status = "" if result.guest_status is None else f", guest status {result.guest_status}"
        print(f"{result.stats.events} events ({result.stats.syscalls} syscalls, "
              f"{result.stats.hits} stops) in {result.stats.elapsed:.2f} s -> {result.output}"
              f" [{result.reason}{status}]", file=sys.stderr)
    if result.error:
        tail = " | ".join(result.console.strip().splitlines()[-3:])
        return fail(f"{result.error}" + (f" (guest console: {tail})" if tail else ""))
    if result.reason in ("hang", "timeout"):
        tail = " | ".join(result.console.strip().splitlines()[-3:])
        return fail(f"the guest {'hung' if result.reason == 'hang' else 'timed out'}"
                    + (f"; console: {tail}" if tail else ""))
    return EXIT_OK if result.guest_status in (0, None) else EXIT_FAILURE


__all__ = ["add_parser", "run", "EXIT_USAGE"]
