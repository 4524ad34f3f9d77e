"""Boot a kernel under QEMU with static x86-64 programs and record every syscall, MSR write and
segment-base change to a trace file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tracer.commands.capture_args import add_capture_arguments
from tracer.commands.common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    fail,
)
from tracer.guest import BUILTIN_KERNEL, builtin_program, ensure_guest_built, find_boot_image


def add_parser(sub: Any, *, command: bool = True) -> None:
    """`command`: the trailing PROGRAM [ARG ...] (not for `tracer tui`, whose positional is a
    trace file)."""
    p = sub.add_parser("capture", help="boot the guest and record a trace", description=__doc__)
    add_capture_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=run, programs=None, program_argv=None)
    if command:
        p.add_argument(
            "program_argv",
            nargs=argparse.REMAINDER,
            metavar="PROGRAM [ARG ...]",
            help="a program to run and its arguments, as strace takes them (after every "
            "option; run after any --program)",
        )


def _usage(exc: Exception) -> UsageError:
    return UsageError(str(exc))


def _positive(value: float | int | None, option: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{option} must be positive (got {value:g})")


def _check_output(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; -o takes a trace file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: directory {parent} does not exist")


def build_options(args: argparse.Namespace) -> Any:
    """Every input checked before anything boots: bad input is a UsageError (exit status 2)."""
    from tracer.capture import CaptureOptions, Program
    from tracer.guest import InputError, check_kernel, check_program
    from tracer.probes.plan import ALL_PROBES, Mode

    if args.program_argv:  # `tracer capture ./prog a b`, as `strace ./prog a b`
        argv = args.program_argv
        args.programs = [*(args.programs or []), [argv[0], list(argv[1:])]]
    builtin = args.kernel is None
    if builtin or not args.programs:
        ensure_guest_built(args.quiet or args.json)
    kernel = args.kernel or BUILTIN_KERNEL
    linux = _linux_kernel(args, kernel)
    if not linux:
        try:
            check_kernel(kernel)
        except InputError as exc:
            raise _usage(exc) from None
    boot_image = kernel if linux else args.boot_image or find_boot_image(kernel)
    if not boot_image.is_file():
        raise UsageError(f"{boot_image}: no such boot image")
    raw_programs = args.programs or [[str(builtin_program("hello-glibc")), []]]
    programs = []
    for path_text, prog_args in raw_programs:
        path = Path(path_text)
        try:
            check_program(path)
        except InputError as exc:
            raise _usage(exc) from None
        for arg in prog_args:
            if any(ch.isspace() for ch in arg):
                raise UsageError(
                    f"{path}: argument {arg!r} has whitespace; the guest splits "
                    "its module line on spaces"
                )
        programs.append(Program(path, tuple(prog_args)))
    chosen = args.probes or ("syscall,msr,segbase" if linux else ",".join(sorted(ALL_PROBES)))
    probes = frozenset(p.strip() for p in chosen.split(",") if p.strip())
    unknown = probes - ALL_PROBES
    if unknown:
        raise UsageError(f"unknown probe(s): {', '.join(sorted(unknown))}")
    if args.until != "exit" and not args.until.startswith("syscall:"):
        raise UsageError("--until takes exit or syscall:NAME")
    _positive(args.max_events, "--max-events")
    _positive(args.timeout, "--timeout")
    _positive(args.idle_timeout, "--idle-timeout")
    _positive(args.memory, "--memory")
    if not 1 <= args.smp <= 4:
        raise UsageError("--smp takes 1 to 4 CPUs")
    _positive(args.start_timeout, "--start-timeout")
    _check_output(args.output)
    return CaptureOptions(
        kernel=kernel,
        boot_image=boot_image,
        programs=programs,
        output=args.output,
        cmdline=args.cmdline if args.cmdline is not None else "",
        probes=probes,
        mode=Mode(args.mode),
        until=args.until,
        max_events=args.max_events,
        timeout=args.timeout,
        idle_timeout=args.idle_timeout,
        icount=_icount(args.icount, args.smp),
        read_msrs=not args.no_msr_read,
        memory_mb=args.memory,
        start_timeout=args.start_timeout,
        graph=_graph(args, kernel),
        graph_large=args.graph_large,
        accel=_accel(args.accel),
        symbols=args.symbols,
        initrd=args.initrd,
        cpu=args.cpu,
        smp=args.smp,
        from_boot=getattr(args, "from_boot", False),
        vdso=args.vdso,
        watch=args.watch,
        **_ftrace(args, kernel),
    )


def _linux_kernel(args: argparse.Namespace, kernel: Path) -> bool:
    """A Linux vmlinux (PVH note) or bzImage; its own options checked (exit 2 if wrong)."""
    from tracer.capture.linux import is_linux_boot

    linux = kernel.is_file() and is_linux_boot(kernel)  # else check_kernel says what is wrong
    for option, path in (("--symbols", args.symbols), ("--initrd", args.initrd)):
        if path is not None and not linux:
            raise UsageError(f"{option} is for a Linux kernel (a PVH vmlinux or a bzImage)")
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: no such file ({option})")
    if getattr(args, "from_boot", False) and not linux:
        raise UsageError(
            "--from-boot is for a Linux kernel (the built-in guest is traced from boot)"
        )
    if linux and (args.graph or args.ftrace):
        raise UsageError("--graph and --ftrace are not supported on a Linux kernel yet")
    return linux


def _icount(icount: str | None, smp: int) -> str | None:
    """QEMU's -icount as given, except a setting that cannot work under a debugger."""
    from tracer.capture.options import icount_refusal

    refusal = icount_refusal(icount, smp)
    if refusal is not None:
        raise UsageError(refusal)
    return icount


