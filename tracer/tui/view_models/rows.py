"""One timeline row per event: time, CPU, process, kind and an strace-style summary."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.analysis.marks import is_flagged
from tracer.decode.msr import describe_msr, msr_name
from tracer.decode.strace import format_return, syscall_name
from tracer.decode.x86 import BASE_NAMES
from tracer.events import (
    ContextSwitch,
    Event,
    FuncEntry,
    FuncExit,
    Gap,
    Interrupt,
    MsrRead,
    MsrWrite,
    Note,
    ProcessEvent,
    SegBaseChange,
    SegCause,
    Symbolizer,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
    VdsoCall,
)
from tracer.export.labels import syscall_line, vdso_line
from tracer.tui.view_models.trace_index import TraceIndex, event_pid

NO_SYSCALL = 1 << 63
"""An exit whose nr is -1: the capture saw a return to user space with no syscall in flight."""
KIND_LABELS = {
    "syscall_entry": "entry",
    "syscall_exit": "exit",
    "msr_write": "wrmsr",
    "msr_read": "rdmsr",
    "segbase": "segbase",
    "process": "process",
    "context_switch": "switch",
    "interrupt": "irq",
    "tls_snapshot": "tls",
    "func_entry": "func",
    "func_exit": "func",
    "vdso_call": "vdso",
    "gap": "GAP",
    "note": "note",
}


@dataclass(frozen=True, slots=True)
class TimelineRow:
    seq: int
    time: str
    cpu: str
    process: str
    kind: str
    summary: str
    style: str  # which colour: entry, exit, error, msr, segbase, process, gap, note, warning
    flagged: bool = False  # a gap, a warning, a base change with no known cause
    swapgs: bool = False  # inferred swapgs rows folded into this crossing

    @property
    def text(self) -> str:
        """What text search and text filters look at."""
        return f"{self.time} cpu{self.cpu} {self.process} {self.kind} {self.summary}"


def msr_detail(msr: int, value: int, symbolize: Symbolizer | None) -> str:
    """describe_msr without the value it starts with: "SCE|LME", "entry_SYSCALL_64"."""
    text = describe_msr(msr, value, symbolize)
    head = f"{value:#x}"
    if text.startswith(head):
        text = text[len(head) :].strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    return text


def format_time(time_ns: int) -> str:
    """Seconds since the capture started, to the microsecond."""
    return f"{time_ns / 1e9:.6f}"


def syscall_text(entry: SyscallEntry | None, exit_: SyscallExit | None) -> str:
    """The strace line for a call: `write(1, "hi\\n", 3) = 3`; half known, half shown."""
    if entry is not None:
        return syscall_line(entry, exit_)
    assert exit_ is not None
    if exit_.nr >= NO_SYSCALL:
        return "return to user space (no syscall in flight: a new process's first iretq)"
    return f"<... {syscall_name(exit_.nr)} resumed> = {format_return(exit_.nr, exit_.ret)}"


def _interrupt_text(event: Interrupt) -> str:
    text = f"{event.name or f'vector {event.vector}'} {event.action} from ring {event.from_ring}"
    text += f" rip={event.rip:#x}"
    if event.error_code is not None:
        text += f" error={event.error_code:#x}"
    if event.cr2 is not None:
        text += f" cr2={event.cr2:#x}"
    return text


def _tls_text(event: TlsSnapshot) -> str:
    owner = f" {event.owner}" if event.owner else ""
    return (
        f"FS {event.fs_base:#x}{owner}: {event.self_pointer_text}, {len(event.variables)} variables"
    )


def summarize(
    event: Event, entry: SyscallEntry | None = None, symbolize: Symbolizer | None = None
) -> tuple[str, str]:
    """(summary, style) of one event; `entry` is the call an exit returns from, if known."""
    if isinstance(event, SyscallEntry):
        text = syscall_text(event, None)
        return (text[: -len(" = ?")] if text.endswith(" = ?") else text), "entry"
    if isinstance(event, SyscallExit):
        style = "error" if -4096 < event.ret_signed < 0 else "exit"
        return syscall_text(entry, event), style
    if isinstance(event, MsrWrite):
        old = "?" if event.old is None else f"{event.old:#x}"
        desc = msr_detail(event.msr, event.new, None)
        return f"{msr_name(event.msr)} {old} -> {event.new:#x}  {desc}".rstrip(), "msr"
    if isinstance(event, MsrRead):
        desc = msr_detail(event.msr, event.value, None)
        return f"{msr_name(event.msr)} = {event.value:#x}  {desc}".rstrip(), "msr"
    if isinstance(event, SegBaseChange):
        how = ", inferred" if event.inferred else ""
        text = f"{BASE_NAMES[event.which]} {event.old:#x} -> {event.new:#x}  ({event.cause}{how})"
        if event.old_owner or event.new_owner:
            text += f"  {event.old_owner or '?'} -> {event.new_owner or '?'}"
        return text, "warning" if event.cause == SegCause.UNKNOWN else "segbase"
    if isinstance(event, ContextSwitch):
        return (
            f"{event.prev_name}:{event.prev_pid} => {event.next_name}:{event.next_pid}",
            "process",
        )
    if isinstance(event, Interrupt):
        return _interrupt_text(event), "interrupt"
    if isinstance(event, TlsSnapshot):
        return _tls_text(event), "warning" if is_flagged(event) else "segbase"
    if isinstance(event, FuncEntry | FuncExit):
        name = symbolize(event.addr) if symbolize else None
        name = name or f"{event.addr:#x}"
        indent = "  " * max(0, event.depth)
        if isinstance(event, FuncEntry):
            return f"{indent}{name}() {{", "func"
        ret = f" = {event.retval:#x}" if event.retval is not None else ""
        return f"{indent}}} /* {name} */{ret}", "func"
    if isinstance(event, ProcessEvent):
        if event.action == "start":
            return f"start {event.name} cr3={event.cr3:#x}", "process"
        return f"exit {event.name} status {event.status}", "process"
    if isinstance(event, VdsoCall):
        return vdso_line(event), "func"
    if isinstance(event, Gap):
        lost = f" ({event.count} events lost)" if event.count else ""
        return f"{event.reason}{lost}", "gap"
    assert isinstance(event, Note)
    style = "note" if event.level == "info" else ("gap" if event.level == "error" else "warning")
    return (event.text if event.level == "info" else f"{event.level}: {event.text}"), style


def timeline_row(
    event: Event,
    index: TraceIndex,
    entry: SyscallEntry | None = None,
    symbolize: Symbolizer | None = None,
) -> TimelineRow:
    try:
        summary, style = summarize(event, entry, symbolize)
    except Exception as exc:  # one odd event must not take the whole timeline down
        summary, style = f"cannot format this event: {type(exc).__name__}: {exc}", "warning"
    cpu = getattr(event, "cpu", None)
    pid = event_pid(event)
    return TimelineRow(
        seq=event.seq,
        time=format_time(event.time_ns),
        cpu="" if cpu is None else str(cpu),
        process=index.process_label(pid),
        kind=KIND_LABELS.get(event.kind.value, event.kind.value),
        summary=summary,
        style=style,
        flagged=is_flagged(event),
    )
