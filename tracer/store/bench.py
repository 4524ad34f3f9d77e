"""Trace-file benchmark: write a synthetic trace, then time what a viewer does first.

    python -m tracer.store.bench [--events 1000000] [--path trace.db [--reuse]] [--keep]

Prints figures only; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from tracer.events import (
    Event,
    EventKind,
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
from tracer.store.reader import TraceReader
from tracer.store.writer import TraceWriter

PT_REGS = (
    "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss"
).split()
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
        return MsrWrite(seq, time_ns, cpu, pid, 0xC000_0100, rng.getrandbits(64), _USER_FS, 0)
    if roll == 1:
        return ProcessEvent(seq, time_ns, cpu, pid, 0x1000 * pid, "start", f"prog{pid}")
    if roll == 2:
        return Note(seq, time_ns, f"checkpoint at {time_ns} ns", "info")
    return Gap(seq, time_ns, "lost batch", rng.randrange(1, 50))


def _syscall_events(
    rng: random.Random, stamp: Callable[[], tuple[int, int]], cpu: int, pid: int
) -> list[Event]:
    nr = rng.choice((0, 1, 9, 12, 39, 60, 158, 218, 231, 318))
    args = tuple(rng.choice((0, 1, 4096, rng.getrandbits(47))) for _ in range(6))
    regs = tuple((name, rng.getrandbits(rng.choice((8, 47, 64)))) for name in PT_REGS)
    kernel_bases = SegBases(_USER_FS, _KERNEL_GS + cpu, 0)
    user_rip, user_rsp = 0x40_1000 + rng.getrandbits(16), 0x7FFC_0000_0000 + rng.getrandbits(20)
    memory: Any = ((0, b"/proc/self/exe\x00"),) if nr == 0 else ()
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


def _timed(label: str, action: Callable[[], Any], note: Callable[[Any], str] = str) -> Any:
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    print(f"  {label:<38} {elapsed * 1000:10.1f} ms   {note(result)}")
    return result


def run(count: int, path: str, write: bool = True) -> None:
    if write:
        print(f"writing {count:,} synthetic events to {path}")
        start = time.perf_counter()
        with TraceWriter(path, {"source": "tracer.store.bench"}, overwrite=True) as writer:
            for event in synthetic_events(count):
                writer.append(event)
        elapsed = time.perf_counter() - start
        size = os.path.getsize(path)
        print(f"  write + close {elapsed:8.2f} s   {count / elapsed:,.0f} events/s")
        print(f"  file size     {size / 1e6:8.1f} MB  {size / count:,.0f} bytes/event")
    print(f"reading {path}")
    reader = _timed("open", lambda: TraceReader.open(path), lambda r: f"schema v{r.schema_version}")
    with reader:
        _time_reads(reader)


def _time_reads(reader: TraceReader) -> None:
    total = _timed("count()", reader.count)
    _timed("page(0, 100)", lambda: reader.page(0, 100), _seqs)
    _timed("page(last 100)", lambda: reader.page(max(0, total - 100), 100), _seqs)
    exits = EventKind.SYSCALL_EXIT
    n_exits = _timed("count(kinds=syscall_exit)", lambda: reader.count(kinds=exits))
    _timed(
        "page(last 100, syscall_exit), cold",
        lambda: reader.page(max(0, n_exits - 100), 100, kinds=exits),
        _seqs,
    )
    _timed(
        "page(last-1 100, syscall_exit), warm",
        lambda: reader.page(max(0, n_exits - 200), 100, kinds=exits),
        _seqs,
    )
    rare = (EventKind.MSR_WRITE, EventKind.PROCESS)
    n_rare = _timed("count(kinds=msr_write|process)", lambda: reader.count(kinds=rare))
    _timed(
        "page(last 10, msr_write|process)",
        lambda: reader.page(max(0, n_rare - 10), 10, kinds=rare),
        _seqs,
    )
    msr = EventKind.MSR_WRITE
    n_msr = _timed("count(kinds=msr_write, cpu=1)", lambda: reader.count(kinds=msr, cpu=1))
    _timed(
        "page(last 10, msr_write, cpu=1)",
        lambda: reader.page(max(0, n_msr - 10), 10, kinds=msr, cpu=1),
        _seqs,
    )
    _timed("count(cpu=1)", lambda: reader.count(cpu=1))
    _timed("count(pid=2, kinds=syscall_exit)", lambda: reader.count(pid=2, kinds=exits))
    middle = _timed("seq_at_time(middle)", lambda: reader.seq_at_time(_middle_time(reader)))
    _timed("index_of(middle, cpu=0, nearest)", lambda: reader.index_of(middle, cpu=0, nearest=True))
    _timed(
        "kinds(), cpus(), pids()",
        lambda: (reader.kinds(), reader.cpus(), reader.pids()),
        lambda found: f"{len(found[0])} kinds, cpus {found[1]}, pids {found[2]}",
    )
    _timed("events(): stream 100,000", lambda: sum(1 for _ in reader.events(limit=100_000)))


def _middle_time(reader: TraceReader) -> int:
    return int(reader.meta.get("end_time_ns", "0")) // 2


def _seqs(events: list[Event]) -> str:
    return f"seq {events[0].seq}..{events[-1].seq}" if events else "empty"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tracer.store.bench", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--path", help="trace file to write (replaced); default: a temp file")
    parser.add_argument("--keep", action="store_true", help="keep the temp file")
    parser.add_argument("--reuse", action="store_true", help="only read the --path file")
    options = parser.parse_args(argv)
    if options.path:
        run(options.events, options.path, write=not options.reuse)
        return
    tmp = tempfile.mkdtemp(prefix="tracer-bench-")
    try:
        run(options.events, os.path.join(tmp, "bench.db"))
    finally:
        if options.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
