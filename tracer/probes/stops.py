"""What every probe kind's agent side works with at a stop: the CPU that hit it, and the state
the kinds share between stops (syscalls and interrupt frames in flight, the ring's counters).

Runs inside gdb's own Python (standard library only); the gdb agent supplies a `Cpu` and a
sink for records, so the same code runs against a fake CPU in unit tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tracer.decode.strace import MemRead, follow_reads
from tracer.probes.kinds import ProbeKind

MASK64 = (1 << 64) - 1
PAGE = 4096
BASE_REGISTERS = ("fs_base", "gs_base", "k_gs_base")
# clone, fork, vfork, clone3: their child first returns to the parent's user rip (and, without
# a stack of its own, rsp) with no entry of its own.
SPAWNS = frozenset({56, 57, 58, 435})
MATCH_FRAMES = 64  # more frames in flight than this: read the stack slot, not a long search

Record = dict[str, Any]
ProbeSpec = dict[str, Any]
"""One armed probe as the plan gave it: addr, kind, and the kind's own extras."""


class Cpu(Protocol):
    """Register and memory access for the vCPU that hit a probe."""

    @property
    def thread(self) -> int:
        """gdb's thread number: QEMU's vCPU n is thread n + 1."""
        ...

    def reg(self, name: str) -> int: ...

    def read(self, addr: int, length: int) -> bytes | None: ...

    def write(self, addr: int, data: bytes) -> bool: ...

    def callers(self, depth: int) -> list[int]:
        """Return addresses up the stack (the debugger's unwinder)."""
        ...


def regs(cpu: Cpu, names: Iterable[str]) -> dict[str, int]:
    return {name: cpu.reg(name) for name in names}


def read_cstr(cpu: Cpu, addr: int, cap: int) -> bytes | None:
    """Read a NUL-terminated string page by page, so a string near a hole still reads."""
    out = b""
    while len(out) < cap:
        chunk_len = min(cap - len(out), PAGE - ((addr + len(out)) % PAGE))
        chunk = cpu.read(addr + len(out), chunk_len)
        if chunk is None:
            return out if out else None
        nul = chunk.find(b"\0")
        if nul >= 0:
            return out + chunk[:nul]
        out += chunk
    return out


def user_memory(cpu: Cpu, reads: Sequence[MemRead]) -> list[list[Any]]:
    """Syscall argument buffers: [argument index, hex bytes or None when unreadable]."""
    out = []
    for read in reads:
        if read.kind == "cstr":
            data = read_cstr(cpu, read.addr, read.length)
        else:
            data = cpu.read(read.addr, read.length) if read.length > 0 else b""
        out.append([read.arg_index, None if data is None else data.hex()])
    return out


def follow_memory(
    cpu: Cpu, nr: int, args: Sequence[int], ret: int | None, memory: list[list[Any]]
) -> list[list[Any]]:
    """One more round for reads that depend on what was read (the buffers of an iovec)."""
    if not memory:
        return memory
    known = {index: bytes.fromhex(data) for index, data in memory if data is not None}
    return memory + user_memory(cpu, follow_reads(nr, args, ret, known))


def stack_top(cpu: Cpu, size: int = 1024) -> str | None:
    """The top of the stack, where return addresses into asm stubs (no CFI) can be found."""
    rsp = cpu.reg("rsp")
    data = cpu.read(rsp, size)
    if data is None and rsp % PAGE:  # the stack may end at a page with a hole above it
        data = cpu.read(rsp, PAGE - rsp % PAGE)
    return None if data is None else data.hex()


@dataclass
class InFlight:
    """A syscall or interrupt whose pt_regs frame the agent saw built, until its exit."""

    kind: str  # "syscall" or "interrupt"
    regs_addr: int
    cr3: int = 0
    nr: int | None = None
    args: list[int] = field(default_factory=list)
    vector: int | None = None
    stub: str = ""  # an interrupt's entry stub: names a system vector the handler is not told
    kept: dict[str, int] = field(default_factory=dict)  # pt_regs fields no register holds at exit
    # Which entry reads failed (None): a page the program never touched is mapped only when
    # the kernel faults on it, so the exit reads it again.
    entry_memory: dict[int, bytes | None] = field(default_factory=dict)
    # The user rip and rsp the syscall entered from (pt_regs ip, sp): where its sysretq
    # returns unless the syscall moved them.
    user_return: tuple[int | None, int | None] = (None, None)


@dataclass
class RingCursor:
    """Where the agent is in one CPU's function-graph ring."""

    cut: int = 0  # the write index at the last drain point
    read: int = 0  # the read index the agent last wrote back (the ring's tail)
    entries: int = 0  # the ring's size, once read


