"""Soak benchmark: the syscall fuzzer under capture for N minutes, in one capture.

    python -m tracer.bench.soak --minutes 10 [--sample 5] [--output soak.db] [--json]

Prints, every sample: agent records, events and syscalls so far, the rate, and the resident
memory of the tracer process and of gdb (QEMU's too, for reference). The capture runs as
`tracer capture` does (its records' events built in batches); at the end: events captured; events
lost, counted three ways (agent records written to the pipe but never received; syscall
entries without their exit or exits without their entry; for every fuzzer run that finished,
the syscalls it says it made against those traced for it); and memory over time (peak, the
first minute against the last). Not a test: a measurement to run by hand or in a nightly job.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from tracer.capture import CaptureOptions, CaptureResult, CaptureStats, Program, capture
from tracer.capture.control import CaptureInterrupted
from tracer.decode.syscall_table import NR_EXIT, NR_EXIT_GROUP
from tracer.events import Event, SyscallEntry, SyscallExit
from tracer.guest import BUILTIN_KERNEL, builtin_program, ensure_guest_built, find_boot_image
from tracer.store import TraceReader
from tracer.target.protocol import Target

MAX_MODULES = 16  # the built-in guest's multiboot module limit
ASSUMED_SYSCALLS_PER_S = 1500  # generous: the runs must outlast the soak, not end before it
EXIT_SYSCALLS = {NR_EXIT, NR_EXIT_GROUP}
NO_SYSCALL = (1 << 64) - 1  # orig_ax of a pt_regs not built by a syscall
FUZZER_DONE = re.compile(
    r"fuzzer: done: (\d+) ok, (\d+) EFAULT, (\d+) EINVAL, (\d+) ENOSYS, (\d+) other errors"
)


def rss_mb(pid: int | str) -> float | None:
    """Resident set size of a process in MiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Sample:
    seconds: float
    records: int  # from the agent; their events are built in batches (`CaptureLoop.hold_limit`)
    events: int
    syscalls: int
    tracer_mb: float | None
    gdb_mb: float | None
    qemu_mb: float | None


@dataclass
class Pairing:
    """Syscall entries and exits matched per process, read back from the trace."""

    pending: dict[int, SyscallEntry] = field(default_factory=dict)
    per_pid: dict[int, int] = field(default_factory=dict)
    entries_without_exit: int = 0
    exits_without_entry: int = 0
    # A new process's first return to user (pt_regs orig_ax -1) reported as a syscall exit:
    # the agent still held the previous process's exit_group under the same, reused CR3.
    # Not a lost event; counted apart so the loss figures stay honest.
    stale_exits: int = 0

    def see(self, event: Event) -> None:
        if isinstance(event, SyscallEntry):
            before = self.pending.pop(event.pid, None)
            if before is not None and before.nr not in EXIT_SYSCALLS:
                self.entries_without_exit += 1
            self.pending[event.pid] = event
            self.per_pid[event.pid] = self.per_pid.get(event.pid, 0) + 1
        elif isinstance(event, SyscallExit):
            entry = self.pending.pop(event.pid, None)
            if entry is None or event.entry_seq is None:
                if event.nr == NO_SYSCALL:
                    self.stale_exits += 1
                else:
                    self.exits_without_entry += 1


class Soak:
    def __init__(self, sample_every: float, out: TextIO = sys.stdout) -> None:
        self.sample_every = sample_every
        self.samples: list[Sample] = []
        self.pairing = Pairing()
        self.gdb_pid: int | None = None
        self.qemu_pid: int | None = None
        self.last_sample = 0.0
        self.out = out

    def started(self, target: Target) -> None:
        self.gdb_pid = target.gdb_pid
        self.qemu_pid = target.qemu_pid

    def progress(self, stats: CaptureStats) -> None:
        now = stats.elapsed
        if self.samples and now - self.last_sample < self.sample_every:
            return
        self.last_sample = now
        sample = Sample(
            round(now, 1),
            stats.records,
            stats.events,
            stats.syscalls,
            rss_mb("self"),
            rss_mb(self.gdb_pid) if self.gdb_pid else None,
            rss_mb(self.qemu_pid) if self.qemu_pid else None,
        )
        self.samples.append(sample)
        rate = stats.records / now if now > 0 else 0.0
        print(
            f"{sample.seconds:8.1f} s {sample.records:9d} records {rate:6.0f}/s "
            f"{sample.events:10d} events {sample.syscalls:9d} syscalls  "
            f"tracer {_mb(sample.tracer_mb)}  gdb {_mb(sample.gdb_mb)}  "
            f"qemu {_mb(sample.qemu_mb)}",
            file=self.out,
            flush=True,
        )


def _mb(value: float | None) -> str:
    return "   -   " if value is None else f"{value:6.1f}M"


def fuzzer_runs(console: str) -> list[int]:
    """The syscalls each finished fuzzer run says it made, in run order."""
    return [sum(int(n) for n in m.groups()) for m in FUZZER_DONE.finditer(console)]


def memory_trend(samples: Sequence[Sample], attr: str) -> dict[str, float | None]:
    """Peak, and the mean of the first and of the last minute (flat: they agree)."""
    values = [(s.seconds, getattr(s, attr)) for s in samples if getattr(s, attr) is not None]
    if not values:
        return {"peak": None, "first_minute": None, "last_minute": None}
    end = values[-1][0]
    first = [v for t, v in values if t <= 60] or [values[0][1]]
    last = [v for t, v in values if t >= end - 60] or [values[-1][1]]
    return {
        "peak": round(max(v for _, v in values), 1),
        "first_minute": round(sum(first) / len(first), 1),
        "last_minute": round(sum(last) / len(last), 1),
    }


