"""Boot a kernel under QEMU with static x86-64 programs and record every syscall, MSR write and
segment-base change to a trace file."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

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


class _ProgramAction(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        programs = list(getattr(namespace, "programs", None) or [])
        programs.append([values, []])
        namespace.programs = programs


class _ArgsAction(argparse.Action):
    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None
    ) -> None:
        programs = getattr(namespace, "programs", None)
        if not programs:
            parser.error("--args must follow a --program")
        programs[-1][1].extend(shlex.split(values))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("capture", help="boot the guest and record a trace", description=__doc__)
    _add_machine_arguments(p)
    _add_limit_arguments(p)
    _add_graph_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=run, programs=None)


def _add_machine_arguments(p: Any) -> None:
    """What to boot: the kernel, its programs, the machine."""
    p.add_argument(
        "--kernel",
        type=Path,
        help="kernel ELF with symbols (default: built-in guest), or a Linux vmlinux (booted "
        "through its PVH note) or bzImage",
    )
    p.add_argument("--boot-image", type=Path, help="what QEMU boots if not the ELF itself")
    p.add_argument(
        "--symbols",
        type=Path,
        help="a Linux bzImage's symbols: its vmlinux, a System.map or a /proc/kallsyms dump "
        "(without: one boot dumps /proc/kallsyms, cached by the image's hash)",
    )
    p.add_argument("--initrd", type=Path, help="your own initramfs for a Linux kernel")
    p.add_argument("--smp", type=int, default=1, help="vCPUs, 1 to 4 (default 1)")
    p.add_argument(
        "--vdso",
        action="store_true",
        help="record vDSO calls (clock_gettime, gettimeofday, time, getcpu): user-side calls "
        "that cross no boundary, found through each process's AT_SYSINFO_EHDR",
    )
    p.add_argument(
        "--cpu", default="max", help="QEMU CPU model (e.g. Skylake-Client: Intel, PTI on)"
    )
    p.add_argument("--cmdline", default=None, help="kernel command line")
    p.add_argument(
        "--from-boot",
        action="store_true",
        help="Linux: arm the probes as soon as the kernel has set LSTAR, not at /init's first "
        "syscall (kernel threads' events too; every stop costs 8-10 ms under TCG)",
    )
    p.add_argument(
        "--program",
        action=_ProgramAction,
        metavar="PATH",
        dest="programs",
        help="a static x86-64 executable to run (repeatable)",
    )
    p.add_argument(
        "--args",
        action=_ArgsAction,
        metavar="'ARGS'",
        help="arguments for the preceding --program (one shell-quoted string)",
    )


def _add_limit_arguments(p: Any) -> None:
    """Where the trace goes, which probes, and when the capture ends."""
    p.add_argument("-o", "--output", type=Path, default=Path("trace.db"))
    p.add_argument(
        "--probes",
        default=None,
        help="comma-separated: syscall, msr, segbase, irq, sched (default: all; on a Linux "
        "kernel syscall,msr,segbase: each of its timer interrupts would be a stop)",
    )
    p.add_argument(
        "--mode",
        choices=("default", "exhaustive"),
        default="default",
        help="default: ~2 stops per syscall; exhaustive: stop at every site",
    )
    p.add_argument(
        "--until",
        default="exit",
        help="exit (guest powers off) or syscall:NAME (stop at the first such call)",
    )
    p.add_argument("--max-events", type=int, default=None)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole capture")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="seconds without progress (a syscall, MSR write, process start or "
        "exit; timer interrupts do not count) before the guest is declared hung",
    )
    p.add_argument(
        "--start-timeout",
        type=float,
        default=10.0,
        help="seconds for QEMU's gdbstub socket to appear",
    )
    p.add_argument("--icount", default=None, help="QEMU -icount value, e.g. shift=0")
    p.add_argument(
        "--accel",
        choices=("tcg", "kvm"),
        default="tcg",
        help="QEMU accelerator (default tcg; kvm only if /dev/kvm is usable)",
    )
    p.add_argument("--memory", type=int, default=256, help="guest memory in MiB")


def _add_graph_arguments(p: Any) -> None:
    """The function graph, MSR reads and output."""
    p.add_argument(
        "--no-msr-read",
        action="store_true",
        help="skip the on-demand rdmsr snapshot at the first syscall",
    )
    p.add_argument(
        "--graph",
        default=None,
        metavar="FUNCS",
        help="function graph by breakpoints for these functions (comma-separated "
        "shell patterns, e.g. 'do_syscall_64,sys_*')",
    )
    p.add_argument(
        "--graph-large",
        action="store_true",
        help=f"allow a breakpoint graph of more than {40} functions (slow)",
    )
    p.add_argument(
        "--ftrace",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="function graph from the guest's own ring buffer (-pg -mfentry "
        "instrumentation), drained in bulk at syscall stops (default: on when the kernel "
        "has the ring and --graph is not given)",
    )
    p.add_argument(
        "--graph-function",
        default="",
        metavar="FUNCS",
        help="with --ftrace: only graph inside these functions (set_graph_function)",
    )
    p.add_argument(
        "--graph-notrace",
        default="",
        metavar="FUNCS",
        help="nothing recorded inside these functions (set_graph_notrace), "
        "with --ftrace or --graph",
    )
    p.add_argument(
        "--max-graph-depth",
        type=int,
        default=0,
        help="with --ftrace: max_graph_depth (0: unlimited)",
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
    cmdline = args.cmdline if args.cmdline is not None else ""
    return CaptureOptions(
        kernel=kernel,
        boot_image=boot_image,
        programs=programs,
        output=args.output,
        cmdline=cmdline,
        probes=probes,
        mode=Mode(args.mode),
        until=args.until,
        max_events=args.max_events,
        timeout=args.timeout,
        idle_timeout=args.idle_timeout,
        icount=args.icount,
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


def _exit_status(result: Any) -> int:
    if result.reason == "interrupted":
        return EXIT_INTERRUPTED
    if result.reason == "terminated":
        return EXIT_TERMINATED
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
    from tracer.capture import capture
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
    try:
        with CaptureProgress(enabled=show) as progress:
            result = capture(options, progress=progress.update)
    except (ImageError, TraceFileError, FileExistsError) as exc:
        return _early_failure(args, str(exc), EXIT_USAGE)
    except (TargetError, OSError) as exc:
        return _early_failure(args, str(exc), EXIT_FAILURE)
    status = _exit_status(result)
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