def _accel(accel: str) -> str:
    import os

    if accel == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise UsageError("--accel kvm: /dev/kvm is missing or not accessible; use tcg")
    return accel


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _ftrace(args: argparse.Namespace, kernel: Path) -> dict[str, Any]:
    """--ftrace and its filters, checked against the kernel now (exit 2 if it cannot be)."""
    from tracer.capture.options import ftrace_by_default

    requested = args.ftrace
    if requested is None and (args.graph_function or args.max_graph_depth):
        requested = True  # a filter for the ring asks for the ring
    if not ftrace_by_default(requested, kernel, bool(args.graph)):
        if args.graph_function or args.max_graph_depth:
            raise UsageError("--graph-function and --max-graph-depth need --ftrace")
        if args.graph_notrace and not args.graph:
            raise UsageError("--graph-notrace needs --ftrace or --graph")
        return {"ftrace_notrace": _patterns(args.graph_notrace)} if args.graph_notrace else {}
    from tracer.image import ElfImage
    from tracer.probes.funcgraph import GraphError, resolve_functions
    from tracer.probes.ringbuf import find_ring

    image = ElfImage.open(kernel)
    ring = find_ring(image)
    if ring is None:
        raise UsageError(
            f"{kernel}: no function-graph ring buffer (ftrace_rings and struct "
            "ftrace_ring in DWARF); use --graph FUNCS for breakpoints instead"
        )
    functions, notrace = _patterns(args.graph_function), _patterns(args.graph_notrace)
    try:
        for patterns in (functions, notrace):
            if len(resolve_functions(image, patterns)) > ring.max_funcs:
                raise UsageError(f"at most {ring.max_funcs} functions per filter")
    except GraphError as exc:
        raise UsageError(str(exc)) from None
    if args.max_graph_depth < 0:
        raise UsageError("--max-graph-depth must be 0 or more")
    return {
        "ftrace": True,
        "ftrace_functions": functions,
        "ftrace_notrace": notrace,
        "ftrace_max_depth": args.max_graph_depth,
    }