def build_options(minutes: float, output: Path, count: int | None) -> CaptureOptions:
    ensure_guest_built()
    seconds = minutes * 60
    per_run = count or max(5000, int(seconds * ASSUMED_SYSCALLS_PER_S / MAX_MODULES))
    fuzzer = builtin_program("fuzzer")
    programs = [Program(fuzzer, (str(per_run), str(seed))) for seed in range(1, MAX_MODULES + 1)]
    return CaptureOptions(
        kernel=BUILTIN_KERNEL,
        boot_image=find_boot_image(BUILTIN_KERNEL),
        programs=programs,
        output=output,
        read_msrs=False,
        timeout=seconds,
        idle_timeout=60.0,
    )


def summarize(result: CaptureResult, soak: Soak) -> dict[str, object]:
    stats = result.stats
    runs = fuzzer_runs(result.console)
    compared = []
    for pid, fuzzed in enumerate(runs, start=1):
        traced = soak.pairing.per_pid.get(pid, 0)
        compared.append(
            {"pid": pid, "fuzzer_says": fuzzed, "traced": traced, "ok": traced >= fuzzed}
        )
    return {
        "seconds": round(stats.elapsed, 1),
        "end": result.reason,
        "error": result.error,
        "events": stats.events,
        "syscalls": stats.syscalls,
        "stops": stats.hits,
        "syscalls_per_s": round(stats.syscalls / stats.elapsed, 1) if stats.elapsed else 0.0,
        "agent_records_written": stats.agent_written,
        "agent_records_received": stats.records,
        "lost_agent_records": stats.lost,
        "entries_without_exit": soak.pairing.entries_without_exit,
        "exits_without_entry": soak.pairing.exits_without_entry,
        "stale_exits_at_process_start": soak.pairing.stale_exits,
        "finished_fuzzer_runs": compared,
        "memory_mb": {
            "tracer": memory_trend(soak.samples, "tracer_mb"),
            "gdb": memory_trend(soak.samples, "gdb_mb"),
            "qemu": memory_trend(soak.samples, "qemu_mb"),
        },
        "samples": [asdict(s) for s in soak.samples],
    }


def print_summary(summary: dict[str, object]) -> None:
    print()
    print(
        f"captured {summary['events']} events, {summary['syscalls']} syscalls "
        f"({summary['syscalls_per_s']}/s) in {summary['seconds']} s [{summary['end']}]"
    )
    print(
        f"lost: agent records {summary['lost_agent_records']} "
        f"(written {summary['agent_records_written']}, "
        f"received {summary['agent_records_received']}); "
        f"entries without exit {summary['entries_without_exit']}, "
        f"exits without entry {summary['exits_without_entry']}"
    )
    if summary["stale_exits_at_process_start"]:
        print(
            f"not lost, but spurious: {summary['stale_exits_at_process_start']} exit(s) at a "
            "new process's first return to user (stale in-flight entry on a reused CR3)"
        )
    runs = summary["finished_fuzzer_runs"]
    assert isinstance(runs, list)
    for run in runs:
        print(
            f"fuzzer run pid {run['pid']}: it made {run['fuzzer_says']} fuzzed syscalls, "
            f"the tracer saw {run['traced']} (the rest are its libc start-up and fix-ups)"
            + ("" if run["ok"] else "  <-- FEWER: lost")
        )
    memory = summary["memory_mb"]
    assert isinstance(memory, dict)
    for who, trend in memory.items():
        print(
            f"memory {who:6}: peak {trend['peak']} MiB, first minute {trend['first_minute']} "
            f"MiB, last minute {trend['last_minute']} MiB"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tracer.bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="syscalls per fuzzer run (default: enough to outlast the soak)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="keep the trace here (default: a temporary file, removed)",
    )
    parser.add_argument("--json", action="store_true", help="the summary as JSON at the end")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.sample <= 0:
        parser.error("--minutes and --sample must be positive")
    scratch = None
    output = args.output
    if output is None:
        scratch = Path(tempfile.mkdtemp(prefix="tracer-soak-"))
        output = scratch / "soak.db"
    try:
        options = build_options(args.minutes, output, args.count)
        soak = Soak(args.sample)
        print(
            f"soak: {len(options.programs)} fuzzer runs of {options.programs[0].args[0]} "
            f"syscalls for {args.minutes:g} min -> {output}",
            flush=True,
        )
        started = time.monotonic()
        # As `tracer capture` runs it: nothing watches the events as they come, so the
        # records wait in batches (`CaptureLoop.hold_limit`); the pairs are checked in the file.
        try:
            result = capture(options, progress=soak.progress, on_start=soak.started)
        except CaptureInterrupted as stopped:  # Ctrl-C: the figures so far, then stop
            result = stopped.result
        soak.progress(result.stats)  # a last sample at the end
        with TraceReader.open(output) as reader:
            for event in reader.events(kinds=("syscall_entry", "syscall_exit")):
                soak.pairing.see(event)
        summary = summarize(result, soak)
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        print_summary(summary)
        if args.json:
            print(json.dumps(summary))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    lost = (
        (result.stats.lost or 0)
        + soak.pairing.entries_without_exit
        + soak.pairing.exits_without_entry
    )
    return 0 if result.error is None and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