@dataclass
class StopContext:
    """What the kinds share at their stops; one per installed plan."""

    sink: Callable[[Record], None]
    ptregs_size: int = 168
    ptregs_fields: dict[str, int] = field(default_factory=dict)  # name -> offset
    tls_span: int = 0
    ring: dict[str, Any] | None = None
    ring_armed: bool = False
    stop_first_syscall: bool = False
    stop_on_lstar: bool = False
    bases: Sequence[str] = BASE_REGISTERS
    inflight: dict[int, InFlight] = field(default_factory=dict)  # cr3 -> syscall (sysretq)
    # A sysretq exit found its frame through the kernel stack's per-CPU slot: from then on
    # that is the only way (by address space, threads would take each other's syscalls).
    stack_slot_works: bool = False
    frames: dict[int, InFlight] = field(default_factory=dict)  # pt_regs address -> in flight
    seq: int = 0
    # Set by each interrupt entry: whether it interrupted user mode (pt_regs' CS), None when
    # the frame could not be read; the agent checks its lifted syscall entry against it.
    interrupted_user: bool | None = None
    drain_ns: int = 0
    drain_bytes: int = 0
    drains: int = 0
    # While function-graph records wait in the guest's ring, the records emitted meanwhile wait
    # here (in order, with the ring's write index at each drain point) until one bulk drain.
    held: list[Record] | None = None
    held_since: float = 0.0
    cursors: dict[int, RingCursor] = field(default_factory=dict)  # ring index -> where it is
    vdso: bool = False  # find each process's vDSO at its first entry to user mode
    vdso_spaces: dict[int, set[int]] = field(default_factory=dict)  # vDSO base -> its CR3s

    @classmethod
    def from_plan(cls, plan: dict[str, Any], sink: Callable[[Record], None]) -> StopContext:
        """The context for the dict `ProbePlan.agent_plan()` wrote."""
        return cls(
            sink,
            ptregs_size=int(plan.get("ptregs_size", 168)),
            ptregs_fields={name: off for name, off, _size in plan.get("ptregs_layout", [])},
            tls_span=int(plan.get("tls_span", 0)),
            ring=plan.get("ring"),
            stop_first_syscall=bool(plan.get("stop_first_syscall", False)),
            stop_on_lstar=bool(plan.get("stop_on_lstar", False)),
            bases=tuple(plan.get("base_registers", BASE_REGISTERS)),
            vdso=bool(plan.get("vdso", False)),
        )

    @property
    def ip_offset(self) -> int:
        return self.ptregs_fields.get("ip", 128)

    def emit(self, kind: ProbeKind, pc: int, cpu: Cpu, **fields: Any) -> Record:
        """One record for the tracer (parsed by `tracer.target.gdb.parse_hit`)."""
        self.seq += 1
        record: Record = {
            "seq": self.seq,
            "t": time.monotonic_ns(),
            "probe": str(kind),
            "pc": pc,
            "cpu": cpu.thread - 1,
            "cr3": cpu.reg("cr3"),
            "bases": [cpu.reg(name) for name in self.bases],
        }
        record.update(fields)
        if self.held is not None:
            self.held.append(record)
        else:
            self.sink(record)
        return record

    def ptregs_field(self, data: bytes | None, name: str) -> int | None:
        off = self.ptregs_fields.get(name)
        if data is None or off is None or off + 8 > len(data):
            return None
        return int.from_bytes(data[off : off + 8], "little")

    def read_ptregs(self, cpu: Cpu, regs_addr: int) -> bytes | None:
        return cpu.read(regs_addr, self.ptregs_size)

    def ptregs_from(self, values: dict[str, int]) -> bytes | None:
        """pt_regs assembled from known field values, or None when one of them is missing."""
        out = bytearray(self.ptregs_size)
        for name, off in self.ptregs_fields.items():
            value = values.get(name)
            if value is None or off + 8 > len(out):
                return None
            out[off : off + 8] = (value & MASK64).to_bytes(8, "little")
        return bytes(out) if self.ptregs_fields else None

    def tls_block(self, cpu: Cpu, base: int) -> str | None:
        """The bytes below a TCB (where local-exec TLS lives) and its first word."""
        size = self.tls_span
        if not size or not base:
            return None
        data = cpu.read((base - size) & MASK64, size + 8)
        return None if data is None else data.hex()

    def take_frame(self, regs_addr: int | None) -> InFlight | None:
        """The frame at `regs_addr`, taken out of the frames in flight (and out of its address
        space's latest syscall when it is that one: another thread's stays)."""
        entry = self.frames.pop(regs_addr, None) if regs_addr is not None else None
        if entry is not None and self.inflight.get(entry.cr3) is entry:
            del self.inflight[entry.cr3]
        return entry

    def returning_syscall(self, cr3: int, rip: int, rsp: int) -> InFlight | None:
        """The syscall a sysretq to user `rip`/`rsp` in address space `cr3` returns from, taken
        out of the frames in flight, when exactly one entered from there; else None (the caller
        reads the thread's kernel stack slot: a memory round trip to the target per exit).

        Two threads in flight never entered from the same user rip and rsp (each has its own
        stack), except a child that starts on its parent's stack at its parent's return
        address: while a clone, fork or vfork is in flight, only the stack slot can tell."""
        if not self.stack_slot_works or len(self.frames) > MATCH_FRAMES:
            return None
        found: InFlight | None = None
        for frame in self.frames.values():
            if frame.cr3 != cr3 or frame.kind != "syscall":
                continue
            if frame.nr is None or frame.nr & 0xFFFFFFFF in SPAWNS:
                return None
            if frame.user_return == (rip, rsp):
                if found is not None:
                    return None
                found = frame
        return None if found is None else self.take_frame(found.regs_addr)


StopHandler = Callable[[StopContext, ProbeSpec, Cpu], bool]
"""A kind's agent side: read what the kind needs, emit records; True asks for a real stop."""
