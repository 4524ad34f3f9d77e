"""Synthetic traces for benchmarks and tests: plausible events in bulk, from a seed.

Mostly syscalls with swapgs around them, now and then an MSR write, a process start, a note or
a gap; the same seed gives the same events.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from tracer.decode.msr import MSR_FS_BASE
from tracer.decode.syscall_table import SYSCALLS
from tracer.events import (
    Event,
    Gap,
    MsrWrite,
    Note,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SyscallEntry,
    SyscallExit,
)
from tracer.store.writer import TraceWriter

PT_REGS = (
    "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss"
).split()
_SYSCALL_NAMES = frozenset(
    "read write mmap brk getpid exit arch_prctl set_tid_address exit_group getrandom".split()
)
_SYSCALL_NRS = tuple(nr for nr, spec in SYSCALLS.items() if spec.name in _SYSCALL_NAMES)
_KERNEL_GS = 0xFFFF_8880_0F00_0000
_USER_FS = 0x4C_8380


def synthetic_events(count: int, seed: int = 0, cpus: int = 2) -> Iterator[Event]:
    """`count` plausible events (seq 0.., time increasing): mostly syscalls with swapgs around
    them, now and then an MSR write, a process start, a note or a gap."""
    rng = random.Random(seed)
    seq = 0
    time_ns = 0

    def stamp() -> tuple[int, int]:
        nonlocal seq, time_ns
        seq += 1
        time_ns += rng.randrange(200, 3000)
        return seq - 1, time_ns

    while seq < count:
        cpu = rng.randrange(cpus)
        pid = rng.choice((1, 2, 3, 7))
        roll = rng.random()
        if roll < 0.002:
            batch: list[Event] = [_rare_event(rng, *stamp(), cpu, pid)]
        else:
            batch = _syscall_events(rng, stamp, cpu, pid)
        yield from batch[: count - seq + len(batch)]


def _rare_event(rng: random.Random, seq: int, time_ns: int, cpu: int, pid: int) -> Event:
    roll = rng.randrange(4)
    if roll == 0:
        return MsrWrite(seq, time_ns, cpu, pid, MSR_FS_BASE, rng.getrandbits(64), _USER_FS, 0)
    if roll == 1:
        return ProcessEvent(seq, time_ns, cpu, pid, 0x1000 * pid, "start", f"prog{pid}")
    if roll == 2:
        return Note(seq, time_ns, f"checkpoint at {time_ns} ns", "info")
    return Gap(seq, time_ns, "lost batch", rng.randrange(1, 50))


def _syscall_events(
    rng: random.Random, stamp: Callable[[], tuple[int, int]], cpu: int, pid: int
) -> list[Event]:
    nr = rng.choice(_SYSCALL_NRS)
    args = tuple(rng.choice((0, 1, 4096, rng.getrandbits(47))) for _ in range(6))
    regs = tuple((name, rng.getrandbits(rng.choice((8, 47, 64)))) for name in PT_REGS)
    kernel_bases = SegBases(_USER_FS, _KERNEL_GS + cpu, 0)
    user_rip, user_rsp = 0x40_1000 + rng.getrandbits(16), 0x7FFC_0000_0000 + rng.getrandbits(20)
    memory: Any = ((0, b"/proc/self/exe\x00"),) if SYSCALLS[nr].name == "read" else ()
    entry_seq, entry_time = stamp()
    swapgs_in = SegBaseChange(
        entry_seq, entry_time, cpu, pid, "gs", 0, _KERNEL_GS + cpu, SegCause.SWAPGS,
        0xFFFF_FFFF_8100_0010, inferred=True,
    )  # fmt: skip
    entry = SyscallEntry(
        *stamp(), cpu, pid, 0x1000 * pid, nr, args, user_rip, user_rsp, 0x246,  # type: ignore[arg-type]
        0xFFFF_C900_0000_3F58, regs, kernel_bases, 0xFFFF_FFFF_8100_0080, memory,
    )  # fmt: skip
    ret = rng.choice((0, 3, 4096, (1 << 64) - 2))
    exit_ = SyscallExit(
        *stamp(), cpu, pid, 0x1000 * pid, nr, ret, entry.seq, user_rip, user_rsp, 0x246,
        regs, kernel_bases, 0xFFFF_FFFF_8100_0100,
    )  # fmt: skip
    swapgs_out = SegBaseChange(
        *stamp(), cpu, pid, "gs", _KERNEL_GS + cpu, 0, SegCause.SWAPGS,
        0xFFFF_FFFF_8100_0110, inferred=True,
    )  # fmt: skip
    return [swapgs_in, entry, exit_, swapgs_out]


def write_synthetic(
    path: str | os.PathLike[str],
    count: int,
    seed: int = 0,
    source: str = "tracer.bench",
    analyse: bool = True,
) -> None:
    """A trace file of `count` synthetic events (replaced if it exists); without `analyse`,
    as an older tracer wrote it (no stored owners or findings)."""
    with TraceWriter(path, {"source": source}, overwrite=True, analyse=analyse) as writer:
        for event in synthetic_events(count, seed):
            writer.append(event)


@contextlib.contextmanager
def bench_trace_path(path: str | None, keep: bool = False) -> Iterator[str]:
    """`path`, or a trace file in a new temporary folder, removed on leaving (unless `keep`)."""
    if path is not None:
        yield path
        return
    folder = tempfile.mkdtemp(prefix="tracer-bench-")
    try:
        yield os.path.join(folder, "bench.db")
    finally:
        if keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder)


def trace_file_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every synthetic-trace benchmark takes: how many events, and which file."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--path", help="trace file (written unless --reuse); default: temp file")
    parser.add_argument("--reuse", action="store_true", help="read --path as it is")
    return parser
