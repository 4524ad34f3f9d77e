"""The stops the tracer asks for: the LSTAR write (when the entry symbol is unknown) and the
first syscall, where the MSRs are read, the GDT copied and the function-graph ring armed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracer.decode.msr import FMASK, GS_BASE, IA32_EFER, KERNEL_GS_BASE, LSTAR, STAR
from tracer.decode.x86 import KERNEL_HALF
from tracer.events import MsrRead
from tracer.probes import vdso
from tracer.probes.funcgraph import resolve_functions
from tracer.probes.plan import add_entry
from tracer.probes.ringbuf import RingLayout, control_writes
from tracer.target.errors import TargetError
from tracer.target.msr import read_msrs
from tracer.target.protocol import Target

if TYPE_CHECKING:
    from tracer.capture.loop import CaptureLoop

MSRS_ON_DEMAND = (IA32_EFER, STAR, LSTAR, FMASK, GS_BASE, KERNEL_GS_BASE)
GDT_SYMBOLS = ("gdt_table", "gdt_page", "gdt", "cpu_gdt_table")
GDT_BYTES = 256
GDT_MIN_BYTES = 24
READ_SIZES = (2048, 8192, 65536, 262144)  # bytes per read_memory call, for `tracer bench --graph`
BARE_READ_RUNS = 5


class Arming:
    def __init__(self, loop: CaptureLoop) -> None:
        self.loop = loop
        self.want_msrs = loop.options.read_msrs
        self.want_ring = loop.options.ftrace and loop.plan.ring is not None
        self.msr_values: dict[int, int] = {}

    @property
    def wants_first_syscall_stop(self) -> bool:
        return self.want_msrs or self.want_ring

    def at_stop(self, target: Target, pc: int | None) -> None:
        if self.loop.plan.vdso:
            self._arm_vdso(target)
        if self.loop.plan.wants_lstar_stop and pc is not None:
            self._arm_entry_from_lstar(target)
            return
        if not (self.want_msrs or self.want_ring):
            return
        if self.want_msrs:
            self.want_msrs = False
            self.snapshot_msrs(target, pc)
        if self.want_ring:
            self.want_ring = False
            self._arm_ring(target)
        # gdb may report this breakpoint again when the guest goes on (after the injected
        # rdmsr moved RIP); the agent drops a second hit with unchanged registers (the hits
        # during the rdmsr's steps are not compared: the probes were quiet).

    def _arm_vdso(self, target: Target) -> None:
        """A process's vDSO image came with this stop: break on its functions."""
        self.loop.drain_all(target)  # the image's record, before its probes are taken
        added = vdso.take_pending(self.loop.builder)
        if added:
            target.arm([p.to_json() for p in added])
            self.loop.plan.probes.extend(added)

    def _arm_entry_from_lstar(self, target: Target) -> None:
        loop = self.loop
        lstar = loop.builder.msr_values.get(LSTAR)
        if lstar is None:
            return
        added = add_entry(loop.plan, loop.image, lstar)
        target.arm([p.to_json() for p in added])
        target.set_stop_on_lstar(False)
        if self.want_msrs:
            target.set_stop_first_syscall(True)
        loop.note(f"syscall entry found from LSTAR: {loop.image.symbolize(lstar) or hex(lstar)}")

    def snapshot_msrs(self, target: Target, pc: int | None, *, armed: bool = True) -> None:
        """`armed`: the agent's probes are in (else, as on Linux before they are, no agent)."""
        loop = self.loop
        # Its single steps at this probe's address are now and then reported as the probe's
        # hit (with RCX holding an MSR number): the agent must not take them for passes.
        if armed:
            target.set_probes_quiet(True)
        try:
            values = read_msrs(target, MSRS_ON_DEMAND)
        except TargetError as exc:
            loop.note(f"on-demand MSR read failed: {exc}", "warning")
            return
        finally:
            if armed:
                target.set_probes_quiet(False)
        self.msr_values.update(values)
        try:  # the CPU that stopped: GS_BASE and KERNEL_GS_BASE are its own
            cpu = target.selected_vcpu()
        except TargetError:
            cpu = 0
        for msr, value in values.items():
            loop.record_external(
                MsrRead(loop.builder._seq(), loop.now(), cpu, 0, msr, value, pc or 0)
            )
        self._other_cpus_gs(target, cpu)
        self._read_gdt(target)

    def _other_cpus_gs(self, target: Target, stopped: int) -> None:
        """The GS bases of the CPUs that did not stop, as gdb shows them (no rdmsr there: a
        CPU in user mode cannot run it): a capture that starts after the boot sees no CPU's
        GS write, so this is how each CPU's per-CPU area becomes known."""
        loop = self.loop
        try:
            others = [c for c in target.vcpus() if c != stopped]
            bases = {c: target.vcpu_registers(c, ("gs_base", "k_gs_base")) for c in others}
        except TargetError as exc:
            loop.note(f"the other CPUs' GS bases could not be read: {exc}", "warning")
            return
        for cpu, values in bases.items():
            for msr, name in ((GS_BASE, "gs_base"), (KERNEL_GS_BASE, "k_gs_base")):
                if name in values:
                    event = MsrRead(loop.builder._seq(), loop.now(), cpu, 0, msr, values[name], 0)
                    loop.record_external(event)

    def _read_gdt(self, target: Target) -> None:
        """The GDT, for checking STAR's selectors against it (found by its symbol)."""
        for name in GDT_SYMBOLS:
            symbol = self.loop.image.symbol(name)
            # A per-CPU variable (Linux's gdt_page) is linked at an offset, not an address; a
            # GDT holds at least the null, code and stack descriptors (Linux's 8-byte `gdt`
            # is a pointer to one).
            if symbol is None or symbol.size < GDT_MIN_BYTES or symbol.addr < KERNEL_HALF:
                continue
            try:
                data = target.read_memory(symbol.addr, min(symbol.size, GDT_BYTES))
            except TargetError:
                continue
            self.loop.writer.set_meta("gdt", data.hex())
            self.loop.writer.set_meta("gdt_symbol", name)
            return

    def _arm_ring(self, target: Target) -> None:
        """Turn the guest's function-graph ring on, with its filters (first syscall stop)."""
        loop, options = self.loop, self.loop.options
        ring = loop.plan.ring
        assert ring is not None
        try:
            graph = resolve_functions(loop.image, options.ftrace_functions)
            notrace = resolve_functions(loop.image, options.ftrace_notrace)
            for addr, data in control_writes(ring, graph, notrace, options.ftrace_max_depth):
                target.write_memory(addr, data)
            if ring.tsc_khz is not None:
                khz = int.from_bytes(target.read_memory(ring.tsc_khz, 8), "little")
                loop.builder.tsc_khz = khz or None
                loop.writer.set_meta("guest_tsc_khz", str(khz))
            target.set_ring_armed(True)
            if options.measure_read:
                self._measure_read(target, ring)
        except (TargetError, ValueError) as exc:
            loop.note(f"function-graph ring not armed: {exc}", "warning")
            return
        depth = options.ftrace_max_depth or "unlimited"
        loop.note(
            f"function-graph ring armed ({len(graph)} graph roots, "
            f"{len(notrace)} notrace, max depth {depth})"
        )

    def _measure_read(self, target: Target, ring: RingLayout) -> None:
        """A bare gdb read_memory loop over the ring's entries, for the drain benchmark."""
        offset, size = ring.ring_fields["entries"]
        entries = int.from_bytes(target.read_memory(ring.rings + offset, size), "little")
        # The median of a few 2 MiB runs: one run moves by tens of percent with the machine,
        # and the drain it is compared with is the mean of a whole capture.
        runs = [target.bench_read(entries, 65536, 32) for _ in range(BARE_READ_RUNS)]
        runs = sorted((r for r in runs if r.get("ns")), key=lambda r: r["bytes"] / r["ns"])
        if runs:
            figures = runs[len(runs) // 2]
            for key in ("bytes", "ns"):
                self.loop.writer.set_meta(f"bare_read_{key}", str(figures[key]))
        for size in READ_SIZES:  # which read size gives the best bandwidth
            sized = target.bench_read(entries, size, max((1 << 20) // size, 1))
            if "bytes" in sized and sized.get("ns"):
                mb_s = sized["bytes"] / sized["ns"] * 1e3
                self.loop.writer.set_meta(f"bare_read_MB_s_{size}", f"{mb_s:.2f}")
