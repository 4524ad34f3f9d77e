"""Turn the agent's probe hits into events, reconstructing what happened between stops.

This is the shared core: who runs where, the last known segment bases per CPU, sequence
numbers, the TLS owners, events held across a context switch. Each kind's own conversion lives
in its module (`tracer.probes.registry` says which).

Default mode stops only where pt_regs is complete and at the exit instruction; the swapgs on
those paths are rebuilt from the state at the stops (swapgs exchanges GS base and
KERNEL_GS_BASE exactly, so the state before it is the state after it, swapped). Any other change
of a base between two stops that no probe explains is recorded with cause `unknown`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from tracer.decode.tls import TlsVariable
from tracer.events import (
    ContextSwitch,
    Event,
    Gap,
    ProcessEvent,
    SegBaseChange,
    SegBases,
    SegCause,
    SegReg,
    Symbolizer,
    TlsSnapshot,
)
from tracer.probes.attribution import CauseFinder
from tracer.probes.identity import CR3_FLAGS, Identity
from tracer.probes.kinds import Mode, ProbeKind
from tracer.probes.registry import KINDS
from tracer.probes.segbase import swapped
from tracer.tls_owners import TlsOwners

if TYPE_CHECKING:
    from tracer.probes.plan import ProbePlan
    from tracer.probes.syscall import Pending
    from tracer.target.gdb import ProbeHit

HOLD_LIMIT = 64
T = TypeVar("T")


class EventBuilder:
    """Stateful: feed hits in order, get events in order."""

    def __init__(
        self,
        plan: ProbePlan,
        program_names: Sequence[str],
        t0_ns: int,
        symbolize: Symbolizer | None = None,
        tls_variables: dict[str, Sequence[TlsVariable]] | None = None,
        causes: CauseFinder | None = None,
    ) -> None:
        self.plan = plan
        self.t0 = t0_ns
        self.seq = 0
        self.bases: dict[int, SegBases] = {}  # cpu -> last known
        self.msr_values: dict[int, int] = {}  # last value written to each MSR
        self.ids = Identity(list(program_names))
        # Syscalls in flight by their pt_regs frame (one per thread), and the last one each
        # CPU entered (the one running there, for what happens inside it).
        self.inflight: dict[int, Pending] = {}
        self.on_cpu: dict[int, Pending] = {}
        # CPUs whose running task entered exit or exit_group, until that CPU's next syscall:
        # Linux resets FS there with a null selector, which no probe sees (sched.on_switch).
        self.exiting: set[int] = set()
        # CPUs where an unarmed inactive-base write may have run since their last stop, and
        # what it would be part of (plan.inactive_writes_rebuilt; see reconcile).
        self.inactive_writes: dict[int, SegCause] = {}
        self.agent_errors: list[str] = []
        self.owners = TlsOwners(symbolize=symbolize)
        self.tls_variables = tls_variables or {}
        self.causes = causes or CauseFinder()
        self.swapped_early: dict[int, bool] = {}  # cpu -> an entry's swapgs already rebuilt
        self.held: list[Event] = []
        self.tsc_khz: int | None = None
        self._kind_state: dict[type, Any] = {}

    # --- bookkeeping the kinds share -----------------------------------------------------------

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    _seq = next_seq  # the name capture.py knows

    def time(self, hit: ProbeHit) -> int:
        return max(0, hit.time_ns - self.t0)

    def pid(self, hit: ProbeHit) -> int:
        return self.ids.pid(hit.cpu, hit.cr3)

    def start_syscall(self, hit: ProbeHit, pending: Pending) -> None:
        self.inflight[_frame_key(hit)] = self.on_cpu[hit.cpu] = pending
        self.exiting.discard(hit.cpu)

    def end_syscall(self, hit: ProbeHit, group_exit: bool = False) -> Pending | None:
        """The syscall this exit (or this exit/exit_group entry) ends; exit_group ends every
        thread's syscall in the address space."""
        pending = self.inflight.pop(_frame_key(hit), None)
        if group_exit:
            self.inflight = {
                k: p for k, p in self.inflight.items() if not same_space(p.cr3, hit.cr3)
            }
        gone = {id(pending)}
        if group_exit:
            gone |= {id(p) for p in self.on_cpu.values() if same_space(p.cr3, hit.cr3)}
        self.on_cpu = {cpu: p for cpu, p in self.on_cpu.items() if id(p) not in gone}
        return pending

    def syscalls_in_space(self, cr3: int) -> bool:
        """Whether a syscall of this address space is still in flight (another thread's)."""
        return any(same_space(p.cr3, cr3) for p in self.inflight.values())

    def syscall_on_cpu(self, cpu: int) -> Pending | None:
        return self.on_cpu.get(cpu)

    def process_name(self, pid: int) -> str:
        return self.ids.name(pid)

    def state(self, factory: type[T]) -> T:
        """A kind's own state across hits (one instance per type, made on first use)."""
        value = self._kind_state.get(factory)
        if value is None:
            value = self._kind_state[factory] = factory()
        return value

    def user_thread(self, hit: ProbeHit, out: list[Event]) -> int:
        thread, first = self.ids.user_thread(hit.cpu, hit.cr3)
        if first:
            out.append(
                ProcessEvent(
                    self.next_seq(),
                    self.time(hit),
                    hit.cpu,
                    thread.pid,
                    hit.cr3,
                    "start",
                    thread.name,
                )
            )
        return thread.pid

    # --- segment bases between stops ---------------------------------------------------------

    def base_change(
        self,
        hit: ProbeHit,
        which: SegReg,
        old: int,
        new: int,
        cause: SegCause,
        pc: int,
        inferred: bool,
        out: list[Event],
    ) -> None:
        if old != new:
            out.append(
                SegBaseChange(
                    self.next_seq(),
                    self.time(hit),
                    hit.cpu,
                    self.pid(hit),
                    which,
                    old,
                    new,
                    cause,
                    pc,
                    inferred,
                )
            )

    def reconcile(
        self,
        hit: ProbeHit,
        expected: SegBases,
        out: list[Event],
        cause: SegCause = SegCause.UNKNOWN,
    ) -> None:
        """Changes between the last known state and `expected` that no probe saw."""
        last = self.bases.get(hit.cpu)
        pending = self.inactive_writes.pop(hit.cpu, None)
        if last is not None and pending is not None:
            last = self._inactive_write(hit, last, expected, pending, out)
        if last is not None and _exchanged(last, expected):
            # GS and KERNEL_GS_BASE traded places: only swapgs does that (one on a path no
            # probe watches, e.g. an interrupt's way in when interrupts are not probed).
            last = self.swapgs(hit, last, hit.pc, True, out)
        if last is not None:
            for which in ("fs", "gs", "kgs"):
                old, new = last.get(which), expected.get(which)  # type: ignore[arg-type]
                self.base_change(hit, which, old, new, cause, hit.pc, True, out)  # type: ignore[arg-type]
        self.bases[hit.cpu] = expected

    def inactive_write_by(self, cpu: int, cause: SegCause) -> None:
        """A switch or arch_prctl is under way on `cpu`: an unarmed inactive-base write may
        come before the CPU's next stop."""
        if self.plan.inactive_writes_rebuilt:
            self.inactive_writes[cpu] = cause

    def _inactive_write(
        self, hit: ProbeHit, last: SegBases, expected: SegBases, cause: SegCause, out: list[Event]
    ) -> SegBases:
        """The KERNEL_GS_BASE an unarmed inactive-base write left: the one `expected` shows,
        either where it is (GS unmoved) or, after one swapgs since, in GS."""
        if expected.gs_base == last.gs_base and expected.kernel_gs_base != last.kernel_gs_base:
            written = expected.kernel_gs_base
        elif expected.kernel_gs_base == last.gs_base and expected.gs_base != last.kernel_gs_base:
            written = expected.gs_base
        else:
            return last
        self.base_change(hit, "kgs", last.kernel_gs_base, written, cause, hit.pc, True, out)
        return replace(last, kernel_gs_base=written)

    def swapgs(
        self, hit: ProbeHit, before: SegBases, pc: int, inferred: bool, out: list[Event]
    ) -> SegBases:
        after = swapped(before)
        for which in ("gs", "kgs"):
            old, new = before.get(which), after.get(which)  # type: ignore[arg-type]
            self.base_change(hit, which, old, new, SegCause.SWAPGS, pc, inferred, out)  # type: ignore[arg-type]
        self.bases[hit.cpu] = after
        return after

    def entry_swaps(
        self, hit: ProbeHit, observed: SegBases, sites: Sequence[int], out: list[Event]
    ) -> None:
        """At an entry path's own stop: its swapgs, unless a write on the way in rebuilt it."""
        if self.swapped_early.pop(hit.cpu, False):
            self.reconcile(hit, observed, out)
        else:
            self.inferred_swaps(hit, observed, sites, out)

    def inferred_swaps(
        self, hit: ProbeHit, observed: SegBases, sites: Sequence[int], out: list[Event]
    ) -> None:
        """Rebuild the swapgs between the last stop and this one from the disassembly."""
        if self.plan.mode is Mode.EXHAUSTIVE or not sites:
            self.reconcile(hit, observed, out)
            return
        before = observed
        for _ in sites:
            before = swapped(before)
        self.reconcile(hit, before, out)
        state = before
        for site in sites:
            state = self.swapgs(hit, state, site, True, out)

    def exit_sites(self, hit: ProbeHit) -> list[int]:
        """The swapgs just before this exit instruction, if its path has one."""
        site = self.plan.exit_swapgs.get(hit.pc)
        return [] if site is None else [site]

    # --- hits in, events out -----------------------------------------------------------------

    def feed(self, hit: ProbeHit) -> list[Event]:
        out: list[Event] = []
        handlers = KINDS.get(hit.probe)  # type: ignore[call-overload]
        if handlers is None or handlers.to_events is None:
            return out
        if handlers.crosses_user:
            self.user_thread(hit, out)
        handlers.to_events(self, hit, SegBases(*hit.bases[:3]), out)
        return self._release(out, hit)

    def agent_error(self, record: dict[str, object], time_ns: int) -> Gap:
        text = str(record.get("error", "unknown agent error"))
        self.agent_errors.append(text)
        if record.get("gap") is True:  # events the agent saw go unrecorded, how many unknown
            return Gap(self.next_seq(), max(0, time_ns - self.t0), text, None)
        return Gap(self.next_seq(), max(0, time_ns - self.t0), f"probe failed: {text}", 1)

    def flush_held(self) -> list[Event]:
        """At the end of a capture: whatever is still held."""
        held, self.held = self.held, []
        return self._finish(held)

    def _finish(self, out: list[Event]) -> list[Event]:
        """Name the owners of every base change, learning from each event in order."""
        done: list[Event] = []
        for event in out:
            if isinstance(event, SegBaseChange):
                old, new = self.owners.label_change(event)
                event = event.with_owners(old, new)
            elif isinstance(event, TlsSnapshot):
                event = replace(event, owner=self.owners.owner(event.fs_base, "fs", event.pid))
            else:
                self.owners.learn(event)
            done.append(event)
        return done

    def _release(self, out: list[Event], hit: ProbeHit) -> list[Event]:
        """Hold what a context switch writes until the switch itself is seen: the kernel TCB
        it loads belongs to the next thread, which only the switch probe names."""
        if hit.probe == ProbeKind.CONTEXT_SWITCH and self.held:
            held, self.held = self.held, []
            switch = next((e for e in out if isinstance(e, ContextSwitch)), None)
            if switch is None:
                return self._finish(held) + self._finish(out)
            return self._finish_switch(held, switch) + self._finish(out)
        switching = any(
            isinstance(e, SegBaseChange) and e.cause is SegCause.CONTEXT_SWITCH for e in out
        )
        if switching or self.held:
            self.held.extend(out)
            if len(self.held) > HOLD_LIMIT:  # no switch came: let them go as they are
                held, self.held = self.held, []
                return self._finish(held)
            return []
        return self._finish(out)

    def _finish_switch(self, held: list[Event], switch: ContextSwitch) -> list[Event]:
        """What the switch saves is the previous thread's; what it loads, the next's."""
        self.owners.current[switch.cpu] = switch.next_pid
        done: list[Event] = []
        for event in held:
            if isinstance(event, SegBaseChange) and event.cause is SegCause.CONTEXT_SWITCH:
                loaded = replace(event, pid=switch.next_pid)
                old, new = self.owners.label_load(loaded, switch.next_pid)
                done.append(event.with_owners(old, new))
            else:
                done += self._finish([event])
        return done


def same_space(cr3: int, other: int) -> bool:
    """One address space, whatever PCID each CPU gave it."""
    return cr3 & ~CR3_FLAGS == other & ~CR3_FLAGS


def _frame_key(hit: ProbeHit) -> int:
    """A syscall's pt_regs address names it (its thread's kernel stack); the address space
    when the record has none."""
    regs_addr = hit.fields.get("regs_addr")
    return int(regs_addr) if regs_addr else -hit.cr3 - 1


def _exchanged(last: SegBases, now: SegBases) -> bool:
    return last.gs_base != last.kernel_gs_base and (now.gs_base, now.kernel_gs_base) == (
        last.kernel_gs_base,
        last.gs_base,
    )
