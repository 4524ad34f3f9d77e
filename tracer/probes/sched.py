"""The context switch, found by Linux's names; tasks read through the task struct's DWARF.

The probe sits on the switch routine's entry, where the previous and next tasks are its first
two arguments (rdi, rsi in the Linux ABI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracer.events import ContextSwitch, Event, SegBases, SegCause
from tracer.probes import ringbuf
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import Cpu, ProbeSpec, StopContext
from tracer.probes.syscall import EXECS

if TYPE_CHECKING:
    from tracer.image import ElfImage, StructLayout
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan, SiteRequest
    from tracer.target.gdb import ProbeHit

SWITCH_SYMBOLS = ("__switch_to_asm", "__switch_to", "context_switch")
TASK_STRUCTS = ("task_struct", "task", "thread")


@dataclass(frozen=True)
class TaskLayout:
    """Where a task's pid and name live, as one span to read."""

    pid_offset: int
    pid_size: int
    comm_offset: int | None
    comm_size: int

    @property
    def span(self) -> tuple[int, int]:
        start = min(self.pid_offset, self.comm_offset if self.comm_offset is not None else 1 << 30)
        end = self.pid_offset + self.pid_size
        if self.comm_offset is not None:
            end = max(end, self.comm_offset + self.comm_size)
        return start, end - start

    def decode(self, data: bytes | None) -> tuple[int | None, str]:
        if data is None:
            return None, ""
        start, _ = self.span
        off = self.pid_offset - start
        pid = int.from_bytes(data[off : off + self.pid_size], "little", signed=True)
        name = ""
        if self.comm_offset is not None:
            raw = data[self.comm_offset - start : self.comm_offset - start + self.comm_size]
            name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        return pid, name


def _task_layout(image: ElfImage) -> StructLayout | None:
    from tracer.image import find_struct_with_fields, struct_layout  # noqa: PLC0415 - DWARF

    for name in TASK_STRUCTS:
        layout = struct_layout(image, name)
        if layout is not None and layout.field("pid") is not None:
            return layout
    return find_struct_with_fields(image, {"pid", "comm"})


def task_layout(image: ElfImage) -> TaskLayout | None:
    if not image.has_dwarf:
        return None
    layout = _task_layout(image)
    if layout is None:
        return None
    pid = layout.field("pid")
    comm = layout.field("comm")
    if pid is None:
        return None
    return TaskLayout(pid.offset, pid.size, comm.offset if comm else None, comm.size if comm else 0)


def find_switch(image: ElfImage) -> int | None:
    from tracer.image.kernel_entry import first_address  # noqa: PLC0415 - tracer side only

    return first_address(image, SWITCH_SYMBOLS)


def find_sites(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    if "sched" not in request.probes:
        return
    addr = find_switch(image)
    if addr is None:
        plan.notes.append("no context-switch symbol (__switch_to_asm): switches not traced")
        return
    plan.task_layout = task_layout(image)
    extra: tuple[tuple[str, Any], ...] = ()
    if plan.task_layout is not None:
        extra = (("task_span", plan.task_layout.span),)
    else:
        plan.notes.append("no task struct with a pid in DWARF: switches show task addresses")
    plan.probes.append(AgentProbe(addr, ProbeKind.CONTEXT_SWITCH, extra))


def at_switch(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    # What the previous task recorded, before the switch; at once: the task may be the last
    # one, and the guest may power off before another stop.
    ringbuf.drain(ctx, cpu, now=True)
    prev, nxt = cpu.reg(probe.get("prev", "rdi")), cpu.reg(probe.get("next", "rsi"))
    start, length = probe.get("task_span", (0, 0))
    tasks = []
    for task in (prev, nxt):
        data = cpu.read(task + start, length) if length else None
        tasks.append(None if data is None else data.hex())
    ctx.emit(ProbeKind.CONTEXT_SWITCH, cpu.reg("rip"), cpu, prev=prev, next=nxt, tasks=tasks)
    return False


def on_switch(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    layout = core.plan.task_layout
    tasks = hit.fields.get("tasks") or [None, None]
    addrs = (hit.fields.get("prev", 0), hit.fields.get("next", 0))
    decoded = []
    for raw, addr in zip(tasks, addrs, strict=False):
        pid, name = layout.decode(bytes.fromhex(raw)) if (layout and raw) else (None, "")
        decoded.append((pid if pid is not None else 0, name or f"task@{addr:#x}"))
    (prev_pid, prev_name), (next_pid, next_name) = decoded
    # A task switched out inside an execve, exit or exit_group has had FS and the user GS reset
    # already: Linux's mm_release runs deactivate_mm, which loads null selectors into both
    # (no probe sees a selector load): those changes are the syscall's, not unexplained.
    execing = any(p.pid == prev_pid and p.nr in EXECS for p in core.inflight.values())
    releasing = execing or hit.cpu in core.exiting
    core.reconcile(hit, observed, out, SegCause.SYSCALL if releasing else SegCause.UNKNOWN)
    core.ids.switched(hit.cpu, prev_pid, prev_name)
    core.ids.switched(hit.cpu, next_pid, next_name)
    out.append(
        ContextSwitch(
            core.next_seq(),
            core.time(hit),
            hit.cpu,
            prev_pid,
            next_pid,
            core.ids.name(prev_pid),
            core.ids.name(next_pid),
            hit.pc,
        )
    )
