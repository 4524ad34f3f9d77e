"""Text reports built from events: strace-like syscalls, the MSR timeline, segment-base changes.

Pure: events in, lines out. A symbolizer (address -> "func+0x12") is passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tracer.decode.msr import describe_msr, msr_name
from tracer.decode.x86 import BASE_NAMES
from tracer.events import (
    ContextSwitch,
    Event,
    Gap,
    MsrRead,
    MsrWrite,
    Note,
    ProcessEvent,
    SegBaseChange,
    Symbolizer,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
    VdsoCall,
)
from tracer.export.labels import kernel_location, syscall_line, vdso_line


class Names:
    """pid -> program name, learned from process events as they stream by."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def see(self, event: Event) -> None:
        if isinstance(event, ProcessEvent):
            self.names[event.pid] = event.name

    def prefix(self, cpu: int, pid: int) -> str:
        name = self.names.get(pid, "kernel" if pid == 0 else "?")
        return f"[cpu{cpu} {pid}:{name}]"


def strace_lines(events: Iterable[Event]) -> Iterator[str]:
    """One line per syscall, like `strace -f`, with cpu/pid prefixes. An exit goes with the
    entry the tracer matched it to (threads of one process share a pid where no switch probe
    names them); a thread's next entry (its kernel stack, `regs_addr`) ends one that never
    returned (a successful execve)."""
    names = Names()
    pending: dict[int, SyscallEntry] = {}  # entry seq -> entry
    for event in events:
        names.see(event)
        if isinstance(event, SyscallEntry):
            for previous in _same_thread(pending, event):
                yield f"{names.prefix(previous.cpu, previous.pid)} {syscall_line(previous, None)}"
            pending[event.seq] = event
        elif isinstance(event, SyscallExit):
            entry = _entry_of(pending, event)
            if entry is not None:
                yield f"{names.prefix(event.cpu, event.pid)} {syscall_line(entry, event)}"
        elif isinstance(event, ProcessEvent) and event.action == "exit":
            # The exit call just made on this CPU (other threads' calls may still return).
            mine = [s for s, e in pending.items() if e.pid == event.pid and e.cpu == event.cpu]
            if mine:
                entry = pending.pop(mine[-1])
                yield f"{names.prefix(entry.cpu, entry.pid)} {syscall_line(entry, None)}"
            yield f"{names.prefix(event.cpu, event.pid)} +++ exited with {event.status} +++"
        elif isinstance(event, VdsoCall):
            yield f"{names.prefix(event.cpu, event.pid)} {vdso_line(event)}"
        elif isinstance(event, Gap):
            yield f"--- gap: {event.reason} ---"
        elif isinstance(event, Note) and event.level != "info":
            yield f"--- {event.level}: {event.text} ---"
    for entry in pending.values():
        yield f"{names.prefix(entry.cpu, entry.pid)} {syscall_line(entry, None)}"


def _same_thread(pending: dict[int, SyscallEntry], entry: SyscallEntry) -> list[SyscallEntry]:
    """Entries of the thread now entering again (same pid and kernel stack; same pid when the
    frame is unknown): they will not return."""
    seqs = [
        seq
        for seq, e in pending.items()
        if e.pid == entry.pid and (e.regs_addr == entry.regs_addr or not entry.regs_addr)
    ]
    return [pending.pop(seq) for seq in seqs]


def _entry_of(pending: dict[int, SyscallEntry], exit_: SyscallExit) -> SyscallEntry | None:
    if exit_.entry_seq is not None:
        return pending.pop(exit_.entry_seq, None)
    mine = [seq for seq, e in pending.items() if e.pid == exit_.pid]  # no match known: by pid
    return pending.pop(mine[-1]) if mine else None


