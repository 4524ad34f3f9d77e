"""Every event the tracer records, as frozen dataclasses. No I/O, no third-party imports.

Times are nanoseconds since the capture started (host clock) unless a field says otherwise.
Addresses and register values are unsigned 64-bit integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

SegReg: TypeAlias = Literal["fs", "gs", "kgs"]
"""Which base: FS base, GS base, or KERNEL_GS_BASE (the value swapgs exchanges with GS base)."""

PtRegsValues: TypeAlias = tuple[tuple[str, int], ...]
"""pt_regs as (field, value) pairs in the layout's order (Linux names: r15 ... ss)."""

UserMemory: TypeAlias = tuple[tuple[int, bytes | None], ...]
"""Guest memory read for syscall arguments: (argument index, bytes or None when unreadable)."""

Symbolizer: TypeAlias = Callable[[int], str | None]
"""An address to `symbol+offset`, or None when no symbol covers it."""


class EventKind(StrEnum):
    SYSCALL_ENTRY = "syscall_entry"
    SYSCALL_EXIT = "syscall_exit"
    MSR_WRITE = "msr_write"
    MSR_READ = "msr_read"
    SEGBASE = "segbase"
    PROCESS = "process"
    CONTEXT_SWITCH = "context_switch"
    INTERRUPT = "interrupt"
    TLS_SNAPSHOT = "tls_snapshot"
    FUNC_ENTRY = "func_entry"
    FUNC_EXIT = "func_exit"
    VDSO_CALL = "vdso_call"
    GAP = "gap"
    NOTE = "note"


class SegCause(StrEnum):
    """Why a segment base changed."""

    SWAPGS = "swapgs"
    WRMSR = "wrmsr"
    WRFSBASE = "wrfsbase"
    WRGSBASE = "wrgsbase"
    ARCH_PRCTL = "arch_prctl"
    SYSCALL_ENTRY = "syscall_entry"
    SYSCALL_EXIT = "syscall_exit"
    SYSCALL = "syscall"  # inside one, seen before it returned: an exec's resets at a switch
    CONTEXT_SWITCH = "context_switch"
    INTERRUPT_ENTRY = "interrupt_entry"
    INTERRUPT_EXIT = "interrupt_exit"
    EXCEPTION_ENTRY = "exception_entry"
    EXCEPTION_EXIT = "exception_exit"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SegBases:
    fs_base: int
    gs_base: int
    kernel_gs_base: int

    def get(self, which: SegReg) -> int:
        return {"fs": self.fs_base, "gs": self.gs_base, "kgs": self.kernel_gs_base}[which]


@dataclass(frozen=True, slots=True)
class Stamped:
    """What every event carries first: its place in the trace and the host capture time (ns
    since the capture started)."""

    seq: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class CpuEvent(Stamped):
    """An event that happened on a CPU, in the process that ran there."""

    cpu: int
    pid: int


@dataclass(frozen=True, slots=True)
class SyscallEntry(CpuEvent):
    """The kernel has built pt_regs for a syscall and is about to dispatch it."""

    cr3: int
    nr: int
    args: tuple[int, int, int, int, int, int]
    user_rip: int
    user_rsp: int
    user_rflags: int
    regs_addr: int
    regs: PtRegsValues
    bases: SegBases
    pc: int
    memory: UserMemory = ()
    kind: EventKind = field(default=EventKind.SYSCALL_ENTRY, init=False)

    def reg(self, name: str) -> int | None:
        return _reg(self.regs, name)


@dataclass(frozen=True, slots=True)
class SyscallExit(CpuEvent):
    """The kernel is about to return to user space from a syscall."""

    cr3: int
    nr: int
    ret: int
    entry_seq: int | None
    user_rip: int
    user_rsp: int
    user_rflags: int
    regs: PtRegsValues
    bases: SegBases
    pc: int
    memory: UserMemory = ()
    kind: EventKind = field(default=EventKind.SYSCALL_EXIT, init=False)

    def reg(self, name: str) -> int | None:
        return _reg(self.regs, name)

    @property
    def ret_signed(self) -> int:
        return self.ret - (1 << 64) if self.ret >= 1 << 63 else self.ret


@dataclass(frozen=True, slots=True)
class MsrWrite(CpuEvent):
    """A `wrmsr` executed: `old` is the value before (None when the tracer could not know it)."""

    msr: int
    old: int | None
    new: int
    pc: int
    kind: EventKind = field(default=EventKind.MSR_WRITE, init=False)


@dataclass(frozen=True, slots=True)
class MsrRead(CpuEvent):
    """An MSR value read on demand by running one `rdmsr` in the guest."""

    msr: int
    value: int
    pc: int
    kind: EventKind = field(default=EventKind.MSR_READ, init=False)


