"""The function-graph rings of several CPUs, drained by the agent on a fake CPU: every live ring
in the array read, each record under the CPU of its ring, the CPUs' records merged in time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.test_image_support import GUEST_KERNEL
from tests.unit.test_probes_agent import FakeCpu, Rig, _path, _ring, _syscall_cpu
from tracer.events import FuncEntry, FuncExit, Gap, SyscallEntry
from tracer.probes import ringbuf
from tracer.probes.kinds import Mode, ProbeKind
from tracer.probes.plan import ProbePlan

RINGS, STRIDE, ENTRIES = 0x9000, 48, 0xA000  # three rings side by side, 8 entries each
CPU_AT = 40  # the ring's own CPU number (u32)


def _entry(tsc: int, func: int, pid: int, kind: int = 0) -> bytes:
    fields = ((tsc, 8), (func, 8), (0, 4), (kind, 4), (pid, 4), (0, 4))
    return b"".join(v.to_bytes(n, "little") for v, n in fields)


class Guest:
    """Rings 0 and 1 set up (for CPUs 0 and 1), ring 2 not (an absent CPU: no size)."""

    def __init__(self, cpu: FakeCpu) -> None:
        self.cpu = cpu
        headers = bytearray(3 * STRIDE)
        for index in (0, 1):
            base = index * STRIDE
            headers[base + 16 : base + 24] = (8).to_bytes(8, "little")
            headers[base + 32 : base + 40] = (ENTRIES + index * 0x1000).to_bytes(8, "little")
            headers[base + CPU_AT : base + CPU_AT + 4] = index.to_bytes(4, "little")
        cpu.memory[RINGS] = headers
        cpu.memory[ENTRIES] = bytearray(0x2000)

    def header(self, index: int, field: int) -> int:
        return int.from_bytes(self.cpu.read(RINGS + index * STRIDE + field, 8) or b"", "little")

    def writes(self, index: int, *records: tuple[int, int, int]) -> None:
        """(tsc, func, pid) records into one CPU's ring, as the hook writes them."""
        head = self.header(index, 0)
        for i, (tsc, func, pid) in enumerate(records):
            slot = ENTRIES + index * 0x1000 + ((head + i) % 8) * 32
            self.cpu.write(slot, _entry(tsc, func, pid))
        self.cpu.write(RINGS + index * STRIDE, (head + len(records)).to_bytes(8, "little"))

    def overran(self, index: int, count: int) -> None:
        self.cpu.write(RINGS + index * STRIDE + 24, count.to_bytes(8, "little"))


def _rig() -> Rig:
    fields = {**_ring().ring_fields, "cpu": (CPU_AT, 4)}
    layout = replace(_ring(), rings=RINGS, ring_size=STRIDE, ring_fields=fields, count=3)
    plan = ProbePlan(Mode.DEFAULT, entry=_path())
    ringbuf.add_ring_probe(plan, layout)
    return Rig(plan, ring_armed=True)


def _calls(events: list) -> list[tuple[int, int, int]]:
    return [(e.cpu, e.pid, e.addr) for e in events if isinstance(e, FuncEntry | FuncExit)]


def test_every_cpus_ring_is_drained_under_its_own_cpu_in_time_order() -> None:
    rig, cpu = _rig(), FakeCpu(rip=0x6000)
    guest = Guest(cpu)
    guest.writes(0, (10, 0xF01, 1), (30, 0xF03, 1))
    guest.writes(1, (20, 0xF02, 2), (40, 0xF04, 2))
    guest.overran(1, 5)
    rig.stop(ProbeKind.FTRACE_FULL, cpu)  # the stop is CPU 0's; CPU 1's records stay CPU 1's
    events = rig.events()
    assert _calls(events) == [(0, 1, 0xF01), (1, 2, 0xF02), (0, 1, 0xF03), (1, 2, 0xF04)]
    (gap,) = [e for e in events if isinstance(e, Gap)]
    assert gap.count == 5 and "CPU 1" in gap.reason
    assert (guest.header(0, 8), guest.header(1, 8)) == (2, 2)  # both tails moved to head
    assert rig.ctx.drain_bytes == 4 * 32
    cpu.thread = 2  # CPU 1 stops now: nothing new anywhere, no record
    rig.stop(ProbeKind.FTRACE_FULL, cpu)
    assert rig.lines == []


def test_another_cpus_records_after_a_stop_come_after_its_event() -> None:
    rig = _rig()
    cpu = _syscall_cpu(39)
    guest = Guest(cpu)
    guest.writes(1, (10, 0xF01, 2))
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")  # held: drained later
    guest.writes(1, (20, 0xF02, 2))
    guest.writes(0, (30, 0xF03, 1))
    rig.stop(ProbeKind.FTRACE_FULL, cpu)
    order = [
        ("syscall", e.cpu) if isinstance(e, SyscallEntry) else (hex(e.addr), e.cpu)
        for e in rig.events()
        if isinstance(e, SyscallEntry | FuncEntry)
    ]
    assert order == [("0xf01", 1), ("syscall", 0), ("0xf02", 1), ("0xf03", 0)]
    assert rig.ctx.drains == 1


def test_the_guest_kernel_names_one_ring_per_possible_cpu() -> None:
    if not GUEST_KERNEL.exists():
        pytest.skip("the guest is not built (make -C guest)")
    from tracer.image import ElfImage

    layout = ringbuf.find_ring(ElfImage.open(GUEST_KERNEL))
    assert layout is not None
    assert layout.count == 4  # NR_CPUS in guest/include/percpu.h
    assert "cpu" in layout.ring_fields