def msr_lines(
    events: Iterable[Event],
    symbolize: Symbolizer | None = None,
    running: Symbolizer | None = None,
) -> Iterator[str]:
    """Every MSR write (old -> new, decoded, where) and every on-demand read. `symbolize`
    names the pcs (link-time addresses); `running`, if given, the values (addresses where a
    KASLR-moved kernel ran)."""
    values = running or symbolize
    last: dict[int, int] = {}
    for event in events:
        if isinstance(event, MsrWrite):
            old = "?" if event.old is None else f"{event.old:#x}"
            desc = describe_msr(event.msr, event.new, values)
            yield (
                f"[cpu{event.cpu}] {event.time_ns / 1e6:10.3f} ms  wrmsr "
                f"{msr_name(event.msr):15} {old} -> {desc}  "
                f"at {kernel_location(event.pc, symbolize)}"
            )
            last[event.msr] = event.new
        elif isinstance(event, MsrRead):
            agree = ""
            if event.msr in last:
                agree = (
                    "  (= last write)"
                    if last[event.msr] == event.value
                    else (f"  (DIFFERS from last write {last[event.msr]:#x})")
                )
            desc = describe_msr(event.msr, event.value, values)
            yield (
                f"[cpu{event.cpu}] {event.time_ns / 1e6:10.3f} ms  rdmsr "
                f"{msr_name(event.msr):15} = {desc}{agree}"
            )


def segbase_lines(events: Iterable[Event], symbolize: Symbolizer | None = None) -> Iterator[str]:
    """Every FS/GS/KERNEL_GS_BASE change with its cause, and the bases at syscall boundaries."""
    names = Names()
    for event in events:
        names.see(event)
        if isinstance(event, SegBaseChange):
            how = " (inferred)" if event.inferred else ""
            yield (
                f"{names.prefix(event.cpu, event.pid)} {BASE_NAMES[event.which]:15} "
                f"{event.old:#018x} -> {event.new:#018x}  {event.cause.value}{how} "
                f"at {kernel_location(event.pc, symbolize)}"
            )
        elif isinstance(event, SyscallEntry | SyscallExit):
            b = event.bases
            what = "entry" if isinstance(event, SyscallEntry) else "exit "
            yield (
                f"{names.prefix(event.cpu, event.pid)} syscall {what} nr={event.nr:<4} "
                f"fs={b.fs_base:#x} gs={b.gs_base:#x} kgs={b.kernel_gs_base:#x}"
            )


TLS_NAMES = {"fs": "FS", "gs": "GS", "kgs": "KGS"}


def tls_lines(events: Iterable[Event], symbolize: Symbolizer | None = None) -> Iterator[str]:
    """Who owns FS/GS/KGS after each change: `cpu0 syscall_entry FS app-tcb[hello:1] -> ...`."""
    names = Names()
    for event in events:
        names.see(event)
        if isinstance(event, SegBaseChange):
            old = event.old_owner or f"{event.old:#x}"
            new = event.new_owner or f"{event.new:#x}"
            how = " (inferred)" if event.inferred else ""
            where = kernel_location(event.pc, symbolize)
            yield (
                f"cpu{event.cpu} {event.time_ns / 1e6:10.3f} ms {event.pid}:"
                f"{names.names.get(event.pid, 'kernel' if event.pid == 0 else '?'):12} "
                f"{event.cause.value:16} {TLS_NAMES[event.which]:3} {old} -> {new}"
                f"  [{event.old:#x} -> {event.new:#x}]{how} at {where}"
            )
        elif isinstance(event, ContextSwitch):
            yield (
                f"cpu{event.cpu} {event.time_ns / 1e6:10.3f} ms ----- context switch "
                f"{event.prev_name}-{event.prev_pid} => {event.next_name}-{event.next_pid}"
            )
        elif isinstance(event, TlsSnapshot):
            values = ", ".join(f"{n}={'?' if v is None else hex(v)}" for n, v in event.variables)
            yield (
                f"cpu{event.cpu} {event.time_ns / 1e6:10.3f} ms      TLS block at "
                f"{event.fs_base:#x} ({event.owner}): {event.self_pointer_text}"
                + (f"; {values}" if values else "")
            )