def _graph(args: argparse.Namespace, kernel: Path) -> tuple[str, ...]:
    """The function patterns for --graph, checked against the kernel now (exit 2 if none)."""
    if not args.graph:
        return ()
    from tracer.image import ElfImage
    from tracer.probes.funcgraph import GraphError, graph_functions

    patterns = tuple(p.strip() for p in args.graph.split(",") if p.strip())
    try:
        graph_functions(ElfImage.open(kernel), list(patterns), args.graph_large)
    except GraphError as exc:
        raise UsageError(str(exc)) from None
    return patterns


def _exit_status(result: Any, signalled: BaseException | None = None) -> int:
    from tracer.capture import CaptureTerminated

    if isinstance(signalled, CaptureTerminated) or result.reason == "terminated":
        return EXIT_TERMINATED
    if signalled is not None or result.reason == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if result.failure() else EXIT_OK


def _summary(result: Any, status: int) -> dict[str, Any]:
    stats = result.stats
    return {
        "ok": status == EXIT_OK,
        "exit_status": status,
        "output": str(result.output),
        "events": stats.events,
        "syscalls": stats.syscalls,
        "stops": stats.hits,
        "seconds": round(stats.elapsed, 3),
        "armed": stats.armed or None,
        "phases": stats.phases,
        "reason": result.reason,
        "guest_status": result.guest_status,
        "programs": [p.to_json() for p in result.programs],
        "program_status": result.program_status,
        "error": result.error,
        "failure": result.failure(),
        "agent_records": stats.agent_written,
        "records_received": stats.records,
        "lost": stats.lost,
    }


def run(args: argparse.Namespace) -> int:
    from tracer.capture import CaptureInterrupted, capture
    from tracer.commands.progress import CaptureProgress
    from tracer.image import ImageError
    from tracer.store import TraceFileError
    from tracer.target.errors import TargetError

    try:
        options = build_options(args)
    except UsageError as exc:
        if args.json:
            print(json.dumps({"ok": False, "exit_status": EXIT_USAGE, "error": str(exc)}))
        raise
    show = not args.quiet and not args.json and sys.stderr.isatty()
    signalled: CaptureInterrupted | None = None
    try:
        with CaptureProgress(enabled=show) as progress:
            result = capture(options, progress=progress.update)
    except CaptureInterrupted as exc:  # the trace is complete: report it, exit 130 or 143
        result, signalled = exc.result, exc
    except (ImageError, TraceFileError, FileExistsError) as exc:
        return _early_failure(args, str(exc), EXIT_USAGE)
    except (TargetError, OSError) as exc:
        return _early_failure(args, str(exc), EXIT_FAILURE)
    status = _exit_status(result, signalled)
    if args.json:
        print(json.dumps(_summary(result, status)))
    failure = result.failure()
    if failure:
        kept = f"; {result.stats.events} events kept in {result.output}"
        fail(failure + kept, status)
    elif not args.quiet and not args.json:
        status_text = _program_statuses(result)
        print(
            f"{result.stats.events} events ({result.stats.syscalls} syscalls, "
            f"{result.stats.hits} stops{_armed(result.stats.armed)}) in "
            f"{result.stats.elapsed:.2f} s -> {result.output} [{result.reason}{status_text}]",
            file=sys.stderr,
        )
    return status


def _armed(armed: str) -> str:
    return f", probes armed {armed}" if armed else ""


def _program_statuses(result: Any) -> str:
    """`, hello exited 0, crash killed` for the summary line."""
    parts = []
    for program in result.programs:
        if program.pid is None:
            parts.append(f"{program.path.name} did not run")
        elif program.status is None:
            parts.append(f"{program.path.name} did not exit")
        else:
            parts.append(f"{program.path.name} exited {program.status}")
    return "".join(f", {part}" for part in parts)


def _early_failure(args: argparse.Namespace, message: str, status: int) -> int:
    """The capture could not start (no trace, or an empty one): one line, and JSON if asked."""
    if args.json:
        print(json.dumps({"ok": False, "exit_status": status, "error": message}))
    return fail(message, status)


__all__ = ["add_parser", "build_options", "run"]
