"""The arguments of `tracer capture` (and of `tracer tui`'s live mode): what to boot, when to
stop, and the function graph."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any


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


def add_capture_arguments(p: Any) -> None:
    """Every capture option, on parser `p`."""
    _add_machine_arguments(p)
    _add_limit_arguments(p)
    _add_graph_arguments(p)


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
        "--no-watch",
        dest="watch",
        action="store_false",
        help="syscalls by breakpoints only: no watchpoints on each thread's syscall frame "
        "(on one CPU they are the fast way: QEMU re-translates the guest after every "
        "breakpoint stop, not after a watchpoint's)",
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