@dataclass(frozen=True, slots=True)
class SegBaseChange(CpuEvent):
    """FS base, GS base or KERNEL_GS_BASE changed.

    `inferred` is True when the change was reconstructed from the entry path's disassembly
    between two stops rather than observed at a stop on the instruction itself.
    """

    which: SegReg
    old: int
    new: int
    cause: SegCause
    pc: int
    inferred: bool = False
    old_owner: str = ""
    new_owner: str = ""
    kind: EventKind = field(default=EventKind.SEGBASE, init=False)

    def with_owners(self, old_owner: str, new_owner: str) -> SegBaseChange:
        """This change with its owners named: `dataclasses.replace` at a third of its cost
        (the builder names the owners of every base change, most of a capture's events)."""
        return SegBaseChange(
            self.seq, self.time_ns, self.cpu, self.pid, self.which, self.old, self.new,
            self.cause, self.pc, self.inferred, old_owner, new_owner,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProcessEvent(CpuEvent):
    """A process (address space) seen for the first time, or known to have ended."""

    cr3: int
    action: Literal["start", "exit"]
    name: str
    status: int | None = None
    kind: EventKind = field(default=EventKind.PROCESS, init=False)


@dataclass(frozen=True, slots=True)
class ContextSwitch(Stamped):
    """The CPU moved from one thread to another (pid 0 is the kernel's own thread)."""

    cpu: int
    prev_pid: int
    next_pid: int
    prev_name: str
    next_name: str
    pc: int
    kind: EventKind = field(default=EventKind.CONTEXT_SWITCH, init=False)


@dataclass(frozen=True, slots=True)
class Interrupt(CpuEvent):
    """An interrupt or exception taken (action "entry") or returned from ("exit").

    `from_ring` is the ring the CPU was in when it was taken; `rip` the interrupted RIP;
    `cr2` the faulting address for page faults.
    """

    action: Literal["entry", "exit"]
    vector: int
    name: str
    error_code: int | None
    cr2: int | None
    from_ring: int
    rip: int
    pc: int
    kind: EventKind = field(default=EventKind.INTERRUPT, init=False)


@dataclass(frozen=True, slots=True)
class TlsSnapshot(CpuEvent):
    """A thread-local block read at an event: does fs:0 point to itself, and the named
    thread-local variables (from TLS symbols and TP offsets) with their values."""

    fs_base: int
    self_pointer: int | None
    owner: str
    variables: tuple[tuple[str, int | None], ...] = ()
    kind: EventKind = field(default=EventKind.TLS_SNAPSHOT, init=False)

    @property
    def self_pointer_ok(self) -> bool:
        return self.self_pointer == self.fs_base

    @property
    def self_pointer_text(self) -> str:
        """What fs:0 held, as every view prints it."""
        if self.self_pointer is None:
            return "fs:0 unread"
        if self.self_pointer_ok:
            return "fs:0 -> itself"
        return f"fs:0 = {self.self_pointer:#x} (NOT itself)"


@dataclass(frozen=True, slots=True)
class FuncEntry(CpuEvent):
    """A kernel (or user) function was entered. `guest_ns` is guest time when the source can
    read it honestly (the guest's TSC from its ring buffer), else None."""

    addr: int
    depth: int
    guest_ns: int | None = None
    source: Literal["ringbuf", "breakpoint"] = "ringbuf"
    kind: EventKind = field(default=EventKind.FUNC_ENTRY, init=False)


@dataclass(frozen=True, slots=True)
class FuncExit(CpuEvent):
    """A function returned; `retval` is RAX at the return when the source recorded it."""

    addr: int
    depth: int
    guest_ns: int | None = None
    retval: int | None = None
    source: Literal["ringbuf", "breakpoint"] = "ringbuf"
    kind: EventKind = field(default=EventKind.FUNC_EXIT, init=False)


@dataclass(frozen=True, slots=True)
class VdsoCall(CpuEvent):
    """User code called into the vDSO (clock_gettime and friends): answered in user space,
    with no boundary crossing. `name` is the vDSO's symbol without its `__vdso_` prefix,
    `args` the six argument registers of the C calling convention, `addr` where it was entered
    and `return_addr` the caller's return address."""

    name: str
    args: tuple[int, int, int, int, int, int]
    addr: int
    return_addr: int
    crossing: bool = False
    kind: EventKind = field(default=EventKind.VDSO_CALL, init=False)


@dataclass(frozen=True, slots=True)
class Gap(Stamped):
    """Events that could not be recorded (a lost batch, an unreadable state, a cut capture)."""

    reason: str
    count: int | None = None
    kind: EventKind = field(default=EventKind.GAP, init=False)


@dataclass(frozen=True, slots=True)
class Note(Stamped):
    """Something the capture wants the reader to know (guest powered off, timeout hit, ...)."""

    text: str
    level: Literal["info", "warning", "error"] = "info"
    kind: EventKind = field(default=EventKind.NOTE, init=False)


Event: TypeAlias = (
    SyscallEntry
    | SyscallExit
    | MsrWrite
    | MsrRead
    | SegBaseChange
    | ProcessEvent
    | ContextSwitch
    | Interrupt
    | TlsSnapshot
    | FuncEntry
    | FuncExit
    | VdsoCall
    | Gap
    | Note
)

EVENT_TYPES: dict[EventKind, type] = {
    EventKind.SYSCALL_ENTRY: SyscallEntry,
    EventKind.SYSCALL_EXIT: SyscallExit,
    EventKind.MSR_WRITE: MsrWrite,
    EventKind.MSR_READ: MsrRead,
    EventKind.SEGBASE: SegBaseChange,
    EventKind.PROCESS: ProcessEvent,
    EventKind.CONTEXT_SWITCH: ContextSwitch,
    EventKind.INTERRUPT: Interrupt,
    EventKind.TLS_SNAPSHOT: TlsSnapshot,
    EventKind.FUNC_ENTRY: FuncEntry,
    EventKind.FUNC_EXIT: FuncExit,
    EventKind.VDSO_CALL: VdsoCall,
    EventKind.GAP: Gap,
    EventKind.NOTE: Note,
}


def _reg(regs: PtRegsValues, name: str) -> int | None:
    for key, value in regs:
        if key == name:
            return value
    return None
