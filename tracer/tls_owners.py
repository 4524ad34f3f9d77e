"""Who owns an FS/GS/KERNEL_GS_BASE value, learned only from what the trace shows.

Below both the probes (which name owners as events are built) and analysis (checks, views).

- GS base values the kernel writes to the GS_BASE MSR are per-CPU areas of that CPU.
- A value a process passes to arch_prctl(ARCH_SET_FS) is that process's app TCB;
  ARCH_SET_GS gives its user GS.
- A kernel-half value loaded into FS while a thread runs is that thread's kernel TCB.
- Zero is zero. Anything else is `unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.decode.msr import MSR_GS_BASE, MSR_KERNEL_GS_BASE
from tracer.decode.x86 import KERNEL_HALF
from tracer.events import (
    ContextSwitch,
    Event,
    MsrRead,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegReg,
    Symbolizer,
    SyscallEntry,
    SyscallExit,
)

NR_ARCH_PRCTL = 158
NR_CLONE, NR_CLONE3 = 56, 435
CLONE_SETTLS = 0x80000
CLONE3_TLS_OFFSET = 56  # struct clone_args: flags pidfd child_tid parent_tid exit_signal
#                         stack stack_size tls, eight bytes each


def clone_tls(event: SyscallEntry) -> int | None:
    """The TCB a clone/clone3 with CLONE_SETTLS gives the new thread."""
    if event.nr == NR_CLONE and event.args[0] & CLONE_SETTLS:
        return event.args[4]
    if event.nr == NR_CLONE3:
        data = dict(event.memory).get(0)
        if data is not None and len(data) >= CLONE3_TLS_OFFSET + 8:
            if int.from_bytes(data[:8], "little") & CLONE_SETTLS:
                return int.from_bytes(data[CLONE3_TLS_OFFSET : CLONE3_TLS_OFFSET + 8], "little")
    return None


ARCH_SET_GS = 0x1001
ARCH_SET_FS = 0x1002


class OwnerKind:
    ZERO = "zero"
    PERCPU = "percpu"
    APP_TCB = "app-tcb"
    KERNEL_TCB = "kernel-tcb"
    USER_GS = "user-gs"
    UNKNOWN = "unknown"


def owner_kind(label: str) -> str:
    """The kind part of a label: 'app-tcb[hello:1]' -> 'app-tcb'."""
    return label.split("[", 1)[0]


@dataclass
class TlsOwners:
    """Feed it every event in order; ask it who owns a value at that point."""

    labels: dict[int, str] = field(default_factory=dict)  # kernel-half values
    user_labels: dict[tuple[int, int], str] = field(default_factory=dict)  # (pid, value)
    loaded: dict[tuple[int, str], str] = field(default_factory=dict)  # (cpu, reg) -> label
    names: dict[int, str] = field(default_factory=dict)
    current: dict[int, int] = field(default_factory=dict)  # cpu -> pid running there
    # clone/clone3 entry seq -> (parent pid, the new thread's TCB, address space)
    clones: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    symbolize: Symbolizer | None = None

    def thread_label(self, pid: int) -> str:
        return f"{self.names.get(pid, 'kernel' if pid == 0 else '?')}:{pid}"

    def learn(self, event: Event) -> None:
        if isinstance(event, ProcessEvent) and event.action == "start":
            self.names[event.pid] = event.name
        elif isinstance(event, ContextSwitch):
            self.names.setdefault(event.next_pid, event.next_name)
            self.current[event.cpu] = event.next_pid
        elif isinstance(event, SyscallExit) and event.entry_seq in self.clones:
            pid, tls, _cr3 = self.clones.pop(event.entry_seq)
            if 0 < event.ret < 1 << 31:  # the new thread's id: its TCB is its own
                self._new_thread(pid, event.ret, tls)
        elif isinstance(event, SyscallExit):
            self._child_first(event)
        elif isinstance(event, SyscallEntry):
            self.current[event.cpu] = event.pid
            self._child_first(event)
            new_tcb = clone_tls(event)
            if new_tcb:
                self.clones[event.seq] = (event.pid, new_tcb, event.cr3)
            if event.nr == NR_ARCH_PRCTL and event.args[1]:
                code, addr = event.args[0], event.args[1]
                # User addresses mean something per address space: two copies of a program
                # put their TCBs at the same address.
                if code == ARCH_SET_FS:
                    self.user_labels[(event.pid, addr)] = (
                        f"{OwnerKind.APP_TCB}[{self.thread_label(event.pid)}]"
                    )
                elif code == ARCH_SET_GS:
                    self.user_labels[(event.pid, addr)] = (
                        f"{OwnerKind.USER_GS}[{self.thread_label(event.pid)}]"
                    )
        elif isinstance(event, MsrWrite) and event.msr == MSR_GS_BASE:
            if event.new >= KERNEL_HALF:
                self.labels.setdefault(event.new, f"{OwnerKind.PERCPU}[cpu{event.cpu}]")
        elif isinstance(event, MsrRead) and event.msr in (MSR_GS_BASE, MSR_KERNEL_GS_BASE):
            # A capture that starts after the boot (Linux) never sees the write: the kernel
            # half of GS or KERNEL_GS_BASE read at the first stop is this CPU's area.
            if event.value >= KERNEL_HALF:
                self.labels.setdefault(event.value, f"{OwnerKind.PERCPU}[cpu{event.cpu}]")
        elif isinstance(event, SegBaseChange) and event.which == "fs":
            if event.new >= KERNEL_HALF and event.new not in self.labels:
                pid = self.current.get(event.cpu, event.pid)
                self.labels[event.new] = f"{OwnerKind.KERNEL_TCB}[thread {pid}]"

    def _new_thread(self, parent: int, tid: int, tls: int) -> None:
        label = f"{OwnerKind.APP_TCB}[{self.thread_label(parent)} tid {tid}]"
        # Known by the parent's id and, where switches name threads, by its own.
        self.user_labels[(parent, tls)] = label
        self.user_labels[(tid, tls)] = label

    def _child_first(self, event: SyscallEntry | SyscallExit) -> None:
        """On another CPU a new thread can cross before its parent's clone returns: a thread
        of the cloning address space on the TCB a clone in flight gave is that clone's."""
        fs = event.bases.fs_base
        if not self.clones or not 0 < fs < KERNEL_HALF or (event.pid, fs) in self.user_labels:
            return
        for parent, tls, cr3 in self.clones.values():
            if tls == fs and cr3 == event.cr3 and parent != event.pid:
                self._new_thread(parent, event.pid, tls)
                return

    def owner(self, value: int, which: SegReg | None = None, pid: int | None = None) -> str:
        if value == 0:
            return OwnerKind.ZERO
        if value < KERNEL_HALF:
            label = self.user_labels.get((pid, value)) if pid is not None else None
            if label is None:  # no pid given, or a value set before this pid was known
                label = (
                    next((v for (_, addr), v in self.user_labels.items() if addr == value), None)
                    if pid is None
                    else None
                )
            return label or OwnerKind.UNKNOWN
        label = self.labels.get(value)
        if label is not None:
            return label
        if value >= KERNEL_HALF and self.symbolize is not None:
            name = self.symbolize(value)
            if name:
                return f"kernel[{name}]"
        return OwnerKind.UNKNOWN

    def label_change(self, event: SegBaseChange) -> tuple[str, str]:
        """Owners of a change's old and new values (learning from the change first)."""
        return self.label_load(event, event.pid)

    def label_load(self, event: SegBaseChange, pid: int) -> tuple[str, str]:
        """The old value's owner is whoever it was loaded for; the new one's is `pid`'s
        (or the kernel's), learned first."""
        key = (event.cpu, event.which)
        old = self.loaded.get(key)
        if old is None or event.old == 0:
            old = self.owner(event.old, event.which, event.pid)
        self.learn(event)
        new = self.owner(event.new, event.which, pid)
        self.loaded[key] = new
        return old, new
